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
//! operations it shares with [`Transaction`], and [`Router`], which owns the
//! connection and matches replies to callers.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod batch;
mod client;
pub mod compat;
mod directory_part;
mod error;
mod event;
mod monitor;
pub mod protocol;
mod reply;
mod router;
mod store;
mod transaction;
mod walk;

pub use batch::{MAX_BYTES_IN_FLIGHT, MAX_DEPTH};
pub use client::{Client, ClientBuilder, DEFAULT_TRANSACT_ATTEMPTS};
pub use error::{Error, Result};
pub use event::Event;
pub use monitor::{monitor, EventIter, Monitor, MonitorOptions, DEFAULT_QUEUE_CAPACITY};
pub use router::Router;
pub use store::Store;
pub use transaction::Transaction;
pub use walk::WalkEntry;
pub use xs_transport::TransportKind;
pub use xs_wire::{Access, Errno, Perm};

/// The examples of `docs/tutorial.md`, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/tutorial.md")]
mod tutorial {}
