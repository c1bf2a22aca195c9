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
//! Each domain also has settings (Xen 4.21+): its feature word and its own
//! copy of the quotas. C xenstored keeps them in the domain's structure,
//! which exists before `INTRODUCE` once dom0 asks about the domain; here a
//! domain's settings are made (from the global quotas and every supported
//! feature) the first time dom0 sets them or introduces the domain, and
//! dropped at `RELEASE`. Until then the domain uses the global values.
//! Feature bits can no longer change once the domain is introduced (`EBUSY`).
//!
//! Dom0 cannot be released (`EINVAL`, as C xenstored).
//!
//! Error names follow oxenstored: releasing or resuming an unknown domain is
//! `EINVAL` (C xenstored: `ENOENT`), `SET_TARGET` on an unknown domain is
//! `ENOENT`, and re-introducing a domain with another frame or event
//! channel is `EINVAL`.

use std::collections::BTreeMap;

use crate::error::{XsResult, EBUSY, EINVAL, ENOENT};
use crate::features;
use crate::quota::Quota;

/// `DOMID_SELF`: `IS_DOMAIN_INTRODUCED` always answers `T` for it.
pub const DOMID_SELF: u32 = 0x7FF0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Domain {
    gfn: u64,
    evtchn: u32,
    target: Option<u32>,
}

/// What dom0 set for a domain (Xen 4.21+).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Settings {
    features: u32,
    quota: Quota,
}

/// Domain ids from `DOMID_FIRST_RESERVED` (0x7FF0) up are not domains.
const DOMID_FIRST_RESERVED: u32 = 0x7FF0;

/// The introduced domains, and the settings of known ones.
#[derive(Clone, Debug, Default)]
pub(crate) struct Domains {
    map: BTreeMap<u32, Domain>,
    settings: BTreeMap<u32, Settings>,
}

impl Domains {
    /// `INTRODUCE`: returns whether the domain is new (then
    /// `@introduceDomain` fires). The same domain again with the same frame
    /// and channel is accepted silently.
    pub(crate) fn introduce(
        &mut self,
        domid: u32,
        gfn: u64,
        evtchn: u32,
        global: &Quota,
    ) -> XsResult<bool> {
        match self.map.get(&domid) {
            Some(d) if d.gfn == gfn && d.evtchn == evtchn => Ok(false),
            Some(_) => Err(EINVAL),
            None => {
                self.settings_mut(domid, global);
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
        if domid == 0 {
            return Err(EINVAL);
        }
        self.map.remove(&domid).ok_or(EINVAL)?;
        self.settings.remove(&domid);
        Ok(())
    }

    /// Checks a domid named by `GET/SET_FEATURE` or `GET/SET_QUOTA`:
    /// `EINVAL` above 65535 (C xenstored's `parse_domid`), `ENOENT` for the
    /// reserved ids, which name no domain.
    pub(crate) fn check_domid(domid: u32) -> XsResult<()> {
        if domid > 65535 {
            Err(EINVAL)
        } else if domid >= DOMID_FIRST_RESERVED {
            Err(ENOENT)
        } else {
            Ok(())
        }
    }

    fn settings_mut(&mut self, domid: u32, global: &Quota) -> &mut Settings {
        self.settings.entry(domid).or_insert(Settings {
            features: features::SUPPORTED,
            quota: *global,
        })
    }

    /// A domain's feature word.
    pub(crate) fn features(&self, domid: u32) -> u32 {
        self.settings
            .get(&domid)
            .map_or(features::SUPPORTED, |s| s.features)
    }

    /// `SET_FEATURE`: `EBUSY` once introduced, `EINVAL` for bits the
    /// server does not support (checked in that order, as C xenstored).
    pub(crate) fn set_features(&mut self, domid: u32, bits: u32, global: &Quota) -> XsResult<()> {
        if self.map.contains_key(&domid) {
            return Err(EBUSY);
        }
        if bits & !features::SUPPORTED != 0 {
            return Err(EINVAL);
        }
        self.settings_mut(domid, global).features = bits;
        Ok(())
    }

    /// The quotas that apply to a domain.
    pub(crate) fn quota(&self, domid: u32, global: &Quota) -> Quota {
        self.settings.get(&domid).map_or(*global, |s| s.quota)
    }

    /// A domain's own quotas, to change.
    pub(crate) fn quota_mut(&mut self, domid: u32, global: &Quota) -> &mut Quota {
        &mut self.settings_mut(domid, global).quota
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
        let q = Quota::default();
        assert_eq!(d.introduce(5, 100, 3, &q), Ok(true));
        assert_eq!(d.introduce(5, 100, 3, &q), Ok(false));
        assert_eq!(d.introduce(5, 101, 3, &q), Err(EINVAL));
        assert!(d.is_introduced(5));
        assert_eq!(d.set_target(6, 5), Err(ENOENT));
        d.set_target(5, 9).unwrap();
        assert_eq!(d.target_of(5), Some(9));
        d.resume(5).unwrap();
        d.release(5).unwrap();
        assert_eq!(d.release(5), Err(EINVAL));
        assert_eq!(d.resume(5), Err(EINVAL));
        assert_eq!(d.target_of(5), None);
        assert_eq!(d.release(0), Err(EINVAL));
    }

    #[test]
    fn settings_are_copied_from_the_globals_and_fixed_at_introduce() {
        let mut d = Domains::default();
        let mut global = Quota::default();
        assert_eq!(d.features(7), features::SUPPORTED);
        d.set_features(7, features::WATCHDEPTH, &global).unwrap();
        assert_eq!(d.features(7), features::WATCHDEPTH);
        assert_eq!(
            d.set_features(7, features::RECONNECTION, &global),
            Err(EINVAL)
        );
        d.introduce(7, 1, 1, &global).unwrap();
        assert_eq!(d.set_features(7, 0, &global), Err(EBUSY));
        global.max_watches = Some(1);
        assert_eq!(
            d.quota(7, &global).max_watches,
            Quota::default().max_watches
        );
        assert_eq!(
            d.quota(8, &global).max_watches,
            Some(1),
            "unknown: the globals"
        );
        d.release(7).unwrap();
        assert_eq!(d.features(7), features::SUPPORTED);
        assert_eq!(Domains::check_domid(65536), Err(EINVAL));
        assert_eq!(Domains::check_domid(0x7FF0), Err(ENOENT));
    }
}
