//! A directory listing kept as the daemon sent it: one buffer of
//! `<name>\0` entries, not one `String` per name.
//!
//! `list` returns `Vec<String>`, which costs an allocation per child and,
//! with glibc's allocator, much more than that: freeing a hundred small
//! strings fills its fast bins, and the next listing's vector (a large
//! request) makes it consolidate them first (docs/benchmarks.md,
//! "Allocations per operation of the sync client"). [`NameList`] keeps the
//! reply's payload itself, as libxenstore's `xs_directory` returns one
//! block: a listing allocates once, whatever the number of children.

use std::fmt;
use std::iter::FusedIterator;

use xs_wire::{Names, Op, WireError};

use crate::proto::Response;
use crate::{Error, Problem};

/// The child names of a node, in the order the daemon gave them, held in
/// one buffer: what [`crate::Store::list_names`] returns.
///
/// Iterate it, count it, look a name up, or turn it into `Vec<String>`:
///
/// ```
/// # let _xs = xs_server::Server::spawn_temp();
/// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
/// use xs_client::{Client, Store};
///
/// let client = Client::open()?;
/// client.write("/local/domain/1/device/vif/0/state", "4")?;
/// client.write("/local/domain/1/device/vbd/768/state", "4")?;
/// let devices = client.list_names("/local/domain/1/device")?;
/// assert_eq!(devices.len(), 2);
/// assert!(devices.contains("vif"));
/// for kind in &devices {
///     println!("{kind}");
/// }
/// let mut owned: Vec<String> = devices.into();
/// owned.sort();
/// assert_eq!(owned, ["vbd", "vif"]);
/// # Ok::<(), xs_client::Error>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct NameList {
    /// `<name>\0` entries, each name non-empty, without `/`.
    text: String,
    len: usize,
}

impl NameList {
    /// The names of a DIRECTORY reply whose payload [`Names`] accepted
    /// (`len` of them), keeping the payload's buffer.
    pub(crate) fn from_checked_payload(resp: Response, len: usize) -> Result<NameList, Error> {
        let header = resp.header;
        match String::from_utf8(resp.payload) {
            Ok(text) => Ok(NameList { text, len }),
            // Checked already: only a change to that check gets here.
            Err(_) => Err(Error::unexpected(
                Problem::MalformedReply(WireError::Malformed {
                    op: Op::Directory,
                    what: "name is not UTF-8",
                }),
                Some(header),
            )),
        }
    }

    /// Adds `names` at the end (a DIRECTORY_PART chunk).
    pub(crate) fn extend_from(&mut self, names: Names<'_>) {
        // A checked payload is whole names, each with its NUL, in UTF-8.
        for name in names.iter() {
            self.text.push_str(name);
            self.text.push('\0');
            self.len += 1;
        }
    }

    /// Adds `other`'s names at the end.
    pub(crate) fn append(&mut self, other: NameList) {
        if self.text.is_empty() {
            *self = other;
            return;
        }
        self.text.push_str(&other.text);
        self.len += other.len;
    }

    /// Empties the list, keeping its buffer.
    pub(crate) fn clear(&mut self) {
        self.text.clear();
        self.len = 0;
    }

    /// How many names.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no names (a leaf node).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The names in order.
    pub fn iter(&self) -> NameIter<'_> {
        NameIter(&self.text)
    }

    /// Whether `name` is one of the names.
    pub fn contains(&self, name: &str) -> bool {
        self.iter().any(|n| n == name)
    }

    /// The names as owned strings.
    pub fn to_vec(&self) -> Vec<String> {
        let mut v = Vec::with_capacity(self.len);
        v.extend(self.iter().map(str::to_owned));
        v
    }

    /// The names as on the wire: each followed by a NUL.
    pub fn as_bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }
}

/// Iterator over the names of a [`NameList`].
#[derive(Clone, Debug)]
pub struct NameIter<'a>(
    /// The names not yet given, each followed by its NUL.
    &'a str,
);

// A NUL is a byte of its own in UTF-8, so both sides of one are whole
// text (`get` cannot fail); a plain byte search is several times cheaper
// per name than `str::split_terminator`'s searcher.
impl<'a> Iterator for NameIter<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        let end = self.0.bytes().position(|b| b == 0)?;
        let name = self.0.get(..end)?;
        self.0 = self.0.get(end + 1..)?;
        Some(name)
    }
}

