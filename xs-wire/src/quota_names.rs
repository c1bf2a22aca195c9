//! `GET_QUOTA` without arguments: quota names as one blank-separated string.

use crate::strings::{exactly, utf8};
use crate::{Op, WireError};

/// The names of the quotas a daemon supports.
///
/// ```
/// use xs_wire::QuotaNames;
/// let names = QuotaNames::parse(b"nodes watches soft-nodes\0").unwrap();
/// assert_eq!(names.iter().collect::<Vec<_>>(), ["nodes", "watches", "soft-nodes"]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotaNames<'a>(&'a str);

impl<'a> QuotaNames<'a> {
    /// Parses `<name> <name> ...\0`.
    ///
    /// ```
    /// use xs_wire::QuotaNames;
    /// let names = QuotaNames::parse(b"nodes watches\0")?;
    /// assert_eq!(names.as_str(), "nodes watches");
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    pub fn parse(payload: &'a [u8]) -> Result<QuotaNames<'a>, WireError> {
        let [text] = exactly::<1>(payload, Op::GetQuota)?;
        Ok(QuotaNames(utf8(text, Op::GetQuota)?))
    }

    /// Wraps a blank-separated list to send.
    ///
    /// ```
    /// use xs_wire::QuotaNames;
    /// let names = QuotaNames::new("nodes transactions")?;
    /// assert_eq!(names.iter().count(), 2);
    /// assert!(QuotaNames::new("bad\0name").is_err());
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    pub fn new(text: &'a str) -> Result<QuotaNames<'a>, WireError> {
        crate::strings::no_nul(text).map(QuotaNames)
    }

    /// The names in order.
    ///
    /// ```
    /// use xs_wire::QuotaNames;
    /// let names = QuotaNames::parse(b"nodes watches\0")?;
    /// assert!(names.iter().any(|n| n == "watches"));
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = &'a str> + Clone {
        self.0.split(' ').filter(|n| !n.is_empty())
    }

    /// The text as sent, without its NUL.
    ///
    /// ```
    /// use xs_wire::QuotaNames;
    /// assert_eq!(QuotaNames::new("nodes")?.as_str(), "nodes");
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    pub fn as_str(&self) -> &'a str {
        self.0
    }
}
