//! Surviving the daemon through the async client (`AsyncClientBuilder::
//! reconnect`), on tokio and on smol: the scenarios of `reconnect.rs`
//! (real restarts of oxenstored, connections closed by xs-server's fault
//! injection, a daemon that starts late, no policy), each run on both
//! runtimes, with the same contract: every call ends within its timeout in
//! success or a documented error, monitors yield `Reconnected` and their
//! watches fire again, nothing is applied twice or lost silently, and the
//! reconnection never blocks the executor.

mod peer;
mod reconnecting;

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use peer::{bounded, Oxenstored};
use reconnecting::{
    increment_threads, next_count, policy, sees_reconnection_then_events, Tally, TIMEOUT,
};
use xs_client::aio::{AsyncClient, AsyncMonitor, Runtime};
use xs_client::smol::Smol;
use xs_client::tokio::Tokio;
use xs_client::{Client, Error, Reconnect, Store};
use xs_server::{Fault, Server};

/// A spawned task's result.
type Joined<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What a scenario needs of a runtime besides [`Runtime`]: run a future
/// to its end, spawn a task.
trait Exec: Runtime {
    fn run<T>(f: impl Future<Output = T>) -> T;
    fn spawn<T: Send + 'static>(f: impl Future<Output = T> + Send + 'static) -> Joined<T>;
}

impl Exec for Tokio {
    /// A multi-threaded runtime of two workers, as `async_tokio.rs` uses.
    fn run<T>(f: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime")
            .block_on(f)
    }

    fn spawn<T: Send + 'static>(f: impl Future<Output = T> + Send + 'static) -> Joined<T> {
        let handle = tokio::spawn(f);
        Box::pin(async move { handle.await.expect("the task finished") })
    }
}

impl Exec for Smol {
    fn run<T>(f: impl Future<Output = T>) -> T {
        smol::block_on(f)
    }

    fn spawn<T: Send + 'static>(f: impl Future<Output = T> + Send + 'static) -> Joined<T> {
        Box::pin(smol::spawn(f))
    }
}

async fn sleep<R: Runtime>(d: Duration) {
    R::timer(Instant::now() + d).await;
}

/// An async client reconnecting by the suites' policy to `socket`.
fn reconnecting<R: Runtime>(socket: &Path) -> AsyncClient<R> {
    AsyncClient::<R>::builder()
        .unix(socket)
        .timeout(TIMEOUT)
        .transact_attempts(10_000)
        .reconnect(policy())
        .connect()
        .expect("connect")
}

/// One `transact` increment of `/counter`; `Ok(true)` if it committed on
/// the old daemon (which alone has `/instance`).
async fn increment<R: Runtime>(client: &AsyncClient<R>) -> Result<bool, Error> {
    client
        .transact(|tx| async move {
            let old = tx.read_opt("/instance").await?.is_some();
            let next = next_count(tx.read_opt("/counter").await?);
            tx.write("/counter", next).await?;
            Ok::<_, Error>(old)
        })
        .await
}

/// The next item of an async monitor within the suites' timeout.
async fn next_item<R: Runtime>(monitor: &mut AsyncMonitor<R>) -> Result<xs_client::Event, Error> {
    match monitor.wait_timeout(TIMEOUT).await {
        Ok(Some(ev)) => Ok(ev),
        Ok(None) => panic!("no event within {TIMEOUT:?}"),
        Err(e) => Err(e),
    }
}

/// Waits for `Reconnected` on an async monitor, then for an event on
/// `path` after writing it.
async fn sees_reconnection_then_events_async<R: Runtime>(
    monitor: &mut AsyncMonitor<R>,
    client: &AsyncClient<R>,
    path: &str,
) {
    loop {
        match next_item(monitor).await {
            Err(Error::Reconnected) => break,
            Ok(_) | Err(Error::Overflow { .. }) => continue,
            Err(e) => panic!("expected Reconnected, got {e:?}"),
        }
    }
    client
        .write(path, "after")
        .await
        .expect("write after restart");
    while next_item(monitor).await.expect("event").path != path {}
}

