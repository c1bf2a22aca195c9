/*
 * LD_PRELOAD shim that lets the unmodified oxenstored (Debian xen-utils-4.17)
 * run on a machine without a Xen hypervisor, serving clients on its unix
 * socket only.  Build and use:
 *
 *   gcc -shared -fPIC -O2 -o shim.so shim.c -ldl
 *   XENSTORED_RUNDIR=/tmp/xs LD_PRELOAD=./shim.so \
 *       oxenstored --no-fork --no-domain-init --config-file FILE
 *
 * Three groups of replacements (see README.md for why each one is needed):
 *   1. setrlimit(RLIMIT_NOFILE) is clamped to the hard limit.
 *   2. libxenctrl / libxenevtchn entry points that would open /dev/xen/...
 *      are replaced by inert fakes.
 *   3. File-system calls on paths under /var/run/xenstored or /run/xenstored
 *      are redirected into $XENSTORED_RUNDIR, so several private daemons
 *      can run at the same time.
 *
 * The libxen* symbols in the daemon are versioned (e.g. VERS_1.0), but an
 * unversioned definition in a preloaded object still satisfies them.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

/* Look up the next definition of NAME (normally libc's); abort if absent. */
static void *next_sym(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (!p) {
        fprintf(stderr, "oxenstored shim: dlsym(%s) failed: %s\n", name,
                dlerror());
        abort();
    }
    return p;
}

