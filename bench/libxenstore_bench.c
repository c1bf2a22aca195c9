/*
 * The C libxenstore side of the benchmarks (see scripts/bench).
 *
 *   XENSTORED_PATH=SOCKET libxenstore_bench WORKLOAD MODE VALUE WARMUP
 *
 * WORKLOAD: read | write | dir100 | txn | watch | walk
 * MODE:     secs (run for VALUE seconds) | ops (run exactly VALUE operations)
 * WARMUP:   operations done first, untimed
 *
 * Prints one line "OPS NANOSECONDS CPU_NANOSECONDS" for the timed part
 * (connection set-up and warm-up excluded; CPU time is user + system of all
 * threads, CLOCK_PROCESS_CPUTIME_ID). The tree it works on is made by `xs-bench populate`.
 * In `ops` mode the clock is read only twice, so that instruction counts
 * under callgrind are the library's, not the clock's.
 *
 * In `secs` mode the line has two more numbers, "P50_NS P99_NS": the
 * latency percentiles of one operation (nearest rank, as xs-bench's
 * latency.rs). The clock read after every operation to know when to stop
 * ends that operation's latency; the samples go into a buffer allocated
 * and written before the timed part. `ops` mode records nothing.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xenstore.h>

#define READ_PATH "/bench/seq/key"
#define READ_VALUE "value-0123456789abcdef"
#define WRITE_PATH "/bench/seq/w"
#define DIR_PATH "/bench/dir100"
#define TXN_PATH "/bench/txn/key"
#define WATCH_DIR "/bench/watch/c"
#define WATCH_NODE "/bench/watch/c/node"
#define TREE_PATH "/bench/tree"

static struct xs_handle *h;

static void die(const char *what)
{
    fprintf(stderr, "libxenstore_bench: %s failed: %s\n", what, strerror(errno));
    exit(1);
}

/* As xs-bench's latency.rs: room for 250,000 operations a second, at most
 * 2^22 samples; operations beyond that are not recorded. */
#define MAX_RATE 250000.0
#define MAX_SAMPLES ((size_t)1 << 22)

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The p-th percentile of n ascending samples by nearest rank (n > 0). */
static uint64_t percentile(const uint64_t *sorted, size_t n, unsigned p)
{
    size_t rank = (p * n + 99) / 100;
    return sorted[(rank ? rank : 1) - 1];
}

static uint64_t clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void op_read(void)
{
    unsigned int len;
    char *v = xs_read(h, XBT_NULL, READ_PATH, &len);
    if (!v)
        die("xs_read");
    if (len != sizeof(READ_VALUE) - 1) {
        fprintf(stderr, "libxenstore_bench: unexpected value length %u\n", len);
        exit(1);
    }
    free(v);
}

static void op_write(void)
{
    if (!xs_write(h, XBT_NULL, WRITE_PATH, READ_VALUE, sizeof(READ_VALUE) - 1))
        die("xs_write");
}

static void op_dir100(void)
{
    unsigned int n;
    char **names = xs_directory(h, XBT_NULL, DIR_PATH, &n);
    if (!names)
        die("xs_directory");
    if (n != 100) {
        fprintf(stderr, "libxenstore_bench: %u children, expected 100\n", n);
        exit(1);
    }
    free(names);
}

static void op_txn(void)
{
    xs_transaction_t t = xs_transaction_start(h);
    if (t == XBT_NULL)
        die("xs_transaction_start");
    if (!xs_write(h, t, TXN_PATH, READ_VALUE, sizeof(READ_VALUE) - 1))
        die("xs_write in transaction");
    if (!xs_transaction_end(h, t, false) && errno != EAGAIN)
        die("xs_transaction_end");
}

static void op_watch(void)
{
    unsigned int n;
    if (!xs_write(h, XBT_NULL, WATCH_NODE, "x", 1))
        die("xs_write (watch)");
    char **ev = xs_read_watch(h, &n);
    if (!ev)
        die("xs_read_watch");
    free(ev);
}

