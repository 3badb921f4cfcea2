/*
 * socket-client: a managed-socket device, in plain C (Protocol/managed-sockets.md).
 *
 * An example for firmware authors: everything a device does to use a managed socket is here,
 * with POSIX sockets and nothing else.
 *
 *   1. connect over TCP to the gateway's socket listener (--listen-sockets);
 *   2. send one line:  OPEN <mapping> [client=<id>] [password=<password>] LF          (§2)
 *   3. read one line:  OK <socket-id>   -> the socket is open, raw bytes from here on;
 *                      ERR <code> <reason> -> refused; the gateway closes              (§2)
 *   4. send records (here: whatever arrives on stdin, newline-delimited lines for a mapping
 *      whose receive rule is a "\n" delimiter) and print what the gateway writes back;
 *   5. at the end of stdin, wait until the gateway has been quiet for a while (-w, 2 s by
 *      default; replies to the last records are still coming) and close. Closing, or even
 *      half-closing, earlier would cut those replies off: the gateway closes when it sees the
 *      device's end of stream, and the function still gets what was sent and the close event (§3).
 *
 * Usage: socket-client [-c client-id] [-p password] [-w linger-ms] HOST PORT MAPPING  < records
 *
 * Writes the socket id to stderr ("open <socket-id>"), the gateway's bytes to stdout unchanged.
 * Exit status: 0 the socket was open and ended (quiet, or closed by the gateway); 1 usage; 2 cannot connect; 3 refused with ERR
 * (the code and reason on stderr); 4 any other failure (bad answer, I/O error, timeout).
 *
 * Build: cc -std=c99 -Wall -Wextra -Werror -pedantic -o socket-client socket-client.c
 * (`make example-client` at the repository root does this).
 */
#define _POSIX_C_SOURCE 200112L

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

enum { EXIT_USAGE = 1, EXIT_CONNECT = 2, EXIT_REFUSED = 3, EXIT_FAILED = 4 };

/* §2: the handshake line is at most 1,024 bytes with its end; so is our reading of the answer
 * (an OK line is at most 3 + 160 + 1 bytes, an ERR line is short). */
#define LINE_MAX_BYTES 1024
/* The gateway answers within its own 10 s handshake limit, or once the mapping's open event has
 * been answered (retries take up to about 6 s more); past this we give up. */
#define ANSWER_TIMEOUT_MS 30000

/* A value of client= or password= is 1-256 bytes of printable ASCII without spaces (§2). */
static int valid_value(const char *s) {
    size_t n = strlen(s);
    if (n < 1 || n > 256) return 0;
    for (; *s; s++) if (*s < 0x21 || *s > 0x7E) return 0;
    return 1;
}

/* A mapping name is 1-128 bytes of A-Z a-z 0-9 . _ - (§2). */
static int valid_mapping(const char *s) {
    size_t n = strlen(s);
    if (n < 1 || n > 128) return 0;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) return 0;
    }
    return 1;
}