/// kill -9 oxenstored and start a new one on the same socket while 4
/// async tasks and 4 threads run `transact` increments, and two monitors
/// watch, one async and one sync. The new daemon starts empty: the counter
/// on it must equal the commits that succeeded against it, by either client.
fn oxenstored_killed_and_restarted_under_load<R: Exec>() {
    bounded(Duration::from_secs(120), || {
        let mut daemon = Oxenstored::start("areconnect", "");
        let socket = daemon.socket().to_owned();
        let client = reconnecting::reconnecting(&socket);
        client.write("/instance", "old").unwrap();
        let sync_monitor = client.monitor();
        sync_monitor.watch("/watched", "sync").unwrap();
        sync_monitor
            .wait_timeout(TIMEOUT)
            .unwrap()
            .expect("initial event");

        let stop = Arc::new(AtomicBool::new(false));
        let (ready, started) = mpsc::channel();
        let async_side = {
            let (socket, stop) = (socket.clone(), stop.clone());
            thread::spawn(move || {
                R::run(async move {
                    let client = reconnecting::<R>(&socket);
                    let mut monitor = client.monitor();
                    monitor.watch("/watched", "async").await.unwrap();
                    next_item(&mut monitor).await.expect("initial event");
                    let tasks: Vec<Joined<Tally>> = (0..4)
                        .map(|_| {
                            let (client, stop) = (client.clone(), stop.clone());
                            R::spawn(async move {
                                let mut tally = Tally::default();
                                while !stop.load(Ordering::Relaxed) {
                                    let t0 = Instant::now();
                                    let result = increment(&client).await;
                                    tally.count(result, t0.elapsed());
                                }
                                tally
                            })
                        })
                        .collect();
                    ready.send(()).unwrap();
                    let mut tally = Tally::default();
                    for t in tasks {
                        tally.add(t.await);
                    }
                    assert!(client.reconnections() >= 1, "the async client");
                    sees_reconnection_then_events_async(&mut monitor, &client, "/watched").await;
                    tally
                })
            })
        };
        let threads = increment_threads(&client, 4, &stop);

        started
            .recv_timeout(TIMEOUT)
            .expect("the async side started");
        thread::sleep(Duration::from_millis(300));
        daemon.kill();
        thread::sleep(Duration::from_millis(200));
        daemon.restart();
        thread::sleep(Duration::from_millis(700));
        stop.store(true, Ordering::Relaxed);
        let mut tally = Tally::default();
        for t in threads {
            tally.add(t.join().unwrap());
        }
        let async_tally = async_side.join().expect("the async side");
        let async_commits = async_tally.new_commits;
        tally.add(async_tally);
        tally.check();

        assert!(client.router().reconnections() >= 1);
        assert_eq!(client.read_opt("/instance").unwrap(), None, "a new daemon");
        let counter: u64 = client.read_string("/counter").unwrap().parse().unwrap();
        assert_eq!(counter, tally.new_commits);
        assert!(async_commits > 0, "no async commit reached the new daemon");
        sees_reconnection_then_events(&sync_monitor, &client, "/watched");
    });
}

/// xs-server closes every connection after K requests (the store
/// survives): for many K, 2 tasks add 1 ten times each. Successes are
/// applied exactly once; a `MaybeApplied` commit may or may not have been:
/// successes <= final <= successes + maybe-applied. Nothing hangs.
fn connections_closed_after_k_requests_lose_nothing<R: Exec>() {
    bounded(Duration::from_secs(120), || {
        let mut total_ok = 0;
        for k in [4u64, 5, 6, 7, 9, 12, 17, 25, 40] {
            let server = Server::builder()
                .fault(Fault::CloseAfter(k))
                .spawn()
                .expect("server");
            let socket = server.socket_path().to_owned();
            let (ok, maybe, others, reconnections) = R::run(async move {
                let client = reconnecting::<R>(&socket);
                let tasks: Vec<Joined<(u64, u64, Vec<Error>)>> = (0..2)
                    .map(|_| {
                        let client = client.clone();
                        R::spawn(async move {
                            let (mut ok, mut maybe, mut others) = (0, 0, Vec::new());
                            for _ in 0..10 {
                                match client
                                    .transact(|tx| async move {
                                        let next = next_count(tx.read_opt("/counter").await?);
                                        tx.write("/counter", next).await
                                    })
                                    .await
                                {
                                    Ok(()) => ok += 1,
                                    Err(Error::MaybeApplied { .. }) => maybe += 1,
                                    Err(e) => others.push(e),
                                }
                            }
                            (ok, maybe, others)
                        })
                    })
                    .collect();
                let (mut ok, mut maybe, mut others) = (0, 0, Vec::new());
                for t in tasks {
                    let (o, m, e) = t.await;
                    (ok, maybe) = (ok + o, maybe + m);
                    others.extend(e);
                }
                (ok, maybe, others, client.reconnections())
            });
            assert!(others.is_empty(), "K={k}: undocumented errors {others:?}");
            // A fresh connection's first request is always answered. Two
            // tasks in step may lose every commit to the fault (each one
            // the request that closes the connection): no counter then.
            let fresh = Client::unix(server.socket_path()).unwrap();
            let last: u64 = fresh
                .read_opt("/counter")
                .unwrap()
                .map_or(0, |v| String::from_utf8_lossy(&v).parse().unwrap());
            total_ok += ok;
            assert!(
                ok <= last && last <= ok + maybe,
                "K={k}: {ok} successes, {maybe} maybe applied, counter {last}"
            );
            assert!(reconnections > 0, "K={k}: never reconnected");
        }
        assert!(total_ok > 0, "no increment succeeded for any K");
    });
}

