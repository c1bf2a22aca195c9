//! Whether one path is at or below another, by bytes: `xs_path_is_subpath`,
//! also the rule `XS_UNWATCH_FILTER` matches events with.

/// `child` equals `parent` or continues it with a `/`.
pub(crate) fn is_subpath(parent: &str, child: &str) -> bool {
    is_subpath_bytes(parent.as_bytes(), child.as_bytes())
}

/// [`is_subpath`] on bytes.
pub(crate) fn is_subpath_bytes(parent: &[u8], child: &[u8]) -> bool {
    match child.strip_prefix(parent) {
        Some(rest) => rest.is_empty() || rest[0] == b'/',
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subpaths_by_string_comparison() {
        let table = [
            ("/a", "/a", true),
            ("/a", "/a/b", true),
            ("/a", "/ab", false),
            ("/a/b", "/a", false),
            ("a", "/a", false),
            ("@releaseDomain", "@releaseDomain/3", true),
            ("", "/x", true),
            ("/", "/x", false),
        ];
        for (parent, child, want) in table {
            assert_eq!(is_subpath(parent, child), want, "{parent} {child}");
        }
    }
}
