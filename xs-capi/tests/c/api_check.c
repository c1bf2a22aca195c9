/*
 * Calls every function of libxenstore.so.4 through Xen 4.17's <xenstore.h>
 * (Debian's libxen-dev) and prints one line per check: what came back and
 * errno. tests/c_api.rs compares the lines with what the C library's
 * documentation and source say each call gives.
 *
 *   XENSTORED_PATH=SOCKET api_check [full]
 *
 * With "full" the daemon is taken to answer GET_FEATURE and the quota
 * requests (xs-server: ENOSYS) and to let dom0 introduce a domain without
 * Xen; Xen 4.17's oxenstored leaves an empty GET_FEATURE
 * unanswered, so those calls are skipped there.
 */
#include <errno.h>
#include <signal.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>
#include <xenstore.h>

#include "xenstore_4_22.h"

static struct xs_handle *h; /* global: still reachable in a forked child */

static const char *err(void)
{
    switch (errno) {
    case 0: return "0";
    case ENOENT: return "ENOENT";
    case EINVAL: return "EINVAL";
    case EACCES: return "EACCES";
    case EEXIST: return "EEXIST";
    case EAGAIN: return "EAGAIN";
    case E2BIG: return "E2BIG";
    case ENOSYS: return "ENOSYS";
    case EPERM: return "EPERM";
    case EBUSY: return "EBUSY";
    case EBADF: return "EBADF";
    default: return strerror(errno);
    }
}

#define SAY(...) (printf(__VA_ARGS__), putchar('\n'), fflush(stdout))

/* "what: true", or "what: false ERRNO"; errno is read before anything else
 * runs (arguments are evaluated before the call). */
static void say_bool(const char *what, bool ok)
{
    const char *e = err();
    if (ok)
        SAY("%s: true", what);
    else
        SAY("%s: false %s", what, e);
}
#define SAYB(what, call) (errno = 0, say_bool(what, call))

static bool readable(int fd, int ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    return poll(&p, 1, ms) == 1;
}

