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

use xs_wire::Perm;

use crate::handle::Handle;
use crate::transaction;
use crate::{Client, Event, Monitor, NameList, Result, Store};

/// The "no transaction" id.
///
/// ```
/// # let _xs = xs_server::Server::spawn_temp();
/// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
/// use xs_client::compat::{Xs, XBT_NULL};
///
/// let xs = Xs::open()?;
/// xs.write(XBT_NULL, "/local/domain/0/name", b"Domain-0")?; // outside any transaction
/// # Ok::<(), xs_client::Error>(())
/// ```
pub const XBT_NULL: u32 = 0;

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
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::compat::{Xs, XBT_NULL};
    ///
    /// let xs = Xs::open()?;
    /// assert_eq!(xs.read(XBT_NULL, "/tool/xenstored")?.is_some(), true);
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn open() -> Result<Xs> {
        Ok(Xs::with_client(Client::open()?))
    }

    /// A handle over an existing client (sharing its connection).
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::compat::{Xs, XBT_NULL};
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::open()?;
    /// let xs = Xs::with_client(client.clone()); // same connection
    /// xs.write(XBT_NULL, "/local/domain/1/name", b"guest1")?;
    /// assert_eq!(client.read("/local/domain/1/name")?, b"guest1");
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn with_client(client: Client) -> Xs {
        let monitor = client.monitor();
        Xs { client, monitor }
    }

    fn tx(&self, tx: u32) -> Handle<'_> {
        Handle::new(self.client.router(), tx)
    }

    /// A node's value, or `None` if it does not exist.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::compat::{Xs, XBT_NULL};
    ///
    /// let xs = Xs::open()?;
    /// xs.write(XBT_NULL, "/local/domain/1/name", b"guest1")?;
    /// assert_eq!(xs.read(XBT_NULL, "/local/domain/1/name")?, Some(b"guest1".to_vec()));
    /// assert_eq!(xs.read(XBT_NULL, "/local/domain/1/missing")?, None);
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn read(&self, tx: u32, path: &str) -> Result<Option<Vec<u8>>> {
        self.tx(tx).read_opt(path)
    }

    /// Writes a value.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::compat::{Xs, XBT_NULL};
    ///
    /// let xs = Xs::open()?;
    /// xs.write(XBT_NULL, "/local/domain/0/backend/vif/1/0/state", b"1")?;
    /// assert_eq!(xs.read(XBT_NULL, "/local/domain/0/backend/vif/1/0/state")?, Some(b"1".to_vec()));
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn write(&self, tx: u32, path: &str, value: &[u8]) -> Result<()> {
        self.tx(tx).write(path, value)
    }

    /// Child names, or `None` if the node does not exist.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::compat::{Xs, XBT_NULL};
    ///
    /// let xs = Xs::open()?;
    /// xs.write(XBT_NULL, "/local/domain/1/device/vif/0/state", b"1")?;
    /// assert_eq!(xs.ls(XBT_NULL, "/local/domain/1/device")?, Some(vec!["vif".to_owned()]));
    /// assert_eq!(xs.ls(XBT_NULL, "/local/domain/1/device/vbd")?, None);
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn ls(&self, tx: u32, path: &str) -> Result<Option<Vec<String>>> {
        Ok(self.names(tx, path)?.map(Vec::from))
    }

    /// The child names in the reply's own buffer, or `None` if the node
    /// does not exist (DIRECTORY_PART for a listing too long for one reply).
    fn names(&self, tx: u32, path: &str) -> Result<Option<NameList>> {
        match self.tx(tx).list_names(path) {
            Ok(names) => Ok(Some(names)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// [`Xs::ls`] without a `String` per name: `f` gets the names borrowed
    /// from the reply (one allocation for the slice), as libxenstore's
    /// `xs_directory` hands out one block. A listing too long for one reply
    /// (`E2BIG`) is fetched in parts, as by [`Xs::ls`].
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::compat::{Xs, XBT_NULL};
    ///
    /// let xs = Xs::open()?;
    /// xs.write(XBT_NULL, "/local/domain/1/device/vif/0/state", b"1")?;
    /// let total = xs.ls_with(XBT_NULL, "/local/domain/1/device/vif/0", |names| names.len())?;
    /// assert_eq!(total, Some(1));
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn ls_with<T>(
        &self,
        tx: u32,
        path: &str,
        f: impl FnOnce(&[&str]) -> T,
    ) -> Result<Option<T>> {
        // One DIRECTORY, its names borrowed where they lie: cheaper than
        // keeping the reply as a `NameList` (a second UTF-8 pass).
        let req = xs_wire::Request::Directory {
            path: xs_wire::Path::new(path)?,
        };
        let mut f = Some(f);
        let in_one = self.tx(tx).run(req, |reply| match reply {
            xs_wire::Reply::Directory(names) => {
                let names: Vec<&str> = names.iter().collect();
                f.take().map(|f| f(&names))
            }
            _ => None,
        });
        match in_one {
            Ok(value) => Ok(Some(value)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) if e.errno() == Some(xs_wire::Errno::E2BIG) => {
                let Some(f) = f else { return Err(e) };
                Ok(self
                    .names(tx, path)?
                    .map(|names| f(&names.iter().collect::<Vec<_>>())))
            }
            Err(e) => Err(e),
        }
    }

    /// Creates a node.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::compat::{Xs, XBT_NULL};
    ///
    /// let xs = Xs::open()?;
    /// xs.mkdir(XBT_NULL, "/local/domain/1/data")?;
    /// assert_eq!(xs.read(XBT_NULL, "/local/domain/1/data")?, Some(Vec::new()));
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn mkdir(&self, tx: u32, path: &str) -> Result<()> {
        self.tx(tx).mkdir(path)
    }

    /// Removes a subtree.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::compat::{Xs, XBT_NULL};
    ///
    /// let xs = Xs::open()?;
    /// xs.write(XBT_NULL, "/local/domain/0/backend/vif/1/0/state", b"6")?;
    /// xs.rm(XBT_NULL, "/local/domain/0/backend/vif/1")?;
    /// assert_eq!(xs.ls(XBT_NULL, "/local/domain/0/backend/vif/1")?, None);
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn rm(&self, tx: u32, path: &str) -> Result<()> {
        self.tx(tx).delete(path)
    }

    /// A node's permissions, owner first.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::compat::{Xs, XBT_NULL};
    /// use xs_client::{Access, Perm};
    ///
    /// let xs = Xs::open()?;
    /// xs.write(XBT_NULL, "/local/domain/0/name", b"Domain-0")?;
    /// let perms = xs.get_permissions(XBT_NULL, "/local/domain/0/name")?;
    /// assert_eq!(perms[0], Perm::new(Access::None, 0)); // dom0 owns it
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn get_permissions(&self, tx: u32, path: &str) -> Result<Vec<Perm>> {
        self.tx(tx).get_perms(path)
    }

    /// Replaces a node's permissions.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::compat::{Xs, XBT_NULL};
    /// use xs_client::{Access, Perm};
    ///
    /// let xs = Xs::open()?;
    /// let dir = "/local/domain/1/device/vbd/768";
    /// xs.mkdir(XBT_NULL, dir)?;
    /// // Domain 1 owns its frontend; dom0 may read it.
    /// let perms = [Perm::new(Access::Both, 1), Perm::new(Access::Read, 0)];
    /// xs.set_permissions(XBT_NULL, dir, &perms)?;
    /// assert_eq!(xs.get_permissions(XBT_NULL, dir)?, perms);
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn set_permissions(&self, tx: u32, path: &str, perms: &[Perm]) -> Result<()> {
        self.tx(tx).set_perms(path, perms)
    }

    /// Watches `path` with `token`.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::compat::Xs;
    ///
    /// let xs = Xs::open()?;
    /// xs.watch("/local/domain/1/control/shutdown", "shutdown")?;
    /// assert_eq!(xs.read_watch()?, ("/local/domain/1/control/shutdown", "shutdown"));
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn watch(&self, path: &str, token: &str) -> Result<()> {
        self.monitor.watch(path, token)
    }

    /// Blocks for the next event of any of this handle's watches.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::compat::{Xs, XBT_NULL};
    ///
    /// let xs = Xs::open()?;
    /// xs.watch("/local/domain/1/device", "dev")?;
    /// xs.read_watch()?; // fired at registration
    /// xs.write(XBT_NULL, "/local/domain/1/device/vif/0/state", b"1")?;
    /// let ev = xs.read_watch()?;
    /// assert_eq!((ev.path.as_str(), ev.token.as_str()), ("/local/domain/1/device/vif/0/state", "dev"));
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn read_watch(&self) -> Result<Event> {
        self.monitor.wait()
    }

    /// Like [`Xs::read_watch`], giving up after `timeout` with `Ok(None)`
    /// (the binding's `read_watch` can only block).
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use std::time::Duration;
    /// use xs_client::compat::Xs;
    ///
    /// let xs = Xs::open()?;
    /// xs.watch("/local/domain/1/control/shutdown", "shutdown")?;
    /// assert!(xs.read_watch_timeout(Duration::from_secs(1))?.is_some()); // fired at registration
    /// // Nobody asks the guest to shut down.
    /// assert_eq!(xs.read_watch_timeout(Duration::from_millis(50))?, None);
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn read_watch_timeout(&self, timeout: std::time::Duration) -> Result<Option<Event>> {
        self.monitor.wait_timeout(timeout)
    }

    /// Removes a watch.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::compat::Xs;
    ///
    /// let xs = Xs::open()?;
    /// xs.watch("@releaseDomain", "release")?;
    /// xs.unwatch("@releaseDomain", "release")?;
    /// xs.unwatch("@releaseDomain", "release")?; // gone already: still fine
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn unwatch(&self, path: &str, token: &str) -> Result<()> {
        self.monitor.unwatch(path, token)
    }

    /// Starts a transaction and returns its id.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::compat::{Xs, XBT_NULL};
    ///
    /// let xs = Xs::open()?;
    /// let t = xs.transaction_start()?;
    /// xs.write(t, "/local/domain/1/device/vif/0/state", b"1")?;
    /// assert_eq!(xs.read(XBT_NULL, "/local/domain/1/device/vif/0/state")?, None); // not yet
    /// assert!(xs.transaction_end(t, false)?);
    /// assert!(xs.read(XBT_NULL, "/local/domain/1/device/vif/0/state")?.is_some());
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn transaction_start(&self) -> Result<u32> {
        transaction::start_id(&self.tx(XBT_NULL)).map(|(id, _)| id)
    }

    /// Ends transaction `tx`: aborts if `abort`, else commits. `Ok(false)`
    /// on a conflict (`EAGAIN`); the transaction is gone either way.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::compat::{Xs, XBT_NULL};
    ///
    /// let xs = Xs::open()?;
    /// // The usual retry loop of toolstack code.
    /// loop {
    ///     let t = xs.transaction_start()?;
    ///     let n: u32 = xs.read(t, "/local/domain/0/counter")?
    ///         .map_or(0, |v| String::from_utf8_lossy(&v).parse().unwrap_or(0));
    ///     xs.write(t, "/local/domain/0/counter", (n + 1).to_string().as_bytes())?;
    ///     if xs.transaction_end(t, false)? {
    ///         break; // committed
    ///     }
    /// }
    /// let t = xs.transaction_start()?;
    /// xs.write(t, "/local/domain/0/counter", b"99")?;
    /// xs.transaction_end(t, true)?; // abort
    /// assert_eq!(xs.read(XBT_NULL, "/local/domain/0/counter")?, Some(b"1".to_vec()));
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn transaction_end(&self, tx: u32, abort: bool) -> Result<bool> {
        transaction::conflict_is_false(transaction::end_id(&self.tx(tx), !abort))
    }

    /// See [`Client::introduce_domain`].
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::compat::Xs;
    ///
    /// let xs = Xs::open()?;
    /// xs.introduce_domain(3, 0xfeffc, 1)?;
    /// assert_eq!(xs.get_domain_path(3)?, "/local/domain/3");
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn introduce_domain(&self, domid: u32, mfn: u64, eventchn: u32) -> Result<()> {
        self.client.introduce_domain(domid, mfn, eventchn)
    }

    /// See [`Client::release_domain`].
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::compat::Xs;
    ///
    /// let xs = Xs::open()?;
    /// xs.watch("@releaseDomain", "release")?;
    /// xs.read_watch()?; // fired at registration
    /// xs.introduce_domain(3, 0xfeffc, 1)?;
    /// xs.release_domain(3)?;
    /// assert_eq!(xs.read_watch()?, ("@releaseDomain", "release"));
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn release_domain(&self, domid: u32) -> Result<()> {
        self.client.release_domain(domid)
    }

    /// See [`Client::resume_domain`].
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::compat::Xs;
    ///
    /// let xs = Xs::open()?;
    /// xs.introduce_domain(3, 0xfeffc, 1)?;
    /// xs.resume_domain(3)?;
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn resume_domain(&self, domid: u32) -> Result<()> {
        self.client.resume_domain(domid)
    }

    /// See [`Client::set_target`].
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::compat::Xs;
    ///
    /// let xs = Xs::open()?;
    /// xs.introduce_domain(1, 0xfeffc, 1)?; // the guest
    /// xs.introduce_domain(2, 0xfeffd, 2)?; // its stub device model
    /// xs.set_target(2, 1)?;
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn set_target(&self, domid: u32, target: u32) -> Result<()> {
        self.client.set_target(domid, target)
    }

    /// See [`Client::get_domain_path`].
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::compat::Xs;
    ///
    /// let xs = Xs::open()?;
    /// let home = xs.get_domain_path(7)?;
    /// assert_eq!(home, "/local/domain/7");
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn get_domain_path(&self, domid: u32) -> Result<String> {
        self.client.get_domain_path(domid)
    }

    /// Closes the handle (its watches are removed; the connection closes
    /// unless other clones of its client are alive).
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::compat::Xs;
    ///
    /// let xs = Xs::open()?;
    /// xs.watch("@introduceDomain", "intro")?;
    /// xs.close(); // the watch goes with it
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn close(self) {}
}
