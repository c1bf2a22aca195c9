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
//! The C semantics are kept: `errno` and `false`/NULL on failure, every
//! returned buffer from `malloc` (string arrays in one block), `XBT_NULL`,
//! `XS_UNWATCH_FILTER`, the `xs_fileno` pipe. Differences are listed in the
//! README's section on this crate.
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
