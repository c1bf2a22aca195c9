//! Telling a forked child from its parent.
//!
//! A connection's fd survives `fork()` in the child, but its peer is the
//! parent's: a request the child writes there is answered to whoever reads
//! first, and the parent's connection breaks. A client records
//! [`generation`] when it connects and compares it before each use; it
//! changes in the child of every fork, so the child's copy of a client can
//! refuse to touch the parent's connection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

static GENERATION: AtomicU64 = AtomicU64::new(0);
static INSTALL: Once = Once::new();

extern "C" fn in_child() {
    // Async-signal-safe: one atomic add.
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// A number that changes in the child of every `fork()` made after its
/// first call (the first call installs the hook; make it before forking).
///
/// ```
/// let before = xs_transport::fork_generation();
/// assert_eq!(xs_transport::fork_generation(), before); // same process
/// ```
pub fn generation() -> u64 {
    INSTALL.call_once(|| {
        // SAFETY: `in_child` is a plain `extern "C" fn` doing one atomic
        // add, which is safe to run in a child after fork; the other two
        // handlers are null, which pthread_atfork allows.
        unsafe {
            libc::pthread_atfork(None, None, Some(in_child));
        }
    });
    GENERATION.load(Ordering::Relaxed)
}
