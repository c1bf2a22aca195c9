//! Opening and closing handles: `xs_open` and its deprecated synonyms.

use std::ffi::c_ulong;
use std::ptr;

use crate::args::XsHandle;
use crate::errno::fail;
use crate::handle::Handle;

/// `xs_open(flags)`: a handle, or NULL with errno. `XS_OPEN_READONLY` and
/// `XS_OPEN_SOCKETONLY` are ignored (as in Xen since 4.x); `XS_UNWATCH_FILTER`
/// is honoured.
pub(crate) extern "C" fn xs_open(flags: c_ulong) -> *mut XsHandle {
    match Handle::open(flags) {
        Ok(h) => Box::into_raw(Box::new(h)),
        Err(e) => {
            fail(&e);
            ptr::null_mut()
        }
    }
}

/// `xs_daemon_open()`: `xs_open(0)`.
pub(crate) extern "C" fn xs_daemon_open() -> *mut XsHandle {
    xs_open(0)
}

/// `xs_domain_open()`: `xs_open(0)`.
pub(crate) extern "C" fn xs_domain_open() -> *mut XsHandle {
    xs_open(0)
}

/// `xs_daemon_open_readonly()`: `xs_open(0)`.
pub(crate) extern "C" fn xs_daemon_open_readonly() -> *mut XsHandle {
    xs_open(0)
}

/// `xs_close(h)`: closes the connection; NULL is ignored.
///
/// # Safety
/// `h` is NULL or an open handle no other thread is using.
pub(crate) unsafe extern "C" fn xs_close(h: *mut XsHandle) {
    if !h.is_null() {
        // SAFETY: per the contract, from Box::into_raw in xs_open, once.
        unsafe { Box::from_raw(h) }.close();
    }
}

/// `xs_daemon_close(h)`: `xs_close`.
///
/// # Safety
/// As [`xs_close`].
pub(crate) unsafe extern "C" fn xs_daemon_close(h: *mut XsHandle) {
    // SAFETY: same contract.
    unsafe { xs_close(h) }
}

/// `xs_daemon_destroy_postfork(h)`: in a child after `fork()`, throws the
/// handle away without talking to the daemon or the parent's threads.
///
/// # Safety
/// `h` is NULL or a handle opened before the fork, not used afterwards.
pub(crate) unsafe extern "C" fn xs_daemon_destroy_postfork(h: *mut XsHandle) {
    if !h.is_null() {
        // SAFETY: per the contract, from Box::into_raw in xs_open.
        unsafe { Box::from_raw(h) }.destroy_postfork();
    }
}
