//! Showing and typing values that may be binary, the way the C tools do.
//!
//! `xenstore-read` and `xenstore-ls` print values escaped, and
//! `xenstore-write` reads its values with the escapes undone, so text moves
//! between them unchanged. These rules were measured on Debian's
//! `xenstore-utils` (Xen 4.17) by writing every byte value and reading it
//! back:
//!
//! | byte | shown as |
//! |---|---|
//! | `\` | `\\` |
//! | space to `~` | itself (quotes included) |
//! | tab, newline, carriage return | `\t`, `\n`, `\r` |
//! | 0 to 7 | three octal digits: `\000` ... `\007` |
//! | any other | two lower-case hex digits: `\x08`, `\x7f`, `\xff` |
//!
//! Typing accepts all of those forms back: `\t`, `\n`, `\r`, `\\`, `\x`
//! with one or two hex digits, and `\` with one to three octal digits
//! (modulo 256). A backslash before any other character is dropped (`\q`
//! is `q`, `\x` with no digit is `x`). The one place this differs from
//! `xenstore-write`: a backslash at the very end stays a backslash, where
//! the C tool writes a NUL byte instead.

use std::fmt::Write as _;

/// The printable form of a value.
///
/// ```text
/// b"a\tb\x01\xff\\" -> a\tb\001\xff\\
/// ```
pub fn escape(value: &[u8]) -> String {
    let mut out = String::with_capacity(value.len());
    for &b in value {
        match b {
            b'\\' => out.push_str("\\\\"),
            b' '..=b'~' => out.push(char::from(b)),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            0..=7 => {
                let _ = write!(out, "\\{b:03o}");
            }
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out
}

/// The bytes a typed value stands for (the inverse of [`escape`]).
pub fn unescape(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        i += 1;
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let Some(&next) = text.get(i) else {
            // A lone backslash at the end: keep it.
            out.push(b'\\');
            break;
        };
        i += 1;
        match next {
            b't' => out.push(b'\t'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b'x' => {
                let (value, used) = digits(&text[i..], 16, 2);
                i += used;
                out.push(if used == 0 { b'x' } else { value });
            }
            b'0'..=b'7' => {
                // `next` is the first of up to three octal digits.
                let (value, used) = digits(&text[i - 1..], 8, 3);
                i += used - 1;
                out.push(value);
            }
            other => out.push(other),
        }
    }
    out
}

/// Up to `max` leading digits of `radix` in `text`: their value modulo 256
/// and how many there were.
fn digits(text: &[u8], radix: u32, max: usize) -> (u8, usize) {
    let mut value: u32 = 0;
    let mut used = 0;
    for &b in text.iter().take(max) {
        let Some(d) = char::from(b).to_digit(radix) else {
            break;
        };
        value = value * radix + d;
        used += 1;
    }
    ((value & 0xff) as u8, used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_xenstore_read() {
        assert_eq!(escape(b"he\"llo 'x'"), "he\"llo 'x'");
        assert_eq!(escape(b"x\ty\nz\r"), "x\\ty\\nz\\r");
        assert_eq!(escape(b"\0\x07\x08\x0b\x1f"), "\\000\\007\\x08\\x0b\\x1f");
        assert_eq!(escape(b"a\\b"), "a\\\\b");
        assert_eq!(escape(b"\x7f\x80\xff"), "\\x7f\\x80\\xff");
        assert_eq!(escape("é".as_bytes()), "\\xc3\\xa9");
        assert_eq!(escape(b""), "");
    }

    #[test]
    fn unescapes_like_xenstore_write() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"a\\tb", b"a\tb"),
            (b"a\\nb\\rc", b"a\nb\rc"),
            (b"a\\x41b", b"aAb"),
            (b"a\\101b", b"aAb"),
            (b"a\\0b", b"a\0b"),
            (b"a\\7b", b"a\x07b"),
            (b"a\\1234", b"aS4"),
            (b"a\\x4", b"a\x04"),
            (b"a\\x4g", b"a\x04g"),
            (b"a\\xag", b"a\ng"),
            (b"a\\x4G", b"a\x04G"),
            (b"a\\x414", b"aA4"),
            (b"a\\X41", b"aX41"),
            (b"a\\q", b"aq"),
            (b"a\\x", b"ax"),
            (b"a\\8", b"a8"),
            (b"a\\18", b"a\x018"),
            (b"a\\777", b"a\xff"),
            (b"a\\\\b", b"a\\b"),
            (b"a\\\"b", b"a\"b"),
            (b"a\\a\\b\\f\\v\\e", b"aabfve"),
            (b"\\0101", b"\x081"),
            (b"a\\", b"a\\"),
        ];
        for (typed, bytes) in cases {
            assert_eq!(
                unescape(typed),
                *bytes,
                "{}",
                String::from_utf8_lossy(typed)
            );
        }
    }

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(unescape(escape(&all).as_bytes()), all);
    }
}
