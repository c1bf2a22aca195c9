//! Heap allocations per operation of the sync client, in steady state.
//!
//! A counting global allocator (System plus a counter) measures how many
//! allocations one `read`, one `list` of a 100-child directory, one `write`
//! and one delivered watch event cost, after a warm-up has grown every
//! buffer the connection reuses. The daemon is the embedded `xs-server`,
//! whose thread (and the test harness's) allocate all the time, so only the
//! client's threads count: the calling thread (a `const` thread-local flag,
//! which itself never allocates) and the router's background reader, which
//! reads the socket once a watch exists (recognised by its thread name,
//! `xs-router`, read with `pthread_getname_np` into a stack buffer). Tests
//! take one lock for their whole run, so no other test's router thread is
//! alive while one measures.
//!
//! The bounds are the numbers measured, with where each allocation comes
//! from; a change that adds one fails here, one that removes one should
//! lower the bound.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use xs_client::{Client, Event, Store};
use xs_server::{Server, ServerHandle};

struct Counting;

/// Allocations are counted only while this is set.
static MEASURING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's allocations count (while measuring).
    static CALLER: Cell<bool> = const { Cell::new(false) };
}

/// The name xs-client gives its background reader thread.
const ROUTER_THREAD: &[u8] = b"xs-router";

/// Whether the calling thread is a router's background reader. Allocates
/// nothing: glibc answers for the calling thread with `prctl`.
fn in_router_thread() -> bool {
    // Linux thread names are at most 15 bytes and a NUL.
    let mut name = [0 as libc::c_char; 16];
    // SAFETY: `pthread_self()` is the calling thread, alive for the call;
    // `name` is a writable buffer of the length passed, which is the 16
    // bytes glibc requires.
    let rc =
        unsafe { libc::pthread_getname_np(libc::pthread_self(), name.as_mut_ptr(), name.len()) };
    rc == 0
        && name
            .iter()
            .map(|&c| c as u8)
            .take_while(|&c| c != 0)
            .eq(ROUTER_THREAD.iter().copied())
}

