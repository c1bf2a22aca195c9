//! Message types (`enum xsd_sockmsg_type`).
//!
//! Every code the protocol defines has a variant; anything else is kept as
//! [`Op::Unknown`] so a decoder never has to panic or drop a frame to report it.

use core::fmt;

/// The `type` field of a XenStore message header.
///
/// ```
/// use xs_wire::Op;
/// assert_eq!(Op::from_u32(2), Op::Read);
/// assert_eq!(Op::Read.to_u32(), 2);
/// assert_eq!(Op::from_u32(99), Op::Unknown(99));
/// assert_eq!(Op::Read.name(), "READ");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// 0: implementation-defined control commands (called DEBUG before Xen 4.9).
    Control,
    /// 1: list the children of a node.
    Directory,
    /// 2: read a node's value.
    Read,
    /// 3: read a node's permission list.
    GetPerms,
    /// 4: register a watch.
    Watch,
    /// 5: remove a watch.
    Unwatch,
    /// 6: open a transaction.
    TransactionStart,
    /// 7: commit or abort a transaction.
    TransactionEnd,
    /// 8: introduce a new domain to xenstored (privileged).
    Introduce,
    /// 9: release a domain (privileged).
    Release,
    /// 10: ask for a domain's home path.
    GetDomainPath,
    /// 11: write a node's value, creating missing parents.
    Write,
    /// 12: create a node and its parents.
    Mkdir,
    /// 13: remove a subtree.
    Rm,
    /// 14: replace a node's permission list.
    SetPerms,
    /// 15: a watch fired (server to client only).
    WatchEvent,
    /// 16: an error reply (server to client only).
    Error,
    /// 17: ask whether a domain is introduced (privileged).
    IsDomainIntroduced,
    /// 18: clear a domain's shutdown flag (privileged).
    Resume,
    /// 19: give a domain another domain's rights (privileged).
    SetTarget,
    /// 20: removed in Xen 4.9; always answered with `ENOSYS` today.
    Restrict,
    /// 21: drop all watches and transactions of the connection.
    ResetWatches,
    /// 22: one chunk of a directory listing (Xen 4.9+, optional).
    DirectoryPart,
    /// 23: read feature bits (Xen 4.21+, optional).
    GetFeature,
    /// 24: set a domain's feature bits (Xen 4.21+, optional).
    SetFeature,
    /// 25: read quota names or values (Xen 4.22+, optional).
    GetQuota,
    /// 26: set a quota value (Xen 4.22+, optional).
    SetQuota,
    /// `0xFFFF`: `XS_INVALID`, never valid on the wire.
    Invalid,
    /// Any other code, kept as received.
    Unknown(u32),
}

/// Ops 0..=26 in code order, for tables and tests.
const KNOWN: [Op; 27] = [
    Op::Control,
    Op::Directory,
    Op::Read,
    Op::GetPerms,
    Op::Watch,
    Op::Unwatch,
    Op::TransactionStart,
    Op::TransactionEnd,
    Op::Introduce,
    Op::Release,
    Op::GetDomainPath,
    Op::Write,
    Op::Mkdir,
    Op::Rm,
    Op::SetPerms,
    Op::WatchEvent,
    Op::Error,
    Op::IsDomainIntroduced,
    Op::Resume,
    Op::SetTarget,
    Op::Restrict,
    Op::ResetWatches,
    Op::DirectoryPart,
    Op::GetFeature,
    Op::SetFeature,
    Op::GetQuota,
    Op::SetQuota,
];

const NAMES: [&str; 27] = [
    "CONTROL",
    "DIRECTORY",
    "READ",
    "GET_PERMS",
    "WATCH",
    "UNWATCH",
    "TRANSACTION_START",
    "TRANSACTION_END",
    "INTRODUCE",
    "RELEASE",
    "GET_DOMAIN_PATH",
    "WRITE",
    "MKDIR",
    "RM",
    "SET_PERMS",
    "WATCH_EVENT",
    "ERROR",
    "IS_DOMAIN_INTRODUCED",
    "RESUME",
    "SET_TARGET",
    "RESTRICT",
    "RESET_WATCHES",
    "DIRECTORY_PART",
    "GET_FEATURE",
    "SET_FEATURE",
    "GET_QUOTA",
    "SET_QUOTA",
];

/// The code of `XS_INVALID`.
pub const INVALID_CODE: u32 = 0xFFFF;

