//! Watches: which registrations a change fires, and with which event path.
//!
//! A connection registers `(path, token)` pairs. A change to the tree fires
//! every watch whose path is the changed path or one of its ancestors
//! (xenstored's `is_child`), with the changed path as the event path. When
//! a subtree is removed, watches *inside* it fire too, each with its own
//! path (oxenstored's recursive firing), so a watcher of `/a/b/c` learns
//! that `rm /a` took its node away.
//!
//! * Relative watch paths are stored resolved, and events for them come
//!   back relative (the `/local/domain/<domid>/` prefix removed).
//! * Special watches (`@introduceDomain`, `@releaseDomain`) fire only on
//!   domain introduction and release, never on tree changes, and their
//!   event path is the bare special name.
//! * A depth (Xen 4.22) limits how many levels below the watched path a
//!   change may be: 0 is the node only, 1 adds its children, and so on
//!   (C xenstored's `is_child` with a depth). Watches inside a removed
//!   subtree fire whatever their depth, as C xenstored's exact match does.
//! * A domain's introduction or release fires two kinds of special
//!   watch (C xenstored's `fire_special_watches`): plain `@releaseDomain`
//!   watches without a depth get the bare name; with Xen 4.22 semantics,
//!   `@releaseDomain` watches with a depth of 1 or more, and watches on
//!   `@releaseDomain/<domid>` for that domain, get `@releaseDomain/<domid>`.
//!   A depth-0 special watch never fires. The same holds for
//!   `@introduceDomain`.
//! * A watch is identified by its resolved path and token; registering the
//!   same pair twice is `EEXIST`, and `UNWATCH` of an unknown pair `ENOENT`.
//!
//! Whether the event is then *delivered* depends on the watcher's read
//! access; that check needs the tree and lives in the engine.

use xs_wire::is_child;

use crate::error::{XsError, XsResult, EEXIST, ENOENT};
use crate::paths::relative_to_home;

/// One registered watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Watch {
    /// The path as registered (relative, absolute or special).
    pub(crate) path: String,
    /// The resolved path (absolute, or the special name).
    pub(crate) abs: String,
    /// The token events carry.
    pub(crate) token: String,
    /// Registered with a relative path.
    pub(crate) relative: bool,
    /// An `@` watch.
    pub(crate) special: bool,
    /// Levels below the path that may fire it; `None`: any.
    pub(crate) depth: Option<u32>,
}

/// A change that may fire watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change<'a> {
    /// A node changed (or, `recursive`, a subtree was removed).
    Node {
        /// The absolute path of the changed node.
        path: &'a str,
        /// The whole subtree went away (`RM`).
        recursive: bool,
    },
    /// `@introduceDomain` or `@releaseDomain` for a domain.
    Special {
        /// The special name.
        name: &'a str,
        /// The domain introduced or released.
        domid: u32,
        /// Xen 4.22: also fire the domid-carrying form.
        with_domid: bool,
    },
}

/// Whether a change at `path` is within `depth` levels below `watched`
/// (`path` must already be `watched` or below it).
fn within_depth(path: &str, watched: &str, depth: Option<u32>) -> bool {
    let Some(depth) = depth else { return true };
    let levels = |p: &str| p.split('/').filter(|c| !c.is_empty()).count();
    levels(path).saturating_sub(levels(watched)) <= depth as usize
}

/// An event to queue, before the permission check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Pending {
    /// The event path as the watcher sees it.
    pub(crate) path: String,
    /// The watch token.
    pub(crate) token: String,
    /// The absolute path whose permissions decide delivery.
    pub(crate) checked: String,
}

/// The watches of one connection, in registration order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Watches {
    list: Vec<Watch>,
}

impl Watches {
    /// Registers a watch; `limit` is the most a connection may have.
    pub(crate) fn add(&mut self, watch: Watch, limit: Option<usize>) -> XsResult<()> {
        if self
            .list
            .iter()
            .any(|w| w.abs == watch.abs && w.token == watch.token)
        {
            return Err(EEXIST);
        }
        if limit.is_some_and(|limit| self.list.len() >= limit) {
            return Err(XsError::Quota);
        }
        self.list.push(watch);
        Ok(())
    }

    /// Removes the watch with this resolved path and token.
    pub(crate) fn remove(&mut self, abs: &str, token: &str) -> XsResult<()> {
        let index = self
            .list
            .iter()
            .position(|w| w.abs == abs && w.token == token)
            .ok_or(ENOENT)?;
        self.list.remove(index);
        Ok(())
    }

    /// Drops every watch.
    pub(crate) fn clear(&mut self) {
        self.list.clear();
    }

