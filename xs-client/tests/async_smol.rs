//! The async suites on smol.

mod async_suite;

use std::future::Future;

use async_suite::{Joined, Spawn};
use xs_client::smol::Smol;

fn run(f: impl Future<Output = ()>) {
    smol::block_on(f)
}

struct SmolSpawn;

impl Spawn for SmolSpawn {
    fn spawn(f: impl Future<Output = ()> + Send + 'static) -> Joined {
        Box::pin(smol::spawn(f))
    }
}

async_tests!(run, Smol, SmolSpawn);
