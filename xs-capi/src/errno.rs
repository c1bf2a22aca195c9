//! How a failed call reports why: C callers read `errno`, so every
//! [`xs_client::Error`] becomes the value libxenstore would have left there.
//!
//! | error | errno | libxenstore's reason |
//! |---|---|---|
//! | daemon error in Xen's table | that errno | `get_error()` looks the name up |
//! | daemon error not in the table (`EQUOTA`, ...) | `EINVAL` | its fallback |
//! | request refused before sending: payload too big | `E2BIG` | checked before `write` |
//! | request refused before sending: anything else | `EINVAL` | the daemon would answer `EINVAL` |
//! | cannot connect | the OS error | `socket()`/`connect()`/`open()` |
//! | connection gone | `EBADF` | `read_all()` on end of file |
//! | unexpected packet | `EBADF` | reply of the wrong type closes the fd |
//! | timeout | `ETIMEDOUT` | (libxenstore has none) |
//! | transaction conflict | `EAGAIN` | the daemon's `EAGAIN` |
//! | watch events lost | `ENOBUFS` | (libxenstore's queue is unbounded) |

use xs_client::Error;
use xs_wire::WireError;

/// Sets the calling thread's `errno`.
pub(crate) fn set_errno(value: i32) {
    // SAFETY: __errno_location returns this thread's errno slot, valid for
    // the thread's lifetime.
    unsafe { *libc::__errno_location() = value }
}

/// The calling thread's `errno`.
pub(crate) fn errno() -> i32 {
    // SAFETY: as in set_errno.
    unsafe { *libc::__errno_location() }
}

/// The errno libxenstore reports for `err`.
pub(crate) fn errno_of(err: &Error) -> i32 {
    match err {
        Error::Daemon { errno, .. } => errno.map_or(libc::EINVAL, |e| e.errno()),
        Error::Invalid(WireError::PayloadTooLarge { .. }) => libc::E2BIG,
        Error::Invalid(_) | Error::Refused(_) => libc::EINVAL,
        Error::Connect { source, .. } => source.raw_os_error().unwrap_or(libc::EIO),
        Error::Disconnected { .. } | Error::UnexpectedPacket(_) | Error::Forked => libc::EBADF,
        // As the Linux device answers a commit of a transaction lost in a
        // suspend: worth retrying.
        Error::TransactionLost { .. } => libc::EAGAIN,
        Error::Timeout(_) => libc::ETIMEDOUT,
        Error::Conflict { .. } => libc::EAGAIN,
        Error::Overflow { .. } => libc::ENOBUFS,
        _ => libc::EIO,
    }
}

/// Sets `errno` for `err`.
pub(crate) fn fail(err: &Error) {
    set_errno(errno_of(err));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use xs_wire::Op;

    #[test]
    fn each_error_has_the_c_librarys_errno() {
        let cases: Vec<(Error, i32)> = vec![
            (Error::daemon(Op::Read, Some("/a"), "ENOENT"), libc::ENOENT),
            (Error::daemon(Op::Write, Some("/a"), "EACCES"), libc::EACCES),
            (Error::daemon(Op::Write, None, "ENOSPC"), libc::ENOSPC),
            (Error::daemon(Op::Write, None, "EQUOTA"), libc::EINVAL),
            (Error::daemon(Op::GetQuota, None, "ENOSYS"), libc::ENOSYS),
            (
                Error::Invalid(WireError::PayloadTooLarge {
                    len: 5000,
                    max: 4096,
                }),
                libc::E2BIG,
            ),
            (Error::Invalid(WireError::EmbeddedNul), libc::EINVAL),
            (
                Error::Connect {
                    path: "/nowhere".into(),
                    source: std::sync::Arc::new(std::io::Error::from_raw_os_error(
                        libc::ECONNREFUSED,
                    )),
                },
                libc::ECONNREFUSED,
            ),
            (
                Error::Disconnected {
                    reason: "closed".into(),
                },
                libc::EBADF,
            ),
            (
                Error::UnexpectedPacket(xs_client::Unexpected {
                    problem: xs_client::Problem::UnknownRequestId,
                    header: None,
                }),
                libc::EBADF,
            ),
            (Error::Timeout(Duration::from_secs(1)), libc::ETIMEDOUT),
            (Error::Conflict { attempts: 3 }, libc::EAGAIN),
            (Error::Overflow { dropped: 1 }, libc::ENOBUFS),
        ];
        for (err, want) in cases {
            assert_eq!(errno_of(&err), want, "{err}");
        }
    }

    #[test]
    fn errno_is_per_thread() {
        set_errno(libc::ENOENT);
        std::thread::spawn(|| set_errno(libc::EACCES))
            .join()
            .unwrap();
        assert_eq!(errno(), libc::ENOENT);
    }
}
