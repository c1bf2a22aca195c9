//! Node permissions: `n5`, `r0`, `w7`, `b3`.
//!
//! A node's permission list is a sequence of entries, one letter and a
//! domain id each. **The first entry names the owner and is also the default
//! for every domain not listed later**; the owner always has full access.
//! Later entries grant their letter to one domain each; the first match wins.
//! The privileged domain (dom0) always has full access.
//!
//! | letter | [`Access`] | meaning |
//! |---|---|---|
//! | `n` | `None` | no access |
//! | `r` | `Read` | read |
//! | `w` | `Write` | write |
//! | `b` | `Both` | read and write |
//!
//! Parsing follows xenstored's `strtol(..., 0)`: the domain id may be
//! decimal, `0x` hexadecimal or `0` octal. Formatting is always decimal.

use core::fmt;

use crate::error::PermError;
use crate::WireError;

/// What one permission entry allows.
///
/// ```
/// use xs_wire::{Access, Perm};
/// // Domain 1's frontend: it may read and write, dom0's backend only read.
/// let perms = [Perm::new(Access::Both, 1), Perm::new(Access::Read, 0)];
/// assert!(perms[0].access.can_write() && !perms[1].access.can_write());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// `n`: nothing.
    None,
    /// `r`: read.
    Read,
    /// `w`: write.
    Write,
    /// `b`: read and write.
    Both,
}

impl Access {
    /// The wire letter.
    ///
    /// ```
    /// use xs_wire::Access;
    /// assert_eq!(Access::Both.letter(), b'b');
    /// assert_eq!(Access::None.letter(), b'n');
    /// ```
    pub const fn letter(self) -> u8 {
        match self {
            Access::None => b'n',
            Access::Read => b'r',
            Access::Write => b'w',
            Access::Both => b'b',
        }
    }

    /// Parses a wire letter.
    ///
    /// ```
    /// use xs_wire::Access;
    /// assert_eq!(Access::from_letter(b'r'), Some(Access::Read));
    /// assert_eq!(Access::from_letter(b'x'), None);
    /// ```
    pub const fn from_letter(letter: u8) -> Option<Access> {
        match letter {
            b'n' => Some(Access::None),
            b'r' => Some(Access::Read),
            b'w' => Some(Access::Write),
            b'b' => Some(Access::Both),
            _ => None,
        }
    }

    /// Whether this grants reading.
    ///
    /// ```
    /// use xs_wire::Access;
    /// assert!(Access::Both.can_read());
    /// assert!(!Access::Write.can_read()); // write-only, e.g. a control node
    /// ```
    pub const fn can_read(self) -> bool {
        matches!(self, Access::Read | Access::Both)
    }

    /// Whether this grants writing.
    ///
    /// ```
    /// use xs_wire::Access;
    /// assert!(Access::Write.can_write());
    /// assert!(!Access::Read.can_write());
    /// ```
    pub const fn can_write(self) -> bool {
        matches!(self, Access::Write | Access::Both)
    }
}

/// One permission entry: an [`Access`] for a domain.
///
/// ```
/// use xs_wire::{Access, Perm};
/// let p: Perm = "r7".parse().unwrap();
/// assert_eq!(p, Perm::new(Access::Read, 7));
/// assert_eq!(Perm::parse(b"b0x10").unwrap(), Perm::new(Access::Both, 16));
/// assert_eq!(p.to_string(), "r7");
/// assert!(Perm::parse(b"x1").is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Perm {
    /// What is allowed.
    pub access: Access,
    /// Which domain it applies to.
    pub domid: u32,
}

/// `DOMID_ANY` (Xen 4.22+): an entry with this domid matches every domain.
///
/// ```
/// use xs_wire::{Access, Perm, DOMID_ANY};
/// // Everyone may read (Xen 4.22+); older daemons reject the domid.
/// let world_readable = Perm::new(Access::Read, DOMID_ANY);
/// assert_eq!(world_readable.to_string(), "r32757");
/// ```
pub const DOMID_ANY: u32 = 0x7FF5;

/// Longest text form of a [`Perm`]: a letter and ten digits; the size of
/// the buffer [`Perm::write_to`] takes.
///
/// ```
/// use xs_wire::{Access, Perm, PERM_TEXT_MAX};
/// let mut text = [0u8; PERM_TEXT_MAX];
/// let n = Perm::new(Access::Read, 4_294_967_295).write_to(&mut text);
/// assert_eq!(&text[..n], b"r4294967295");
/// assert_eq!(n, PERM_TEXT_MAX);
/// ```
pub const PERM_TEXT_MAX: usize = 11;

impl Perm {
    /// A new entry.
    ///
    /// ```
    /// use xs_wire::{Access, Perm};
    /// let owner = Perm::new(Access::None, 3); // domain 3 owns it; others: no access
    /// assert_eq!(owner.to_string(), "n3");
    /// ```
    pub const fn new(access: Access, domid: u32) -> Perm {
        Perm { access, domid }
    }

    /// Parses one entry without its NUL.
    ///
    /// ```
    /// use xs_wire::{Access, Perm};
    /// assert_eq!(Perm::parse(b"r0")?, Perm::new(Access::Read, 0));
    /// assert_eq!(Perm::parse(b"w010")?, Perm::new(Access::Write, 8)); // octal, like strtol
    /// assert!(Perm::parse(b"r").is_err());
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    pub fn parse(text: &[u8]) -> Result<Perm, WireError> {
        let (&letter, number) = text.split_first().ok_or(PermError::Empty)?;
        let access = Access::from_letter(letter).ok_or(PermError::BadAccess)?;
        let domid = parse_c_uint(number).ok_or(PermError::BadDomid)?;
        Ok(Perm { access, domid })
    }

    /// Writes the text form (without NUL) into `out`, returning its length.
    ///
    /// ```
    /// use xs_wire::{Access, Perm};
    /// let mut buf = [0u8; 11];
    /// let n = Perm::new(Access::Read, 42).write_to(&mut buf);
    /// assert_eq!(&buf[..n], b"r42");
    /// ```
    pub fn write_to(&self, out: &mut [u8; PERM_TEXT_MAX]) -> usize {
        out[0] = self.access.letter();
        let digits = crate::decimal::Decimal::new(u64::from(self.domid));
        let digits = digits.as_bytes();
        out[1..=digits.len()].copy_from_slice(digits);
        1 + digits.len()
    }
}

/// Parses an unsigned number the way `strtol(s, &end, 0)` does with a full
/// match required: `0x`/`0X` hex, leading `0` octal, else decimal.
fn parse_c_uint(s: &[u8]) -> Option<u32> {
    let (digits, radix) = match s {
        [b'0', b'x' | b'X', rest @ ..] => (rest, 16),
        [b'0', rest @ ..] if !rest.is_empty() => (rest, 8),
        _ => (s, 10),
    };
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u32, |acc, &b| {
        let d = (b as char).to_digit(radix)?;
        acc.checked_mul(radix)?.checked_add(d)
    })
}

impl fmt::Display for Perm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.access.letter() as char, self.domid)
    }
}

impl core::str::FromStr for Perm {
    type Err = WireError;
    fn from_str(s: &str) -> Result<Perm, WireError> {
        Perm::parse(s.as_bytes())
    }
}
