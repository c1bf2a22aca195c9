//! Interop tooling: raw request scripts, a transcript recorder, and daemons
//! to run them against.
//!
//! A [`Script`] is a list of frames to send, on one or more connections.
//! [`run`] plays it against a daemon's socket and records a
//! [`Transcript`]: every frame each connection received, normalised so that
//! two daemons can be compared line by line (the test's private subtree is
//! written `{r}`, transaction ids `T1`, `T2`, ...). The conformance test plays
//! every script against `xs-server` and the real `oxenstored` and fails on
//! any difference not listed in `docs/conformance.md`. The scripts live in
//! [`scripts::all`]; the `replay` binary plays them against any socket and
//! compares saved transcripts (used against the C `xenstored` in a real Xen
//! dom0 by `scripts/xen-qemu/ci`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod daemon;
mod listed;
mod script;
pub mod scripts;
mod transcript;

pub use daemon::{workspace_root, Daemon, DaemonKind};
pub use listed::listed_steps;
pub use script::{Script, Step, Tx};
pub use transcript::{run, Transcript};
