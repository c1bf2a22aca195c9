//! The xenbus device's rules that the transport keeps, and the error
//! replies it makes up for the device.
//!
//! The Linux driver behind `/dev/xen/xenbus` (and `/proc/xen/xenbus`)
//! differs from xenstored's socket in four ways, all hidden here and in
//! the halves that use this module:
//!
//! * **One message per `write()`**: the driver takes bytes of one message
//!   per call and drops the rest of a call that carries more; the
//!   [`FrameWriter`](crate::FrameWriter) in [`TransportKind::Xenbus`]
//!   mode never mixes two frames in one call.
//! * **4080 payload bytes at most** for what is written (the driver's
//!   buffer holds header and payload in 4096): bigger frames are refused
//!   before anything is written ([`TransportKind::max_payload`]).
//! * **No writability events** (writes never block): [`interest`] asks
//!   for READABLE only, whatever the caller asked.
//! * **A rejected WATCH or UNWATCH is a failed `write()`**, not an
//!   `XS_ERROR` reply: the writing half turns the failure into the reply
//!   xenstored would have sent and hands it to the reading half, as below.
//!
//! The device reports a rejected WATCH or UNWATCH as a failed `write()`
//! instead of an `XS_ERROR` reply. To give callers the same behaviour on
//! both transports, the sending side turns the failure into the reply
//! xenstored would have sent and hands it to the reading side, which
//! delivers it from its next `recv()` before anything read from the fd.
//!
//! The reading side may be another thread blocked in `mio::Poll::poll`, so
//! handing over needs a wake-up the poll can see: each connection on the
//! device owns a private socket pair. The sender pushes the frame onto a
//! shared queue and then writes one byte into the pair; the receiver's end
//! is registered with the same token as the device fd, so the poll reports
//! the receiver readable. The receiver drains the pair *before* taking the
//! queue, so a frame pushed before a byte is always seen either by this
//! `recv()` or, via that byte, by a later one. A socket pair (not a pipe)
//! lets the byte go out with `MSG_NOSIGNAL`, so a sender whose receiver is
//! gone gets `EPIPE`, not `SIGPIPE`.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, MutexGuard};

use mio::Interest;
use xs_wire::{decode, Frame, Header, Op, Status};

use crate::{sys, TransportError, TransportKind};

/// The readiness to register for: on a socket whatever was asked of a
/// source that writes, READABLE for one that only reads; on the device
/// READABLE if the source reads and nothing at all if it only writes
/// (writes never block there). `None`: register nothing.
pub(crate) fn interest(
    kind: TransportKind,
    reads: bool,
    writes: bool,
    asked: Interest,
) -> Option<Interest> {
    match kind {
        TransportKind::Socket if writes => Some(asked),
        _ if reads => Some(Interest::READABLE),
        _ => None,
    }
}

/// Made-up replies waiting beyond this many bytes (about 180 replies) make
/// the sender refuse further WATCH/UNWATCH frames until the reader catches
/// up, so the queue stays bounded even if nobody reads.
pub(crate) const SYNTH_LIMIT: usize = 4096;

#[derive(Debug, Default)]
struct Pending {
    frames: VecDeque<Vec<u8>>,
    bytes: usize,
}

type Shared = Arc<Mutex<Pending>>;

fn lock(shared: &Shared) -> MutexGuard<'_, Pending> {
    // A panic elsewhere while holding the lock leaves a consistent queue
    // (every mutation is a single push or take); keep using it.
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The reading side's end.
#[derive(Debug)]
pub(crate) struct DeviceRx {
    pending: Shared,
    wake: UnixStream,
}

/// The sending side's end.
#[derive(Debug)]
pub(crate) struct DeviceTx {
    pending: Shared,
    wake: UnixStream,
}

/// A connected pair of ends.
pub(crate) fn channel() -> io::Result<(DeviceRx, DeviceTx)> {
    let (rx, tx) = UnixStream::pair()?;
    rx.set_nonblocking(true)?;
    tx.set_nonblocking(true)?;
    sys::prepare_socket(tx.as_fd())?;
    let pending = Shared::default();
    Ok((
        DeviceRx {
            pending: pending.clone(),
            wake: rx,
        },
        DeviceTx { pending, wake: tx },
    ))
}

impl DeviceTx {
    /// Refuses a WATCH or UNWATCH while made-up replies beyond
    /// [`SYNTH_LIMIT`] wait for the reader ([`TransportError::QueueFull`]),
    /// so that a failing one could always be answered.
    pub(crate) fn admit(&self, header: &Header) -> Result<(), TransportError> {
        if !matches!(header.op, Op::Watch | Op::Unwatch) {
            return Ok(());
        }
        let queued = lock(&self.pending).bytes;
        if queued >= SYNTH_LIMIT {
            return Err(TransportError::QueueFull {
                queued,
                limit: SYNTH_LIMIT,
            });
        }
        Ok(())
    }

    /// Queues a made-up reply and wakes the reader.
    pub(crate) fn deliver(&self, frame: Vec<u8>) {
        {
            let mut pending = lock(&self.pending);
            pending.bytes += frame.len();
            pending.frames.push_back(frame);
        }
        // WouldBlock: the pair is full of wake-ups already. EPIPE: the
        // reader is gone and nobody will read the reply. Neither matters.
        let _ = sys::send_nosignal(self.wake.as_fd(), &[1]);
    }
}

impl DeviceRx {
    /// The fd to register next to the device so that the poll wakes up for
    /// made-up replies.
    pub(crate) fn wake_fd(&self) -> RawFd {
        self.wake.as_raw_fd()
    }

    /// Whether made-up replies are waiting.
    pub(crate) fn has_pending(&self) -> bool {
        !lock(&self.pending).frames.is_empty()
    }

    /// Delivers every made-up reply queued so far.
    pub(crate) fn take(&self, on_frame: &mut impl FnMut(Frame<'_>)) {
        let mut sink = [0u8; 64];
        // Drain wake-ups first (see the module docs for why).
        while matches!((&self.wake).read(&mut sink), Ok(n) if n > 0) {}
        let frames = {
            let mut pending = lock(&self.pending);
            pending.bytes = 0;
            std::mem::take(&mut pending.frames)
        };
        for bytes in &frames {
            // Only error_reply() output is queued: always one whole frame.
            if let Ok(Status::Complete((frame, _))) = decode(bytes) {
                on_frame(frame);
            }
        }
    }
}
