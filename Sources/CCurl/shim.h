#ifndef KOPPEL_CCURL_SHIM_H
#define KOPPEL_CCURL_SHIM_H
#include <curl/curl.h>

/* curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call; these
   wrappers fix the argument type. */
typedef size_t (*koppel_curl_data_fn)(char *data, size_t size, size_t count, void *user);

static inline CURLcode koppel_curl_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode koppel_curl_setopt_string(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode koppel_curl_setopt_pointer(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode koppel_curl_setopt_function(CURL *h, CURLoption o, koppel_curl_data_fn f) { return curl_easy_setopt(h, o, f); }
static inline CURLcode koppel_curl_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode koppel_curl_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
#endif
