//! Domain management (dom0 toolstack calls) and the daemon's control
//! commands.

use std::ffi::{c_char, c_int, c_uint, c_ulong, c_void};
use std::ptr;

use xs_client::Store;

use crate::alloc;
use crate::args::{bytes, done, handle, text, XsHandle};
use crate::errno::fail;
use crate::handle::Handle;

/// `xs_introduce_domain(h, domid, mfn, eventchn)`.
///
/// # Safety
/// `h` an open handle.
pub(crate) unsafe extern "C" fn xs_introduce_domain(
    h: *mut XsHandle,
    domid: c_uint,
    mfn: c_ulong,
    eventchn: c_uint,
) -> bool {
    // SAFETY: per the contract.
    let Some(h) = (unsafe { handle(h) }) else {
        return false;
    };
    done(h.client.introduce_domain(domid, mfn, eventchn))
}

/// `xs_set_target(h, domid, target)`.
///
/// # Safety
/// `h` an open handle.
pub(crate) unsafe extern "C" fn xs_set_target(
    h: *mut XsHandle,
    domid: c_uint,
    target: c_uint,
) -> bool {
    // SAFETY: per the contract.
    let Some(h) = (unsafe { handle(h) }) else {
        return false;
    };
    done(h.client.set_target(domid, target))
}

/// `xs_resume_domain(h, domid)`.
///
/// # Safety
/// `h` an open handle.
pub(crate) unsafe extern "C" fn xs_resume_domain(h: *mut XsHandle, domid: c_uint) -> bool {
    // SAFETY: per the contract.
    let Some(h) = (unsafe { handle(h) }) else {
        return false;
    };
    done(h.client.resume_domain(domid))
}

/// `xs_release_domain(h, domid)`.
///
/// # Safety
/// `h` an open handle.
pub(crate) unsafe extern "C" fn xs_release_domain(h: *mut XsHandle, domid: c_uint) -> bool {
    // SAFETY: per the contract.
    let Some(h) = (unsafe { handle(h) }) else {
        return false;
    };
    done(h.client.release_domain(domid))
}

/// `xs_get_domain_path(h, domid)`: a malloc'd string.
///
/// # Safety
/// `h` an open handle.
pub(crate) unsafe extern "C" fn xs_get_domain_path(h: *mut XsHandle, domid: c_uint) -> *mut c_char {
    // SAFETY: per the contract.
    let Some(h) = (unsafe { handle(h) }) else {
        return ptr::null_mut();
    };
    match h.client.get_domain_path(domid) {
        Ok(path) => alloc::bytes_nul(path.as_bytes()),
        Err(e) => {
            fail(&e);
            ptr::null_mut()
        }
    }
}

/// `xs_is_domain_introduced(h, domid)`: `false` also on failure (errno set).
///
/// # Safety
/// `h` an open handle.
pub(crate) unsafe extern "C" fn xs_is_domain_introduced(h: *mut XsHandle, domid: c_uint) -> bool {
    // SAFETY: per the contract.
    let Some(h) = (unsafe { handle(h) }) else {
        return false;
    };
    match h.client.is_domain_introduced(domid) {
        Ok(yes) => yes,
        Err(e) => {
            fail(&e);
            false
        }
    }
}

/// `xs_control_command(h, cmd, data, len)`: the daemon's answer as a
/// malloc'd NUL-terminated string.
///
/// # Safety
/// `h` an open handle, `cmd` a C string, `data` `len` readable bytes.
pub(crate) unsafe extern "C" fn xs_control_command(
    h: *mut XsHandle,
    cmd: *const c_char,
    data: *mut c_void,
    len: c_uint,
) -> *mut c_char {
    // SAFETY: per the contract.
    let (Some(h), Some(cmd)) = (unsafe { handle(h) }, unsafe { text(cmd) }) else {
        return ptr::null_mut();
    };
    // SAFETY: per the contract.
    let args = unsafe { bytes(data, len) };
    match h.client.control(cmd, args) {
        Ok(out) => alloc::bytes_nul(&out),
        Err(e) => {
            fail(&e);
            ptr::null_mut()
        }
    }
}

/// `xs_debug_command`: the old name of [`xs_control_command`].
///
/// # Safety
/// As [`xs_control_command`].
pub(crate) unsafe extern "C" fn xs_debug_command(
    h: *mut XsHandle,
    cmd: *const c_char,
    data: *mut c_void,
    len: c_uint,
) -> *mut c_char {
    // SAFETY: same contract.
    unsafe { xs_control_command(h, cmd, data, len) }
}

/// `xs_suspend_evtchn_port(domid)`: the number in
/// `/local/domain/<domid>/device/suspend/event-channel` (read as C's `atoi`
/// reads it), on a connection of its own; -1 if it cannot be read or is empty.
pub(crate) extern "C" fn xs_suspend_evtchn_port(domid: c_int) -> c_int {
    let Ok(h) = Handle::open(0) else {
        return -1;
    };
    let path = format!("/local/domain/{domid}/device/suspend/event-channel");
    let value = h.client.read(&path);
    h.close();
    match value {
        Ok(v) if !v.is_empty() => atoi(&v),
        _ => -1,
    }
}

/// C's `atoi`: blanks, a sign, decimal digits; 0 if there are none.
fn atoi(text: &[u8]) -> c_int {
    let s = text.trim_ascii_start();
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let n = digits
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0i64, |n, d| (n * 10 + i64::from(d - b'0')).min(1 << 40));
    let n = if neg { -n } else { n };
    n as c_int
}

#[cfg(test)]
mod tests {
    use super::atoi;

    #[test]
    fn ports_read_like_atoi() {
        for (text, want) in [
            (&b"7"[..], 7),
            (b" 12x", 12),
            (b"-3", -3),
            (b"x", 0),
            (b"+5", 5),
        ] {
            assert_eq!(atoi(text), want, "{text:?}");
        }
    }
}
