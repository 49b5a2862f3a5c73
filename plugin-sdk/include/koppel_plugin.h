/*
 * koppel_plugin.h — the Koppel connector plugin ABI.
 *
 * This header is the whole contract between the Koppel host and a connector plugin.
 * A plugin is a shared object (.so) that exports exactly one symbol,
 * `koppel_plugin_entry`, and needs nothing else from Koppel: no library to link,
 * no other header. Write it in C, Swift, Rust or anything that can export a C function.
 *
 * ---------------------------------------------------------------------------------
 * Versioning
 * ---------------------------------------------------------------------------------
 * The ABI has a major and a minor version (KOPPEL_ABI_MAJOR / KOPPEL_ABI_MINOR).
 *  - A different major is incompatible: the host refuses the plugin and names both
 *    versions.
 *  - A newer minor only ever appends fields to the end of a struct. Every struct that
 *    crosses the boundary starts with `struct_size`; a reader checks it before touching
 *    a field that a later minor added (see KOPPEL_HAS_FIELD). So an old host runs a new
 *    plugin and a new host runs an old plugin of the same major.
 *
 * ---------------------------------------------------------------------------------
 * Memory ownership
 * ---------------------------------------------------------------------------------
 *  - Everything the host passes to the plugin (strings, structs, the host table) is
 *    BORROWED for the duration of the call that received it. Copy what you keep.
 *  - Everything the plugin hands back (records, cursors, results, error messages, log
 *    lines) goes through a host callback, which COPIES it before returning. The plugin
 *    keeps ownership of its buffers and may reuse or free them right after the call.
 *  - Data handed from the host to the plugin inside a callback (an HTTP response, a
 *    state value) is valid until that callback returns.
 *  - Nothing allocated on one side is ever freed on the other. The plugin's instance
 *    (`void *instance`) is created in `open` and destroyed in `close`, both by the plugin.
 *
 * ---------------------------------------------------------------------------------
 * Data
 * ---------------------------------------------------------------------------------
 * Structured data crosses as UTF-8 JSON with an explicit length (koppel_str); strings
 * need not be NUL-terminated. Money is a JSON string holding a decimal ("12.50"),
 * never a JSON number. Times are RFC 3339 strings in UTC ("2026-03-01T10:15:00Z").
 * The canonical records (order, customer, product, stock_level, shipment, supplier) are described
 * by the JSON Schemas in plugin-sdk/schema. Every record a source emits carries a
 * stable "source_key" and an "updated_at".
 *
 * Since minor 5 a source may emit a deletion: { "source_key": "...", "updated_at": "...",
 * "deleted": true } when the record is gone from the source (Exact's sync/Deleted). The
 * host passes it only to a write stream whose manifest says "deletes": true, and only for
 * a record the flow delivered before (with its target key); such a target reports the
 * action "deleted". For any other target the deletion is noted and the record it wrote
 * stays. A deletion of a record never delivered is dropped.
 *
 * ---------------------------------------------------------------------------------
 * Threads
 * ---------------------------------------------------------------------------------
 * The host may call one plugin instance from one thread at a time, but different
 * instances (and the entry point) from different threads concurrently. Host service
 * callbacks must be called on the thread that received the koppel_host pointer, during
 * the call that received it.
 */
#ifndef KOPPEL_PLUGIN_H
#define KOPPEL_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The ABI version this header describes. */
#define KOPPEL_ABI_MAJOR 1
#define KOPPEL_ABI_MINOR 5

/** The one symbol a plugin exports. */
#define KOPPEL_PLUGIN_ENTRY_SYMBOL "koppel_plugin_entry"

/**
 * True when a struct whose first field is `struct_size` is large enough to contain
 * `field`. Use it on every struct from the other side before reading a field that was
 * added after minor 0.
 */
#define KOPPEL_HAS_FIELD(ptr, type, field) \
    ((ptr)->struct_size >= offsetof(type, field) + sizeof(((type *)0)->field))

/* ------------------------------------------------------------------------------ */
/* Status codes                                                                   */
/* ------------------------------------------------------------------------------ */

