//! Transactions: isolation, commit, rollback, conflicts and the retry loop.

use std::time::Duration;

use xs_client::aio::Runtime;
use xs_client::Error;

use super::{client, common, Spawn};

pub async fn writes_in_a_transaction_are_invisible_until_commit<R: Runtime, S: Spawn>() {
    let h = common::setup("tx_isolation");
    let c = client::<R>(&h);
    let p = h.path("v");
    c.write(&p, "before").await.unwrap();
    let tx = c.transaction().await.unwrap();
    tx.write(&p, "inside").await.unwrap();
    assert_eq!(
        tx.read(&p).await.unwrap(),
        b"inside",
        "a transaction sees its own writes"
    );
    assert_eq!(c.read(&p).await.unwrap(), b"before", "others do not");
    assert!(tx.commit().await.unwrap());
    assert_eq!(c.read(&p).await.unwrap(), b"inside");
}

pub async fn rollback_discards_everything<R: Runtime, S: Spawn>() {
    let h = common::setup("tx_rollback");
    let c = client::<R>(&h);
    let p = h.path("v");
    c.write(&p, "before").await.unwrap();
    let tx = c.transaction().await.unwrap();
    tx.write(&p, "inside").await.unwrap();
    tx.mkdir(&h.path("new")).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(c.read(&p).await.unwrap(), b"before");
    assert!(!c.exists(&h.path("new")).await.unwrap());
}

pub async fn dropping_an_uncommitted_transaction_aborts_it<R: Runtime, S: Spawn>() {
    let h = common::setup("tx_drop");
    let c = client::<R>(&h);
    let p = h.path("v");
    {
        let tx = c.transaction().await.unwrap();
        tx.write(&p, "never").await.unwrap();
    }
    assert!(!c.exists(&p).await.unwrap());
    if let Some(server) = &h.server {
        assert_eq!(
            server.stats().transactions,
            0,
            "nothing leaked on the server"
        );
    }
}

pub async fn a_conflicting_commit_reports_false<R: Runtime, S: Spawn>() {
    let h = common::setup("tx_conflict");
    let c = client::<R>(&h);
    let p = h.path("v");
    c.write(&p, "0").await.unwrap();
    let tx = c.transaction().await.unwrap();
    assert_eq!(tx.read(&p).await.unwrap(), b"0");
    c.write(&p, "changed elsewhere").await.unwrap();
    tx.write(&p, "1").await.unwrap();
    assert!(
        !tx.commit().await.unwrap(),
        "a node the transaction read changed"
    );
    assert_eq!(c.read(&p).await.unwrap(), b"changed elsewhere");
}

pub async fn every_store_operation_works_inside_a_transaction<R: Runtime, S: Spawn>() {
    let h = common::setup("tx_ops");
    let c = client::<R>(&h);
    let tx = c.transaction().await.unwrap();
    tx.mkdir(&h.path("d")).await.unwrap();
    tx.write(&h.path("d/x"), "1").await.unwrap();
    assert_eq!(tx.list(&h.path("d")).await.unwrap(), ["x"]);
    assert!(tx.exists(&h.path("d/x")).await.unwrap());
    let perms = tx.get_perms(&h.path("d/x")).await.unwrap();
    tx.set_perms(&h.path("d/x"), &perms).await.unwrap();
    tx.delete(&h.path("d/x")).await.unwrap();
    assert!(tx.commit().await.unwrap());
    assert!(c.exists(&h.path("d")).await.unwrap());
    assert!(!c.exists(&h.path("d/x")).await.unwrap());
}

pub async fn transact_returns_the_closure_value_and_closure_errors_unchanged<
    R: Runtime,
    S: Spawn,
>() {
    let h = common::setup("transact");
    let c = client::<R>(&h);
    let p = &h.path("n");
    let v = c
        .transact(|tx| async move {
            tx.write(p, "5").await?;
            Ok::<_, Error>(5)
        })
        .await
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
    let r: Result<(), Mine> = c
        .transact(|tx| async move {
            tx.write(p, "6").await?;
            Err(Mine::Stop)
        })
        .await;
    match r {
        Err(Mine::Stop) => {}
        Err(Mine::Xs(e)) => panic!("the closure's error was replaced by {e}"),
        Ok(()) => panic!("the closure failed, transact must too"),
    }
    assert_eq!(
        c.read(p).await.unwrap(),
        b"5",
        "the failed attempt was aborted"
    );
}

/// Many threads increment one counter through `transact`; no update is lost.
pub async fn concurrent_increments_through_transact_lose_nothing<R: Runtime, S: Spawn>() {
    let h = common::setup("counter");
    let c = client::<R>(&h);
    let p = h.path("counter");
    c.write(&p, "0").await.unwrap();
    let (threads, each) = (4, 25);
    let tasks: Vec<_> = (0..threads)
        .map(|_| {
            let c = c.clone();
            let p = p.clone();
            S::spawn(async move {
                for _ in 0..each {
                    let p = &p;
                    c.transact(|tx| async move {
                        let n: u64 = tx.read_string(p).await?.parse().unwrap();
                        tx.write(p, (n + 1).to_string()).await
                    })
                    .await
                    .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await;
    }
    assert_eq!(
        c.read_string(&p).await.unwrap(),
        (threads * each).to_string()
    );
}

pub async fn embedded_only_transact_retries_injected_conflicts<R: Runtime, S: Spawn>() {
    let h = common::setup_with("retry", xs_server::Server::builder());
    let c = client::<R>(&h);
    let p = h.path("n");
    h.server().fail_next_commits(3);
    let mut attempts = 0;
    let p = &p;
    c.transact(|tx| {
        attempts += 1;
        async move { tx.write(p, "x").await }
    })
    .await
    .unwrap();
    assert_eq!(attempts, 4);
}

pub async fn embedded_only_transact_gives_up_with_a_conflict_error<R: Runtime, S: Spawn>() {
    let h = common::setup_with("give_up", xs_server::Server::builder());
    let c = xs_client::aio::AsyncClient::<R>::builder()
        .unix(&h.socket)
        .transact_attempts(3)
        .timeout(Duration::from_secs(5))
        .connect()
        .unwrap();
    h.server().fail_next_commits(10);
    let err = c
        .transact(|tx| {
            let p = h.path("n");
            async move { tx.write(&p, "x").await }
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { attempts: 3 }), "{err}");
    assert!(err.is_conflict());
}
