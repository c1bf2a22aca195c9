//! Directory listings: NUL-terminated child names, iterated in place.

use core::fmt;

use crate::strings::{count, CStrs};
use crate::{Op, WireError};

/// The child names of a node, borrowed from a payload of `<name>\0` entries.
///
/// An empty directory is an empty payload. Names are checked once when
/// parsed (non-empty, UTF-8, no `/`), so iteration cannot fail.
///
/// ```
/// use xs_wire::Names;
/// let names = Names::parse(b"backend\0device\0").unwrap();
/// assert_eq!(names.iter().collect::<Vec<_>>(), ["backend", "device"]);
/// assert_eq!(Names::parse(b"").unwrap().len(), 0);
/// assert!(Names::parse(b"a\0b").is_err()); // unterminated tail
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Names<'a>(&'a [u8]);

/// Iterator over [`Names`].
#[derive(Clone, Debug)]
pub struct NamesIter<'a>(CStrs<'a>);

impl<'a> Names<'a> {
    /// No names.
    pub const EMPTY: Names<'static> = Names(b"");

    /// Checks and wraps a payload of `<name>\0` entries.
    pub fn parse(payload: &'a [u8]) -> Result<Names<'a>, WireError> {
        let malformed = |what| WireError::Malformed {
            op: Op::Directory,
            what,
        };
        count(payload).ok_or(malformed("name without NUL"))?;
        for name in CStrs(payload) {
            if name.is_empty() {
                return Err(malformed("empty name"));
            }
            if name.contains(&b'/') {
                return Err(malformed("name contains `/`"));
            }
            core::str::from_utf8(name).map_err(|_| malformed("name is not UTF-8"))?;
        }
        Ok(Names(payload))
    }

    /// The names in order.
    pub fn iter(&self) -> NamesIter<'a> {
        NamesIter(CStrs(self.0))
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.0.iter().filter(|&&b| b == 0).count()
    }

    /// Whether there are no names.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The raw payload bytes, each name followed by a NUL.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }
}

impl<'a> Iterator for NamesIter<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        // Validated as UTF-8 in `Names::parse`.
        self.0.next().map(|n| core::str::from_utf8(n).unwrap_or(""))
    }
}

impl<'a> IntoIterator for Names<'a> {
    type Item = &'a str;
    type IntoIter = NamesIter<'a>;
    fn into_iter(self) -> NamesIter<'a> {
        self.iter()
    }
}

impl fmt::Debug for Names<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}
