/*
 * Calls from an atexit handler, as xl makes them (it frees its libxl
 * context, and so its xenstore handle, at exit): by then the main
 * thread's thread-local storage is gone. tests/c_modern.rs runs it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <xenstore.h>

static struct xs_handle *h;

static void read_a(const char *when)
{
    unsigned int len;
    char *v = xs_read(h, XBT_NULL, "/a", &len);
    printf("read %s: %s\n", when, v ? v : "NULL");
    free(v);
}

static void at_exit(void)
{
    read_a("at exit");
    xs_close(h);
    printf("closed at exit\n");
}

int main(void)
{
    h = xs_open(0);
    if (!h || !xs_write(h, XBT_NULL, "/a", "v", 1))
        return 1;
    read_a("in main");
    atexit(at_exit);
    return 0;
}
