//! Request scripts: frames written as data.

use xs_wire::Op;

/// Which transaction id a step's header carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tx {
    /// 0: no transaction.
    None,
    /// The id returned by the n-th (1-based) TRANSACTION_START reply seen on
    /// this script's connections.
    Started(usize),
    /// A literal id (e.g. one that was never opened).
    Literal(u32),
}

/// One frame to send.
#[derive(Clone, Debug)]
pub struct Step {
    /// Which connection sends it (connections are opened on first use).
    pub conn: usize,
    /// The header's type.
    pub op: Op,
    /// The header's transaction id.
    pub tx: Tx,
    /// The payload, with `{r}` standing for the script's private subtree
    /// (e.g. `/conformance/<script>`) and NULs written out.
    pub payload: &'static str,
}

/// A named list of steps.
#[derive(Clone, Debug)]
pub struct Script {
    /// Unique name, used in `docs/conformance.md`.
    pub name: &'static str,
    /// The frames, in order.
    pub steps: Vec<Step>,
}

impl Script {
    /// Shorthand for a step outside any transaction on connection 0.
    pub fn step(op: Op, payload: &'static str) -> Step {
        Step {
            conn: 0,
            op,
            tx: Tx::None,
            payload,
        }
    }
}

impl Step {
    /// The same step on connection `conn`.
    pub fn on(mut self, conn: usize) -> Step {
        self.conn = conn;
        self
    }

    /// The same step in transaction `tx`.
    pub fn tx(mut self, tx: Tx) -> Step {
        self.tx = tx;
        self
    }
}