/// Read-only requests in flight when the connection drops are sent again
/// and answered; writes in flight say they may have been applied.
fn reads_are_sent_again_and_writes_report_maybe_applied<R: Exec>() {
    // Every connection answers 2 requests, then closes on the third.
    let server = Server::builder()
        .fault(Fault::CloseAfter(2))
        .spawn()
        .expect("server");
    let setup = Client::unix(server.socket_path()).unwrap();
    setup.write("/r", "value").unwrap();
    R::run(async {
        let client = reconnecting::<R>(server.socket_path());
        for _ in 0..10 {
            assert_eq!(client.read("/r").await.unwrap(), b"value");
        }
        assert!(client.reconnections() >= 4);
        let client = reconnecting::<R>(server.socket_path());
        client.read("/r").await.unwrap();
        client.read("/r").await.unwrap();
        let err = client.write("/w", "1").await.unwrap_err();
        assert!(matches!(err, Error::MaybeApplied { .. }), "{err:?}");
    });
}

/// A transaction whose connection is replaced is lost: its request in
/// flight and every later one fail with `TransactionLost` (nothing is sent
/// for the later ones), and `transact` runs its closure again on the new
/// connection.
fn a_transaction_across_a_reconnection_is_lost_and_transact_runs_it_again<R: Exec>() {
    // Every connection answers 3 requests, then closes on the fourth.
    let server = Server::builder()
        .fault(Fault::CloseAfter(3))
        .spawn()
        .expect("server");
    R::run(async {
        let client = reconnecting::<R>(server.socket_path());
        let tx = client.transaction().await.unwrap();
        tx.read_opt("/x").await.unwrap();
        tx.read_opt("/x").await.unwrap();
        let err = tx.write("/x", "1").await.unwrap_err();
        assert!(matches!(err, Error::TransactionLost { .. }), "{err:?}");
        assert!(tx.is_lost());
        assert_eq!(client.reconnections(), 1);
        let err = tx.write("/x", "1").await.unwrap_err();
        assert!(matches!(err, Error::TransactionLost { .. }), "{err:?}");
        drop(tx);
        assert!(!client.exists("/x").await.unwrap());

        // The first run of the closure makes the fourth request of its
        // connection; the second makes three.
        let client = reconnecting::<R>(server.socket_path());
        let runs = AtomicU32::new(0);
        client
            .transact(|tx| {
                let first = runs.fetch_add(1, Ordering::Relaxed) == 0;
                async move {
                    if first {
                        tx.read_opt("/y").await?;
                        tx.read_opt("/y").await?;
                    }
                    tx.write("/y", "1").await
                }
            })
            .await
            .unwrap();
        assert_eq!(runs.load(Ordering::Relaxed), 2);
        assert_eq!(client.read("/y").await.unwrap(), b"1");
    });
}

/// A daemon that is not up yet: `connect` returns at once (it must not
/// block the executor), the calls wait for the daemon, bounded, while the
/// executor goes on running other futures; a monitor watching before the
/// first connection gets its initial event and no `Reconnected`.
fn connect_waits_for_a_daemon_that_starts_later<R: Exec>() {
    bounded(Duration::from_secs(60), || {
        let dir = peer::temp_dir("alate");
        let socket = dir.join("socket");
        let server_socket = socket.clone();
        let starter = thread::spawn(move || {
            thread::sleep(Duration::from_millis(300));
            Server::builder()
                .socket_path(&server_socket)
                .spawn()
                .expect("server")
        });
        R::run(async {
            let t0 = Instant::now();
            let client = reconnecting::<R>(&socket);
            assert!(t0.elapsed() < Duration::from_millis(200), "connect waited");
            let mut monitor = client.monitor();
            // Another future on the same task keeps running while the
            // client waits for the daemon.
            let done = AtomicBool::new(false);
            let ticks = AtomicU32::new(0);
            let work = async {
                monitor.watch("/up", "up").await.unwrap();
                done.store(true, Ordering::Relaxed);
            };
            let ticker = async {
                while !done.load(Ordering::Relaxed) {
                    sleep::<R>(Duration::from_millis(10)).await;
                    ticks.fetch_add(1, Ordering::Relaxed);
                }
            };
            futures_lite::future::zip(work, ticker).await;
            assert!(t0.elapsed() >= Duration::from_millis(250));
            let ticks = ticks.load(Ordering::Relaxed);
            assert!(ticks >= 10, "the executor was blocked: {ticks} ticks");
            let first = next_item(&mut monitor).await.expect("the initial event");
            assert_eq!(first.path, "/up");
            client.write("/up", "1").await.unwrap();
            assert_eq!(next_item(&mut monitor).await.unwrap().path, "/up");
            assert_eq!(client.reconnections(), 0, "the first connection");
        });
        drop(starter.join().unwrap());

        // Without the daemon ever coming, the calls give up at the
        // policy's bound, with the error `connect` would have given.
        R::run(async {
            let client = AsyncClient::<R>::builder()
                .unix(dir.join("never"))
                .reconnect(Reconnect {
                    give_up_after: Some(Duration::from_millis(300)),
                    ..policy()
                })
                .connect()
                .expect("a client waiting for its daemon");
            let t0 = Instant::now();
            let err = client.read("/x").await.unwrap_err();
            assert!(matches!(err, Error::Connect { .. }), "{err:?}");
            assert!(t0.elapsed() < Duration::from_secs(2));
            assert!(client.read("/x").await.unwrap_err().is_disconnected());
        });
    });
}