/**
 * Every function returns a classified status. The host decides what to do from the
 * class alone:
 *
 *   status            a write                               a read
 *   OK                recorded as delivered                 its checkpoints are kept
 *   TRANSIENT,        kept "uncertain", looked up (write    the run fails; the next run
 *   UNCERTAIN         with KOPPEL_WRITE_RECONCILE) and      reads again from the last
 *                     tried again later with backoff        kept checkpoint
 *   RATE_LIMITED      as TRANSIENT, and the run stops       as TRANSIENT
 *   AUTH              as TRANSIENT, and the flow stops      as TRANSIENT, naming the
 *                     naming the connection to sign in      connection to sign in
 *   CANCELLED         as TRANSIENT; the host asked it       the next run continues
 *   INVALID_DATA,     parked as failed with the message,    the run fails with the
 *   NOT_FOUND,        for `koppel replay` once fixed; the   message (report one bad
 *   CONFLICT,         other records go on                   record with emit_unreadable
 *   INTERNAL                                                instead)
 *
 * Along with any status other than KOPPEL_OK the plugin should call
 * `host->report_error` once with a message a person can act on (never a secret).
 */
typedef int32_t koppel_status;

/** Success. */
#define KOPPEL_OK 0
/** A temporary failure (network error, 5xx); trying again later may succeed. */
#define KOPPEL_TRANSIENT 1
/** The remote system's rate limit was hit; try again after its reset. */
#define KOPPEL_RATE_LIMITED 2
/** Credentials are missing, wrong or expired beyond refresh; a person must act. */
#define KOPPEL_AUTH 3
/** The input (config, cursor, record, stream name) is malformed or cannot be mapped. */
#define KOPPEL_INVALID_DATA 4
/** The thing asked for does not exist (a record looked up during reconcile). */
#define KOPPEL_NOT_FOUND 5
/** The remote system refuses because of its current state (duplicate, locked). */
#define KOPPEL_CONFLICT 6
/** A bug or an unexpected answer; not retried automatically. */
#define KOPPEL_INTERNAL 7
/** The host asked the plugin to stop (see `is_cancelled`), and it did. */
#define KOPPEL_CANCELLED 8
/**
 * A write whose outcome is unknown (the request was sent, no answer came back). The
 * host never re-sends it blindly; the next attempt is made with KOPPEL_WRITE_RECONCILE.
 */
#define KOPPEL_UNCERTAIN 9

/** One past the highest status this minor defines. */
#define KOPPEL_STATUS_COUNT 10

/* ------------------------------------------------------------------------------ */
/* Strings                                                                        */
/* ------------------------------------------------------------------------------ */

/** A UTF-8 string with an explicit length; not necessarily NUL-terminated. */
typedef struct koppel_str {
    const char *ptr;
    size_t len;
} koppel_str;

/* ------------------------------------------------------------------------------ */
/* The host service table                                                         */
/* ------------------------------------------------------------------------------ */

/** Log levels for `koppel_host.log`. */
#define KOPPEL_LOG_TRACE 0
#define KOPPEL_LOG_DEBUG 1
#define KOPPEL_LOG_INFO 2
#define KOPPEL_LOG_WARNING 3
#define KOPPEL_LOG_ERROR 4

/**
 * Receives borrowed data from the host (an HTTP response, a state value). `data` is
 * valid only until the callback returns; copy what you keep. `user` is whatever the
 * plugin passed along with the callback.
 */
typedef void (*koppel_receive_fn)(void *user, koppel_str data);

/**
 * The services the host offers a plugin during one call. The plugin receives a pointer
 * to this table as the first argument of every call; the table and `ctx` are valid for
 * that call only. Pass `ctx` back as the first argument of every service.
 */
