//! A node's permission list, borrowed either from the caller's `&[Perm]`
//! (when encoding) or from a received payload (when parsing).

use core::fmt;

use crate::error::PermError;
use crate::perm::PERM_TEXT_MAX;
use crate::sink::Sink;
use crate::strings::{count, CStrs};
use crate::{Op, Perm, WireError};

#[derive(Clone, Copy)]
enum Repr<'a> {
    Slice(&'a [Perm]),
    Wire(&'a [u8]),
}

/// A non-empty list of permission entries; the first is the owner.
///
/// ```
/// use xs_wire::{Access, Perm, PermList};
/// let perms = [Perm::new(Access::None, 5), Perm::new(Access::Read, 7)];
/// let list = PermList::new(&perms).unwrap();
/// let parsed = PermList::parse(b"n5\0r7\0").unwrap();
/// assert_eq!(list, parsed);
/// assert_eq!(parsed.owner(), Perm::new(Access::None, 5));
/// assert_eq!(parsed.iter().count(), 2);
/// assert!(PermList::new(&[]).is_err());
/// ```
#[derive(Clone, Copy)]
pub struct PermList<'a>(Repr<'a>);

/// Iterator over a [`PermList`].
#[derive(Clone, Debug)]
pub struct PermIter<'a>(IterRepr<'a>);

#[derive(Clone, Debug)]
enum IterRepr<'a> {
    Slice(core::slice::Iter<'a, Perm>),
    Wire(CStrs<'a>),
}

impl<'a> PermList<'a> {
    /// Wraps entries to send; at least the owner entry is required.
    pub fn new(perms: &'a [Perm]) -> Result<PermList<'a>, WireError> {
        if perms.is_empty() {
            return Err(WireError::InvalidPerm(PermError::NoEntries));
        }
        Ok(PermList(Repr::Slice(perms)))
    }

    /// Parses `<perm>\0` entries (a GET_PERMS reply), checking every one.
    pub fn parse(payload: &'a [u8]) -> Result<PermList<'a>, WireError> {
        match count(payload) {
            None => Err(WireError::Malformed {
                op: Op::GetPerms,
                what: "permission entry without NUL",
            }),
            Some(0) => Err(WireError::InvalidPerm(PermError::NoEntries)),
            Some(_) => {
                for entry in CStrs(payload) {
                    Perm::parse(entry)?;
                }
                Ok(PermList(Repr::Wire(payload)))
            }
        }
    }

    /// The entries in order.
    pub fn iter(&self) -> PermIter<'a> {
        PermIter(match self.0 {
            Repr::Slice(s) => IterRepr::Slice(s.iter()),
            Repr::Wire(w) => IterRepr::Wire(CStrs(w)),
        })
    }

    /// The first entry: the owner, whose access letter is also the default.
    pub fn owner(&self) -> Perm {
        // Non-empty by construction; the fallback is unreachable.
        self.iter()
            .next()
            .unwrap_or(Perm::new(crate::Access::None, 0))
    }

    /// Number of entries (at least one).
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Always false: a list has at least the owner.
    pub fn is_empty(&self) -> bool {
        false
    }

    pub(crate) fn visit(&self, sink: &mut dyn Sink) {
        let mut text = [0u8; PERM_TEXT_MAX];
        for perm in self.iter() {
            let n = perm.write_to(&mut text);
            sink.put(&text[..n]);
            sink.put(b"\0");
        }
    }
}

impl Iterator for PermIter<'_> {
    type Item = Perm;
    fn next(&mut self) -> Option<Perm> {
        match &mut self.0 {
            IterRepr::Slice(s) => s.next().copied(),
            // Entries were validated when the list was parsed.
            IterRepr::Wire(w) => w.next().and_then(|e| Perm::parse(e).ok()),
        }
    }
}

impl<'a> IntoIterator for PermList<'a> {
    type Item = Perm;
    type IntoIter = PermIter<'a>;
    fn into_iter(self) -> PermIter<'a> {
        self.iter()
    }
}

impl PartialEq for PermList<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for PermList<'_> {}

impl fmt::Debug for PermList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}
