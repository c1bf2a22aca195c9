//! Validated XenStore paths.
//!
//! A [`Path`] is checked once, when it is made, against the rules xenstored
//! applies (`canonicalize`/`valid_chars` in the C daemon):
//!
//! * bytes from `A-Z a-z 0-9 - / _ @` only, and not empty;
//! * no `//`, and no trailing `/` except for the root `/` itself;
//! * absolute paths (starting with `/`) at most 3072 bytes, relative paths at
//!   most 2048 (`XENSTORE_ABS_PATH_MAX`, `XENSTORE_REL_PATH_MAX`);
//! * special paths start with `@` and must be `@introduceDomain` or
//!   `@releaseDomain`, optionally followed by `/<domid>`.
//!
//! Relative paths are resolved by the daemon against the connection's home,
//! `/local/domain/<domid>`. Special paths are only accepted by WATCH,
//! UNWATCH, GET_PERMS and SET_PERMS; the request encoder enforces that.

use core::fmt;

use crate::error::PathError;
use crate::path_scan::{allowed, plainly_valid, plainly_valid_short};
use crate::WireError;

/// `XENSTORE_ABS_PATH_MAX`.
///
/// ```
/// use xs_wire::{Path, ABS_PATH_MAX};
/// let long = format!("/local/domain/1/{}", "x".repeat(ABS_PATH_MAX));
/// assert!(Path::new(&long).is_err());
/// ```
pub const ABS_PATH_MAX: usize = 3072;
/// `XENSTORE_REL_PATH_MAX`.
///
/// ```
/// use xs_wire::{Path, REL_PATH_MAX};
/// let long = "d".repeat(REL_PATH_MAX + 1); // relative: under the caller's home
/// assert!(Path::new(&long).is_err());
/// assert!(Path::new("device/vif/0/state").is_ok());
/// ```
pub const REL_PATH_MAX: usize = 2048;

/// The watch path that fires when a domain is introduced.
///
/// ```
/// use xs_wire::{Path, Request, INTRODUCE_DOMAIN};
/// let watch = Request::Watch { path: Path::new(INTRODUCE_DOMAIN)?, token: "new-domains", depth: None };
/// assert!(watch.validate(0).is_ok());
/// # Ok::<(), xs_wire::WireError>(())
/// ```
pub const INTRODUCE_DOMAIN: &str = "@introduceDomain";
/// The watch path that fires when a domain is released or dies.
///
/// ```
/// use xs_wire::{Path, Request, RELEASE_DOMAIN};
/// let path = Path::new(RELEASE_DOMAIN)?;
/// assert!(path.is_special());
/// // Not a node: reading it is refused before anything is sent.
/// assert!(Request::Read { path }.validate(0).is_err());
/// # Ok::<(), xs_wire::WireError>(())
/// ```
pub const RELEASE_DOMAIN: &str = "@releaseDomain";

/// What kind of path a [`Path`] is.
///
/// ```
/// use xs_wire::{Path, PathKind};
/// assert_eq!(Path::new("/local/domain/3/name")?.kind(), PathKind::Absolute);
/// assert_eq!(Path::new("device/vbd/768")?.kind(), PathKind::Relative);
/// assert_eq!(Path::new("@introduceDomain")?.kind(), PathKind::Special);
/// # Ok::<(), xs_wire::WireError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PathKind {
    /// Starts with `/`.
    Absolute,
    /// Starts with neither `/` nor `@`; the daemon prefixes the domain's home.
    Relative,
    /// `@introduceDomain` or `@releaseDomain`, optionally `/<domid>`.
    Special,
}

/// A validated path, borrowing its text.
///
/// ```
/// use xs_wire::{Path, PathKind};
/// assert_eq!(Path::new("/local/domain/0").unwrap().kind(), PathKind::Absolute);
/// assert_eq!(Path::new("device/vif").unwrap().kind(), PathKind::Relative);
/// assert_eq!(Path::new("@releaseDomain").unwrap().kind(), PathKind::Special);
/// assert!(Path::new("/a/").is_err());
/// assert!(Path::new("/a b").is_err());
/// assert!(Path::new("@foo").is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Path<'a>(&'a str);

