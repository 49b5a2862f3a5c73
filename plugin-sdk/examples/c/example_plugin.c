/*
 * A Koppel connector in plain C.
 *
 *   source stream "items": emits `count` records item-1 ... item-N, resuming from its
 *                          cursor (the number of the last item emitted).
 *   target stream "items": appends each record as one line to the file `sink`:
 *                          <idempotency key> TAB <target key> TAB <record JSON>
 *                          and, when asked to reconcile, looks the key up there first.
 *
 * Config: { "count": 10, "sink": "/var/lib/koppel/items.tsv" }
 *
 * Build: cc -shared -fPIC -I../../include -o libexample-c.so example_plugin.c
 */
#include "koppel_plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------- */
/* A small JSON reader: enough to validate input and pick top-level values.      */
/* ---------------------------------------------------------------------------- */

typedef struct { const char *p; const char *end; int depth; } cursor_t;

static void skip_ws(cursor_t *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static int skip_value(cursor_t *c);

static int skip_string(cursor_t *c) {
    if (c->p >= c->end || *c->p != '"') return 0;
    for (c->p++; c->p < c->end; c->p++) {
        if (*c->p == '\\') { c->p++; continue; }
        if ((unsigned char)*c->p < 0x20) return 0;
        if (*c->p == '"') { c->p++; return 1; }
    }
    return 0;
}

static int skip_literal(cursor_t *c, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0) return 0;
    c->p += n;
    return 1;
}

static int skip_number(cursor_t *c) {
    const char *start = c->p;
    if (c->p < c->end && *c->p == '-') c->p++;
    while (c->p < c->end && ((*c->p >= '0' && *c->p <= '9') || *c->p == '.' || *c->p == 'e' ||
                             *c->p == 'E' || *c->p == '+' || *c->p == '-')) c->p++;
    return c->p > start;
}

static int skip_container(cursor_t *c, char open, char close) {
    if (++c->depth > 64) return 0;
    c->p++; /* open */
    skip_ws(c);
    if (c->p < c->end && *c->p == close) { c->p++; c->depth--; return 1; }
    for (;;) {
        skip_ws(c);
        if (open == '{') {
            if (!skip_string(c)) return 0;
            skip_ws(c);
            if (c->p >= c->end || *c->p != ':') return 0;
            c->p++;
        }
        if (!skip_value(c)) return 0;
        skip_ws(c);
        if (c->p < c->end && *c->p == ',') { c->p++; continue; }
        if (c->p < c->end && *c->p == close) { c->p++; c->depth--; return 1; }
        return 0;
    }
}

static int skip_value(cursor_t *c) {
    skip_ws(c);
    if (c->p >= c->end) return 0;
    switch (*c->p) {
    case '{': return skip_container(c, '{', '}');
    case '[': return skip_container(c, '[', ']');
    case '"': return skip_string(c);
    case 't': return skip_literal(c, "true");
    case 'f': return skip_literal(c, "false");
    case 'n': return skip_literal(c, "null");
    default: return skip_number(c);
    }
}

/* True when `s` is exactly one JSON object. */
static int json_is_object(koppel_str s) {
    cursor_t c = { s.ptr, s.ptr + s.len, 0 };
    skip_ws(&c);
    if (c.p >= c.end || *c.p != '{' || !skip_value(&c)) return 0;
    skip_ws(&c);
    return c.p == c.end;
}

/* Finds the raw value of a top-level key of a (valid) JSON object. */
static int json_get(koppel_str s, const char *key, koppel_str *value) {
    cursor_t c = { s.ptr, s.ptr + s.len, 0 };
    size_t keylen = strlen(key);
    skip_ws(&c);
    if (c.p >= c.end || *c.p != '{') return 0;
    c.p++;
    for (;;) {
        skip_ws(&c);
        const char *name = c.p;
        if (!skip_string(&c)) return 0;
        int match = (size_t)(c.p - name) == keylen + 2 && memcmp(name + 1, key, keylen) == 0;
        skip_ws(&c);
        if (c.p >= c.end || *c.p != ':') return 0;
        c.p++;
        skip_ws(&c);
        const char *start = c.p;
        if (!skip_value(&c)) return 0;
        if (match) { value->ptr = start; value->len = (size_t)(c.p - start); return 1; }
        skip_ws(&c);
        if (c.p < c.end && *c.p == ',') { c.p++; continue; }
        return 0;
    }
}

