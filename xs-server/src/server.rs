//! The server: a single-threaded `mio` event loop on Unix sockets, on its
//! own thread, serving one [`Engine`].
//!
//! One thread is enough (oxenstored is single-threaded too) and keeps every
//! request atomic without locks: requests are handled one at a time, in the
//! order they are read; replies on a connection go out in request order
//! (unless [`Fault::ReorderReplies`] says otherwise).
//!
//! Besides the main socket, whose clients are privileged dom0, the server
//! can listen on one extra socket per simulated domain
//! ([`ServerHandle::socket_for_domain`]): clients there act as that
//! unprivileged domain (relative paths resolve to `/local/domain/<domid>`,
//! permissions are checked, privileged operations give `EACCES`), which is
//! how tests exercise permissions through the real protocol without a
//! CONTROL backdoor.
//!
//! The thread is controlled through a command channel and a
//! [`mio::Waker`]: statistics, runtime faults, new domain sockets and
//! shutdown. Dropping the [`ServerHandle`] shuts the loop down, joins the
//! thread and removes the socket files (and the temporary directory of
//! [`Server::spawn_temp`]).

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mio::net::UnixListener;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::engine::{Config, ConnInfo, Engine, Stats};
use crate::fault::{Fault, Faults};
use crate::io::{Client, End};
use crate::quota::Quota;
use crate::version::XenVersion;

const WAKER: Token = Token(0);

/// Entry point: [`Server::builder`] or [`Server::spawn_temp`].
///
/// ```
/// use xs_wire::{Op, Path, Request};
/// use xs_server::Server;
///
/// let server = Server::spawn_temp();
/// let mut sock = server.connect()?;
/// let (op, value) = call(&mut sock, 0, Request::Read { path: Path::new("/tool/xenstored")? });
/// assert_eq!((op, value.as_slice()), (Op::Read, &b"xs-server"[..]));
/// # /// One request on `sock` (in transaction `tx`); the reply's type and payload.
/// # fn call(sock: &mut std::os::unix::net::UnixStream, tx: u32, req: Request<'_>) -> (Op, Vec<u8>) {
/// #     use std::io::{Read, Write};
/// #     let mut buf = [0u8; 4200];
/// #     let n = req.encode(xs_wire::Ids::in_transaction(1, tx), &mut buf).unwrap();
/// #     sock.write_all(&buf[..n]).unwrap();
/// #     let mut got = Vec::new();
/// #     loop {
/// #         let mut chunk = [0u8; 4200];
/// #         let n = sock.read(&mut chunk).unwrap();
/// #         assert!(n > 0, "connection closed");
/// #         got.extend_from_slice(&chunk[..n]);
/// #         if let xs_wire::Status::Complete((f, _)) = xs_wire::decode(&got).unwrap() {
/// #             return (f.header.op, f.payload.to_vec());
/// #         }
/// #     }
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Server;

impl Server {
    /// A builder with defaults: a temporary socket, oxenstored's quotas,
    /// no faults.
    ///
    /// ```
    /// use xs_server::Server;
    ///
    /// // oxenstored's behaviour, but no DIRECTORY_PART and a domain-3 socket.
    /// let server = Server::builder().directory_part(false).domain_socket(3).spawn()?;
    /// assert!(server.socket_for_domain(3).exists());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// Starts a server with defaults on a socket in a fresh temporary
    /// directory (removed when the handle is dropped).
    ///
    /// # Panics
    ///
    /// If the socket cannot be created.
    ///
    /// ```
    /// let server = xs_server::Server::spawn_temp();
    /// assert!(server.socket_path().exists());
    /// ```
    pub fn spawn_temp() -> ServerHandle {
        Server::builder()
            .spawn()
            .expect("cannot start xs-server on a temporary socket")
    }
}

/// Configures and starts a server.
///
/// ```
/// use xs_server::{Fault, Quota, Server};
/// let server = Server::builder()
///     .quota(Quota { max_watches: Some(10), ..Quota::default() })
///     .fault(Fault::FailCommits(1))
///     .domain_socket(5)
///     .spawn()
///     .unwrap();
/// assert!(server.socket_for_domain(5).exists());
/// ```
#[derive(Clone, Debug, Default)]
pub struct ServerBuilder {
    socket_path: Option<PathBuf>,
    config: Config,
    faults: Faults,
    domain_sockets: Vec<u32>,
    verbose: bool,
}

