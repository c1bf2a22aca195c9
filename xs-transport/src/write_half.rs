//! The writing half shared by [`Connection`](crate::Connection) and
//! [`FrameSender`](crate::FrameSender): the write queue and, on the
//! device, the end through which failed WATCH/UNWATCH writes become error
//! replies for the reading half.

use std::io;

use crate::device::DeviceTx;
use crate::fd::Fd;
use crate::writer::{
    check_frame, error_reply, is_whole_frame, leading_frame, write_zero, FrameWriter,
};
use crate::{sys, TransportError, TransportKind};

/// What [`WriteHalf::try_whole`] did with a frame.
#[derive(Debug)]
pub enum FirstTry {
    /// It went out whole; nothing is queued.
    Whole,
    /// One `send()` took that many bytes (fewer than all), or failed with
    /// that `errno`.
    Sent(Result<usize, i32>),
    /// Nothing was tried: not a socket with an empty queue, or not one
    /// well-formed frame.
    NotTried,
}

/// Queues and writes frames.
#[derive(Debug)]
pub(crate) struct WriteHalf {
    writer: FrameWriter,
    device: Option<DeviceTx>,
    /// Payloads shorter than this may go straight out in one `send()`:
    /// the limit plus one on a socket without a device, else 0 (none, and
    /// none once the link is closed).
    direct_below: usize,
}

impl WriteHalf {
    /// `is_socket`: whether the fd it writes to is a socket.
    pub(crate) fn new(kind: TransportKind, device: Option<DeviceTx>, is_socket: bool) -> WriteHalf {
        let direct = is_socket && device.is_none();
        WriteHalf {
            writer: FrameWriter::new(kind),
            device,
            direct_below: if direct { kind.max_payload() + 1 } else { 0 },
        }
    }

    pub(crate) fn writer(&self) -> &FrameWriter {
        &self.writer
    }

    pub(crate) fn writer_mut(&mut self) -> &mut FrameWriter {
        &mut self.writer
    }

    /// The link closed: queued bytes are dropped, and nothing more goes
    /// out directly.
    pub(crate) fn close(&mut self) {
        self.writer.clear();
        self.direct_below = 0;
    }

    /// Sending a frame, first part: the usual case in full: a socket with nothing queued takes a
    /// well-formed frame whole in one `send()`. Nothing else is done here:
    /// [`WriteHalf::send_after`] carries on from what this did. Together
    /// they check `frame` and write it, queueing what the fd does not
    /// take; on a socket with nothing queued it goes straight from the
    /// caller's slice (no copy through the queue).
    #[inline(always)]
    pub(crate) fn try_whole(&self, fd: &Fd, frame: &[u8]) -> FirstTry {
        if is_whole_frame(frame, self.direct_below) && self.writer.is_empty() {
            return match fd.send_once(frame) {
                Ok(n) if n == frame.len() => FirstTry::Whole,
                sent => FirstTry::Sent(sent),
            };
        }
        FirstTry::NotTried
    }

    /// Sending a frame, second part: after [`WriteHalf::try_whole`] said
    /// `first`.
    #[inline(always)]
    pub(crate) fn send_after(
        &mut self,
        fd: &Fd,
        frame: &[u8],
        first: FirstTry,
    ) -> Result<(), TransportError> {
        match first {
            FirstTry::Whole => Ok(()),
            FirstTry::Sent(sent) => self.send_rest(fd, frame, sent),
            FirstTry::NotTried => self.send_checked(fd, frame),
        }
    }

    /// [`WriteHalf::send_after`] when a first `send()` of a well-formed `frame`
    /// on a socket with nothing queued did not take it whole.
    #[cold]
    #[inline(never)]
    fn send_rest(
        &mut self,
        fd: &Fd,
        frame: &[u8],
        sent: Result<usize, i32>,
    ) -> Result<(), TransportError> {
        let rest = match sent {
            Ok(0) => return Err(write_zero()),
            Ok(n) => frame.get(n..).unwrap_or_default(),
            Err(code) if sys::is_retry(code) => frame,
            Err(code) => return Err(TransportError::Io(io::Error::from_raw_os_error(code))),
        };
        self.writer
            .send_direct(rest, |rest| fd.write_nonblocking(rest))
            .map(drop)
    }

    /// [`WriteHalf::send_after`] the long way: checked, then written directly or
    /// through the queue, as the transport and the queue require.
    #[inline(never)]
    fn send_checked(&mut self, fd: &Fd, frame: &[u8]) -> Result<(), TransportError> {
        let header = check_frame(frame, self.writer.max_payload())?;
        match &self.device {
            Some(device) => device.admit(&header)?,
            None if self.writer.is_empty() => {
                return self
                    .writer
                    .send_direct(frame, |rest| fd.write_nonblocking(rest))
                    .map(drop)
            }
            None => {}
        }
        self.writer.push(frame)?;
        self.flush(fd).map(drop)
    }

