//! A XenStore client: read, write, list, watch and transact on the tree
//! every Xen host keeps in `xenstored`.
//!
//! ```
//! # let _xs = xs_server::Server::spawn_temp();
//! # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
//! use xs_client::{Client, Store};
//!
//! let client = Client::open()?;
//! client.write("/local/domain/0/data/greeting", "hello")?;
//! let value = client.read("/local/domain/0/data/greeting")?;
//! assert_eq!(value, b"hello");
//!
//! // Transactions retry on conflict.
//! client.transact(|tx| {
//!     let n: u64 = tx.read_string("/counter").unwrap_or_default().parse().unwrap_or(0);
//!     tx.write("/counter", (n + 1).to_string())
//! })?;
//! # Ok::<(), xs_client::Error>(())
//! ```
//!
//! The pieces: [`Client`] (cheap to clone, shared by threads), the [`Store`]
//! operations it shares with [`Transaction`], [`Monitor`] for watches, and
//! [`Router`], the threaded driver that owns the connection. Every wire
//! decision (request ids, encoding, reply matching, watch bookkeeping, the
//! xenbus device's rules, deadlines) is made in one sans-IO state machine,
//! `proto::Core`, which the drivers feed with bytes and time
//! (`docs/architecture.md`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(any(feature = "tokio", feature = "smol"))]
pub mod aio;
mod batch;
mod client;
pub mod compat;
mod directory_part;
mod error;
mod event;
mod features;
mod handle;
mod monitor;
mod name_list;
mod ops;
mod proto;
mod reconnect;
mod reply;
mod router;
mod store;
mod transaction;
mod unexpected;
mod wait_policy;
mod walk;

/// The protocol core, for the fuzzer and benchmarks. **Not a stable API**:
/// anything here may change in any release.
#[doc(hidden)]
pub mod _unstable_core {
    pub use crate::proto::*;
}

/// The async client on tokio (feature `tokio`); see [`aio`].
#[cfg(feature = "tokio")]
pub mod tokio {
    pub use crate::aio::tokio_rt::*;
}

/// The async client on smol, or any executor through async-io (feature
/// `smol`); see [`aio`].
#[cfg(feature = "smol")]
pub mod smol {
    pub use crate::aio::smol_rt::*;
}

pub use batch::{MAX_BYTES_IN_FLIGHT, MAX_DEPTH};
pub use client::{Client, ClientBuilder, DEFAULT_TRANSACT_ATTEMPTS};
pub use error::{Error, Problem, Refusal, Result, Unexpected};
pub use event::Event;
pub use features::Features;
pub use monitor::{monitor, EventIter, Monitor, MonitorOptions, DEFAULT_QUEUE_CAPACITY};
pub use name_list::{NameIter, NameList};
pub use reconnect::Reconnect;
pub use router::{Router, CLEANUP_TIMEOUT, DEFAULT_TIMEOUT};
pub use store::{Store, DOMID_ANY, DOMID_MAX};
pub use transaction::Transaction;
pub use walk::WalkEntry;
pub use xs_transport::TransportKind;
pub use xs_wire::{Access, Errno, Perm};

/// The examples of `docs/tutorial.md`, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/tutorial.md")]
mod tutorial {}
