//! The daemons a script can be played against.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Which daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DaemonKind {
    /// This workspace's in-memory server, answering like Xen 4.17 (the
    /// real daemon it is compared with), with oxenstored's initial tree.
    XsServer,
    /// The in-memory server answering like Xen 4.22 (its default), with the
    /// same initial tree: what a 4.17 client meets on a newer host.
    XsServer422,
    /// Debian's `oxenstored` 4.17, under `scripts/oxenstored`.
    Oxenstored,
}

enum Guard {
    Embedded(xs_server::ServerHandle),
    Script { dir: PathBuf, scripts: PathBuf },
}

/// A running daemon, stopped when dropped.
pub struct Daemon {
    /// Which one.
    pub kind: DaemonKind,
    socket: PathBuf,
    guard: Option<Guard>,
}

/// The workspace root (this crate's parent directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

impl Daemon {
    /// Starts a fresh daemon of `kind` on a private socket.
    pub fn start(kind: DaemonKind) -> Result<Daemon, String> {
        match kind {
            DaemonKind::XsServer | DaemonKind::XsServer422 => {
                let version = if kind == DaemonKind::XsServer {
                    xs_server::XenVersion::V4_17
                } else {
                    xs_server::XenVersion::V4_22
                };
                let handle = xs_server::Server::builder()
                    .xen_version(version)
                    .dom0(false)
                    .spawn()
                    .map_err(|e| format!("xs-server: {e}"))?;
                Ok(Daemon {
                    kind,
                    socket: handle.socket_path().to_owned(),
                    guard: Some(Guard::Embedded(handle)),
                })
            }
            DaemonKind::Oxenstored => start_oxenstored(&[]),
        }
    }

    /// Starts oxenstored with extra `key = value` configuration lines.
    pub fn oxenstored_with(conf: &[&str]) -> Result<Daemon, String> {
        start_oxenstored(conf)
    }

    /// The daemon's socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

fn start_oxenstored(conf: &[&str]) -> Result<Daemon, String> {
    let scripts = workspace_root().join("scripts/oxenstored");
    let dir = std::env::temp_dir().join(format!(
        "xs-interop-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let out = Command::new(scripts.join("start"))
        .arg(&dir)
        .env("OXENSTORED_EXTRA_CONF", conf.join("\n"))
        .output()
        .map_err(|e| format!("cannot run scripts/oxenstored/start: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "scripts/oxenstored/start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let socket = stdout
        .lines()
        .last()
        .map(PathBuf::from)
        .ok_or("scripts/oxenstored/start printed no socket path")?;
    Ok(Daemon {
        kind: DaemonKind::Oxenstored,
        socket,
        guard: Some(Guard::Script { dir, scripts }),
    })
}

static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Drop for Daemon {
    fn drop(&mut self) {
        match self.guard.take() {
            Some(Guard::Script { dir, scripts }) => {
                let _ = Command::new(scripts.join("stop")).arg(&dir).output();
                let _ = std::fs::remove_dir_all(&dir);
            }
            Some(Guard::Embedded(handle)) => drop(handle),
            None => {}
        }
    }
}