/* Declare a static pointer real_<name>, resolved on first use. */
#define REAL(name)                                                  \
    static __typeof__(name) *real_##name;                           \
    if (!real_##name)                                               \
        real_##name = (__typeof__(name) *)next_sym(#name)

/* The fixed run directories compiled into oxenstored (/var/run -> /run). */
static const char *const run_prefixes[] = {"/var/run/xenstored",
                                           "/run/xenstored"};

/*
 * If PATH lies under one of run_prefixes and $XENSTORED_RUNDIR is set,
 * write "$XENSTORED_RUNDIR<rest of PATH>" into BUF and return BUF.
 * Otherwise (or if it would not fit) return PATH unchanged.
 */
static const char *redirect(const char *path, char *buf, size_t len)
{
    const char *dir = getenv("XENSTORED_RUNDIR");
    if (!path || !dir || !*dir)
        return path;
    for (size_t i = 0; i < sizeof(run_prefixes) / sizeof(*run_prefixes); i++) {
        size_t n = strlen(run_prefixes[i]);
        if (strncmp(path, run_prefixes[i], n) != 0)
            continue;
        if (path[n] != '\0' && path[n] != '/')
            continue; /* e.g. /run/xenstored2: not ours */
        int w = snprintf(buf, len, "%s%s", dir, path + n);
        return (w >= 0 && (size_t)w < len) ? buf : path;
    }
    return path;
}

/* Shorthand: declare a buffer and redirect the variable P in place. */
#define REDIRECT(p)            \
    char p##_buf[PATH_MAX];    \
    p = redirect(p, p##_buf, sizeof(p##_buf))

/* ------------------------------------------------------------------ */
/* 1. Resource limit                                                   */
/* ------------------------------------------------------------------ */

/*
 * oxenstored asks for RLIMIT_NOFILE = 1M and exits if that fails; an
 * unprivileged or container hard limit is lower.  Clamp to the hard limit.
 */
int setrlimit(__rlimit_resource_t res, const struct rlimit *rl)
{
    REAL(setrlimit);
    struct rlimit cur, want;
    if (res != RLIMIT_NOFILE || getrlimit(RLIMIT_NOFILE, &cur) != 0)
        return real_setrlimit(res, rl);
    want = *rl;
    if (cur.rlim_max != RLIM_INFINITY) {
        if (want.rlim_max == RLIM_INFINITY || want.rlim_max > cur.rlim_max)
            want.rlim_max = cur.rlim_max;
        if (want.rlim_cur == RLIM_INFINITY || want.rlim_cur > want.rlim_max)
            want.rlim_cur = want.rlim_max;
    }
    return real_setrlimit(res, &want);
}

/* ------------------------------------------------------------------ */
/* 2a. libxenctrl: no hypervisor, so hand out a dummy handle           */
/* ------------------------------------------------------------------ */

/* Opaque stand-in; only its address is ever used by the daemon. */
static char fake_xc_handle;

/* Real one opens /dev/xen/privcmd and fails; return a non-NULL dummy. */
void *xc_interface_open(void *logger, void *dombuild_logger, unsigned flags)
{
    (void)logger; (void)dombuild_logger; (void)flags;
    return &fake_xc_handle;
}

/* Nothing was opened, so nothing to close. */
int xc_interface_close(void *xch)
{
    (void)xch;
    return 0;
}

/*
 * Only reached when a client sends INTRODUCE: the real one would
 * dereference our dummy handle.  Fail cleanly instead (no guest memory).
 */
void *xc_map_foreign_range(void *xch, uint32_t dom, int size, int prot,
                           unsigned long mfn)
{
    (void)xch; (void)dom; (void)size; (void)prot; (void)mfn;
    errno = ENOSYS;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* 2b. libxenevtchn: an event channel that never fires                 */
/* ------------------------------------------------------------------ */

/* Fake handle: fd the daemon polls (pipe read end) and the write end. */
struct fake_evtchn {
    int rfd;
    int wfd; /* kept open (never written) so rfd never reports EOF */
};

/*
 * Real one opens /dev/xen/evtchn.  Give a pipe whose read end is never
 * readable, so the daemon's select/poll on it simply never wakes up.
 */
void *xenevtchn_open(void *logger, unsigned flags)
{
    (void)logger; (void)flags;
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return NULL;
    struct fake_evtchn *h = malloc(sizeof(*h));
    if (!h) {
        close(p[0]);
        close(p[1]);
        return NULL;
    }
    h->rfd = p[0];
    h->wfd = p[1];
    return h;
}

/* Live-update path: wrap an inherited fd (our old pipe end) as a handle. */
void *xenevtchn_fdopen(void *logger, int fd, unsigned flags)
{
    (void)logger; (void)flags;
    struct fake_evtchn *h = malloc(sizeof(*h));
    if (!h)
        return NULL;
    h->rfd = fd;
    h->wfd = -1;
    return h;
}

/* Close both pipe ends and free the handle. */
int xenevtchn_close(void *xce)
{
    struct fake_evtchn *h = xce;
    if (!h)
        return 0;
    close(h->rfd);
    if (h->wfd >= 0)
        close(h->wfd);
    free(h);
    return 0;
}

/* The fd the daemon adds to its poll set: the silent pipe read end. */
int xenevtchn_fd(void *xce)
{
    return ((struct fake_evtchn *)xce)->rfd;
}

/* Binding VIRQ_DOM_EXC needs the hypervisor; pretend we got port 1. */
int xenevtchn_bind_virq(void *xce, unsigned int virq)
{
    (void)xce; (void)virq;
    return 1;
}

/* Binding to a guest's port needs the hypervisor; pretend port 1. */
int xenevtchn_bind_interdomain(void *xce, uint32_t domid, uint32_t port)
{
    (void)xce; (void)domid; (void)port;
    return 1;
}

/* Nothing was bound for real, so unbinding always succeeds. */
int xenevtchn_unbind(void *xce, uint32_t port)
{
    (void)xce; (void)port;
    return 0;
}

/* No guest to notify; succeed. */
int xenevtchn_notify(void *xce, uint32_t port)
{
    (void)xce; (void)port;
    return 0;
}

/* Nothing is ever masked; succeed. */
int xenevtchn_unmask(void *xce, uint32_t port)
{
    (void)xce; (void)port;
    return 0;
}

/*
 * Only called after the fd polls readable, which the pipe never does.
 * If it ever were, report "nothing pending" rather than invent a port.
 */
int xenevtchn_pending(void *xce)
{
    (void)xce;
    errno = EAGAIN;
    return -1;
}

/* ------------------------------------------------------------------ */
/* 3. Run-directory redirection                                        */
/* ------------------------------------------------------------------ */

/* The daemon's listening socket: rewrite sun_path of AF_UNIX binds. */
int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    REAL(bind);
    if (!addr || addr->sa_family != AF_UNIX || len <= sizeof(sa_family_t))
        return real_bind(fd, addr, len);
    const struct sockaddr_un *un = (const struct sockaddr_un *)addr;
    char path[sizeof(un->sun_path) + 1];
    size_t n = len - offsetof(struct sockaddr_un, sun_path);
    if (n > sizeof(un->sun_path))
        n = sizeof(un->sun_path);
    memcpy(path, un->sun_path, n);
    path[n] = '\0';
    char buf[PATH_MAX];
    const char *p = redirect(path, buf, sizeof(buf));
    if (p == path)
        return real_bind(fd, addr, len);
    struct sockaddr_un out = {.sun_family = AF_UNIX};
    if (strlen(p) >= sizeof(out.sun_path)) {
        errno = ENAMETOOLONG; /* XENSTORED_RUNDIR too long for a socket */
        return -1;
    }
    strcpy(out.sun_path, p);
    return real_bind(fd, (struct sockaddr *)&out, sizeof(out));
}

/* Stale socket removal before bind, and db cleanup. */
int unlink(const char *path)
{
    REAL(unlink);
    REDIRECT(path);
    return real_unlink(path);
}

/* unlinkat variant (used by some libc/OCaml paths). */
int unlinkat(int dirfd, const char *path, int flags)
{
    REAL(unlinkat);
    REDIRECT(path);
    return real_unlinkat(dirfd, path, flags);
}

/* Creating /var/run/xenstored itself. */
int mkdir(const char *path, mode_t mode)
{
    REAL(mkdir);
    REDIRECT(path);
    return real_mkdir(path, mode);
}

/* Socket permissions are set by path after bind. */
int chmod(const char *path, mode_t mode)
{
    REAL(chmod);
    REDIRECT(path);
    return real_chmod(path, mode);
}

/* Mode argument exists only with O_CREAT / O_TMPFILE. */
#define OPEN_MODE(flags, mode)                                   \
    do {                                                         \
        if ((flags) & (O_CREAT | O_TMPFILE)) {                   \
            va_list ap;                                          \
            va_start(ap, flags);                                 \
            mode = va_arg(ap, int);                              \
            va_end(ap);                                          \
        }                                                        \
    } while (0)

/* Store dump (db) and any other file opened in the run directory. */
int open(const char *path, int flags, ...)
{
    REAL(open);
    mode_t mode = 0;
    OPEN_MODE(flags, mode);
    REDIRECT(path);
    return real_open(path, flags, mode);
}

/* Large-file alias of open. */
int open64(const char *path, int flags, ...)
{
    REAL(open64);
    mode_t mode = 0;
    OPEN_MODE(flags, mode);
    REDIRECT(path);
    return real_open64(path, flags, mode);
}

/* Directory-relative open; absolute paths ignore dirfd anyway. */
int openat(int dirfd, const char *path, int flags, ...)
{
    REAL(openat);
    mode_t mode = 0;
    OPEN_MODE(flags, mode);
    REDIRECT(path);
    return real_openat(dirfd, path, flags, mode);
}

/* Large-file alias of openat. */
int openat64(int dirfd, const char *path, int flags, ...)
{
    REAL(openat64);
    mode_t mode = 0;
    OPEN_MODE(flags, mode);
    REDIRECT(path);
    return real_openat64(dirfd, path, flags, mode);
}

/* stdio open. */
FILE *fopen(const char *path, const char *m)
{
    REAL(fopen);
    REDIRECT(path);
    return real_fopen(path, m);
}

/* Large-file alias of fopen. */
FILE *fopen64(const char *path, const char *m)
{
    REAL(fopen64);
    REDIRECT(path);
    return real_fopen64(path, m);
}

/* Replacing a file atomically (write temp, then rename over). */
int rename(const char *from, const char *to)
{
    REAL(rename);
    REDIRECT(from);
    REDIRECT(to);
    return real_rename(from, to);
}

/* Existence checks (Sys.file_exists, Unix.stat). */
int stat(const char *path, struct stat *st)
{
    REAL(stat);
    REDIRECT(path);
    return real_stat(path, st);
}

/* Unix.lstat. */
int lstat(const char *path, struct stat *st)
{
    REAL(lstat);
    REDIRECT(path);
    return real_lstat(path, st);
}

/* Unix.access. */
int access(const char *path, int mode)
{
    REAL(access);
    REDIRECT(path);
    return real_access(path, mode);
}
