//! Where xenstored is, and how to reach it.
//!
//! libxenstore's `xs_open()` settles this with a few rules that every
//! XenStore tool follows, so scripts and test set-ups that work with the C
//! tools work here too:
//!
//! 1. `$XENSTORED_PATH`, if set, is the only place tried. `stat()` decides
//!    the transport: a socket is connected to, anything else (a character
//!    device, or a path that does not exist yet) is opened as the xenbus
//!    device.
//! 2. Otherwise the daemon's socket, `$XENSTORED_RUNDIR/socket`, or
//!    `/var/run/xenstored/socket` without that variable, if `stat()` says it
//!    is a socket.
//! 3. Otherwise the kernel's xenbus device: on Linux `/dev/xen/xenbus` if it
//!    exists, else `/proc/xen/xenbus` (xenfs); `/kern/xen/xenbus` on NetBSD;
//!    `/dev/xen/xenstore` on FreeBSD; `/dev/xen/xenbus` elsewhere.
//!
//! When connecting fails, the error lists every place looked at, not only
//! the last ([`Endpoint::discover_traced`], used by
//! [`Connection::open`]): "no such file" for `/proc/xen/xenbus` says
//! little when the socket was expected.
//!
//! Two small departures from the C library, both in its spirit: an empty
//! variable counts as unset (`XENSTORED_PATH= cmd` is a common shell
//! accident), and the decision is made once, up front, instead of trying
//! the socket and falling back to the device after a failed connect; a
//! socket that exists but refuses connections is therefore reported as such
//! instead of being masked by a "no such device" from the fallback.

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use xs_wire::{PAYLOAD_MAX, XENBUS_PAYLOAD_MAX};

use crate::{Connection, TransportError};

/// The environment variable that overrides both the socket and the device
/// path.
///
/// ```
/// use xs_transport::endpoint::ENV_PATH;
/// use xs_transport::Endpoint;
///
/// let ep = Endpoint::discover_with(|name| (name == ENV_PATH).then(|| "/dev/xen/xenbus".into()));
/// assert_eq!(ep, Endpoint::Xenbus("/dev/xen/xenbus".into()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const ENV_PATH: &str = "XENSTORED_PATH";
/// The environment variable naming xenstored's run directory (which holds
/// `socket`).
///
/// ```
/// use xs_transport::endpoint::ENV_RUNDIR;
/// use xs_transport::{Endpoint, TransportKind};
///
/// // No socket in /nonexistent: discovery falls back to the device.
/// let ep = Endpoint::discover_with(|name| (name == ENV_RUNDIR).then(|| "/nonexistent".into()));
/// assert_eq!(ep.kind(), TransportKind::Xenbus);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const ENV_RUNDIR: &str = "XENSTORED_RUNDIR";
/// The run directory without `$XENSTORED_RUNDIR`.
///
/// ```
/// use xs_transport::endpoint::DEFAULT_RUNDIR;
///
/// let socket = std::path::Path::new(DEFAULT_RUNDIR).join("socket");
/// assert_eq!(socket, std::path::Path::new("/var/run/xenstored/socket"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const DEFAULT_RUNDIR: &str = "/var/run/xenstored";

/// The two kinds of connection to xenstored.
///
/// ```
/// use xs_transport::{Endpoint, TransportKind};
///
/// let ep = Endpoint::Socket("/var/run/xenstored/socket".into());
/// assert_eq!(ep.kind(), TransportKind::Socket);
/// assert_eq!(Endpoint::device().kind(), TransportKind::Xenbus);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// xenstored's Unix stream socket (dom0 or a driver domain).
    Socket,
    /// The kernel's xenbus character device (`/dev/xen/xenbus` and friends),
    /// which relays messages over the guest's shared ring.
    Xenbus,
}

impl TransportKind {
    /// The largest payload that can be sent: 4096 on a socket, 4080 through
    /// the device (its buffer holds header and payload in 4096 bytes).
    ///
    /// ```
    /// use xs_transport::TransportKind;
    ///
    /// assert_eq!(TransportKind::Socket.max_payload(), 4096);
    /// assert_eq!(TransportKind::Xenbus.max_payload(), 4080);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub const fn max_payload(self) -> usize {
        match self {
            TransportKind::Socket => PAYLOAD_MAX,
            TransportKind::Xenbus => XENBUS_PAYLOAD_MAX,
        }
    }
}

/// A place to connect to: a socket path or a device path.
///
/// # Example
///
/// ```no_run
/// use xs_transport::Endpoint;
///
/// let endpoint = Endpoint::discover();
/// println!("talking to xenstored at {}", endpoint.path().display());
/// let conn = endpoint.connect()?;
/// # Ok::<(), xs_transport::TransportError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// xenstored's Unix stream socket.
    Socket(PathBuf),
    /// The xenbus character device.
    Xenbus(PathBuf),
}

/// What `stat()` says about a path, as far as discovery cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    Socket,
    Other,
    Missing,
}

