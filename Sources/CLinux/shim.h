#ifndef KEYCLOAK_FCGI_CLINUX_SHIM_H
#define KEYCLOAK_FCGI_CLINUX_SHIM_H

// Linux event primitives the FastCGI dispatcher uses, which Swift's Glibc module does not
// export: epoll, eventfd and timerfd. `struct epoll_event` is packed on x86_64, so Swift code
// never touches it: these wrappers take and return plain integers.

#include <errno.h>
#include <sys/socket.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static const uint32_t kf_epoll_in = EPOLLIN;
static const uint32_t kf_epoll_rdhup = EPOLLRDHUP;
static const uint32_t kf_epoll_hup = EPOLLHUP;
static const uint32_t kf_epoll_err = EPOLLERR;
static const uint32_t kf_epoll_oneshot = EPOLLONESHOT;

static inline int kf_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

/// EPOLL_CTL_ADD (add != 0) or EPOLL_CTL_MOD of `fd` with `events`; the event's data is the fd.
static inline int kf_epoll_arm(int epfd, int fd, uint32_t events, int add) {
    struct epoll_event event = {.events = events, .data = {.fd = fd}};
    return epoll_ctl(epfd, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &event);
}

static inline int kf_epoll_remove(int epfd, int fd) {
    struct epoll_event event = {0};
    return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &event);
}

/// Waits for one event: its fd (its events in *events), or -1 with errno (EINTR included).
static inline int kf_epoll_wait_one(int epfd, uint32_t *events, int timeout_ms) {
    struct epoll_event event;
    int ready = epoll_wait(epfd, &event, 1, timeout_ms);
    if (ready <= 0) {
        if (ready == 0) errno = EAGAIN;
        return -1;
    }
    *events = event.events;
    return event.data.fd;
}

/// accept4(2) with SOCK_CLOEXEC (a _GNU_SOURCE function Glibc's module does not export).
int accept4(int fd, struct sockaddr *address, socklen_t *length, int flags);
static inline int kf_accept_cloexec(int fd) { return accept4(fd, NULL, NULL, SOCK_CLOEXEC); }

static inline int kf_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

static inline int kf_eventfd_signal(int fd) { return eventfd_write(fd, 1); }

static inline int kf_timerfd(void) { return timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK); }

/// Fires every `interval_ms` from now; 0 disarms.
static inline int kf_timerfd_every(int fd, long interval_ms) {
    struct itimerspec spec = {
        .it_interval = {.tv_sec = interval_ms / 1000, .tv_nsec = (interval_ms % 1000) * 1000000L},
        .it_value = {.tv_sec = interval_ms / 1000, .tv_nsec = (interval_ms % 1000) * 1000000L},
    };
    return timerfd_settime(fd, 0, &spec, NULL);
}

/// Reads the expirations counted since the last read (0 when none).
static inline uint64_t kf_timerfd_consume(int fd) {
    uint64_t expirations = 0;
    if (read(fd, &expirations, sizeof expirations) != (ssize_t)sizeof expirations) return 0;
    return expirations;
}

#endif
