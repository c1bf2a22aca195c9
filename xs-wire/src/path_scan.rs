//! A quick screen for the paths nearly every request carries.
//!
//! [`Path::new`](crate::Path::new) runs on every request, and checking a
//! path a byte at a time costs several instructions a byte. Most paths are
//! plain tree paths: they do not start with `@`, are at most
//! [`REL_PATH_MAX`] bytes and break no rule. [`plainly_valid`] tells those
//! apart sixteen bytes at a time, as two overlapping 8-byte windows, in
//! straight-line code that the compiler turns into a few vector
//! instructions on targets that have them (SSE2 on x86-64). It never calls
//! a path valid that the rules refuse; on `false` the caller applies the
//! rules one by one, which also names the first one broken. Special paths,
//! long ones and those under four bytes always take that way.

use crate::path::REL_PATH_MAX;

/// Whether `b` may appear in a path: `A-Z a-z 0-9 - / _ @`.
#[inline(always)]
pub(crate) fn allowed(b: u8) -> bool {
    // `| 0x20` folds `A-Z` onto `a-z` (and no other byte into that range);
    // `/` is next to the digits.
    ((b | 0x20).wrapping_sub(b'a') < 26)
        | (b.wrapping_sub(b'/') < 11)
        | (b == b'-')
        | (b == b'_')
        | (b == b'@')
}

/// Whether the two 8-byte windows (little-endian words of path bytes) hold
/// only allowed bytes and no `/` right after a `/` in the same window.
/// Written branch-free over sixteen lanes so that it is vectorised.
#[inline(always)]
fn windows_ok(lo: u64, hi: u64) -> bool {
    let mut lanes = [0u8; 16];
    lanes[..8].copy_from_slice(&lo.to_le_bytes());
    lanes[8..].copy_from_slice(&hi.to_le_bytes());
    // Each lane's left neighbour in its own window; the first lane of a
    // window has none (0 is not `/`).
    let mut before = [0u8; 16];
    before[..8].copy_from_slice(&(lo << 8).to_le_bytes());
    before[8..].copy_from_slice(&(hi << 8).to_le_bytes());
    let mut ok = true;
    for (&b, &prev) in lanes.iter().zip(&before) {
        ok &= allowed(b) & !((b == b'/') & (prev == b'/'));
    }
    ok
}

/// The 8 bytes of `path` from `at`, as a little-endian word (0 past the
/// end, which callers never ask for).
#[inline(always)]
fn word_at(path: &[u8], at: usize) -> u64 {
    path.get(at..)
        .and_then(<[u8]>::first_chunk::<8>)
        .map_or(0, |w| u64::from_le_bytes(*w))
}

/// The 4 bytes of `path` from `at` in the low half of a word whose high
/// half is `aaaa` (allowed, not `/`).
#[inline(always)]
fn half_word_at(path: &[u8], at: usize) -> u64 {
    const PAD: u64 = u64::from_le_bytes(*b"\0\0\0\0aaaa");
    path.get(at..)
        .and_then(<[u8]>::first_chunk::<4>)
        .map_or(0, |w| u64::from(u32::from_le_bytes(*w)) | PAD)
}

/// `true` only if `path` is a valid absolute or relative path: 4 to
/// [`REL_PATH_MAX`] bytes, not starting with `@`, every byte allowed, no
/// `//` and no trailing `/`. `false` means "check the slow way": the path
/// may still be valid (a special path, the root, a long absolute path).
#[inline(always)]
pub(crate) fn plainly_valid(path: &[u8]) -> bool {
    if path.len() < 16 {
        plainly_valid_short(path)
    } else {
        path.len() <= REL_PATH_MAX && ends_ok(path) && long_windows_ok(path)
    }
}

/// [`plainly_valid`] for paths under 16 bytes (`false` for longer ones).
#[inline(always)]
pub(crate) fn plainly_valid_short(path: &[u8]) -> bool {
    let len = path.len();
    if !(4..16).contains(&len) || !ends_ok(path) {
        return false;
    }
    // Every pair of neighbours must share a window: the windows overlap.
    if len < 8 {
        windows_ok(half_word_at(path, 0), half_word_at(path, len - 4))
    } else {
        windows_ok(word_at(path, 0), word_at(path, len - 8))
    }
}

/// Neither special (`@...`) nor ending in `/`.
#[inline(always)]
fn ends_ok(path: &[u8]) -> bool {
    match (path.first(), path.last()) {
        (Some(&first), Some(&last)) => first != b'@' && last != b'/',
        _ => false,
    }
}

