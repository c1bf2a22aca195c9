//! The writing half shared by [`Connection`](crate::Connection) and
//! [`FrameSender`](crate::FrameSender): the write queue and, on the
//! device, the end through which failed WATCH/UNWATCH writes become error
//! replies for the reading half.

use crate::device::DeviceTx;
use crate::fd::Fd;
use crate::writer::{check_frame, error_reply, leading_frame, FrameWriter};
use crate::{sys, TransportError, TransportKind};

/// Queues and writes frames.
#[derive(Debug)]
pub(crate) struct WriteHalf {
    writer: FrameWriter,
    device: Option<DeviceTx>,
}

impl WriteHalf {
    pub(crate) fn new(kind: TransportKind, device: Option<DeviceTx>) -> WriteHalf {
        WriteHalf {
            writer: FrameWriter::new(kind),
            device,
        }
    }

    pub(crate) fn writer(&self) -> &FrameWriter {
        &self.writer
    }

    pub(crate) fn writer_mut(&mut self) -> &mut FrameWriter {
        &mut self.writer
    }

    /// Checks `frame` and writes it, queueing what the fd does not take.
    /// On a socket with nothing queued it goes straight from the caller's
    /// slice (no copy through the queue).
    #[inline]
    pub(crate) fn send(&mut self, fd: &Fd, frame: &[u8]) -> Result<(), TransportError> {
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
        let mut lens = Vec::new();
        let mut rest = frames;
        while !rest.is_empty() {
            let (_, len) = leading_frame(rest, max)?;
            lens.push(len);
            rest = &rest[len..];
        }
        if self.device.is_none() && self.writer.is_empty() {
            return self
                .writer
                .send_direct(frames, |rest| fd.write_nonblocking(rest))
                .map(drop);
        }
        let mut at = 0;
        for len in lens {
            self.send(fd, &frames[at..at + len])?;
            at += len;
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
