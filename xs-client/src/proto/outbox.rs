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

use xs_transport::TransportKind;
use xs_wire::{Header, HEADER_SIZE};

/// Bytes already handed out that [`Outbox::advance`] lets stay in front of
/// the frames still queued (moving the rest costs more for less).
const COMPACT_AT: usize = 16 * 1024;

/// Encoded frames waiting for the driver.
///
/// The frames lie back to back in `buf[..end]`; each one's header says its
/// length and request id, so nothing is kept per frame. What follows `end`
/// is room for the next frame, zeroed once and then reused: a frame is
/// encoded straight into it, with no length computed beforehand. A driver
/// that takes everything queued gets the buffer itself, and gives back
/// its own (see [`Outbox::take`]).
#[derive(Debug)]
pub(crate) struct Outbox {
    buf: Vec<u8>,
    /// End of the last frame.
    end: usize,
    /// Bytes of `buf` already handed out.
    head: usize,
    /// Start of the first frame not wholly handed out (`end` if none):
    /// `first <= head < end` while anything is queued.
    first: usize,
    one_at_a_time: bool,
    /// Device only: a frame was handed out and no reply has come since.
    wire_busy: bool,
    /// Nothing is handed out (the connection is being replaced).
    paused: bool,
}

/// Bytes a driver took out of the outbox to write (see
/// [`Core::take_transmit`](super::Core::take_transmit)).
///
/// Its buffer changes places with the outbox's, so it keeps the length it
/// reached: what lies past the bytes taken is room the outbox may encode
/// into again once the buffer goes back, already zeroed.
#[derive(Debug, Default)]
pub struct Outgoing {
    buf: Vec<u8>,
    /// Bytes taken, at the start of `buf`.
    len: usize,
}

impl Outgoing {
    /// Nothing taken yet.
    pub fn new() -> Outgoing {
        Outgoing::default()
    }

    /// The bytes taken, in order.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Forgets the bytes taken (written, or lost with the connection),
    /// keeping the buffer and its room.
    #[inline]
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Copies `bytes` after those taken (the rare hand-over that cannot
    /// swap buffers).
    #[cold]
    fn append(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
        self.buf[self.len..end].copy_from_slice(bytes);
        self.len = end;
    }
}

impl Outbox {
    pub(crate) fn new(kind: TransportKind) -> Outbox {
        Outbox {
            buf: Vec::new(),
            end: 0,
            head: 0,
            first: 0,
            one_at_a_time: kind == TransportKind::Xenbus,
            wire_busy: false,
            paused: false,
        }
    }

    /// The request id and the end of the frame starting at `start` (a
    /// frame boundary before `end`).
    #[inline]
    fn frame_at(&self, start: usize) -> (u32, usize) {
        let header = self
            .buf
            .get(start..start + HEADER_SIZE)
            .and_then(|b| <&[u8; HEADER_SIZE]>::try_from(b).ok())
            .map(Header::from_bytes);
        match header {
            Some(h) => (
                h.req_id,
                (start + HEADER_SIZE + h.len as usize).min(self.end),
            ),
            // Frames are written whole: cannot happen.
            None => (0, self.end),
        }
    }

    /// The frames not wholly handed out: (request id, start, end).
    fn frames(&self) -> impl Iterator<Item = (u32, usize, usize)> + '_ {
        let mut at = self.first;
        std::iter::from_fn(move || {
            if at >= self.end {
                return None;
            }
            let (req_id, end) = self.frame_at(at);
            let frame = (req_id, at, end);
            at = end;
            Some(frame)
        })
    }

    /// Appends a frame written by `encode` into at least `room` bytes
    /// (`encode` returns how many it wrote, a whole frame, header first);
    /// on an error nothing is kept. Returns the frame.
    // Inlined always: as a call (the compiler's choice in the synchronous
    // path) it passes the encoder's captures and result through memory.
    #[inline(always)]
    pub(crate) fn push<E>(
        &mut self,
        room: usize,
        encode: impl FnOnce(&mut [u8]) -> Result<usize, E>,
    ) -> Result<&[u8], E> {
        let start = self.end;
        if self.buf.len() < start + room {
            self.buf.resize(start + room, 0);
        }
        let n = encode(&mut self.buf[start..])?;
        // Slicing checks `n` (an encoder writes no more than it was given).
        let frame = &self.buf[start..][..n];
        self.end = start + n;
        Ok(frame)
    }

    /// The last `len` bytes queued (the frame just pushed).
    pub(crate) fn newest(&self, len: usize) -> &[u8] {
        &self.buf[self.end.saturating_sub(len)..self.end]
    }

