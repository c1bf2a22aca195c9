//! The watch events of one handle, as libxenstore delivers them.
//!
//! Until `xs_fileno` is called, `xs_read_watch` and `xs_check_watch` take
//! events straight from the handle's [`Monitor`] (whose reader thread
//! starts at the first watch, like libxenstore's). The fd changes that:
//! libxenstore writes one byte to a pipe when its queue goes from empty to
//! non-empty, and whoever takes the last event reads the byte back. So
//! `xs_fileno` starts a *pump* thread that moves events from the monitor
//! into a queue of this handle and keeps the pipe exactly that way (a poller
//! sees the fd readable exactly while something is queued); from then on
//! reads take from that queue. (The pump costs a thread wake-up per event,
//! which is why it is not there when nobody polls.)
//!
//! With `XS_UNWATCH_FILTER`, `xs_unwatch` drops queued events of the watch
//! (same token, path at or below the watch's), and an event the pump holds
//! while the unwatch runs is dropped when it arrives; without the flag,
//! stale events are delivered, as the C library's header describes.
//!
//! The queue is bounded (unlike libxenstore's): past [`CAPACITY`] events
//! are counted, and the next read reports `ENOBUFS` once, so nothing is lost
//! silently.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use xs_client::{Error, Event, Monitor};

use crate::errno::errno_of;
use crate::subpath::is_subpath;

/// Events queued before later ones are counted as lost.
pub(crate) const CAPACITY: usize = 65536;

/// How often the pump looks up from a quiet monitor to see whether its
/// handle is closing (a closing socket wakes it at once; the xenbus device
/// cannot be shut down from here, so this bounds `xs_close` there).
const POLL: Duration = Duration::from_millis(200);

/// Why a read found no event.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NoEvent {
    /// Nothing queued (non-blocking read): `EAGAIN`.
    Empty,
    /// The errno to report: lost events, or the connection's end.
    Errno(i32),
}

/// One handle's queue, pipe and pump.
pub(crate) struct WatchQueue {
    monitor: Arc<Monitor>,
    filter: bool,
    state: Mutex<State>,
    ready: Condvar,
    pump: Mutex<Option<JoinHandle<()>>>,
    /// The pump runs: reads take from the queue, not the monitor.
    pumping: AtomicBool,
    stop: AtomicBool,
    /// The pipe's ends, readable without the lock (after fork, the lock may
    /// be held by a thread that no longer exists).
    pipe_fds: [AtomicI32; 2],
}

#[derive(Default)]
struct State {
    queue: VecDeque<Event>,
    lost: u64,
    /// errno of the connection's end, once the pump saw it.
    gone: Option<i32>,
    pipe: Option<(OwnedFd, OwnedFd)>,
    /// A byte is in the pipe.
    armed: bool,
}

impl State {
    fn pending(&self) -> bool {
        !self.queue.is_empty() || self.lost > 0
    }

    fn arm(&mut self) {
        if let (Some((_, w)), false) = (&self.pipe, self.armed) {
            write_byte(w.as_raw_fd());
            self.armed = true;
        }
    }

    fn disarm_if_idle(&mut self) {
        if let (Some((r, _)), true, false) = (&self.pipe, self.armed, self.pending()) {
            read_byte(r.as_raw_fd());
            self.armed = false;
        }
    }
}

/// Runs `f` with every signal blocked in this thread (threads it starts
/// inherit that mask), then restores the mask.
fn with_signals_blocked<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: sigset_t is plain data; sigfillset initialises it fully.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid sigset pointers; pthread_sigmask only changes this
    // thread's mask, restored below.
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
    }
    let out = f();
    // SAFETY: restores the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    out
}

fn write_byte(fd: RawFd) {
    loop {
        // SAFETY: writes one byte from a live local to an open pipe.
        let n = unsafe { libc::write(fd, [0u8].as_ptr().cast(), 1) };
        if n == 1 || crate::errno::errno() != libc::EINTR {
            return;
        }
    }
}

fn read_byte(fd: RawFd) {
    let mut b = [0u8];
    loop {
        // SAFETY: reads one byte into a live local; the pipe holds one (armed).
        let n = unsafe { libc::read(fd, b.as_mut_ptr().cast(), 1) };
        if n == 1 || crate::errno::errno() != libc::EINTR {
            return;
        }
    }
}

impl WatchQueue {
    /// A queue fed from `monitor`; `filter` is `XS_UNWATCH_FILTER`.
    pub(crate) fn new(monitor: Monitor, filter: bool) -> WatchQueue {
        WatchQueue {
            monitor: Arc::new(monitor),
            filter,
            state: Mutex::default(),
            ready: Condvar::new(),
            pump: Mutex::new(None),
            pumping: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            pipe_fds: [AtomicI32::new(-1), AtomicI32::new(-1)],
        }
    }

