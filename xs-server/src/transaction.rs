//! Transactions: a snapshot, a log of changes, and a read set.
//!
//! `TRANSACTION_START` takes an O(1) snapshot of the live tree (see
//! [`crate::store`]); every operation inside the transaction works on the
//! transaction's own copy, so it sees its own writes and nothing that other
//! connections do meanwhile (snapshot isolation).
//!
//! Each successful change is logged. At commit the log is *replayed* on the
//! live tree, which lets two transactions that changed different nodes both
//! succeed, and makes blind writes (nodes written without being read) merge
//! instead of conflicting, as in oxenstored.
//!
//! Conflicts are detected on what the transaction *read*: the generation of
//! every node it read from the snapshot (or the fact that it was missing)
//! is remembered, and the commit fails with `EAGAIN` if any of those nodes
//! changed in the live tree since. Reads of nodes the transaction had
//! itself changed are not recorded: they came from the transaction, not
//! from the snapshot. The commit also fails with `EAGAIN` if replaying a
//! logged change fails on the live tree (its parent was removed, its
//! permissions changed).
//!
//! The nodes a transaction touched (read or changed; the path each request
//! names) are counted for C xenstored's `transaction-nodes` quota (Xen 4.22
//! mode): touching one more than the limit fails that request.
//!
//! A transaction without changes always commits, whatever it read
//! (oxenstored treats read-only transactions that way).

use std::collections::{BTreeMap, BTreeSet};

use xs_wire::Perm;

use crate::error::{XsError, XsResult};
use crate::store::Store;

/// One logged change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TxOp {
    /// `WRITE`.
    Write {
        /// Absolute path.
        path: String,
        /// New value.
        value: Vec<u8>,
    },
    /// `MKDIR` that created something.
    Mkdir {
        /// Absolute path.
        path: String,
    },
    /// `RM` that removed something.
    Rm {
        /// Absolute path.
        path: String,
    },
    /// `SET_PERMS`.
    SetPerms {
        /// Absolute path.
        path: String,
        /// New permissions.
        perms: Vec<Perm>,
    },
}

impl TxOp {
    /// The absolute path the change is about.
    pub(crate) fn path(&self) -> &str {
        match self {
            TxOp::Write { path, .. }
            | TxOp::Mkdir { path }
            | TxOp::Rm { path }
            | TxOp::SetPerms { path, .. } => path,
        }
    }
}

/// An open transaction.
#[derive(Clone, Debug)]
pub(crate) struct Transaction {
    /// The live tree when the transaction started.
    base: Store,
    /// The transaction's own tree.
    pub(crate) work: Store,
    /// Generation of each node read from the snapshot (`None`: missing).
    reads: BTreeMap<String, Option<u64>>,
    /// Changes in order.
    pub(crate) ops: Vec<TxOp>,
    /// Requests made inside the transaction.
    pub(crate) requests: usize,
    /// Distinct paths the transaction's requests named.
    touched: BTreeSet<String>,
}

impl Transaction {
    /// Starts a transaction on a snapshot of `live`.
    pub(crate) fn new(live: &Store) -> Transaction {
        Transaction {
            base: live.clone(),
            work: live.clone(),
            reads: BTreeMap::new(),
            ops: Vec::new(),
            requests: 0,
            touched: BTreeSet::new(),
        }
    }

    /// Counts `abs` as touched; a new node beyond `limit` is a quota hit.
    /// Nothing is counted while no limit applies (4.17 mode, dom0).
    pub(crate) fn touch(&mut self, abs: &str, limit: Option<usize>) -> XsResult<()> {
        let Some(limit) = limit else { return Ok(()) };
        if self.touched.contains(abs) {
            return Ok(());
        }
        if self.touched.len() >= limit {
            return Err(XsError::Quota);
        }
        self.touched.insert(abs.to_owned());
        Ok(())
    }

    /// Records a read of `abs`, if what was read came from the snapshot.
    pub(crate) fn record_read(&mut self, abs: &str) {
        if self.reads.contains_key(abs) {
            return;
        }
        let seen = self.work.generation(abs);
        if seen == self.base.generation(abs) {
            self.reads.insert(abs.to_owned(), seen);
        }
    }

    /// Whether a node read from the snapshot has changed in `live` since.
    pub(crate) fn conflicts_with(&self, live: &Store) -> bool {
        if live.same_as(&self.base) {
            return false;
        }
        self.reads
            .iter()
            .any(|(path, gen)| live.generation(path) != *gen)
    }

    /// Whether the transaction changed anything.
    pub(crate) fn is_read_only(&self) -> bool {
        self.ops.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Caller;
    use crate::store::Generations;

    #[test]
    fn reads_of_changed_nodes_conflict() {
        let mut g = Generations::default();
        let mut live = Store::initial(&mut g);
        live.write(&mut g, &Caller::DOM0, "/a", b"1", None).unwrap();
        let mut tx = Transaction::new(&live);
        tx.record_read("/a");
        tx.record_read("/missing");
        assert!(!tx.conflicts_with(&live));
        live.write(&mut g, &Caller::DOM0, "/b", b"", None).unwrap();
        assert!(!tx.conflicts_with(&live), "unrelated change");
        live.write(&mut g, &Caller::DOM0, "/missing", b"", None)
            .unwrap();
        assert!(tx.conflicts_with(&live), "a node read as missing appeared");
    }

    #[test]
    fn touched_nodes_are_counted_once() {
        let mut g = Generations::default();
        let mut tx = Transaction::new(&Store::initial(&mut g));
        tx.touch("/a", Some(2)).unwrap();
        tx.touch("/a", Some(2)).unwrap();
        tx.touch("/b", Some(2)).unwrap();
        assert_eq!(tx.touch("/c", Some(2)), Err(XsError::Quota));
        tx.touch("/b", Some(2)).unwrap();
        tx.touch("/c", None).unwrap();
        assert_eq!(
            tx.touch("/c", Some(2)),
            Err(XsError::Quota),
            "not counted without a limit"
        );
    }

    #[test]
    fn own_writes_are_not_reads_of_the_snapshot() {
        let mut g = Generations::default();
        let mut live = Store::initial(&mut g);
        let mut tx = Transaction::new(&live);
        tx.work
            .write(&mut g, &Caller::DOM0, "/a", b"mine", None)
            .unwrap();
        tx.record_read("/a");
        live.write(&mut g, &Caller::DOM0, "/a", b"theirs", None)
            .unwrap();
        assert!(!tx.conflicts_with(&live));
    }
}