pub(crate) fn probe_fs(path: &Path) -> Probe {
    match fs::metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => Probe::Socket,
        Ok(_) => Probe::Other,
        Err(_) => Probe::Missing,
    }
}

fn non_empty(value: Option<OsString>) -> Option<OsString> {
    value.filter(|v| !v.is_empty())
}

/// A place discovery looked at and passed over.
///
/// ```
/// use xs_transport::endpoint::{SkipReason, Skipped};
/// let s = Skipped { path: "/var/run/xenstored/socket".into(), reason: SkipReason::Missing };
/// assert_eq!(s.to_string(), "/var/run/xenstored/socket (missing)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Skipped {
    /// The path.
    pub path: PathBuf,
    /// Why it was passed over.
    pub reason: SkipReason,
}

/// Why discovery passed a place over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// Nothing there (`stat()` failed).
    Missing,
    /// Something there, but not a socket (where a socket was looked for).
    NotASocket,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self.reason {
            SkipReason::Missing => "missing",
            SkipReason::NotASocket => "not a socket",
        };
        write!(f, "{} ({why})", self.path.display())
    }
}

impl Skipped {
    /// `a (missing), b (not a socket)`.
    pub(crate) fn list(skipped: &[Skipped]) -> String {
        let parts: Vec<String> = skipped.iter().map(Skipped::to_string).collect();
        parts.join(", ")
    }
}

/// The result of discovery: where to connect, and the places passed over
/// on the way there.
///
/// ```
/// use xs_transport::Endpoint;
/// let found = Endpoint::discover_traced_with(|name| {
///     (name == "XENSTORED_RUNDIR").then(|| "/nonexistent".into())
/// });
/// assert_eq!(found.skipped[0].path, std::path::Path::new("/nonexistent/socket"));
/// let err = found.connect().unwrap_err(); // no device on this machine either
/// assert!(err.to_string().contains("/nonexistent/socket (missing)"), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discovered {
    /// Where to connect.
    pub endpoint: Endpoint,
    /// The places looked at and passed over, in order.
    pub skipped: Vec<Skipped>,
}

impl Discovered {
    /// Connects to [`endpoint`](Discovered::endpoint). A failure is
    /// returned as [`TransportError::Discovery`], listing the places passed
    /// over and keeping the failure at the endpoint as its cause; with
    /// nothing passed over, the failure itself.
    pub fn connect(&self) -> Result<Connection, TransportError> {
        self.endpoint.connect().map_err(|cause| {
            if self.skipped.is_empty() {
                cause
            } else {
                TransportError::Discovery {
                    skipped: self.skipped.clone(),
                    cause: Box::new(cause),
                }
            }
        })
    }
}

fn skipped(path: &Path, probe: Probe) -> Skipped {
    Skipped {
        path: path.to_path_buf(),
        reason: match probe {
            Probe::Missing => SkipReason::Missing,
            Probe::Socket | Probe::Other => SkipReason::NotASocket,
        },
    }
}

/// The discovery rules with the environment and `stat()` passed in.
pub(crate) fn discover_impl(
    env: impl Fn(&str) -> Option<OsString>,
    probe: impl Fn(&Path) -> Probe,
) -> Discovered {
    if let Some(path) = non_empty(env(ENV_PATH)) {
        let path = PathBuf::from(path);
        let endpoint = match probe(&path) {
            Probe::Socket => Endpoint::Socket(path),
            Probe::Other | Probe::Missing => Endpoint::Xenbus(path),
        };
        return Discovered {
            endpoint,
            skipped: Vec::new(),
        };
    }
    let rundir =
        non_empty(env(ENV_RUNDIR)).map_or_else(|| PathBuf::from(DEFAULT_RUNDIR), PathBuf::from);
    let socket = rundir.join("socket");
    let found = probe(&socket);
    if found == Probe::Socket {
        return Discovered {
            endpoint: Endpoint::Socket(socket),
            skipped: Vec::new(),
        };
    }
    let mut passed = vec![skipped(&socket, found)];
    let device = device_path(&probe, &mut passed);
    Discovered {
        endpoint: Endpoint::Xenbus(device),
        skipped: passed,
    }
}

/// The OS's xenbus device path; a device path passed over (Linux's
/// `/dev/xen/xenbus` when missing) is added to `passed`.
fn device_path(probe: &impl Fn(&Path) -> Probe, passed: &mut Vec<Skipped>) -> PathBuf {
    if cfg!(target_os = "linux") {
        let dev = Path::new("/dev/xen/xenbus");
        if probe(dev) != Probe::Missing {
            dev.to_path_buf()
        } else {
            passed.push(skipped(dev, Probe::Missing));
            PathBuf::from("/proc/xen/xenbus")
        }
    } else if cfg!(target_os = "netbsd") {
        PathBuf::from("/kern/xen/xenbus")
    } else if cfg!(target_os = "freebsd") {
        PathBuf::from("/dev/xen/xenstore")
    } else {
        PathBuf::from("/dev/xen/xenbus")
    }
}

