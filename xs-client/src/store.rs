//! The operations a [`crate::Client`] and a [`crate::Transaction`] share.
//!
//! Both implement [`Store`], so code that reads and writes nodes can take
//! `&impl Store` and run inside or outside a transaction alike. Every
//! operation is written once, over the [`Handle`] each implementor gives.

use xs_wire::{Op, Path, Perm, Request};

use crate::error::Refusal;
use crate::handle::value_of;
use crate::walk::WalkEntry;
use crate::{batch, directory_part, ops, walk, Error, NameList, Result};

pub(crate) mod sealed {
    /// The plumbing behind [`super::Store`]; not for use outside the crate.
    pub trait Sealed {
        /// The handle requests go through: this client's router and
        /// transaction id.
        #[doc(hidden)]
        fn handle(&self) -> crate::handle::Handle<'_>;
    }
}

/// The highest domain id a permission or domain operation may name:
/// domids are 16-bit and 0x7FF0 (`DOMID_FIRST_RESERVED`) and up are special.
pub const DOMID_MAX: u32 = 0x7FEF;

/// The 4.22 permission entry that matches every domain.
pub const DOMID_ANY: u32 = 0x7FF5;

/// Refuses a domain id a domain operation must not name.
pub(crate) fn check_domid(domid: u32) -> Result<()> {
    if domid > DOMID_MAX {
        return Err(Error::Refused(Refusal::DomainId(domid)));
    }
    Ok(())
}

/// Node operations, on a [`crate::Client`] or inside a
/// [`crate::Transaction`]. Paths are checked before anything is sent; values
/// are bytes.
///
/// ```
/// # let _xs = xs_server::Server::spawn_temp();
/// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
/// use xs_client::{Client, Store};
///
/// let client = Client::open()?;
/// client.write("/vm/demo/name", "demo")?;
/// assert_eq!(client.read("/vm/demo/name")?, b"demo");
/// assert_eq!(client.list("/vm/demo")?, ["name"]);
/// client.delete("/vm/demo")?;
/// # Ok::<(), xs_client::Error>(())
/// ```
pub trait Store: sealed::Sealed {
    /// A node's value; [`Error::Daemon`] with `ENOENT` if it is missing.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::open()?;
    /// client.write("/local/domain/1/name", "guest1")?;
    /// assert_eq!(client.read("/local/domain/1/name")?, b"guest1");
    /// let err = client.read("/local/domain/1/no-such-node").unwrap_err();
    /// assert!(err.is_not_found());
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    fn read(&self, path: &str) -> Result<Vec<u8>> {
        self.handle().read(path)
    }

