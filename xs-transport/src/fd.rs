//! The fd under a connection: a Unix stream socket or the xenbus device.
//!
//! Both are read with `read()`. A socket is written with
//! `send(MSG_NOSIGNAL)` (no `SIGPIPE` when xenstored has gone) and shut down
//! after a fatal error; the device is written with `write()` and has no
//! shutdown. The fd is made non-blocking and close-on-exec whoever opened
//! it.
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

use crate::{sys, TransportError};

/// A non-blocking, close-on-exec socket or device fd.
#[derive(Debug)]
pub(crate) struct Fd {
    file: File,
    is_socket: bool,
}

impl Fd {
    /// Takes ownership of `fd`, setting `O_NONBLOCK` and `FD_CLOEXEC`.
    pub(crate) fn new(fd: OwnedFd) -> io::Result<Fd> {
        sys::set_cloexec_nonblocking(fd.as_fd())?;
        let file = File::from(fd);
        let is_socket = file.metadata()?.file_type().is_socket();
        if is_socket {
            sys::prepare_socket(file.as_fd())?;
        }
        Ok(Fd { file, is_socket })
    }

    /// A `dup` with `CLOEXEC` sharing the open file (hence its
    /// non-blocking mode).
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
        sys::read_nonblocking(sys::borrow(&self.file), buf)
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
