/* A plugin whose manifest declares a record kind that does not exist. */
#include "koppel_plugin.h"

static koppel_status open_fn(const koppel_host *h, koppel_str c, void **i) { (void)h; (void)c; *i = 0; return KOPPEL_OK; }
static koppel_status read_fn(void *i, const koppel_host *h, const koppel_read_args *a) { (void)i; (void)h; (void)a; return KOPPEL_OK; }
static void close_fn(void *i) { (void)i; }

static const koppel_plugin descriptor = {
    .struct_size = sizeof(koppel_plugin),
    .abi_major = KOPPEL_ABI_MAJOR,
    .abi_minor = KOPPEL_ABI_MINOR,
    .name = "bad-manifest",
    .version = "1.0.0",
    .manifest_json = "{\"name\":\"bad-manifest\",\"version\":\"1.0.0\",\"streams\":{\"read\":["
                     "{\"name\":\"orders\",\"record\":\"order\"},{\"name\":\"invoices\",\"record\":\"invoice\"}]},"
                     "\"config_schema\":{\"type\":\"object\"},\"auth\":{\"scheme\":\"none\"}}",
    .open = open_fn,
    .read = read_fn,
    .close = close_fn,
};

const koppel_plugin *koppel_plugin_entry(const koppel_entry_request *r) { (void)r; return &descriptor; }
