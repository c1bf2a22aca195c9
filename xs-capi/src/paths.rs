//! The calls that need no connection: where the daemon lives, path and
//! permission helpers, and a write loop.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::sync::Mutex;

use crate::perms::{parse_strings, XsPermissions};
use crate::subpath::is_subpath_bytes;

/// The run directory without `$XENSTORED_RUNDIR` (Debian's build of Xen).
const RUNDIR: &CStr = c"/var/run/xenstored";

/// Every socket path ever returned, so each pointer stays valid for the
/// life of the process (the set is as small as the environment's changes).
static SOCKET_PATHS: Mutex<Vec<CString>> = Mutex::new(Vec::new());

fn env(name: &CStr) -> *const c_char {
    // SAFETY: getenv takes a C string; the pointer it returns lives in the
    // environment, as libxenstore's own answers do.
    let v = unsafe { libc::getenv(name.as_ptr()) };
    v.cast_const()
}

/// `xs_daemon_rundir()`: `$XENSTORED_RUNDIR`, else `/var/run/xenstored`.
pub(crate) extern "C" fn xs_daemon_rundir() -> *const c_char {
    let dir = env(c"XENSTORED_RUNDIR");
    if dir.is_null() {
        RUNDIR.as_ptr()
    } else {
        dir
    }
}

/// `xs_daemon_socket()`: `$XENSTORED_PATH`, else `<rundir>/socket`.
pub(crate) extern "C" fn xs_daemon_socket() -> *const c_char {
    let path = env(c"XENSTORED_PATH");
    if !path.is_null() {
        return path;
    }
    // SAFETY: xs_daemon_rundir returns a NUL-terminated string.
    let dir = unsafe { CStr::from_ptr(xs_daemon_rundir()) };
    let mut full = dir.to_bytes().to_vec();
    full.extend_from_slice(b"/socket");
    let Ok(full) = CString::new(full) else {
        return std::ptr::null();
    };
    let mut known = SOCKET_PATHS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(same) = known.iter().find(|k| **k == full) {
        return same.as_ptr();
    }
    let ptr = full.as_ptr(); // the heap buffer does not move with the CString
    known.push(full);
    ptr
}

/// `xs_daemon_socket_ro()`: the same socket (the read-only one is gone).
pub(crate) extern "C" fn xs_daemon_socket_ro() -> *const c_char {
    xs_daemon_socket()
}

/// `xs_path_is_subpath(parent, child)`: `child` is `parent` or below it, by
/// string comparison.
///
/// # Safety
/// Both are C strings.
pub(crate) unsafe extern "C" fn xs_path_is_subpath(
    parent: *const c_char,
    child: *const c_char,
) -> bool {
    // SAFETY: per the contract.
    let (parent, child) = unsafe { (CStr::from_ptr(parent), CStr::from_ptr(child)) };
    is_subpath_bytes(parent.to_bytes(), child.to_bytes())
}

/// `xs_write_all(fd, data, len)`: writes everything, retrying on `EINTR`.
///
/// # Safety
/// `data` has `len` readable bytes.
pub(crate) unsafe extern "C" fn xs_write_all(fd: c_int, data: *const c_void, len: c_uint) -> bool {
    let mut data = data.cast::<u8>();
    let mut left = len as usize;
    while left > 0 {
        // SAFETY: data has `left` readable bytes (contract).
        let n = unsafe { libc::write(fd, data.cast(), left) };
        if n < 0 && crate::errno::errno() == libc::EINTR {
            continue;
        }
        if n <= 0 {
            return false;
        }
        // SAFETY: n <= left bytes were written; data stays in bounds.
        data = unsafe { data.add(n as usize) };
        left -= n as usize;
    }
    true
}

/// `xs_strings_to_perms(perms, num, strings)`.
///
/// # Safety
/// `strings` holds `num` NUL-terminated strings back to back; `perms` has
/// room for `num` entries.
pub(crate) unsafe extern "C" fn xs_strings_to_perms(
    perms: *mut XsPermissions,
    num: c_uint,
    strings: *const c_char,
) -> bool {
    // SAFETY: same contract.
    unsafe { parse_strings(perms, num, strings) }
}
