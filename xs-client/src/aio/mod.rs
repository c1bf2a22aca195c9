//! The async client: the same operations as the sync [`crate::Client`],
//! awaited, on tokio ([`crate::tokio`], feature `tokio`) or smol
//! ([`crate::smol`], feature `smol`).
//!
//! ```
//! # let _xs = xs_server::Server::spawn_temp();
//! # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
//! # #[cfg(feature = "tokio")]
//! # ::tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use xs_client::tokio::Client;
//!
//! let client = Client::open()?;
//! client.write("/local/domain/0/data/greeting", "hello").await?;
//! assert_eq!(client.read("/local/domain/0/data/greeting").await?, b"hello");
//!
//! // Many tasks share one connection; their requests are pipelined.
//! let tasks: Vec<_> = (0..8)
//!     .map(|_| {
//!         let client = client.clone();
//!         ::tokio::spawn(async move { client.read("/local/domain/0/data/greeting").await })
//!     })
//!     .collect();
//! for task in tasks {
//!     assert_eq!(task.await.unwrap()?, b"hello");
//! }
//!
//! // Transactions retry on conflict, as with the sync client.
//! client
//!     .transact(|tx| async move {
//!         let n: u64 = tx.read_string("/counter").await.unwrap_or_default().parse().unwrap_or(0);
//!         tx.write("/counter", (n + 1).to_string()).await
//!     })
//!     .await?;
//! # Ok::<(), xs_client::Error>(())
//! # }).unwrap();
//! ```
//!
//! Switching from the sync client is mechanical: the same names
//! ([`AsyncClient`] for `Client`, [`AsyncTransaction`], [`AsyncMonitor`]),
//! the same arguments, the same [`crate::Error`]s, with `.await` after each
//! call. The node operations live on [`AsyncStore`], which both a client
//! and a transaction dereference to, as both implement [`crate::Store`] in
//! the sync API. A monitor is a [`futures_core::Stream`] of events.
//!
//! # How it runs
//!
//! There is no background thread and no background task: the tasks that
//! wait on the connection drive it themselves (see `conn.rs`: whichever
//! waiting task finds nobody reading becomes the reader until its own
//! answer is in). The same protocol core as the sync client makes every
//! wire decision; only the waiting differs. A lone task doing one request
//! at a time writes and reads inline, and many tasks share one connection
//! with their requests pipelined by request id.
//!
//! Since nothing reads while no task waits, watch events sit in the
//! socket until a monitor (or any request) is polled again: keep a task
//! polling each monitor (`while let Some(ev) = monitor.next().await`), as
//! you would with the sync client's `wait`.
//!
//! # Other executors
//!
//! [`Runtime`] is all the driver asks of a reactor: readiness of one fd and
//! a timer. Implement it for another reactor to run the client there with
//! the same costs. Without one, use the smol client ([`crate::smol`], built
//! on async-io): it runs under any executor, because async-io runs its
//! reactor in a thread of its own when no `async_io::block_on` drives it;
//! the cost is that thread's wake-up on each readiness event (a few
//! microseconds a round trip), the hand-off this design otherwise avoids.
//!
//! # Cancellation
//!
//! Every future may be dropped at any await point. A request not yet
//! written is withdrawn; one already written has its late reply dropped,
//! and what that reply created undone (a transaction started, a watch
//! registered). A frame is never left half-written: bytes handed to the
//! transport are written by whichever task drives next (or the connection
//! is declared dead). A dropped [`AsyncTransaction`] sends its abort
//! without waiting, as does a dropped commit; a dropped [`AsyncMonitor`]
//! sends its UNWATCHes the same way.

/// The per-runtime names (`Client`, `Transaction`, `Monitor`,
/// `ClientBuilder`) of the async types on runtime `$rt`.
macro_rules! runtime_facade {
    ($rt:ty, $name:literal) => {
        #[doc = concat!("An async client on ", $name, "; see [`crate::aio::AsyncClient`].")]
        pub type Client = crate::aio::AsyncClient<$rt>;
        #[doc = concat!("A transaction of a ", $name, " [`Client`].")]
        pub type Transaction = crate::aio::AsyncTransaction<$rt>;
        #[doc = concat!("A monitor of a ", $name, " [`Client`]; a `Stream` of events.")]
        pub type Monitor = crate::aio::AsyncMonitor<$rt>;
        #[doc = concat!("The builder of a ", $name, " [`Client`].")]
        pub type ClientBuilder = crate::aio::AsyncClientBuilder<$rt>;
    };
}

mod client;
mod conn;
mod monitor;
mod runtime;
#[cfg(feature = "smol")]
pub(crate) mod smol_rt;
mod store;
#[cfg(feature = "tokio")]
pub(crate) mod tokio_rt;
mod transaction;

pub use client::{AsyncClient, AsyncClientBuilder};
pub use monitor::AsyncMonitor;
pub use runtime::Runtime;
pub use store::AsyncStore;
pub use transaction::AsyncTransaction;
