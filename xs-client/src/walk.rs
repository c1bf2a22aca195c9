//! Walking a subtree, a level at a time with pipelined requests.
//!
//! pyxs reads a node, lists it, then recurses: two round trips per node.
//! Here every level of the tree is fetched as one pipelined batch (a READ and
//! a DIRECTORY per node), so a tree costs about `2N` daemon service times
//! plus one round trip per *level*. The result is ordered like
//! `os.walk`: parents before children (top-down) or after them (bottom-up),
//! and bottom-up really is post-order at every depth (pyxs's is not).

use xs_wire::{Path, Request};

use crate::handle::{parse_call, value_of, Handle};
use crate::proto::Response;
use crate::{batch, directory_part, ops, Error, Problem, Result};

/// What one request of a walk's batch brought back (each request's reply
/// is parsed with its own kind, so a DIRECTORY always gives `Children`).
pub(crate) enum Fetched {
    Children(Vec<String>),
    Value(Vec<u8>),
}

/// One node of a walk.
///
/// ```
/// # let _xs = xs_server::Server::spawn_temp();
/// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
/// use xs_client::{Client, Store};
///
/// let client = Client::open()?;
/// client.write("/local/domain/1/device/vif/0/state", "4")?;
/// let top = &client.walk("/local/domain/1/device")?[0];
/// assert_eq!(top.path, "/local/domain/1/device");
/// assert_eq!(top.value, b"");
/// assert_eq!(top.children, ["vif"]);
/// # Ok::<(), xs_client::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalkEntry {
    /// The node's full path.
    pub path: String,
    /// Its value (empty if it could not be read).
    pub value: Vec<u8>,
    /// Its children's names.
    pub children: Vec<String>,
}

/// `parent`'s child's path, allocated once at its final size.
fn join(parent: &str, child: &str) -> String {
    let parent = if parent == "/" { "" } else { parent };
    let mut path = String::with_capacity(parent.len() + 1 + child.len());
    path.push_str(parent);
    path.push('/');
    path.push_str(child);
    path
}

/// A walk in progress, fed a level at a time: the sync and the async
/// clients run the same steps.
pub(crate) struct Tree {
    /// Nodes in breadth-first order, with each node's children's indices.
    nodes: Vec<(WalkEntry, Vec<usize>)>,
    level: Vec<usize>,
    /// The nodes of the level being fetched: path and parent.
    pending: Vec<(String, usize)>,
}

/// The reply of one request of a level's batch; a READ's value is the
/// reply's buffer itself.
pub(crate) fn fetched(req: &Request<'_>, resp: Response) -> Result<Fetched> {
    match req {
        Request::Read { .. } => value_of(req, resp).map(Fetched::Value),
        _ => parse_call(req, ops::names, &resp).map(Fetched::Children),
    }
}

impl Tree {
    /// A walk from `top` (its children listed, its value read).
    pub(crate) fn new(top: &str, children: Vec<String>, value: Vec<u8>) -> Tree {
        let entry = WalkEntry {
            path: top.to_owned(),
            value,
            children,
        };
        let kids = Vec::with_capacity(entry.children.len());
        Tree {
            nodes: vec![(entry, kids)],
            level: vec![0],
            pending: Vec::new(),
        }
    }

    /// Queues the next level's nodes, to fetch as one pipelined batch
    /// ([`Tree::requests`]); `false` when the walk is done.
    pub(crate) fn next_level(&mut self) -> bool {
        if self.level.is_empty() {
            return false;
        }
        self.pending.clear();
        for &i in &self.level {
            for child in &self.nodes[i].0.children {
                self.pending.push((join(&self.nodes[i].0.path, child), i));
            }
        }
        true
    }

