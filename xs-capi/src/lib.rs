//! `libxenstore.so.4`: Xen's C client library, rebuilt on [`xs_client`].
//!
//! The Rust API ([`xs_client`]) is the primary one. This crate exists for
//! what cannot use it: C programs and Python's `xen.lowlevel.xs` linked
//! against `libxenstore.so.4`. It exports every symbol of Xen's
//! `libxenstore.map` up to `VERS_4.2` (Xen 4.22) with the same symbol
//! versions, so existing binaries run on it unchanged:
//!
//! ```sh
//! cargo build --release -p xs-capi
//! mkdir -p /tmp/xs-lib && ln -sf "$PWD/target/release/libxenstore.so" /tmp/xs-lib/libxenstore.so.4
//! LD_LIBRARY_PATH=/tmp/xs-lib xenstore-ls /local/domain/0
//! ```
//!
//! The same unmodified tools are compared on both libraries by the tests
//! (`tests/c_tools.rs`: every `xenstore-*` tool, on xs-server and
//! oxenstored), and in a real Xen 4.17 and 4.20 dom0 under QEMU by
//! `scripts/xen-qemu/capi-tools` (`xenstore-ls` and `xl list`, whose
//! libxenlight goes through this library, against the C xenstored).
//!
//! The C semantics are kept: `errno` and `false`/NULL on failure, every
//! returned buffer from `malloc` (string arrays in one block), `XBT_NULL`,
//! `XS_UNWATCH_FILTER`, the `xs_fileno` pipe, a handle shared by threads.
//!
//! # Differences from Xen's libxenstore
//!
//! | call | here | libxenstore |
//! |---|---|---|
//! | `xs_watch_try_depth` | always the plain-watch fallback | a depth watch when possible |
//! | events not read | bounded queue; `ENOBUFS` once after losses | unbounded queue |
//! | `xs_read_watch` after the daemon hung up | `EBADF` | `EINVAL` |
//! | `xs_unwatch` of a watch the handle lacks | `ENOENT`, nothing sent | the daemon's `ENOENT` |
//! | path, token or name not UTF-8 or not a valid path | `EINVAL`, nothing sent | sent; the daemon's `EINVAL` |
//! | feature or quota number over `UINT_MAX` | `ERANGE` | truncated |
//! | `xs_get_quota_names` on an empty answer | no names | one empty name |
//! | `xs_get_features_supported` | asked once per handle | once per process |
//! | `xs_daemon_destroy_postfork` | closes the fds, leaks the rest in the child | frees it |
//! | threads | the fd's pump thread blocks all signals; `xs_client`'s reader thread does not | the reader blocks all |
//! | `xs_close` on the xenbus device with an fd in use | up to 200 ms | at once |
//!
//! As with libxenstore, `xs_get_features_supported` (and so the depth
//! calls) waits forever on Xen 4.17's oxenstored, which leaves an empty
//! GET_FEATURE unanswered, and no call times out.
//!
//! This is the one crate of the workspace with `unsafe` code (the C ABI);
//! every block says why it is sound.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod alloc;
mod args;
mod domains;
mod errno;
mod export;
mod features;
mod handle;
mod nodes;
mod open;
mod paths;
mod perms;
mod subpath;
mod transactions;
mod watch_queue;
mod watches;
