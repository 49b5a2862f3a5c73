/*
 * A plugin that loads but breaks the contract in several ways, for the conformance kit:
 *  - an empty config crashes it (NULL dereference);
 *  - a malformed config is refused, but its error message repeats the config text;
 *  - reading an unknown stream returns OK;
 *  - a malformed cursor returns a status the ABI does not define;
 *  - a malformed record is refused without an error message.
 */
#include "koppel_plugin.h"
#include <stdio.h>
#include <string.h>

static int instance_storage;

static koppel_status open_fn(const koppel_host *h, koppel_str c, void **i) {
    if (c.len == 0) { volatile int *p = 0; return (koppel_status)*p; }
    if (c.ptr[c.len - 1] != '}') {
        char message[512];
        int n = snprintf(message, sizeof message, "cannot parse config %.*s", (int)c.len, c.ptr);
        koppel_str m = { message, (size_t)n };
        h->report_error(h->ctx, m);
        return KOPPEL_INVALID_DATA;
    }
    *i = &instance_storage;
    return KOPPEL_OK;
}

static koppel_status read_fn(void *i, const koppel_host *h, const koppel_read_args *a) {
    (void)i; (void)h;
    if (a->cursor_json.len > 0) return 42;
    return KOPPEL_OK;
}

static koppel_status write_fn(void *i, const koppel_host *h, const koppel_write_args *a) {
    (void)i; (void)h; (void)a;
    return KOPPEL_INVALID_DATA;
}

static void close_fn(void *i) { (void)i; }

static const koppel_plugin descriptor = {
    .struct_size = sizeof(koppel_plugin),
    .abi_major = KOPPEL_ABI_MAJOR,
    .abi_minor = KOPPEL_ABI_MINOR,
    .name = "broken",
    .version = "0.0.1",
    .manifest_json = "{\"name\":\"broken\",\"version\":\"0.0.1\","
                     "\"streams\":{\"read\":[{\"name\":\"orders\",\"record\":\"order\"}],"
                     "\"write\":[{\"name\":\"orders\",\"record\":\"order\"}]},"
                     "\"config_schema\":{\"type\":\"object\",\"properties\":{\"api_token\":{\"type\":\"string\",\"secret\":true}}},"
                     "\"auth\":{\"scheme\":\"api-key\",\"key_name\":\"token\",\"key_in\":\"query\"}}",
    .open = open_fn,
    .read = read_fn,
    .write = write_fn,
    .close = close_fn,
};

const koppel_plugin *koppel_plugin_entry(const koppel_entry_request *r) { (void)r; return &descriptor; }