    /// The batch for the queued level: a DIRECTORY and a READ per node.
    pub(crate) fn requests(&self) -> Result<Vec<Request<'_>>> {
        let mut reqs = Vec::with_capacity(2 * self.pending.len());
        for (p, _) in &self.pending {
            let path = Path::new(p)?;
            reqs.push(Request::Directory { path });
            reqs.push(Request::Read { path });
        }
        Ok(reqs)
    }

    /// Takes a level's replies (two per node, in order). Returns the
    /// nodes whose listing was too big for one reply: list each in parts
    /// and hand the names to [`Tree::set_children`] before the next level.
    pub(crate) fn absorb(&mut self, replies: Vec<Result<Fetched>>) -> Result<Vec<(usize, String)>> {
        let mut replies = replies.into_iter();
        self.nodes.reserve(self.pending.len());
        let mut next = Vec::with_capacity(self.pending.len());
        let mut relist = Vec::new();
        for (path, parent) in std::mem::take(&mut self.pending) {
            // The pipeline answers every request, in order: two per node.
            let (Some(children), Some(value)) = (replies.next(), replies.next()) else {
                break;
            };
            let (children, too_big) = match children {
                Ok(Fetched::Children(c)) => (c, false),
                Ok(Fetched::Value(_)) => {
                    return Err(Error::unexpected(
                        Problem::WrongShape {
                            request: xs_wire::Op::Directory,
                        },
                        None,
                    ))
                }
                Err(e) if e.is_not_found() => continue,
                Err(e) if e.errno() == Some(xs_wire::Errno::E2BIG) => (Vec::new(), true),
                Err(e) => return Err(e),
            };
            // An unreadable value reads as empty, as in pyxs.
            let value = match value {
                Ok(Fetched::Value(v)) => v,
                _ => Vec::new(),
            };
            let index = self.nodes.len();
            if too_big {
                relist.push((index, path.clone()));
            }
            // Room for its children's indices, which the next level adds.
            let kids = Vec::with_capacity(children.len());
            self.nodes.push((
                WalkEntry {
                    path,
                    value,
                    children,
                },
                kids,
            ));
            self.nodes[parent].1.push(index);
            next.push(index);
        }
        self.level = next;
        Ok(relist)
    }

    /// The children of a node [`Tree::absorb`] asked to list in parts.
    pub(crate) fn set_children(&mut self, index: usize, children: Vec<String>) {
        if let Some(node) = self.nodes.get_mut(index) {
            node.1.reserve(children.len());
            node.0.children = children;
        }
    }

    /// The nodes, parents before children (`top_down`) or after them.
    pub(crate) fn finish(self, top_down: bool) -> Vec<WalkEntry> {
        let mut order = Vec::with_capacity(self.nodes.len());
        let mut stack = vec![(0usize, false)];
        while let Some((i, expanded)) = stack.pop() {
            if expanded {
                order.push(i);
                continue;
            }
            if top_down {
                order.push(i);
            } else {
                stack.push((i, true));
            }
            for &c in self.nodes[i].1.iter().rev() {
                stack.push((c, false));
            }
        }
        let mut slots: Vec<Option<WalkEntry>> =
            self.nodes.into_iter().map(|(e, _)| Some(e)).collect();
        order.into_iter().filter_map(|i| slots[i].take()).collect()
    }
}

/// Fetches the subtree under `top` (which must exist). Nodes that vanish
/// during the walk are left out.
pub(crate) fn walk(h: &Handle<'_>, top: &str, top_down: bool) -> Result<Vec<WalkEntry>> {
    // The top must exist: list it on its own so a missing one is an error.
    let top_children = directory_part::list(h, Path::new(top)?)?.into();
    // An unreadable value reads as empty, as in pyxs.
    let top_value = h.read(top).unwrap_or_default();
    let mut tree = Tree::new(top, top_children, top_value);
    while tree.next_level() {
        let replies = batch::pipeline(h, &tree.requests()?, fetched);
        for (index, path) in tree.absorb(replies)? {
            let children = directory_part::list(h, Path::new(&path)?)?.into();
            tree.set_children(index, children);
        }
    }
    Ok(tree.finish(top_down))
}