/* Decodes a JSON string value into buf as UTF-8; 0 when it is not a string or does not fit. */
static int json_string(koppel_str value, char *buf, size_t cap) {
    if (value.len < 2 || value.ptr[0] != '"' || value.ptr[value.len - 1] != '"') return 0;
    size_t out = 0;
    for (size_t i = 1; i + 1 < value.len; i++) {
        unsigned long ch = (unsigned char)value.ptr[i];
        int escaped = ch == '\\';
        if (escaped) {
            if (++i + 1 >= value.len) return 0;
            switch (value.ptr[i]) {
            case '"': ch = '"'; break;
            case '\\': ch = '\\'; break;
            case '/': ch = '/'; break;
            case 'b': ch = '\b'; break;
            case 'f': ch = '\f'; break;
            case 'n': ch = '\n'; break;
            case 'r': ch = '\r'; break;
            case 't': ch = '\t'; break;
            case 'u': {
                char hex[5] = {0};
                if (i + 5 >= value.len) return 0;
                memcpy(hex, value.ptr + i + 1, 4);
                char *end;
                ch = strtoul(hex, &end, 16);
                if (*end || (ch >= 0xD800 && ch <= 0xDFFF)) return 0; /* no surrogate pairs */
                i += 4;
                break;
            }
            default: return 0;
            }
        }
        /* Input bytes pass through (already UTF-8); escaped code points are encoded. */
        unsigned char bytes[3];
        size_t n = 0;
        if (ch < 0x80 || !escaped) bytes[n++] = (unsigned char)ch;
        else if (ch < 0x800) { bytes[n++] = 0xC0 | (ch >> 6); bytes[n++] = 0x80 | (ch & 0x3F); }
        else { bytes[n++] = 0xE0 | (ch >> 12); bytes[n++] = 0x80 | ((ch >> 6) & 0x3F); bytes[n++] = 0x80 | (ch & 0x3F); }
        if (out + n >= cap) return 0;
        memcpy(buf + out, bytes, n);
        out += n;
    }
    buf[out] = 0;
    return 1;
}

static int json_long(koppel_str value, long *out) {
    char buf[32];
    if (value.len == 0 || value.len >= sizeof buf) return 0;
    memcpy(buf, value.ptr, value.len);
    buf[value.len] = 0;
    char *end;
    *out = strtol(buf, &end, 10);
    return *end == 0;
}

/* ---------------------------------------------------------------------------- */
/* The connector                                                                 */
/* ---------------------------------------------------------------------------- */

typedef struct {
    long count;
    char sink[1024];
} example_t;

static koppel_str str(const char *s) { koppel_str k = { s, strlen(s) }; return k; }

static koppel_status fail(const koppel_host *host, koppel_status status, const char *message) {
    host->report_error(host->ctx, str(message));
    return status;
}

static int is_stream(koppel_str s, const char *name) {
    return s.len == strlen(name) && memcmp(s.ptr, name, s.len) == 0;
}

static koppel_status example_open(const koppel_host *host, koppel_str config, void **instance) {
    if (!json_is_object(config)) return fail(host, KOPPEL_INVALID_DATA, "config is not a JSON object");
    example_t *self = calloc(1, sizeof *self);
    if (!self) return fail(host, KOPPEL_INTERNAL, "out of memory");
    koppel_str value;
    if (json_get(config, "count", &value) && (!json_long(value, &self->count) || self->count < 0)) {
        free(self);
        return fail(host, KOPPEL_INVALID_DATA, "config: count must be a whole number of 0 or more");
    }
    if (json_get(config, "sink", &value) && !json_string(value, self->sink, sizeof self->sink)) {
        free(self);
        return fail(host, KOPPEL_INVALID_DATA, "config: sink must be a file path");
    }
    *instance = self;
    return KOPPEL_OK;
}

