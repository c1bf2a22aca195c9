//! `Path::from_bytes` against an independent checker written from the
//! protocol notes (section 1), and `Perm::parse` against an independent
//! `strtol(s, &end, 0)` reading.
//!
//! Input layout: `[mode, bytes...]`. `mode & 3` picks how `bytes` become a
//! path candidate: as they are, mapped onto a small alphabet of path
//! characters (so most candidates are near-valid), or mapped and put after
//! `@introduceDomain` / `@releaseDomain`. `(mode >> 2) & 3` pads the
//! candidate to just around the 2048 (relative) or 3072 (absolute) limit.
//! The permission candidates are `bytes` as they are and mapped onto
//! `nrwbx0-9a-fX`.
//!
//! Asserted:
//!
//! * `Path::from_bytes` accepts exactly what the reference accepts;
//! * a refusal's reason is true of the input (`BadChar` names the first
//!   bad byte, `TooLong` the real length and the limit of its kind, ...);
//! * an accepted path keeps its bytes, `Path::new` agrees, `kind()` and
//!   `is_special()` follow the first byte, `require_node` refuses exactly
//!   the `@` paths, and `covers` follows the parent/child rule;
//! * `Perm::parse` accepts exactly what the reference accepts, with the same
//!   value, and a parsed entry formats (`Display` and `write_to` alike) to
//!   decimal text that parses back to itself;
//! * `PermList::parse` of the entries accepts iff every entry does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xs_wire::{is_child, Access, Path, PathError, PathKind, Perm, PermError, PermList, WireError};

// ---------------------------------------------------------------------------
// Reference path checker
// ---------------------------------------------------------------------------

const ABS_MAX: usize = 3072;
const REL_MAX: usize = 2048;

fn ok_char(b: u8) -> bool {
    b.is_ascii_uppercase()
        || b.is_ascii_lowercase()
        || b.is_ascii_digit()
        || b == b'-'
        || b == b'/'
        || b == b'_'
        || b == b'@'
}

/// `@introduceDomain` or `@releaseDomain`, optionally `/` and one or more
/// digits.
fn ok_special(p: &[u8]) -> bool {
    for name in [&b"@introduceDomain"[..], &b"@releaseDomain"[..]] {
        if p.len() >= name.len() && &p[..name.len()] == name {
            let rest = &p[name.len()..];
            if rest.is_empty() {
                return true;
            }
            if rest[0] == b'/' && rest.len() > 1 && rest[1..].iter().all(u8::is_ascii_digit) {
                return true;
            }
        }
    }
    false
}

fn limit_of(p: &[u8]) -> usize {
    if p[0] == b'/' {
        ABS_MAX
    } else {
        REL_MAX
    }
}

/// Every rule the path breaks (empty when it is valid).
fn violations(p: &[u8]) -> Vec<PathError> {
    if p.is_empty() {
        return vec![PathError::Empty];
    }
    let mut v = Vec::new();
    if let Some(index) = p.iter().position(|&b| !ok_char(b)) {
        v.push(PathError::BadChar { index });
    }
    let max = limit_of(p);
    if p.len() > max {
        v.push(PathError::TooLong { len: p.len(), max });
    }
    if (1..p.len()).any(|i| p[i - 1] == b'/' && p[i] == b'/') {
        v.push(PathError::DoubleSlash);
    }
    if p.len() > 1 && p[p.len() - 1] == b'/' {
        v.push(PathError::TrailingSlash);
    }
    if p[0] == b'@' && !ok_special(p) {
        v.push(PathError::UnknownSpecial);
    }
    v
}

/// The parent/child rule: equal, or the parent is `/`, or parent + `/` is a
/// prefix.
fn child_of(child: &str, parent: &str) -> bool {
    child == parent || parent == "/" || child.starts_with(&format!("{parent}/"))
}

