//! Pipelined batches: many requests in flight on the one connection, results
//! in order.
//!
//! One request at a time costs a full round trip each; a batch writes up to
//! [`MAX_DEPTH`] requests before waiting for the first reply, so N requests
//! cost about N daemon service times instead of N round trips. Bytes in
//! flight are bounded ([`MAX_BYTES_IN_FLIGHT`]): a client that writes a few
//! hundred kilobytes before reading deadlocks against oxenstored, which stops
//! reading while its replies are unread.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar};

use xs_wire::{Path, Reply, Request, HEADER_SIZE};

use crate::handle::{shape, Handle};
use crate::router::Ticket;
use crate::{reply, Error, Result};

/// Most requests a batch keeps in flight.
///
/// ```
/// # let _xs = xs_server::Server::spawn_temp();
/// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
/// use xs_client::{Client, Store, MAX_DEPTH};
///
/// let client = Client::open()?;
/// // 200 reads: two pipelined bursts of at most MAX_DEPTH, not 200 round trips.
/// let paths: Vec<String> = (0..200).map(|d| format!("/local/domain/{d}/name")).collect();
/// let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
/// assert!(refs.len() > MAX_DEPTH);
/// let values = client.read_many(&refs);
/// assert!(values.iter().all(|v| v.as_ref().unwrap_err().is_not_found()));
/// # Ok::<(), xs_client::Error>(())
/// ```
pub const MAX_DEPTH: usize = 128;
/// Most request bytes a batch keeps in flight: far below a socket buffer,
/// so a write never blocks while the daemon waits for us to read.
///
/// ```
/// # let _xs = xs_server::Server::spawn_temp();
/// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
/// use xs_client::{Client, Store, MAX_BYTES_IN_FLIGHT};
///
/// let client = Client::open()?;
/// // 64 KiB of values in one batch: sent in windows of MAX_BYTES_IN_FLIGHT,
/// // so neither side's socket buffer fills while the other waits.
/// let value = vec![b'x'; 2048];
/// let paths: Vec<String> = (0..32).map(|i| format!("/local/domain/0/data/{i}")).collect();
/// let items: Vec<(&str, &[u8])> = paths.iter().map(|p| (p.as_str(), &value[..])).collect();
/// assert!(items.len() * value.len() > MAX_BYTES_IN_FLIGHT);
/// assert!(client.write_many(&items).iter().all(|r| r.is_ok()));
/// # Ok::<(), xs_client::Error>(())
/// ```
pub const MAX_BYTES_IN_FLIGHT: usize = 32 * 1024;