/* Writes all of buf, across short writes and interrupted calls. */
static int write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* TCP connection to host:port, trying every address the name has. -1 if none answers. */
static int connect_to(const char *host, const char *port) {
    struct addrinfo hints, *list, *ai;
    int fd = -1, rc;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if ((rc = getaddrinfo(host, port, &hints, &list)) != 0) {
        fprintf(stderr, "socket-client: %s: %s\n", host, gai_strerror(rc));
        return -1;
    }
    for (ai = list; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(list);
    if (fd < 0) fprintf(stderr, "socket-client: cannot connect to %s port %s: %s\n", host, port, strerror(errno));
    return fd;
}

/* Reads the gateway's answer line into line (without its LF). One byte at a time on purpose:
 * whatever follows the LF is the data stream and must not be swallowed here. 0 on success. */
static int read_answer(int fd, char *line, size_t size) {
    size_t len = 0;
    for (;;) {
        struct pollfd p = { fd, POLLIN, 0 };
        int ready = poll(&p, 1, ANSWER_TIMEOUT_MS);
        char c;
        ssize_t n;
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) { fprintf(stderr, "socket-client: no answer from the gateway\n"); return -1; }
        n = read(fd, &c, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { fprintf(stderr, "socket-client: the gateway closed before answering\n"); return -1; }
        if (c == '\n') { line[len] = '\0'; return 0; }
        if (len + 1 >= size) { fprintf(stderr, "socket-client: answer line too long\n"); return -1; }
        line[len++] = c;
    }
}

/* After OK: stdin to the socket, the socket to stdout. At the end of stdin we keep the
 * connection open and keep printing until the gateway has been quiet for linger_ms, then close:
 * a gateway closes as soon as it sees the device's end of stream, and replies to the last records
 * would be lost if we half-closed right away (Protocol/managed-sockets.md §3). */
static int relay(int fd, int linger_ms) {
    char buf[4096];
    int stdin_open = 1;
    for (;;) {
        struct pollfd p[2] = { { fd, POLLIN, 0 }, { STDIN_FILENO, POLLIN, 0 } };
        ssize_t n;
        int ready = poll(p, stdin_open ? 2 : 1, stdin_open ? -1 : linger_ms);
        if (ready < 0) {
            if (errno == EINTR) continue;
            perror("socket-client: poll");
            return EXIT_FAILED;
        }
        if (ready == 0) return 0;                          /* quiet for linger_ms: done */
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            n = read(fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) { perror("socket-client: read"); return EXIT_FAILED; }
            if (n == 0) return 0;                          /* the gateway closed: done */
            if (write_all(STDOUT_FILENO, buf, (size_t)n) < 0) return EXIT_FAILED;
        }
        if (stdin_open && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            n = read(STDIN_FILENO, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                stdin_open = 0;                            /* no more records: linger for replies */
            } else if (write_all(fd, buf, (size_t)n) < 0) {
                perror("socket-client: write");
                return EXIT_FAILED;
            }
        }
    }
}

int main(int argc, char **argv) {
    const char *client = NULL, *password = NULL, *host, *port, *mapping;
    char line[LINE_MAX_BYTES + 1];
    int opt, fd, n, status, linger_ms = 2000;

    while ((opt = getopt(argc, argv, "c:p:w:")) != -1) {
        if (opt == 'c') client = optarg;
        else if (opt == 'p') password = optarg;
        else if (opt == 'w' && (linger_ms = atoi(optarg)) >= 0) continue;
        else goto usage;
    }
    if (argc - optind != 3) goto usage;
    host = argv[optind];
    port = argv[optind + 1];
    mapping = argv[optind + 2];
    if (!valid_mapping(mapping) || (client && !valid_value(client)) || (password && !valid_value(password))) {
        fprintf(stderr, "socket-client: the mapping is 1-128 of A-Z a-z 0-9 . _ -; client and password 1-256 printable ASCII, no spaces\n");
        return EXIT_USAGE;
    }
    /* A gateway that closes while we write must not kill us with SIGPIPE: we report it instead. */
    signal(SIGPIPE, SIG_IGN);

    if ((fd = connect_to(host, port)) < 0) return EXIT_CONNECT;

    /* §2: OPEN <mapping> [client=<id>] [password=<password>] LF, single spaces. */
    n = snprintf(line, sizeof line, "OPEN %s%s%s%s%s\n", mapping,
                 client ? " client=" : "", client ? client : "",
                 password ? " password=" : "", password ? password : "");
    if (n < 0 || (size_t)n >= sizeof line || write_all(fd, line, (size_t)n) < 0) {
        fprintf(stderr, "socket-client: cannot send the OPEN line\n");
        close(fd);
        return EXIT_FAILED;
    }

    if (read_answer(fd, line, sizeof line) < 0) { close(fd); return EXIT_FAILED; }
    if (line[0] != '\0' && line[strlen(line) - 1] == '\r') line[strlen(line) - 1] = '\0';
    if (strncmp(line, "ERR ", 4) == 0) {
        /* "ERR <code> <reason>": the code is stable (branch on it), the reason is for people. */
        fprintf(stderr, "refused %s\n", line + 4);
        close(fd);
        return EXIT_REFUSED;
    }
    if (strncmp(line, "OK ", 3) != 0 || line[3] == '\0') {
        fprintf(stderr, "socket-client: unexpected answer: %s\n", line);
        close(fd);
        return EXIT_FAILED;
    }
    fprintf(stderr, "open %s\n", line + 3);

    status = relay(fd, linger_ms);
    close(fd);
    return status;

usage:
    fprintf(stderr, "usage: socket-client [-c client-id] [-p password] [-w linger-ms] HOST PORT MAPPING < records\n");
    return EXIT_USAGE;
}
