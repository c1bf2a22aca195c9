//! Transactions by id, as C callers hold them: `XBT_NULL` (0) is "none".

use crate::args::{handle, XsHandle};
use crate::errno::{fail, set_errno};

/// `XBT_NULL`.
const XBT_NULL: u32 = 0;

/// `xs_transaction_start(h)`: the new id, or `XBT_NULL` with errno.
///
/// # Safety
/// `h` an open handle.
pub(crate) unsafe extern "C" fn xs_transaction_start(h: *mut XsHandle) -> u32 {
    // SAFETY: per the contract.
    let Some(h) = (unsafe { handle(h) }) else {
        return XBT_NULL;
    };
    match h.xs.transaction_start() {
        Ok(id) => id,
        Err(e) => {
            fail(&e);
            XBT_NULL
        }
    }
}

/// `xs_transaction_end(h, t, abort)`: `false` with `EAGAIN` when a commit
/// conflicted (start again); the transaction is gone either way.
///
/// # Safety
/// `h` an open handle.
pub(crate) unsafe extern "C" fn xs_transaction_end(h: *mut XsHandle, t: u32, abort: bool) -> bool {
    // SAFETY: per the contract.
    let Some(h) = (unsafe { handle(h) }) else {
        return false;
    };
    match h.xs.transaction_end(t, abort) {
        Ok(true) => true,
        Ok(false) => {
            set_errno(libc::EAGAIN);
            false
        }
        Err(e) => {
            fail(&e);
            false
        }
    }
}
