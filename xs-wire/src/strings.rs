//! NUL-terminated strings, the payload's building block, parsed with `nom`.

use nom::bytes::complete::{tag, take_till};
use nom::combinator::eof;
use nom::multi::fill;
use nom::sequence::terminated;
use nom::{IResult, Parser};

use crate::{Op, WireError};

/// One string up to and including its NUL; yields the string without it.
pub(crate) fn cstr(input: &[u8]) -> IResult<&[u8], &[u8]> {
    terminated(take_till(|b| b == 0), tag(&b"\0"[..])).parse(input)
}

/// Exactly `N` NUL-terminated strings and nothing after them.
pub(crate) fn exactly<const N: usize>(payload: &[u8], op: Op) -> Result<[&[u8]; N], WireError> {
    let mut out = [&payload[..0]; N];
    let parsed: IResult<&[u8], ()> = (fill(cstr, &mut out), eof).map(|_| ()).parse(payload);
    parsed.map(|_| out).map_err(|_| WireError::Malformed {
        op,
        what: "wrong number of NUL-terminated strings",
    })
}

/// How many NUL-terminated strings `payload` holds, or `None` if it has an
/// unterminated tail.
pub(crate) fn count(payload: &[u8]) -> Option<usize> {
    if payload.last().is_some_and(|&b| b != 0) {
        return None;
    }
    Some(payload.iter().filter(|&&b| b == 0).count())
}

/// Iterates NUL-terminated strings; the caller has checked the shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CStrs<'a>(pub(crate) &'a [u8]);

impl<'a> Iterator for CStrs<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let (rest, s) = cstr(self.0).ok()?;
        self.0 = rest;
        Some(s)
    }
}

/// Text that must be UTF-8 (paths, tokens, names); refuses otherwise.
pub(crate) fn utf8(bytes: &[u8], op: Op) -> Result<&str, WireError> {
    core::str::from_utf8(bytes).map_err(|_| WireError::Malformed {
        op,
        what: "string is not UTF-8",
    })
}

/// Refuses text with a NUL inside (it would split the payload).
pub(crate) fn no_nul(text: &str) -> Result<&str, WireError> {
    if text.as_bytes().contains(&0) {
        Err(WireError::EmbeddedNul)
    } else {
        Ok(text)
    }
}
