/*
 * The Xen 4.21 and 4.22 calls (features, quotas, watch depth) on one
 * handle, against the scripted Xen 4.22 daemon of tests/c_modern.rs
 * (no packaged daemon is newer than 4.20), then the daemon hanging up.
 * Prints one line per call.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xenstore.h>

#include "xenstore_4_22.h"

static void say(const char *what, bool ok, unsigned int value)
{
    const char *e = errno == ENOSYS ? "ENOSYS" : errno == ERANGE ? "ERANGE"
                    : errno == EACCES ? "EACCES" : errno == 0 ? "0" : strerror(errno);
    if (ok)
        printf("%s: true %u\n", what, value);
    else
        printf("%s: false %s\n", what, e);
}
#define SAY(what, call, value)                                                             \
    do {                                                                                   \
        errno = 0;                                                                         \
        bool ok_ = (call);                                                                 \
        say(what, ok_, value);                                                             \
    } while (0)

int main(void)
{
    struct xs_handle *h = xs_open(0);
    if (!h)
        return 1;
    unsigned int v = 0, n = 0;
    SAY("get_features_supported", xs_get_features_supported(h, &v), v);
    v = 0;
    SAY("get_features_supported again (cached)", xs_get_features_supported(h, &v), v);
    SAY("get_features_domain 3", xs_get_features_domain(h, 3, &v), v);
    SAY("set_features_domain 3", xs_set_features_domain(h, 3, 1), 0);
    SAY("set_features_domain 0", xs_set_features_domain(h, 0, 1), 0);
    const char **names = xs_get_quota_names(h, &n);
    printf("get_quota_names: %u [", n);
    for (unsigned int i = 0; names && i < n; i++)
        printf("%s%s", i ? " " : "", names[i]);
    printf("]\n");
    free(names);
    SAY("get_global_quota nodes", xs_get_global_quota(h, "nodes", &v), v);
    SAY("set_global_quota nodes", xs_set_global_quota(h, "nodes", 2000), 0);
    SAY("get_domain_quota 3 watches", xs_get_domain_quota(h, 3, "watches", &v), v);
    SAY("set_domain_quota 3 watches", xs_set_domain_quota(h, 3, "watches", 64), 0);
    SAY("get_global_quota huge", xs_get_global_quota(h, "huge", &v), v);
    SAY("watch_depth", xs_watch_depth(h, "/d", "dep", 1), 0);
    SAY("watch_try_depth", xs_watch_try_depth(h, "/d", "dep2", 1), 0);
    char **ev = xs_read_watch(h, &n);
    printf("event: %s %s\n", ev ? ev[XS_WATCH_PATH] : "NULL", ev ? ev[XS_WATCH_TOKEN] : "");
    free(ev);
    /* The daemon hangs up while a read waits for its reply. */
    errno = 0;
    void *v2 = xs_read(h, XBT_NULL, "/gone", &n);
    printf("read after hang-up: %s %s\n", v2 ? "value" : "NULL", errno == EBADF ? "EBADF" : strerror(errno));
    free(v2);
    errno = 0;
    ev = xs_read_watch(h, &n);
    printf("read_watch after hang-up: %s %s\n", ev ? "event" : "NULL", errno == EBADF ? "EBADF" : strerror(errno));
    free(ev);
    xs_close(h);
    return 0;
}
