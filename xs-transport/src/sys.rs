//! The few system calls std does not offer safely.
//!
//! Everything here takes a [`BorrowedFd`], so the fd is known to be open
//! for the duration of the call; the only `unsafe` of the crate lives here.
//!
//! * `fcntl` to force `FD_CLOEXEC` on an fd handed in by an embedder (std
//!   sets `CLOEXEC` on everything it opens itself, but an
//!   [`OwnedFd`](std::os::fd::OwnedFd) may come from anywhere), and to set
//!   or clear `O_NONBLOCK`: the device is non-blocking, a socket blocking,
//!   so that a lone reader can wait in `recv` (see `fd.rs`).
//! * `send(MSG_NOSIGNAL)`, because `write()` on a socket whose peer has gone
//!   raises `SIGPIPE`, which kills a process that has not ignored it (a C
//!   program embedding us, say). On Apple systems, which lack
//!   `MSG_NOSIGNAL`, the socket gets `SO_NOSIGPIPE` instead.
//! * `read`, `recv(MSG_DONTWAIT)` and `send(MSG_DONTWAIT)` that say "would
//!   block" without an [`io::Error`]: every drain of the fd ends that way,
//!   so it is on the path of every reply.
//! * a blocking `recv` bounded by `SO_RCVTIMEO`.
//! * `epoll_wait` into a caller's small array (see `epoll.rs`).
//! * `shutdown`, to close a socket towards the peer after a fatal error
//!   without closing the fd itself (it may still be registered with a
//!   `mio::Poll`, and closing it would let its number be reused behind the
//!   registration's back).

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Sets `FD_CLOEXEC` on `fd`, and sets (`nonblocking`) or clears
/// `O_NONBLOCK`.
pub(crate) fn set_cloexec_blocking_mode(fd: BorrowedFd<'_>, nonblocking: bool) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: `raw` is open for the lifetime of `fd`; F_GETFD/F_SETFD take
    // and return plain integers and touch no memory of ours.
    let fd_flags = cvt(unsafe { libc::fcntl(raw, libc::F_GETFD) })?;
    if fd_flags & libc::FD_CLOEXEC == 0 {
        // SAFETY: as above.
        cvt(unsafe { libc::fcntl(raw, libc::F_SETFD, fd_flags | libc::FD_CLOEXEC) })?;
    }
    // SAFETY: as above; F_GETFL/F_SETFL take and return plain integers.
    let fl_flags = cvt(unsafe { libc::fcntl(raw, libc::F_GETFL) })?;
    let wanted = if nonblocking {
        fl_flags | libc::O_NONBLOCK
    } else {
        fl_flags & !libc::O_NONBLOCK
    };
    if wanted != fl_flags {
        // SAFETY: as above.
        cvt(unsafe { libc::fcntl(raw, libc::F_SETFL, wanted) })?;
    }
    Ok(())
}

// The socket itself is blocking: every call that must not wait says so.
#[cfg(not(target_vendor = "apple"))]
const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT;
#[cfg(target_vendor = "apple")]
const SEND_FLAGS: libc::c_int = libc::MSG_DONTWAIT;

/// `send(fd, buf, MSG_NOSIGNAL | MSG_DONTWAIT)`: a write to a socket that
/// reports a gone peer as `EPIPE` instead of raising `SIGPIPE`, and never
/// waits.
pub(crate) fn send_nosignal(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    let n = send_raw(fd, buf);
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        // n >= 0 and at most buf.len(), so it fits usize.
        Ok(n as usize)
    }
}

/// [`send_nosignal`] on a non-blocking socket, answering as
/// [`read_nonblocking`] does.
#[inline]
pub(crate) fn send_nonblocking(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<Option<usize>> {
    nonblocking(|| send_raw(fd, buf))
}

/// One [`send_nosignal`] that never waits: the bytes taken, or the
/// `errno`, with no [`io::Error`] made.
#[inline]
pub(crate) fn send_once(fd: BorrowedFd<'_>, buf: &[u8]) -> Result<usize, libc::c_int> {
    let n = send_raw(fd, buf);
    if n >= 0 {
        // n >= 0 and at most buf.len(), so it fits usize.
        Ok(n as usize)
    } else {
        Err(errno())
    }
}

/// Whether `errno` says "try again": interrupted, or it would block.
pub(crate) fn is_retry(code: libc::c_int) -> bool {
    code == libc::EINTR || code == libc::EAGAIN || code == libc::EWOULDBLOCK
}

#[inline]
fn send_raw(fd: BorrowedFd<'_>, buf: &[u8]) -> libc::ssize_t {
    // SAFETY: `fd` is open for the call; the pointer and length describe
    // `buf`, which stays borrowed (and unmodified) for the call, and send()
    // only reads that many bytes from it.
    unsafe { libc::send(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), SEND_FLAGS) }
}

