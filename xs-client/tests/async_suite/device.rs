//! A stand-in for `/dev/xen/xenbus` in front of the embedded server, so
//! the async suites run under the device's rules without Xen: one end of
//! a socket pair is handed to the client as a device fd (the transport
//! then keeps the device's rules: one frame per write, no writability
//! events), and a relay forwards frames between the other end and the
//! server's socket the way the Linux driver does. It answers WATCH with
//! req_id 0, as the driver does, and counts every request written while
//! another was unanswered (the driver would overwrite the first one's
//! body: a client must never do it).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use xs_transport::Connection;
use xs_wire::{decode, Header, Op, Status, HEADER_SIZE};

/// What the relay saw.
#[derive(Default)]
pub struct Rules {
    /// A request is on the wire, unanswered.
    busy: AtomicBool,
    /// Requests written while another was unanswered.
    pub early: AtomicUsize,
    /// Requests relayed.
    pub requests: AtomicUsize,
}

/// Reads one whole frame (header and payload) from `s`, buffering in `buf`.
fn read_frame(s: &mut UnixStream, buf: &mut Vec<u8>) -> Option<(Header, Vec<u8>)> {
    loop {
        if let Ok(Status::Complete((f, used))) = decode(buf) {
            let item = (f.header, f.payload.to_vec());
            buf.drain(..used);
            return Some(item);
        }
        let mut chunk = [0u8; 8192];
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn write_frame(s: &mut UnixStream, header: Header, payload: &[u8]) -> bool {
    let mut frame = Vec::with_capacity(HEADER_SIZE + payload.len());
    frame.extend_from_slice(&header.to_bytes());
    frame.extend_from_slice(payload);
    s.write_all(&frame).is_ok()
}

/// A connection through a device stand-in to the daemon at `socket`; each
/// reply is held back `delay` (an emulated Xen answers slowly).
pub fn connect(socket: &Path, delay: Duration) -> (Connection, Arc<Rules>) {
    let (ours, device) = UnixStream::pair().expect("socket pair");
    let daemon = UnixStream::connect(socket).expect("connect to the embedded server");
    let rules = Arc::new(Rules::default());
    let (mut dev_in, mut dev_out) = (device.try_clone().expect("dup"), device);
    let (mut d_in, mut d_out) = (daemon.try_clone().expect("dup"), daemon);
    let r = Arc::clone(&rules);
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        while let Some((h, payload)) = read_frame(&mut dev_in, &mut buf) {
            if r.busy.swap(true, Ordering::SeqCst) {
                r.early.fetch_add(1, Ordering::SeqCst);
            }
            r.requests.fetch_add(1, Ordering::SeqCst);
            if !write_frame(&mut d_out, h, &payload) {
                break;
            }
        }
        let _ = d_out.shutdown(std::net::Shutdown::Both);
    });
    let r = Arc::clone(&rules);
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        while let Some((mut h, payload)) = read_frame(&mut d_in, &mut buf) {
            if h.op != Op::WatchEvent {
                std::thread::sleep(delay);
                if h.op == Op::Watch {
                    h.req_id = 0;
                }
                // Free before the client sees the reply and writes again.
                r.busy.store(false, Ordering::SeqCst);
            }
            if !write_frame(&mut dev_out, h, &payload) {
                break;
            }
        }
        let _ = dev_out.shutdown(std::net::Shutdown::Both);
    });
    let conn = Connection::from_xenbus_fd(ours.into()).expect("a device connection");
    (conn, rules)
}
