//! Playing a script and recording what came back.
//!
//! Lines are normalised: the script's subtree is `{r}`, transaction ids are
//! `T1`, `T2`, ... in order of appearance, and DIRECTORY_PART's generation
//! count is `{gen}`.
//!
//! After every step, each open connection is *synced*: it sends a
//! GET_DOMAIN_PATH with a reserved request id and reads until that reply.
//! Daemons answer a connection's requests in order and queue a watch event
//! before any reply sent after the change that fired it, so a sync collects
//! exactly the frames the step caused, without timing guesses. Sync replies
//! are left out of the transcript.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use xs_wire::{decode, Header, Op, Status};

use crate::{Script, Tx};

/// Request ids at or above this are syncs.
const SYNC_BASE: u32 = 0xF000_0000;
/// How long a daemon may take to answer anything.
const REPLY_TIMEOUT: Duration = Duration::from_secs(3);

/// What each step produced, one line per received frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transcript {
    /// `steps[i]` lists the lines for step `i`.
    pub steps: Vec<Vec<String>>,
}

struct Conn {
    stream: UnixStream,
    buf: Vec<u8>,
    closed: bool,
}

impl Conn {
    fn open(socket: &Path) -> std::io::Result<Conn> {
        let stream = UnixStream::connect(socket)?;
        stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
        Ok(Conn {
            stream,
            buf: Vec::new(),
            closed: false,
        })
    }

    fn send(&mut self, header: Header, payload: &[u8]) {
        let mut frame = header.to_bytes().to_vec();
        frame.extend_from_slice(payload);
        if self.stream.write_all(&frame).is_err() {
            self.closed = true;
        }
    }

    /// Reads frames until one answers `req_id`; returns every frame read.
    fn read_until(&mut self, req_id: u32) -> Result<Vec<(Header, Vec<u8>)>, String> {
        let mut frames = Vec::new();
        loop {
            match decode(&self.buf) {
                Ok(Status::Complete((frame, used))) => {
                    let item = (frame.header, frame.payload.to_vec());
                    self.buf.drain(..used);
                    let done = item.0.req_id == req_id && item.0.op != Op::WatchEvent;
                    frames.push(item);
                    if done {
                        return Ok(frames);
                    }
                    continue;
                }
                Ok(Status::Partial { .. }) => {}
                Err(e) => return Err(format!("undecodable frame: {e}")),
            }
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.closed = true;
                    return Err("connection closed".into());
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(format!("no reply: {}", e.kind())),
            }
        }
    }
}

/// Plays `script` against the daemon at `socket`, with `root` as the
/// script's private subtree.
pub fn run(socket: &Path, script: &Script, root: &str) -> Transcript {
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut tx_ids: Vec<u32> = Vec::new();
    let mut steps = Vec::new();
    for (i, step) in script.steps.iter().enumerate() {
        while conns.len() <= step.conn {
            conns.push(None);
        }
        if conns[step.conn].is_none() {
            conns[step.conn] = Conn::open(socket).ok();
        }
        let tx_id = match step.tx {
            Tx::None => 0,
            Tx::Literal(id) => id,
            Tx::Started(n) => tx_ids.get(n.wrapping_sub(1)).copied().unwrap_or(0xdead),
        };
        let payload = step.payload.replace("{r}", root).into_bytes();
        let req_id = i as u32 + 1;
        let header = Header {
            op: step.op,
            req_id,
            tx_id,
            len: payload.len() as u32,
        };
        let mut lines = Vec::new();
        match conns[step.conn].as_mut() {
            None => lines.push(format!("c{}: cannot connect", step.conn)),
            Some(conn) if conn.closed => lines.push(format!("c{}: closed", step.conn)),
            Some(conn) => {
                conn.send(header, &payload);
                match conn.read_until(req_id) {
                    Ok(frames) => {
                        for (h, p) in frames {
                            if h.op == Op::TransactionStart {
                                if let Some(id) = std::str::from_utf8(&p)
                                    .ok()
                                    .and_then(|s| s.trim_end_matches('\0').parse().ok())
                                {
                                    tx_ids.push(id);
                                }
                            }
                            lines.push(describe(step.conn, &h, &p, root, &tx_ids));
                        }
                    }
                    Err(e) => lines.push(format!("c{}: {e}", step.conn)),
                }
            }
        }
        // Collect events the step fired on every connection.
        for (c, conn) in conns.iter_mut().enumerate() {
            let Some(conn) = conn.as_mut().filter(|c| !c.closed) else {
                continue;
            };
            let sync = SYNC_BASE + i as u32;
            conn.send(
                Header {
                    op: Op::GetDomainPath,
                    req_id: sync,
                    tx_id: 0,
                    len: 2,
                },
                b"0\0",
            );
            match conn.read_until(sync) {
                Ok(frames) => lines.extend(
                    frames
                        .into_iter()
                        .filter(|(h, _)| h.req_id != sync || h.op == Op::WatchEvent)
                        .map(|(h, p)| describe(c, &h, &p, root, &tx_ids)),
                ),
                Err(e) => lines.push(format!("c{c}: sync: {e}")),
            }
        }
        steps.push(lines);
    }
    Transcript { steps }
}

/// One received frame as a comparable line.
fn describe(conn: usize, h: &Header, payload: &[u8], root: &str, tx_ids: &[u32]) -> String {
    let mut text = String::from_utf8_lossy(payload)
        .replace(root, "{r}")
        .replace('\0', "\\0");
    let tx = |id: u32| match tx_ids.iter().position(|&t| t == id) {
        _ if id == 0 => "0".to_owned(),
        Some(i) => format!("T{}", i + 1),
        None => id.to_string(),
    };
    if h.op == Op::TransactionStart {
        if let Ok(id) = text.trim_end_matches("\\0").parse::<u32>() {
            text = format!("{}\\0", tx(id));
        }
    }
    // DIRECTORY_PART starts with the node's generation count: a daemon-wide
    // counter whose value depends on everything done before the script.
    if h.op == Op::DirectoryPart {
        if let Some((gen, rest)) = text.split_once("\\0") {
            if !gen.is_empty() && gen.bytes().all(|b| b.is_ascii_digit()) {
                text = format!("{{gen}}\\0{rest}");
            }
        }
    }
    let req = if h.op == Op::WatchEvent {
        "-".to_owned()
    } else {
        h.req_id.to_string()
    };
    format!("c{conn} <- {} req={req} tx={} {text:?}", h.op, tx(h.tx_id))
}