fn note() {
    if !MEASURING.load(Ordering::SeqCst) {
        return;
    }
    if CALLER.try_with(Cell::get).unwrap_or(false) || in_router_thread() {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged; `note` only touches atomics, a const thread-local and a stack
// buffer, so it neither allocates nor unwinds.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: the caller's contract for `alloc`, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: the caller's contract for `alloc_zeroed`, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: the caller's contract for `realloc`, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc`, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One test at a time, for its whole run (see the module docs).
fn exclusive() -> MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` and returns how many allocations the calling thread and any
/// router thread made meanwhile.
fn count(f: impl FnOnce()) -> usize {
    CALLER.with(|c| c.set(true));
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    MEASURING.store(true, Ordering::SeqCst);
    f();
    MEASURING.store(false, Ordering::SeqCst);
    CALLER.with(|c| c.set(false));
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

/// Runs `f` without counting the calling thread (inside [`count`]).
fn uncounted<R>(f: impl FnOnce() -> R) -> R {
    CALLER.with(|c| c.set(false));
    let r = f();
    CALLER.with(|c| c.set(true));
    r
}

/// Warm-up operations before measuring: every reused buffer (the outbox,
/// the request table, the writer's copy, the wake-up list, the thread's
/// condition variable) has reached its steady size by then.
const WARMUP: usize = 200;

/// Allowance per measurement for the request table's timeout checkpoints
/// (`proto/requests.rs`, `Requests::arm`): with the default 30 s timeout a
/// checkpoint is queued at most every 30 s / 64 ≈ 0.47 s and only dropped
/// when it expires, so the `VecDeque` holding them grows (one allocation,
/// doubling from 4) when a measurement queues one past its capacity; the
/// measurements here take well under the ~2 s that needs, a slow machine
/// might cross it once or twice.
const CHECKPOINT_SLACK: usize = 2;

/// Measures `n` runs of `op` after [`WARMUP`] and checks `per_op` exactly,
/// up to [`CHECKPOINT_SLACK`].
fn per_op(what: &str, n: usize, per_op: usize, mut op: impl FnMut()) {
    for _ in 0..WARMUP {
        op();
    }
    let total = count(|| {
        for _ in 0..n {
            op();
        }
    });
    println!(
        "{what}: {total} allocations in {n} operations ({:.3} per operation)",
        total as f64 / n as f64
    );
    assert!(
        total >= per_op * n && total <= per_op * n + CHECKPOINT_SLACK,
        "{what}: {total} allocations in {n} operations, expected {per_op} each \
         (+ at most {CHECKPOINT_SLACK} in all)"
    );
}

fn server() -> (ServerHandle, Client) {
    let server = Server::spawn_temp();
    let client = Client::unix(server.socket_path()).expect("connect");
    (server, client)
}

/// The counter sees the calling thread and a router thread, and nobody
/// else: without this every bound below could pass vacuously.
#[test]
fn the_counter_sees_the_client_threads_only() {
    let _one = exclusive();
    assert!(count(|| drop(std::hint::black_box(vec![1u8; 64]))) >= 1);
    assert_eq!(count(|| assert_eq!(std::hint::black_box(2 + 2), 4)), 0);
    let in_thread = |name: &str| {
        let builder = std::thread::Builder::new().name(name.to_owned());
        count(|| {
            builder
                .spawn(|| drop(std::hint::black_box(vec![0u8; 64])))
                .expect("spawn")
                .join()
                .expect("join")
        })
    };
    // Spawning allocates in the calling thread, the same for both; the
    // thread's own allocations count only under the router's name.
    let other = in_thread("xs-other");
    let router = in_thread("xs-router");
    assert!(router > other, "router thread: {router}, other: {other}");
}

/// READ of a 22-byte value: 1 allocation, the value returned.
///
/// - `proto/mod.rs`, `Core::handle_reply`: `frame.payload.to_vec()`, the
///   reply's owned payload, which `Client::read` returns as the value
///   itself (`handle.rs`, `value_of`). An API returning `Vec<u8>` needs it.
///
/// Nothing else: the request is encoded into the core's outbox and copied
/// into the writer's buffer (both reused), the request table, the wake-up
/// list and the thread's condition variable are reused, and the transport
/// reads into its own buffer.
#[test]
fn read_allocates_only_the_value() {
    let _one = exclusive();
    let (_server, client) = server();
    client
        .write("/alloc/value", "0123456789abcdefghijkl")
        .expect("write");
    per_op("read", 2000, 1, || {
        let v = client.read("/alloc/value").expect("read");
        assert_eq!(v.len(), 22);
    });
}

/// Writes `/alloc/dir/c0` .. `c99` and returns the DIRECTORY payload that
/// lists them.
fn directory_of_100(client: &Client) -> Vec<u8> {
    let mut payload = Vec::new();
    for i in 0..100 {
        let name = format!("c{i}");
        client
            .write(&format!("/alloc/dir/{name}"), "x")
            .expect("write");
        payload.extend_from_slice(name.as_bytes());
        payload.push(0);
    }
    payload
}

/// DIRECTORY of 100 children (`c0` .. `c99`) with `list`: 102 allocations.
///
/// - 1 in `proto/mod.rs`, `Core::handle_reply`: the reply's owned payload
///   (`frame.payload.to_vec()`), kept by the `NameList` and dropped once
///   the strings are made;
/// - 100 in `name_list.rs`, `NameList::to_vec`: one `String` per child name;
/// - 1 there too: the `Vec<String>`, allocated once for all the names.
///
/// The last two are checked on their own below, so the split is measured,
/// not guessed.
#[test]
fn list_of_100_children() {
    let _one = exclusive();
    let (_server, client) = server();
    let payload = directory_of_100(&client);
    let names = xs_wire::Names::parse(&payload).expect("names");
    let collect = count(|| {
        let mut v: Vec<String> = Vec::with_capacity(names.len());
        v.extend(names.iter().map(str::to_owned));
        assert_eq!(std::hint::black_box(v).len(), 100);
    });
    assert_eq!(collect, 100 + 1, "the names' strings and one vector");
    per_op("list (100 children)", 500, 1 + collect, || {
        let names = client.list("/alloc/dir").expect("list");
        assert_eq!(names.len(), 100);
    });
}

/// The same DIRECTORY with `list_names`: 1 allocation, the reply's payload
/// (`Core::handle_reply`), which the `NameList` keeps as its buffer.
#[test]
fn list_names_of_100_children() {
    let _one = exclusive();
    let (_server, client) = server();
    let payload = directory_of_100(&client);
    per_op("list_names (100 children)", 500, 1, || {
        let names = client.list_names("/alloc/dir").expect("list_names");
        assert_eq!(names.len(), 100);
        // The daemon's order may differ; the bytes are the same many.
        assert_eq!(names.as_bytes().len(), payload.len());
    });
}

/// WRITE of a 22-byte value: 1 allocation.
///
/// - `proto/mod.rs`, `Core::handle_reply`: the reply's owned payload, here
///   the ACK's `OK\0`, checked and dropped by the caller. An ACK needs no
///   owned bytes: a `Response` with an empty payload (after the core checks
///   `OK`) would make a write allocate nothing.
#[test]
fn write_allocates_the_ack_payload() {
    let _one = exclusive();
    let (_server, client) = server();
    per_op("write", 2000, 1, || {
        client
            .write("/alloc/written", "0123456789abcdefghijkl")
            .expect("write");
    });
}

/// A watch event delivered to one monitor and taken with `Monitor::wait`:
/// 2 allocations, whichever thread reads the socket (the router's
/// background reader, or the waiting caller).
///
/// - `proto/watches.rs`, `Watches::deliver`: `Event::new(ev.path,
///   ev.token)`, the event's owned `path` and `token` strings (checked on
///   their own below); the monitor's queue and the wake-up list are reused.
///
/// The write that fires each event goes through another connection and is
/// not counted.
#[test]
fn watch_event_allocates_its_path_and_token() {
    let _one = exclusive();
    let (server, client) = server();
    let writer = Client::unix(server.socket_path()).expect("connect");
    let monitor = client.monitor();
    monitor.watch("/alloc/watched", "tok").expect("watch");
    let first = monitor.wait().expect("initial event");
    assert_eq!(first, ("/alloc/watched", "tok"));
    let event = count(|| drop(std::hint::black_box(Event::new("/alloc/watched", "tok"))));
    assert_eq!(event, 2, "an Event's two strings");
    per_op("watch event", 1000, event, || {
        uncounted(|| writer.write("/alloc/watched", "x").expect("write"));
        let ev = monitor.wait().expect("event");
        assert_eq!(ev.path, "/alloc/watched");
    });
}
