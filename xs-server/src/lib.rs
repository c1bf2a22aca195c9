//! An in-memory xenstored speaking the real XenStore protocol on a Unix
//! socket, for testing XenStore clients without Xen.
//!
//! The crate has two layers:
//!
//! * [`Engine`]: the whole protocol as a sans-IO state machine. Feed it
//!   request frames, take reply and event frames out. It owns the store
//!   ([`store`] module docs explain the persistent tree),
//!   transactions, watches, domains and quotas.
//! * [`Server`]: a single-threaded `mio` event loop serving an [`Engine`]
//!   on a Unix socket (plus one socket per simulated domain), on its own
//!   thread, with fault injection for client tests.
//!
//! Behaviour follows oxenstored 4.17, the daemon the project's CI runs; the
//! places where it differs from C xenstored or the protocol notes are listed
//! in the [`engine`] module docs. On top of that it speaks the Xen 4.22
//! protocol (features, quotas, watch depth, `DOMID_ANY`), or answers like a
//! 4.17/4.20 daemon ([`XenVersion`], [`ServerBuilder::xen_version`]).
//!
//! # Example
//!
//! ```
//! use std::io::{Read, Write};
//! use xs_server::Server;
//! use xs_wire::{decode, Ids, Path, Reply, Request, Status};
//!
//! let server = Server::spawn_temp();
//! let mut sock = server.connect().unwrap();
//! let req = Request::Read { path: Path::new("/tool/xenstored").unwrap() };
//! let mut buf = [0u8; 64];
//! let n = req.encode(Ids::new(1), &mut buf).unwrap();
//! sock.write_all(&buf[..n]).unwrap();
//!
//! let mut got = Vec::new();
//! let mut chunk = [0u8; 256];
//! let (frame, _) = loop {
//!     let n = sock.read(&mut chunk).unwrap();
//!     got.extend_from_slice(&chunk[..n]);
//!     if let Status::Complete(done) = decode(&got).unwrap() {
//!         break done;
//!     }
//! };
//! assert_eq!(
//!     Reply::parse(req.op(), req.reply_kind(), &frame).unwrap(),
//!     Reply::Value(b"xs-server")
//! );
//! server.shutdown();
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod access;
mod domain;
pub mod engine;
mod error;
pub mod fault;
pub mod features;
mod io;

mod paths;
pub mod quota;
mod server;

pub mod store;
pub mod transaction;
mod version;
pub mod watch;

pub use access::Caller;
pub use domain::DOMID_SELF;
pub use engine::{Config, ConnId, ConnInfo, ConnStats, Engine, Stats};
pub use error::XsError;
pub use fault::Fault;
pub use paths::domain_path;
pub use quota::Quota;
pub use server::{Server, ServerBuilder, ServerHandle};
pub use version::{UnknownVersion, XenVersion};

pub use store::XENSTORED_NAME;
