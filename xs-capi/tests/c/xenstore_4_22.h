/*
 * The functions libxenstore gained in Xen 4.21 (VERS_4.1) and 4.22
 * (VERS_4.2): Debian's <xenstore.h> is Xen 4.17's and lacks them.
 */
#ifndef XENSTORE_4_22_H
#define XENSTORE_4_22_H
#include <stdbool.h>
#include <xenstore.h>

bool xs_get_features_supported(struct xs_handle *h, unsigned int *features);
bool xs_get_features_domain(struct xs_handle *h, unsigned int domid, unsigned int *features);
bool xs_set_features_domain(struct xs_handle *h, unsigned int domid, unsigned int features);
const char **xs_get_quota_names(struct xs_handle *h, unsigned int *num);
bool xs_get_global_quota(struct xs_handle *h, const char *quota, unsigned int *value);
bool xs_set_global_quota(struct xs_handle *h, const char *quota, unsigned int value);
bool xs_get_domain_quota(struct xs_handle *h, unsigned int domid, const char *quota,
                         unsigned int *value);
bool xs_set_domain_quota(struct xs_handle *h, unsigned int domid, const char *quota,
                         unsigned int value);
bool xs_watch_depth(struct xs_handle *h, const char *path, const char *token, unsigned int depth);
bool xs_watch_try_depth(struct xs_handle *h, const char *path, const char *token,
                        unsigned int depth);

#endif