/// [`windows_ok`] over a path of 16 bytes or more, two windows at a time.
#[inline]
fn long_windows_ok(path: &[u8]) -> bool {
    let last_at = path.len().saturating_sub(8);
    let mut at = 0;
    // Windows start at most 7 bytes apart, so every pair of neighbours
    // shares one, and the last one ends the path.
    loop {
        let next = (at + 7).min(last_at);
        if !windows_ok(word_at(path, at), word_at(path, next)) {
            return false;
        }
        if next == last_at {
            return true;
        }
        at = (next + 7).min(last_at);
    }
}

#[cfg(test)]
mod tests {
    extern crate alloc;

    use alloc::{vec, vec::Vec};

    use super::plainly_valid;
    use crate::Path;

    /// The rules one at a time (protocol.md, section 1), for plain paths.
    fn reference(path: &[u8]) -> bool {
        let allowed = |b: &u8| b.is_ascii_alphanumeric() || b"-/_@".contains(b);
        !path.is_empty()
            && path.len() <= crate::path::REL_PATH_MAX
            && path[0] != b'@'
            && path.iter().all(allowed)
            && !path.windows(2).any(|w| w == b"//")
            && (path.len() == 1 || !path.ends_with(b"/"))
    }

    /// The screen never accepts what the rules refuse, and accepts every
    /// valid plain path it is meant to (4 bytes and more).
    fn agree(path: &[u8]) {
        let fast = plainly_valid(path);
        let want = reference(path);
        if fast {
            assert!(want, "screen accepted {path:?}");
            assert!(Path::from_bytes(path).is_ok(), "{path:?}");
        } else {
            assert!(!want || path.len() < 4, "screen refused valid {path:?}");
        }
    }

    /// Every byte value at every position of paths of every length up to
    /// 40 (so in every lane of both windows, in every window of the loop),
    /// in a path that is otherwise valid, and next to a `/`.
    #[test]
    fn every_byte_at_every_position() {
        for len in 1..=40usize {
            let base: [u8; 40] = *b"/abc/def/ghi/jkl/mno/pqr/stu/vwx/yzA/BCD";
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut path = base[..len].to_vec();
                    path[at] = b;
                    agree(&path);
                    // The same byte right after a slash and before one.
                    if at > 0 {
                        path[at - 1] = b'/';
                        agree(&path);
                    }
                    if at + 1 < len {
                        path[at + 1] = b'/';
                        agree(&path);
                    }
                }
            }
        }
    }

    /// `//` at every position, with and without other slashes about, and
    /// a trailing `/`, for every length up to 70.
    #[test]
    fn double_and_trailing_slashes_everywhere() {
        for len in 1..=70usize {
            let plain = vec![b'x'; len];
            agree(&plain);
            for at in 0..len {
                let mut one = plain.clone();
                one[at] = b'/';
                agree(&one);
                if at + 1 < len {
                    let mut two = one.clone();
                    two[at + 1] = b'/';
                    agree(&two);
                }
            }
            // Slashes every other byte: valid unless the last byte is one.
            let alternating: Vec<u8> = (0..len)
                .map(|i| if i % 2 == 0 { b'/' } else { b'q' })
                .collect();
            agree(&alternating);
        }
    }

    /// Lengths around the limit: the screen leaves the long ones to the
    /// slow way, which takes absolute paths up to 3072 bytes.
    #[test]
    fn lengths_around_the_limit() {
        for len in [2040, 2047, 2048, 2049, 3072] {
            let mut path = vec![b'a'; len];
            path[0] = b'/';
            assert_eq!(plainly_valid(&path), len <= 2048, "{len}");
            agree(&path);
        }
    }

    /// A pseudo-random mix of allowed bytes, slashes and a few bad ones,
    /// every length to 100.
    #[test]
    fn random_paths_agree() {
        let alphabet = b"//////aZ09-_@@.\0\x7f\x80\xff `{[:";
        let mut x = 0x9e37_79b9u32;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let len = (x % 100) as usize;
            let mut path = Vec::with_capacity(len);
            let mut y = x;
            for _ in 0..len {
                y = y.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                // Mostly letters, sometimes anything in the alphabet.
                let pick = (y >> 16) as usize;
                path.push(if pick % 4 == 0 {
                    alphabet[pick / 4 % alphabet.len()]
                } else {
                    b'k'
                });
            }
            agree(&path);
        }
    }
}