impl ServerBuilder {
    /// Listen at `path` (a stale socket file there is replaced). Without
    /// it, the socket goes into a fresh temporary directory.
    ///
    /// ```
    /// use xs_server::Server;
    ///
    /// let dir = std::env::temp_dir().join(format!("xs-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let server = Server::builder().socket_path(dir.join("socket")).spawn()?;
    /// assert_eq!(server.socket_path(), dir.join("socket"));
    /// server.shutdown(); // removes the socket file, not the directory
    /// assert!(!dir.join("socket").exists());
    /// # std::fs::remove_dir(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn socket_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.socket_path = Some(path.into());
        self
    }

    /// Use these limits.
    ///
    /// ```
    /// use xs_wire::{Op, Path, Request};
    /// use xs_server::{Quota, Server};
    ///
    /// let quota = Quota { max_value_size: Some(16), ..Quota::default() };
    /// let server = Server::builder().quota(quota).spawn()?;
    /// let mut dom0 = server.connect()?;
    /// let path = Path::new("/local/domain/0/data/blob")?;
    /// let (op, err) = call(&mut dom0, 0, Request::Write { path, value: &[b'x'; 17] });
    /// assert_eq!((op, err.as_slice()), (Op::Error, &b"E2BIG\0"[..]));
    /// # /// One request on `sock` (in transaction `tx`); the reply's type and payload.
    /// # fn call(sock: &mut std::os::unix::net::UnixStream, tx: u32, req: Request<'_>) -> (Op, Vec<u8>) {
    /// #     use std::io::{Read, Write};
    /// #     let mut buf = [0u8; 4200];
    /// #     let n = req.encode(xs_wire::Ids::in_transaction(1, tx), &mut buf).unwrap();
    /// #     sock.write_all(&buf[..n]).unwrap();
    /// #     let mut got = Vec::new();
    /// #     loop {
    /// #         let mut chunk = [0u8; 4200];
    /// #         let n = sock.read(&mut chunk).unwrap();
    /// #         assert!(n > 0, "connection closed");
    /// #         got.extend_from_slice(&chunk[..n]);
    /// #         if let xs_wire::Status::Complete((f, _)) = xs_wire::decode(&got).unwrap() {
    /// #             return (f.header.op, f.payload.to_vec());
    /// #         }
    /// #     }
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn quota(mut self, quota: Quota) -> Self {
        self.config.quota = quota;
        self
    }

    /// Switch a fault on (see [`Fault`]).
    ///
    /// ```
    /// use xs_wire::{Op, Path, Request};
    /// use std::io::{Read, Write};
    /// use xs_server::{Fault, Server};
    /// use xs_wire::Ids;
    ///
    /// // A daemon that dies after answering one request per connection.
    /// let server = Server::builder().fault(Fault::CloseAfter(1)).spawn()?;
    /// let mut sock = server.connect()?;
    /// let (op, _) = call(&mut sock, 0, Request::Read { path: Path::new("/tool/xenstored")? });
    /// assert_eq!(op, Op::Read);
    /// let mut buf = [0u8; 64];
    /// let n = Request::Read { path: Path::new("/tool")? }.encode(Ids::new(2), &mut buf)?;
    /// sock.write_all(&buf[..n])?;
    /// assert_eq!(sock.read(&mut buf)?, 0); // closed, unanswered
    /// # /// One request on `sock` (in transaction `tx`); the reply's type and payload.
    /// # fn call(sock: &mut std::os::unix::net::UnixStream, tx: u32, req: Request<'_>) -> (Op, Vec<u8>) {
    /// #     use std::io::{Read, Write};
    /// #     let mut buf = [0u8; 4200];
    /// #     let n = req.encode(xs_wire::Ids::in_transaction(1, tx), &mut buf).unwrap();
    /// #     sock.write_all(&buf[..n]).unwrap();
    /// #     let mut got = Vec::new();
    /// #     loop {
    /// #         let mut chunk = [0u8; 4200];
    /// #         let n = sock.read(&mut chunk).unwrap();
    /// #         assert!(n > 0, "connection closed");
    /// #         got.extend_from_slice(&chunk[..n]);
    /// #         if let xs_wire::Status::Complete((f, _)) = xs_wire::decode(&got).unwrap() {
    /// #             return (f.header.op, f.payload.to_vec());
    /// #         }
    /// #     }
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fault(mut self, fault: Fault) -> Self {
        self.faults.add(fault);
        if let Fault::FailCommits(n) = fault {
            self.config.fail_commits = n;
        }
        self
    }

    /// Answer `DIRECTORY_PART` (default) or, like oxenstored, `ENOSYS`.
    ///
    /// ```
    /// use xs_wire::{Op, Path, Request};
    /// use xs_server::Server;
    ///
    /// // Like oxenstored 4.17: clients must cope without DIRECTORY_PART.
    /// let server = Server::builder().directory_part(false).spawn()?;
    /// let mut sock = server.connect()?;
    /// let req = Request::DirectoryPart { path: Path::new("/tool")?, offset: 0 };
    /// assert_eq!(call(&mut sock, 0, req), (Op::Error, b"ENOSYS\0".to_vec()));
    /// # /// One request on `sock` (in transaction `tx`); the reply's type and payload.
    /// # fn call(sock: &mut std::os::unix::net::UnixStream, tx: u32, req: Request<'_>) -> (Op, Vec<u8>) {
    /// #     use std::io::{Read, Write};
    /// #     let mut buf = [0u8; 4200];
    /// #     let n = req.encode(xs_wire::Ids::in_transaction(1, tx), &mut buf).unwrap();
    /// #     sock.write_all(&buf[..n]).unwrap();
    /// #     let mut got = Vec::new();
    /// #     loop {
    /// #         let mut chunk = [0u8; 4200];
    /// #         let n = sock.read(&mut chunk).unwrap();
    /// #         assert!(n > 0, "connection closed");
    /// #         got.extend_from_slice(&chunk[..n]);
    /// #         if let xs_wire::Status::Complete((f, _)) = xs_wire::decode(&got).unwrap() {
    /// #             return (f.header.op, f.payload.to_vec());
    /// #         }
    /// #     }
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn directory_part(mut self, enabled: bool) -> Self {
        self.config.directory_part = enabled;
        self
    }

    /// Also listen on a socket whose clients act as unprivileged domain
    /// `domid` (more can be added later with
    /// [`ServerHandle::socket_for_domain`]).
    ///
    /// ```
    /// use xs_wire::{Op, Path, Request};
    /// use std::os::unix::net::UnixStream;
    /// use xs_server::Server;
    ///
    /// let server = Server::builder().domain_socket(5).spawn()?;
    /// let mut dom5 = UnixStream::connect(server.socket_for_domain(5))?;
    /// // Unprivileged: dom0's nodes are out of reach.
    /// let req = Request::Read { path: Path::new("/tool/xenstored")? };
    /// assert_eq!(call(&mut dom5, 0, req), (Op::Error, b"EACCES\0".to_vec()));
    /// # /// One request on `sock` (in transaction `tx`); the reply's type and payload.
    /// # fn call(sock: &mut std::os::unix::net::UnixStream, tx: u32, req: Request<'_>) -> (Op, Vec<u8>) {
    /// #     use std::io::{Read, Write};
    /// #     let mut buf = [0u8; 4200];
    /// #     let n = req.encode(xs_wire::Ids::in_transaction(1, tx), &mut buf).unwrap();
    /// #     sock.write_all(&buf[..n]).unwrap();
    /// #     let mut got = Vec::new();
    /// #     loop {
    /// #         let mut chunk = [0u8; 4200];
    /// #         let n = sock.read(&mut chunk).unwrap();
    /// #         assert!(n > 0, "connection closed");
    /// #         got.extend_from_slice(&chunk[..n]);
    /// #         if let xs_wire::Status::Complete((f, _)) = xs_wire::decode(&got).unwrap() {
    /// #             return (f.header.op, f.payload.to_vec());
    /// #         }
    /// #     }
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn domain_socket(mut self, domid: u32) -> Self {
        self.domain_sockets.push(domid);
        self
    }

    /// Answer like the daemon of this Xen release (default
    /// [`XenVersion::V4_22`]); see [`XenVersion`] for what changes.
    ///
    /// ```
    /// use xs_wire::{Op, Request};
    /// use xs_server::{Server, XenVersion};
    ///
    /// // A Xen 4.17 daemon does not know GET_FEATURE.
    /// let server = Server::builder().xen_version(XenVersion::V4_17).spawn()?;
    /// let mut sock = server.connect()?;
    /// let req = Request::GetFeature { domid: None };
    /// assert_eq!(call(&mut sock, 0, req), (Op::Error, b"ENOSYS\0".to_vec()));
    /// // Xen 4.22: ERROR | WATCHDEPTH | DOMID_ANY.
    /// let server = Server::builder().spawn()?;
    /// let mut sock = server.connect()?;
    /// assert_eq!(call(&mut sock, 0, req), (Op::GetFeature, b"14\0".to_vec()));
    /// # /// One request on `sock` (in transaction `tx`); the reply's type and payload.
    /// # fn call(sock: &mut std::os::unix::net::UnixStream, tx: u32, req: Request<'_>) -> (Op, Vec<u8>) {
    /// #     use std::io::{Read, Write};
    /// #     let mut buf = [0u8; 4200];
    /// #     let n = req.encode(xs_wire::Ids::in_transaction(1, tx), &mut buf).unwrap();
    /// #     sock.write_all(&buf[..n]).unwrap();
    /// #     let mut got = Vec::new();
    /// #     loop {
    /// #         let mut chunk = [0u8; 4200];
    /// #         let n = sock.read(&mut chunk).unwrap();
    /// #         assert!(n > 0, "connection closed");
    /// #         got.extend_from_slice(&chunk[..n]);
    /// #         if let xs_wire::Status::Complete((f, _)) = xs_wire::decode(&got).unwrap() {
    /// #             return (f.header.op, f.payload.to_vec());
    /// #         }
    /// #     }
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn xen_version(mut self, version: XenVersion) -> Self {
        self.config.version = version;
        self
    }

    /// Start with a host's dom0 in place (default: `false`; the
    /// `xs-server` binary starts with it):
    /// `/local/domain/0/name` = `Domain-0`, `/local/domain/0/domid` = `0`
    /// (what `xen-init-dom0` writes at boot) and dom0 introduced. With
    /// `false` the tree is that of oxenstored started with
    /// `--no-domain-init` (`/local` empty).
    ///
    /// ```
    /// use xs_wire::{Op, Path, Request};
    /// use xs_server::Server;
    ///
    /// let server = Server::builder().dom0(true).spawn()?;
    /// let mut sock = server.connect()?;
    /// let req = Request::Read { path: Path::new("/local/domain/0/name")? };
    /// assert_eq!(call(&mut sock, 0, req), (Op::Read, b"Domain-0".to_vec()));
    /// let req = Request::IsDomainIntroduced { domid: 0 };
    /// assert_eq!(call(&mut sock, 0, req), (Op::IsDomainIntroduced, b"T\0".to_vec()));
    /// # /// One request on `sock` (in transaction `tx`); the reply's type and payload.
    /// # fn call(sock: &mut std::os::unix::net::UnixStream, tx: u32, req: Request<'_>) -> (Op, Vec<u8>) {
    /// #     use std::io::{Read, Write};
    /// #     let mut buf = [0u8; 4200];
    /// #     let n = req.encode(xs_wire::Ids::in_transaction(1, tx), &mut buf).unwrap();
    /// #     sock.write_all(&buf[..n]).unwrap();
    /// #     let mut got = Vec::new();
    /// #     loop {
    /// #         let mut chunk = [0u8; 4200];
    /// #         let n = sock.read(&mut chunk).unwrap();
    /// #         assert!(n > 0, "connection closed");
    /// #         got.extend_from_slice(&chunk[..n]);
    /// #         if let xs_wire::Status::Complete((f, _)) = xs_wire::decode(&got).unwrap() {
    /// #             return (f.header.op, f.payload.to_vec());
    /// #         }
    /// #     }
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dom0(mut self, dom0: bool) -> Self {
        self.config.dom0 = dom0;
        self
    }

    /// How long a watch event for an unprivileged domain may wait to be
    /// sent before it is dropped (default 20 s, as C xenstored; `None`:
    /// never). Only when imitating Xen 4.22.
    ///
    /// ```
    /// use std::time::Duration;
    /// use xs_server::Server;
    ///
    /// let server = Server::builder().event_timeout(Some(Duration::from_secs(1))).spawn()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn event_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.event_timeout = timeout;
        self
    }

    /// Log connections and errors to stderr.
    ///
    /// ```
    /// use xs_server::Server;
    ///
    /// // Prints "xs-server: listening on ...", connections and errors to stderr.
    /// let server = Server::builder().verbose(true).spawn()?;
    /// let _conn = server.connect()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn verbose(mut self, verbose: bool) -> Self {
        self.verbose = verbose;
        self
    }

    /// Binds the sockets and starts the event loop on its own thread.
    ///
    /// ```
    /// use xs_server::Server;
    ///
    /// let server = Server::builder().spawn()?;
    /// assert!(server.socket_path().exists());
    /// let err = Server::builder().socket_path("/nonexistent/dir/socket").spawn().unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn(self) -> io::Result<ServerHandle> {
        let (socket_path, temp_dir) = match self.socket_path {
            Some(path) => (path, None),
            None => {
                let dir = make_temp_dir()?;
                (dir.join("socket"), Some(dir))
            }
        };
        let cleanup = |e: io::Error| {
            if let Some(dir) = &temp_dir {
                let _ = std::fs::remove_dir_all(dir);
            }
            e
        };
        let poll = Poll::new().map_err(cleanup)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(cleanup)?);
        let mut ev = EventLoop {
            poll,
            engine: Engine::new(self.config),
            faults: self.faults,
            listeners: HashMap::new(),
            clients: HashMap::new(),
            next_token: 1,
            base: socket_path.clone(),
            verbose: self.verbose,
            stop: false,
        };
        ev.listen(&socket_path, ConnInfo::DOM0).map_err(cleanup)?;
        for domid in self.domain_sockets {
            ev.domain_socket(domid).map_err(cleanup)?;
        }
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("xs-server".into())
            .spawn(move || ev.run(rx))
            .map_err(cleanup)?;
        Ok(ServerHandle {
            socket_path,
            temp_dir,
            commands: tx,
            waker,
            thread: Some(thread),
        })
    }
}

