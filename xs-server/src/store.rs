//! The tree of nodes, persistent so that snapshots are free.
//!
//! Every node holds a value (any bytes), a permission list (first entry =
//! owner and default) and its children, sorted by name (oxenstored keeps
//! children in a map, so `DIRECTORY` lists them in byte order).
//!
//! The tree is *persistent*: nodes are shared through [`Arc`] and a change
//! copies only the nodes on the path from the root to the changed node
//! (`Arc::make_mut`). Cloning a `Store` is therefore O(1), which is what a
//! transaction needs: its snapshot is a clone taken at `TRANSACTION_START`,
//! and the live tree moves on independently.
//!
//! Each node carries a *generation*: the value of a server-wide counter at
//! the last change of its value, permissions or set of children (a change
//! deeper down does not count). Generations serve two purposes:
//! `DIRECTORY_PART` reports the node's generation so a reader can detect a
//! listing that changed between chunks, and a transaction commit compares
//! the generations of the nodes it read with the live tree to detect
//! conflicts.
//!
//! Permission checks live here because they need the nodes; they follow
//! oxenstored: only the node acted upon is checked (its parent when it is
//! being created), never the other ancestors.

use std::collections::BTreeMap;
use std::sync::Arc;

use xs_wire::Perm;

use crate::access::{dom0_only, Caller, Need};
use crate::error::{XsError, XsResult, EACCES, ENOENT};
use crate::paths::components;

/// The server-wide generation counter.
#[derive(Debug, Default)]
pub(crate) struct Generations(u64);

impl Generations {
    /// A fresh generation, larger than every earlier one.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
}

/// One node of the tree.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    /// The value, any bytes.
    pub(crate) value: Arc<[u8]>,
    /// The permission list; never empty.
    pub(crate) perms: Arc<[Perm]>,
    /// Children by name, in byte order.
    pub(crate) children: BTreeMap<Arc<str>, Arc<Node>>,
    /// Generation of the last change of this node.
    pub(crate) gen: u64,
    /// `DOMID_ANY` entries in `perms` were written by a caller without the
    /// feature and never match.
    pub(crate) any_ignored: bool,
}

impl Node {
    fn new(value: &[u8], perms: Arc<[Perm]>, any_ignored: bool, gen: u64) -> Node {
        Node {
            value: value.into(),
            perms,
            children: BTreeMap::new(),
            gen,
            any_ignored,
        }
    }

    /// Whether the node's permissions grant `need` to `caller`.
    pub(crate) fn grants(&self, caller: &Caller, need: Need) -> bool {
        caller
            .honouring_any(!self.any_ignored)
            .may(&self.perms, need)
    }

    /// Whether `caller` owns the node.
    fn owned_by(&self, caller: &Caller) -> bool {
        caller.honouring_any(!self.any_ignored).owns(&self.perms)
    }

    /// The child names as a `DIRECTORY` payload: each name and a NUL.
    pub(crate) fn listing(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for name in self.children.keys() {
            out.extend_from_slice(name.as_bytes());
            out.push(0);
        }
        out
    }

    fn count(&self, f: &impl Fn(&Node) -> bool) -> usize {
        usize::from(f(self)) + self.children.values().map(|c| c.count(f)).sum::<usize>()
    }
}

/// The tree. Cloning it takes a snapshot in O(1).
#[derive(Clone, Debug)]
pub(crate) struct Store {
    root: Arc<Node>,
}

/// The value of `/tool/xenstored` in a fresh store.
pub const XENSTORED_NAME: &str = "xs-server";

impl Store {
    /// The initial tree of oxenstored started with `--no-domain-init`:
    /// `/`, `/@introduceDomain`, `/@releaseDomain`, `/local`, `/tool` and
    /// `/tool/xenstored`, all owned by dom0 with no access for others
    /// (`n0`). There is no `/local/domain`.
    pub(crate) fn initial(gens: &mut Generations) -> Store {
        let perms: Arc<[Perm]> = dom0_only().into();
        let mut store = Store {
            root: Arc::new(Node::new(b"", perms, false, gens.next())),
        };
        for path in ["/@introduceDomain", "/@releaseDomain", "/local", "/tool"] {
            store
                .mkdir(gens, &Caller::DOM0, path, None)
                .expect("the initial tree is valid");
        }
        store
            .write(
                gens,
                &Caller::DOM0,
                "/tool/xenstored",
                XENSTORED_NAME.as_bytes(),
                None,
            )
            .expect("the initial tree is valid");
        store
    }

