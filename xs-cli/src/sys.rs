//! The two things the command asks of the OS directly; the only `unsafe` of
//! the crate lives here.

use std::io::IsTerminal;

/// Restores the default action of `SIGPIPE`, so `xs ls | head` ends quietly
/// the way the C tools do (Rust programs ignore it by default and would
/// report every write to the closed pipe as an error instead).
pub fn default_sigpipe() {
    // SAFETY: `signal` with a valid signal number and `SIG_DFL` has no
    // memory-safety requirements; it runs before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Columns of the terminal on standard output, if it is one.
pub fn terminal_columns() -> Option<usize> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which
    // points to a live, writable `winsize`.
    let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) };
    (rc == 0 && size.ws_col > 0).then_some(usize::from(size.ws_col))
}