    /// Sends several whole frames laid end to end. On a socket with nothing
    /// queued they go out in as few writes as the kernel allows; otherwise
    /// (the device, one message per `write()`, or a non-empty queue) frame
    /// by frame. Every frame is checked before anything is written.
    pub(crate) fn send_many(&mut self, fd: &Fd, frames: &[u8]) -> Result<(), TransportError> {
        let max = self.writer.max_payload();
        let mut rest = frames;
        while !rest.is_empty() {
            let (_, len) = leading_frame(rest, max)?;
            rest = &rest[len..];
        }
        if self.device.is_none() && self.writer.is_empty() {
            return self
                .writer
                .send_direct(frames, |rest| fd.write_nonblocking(rest))
                .map(drop);
        }
        let mut rest = frames;
        while !rest.is_empty() {
            let (_, len) = leading_frame(rest, max)?;
            self.send_checked(fd, &rest[..len])?;
            rest = &rest[len..];
        }
        Ok(())
    }

    /// Writes queued bytes until the fd would block; `Ok(true)` when empty.
    pub(crate) fn flush(&mut self, fd: &Fd) -> Result<bool, TransportError> {
        let device = &self.device;
        self.writer.write_to(&mut &*fd, |header, err| {
            if let Some(device) = device {
                device.deliver(error_reply(&header, sys::errno_name(&err)));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::unix::net::UnixStream;

    use xs_wire::{Header, Op};

    use super::WriteHalf;
    use crate::fd::Fd;
    use crate::writer::{check_frame, is_whole_frame};
    use crate::{TransportError, TransportKind};

    fn frame(payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut out = Header {
            op: Op::Write,
            req_id: 7,
            tx_id: 0,
            len,
        }
        .to_bytes()
        .to_vec();
        out.extend_from_slice(payload);
        out
    }

    /// The length-word screen says what `check_frame` says, for frames of
    /// every shape: short, long, lying lengths, over the limit.
    #[test]
    fn whole_frame_screen_agrees_with_check_frame() {
        let mut cases: Vec<Vec<u8>> = Vec::new();
        for len in [0usize, 1, 15, 16, 17, 100, 4080, 4081, 4096, 4097] {
            let f = frame(&vec![b'v'; len]);
            for cut in [0, 1, 15, 16, f.len() / 2] {
                cases.push(f[..f.len().saturating_sub(cut)].to_vec());
            }
            let mut longer = f.clone();
            longer.push(0);
            cases.push(longer);
            for lie in [
                0u32,
                1,
                u32::MAX,
                len as u32 + 1,
                (len as u32).wrapping_sub(1),
            ] {
                let mut wrong = f.clone();
                wrong[12..16].copy_from_slice(&lie.to_ne_bytes());
                cases.push(wrong);
            }
        }
        for bytes in &cases {
            for max in [4080, 4096] {
                assert_eq!(
                    is_whole_frame(bytes, max + 1),
                    check_frame(bytes, max).is_ok(),
                    "{} bytes, limit {max}",
                    bytes.len()
                );
            }
        }
    }

    fn socket() -> (Fd, UnixStream) {
        let (ours, daemon) = UnixStream::pair().unwrap();
        (Fd::new(ours.into(), TransportKind::Socket).unwrap(), daemon)
    }

    fn received(daemon: &mut UnixStream, n: usize) -> Vec<u8> {
        let mut got = vec![0; n];
        daemon.read_exact(&mut got).unwrap();
        got
    }

    /// What follows a first `send()` that did not take the whole frame:
    /// the rest goes out (and nothing twice), a retry sends it all, no
    /// bytes and failures are errors.
    #[test]
    fn the_rest_of_a_partly_sent_frame() {
        let f = frame(b"/a\0value");
        let (fd, mut daemon) = socket();
        let mut tx = WriteHalf::new(TransportKind::Socket, None, true);

        // 5 bytes went out with the first send: the other 19 follow.
        tx.send_rest(&fd, &f, Ok(5)).unwrap();
        assert_eq!(received(&mut daemon, f.len() - 5), &f[5..]);

        // Interrupted, or no room just then: the whole frame again.
        for code in [libc::EINTR, libc::EAGAIN] {
            tx.send_rest(&fd, &f, Err(code)).unwrap();
            assert_eq!(received(&mut daemon, f.len()), f);
        }
        assert!(tx.writer().is_empty());

        let zero = tx.send_rest(&fd, &f, Ok(0)).unwrap_err();
        assert!(
            matches!(&zero, TransportError::Io(e) if e.kind() == std::io::ErrorKind::WriteZero)
        );
        let pipe = tx.send_rest(&fd, &f, Err(libc::EPIPE)).unwrap_err();
        assert!(matches!(&pipe, TransportError::Io(e) if e.raw_os_error() == Some(libc::EPIPE)));
    }

    /// A frame the socket takes only part of: the rest is queued, and
    /// flushed whole once the peer reads.
    #[test]
    fn a_full_socket_queues_the_rest() {
        let (fd, mut daemon) = socket();
        let mut tx = WriteHalf::new(TransportKind::Socket, None, true);
        let f = frame(&[b'x'; 4096]);
        let mut sent = 0;
        while tx.writer().is_empty() {
            let first = tx.try_whole(&fd, &f);
            tx.send_after(&fd, &f, first).unwrap();
            sent += 1;
        }
        let queued = tx.writer().queued_bytes();
        assert!(queued > 0 && queued <= f.len(), "{queued}");
        let total = sent * f.len();
        let reader = std::thread::spawn(move || received(&mut daemon, total));
        while !tx.flush(&fd).unwrap() {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let got = reader.join().unwrap();
        assert!(got.chunks(f.len()).all(|c| c == f));
    }
}
