//! A reply as the core hands it to its caller.

use xs_wire::Header;

/// A reply as received: the header and an owned copy of the payload. The
/// caller parses it with [`xs_wire::Reply::parse`] in its own thread (or
/// task).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The reply header (type `ERROR` for error replies).
    pub header: Header,
    /// The payload bytes.
    pub payload: Vec<u8>,
    /// The connection epoch it came on ([`super::Core::epoch`]): a
    /// transaction id is valid only in the epoch its start was answered in.
    pub epoch: u64,
}
