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
///
/// ```
/// use xs_wire::PermList;
/// let list = PermList::parse(b"b1\0r0\0")?;
/// let readers: Vec<u32> = list.iter().filter(|p| p.access.can_read()).map(|p| p.domid).collect();
/// assert_eq!(readers, [1, 0]);
/// # Ok::<(), xs_wire::WireError>(())
/// ```
#[derive(Clone, Debug)]
pub struct PermIter<'a>(IterRepr<'a>);

#[derive(Clone, Debug)]
enum IterRepr<'a> {
    Slice(core::slice::Iter<'a, Perm>),
    Wire(CStrs<'a>),
}

impl<'a> PermList<'a> {
    /// Wraps entries to send; at least the owner entry is required.
    ///
    /// ```
    /// use xs_wire::{Access, Path, Perm, PermList, Request};
    /// let perms = [Perm::new(Access::Both, 1), Perm::new(Access::Read, 0)];
    /// let req = Request::SetPerms { path: Path::new("/local/domain/1/device/vif/0")?, perms: PermList::new(&perms)? };
    /// assert_eq!(req.payload_len(), "/local/domain/1/device/vif/0\0b1\0r0\0".len());
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    pub fn new(perms: &'a [Perm]) -> Result<PermList<'a>, WireError> {
        if perms.is_empty() {
            return Err(WireError::InvalidPerm(PermError::NoEntries));
        }
        Ok(PermList(Repr::Slice(perms)))
    }

    /// Parses `<perm>\0` entries (a GET_PERMS reply), checking every one.
    ///
    /// ```
    /// use xs_wire::PermList;
    /// let list = PermList::parse(b"n0\0r5\0")?; // a GET_PERMS reply
    /// assert_eq!(list.len(), 2);
    /// assert!(PermList::parse(b"n0\0q5\0").is_err()); // bad access letter
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
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
    ///
    /// ```
    /// use xs_wire::{Access, Perm, PermList};
    /// let list = PermList::parse(b"n0\0r5\0")?;
    /// assert_eq!(list.iter().nth(1), Some(Perm::new(Access::Read, 5)));
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    pub fn iter(&self) -> PermIter<'a> {
        PermIter(match self.0 {
            Repr::Slice(s) => IterRepr::Slice(s.iter()),
            Repr::Wire(w) => IterRepr::Wire(CStrs(w)),
        })
    }

    /// The first entry: the owner, whose access letter is also the default.
    ///
    /// ```
    /// use xs_wire::{Access, Perm, PermList};
    /// let list = PermList::parse(b"b3\0r0\0")?;
    /// assert_eq!(list.owner(), Perm::new(Access::Both, 3)); // domain 3 owns the node
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    pub fn owner(&self) -> Perm {
        // Non-empty by construction; the fallback is unreachable.
        self.iter()
            .next()
            .unwrap_or(Perm::new(crate::Access::None, 0))
    }

    /// Number of entries (at least one).
    ///
    /// ```
    /// use xs_wire::PermList;
    /// assert_eq!(PermList::parse(b"n0\0")?.len(), 1);
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Always false: a list has at least the owner.
    ///
    /// ```
    /// use xs_wire::PermList;
    /// assert!(!PermList::parse(b"n0\0")?.is_empty());
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        false
    }

    pub(crate) fn visit<S: Sink>(&self, sink: &mut S) {
        let mut text = [0u8; PERM_TEXT_MAX];
        for perm in self.iter() {
            let n = perm.write_to(&mut text);
            sink.put_cstr(&text[..n]);
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
