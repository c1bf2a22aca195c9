//! Turning C arguments into Rust ones, and Rust results into C ones.

use std::ffi::{c_char, CStr};

use xs_client::Error;

use crate::errno::{fail, set_errno};
use crate::handle::Handle;

/// `struct xs_handle`, as C sees it: opaque.
pub(crate) type XsHandle = Handle;

/// The handle behind a C pointer; `None` (errno `EINVAL`) for NULL.
///
/// # Safety
/// `h` is NULL or a pointer from `xs_open` not yet closed.
pub(crate) unsafe fn handle<'a>(h: *mut XsHandle) -> Option<&'a Handle> {
    // SAFETY: per the contract, a live handle or NULL.
    let h = unsafe { h.as_ref() };
    if h.is_none() {
        set_errno(libc::EINVAL);
    }
    h
}

/// A C string argument as UTF-8; `None` (errno `EINVAL`) for NULL or bytes
/// no XenStore path, token or name can hold.
///
/// # Safety
/// `s` is NULL or points to a NUL-terminated string.
pub(crate) unsafe fn text<'a>(s: *const c_char) -> Option<&'a str> {
    if s.is_null() {
        set_errno(libc::EINVAL);
        return None;
    }
    // SAFETY: per the contract, NUL-terminated.
    let s = unsafe { CStr::from_ptr(s) };
    let s = s.to_str().ok();
    if s.is_none() {
        set_errno(libc::EINVAL);
    }
    s
}

/// `len` bytes at `data` (NULL allowed when `len` is 0).
///
/// # Safety
/// `data` points to `len` readable bytes, or `len` is 0.
pub(crate) unsafe fn bytes<'a>(data: *const libc::c_void, len: u32) -> &'a [u8] {
    if data.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: per the contract.
    unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len as usize) }
}

/// `true`, or `false` with errno set.
pub(crate) fn done(result: Result<(), Error>) -> bool {
    match result {
        Ok(()) => true,
        Err(e) => {
            fail(&e);
            false
        }
    }
}

/// Stores `value` through an optional out-pointer.
///
/// # Safety
/// `out` is NULL or valid for a write.
pub(crate) unsafe fn put<T>(out: *mut T, value: T) {
    // SAFETY: per the contract.
    if let Some(out) = unsafe { out.as_mut() } {
        *out = value;
    }
}
