//! The domains xenstored has been told about.
//!
//! Without a hypervisor there are no rings to map: `INTRODUCE` just records
//! the domain (with its frame number and event channel, so a repeated
//! introduction can be told from a conflicting one), fires
//! `@introduceDomain`, and makes `IS_DOMAIN_INTRODUCED` answer `T`.
//! `RELEASE` forgets it and fires `@releaseDomain`. `SET_TARGET` records the
//! domain whose rights a (stub) domain gains; connections acting as that
//! domain are checked with both ids.
//!
//! Which connections act as which domain is decided elsewhere (per-domain
//! sockets, see the server); introduction does not create or close any
//! connection, and does not create `/local/domain/<domid>` (oxenstored does
//! not either: the toolstack writes it).
//!
//! Error names follow oxenstored: releasing or resuming an unknown domain is
//! `EINVAL` (C xenstored: `ENOENT`), `SET_TARGET` on an unknown domain is
//! `ENOENT`, and re-introducing a domain with another frame or event
//! channel is `EINVAL`.

use std::collections::BTreeMap;

use crate::error::{XsResult, EINVAL, ENOENT};

/// `DOMID_SELF`: `IS_DOMAIN_INTRODUCED` always answers `T` for it.
pub const DOMID_SELF: u32 = 0x7FF0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Domain {
    gfn: u64,
    evtchn: u32,
    target: Option<u32>,
}

/// The introduced domains.
#[derive(Clone, Debug, Default)]
pub(crate) struct Domains {
    map: BTreeMap<u32, Domain>,
}

impl Domains {
    /// `INTRODUCE`: returns whether the domain is new (then
    /// `@introduceDomain` fires). The same domain again with the same frame
    /// and channel is accepted silently.
    pub(crate) fn introduce(&mut self, domid: u32, gfn: u64, evtchn: u32) -> XsResult<bool> {
        match self.map.get(&domid) {
            Some(d) if d.gfn == gfn && d.evtchn == evtchn => Ok(false),
            Some(_) => Err(EINVAL),
            None => {
                self.map.insert(
                    domid,
                    Domain {
                        gfn,
                        evtchn,
                        target: None,
                    },
                );
                Ok(true)
            }
        }
    }

    /// `RELEASE`.
    pub(crate) fn release(&mut self, domid: u32) -> XsResult<()> {
        self.map.remove(&domid).map(|_| ()).ok_or(EINVAL)
    }

    /// `RESUME`: nothing to clear without a hypervisor, but the domain must
    /// exist.
    pub(crate) fn resume(&self, domid: u32) -> XsResult<()> {
        if self.map.contains_key(&domid) {
            Ok(())
        } else {
            Err(EINVAL)
        }
    }

    /// `SET_TARGET`.
    pub(crate) fn set_target(&mut self, domid: u32, target: u32) -> XsResult<()> {
        let d = self.map.get_mut(&domid).ok_or(ENOENT)?;
        d.target = Some(target);
        Ok(())
    }

    /// `IS_DOMAIN_INTRODUCED`.
    pub(crate) fn is_introduced(&self, domid: u32) -> bool {
        domid == DOMID_SELF || self.map.contains_key(&domid)
    }

    /// The target set for `domid`, if any.
    pub(crate) fn target_of(&self, domid: u32) -> Option<u32> {
        self.map.get(&domid).and_then(|d| d.target)
    }

    /// Number of introduced domains.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle() {
        let mut d = Domains::default();
        assert!(!d.is_introduced(5));
        assert!(d.is_introduced(DOMID_SELF));
        assert_eq!(d.introduce(5, 100, 3), Ok(true));
        assert_eq!(d.introduce(5, 100, 3), Ok(false));
        assert_eq!(d.introduce(5, 101, 3), Err(EINVAL));
        assert!(d.is_introduced(5));
        assert_eq!(d.set_target(6, 5), Err(ENOENT));
        d.set_target(5, 9).unwrap();
        assert_eq!(d.target_of(5), Some(9));
        d.resume(5).unwrap();
        d.release(5).unwrap();
        assert_eq!(d.release(5), Err(EINVAL));
        assert_eq!(d.resume(5), Err(EINVAL));
        assert_eq!(d.target_of(5), None);
    }
}
