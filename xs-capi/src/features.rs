//! Feature bits (Xen 4.21) and quotas (Xen 4.22).

use std::ffi::{c_char, c_uint};
use std::ptr;

use xs_client::Error;

use crate::alloc;
use crate::args::{done, handle, put, text, XsHandle};
use crate::errno::{fail, set_errno};
use crate::handle::Handle;

/// `XENSTORE_SERVER_FEATURE_WATCHDEPTH`.
pub(crate) const WATCHDEPTH: u32 = 4;

/// A daemon number as `unsigned int`; `ERANGE` if it does not fit.
fn narrow(n: Result<u64, Error>) -> Option<c_uint> {
    match n {
        Ok(n) => match c_uint::try_from(n) {
            Ok(v) => Some(v),
            Err(_) => {
                set_errno(libc::ERANGE);
                None
            }
        },
        Err(e) => {
            fail(&e);
            None
        }
    }
}

/// The daemon's features for this connection, asked once per handle
/// (libxenstore asks once per process). `None` with errno on failure.
pub(crate) fn supported_features(h: &Handle) -> Option<u32> {
    let mut cached = h.features.lock().unwrap_or_else(|p| p.into_inner());
    if cached.is_none() {
        *cached = narrow(h.client.get_features(None).map(|f| u64::from(f.bits())));
    }
    *cached
}

/// Stores a number through `out`, or fails.
///
/// # Safety
/// `out` NULL or writable.
unsafe fn answer(value: Option<c_uint>, out: *mut c_uint) -> bool {
    match value {
        Some(v) => {
            // SAFETY: per the contract.
            unsafe { put(out, v) };
            true
        }
        None => false,
    }
}

/// `xs_get_features_supported(h, &features)`.
///
/// # Safety
/// `h` an open handle, `features` writable.
pub(crate) unsafe extern "C" fn xs_get_features_supported(
    h: *mut XsHandle,
    features: *mut c_uint,
) -> bool {
    // SAFETY: per the contract.
    let Some(h) = (unsafe { handle(h) }) else {
        return false;
    };
    // SAFETY: per the contract.
    unsafe { answer(supported_features(h), features) }
}

/// `xs_get_features_domain(h, domid, &features)`.
///
/// # Safety
/// `h` an open handle, `features` writable.
pub(crate) unsafe extern "C" fn xs_get_features_domain(
    h: *mut XsHandle,
    domid: c_uint,
    features: *mut c_uint,
) -> bool {
    // SAFETY: per the contract.
    let Some(h) = (unsafe { handle(h) }) else {
        return false;
    };
    // SAFETY: per the contract.
    unsafe {
        answer(
            narrow(
                h.client
                    .get_features(Some(domid))
                    .map(|f| u64::from(f.bits())),
            ),
            features,
        )
    }
}

/// `xs_set_features_domain(h, domid, features)`.
///
/// # Safety
/// `h` an open handle.
pub(crate) unsafe extern "C" fn xs_set_features_domain(
    h: *mut XsHandle,
    domid: c_uint,
    features: c_uint,
) -> bool {
    // SAFETY: per the contract.
    let Some(h) = (unsafe { handle(h) }) else {
        return false;
    };
    done(
        h.client
            .set_features(domid, xs_client::Features::from_bits(features)),
    )
}

/// `xs_get_quota_names(h, &num)`: the names in one malloc'd block.
///
/// # Safety
/// `h` an open handle, `num` writable.
pub(crate) unsafe extern "C" fn xs_get_quota_names(
    h: *mut XsHandle,
    num: *mut c_uint,
) -> *mut *const c_char {
    // SAFETY: per the contract.
    let Some(h) = (unsafe { handle(h) }) else {
        return ptr::null_mut();
    };
    match h.client.get_quota_names() {
        Ok(names) => {
            let arr = alloc::string_array(&names);
            if !arr.is_null() {
                // SAFETY: per the contract.
                unsafe { put(num, names.len() as c_uint) };
            }
            arr.cast()
        }
        Err(e) => {
            fail(&e);
            ptr::null_mut()
        }
    }
}

/// `xs_get_global_quota(h, quota, &value)`.
///
/// # Safety
/// `h` an open handle, `quota` a C string, `value` writable.
pub(crate) unsafe extern "C" fn xs_get_global_quota(
    h: *mut XsHandle,
    quota: *const c_char,
    value: *mut c_uint,
) -> bool {
    // SAFETY: per the contract.
    let (Some(h), Some(quota)) = (unsafe { handle(h) }, unsafe { text(quota) }) else {
        return false;
    };
    // SAFETY: per the contract.
    unsafe { answer(narrow(h.client.get_quota(None, quota)), value) }
}

/// `xs_set_global_quota(h, quota, value)`.
///
/// # Safety
/// `h` an open handle, `quota` a C string.
pub(crate) unsafe extern "C" fn xs_set_global_quota(
    h: *mut XsHandle,
    quota: *const c_char,
    value: c_uint,
) -> bool {
    // SAFETY: per the contract.
    let (Some(h), Some(quota)) = (unsafe { handle(h) }, unsafe { text(quota) }) else {
        return false;
    };
    done(h.client.set_quota(None, quota, value))
}

/// `xs_get_domain_quota(h, domid, quota, &value)`.
///
/// # Safety
/// `h` an open handle, `quota` a C string, `value` writable.
pub(crate) unsafe extern "C" fn xs_get_domain_quota(
    h: *mut XsHandle,
    domid: c_uint,
    quota: *const c_char,
    value: *mut c_uint,
) -> bool {
    // SAFETY: per the contract.
    let (Some(h), Some(quota)) = (unsafe { handle(h) }, unsafe { text(quota) }) else {
        return false;
    };
    // SAFETY: per the contract.
    unsafe { answer(narrow(h.client.get_quota(Some(domid), quota)), value) }
}

/// `xs_set_domain_quota(h, domid, quota, value)`.
///
/// # Safety
/// `h` an open handle, `quota` a C string.
pub(crate) unsafe extern "C" fn xs_set_domain_quota(
    h: *mut XsHandle,
    domid: c_uint,
    quota: *const c_char,
    value: c_uint,
) -> bool {
    // SAFETY: per the contract.
    let (Some(h), Some(quota)) = (unsafe { handle(h) }, unsafe { text(quota) }) else {
        return false;
    };
    done(h.client.set_quota(Some(domid), quota, value))
}