typedef struct koppel_host {
    /** sizeof(koppel_host) as the host was compiled. */
    uint32_t struct_size;
    uint16_t abi_major;
    uint16_t abi_minor;

    /** Opaque host context for this call. */
    void *ctx;

    /** Writes one line to the host's log, tagged with plugin, connection and run. */
    void (*log)(void *ctx, int32_t level, koppel_str message);

    /**
     * Attaches a human-readable message to the status the current call is about to
     * return. The host copies it and redacts known secrets from it.
     */
    void (*report_error)(void *ctx, koppel_str message);

    /**
     * Performs one HTTP request through the host's transport, which adds the
     * connection's base URL and credentials, paces requests under the remote rate limit
     * and retries what is safe to retry. The request is a JSON object:
     *
     *   { "method": "GET", "path": "/api/v1/123/crm/Accounts",
     *     "query": { "$filter": "Email eq 'a@b.nl'" },
     *     "headers": { "Accept": "application/json" },
     *     "body": "...",              (optional, UTF-8 text)
     *     "idempotent": false }       (optional; default true for GET/HEAD/PUT/DELETE)
     *
     * On KOPPEL_OK, `on_response` is called once, before this returns, with:
     *
     *   { "status": 200, "headers": { "content-type": "application/json" },
     *     "body": "..." }
     *
     * The transport itself retries 429s and 5xx answers (and, for idempotent requests,
     * timeouts); any other HTTP status counts as KOPPEL_OK here and the plugin interprets
     * it. A non-OK return means no usable response: TRANSIENT (gave up after retries),
     * RATE_LIMITED (budget used up), AUTH (credentials missing or refused), UNCERTAIN (a
     * non-idempotent request was sent and its answer lost; it was not sent again),
     * CANCELLED, or INVALID_DATA (malformed request JSON). With a non-OK return,
     * `on_response` receives { "error": "what went wrong" } instead, so the plugin can
     * pass the host's explanation on.
     */
    koppel_status (*http_request)(void *ctx, koppel_str request_json,
                                  koppel_receive_fn on_response, void *user);

    /**
     * Plugin-scoped persistent key/value state, kept by the host per connection
     * (identity maps, remote webhook ids, ...). `state_get` calls `on_value` once and
     * returns KOPPEL_OK, or returns KOPPEL_NOT_FOUND without calling it.
     */
    koppel_status (*state_get)(void *ctx, koppel_str key, koppel_receive_fn on_value,
                               void *user);
    koppel_status (*state_set)(void *ctx, koppel_str key, koppel_str value);
    koppel_status (*state_delete)(void *ctx, koppel_str key);

    /** Milliseconds since the Unix epoch, UTC, as the host's clock says. */
    int64_t (*now_ms)(void *ctx);

    /** Non-zero once the host wants the current call to stop (shutdown, timeout). */
    int32_t (*is_cancelled)(void *ctx);

    /**
     * During `read`: hands one record (a JSON object with "source_key" and
     * "updated_at") to the host, which copies it. A return other than KOPPEL_OK means the
     * host wants the read to stop; return that status from `read`.
     */
    koppel_status (*emit)(void *ctx, koppel_str record_json);

    /**
     * During `read`: records the cursor (any JSON value) from which a later read
     * continues. Call it after the records it covers were emitted. The host stores it
     * only once those records are safely processed.
     */
    koppel_status (*checkpoint)(void *ctx, koppel_str cursor_json);

    /**
     * During `write`: reports the outcome as a JSON object:
     *   { "target_key": "...", "action": "created" | "updated" | "unchanged" | "found" }
     * "found" is the answer to a reconcile that found the record already written.
     * Since ABI 1.3 a target may also decline a record it cannot hold by design (a
     * variable product where only simple ones fit):
     *   { "action": "skipped", "reason": "..." }
     * The host counts it as skipped with the reason, and offers the record again only
     * once it changes. A host older than 1.3 treats the answer as a failed write.
     * Since ABI 1.5 a write stream declaring "deletes" answers a deletion with
     *   { "target_key": "...", "action": "deleted" }
     * having removed (or retired: disabled, archived) the record it wrote before.
     */
    koppel_status (*write_result)(void *ctx, koppel_str result_json);

    /**
     * Since minor 4 (check KOPPEL_HAS_FIELD(host, koppel_host, emit_unreadable)): during
     * `read` or `webhook`, reports one source record the plugin cannot turn into a
     * canonical record (it does not decode, or a field it needs is missing), instead of
     * failing the whole read:
     *   { "source_key": "30", "reason": "$.number is missing" }
     * "source_key" is the key the record would have had (its id in the source; when even
     * that is missing, something stable such as its place in the page). The host parks
     * the record with the reason, where `koppel failed` and the dashboard show it, and
     * the read goes on: emit the other records and checkpoint as usual. `koppel replay`
     * reads the source again from the cursor that was current when the record was
     * reported, so the record is delivered once it reads (after the source or the
     * plugin was fixed); a later version of the record that reads is delivered anyway.
     * A return other than KOPPEL_OK means the host wants the read to stop; return that
     * status from `read`. With an older host, fail the read with KOPPEL_INVALID_DATA.
     */
    koppel_status (*emit_unreadable)(void *ctx, koppel_str report_json);
} koppel_host;