fn is_special(path: &str) -> bool {
    [INTRODUCE_DOMAIN, RELEASE_DOMAIN].iter().any(|name| {
        path.strip_prefix(name).is_some_and(|rest| {
            rest.is_empty()
                || rest
                    .strip_prefix('/')
                    .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
        })
    })
}

/// Applies the path rules to `path` one by one; on success returns
/// `text()`, the same bytes as a `&str`. Errors are reported in a fixed
/// order: bad byte, length, `//`, trailing `/`, unknown special path.
/// Plain paths seldom come this way: [`plainly_valid`] passes them first.
#[cold]
#[inline(never)]
fn check<'a>(
    path: &'a [u8],
    text: impl FnOnce() -> Result<&'a str, WireError>,
) -> Result<&'a str, WireError> {
    let err = |e| Err(WireError::InvalidPath(e));
    let Some(&first) = path.first() else {
        return err(PathError::Empty);
    };
    if let Some(index) = path.iter().position(|&b| !allowed(b)) {
        return err(PathError::BadChar { index });
    }
    let max = if first == b'/' {
        ABS_PATH_MAX
    } else {
        REL_PATH_MAX
    };
    if path.len() > max {
        return err(PathError::TooLong {
            len: path.len(),
            max,
        });
    }
    if path.windows(2).any(|pair| pair == b"//") {
        return err(PathError::DoubleSlash);
    }
    if path.len() > 1 && path.ends_with(b"/") {
        return err(PathError::TrailingSlash);
    }
    let text = text()?;
    if first == b'@' && !is_special(text) {
        return err(PathError::UnknownSpecial);
    }
    Ok(text)
}

impl<'a> Path<'a> {
    /// The root, `/`.
    ///
    /// ```
    /// use xs_wire::Path;
    /// assert_eq!(Path::ROOT.as_str(), "/");
    /// assert!(Path::ROOT.covers("/local/domain/0"));
    /// ```
    pub const ROOT: Path<'static> = Path("/");

