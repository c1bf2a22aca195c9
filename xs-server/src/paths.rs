//! Turning request paths into store paths.
//!
//! The wire has three kinds of path ([`xs_wire::PathKind`]); the store knows
//! only absolute ones:
//!
//! * absolute paths are used as they are;
//! * relative paths are prefixed with the caller's home,
//!   `/local/domain/<domid>/`;
//! * special paths (`@introduceDomain`, `@releaseDomain`) name real nodes
//!   directly under the root, `/@introduceDomain` and `/@releaseDomain`.
//!   That is how oxenstored stores them: they show up in `DIRECTORY /`, and
//!   `READ`/`GET_PERMS`/`SET_PERMS` work on them. Their permissions decide
//!   which unprivileged domains see the special watch events.
//!
//! Length limits follow oxenstored's `path_validate`: the length that counts
//! is that of the whole absolute path, or, under `/local/domain/<N>/`, of
//! what follows that prefix, so a path keeps its validity when a domain's id
//! changes length across migration.

use xs_wire::{Path, PathKind};

use crate::error::{XsResult, EINVAL};

/// The home path of a domain, `/local/domain/<domid>`.
///
/// ```
/// assert_eq!(xs_server::domain_path(7), "/local/domain/7");
/// ```
pub fn domain_path(domid: u32) -> String {
    format!("/local/domain/{domid}")
}

/// The absolute store path a request path names, for a caller in `domid`.
pub(crate) fn resolve(path: Path<'_>, domid: u32) -> String {
    match path.kind() {
        PathKind::Absolute => path.as_str().to_owned(),
        PathKind::Relative => format!("/local/domain/{domid}/{}", path.as_str()),
        PathKind::Special => format!("/{}", path.as_str()),
    }
}

/// Refuses paths longer than `max` (`EINVAL`), measuring a path under
/// `/local/domain/<N>/` without that prefix.
pub(crate) fn check_length(abs: &str, max: Option<usize>) -> XsResult<()> {
    let Some(max) = max else { return Ok(()) };
    if counted_len(abs) > max {
        Err(EINVAL)
    } else {
        Ok(())
    }
}

fn counted_len(abs: &str) -> usize {
    let Some(rest) = abs.strip_prefix("/local/domain/") else {
        return abs.len();
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 && rest.as_bytes().get(digits) == Some(&b'/') {
        rest.len() - digits - 1
    } else {
        abs.len()
    }
}

/// The components of an absolute path; the root has none.
pub(crate) fn components(abs: &str) -> impl Iterator<Item = &str> {
    abs.split('/').filter(|c| !c.is_empty())
}

/// The parent of an absolute path, `None` for the root.
pub(crate) fn parent(abs: &str) -> Option<&str> {
    if abs == "/" {
        return None;
    }
    match abs.rfind('/') {
        Some(0) => Some("/"),
        Some(i) => Some(&abs[..i]),
        None => None,
    }
}

/// What an event path looks like to a watch registered with a relative
/// path: the caller's home prefix is removed.
pub(crate) fn relative_to_home(abs: &str, domid: u32) -> String {
    let home = format!("/local/domain/{domid}/");
    match abs.strip_prefix(&home) {
        Some(rest) if !rest.is_empty() => rest.to_owned(),
        _ => abs.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution() {
        let p = |s| Path::new(s).unwrap();
        assert_eq!(resolve(p("/a/b"), 3), "/a/b");
        assert_eq!(resolve(p("a/b"), 3), "/local/domain/3/a/b");
        assert_eq!(resolve(p("@releaseDomain"), 3), "/@releaseDomain");
    }

    #[test]
    fn length_is_relative_under_a_domain_home() {
        assert_eq!(counted_len("/local/domain/12/abc"), 3);
        assert_eq!(counted_len("/local/domain/x/abc"), 19);
        assert_eq!(counted_len("/local/domain/12"), 16);
        assert!(check_length("/aaaa", Some(4)).is_err());
        assert!(check_length("/aaa", Some(4)).is_ok());
        assert!(check_length("/aaaa", None).is_ok());
    }

    #[test]
    fn parents_and_components() {
        assert_eq!(parent("/"), None);
        assert_eq!(parent("/a"), Some("/"));
        assert_eq!(parent("/a/b"), Some("/a"));
        assert_eq!(components("/").count(), 0);
        assert_eq!(components("/a/b").collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn relative_event_paths() {
        assert_eq!(relative_to_home("/local/domain/3/a/b", 3), "a/b");
        assert_eq!(relative_to_home("/other", 3), "/other");
    }
}