    /// The node at `abs`, if it exists.
    pub(crate) fn lookup(&self, abs: &str) -> Option<&Node> {
        let mut node: &Node = &self.root;
        for name in components(abs) {
            node = node.children.get(name)?;
        }
        Some(node)
    }

    /// The generation of the node at `abs`, `None` if it does not exist.
    pub(crate) fn generation(&self, abs: &str) -> Option<u64> {
        self.lookup(abs).map(|n| n.gen)
    }

    /// The node at `abs` if `caller` may read it: `ENOENT`, `EACCES`.
    pub(crate) fn get(&self, caller: &Caller, abs: &str) -> XsResult<&Node> {
        let node = self.lookup(abs).ok_or(ENOENT)?;
        if node.grants(caller, Need::Read) {
            Ok(node)
        } else {
            Err(EACCES)
        }
    }

    /// The node at `abs` for changing; it must exist.
    fn node_mut(&mut self, names: &[&str]) -> &mut Node {
        let mut cur = &mut self.root;
        for name in names {
            cur = Arc::make_mut(cur)
                .children
                .get_mut(*name)
                .expect("node_mut is only called on existing paths");
        }
        Arc::make_mut(cur)
    }

    /// How many leading components of `names` exist, and the deepest
    /// existing node.
    fn deepest(&self, names: &[&str]) -> (usize, &Node) {
        let mut node: &Node = &self.root;
        for (depth, name) in names.iter().enumerate() {
            match node.children.get(*name) {
                Some(child) => node = child,
                None => return (depth, node),
            }
        }
        (names.len(), node)
    }

