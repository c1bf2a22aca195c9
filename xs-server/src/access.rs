//! Who is asking, and what a permission list lets them do.
//!
//! A [`Caller`] is the identity a connection acts with: its domain id, the
//! domain it was given rights over by `SET_TARGET` (a device-model stubdom
//! acting for its guest), and whether it is privileged (dom0 on the socket).
//!
//! The rule is the one both daemons apply (oxenstored `Perms.check`):
//!
//! 1. a privileged caller may do anything;
//! 2. the owner (first entry) may do anything; the caller counts as owner if
//!    its own domid *or* its target is the owner;
//! 3. otherwise, for the caller's domid and its target, the first later entry
//!    naming that domain decides, or the first entry's letter (the default)
//!    if none does; any of them granting the access is enough.
//!
//! `DOMID_ANY` (Xen 4.22): an entry naming it matches every caller whose
//! [`Caller::domid_any`] is set (the server sets it when imitating 4.22),
//! as owner or as a later entry (C xenstored's `perm_allows_conn`).
//!
//! Only the node itself is checked, never its ancestors (as in oxenstored):
//! a readable node under an unreadable parent can still be read.

use xs_wire::{Access, Perm, DOMID_ANY};

/// The identity a request is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The caller's domain.
    pub domid: u32,
    /// The domain whose rights `SET_TARGET` gave it, if any.
    pub target: Option<u32>,
    /// Full access to everything (dom0 on the socket).
    pub privileged: bool,
    /// Entries for `DOMID_ANY` match this caller (Xen 4.22).
    pub domid_any: bool,
    /// `DOMID_ANY` entries this caller writes take effect: it has the
    /// `DOMID_ANY` feature (Xen 4.22). Otherwise they are stored but never
    /// match (C xenstored marks them ignored).
    pub writes_domid_any: bool,
}

/// What an operation needs on a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Need {
    Read,
    Write,
}

impl Caller {
    /// The privileged dom0 caller.
    pub const DOM0: Caller = Caller {
        domid: 0,
        target: None,
        privileged: true,
        domid_any: false,
        writes_domid_any: true,
    };

    /// The same caller, with `DOMID_ANY` entries matching it only if
    /// `honoured` (the node's entries were not written without the feature).
    pub(crate) fn honouring_any(&self, honoured: bool) -> Caller {
        Caller {
            domid_any: self.domid_any && honoured,
            ..*self
        }
    }

    fn ids(&self) -> impl Iterator<Item = u32> {
        core::iter::once(self.domid).chain(self.target)
    }

    /// Whether a permission entry for `domid` names a caller acting as `id`.
    fn names(&self, entry: u32, id: u32) -> bool {
        entry == id || (self.domid_any && entry == DOMID_ANY)
    }

    /// Whether the caller owns a node with these permissions (owner rule,
    /// target included). Privileged callers own everything.
    pub(crate) fn owns(&self, perms: &[Perm]) -> bool {
        self.privileged
            || perms
                .first()
                .is_some_and(|o| self.ids().any(|id| self.names(o.domid, id)))
    }

    /// Whether `perms` grant `need` to the caller.
    pub(crate) fn may(&self, perms: &[Perm], need: Need) -> bool {
        if self.owns(perms) {
            return true;
        }
        let Some((owner, acl)) = perms.split_first() else {
            return false;
        };
        self.ids().any(|id| {
            let access = acl
                .iter()
                .find(|p| self.names(p.domid, id))
                .map_or(owner.access, |p| p.access);
            match need {
                Need::Read => access.can_read(),
                Need::Write => access.can_write(),
            }
        })
    }
}

/// The permissions of the initial nodes: owned by dom0, nobody else.
pub(crate) fn dom0_only() -> Vec<Perm> {
    vec![Perm::new(Access::None, 0)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perms(text: &[&str]) -> Vec<Perm> {
        text.iter().map(|t| t.parse().unwrap()).collect()
    }

    fn dom(domid: u32) -> Caller {
        Caller {
            domid,
            target: None,
            privileged: false,
            domid_any: false,
            writes_domid_any: false,
        }
    }

    #[test]
    fn owner_has_full_access() {
        let p = perms(&["n5"]);
        assert!(dom(5).may(&p, Need::Read));
        assert!(dom(5).may(&p, Need::Write));
        assert!(!dom(6).may(&p, Need::Read));
    }

    #[test]
    fn first_entry_is_the_default() {
        let p = perms(&["r5"]);
        assert!(dom(6).may(&p, Need::Read));
        assert!(!dom(6).may(&p, Need::Write));
    }

    #[test]
    fn later_entries_override_the_default() {
        let p = perms(&["b5", "n7", "w8"]);
        assert!(dom(6).may(&p, Need::Write));
        assert!(!dom(7).may(&p, Need::Read));
        assert!(dom(8).may(&p, Need::Write));
        assert!(!dom(8).may(&p, Need::Read));
    }

    #[test]
    fn first_matching_entry_wins() {
        let p = perms(&["n0", "r7", "b7"]);
        assert!(!dom(7).may(&p, Need::Write));
    }

    #[test]
    fn privileged_and_target() {
        let p = perms(&["n5"]);
        assert!(Caller::DOM0.may(&p, Need::Write));
        let stub = Caller {
            domid: 9,
            target: Some(5),
            privileged: false,
            domid_any: false,
            writes_domid_any: false,
        };
        assert!(stub.owns(&p));
        assert!(stub.may(&p, Need::Write));
    }

    #[test]
    fn domid_any_matches_everyone_only_when_enabled() {
        let p = perms(&["n5", "r32757"]);
        assert!(!dom(6).may(&p, Need::Read), "4.17: an ordinary domid");
        let any = |domid| Caller {
            domid_any: true,
            ..dom(domid)
        };
        assert!(any(6).may(&p, Need::Read));
        assert!(!any(6).may(&p, Need::Write));
        assert!(any(6).owns(&perms(&["n32757"])), "an owner entry too");
        let first_wins = perms(&["n5", "n6", "r32757"]);
        assert!(!any(6).may(&first_wins, Need::Read));
    }
}