impl DoubleEndedIterator for NameIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let body = self.0.get(..self.0.len().checked_sub(1)?)?;
        let start = body.bytes().rposition(|b| b == 0).map_or(0, |i| i + 1);
        self.0 = body.get(..start)?;
        body.get(start..)
    }
}

impl FusedIterator for NameIter<'_> {}

impl<'a> IntoIterator for &'a NameList {
    type Item = &'a str;
    type IntoIter = NameIter<'a>;

    fn into_iter(self) -> NameIter<'a> {
        self.iter()
    }
}

impl From<NameList> for Vec<String> {
    fn from(names: NameList) -> Vec<String> {
        names.to_vec()
    }
}

impl fmt::Debug for NameList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<S: AsRef<str>> PartialEq<[S]> for NameList {
    fn eq(&self, other: &[S]) -> bool {
        self.len == other.len() && self.iter().zip(other).all(|(a, b)| a == b.as_ref())
    }
}

impl<S: AsRef<str>, const N: usize> PartialEq<[S; N]> for NameList {
    fn eq(&self, other: &[S; N]) -> bool {
        *self == other[..]
    }
}

impl<S: AsRef<str>> PartialEq<Vec<S>> for NameList {
    fn eq(&self, other: &Vec<S>) -> bool {
        *self == other[..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(payload: &[u8]) -> NameList {
        let mut list = NameList::default();
        list.extend_from(Names::parse(payload).expect("well-formed"));
        list
    }

    #[test]
    fn names_in_order_counted_and_found() {
        let list = of(b"backend\0device\0vm\0");
        assert_eq!(list.len(), 3);
        assert_eq!(list.iter().collect::<Vec<_>>(), ["backend", "device", "vm"]);
        assert_eq!(list.iter().next_back(), Some("vm"));
        assert!(list.contains("device") && !list.contains("dev"));
        assert_eq!(list, ["backend", "device", "vm"]);
        assert_eq!(list.to_vec(), ["backend", "device", "vm"]);
        assert_eq!(list.as_bytes(), b"backend\0device\0vm\0");
        assert_eq!(format!("{list:?}"), r#"["backend", "device", "vm"]"#);
    }

    #[test]
    fn from_both_ends_the_same_names() {
        for payload in [
            &b""[..],
            b"a\0",
            b"a\0bc\0",
            b"x\0y\0z\0w\0",
            "é\0ü\0".as_bytes(),
        ] {
            let list = of(payload);
            let forward: Vec<&str> = list.iter().collect();
            let mut backward: Vec<&str> = list.iter().rev().collect();
            backward.reverse();
            assert_eq!(forward, backward, "{payload:?}");
            // Taken alternately from the front and the back, each once.
            let mut it = list.iter();
            let mut taken = Vec::new();
            let mut back = Vec::new();
            while let Some(n) = it.next() {
                taken.push(n);
                match it.next_back() {
                    Some(n) => back.push(n),
                    None => break,
                }
            }
            assert_eq!((it.next(), it.next_back()), (None, None));
            back.reverse();
            taken.extend(back);
            assert_eq!(taken, forward, "{payload:?}");
        }
    }

    #[test]
    fn a_leaf_has_no_names() {
        let list = of(b"");
        assert!(list.is_empty());
        assert_eq!(list.iter().count(), 0);
        assert_eq!(list, NameList::default());
        assert_eq!(Vec::<String>::from(list), Vec::<String>::new());
    }

    #[test]
    fn chunks_append_and_clear_empties() {
        let mut list = of(b"a\0b\0");
        list.extend_from(Names::parse(b"c\0").expect("well-formed"));
        assert_eq!(list, ["a", "b", "c"]);
        list.append(of(b"d\0e\0"));
        assert_eq!((list.len(), list.iter().nth(4)), (5, Some("e")));
        let mut empty = NameList::default();
        empty.append(of(b"x\0"));
        assert_eq!(empty, ["x"]);
        list.clear();
        assert!(list.is_empty() && list.as_bytes().is_empty());
    }

    #[test]
    fn the_reply_buffer_is_kept() {
        let payload = b"0\x001\x005\0".to_vec();
        let at = payload.as_ptr();
        let resp = Response {
            header: xs_wire::Header {
                op: Op::Directory,
                req_id: 1,
                tx_id: 0,
                len: payload.len() as u32,
            },
            payload,
            epoch: 0,
        };
        let list = NameList::from_checked_payload(resp, 3).expect("UTF-8");
        assert_eq!(list, ["0", "1", "5"]);
        assert_eq!(list.as_bytes().as_ptr(), at, "no copy");
    }
}
