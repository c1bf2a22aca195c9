/*
 * xs_close on a handle with a watch, while the daemon has stopped
 * answering: it must return (libxenstore's close never waits on the
 * daemon). tests/c_modern.rs runs it against a scripted daemon.
 */
#include <stdio.h>
#include <stdlib.h>
#include <xenstore.h>

int main(void)
{
    struct xs_handle *h = xs_open(0);
    if (!h || !xs_watch(h, "/w", "t"))
        return 1;
    unsigned int n;
    char **ev = xs_read_watch(h, &n);
    printf("event: %s\n", ev ? ev[XS_WATCH_PATH] : "NULL");
    free(ev);
    xs_close(h);
    printf("closed\n");
    return 0;
}
