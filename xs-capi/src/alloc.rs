//! Buffers handed to C callers, who release them with `free()`: so they
//! come from `malloc`, and a string array is one block (the pointers first,
//! then the strings they point into), as libxenstore makes them.

use std::ffi::c_char;
use std::ptr;

/// `malloc(size)`, never asking for zero bytes (so success is never NULL).
/// NULL with `ENOMEM` on failure.
fn malloc(size: usize) -> *mut u8 {
    // SAFETY: malloc may be called with any size; NULL is checked by callers.
    let p = unsafe { libc::malloc(size.max(1)) }.cast::<u8>();
    if p.is_null() {
        crate::errno::set_errno(libc::ENOMEM);
    }
    p
}

/// `bytes` followed by a NUL, in a malloc'd block.
pub(crate) fn bytes_nul(bytes: &[u8]) -> *mut c_char {
    let p = malloc(bytes.len() + 1);
    if !p.is_null() {
        // SAFETY: p has room for len + 1 bytes and does not overlap bytes.
        unsafe {
            ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
            *p.add(bytes.len()) = 0;
        }
    }
    p.cast()
}

/// An array of pointers to the NUL-terminated `strings`, in one malloc'd
/// block: `n` pointers, then the strings. NULL with `ENOMEM` on failure.
pub(crate) fn string_array<S: AsRef<[u8]>>(strings: &[S]) -> *mut *mut c_char {
    let n = strings.len();
    let heads = n * std::mem::size_of::<*mut c_char>();
    let text: usize = strings.iter().map(|s| s.as_ref().len() + 1).sum();
    let block = malloc(heads + text);
    if block.is_null() {
        return ptr::null_mut();
    }
    let table = block.cast::<*mut c_char>();
    // SAFETY: block holds `heads` bytes of pointers (malloc aligns for any
    // type) followed by `text` bytes; every write below stays inside it.
    unsafe {
        let mut at = block.add(heads);
        for (i, s) in strings.iter().enumerate() {
            let s = s.as_ref();
            *table.add(i) = at.cast();
            ptr::copy_nonoverlapping(s.as_ptr(), at, s.len());
            *at.add(s.len()) = 0;
            at = at.add(s.len() + 1);
        }
    }
    table
}

/// A malloc'd copy of `items`, for arrays of plain C structs.
pub(crate) fn array<T: Copy>(items: &[T]) -> *mut T {
    let p = malloc(std::mem::size_of_val(items)).cast::<T>();
    if !p.is_null() {
        // SAFETY: p has room for items.len() values of T and is aligned for
        // them (malloc's alignment suits every C type).
        unsafe { ptr::copy_nonoverlapping(items.as_ptr(), p, items.len()) };
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn a_string_array_is_one_block_of_pointers_then_text() {
        let arr = string_array(&["a", "", "ccc"]);
        assert!(!arr.is_null());
        // SAFETY: three valid pointers into the block, each NUL-terminated.
        unsafe {
            let got: Vec<&[u8]> = (0..3)
                .map(|i| CStr::from_ptr(*arr.add(i)).to_bytes())
                .collect();
            assert_eq!(got, [&b"a"[..], b"", b"ccc"]);
            // The text follows the table directly.
            assert_eq!((*arr).cast::<u8>(), arr.cast::<u8>().add(3 * 8));
            libc::free(arr.cast());
        }
    }

    #[test]
    fn an_empty_array_is_still_a_block() {
        let arr = string_array::<&str>(&[]);
        assert!(!arr.is_null());
        // SAFETY: a malloc'd block.
        unsafe { libc::free(arr.cast()) };
    }

    #[test]
    fn values_keep_their_bytes_and_get_a_terminator() {
        let v = bytes_nul(b"a\0b");
        // SAFETY: 4 bytes were allocated and written.
        unsafe {
            assert_eq!(std::slice::from_raw_parts(v.cast::<u8>(), 4), b"a\0b\0");
            libc::free(v.cast());
        }
    }
}
