//! The integration suites (client, transactions, monitor, batch) through
//! the async API, written once over the [`Runtime`] and run by
//! `async_tokio.rs` and `async_smol.rs`, against the embedded server or
//! the daemon named by `XENSTORED_PATH` (as `tests/common` chooses).
#![allow(dead_code)]

pub mod batch;
pub mod cancel;
pub mod client;
pub mod device;
mod join;
pub mod monitor;
pub mod transactions;

#[path = "../common/mod.rs"]
pub mod common;

use std::future::Future;
use std::pin::Pin;

pub use join::join_all;

use xs_client::aio::{AsyncClient, Runtime};

/// A spawned task's completion.
pub type Joined = Pin<Box<dyn Future<Output = ()> + Send>>;

/// How a runtime spawns a task.
pub trait Spawn {
    fn spawn(f: impl Future<Output = ()> + Send + 'static) -> Joined;
}

std::thread_local! {
    /// Set by [`over_device`]: the embedded server is reached through a
    /// device stand-in whose replies take this long; and what it saw.
    static DEVICE: std::cell::RefCell<(Option<std::time::Duration>, Vec<std::sync::Arc<device::Rules>>)>
        = const { std::cell::RefCell::new((None, Vec::new())) };
}

/// Runs `f` (on this thread: a `block_on`) with every client of the
/// embedded server made through a stand-in of the xenbus device
/// ([`device`]), replies held back `delay`; then checks that no client
/// wrote a request while another was unanswered.
pub fn over_device<T>(delay: std::time::Duration, f: impl FnOnce() -> T) -> T {
    DEVICE.with(|d| d.borrow_mut().0 = Some(delay));
    let out = f();
    let rules = DEVICE.with(|d| std::mem::take(&mut *d.borrow_mut()).1);
    for r in rules {
        let early = r.early.load(std::sync::atomic::Ordering::SeqCst);
        let total = r.requests.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(
            early, 0,
            "{early} of {total} requests written before the previous one's reply"
        );
    }
    out
}

/// This test's client, connected the way the sync suites connect (or
/// through the device stand-in, inside [`over_device`]).
pub fn client<R: Runtime>(h: &common::Harness) -> AsyncClient<R> {
    if !h.is_real() {
        if let Some(delay) = DEVICE.with(|d| d.borrow().0) {
            let (conn, rules) = device::connect(&h.socket, delay);
            DEVICE.with(|d| d.borrow_mut().1.push(rules));
            return AsyncClient::with_connection(conn).expect("connect");
        }
    }
    if h.is_real() {
        AsyncClient::open().expect("connect")
    } else {
        AsyncClient::unix(&h.socket).expect("connect")
    }
}

/// Generates one `#[test]` per suite function, run by `$run` on `$rt`
/// (the list of every test of the suite, kept here once).
#[macro_export]
macro_rules! async_tests {
    ($run:path, $rt:ty, $spawn:ty) => {
        async_tests!(@each $run, $rt, $spawn;
            client::write_then_read_gives_back_the_bytes,
            client::read_of_a_missing_node_is_not_found_and_the_variants_say_so,
            client::write_creates_parents_with_empty_values,
            client::mkdir_creates_and_keeps_existing_values,
            client::delete_removes_subtrees_and_tolerates_a_missing_leaf,
            client::list_names_children_and_leaves_are_empty,
            client::permissions_round_trip_with_the_owner_first,
            client::special_paths_have_permissions,
            client::invalid_requests_are_refused_before_sending,
            client::domain_paths_are_under_local_domain,
            client::relative_paths_resolve_against_the_home_of_dom0,
            client::unsupported_operations_surface_as_daemon_errors,
            client::clones_share_one_connection_across_tasks,
            client::sixty_four_tasks_pipeline_on_one_connection,
            client::connecting_to_nothing_names_the_path,
            client::a_silent_daemon_times_each_request_out_on_its_own_clock,
            client::writes_wait_for_room_while_the_daemon_does_not_read,
            transactions::writes_in_a_transaction_are_invisible_until_commit,
            transactions::rollback_discards_everything,
            transactions::dropping_an_uncommitted_transaction_aborts_it,
            transactions::a_conflicting_commit_reports_false,
            transactions::every_store_operation_works_inside_a_transaction,
            transactions::transact_returns_the_closure_value_and_closure_errors_unchanged,
            transactions::concurrent_increments_through_transact_lose_nothing,
            transactions::embedded_only_transact_retries_injected_conflicts,
            transactions::embedded_only_transact_gives_up_with_a_conflict_error,
            monitor::the_initial_event_arrives_after_watching,
            monitor::events_fire_for_the_node_and_its_children,
            monitor::tokens_keep_monitors_apart,
            monitor::two_tokens_on_one_path_both_fire,
            monitor::two_monitors_may_watch_the_same_path_and_token,
            monitor::events_left_after_unwatch_are_dropped,
            monitor::kept_unwatched_events_are_delivered,
            monitor::a_slow_consumer_gets_an_overflow_error_and_other_requests_go_on,
            monitor::dropping_a_monitor_unwatches_on_the_daemon,
            monitor::relative_and_special_watch_paths,
            monitor::invalid_watch_paths_are_refused,
            monitor::wait_for_blocks_until_the_node_exists,
            batch::read_many_returns_results_in_order_with_errors_in_place,
            batch::list_many_in_a_transaction,
            batch::walk_top_down_is_pre_order_and_bottom_up_is_post_order,
            batch::embedded_only_long_listings_fall_back_to_directory_part,
            batch::embedded_only_long_listings_without_directory_part_are_e2big,
            batch::long_listings_work_or_fail_with_a_typed_error,
            cancel::a_read_dropped_at_every_await_point_leaves_the_connection_usable,
            cancel::concurrent_requests_dropped_midway_leave_the_others_right,
            cancel::dropping_the_driving_request_hands_the_connection_on,
            cancel::a_transaction_start_dropped_at_every_await_point_leaks_nothing,
            cancel::a_dropped_transaction_is_aborted_without_waiting,
            cancel::a_dropped_commit_still_goes_out,
            cancel::a_watch_dropped_at_every_await_point_leaks_no_watch,
        );

        /// The cancellation suite again, through a stand-in of the xenbus
        /// device (one request at a time, WATCH answered with req_id 0,
        /// replies after half a millisecond) in front of the embedded
        /// server: filtered out with the other `embedded_only` tests where
        /// a real daemon (and a real device) is named.
        mod embedded_only_over_a_device_stand_in {
            use super::*;
            async_tests!(@device $run, $rt, $spawn;
                a_read_dropped_at_every_await_point_leaves_the_connection_usable,
                concurrent_requests_dropped_midway_leave_the_others_right,
                dropping_the_driving_request_hands_the_connection_on,
                a_transaction_start_dropped_at_every_await_point_leaks_nothing,
                a_dropped_transaction_is_aborted_without_waiting,
                a_dropped_commit_still_goes_out,
                a_watch_dropped_at_every_await_point_leaks_no_watch,
            );
        }
    };
    (@device $run:path, $rt:ty, $spawn:ty; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                async_suite::over_device(std::time::Duration::from_micros(500), || {
                    $run(async_suite::cancel::$name::<$rt, $spawn>())
                });
            }
        )*
    };
    (@each $run:path, $rt:ty, $spawn:ty; $($module:ident :: $name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $run(async_suite::$module::$name::<$rt, $spawn>());
            }
        )*
    };
}

/// Returns after `d`, yielding to the executor meanwhile (a busy wait that
/// needs no runtime timer, for tests generic over the runtime).
pub async fn pause(d: std::time::Duration) {
    let start = std::time::Instant::now();
    while start.elapsed() < d {
        futures_lite::future::yield_now().await;
    }
}