    /// Appends an already encoded frame.
    pub(crate) fn push_frame(&mut self, frame: &[u8]) {
        let _ = self.push(frame.len(), |buf| {
            buf[..frame.len()].copy_from_slice(frame);
            Ok::<usize, ()>(frame.len())
        });
    }

    /// The bytes the driver may write now: everything queued on a socket;
    /// on the device one frame, and only while no request is unanswered.
    #[inline]
    pub(crate) fn transmit(&self) -> Option<&[u8]> {
        // Nothing queued first: the usual answer after a reply.
        if self.head >= self.end || self.paused {
            return None;
        }
        if !self.one_at_a_time {
            return Some(&self.buf[self.head..self.end]);
        }
        if self.wire_busy {
            return None;
        }
        Some(&self.buf[self.head..self.frame_at(self.first).1])
    }

    /// Hands what [`Outbox::transmit`] gives over to `out`, after what it
    /// holds, as [`Outbox::advance`] over all of it would.
    ///
    /// When that is everything queued and `out` is empty (the usual case:
    /// a socket, or the device with one frame queued), the two buffers
    /// change places instead of the bytes being copied. `out`'s buffer
    /// keeps the length it had (its room, see [`Outgoing::clear`]), so it
    /// becomes the outbox's room for the next frame with nothing to zero.
    #[inline]
    pub(crate) fn take(&mut self, out: &mut Outgoing) {
        // Nothing handed out yet (so `first` is 0 too), and all of it may
        // go: on the device, one frame onto a free wire.
        let whole = !self.paused
            && self.head == 0
            && self.end > 0
            && out.len == 0
            && (!self.one_at_a_time || (!self.wire_busy && self.frame_at(0).1 == self.end));
        if !whole {
            return self.take_copy(out);
        }
        std::mem::swap(&mut self.buf, &mut out.buf);
        out.len = self.end;
        // A frame went out: on the device the wire is busy until a reply.
        self.wire_busy = self.one_at_a_time;
        self.empty();
    }

    /// [`Outbox::take`] by copying: part of what is queued, or after bytes
    /// `out` holds already.
    #[inline(never)]
    fn take_copy(&mut self, out: &mut Outgoing) {
        if let Some(bytes) = self.transmit() {
            let n = bytes.len();
            out.append(bytes);
            self.advance(n);
        }
    }

    /// The driver took `n` bytes of [`Outbox::transmit`].
    #[inline]
    pub(crate) fn advance(&mut self, n: usize) {
        self.head = (self.head + n).min(self.end);
        if self.head == self.end {
            // All handed out (the usual case): at least one frame was
            // finished if any was queued.
            if self.first < self.end && self.one_at_a_time {
                self.wire_busy = true;
            }
            self.empty();
            return;
        }
        self.finish_frames();
    }

    /// Moves `first` past the frames wholly handed out.
    #[cold]
    fn finish_frames(&mut self) {
        loop {
            let (_, end) = self.frame_at(self.first);
            if end > self.head {
                break;
            }
            self.first = end;
            if self.one_at_a_time {
                self.wire_busy = true;
            }
        }
        // Never empty (a busy socket): drop what was handed out once it is
        // most of the buffer, so it cannot pile up.
        let cut = self.first;
        if cut >= COMPACT_AT && 2 * cut >= self.end {
            self.buf.copy_within(cut..self.end, 0);
            self.end -= cut;
            self.head -= cut;
            self.first = 0;
        }
    }

    /// A reply came: on the device, the wire is free for the next frame.
    #[inline]
    pub(crate) fn reply_received(&mut self) {
        self.wire_busy = false;
    }

    /// Takes back request `req_id`'s frame if none of it was handed out;
    /// `true` if it was (so it will never reach the daemon).
    pub(crate) fn withdraw(&mut self, req_id: u32) -> bool {
        let Some((_, start, end)) = self.frames().find(|f| f.0 == req_id) else {
            return false;
        };
        if start < self.head {
            return false; // partly handed out: it must be finished
        }
        self.buf.copy_within(end..self.end, start);
        self.end -= end - start;
        if self.first == self.end {
            self.empty();
        }
        true
    }

    /// No frame queued: the buffer's room is reused from its start.
    #[inline]
    fn empty(&mut self) {
        self.end = 0;
        self.head = 0;
        self.first = 0;
    }

    /// Drops everything (the connection is dead).
    pub(crate) fn clear(&mut self) {
        self.empty();
        self.wire_busy = false;
    }

