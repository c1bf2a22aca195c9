//! The reading half shared by [`Connection`](crate::Connection) and
//! [`FrameReceiver`](crate::FrameReceiver): the read buffer and, on the
//! device, the end through which made-up error replies arrive.

use std::os::fd::RawFd;
use std::time::Duration;

use xs_wire::Frame;

use crate::device::DeviceRx;
use crate::fd::Fd;
use crate::reader::ReadError;
use crate::{FrameReader, TransportError};

/// The default bound on received payloads: 64 KiB. See
/// [`Connection::set_recv_limit`](crate::Connection::set_recv_limit).
///
/// The protocol says 4096, and C xenstored keeps to it (a long listing is
/// answered with `E2BIG`, then served by `DIRECTORY_PART`), but oxenstored
/// answers `DIRECTORY` of a big node in one reply over 4096 bytes on its
/// socket (4,200 bytes for 700 children, and more for more). 64 KiB takes
/// the listing of several thousand children with names up to ten bytes,
/// sixteen times the protocol's limit, while the read buffer, which only
/// grows to this size while such a reply is being read, stays small.
///
/// ```
/// assert_eq!(xs_transport::DEFAULT_RECV_LIMIT, 65536);
/// ```
pub const DEFAULT_RECV_LIMIT: usize = 64 * 1024;

/// The largest bound [`Connection::set_recv_limit`](crate::Connection::set_recv_limit)
/// takes (16 MiB): larger values are lowered to it, so the read buffer
/// stays bounded whatever is configured.
///
/// ```
/// assert_eq!(xs_transport::RECV_LIMIT_CEILING, 16 << 20);
/// ```
pub const RECV_LIMIT_CEILING: usize = 16 << 20;

/// Reads frames from the fd; on the device, made-up replies first.
#[derive(Debug)]
pub(crate) struct ReadHalf {
    reader: FrameReader,
    device: Option<DeviceRx>,
    /// A socket without a device, on an open link: reads may stop early
    /// or wait in `recv`.
    direct: bool,
    /// The socket's receive timeout as last set.
    recv_timeout: Option<Duration>,
    /// The last read stopped before "would block": bytes may be waiting
    /// that no edge-triggered readiness will announce again.
    unread: bool,
}

impl ReadHalf {
    /// `is_socket`: whether the fd it reads is a socket.
    pub(crate) fn new(device: Option<DeviceRx>, is_socket: bool) -> ReadHalf {
        ReadHalf {
            reader: FrameReader::with_limit(DEFAULT_RECV_LIMIT),
            direct: is_socket && device.is_none(),
            device,
            recv_timeout: None,
            unread: false,
        }
    }

    #[inline]
    pub(crate) fn recv(
        &mut self,
        fd: &Fd,
        mut on_frame: impl FnMut(Frame<'_>),
    ) -> Result<(), TransportError> {
        if let Some(device) = &self.device {
            device.take(&mut on_frame);
        }
        self.unread = false;
        self.reader
            .read_with(|buf| fd.read_nonblocking(buf), on_frame)
    }

    /// [`ReadHalf::recv`], but on a socket a read that comes back short
    /// (the socket held nothing more just then) ends the call, without the
    /// read to "would block", once `enough()` says so.
    #[inline]
    pub(crate) fn recv_until(
        &mut self,
        fd: &Fd,
        on_frame: impl FnMut(Frame<'_>),
        mut enough: impl FnMut() -> bool,
    ) -> Result<(), ReadError> {
        if !self.direct {
            return Ok(self.recv(fd, on_frame)?);
        }
        self.unread = false;
        // Frames of a short read were delivered: enough()'s moment.
        let stop = |_, short| short && enough();
        self.reader
            .read_until(|buf| fd.recv_nonblocking(buf), on_frame, stop)
            .map(drop)
    }

    /// Waits at most `timeout` for frames and delivers them, stopping once
    /// at least one has come (no read to "would block"): whether any came.
    /// On the device, which is not read this way, reads what is there.
    #[inline]
    pub(crate) fn recv_wait(
        &mut self,
        fd: &Fd,
        timeout: Duration,
        on_frame: impl FnMut(Frame<'_>),
    ) -> Result<bool, TransportError> {
        if !self.direct {
            return self.recv_any(fd, on_frame);
        }
        if self.recv_timeout != Some(timeout) {
            self.set_recv_timeout(fd, timeout)?;
        }
        self.unread = true;
        self.reader
            .read_some_with(|buf| fd.recv_blocking(buf), on_frame)
    }

    /// [`ReadHalf::recv_wait`] where it cannot wait: what is there, and
    /// whether a frame was.
    #[cold]
    #[inline(never)]
    pub(crate) fn recv_any(
        &mut self,
        fd: &Fd,
        mut on_frame: impl FnMut(Frame<'_>),
    ) -> Result<bool, TransportError> {
        let mut any = false;
        self.recv(fd, |f| {
            any = true;
            on_frame(f);
        })?;
        Ok(any)
    }

    /// Sets the socket's receive timeout (a blocking `recv`'s bound).
    #[cold]
    #[inline(never)]
    fn set_recv_timeout(&mut self, fd: &Fd, timeout: Duration) -> Result<(), TransportError> {
        fd.set_recv_timeout(timeout).map_err(TransportError::Io)?;
        self.recv_timeout = Some(timeout);
        Ok(())
    }

    /// Whether reads may stop early or wait in `recv`: false once the
    /// link is closed.
    #[inline(always)]
    pub(crate) fn is_direct(&self) -> bool {
        self.direct
    }

    /// The link closed.
    pub(crate) fn close(&mut self) {
        self.direct = false;
    }

    /// Whether bytes may be waiting that readiness will not announce (the
    /// last read was a [`ReadHalf::recv_wait`]): read before polling.
    pub(crate) fn may_have_unread(&self) -> bool {
        self.unread
    }

    /// The device's wake-up fd, to register next to the main one.
    pub(crate) fn wake_fd(&self) -> Option<RawFd> {
        self.device.as_ref().map(DeviceRx::wake_fd)
    }

    pub(crate) fn has_pending(&self) -> bool {
        self.device.as_ref().is_some_and(DeviceRx::has_pending)
    }

    pub(crate) fn recv_limit(&self) -> usize {
        self.reader.max_payload()
    }

    pub(crate) fn set_recv_limit(&mut self, limit: usize) {
        self.reader.set_limit(limit);
    }
}
