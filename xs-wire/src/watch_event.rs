//! `WATCH_EVENT`: `<path>\0<token>\0`, exactly two strings.
//!
//! Route events by token only: on sockets `req_id`/`tx_id` are 0, and the
//! Linux xenbus device leaves them uninitialised.

use crate::strings::{exactly, utf8};
use crate::{Op, WireError};

/// A fired watch: which path changed and the token it was registered with.
///
/// ```
/// use xs_wire::WatchEvent;
/// let ev = WatchEvent::parse(b"/vm/1/name\0tok\0").unwrap();
/// assert_eq!(ev.path, "/vm/1/name");
/// assert_eq!(ev.token, "tok");
/// assert!(WatchEvent::parse(b"/a\0").is_err());
/// assert!(WatchEvent::parse(b"/a\0t\0x\0").is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WatchEvent<'a> {
    /// The path that changed: absolute, relative (for a relative watch) or
    /// `@` (special watches), exactly as the daemon sent it.
    pub path: &'a str,
    /// The watch's token.
    pub token: &'a str,
}

impl<'a> WatchEvent<'a> {
    /// Parses an event payload.
    ///
    /// ```
    /// use xs_wire::WatchEvent;
    /// let ev = WatchEvent::parse(b"@releaseDomain\0domains\0")?;
    /// assert_eq!((ev.path, ev.token), ("@releaseDomain", "domains"));
    /// assert!(WatchEvent::parse(b"\0tok\0").is_err()); // empty path
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    pub fn parse(payload: &'a [u8]) -> Result<WatchEvent<'a>, WireError> {
        let [path, token] = exactly::<2>(payload, Op::WatchEvent)?;
        if path.is_empty() {
            return Err(WireError::Malformed {
                op: Op::WatchEvent,
                what: "empty event path",
            });
        }
        Ok(WatchEvent {
            path: utf8(path, Op::WatchEvent)?,
            token: utf8(token, Op::WatchEvent)?,
        })
    }
}
