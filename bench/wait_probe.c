/* How a lone synchronous client waits for a reply, and what it costs.
 *
 * Sends N READs of /bench/seq/key (written by `xs-bench populate`) one at a
 * time on $XENSTORED_PATH and waits for each reply in the way MODE says:
 *
 *   block       blocking read() on a blocking socket (libxenstore's way)
 *   block-timeo the same with SO_RCVTIMEO set (a deadline without poll)
 *   epoll       epoll_wait for EPOLLIN, then a non-blocking read (mio's way)
 *   poll        poll for POLLIN, then a non-blocking read
 *   epoll-out   epoll_wait for EPOLLIN|EPOLLOUT edge-triggered, then read:
 *               also woken when the daemon consumes the request (the
 *               write-space wake-up a blocking reader gets), to test whether
 *               that early wake-up is what makes `block` faster across CPUs
 *   spin        non-blocking read in a loop, never sleeping
 *
 * Prints "MODE ops/s us/op". Used for docs/benchmarks.md, section "Why
 * waiting for readiness costs across CPUs".
 *
 * FP_CODE=K and FP_DATA=D (environment, at most 512 each) add work between
 * round trips: K calls to functions that each sit alone in a 64-byte code
 * line, and a touch of D distinct 64-byte data lines. It costs a few
 * instructions per line; what it measures is how much a client's footprint
 * (the distinct lines it runs and touches per request) costs once the daemon
 * and the kernel have run in between (docs/benchmarks.md, section "Pinned:
 * the gap to the pre-split client, and what a client's code footprint costs").
 *
 *   cc -O2 -o wait_probe bench/wait_probe.c
 *   XENSTORED_PATH=/run/xenstored/socket ./wait_probe MODE N
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define XS_READ 2
#define PATH "/bench/seq/key"

struct header {
    uint32_t type, req_id, tx_id, len;
};

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* FP_CODE: 512 functions, each in a 64-byte line of its own (names f000 to
 * f777, octal). */
#define FN(n) \
    __attribute__((noinline, aligned(64))) static unsigned f##n(unsigned x) { return x * 2654435761u + 0##n; }
#define FN8(n) FN(n##0) FN(n##1) FN(n##2) FN(n##3) FN(n##4) FN(n##5) FN(n##6) FN(n##7)
#define FN64(n) FN8(n##0) FN8(n##1) FN8(n##2) FN8(n##3) FN8(n##4) FN8(n##5) FN8(n##6) FN8(n##7)
FN64(0) FN64(1) FN64(2) FN64(3) FN64(4) FN64(5) FN64(6) FN64(7)
#define REF(n) f##n,
#define REF8(n) REF(n##0) REF(n##1) REF(n##2) REF(n##3) REF(n##4) REF(n##5) REF(n##6) REF(n##7)
#define REF64(n) REF8(n##0) REF8(n##1) REF8(n##2) REF8(n##3) REF8(n##4) REF8(n##5) REF8(n##6) REF8(n##7)
#define FP_MAX 512
static unsigned (*const footprint_code[FP_MAX])(unsigned) = {
    REF64(0) REF64(1) REF64(2) REF64(3) REF64(4) REF64(5) REF64(6) REF64(7)};
static unsigned char footprint_data[FP_MAX * 64];

static unsigned footprint(int code_lines, int data_lines, unsigned x)
{
    for (int i = 0; i < code_lines; i++)
        x = footprint_code[i](x);
    for (int i = 0; i < data_lines; i++) {
        footprint_data[i * 64] += (unsigned char)x;
        x += footprint_data[i * 64 + 8];
    }
    return x;
}

static int env_lines(const char *name)
{
    const char *v = getenv(name);
    int n = v ? atoi(v) : 0;
    return n < 0 ? 0 : n > FP_MAX ? FP_MAX : n;
}

int main(int argc, char **argv)
{
    int code_lines = env_lines("FP_CODE"), data_lines = env_lines("FP_DATA");
    unsigned sink = 0;
    if (argc != 3) {
        fprintf(stderr, "usage: wait_probe block|block-timeo|epoll|poll|epoll-out|spin N\n");
        return 2;
    }
    const char *mode = argv[1];
    long n = atol(argv[2]);
    const char *socket_path = getenv("XENSTORED_PATH");
    if (!socket_path || strlen(socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        fprintf(stderr, "wait_probe: set XENSTORED_PATH\n");
        return 2;
    }
    int blocking = !strcmp(mode, "block") || !strcmp(mode, "block-timeo");
    int use_epoll = !strcmp(mode, "epoll") || !strcmp(mode, "epoll-out");
    int use_poll = !strcmp(mode, "poll");
    if (!blocking && !use_epoll && !use_poll && strcmp(mode, "spin")) {
        fprintf(stderr, "wait_probe: unknown mode %s\n", mode);
        return 2;
    }

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strcpy(addr.sun_path, socket_path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        perror("wait_probe: connect");
        return 1;
    }
    if (!strcmp(mode, "block-timeo")) {
        struct timeval tv = {.tv_sec = 30};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    if (!blocking)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    int ep = -1;
    if (use_epoll) {
        struct epoll_event ev = {.events = EPOLLIN};
        if (!strcmp(mode, "epoll-out"))
            ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
        ep = epoll_create1(EPOLL_CLOEXEC);
        if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            perror("wait_probe: epoll");
            return 1;
        }
    }

    char request[sizeof(struct header) + sizeof PATH];
    struct header h = {.type = XS_READ, .len = sizeof PATH};
    memcpy(request + sizeof h, PATH, sizeof PATH);
    char reply[4096 + sizeof(struct header)];

    double start = seconds();
    for (long i = 0; i < n; i++) {
        sink = footprint(code_lines, data_lines, sink);
        h.req_id = (uint32_t)i + 1;
        memcpy(request, &h, sizeof h);
        if (send(fd, request, sizeof request, MSG_NOSIGNAL) != (ssize_t)sizeof request) {
            perror("wait_probe: send");
            return 1;
        }
        size_t have = 0, want = sizeof(struct header);
        while (have < want) {
            if (use_epoll) {
                struct epoll_event ev;
                if (epoll_wait(ep, &ev, 1, -1) < 0 && errno != EINTR) {
                    perror("wait_probe: epoll_wait");
                    return 1;
                }
            } else if (use_poll) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                if (poll(&p, 1, -1) < 0 && errno != EINTR) {
                    perror("wait_probe: poll");
                    return 1;
                }
            }
            ssize_t got = read(fd, reply + have, sizeof reply - have);
            if (got == 0) {
                fprintf(stderr, "wait_probe: daemon closed the connection\n");
                return 1;
            }
            if (got < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    continue;
                perror("wait_probe: read");
                return 1;
            }
            have += (size_t)got;
            if (have >= sizeof(struct header)) {
                struct header r;
                memcpy(&r, reply, sizeof r);
                if (r.len > 4096 || r.req_id != h.req_id) {
                    fprintf(stderr, "wait_probe: unexpected reply\n");
                    return 1;
                }
                want = sizeof r + r.len;
            }
        }
    }
    double elapsed = seconds() - start;
    printf("%-12s %8.0f ops/s %7.2f us%s\n", mode, (double)n / elapsed, elapsed / (double)n * 1e6,
           sink == 1 ? " " : "");
    return 0;
}
