//! Fault injection: make the server misbehave on purpose, so client code
//! can be tested against the failures the protocol allows.
//!
//! Faults are switched on per server through the builder
//! ([`crate::ServerBuilder::fault`]) and are all off by default. Each one
//! models something a real daemon may do:
//!
//! | fault | what happens | models |
//! |---|---|---|
//! | [`Fault::FailCommits`] | the next N commits (`TRANSACTION_END T`) answer `EAGAIN` | a busy store; oxenstored's `test-eagain` |
//! | [`Fault::DelayReplies`] | every frame is held back for a while | a slow or loaded daemon |
//! | [`Fault::CloseAfter`] | a connection is closed, unanswered, when its request number K+1 arrives | a daemon crash or restart |
//! | [`Fault::ReorderReplies`] | replies to requests read together are swapped pairwise | the spec allows any order, matched by `req_id` |
//! | [`Fault::MalformedReply`] | the reply to request number N gets a header announcing 5000 bytes, then the connection is closed | a broken daemon; a reply over the 4096-byte limit must be fatal to the client |
//!
//! Failing commits can also be requested while the server runs, with
//! [`crate::ServerHandle::fail_next_commits`].

use std::time::Duration;

/// One kind of misbehaviour.
///
/// ```
/// use std::time::Duration;
/// use xs_server::{Fault, Server};
/// let server = Server::builder()
///     .fault(Fault::FailCommits(2))
///     .fault(Fault::DelayReplies(Duration::from_millis(5)))
///     .spawn()
///     .unwrap();
/// # drop(server);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The next N transaction commits fail with `EAGAIN` (the transaction
    /// is gone, as after a real conflict). Aborts are not affected.
    FailCommits(u64),
    /// Hold every frame (replies and watch events) back this long.
    DelayReplies(Duration),
    /// Answer K requests per connection, then close the connection, without
    /// a reply, when the next one arrives.
    CloseAfter(u64),
    /// Swap the replies (with the events they caused) of consecutive
    /// requests that arrived in the same read, pairwise.
    ReorderReplies,
    /// Replace the reply to the Nth request (1-based) of each connection by
    /// a header claiming a 5000-byte payload, then close the connection.
    MalformedReply(u64),
}

/// The faults of a server, merged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Faults {
    pub(crate) fail_commits: u64,
    pub(crate) delay: Option<Duration>,
    pub(crate) close_after: Option<u64>,
    pub(crate) reorder: bool,
    pub(crate) malformed_at: Option<u64>,
}

impl Faults {
    /// Adds one fault; a later fault of the same kind replaces the earlier.
    pub(crate) fn add(&mut self, fault: Fault) {
        match fault {
            Fault::FailCommits(n) => self.fail_commits = n,
            Fault::DelayReplies(d) => self.delay = Some(d),
            Fault::CloseAfter(k) => self.close_after = Some(k),
            Fault::ReorderReplies => self.reorder = true,
            Fault::MalformedReply(n) => self.malformed_at = Some(n),
        }
    }
}

/// The payload length the malformed-reply fault announces.
pub(crate) const MALFORMED_LEN: u32 = 5000;
