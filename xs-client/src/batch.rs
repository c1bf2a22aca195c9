//! Pipelined batches: many requests in flight on the one connection, results
//! in order.
//!
//! One request at a time costs a full round trip each; a batch writes up to
//! [`MAX_DEPTH`] requests before waiting for the first reply, so N requests
//! cost about N daemon service times instead of N round trips. Bytes in
//! flight are bounded ([`MAX_BYTES_IN_FLIGHT`]): a client that writes a few
//! hundred kilobytes before reading deadlocks against oxenstored, which stops
//! reading while its replies are unread.
//!
//! [`Pipeline`] is the plan, without I/O: which window to send next and
//! which reply to collect. [`pipeline`] runs it with the sync router; the
//! async clients run the same plan, awaiting instead of blocking. A reply is
//! handed to its finisher whole, so a READ's value is the reply's buffer
//! itself, not a copy of it.

use std::collections::VecDeque;
use std::ops::Range;

use xs_wire::{Path, Request, HEADER_SIZE};

use crate::handle::{parse_call, Handle};
use crate::ops::Parse;
use crate::proto::Response;
use crate::{Error, Result};

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

/// What a pipeline's driver does next ([`Pipeline::step`]).
pub(crate) enum Action<Id> {
    /// Queue these requests (one write) and report each one's fate with
    /// [`Pipeline::sent`].
    Send(Range<usize>),
    /// Collect the reply to request `.0` (or take the error that kept it
    /// from being sent): the oldest one, so results come in order.
    Collect(usize, Result<Id>),
    /// Every request has been collected.
    Done,
}

/// The plan of a pipelined batch over `reqs`: windows bounded by
/// [`MAX_DEPTH`] and [`MAX_BYTES_IN_FLIGHT`], refilled when half of one is
/// back, so the daemon always has requests queued. `Id` is what the driver
/// waits on (a request id, or a reply future).
pub(crate) struct Pipeline<'q, 'a, Id> {
    reqs: &'q [Request<'a>],
    /// The first request not yet sent.
    next: usize,
    /// Requests sent (or refused) and not collected, in order: index,
    /// id or error, bytes on the wire (0 if refused).
    queue: VecDeque<(usize, Result<Id>, usize)>,
    /// How many of `queue` are on the wire, and their bytes.
    in_flight: usize,
    bytes: usize,
}

impl<'q, 'a, Id> Pipeline<'q, 'a, Id> {
    pub(crate) fn new(reqs: &'q [Request<'a>]) -> Self {
        Pipeline {
            reqs,
            next: 0,
            queue: VecDeque::with_capacity(reqs.len().min(MAX_DEPTH)),
            in_flight: 0,
            bytes: 0,
        }
    }

    /// The next thing to do: send a window while there is room and less
    /// than half of one is in flight, else collect the oldest reply.
    pub(crate) fn step(&mut self) -> Action<Id> {
        if self.next < self.reqs.len() && !over_half(self.in_flight, self.bytes) {
            let end = window_end(self.reqs, self.next, self.in_flight, self.bytes);
            if end > self.next {
                return Action::Send(self.next..end);
            }
        }
        match self.queue.pop_front() {
            Some((i, id, len)) => {
                if id.is_ok() {
                    self.in_flight -= 1;
                    self.bytes -= len;
                }
                Action::Collect(i, id)
            }
            // Nothing in flight always leaves room for a request.
            None => Action::Done,
        }
    }

    /// The window [`Action::Send`] named was queued: one outcome per request,
    /// in order (an error: the request was not sent).
    pub(crate) fn sent(&mut self, outcomes: impl IntoIterator<Item = Result<Id>>) {
        for id in outcomes {
            let i = self.next;
            self.next += 1;
            let len = match id {
                Ok(_) => frame_len(&self.reqs[i]),
                Err(_) => 0,
            };
            self.in_flight += usize::from(id.is_ok());
            self.bytes += len;
            self.queue.push_back((i, id, len));
        }
    }
}

