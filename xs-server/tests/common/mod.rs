//! A tiny blocking XenStore client built directly on xs-wire, for testing
//! the server through the real protocol (not through xs-client).
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use xs_wire::{decode, Frame, Header, Ids, Op, Path, Perm, PermList, Reply, Request, Status};

/// A decoded answer, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ans {
    Ok,
    Value(Vec<u8>),
    Names(Vec<String>),
    Chunk(u64, Vec<String>, bool),
    Perms(Vec<String>),
    Tx(u32),
    Bool(bool),
    Path(String),
    /// GET_FEATURE, GET_QUOTA of a value.
    Number(u64),
    /// GET_QUOTA without arguments.
    QuotaNames(Vec<String>),
    Err(String),
}

pub fn err(name: &str) -> Ans {
    Ans::Err(name.to_owned())
}

pub fn val(v: &str) -> Ans {
    Ans::Value(v.as_bytes().to_vec())
}

pub fn names(list: &[&str]) -> Ans {
    Ans::Names(list.iter().map(|s| s.to_string()).collect())
}

pub fn perms(list: &[&str]) -> Ans {
    Ans::Perms(list.iter().map(|s| s.to_string()).collect())
}

pub fn p(s: &str) -> Path<'_> {
    Path::new(s).unwrap()
}

pub fn perm_vec(list: &[&str]) -> Vec<Perm> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

/// One received frame, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owned {
    pub header: Header,
    pub payload: Vec<u8>,
}

pub struct Raw {
    pub sock: UnixStream,
    buf: Vec<u8>,
    next_req: u32,
    /// Watch events received while waiting for replies: (path, token).
    pub events: VecDeque<(String, String)>,
}

impl Raw {
    pub fn new(sock: UnixStream) -> Raw {
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Raw {
            sock,
            buf: Vec::new(),
            next_req: 0,
            events: VecDeque::new(),
        }
    }

    /// Encodes `req` with xs-wire and writes it; returns its req_id.
    /// The transaction id is put in the header after encoding, so tests
    /// can send ids xs-wire itself would refuse to put on such an op.
    /// How long [`Raw::frame`] waits (10 s unless set).
    pub fn set_timeout(&mut self, t: Duration) {
        self.sock.set_read_timeout(Some(t)).unwrap();
    }

    pub fn send(&mut self, tx: u32, req: Request<'_>) -> u32 {
        self.next_req += 1;
        let req_id = self.next_req;
        let mut buf = vec![0u8; 8192];
        let encode_tx = u32::from(req.op() == Op::TransactionEnd);
        let n = req
            .encode(Ids::in_transaction(req_id, encode_tx), &mut buf)
            .unwrap();
        let header = Header {
            tx_id: tx,
            ..Header::from_bytes(buf[..16].try_into().unwrap())
        };
        buf[..16].copy_from_slice(&header.to_bytes());
        self.sock.write_all(&buf[..n]).unwrap();
        req_id
    }

    /// Writes a hand-made frame (hostile-input tests).
    pub fn send_raw(&mut self, header: Header, payload: &[u8]) {
        let mut bytes = header.to_bytes().to_vec();
        bytes.extend_from_slice(payload);
        self.sock.write_all(&bytes).unwrap();
    }

