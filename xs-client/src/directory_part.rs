//! Listing a directory, and listing one too large for one reply with
//! DIRECTORY_PART.
//!
//! libxenstore's algorithm: ask for chunks from offset 0, remember the first
//! chunk's generation count, start again if it changes (the children changed
//! under us), and stop at the chunk carrying the end marker. A daemon without
//! DIRECTORY_PART (`ENOSYS`, e.g. oxenstored) leaves the original `E2BIG`;
//! children that keep changing give [`Error::Conflict`].
//!
//! The algorithm is a [`Listing`] state machine fed one reply at a time, so
//! the sync and the async clients run the same steps. It gathers the names
//! in a [`NameList`]: a plain DIRECTORY's payload is kept as it came.

use xs_wire::{Errno, Op, Path, Reply, Request};

use crate::handle::{parse_call, Handle};
use crate::ops::Parse;
use crate::proto::Response;
use crate::{Error, NameList, Problem, Result};

const MAX_RESTARTS: u32 = 16;

/// What a listing does next.
pub(crate) enum Step<'a> {
    /// Send this request and feed its reply.
    Send(Request<'a>),
    /// Finished.
    Done(Result<NameList>),
}

/// One listing in progress.
pub(crate) struct Listing<'a> {
    path: Path<'a>,
    /// The DIRECTORY's `E2BIG`, once it came.
    too_big: Option<Error>,
    restarts: u32,
    names: NameList,
    offset: u32,
    generation: Option<u64>,
}

type Chunk = (u64, NameList, usize, bool);

const CHUNK: Parse<Chunk> = |r| match r {
    Reply::DirectoryPart(c) => {
        let mut names = NameList::default();
        names.extend_from(c.names);
        Some((c.generation, names, c.advance(), c.complete))
    }
    _ => None,
};

/// How many names a DIRECTORY reply has (its payload checked).
const COUNT: Parse<usize> = |r| match r {
    Reply::Directory(names) => Some(names.len()),
    _ => None,
};

/// A DIRECTORY reply's names, in the reply's own buffer.
fn names_of(req: &Request<'_>, resp: Response) -> Result<NameList> {
    let len = parse_call(req, COUNT, &resp)?;
    NameList::from_checked_payload(resp, len)
}

impl<'a> Listing<'a> {
    /// A listing of `path`, and its first request (a plain DIRECTORY).
    pub(crate) fn new(path: Path<'a>) -> (Listing<'a>, Request<'a>) {
        let listing = Listing {
            path,
            too_big: None,
            restarts: 0,
            names: NameList::default(),
            offset: 0,
            generation: None,
        };
        (listing, Request::Directory { path })
    }

    /// Takes the reply to the request last returned.
    pub(crate) fn feed(&mut self, req: &Request<'_>, resp: Result<Response>) -> Step<'a> {
        let Some(too_big) = &self.too_big else {
            return match resp.and_then(|r| names_of(req, r)) {
                Err(e) if e.errno() == Some(Errno::E2BIG) => {
                    self.too_big = Some(e);
                    self.part()
                }
                other => Step::Done(other),
            };
        };
        let (gen, chunk, advance, complete) = match resp.and_then(|r| parse_call(req, CHUNK, &r)) {
            Err(e) if e.errno() == Some(Errno::ENOSYS) => return Step::Done(Err(too_big.clone())),
            Err(e) => return Step::Done(Err(e)),
            Ok(c) => c,
        };
        if *self.generation.get_or_insert(gen) != gen {
            self.restarts += 1;
            if self.restarts >= MAX_RESTARTS {
                // The children kept changing under us.
                return Step::Done(Err(Error::Conflict {
                    attempts: MAX_RESTARTS,
                }));
            }
            self.names.clear();
            self.offset = 0;
            self.generation = None;
            return self.part();
        }
        self.names.append(chunk);
        if complete {
            return Step::Done(Ok(std::mem::take(&mut self.names)));
        }
        if advance == 0 {
            // A chunk that is neither the last nor moves the offset.
            return Step::Done(Err(Error::unexpected(
                Problem::WrongShape {
                    request: Op::DirectoryPart,
                },
                None,
            )));
        }
        self.offset = self
            .offset
            .saturating_add(u32::try_from(advance).unwrap_or(u32::MAX));
        self.part()
    }

    fn part(&self) -> Step<'a> {
        Step::Send(Request::DirectoryPart {
            path: self.path,
            offset: self.offset,
        })
    }
}

/// A node's children: one DIRECTORY, or DIRECTORY_PART chunks if the
/// daemon says the list is too big for one reply (`E2BIG`).
pub(crate) fn list(h: &Handle<'_>, path: Path<'_>) -> Result<NameList> {
    let (mut listing, mut req) = Listing::new(path);
    loop {
        let resp = h.call(&req);
        match listing.feed(&req, resp) {
            Step::Send(next) => req = next,
            Step::Done(result) => return result,
        }
    }
}