impl Endpoint {
    /// Finds xenstored following libxenstore's rules (see the
    /// [module docs](crate::endpoint)) with the process environment.
    ///
    /// This never fails: if nothing exists, the result is the OS's device
    /// path, and [`connect`](Endpoint::connect) reports that it is missing.
    ///
    /// ```
    /// use std::os::unix::net::UnixListener;
    /// use xs_transport::Endpoint;
    ///
    /// # let dir = std::env::temp_dir().join(format!("xs-discover-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let socket = dir.join("socket");
    /// let _daemon = UnixListener::bind(&socket)?;
    /// std::env::set_var("XENSTORED_PATH", &socket); // a socket: used as one
    /// assert_eq!(Endpoint::discover(), Endpoint::Socket(socket));
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn discover() -> Endpoint {
        Endpoint::discover_with(|name| std::env::var_os(name))
    }

    /// Like [`discover`](Endpoint::discover), reading variables through
    /// `env` instead of the process environment (for tests, and for
    /// programs that keep their own configuration).
    ///
    /// ```
    /// use std::ffi::OsString;
    /// use xs_transport::Endpoint;
    /// // /dev/null exists and is not a socket: it is taken as a device.
    /// let ep = Endpoint::discover_with(|name| {
    ///     (name == "XENSTORED_PATH").then(|| OsString::from("/dev/null"))
    /// });
    /// assert_eq!(ep, Endpoint::Xenbus("/dev/null".into()));
    /// ```
    pub fn discover_with(env: impl Fn(&str) -> Option<OsString>) -> Endpoint {
        discover_impl(env, probe_fs).endpoint
    }

    /// Like [`discover`](Endpoint::discover), also returning the places
    /// passed over, so that a failure to connect can name every place
    /// tried ([`Discovered::connect`]). [`Connection::open`] uses it.
    ///
    /// ```no_run
    /// use xs_transport::Endpoint;
    /// match Endpoint::discover_traced().connect() {
    ///     Ok(conn) => println!("connected to {}", conn.peer()),
    ///     // e.g. "cannot connect to xenstored at /proc/xen/xenbus: No such file or
    ///     // directory (os error 2); discovery also tried /var/run/xenstored/socket
    ///     // (missing), /dev/xen/xenbus (missing)"
    ///     Err(e) => eprintln!("{e}"),
    /// }
    /// ```
    pub fn discover_traced() -> Discovered {
        Endpoint::discover_traced_with(|name| std::env::var_os(name))
    }

    /// [`discover_traced`](Endpoint::discover_traced) with the environment
    /// read through `env`.
    pub fn discover_traced_with(env: impl Fn(&str) -> Option<OsString>) -> Discovered {
        discover_impl(env, probe_fs)
    }

    /// The OS's xenbus device, ignoring the environment and any socket.
    ///
    /// ```
    /// use xs_transport::{Endpoint, TransportKind};
    ///
    /// let dev = Endpoint::device();
    /// assert_eq!(dev.kind(), TransportKind::Xenbus);
    /// # #[cfg(target_os = "linux")]
    /// assert!(dev.path().ends_with("xenbus")); // /dev/xen/xenbus or /proc/xen/xenbus
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn device() -> Endpoint {
        Endpoint::Xenbus(device_path(&probe_fs, &mut Vec::new()))
    }

    /// Opens a connection: connects to the socket or opens the device, in
    /// `CLOEXEC` (the device non-blocking, a socket used with `MSG_DONTWAIT`).
    ///
    /// Errors are [`TransportError::Connect`], naming the path.
    ///
    /// ```
    /// use xs_transport::{Endpoint, TransportError};
    ///
    /// let ep = Endpoint::Socket("/nonexistent/xenstored/socket".into());
    /// match ep.connect() {
    ///     Err(TransportError::Connect { path, .. }) => assert_eq!(path, ep.path()),
    ///     other => panic!("unexpected: {other:?}"),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn connect(&self) -> Result<Connection, TransportError> {
        match self {
            Endpoint::Socket(path) => Connection::unix(path),
            Endpoint::Xenbus(path) => Connection::xenbus(path),
        }
    }

    /// The socket or device path.
    ///
    /// ```
    /// use std::path::Path;
    /// use xs_transport::Endpoint;
    ///
    /// let ep = Endpoint::Xenbus("/dev/xen/xenbus".into());
    /// assert_eq!(ep.path(), Path::new("/dev/xen/xenbus"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn path(&self) -> &Path {
        match self {
            Endpoint::Socket(path) | Endpoint::Xenbus(path) => path,
        }
    }

    /// Which transport this endpoint uses.
    ///
    /// ```
    /// use xs_transport::{Endpoint, TransportKind};
    ///
    /// let ep = Endpoint::Socket("/var/run/xenstored/socket".into());
    /// assert_eq!(ep.kind(), TransportKind::Socket);
    /// assert_eq!(ep.kind().max_payload(), 4096);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn kind(&self) -> TransportKind {
        match self {
            Endpoint::Socket(_) => TransportKind::Socket,
            Endpoint::Xenbus(_) => TransportKind::Xenbus,
        }
    }
}
