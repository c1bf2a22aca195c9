//! Transactions: isolation, commit, rollback, conflicts and the retry loop.

mod common;

use std::time::Duration;

use xs_client::{Error, Store};

#[test]
fn writes_in_a_transaction_are_invisible_until_commit() {
    let h = common::setup("tx_isolation");
    let c = h.client();
    let p = h.path("v");
    c.write(&p, "before").unwrap();
    let tx = c.transaction().unwrap();
    tx.write(&p, "inside").unwrap();
    assert_eq!(
        tx.read(&p).unwrap(),
        b"inside",
        "a transaction sees its own writes"
    );
    assert_eq!(c.read(&p).unwrap(), b"before", "others do not");
    assert!(tx.commit().unwrap());
    assert_eq!(c.read(&p).unwrap(), b"inside");
}

#[test]
fn rollback_discards_everything() {
    let h = common::setup("tx_rollback");
    let c = h.client();
    let p = h.path("v");
    c.write(&p, "before").unwrap();
    let tx = c.transaction().unwrap();
    tx.write(&p, "inside").unwrap();
    tx.mkdir(&h.path("new")).unwrap();
    tx.rollback().unwrap();
    assert_eq!(c.read(&p).unwrap(), b"before");
    assert!(!c.exists(&h.path("new")).unwrap());
}

#[test]
fn dropping_an_uncommitted_transaction_aborts_it() {
    let h = common::setup("tx_drop");
    let c = h.client();
    let p = h.path("v");
    {
        let tx = c.transaction().unwrap();
        tx.write(&p, "never").unwrap();
    }
    assert!(!c.exists(&p).unwrap());
    if let Some(server) = &h.server {
        assert_eq!(
            server.stats().transactions,
            0,
            "nothing leaked on the server"
        );
    }
}

#[test]
fn a_conflicting_commit_reports_false() {
    let h = common::setup("tx_conflict");
    let c = h.client();
    let p = h.path("v");
    c.write(&p, "0").unwrap();
    let tx = c.transaction().unwrap();
    assert_eq!(tx.read(&p).unwrap(), b"0");
    c.write(&p, "changed elsewhere").unwrap();
    tx.write(&p, "1").unwrap();
    assert!(!tx.commit().unwrap(), "a node the transaction read changed");
    assert_eq!(c.read(&p).unwrap(), b"changed elsewhere");
}

#[test]
fn every_store_operation_works_inside_a_transaction() {
    let h = common::setup("tx_ops");
    let c = h.client();
    let tx = c.transaction().unwrap();
    tx.mkdir(&h.path("d")).unwrap();
    tx.write(&h.path("d/x"), "1").unwrap();
    assert_eq!(tx.list(&h.path("d")).unwrap(), ["x"]);
    assert!(tx.exists(&h.path("d/x")).unwrap());
    let perms = tx.get_perms(&h.path("d/x")).unwrap();
    tx.set_perms(&h.path("d/x"), &perms).unwrap();
    tx.delete(&h.path("d/x")).unwrap();
    assert!(tx.commit().unwrap());
    assert!(c.exists(&h.path("d")).unwrap());
    assert!(!c.exists(&h.path("d/x")).unwrap());
}

#[test]
fn transact_returns_the_closure_value_and_closure_errors_unchanged() {
    let h = common::setup("transact");
    let c = h.client();
    let p = h.path("n");
    let v = c
        .transact(|tx| {
            tx.write(&p, "5")?;
            Ok::<_, Error>(5)
        })
        .unwrap();
    assert_eq!(v, 5);
    #[derive(Debug)]
    enum Mine {
        Stop,
        Xs(Error),
    }
    impl From<Error> for Mine {
        fn from(e: Error) -> Self {
            Mine::Xs(e)
        }
    }
    let r: Result<(), Mine> = c.transact(|tx| {
        tx.write(&p, "6")?;
        Err(Mine::Stop)
    });
    match r {
        Err(Mine::Stop) => {}
        Err(Mine::Xs(e)) => panic!("the closure's error was replaced by {e}"),
        Ok(()) => panic!("the closure failed, transact must too"),
    }
    assert_eq!(c.read(&p).unwrap(), b"5", "the failed attempt was aborted");
}

/// Many threads increment one counter through `transact`; no update is lost.
#[test]
fn concurrent_increments_through_transact_lose_nothing() {
    let h = common::setup("counter");
    let c = h.client();
    let p = h.path("counter");
    c.write(&p, "0").unwrap();
    let (threads, each) = (4, 25);
    std::thread::scope(|s| {
        for _ in 0..threads {
            let c = c.clone();
            let p = &p;
            s.spawn(move || {
                for _ in 0..each {
                    c.transact(|tx| {
                        let n: u64 = tx.read_string(p)?.parse().unwrap();
                        tx.write(p, (n + 1).to_string())
                    })
                    .unwrap();
                }
            });
        }
    });
    assert_eq!(c.read_string(&p).unwrap(), (threads * each).to_string());
}

#[test]
fn embedded_only_transact_retries_injected_conflicts() {
    let h = common::setup_with("retry", xs_server::Server::builder());
    let c = h.client();
    let p = h.path("n");
    h.server().fail_next_commits(3);
    let mut attempts = 0;
    c.transact(|tx| {
        attempts += 1;
        tx.write(&p, "x")
    })
    .unwrap();
    assert_eq!(attempts, 4);
}

#[test]
fn embedded_only_transact_gives_up_with_a_conflict_error() {
    let h = common::setup_with("give_up", xs_server::Server::builder());
    let c = xs_client::Client::builder()
        .unix(&h.socket)
        .transact_attempts(3)
        .timeout(Duration::from_secs(5))
        .connect()
        .unwrap();
    h.server().fail_next_commits(10);
    let err = c.transact(|tx| tx.write(&h.path("n"), "x")).unwrap_err();
    assert!(matches!(err, Error::Conflict { attempts: 3 }), "{err}");
    assert!(err.is_conflict());
}