static void show_read(const char *what, xs_transaction_t t, const char *path)
{
    unsigned int len = 12345;
    errno = 0;
    char *v = xs_read(h, t, path, &len);
    if (v)
        SAY("%s: \"%s\" len %u nul %d", what, v, len, v[len] == 0);
    else
        SAY("%s: NULL %s", what, err());
    free(v);
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void show_dir(const char *what, const char *path)
{
    unsigned int n = 0;
    errno = 0;
    char **names = xs_directory(h, XBT_NULL, path, &n);
    if (!names) {
        SAY("%s: NULL %s", what, err());
        return;
    }
    qsort(names, n, sizeof(*names), cmp);
    printf("%s: %u [", what, n);
    for (unsigned int i = 0; i < n; i++)
        printf("%s%s", i ? " " : "", names[i]);
    SAY("]");
    free(names); /* one block */
}

static void show_event(const char *what, char **ev, const unsigned int *num)
{
    if (ev)
        SAY("%s: %s %s (num %u)", what, ev[XS_WATCH_PATH], ev[XS_WATCH_TOKEN], *num);
    else
        SAY("%s: NULL %s", what, err());
    free(ev);
}

static void check_event(struct xs_handle *x, const char *what)
{
    static const unsigned int two = 2;
    errno = 0;
    show_event(what, xs_check_watch(x), &two);
}

/* Whether the thread named `name` blocks SIGINT, SIGTERM and SIGHUP
 * (libxenstore's reader thread blocks every signal); -1 if there is none. */
static int thread_blocks_signals_now(const char *name)
{
    DIR *tasks = opendir("/proc/self/task");
    struct dirent *t;
    int found = -1;
    while (tasks && (t = readdir(tasks)) != NULL) {
        char path[300], line[256];
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", t->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        bool match = fgets(line, sizeof(line), f) && strncmp(line, name, strlen(name)) == 0;
        fclose(f);
        if (!match)
            continue;
        snprintf(path, sizeof(path), "/proc/self/task/%s/status", t->d_name);
        f = fopen(path, "r");
        unsigned long long blocked = 0;
        while (f && fgets(line, sizeof(line), f))
            if (sscanf(line, "SigBlk: %llx", &blocked) == 1)
                break;
        if (f)
            fclose(f);
        unsigned long long want = (1ull << (SIGINT - 1)) | (1ull << (SIGTERM - 1)) |
                                  (1ull << (SIGHUP - 1));
        found = (blocked & want) == want;
    }
    if (tasks)
        closedir(tasks);
    return found;
}

/* thread_blocks_signals_now, waiting up to 5 s for the thread to appear:
 * a thread takes its name once it runs (under valgrind, that can be a
 * while after it was started); its signal mask it has from the start. */
static int thread_blocks_signals(const char *name)
{
    int found = thread_blocks_signals_now(name);
    for (int i = 0; found < 0 && i < 500; i++) {
        usleep(10000);
        found = thread_blocks_signals_now(name);
    }
    return found;
}

static void *hammer(void *arg)
{
    char path[64], val[32];
    long id = (long)arg;
    for (int i = 0; i < 200; i++) {
        snprintf(path, sizeof(path), "/capi/threads/%ld", id);
        snprintf(val, sizeof(val), "%ld-%d", id, i);
        if (!xs_write(h, XBT_NULL, path, val, strlen(val)))
            return (void *)1;
        unsigned int len;
        char *got = xs_read(h, XBT_NULL, path, &len);
        bool same = got && strcmp(got, val) == 0;
        free(got);
        if (!same)
            return (void *)1;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    bool modern = argc > 1 && strcmp(argv[1], "full") == 0;
    const char *sock = getenv("XENSTORED_PATH");

    /* Where the daemon is. */
    SAY("socket is XENSTORED_PATH: %d", sock && strcmp(xs_daemon_socket(), sock) == 0);
    SAY("socket_ro is socket: %d", strcmp(xs_daemon_socket_ro(), xs_daemon_socket()) == 0);
    SAY("rundir: %s", xs_daemon_rundir());

    /* Opening. */
    xs_close(NULL);
    struct xs_handle *o;
    SAY("xs_daemon_open: %d", (o = xs_daemon_open()) != NULL);
    xs_daemon_close(o);
    SAY("xs_domain_open: %d", (o = xs_domain_open()) != NULL);
    xs_close(o);
    SAY("xs_daemon_open_readonly: %d", (o = xs_daemon_open_readonly()) != NULL);
    xs_close(o);
    h = xs_open(XS_OPEN_READONLY | XS_OPEN_SOCKETONLY);
    SAY("xs_open(READONLY|SOCKETONLY): %d", h != NULL);
    if (!h)
        return 1;

    /* Nodes. */
    xs_rm(h, XBT_NULL, "/capi");
    SAYB("write", xs_write(h, XBT_NULL, "/capi/a", "hello", 5));
    show_read("read", XBT_NULL, "/capi/a");
    show_read("read missing", XBT_NULL, "/capi/missing");
    show_read("read bad path", XBT_NULL, "/capi/a b\n");
    SAYB("write binary", xs_write(h, XBT_NULL, "/capi/bin", "x\0y", 3));
    unsigned int len;
    char *bin = xs_read(h, XBT_NULL, "/capi/bin", &len);
    SAY("read binary: len %u bytes %d", len, bin && memcmp(bin, "x\0y", 4) == 0);
    free(bin);
    static char big[5000];
    memset(big, 'b', sizeof(big));
    SAYB("write 5000 bytes", xs_write(h, XBT_NULL, "/capi/big", big, sizeof(big)));
    SAYB("mkdir", xs_mkdir(h, XBT_NULL, "/capi/d"));
    SAYB("mkdir again", xs_mkdir(h, XBT_NULL, "/capi/d"));
    show_dir("directory", "/capi");
    show_dir("directory of leaf", "/capi/a");
    show_dir("directory missing", "/capi/missing");
    SAYB("rm", xs_rm(h, XBT_NULL, "/capi/d"));
    SAYB("rm no parent", xs_rm(h, XBT_NULL, "/capi/no/such"));
    SAYB("restrict", xs_restrict(h, 1));

    /* Permissions. */
    struct xs_permissions set[2] = { { .id = 0, .perms = XS_PERM_NONE },
                                     { .id = 5, .perms = XS_PERM_READ } };
    SAYB("set_permissions", xs_set_permissions(h, XBT_NULL, "/capi/a", set, 2));
    unsigned int np = 0;
    struct xs_permissions *got = xs_get_permissions(h, XBT_NULL, "/capi/a", &np);
    SAY("get_permissions: %u (%u,%u) (%u,%u)", np, got ? got[0].id : 99, got ? got[0].perms : 99,
        np > 1 ? got[1].id : 99, np > 1 ? got[1].perms : 99);
    free(got);
    errno = 0;
    got = xs_get_permissions(h, XBT_NULL, "/capi/missing", &np);
    SAY("get_permissions missing: %s %s", got ? "array" : "NULL", err());
    free(got);
    struct xs_permissions bad = { .id = 0, .perms = XS_PERM_ENOENT_OK };
    SAYB("set_permissions bad bits", xs_set_permissions(h, XBT_NULL, "/capi/a", &bad, 1));
    struct xs_permissions parsed[2];
    SAYB("strings_to_perms", xs_strings_to_perms(parsed, 2, "r5\0b0x10"));
    SAY("parsed: (%u,%u) (%u,%u)", parsed[0].id, parsed[0].perms, parsed[1].id, parsed[1].perms);
    SAYB("strings_to_perms bad", xs_strings_to_perms(parsed, 1, "x1"));

    /* Helpers. */
    SAY("subpath: %d %d %d %d", xs_path_is_subpath("/a", "/a"), xs_path_is_subpath("/a", "/a/b"),
        xs_path_is_subpath("/a", "/ab"), xs_path_is_subpath("/a/b", "/a"));
    int fds[2];
    if (pipe(fds) != 0)
        return 1;
    char buf[8] = { 0 };
    SAYB("write_all", xs_write_all(fds[1], "abc", 3));
    SAY("pipe holds: %zd", read(fds[0], buf, sizeof(buf)));
    close(fds[0]);
    close(fds[1]);

    /* Transactions. */
    xs_transaction_t t = xs_transaction_start(h);
    SAY("transaction_start: %d", t != XBT_NULL);
    SAYB("write in t", xs_write(h, t, "/capi/t", "1", 1));
    show_read("read in t", t, "/capi/t");
    show_read("read outside t", XBT_NULL, "/capi/t");
    SAYB("commit", xs_transaction_end(h, t, false));
    show_read("read after commit", XBT_NULL, "/capi/t");
    t = xs_transaction_start(h);
    xs_write(h, t, "/capi/t", "2", 1);
    SAYB("abort", xs_transaction_end(h, t, true));
    show_read("read after abort", XBT_NULL, "/capi/t");
    t = xs_transaction_start(h);
    free(xs_read(h, t, "/capi/t", &len));
    xs_write(h, XBT_NULL, "/capi/t", "3", 1);
    xs_write(h, t, "/capi/t", "4", 1);
    SAYB("conflicting commit", xs_transaction_end(h, t, false));
    show_read("read after conflict", XBT_NULL, "/capi/t");

    /* Watches, through the fd. */
    check_event(h, "check_watch before any watch");
    int fd = xs_fileno(h);
    SAY("fileno: %d same %d", fd >= 0, xs_fileno(h) == fd);
    SAY("the fd's thread blocks signals: %d", thread_blocks_signals("xs-capi-pump"));
    SAY("fd readable before watch: %d", readable(fd, 0));
    SAYB("watch", xs_watch(h, "/capi/w", "tok"));
    SAY("fd readable: %d", readable(fd, 5000));
    check_event(h, "initial event");
    check_event(h, "then");
    SAY("fd readable after draining: %d", readable(fd, 0));
    xs_write(h, XBT_NULL, "/capi/w/x", "1", 1);
    SAY("fd readable after write: %d", readable(fd, 5000));
    unsigned int num = 0;
    show_event("read_watch", xs_read_watch(h, &num), &num);
    SAYB("watch again", xs_watch(h, "/capi/w", "tok"));
    SAYB("unwatch unknown", xs_unwatch(h, "/capi/nope", "tok"));

    /* Without XS_UNWATCH_FILTER, events queued before the unwatch stay. */
    xs_watch(h, "/capi/g", "g");
    readable(fd, 5000);
    free(xs_check_watch(h));
    xs_write(h, XBT_NULL, "/capi/g/1", "1", 1);
    readable(fd, 5000);
    usleep(100000);
    SAYB("unwatch", xs_unwatch(h, "/capi/g", "g"));
    check_event(h, "stale event without filter");

    /* With it, they go. */
    struct xs_handle *f = xs_open(XS_UNWATCH_FILTER);
    int ffd = xs_fileno(f);
    xs_watch(f, "/capi/f", "f");
    readable(ffd, 5000);
    free(xs_check_watch(f));
    xs_write(h, XBT_NULL, "/capi/f/1", "1", 1);
    SAY("filtered handle fd readable: %d", readable(ffd, 5000));
    usleep(100000);
    SAYB("unwatch filtered", xs_unwatch(f, "/capi/f", "f"));
    check_event(f, "stale event with filter");
    SAY("filtered fd readable after unwatch: %d", readable(ffd, 0));
    xs_close(f);

    /* The same on handles nobody asked for an fd (events are read another
     * way inside the library until then). */
    for (int filter = 0; filter < 2; filter++) {
        struct xs_handle *n = xs_open(filter ? XS_UNWATCH_FILTER : 0);
        unsigned int k;
        xs_watch(n, "/capi/n", "n");
        free(xs_read_watch(n, &k));
        xs_write(h, XBT_NULL, "/capi/n/1", "1", 1);
        usleep(200000);
        xs_unwatch(n, "/capi/n", "n");
        check_event(n, filter ? "no fd, stale event with filter" : "no fd, stale event without filter");
        xs_close(n);
    }

    /* fork: the child throws its copy away and opens its own. */
    pid_t pid = fork();
    if (pid == 0) {
        xs_daemon_destroy_postfork(h);
        struct xs_handle *c = xs_open(0);
        unsigned int l;
        char *v = c ? xs_read(c, XBT_NULL, "/capi/a", &l) : NULL;
        int ok = v && strcmp(v, "hello") == 0;
        free(v);
        xs_close(c);
        /* The usual end of a forked child: exec. (The parent's threads'
         * start-up blocks cannot be freed in the child.) */
        execl(ok ? "/bin/true" : "/bin/false", "child", (char *)NULL);
        _exit(2);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    SAY("child after destroy_postfork: exit %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    xs_write(h, XBT_NULL, "/capi/w/after-fork", "1", 1);
    show_event("parent's watch after fork", xs_read_watch(h, &num), &num);

    /* Threads sharing the handle. */
    pthread_t th[4];
    for (long i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, hammer, (void *)i);
    int bad_threads = 0;
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(th[i], &r);
        bad_threads += r != NULL;
    }
    SAY("threads: %d failed", bad_threads);

    /* Domains. */
    xs_write(h, XBT_NULL, "/local/domain/7/device/suspend/event-channel", "13", 2);
    SAY("suspend_evtchn_port: %d", xs_suspend_evtchn_port(7));
    SAY("suspend_evtchn_port missing: %d", xs_suspend_evtchn_port(8));
    char *dp = xs_get_domain_path(h, 7);
    SAY("get_domain_path: %s", dp ? dp : "NULL");
    free(dp);
    if (modern) {
        SAYB("introduce_domain", xs_introduce_domain(h, 7, 0xfeffc, 1));
        SAYB("is_domain_introduced", xs_is_domain_introduced(h, 7));
        SAYB("is_domain_introduced unknown", xs_is_domain_introduced(h, 9));
        SAYB("set_target", xs_set_target(h, 7, 0));
        SAYB("resume_domain", xs_resume_domain(h, 7));
        SAYB("release_domain", xs_release_domain(h, 7));
    }
    errno = 0;
    char *out = xs_control_command(h, "print", "from-c", 7);
    SAY("control_command: %s %s", out ? "reply" : "NULL", out ? "" : err());
    free(out);
    errno = 0;
    out = xs_debug_command(h, "print", "from-c", 7);
    SAY("debug_command: %s %s", out ? "reply" : "NULL", out ? "" : err());
    free(out);

    /* Xen 4.21 / 4.22. */
    if (modern) {
        unsigned int v = 0;
        SAYB("get_features_supported", xs_get_features_supported(h, &v));
        SAY("watchdepth feature: %d", (v & 4) != 0);
        SAYB("get_features_domain", xs_get_features_domain(h, 0, &v));
        SAYB("set_features_domain dom0", xs_set_features_domain(h, 0, 0));
        unsigned int nq = 0;
        const char **q = xs_get_quota_names(h, &nq);
        SAY("get_quota_names: %s %d", q ? "array" : "NULL", nq > 0);
        bool has_nodes = false;
        for (unsigned int i = 0; q && i < nq; i++)
            has_nodes |= strcmp(q[i], "nodes") == 0;
        SAY("quota names include nodes: %d", has_nodes);
        free(q);
        SAYB("get_global_quota", xs_get_global_quota(h, "nodes", &v));
        SAYB("set_global_quota", xs_set_global_quota(h, "nodes", v));
        SAYB("get_global_quota unknown", xs_get_global_quota(h, "no-such", &v));
        SAYB("get_domain_quota", xs_get_domain_quota(h, 0, "nodes", &v));
        SAYB("set_domain_quota", xs_set_domain_quota(h, 0, "nodes", v));
        SAYB("watch_depth", xs_watch_depth(h, "/capi/depth", "dep", 1));
        SAYB("watch_try_depth", xs_watch_try_depth(h, "/capi/depth", "dep", 1));
        show_event("try_depth's initial event", xs_read_watch(h, &num), &num);
    }

    xs_rm(h, XBT_NULL, "/capi");
    xs_close(h);
    SAY("done");
    return 0;
}
