//! The node operations an async client and an async transaction share: the
//! async [`crate::Store`], over the same request builders and reply
//! parsers (`ops.rs`, `directory_part.rs`, `walk.rs`, `batch.rs`).

use std::sync::Arc;

use xs_wire::{Op, Path, Perm, Request};

use crate::aio::conn::Conn;
use crate::aio::Runtime;
use crate::batch::{parsed, Action, Pipeline, Prepared};
use crate::directory_part::{Listing, Step};
use crate::handle::{parse_call, raw_payload, value_of};
use crate::ops::{self, Call};
use crate::proto::Response;
use crate::router::Tx;
use crate::walk::{fetched, Tree};
use crate::{NameList, Result, WalkEntry};

/// Node operations, on an [`crate::aio::AsyncClient`] or inside an
/// [`crate::aio::AsyncTransaction`] (both dereference to it): the methods
/// of [`crate::Store`], awaited. Paths are checked before anything is
/// sent; values are bytes.
///
/// ```
/// # let _xs = xs_server::Server::spawn_temp();
/// # async_io::block_on(async {
/// # #[cfg(feature = "smol")] {
/// let client = xs_client::smol::Client::unix(_xs.socket_path())?;
/// client.write("/local/domain/1/device/vif/0/state", "4").await?;
/// assert_eq!(client.read_string("/local/domain/1/device/vif/0/state").await?, "4");
/// assert_eq!(client.read_opt("/local/domain/1/device/vbd").await?, None);
/// let values = client.read_many(&["/local/domain/1/device/vif/0/state", "/nope"]).await;
/// assert!(values[1].as_ref().unwrap_err().is_not_found());
/// for node in client.walk("/local/domain/1").await? {
///     println!("{} = {:?}", node.path, node.value);
/// }
/// # }
/// # Ok::<(), xs_client::Error>(())
/// # }).unwrap();
/// ```
pub struct AsyncStore<R: Runtime> {
    pub(crate) conn: Arc<Conn<R>>,
    /// The transaction (id 0: none) and the connection epoch it belongs to.
    pub(crate) tx: Tx,
}

impl<R: Runtime> Clone for AsyncStore<R> {
    fn clone(&self) -> Self {
        AsyncStore {
            conn: Arc::clone(&self.conn),
            tx: self.tx,
        }
    }
}

impl<R: Runtime> AsyncStore<R> {
    /// Sends `req` and awaits its reply.
    pub(crate) async fn response(&self, req: &Request<'_>) -> Result<Response> {
        self.conn.submit(req, self.tx, None)?.await
    }

    /// Runs one [`Call`].
    pub(crate) async fn call<T>(&self, call: Call<'_, T>) -> Result<T> {
        let resp = self.response(&call.req).await?;
        parse_call(&call.req, call.parse, &resp)
    }

    /// [`crate::Store::read`].
    pub async fn read(&self, path: &str) -> Result<Vec<u8>> {
        let req = Request::Read {
            path: Path::new(path)?,
        };
        value_of(&req, self.response(&req).await?)
    }

