//! Listing a directory, and listing one too large for one reply with
//! DIRECTORY_PART.
//!
//! libxenstore's algorithm: ask for chunks from offset 0, remember the first
//! chunk's generation count, start again if it changes (the children changed
//! under us), and stop at the chunk carrying the end marker. A daemon without
//! DIRECTORY_PART (`ENOSYS`, e.g. oxenstored) leaves the original `E2BIG`;
//! children that keep changing give [`Error::Conflict`].

use xs_wire::{Errno, Op, Path, Reply, Request};

use crate::handle::Handle;
use crate::{Error, Problem, Result};

const MAX_RESTARTS: u32 = 16;

/// A node's children: one DIRECTORY, or DIRECTORY_PART chunks if the
/// daemon says the list is too big for one reply (`E2BIG`).
pub(crate) fn list(h: &Handle<'_>, path: Path<'_>) -> Result<Vec<String>> {
    let direct = h.run(Request::Directory { path }, |r| match r {
        Reply::Directory(names) => Some(names.iter().map(str::to_owned).collect()),
        _ => None,
    });
    match direct {
        Err(e) if e.errno() == Some(Errno::E2BIG) => list_in_parts(h, path, e),
        other => other,
    }
}

/// `too_big` is the DIRECTORY's `E2BIG`, returned as it is if the daemon
/// has no DIRECTORY_PART.
fn list_in_parts(h: &Handle<'_>, path: Path<'_>, too_big: Error) -> Result<Vec<String>> {
    'restart: for _ in 0..MAX_RESTARTS {
        let mut names = Vec::new();
        let mut offset: u32 = 0;
        let mut generation = None;
        loop {
            let chunk = h.run(Request::DirectoryPart { path, offset }, |r| match r {
                Reply::DirectoryPart(c) => Some((
                    c.generation,
                    c.names.iter().map(str::to_owned).collect::<Vec<_>>(),
                    c.advance(),
                    c.complete,
                )),
                _ => None,
            });
            let (gen, chunk_names, advance, complete) = match chunk {
                Err(e) if e.errno() == Some(Errno::ENOSYS) => return Err(too_big),
                other => other?,
            };
            if *generation.get_or_insert(gen) != gen {
                continue 'restart;
            }
            if complete {
                names.extend(chunk_names);
                return Ok(names);
            }
            if advance == 0 {
                // A chunk that is neither the last nor moves the offset.
                return Err(Error::unexpected(
                    Problem::WrongShape {
                        request: Op::DirectoryPart,
                    },
                    None,
                ));
            }
            names.extend(chunk_names);
            offset = offset.saturating_add(u32::try_from(advance).unwrap_or(u32::MAX));
        }
    }
    // The children kept changing under us.
    Err(Error::Conflict {
        attempts: MAX_RESTARTS,
    })
}