    /// The monitor whose watches feed this queue.
    pub(crate) fn monitor(&self) -> &Monitor {
        &self.monitor
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts the pump if it is not running. `false` (errno set) if the
    /// thread cannot be made.
    fn start_pump(self: &Arc<Self>) -> bool {
        let mut pump = self.pump.lock().unwrap_or_else(|p| p.into_inner());
        if pump.is_some() {
            return true;
        }
        self.pumping.store(true, Ordering::Release);
        let me = Arc::clone(self);
        // Like libxenstore's reader thread, the pump takes no signals: they
        // stay with the application's threads.
        let spawned = with_signals_blocked(|| {
            std::thread::Builder::new()
                .name("xs-capi-pump".into())
                .spawn(move || me.run_pump())
        });
        match spawned {
            Ok(handle) => {
                *pump = Some(handle);
                true
            }
            Err(e) => {
                self.pumping.store(false, Ordering::Release);
                crate::errno::set_errno(e.raw_os_error().unwrap_or(libc::EAGAIN));
                false
            }
        }
    }

    fn run_pump(&self) {
        while !self.stop.load(Ordering::Acquire) {
            match self.monitor.wait_timeout(POLL) {
                Ok(Some(ev)) => self.deliver(ev),
                Ok(None) => {}
                Err(Error::Overflow { dropped }) => self.lose(dropped),
                Err(e) => {
                    let mut st = self.lock();
                    st.gone = Some(errno_of(&e));
                    self.ready.notify_all();
                    return;
                }
            }
        }
    }

    fn deliver(&self, ev: Event) {
        let mut st = self.lock();
        if self.filter && !self.is_watched(&ev) {
            return; // its watch was removed while the pump held it
        }
        if st.queue.len() >= CAPACITY {
            st.lost += 1;
        } else {
            st.queue.push_back(ev);
        }
        st.arm();
        self.ready.notify_all();
    }

    fn lose(&self, dropped: u64) {
        let mut st = self.lock();
        st.lost += dropped;
        st.arm();
        self.ready.notify_all();
    }

    fn is_watched(&self, ev: &Event) -> bool {
        self.monitor
            .watched()
            .iter()
            .any(|(path, token)| *token == ev.token && is_subpath(path, &ev.path))
    }

    /// The next event; blocks unless `nonblocking`.
    pub(crate) fn next(&self, nonblocking: bool) -> Result<Event, NoEvent> {
        if self.pumping.load(Ordering::Acquire) {
            return self.next_queued(nonblocking);
        }
        if nonblocking {
            return match self.monitor.try_next() {
                Ok(Some(ev)) => Ok(ev),
                Ok(None) => Err(NoEvent::Empty),
                Err(e) => Err(NoEvent::Errno(errno_of(&e))),
            };
        }
        loop {
            // A timeout, so that a reader waiting here when xs_fileno starts
            // the pump moves over to the queue.
            match self.monitor.wait_timeout(POLL) {
                Ok(Some(ev)) if self.pumping.load(Ordering::Acquire) => {
                    // The pump may have queued earlier events meanwhile.
                    let mut st = self.lock();
                    st.queue.push_back(ev);
                    drop(st);
                    return self.next_queued(true);
                }
                Ok(Some(ev)) => return Ok(ev),
                Ok(None) if self.pumping.load(Ordering::Acquire) => return self.next_queued(false),
                Ok(None) => {}
                Err(e) => return Err(NoEvent::Errno(errno_of(&e))),
            }
        }
    }

    fn next_queued(&self, nonblocking: bool) -> Result<Event, NoEvent> {
        let mut st = self.lock();
        loop {
            if st.lost > 0 {
                st.lost = 0;
                st.disarm_if_idle();
                return Err(NoEvent::Errno(libc::ENOBUFS));
            }
            if let Some(ev) = st.queue.pop_front() {
                st.disarm_if_idle();
                return Ok(ev);
            }
            if let Some(e) = st.gone {
                return Err(NoEvent::Errno(e));
            }
            if nonblocking {
                return Err(NoEvent::Empty);
            }
            st = self.ready.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// After `xs_unwatch`: with the filter, drops the watch's queued events.
    pub(crate) fn unwatched(&self, path: &str, token: &str) {
        if !self.filter {
            return;
        }
        let mut st = self.lock();
        st.queue
            .retain(|ev| !(ev.token == token && is_subpath(path, &ev.path)));
        st.disarm_if_idle();
    }

    /// The pipe's read end, made (and the pump started) on first use; it is
    /// readable at once if events are queued. -1 with errno on failure.
    pub(crate) fn fileno(self: &Arc<Self>) -> RawFd {
        let fd = self.make_pipe();
        if fd < 0 || !self.start_pump() {
            return -1;
        }
        fd
    }

    fn make_pipe(&self) -> RawFd {
        let mut st = self.lock();
        if st.pipe.is_none() {
            let mut fds = [-1; 2];
            // SAFETY: pipe2 writes two fds into the array on success.
            if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
                return -1;
            }
            // SAFETY: both fds were just opened and are owned by nobody else.
            let ends = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
            self.pipe_fds[0].store(fds[0], Ordering::Release);
            self.pipe_fds[1].store(fds[1], Ordering::Release);
            st.pipe = Some(ends);
            if st.pending() {
                st.arm();
            }
        }
        st.pipe.as_ref().map_or(-1, |(r, _)| r.as_raw_fd())
    }

    /// Whether the pump was started.
    pub(crate) fn has_pump(&self) -> bool {
        self.pumping.load(Ordering::Acquire)
    }

    /// Stops the pump, if any (within [`POLL`], or at once once its
    /// connection is shut down).
    pub(crate) fn stop_pump(&self) {
        self.stop.store(true, Ordering::Release);
        let handle = self.pump.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
        // Anyone still blocked in xs_read_watch is the caller's bug, as in C.
        self.ready.notify_all();
    }

    /// After fork, in the child: closes the pipe without taking any lock.
    pub(crate) fn close_pipe_postfork(&self) {
        for fd in &self.pipe_fds {
            let fd = fd.swap(-1, Ordering::AcqRel);
            if fd >= 0 {
                // SAFETY: the fd is this queue's pipe end; the OwnedFd that
                // also names it is never dropped (the handle is leaked).
                unsafe { libc::close(fd) };
            }
        }
    }
}