/* ------------------------------------------------------------------------------ */
/* Call arguments                                                                 */
/* ------------------------------------------------------------------------------ */

/** Arguments of `read`. */
typedef struct koppel_read_args {
    uint32_t struct_size;
    /** The stream to read, one of the manifest's "streams.read". */
    koppel_str stream;
    /** The cursor from the last checkpoint, or empty for a first read. */
    koppel_str cursor_json;
    /** RFC 3339 start of a backfill window, or empty; read nothing updated before it. */
    koppel_str since;
    /** RFC 3339 end of a backfill window, or empty for "until now". */
    koppel_str until;
    /**
     * Since minor 1: the flow's `read_options` as a JSON object (which warehouse, which
     * statuses), or empty. Check KOPPEL_HAS_FIELD(args, koppel_read_args, options_json).
     */
    koppel_str options_json;
} koppel_read_args;

/** `koppel_write_args.flags`: look the record up by its idempotency key first. */
#define KOPPEL_WRITE_RECONCILE 1u

/** Arguments of `write`. */
typedef struct koppel_write_args {
    uint32_t struct_size;
    /** The stream to write, one of the manifest's "streams.write". */
    koppel_str stream;
    /** The record, a canonical JSON object. */
    koppel_str record_json;
    /**
     * A stable key for this source record (e.g. the webshop order number). Store it on
     * the remote record (Exact's YourRef) so that a reconcile can find it.
     */
    koppel_str idempotency_key;
    /** The remote key from an earlier successful write (an update), or empty. */
    koppel_str target_key;
    /**
     * KOPPEL_WRITE_RECONCILE: an earlier attempt may have reached the remote system.
     * Look the record up by idempotency key; if it exists, report it with action
     * "found" and do not write it again.
     */
    uint32_t flags;
} koppel_write_args;

/**
 * Since minor 2: arguments of `webhook`. The host has already verified the delivery's
 * signature with the scheme the manifest declares ("webhooks") before calling.
 */
typedef struct koppel_webhook_args {
    uint32_t struct_size;
    /** The stream the flow reads, one of the manifest's "streams.read". */
    koppel_str stream;
    /** The delivery's HTTP headers as a JSON object, names in lowercase. */
    koppel_str headers_json;
    /** The delivery's body, exactly as it arrived. */
    koppel_str body;
    /** The flow's `read_options` as a JSON object, or empty (as for `read`). */
    koppel_str options_json;
} koppel_webhook_args;

/**
 * Since minor 5: arguments of `webhook_subscriptions`, which keeps the remote system's
 * webhook subscriptions so that nobody has to set them up by hand.
 */
typedef struct koppel_subscription_args {
    uint32_t struct_size;
    /**
     * What to do:
     *   "list":   report every subscription the remote system holds for this connection
     *             (also ones Koppel did not make);
     *   "create": subscribe `callback_url` to `topic`; report the new subscription;
     *   "enable": make the subscription `id` deliver again after the sender stopped it
     *             (WooCommerce disables a webhook whose deliveries keep failing); report it;
     *   "delete": remove the subscription `id`.
     * An action the remote API cannot do: KOPPEL_INVALID_DATA with a message that says
     * what a person can do instead (where in the remote system's screens).
     */
    koppel_str action;
    /** "create": one of the topics a read stream declares in "webhook_topics". */
    koppel_str topic;
    /** "create": where deliveries go (Koppel's intake for this connection). */
    koppel_str callback_url;
    /** "enable", "delete": the subscription's id as "list" reported it. */
    koppel_str id;
} koppel_subscription_args;