/// Sends every request pipelined and parses each reply with `parse`;
/// results come back in request order. A request refused before sending
/// gets its error in place; a dead connection fails the rest.
pub(crate) fn pipeline<T>(
    h: &Handle<'_>,
    reqs: &[Request<'_>],
    parse: impl Fn(Reply<'_>) -> Option<T>,
) -> Vec<Result<T>> {
    let router = h.router;
    let tx = h.tx;
    let signal = Arc::new(Condvar::new());
    let mut results: Vec<Option<Result<T>>> = (0..reqs.len()).map(|_| None).collect();
    let mut in_flight = VecDeque::new();
    let mut bytes = 0;
    let collect = |(i, ticket, len): (usize, Ticket, usize),
                   bytes: &mut usize,
                   results: &mut Vec<Option<Result<T>>>| {
        *bytes -= len;
        let req: &Request<'_> = &reqs[i];
        let parsed = router
            .wait(ticket)
            .and_then(|resp| shape(req, reply::parse(req, &resp)?, &parse));
        results[i] = Some(parsed);
    };
    // Send a window at a time in one write; refill when half of it is back,
    // so the daemon always has requests queued.
    let mut next = 0;
    while next < reqs.len() {
        let end = window_end(reqs, next, in_flight.len(), bytes);
        if end == next {
            // No room: collect the oldest reply first.
            if let Some(front) = in_flight.pop_front() {
                collect(front, &mut bytes, &mut results);
            }
            continue;
        }
        let tickets = router.submit_many(&reqs[next..end], tx, &signal);
        for (k, ticket) in tickets.into_iter().enumerate() {
            let i = next + k;
            match ticket {
                Ok(ticket) => {
                    let len = frame_len(&reqs[i]);
                    bytes += len;
                    in_flight.push_back((i, ticket, len));
                }
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        next = end;
        while over_half(in_flight.len(), bytes) {
            if let Some(front) = in_flight.pop_front() {
                collect(front, &mut bytes, &mut results);
            }
        }
    }
    while let Some(front) = in_flight.pop_front() {
        collect(front, &mut bytes, &mut results);
    }
    // Every slot was filled: by its reply, or by the error that kept it
    // from being sent.
    debug_assert!(results.iter().all(Option::is_some));
    results.into_iter().flatten().collect()
}

/// A request's size on the wire.
pub(crate) fn frame_len(req: &Request<'_>) -> usize {
    HEADER_SIZE + req.payload_len()
}

/// The end of the next window to send from `reqs[next..]`, given what is
/// in flight: bounded by [`MAX_DEPTH`] and [`MAX_BYTES_IN_FLIGHT`]
/// (exceeded only by a lone request, so a batch always progresses).
/// `next` itself: collect a reply first.
pub(crate) fn window_end(
    reqs: &[Request<'_>],
    next: usize,
    in_flight: usize,
    bytes: usize,
) -> usize {
    let room = MAX_DEPTH.saturating_sub(in_flight);
    let mut end = next;
    let mut window_bytes = 0;
    while end < reqs.len() && end - next < room {
        let len = frame_len(&reqs[end]);
        let fits = bytes + window_bytes + len <= MAX_BYTES_IN_FLIGHT;
        if !(fits || (in_flight == 0 && end == next)) {
            break;
        }
        window_bytes += len;
        end += 1;
    }
    end
}

/// Whether to collect a reply before sending more: over half the depth or
/// half the bytes are in flight.
pub(crate) fn over_half(in_flight: usize, bytes: usize) -> bool {
    in_flight > MAX_DEPTH / 2 || (in_flight > 0 && bytes > MAX_BYTES_IN_FLIGHT / 2)
}

/// A batch's items turned into requests; items whose path is invalid keep
/// their error in place.
pub(crate) struct Prepared<'a> {
    pub(crate) reqs: Vec<Request<'a>>,
    errors: Vec<Option<Error>>,
}

impl<'a> Prepared<'a> {
    /// One request per item, made by `make` from the item's path (checked
    /// first) and the item itself.
    pub(crate) fn new<I>(
        items: &'a [I],
        path: impl Fn(&'a I) -> &'a str,
        make: impl Fn(Path<'a>, &'a I) -> Request<'a>,
    ) -> Prepared<'a> {
        let mut reqs = Vec::with_capacity(items.len());
        let errors = items
            .iter()
            .map(|item| match Path::new(path(item)) {
                Ok(p) => {
                    reqs.push(make(p, item));
                    None
                }
                Err(e) => Some(e.into()),
            })
            .collect();
        Prepared { reqs, errors }
    }

    /// One result per item, in order: the replies (one per request) with
    /// the path errors put back in place.
    pub(crate) fn merge<T>(self, replies: Vec<Result<T>>) -> Vec<Result<T>> {
        let mut replies = replies.into_iter();
        self.errors
            .into_iter()
            .filter_map(|e| match e {
                None => replies.next(),
                Some(e) => Some(Err(e)),
            })
            .collect()
    }
}

/// Pipelines one request per item (see [`Prepared::new`]).
pub(crate) fn per_item<'a, I, T>(
    h: &Handle<'_>,
    items: &'a [I],
    path: impl Fn(&'a I) -> &'a str,
    make: impl Fn(Path<'a>, &'a I) -> Request<'a>,
    parse: impl Fn(Reply<'_>) -> Option<T>,
) -> Vec<Result<T>> {
    let prepared = Prepared::new(items, path, make);
    let replies = pipeline(h, &prepared.reqs, parse);
    prepared.merge(replies)
}

/// [`per_item`] for plain paths.
pub(crate) fn per_path<'a, T>(
    h: &Handle<'_>,
    raw: &'a [&'a str],
    make: impl Fn(Path<'a>) -> Request<'a>,
    parse: impl Fn(Reply<'_>) -> Option<T>,
) -> Vec<Result<T>> {
    per_item(h, raw, |p| p, |path, _| make(path), parse)
}