    /// Takes out every frame none of which was handed out, in order, and
    /// drops the rest: the connection is gone.
    pub(crate) fn take_unsent(&mut self) -> Vec<(u32, Vec<u8>)> {
        let head = self.head;
        let unsent = self
            .frames()
            .filter(|&(_, start, _)| start >= head)
            .map(|(req_id, start, end)| (req_id, self.buf[start..end].to_vec()))
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
        self.frames().count()
    }

    /// Bytes held, handed out or not, and room for the next frame (tests
    /// of the memory bound).
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xs_wire::Op;

    /// A READ-shaped frame for `req_id` with `len` payload bytes.
    fn frame(req_id: u32, len: usize) -> Vec<u8> {
        let header = Header {
            op: Op::Read,
            req_id,
            tx_id: 0,
            len: len as u32,
        };
        let mut out = header.to_bytes().to_vec();
        out.extend((0..len).map(|i| (req_id as u8).wrapping_add(i as u8)));
        out
    }

    fn outbox(kind: TransportKind, frames: &[Vec<u8>]) -> Outbox {
        let mut o = Outbox::new(kind);
        for f in frames {
            o.push_frame(f);
        }
        o
    }

    #[test]
    fn frames_are_told_apart_by_their_headers_through_partial_writes() {
        let fs = [frame(1, 3), frame(2, 0), frame(3, 40)];
        let all = fs.concat();
        let mut o = outbox(TransportKind::Socket, &fs);
        assert_eq!(o.queued_frames(), 3);
        // One byte at a time: a frame counts as gone once its last byte is.
        let mut taken = Vec::new();
        for n in 1..=all.len() {
            let out = o.transmit().expect("bytes left");
            assert_eq!(out, &all[n - 1..]);
            taken.push(out[0]);
            o.advance(1);
            let left = match n {
                n if n < fs[0].len() => 3,
                n if n < fs[0].len() + fs[1].len() => 2,
                n if n < all.len() => 1,
                _ => 0,
            };
            assert_eq!(o.queued_frames(), left, "after {n} bytes");
        }
        assert_eq!(taken, all);
        assert_eq!(o.transmit(), None);
    }

    #[test]
    fn withdraw_takes_out_only_a_frame_none_of_which_was_handed_out() {
        let fs = [frame(1, 5), frame(2, 6), frame(3, 7)];
        let mut o = outbox(TransportKind::Socket, &fs);
        o.advance(3); // frame 1 partly written
        assert!(!o.withdraw(1), "partly handed out: must be finished");
        assert!(!o.withdraw(9), "not queued");
        assert!(o.withdraw(2));
        assert_eq!(o.transmit(), Some(&[&fs[0][3..], &fs[2][..]].concat()[..]));
        let unsent = o.take_unsent();
        assert_eq!(unsent, [(3, fs[2].clone())], "frame 1 was started: dropped");
        assert_eq!((o.queued_frames(), o.transmit()), (0, None));
    }

    #[test]
    fn on_the_device_one_frame_goes_per_reply() {
        let fs = [frame(1, 2), frame(2, 4)];
        let mut o = outbox(TransportKind::Xenbus, &fs);
        assert_eq!(o.transmit(), Some(&fs[0][..]));
        o.advance(fs[0].len());
        assert_eq!(o.transmit(), None, "frame 1 unanswered");
        o.reply_received();
        assert_eq!(o.transmit(), Some(&fs[1][..]));
        o.advance(fs[1].len());
        assert_eq!(o.transmit(), None);
        o.reply_received();
        assert_eq!(o.transmit(), None, "nothing queued");
    }

    #[test]
    fn encoding_errors_and_room_leave_no_trace() {
        let mut o = Outbox::new(TransportKind::Socket);
        let f = frame(4, 10);
        let wrote = o.push(4096, |buf| {
            assert!(buf.len() >= 4096);
            buf[..f.len()].copy_from_slice(&f);
            Ok::<usize, ()>(f.len())
        });
        assert_eq!(wrote, Ok(&f[..]));
        assert_eq!(o.push(4096, |_| Err::<usize, _>("refused")), Err("refused"));
        assert_eq!(o.transmit(), Some(&f[..]), "only the whole frame");
        assert_eq!(o.queued_frames(), 1);
    }

    /// Takes what the outbox hands out into a fresh `out` (cleared first).
    fn take(o: &mut Outbox, out: &mut Outgoing) -> Vec<u8> {
        out.clear();
        o.take(out);
        out.bytes().to_vec()
    }

