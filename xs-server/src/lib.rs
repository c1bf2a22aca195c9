//! An in-memory xenstored speaking the real XenStore protocol on a Unix socket.
#![deny(missing_docs)]
