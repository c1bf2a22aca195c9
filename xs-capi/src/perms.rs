//! `struct xs_permissions`, and its text form (`r0`, `b5`, ...).

use std::ffi::{c_char, c_uint, CStr};

use xs_wire::{Access, Perm};

/// `XS_PERM_READ`.
const READ: c_uint = 0x01;
/// `XS_PERM_WRITE`.
const WRITE: c_uint = 0x02;
/// `XS_PERM_IGNORE`: an internal bit libxenstore masks off when sending.
const IGNORE: c_uint = 0x10;

/// `struct xs_permissions { unsigned int id; unsigned int perms; }`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct XsPermissions {
    /// The domain.
    pub(crate) id: c_uint,
    /// `XS_PERM_*` bits.
    pub(crate) perms: c_uint,
}

/// The C form of a permission entry.
pub(crate) fn to_c(p: &Perm) -> XsPermissions {
    let perms = match p.access {
        Access::None => 0,
        Access::Read => READ,
        Access::Write => WRITE,
        Access::Both => READ | WRITE,
    };
    XsPermissions { id: p.domid, perms }
}

/// The entry to send; `None` for bits that are no access level.
pub(crate) fn from_c(p: &XsPermissions) -> Option<Perm> {
    let access = match p.perms & !IGNORE {
        0 => Access::None,
        READ => Access::Read,
        WRITE => Access::Write,
        x if x == READ | WRITE => Access::Both,
        _ => return None,
    };
    Some(Perm::new(access, p.id))
}

/// Parses `num` consecutive NUL-terminated entries at `strings` into
/// `perms` (`xs_strings_to_perms`): a letter `n`, `r`, `w` or `b`, then a
/// domid in C's `strtol` base-0 syntax, nothing after it.
///
/// # Safety
/// `strings` holds `num` NUL-terminated strings back to back; `perms` has
/// room for `num` entries.
pub(crate) unsafe fn parse_strings(
    perms: *mut XsPermissions,
    num: c_uint,
    strings: *const c_char,
) -> bool {
    let mut p = strings;
    for i in 0..num as usize {
        // SAFETY: p points into the caller's strings (contract).
        let entry = unsafe { CStr::from_ptr(p) };
        let bits = match entry.to_bytes().first() {
            Some(b'r') => READ,
            Some(b'w') => WRITE,
            Some(b'b') => READ | WRITE,
            Some(b'n') => 0,
            _ => return einval(),
        };
        // SAFETY: the letter is followed by the rest of the entry, then NUL.
        let digits = unsafe { p.add(1) };
        let mut end: *mut c_char = std::ptr::null_mut();
        // SAFETY: digits is NUL-terminated; strtol writes end within it.
        let id = unsafe { libc::strtol(digits, &mut end, 0) };
        // SAFETY: end and digits point into the same entry.
        if unsafe { *end != 0 || *digits == 0 } {
            return einval();
        }
        // SAFETY: perms has room for num entries (contract).
        unsafe {
            *perms.add(i) = XsPermissions {
                id: id as c_uint,
                perms: bits,
            };
        }
        // SAFETY: end is this entry's NUL; the next entry follows it.
        p = unsafe { end.add(1) };
    }
    true
}

fn einval() -> bool {
    crate::errno::set_errno(libc::EINVAL);
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_levels_both_ways() {
        for (access, bits) in [
            (Access::None, 0),
            (Access::Read, 1),
            (Access::Write, 2),
            (Access::Both, 3),
        ] {
            let p = Perm::new(access, 7);
            assert_eq!(to_c(&p), XsPermissions { id: 7, perms: bits });
            assert_eq!(from_c(&to_c(&p)), Some(p));
        }
        assert_eq!(
            from_c(&XsPermissions {
                id: 1,
                perms: READ | IGNORE
            }),
            Some(Perm::new(Access::Read, 1))
        );
        assert_eq!(from_c(&XsPermissions { id: 1, perms: 0x04 }), None);
    }

    fn parse(text: &[u8], num: usize) -> Option<Vec<XsPermissions>> {
        let mut out = vec![XsPermissions { id: 0, perms: 0 }; num];
        // SAFETY: text holds num NUL-terminated strings; out has num slots.
        let ok = unsafe { parse_strings(out.as_mut_ptr(), num as c_uint, text.as_ptr().cast()) };
        ok.then_some(out)
    }

    #[test]
    fn strings_parse_like_strtol() {
        let p = |id, perms| XsPermissions { id, perms };
        assert_eq!(parse(b"n0\0r5\0", 2), Some(vec![p(0, 0), p(5, 1)]));
        assert_eq!(parse(b"b0x10\0w010\0", 2), Some(vec![p(16, 3), p(8, 2)]));
        assert_eq!(parse(b"r\0", 1), None);
        assert_eq!(parse(b"x1\0", 1), None);
        assert_eq!(parse(b"r1z\0", 1), None);
    }
}
