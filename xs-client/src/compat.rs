//! A handle shaped like Xen's Python binding `xen.lowlevel.xs`, for people
//! porting code that uses it (or pyxs's `xs` class).
//!
//! Transaction ids are explicit arguments, as in the binding: pass
//! [`XBT_NULL`] (0) outside a transaction. They never stick to the handle
//! (pyxs leaves the last one set on its shared client). Where pyxs and the
//! upstream C binding differ, this follows upstream:
//!
//! | call | here and upstream | pyxs |
//! |---|---|---|
//! | `read` of a missing node | `Ok(None)` | raises |
//! | `ls` of a missing node | `Ok(None)` | `None` |
//! | `get_permissions` | the permissions | nothing (a bug) |
//! | `transaction_end` on `EAGAIN` | `Ok(false)` | `True` |

use xs_wire::{Errno, Perm, Reply, Request};

use crate::protocol::Response;
use crate::store::{call_and_parse, sealed::Sealed};
use crate::{Client, Event, Monitor, Result, Store};

/// The "no transaction" id.
pub const XBT_NULL: u32 = 0;

/// Issues requests in transaction `tx` (possibly 0) on `client`.
struct InTx<'c> {
    client: &'c Client,
    tx: u32,
}

impl Sealed for InTx<'_> {
    fn call(&self, req: &Request<'_>) -> Result<Response> {
        self.client.router().inner().call(req, self.tx)
    }
    fn client(&self) -> &Client {
        self.client
    }
    fn tx_id(&self) -> u32 {
        self.tx
    }
}

impl Store for InTx<'_> {}

/// A `xen.lowlevel.xs`-style handle.
///
/// ```
/// # let _xs = xs_server::Server::spawn_temp();
/// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
/// use xs_client::compat::{Xs, XBT_NULL};
///
/// let xs = Xs::open()?;
/// xs.write(XBT_NULL, "/vm/name", b"guest")?;
/// assert_eq!(xs.read(XBT_NULL, "/vm/name")?, Some(b"guest".to_vec()));
///
/// let t = xs.transaction_start()?;
/// xs.write(t, "/vm/state", b"running")?;
/// if !xs.transaction_end(t, false)? {
///     // EAGAIN: start again
/// }
/// # Ok::<(), xs_client::Error>(())
/// ```
pub struct Xs {
    client: Client,
    monitor: Monitor,
}

impl Xs {
    /// Opens a connection by discovery, like `xs.xs()`.
    pub fn open() -> Result<Xs> {
        Ok(Xs::with_client(Client::open()?))
    }

    /// A handle over an existing client (sharing its connection).
    pub fn with_client(client: Client) -> Xs {
        let monitor = client.monitor();
        Xs { client, monitor }
    }

    fn tx(&self, tx: u32) -> InTx<'_> {
        InTx {
            client: &self.client,
            tx,
        }
    }

    /// A node's value, or `None` if it does not exist.
    pub fn read(&self, tx: u32, path: &str) -> Result<Option<Vec<u8>>> {
        self.tx(tx).read_opt(path)
    }

    /// Writes a value.
    pub fn write(&self, tx: u32, path: &str, value: &[u8]) -> Result<()> {
        self.tx(tx).write(path, value)
    }

    /// Child names, or `None` if the node does not exist.
    pub fn ls(&self, tx: u32, path: &str) -> Result<Option<Vec<String>>> {
        match self.tx(tx).list(path) {
            Ok(names) => Ok(Some(names)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates a node.
    pub fn mkdir(&self, tx: u32, path: &str) -> Result<()> {
        self.tx(tx).mkdir(path)
    }

    /// Removes a subtree.
    pub fn rm(&self, tx: u32, path: &str) -> Result<()> {
        self.tx(tx).delete(path)
    }

    /// A node's permissions, owner first.
    pub fn get_permissions(&self, tx: u32, path: &str) -> Result<Vec<Perm>> {
        self.tx(tx).get_perms(path)
    }

    /// Replaces a node's permissions.
    pub fn set_permissions(&self, tx: u32, path: &str, perms: &[Perm]) -> Result<()> {
        self.tx(tx).set_perms(path, perms)
    }

    /// Watches `path` with `token`.
    pub fn watch(&self, path: &str, token: &str) -> Result<()> {
        self.monitor.watch(path, token)
    }

    /// Blocks for the next event of any of this handle's watches.
    pub fn read_watch(&self) -> Result<Event> {
        self.monitor.wait()
    }

    /// Removes a watch.
    pub fn unwatch(&self, path: &str, token: &str) -> Result<()> {
        self.monitor.unwatch(path, token)
    }

    /// Starts a transaction and returns its id.
    pub fn transaction_start(&self) -> Result<u32> {
        call_and_parse(&self.client, Request::TransactionStart, |r| match r {
            Reply::TransactionId(id) => Some(id),
            _ => None,
        })
    }

    /// Ends transaction `tx`: aborts if `abort`, else commits. `Ok(false)`
    /// on a conflict (`EAGAIN`); the transaction is gone either way.
    pub fn transaction_end(&self, tx: u32, abort: bool) -> Result<bool> {
        let ended = call_and_parse(
            &self.tx(tx),
            Request::TransactionEnd { commit: !abort },
            |r| matches!(r, Reply::Ack).then_some(()),
        );
        match ended {
            Ok(()) => Ok(true),
            Err(e) if e.errno() == Some(Errno::EAGAIN) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// See [`Client::introduce_domain`].
    pub fn introduce_domain(&self, domid: u32, mfn: u64, eventchn: u32) -> Result<()> {
        self.client.introduce_domain(domid, mfn, eventchn)
    }

    /// See [`Client::release_domain`].
    pub fn release_domain(&self, domid: u32) -> Result<()> {
        self.client.release_domain(domid)
    }

    /// See [`Client::resume_domain`].
    pub fn resume_domain(&self, domid: u32) -> Result<()> {
        self.client.resume_domain(domid)
    }

    /// See [`Client::set_target`].
    pub fn set_target(&self, domid: u32, target: u32) -> Result<()> {
        self.client.set_target(domid, target)
    }

    /// See [`Client::get_domain_path`].
    pub fn get_domain_path(&self, domid: u32) -> Result<String> {
        self.client.get_domain_path(domid)
    }

    /// Closes the handle (its watches are removed; the connection closes
    /// unless other clones of its client are alive).
    pub fn close(self) {}
}