    /// A node's value, or `None` if it does not exist.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::open()?;
    /// client.write("/local/domain/1/device/vif/0/state", "4")?;
    /// let state = client.read_opt("/local/domain/1/device/vif/0/state")?;
    /// assert_eq!(state.as_deref(), Some(&b"4"[..]));
    /// assert_eq!(client.read_opt("/local/domain/1/device/vbd/768/state")?, None);
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    fn read_opt(&self, path: &str) -> Result<Option<Vec<u8>>> {
        match self.read(path) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A node's value, or `default` if it does not exist.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::open()?;
    /// // A backend nobody has set up yet counts as XenbusStateInitialising (1).
    /// let state = client.read_or("/local/domain/0/backend/vif/1/0/state", b"1")?;
    /// assert_eq!(state, b"1");
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    fn read_or(&self, path: &str, default: &[u8]) -> Result<Vec<u8>> {
        Ok(self.read_opt(path)?.unwrap_or_else(|| default.to_vec()))
    }

    /// A node's value as text (invalid UTF-8 is replaced).
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::open()?;
    /// client.write("/local/domain/0/name", "Domain-0")?;
    /// assert_eq!(client.read_string("/local/domain/0/name")?, "Domain-0");
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    fn read_string(&self, path: &str) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.read(path)?).into_owned())
    }

    /// Sets a node's value, creating it and any missing parents.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::open()?;
    /// // Missing parents are created on the way.
    /// client.write("/local/domain/0/backend/vbd/1/51712/state", "1")?;
    /// client.write("/local/domain/0/backend/vbd/1/51712/mode", b"w")?;
    /// assert!(client.exists("/local/domain/0/backend/vbd/1")?);
    /// assert_eq!(client.read("/local/domain/0/backend/vbd/1/51712/mode")?, b"w");
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    fn write(&self, path: &str, value: impl AsRef<[u8]>) -> Result<()> {
        self.handle().exec(ops::write(path, value.as_ref())?)
    }

    /// Creates a node (and missing parents) with an empty value; succeeds if
    /// it exists already, leaving its value alone.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::open()?;
    /// client.mkdir("/local/domain/1/device")?;
    /// assert_eq!(client.read("/local/domain/1/device")?, b"");
    /// client.write("/local/domain/1/name", "guest1")?;
    /// client.mkdir("/local/domain/1/name")?; // exists: value kept
    /// assert_eq!(client.read("/local/domain/1/name")?, b"guest1");
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    fn mkdir(&self, path: &str) -> Result<()> {
        self.handle().exec(ops::mkdir(path)?)
    }

    /// Removes a node and everything below it. Succeeds if the node is
    /// already gone but its parent exists; `ENOENT` if the parent is missing.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::open()?;
    /// client.write("/local/domain/0/backend/vif/1/0/state", "6")?;
    /// client.delete("/local/domain/0/backend/vif/1")?;
    /// assert!(!client.exists("/local/domain/0/backend/vif/1/0/state")?);
    /// client.delete("/local/domain/0/backend/vif/1")?; // already gone: fine
    /// assert!(client.delete("/local/domain/9/no/parent").unwrap_err().is_not_found());
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    fn delete(&self, path: &str) -> Result<()> {
        self.handle().exec(ops::delete(path)?)
    }

    /// The names of a node's children (empty for a leaf). A listing too big
    /// for one reply (`E2BIG`) is fetched in parts with DIRECTORY_PART, as
    /// libxenstore does.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::open()?;
    /// client.write("/local/domain/1/device/vif/0/state", "1")?;
    /// client.write("/local/domain/1/device/vif/1/state", "1")?;
    /// let mut vifs = client.list("/local/domain/1/device/vif")?;
    /// vifs.sort();
    /// assert_eq!(vifs, ["0", "1"]);
    /// assert!(client.list("/local/domain/1/device/vif/0/state")?.is_empty());
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    fn list(&self, path: &str) -> Result<Vec<String>> {
        self.list_names(path).map(Vec::from)
    }

    /// [`Store::list`] without a `String` per name: the names stay in the
    /// reply's own buffer, one allocation per listing whatever the number
    /// of children (as libxenstore's `xs_directory` returns one block).
    /// For listings that are only looked through, and for big directories.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::open()?;
    /// client.write("/local/domain/1/device/vif/0/state", "1")?;
    /// let vifs = client.list_names("/local/domain/1/device/vif")?;
    /// assert_eq!(vifs, ["0"]);
    /// assert!(vifs.iter().all(|id| id.parse::<u32>().is_ok()));
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    fn list_names(&self, path: &str) -> Result<NameList> {
        directory_part::list(&self.handle(), Path::new(path)?)
    }

    /// Whether a node exists.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::open()?;
    /// client.write("/local/domain/1/control/shutdown", "")?;
    /// assert!(client.exists("/local/domain/1/control/shutdown")?);
    /// assert!(!client.exists("/local/domain/1/control/sysrq")?);
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    fn exists(&self, path: &str) -> Result<bool> {
        Ok(self.read_opt(path)?.is_some())
    }

    /// A node's permissions; the first entry is the owner and the default.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::open()?;
    /// use xs_client::{Access, Perm};
    /// client.write("/local/domain/0/name", "Domain-0")?;
    /// let perms = client.get_perms("/local/domain/0/name")?;
    /// // Made by dom0: owned by dom0, nobody else may look.
    /// assert_eq!(perms, [Perm::new(Access::None, 0)]);
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    fn get_perms(&self, path: &str) -> Result<Vec<Perm>> {
        self.handle().exec(ops::get_perms(path)?)
    }

    /// Replaces a node's permissions; `perms[0]` becomes the owner and the
    /// default for unlisted domains.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::open()?;
    /// use xs_client::{Access, Perm};
    /// // Hand a frontend directory to domain 1, readable by the backend in dom0.
    /// let dir = "/local/domain/1/device/vif/0";
    /// client.mkdir(dir)?;
    /// client.set_perms(dir, &[Perm::new(Access::Both, 1), Perm::new(Access::Read, 0)])?;
    /// assert_eq!(client.get_perms(dir)?[0], Perm::new(Access::Both, 1));
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    fn set_perms(&self, path: &str, perms: &[Perm]) -> Result<()> {
        self.handle().exec(ops::set_perms(path, perms)?)
    }

    /// The subtree under `top`, parents before children. A level of the
    /// tree is fetched as one pipelined batch, so this costs one round trip
    /// per level, not two per node.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::open()?;
    /// # client.write("/local/domain/0/name", "Domain-0")?;
    /// for node in client.walk("/local/domain/0")? {
    ///     println!("{} = {:?}", node.path, String::from_utf8_lossy(&node.value));
    /// }
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    fn walk(&self, top: &str) -> Result<Vec<WalkEntry>> {
        walk::walk(&self.handle(), top, true)
    }

    /// Like [`Store::walk`], children before parents at every depth.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::open()?;
    /// client.write("/local/domain/0/backend/vif/1/0/state", "4")?;
    /// let nodes = client.walk_bottom_up("/local/domain/0/backend")?;
    /// // Children first: safe order for tearing a subtree down node by node.
    /// assert_eq!(nodes[0].path, "/local/domain/0/backend/vif/1/0/state");
    /// assert_eq!(nodes.last().unwrap().path, "/local/domain/0/backend");
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    fn walk_bottom_up(&self, top: &str) -> Result<Vec<WalkEntry>> {
        walk::walk(&self.handle(), top, false)
    }

    /// Reads many nodes with the requests pipelined; results in order.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::open()?;
    /// let values = client.read_many(&["/a", "/b", "/c"]);
    /// for v in values {
    ///     println!("{:?}", v.ok());
    /// }
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    fn read_many(&self, paths: &[&str]) -> Vec<Result<Vec<u8>>> {
        batch::per_path(
            &self.handle(),
            paths,
            |path| Request::Read { path },
            value_of,
        )
    }

    /// Lists many nodes with the requests pipelined; results in order.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::open()?;
    /// client.write("/local/domain/1/device/vif/0/state", "4")?;
    /// client.write("/local/domain/1/device/vbd/768/state", "4")?;
    /// let lists = client.list_many(&["/local/domain/1/device/vif", "/local/domain/1/device/vbd"]);
    /// assert_eq!(lists[0].as_ref().unwrap(), &["0"]);
    /// assert_eq!(lists[1].as_ref().unwrap(), &["768"]);
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    fn list_many(&self, paths: &[&str]) -> Vec<Result<Vec<String>>> {
        batch::per_path(
            &self.handle(),
            paths,
            |path| Request::Directory { path },
            batch::parsed(ops::names),
        )
    }

    /// Writes many nodes with the requests pipelined; results in order.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::open()?;
    /// let be = "/local/domain/0/backend/vif/1/0";
    /// let results = client.write_many(&[
    ///     ("/local/domain/0/backend/vif/1/0/frontend-id", b"1"),
    ///     ("/local/domain/0/backend/vif/1/0/state", b"2"),
    /// ]);
    /// assert!(results.iter().all(|r| r.is_ok()));
    /// assert_eq!(client.read(&format!("{be}/state"))?, b"2");
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    fn write_many(&self, items: &[(&str, &[u8])]) -> Vec<Result<()>> {
        batch::per_item(
            &self.handle(),
            items,
            |(path, _)| path,
            |path, (_, value)| Request::Write { path, value },
            batch::parsed(ops::ack),
        )
    }

    /// Deletes every node, `/` included: what `delete("/")` refuses to do
    /// by accident. The C xenstored answers `EINVAL`; oxenstored empties
    /// the store.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Error, Store};
    ///
    /// let client = Client::open()?;
    /// assert!(matches!(client.delete("/"), Err(Error::Refused(_))));
    /// let _ = client.delete_root(); // meant it
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    fn delete_root(&self) -> Result<()> {
        self.handle().exec(ops::delete_root())
    }

    /// Sends any request, as pyxs's `execute_command` does: `op` and the
    /// payload exactly as given (only its length is checked), in this
    /// handle's transaction, pipelined and matched like every other
    /// request. Returns the reply's payload; an error reply is
    /// [`Error::Daemon`] with the daemon's error name. For protocol
    /// tooling: a raw WATCH registers nothing with the client, so its
    /// events reach only monitors that watch the same token.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    /// use xs_wire::Op;
    ///
    /// let client = Client::open()?;
    /// client.write("/vm/1/name", "one")?;
    /// assert_eq!(client.raw_request(Op::Read, b"/vm/1/name\0")?, b"one");
    /// let err = client.raw_request(Op::Read, b"/vm/2/name\0").unwrap_err();
    /// assert!(err.is_not_found());
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    fn raw_request(&self, op: Op, payload: &[u8]) -> Result<Vec<u8>> {
        self.handle().raw(op, payload)
    }
}
