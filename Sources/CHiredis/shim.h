#ifndef KEYCLOAK_FCGI_CHIREDIS_SHIM_H
#define KEYCLOAK_FCGI_CHIREDIS_SHIM_H

// hiredis 0.14 (Debian bookworm's libhiredis-dev): only its 0.14 API is used, so the 1.x
// line builds too. redisCommand is variadic, which Swift cannot call: commands go through
// redisCommandArgv / redisAppendCommandArgv, which also keep arguments binary-safe.
#include <hiredis/hiredis.h>

// The timeouts take a struct timeval by value; these wrappers take milliseconds, so Swift
// needs no <sys/time.h> arithmetic. No logic lives here.

static inline struct timeval kfc_redis_timeval(long milliseconds) {
    struct timeval value;
    value.tv_sec = milliseconds / 1000;
    value.tv_usec = (milliseconds % 1000) * 1000;
    return value;
}

static inline redisContext *kfc_redis_connect_tcp(const char *host, int port, long timeout_milliseconds) {
    return redisConnectWithTimeout(host, port, kfc_redis_timeval(timeout_milliseconds));
}

static inline redisContext *kfc_redis_connect_unix(const char *path, long timeout_milliseconds) {
    return redisConnectUnixWithTimeout(path, kfc_redis_timeval(timeout_milliseconds));
}

static inline int kfc_redis_set_timeout(redisContext *context, long milliseconds) {
    return redisSetTimeout(context, kfc_redis_timeval(milliseconds));
}

#endif
