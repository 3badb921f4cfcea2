// libcurl for Swift: the variadic setopt/getinfo calls and the macros Swift cannot import,
// turned into typed functions. Only FleetRuntime imports this (HTTPClient*.swift).
// CURL and CURLM are `typedef void`: Swift sees them as UnsafeMutableRawPointer.
#include <curl/curl.h>

// curl_easy_setopt is variadic: one typed wrapper per argument kind.
static inline CURLcode shim_easy_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode shim_easy_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode shim_easy_setopt_ptr(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode shim_easy_setopt_string(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode shim_easy_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { return curl_easy_setopt(h, o, v); }
// CURLOPT_WRITEFUNCTION and CURLOPT_HEADERFUNCTION share this signature.
static inline CURLcode shim_easy_setopt_write_function(CURL *h, CURLoption o, curl_write_callback f) { return curl_easy_setopt(h, o, f); }

// curl_multi_setopt is variadic too.
static inline CURLMcode shim_multi_setopt_long(CURLM *m, CURLMoption o, long v) { return curl_multi_setopt(m, o, v); }
static inline CURLMcode shim_multi_setopt_ptr(CURLM *m, CURLMoption o, void *v) { return curl_multi_setopt(m, o, v); }
static inline CURLMcode shim_multi_setopt_socket_function(CURLM *m, curl_socket_callback f) {
    return curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, f);
}
static inline CURLMcode shim_multi_setopt_timer_function(CURLM *m, curl_multi_timer_callback f) {
    return curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, f);
}

// curl_easy_getinfo is variadic.
static inline CURLcode shim_easy_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode shim_easy_getinfo_ptr(CURL *h, CURLINFO i, char **v) { return curl_easy_getinfo(h, i, v); }

// CURL_SOCKET_TIMEOUT is a macro naming another macro.
static inline curl_socket_t shim_socket_timeout(void) { return CURL_SOCKET_TIMEOUT; }

// A finished transfer from curl_multi_info_read: the union member read in C.
static inline int shim_msg_is_done(const CURLMsg *m) { return m->msg == CURLMSG_DONE; }
static inline CURLcode shim_msg_result(const CURLMsg *m) { return m->data.result; }

// curl_version_info(CURLVERSION_NOW): CURLVERSION_NOW is a macro.
static inline const char *shim_curl_version(void) { return curl_version_info(CURLVERSION_NOW)->version; }
static inline int shim_curl_has_async_dns(void) {
    return (curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_ASYNCHDNS) != 0;
}
static inline const char *shim_curl_ssl_version(void) {
    const char *v = curl_version_info(CURLVERSION_NOW)->ssl_version;
    return v ? v : "";
}

// CURL_ERROR_SIZE, for the per-transfer error buffer (CURLOPT_ERRORBUFFER).
static inline size_t shim_error_size(void) { return CURL_ERROR_SIZE; }
