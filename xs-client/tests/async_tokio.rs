//! The async suites on tokio (a multi-threaded runtime of two workers).

mod async_suite;

use std::future::Future;

use async_suite::{Joined, Spawn};
use xs_client::tokio::Tokio;

fn run(f: impl Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(f)
}

struct TokioSpawn;

impl Spawn for TokioSpawn {
    fn spawn(f: impl Future<Output = ()> + Send + 'static) -> Joined {
        let handle = tokio::spawn(f);
        Box::pin(async move { handle.await.expect("the task finished") })
    }
}

async_tests!(run, Tokio, TokioSpawn);

/// `tokio::time::timeout` of zero and of a few microseconds, around every
/// kind of request: each is dropped at whatever await point it reached,
/// and the connection stays usable and leaks nothing.
#[test]
fn tokio_timeouts_of_zero_drop_requests_anywhere() {
    use std::time::Duration;
    use tokio::time::timeout;
    run(async {
        let h = async_suite::common::setup("tokio_timeout");
        let c = async_suite::client::<Tokio>(&h);
        let p = h.path("v");
        c.write(&p, "value").await.unwrap();
        for micros in [0, 0, 1, 5, 20, 50, 100, 200] {
            let d = Duration::from_micros(micros);
            let _ = timeout(d, c.read(&p)).await;
            let _ = timeout(d, c.write(&p, "value")).await;
            let _ = timeout(d, c.list(&h.path(""))).await;
            let _ = timeout(d, c.read_many(&[&p, &p, &p])).await;
            let _ = timeout(d, c.walk(&h.path(""))).await;
            let _ = timeout(d, c.transaction()).await;
            let m = c.monitor();
            let _ = timeout(d, m.watch(&p, "t")).await;
            drop(m);
            let _ = timeout(d, async {
                let tx = c.transaction().await?;
                tx.write(&h.path("tx"), "x").await?;
                tx.rollback().await
            })
            .await;
            tokio::task::yield_now().await;
            assert_eq!(c.read(&p).await.unwrap(), b"value");
        }
        assert!(!c.exists(&h.path("tx")).await.unwrap());
        if let Some(server) = &h.server {
            let until = std::time::Instant::now() + Duration::from_secs(2);
            while server.stats().transactions + server.stats().watches > 0 {
                assert!(std::time::Instant::now() < until, "{:?}", server.stats());
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
}

/// Polls `c.read(p)` once in a poll that has spent the task's tokio
/// budget first (as about 128 ready reads in one poll do: on the xenbus
/// device, with one reply per readiness, a busy task gets there), then to
/// the end; checks the value, and that the first poll came back at once.
async fn read_with_the_budget_spent(c: &xs_client::tokio::Client, p: &str) {
    use std::future::poll_fn;
    use std::pin::pin;
    use std::task::Poll;
    use std::time::{Duration, Instant};
    let mut read = pin!(c.read(p));
    let t0 = Instant::now();
    let first = poll_fn(|cx| {
        while pin!(tokio::task::consume_budget()).poll(cx).is_ready() {}
        Poll::Ready(read.as_mut().poll(cx))
    })
    .await;
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(2), "the poll spun for {took:?}");
    let value = match first {
        Poll::Ready(v) => v,
        Poll::Pending => read.await,
    };
    assert_eq!(value.unwrap(), b"value");
}

/// Issue 16: a request polled when the runtime has taken the task's
/// budget (tokio's reactor then says "not ready" and wakes the task so it
/// yields) gives the thread back instead of reading again and again until
/// its deadline; over the socket and over a device stand-in.
#[test]
fn a_request_polled_with_the_budget_spent_yields_instead_of_spinning() {
    use std::time::Duration;
    let test = || {
        run(async {
            let h = async_suite::common::setup("budget");
            let c = async_suite::client::<Tokio>(&h);
            let p = h.path("v");
            c.write(&p, "value").await.unwrap();
            for _ in 0..3 {
                read_with_the_budget_spent(&c, &p).await;
            }
        })
    };
    test();
    async_suite::over_device(Duration::ZERO, test);
}