/// Makes a fresh private directory under the system's temporary directory.
fn make_temp_dir() -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("xs-server-{}-{n}-{nanos:08x}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
                return Ok(dir);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

enum Command {
    Shutdown,
    Stats(SyncSender<Stats>),
    FailCommits(u64),
    DomainSocket(u32, SyncSender<io::Result<PathBuf>>),
}

/// A running server. Dropping it shuts the server down.
///
/// ```
/// use xs_server::Server;
///
/// let server = Server::spawn_temp();
/// let socket = server.socket_path().to_owned();
/// let _client = server.connect()?;
/// drop(server); // stops the event loop, removes the socket
/// assert!(!socket.exists());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ServerHandle {
    socket_path: PathBuf,
    temp_dir: Option<PathBuf>,
    commands: Sender<Command>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// The main (dom0) socket.
    ///
    /// ```
    /// use xs_server::Server;
    ///
    /// let server = Server::spawn_temp();
    /// // Point libxenstore-style clients (and xs_client::Client::open) at it.
    /// std::env::set_var("XENSTORED_PATH", server.socket_path());
    /// assert!(server.socket_path().ends_with("socket"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn socket_path(&self) -> &Path {
        &self.socket_path
    }

    fn command(&self, command: Command) -> bool {
        self.commands.send(command).is_ok() && self.waker.wake().is_ok()
    }

    /// The socket whose clients act as unprivileged domain `domid`,
    /// created on first use.
    ///
    /// ```
    /// use xs_server::Server;
    ///
    /// let server = Server::spawn_temp();
    /// let dom7 = server.try_socket_for_domain(7)?;
    /// assert_eq!(server.try_socket_for_domain(7)?, dom7); // made once
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_socket_for_domain(&self, domid: u32) -> io::Result<PathBuf> {
        let (tx, rx) = mpsc::sync_channel(1);
        if !self.command(Command::DomainSocket(domid, tx)) {
            return Err(io::Error::other("xs-server is not running"));
        }
        rx.recv()
            .map_err(|_| io::Error::other("xs-server is not running"))?
    }

    /// Like [`try_socket_for_domain`](Self::try_socket_for_domain).
    ///
    /// # Panics
    ///
    /// If the socket cannot be created or the server is gone.
    ///
    /// ```
    /// use xs_wire::{Op, Path, Request};
    /// use std::os::unix::net::UnixStream;
    /// use xs_server::Server;
    ///
    /// let server = Server::spawn_temp();
    /// let mut guest = UnixStream::connect(server.socket_for_domain(1))?;
    /// // Relative paths are under the domain's home, /local/domain/1.
    /// let req = Request::GetDomainPath { domid: 1 };
    /// assert_eq!(call(&mut guest, 0, req), (Op::GetDomainPath, b"/local/domain/1\0".to_vec()));
    /// # /// One request on `sock` (in transaction `tx`); the reply's type and payload.
    /// # fn call(sock: &mut std::os::unix::net::UnixStream, tx: u32, req: Request<'_>) -> (Op, Vec<u8>) {
    /// #     use std::io::{Read, Write};
    /// #     let mut buf = [0u8; 4200];
    /// #     let n = req.encode(xs_wire::Ids::in_transaction(1, tx), &mut buf).unwrap();
    /// #     sock.write_all(&buf[..n]).unwrap();
    /// #     let mut got = Vec::new();
    /// #     loop {
    /// #         let mut chunk = [0u8; 4200];
    /// #         let n = sock.read(&mut chunk).unwrap();
    /// #         assert!(n > 0, "connection closed");
    /// #         got.extend_from_slice(&chunk[..n]);
    /// #         if let xs_wire::Status::Complete((f, _)) = xs_wire::decode(&got).unwrap() {
    /// #             return (f.header.op, f.payload.to_vec());
    /// #         }
    /// #     }
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn socket_for_domain(&self, domid: u32) -> PathBuf {
        self.try_socket_for_domain(domid)
            .unwrap_or_else(|e| panic!("xs-server: no socket for domain {domid}: {e}"))
    }

    /// A new privileged (dom0) client connection.
    ///
    /// ```
    /// use xs_wire::{Op, Path, Request};
    /// use xs_server::Server;
    ///
    /// let server = Server::spawn_temp();
    /// let mut dom0 = server.connect()?;
    /// let req = Request::Write { path: Path::new("/local/domain/0/name")?, value: b"Domain-0" };
    /// assert_eq!(call(&mut dom0, 0, req), (Op::Write, b"OK\0".to_vec()));
    /// # /// One request on `sock` (in transaction `tx`); the reply's type and payload.
    /// # fn call(sock: &mut std::os::unix::net::UnixStream, tx: u32, req: Request<'_>) -> (Op, Vec<u8>) {
    /// #     use std::io::{Read, Write};
    /// #     let mut buf = [0u8; 4200];
    /// #     let n = req.encode(xs_wire::Ids::in_transaction(1, tx), &mut buf).unwrap();
    /// #     sock.write_all(&buf[..n]).unwrap();
    /// #     let mut got = Vec::new();
    /// #     loop {
    /// #         let mut chunk = [0u8; 4200];
    /// #         let n = sock.read(&mut chunk).unwrap();
    /// #         assert!(n > 0, "connection closed");
    /// #         got.extend_from_slice(&chunk[..n]);
    /// #         if let xs_wire::Status::Complete((f, _)) = xs_wire::decode(&got).unwrap() {
    /// #             return (f.header.op, f.payload.to_vec());
    /// #         }
    /// #     }
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn connect(&self) -> io::Result<UnixStream> {
        UnixStream::connect(&self.socket_path)
    }

    /// A new client connection acting as unprivileged domain `domid`.
    ///
    /// ```
    /// let server = xs_server::Server::spawn_temp();
    /// let _dom5 = server.connect_as(5).unwrap();
    /// ```
    pub fn connect_as(&self, domid: u32) -> io::Result<UnixStream> {
        UnixStream::connect(self.try_socket_for_domain(domid)?)
    }

    /// The engine's counters (connections, transactions, watches, ...), as
    /// of the moment the event loop answers. All zero if it is gone.
    ///
    /// ```
    /// use xs_wire::{Op, Path, Request};
    /// use xs_server::Server;
    ///
    /// let server = Server::spawn_temp();
    /// let mut sock = server.connect()?;
    /// let fresh = server.stats().nodes;
    /// let path = Path::new("/local/domain/1/device/vif/0/state")?;
    /// call(&mut sock, 0, Request::Write { path, value: b"1" });
    /// let stats = server.stats();
    /// assert_eq!(stats.connections, 1);
    /// assert_eq!(stats.nodes, fresh + 6); // domain, 1, device, vif, 0 and state
    /// # /// One request on `sock` (in transaction `tx`); the reply's type and payload.
    /// # fn call(sock: &mut std::os::unix::net::UnixStream, tx: u32, req: Request<'_>) -> (Op, Vec<u8>) {
    /// #     use std::io::{Read, Write};
    /// #     let mut buf = [0u8; 4200];
    /// #     let n = req.encode(xs_wire::Ids::in_transaction(1, tx), &mut buf).unwrap();
    /// #     sock.write_all(&buf[..n]).unwrap();
    /// #     let mut got = Vec::new();
    /// #     loop {
    /// #         let mut chunk = [0u8; 4200];
    /// #         let n = sock.read(&mut chunk).unwrap();
    /// #         assert!(n > 0, "connection closed");
    /// #         got.extend_from_slice(&chunk[..n]);
    /// #         if let xs_wire::Status::Complete((f, _)) = xs_wire::decode(&got).unwrap() {
    /// #             return (f.header.op, f.payload.to_vec());
    /// #         }
    /// #     }
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stats(&self) -> Stats {
        let (tx, rx) = mpsc::sync_channel(1);
        if !self.command(Command::Stats(tx)) {
            return Stats::default();
        }
        rx.recv_timeout(Duration::from_secs(10)).unwrap_or_default()
    }

    /// Makes the next `n` commits fail with `EAGAIN`.
    ///
    /// ```
    /// use xs_wire::{Op, Path, Request};
    /// use xs_server::Server;
    ///
    /// let server = Server::spawn_temp();
    /// let mut sock = server.connect()?;
    /// server.fail_next_commits(1);
    /// let (_, id) = call(&mut sock, 0, Request::TransactionStart);
    /// let tx: u32 = std::str::from_utf8(&id[..id.len() - 1])?.parse()?;
    /// let end = call(&mut sock, tx, Request::TransactionEnd { commit: true });
    /// assert_eq!(end, (Op::Error, b"EAGAIN\0".to_vec())); // as after a real conflict
    /// # /// One request on `sock` (in transaction `tx`); the reply's type and payload.
    /// # fn call(sock: &mut std::os::unix::net::UnixStream, tx: u32, req: Request<'_>) -> (Op, Vec<u8>) {
    /// #     use std::io::{Read, Write};
    /// #     let mut buf = [0u8; 4200];
    /// #     let n = req.encode(xs_wire::Ids::in_transaction(1, tx), &mut buf).unwrap();
    /// #     sock.write_all(&buf[..n]).unwrap();
    /// #     let mut got = Vec::new();
    /// #     loop {
    /// #         let mut chunk = [0u8; 4200];
    /// #         let n = sock.read(&mut chunk).unwrap();
    /// #         assert!(n > 0, "connection closed");
    /// #         got.extend_from_slice(&chunk[..n]);
    /// #         if let xs_wire::Status::Complete((f, _)) = xs_wire::decode(&got).unwrap() {
    /// #             return (f.header.op, f.payload.to_vec());
    /// #         }
    /// #     }
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fail_next_commits(&self, n: u64) {
        self.command(Command::FailCommits(n));
    }

    /// Stops the event loop, joins its thread and removes the sockets.
    ///
    /// ```
    /// use std::io::Read;
    /// use xs_server::Server;
    ///
    /// let server = Server::spawn_temp();
    /// let socket = server.socket_path().to_owned();
    /// let mut client = server.connect()?;
    /// server.shutdown();
    /// assert!(!socket.exists());
    /// let mut buf = [0u8; 16];
    /// assert_eq!(client.read(&mut buf)?, 0); // its clients see EOF
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.command(Command::Shutdown);
            let _ = thread.join();
        }
        if let Some(dir) = self.temp_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Listener {
    socket: UnixListener,
    path: PathBuf,
    info: ConnInfo,
}

