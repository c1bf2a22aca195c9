//! The operations a [`crate::Client`] and a [`crate::Transaction`] share.
//!
//! Both implement [`Store`], so code that reads and writes nodes can take
//! `&impl Store` and run inside or outside a transaction alike.

use xs_wire::{Errno, Path, Perm, PermList, Reply, Request};

use crate::protocol::Response;
use crate::walk::WalkEntry;
use crate::{reply, Error, Result};

pub(crate) mod sealed {
    use super::*;

    /// The plumbing behind [`Store`]; not for use outside the crate.
    pub trait Sealed {
        /// Sends `req` (in this handle's transaction) and waits for the reply.
        fn call(&self, req: &Request<'_>) -> Result<Response>;
        /// The client this handle belongs to.
        fn client(&self) -> &crate::Client;
        /// This handle's transaction id, 0 outside one.
        fn tx_id(&self) -> u32;
    }
}

/// Sends `req` and parses the reply with `f`.
pub(crate) fn run<T>(
    s: &(impl sealed::Sealed + ?Sized),
    req: Request<'_>,
    f: impl FnOnce(Reply<'_>) -> Option<T>,
) -> Result<T> {
    let resp = s.call(&req)?;
    let reply = reply::parse(&req, &resp)?;
    f(reply).ok_or_else(|| {
        Error::UnexpectedPacket(format!("{} reply of the wrong shape", req.op()).into())
    })
}

fn ack(reply: Reply<'_>) -> Option<()> {
    matches!(reply, Reply::Ack).then_some(())
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
        let req = Request::Read {
            path: Path::new(path)?,
        };
        let resp = self.call(&req)?;
        // A READ reply's payload is the value: hand over the buffer itself.
        if resp.header.op == xs_wire::Op::Read {
            return Ok(resp.payload);
        }
        // Anything else is an error reply (or a protocol violation).
        reply::parse(&req, &resp)?;
        Err(Error::UnexpectedPacket(
            "READ reply of the wrong shape".into(),
        ))
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
        let path = Path::new(path)?;
        run(
            self,
            Request::Write {
                path,
                value: value.as_ref(),
            },
            ack,
        )
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
        let path = Path::new(path)?;
        run(self, Request::Mkdir { path }, ack)
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
        let path = Path::new(path)?;
        run(self, Request::Rm { path }, ack)
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
        let p = Path::new(path)?;
        let direct = run(self, Request::Directory { path: p }, |r| match r {
            Reply::Directory(names) => Some(names.iter().map(str::to_owned).collect()),
            _ => None,
        });
        match direct {
            Err(e) if e.errno() == Some(Errno::E2BIG) => {
                crate::directory_part::list_in_parts(self, p)
            }
            other => other,
        }
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
        let path = Path::new(path)?;
        run(self, Request::GetPerms { path }, |r| match r {
            Reply::Perms(list) => Some(list.iter().collect()),
            _ => None,
        })
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
        let path = Path::new(path)?;
        let perms = PermList::new(perms)?;
        run(self, Request::SetPerms { path, perms }, ack)
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
        crate::walk::walk(self, top, true)
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
        crate::walk::walk(self, top, false)
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
        crate::batch::per_path(
            self,
            paths,
            |path| Request::Read { path },
            |r| match r {
                Reply::Value(v) => Some(v.to_vec()),
                _ => None,
            },
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
        crate::batch::per_path(
            self,
            paths,
            |path| Request::Directory { path },
            |r| match r {
                Reply::Directory(n) => Some(n.iter().map(str::to_owned).collect()),
                _ => None,
            },
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
        crate::batch::per_item(
            self,
            items,
            |(path, _)| path,
            |path, (_, value)| Request::Write { path, value },
            ack,
        )
    }
}

pub(crate) use run as call_and_parse;
