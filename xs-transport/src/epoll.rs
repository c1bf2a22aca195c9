//! One wait on an epoll instance, without an event list of its own.
//!
//! A synchronous client's lone reader waits for readiness once per round
//! trip, on the epoll instance of its `mio::Poll` (its socket and a waker
//! registered there). [`mio::Poll::poll`] serves any number of sources: it
//! converts its bound to milliseconds on every call and fills an
//! [`mio::Events`] list the caller then walks. For one round trip's wait
//! that is about a third of the instructions the wait costs in user space
//! (about 20 of 30). [`wait`] makes the same `epoll_wait` call on the same
//! instance, into two entries on the stack, and says only what such a
//! reader needs: whether anything came, and whether any of it was the
//! peer's end or an error (mio's `is_read_closed` / `is_error`).
//!
//! It leaves the instance's registrations alone, and takes nothing from
//! mio that mio would miss: mio keeps no state per event (its
//! registrations are edge-triggered; a waker's event is its own), so a
//! `Poll` waited on both ways in turn sees every event once.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::Duration;

use crate::sys;

/// What one [`wait`] saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// How many of the instance's sources reported an event (at most 2); 0
    /// when the time ran out.
    pub events: usize,
    /// Some event was the peer's end (a hang-up, or readable with the
    /// peer's write half shut) or an error.
    pub end_or_error: bool,
}

/// Waits on the epoll instance `epoll` (such as a `mio::Poll`'s:
/// `poll.registry().as_fd()`) until one of its sources is ready or
/// `timeout` passes (`None`: no limit). The bound is rounded up to whole
/// milliseconds, as `mio::Poll::poll` does. A signal gives
/// [`io::ErrorKind::Interrupted`], as there.
///
/// ```
/// use std::io::Write;
/// use std::os::fd::AsFd;
/// use std::time::Duration;
/// use mio::{net::UnixStream, Interest, Poll, Token};
///
/// let poll = Poll::new()?;
/// let (mut ours, mut theirs) = UnixStream::pair()?;
/// poll.registry().register(&mut ours, Token(0), Interest::READABLE)?;
/// let quiet = xs_transport::epoll::wait(poll.registry().as_fd(), Some(Duration::ZERO))?;
/// assert_eq!(quiet.events, 0);
/// theirs.write_all(b"x")?;
/// drop(theirs);
/// let seen = xs_transport::epoll::wait(poll.registry().as_fd(), None)?;
/// assert_eq!((seen.events, seen.end_or_error), (1, true));
/// # Ok::<(), std::io::Error>(())
/// ```
#[inline]
pub fn wait(epoll: BorrowedFd<'_>, timeout: Option<Duration>) -> io::Result<Seen> {
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 2];
    let n = sys::epoll_wait(epoll, &mut events, timeout.map_or(-1, millis_rounded_up))?;
    if n == 1 && events[0].events == libc::EPOLLIN as u32 {
        // The usual wake-up: one source readable, nothing more.
        return Ok(Seen {
            events: 1,
            end_or_error: false,
        });
    }
    let end_or_error = events[..n].iter().any(|e| {
        let flags = e.events as libc::c_int;
        flags & (libc::EPOLLHUP | libc::EPOLLERR) != 0
            || flags & (libc::EPOLLIN | libc::EPOLLRDHUP) == libc::EPOLLIN | libc::EPOLLRDHUP
    });
    Ok(Seen {
        events: n,
        end_or_error,
    })
}

/// `timeout` in whole milliseconds, rounded up (a sub-millisecond bound is
/// not a zero one), at most `c_int::MAX`.
fn millis_rounded_up(timeout: Duration) -> libc::c_int {
    let ms = timeout
        .checked_add(Duration::from_nanos(999_999))
        .unwrap_or(timeout)
        .as_millis();
    libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::fd::AsFd;

    use mio::{net::UnixStream, Interest, Poll, Token, Waker};

    use super::*;

    /// (what happens before the wait, events seen, an end or error seen)
    #[test]
    fn what_a_wait_sees() {
        type Setup = fn(&mut UnixStream, &Waker);
        let cases: [(&str, Setup, usize, bool); 4] = [
            ("nothing", |_, _| {}, 0, false),
            ("bytes", |peer, _| peer.write_all(b"x").unwrap(), 1, false),
            ("the waker", |_, waker| waker.wake().unwrap(), 1, false),
            (
                "bytes and the waker",
                |peer, waker| {
                    peer.write_all(b"x").unwrap();
                    waker.wake().unwrap();
                },
                2,
                false,
            ),
        ];
        for (what, setup, events, end) in cases {
            let poll = Poll::new().unwrap();
            let (mut ours, mut peer) = UnixStream::pair().unwrap();
            poll.registry()
                .register(&mut ours, Token(0), Interest::READABLE)
                .unwrap();
            let waker = Waker::new(poll.registry(), Token(1)).unwrap();
            setup(&mut peer, &waker);
            let seen = wait(poll.registry().as_fd(), Some(Duration::from_millis(1))).unwrap();
            assert_eq!((seen.events, seen.end_or_error), (events, end), "{what}");
            // Edge-triggered: what was seen is not seen again.
            let again = wait(poll.registry().as_fd(), Some(Duration::ZERO)).unwrap();
            assert_eq!(again.events, 0, "{what}");
        }
    }

    #[test]
    fn the_peers_end_is_seen() {
        let poll = Poll::new().unwrap();
        let (mut ours, peer) = UnixStream::pair().unwrap();
        poll.registry()
            .register(&mut ours, Token(0), Interest::READABLE)
            .unwrap();
        drop(peer);
        let seen = wait(poll.registry().as_fd(), None).unwrap();
        assert_eq!((seen.events, seen.end_or_error), (1, true));
    }

    #[test]
    fn an_fd_that_is_no_epoll_instance_is_an_error() {
        let (ours, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
        assert!(wait(ours.as_fd(), Some(Duration::ZERO)).is_err());
    }

    #[test]
    fn bounds_are_rounded_up_to_whole_milliseconds() {
        for (timeout, ms) in [
            (Duration::ZERO, 0),
            (Duration::from_nanos(1), 1),
            (Duration::from_micros(999), 1),
            (Duration::from_millis(1), 1),
            (Duration::from_micros(1001), 2),
            (Duration::from_millis(100), 100),
            (Duration::MAX, libc::c_int::MAX),
        ] {
            assert_eq!(millis_rounded_up(timeout), ms, "{timeout:?}");
        }
    }
}