struct EventLoop {
    poll: Poll,
    engine: Engine,
    faults: Faults,
    listeners: HashMap<Token, Listener>,
    clients: HashMap<Token, Client>,
    next_token: usize,
    base: PathBuf,
    verbose: bool,
    stop: bool,
}

/// Binds a listening socket, replacing a stale socket file.
fn bind(path: &Path) -> io::Result<UnixListener> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if meta.file_type().is_socket() {
            std::fs::remove_file(path)?;
        } else {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
    }
    let socket = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(socket)
}

impl EventLoop {
    fn token(&mut self) -> Token {
        let t = Token(self.next_token);
        self.next_token += 1;
        t
    }

    fn log(&self, what: std::fmt::Arguments<'_>) {
        if self.verbose {
            eprintln!("xs-server: {what}");
        }
    }

    fn listen(&mut self, path: &Path, info: ConnInfo) -> io::Result<()> {
        let mut socket = bind(path)?;
        let token = self.token();
        self.poll
            .registry()
            .register(&mut socket, token, Interest::READABLE)?;
        self.listeners.insert(
            token,
            Listener {
                socket,
                path: path.to_path_buf(),
                info,
            },
        );
        self.log(format_args!(
            "listening on {} as domain {}{}",
            path.display(),
            info.domid,
            if info.privileged { " (privileged)" } else { "" }
        ));
        Ok(())
    }