impl Op {
    /// Every defined op, 0 through 26 then [`Op::Invalid`].
    ///
    /// ```
    /// use xs_wire::Op;
    /// assert_eq!(Op::ALL[2], Op::Read);
    /// assert!(Op::ALL.iter().all(|op| Op::from_u32(op.to_u32()) == *op));
    /// ```
    pub const ALL: [Op; 28] = {
        let mut all = [Op::Invalid; 28];
        let mut i = 0;
        while i < KNOWN.len() {
            all[i] = KNOWN[i];
            i += 1;
        }
        all
    };

    /// Maps a wire code to an op; unknown codes become [`Op::Unknown`].
    ///
    /// ```
    /// use xs_wire::Op;
    /// assert_eq!(Op::from_u32(2), Op::Read);
    /// assert_eq!(Op::from_u32(15), Op::WatchEvent);
    /// assert!(matches!(Op::from_u32(1000), Op::Unknown(1000)));
    /// ```
    pub const fn from_u32(code: u32) -> Op {
        // The table first: every frame's type is in it.
        if (code as usize) < KNOWN.len() {
            KNOWN[code as usize]
        } else if code == INVALID_CODE {
            Op::Invalid
        } else {
            Op::Unknown(code)
        }
    }

    /// The wire code of this op.
    ///
    /// ```
    /// use xs_wire::Op;
    /// assert_eq!(Op::Write.to_u32(), 11);
    /// assert_eq!(Op::Error.to_u32(), 16);
    /// ```
    pub const fn to_u32(self) -> u32 {
        match self {
            Op::Control => 0,
            Op::Directory => 1,
            Op::Read => 2,
            Op::GetPerms => 3,
            Op::Watch => 4,
            Op::Unwatch => 5,
            Op::TransactionStart => 6,
            Op::TransactionEnd => 7,
            Op::Introduce => 8,
            Op::Release => 9,
            Op::GetDomainPath => 10,
            Op::Write => 11,
            Op::Mkdir => 12,
            Op::Rm => 13,
            Op::SetPerms => 14,
            Op::WatchEvent => 15,
            Op::Error => 16,
            Op::IsDomainIntroduced => 17,
            Op::Resume => 18,
            Op::SetTarget => 19,
            Op::Restrict => 20,
            Op::ResetWatches => 21,
            Op::DirectoryPart => 22,
            Op::GetFeature => 23,
            Op::SetFeature => 24,
            Op::GetQuota => 25,
            Op::SetQuota => 26,
            Op::Invalid => INVALID_CODE,
            Op::Unknown(code) => code,
        }
    }

    /// The protocol's name for the op (`"READ"`, `"WATCH_EVENT"`, ...), or
    /// `"UNKNOWN"` for [`Op::Unknown`].
    ///
    /// ```
    /// use xs_wire::Op;
    /// assert_eq!(Op::TransactionStart.name(), "TRANSACTION_START");
    /// assert_eq!(Op::from_u32(1000).name(), "UNKNOWN");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Op::Invalid => "INVALID",
            Op::Unknown(_) => "UNKNOWN",
            known => NAMES[known.to_u32() as usize],
        }
    }

    /// Whether a request of this type may carry a non-zero `tx_id`.
    ///
    /// Only the tree operations run inside a transaction, plus
    /// `TRANSACTION_END`, which needs one (protocol notes, section 2).
    ///
    /// ```
    /// use xs_wire::Op;
    /// assert!(Op::Write.takes_transaction());
    /// assert!(Op::TransactionEnd.takes_transaction());
    /// assert!(!Op::Watch.takes_transaction()); // watches ignore transactions
    /// ```
    #[inline]
    pub const fn takes_transaction(self) -> bool {
        matches!(
            self,
            Op::Directory
                | Op::DirectoryPart
                | Op::Read
                | Op::GetPerms
                | Op::Write
                | Op::Mkdir
                | Op::Rm
                | Op::SetPerms
                | Op::TransactionEnd
        )
    }
}

impl From<u32> for Op {
    fn from(code: u32) -> Op {
        Op::from_u32(code)
    }
}

impl From<Op> for u32 {
    fn from(op: Op) -> u32 {
        op.to_u32()
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Unknown(code) => write!(f, "UNKNOWN({code})"),
            op => f.write_str(op.name()),
        }
    }
}
