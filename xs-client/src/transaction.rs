//! Transactions: a guard that aborts on drop, and a retry loop.
//!
//! xenstored transactions are optimistic: reads and writes run on a
//! snapshot, and the commit fails with `EAGAIN` if a node the transaction
//! *read* changed meanwhile. The transaction is gone after the commit
//! whatever the answer, so a retry starts from scratch; [`crate::Client::transact`]
//! does that for you.

use xs_wire::{Errno, Request};

use crate::handle::{parse_call, Handle};
use crate::router::Tx;
use crate::store::sealed::Sealed;
use crate::{ops, reply, Client, Error, Result, Router, Store};

/// An open transaction. Reads and writes through it (the [`Store`] methods)
/// see a snapshot and its own changes; others see nothing until
/// [`Transaction::commit`]. Dropping it without committing aborts it on the
/// daemon, so it never leaks.
///
/// ```
/// # let _xs = xs_server::Server::spawn_temp();
/// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
/// use xs_client::{Client, Store};
///
/// let client = Client::open()?;
/// # client.write("/counter", "0")?;
/// let tx = client.transaction()?;
/// let n: u64 = tx.read_string("/counter")?.parse().unwrap_or(0);
/// tx.write("/counter", (n + 1).to_string())?;
/// if !tx.commit()? {
///     println!("conflict: somebody changed /counter, try again");
/// }
/// # Ok::<(), xs_client::Error>(())
/// ```
#[must_use = "a transaction is aborted when dropped; call commit()"]
pub struct Transaction<'c> {
    client: &'c Client,
    id: u32,
    /// The connection epoch it was opened in.
    epoch: u64,
    finished: bool,
}

impl<'c> Transaction<'c> {
    pub(crate) fn start(client: &'c Client) -> Result<Transaction<'c>> {
        let (id, epoch) = start_id(&Handle::new(client.router(), 0))?;
        Ok(Transaction {
            client,
            id,
            epoch,
            finished: false,
        })
    }

    /// The daemon's id for this transaction.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::open()?;
    /// let tx = client.transaction()?;
    /// assert_ne!(tx.id(), 0); // 0 means "no transaction" on the wire
    /// tx.rollback()?;
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Whether the transaction died with a connection that has since been
    /// replaced (reconnecting clients only): every further call on it
    /// fails with [`Error::TransactionLost`].
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// let client = xs_client::Client::open()?;
    /// let tx = client.transaction()?;
    /// assert!(!tx.is_lost());
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn is_lost(&self) -> bool {
        self.client.router().reconnections() != self.epoch
    }

    fn tx(&self) -> Tx {
        Tx {
            id: self.id,
            epoch: Some(self.epoch),
        }
    }

    fn end(&mut self, commit: bool) -> Result<()> {
        self.finished = true;
        if commit {
            end_id(&self.handle(), true)
        } else {
            abort(self.client.router(), self.tx())
        }
    }

    /// Commits. `Ok(false)` means a conflict (`EAGAIN`): nothing was
    /// applied and the transaction is gone; start a new one to retry.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::open()?;
    /// let tx = client.transaction()?;
    /// tx.write("/local/domain/0/backend/vif/1/0/state", "4")?;
    /// assert!(tx.commit()?);
    /// _xs.fail_next_commits(1); // pretend another writer got in first
    /// let tx = client.transaction()?;
    /// tx.write("/local/domain/0/backend/vif/1/0/state", "5")?;
    /// assert!(!tx.commit()?); // conflict: nothing applied
    /// assert_eq!(client.read("/local/domain/0/backend/vif/1/0/state")?, b"4");
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn commit(mut self) -> Result<bool> {
        conflict_is_false(self.end(true))
    }

    /// Aborts, discarding every change. Waits for the daemon's answer at
    /// most [`crate::CLEANUP_TIMEOUT`] (or the client's timeout if
    /// shorter); past that it returns [`Error::Timeout`] and the late answer
    /// is dropped when it comes.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::open()?;
    /// let tx = client.transaction()?;
    /// tx.write("/local/domain/1/device/vif/0/state", "1")?;
    /// tx.rollback()?; // changed our mind
    /// assert!(!client.exists("/local/domain/1/device/vif/0/state")?);
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn rollback(mut self) -> Result<()> {
        self.end(false)
    }
}

/// Sends TRANSACTION_START; the new transaction's id and the connection
/// epoch it belongs to.
pub(crate) fn start_id(h: &Handle<'_>) -> Result<(u32, u64)> {
    let call = ops::transaction_start();
    let resp = h.call(&call.req)?;
    let id = parse_call(&call.req, call.parse, &resp)?;
    Ok((id, resp.epoch))
}

/// Sends TRANSACTION_END (commit or abort) and waits like any request.
pub(crate) fn end_id(h: &Handle<'_>, commit: bool) -> Result<()> {
    h.exec(ops::transaction_end(commit))
}

/// Aborts transaction `tx_id`, waiting at most the cleanup bound. In a
/// forked child nothing is sent.
pub(crate) fn abort(router: &Router, tx: Tx) -> Result<()> {
    if router.is_forked() {
        return Err(Error::Forked);
    }
    let req = Request::TransactionEnd { commit: false };
    match router.call_cleanup(&req, tx) {
        Some(resp) => reply::parse(&req, &resp?).map(drop),
        None => Err(Error::Timeout(router.cleanup_deadline().limit)),
    }
}

/// Whether `transact` runs its closure again after a commit that ended
/// so: a conflict, or the transaction lost with its connection
/// (reconnecting clients). Otherwise the commit's result is final.
pub(crate) fn commit_retries(committed: &Result<bool>) -> bool {
    matches!(committed, Ok(false) | Err(Error::TransactionLost { .. }))
}

/// Maps a commit's `EAGAIN` to `Ok(false)`.
pub(crate) fn conflict_is_false(ended: Result<()>) -> Result<bool> {
    match ended {
        Ok(()) => Ok(true),
        Err(e) if e.errno() == Some(Errno::EAGAIN) => Ok(false),
        Err(e) => Err(e),
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.finished {
            // Best effort: if the connection is gone, so is the transaction.
            let _ = self.end(false);
        }
    }
}

impl Sealed for Transaction<'_> {
    fn handle(&self) -> Handle<'_> {
        Handle::in_tx(self.client.router(), self.tx())
    }
}

impl Store for Transaction<'_> {}

impl std::fmt::Debug for Transaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction").field("id", &self.id).finish()
    }
}