    /// Validates `path`.
    ///
    /// ```
    /// use xs_wire::Path;
    /// let path = Path::new("/local/domain/1/device/vif/0/state")?;
    /// assert_eq!(path.to_string(), "/local/domain/1/device/vif/0/state");
    /// assert!(Path::new("/local/domain/1/").is_err()); // trailing slash
    /// assert!(Path::new("/local//domain").is_err()); // empty component
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    pub fn new(path: &'a str) -> Result<Path<'a>, WireError> {
        // Short paths, the most common, are screened here, with no call
        // and no stack frame; the rest in `new_longer`.
        if plainly_valid_short(path.as_bytes()) {
            return Ok(Path(path));
        }
        Path::new_longer(path)
    }

    /// [`Path::new`] for paths of 16 bytes or more and those the screen
    /// did not pass.
    #[inline(never)]
    fn new_longer(path: &'a str) -> Result<Path<'a>, WireError> {
        if plainly_valid(path.as_bytes()) {
            return Ok(Path(path));
        }
        Path::new_slowly(path)
    }

    /// [`Path::new`] for the paths [`plainly_valid`] leaves to the rules.
    #[cold]
    #[inline(never)]
    fn new_slowly(path: &'a str) -> Result<Path<'a>, WireError> {
        check(path.as_bytes(), || Ok(path)).map(Path)
    }

    /// Validates raw bytes (as found in a received payload).
    ///
    /// ```
    /// use xs_wire::Path;
    /// // Straight out of a received payload, NUL stripped.
    /// let path = Path::from_bytes(b"/local/domain/2/name")?;
    /// assert_eq!(path.as_str(), "/local/domain/2/name");
    /// assert!(Path::from_bytes(b"/bad\xff").is_err());
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    pub fn from_bytes(path: &'a [u8]) -> Result<Path<'a>, WireError> {
        // Once checked, every byte is ASCII, so the conversion cannot fail.
        let text =
            || core::str::from_utf8(path).map_err(|_| PathError::BadChar { index: 0 }.into());
        if plainly_valid(path) {
            return text().map(Path);
        }
        check(path, text).map(Path)
    }

    /// The path's text.
    ///
    /// ```
    /// use xs_wire::Path;
    /// let path = Path::new("/local/domain/0/name")?;
    /// assert_eq!(path.as_str().rsplit('/').next(), Some("name"));
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    pub fn as_str(&self) -> &'a str {
        self.0
    }

    /// The path's bytes, without a NUL.
    ///
    /// ```
    /// use xs_wire::Path;
    /// let path = Path::new("/vm")?;
    /// assert_eq!(path.as_bytes(), b"/vm"); // the wire adds the NUL
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0.as_bytes()
    }

    /// Absolute, relative or special.
    ///
    /// ```
    /// use xs_wire::{Path, PathKind};
    /// // The daemon prefixes a relative path with the caller's /local/domain/<domid>.
    /// assert_eq!(Path::new("control/shutdown")?.kind(), PathKind::Relative);
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    pub fn kind(&self) -> PathKind {
        match self.0.as_bytes()[0] {
            b'/' => PathKind::Absolute,
            b'@' => PathKind::Special,
            _ => PathKind::Relative,
        }
    }

    /// Whether this is an `@` path.
    ///
    /// ```
    /// use xs_wire::Path;
    /// assert!(Path::new("@releaseDomain")?.is_special());
    /// assert!(!Path::new("/local/domain")?.is_special());
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    pub fn is_special(&self) -> bool {
        self.kind() == PathKind::Special
    }

    /// Refuses special paths: the check for ops that only take tree paths.
    ///
    /// ```
    /// use xs_wire::{Path, PathError, WireError};
    /// assert!(Path::new("/local/domain/0")?.require_node().is_ok());
    /// let err = Path::new("@introduceDomain")?.require_node().unwrap_err();
    /// assert_eq!(err, WireError::InvalidPath(PathError::SpecialNotAllowed));
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    pub fn require_node(self) -> Result<Path<'a>, WireError> {
        if self.is_special() {
            Err(WireError::InvalidPath(PathError::SpecialNotAllowed))
        } else {
            Ok(self)
        }
    }

    /// Whether `other` is this path or below it, by whole components
    /// (xenstored's `is_child`): `/a` covers `/a` and `/a/b`, not `/ab`.
    ///
    /// ```
    /// use xs_wire::Path;
    /// let a = Path::new("/a").unwrap();
    /// assert!(a.covers("/a/b"));
    /// assert!(!a.covers("/ab"));
    /// assert!(Path::ROOT.covers("/x"));
    /// ```
    pub fn covers(&self, other: &str) -> bool {
        is_child(other, self.0)
    }
}

/// xenstored's `is_child(child, parent)`: `child` equals `parent`, or
/// `parent` is `/`, or `parent + "/"` is a prefix of `child`.
///
/// ```
/// use xs_wire::is_child;
/// assert!(is_child("/local/domain/1/device/vif/0", "/local/domain/1"));
/// assert!(is_child("/local/domain/1", "/local/domain/1"));
/// assert!(!is_child("/local/domain/12", "/local/domain/1"));
/// ```
pub fn is_child(child: &str, parent: &str) -> bool {
    if parent == "/" {
        return true;
    }
    child
        .strip_prefix(parent)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

impl fmt::Debug for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Path({:?})", self.0)
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl AsRef<str> for Path<'_> {
    fn as_ref(&self) -> &str {
        self.0
    }
}

impl<'a> TryFrom<&'a str> for Path<'a> {
    type Error = WireError;
    fn try_from(path: &'a str) -> Result<Self, WireError> {
        Path::new(path)
    }
}
