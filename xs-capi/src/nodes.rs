//! Reading and changing nodes, in or out of a transaction.

use std::ffi::{c_char, c_uint, c_void};
use std::ptr;

use xs_client::{Error, Perm};
use xs_wire::Op;

use crate::alloc;
use crate::args::{bytes, done, handle, put, text, XsHandle};
use crate::errno::{fail, set_errno};
use crate::perms::{from_c, to_c, XsPermissions};

/// The error a missing node gives, for the calls whose Rust form answers
/// `None` instead.
fn not_found(op: Op, path: &str) -> Error {
    Error::daemon(op, Some(path), "ENOENT")
}

/// `xs_directory(h, t, path, &num)`: the children's names in one malloc'd
/// block, or NULL with errno. Big directories are fetched in parts.
///
/// # Safety
/// `h` an open handle, `path` a C string, `num` writable.
pub(crate) unsafe extern "C" fn xs_directory(
    h: *mut XsHandle,
    t: u32,
    path: *const c_char,
    num: *mut c_uint,
) -> *mut *mut c_char {
    // SAFETY: per the contract.
    let (Some(h), Some(path)) = (unsafe { handle(h) }, unsafe { text(path) }) else {
        return ptr::null_mut();
    };
    let listed =
        h.xs.ls_with(t, path, |names| (alloc::string_array(names), names.len()));
    let (arr, n) = match listed {
        Ok(Some(listed)) => listed,
        Ok(None) => return fail_null(&not_found(Op::Directory, path)),
        Err(e) => return fail_null(&e),
    };
    if !arr.is_null() {
        // SAFETY: per the contract.
        unsafe { put(num, n as c_uint) };
    }
    arr
}

fn fail_null<T>(e: &Error) -> *mut T {
    fail(e);
    ptr::null_mut()
}

/// `xs_read(h, t, path, &len)`: the value with a NUL after it, malloc'd;
/// `len` (may be NULL) gets its length without the NUL.
///
/// # Safety
/// `h` an open handle, `path` a C string, `len` NULL or writable.
pub(crate) unsafe extern "C" fn xs_read(
    h: *mut XsHandle,
    t: u32,
    path: *const c_char,
    len: *mut c_uint,
) -> *mut c_void {
    // SAFETY: per the contract.
    let (Some(h), Some(path)) = (unsafe { handle(h) }, unsafe { text(path) }) else {
        return ptr::null_mut();
    };
    let value = match h.xs.read(t, path) {
        Ok(Some(v)) => v,
        Ok(None) => return fail_null(&not_found(Op::Read, path)),
        Err(e) => return fail_null(&e),
    };
    let out = alloc::bytes_nul(&value);
    if !out.is_null() {
        // SAFETY: per the contract.
        unsafe { put(len, value.len() as c_uint) };
    }
    out.cast()
}

/// `xs_write(h, t, path, data, len)`.
///
/// # Safety
/// `h` an open handle, `path` a C string, `data` `len` readable bytes.
pub(crate) unsafe extern "C" fn xs_write(
    h: *mut XsHandle,
    t: u32,
    path: *const c_char,
    data: *const c_void,
    len: c_uint,
) -> bool {
    // SAFETY: per the contract.
    let (Some(h), Some(path)) = (unsafe { handle(h) }, unsafe { text(path) }) else {
        return false;
    };
    // SAFETY: per the contract.
    let value = unsafe { bytes(data, len) };
    done(h.xs.write(t, path, value))
}

/// `xs_mkdir(h, t, path)`: succeeds if the node exists already.
///
/// # Safety
/// `h` an open handle, `path` a C string.
pub(crate) unsafe extern "C" fn xs_mkdir(h: *mut XsHandle, t: u32, path: *const c_char) -> bool {
    // SAFETY: per the contract.
    let (Some(h), Some(path)) = (unsafe { handle(h) }, unsafe { text(path) }) else {
        return false;
    };
    done(h.xs.mkdir(t, path))
}

/// `xs_rm(h, t, path)`: removes a subtree.
///
/// # Safety
/// `h` an open handle, `path` a C string.
pub(crate) unsafe extern "C" fn xs_rm(h: *mut XsHandle, t: u32, path: *const c_char) -> bool {
    // SAFETY: per the contract.
    let (Some(h), Some(path)) = (unsafe { handle(h) }, unsafe { text(path) }) else {
        return false;
    };
    done(h.xs.rm(t, path))
}

/// `xs_restrict(h, domid)`: always `false`, as since Xen 4.9 (the RESTRICT
/// request is gone); errno is left alone, as there.
pub(crate) extern "C" fn xs_restrict(_h: *mut XsHandle, _domid: c_uint) -> bool {
    false
}

/// `xs_get_permissions(h, t, path, &num)`: a malloc'd array, owner first.
///
/// # Safety
/// `h` an open handle, `path` a C string, `num` writable.
pub(crate) unsafe extern "C" fn xs_get_permissions(
    h: *mut XsHandle,
    t: u32,
    path: *const c_char,
    num: *mut c_uint,
) -> *mut XsPermissions {
    // SAFETY: per the contract.
    let (Some(h), Some(path)) = (unsafe { handle(h) }, unsafe { text(path) }) else {
        return ptr::null_mut();
    };
    let perms: Vec<XsPermissions> = match h.xs.get_permissions(t, path) {
        Ok(perms) => perms.iter().map(to_c).collect(),
        Err(e) => return fail_null(&e),
    };
    let out = alloc::array(&perms);
    if !out.is_null() {
        // SAFETY: per the contract.
        unsafe { put(num, perms.len() as c_uint) };
    }
    out
}

/// `xs_set_permissions(h, t, path, perms, num)`: `EINVAL` for an entry whose
/// bits are not none, read, write or both (`XS_PERM_IGNORE` aside).
///
/// # Safety
/// `h` an open handle, `path` a C string, `perms` `num` readable entries.
pub(crate) unsafe extern "C" fn xs_set_permissions(
    h: *mut XsHandle,
    t: u32,
    path: *const c_char,
    perms: *const XsPermissions,
    num: c_uint,
) -> bool {
    // SAFETY: per the contract.
    let (Some(h), Some(path)) = (unsafe { handle(h) }, unsafe { text(path) }) else {
        return false;
    };
    let entries = if perms.is_null() || num == 0 {
        &[][..]
    } else {
        // SAFETY: per the contract.
        unsafe { std::slice::from_raw_parts(perms, num as usize) }
    };
    let Some(list) = entries.iter().map(from_c).collect::<Option<Vec<Perm>>>() else {
        set_errno(libc::EINVAL);
        return false;
    };
    done(h.xs.set_permissions(t, path, &list))
}
