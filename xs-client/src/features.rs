//! The feature word of Xen 4.21+ (`GET_FEATURE`/`SET_FEATURE`), typed.
//!
//! Each domain's connection has a word of feature bits, negotiated through
//! the ring page (`docs/misc/xenstore-ring.txt`) and, since 4.21, readable
//! and settable over the protocol: the daemon's own bits say what it
//! offers; a domain's bits, set by dom0 before `INTRODUCE`, what that
//! domain may use.

use std::fmt;

/// A set of feature bits.
///
/// ```
/// use xs_client::Features;
/// let f = Features::ERROR | Features::WATCHDEPTH;
/// assert!(f.contains(Features::WATCHDEPTH));
/// assert!(!f.contains(Features::DOMID_ANY));
/// assert_eq!(f.bits(), 6);
/// assert_eq!(f.to_string(), "ERROR|WATCHDEPTH");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Features(u32);

impl Features {
    /// No bits.
    pub const NONE: Features = Features(0);
    /// The ring can be reconnected (live update of a stubdom xenstored).
    pub const RECONNECTION: Features = Features(1);
    /// The ring reports errors through its `error` field.
    pub const ERROR: Features = Features(2);
    /// WATCH takes a depth (Xen 4.22).
    pub const WATCHDEPTH: Features = Features(4);
    /// The `DOMID_ANY` permission entry is honoured (Xen 4.22).
    pub const DOMID_ANY: Features = Features(8);

    const NAMES: [(Features, &'static str); 4] = [
        (Features::RECONNECTION, "RECONNECTION"),
        (Features::ERROR, "ERROR"),
        (Features::WATCHDEPTH, "WATCHDEPTH"),
        (Features::DOMID_ANY, "DOMID_ANY"),
    ];

    /// The word as sent on the wire, unknown bits included.
    pub fn bits(self) -> u32 {
        self.0
    }

    /// The word as received (unknown bits are kept).
    pub fn from_bits(bits: u32) -> Features {
        Features(bits)
    }

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: Features) -> bool {
        self.0 & other.0 == other.0
    }

    /// A bit by its name in Xen's documentation (`"WATCHDEPTH"`, any case).
    ///
    /// ```
    /// use xs_client::Features;
    /// assert_eq!(Features::from_name("watchdepth"), Some(Features::WATCHDEPTH));
    /// assert_eq!(Features::from_name("TELEPORT"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Features> {
        Features::NAMES
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|&(f, _)| f)
    }
}

impl std::ops::BitOr for Features {
    type Output = Features;
    fn bitor(self, rhs: Features) -> Features {
        Features(self.0 | rhs.0)
    }
}

impl fmt::Display for Features {
    /// Known bits by name, joined by `|`; unknown bits in hex; `0` if none.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        let mut first = true;
        for (bit, name) in Features::NAMES {
            if self.contains(bit) {
                write!(f, "{}{name}", if first { "" } else { "|" })?;
                rest &= !bit.0;
                first = false;
            }
        }
        if rest != 0 {
            write!(f, "{}{rest:#x}", if first { "" } else { "|" })?;
        } else if first {
            f.write_str("0")?;
        }
        Ok(())
    }
}
