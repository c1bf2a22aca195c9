//! The error names xenstored sends in `ERROR` replies.
//!
//! The wire carries the *name* (`"ENOENT"`), never a number. Xen's table
//! (`xsd_errors[]`) has 16 names; other daemons send more (oxenstored's
//! `EQUOTA`), so a reply keeps unknown names as their string
//! ([`crate::ErrorReply::Other`]).

use core::fmt;

/// One of the 16 error names in Xen's `xsd_errors[]` table.
///
/// ```
/// use xs_wire::Errno;
/// assert_eq!(Errno::from_name(b"ENOENT"), Some(Errno::ENOENT));
/// assert_eq!(Errno::ENOENT.errno(), 2);
/// assert_eq!(Errno::EAGAIN.name(), "EAGAIN");
/// assert_eq!(Errno::from_name(b"EQUOTA"), None);
/// ```
#[allow(clippy::upper_case_acronyms)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Errno {
    /// Invalid argument; also the fallback for untranslatable errors.
    EINVAL,
    /// Permission denied.
    EACCES,
    /// Already exists (duplicate watch).
    EEXIST,
    /// Is a directory (legacy).
    EISDIR,
    /// No such node, transaction or watch.
    ENOENT,
    /// Out of memory.
    ENOMEM,
    /// Quota exceeded.
    ENOSPC,
    /// I/O error.
    EIO,
    /// Directory not empty.
    ENOTEMPTY,
    /// Unknown or unsupported operation.
    ENOSYS,
    /// Read-only connection (before Xen 4.15).
    EROFS,
    /// Busy: nested transaction, or a feature change after introduction.
    EBUSY,
    /// Transaction conflict: retry the whole transaction.
    EAGAIN,
    /// Already connected.
    EISCONN,
    /// Reply would be larger than the payload limit.
    E2BIG,
    /// Operation not permitted (Xen 4.17+: changing a node's owner).
    EPERM,
}

impl Errno {
    /// All 16 names in `xsd_errors[]` table order.
    ///
    /// ```
    /// use xs_wire::Errno;
    /// assert_eq!(Errno::ALL[0], Errno::EINVAL);
    /// assert!(Errno::ALL.iter().all(|e| Errno::from_name(e.name().as_bytes()) == Some(*e)));
    /// ```
    pub const ALL: [Errno; 16] = [
        Errno::EINVAL,
        Errno::EACCES,
        Errno::EEXIST,
        Errno::EISDIR,
        Errno::ENOENT,
        Errno::ENOMEM,
        Errno::ENOSPC,
        Errno::EIO,
        Errno::ENOTEMPTY,
        Errno::ENOSYS,
        Errno::EROFS,
        Errno::EBUSY,
        Errno::EAGAIN,
        Errno::EISCONN,
        Errno::E2BIG,
        Errno::EPERM,
    ];

    /// The name as it travels on the wire (without the NUL).
    ///
    /// ```
    /// use xs_wire::Errno;
    /// assert_eq!(Errno::ENOENT.name(), "ENOENT");
    /// assert_eq!(Errno::EAGAIN.to_string(), "EAGAIN");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Errno::EINVAL => "EINVAL",
            Errno::EACCES => "EACCES",
            Errno::EEXIST => "EEXIST",
            Errno::EISDIR => "EISDIR",
            Errno::ENOENT => "ENOENT",
            Errno::ENOMEM => "ENOMEM",
            Errno::ENOSPC => "ENOSPC",
            Errno::EIO => "EIO",
            Errno::ENOTEMPTY => "ENOTEMPTY",
            Errno::ENOSYS => "ENOSYS",
            Errno::EROFS => "EROFS",
            Errno::EBUSY => "EBUSY",
            Errno::EAGAIN => "EAGAIN",
            Errno::EISCONN => "EISCONN",
            Errno::E2BIG => "E2BIG",
            Errno::EPERM => "EPERM",
        }
    }

    /// The Linux errno value of the name (what libxenstore would set).
    ///
    /// ```
    /// use xs_wire::Errno;
    /// assert_eq!(Errno::ENOENT.errno(), 2);
    /// assert_eq!(Errno::EACCES.errno(), 13);
    /// ```
    pub const fn errno(self) -> i32 {
        match self {
            Errno::EINVAL => 22,
            Errno::EACCES => 13,
            Errno::EEXIST => 17,
            Errno::EISDIR => 21,
            Errno::ENOENT => 2,
            Errno::ENOMEM => 12,
            Errno::ENOSPC => 28,
            Errno::EIO => 5,
            Errno::ENOTEMPTY => 39,
            Errno::ENOSYS => 38,
            Errno::EROFS => 30,
            Errno::EBUSY => 16,
            Errno::EAGAIN => 11,
            Errno::EISCONN => 106,
            Errno::E2BIG => 7,
            Errno::EPERM => 1,
        }
    }

    /// Looks a wire name up (exact, case-sensitive, without the NUL).
    ///
    /// ```
    /// use xs_wire::Errno;
    /// assert_eq!(Errno::from_name(b"EQUOTA"), None); // oxenstored's own
    /// assert_eq!(Errno::from_name(b"enoent"), None); // case matters
    /// assert_eq!(Errno::from_name(b"ENOSYS"), Some(Errno::ENOSYS));
    /// ```
    pub fn from_name(name: &[u8]) -> Option<Errno> {
        Errno::ALL.into_iter().find(|e| e.name().as_bytes() == name)
    }

    /// Maps a Linux errno value back to a name, if it is in the table.
    ///
    /// ```
    /// use xs_wire::Errno;
    /// assert_eq!(Errno::from_errno(11), Some(Errno::EAGAIN));
    /// assert_eq!(Errno::from_errno(110), None); // ETIMEDOUT has no wire name
    /// ```
    pub fn from_errno(errno: i32) -> Option<Errno> {
        Errno::ALL.into_iter().find(|e| e.errno() == errno)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