static koppel_status example_check(void *instance, const koppel_host *host) {
    example_t *self = instance;
    if (self->sink[0] && access(self->sink, F_OK) == 0 && access(self->sink, W_OK) != 0)
        return fail(host, KOPPEL_AUTH, "the sink file is not writable");
    return KOPPEL_OK;
}

static koppel_status example_read(void *instance, const koppel_host *host, const koppel_read_args *args) {
    example_t *self = instance;
    if (!is_stream(args->stream, "items")) return fail(host, KOPPEL_INVALID_DATA, "unknown stream; this plugin reads \"items\"");
    long next = 1;
    if (args->cursor_json.len > 0) {
        long last;
        if (!json_long(args->cursor_json, &last) || last < 0)
            return fail(host, KOPPEL_INVALID_DATA, "the cursor must be the number of the last item read");
        next = last + 1;
    }
    char record[256], cursor[32], updated[48];
    for (long i = next; i <= self->count; i++) {
        if (host->is_cancelled(host->ctx)) return fail(host, KOPPEL_CANCELLED, "stopped at the host's request");
        /* Item i is updated at i seconds past 2026-01-01 00:00 UTC. */
        long t = i;
        snprintf(updated, sizeof updated, "2026-01-%02dT%02d:%02d:%02dZ", (int)(1 + t / 86400 % 28), (int)(t / 3600 % 24), (int)(t / 60 % 60), (int)(t % 60));
        /* A backfill window: RFC 3339 times in UTC compare as text. */
        if (args->since.len > 0 && strncmp(updated, args->since.ptr, args->since.len < 20 ? args->since.len : 20) < 0) continue;
        if (args->until.len > 0 && strncmp(updated, args->until.ptr, args->until.len < 20 ? args->until.len : 20) > 0) break;
        int n = snprintf(record, sizeof record,
                         "{\"source_key\":\"item-%ld\",\"updated_at\":\"%s\","
                         "\"name\":\"Item %ld\",\"price\":\"%ld.%02ld\"}",
                         i, updated, i, i % 100, i % 7 * 10);
        koppel_str r = { record, (size_t)n };
        koppel_status s = host->emit(host->ctx, r);
        if (s != KOPPEL_OK) return s;
        n = snprintf(cursor, sizeof cursor, "%ld", i);
        koppel_str c = { cursor, (size_t)n };
        s = host->checkpoint(host->ctx, c);
        if (s != KOPPEL_OK) return s;
    }
    return KOPPEL_OK;
}

/* Looks an idempotency key up in the sink; on success copies the target key. */
static int sink_find(const char *sink, koppel_str key, char *target, size_t cap, long *lines) {
    FILE *f = fopen(sink, "r");
    *lines = 0;
    if (!f) return 0;
    char *line = NULL;
    size_t linecap = 0;
    int found = 0;
    while (getline(&line, &linecap, f) > 0) {
        (*lines)++;
        char *tab = strchr(line, '\t');
        if (!found && tab && (size_t)(tab - line) == key.len && memcmp(line, key.ptr, key.len) == 0) {
            char *end = strchr(tab + 1, '\t');
            size_t n = end ? (size_t)(end - tab - 1) : 0;
            if (n < cap) { memcpy(target, tab + 1, n); target[n] = 0; found = 1; }
        }
    }
    free(line);
    fclose(f);
    return found;
}

