//! Transactions: a guard that aborts on drop, and a retry loop.
//!
//! xenstored transactions are optimistic: reads and writes run on a
//! snapshot, and the commit fails with `EAGAIN` if a node the transaction
//! *read* changed meanwhile. The transaction is gone after the commit
//! whatever the answer, so a retry starts from scratch; [`crate::Client::transact`]
//! does that for you.

use xs_wire::{Errno, Reply, Request};

use crate::protocol::Response;
use crate::store::{call_and_parse, sealed::Sealed};
use crate::{Client, Result, Store};

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
    finished: bool,
}

impl<'c> Transaction<'c> {
    pub(crate) fn start(client: &'c Client) -> Result<Transaction<'c>> {
        Ok(Transaction {
            client,
            id: start_id(client)?,
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

    fn end(&mut self, commit: bool) -> Result<()> {
        self.finished = true;
        end_id(self, commit)
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

    /// Aborts, discarding every change.
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

/// Sends TRANSACTION_START; the new transaction's id.
pub(crate) fn start_id(client: &Client) -> Result<u32> {
    call_and_parse(client, Request::TransactionStart, |r| match r {
        Reply::TransactionId(id) => Some(id),
        _ => None,
    })
}

/// Sends TRANSACTION_END (commit or abort) for the transaction `s` is in.
pub(crate) fn end_id(s: &(impl Sealed + ?Sized), commit: bool) -> Result<()> {
    call_and_parse(s, Request::TransactionEnd { commit }, |r| {
        matches!(r, Reply::Ack).then_some(())
    })
}

/// An end's outcome as a commit reports it: `Ok(false)` on a conflict
/// (`EAGAIN`).
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
    fn call(&self, req: &Request<'_>) -> Result<Response> {
        self.client.router().inner().call(req, self.id)
    }
    fn client(&self) -> &Client {
        self.client
    }
    fn tx_id(&self) -> u32 {
        self.id
    }
}

impl Store for Transaction<'_> {}

impl std::fmt::Debug for Transaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction").field("id", &self.id).finish()
    }
}