    #[test]
    fn taking_everything_swaps_buffers_and_reuses_their_room() {
        let fs = [frame(1, 3), frame(2, 40)];
        let mut o = outbox(TransportKind::Socket, &fs);
        let mut out = Outgoing::new();
        assert_eq!(take(&mut o, &mut out), fs.concat());
        assert_eq!(o.buffered(), 0, "swapped, not copied");
        assert_eq!((o.transmit(), o.queued_frames()), (None, 0));
        assert!(!o.withdraw(2), "handed out: cannot be taken back");
        assert_eq!(o.take_unsent(), [], "handed out: not sent again");
        // The outbox got `out`'s empty buffer: room is made once...
        o.push_frame(&frame(3, 5));
        let (a, b) = (o.buffered(), out.buf.len());
        assert_eq!(take(&mut o, &mut out), frame(3, 5));
        // ...then the two buffers go back and forth, growing no more.
        let mut before = [a, b];
        before.sort_unstable();
        for id in 4..8 {
            o.push_frame(&frame(id, 5));
            assert_eq!(take(&mut o, &mut out), frame(id, 5));
            let mut sizes = [o.buffered(), out.buf.len()];
            sizes.sort_unstable();
            assert_eq!(sizes, before, "no room made again");
        }
        assert_eq!(o.transmit(), None);
    }

    #[test]
    fn taking_the_rest_of_a_partial_write_or_after_bytes_held_copies() {
        let fs = [frame(1, 5), frame(2, 6)];
        let all = fs.concat();
        let mut o = outbox(TransportKind::Socket, &fs);
        o.advance(3);
        let mut out = Outgoing::new();
        assert_eq!(take(&mut o, &mut out), &all[3..], "only what is left");
        assert_eq!((o.transmit(), o.queued_frames()), (None, 0));
        // `out` still holds bytes: the next take goes after them.
        o.push_frame(&frame(3, 2));
        o.take(&mut out);
        assert_eq!(out.bytes(), [&all[3..], &frame(3, 2)[..]].concat());
        assert_eq!(o.transmit(), None);
        // Withdrawing after a take: only what was not handed out.
        o.push_frame(&frame(4, 1));
        o.push_frame(&frame(5, 1));
        o.advance(2);
        assert_eq!(
            take(&mut o, &mut out),
            [&frame(4, 1)[2..], &frame(5, 1)[..]].concat()
        );
        o.push_frame(&frame(6, 1));
        assert!(!o.withdraw(5));
        assert!(o.withdraw(6));
        assert_eq!(take(&mut o, &mut out), []);
    }

    #[test]
    fn on_the_device_a_take_is_one_frame_and_busies_the_wire() {
        let fs = [frame(1, 2), frame(2, 4)];
        let mut o = outbox(TransportKind::Xenbus, &fs);
        let mut out = Outgoing::new();
        assert_eq!(take(&mut o, &mut out), fs[0], "one frame of two");
        assert_eq!(take(&mut o, &mut out), [], "frame 1 unanswered");
        o.reply_received();
        assert_eq!(take(&mut o, &mut out), fs[1]);
        // One frame queued, the wire free: taken whole.
        o.push_frame(&frame(3, 1));
        assert_eq!(take(&mut o, &mut out), [], "frame 2 unanswered");
        o.reply_received();
        assert_eq!(take(&mut o, &mut out), frame(3, 1));
        o.push_frame(&frame(4, 1));
        assert_eq!(take(&mut o, &mut out), [], "frame 3 unanswered");
        o.reply_received();
        assert_eq!(take(&mut o, &mut out), frame(4, 1));
        o.reply_received();
        assert_eq!(take(&mut o, &mut out), [], "nothing queued");
    }

    #[test]
    fn a_paused_outbox_hands_nothing_over_and_keeps_it_for_the_next_connection() {
        let mut o = outbox(TransportKind::Xenbus, &[frame(1, 2)]);
        let mut out = Outgoing::new();
        assert_eq!(take(&mut o, &mut out), frame(1, 2));
        o.push_frame(&frame(2, 3));
        // The connection is lost with frame 1 on the wire.
        let unsent = o.take_unsent();
        assert_eq!(unsent, [(2, frame(2, 3))]);
        o.set_paused(true);
        for (_, f) in &unsent {
            o.push_frame(f);
        }
        assert_eq!(take(&mut o, &mut out), [], "paused");
        o.set_paused(false);
        assert_eq!(
            take(&mut o, &mut out),
            frame(2, 3),
            "the wire is free again"
        );
        assert_eq!(o.take_unsent(), []);
    }
}