    /// Refuses to create nodes owned by a domain that already owns `limit`
    /// or more (oxenstored's `quota-maxentity`; the caller passes `None`
    /// for callers the quota does not apply to; dom0's nodes never count).
    fn check_entries(&self, owner: u32, limit: Option<usize>) -> XsResult<()> {
        match limit {
            Some(limit) if owner != 0 => {
                let owned = self.root.count(&|n| n.perms[0].domid == owner);
                if owned >= limit {
                    Err(XsError::Quota)
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// Creates the missing nodes of `names` below the `depth` existing
    /// ones, with `perms`, giving the last one `value`.
    fn create(
        &mut self,
        gens: &mut Generations,
        names: &[&str],
        depth: usize,
        (perms, any_ignored): (Arc<[Perm]>, bool),
        value: &[u8],
    ) {
        let gen = gens.next();
        let mut node = Node::new(value, perms.clone(), any_ignored, gen);
        for i in (depth + 1..names.len()).rev() {
            let mut parent = Node::new(b"", perms.clone(), any_ignored, gen);
            parent.children.insert(names[i].into(), Arc::new(node));
            node = parent;
        }
        let parent = self.node_mut(&names[..depth]);
        parent.children.insert(names[depth].into(), Arc::new(node));
        parent.gen = gen;
    }

    /// `WRITE`: sets the value, creating the node and missing ancestors
    /// with empty values. Created nodes copy the permissions of the deepest
    /// existing ancestor (oxenstored; C xenstored makes an unprivileged
    /// writer the owner instead). Returns whether the node was created.
    pub(crate) fn write(
        &mut self,
        gens: &mut Generations,
        caller: &Caller,
        abs: &str,
        value: &[u8],
        entry_limit: Option<usize>,
    ) -> XsResult<bool> {
        let names: Vec<&str> = components(abs).collect();
        let (depth, deepest) = self.deepest(&names);
        if !deepest.grants(caller, Need::Write) {
            return Err(EACCES);
        }
        if depth == names.len() {
            let gen = gens.next();
            let node = self.node_mut(&names);
            node.value = value.into();
            node.gen = gen;
            return Ok(false);
        }
        let perms = (deepest.perms.clone(), deepest.any_ignored);
        self.check_entries(perms.0[0].domid, entry_limit)?;
        self.create(gens, &names, depth, perms, value);
        Ok(true)
    }

    /// `MKDIR`: creates the node (and ancestors) with an empty value.
    /// An existing node is left alone, but the caller still needs write
    /// access to it (oxenstored). Returns whether anything was created.
    pub(crate) fn mkdir(
        &mut self,
        gens: &mut Generations,
        caller: &Caller,
        abs: &str,
        entry_limit: Option<usize>,
    ) -> XsResult<bool> {
        let names: Vec<&str> = components(abs).collect();
        let (depth, deepest) = self.deepest(&names);
        if !deepest.grants(caller, Need::Write) {
            return Err(EACCES);
        }
        if depth == names.len() {
            return Ok(false);
        }
        let perms = (deepest.perms.clone(), deepest.any_ignored);
        self.check_entries(perms.0[0].domid, entry_limit)?;
        self.create(gens, &names, depth, perms, b"");
        Ok(true)
    }

    /// `RM`: removes the subtree. A missing node is fine if its parent
    /// exists (returns `false`); a missing parent is `ENOENT`. Needs write
    /// access to the node itself. `/` removes every child of the root (what
    /// oxenstored does; C xenstored answers `EINVAL`).
    pub(crate) fn rm(
        &mut self,
        gens: &mut Generations,
        caller: &Caller,
        abs: &str,
    ) -> XsResult<bool> {
        let names: Vec<&str> = components(abs).collect();
        let Some((last, parent_names)) = names.split_last() else {
            if !self.root.grants(caller, Need::Write) {
                return Err(EACCES);
            }
            let gen = gens.next();
            let root = self.node_mut(&[]);
            root.children.clear();
            root.gen = gen;
            return Ok(true);
        };
        let (depth, parent) = self.deepest(parent_names);
        if depth < parent_names.len() {
            return Err(ENOENT);
        }
        let Some(node) = parent.children.get(*last) else {
            return Ok(false);
        };
        if !node.grants(caller, Need::Write) {
            return Err(EACCES);
        }
        let gen = gens.next();
        let parent = self.node_mut(parent_names);
        parent.children.remove(*last);
        parent.gen = gen;
        Ok(true)
    }

    /// `SET_PERMS`. An unprivileged caller must own the node and may not
    /// hand it to another owner (`EACCES`, as oxenstored; C xenstored 4.17+
    /// says `EPERM` for the latter).
    pub(crate) fn set_perms(
        &mut self,
        gens: &mut Generations,
        caller: &Caller,
        abs: &str,
        perms: Vec<Perm>,
    ) -> XsResult<()> {
        let node = self.lookup(abs).ok_or(ENOENT)?;
        let is_root = abs == "/";
        if !is_root && !node.owned_by(caller) {
            return Err(EACCES);
        }
        if !node.grants(caller, Need::Write) {
            return Err(EACCES);
        }
        let any_ignored =
            !caller.writes_domid_any && perms.iter().any(|p| p.domid == xs_wire::DOMID_ANY);
        if !caller.privileged && perms.first().map(|p| p.domid) != Some(node.perms[0].domid) {
            return Err(EACCES);
        }
        let gen = gens.next();
        let names: Vec<&str> = components(abs).collect();
        let node = self.node_mut(&names);
        node.perms = perms.into();
        node.any_ignored = any_ignored;
        node.gen = gen;
        Ok(())
    }

    /// Forgets a released domain in every permission list: entries naming
    /// it are dropped and nodes it owned pass to dom0.
    pub(crate) fn forget_domain(&mut self, gens: &mut Generations, domid: u32) {
        fn mentions(node: &Node, domid: u32) -> bool {
            node.perms.iter().any(|p| p.domid == domid)
                || node.children.values().any(|c| mentions(c, domid))
        }
        fn scrub(node: &mut Arc<Node>, domid: u32, gen: u64) {
            if !mentions(node, domid) {
                return;
            }
            let node = Arc::make_mut(node);
            if node.perms.iter().any(|p| p.domid == domid) {
                let (owner, acl) = node.perms.split_first().expect("perms are never empty");
                let owner = if owner.domid == domid {
                    Perm::new(owner.access, 0)
                } else {
                    *owner
                };
                let perms: Vec<Perm> = core::iter::once(owner)
                    .chain(acl.iter().copied().filter(|p| p.domid != domid))
                    .collect();
                node.perms = perms.into();
                node.gen = gen;
            }
            for child in node.children.values_mut() {
                scrub(child, domid, gen);
            }
        }
        let gen = gens.next();
        scrub(&mut self.root, domid, gen);
    }

    /// Number of nodes in the tree, the root included.
    pub(crate) fn node_count(&self) -> usize {
        self.root.count(&|_| true)
    }

    /// Whether two stores share the same root (nothing changed between
    /// them).
    pub(crate) fn same_as(&self, other: &Store) -> bool {
        Arc::ptr_eq(&self.root, &other.root)
    }
}

/// A permission list that gives `domid` nothing but ownership: `n<domid>`.
#[cfg(test)]
pub(crate) fn owned_by(domid: u32) -> Vec<Perm> {
    vec![Perm::new(xs_wire::Access::None, domid)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dom(domid: u32) -> Caller {
        Caller {
            domid,
            target: None,
            privileged: false,
            domid_any: false,
            writes_domid_any: false,
        }
    }

    fn fresh() -> (Store, Generations) {
        let mut gens = Generations::default();
        (Store::initial(&mut gens), gens)
    }

    fn names(store: &Store, abs: &str) -> Vec<String> {
        store
            .lookup(abs)
            .unwrap()
            .children
            .keys()
            .map(|k| k.to_string())
            .collect()
    }

    #[test]
    fn initial_tree_matches_oxenstored() {
        let (store, _) = fresh();
        assert_eq!(
            names(&store, "/"),
            ["@introduceDomain", "@releaseDomain", "local", "tool"]
        );
        assert_eq!(
            &*store.lookup("/tool/xenstored").unwrap().value,
            b"xs-server"
        );
        assert!(store.lookup("/local/domain").is_none());
        assert_eq!(&*store.lookup("/").unwrap().perms, &owned_by(0)[..]);
    }

    #[test]
    fn write_creates_parents_with_inherited_perms() {
        let (mut s, mut g) = fresh();
        s.write(&mut g, &Caller::DOM0, "/a", b"", None).unwrap();
        s.set_perms(
            &mut g,
            &Caller::DOM0,
            "/a",
            vec!["b7".parse().unwrap(), "r5".parse().unwrap()],
        )
        .unwrap();
        assert!(s
            .write(&mut g, &Caller::DOM0, "/a/b/c", b"v", None)
            .unwrap());
        assert_eq!(&*s.lookup("/a/b").unwrap().value, b"");
        assert_eq!(
            s.lookup("/a/b").unwrap().perms,
            s.lookup("/a").unwrap().perms
        );
        assert_eq!(&*s.lookup("/a/b/c").unwrap().value, b"v");
        assert!(!s
            .write(&mut g, &Caller::DOM0, "/a/b/c", b"w", None)
            .unwrap());
    }

    #[test]
    fn snapshots_are_isolated() {
        let (mut s, mut g) = fresh();
        s.write(&mut g, &Caller::DOM0, "/x", b"1", None).unwrap();
        let snap = s.clone();
        s.write(&mut g, &Caller::DOM0, "/x", b"2", None).unwrap();
        s.rm(&mut g, &Caller::DOM0, "/tool").unwrap();
        assert_eq!(&*snap.lookup("/x").unwrap().value, b"1");
        assert!(snap.lookup("/tool/xenstored").is_some());
        assert!(s.lookup("/tool").is_none());
    }

    #[test]
    fn generations_track_value_and_children_only() {
        let (mut s, mut g) = fresh();
        s.write(&mut g, &Caller::DOM0, "/a/b", b"", None).unwrap();
        let a = s.generation("/a").unwrap();
        s.write(&mut g, &Caller::DOM0, "/a/b", b"x", None).unwrap();
        assert_eq!(
            s.generation("/a"),
            Some(a),
            "a child's value is not a's change"
        );
        s.write(&mut g, &Caller::DOM0, "/a/c", b"", None).unwrap();
        assert!(s.generation("/a").unwrap() > a, "a new child is");
    }

    #[test]
    fn rm_rules() {
        let (mut s, mut g) = fresh();
        s.write(&mut g, &Caller::DOM0, "/a/b/c", b"", None).unwrap();
        assert_eq!(s.rm(&mut g, &Caller::DOM0, "/a/missing"), Ok(false));
        assert_eq!(s.rm(&mut g, &Caller::DOM0, "/a/missing/x"), Err(ENOENT));
        assert_eq!(s.rm(&mut g, &Caller::DOM0, "/a/b"), Ok(true));
        assert!(s.lookup("/a/b/c").is_none());
        assert_eq!(s.rm(&mut g, &Caller::DOM0, "/"), Ok(true));
        assert_eq!(names(&s, "/"), Vec::<String>::new());
    }

    #[test]
    fn permissions_are_enforced() {
        let (mut s, mut g) = fresh();
        s.write(&mut g, &Caller::DOM0, "/d", b"v", None).unwrap();
        assert_eq!(s.get(&dom(5), "/d").map(|_| ()), Err(EACCES));
        assert_eq!(s.write(&mut g, &dom(5), "/d/x", b"", None), Err(EACCES));
        s.set_perms(&mut g, &Caller::DOM0, "/d", owned_by(5))
            .unwrap();
        assert!(s.get(&dom(5), "/d").is_ok());
        assert!(s.write(&mut g, &dom(5), "/d/x", b"", None).unwrap());
        assert_eq!(s.lookup("/d/x").unwrap().perms[0].domid, 5);
        // An owner may change the list but not give the node away.
        assert_eq!(s.set_perms(&mut g, &dom(5), "/d", owned_by(6)), Err(EACCES));
        assert!(s
            .set_perms(
                &mut g,
                &dom(5),
                "/d",
                vec!["n5".parse().unwrap(), "r6".parse().unwrap()]
            )
            .is_ok());
        assert!(s.get(&dom(6), "/d").is_ok());
        assert_eq!(s.rm(&mut g, &dom(6), "/d"), Err(EACCES));
        assert_eq!(s.mkdir(&mut g, &dom(6), "/d", None), Err(EACCES));
    }

    #[test]
    fn entry_quota_counts_nodes_of_the_owner() {
        let (mut s, mut g) = fresh();
        s.mkdir(&mut g, &Caller::DOM0, "/h", None).unwrap();
        s.set_perms(&mut g, &Caller::DOM0, "/h", owned_by(5))
            .unwrap();
        s.write(&mut g, &dom(5), "/h/a", b"", Some(3)).unwrap();
        s.write(&mut g, &dom(5), "/h/b", b"", Some(3)).unwrap();
        assert_eq!(
            s.write(&mut g, &dom(5), "/h/c", b"", Some(3)),
            Err(XsError::Quota)
        );
        // Changing an existing node is always fine.
        s.write(&mut g, &dom(5), "/h/a", b"x", Some(3)).unwrap();
    }

    #[test]
    fn forgetting_a_domain_scrubs_permissions() {
        let (mut s, mut g) = fresh();
        s.write(&mut g, &Caller::DOM0, "/a/b", b"", None).unwrap();
        s.set_perms(
            &mut g,
            &Caller::DOM0,
            "/a/b",
            vec![
                "b5".parse().unwrap(),
                "r6".parse().unwrap(),
                "w5".parse().unwrap(),
            ],
        )
        .unwrap();
        s.forget_domain(&mut g, 5);
        let perms: Vec<String> = s
            .lookup("/a/b")
            .unwrap()
            .perms
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(perms, ["b0", "r6"]);
    }
}
