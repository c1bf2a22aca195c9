//! `Core::detach` (a cleanup that still goes out) against `Core::abandon`
//! (a request withdrawn if not yet handed out).

use xs_transport::TransportKind;
use xs_wire::{Frame, Header, Op, Request};

use super::Core;

fn core() -> Core<u32> {
    Core::new(TransportKind::Socket, 4096, None)
}

fn reply(op: Op, req_id: u32, tx_id: u32, payload: &[u8]) -> (Header, Vec<u8>) {
    let header = Header {
        op,
        req_id,
        tx_id,
        len: payload.len() as u32,
    };
    (header, payload.to_vec())
}

fn feed(core: &mut Core<u32>, (header, payload): (Header, Vec<u8>)) {
    let frame = Frame {
        header,
        payload: &payload,
    };
    core.handle_frame(&frame).expect("an acceptable frame");
}

/// The headers of the frames the core hands out, consumed.
fn sent(core: &mut Core<u32>) -> Vec<Header> {
    let mut headers = Vec::new();
    while let Some(out) = core.poll_transmit() {
        let bytes = out.to_vec();
        core.advance_transmit(bytes.len());
        let mut rest = &bytes[..];
        while let Ok(xs_wire::Status::Complete((frame, used))) = xs_wire::decode(rest) {
            headers.push(frame.header);
            rest = &rest[used..];
        }
    }
    headers
}

#[test]
fn a_detached_request_still_goes_out_and_its_reply_is_dropped() {
    let mut core = core();
    let abort = Request::TransactionEnd { commit: false };
    let id = core.submit(&abort, 7, None, 1).unwrap();
    core.detach(id);
    assert_eq!(core.in_flight(), 0, "nobody waits for it");
    let out = sent(&mut core);
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].op, out[0].req_id, out[0].tx_id),
        (Op::TransactionEnd, id, 7)
    );
    feed(&mut core, reply(Op::TransactionEnd, id, 7, b"OK\0"));
    let mut woken = Vec::new();
    core.take_woken(&mut woken);
    assert!(woken.is_empty(), "{woken:?}");
    assert!(!core.is_dead());
}

#[test]
fn an_abandoned_request_not_yet_handed_out_is_withdrawn() {
    let mut core = core();
    let abort = Request::TransactionEnd { commit: false };
    let id = core.submit(&abort, 7, None, 1).unwrap();
    core.abandon(id);
    assert!(sent(&mut core).is_empty());
}

#[test]
fn a_detached_transaction_start_is_undone_when_its_reply_comes() {
    let mut core = core();
    let id = core.submit(&Request::TransactionStart, 0, None, 1).unwrap();
    assert_eq!(sent(&mut core).len(), 1);
    core.detach(id);
    feed(&mut core, reply(Op::TransactionStart, id, 0, b"42\0"));
    let out = sent(&mut core);
    assert_eq!(out.len(), 1, "an abort of the transaction nobody took");
    assert_eq!((out[0].op, out[0].tx_id), (Op::TransactionEnd, 42));
}
