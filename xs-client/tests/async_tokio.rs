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
