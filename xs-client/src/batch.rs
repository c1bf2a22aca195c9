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
use crate::{reply, Result};

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
        let room = MAX_DEPTH - in_flight.len();
        let mut end = next;
        let mut window_bytes = 0;
        while end < reqs.len() && end - next < room {
            let len = HEADER_SIZE + reqs[end].payload_len();
            let fits = bytes + window_bytes + len <= MAX_BYTES_IN_FLIGHT;
            // Past the bound only alone, so that a batch always progresses.
            if !(fits || (in_flight.is_empty() && end == next)) {
                break;
            }
            window_bytes += len;
            end += 1;
        }
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
                    let len = HEADER_SIZE + reqs[i].payload_len();
                    bytes += len;
                    in_flight.push_back((i, ticket, len));
                }
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        next = end;
        while in_flight.len() > MAX_DEPTH / 2
            || (!in_flight.is_empty() && bytes > MAX_BYTES_IN_FLIGHT / 2)
        {
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

/// Pipelines one request per item, made by `make` from the item's path
/// (checked first) and the item itself; an item whose path is invalid keeps
/// that error in place of a reply.
pub(crate) fn per_item<'a, I, T>(
    h: &Handle<'_>,
    items: &'a [I],
    path: impl Fn(&'a I) -> &'a str,
    make: impl Fn(Path<'a>, &'a I) -> Request<'a>,
    parse: impl Fn(Reply<'_>) -> Option<T>,
) -> Vec<Result<T>> {
    let parsed: Vec<_> = items
        .iter()
        .map(|item| Path::new(path(item)).map(|p| (p, item)))
        .collect();
    let reqs: Vec<Request<'a>> = parsed
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|&(p, item)| make(p, item))
        .collect();
    // One reply per request, in order.
    let mut replies = pipeline(h, &reqs, parse).into_iter();
    parsed
        .into_iter()
        .filter_map(|r| match r {
            Ok(_) => replies.next(),
            Err(e) => Some(Err(e.into())),
        })
        .collect()
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