/// `read(fd, buf)` on a non-blocking fd: `Ok(Some(n))` for `n` bytes (0 at
/// end of file), `Ok(None)` when it would block; `EINTR` is retried.
#[inline]
pub(crate) fn read_nonblocking(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Option<usize>> {
    // SAFETY: `fd` is open for the call; the pointer and length describe
    // `buf`, which is exclusively borrowed for the call, and read() writes
    // at most that many bytes into it.
    nonblocking(|| unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })
}

/// `recv(fd, buf, MSG_DONTWAIT)` on a socket, answering as
/// [`read_nonblocking`] does.
#[inline]
pub(crate) fn recv_nonblocking(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Option<usize>> {
    // SAFETY: `fd` is open for the call; the pointer and length describe
    // `buf`, which is exclusively borrowed for the call, and recv() writes
    // at most that many bytes into it.
    nonblocking(|| unsafe {
        libc::recv(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT,
        )
    })
}

/// `recv(fd, buf, 0)` on a blocking socket: waits for data, at most the
/// socket's `SO_RCVTIMEO`. `Ok(None)` when that passed or a signal came
/// (the caller looks at the time and calls again).
#[inline]
pub(crate) fn recv_blocking(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Option<usize>> {
    // SAFETY: as for `recv_nonblocking`.
    let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n >= 0 {
        // n >= 0 and at most the buffer's length, so it fits usize.
        return Ok(Some(n as usize));
    }
    match errno() {
        libc::EINTR => Ok(None),
        code if code == libc::EAGAIN || code == libc::EWOULDBLOCK => Ok(None),
        code => Err(io::Error::from_raw_os_error(code)),
    }
}

/// `epoll_wait(epoll, events, timeout_ms)`: how many entries of `events`
/// it filled. A signal gives [`io::ErrorKind::Interrupted`].
#[cfg(any(target_os = "linux", target_os = "android"))]
#[inline]
pub(crate) fn epoll_wait(
    epoll: BorrowedFd<'_>,
    events: &mut [libc::epoll_event],
    timeout_ms: libc::c_int,
) -> io::Result<usize> {
    let max = libc::c_int::try_from(events.len()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `epoll` is open for the call; the kernel writes at most
    // `max` entries, all within `events`, which is borrowed mutably for
    // the call.
    let n =
        cvt(unsafe { libc::epoll_wait(epoll.as_raw_fd(), events.as_mut_ptr(), max, timeout_ms) })?;
    // 0 <= n <= max <= events.len().
    Ok(n as usize)
}

/// Sets `SO_RCVTIMEO`: how long a blocking `recv` waits (at least 1 µs:
/// zero would mean forever).
pub(crate) fn set_recv_timeout(fd: BorrowedFd<'_>, timeout: std::time::Duration) -> io::Result<()> {
    let micros = timeout.as_micros().max(1);
    let tv = libc::timeval {
        tv_sec: (micros / 1_000_000).min(libc::time_t::MAX as u128) as libc::time_t,
        tv_usec: (micros % 1_000_000) as libc::suseconds_t,
    };
    set_socket_option(fd, libc::SO_RCVTIMEO, &tv)
}

/// `setsockopt(fd, SOL_SOCKET, option, value)` with a plain C value.
fn set_socket_option<T: Copy>(
    fd: BorrowedFd<'_>,
    option: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `fd` is open for the call; the option value points at a live
    // `T`, borrowed for the call, and its exact size is passed.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Runs a `read`/`send`-like call on a non-blocking fd until it is not
/// interrupted. "Would block" ends every drain of a socket, so it is told
/// by `errno` alone, with no [`io::Error`] to make, classify and drop.
#[inline]
fn nonblocking(mut call: impl FnMut() -> libc::ssize_t) -> io::Result<Option<usize>> {
    loop {
        let n = call();
        if n >= 0 {
            // n >= 0 and at most the buffer's length, so it fits usize.
            return Ok(Some(n as usize));
        }
        match errno() {
            libc::EINTR => {}
            code if code == libc::EAGAIN || code == libc::EWOULDBLOCK => return Ok(None),
            code => return Err(io::Error::from_raw_os_error(code)),
        }
    }
}

/// `file`'s fd, borrowed for as long as `file` is (std's own `as_fd` for a
/// `File` is an out-of-line call).
#[inline]
pub(crate) fn borrow(file: &File) -> BorrowedFd<'_> {
    // SAFETY: the fd belongs to `file`, which keeps it open for at least
    // the lifetime of the returned borrow.
    unsafe { BorrowedFd::borrow_raw(file.as_raw_fd()) }
}

/// The calling thread's `errno`, read directly where libc names its
/// location.
#[cfg(any(target_os = "linux", target_os = "emscripten"))]
#[inline]
fn errno() -> libc::c_int {
    // SAFETY: __errno_location() returns a valid pointer to this thread's
    // errno, which lives as long as the thread.
    unsafe { *libc::__errno_location() }
}

/// The calling thread's `errno`, through std elsewhere.
#[cfg(not(any(target_os = "linux", target_os = "emscripten")))]
#[inline]
fn errno() -> libc::c_int {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Sets `SO_NOSIGPIPE` where `MSG_NOSIGNAL` does not exist.
#[cfg(target_vendor = "apple")]
pub(crate) fn prepare_socket(fd: BorrowedFd<'_>) -> io::Result<()> {
    let one: libc::c_int = 1;
    set_socket_option(fd, libc::SO_NOSIGPIPE, &one)
}

/// Nothing to do: every write uses `MSG_NOSIGNAL`.
#[cfg(not(target_vendor = "apple"))]
pub(crate) fn prepare_socket(_fd: BorrowedFd<'_>) -> io::Result<()> {
    Ok(())
}

/// `shutdown(fd, SHUT_RDWR)`.
pub(crate) fn shutdown(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: `fd` is open for the call; shutdown() takes only integers.
    cvt(unsafe { libc::shutdown(fd.as_raw_fd(), libc::SHUT_RDWR) }).map(drop)
}

/// Maps an OS error to the xenstore error name a daemon would have sent;
/// anything outside Xen's table becomes `EINVAL`, as in libxenstore.
pub(crate) fn errno_name(err: &io::Error) -> xs_wire::Errno {
    use xs_wire::Errno;
    let Some(raw) = err.raw_os_error() else {
        return Errno::EINVAL;
    };
    // Errno::from_errno knows Linux numbers; elsewhere go through libc's
    // constants, which are the platform's own.
    if cfg!(any(target_os = "linux", target_os = "android")) {
        return Errno::from_errno(raw).unwrap_or(Errno::EINVAL);
    }
    let table = [
        (libc::EINVAL, Errno::EINVAL),
        (libc::EACCES, Errno::EACCES),
        (libc::EEXIST, Errno::EEXIST),
        (libc::EISDIR, Errno::EISDIR),
        (libc::ENOENT, Errno::ENOENT),
        (libc::ENOMEM, Errno::ENOMEM),
        (libc::ENOSPC, Errno::ENOSPC),
        (libc::EIO, Errno::EIO),
        (libc::ENOTEMPTY, Errno::ENOTEMPTY),
        (libc::ENOSYS, Errno::ENOSYS),
        (libc::EROFS, Errno::EROFS),
        (libc::EBUSY, Errno::EBUSY),
        (libc::EAGAIN, Errno::EAGAIN),
        (libc::EISCONN, Errno::EISCONN),
        (libc::E2BIG, Errno::E2BIG),
        (libc::EPERM, Errno::EPERM),
    ];
    table
        .into_iter()
        .find(|(n, _)| *n == raw)
        .map_or(Errno::EINVAL, |(_, e)| e)
}
