//! The `xenstore-ls` tree format.
//!
//! One line per node below the listed path, parents first:
//!
//! ```text
//! vm = ""
//!  name = "guest"
//!  uuid = "..."
//! ```
//!
//! The layout, as measured on Debian's `xenstore-ls` (Xen 4.17):
//!
//! * one space of indentation per level below the listed path, then the
//!   node's name; with `-f` the full path instead, and no indentation;
//! * ` = "value"` with the value escaped ([`crate::escape`]);
//! * lines are kept to a width: 80 columns, or the terminal's width less 2
//!   when writing to a terminal. If the indentation, the name, the value's
//!   *raw* length and the 8 columns of ` = "..."` do not fit, the escaped
//!   value is cut to what fits and ends in `\..."`. Names are cut the same
//!   way. With `-f` nothing is cut;
//! * with `-p`, a line whose value was not cut is padded with alternating
//!   `.` and spaces (dots on odd columns) to column 60, then two spaces and
//!   the permissions in parentheses, comma-separated: `  (n0,r5)`. With
//!   `-f` there is no padding: one space, then `  (n0,r5)`;
//! * a node whose value cannot be read shows `name:` instead of a value.

use xs_client::Perm;

use crate::escape::escape;

/// `xenstore-ls`'s width when not writing to a terminal.
pub const DEFAULT_WIDTH: usize = 80;
/// Column the permission padding reaches.
const DESIRED_WIDTH: usize = 60;
/// The columns ` = "..."` takes around a cut value.
const TAG_LEN: usize = 8;

/// How to lay lines out.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// Full paths, no indentation, nothing cut, no padding (`-f`).
    pub full: bool,
    /// Permissions at the end of each line (`-p`).
    pub perms: bool,
    /// Line width (80, or the terminal's less 2).
    pub width: usize,
}

/// One node to print.
#[derive(Clone, Copy, Debug)]
pub struct Node<'a> {
    /// Levels below the listed path (0 for its children).
    pub depth: usize,
    /// The last component.
    pub name: &'a str,
    /// The full path.
    pub path: &'a str,
    /// The value, `None` if it could not be read.
    pub value: Option<&'a [u8]>,
    /// The permissions, `None` if they could not be read (or were not asked
    /// for).
    pub perms: Option<&'a [Perm]>,
}

/// `s` cut to `max` bytes; `None` means no limit (the C tools' negative
/// `printf` precision). Names and escaped values are ASCII.
fn cut(s: &str, max: Option<usize>) -> &str {
    match max {
        Some(max) if max < s.len() => &s[..max],
        _ => s,
    }
}

/// The line for `node`, without its newline.
pub fn line(node: &Node<'_>, layout: &Layout) -> String {
    let (max_width, desired) = if layout.full {
        (usize::MAX / 2, 0)
    } else {
        (layout.width, DESIRED_WIDTH)
    };
    let mut out = String::new();
    // The column reached, as the C tool counts it (full paths count 0).
    let mut col = 0;
    if layout.full {
        out.push_str(node.path);
    } else {
        out.extend(std::iter::repeat_n(' ', node.depth));
        col = node.depth;
        let name = cut(node.name, max_width.checked_sub(TAG_LEN + col));
        out.push_str(name);
        col += name.len();
    }
    match node.value {
        None => out.push(':'),
        Some(value) => {
            let shown = escape(value);
            if max_width < col + value.len() + TAG_LEN {
                out.push_str(" = \"");
                out.push_str(cut(&shown, max_width.checked_sub(TAG_LEN + col)));
                out.push_str("\\...\"");
            } else {
                out.push_str(" = \"");
                out.push_str(&shown);
                out.push('"');
                col += shown.len() + 5;
                if layout.perms {
                    out.push(' ');
                    col += 1;
                    while col < desired.min(max_width) {
                        out.push(if col % 2 == 1 { '.' } else { ' ' });
                        col += 1;
                    }
                }
            }
        }
    }
    if layout.perms {
        if let Some(perms) = node.perms {
            out.push_str("  (");
            for (i, p) in perms.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&p.to_string());
            }
            out.push(')');
        }
    }
    out
}

/// Depth and name of `path` below `top` (`top` itself is not listed).
pub fn position<'a>(top: &str, path: &'a str) -> Option<(usize, &'a str)> {
    let rest = path.strip_prefix(top)?;
    let rest = if top.ends_with('/') {
        rest
    } else {
        rest.strip_prefix('/')?
    };
    if rest.is_empty() {
        return None;
    }
    let depth = rest.matches('/').count();
    let name = rest.rsplit('/').next().unwrap_or(rest);
    Some((depth, name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use xs_client::Access;

    const PLAIN: Layout = Layout {
        full: false,
        perms: false,
        width: DEFAULT_WIDTH,
    };

    fn node<'a>(depth: usize, name: &'a str, value: &'a [u8]) -> Node<'a> {
        Node {
            depth,
            name,
            path: name,
            value: Some(value),
            perms: None,
        }
    }

    #[test]
    fn plain_lines() {
        assert_eq!(line(&node(0, "a", b"he\"llo"), &PLAIN), "a = \"he\"llo\"");
        assert_eq!(line(&node(1, "c", b"x\tyz"), &PLAIN), " c = \"x\\tyz\"");
        let unreadable = Node {
            value: None,
            ..node(2, "secret", b"")
        };
        assert_eq!(line(&unreadable, &PLAIN), "  secret:");
    }

    #[test]
    fn long_values_are_cut_by_raw_length() {
        let all: Vec<u8> = (0..=255).collect();
        let l = line(&node(0, "all", &all), &PLAIN);
        assert_eq!(l.len(), 81);
        assert!(l.starts_with("all = \"\\000\\001"));
        assert!(l.ends_with("\\x10\\x11\\x1\\...\""), "{l}");
        // 9 raw bytes fit, so the 27 escaped columns are printed whole.
        let hi = "é€\x7f\\\"'".as_bytes();
        assert_eq!(
            line(&node(0, "hi", hi), &PLAIN),
            "hi = \"\\xc3\\xa9\\xe2\\x82\\xac\\x7f\\\\\"'\""
        );
    }

    #[test]
    fn permissions_are_padded_to_column_60() {
        let perms = [Perm::new(Access::Read, 0), Perm::new(Access::Both, 5)];
        let layout = Layout {
            perms: true,
            ..PLAIN
        };
        let n = Node {
            perms: Some(&perms),
            ..node(0, "a", b"he\"llo")
        };
        let l = line(&n, &layout);
        assert_eq!(
            l,
            "a = \"he\"llo\" . . . . . . . . . . . . . . . . . . . . . . . .  (r0,b5)"
        );
        let full = Layout {
            full: true,
            ..layout
        };
        let n = Node { path: "/t/a", ..n };
        assert_eq!(line(&n, &full), "/t/a = \"he\"llo\"   (r0,b5)");
    }

    #[test]
    fn positions() {
        assert_eq!(position("/t", "/t/a"), Some((0, "a")));
        assert_eq!(position("/t", "/t/b/c"), Some((1, "c")));
        assert_eq!(position("/", "/tool/xenstored"), Some((1, "xenstored")));
        assert_eq!(position("/t", "/t"), None);
        assert_eq!(position("rel", "rel/x"), Some((0, "x")));
    }
}
