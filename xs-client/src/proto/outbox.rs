//! The bytes waiting to be written, and when they may go.
//!
//! Requests are encoded straight into one buffer, back to back, so a driver
//! writes a whole pipelined batch with one system call on a socket.
//!
//! On the xenbus device the rule is different, and it is decided here: the
//! Linux driver keeps a pointer to a request's body in the open file's single
//! write buffer and copies it to the ring later, so a second `write()` before
//! the first request is answered overwrites its body (seen on Linux 6.1: the
//! first request reached xenstored with the second one's path). So on the
//! device one frame is handed out at a time, and the next only after *a*
//! reply has come: with one request on the wire, any reply answers it,
//! whatever its req_id says (the device answers WATCH with req_id 0).

use std::collections::VecDeque;

use xs_transport::TransportKind;

/// Bytes already handed out that [`Outbox::advance`] lets stay in front of
/// the frames still queued (moving the rest costs more for less).
const COMPACT_AT: usize = 16 * 1024;

/// One encoded frame not yet wholly handed out.
#[derive(Clone, Copy, Debug)]
struct Queued {
    req_id: u32,
    /// Offset of its first byte in `Outbox::buf`.
    start: usize,
    len: usize,
}

/// Encoded frames waiting for the driver.
#[derive(Debug)]
pub(crate) struct Outbox {
    buf: Vec<u8>,
    /// Bytes of `buf` already handed out.
    head: usize,
    /// Frames not yet wholly handed out, in order.
    frames: VecDeque<Queued>,
    one_at_a_time: bool,
    /// Device only: a frame was handed out and no reply has come since.
    wire_busy: bool,
    /// Nothing is handed out (the connection is being replaced).
    paused: bool,
}

impl Outbox {
    pub(crate) fn new(kind: TransportKind) -> Outbox {
        Outbox {
            buf: Vec::new(),
            head: 0,
            frames: VecDeque::new(),
            one_at_a_time: kind == TransportKind::Xenbus,
            wire_busy: false,
            paused: false,
        }
    }

    /// Appends a frame of `len` bytes written by `encode` into a zeroed
    /// slice of that size; on an encoding error nothing is kept.
    pub(crate) fn push<E>(
        &mut self,
        req_id: u32,
        len: usize,
        encode: impl FnOnce(&mut [u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let start = self.buf.len();
        self.buf.resize(start + len, 0);
        if let Err(e) = encode(&mut self.buf[start..]) {
            self.buf.truncate(start);
            return Err(e);
        }
        self.frames.push_back(Queued { req_id, start, len });
        Ok(())
    }

    /// The bytes the driver may write now: everything queued on a socket;
    /// on the device one frame, and only while no request is unanswered.
    pub(crate) fn transmit(&self) -> Option<&[u8]> {
        if self.paused {
            return None;
        }
        let first = self.frames.front()?;
        if !self.one_at_a_time {
            return Some(&self.buf[self.head..]);
        }
        if self.wire_busy {
            return None;
        }
        Some(&self.buf[self.head..first.start + first.len])
    }

    /// The driver took `n` bytes of [`Outbox::transmit`].
    pub(crate) fn advance(&mut self, n: usize) {
        self.head = (self.head + n).min(self.buf.len());
        while let Some(f) = self.frames.front() {
            if f.start + f.len > self.head {
                break;
            }
            self.frames.pop_front();
            if self.one_at_a_time {
                self.wire_busy = true;
            }
        }
        match self.frames.front() {
            None => {
                self.buf.clear();
                self.head = 0;
            }
            // Never empty (a busy socket): drop what was handed out once it
            // is most of the buffer, so it cannot pile up.
            Some(first) if first.start >= COMPACT_AT && 2 * first.start >= self.buf.len() => {
                let cut = first.start;
                self.buf.drain(..cut);
                self.head -= cut;
                for f in &mut self.frames {
                    f.start -= cut;
                }
            }
            Some(_) => {}
        }
    }

    /// A reply came: on the device, the wire is free for the next frame.
    pub(crate) fn reply_received(&mut self) {
        self.wire_busy = false;
    }

    /// Takes back request `req_id`'s frame if none of it was handed out;
    /// `true` if it was (so it will never reach the daemon).
    pub(crate) fn withdraw(&mut self, req_id: u32) -> bool {
        let Some(i) = self.frames.iter().position(|f| f.req_id == req_id) else {
            return false;
        };
        let f = self.frames[i];
        if f.start < self.head {
            return false; // partly handed out: it must be finished
        }
        self.buf.drain(f.start..f.start + f.len);
        self.frames.remove(i);
        for later in self.frames.iter_mut().skip(i) {
            later.start -= f.len;
        }
        if self.frames.is_empty() {
            self.buf.clear();
            self.head = 0;
        }
        true
    }

    /// Drops everything (the connection is dead).
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.head = 0;
        self.frames.clear();
        self.wire_busy = false;
    }

    /// Appends an already encoded frame.
    pub(crate) fn push_frame(&mut self, req_id: u32, frame: &[u8]) {
        let start = self.buf.len();
        self.buf.extend_from_slice(frame);
        self.frames.push_back(Queued {
            req_id,
            start,
            len: frame.len(),
        });
    }

    /// The encoded bytes of `req_id`'s frame, if it is queued.
    pub(crate) fn frame(&self, req_id: u32) -> Option<&[u8]> {
        let f = self.frames.iter().find(|f| f.req_id == req_id)?;
        Some(&self.buf[f.start..f.start + f.len])
    }

    /// Takes out every frame none of which was handed out, in order, and
    /// drops the rest: the connection is gone.
    pub(crate) fn take_unsent(&mut self) -> Vec<(u32, Vec<u8>)> {
        let head = self.head;
        let unsent = self
            .frames
            .iter()
            .filter(|f| f.start >= head)
            .map(|f| (f.req_id, self.buf[f.start..f.start + f.len].to_vec()))
            .collect();
        self.clear();
        unsent
    }

    /// Stops (or resumes) handing out bytes; resuming frees the wire.
    pub(crate) fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
        self.wire_busy = false;
    }

    /// Frames waiting, wholly or partly.
    pub(crate) fn queued_frames(&self) -> usize {
        self.frames.len()
    }

    /// Bytes held, handed out or not (tests of the memory bound).
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len()
    }
}
