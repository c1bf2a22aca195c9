//! Watches: registering them, and reading their events by blocking, by
//! polling, or through the `xs_fileno` pipe.

use std::ffi::{c_char, c_int, c_uint};
use std::ptr;

use xs_client::Event;

use crate::alloc;
use crate::args::{done, handle, put, text, XsHandle};
use crate::errno::set_errno;
use crate::features::{supported_features, WATCHDEPTH};
use crate::handle::Handle;
use crate::watch_queue::NoEvent;

/// The arguments of the watch calls: a handle, a path and a token.
///
/// # Safety
/// `h` an open handle, `path` and `token` C strings.
unsafe fn watch_args<'a>(
    h: *mut XsHandle,
    path: *const c_char,
    token: *const c_char,
) -> Option<(&'a Handle, &'a str, &'a str)> {
    // SAFETY: per the contract.
    unsafe { Some((handle(h)?, text(path)?, text(token)?)) }
}

/// `xs_watch(h, path, token)`: the daemon fires one event at once.
///
/// # Safety
/// `h` an open handle, `path` and `token` C strings.
pub(crate) unsafe extern "C" fn xs_watch(
    h: *mut XsHandle,
    path: *const c_char,
    token: *const c_char,
) -> bool {
    // SAFETY: per the contract.
    let Some((h, path, token)) = (unsafe { watch_args(h, path, token) }) else {
        return false;
    };
    done(h.watches.monitor().watch(path, token))
}

/// `xs_watch_depth(h, path, token, depth)`: fails with `ENOSYS` when the
/// daemon lacks `XENSTORE_SERVER_FEATURE_WATCHDEPTH`.
///
/// # Safety
/// `h` an open handle, `path` and `token` C strings.
pub(crate) unsafe extern "C" fn xs_watch_depth(
    h: *mut XsHandle,
    path: *const c_char,
    token: *const c_char,
    depth: c_uint,
) -> bool {
    // SAFETY: per the contract.
    let Some((h, path, token)) = (unsafe { watch_args(h, path, token) }) else {
        return false;
    };
    if supported_features(h).is_none_or(|f| f & WATCHDEPTH == 0) {
        set_errno(libc::ENOSYS);
        return false;
    }
    done(h.watches.monitor().watch_with_depth(path, token, depth))
}

/// `xs_watch_try_depth(h, path, token, depth)`: a depth-limited watch if
/// possible, else a plain one (which may also fire below `depth`).
///
/// # Safety
/// `h` an open handle, `path` and `token` C strings.
pub(crate) unsafe extern "C" fn xs_watch_try_depth(
    h: *mut XsHandle,
    path: *const c_char,
    token: *const c_char,
    depth: c_uint,
) -> bool {
    // SAFETY: per the contract.
    let Some(hh) = (unsafe { handle(h) }) else {
        return false;
    };
    let depth_ok = supported_features(hh).is_some_and(|f| f & WATCHDEPTH != 0);
    // SAFETY: per the contract.
    if depth_ok && unsafe { xs_watch_depth(h, path, token, depth) } {
        return true;
    }
    // SAFETY: per the contract.
    unsafe { xs_watch(h, path, token) }
}

/// `xs_fileno(h)`: an fd that is readable while events are queued; -1 with
/// errno if the pipe cannot be made.
///
/// # Safety
/// `h` an open handle.
pub(crate) unsafe extern "C" fn xs_fileno(h: *mut XsHandle) -> c_int {
    // SAFETY: per the contract.
    match unsafe { handle(h) } {
        Some(h) => h.watches.fileno(),
        None => -1,
    }
}

/// The `{path, token}` array of an event, in one malloc'd block.
fn event_array(ev: &Event) -> *mut *mut c_char {
    alloc::string_array(&[ev.path.as_str(), ev.token.as_str()])
}

fn read_event(h: *mut XsHandle, nonblocking: bool, num: *mut c_uint) -> *mut *mut c_char {
    // SAFETY: the callers' contract: an open handle.
    let Some(h) = (unsafe { handle(h) }) else {
        return ptr::null_mut();
    };
    match h.watches.next(nonblocking) {
        Ok(ev) => {
            let arr = event_array(&ev);
            if !arr.is_null() {
                // SAFETY: the callers' contract: NULL or writable.
                unsafe { put(num, 2) };
            }
            arr
        }
        Err(NoEvent::Empty) => {
            set_errno(libc::EAGAIN);
            ptr::null_mut()
        }
        Err(NoEvent::Errno(e)) => {
            set_errno(e);
            ptr::null_mut()
        }
    }
}

/// `xs_check_watch(h)`: the next event without blocking; NULL with `EAGAIN`
/// when none is queued. `ret[0]` is the path, `ret[1]` the token.
///
/// # Safety
/// `h` an open handle.
pub(crate) unsafe extern "C" fn xs_check_watch(h: *mut XsHandle) -> *mut *mut c_char {
    read_event(h, true, ptr::null_mut())
}

/// `xs_read_watch(h, &num)`: blocks for the next event; `num` gets 2.
///
/// # Safety
/// `h` an open handle, `num` NULL or writable.
pub(crate) unsafe extern "C" fn xs_read_watch(
    h: *mut XsHandle,
    num: *mut c_uint,
) -> *mut *mut c_char {
    read_event(h, false, num)
}

/// `xs_unwatch(h, path, token)`: `ENOENT` if this handle has no such watch;
/// with `XS_UNWATCH_FILTER`, its queued events are dropped.
///
/// # Safety
/// `h` an open handle, `path` and `token` C strings.
pub(crate) unsafe extern "C" fn xs_unwatch(
    h: *mut XsHandle,
    path: *const c_char,
    token: *const c_char,
) -> bool {
    // SAFETY: per the contract.
    let Some((h, path, token)) = (unsafe { watch_args(h, path, token) }) else {
        return false;
    };
    let monitor = h.watches.monitor();
    let known = monitor
        .watched()
        .iter()
        .any(|(p, t)| p == path && t == token);
    // The monitor forgives removing an unknown watch; the daemon would not.
    let ok = if known {
        done(monitor.unwatch(path, token))
    } else {
        set_errno(libc::ENOENT);
        false
    };
    h.watches.unwatched(path, token);
    ok
}