    fn domain_socket(&mut self, domid: u32) -> io::Result<PathBuf> {
        let info = ConnInfo::domain(domid);
        if let Some(l) = self.listeners.values().find(|l| l.info == info) {
            return Ok(l.path.clone());
        }
        let mut name = self.base.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".dom{domid}"));
        let path = self.base.with_file_name(name);
        self.listen(&path, info)?;
        Ok(path)
    }

    fn run(mut self, commands: Receiver<Command>) {
        let mut events = Events::with_capacity(256);
        while !self.stop {
            let now = Instant::now();
            let runnable = self.clients.values().any(|c| c.can_read(&self.engine));
            let timeout = if runnable {
                Some(Duration::ZERO)
            } else {
                self.clients
                    .values()
                    .filter_map(Client::next_due)
                    .min()
                    .map(|due| due.saturating_duration_since(now))
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                self.log(format_args!("poll failed: {e}"));
                break;
            }
            for event in events.iter() {
                let token = event.token();
                if token == WAKER {
                    self.commands(&commands);
                } else if self.listeners.contains_key(&token) {
                    self.accept(token);
                } else if let Some(client) = self.clients.get_mut(&token) {
                    if event.is_readable() || event.is_read_closed() || event.is_error() {
                        client.want_read = true;
                    }
                }
            }
            self.service();
        }
        self.close_all();
    }

    fn commands(&mut self, commands: &Receiver<Command>) {
        while let Ok(command) = commands.try_recv() {
            match command {
                Command::Shutdown => self.stop = true,
                Command::Stats(reply) => {
                    let mut stats = self.engine.stats();
                    for conn in &mut stats.per_connection {
                        if let Some(c) = self.clients.values().find(|c| c.id == conn.id) {
                            conn.queued += c.staged();
                        }
                    }
                    let _ = reply.send(stats);
                }
                Command::FailCommits(n) => self.engine.fail_next_commits(n),
                Command::DomainSocket(domid, reply) => {
                    let _ = reply.send(self.domain_socket(domid));
                }
            }
        }
    }

    fn accept(&mut self, token: Token) {
        loop {
            let Some(listener) = self.listeners.get(&token) else {
                return;
            };
            let info = listener.info;
            match listener.socket.accept() {
                Ok((stream, _)) => {
                    let id = self.engine.connect(info);
                    let client = match Client::new(stream.into(), id) {
                        Ok(client) => client,
                        Err(e) => {
                            self.engine.disconnect(id);
                            self.log(format_args!("cannot set up a connection: {e}"));
                            continue;
                        }
                    };
                    let ctoken = self.token();
                    let mut client = client;
                    if let Err(e) =
                        self.poll
                            .registry()
                            .register(client.source(), ctoken, Interest::READABLE)
                    {
                        self.engine.disconnect(id);
                        self.log(format_args!("cannot register a connection: {e}"));
                        continue;
                    }
                    self.log(format_args!("connection {id:?} as domain {}", info.domid));
                    self.clients.insert(ctoken, client);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.log(format_args!("accept failed: {e}"));
                    return;
                }
            }
        }
    }

    /// Reads from every client that may have input, then moves everyone's
    /// output along, until nothing changes.
    fn service(&mut self) {
        let tokens: Vec<Token> = self.clients.keys().copied().collect();
        let mut ended: BTreeMap<Token, End> = BTreeMap::new();
        // Reading one client can queue events for others, and writing can
        // unpause readers: go round until quiet (bounded, to stay fair).
        for _ in 0..4 {
            let mut progress = false;
            let now = Instant::now();
            for &token in &tokens {
                if ended.contains_key(&token) {
                    continue;
                }
                let Some(client) = self.clients.get_mut(&token) else {
                    continue;
                };
                if client.can_read(&self.engine) {
                    progress = true;
                    if let Err(end) = client.read(&mut self.engine, &self.faults, now) {
                        ended.insert(token, end);
                        continue;
                    }
                }
            }
            for &token in &tokens {
                if ended.contains_key(&token) {
                    continue;
                }
                let Some(client) = self.clients.get_mut(&token) else {
                    continue;
                };
                if let Err(end) = client.pump(&mut self.engine, &self.faults, now) {
                    ended.insert(token, end);
                    continue;
                }
                let interest = client.interest();
                if interest != client.registered {
                    client.registered = interest;
                    let _ = self
                        .poll
                        .registry()
                        .reregister(client.source(), token, interest);
                }
            }
            if !progress {
                break;
            }
        }
        for (token, end) in ended {
            self.drop_client(token, end);
        }
    }

    fn drop_client(&mut self, token: Token, end: End) {
        if let Some(mut client) = self.clients.remove(&token) {
            let _ = self.poll.registry().deregister(client.source());
            self.engine.disconnect(client.id);
            match end {
                End::Transport(xs_transport::TransportError::Closed) => {
                    self.log(format_args!("connection {:?} closed", client.id))
                }
                other => self.log(format_args!(
                    "connection {:?} dropped: {other:?}",
                    client.id
                )),
            }
        }
    }

    fn close_all(&mut self) {
        for (_, mut client) in self.clients.drain() {
            let _ = self.poll.registry().deregister(client.source());
            self.engine.disconnect(client.id);
        }
        for (_, listener) in self.listeners.drain() {
            let _ = std::fs::remove_file(&listener.path);
        }
        self.log(format_args!("stopped"));
    }
}
