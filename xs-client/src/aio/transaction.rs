//! Async transactions: the async [`crate::Transaction`].

use std::ops::Deref;
use std::time::Instant;

use xs_wire::Request;

use crate::aio::{AsyncClient, AsyncStore, Runtime};
use crate::handle::parse_call;
use crate::proto::Deadline;
use crate::router::Tx;
use crate::transaction::conflict_is_false;
use crate::{ops, Result, CLEANUP_TIMEOUT};

/// An open transaction of an [`AsyncClient`]: its reads and writes (the
/// [`AsyncStore`] methods, through `Deref`) see a snapshot and its own
/// changes. Dropping it without committing aborts it: the abort is sent
/// without waiting, so a dropped transaction future never leaks one.
///
/// ```
/// # let _xs = xs_server::Server::spawn_temp();
/// # async_io::block_on(async {
/// # #[cfg(feature = "smol")] {
/// let client = xs_client::smol::Client::unix(_xs.socket_path())?;
/// let tx = client.transaction().await?;
/// tx.write("/local/domain/0/backend/vif/1/0/state", "4").await?;
/// assert!(!client.exists("/local/domain/0/backend/vif/1/0/state").await?);
/// assert!(tx.commit().await?);
/// assert!(client.exists("/local/domain/0/backend/vif/1/0/state").await?);
/// # }
/// # Ok::<(), xs_client::Error>(())
/// # }).unwrap();
/// ```
#[must_use = "a transaction is aborted when dropped; call commit()"]
pub struct AsyncTransaction<R: Runtime> {
    store: AsyncStore<R>,
    finished: bool,
}

impl<R: Runtime> AsyncTransaction<R> {
    pub(crate) async fn start(client: &AsyncClient<R>) -> Result<Self> {
        let call = ops::transaction_start();
        let resp = client.response(&call.req).await?;
        let id = parse_call(&call.req, call.parse, &resp)?;
        let mut store = AsyncStore::clone(client);
        store.tx = Tx {
            id,
            epoch: Some(resp.epoch),
        };
        Ok(AsyncTransaction {
            store,
            finished: false,
        })
    }

    /// The daemon's id for this transaction.
    pub fn id(&self) -> u32 {
        self.store.tx.id
    }

    /// Whether the transaction died with a connection that has since been
    /// replaced (reconnecting clients only): every further call on it
    /// fails with [`crate::Error::TransactionLost`]:
    /// [`crate::Transaction::is_lost`].
    pub fn is_lost(&self) -> bool {
        self.store.tx.epoch != Some(self.store.conn.reconnections())
    }

    /// Commits: [`crate::Transaction::commit`]. `Ok(false)` is a conflict
    /// (`EAGAIN`): nothing was applied. Dropping this future does not
    /// withdraw the commit: it still goes out, and its answer is dropped.
    pub async fn commit(mut self) -> Result<bool> {
        conflict_is_false(self.end(true, None).await)
    }

    /// Aborts: [`crate::Transaction::rollback`], waiting at most
    /// [`CLEANUP_TIMEOUT`] (or the client's timeout if shorter).
    pub async fn rollback(mut self) -> Result<()> {
        let limit = self
            .store
            .conn
            .timeout()
            .map_or(CLEANUP_TIMEOUT, |t| t.min(CLEANUP_TIMEOUT));
        let deadline = Deadline::after(Instant::now(), limit);
        self.end(false, deadline).await
    }

    async fn end(&mut self, commit: bool, limit: Option<Deadline>) -> Result<()> {
        self.finished = true;
        let call = ops::transaction_end(commit);
        let reply = self
            .store
            .conn
            .submit(&call.req, self.store.tx, limit)?
            .detach_on_drop();
        let resp = reply.await?;
        parse_call(&call.req, call.parse, &resp)
    }
}

impl<R: Runtime> Deref for AsyncTransaction<R> {
    type Target = AsyncStore<R>;
    fn deref(&self) -> &AsyncStore<R> {
        &self.store
    }
}

impl<R: Runtime> Drop for AsyncTransaction<R> {
    fn drop(&mut self) {
        if !self.finished {
            // Best effort, without waiting: if the connection is gone, so
            // is the transaction.
            let req = Request::TransactionEnd { commit: false };
            self.store.conn.send_detached(&req, self.store.tx);
        }
    }
}

impl<R: Runtime> std::fmt::Debug for AsyncTransaction<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncTransaction")
            .field("id", &self.store.tx.id)
            .finish()
    }
}
