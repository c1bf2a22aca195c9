//! The errors the engine answers with.
//!
//! Every failed request becomes an `ERROR` reply carrying a name. Almost all
//! names come from Xen's `xsd_errors[]` table ([`Errno`]); oxenstored adds
//! `EQUOTA` for quota hits, which is not in the table, so it gets its own
//! variant instead of being squeezed into `ENOSPC`.

use xs_wire::{Errno, ErrorReply, WireError};

/// Why a request failed, as it goes on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum XsError {
    /// One of the 16 names of Xen's table.
    #[error("{0}")]
    Errno(Errno),
    /// A per-domain quota (watches, transactions, nodes, requests or nodes
    /// per transaction, permission entries) was hit. Sent as oxenstored's
    /// `EQUOTA`, or as `ENOSPC` when the server imitates C xenstored 4.22.
    #[error("EQUOTA")]
    Quota,
}

impl XsError {
    /// The name sent in the `ERROR` reply.
    ///
    /// ```
    /// use xs_server::XsError;
    /// use xs_wire::Errno;
    /// assert_eq!(XsError::Errno(Errno::ENOENT).name(), "ENOENT");
    /// assert_eq!(XsError::Quota.name(), "EQUOTA");
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            XsError::Errno(e) => e.name(),
            XsError::Quota => "EQUOTA",
        }
    }

    /// The reply payload description for xs-wire.
    pub(crate) fn to_reply(self) -> ErrorReply<'static> {
        match self {
            XsError::Errno(e) => ErrorReply::Known(e),
            XsError::Quota => ErrorReply::Other("EQUOTA"),
        }
    }
}

impl From<Errno> for XsError {
    fn from(e: Errno) -> Self {
        XsError::Errno(e)
    }
}

impl From<WireError> for XsError {
    /// Anything the codec refuses in a request is `EINVAL`, except a type
    /// the server does not handle, which is `ENOSYS` (as in both daemons).
    fn from(e: WireError) -> Self {
        match e {
            WireError::UnsupportedOp(_) => XsError::Errno(Errno::ENOSYS),
            _ => XsError::Errno(Errno::EINVAL),
        }
    }
}

/// Shorthands used throughout the engine.
pub(crate) const EINVAL: XsError = XsError::Errno(Errno::EINVAL);
pub(crate) const EACCES: XsError = XsError::Errno(Errno::EACCES);
pub(crate) const EEXIST: XsError = XsError::Errno(Errno::EEXIST);
pub(crate) const ENOENT: XsError = XsError::Errno(Errno::ENOENT);
pub(crate) const ENOSYS: XsError = XsError::Errno(Errno::ENOSYS);
pub(crate) const EBUSY: XsError = XsError::Errno(Errno::EBUSY);
pub(crate) const EAGAIN: XsError = XsError::Errno(Errno::EAGAIN);
pub(crate) const E2BIG: XsError = XsError::Errno(Errno::E2BIG);
pub(crate) const EIO: XsError = XsError::Errno(Errno::EIO);
pub(crate) const ENOSPC: XsError = XsError::Errno(Errno::ENOSPC);

/// Result of an engine operation.
pub(crate) type XsResult<T> = Result<T, XsError>;