/* ------------------------------------------------------------------------------ */
/* The plugin descriptor                                                          */
/* ------------------------------------------------------------------------------ */

/**
 * What `koppel_plugin_entry` returns: a static, immutable description of the plugin.
 * It must stay valid until the library is unloaded.
 */
typedef struct koppel_plugin {
    /** sizeof(koppel_plugin) as the plugin was compiled. */
    uint32_t struct_size;
    /** The ABI the plugin was built against: KOPPEL_ABI_MAJOR / KOPPEL_ABI_MINOR. */
    uint16_t abi_major;
    uint16_t abi_minor;

    /** NUL-terminated, static: the plugin's name (lowercase, digits and '-'). */
    const char *name;
    /** NUL-terminated, static: the plugin's version (semantic versioning). */
    const char *version;
    /**
     * NUL-terminated, static JSON manifest:
     *
     * { "name": "woocommerce", "version": "1.2.0",
     *   "description": "WooCommerce REST API v3",
     *   "streams": {
     *     "read":  [ { "name": "orders", "record": "order", "incremental": true } ],
     *     "write": [ { "name": "customers", "record": "customer", "update": true } ] },
     *   "config_schema": { JSON Schema of the connection settings;
     *                      properties with "secret": true come from the vault },
     *   "auth": { "scheme": "oauth2" | "basic" | "api-key" | "bearer" | "oauth1" | "none",
     *             ... scheme details, e.g. "token_url": "{base_url}/api/oauth2/token" },
     *   "rate_limits": [ { "scope": "division", "limit": 60, "per_seconds": 60 } ],
     *   "error_budget": { "limit": 10, "per_seconds": 3600, "statuses": [400, 401, 403, 404] },
     *   "webhooks": { "signature": "hmac-sha256-base64",
     *                 "header": "X-WC-Webhook-Signature",
     *                 "secret": "webhook_secret" } }
     *
     * Webhook signature schemes the host verifies (with the connection's secret setting
     * named by "secret"):
     *   "hmac-sha256-base64" / "hmac-sha256-hex": the HMAC-SHA256 of the raw body, in
     *       the header named by "header";
     *   "hmac-sha256-hex-envelope": the body is a JSON object; the HMAC-SHA256 of the
     *       raw text of its member "signed" is in its member "signature" (hex), as
     *       Exact Online sends { "Content": {...}, "HashCode": "..." };
     *   "url-token": the sender signs nothing (Boekuwzending's portal webhooks); the
     *       delivery URL ends in the secret: POST /webhooks/{connection}/{secret}.
     *
     * OAuth 2 auth may say "grant": "authorization_code" (the default), "password" (the
     * connection's username and password; signed in again when the token runs out) or
     * "client_credentials"; and "client_auth": "basic" when the token endpoint wants the
     * app's id and secret as HTTP Basic rather than in the form.
     *
     * OAuth 2 auth may say "refresh_token_idle_days": the days an unused refresh token
     * lives (Exact: 30); `koppel run` refreshes a quiet connection's tokens at half that.
     *
     * "rate_limits" of any period pace the connection's requests until the API reports
     * its own budget in its answers' headers. "error_budget" (optional): the API blocks an
     * endpoint (a path without its key and query) after "limit" answers with one of
     * "statuses" in "per_seconds"; the host stops calling an endpoint that has spent it,
     * and the call fails as KOPPEL_RATE_LIMITED naming when the endpoint is free again.
     *
     * A read stream fed by webhooks names the remote topics that announce its records:
     * "webhook_topics": ["order.created", "order.updated"]. `koppel webhooks register`
     * and `koppel run` subscribe the connection's webhook URL to each (through
     * `webhook_subscriptions`). "webhooks" may say "generate_secret": true when the
     * subscription carries the secret (WooCommerce's `secret`, a URL token): the host
     * then makes one and keeps it in the vault before the first subscription; without it
     * the secret is the sender's (Exact's app secret) and must be given. "https_only":
     * true when the sender delivers only to https addresses (a loopback address, for
     * tests, excepted).
     *
     * "record" is one of the canonical records in plugin-sdk/schema, or "any". A write
     * stream's "update": true takes changes to records it wrote before (with their
     * target key); without it a change after delivery is noted and left. An order write
     * stream's "refunds": true takes refunds (orders with "refund_of", negative amounts)
     * and books them as credit notes; a stream without it is never offered one. A write
     * stream's "deletes": true takes deletions (see Data).
     */
    const char *manifest_json;

    /**
     * Creates an instance for one connection. `config_json` holds the connection's
     * settings (secrets already resolved). On KOPPEL_OK, `*instance` is set to the
     * plugin's own state, passed back to every other call and finally to `close`.
     * Malformed or incomplete config: KOPPEL_INVALID_DATA with a message naming the key.
     */
    koppel_status (*open)(const koppel_host *host, koppel_str config_json, void **instance);

    /** Checks that the remote system is reachable and the credentials work. */
    koppel_status (*check)(void *instance, const koppel_host *host);

    /**
     * Reads records of one stream from the cursor on, emitting each through
     * `host->emit` and recording progress with `host->checkpoint`. An unknown stream or
     * a malformed cursor: KOPPEL_INVALID_DATA. May be NULL when the manifest declares no
     * read streams.
     */
    koppel_status (*read)(void *instance, const koppel_host *host,
                          const koppel_read_args *args);

    /**
     * Writes one record and reports the outcome through `host->write_result`. An unknown
     * stream or a record that cannot be mapped: KOPPEL_INVALID_DATA. May be NULL when the
     * manifest declares no write streams.
     */
    koppel_status (*write)(void *instance, const koppel_host *host,
                           const koppel_write_args *args);

    /** Destroys an instance created by `open`. `instance` may be NULL. */
    void (*close)(void *instance);

    /**
     * Since minor 2 (check KOPPEL_HAS_FIELD(plugin, koppel_plugin, webhook)): turns one
     * verified webhook delivery into the records of `args->stream` it concerns, emitted
     * through `host->emit` exactly as `read` would emit them. A delivery that names only
     * a key, or whose payload may be older than the record, should be answered by
     * fetching the record through `host->http_request`. Emitting nothing is fine (a ping,
     * a topic the stream does not cover). NULL when the manifest declares no webhooks.
     */
    koppel_status (*webhook)(void *instance, const koppel_host *host,
                             const koppel_webhook_args *args);

    /**
     * Since minor 5 (check KOPPEL_HAS_FIELD(plugin, koppel_plugin,
     * webhook_subscriptions)): lists, creates, re-enables or deletes the remote
     * system's webhook subscriptions (see koppel_subscription_args). Each subscription
     * is reported through `host->emit` as a JSON object:
     *   { "id": "17", "topic": "order.created", "callback_url": "https://...",
     *     "status": "active" }
     * "status" is "active" when the sender delivers, "disabled" when it stopped by itself
     * (too many failed deliveries) or "paused" when a person stopped it. The host decides
     * which subscriptions are its own (their callback URL is this connection's intake)
     * and never deletes another's. NULL when subscriptions are made by hand.
     */
    koppel_status (*webhook_subscriptions)(void *instance, const koppel_host *host,
                                           const koppel_subscription_args *args);
} koppel_plugin;

/* ------------------------------------------------------------------------------ */
/* The entry point                                                                */
/* ------------------------------------------------------------------------------ */

/** What the host passes to `koppel_plugin_entry`. */
typedef struct koppel_entry_request {
    uint32_t struct_size;
    /** The ABI the host speaks. */
    uint16_t host_abi_major;
    uint16_t host_abi_minor;
    /**
     * A host-owned buffer for the reason when the plugin returns NULL; write at most
     * `reason_capacity` bytes, NUL-terminated.
     */
    char *reason;
    size_t reason_capacity;
} koppel_entry_request;

/**
 * The one exported symbol. Returns the plugin's static descriptor, or NULL after
 * writing why into `request->reason` (for instance: the plugin needs a newer host).
 * Must be cheap and side-effect free: the host calls it to list and inspect plugins.
 */
typedef const koppel_plugin *(*koppel_plugin_entry_fn)(const koppel_entry_request *request);

const koppel_plugin *koppel_plugin_entry(const koppel_entry_request *request);

#ifdef __cplusplus
}
#endif

#endif /* KOPPEL_PLUGIN_H */
