// libuv for Swift: macros and variadics turned into functions. Only FleetRuntime imports this.
#include <uv.h>
#include <sys/resource.h>
#include <sys/socket.h>

// accept4 is declared only with _GNU_SOURCE. TCPServer accepts itself (TCPServer+Shedding.swift)
// and wants the new socket non-blocking and close-on-exec atomically.
extern int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
static inline int shim_accept_nonblocking(int fd) { return accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC); }

// RLIMIT_NOFILE is an enum of type __rlimit_resource in glibc, awkward from Swift.
// Raises the soft limit to the hard limit (capped for RLIM_INFINITY); returns the soft limit now
// in effect, or -1 if it cannot be read.
static inline long shim_raise_nofile_limit(void) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
    rlim_t target = limit.rlim_max;
    if (target == RLIM_INFINITY) target = 1048576;
    if (limit.rlim_cur < target) {
        struct rlimit raised = limit;
        raised.rlim_cur = target;
        if (setrlimit(RLIMIT_NOFILE, &raised) != 0) return (long)limit.rlim_cur;
        return (long)target;
    }
    return (long)limit.rlim_cur;
}

// For footprint checks: bytes malloc really reserved for a block (glibc).
#include <malloc.h>
static inline size_t shim_malloc_usable_size(void *p) { return malloc_usable_size(p); }

// ChildProcess: a stdio slot of uv_spawn, set without naming the container's union from Swift.
// stdin of a maintenance command reads nothing (/dev/null).
static inline void shim_stdio_ignore(uv_stdio_container_t *slot) { slot->flags = UV_IGNORE; }
// stdout/stderr: a new pipe the child writes and the parent reads.
static inline void shim_stdio_pipe_to_parent(uv_stdio_container_t *slot, uv_pipe_t *pipe) {
    slot->flags = (uv_stdio_flags)(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
    slot->data.stream = (uv_stream_t *)pipe;
}
