//! Server feature bits: what a domain may use (Xen 4.21+).
//!
//! On a real host the word lives at offset 2064 of a domain's ring page
//! (`docs/misc/xenstore-ring.txt`); `GET_FEATURE`/`SET_FEATURE` read and
//! change it over the protocol. Dom0 may take bits away from a domain
//! before `INTRODUCE` copies the word into the ring; afterwards it is fixed
//! (`EBUSY`). Without a domain argument `GET_FEATURE` answers the caller's
//! own word (for a socket client: everything the daemon supports).
//!
//! The server supports what C xenstored 4.22 supports: [`ERROR`],
//! [`WATCHDEPTH`] and [`DOMID_ANY`], not [`RECONNECTION`] (C xenstored does
//! not offer it either; there is no ring to reconnect here). [`ERROR`] is
//! offered for fidelity but has no ring field to report through.
//!
//! What the bits change here: a caller without [`WATCHDEPTH`] gets `EINVAL`
//! for a `WATCH` with a depth; a `DOMID_ANY` entry written by a caller
//! without [`DOMID_ANY`] is stored but never matches (C xenstored marks it
//! ignored).

/// Ring reconnection (bit value 1).
pub const RECONNECTION: u32 = 1;
/// The ring's `error` field is valid (bit value 2).
pub const ERROR: u32 = 2;
/// `WATCH` takes a depth; special watches report domids (bit value 4).
pub const WATCHDEPTH: u32 = 4;
/// Permission entries for `DOMID_ANY` mean "every domain" (bit value 8).
pub const DOMID_ANY: u32 = 8;

/// Everything this server supports: `ERROR | WATCHDEPTH | DOMID_ANY` (14),
/// as C xenstored 4.22.
///
/// ```
/// use xs_server::features;
/// assert_eq!(features::SUPPORTED, 14);
/// assert_eq!(features::SUPPORTED & features::RECONNECTION, 0);
/// ```
pub const SUPPORTED: u32 = ERROR | WATCHDEPTH | DOMID_ANY;
