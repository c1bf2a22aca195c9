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

int main(int argc, char **argv)
{
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
    printf("%-12s %8.0f ops/s %7.2f us\n", mode, (double)n / elapsed, elapsed / (double)n * 1e6);
    return 0;
}
