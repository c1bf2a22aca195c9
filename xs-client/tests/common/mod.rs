//! One integration suite, two daemons: each test gets the embedded
//! `xs-server` on a temporary socket, or the real daemon named by
//! `XENSTORED_PATH`. Tests that need what only `xs-server` offers (fault
//! injection, DIRECTORY_PART, domains) are named `embedded_only_*`, and the
//! real-daemon run filters them out by name, so cargo's own summary counts
//! what ran against which daemon.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use xs_client::Client;
use xs_server::{Server, ServerHandle};

pub struct Harness {
    /// The embedded server, when no real daemon was named.
    pub server: Option<ServerHandle>,
    pub socket: PathBuf,
    /// A subtree private to this test: `/xs-test/<name>-<pid>-<n>`.
    pub root: String,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// The daemon for one test, and a fresh subtree for it.
pub fn setup(name: &str) -> Harness {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let root = format!("/xs-test/{name}-{}-{n}", std::process::id());
    match std::env::var_os("XENSTORED_PATH") {
        Some(path) => Harness {
            server: None,
            socket: PathBuf::from(path),
            root,
        },
        None => setup_embedded(Server::builder(), root),
    }
}

/// An embedded server with options, whatever `XENSTORED_PATH` says (for
/// `embedded_only_*` tests).
pub fn setup_with(name: &str, builder: xs_server::ServerBuilder) -> Harness {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let root = format!("/xs-test/{name}-{}-{n}", std::process::id());
    setup_embedded(builder, root)
}

fn setup_embedded(builder: xs_server::ServerBuilder, root: String) -> Harness {
    let server = builder.spawn().expect("start xs-server");
    Harness {
        socket: server.socket_path().to_owned(),
        server: Some(server),
        root,
    }
}

impl Harness {
    pub fn client(&self) -> Client {
        connect(self.is_real(), &self.socket).expect("connect")
    }

    /// `rel` under this test's subtree.
    pub fn path(&self, rel: &str) -> String {
        if rel.is_empty() {
            self.root.clone()
        } else {
            format!("{}/{rel}", self.root)
        }
    }

    pub fn is_real(&self) -> bool {
        self.server.is_none()
    }

    pub fn server(&self) -> &ServerHandle {
        self.server
            .as_ref()
            .expect("this test needs the embedded xs-server")
    }
}

/// The embedded server's socket, or the real daemon the way libxenstore
/// finds it: `XENSTORED_PATH` names a socket or the xenbus device.
fn connect(real: bool, socket: &std::path::Path) -> xs_client::Result<Client> {
    if real {
        Client::open()
    } else {
        Client::unix(socket)
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        // Leave a shared real daemon clean.
        if self.is_real() {
            if let Ok(c) = connect(true, &self.socket) {
                let _ = xs_client::Store::delete(&c, &self.root);
            }
        }
    }
}

/// Checks a walk of the batch tests' tree (`/a/b/c`, `/a/b/d`, `/a/e`,
/// `/f` under the walked node), given as paths relative to it: all seven
/// nodes, each parent before its children (`parents_first`, a pre-order
/// walk: the top first) or after them (post-order: the top last). Sibling
/// order is the daemon's, so only the shape is checked.
pub fn assert_walk_shape(paths: &[String], parents_first: bool) {
    let pos = |p: &str| paths.iter().position(|x| x == p).unwrap();
    assert_eq!(paths.len(), 7, "{paths:?}");
    let top = if parents_first { 0 } else { 6 };
    assert_eq!(paths[top], "", "{paths:?}");
    for (parent, child) in [
        ("", "/a"),
        ("/a", "/a/b"),
        ("/a/b", "/a/b/c"),
        ("/a/b", "/a/b/d"),
        ("/a", "/a/e"),
        ("", "/f"),
    ] {
        assert_eq!(
            pos(parent) < pos(child),
            parents_first,
            "{parent} and {child}: {paths:?}"
        );
    }
}
