//! The fd under a connection: a Unix stream socket or the xenbus device.
//!
//! The device is non-blocking, read with `read()` and written with
//! `write()`, and has no shutdown. A socket is left in *blocking* mode and
//! every call that must not wait says so (`recv`/`send` with
//! `MSG_DONTWAIT`; `MSG_NOSIGNAL` too, so no `SIGPIPE` when xenstored has
//! gone): readiness works the same on it, and a lone reader may also wait
//! in a plain `recv` bounded by `SO_RCVTIMEO` ([`Fd::recv_blocking`]),
//! which wakes it sooner than readiness when the client and the daemon run
//! on different CPUs (docs/benchmarks.md). A socket is shut down after a
//! fatal error. The fd is made close-on-exec whoever opened it.
//!
//! Everything above is driven by readiness, so an fd that cannot be polled
//! (a regular file, `/dev/null`, a wrong path given as the xenbus device)
//! would only fail later, in the first poll registration, far from the
//! path that caused it. [`Fd::check_pollable`] finds that out when the
//! connection is made.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use mio::unix::SourceFd;
use mio::{Interest, Poll, Token};

use crate::{sys, TransportError, TransportKind};

/// A close-on-exec socket (blocking, used with `MSG_DONTWAIT`) or device
/// fd (non-blocking).
#[derive(Debug)]
pub(crate) struct Fd {
    file: File,
    is_socket: bool,
}

impl Fd {
    /// Takes ownership of `fd`, setting `FD_CLOEXEC`; the device (or a
    /// stand-in for it) is made non-blocking, a socket blocking.
    pub(crate) fn new(fd: OwnedFd, kind: TransportKind) -> io::Result<Fd> {
        let file = File::from(fd);
        let is_socket = file.metadata()?.file_type().is_socket();
        sys::set_cloexec_blocking_mode(file.as_fd(), kind == TransportKind::Xenbus)?;
        if is_socket {
            sys::prepare_socket(file.as_fd())?;
        }
        Ok(Fd { file, is_socket })
    }

    /// Whether this is a socket (which [`Fd::recv_blocking`] can wait on).
    pub(crate) fn is_socket(&self) -> bool {
        self.is_socket
    }

    /// A `dup` with `CLOEXEC` sharing the open file (hence its blocking
    /// mode).
    pub(crate) fn try_clone(&self) -> io::Result<Fd> {
        Ok(Fd {
            file: self.file.try_clone()?,
            is_socket: self.is_socket,
        })
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// Closes a socket towards the peer (both directions, for every fd
    /// sharing it). The device has no such thing; its fd closes on drop.
    pub(crate) fn shutdown(&self) {
        if self.is_socket {
            let _ = sys::shutdown(self.file.as_fd());
        }
    }

    /// Refuses an fd that a poll cannot wait on, naming `path` and what the
    /// fd is. Registers it with a throwaway `mio::Poll`, which asks the
    /// kernel itself (epoll refuses regular files and `/dev/null` with
    /// `EPERM`).
    pub(crate) fn check_pollable(&self, path: &Path) -> Result<(), TransportError> {
        let probe = || -> io::Result<()> {
            let poll = Poll::new()?;
            let raw = self.raw();
            poll.registry()
                .register(&mut SourceFd(&raw), Token(0), Interest::READABLE)?;
            poll.registry().deregister(&mut SourceFd(&raw))
        };
        probe().map_err(|source| TransportError::NotPollable {
            path: path.to_path_buf(),
            file_type: self.file_type(),
            source,
        })
    }

    /// What the fd is, in words, for error messages.
    fn file_type(&self) -> &'static str {
        let Ok(meta) = self.file.metadata() else {
            return "file of unknown type";
        };
        let t = meta.file_type();
        if t.is_file() {
            "regular file"
        } else if t.is_dir() {
            "directory"
        } else if t.is_char_device() {
            "character device"
        } else if t.is_block_device() {
            "block device"
        } else if t.is_fifo() {
            "FIFO"
        } else if t.is_socket() {
            "socket"
        } else {
            "file of unknown type"
        }
    }
}

impl Fd {
    /// Reads what is there: `Ok(None)` when it would block, `Ok(Some(0))`
    /// at end of file; `EINTR` is retried.
    #[inline]
    pub(crate) fn read_nonblocking(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        if self.is_socket {
            return sys::recv_nonblocking(sys::borrow(&self.file), buf);
        }
        sys::read_nonblocking(sys::borrow(&self.file), buf)
    }

    /// Socket only: [`Fd::read_nonblocking`] without asking what the fd is.
    #[inline]
    pub(crate) fn recv_nonblocking(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        sys::recv_nonblocking(sys::borrow(&self.file), buf)
    }

    /// Socket only: waits for data at most the socket's receive timeout
    /// (see [`Fd::set_recv_timeout`]); `Ok(None)` when it passed (or a
    /// signal came), `Ok(Some(0))` at end of file.
    #[inline]
    pub(crate) fn recv_blocking(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        sys::recv_blocking(sys::borrow(&self.file), buf)
    }

    /// Socket only: sets how long [`Fd::recv_blocking`] waits.
    pub(crate) fn set_recv_timeout(&self, timeout: std::time::Duration) -> io::Result<()> {
        sys::set_recv_timeout(sys::borrow(&self.file), timeout)
    }

    /// Socket only: one `send()` that never waits: the bytes taken, or
    /// the `errno` (`EINTR` and "would block" included).
    #[inline]
    pub(crate) fn send_once(&self, buf: &[u8]) -> Result<usize, i32> {
        sys::send_once(sys::borrow(&self.file), buf)
    }

    /// Writes what the fd takes now: `Ok(None)` when it would block;
    /// `EINTR` is retried.
    #[inline]
    pub(crate) fn write_nonblocking(&self, buf: &[u8]) -> io::Result<Option<usize>> {
        if self.is_socket {
            return sys::send_nonblocking(sys::borrow(&self.file), buf);
        }
        loop {
            match (&self.file).write(buf) {
                Ok(n) => return Ok(Some(n)),
                Err(e) => match e.kind() {
                    io::ErrorKind::Interrupted => {}
                    io::ErrorKind::WouldBlock => return Ok(None),
                    _ => return Err(e),
                },
            }
        }
    }
}

impl Write for &Fd {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.is_socket {
            sys::send_nosignal(sys::borrow(&self.file), buf)
        } else {
            (&self.file).write(buf)
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsFd for Fd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// The path an fd was opened from when the OS says (Linux: the
/// `/proc/self/fd` link), else `<what> (fd N)`.
pub(crate) fn describe(fd: RawFd, what: &str) -> String {
    #[cfg(target_os = "linux")]
    if let Ok(target) = std::fs::read_link(format!("/proc/self/fd/{fd}")) {
        if target.is_absolute() {
            return target.display().to_string();
        }
    }
    format!("{what} (fd {fd})")
}