    /// [`crate::Store::read_opt`].
    pub async fn read_opt(&self, path: &str) -> Result<Option<Vec<u8>>> {
        match self.read(path).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// [`crate::Store::read_or`].
    pub async fn read_or(&self, path: &str, default: &[u8]) -> Result<Vec<u8>> {
        Ok(self
            .read_opt(path)
            .await?
            .unwrap_or_else(|| default.to_vec()))
    }

    /// [`crate::Store::read_string`].
    pub async fn read_string(&self, path: &str) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.read(path).await?).into_owned())
    }

    /// [`crate::Store::write`].
    pub async fn write(&self, path: &str, value: impl AsRef<[u8]>) -> Result<()> {
        self.call(ops::write(path, value.as_ref())?).await
    }

    /// [`crate::Store::mkdir`].
    pub async fn mkdir(&self, path: &str) -> Result<()> {
        self.call(ops::mkdir(path)?).await
    }

    /// [`crate::Store::delete`].
    pub async fn delete(&self, path: &str) -> Result<()> {
        self.call(ops::delete(path)?).await
    }

    /// [`crate::Store::delete_root`].
    pub async fn delete_root(&self) -> Result<()> {
        self.call(ops::delete_root()).await
    }

    /// [`crate::Store::list`] (DIRECTORY_PART when the list is too big).
    pub async fn list(&self, path: &str) -> Result<Vec<String>> {
        self.list_names(path).await.map(Vec::from)
    }

    /// [`crate::Store::list_names`]: the names in the reply's own buffer.
    pub async fn list_names(&self, path: &str) -> Result<NameList> {
        let (mut listing, mut req) = Listing::new(Path::new(path)?);
        loop {
            let resp = self.response(&req).await;
            match listing.feed(&req, resp) {
                Step::Send(next) => req = next,
                Step::Done(result) => return result,
            }
        }
    }

    /// [`crate::Store::exists`].
    pub async fn exists(&self, path: &str) -> Result<bool> {
        Ok(self.read_opt(path).await?.is_some())
    }

    /// [`crate::Store::get_perms`].
    pub async fn get_perms(&self, path: &str) -> Result<Vec<Perm>> {
        self.call(ops::get_perms(path)?).await
    }

    /// [`crate::Store::set_perms`].
    pub async fn set_perms(&self, path: &str, perms: &[Perm]) -> Result<()> {
        self.call(ops::set_perms(path, perms)?).await
    }

    /// [`crate::Store::walk`]: one pipelined batch per level.
    pub async fn walk(&self, top: &str) -> Result<Vec<WalkEntry>> {
        self.walk_ordered(top, true).await
    }

    /// [`crate::Store::walk_bottom_up`].
    pub async fn walk_bottom_up(&self, top: &str) -> Result<Vec<WalkEntry>> {
        self.walk_ordered(top, false).await
    }

    async fn walk_ordered(&self, top: &str, top_down: bool) -> Result<Vec<WalkEntry>> {
        // The top must exist: list it on its own so a missing one is an error.
        let top_children = self.list(top).await?;
        // An unreadable value reads as empty, as in pyxs.
        let top_value = self.read(top).await.unwrap_or_default();
        let mut tree = Tree::new(top, top_children, top_value);
        while tree.next_level() {
            let replies = self.pipeline(&tree.requests()?, fetched).await;
            for (index, path) in tree.absorb(replies)? {
                let children = self.list(&path).await?;
                tree.set_children(index, children);
            }
        }
        Ok(tree.finish(top_down))
    }

    /// [`crate::Store::read_many`]: pipelined, results in order.
    pub async fn read_many(&self, paths: &[&str]) -> Vec<Result<Vec<u8>>> {
        let prepared = Prepared::new(paths, |p| p, |path, _| Request::Read { path });
        let replies = self.pipeline(&prepared.reqs, value_of).await;
        prepared.merge(replies)
    }

    /// [`crate::Store::list_many`]: pipelined, results in order.
    pub async fn list_many(&self, paths: &[&str]) -> Vec<Result<Vec<String>>> {
        let prepared = Prepared::new(paths, |p| p, |path, _| Request::Directory { path });
        let replies = self.pipeline(&prepared.reqs, parsed(ops::names)).await;
        prepared.merge(replies)
    }

    /// [`crate::Store::write_many`]: pipelined, results in order.
    pub async fn write_many(&self, items: &[(&str, &[u8])]) -> Vec<Result<()>> {
        let prepared = Prepared::new(
            items,
            |(path, _)| path,
            |path, (_, value)| Request::Write { path, value },
        );
        let replies = self.pipeline(&prepared.reqs, parsed(ops::ack)).await;
        prepared.merge(replies)
    }

    /// [`crate::Store::raw_request`].
    pub async fn raw_request(&self, op: Op, payload: &[u8]) -> Result<Vec<u8>> {
        let resp = self.conn.submit_raw(op, payload, self.tx)?.await?;
        raw_payload(op, resp)
    }

    /// Sends every request pipelined, with the sync batches' plan
    /// ([`Pipeline`]), and hands each reply to `finish`; results in
    /// request order.
    async fn pipeline<T>(
        &self,
        reqs: &[Request<'_>],
        finish: impl Fn(&Request<'_>, Response) -> Result<T>,
    ) -> Vec<Result<T>> {
        let mut plan = Pipeline::new(reqs);
        let mut results = Vec::with_capacity(reqs.len());
        loop {
            match plan.step() {
                Action::Send(window) => plan.sent(self.conn.submit_many(&reqs[window], self.tx)),
                Action::Collect(i, reply) => results.push(match reply {
                    Ok(reply) => reply.await.and_then(|resp| finish(&reqs[i], resp)),
                    Err(e) => Err(e),
                }),
                Action::Done => return results,
            }
        }
    }
}