/// Once the policy gives up on a daemon that went away, every call fails
/// with `Disconnected` and monitor streams end.
fn giving_up_ends_every_call_and_monitor<R: Exec>() {
    bounded(Duration::from_secs(60), || {
        let server = Server::spawn_temp();
        let socket = server.socket_path().to_owned();
        R::run(async {
            let client = AsyncClient::<R>::builder()
                .unix(&socket)
                .reconnect(Reconnect {
                    give_up_after: Some(Duration::from_millis(300)),
                    ..policy()
                })
                .connect()
                .unwrap();
            let mut monitor = client.monitor();
            monitor.watch("/w", "w").await.unwrap();
            next_item(&mut monitor).await.expect("initial event");
            drop(server);
            let t0 = Instant::now();
            let err = client.read("/x").await.unwrap_err();
            assert!(err.is_disconnected(), "{err:?}");
            assert!(t0.elapsed() < Duration::from_secs(2));
            let mut ended = false;
            while let Some(item) = monitor.next().await {
                ended = matches!(item, Err(e) if e.is_disconnected());
            }
            assert!(ended, "the stream ends with the error");
        });
    });
}

/// A daemon that accepts and closes every connection before answering is
/// not hammered: each such connection counts as a failed attempt, and the
/// back-off goes on (without it: thousands of connections a second).
fn a_daemon_closing_at_once_is_not_hammered<R: Exec>() {
    let server = Server::builder()
        .fault(Fault::CloseAfter(0))
        .spawn()
        .expect("server");
    R::run(async {
        let client = AsyncClient::<R>::builder()
            .unix(server.socket_path())
            .timeout(Duration::from_secs(1))
            .reconnect(policy())
            .connect()
            .unwrap();
        let err = client.read("/x").await.unwrap_err();
        assert!(matches!(err, Error::Timeout(_)), "{err:?}");
        let n = client.reconnections();
        assert!((3..30).contains(&n), "{n} connections in 1 s");
    });
}

/// Without the option, behaviour is as before: the first failure is final.
fn without_reconnect_the_client_fails_fast<R: Exec>() {
    let server = Server::builder()
        .fault(Fault::CloseAfter(1))
        .spawn()
        .expect("server");
    R::run(async {
        let client = AsyncClient::<R>::unix(server.socket_path()).unwrap();
        client.read_opt("/x").await.unwrap();
        let t0 = Instant::now();
        let err = client.read_opt("/x").await.unwrap_err();
        assert!(err.is_disconnected(), "{err:?}");
        assert!(client.read_opt("/x").await.unwrap_err().is_disconnected());
        assert!(t0.elapsed() < Duration::from_secs(1), "failed fast");
        assert!(!client.is_connected());
    });
}

/// One `#[test]` per scenario and runtime.
macro_rules! on_runtimes {
    ($($scenario:ident),* $(,)?) => {
        mod on_tokio {
            $(#[test] fn $scenario() { super::$scenario::<super::Tokio>() })*
        }
        mod on_smol {
            $(#[test] fn $scenario() { super::$scenario::<super::Smol>() })*
        }
    };
}

on_runtimes!(
    oxenstored_killed_and_restarted_under_load,
    connections_closed_after_k_requests_lose_nothing,
    reads_are_sent_again_and_writes_report_maybe_applied,
    a_transaction_across_a_reconnection_is_lost_and_transact_runs_it_again,
    connect_waits_for_a_daemon_that_starts_later,
    giving_up_ends_every_call_and_monitor,
    a_daemon_closing_at_once_is_not_hammered,
    without_reconnect_the_client_fails_fast,
);
