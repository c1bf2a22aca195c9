//! Listing a directory too large for one reply, with DIRECTORY_PART.
//!
//! libxenstore's algorithm: ask for chunks from offset 0, remember the first
//! chunk's generation count, start again if it changes (the children changed
//! under us), and stop at the chunk carrying the end marker. A daemon without
//! DIRECTORY_PART (`ENOSYS`, e.g. oxenstored) leaves the original `E2BIG`.

use xs_wire::{Errno, Op, Path, Reply, Request};

use crate::store::{call_and_parse, sealed::Sealed};
use crate::{Error, Result};

/// How often a listing may restart because the directory kept changing.
const MAX_RESTARTS: u32 = 16;

pub(crate) fn list_in_parts(s: &(impl Sealed + ?Sized), path: Path<'_>) -> Result<Vec<String>> {
    'restart: for _ in 0..MAX_RESTARTS {
        let mut names = Vec::new();
        let mut offset: u32 = 0;
        let mut generation = None;
        loop {
            let chunk = call_and_parse(s, Request::DirectoryPart { path, offset }, |r| match r {
                Reply::DirectoryPart(c) => Some((
                    c.generation,
                    c.names.iter().map(str::to_owned).collect::<Vec<_>>(),
                    c.advance(),
                    c.complete,
                )),
                _ => None,
            });
            let (gen, chunk_names, advance, complete) = match chunk {
                Err(e) if e.errno() == Some(Errno::ENOSYS) => {
                    return Err(Error::daemon(Op::Directory, Some(path.as_str()), "E2BIG"))
                }
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
                return Err(Error::UnexpectedPacket(
                    "DIRECTORY_PART chunk made no progress".into(),
                ));
            }
            names.extend(chunk_names);
            offset = offset.saturating_add(u32::try_from(advance).unwrap_or(u32::MAX));
        }
    }
    Err(Error::daemon(
        Op::DirectoryPart,
        Some(path.as_str()),
        "EAGAIN",
    ))
}