/* Depth-first, like xenstore-ls: DIRECTORY and READ for every node. */
static uint64_t walk(const char *path)
{
    unsigned int n, len;
    char *v = xs_read(h, XBT_NULL, path, &len);
    free(v);
    char **names = xs_directory(h, XBT_NULL, path, &n);
    if (!names)
        die("xs_directory (walk)");
    uint64_t count = 1;
    char child[4096];
    for (unsigned int i = 0; i < n; i++) {
        snprintf(child, sizeof(child), "%s/%s", path, names[i]);
        count += walk(child);
    }
    free(names);
    return count;
}

static void op_walk(void)
{
    uint64_t n = walk(TREE_PATH);
    if (n < 2) {
        fprintf(stderr, "libxenstore_bench: tree has %llu nodes\n", (unsigned long long)n);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s WORKLOAD secs|ops VALUE WARMUP\n", argv[0]);
        return 2;
    }
    const char *workload = argv[1];
    bool by_time = strcmp(argv[2], "secs") == 0;
    if (!by_time && strcmp(argv[2], "ops") != 0) {
        fprintf(stderr, "libxenstore_bench: MODE must be secs or ops\n");
        return 2;
    }
    double value = strtod(argv[3], NULL);
    long warmup = strtol(argv[4], NULL, 10);

    void (*op)(void);
    if (!strcmp(workload, "read"))
        op = op_read;
    else if (!strcmp(workload, "write"))
        op = op_write;
    else if (!strcmp(workload, "dir100"))
        op = op_dir100;
    else if (!strcmp(workload, "txn"))
        op = op_txn;
    else if (!strcmp(workload, "watch"))
        op = op_watch;
    else if (!strcmp(workload, "walk"))
        op = op_walk;
    else {
        fprintf(stderr, "libxenstore_bench: unknown workload %s\n", workload);
        return 2;
    }

    h = xs_open(0);
    if (!h)
        die("xs_open");
    if (op == op_watch) {
        unsigned int n;
        if (!xs_write(h, XBT_NULL, WATCH_NODE, "x", 1))
            die("xs_write (watch set-up)");
        if (!xs_watch(h, WATCH_DIR, "bench"))
            die("xs_watch");
        char **ev = xs_read_watch(h, &n); /* the event fired at registration */
        if (!ev)
            die("xs_read_watch (initial)");
        free(ev);
    }

    for (long i = 0; i < warmup; i++)
        op();

    uint64_t *lat = NULL;
    size_t cap = 0, recorded = 0;
    if (by_time) {
        double want = (value > 0 ? value : 0) * MAX_RATE + 1024;
        cap = want < (double)MAX_SAMPLES ? (size_t)want : MAX_SAMPLES;
        lat = malloc(cap * sizeof(*lat));
        if (!lat)
            die("malloc");
        memset(lat, 0xff, cap * sizeof(*lat)); /* fault the pages in now */
    }

    uint64_t ops = 0;
    uint64_t cpu = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    uint64_t start = clock_ns(CLOCK_MONOTONIC), end;
    if (by_time) {
        uint64_t limit = (uint64_t)(value * 1e9), last = start;
        do {
            op();
            ops++;
            end = clock_ns(CLOCK_MONOTONIC);
            if (recorded < cap)
                lat[recorded++] = end - last;
            last = end;
        } while (end - start < limit);
    } else {
        uint64_t want = (uint64_t)value;
        for (; ops < want; ops++)
            op();
        end = clock_ns(CLOCK_MONOTONIC);
    }
    cpu = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu;
    printf("%llu %llu %llu", (unsigned long long)ops, (unsigned long long)(end - start),
           (unsigned long long)cpu);
    if (recorded > 0) {
        if (recorded < ops)
            fprintf(stderr, "libxenstore_bench: latency of the first %zu operations only\n",
                    recorded);
        qsort(lat, recorded, sizeof(*lat), cmp_u64);
        printf(" %llu %llu", (unsigned long long)percentile(lat, recorded, 50),
               (unsigned long long)percentile(lat, recorded, 99));
    }
    printf("\n");
    free(lat);
    xs_close(h);
    return 0;
}
