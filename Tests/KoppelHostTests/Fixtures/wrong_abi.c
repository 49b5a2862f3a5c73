/* A plugin built for a future ABI major: the host must refuse it, naming both versions. */
#include "koppel_plugin.h"

static koppel_status open_fn(const koppel_host *h, koppel_str c, void **i) { (void)h; (void)c; *i = 0; return KOPPEL_OK; }
static void close_fn(void *i) { (void)i; }

static const koppel_plugin descriptor = {
    .struct_size = sizeof(koppel_plugin),
    .abi_major = KOPPEL_ABI_MAJOR + 1,
    .abi_minor = 3,
    .name = "future",
    .version = "9.0.0",
    .manifest_json = "{\"name\":\"future\",\"version\":\"9.0.0\",\"config_schema\":{\"type\":\"object\"},\"auth\":{\"scheme\":\"none\"}}",
    .open = open_fn,
    .close = close_fn,
};

const koppel_plugin *koppel_plugin_entry(const koppel_entry_request *r) { (void)r; return &descriptor; }