    /// Reads the next frame, whatever it is.
    pub fn frame(&mut self) -> io::Result<Owned> {
        loop {
            if let Status::Complete((frame, used)) =
                decode(&self.buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
            {
                let owned = Owned {
                    header: frame.header,
                    payload: frame.payload.to_vec(),
                };
                self.buf.drain(..used);
                return Ok(owned);
            }
            let mut chunk = [0u8; 65536];
            let n = self.sock.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "server closed",
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads frames until a reply arrives (queueing events), parsed as the
    /// reply to `req`.
    pub fn reply(&mut self, req: &Request<'_>) -> (Header, Ans) {
        loop {
            let f = self.frame().unwrap_or_else(|e| panic!("no reply: {e:?}"));
            if f.header.op == Op::WatchEvent {
                self.push_event(&f);
                continue;
            }
            return (f.header, parse(req, &f));
        }
    }

    fn push_event(&mut self, f: &Owned) {
        let frame = Frame {
            header: f.header,
            payload: &f.payload,
        };
        match Reply::parse(Op::WatchEvent, xs_wire::ReplyKind::Ack, &frame).unwrap() {
            Reply::WatchEvent(e) => {
                assert_eq!((f.header.req_id, f.header.tx_id), (0, 0));
                self.events
                    .push_back((e.path.to_owned(), e.token.to_owned()));
            }
            other => panic!("not an event: {other:?}"),
        }
    }

    /// Sends `req` in transaction `tx` and waits for its reply.
    pub fn call_tx(&mut self, tx: u32, req: Request<'_>) -> Ans {
        let id = self.send(tx, req);
        let (h, ans) = self.reply(&req);
        assert_eq!(h.req_id, id, "reply to the wrong request");
        ans
    }

    pub fn call(&mut self, req: Request<'_>) -> Ans {
        self.call_tx(0, req)
    }

    pub fn read(&mut self, path: &str) -> Ans {
        self.call(Request::Read { path: p(path) })
    }

    pub fn write(&mut self, path: &str, value: &str) -> Ans {
        self.call(Request::Write {
            path: p(path),
            value: value.as_bytes(),
        })
    }

    pub fn dir(&mut self, path: &str) -> Ans {
        self.call(Request::Directory { path: p(path) })
    }

    pub fn rm(&mut self, path: &str) -> Ans {
        self.call(Request::Rm { path: p(path) })
    }

    pub fn set_perms(&mut self, path: &str, list: &[&str]) -> Ans {
        let v = perm_vec(list);
        self.call(Request::SetPerms {
            path: p(path),
            perms: PermList::new(&v).unwrap(),
        })
    }

    pub fn get_perms(&mut self, path: &str) -> Ans {
        self.call(Request::GetPerms { path: p(path) })
    }

    pub fn watch(&mut self, path: &str, token: &str) -> Ans {
        self.call(Request::Watch {
            path: p(path),
            token,
            depth: None,
        })
    }

    pub fn unwatch(&mut self, path: &str, token: &str) -> Ans {
        self.call(Request::Unwatch {
            path: p(path),
            token,
        })
    }

    pub fn start(&mut self) -> u32 {
        match self.call(Request::TransactionStart) {
            Ans::Tx(id) => id,
            other => panic!("TRANSACTION_START: {other:?}"),
        }
    }

    pub fn end(&mut self, tx: u32, commit: bool) -> Ans {
        self.call_tx(tx, Request::TransactionEnd { commit })
    }

    /// The next watch event, waiting for it if needed.
    pub fn event(&mut self) -> (String, String) {
        loop {
            if let Some(e) = self.events.pop_front() {
                return e;
            }
            let f = self.frame().unwrap_or_else(|e| panic!("no event: {e:?}"));
            assert_eq!(f.header.op, Op::WatchEvent, "expected an event, got {f:?}");
            self.push_event(&f);
        }
    }

    /// Asserts that no frame arrives within `wait`.
    pub fn quiet(&mut self, wait: Duration) {
        assert!(self.events.is_empty(), "queued events: {:?}", self.events);
        self.sock.set_read_timeout(Some(wait)).unwrap();
        let got = self.frame();
        self.sock
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        match got {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            other => panic!("expected silence, got {other:?}"),
        }
    }

    /// Whether the server has closed the connection (EOF within a while).
    pub fn is_closed(&mut self) -> bool {
        match self.frame() {
            Err(e) => {
                e.kind() == io::ErrorKind::UnexpectedEof
                    || e.kind() == io::ErrorKind::ConnectionReset
            }
            Ok(f) => panic!("expected EOF, got {f:?}"),
        }
    }
}

pub fn ev(path: &str, token: &str) -> (String, String) {
    (path.to_owned(), token.to_owned())
}

/// Parses a frame as the reply to `req`.
pub fn parse(req: &Request<'_>, f: &Owned) -> Ans {
    let frame = Frame {
        header: f.header,
        payload: &f.payload,
    };
    match Reply::parse(req.op(), req.reply_kind(), &frame).unwrap() {
        Reply::Ack => Ans::Ok,
        Reply::Value(v) => Ans::Value(v.to_vec()),
        Reply::Directory(n) => Ans::Names(n.iter().map(str::to_owned).collect()),
        Reply::DirectoryPart(c) => Ans::Chunk(
            c.generation,
            c.names.iter().map(str::to_owned).collect(),
            c.complete,
        ),
        Reply::Perms(l) => Ans::Perms(l.iter().map(|p| p.to_string()).collect()),
        Reply::TransactionId(id) => Ans::Tx(id),
        Reply::Bool(b) => Ans::Bool(b),
        Reply::DomainPath(d) => Ans::Path(d.to_owned()),
        Reply::Error(e) => Ans::Err(e.name().to_owned()),
        Reply::Number(n) => Ans::Number(n),
        Reply::QuotaNames(n) => Ans::QuotaNames(n.iter().map(str::to_owned).collect()),
        Reply::Text(b"OK\0") => Ans::Ok,
        Reply::Text(t) => Ans::Value(t.to_vec()),
        other => panic!("unexpected reply {other:?}"),
    }
}

/// A server and a dom0 client.
pub fn setup() -> (xs_server::ServerHandle, Raw) {
    let server = xs_server::Server::spawn_temp();
    let raw = Raw::new(server.connect().unwrap());
    (server, raw)
}

/// A server answering like oxenstored 4.17 started with `--no-domain-init`
/// (no dom0 tree), and a dom0 connection to it.
pub fn setup_4_17() -> (xs_server::ServerHandle, Raw) {
    let server = xs_server::Server::builder()
        .xen_version(xs_server::XenVersion::V4_17)
        .dom0(false)
        .spawn()
        .unwrap();
    let raw = Raw::new(server.connect().unwrap());
    (server, raw)
}
