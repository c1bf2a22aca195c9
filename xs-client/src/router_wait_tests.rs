//! What the lone reader's wait policy measures: round trips' waits only.

use std::time::Duration;

use xs_transport::Connection;

use crate::{Client, Router, Store};

/// With the daemon holding every reply back 2 ms, no sample of either way
/// of waiting can be shorter: the read a readiness round makes first after
/// a blocking one (for bytes no edge will announce) waits for nothing, and
/// once counted as a round trip of a few hundred nanoseconds.
#[test]
fn the_wait_policy_samples_only_waits_for_replies() {
    let delay = Duration::from_millis(2);
    let xs = xs_server::Server::builder()
        .fault(xs_server::Fault::DelayReplies(delay))
        .spawn()
        .unwrap();
    let conn = Connection::unix(xs.socket_path()).unwrap();
    let client = Client::with_router(Router::new(conn).unwrap());
    client.write("/w", "1").unwrap();
    // Enough round trips for several of each way (one in 32 explores).
    for _ in 0..160 {
        assert_eq!(client.read("/w").unwrap(), b"1");
    }
    let (block, ready) = client.router().inner.reader.lock().wait.means();
    // The wait starts a little after the request is written.
    let floor = delay * 3 / 4;
    assert!(block >= floor && ready >= floor, "{block:?} {ready:?}");
}
