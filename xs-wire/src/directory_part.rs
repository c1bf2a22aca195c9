//! `DIRECTORY_PART` replies: one chunk of a long listing.
//!
//! ```text
//! <generation>\0<name>\0<name>\0 ... [\0]
//!                                     ^ only on the chunk that reaches the end
//! ```
//!
//! The generation count changes whenever the node's children change; a
//! reader seeing a new one must start again from offset 0.

use crate::decimal::parse_u64;
use crate::strings::cstr;
use crate::{Names, Op, WireError};

/// One chunk of a listing.
///
/// ```
/// use xs_wire::DirectoryChunk;
/// let last = DirectoryChunk::parse(b"7\0a\0b\0\0").unwrap();
/// assert_eq!(last.generation, 7);
/// assert!(last.complete);
/// assert_eq!(last.names.iter().collect::<Vec<_>>(), ["a", "b"]);
/// let middle = DirectoryChunk::parse(b"7\0a\0").unwrap();
/// assert!(!middle.complete);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirectoryChunk<'a> {
    /// The node's generation count.
    pub generation: u64,
    /// The names in this chunk.
    pub names: Names<'a>,
    /// Whether this chunk reaches the end of the listing.
    pub complete: bool,
}

impl<'a> DirectoryChunk<'a> {
    /// Parses a chunk.
    ///
    /// ```
    /// use xs_wire::DirectoryChunk;
    /// let chunk = DirectoryChunk::parse(b"42\0vif\0vbd\0\0")?; // generation 42, the last part
    /// assert_eq!((chunk.generation, chunk.complete), (42, true));
    /// assert_eq!(chunk.names.len(), 2);
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    pub fn parse(payload: &'a [u8]) -> Result<DirectoryChunk<'a>, WireError> {
        let malformed = |what| WireError::Malformed {
            op: Op::DirectoryPart,
            what,
        };
        let (rest, generation) = cstr(payload).map_err(|_| malformed("missing generation"))?;
        let generation = parse_u64(generation).ok_or(malformed("generation is not a number"))?;
        let complete = rest == b"\0" || rest.ends_with(b"\0\0");
        let names = if complete {
            &rest[..rest.len() - 1]
        } else {
            rest
        };
        Ok(DirectoryChunk {
            generation,
            names: Names::parse(names).map_err(|e| e.in_op(Op::DirectoryPart))?,
            complete,
        })
    }

    /// Bytes this chunk advances the offset by (its names and their NULs,
    /// plus the end marker on the last chunk), as libxenstore counts them.
    ///
    /// ```
    /// use xs_wire::DirectoryChunk;
    /// let first = DirectoryChunk::parse(b"7\0vif\0")?;
    /// assert_eq!(first.advance(), 4); // "vif\0": ask for offset 4 next
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    pub fn advance(&self) -> usize {
        self.names.as_bytes().len() + usize::from(self.complete)
    }
}
