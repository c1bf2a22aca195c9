//! XenStore client: router, client, transactions, watches and a xen.lowlevel.xs-style API.
#![deny(missing_docs)]
