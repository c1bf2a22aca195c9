//! Unix socket and xenbus device transports for XenStore, driven by mio readiness.
#![deny(missing_docs)]