static koppel_status example_write(void *instance, const koppel_host *host, const koppel_write_args *args) {
    example_t *self = instance;
    if (!is_stream(args->stream, "items")) return fail(host, KOPPEL_INVALID_DATA, "unknown stream; this plugin writes \"items\"");
    if (!json_is_object(args->record_json)) return fail(host, KOPPEL_INVALID_DATA, "the record is not a JSON object");
    koppel_str name;
    char namebuf[256];
    if (!json_get(args->record_json, "name", &name) || !json_string(name, namebuf, sizeof namebuf) || !namebuf[0])
        return fail(host, KOPPEL_INVALID_DATA, "the record has no name");
    if (args->idempotency_key.len == 0 || memchr(args->idempotency_key.ptr, '\t', args->idempotency_key.len))
        return fail(host, KOPPEL_INVALID_DATA, "the idempotency key is empty or contains a tab");
    if (!self->sink[0]) return fail(host, KOPPEL_INVALID_DATA, "config: sink is required to write");

    char target[64], result[160];
    long lines;
    int found = sink_find(self->sink, args->idempotency_key, target, sizeof target, &lines);
    if (found && (args->flags & KOPPEL_WRITE_RECONCILE)) {
        int n = snprintf(result, sizeof result, "{\"target_key\":\"%s\",\"action\":\"found\"}", target);
        koppel_str r = { result, (size_t)n };
        return host->write_result(host->ctx, r);
    }

    FILE *f = fopen(self->sink, "a");
    if (!f) return fail(host, KOPPEL_TRANSIENT, "cannot open the sink file for appending");
    snprintf(target, sizeof target, "sink-%ld", lines + 1);
    fprintf(f, "%.*s\t%s\t", (int)args->idempotency_key.len, args->idempotency_key.ptr, target);
    for (size_t i = 0; i < args->record_json.len; i++) {
        char ch = args->record_json.ptr[i];
        fputc(ch == '\n' || ch == '\t' ? ' ' : ch, f);
    }
    fputc('\n', f);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) { fclose(f); return fail(host, KOPPEL_UNCERTAIN, "the sink write may be incomplete"); }
    fclose(f);

    int n = snprintf(result, sizeof result, "{\"target_key\":\"%s\",\"action\":\"created\"}", target);
    koppel_str r = { result, (size_t)n };
    return host->write_result(host->ctx, r);
}

static void example_close(void *instance) { free(instance); }

static const char manifest[] =
    "{\"name\":\"example-c\",\"version\":\"1.0.0\","
    "\"description\":\"Example connector in plain C: numbered items in, lines in a file out\","
    "\"streams\":{\"read\":[{\"name\":\"items\",\"record\":\"any\",\"incremental\":true}],"
    "\"write\":[{\"name\":\"items\",\"record\":\"any\"}]},"
    "\"config_schema\":{\"type\":\"object\",\"properties\":{"
    "\"count\":{\"type\":\"integer\",\"minimum\":0},\"sink\":{\"type\":\"string\"}},"
    "\"additionalProperties\":false},"
    "\"auth\":{\"scheme\":\"none\"}}";

static const koppel_plugin descriptor = {
    .struct_size = sizeof(koppel_plugin),
    .abi_major = KOPPEL_ABI_MAJOR,
    .abi_minor = KOPPEL_ABI_MINOR,
    .name = "example-c",
    .version = "1.0.0",
    .manifest_json = manifest,
    .open = example_open,
    .check = example_check,
    .read = example_read,
    .write = example_write,
    .close = example_close,
};

const koppel_plugin *koppel_plugin_entry(const koppel_entry_request *request) {
    if (request->host_abi_major != KOPPEL_ABI_MAJOR) {
        snprintf(request->reason, request->reason_capacity,
                 "example-c was built for Koppel plugin ABI %d.%d, the host speaks %d.%d",
                 KOPPEL_ABI_MAJOR, KOPPEL_ABI_MINOR, request->host_abi_major, request->host_abi_minor);
        return NULL;
    }
    return &descriptor;
}
