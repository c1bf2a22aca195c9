//! An owned watch event, as delivered to a [`crate::Monitor`].

use std::fmt;

/// A fired watch: the path that changed and the token of the watch.
///
/// ```
/// use xs_client::Event;
/// let ev = Event::new("/vm/1/name", "tok");
/// assert_eq!(ev.path, "/vm/1/name");
/// assert_eq!(ev, ("/vm/1/name", "tok"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Event {
    /// The path that changed: absolute, relative (for a relative watch), or
    /// `@introduceDomain`/`@releaseDomain`, as the daemon sent it.
    pub path: String,
    /// The token given when the watch was registered.
    pub token: String,
}

impl Event {
    /// An event.
    ///
    /// ```
    /// use xs_client::Event;
    /// let ev = Event::new("@releaseDomain", String::from("domains"));
    /// assert_eq!(ev.to_string(), "@releaseDomain [domains]");
    /// ```
    pub fn new(path: impl Into<String>, token: impl Into<String>) -> Event {
        Event {
            path: path.into(),
            token: token.into(),
        }
    }
}

impl Event {
    /// The domain a special watch's event is about: `Some(5)` for
    /// `@releaseDomain/5` or `@introduceDomain/5` (the events of Xen 4.22's
    /// depth-1 and per-domain special watches), `None` otherwise.
    ///
    /// ```
    /// use xs_client::Event;
    /// assert_eq!(Event::new("@releaseDomain/5", "t").domid(), Some(5));
    /// assert_eq!(Event::new("@releaseDomain", "t").domid(), None);
    /// assert_eq!(Event::new("/local/domain/5", "t").domid(), None);
    /// ```
    pub fn domid(&self) -> Option<u32> {
        let rest = self
            .path
            .strip_prefix(xs_wire::RELEASE_DOMAIN)
            .or_else(|| self.path.strip_prefix(xs_wire::INTRODUCE_DOMAIN))?;
        rest.strip_prefix('/')?.parse().ok()
    }
}

impl PartialEq<(&str, &str)> for Event {
    fn eq(&self, other: &(&str, &str)) -> bool {
        self.path == other.0 && self.token == other.1
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]", self.path, self.token)
    }
}
