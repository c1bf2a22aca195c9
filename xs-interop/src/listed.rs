//! The lists of known differences in `docs/conformance.md`, read back.
//!
//! The document is the single place a difference between daemons is
//! explained; tests and `replay compare --expect` read its tables so a
//! difference that is not explained fails, and so does one that has gone
//! away. A section is the text under one Markdown heading, up to the next
//! heading of the same or a higher level; in it every table row of the form
//! `| `script` | 3, 5 | ...` lists steps 3 and 5 of `script`.

use std::collections::BTreeSet;

/// `(script, step)` pairs listed in the tables of the section under
/// `heading` (the heading's text, without the `#`s), or `None` when no
/// heading has that text.
///
/// ```
/// let doc = "## A\n| `watches` | 2, 4 | x |\n### A.1\n| `sizes` | 1 | y |\n## B\n| `domains` | 3 | z |\n";
/// let listed = xs_interop::listed_steps(doc, "A").unwrap();
/// let want = [("watches", 2), ("watches", 4), ("sizes", 1)];
/// assert_eq!(listed, want.iter().map(|(s, n)| (s.to_string(), *n)).collect());
/// assert!(xs_interop::listed_steps(doc, "C").is_none());
/// ```
pub fn listed_steps(doc: &str, heading: &str) -> Option<BTreeSet<(String, usize)>> {
    let mut level = None;
    let mut listed = BTreeSet::new();
    for line in doc.lines() {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if hashes > 0 && line[hashes..].starts_with(' ') {
            match level {
                Some(l) if hashes <= l => break,
                Some(_) => continue,
                None if line[hashes..].trim() == heading => level = Some(hashes),
                None => {}
            }
            continue;
        }
        if level.is_some() {
            listed.extend(row_steps(line));
        }
    }
    level.map(|_| listed)
}

/// The `(script, step)` pairs of one table row; none for other lines.
fn row_steps(line: &str) -> Vec<(String, usize)> {
    let mut cells = line.split('|').map(str::trim).skip(1);
    let Some(script) = cells
        .next()
        .and_then(|c| c.strip_prefix('`'))
        .and_then(|c| c.strip_suffix('`'))
    else {
        return Vec::new();
    };
    let Some(steps) = cells.next() else {
        return Vec::new();
    };
    steps
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .map(|n| (script.to_owned(), n))
        .collect()
}