/// Sends every request pipelined and hands each reply to `finish`; results
/// come back in request order. A request refused before sending gets its
/// error in place; a dead connection fails the rest.
pub(crate) fn pipeline<T>(
    h: &Handle<'_>,
    reqs: &[Request<'_>],
    finish: impl Fn(&Request<'_>, Response) -> Result<T>,
) -> Vec<Result<T>> {
    let mut plan = Pipeline::new(reqs);
    let mut results = Vec::with_capacity(reqs.len());
    let mut ids = Vec::new();
    loop {
        match plan.step() {
            Action::Send(window) => {
                h.router.submit_many(&reqs[window], h.tx, &mut ids);
                plan.sent(ids.drain(..));
            }
            Action::Collect(i, id) => {
                let req = &reqs[i];
                results.push(id.and_then(|id| finish(req, h.router.wait_for(id)?)));
            }
            Action::Done => return results,
        }
    }
}

/// A finisher that reads the reply with `parse` (for replies whose typed
/// form is not the payload itself).
pub(crate) fn parsed<T>(parse: Parse<T>) -> impl Fn(&Request<'_>, Response) -> Result<T> + Copy {
    move |req, resp| parse_call(req, parse, &resp)
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
    /// The items with an invalid path: index among the items, and error.
    errors: Vec<(usize, Error)>,
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
        let mut errors = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match Path::new(path(item)) {
                Ok(p) => reqs.push(make(p, item)),
                Err(e) => errors.push((i, e.into())),
            }
        }
        Prepared { reqs, errors }
    }

    /// One result per item, in order: the replies (one per request) with
    /// the path errors put back in place.
    pub(crate) fn merge<T>(self, replies: Vec<Result<T>>) -> Vec<Result<T>> {
        if self.errors.is_empty() {
            return replies;
        }
        let total = replies.len() + self.errors.len();
        let mut errors = self.errors.into_iter().peekable();
        let mut replies = replies.into_iter();
        (0..total)
            .filter_map(|i| match errors.next_if(|(at, _)| *at == i) {
                Some((_, e)) => Some(Err(e)),
                None => replies.next(),
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
    finish: impl Fn(&Request<'_>, Response) -> Result<T>,
) -> Vec<Result<T>> {
    let prepared = Prepared::new(items, path, make);
    let replies = pipeline(h, &prepared.reqs, finish);
    prepared.merge(replies)
}

/// [`per_item`] for plain paths.
pub(crate) fn per_path<'a, T>(
    h: &Handle<'_>,
    raw: &'a [&'a str],
    make: impl Fn(Path<'a>) -> Request<'a>,
    finish: impl Fn(&Request<'_>, Response) -> Result<T>,
) -> Vec<Result<T>> {
    per_item(h, raw, |p| p, |path, _| make(path), finish)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Refusal;

    /// The plan run by a driver that answers at once: what it sent, in
    /// windows, and what it collected, in order; the bounds checked at
    /// every step. `refused(i)`: request `i` is refused when queued.
    fn run(reqs: &[Request<'_>], refused: impl Fn(usize) -> bool) -> (Vec<usize>, Vec<usize>) {
        let mut plan: Pipeline<'_, '_, usize> = Pipeline::new(reqs);
        let (mut windows, mut collected) = (Vec::new(), Vec::new());
        let mut on_wire: VecDeque<usize> = VecDeque::new();
        loop {
            match plan.step() {
                Action::Send(window) => {
                    assert_eq!(window.start, collected.len() + plan.queue.len());
                    windows.push(window.len());
                    on_wire.extend(window.clone().filter(|&i| !refused(i)));
                    plan.sent(window.map(|i| match refused(i) {
                        true => Err(Error::Refused(Refusal::DeleteRoot)),
                        false => Ok(i),
                    }));
                    let bytes: usize = on_wire.iter().map(|&i| frame_len(&reqs[i])).sum();
                    assert!(on_wire.len() <= MAX_DEPTH);
                    assert!(bytes <= MAX_BYTES_IN_FLIGHT || on_wire.len() == 1);
                    assert_eq!((plan.in_flight, plan.bytes), (on_wire.len(), bytes));
                }
                Action::Collect(i, id) => {
                    match id {
                        Ok(id) => assert_eq!((id, on_wire.pop_front()), (i, Some(i))),
                        Err(e) => assert!(refused(i), "{e}"),
                    }
                    collected.push(i);
                }
                Action::Done => break,
            }
        }
        (windows, collected)
    }

    fn reads(n: usize) -> Vec<Request<'static>> {
        let path = Path::new("/local/domain/0/name").unwrap();
        vec![Request::Read { path }; n]
    }

    #[test]
    fn windows_fill_the_depth_then_refill_at_half() {
        // (requests, windows sent): the first window fills the depth, each
        // later one what collecting down to half of it freed.
        let table: &[(usize, &[usize])] = &[
            (0, &[]),
            (1, &[1]),
            (128, &[128]),
            (129, &[128, 1]),
            (300, &[128, 64, 64, 44]),
        ];
        for &(n, windows) in table {
            let (sent, collected) = run(&reads(n), |_| false);
            assert_eq!(sent, windows, "{n} requests");
            assert_eq!(collected, (0..n).collect::<Vec<_>>());
        }
    }

    #[test]
    fn bytes_bound_the_window_and_a_lone_big_request_still_goes() {
        let path = Path::new("/data").unwrap();
        let small = vec![b'x'; 1000];
        let huge = vec![b'x'; 40 * 1024];
        let mut reqs = vec![
            Request::Write {
                path,
                value: &small
            };
            40
        ];
        reqs.insert(10, Request::Write { path, value: &huge });
        let (windows, collected) = run(&reqs, |_| false);
        assert_eq!(collected, (0..reqs.len()).collect::<Vec<_>>());
        // 32 frames of 1,022 bytes fill 32 KiB; the huge one goes alone.
        assert_eq!(windows[0], 10);
        assert!(windows.contains(&1));
    }

    #[test]
    fn refused_requests_keep_their_place_and_take_no_room() {
        let reqs = reads(300);
        let (_, collected) = run(&reqs, |i| i % 7 == 3);
        assert_eq!(collected, (0..300).collect::<Vec<_>>());
        let (windows, collected) = run(&reqs, |_| true);
        assert_eq!(collected, (0..300).collect::<Vec<_>>());
        // Nothing is on the wire, so nothing waits for room.
        assert_eq!(windows.iter().sum::<usize>(), 300);
    }

    #[test]
    fn merge_puts_path_errors_back_in_place() {
        let items = ["/a", "/a b", "/b", "", "/c", "/c d"];
        let prepared = Prepared::new(&items, |p| p, |path, _| Request::Read { path });
        assert_eq!(prepared.reqs.len(), 3);
        let replies = (0..3).map(Ok).collect();
        let merged: Vec<_> = prepared
            .merge(replies)
            .into_iter()
            .map(|r| r.map_err(|e| e.to_string()))
            .collect();
        assert_eq!(merged.len(), items.len());
        let oks: Vec<_> = merged.iter().map(|r| r.as_ref().ok().copied()).collect();
        assert_eq!(oks, [Some(0), None, Some(1), None, Some(2), None]);
    }
}