fn check_path(p: &[u8]) {
    let want = violations(p);
    match Path::from_bytes(p) {
        Ok(path) => {
            assert!(
                want.is_empty(),
                "accepted an invalid path, breaking {want:?}"
            );
            assert_eq!(path.as_bytes(), p);
            let text = core::str::from_utf8(p).unwrap();
            assert_eq!(path.as_str(), text);
            assert_eq!(Path::new(text), Ok(path));
            let kind = match p[0] {
                b'/' => PathKind::Absolute,
                b'@' => PathKind::Special,
                _ => PathKind::Relative,
            };
            assert_eq!(path.kind(), kind);
            assert_eq!(path.is_special(), kind == PathKind::Special);
            match path.require_node() {
                Ok(same) => {
                    assert!(kind != PathKind::Special);
                    assert_eq!(same, path);
                }
                Err(e) => {
                    assert_eq!(kind, PathKind::Special);
                    assert_eq!(e, WireError::InvalidPath(PathError::SpecialNotAllowed));
                }
            }
            assert!(path.covers(text));
            assert!(Path::ROOT.covers(text));
            // A path covers its children and not a sibling sharing a prefix.
            let child = format!("{text}/x");
            let sibling = format!("{text}x");
            assert_eq!(path.covers(&child), child_of(&child, text));
            assert!(path.covers(&child));
            assert_eq!(path.covers(&sibling), child_of(&sibling, text));
            assert_eq!(path.covers(&sibling), text == "/");
            // is_child against the reference, both ways round, on a cut.
            let cut = &text[..text.len() / 2];
            assert_eq!(is_child(text, cut), child_of(text, cut));
            assert_eq!(is_child(cut, text), child_of(cut, text));
        }
        Err(WireError::InvalidPath(e)) => {
            assert!(!want.is_empty(), "refused a valid path with {e:?}");
            assert!(want.contains(&e), "refusal {e:?} is not among {want:?}");
        }
        Err(other) => panic!("unexpected error kind {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Reference permission parser
// ---------------------------------------------------------------------------

fn digit(b: u8, radix: u64) -> Option<u64> {
    let d = match b {
        b'0'..=b'9' => u64::from(b - b'0'),
        b'a'..=b'f' => u64::from(b - b'a') + 10,
        b'A'..=b'F' => u64::from(b - b'A') + 10,
        _ => return None,
    };
    (d < radix).then_some(d)
}

/// `strtol(s, &end, 0)` with `*end == 0` required and the value in `u32`.
fn c_number(s: &[u8]) -> Option<u32> {
    let (radix, digits) = if s.len() >= 2 && s[0] == b'0' && (s[1] == b'x' || s[1] == b'X') {
        (16, &s[2..])
    } else if s.len() >= 2 && s[0] == b'0' {
        (8, &s[1..])
    } else {
        (10, s)
    };
    if digits.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    for &b in digits {
        value = value * radix + digit(b, radix)?;
        if value > u64::from(u32::MAX) {
            return None;
        }
    }
    Some(value as u32)
}

fn reference_perm(text: &[u8]) -> Result<Perm, PermError> {
    let Some((&letter, number)) = text.split_first() else {
        return Err(PermError::Empty);
    };
    let access = match letter {
        b'n' => Access::None,
        b'r' => Access::Read,
        b'w' => Access::Write,
        b'b' => Access::Both,
        _ => return Err(PermError::BadAccess),
    };
    let domid = c_number(number).ok_or(PermError::BadDomid)?;
    Ok(Perm::new(access, domid))
}

fn check_perm(text: &[u8]) -> bool {
    let got = Perm::parse(text);
    assert_eq!(got, reference_perm(text).map_err(WireError::InvalidPerm));
    if let Ok(perm) = got {
        let shown = perm.to_string();
        let mut buf = [0u8; 11];
        let n = perm.write_to(&mut buf);
        assert_eq!(&buf[..n], shown.as_bytes());
        assert_eq!(
            shown,
            format!("{}{}", perm.access.letter() as char, perm.domid)
        );
        assert_eq!(Perm::parse(shown.as_bytes()), Ok(perm));
        assert_eq!(shown.parse::<Perm>(), Ok(perm));
        assert_eq!(Access::from_letter(perm.access.letter()), Some(perm.access));
    }
    got.is_ok()
}

fn check_perm_list(payload: &[u8]) {
    let entries_ok = if payload.is_empty() || payload.last() != Some(&0) {
        None
    } else {
        Some(
            payload[..payload.len() - 1]
                .split(|&b| b == 0)
                .all(|e| reference_perm(e).is_ok()),
        )
    };
    match PermList::parse(payload) {
        Ok(list) => {
            assert_eq!(entries_ok, Some(true));
            let n = payload.iter().filter(|&&b| b == 0).count();
            assert_eq!(list.len(), n);
        }
        Err(_) => assert_ne!(entries_ok, Some(true)),
    }
}

// ---------------------------------------------------------------------------

const PATH_ALPHABET: &[u8] = b"//abZ09-_@@x.\0 ";
const PERM_ALPHABET: &[u8] = b"nrwbx0123456789aAfFX\0";

fn mapped(bytes: &[u8], alphabet: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .map(|&b| alphabet[usize::from(b) % alphabet.len()])
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let [mode, bytes @ ..] = data else {
        return;
    };
    let mut path = match mode & 3 {
        0 => bytes.to_vec(),
        1 => mapped(bytes, PATH_ALPHABET),
        2 => [&b"@introduceDomain"[..], &mapped(bytes, PATH_ALPHABET)].concat(),
        _ => [&b"@releaseDomain"[..], &mapped(bytes, PATH_ALPHABET)].concat(),
    };
    // Pad to within a few bytes of a limit: the last input byte picks the
    // offset from it (-4..=+3).
    let pad_to = match (mode >> 2) & 3 {
        1 => Some(REL_MAX),
        2 => Some(ABS_MAX),
        _ => None,
    };
    if let Some(limit) = pad_to {
        let target =
            (limit + usize::from(bytes.last().copied().unwrap_or(0) % 8)).saturating_sub(4);
        if path.len() < target {
            let at = path.len().min(1);
            let fill = target - path.len();
            path.splice(at..at, std::iter::repeat(b'a').take(fill));
        }
    }
    check_path(&path);

    check_perm(bytes);
    let perm_text = mapped(bytes, PERM_ALPHABET);
    check_perm(&perm_text);
    check_perm_list(&perm_text);
});