    /// Number of watches.
    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    /// The events `change` fires on this connection (of a caller in
    /// `domid`): first watches on the path and its ancestors, then, for a
    /// removed subtree, the watches inside it.
    pub(crate) fn fired(&self, change: Change<'_>, domid: u32) -> Vec<Pending> {
        let mut out = Vec::new();
        match change {
            Change::Special {
                name,
                domid,
                with_domid,
            } => {
                let with_id = format!("{name}/{domid}");
                for w in self.list.iter().filter(|w| w.special) {
                    let path = if w.abs == name && w.depth.is_none() {
                        name
                    } else if with_domid
                        && (w.abs == with_id || (w.abs == name && w.depth.is_some_and(|d| d > 0)))
                    {
                        &with_id
                    } else {
                        continue;
                    };
                    out.push(Pending {
                        path: path.to_owned(),
                        token: w.token.clone(),
                        checked: format!("/{name}"),
                    });
                }
            }
            Change::Node { path, recursive } => {
                for w in self.list.iter().filter(|w| !w.special) {
                    if is_child(path, &w.abs) && within_depth(path, &w.abs, w.depth) {
                        out.push(Pending {
                            path: if w.relative {
                                relative_to_home(path, domid)
                            } else {
                                path.to_owned()
                            },
                            token: w.token.clone(),
                            checked: path.to_owned(),
                        });
                    }
                }
                if recursive {
                    for w in self.list.iter().filter(|w| !w.special) {
                        if w.abs != path && is_child(&w.abs, path) {
                            out.push(Pending {
                                path: w.path.clone(),
                                token: w.token.clone(),
                                checked: w.abs.clone(),
                            });
                        }
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(path: &str, token: &str) -> Watch {
        let relative = !path.starts_with('/') && !path.starts_with('@');
        let special = path.starts_with('@');
        Watch {
            path: path.into(),
            abs: if relative {
                format!("/local/domain/3/{path}")
            } else {
                path.into()
            },
            token: token.into(),
            relative,
            special,
            depth: None,
        }
    }

    fn deep(path: &str, token: &str, depth: u32) -> Watch {
        Watch {
            depth: Some(depth),
            ..watch(path, token)
        }
    }

    fn release(domid: u32, with_domid: bool) -> Change<'static> {
        Change::Special {
            name: "@releaseDomain",
            domid,
            with_domid,
        }
    }

    fn paths(events: Vec<Pending>) -> Vec<(String, String)> {
        events.into_iter().map(|p| (p.path, p.token)).collect()
    }

    #[test]
    fn duplicates_and_unknown() {
        let mut ws = Watches::default();
        ws.add(watch("/a", "t"), None).unwrap();
        assert_eq!(ws.add(watch("/a", "t"), None), Err(EEXIST));
        ws.add(watch("/a", "u"), None).unwrap();
        assert_eq!(ws.remove("/a", "x"), Err(ENOENT));
        ws.remove("/a", "t").unwrap();
        assert_eq!(ws.len(), 1);
        assert_eq!(ws.add(watch("/b", "t"), Some(1)), Err(XsError::Quota));
    }

    #[test]
    fn node_and_ancestors_fire() {
        let mut ws = Watches::default();
        for (p, t) in [("/", "root"), ("/a", "a"), ("/a/b", "ab"), ("/ab", "no")] {
            ws.add(watch(p, t), None).unwrap();
        }
        let ev = paths(ws.fired(
            Change::Node {
                path: "/a/b",
                recursive: false,
            },
            0,
        ));
        assert_eq!(
            ev,
            [
                ("/a/b".into(), "root".into()),
                ("/a/b".into(), "a".into()),
                ("/a/b".into(), "ab".into())
            ]
        );
    }

    #[test]
    fn removed_subtrees_fire_inner_watches_with_their_own_path() {
        let mut ws = Watches::default();
        ws.add(watch("/a/b/c", "inner"), None).unwrap();
        ws.add(watch("/a", "outer"), None).unwrap();
        let ev = paths(ws.fired(
            Change::Node {
                path: "/a",
                recursive: true,
            },
            0,
        ));
        assert_eq!(
            ev,
            [
                ("/a".into(), "outer".into()),
                ("/a/b/c".into(), "inner".into())
            ]
        );
    }

    #[test]
    fn relative_and_special() {
        let mut ws = Watches::default();
        ws.add(watch("dev", "rel"), None).unwrap();
        ws.add(watch("@releaseDomain", "sp"), None).unwrap();
        let ev = paths(ws.fired(
            Change::Node {
                path: "/local/domain/3/dev/x",
                recursive: false,
            },
            3,
        ));
        assert_eq!(ev, [("dev/x".into(), "rel".into())]);
        let ev = paths(ws.fired(release(7, false), 3));
        assert_eq!(ev, [("@releaseDomain".into(), "sp".into())]);
        let introduce = Change::Special {
            name: "@introduceDomain",
            domid: 7,
            with_domid: true,
        };
        assert!(ws.fired(introduce, 3).is_empty());
    }

    #[test]
    fn depth_limits_the_levels_below() {
        let mut ws = Watches::default();
        ws.add(deep("/a", "d0", 0), None).unwrap();
        ws.add(deep("/a", "d1", 1), None).unwrap();
        ws.add(deep("/", "r1", 1), None).unwrap();
        let fired = |ws: &Watches, path| -> Vec<String> {
            ws.fired(
                Change::Node {
                    path,
                    recursive: false,
                },
                0,
            )
            .into_iter()
            .map(|p| p.token)
            .collect()
        };
        assert_eq!(fired(&ws, "/a"), ["d0", "d1", "r1"]);
        assert_eq!(fired(&ws, "/a/b"), ["d1"]);
        assert!(fired(&ws, "/a/b/c").is_empty());
        assert_eq!(fired(&ws, "/b"), ["r1"]);
    }

    #[test]
    fn special_watches_with_domids() {
        let mut ws = Watches::default();
        ws.add(watch("@releaseDomain", "plain"), None).unwrap();
        ws.add(deep("@releaseDomain", "d0", 0), None).unwrap();
        ws.add(deep("@releaseDomain", "d1", 1), None).unwrap();
        ws.add(watch("@releaseDomain/7", "only7"), None).unwrap();
        ws.add(watch("@releaseDomain/8", "only8"), None).unwrap();
        assert_eq!(
            paths(ws.fired(release(7, true), 0)),
            [
                ("@releaseDomain".into(), "plain".into()),
                ("@releaseDomain/7".into(), "d1".into()),
                ("@releaseDomain/7".into(), "only7".into()),
            ]
        );
        assert_eq!(
            paths(ws.fired(release(7, false), 0)),
            [("@releaseDomain".into(), "plain".into())],
            "before 4.22 only the bare name fires"
        );
    }
}
