//! Directory listings: NUL-terminated child names, iterated in place.

use core::fmt;

use crate::strings::{count, CStrs};
use crate::{Op, WireError};

/// The payload is checked as a whole (one UTF-8 pass, one scan each for
/// `/` and empty names); only a payload that fails is gone through name by
/// name, to report the first bad name's fault. Iteration then only looks
/// for each NUL.
#[derive(Clone, Debug)]
struct Split<'a>(&'a str);

impl<'a> Iterator for Split<'a> {
    type Item = &'a str;
    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        let end = self.0.bytes().position(|b| b == 0)?;
        // A NUL is one byte of its own in UTF-8: both sides are whole text.
        let (name, rest) = (self.0.get(..end)?, self.0.get(end + 1..)?);
        self.0 = rest;
        Some(name)
    }
}

const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;

/// The top bit of each byte of `x` set where that byte is zero, and no
/// other bit (no carry crosses bytes: each lane is at most 0x7F + 0x7F).
#[inline]
fn zero_bytes(x: u64) -> u64 {
    !(((x & LOW7) + LOW7) | x | LOW7)
}

/// `chunk` (eight bytes) as a word, byte `i` in bits `8i..8i+8`.
#[inline]
fn word(chunk: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(chunk);
    u64::from_le_bytes(w)
}

/// How many bytes of `bytes` are 0, eight at a time.
#[inline]
fn count_nul(bytes: &[u8]) -> usize {
    let mut chunks = bytes.chunks_exact(8);
    let mut n = 0;
    for chunk in &mut chunks {
        n += zero_bytes(word(chunk)).count_ones() as usize;
    }
    n + chunks.remainder().iter().filter(|&&b| b == 0).count()
}

/// Whether `bytes` hold a `/` or two NULs in a row (an empty name), in one
/// pass, eight bytes at a time.
#[inline]
fn has_slash_or_empty_name(bytes: &[u8]) -> bool {
    const SLASHES: u64 = 0x2F2F_2F2F_2F2F_2F2F;
    let mut chunks = bytes.chunks_exact(8);
    // Whether the byte before the current one was a NUL.
    let mut nul_before = false;
    for chunk in &mut chunks {
        let x = word(chunk);
        let nul = zero_bytes(x);
        // A NUL whose lower neighbour (in this word, or the last byte of
        // the one before) is a NUL too.
        let pair = (nul & (nul << 8)) | (nul & u64::from(nul_before) << 7);
        if pair | zero_bytes(x ^ SLASHES) != 0 {
            return true;
        }
        nul_before = nul >> 63 != 0;
    }
    chunks.remainder().iter().any(|&b| {
        let bad = b == b'/' || (b == 0 && nul_before);
        nul_before = b == 0;
        bad
    })
}

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
pub struct Names<'a>(&'a str);

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
pub struct NamesIter<'a>(Split<'a>);

impl<'a> Names<'a> {
    /// No names.
    ///
    /// ```
    /// use xs_wire::Names;
    /// assert!(Names::EMPTY.is_empty());
    /// assert_eq!(Names::EMPTY.as_bytes(), b"");
    /// ```
    pub const EMPTY: Names<'static> = Names("");

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
        match core::str::from_utf8(payload) {
            Ok(text) if well_formed(text) => Ok(Names(text)),
            _ => Err(first_fault(payload)),
        }
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
        NamesIter(Split(self.0))
    }

    /// Number of names.
    ///
    /// ```
    /// use xs_wire::Names;
    /// assert_eq!(Names::parse(b"name\0domid\0")?.len(), 2);
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    pub fn len(&self) -> usize {
        count_nul(self.0.as_bytes())
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
        self.0.as_bytes()
    }
}

/// Whether UTF-8 `text` is `<name>\0` entries with no empty name and no
/// `/` (the empty text: no names).
#[inline]
fn well_formed(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.is_empty()
        || (bytes[0] != 0 && bytes[bytes.len() - 1] == 0 && !has_slash_or_empty_name(bytes))
}

/// The fault of a payload [`well_formed`] refused, as the first bad name
/// shows it.
#[cold]
fn first_fault(payload: &[u8]) -> WireError {
    let malformed = |what| WireError::Malformed {
        op: Op::Directory,
        what,
    };
    if count(payload).is_none() {
        return malformed("name without NUL");
    }
    for name in CStrs(payload) {
        if name.is_empty() {
            return malformed("empty name");
        }
        if name.contains(&b'/') {
            return malformed("name contains `/`");
        }
        if core::str::from_utf8(name).is_err() {
            return malformed("name is not UTF-8");
        }
    }
    // A NUL inside a multi-byte sequence is not possible in UTF-8, so a
    // payload whose names all pass passes as a whole.
    malformed("name is not UTF-8")
}

impl<'a> Iterator for NamesIter<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        self.0.next()
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

#[cfg(test)]
mod tests {
    use super::{count_nul, has_slash_or_empty_name};

    /// Byte strings of every mix of the bytes that matter, lengths 0..67.
    fn samples(mut each: impl FnMut(u32, &[u8])) {
        let mut bytes = [0u8; 67];
        for seed in 0u32..4000 {
            let mut x = seed.wrapping_mul(2_654_435_761) | 1;
            for b in bytes.iter_mut() {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *b = [0, 0x01, 0x80, 0xFF, b'a', 0, b'/', 0x2E, 0x2F ^ 0x80, b'b']
                    [(x % 10) as usize];
            }
            each(seed, &bytes[..(seed % 68) as usize]);
        }
    }

    #[test]
    fn slash_and_empty_name_found_as_a_byte_at_a_time_would() {
        samples(|seed, bytes| {
            let slow = bytes.contains(&b'/') || bytes.windows(2).any(|w| w == [0, 0]);
            assert_eq!(
                has_slash_or_empty_name(bytes),
                slow,
                "seed {seed}: {bytes:?}"
            );
        });
        // Across the words' boundary, and only there.
        let mut across = *b"abcdefg\0\0hijklmn";
        assert!(has_slash_or_empty_name(&across));
        across[8] = b'h';
        assert!(!has_slash_or_empty_name(&across));
    }

    #[test]
    fn nul_counting_matches_a_byte_at_a_time() {
        samples(|seed, bytes| {
            let slow = bytes.iter().filter(|&&b| b == 0).count();
            assert_eq!(count_nul(bytes), slow, "seed {seed}");
        });
    }
}
