//! Walking a subtree, a level at a time with pipelined requests.
//!
//! pyxs reads a node, lists it, then recurses: two round trips per node.
//! Here every level of the tree is fetched as one pipelined batch (a READ and
//! a DIRECTORY per node), so a tree costs about `2N` daemon service times
//! plus one round trip per *level*. The result is ordered like
//! `os.walk`: parents before children (top-down) or after them (bottom-up),
//! and bottom-up really is post-order at every depth (pyxs's is not).

use xs_wire::{Path, Reply, Request};

use crate::handle::Handle;
use crate::{batch, directory_part, Error, Problem, Result};

/// What one request of a walk's batch brought back (each request's reply
/// is parsed with its own kind, so a DIRECTORY always gives `Children`).
enum Fetched {
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

fn join(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

/// Fetches the subtree under `top` (which must exist). Nodes that vanish
/// during the walk are left out.
pub(crate) fn walk(h: &Handle<'_>, top: &str, top_down: bool) -> Result<Vec<WalkEntry>> {
    // The top must exist: list it on its own so a missing one is an error.
    let top_children = directory_part::list(h, Path::new(top)?)?;
    // An unreadable value reads as empty, as in pyxs.
    let top_value = h.read(top).unwrap_or_default();
    // Nodes in breadth-first order, with each node's children's indices.
    let mut nodes = vec![(
        WalkEntry {
            path: top.to_owned(),
            value: top_value,
            children: top_children,
        },
        Vec::new(),
    )];
    let mut level = vec![0usize];
    while !level.is_empty() {
        let mut paths = Vec::new();
        let mut parents = Vec::new();
        for &i in &level {
            for child in &nodes[i].0.children {
                paths.push(join(&nodes[i].0.path, child));
                parents.push(i);
            }
        }
        // One pipelined batch per level: a DIRECTORY and a READ per node.
        let mut reqs = Vec::with_capacity(2 * paths.len());
        for p in &paths {
            let path = Path::new(p)?;
            reqs.push(Request::Directory { path });
            reqs.push(Request::Read { path });
        }
        let mut replies = batch::pipeline(h, &reqs, |r| match r {
            Reply::Directory(n) => Some(Fetched::Children(n.iter().map(str::to_owned).collect())),
            Reply::Value(v) => Some(Fetched::Value(v.to_vec())),
            _ => None,
        })
        .into_iter();
        let mut next = Vec::new();
        for (path, parent) in paths.into_iter().zip(parents) {
            // The pipeline answers every request, in order: two per node.
            let (Some(children), Some(value)) = (replies.next(), replies.next()) else {
                break;
            };
            let children = match children {
                Ok(Fetched::Children(c)) => c,
                Ok(Fetched::Value(_)) => {
                    return Err(Error::unexpected(
                        Problem::WrongShape {
                            request: xs_wire::Op::Directory,
                        },
                        None,
                    ))
                }
                Err(e) if e.is_not_found() => continue,
                Err(e) if e.errno() == Some(xs_wire::Errno::E2BIG) => {
                    directory_part::list(h, Path::new(&path)?)?
                }
                Err(e) => return Err(e),
            };
            // An unreadable value reads as empty, as in pyxs.
            let value = match value {
                Ok(Fetched::Value(v)) => v,
                _ => Vec::new(),
            };
            let index = nodes.len();
            nodes.push((
                WalkEntry {
                    path,
                    value,
                    children,
                },
                Vec::new(),
            ));
            nodes[parent].1.push(index);
            next.push(index);
        }
        level = next;
    }
    // Depth-first order from the breadth-first table.
    let mut order = Vec::with_capacity(nodes.len());
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
        for &c in nodes[i].1.iter().rev() {
            stack.push((c, false));
        }
    }
    let mut slots: Vec<Option<WalkEntry>> = nodes.into_iter().map(|(e, _)| Some(e)).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}
