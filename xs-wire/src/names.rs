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
///
/// ```
/// use xs_wire::Names;
/// let names = Names::parse(b"vif\0vbd\0")?;
/// let mut it = names.iter();
/// assert_eq!((it.next(), it.next(), it.next()), (Some("vif"), Some("vbd"), None));
/// # Ok::<(), xs_wire::WireError>(())
/// ```
#[derive(Clone, Debug)]
pub struct NamesIter<'a>(CStrs<'a>);

impl<'a> Names<'a> {
    /// No names.
    ///
    /// ```
    /// use xs_wire::Names;
    /// assert!(Names::EMPTY.is_empty());
    /// assert_eq!(Names::EMPTY.as_bytes(), b"");
    /// ```
    pub const EMPTY: Names<'static> = Names(b"");

    /// Checks and wraps a payload of `<name>\0` entries.
    ///
    /// ```
    /// use xs_wire::Names;
    /// let domains = Names::parse(b"0\01\05\0")?; // DIRECTORY /local/domain
    /// assert_eq!(domains.iter().collect::<Vec<_>>(), ["0", "1", "5"]);
    /// assert!(Names::parse(b"a/b\0").is_err()); // a name has no '/'
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
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
    ///
    /// ```
    /// use xs_wire::Names;
    /// let names = Names::parse(b"backend\0device\0")?;
    /// assert!(names.iter().any(|n| n == "device"));
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    pub fn iter(&self) -> NamesIter<'a> {
        NamesIter(CStrs(self.0))
    }

    /// Number of names.
    ///
    /// ```
    /// use xs_wire::Names;
    /// assert_eq!(Names::parse(b"name\0domid\0")?.len(), 2);
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.0.iter().filter(|&&b| b == 0).count()
    }

    /// Whether there are no names.
    ///
    /// ```
    /// use xs_wire::Names;
    /// assert!(Names::parse(b"")?.is_empty()); // a leaf node
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The raw payload bytes, each name followed by a NUL.
    ///
    /// ```
    /// use xs_wire::Names;
    /// assert_eq!(Names::parse(b"a\0b\0")?.as_bytes(), b"a\0b\0");
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
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
