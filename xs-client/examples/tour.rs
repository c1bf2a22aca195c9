//! A guided tour of xs-client, narrated as it runs.
//!
//! ```sh
//! cargo run --example tour -p xs-client                            # embedded xs-server
//! XENSTORED_PATH=/run/xenstored/socket cargo run --example tour -p xs-client
//! ```
//!
//! Without `XENSTORED_PATH` it starts the in-memory `xs-server` on a
//! temporary socket, so it runs anywhere. With it, it talks to that daemon
//! (a real `xenstored` or `oxenstored`) and works under `/tour`, which it
//! removes at the end.

use std::time::Duration;

use xs_client::compat::{Xs, XBT_NULL};
use xs_client::{Access, Client, Error, Perm, Store};

const ROOT: &str = "/tour";

/// Prints a section title.
fn section(n: u32, title: &str) {
    println!();
    println!("{n}. {title}");
    println!("{}", "-".repeat(title.len() + 3));
}

/// Prints a call and what it gave.
fn shown(call: &str, result: impl std::fmt::Display) {
    println!("  {call:<52} -> {result}");
}

fn text(bytes: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(bytes))
}

fn perms(list: &[Perm]) -> String {
    let words: Vec<String> = list.iter().map(Perm::to_string).collect();
    words.join(" ")
}

fn main() -> Result<(), Error> {
    println!("xs-client tour");
    println!("==============");

    // Where the daemon is. The server handle must outlive every client.
    let server = match std::env::var_os("XENSTORED_PATH") {
        Some(path) => {
            println!(
                "Using the daemon at {} (XENSTORED_PATH).",
                path.to_string_lossy()
            );
            None
        }
        None => {
            // Started like a host's daemon: dom0's /local/domain/0 is there.
            let server = xs_server::Server::builder()
                .dom0(true)
                .spawn()
                .expect("start the embedded xs-server");
            println!(
                "Started the embedded xs-server on {}.",
                server.socket_path().display()
            );
            println!("(Set XENSTORED_PATH to tour a real xenstored instead.)");
            Some(server)
        }
    };
    // A new connection: to the embedded server, or found the way
    // libxenstore finds it (XENSTORED_PATH may also name the xenbus device).
    let connect = || match &server {
        Some(server) => Client::unix(server.socket_path()),
        None => Client::open(),
    };

    // One connection, shared by every clone, thread, transaction and monitor.
    let client = connect()?;
    println!("Connected: {client:?}");
    client.delete(ROOT)?; // a clean slate (fine if it is not there)

    basics(&client)?;
    directories(&client)?;
    permissions(&client, server.as_ref())?;
    transactions(&client, connect()?)?;
    watches(&client)?;
    compatibility(&client)?;

    client.delete(ROOT)?;
    println!();
    println!("Done: {ROOT} removed. The tutorial (docs/tutorial.md) goes further.");
    drop(client);
    drop(server);
    Ok(())
}

fn basics(client: &Client) -> Result<(), Error> {
    section(1, "Write and read");
    println!("  Nodes have a path and a value (bytes). Writing creates missing parents.");
    client.write("/tour/greeting", "hello")?;
    shown("client.write(\"/tour/greeting\", \"hello\")", "ok");
    let value = client.read("/tour/greeting")?;
    shown("client.read(\"/tour/greeting\")", text(&value));
    // Values are bytes, not text.
    client.write("/tour/binary", [0u8, 1, 2, 0xff])?;
    shown(
        "client.read(\"/tour/binary\")",
        format!("{:?}", client.read("/tour/binary")?),
    );
    println!("  A missing node is an error you can match on, or an Option:");
    match client.read("/tour/missing") {
        Err(e) if e.is_not_found() => shown("client.read(\"/tour/missing\")", format!("Err({e})")),
        other => panic!("expected ENOENT, got {other:?}"),
    }
    shown(
        "client.read_opt(\"/tour/missing\")",
        format!("{:?}", client.read_opt("/tour/missing")?),
    );
    Ok(())
}

fn directories(client: &Client) -> Result<(), Error> {
    section(2, "Directories: mkdir, list, walk, delete");
    client.mkdir("/tour/vm/1/device")?;
    client.write("/tour/vm/1/name", "guest-one")?;
    client.write("/tour/vm/2/name", "guest-two")?;
    shown(
        "client.mkdir(\"/tour/vm/1/device\")",
        "ok (parents too, empty values)",
    );
    shown(
        "client.list(\"/tour/vm\")",
        format!("{:?}", client.list("/tour/vm")?),
    );
    shown(
        "client.list(\"/tour/vm/1/name\")",
        format!("{:?} (a leaf)", client.list("/tour/vm/1/name")?),
    );
    println!("  client.walk(\"/tour/vm\"): the subtree, one pipelined batch per level:");
    for node in client.walk("/tour/vm")? {
        println!("    {:<24} {}", node.path, text(&node.value));
    }
    println!("  Reading many nodes pipelines the requests on the one connection:");
    let names = client.read_many(&["/tour/vm/1/name", "/tour/vm/2/name", "/tour/vm/3/name"]);
    for (i, v) in names.iter().enumerate() {
        let shown_value = match v {
            Ok(v) => text(v),
            Err(e) => format!("Err({e})"),
        };
        println!("    vm {}: {shown_value}", i + 1);
    }
    client.delete("/tour/vm/2")?;
    shown("client.delete(\"/tour/vm/2\")", "ok (and everything below)");
    shown(
        "client.exists(\"/tour/vm/2/name\")",
        client.exists("/tour/vm/2/name")?,
    );
    Ok(())
}

fn permissions(client: &Client, server: Option<&xs_server::ServerHandle>) -> Result<(), Error> {
    section(3, "Permissions");
    println!("  A node's permission list: the first entry is the owner and the access of");
    println!("  every domain not listed; later entries grant one domain each.");
    shown(
        "client.get_perms(\"/tour/greeting\")",
        perms(&client.get_perms("/tour/greeting")?),
    );
    let list = [Perm::new(Access::None, 0), Perm::new(Access::Read, 5)];
    client.set_perms("/tour/greeting", &list)?;
    shown("client.set_perms(\"/tour/greeting\", [n0, r5])", "ok");
    shown(
        "client.get_perms(\"/tour/greeting\")",
        perms(&client.get_perms("/tour/greeting")?),
    );
    let parsed: Perm = "b7".parse().expect("a permission");
    shown("\"b7\".parse::<Perm>()", format!("{parsed:?}"));
    if let Some(server) = server {
        println!("  The embedded server can also take a connection as domain 5:");
        let guest = Client::unix(server.socket_for_domain(5))?;
        shown(
            "guest.read(\"/tour/greeting\")",
            text(&guest.read("/tour/greeting")?),
        );
        match guest.write("/tour/greeting", "bye") {
            Err(e) if e.is_permission_denied() => shown(
                "guest.write(\"/tour/greeting\", \"bye\")",
                format!("Err({e})"),
            ),
            other => panic!("expected EACCES, got {other:?}"),
        }
    } else {
        println!("  (On the embedded server the tour also connects as domain 5 here.)");
    }
    Ok(())
}

fn transactions(client: &Client, other: Client) -> Result<(), Error> {
    section(4, "Transactions");
    println!("  A transaction sees a snapshot; nobody sees its writes before commit.");
    client.write("/tour/counter", "0")?;
    let tx = client.transaction()?;
    tx.write("/tour/counter", "41")?;
    shown(
        "tx.read(\"/tour/counter\")",
        text(&tx.read("/tour/counter")?),
    );
    shown(
        "client.read(\"/tour/counter\")",
        format!("{} (outside)", text(&client.read("/tour/counter")?)),
    );
    tx.rollback()?;
    shown("tx.rollback()", "ok: nothing happened");

    println!("  client.transact(...) commits, and on a conflict (EAGAIN) runs the");
    println!("  closure again from scratch. Here another program changes the counter");
    println!("  while the first attempt is under way:");
    // `other` is a second connection, as another program would have.
    let mut attempts = 0;
    let result = client.transact(|tx| {
        attempts += 1;
        let n: u64 = tx.read_string("/tour/counter")?.parse().unwrap_or(0);
        println!("    attempt {attempts}: read {n}");
        if attempts == 1 {
            other.write("/tour/counter", "100")?;
            println!("    (meanwhile another client writes 100)");
        }
        tx.write("/tour/counter", (n + 1).to_string())?;
        Ok::<_, Error>(n + 1)
    })?;
    shown(
        "client.transact(increment)",
        format!("{result} after {attempts} attempts"),
    );
    shown(
        "client.read(\"/tour/counter\")",
        text(&client.read("/tour/counter")?),
    );
    Ok(())
}

fn watches(client: &Client) -> Result<(), Error> {
    section(5, "Watches and events");
    println!("  A Monitor receives the events of its watches. The daemon fires once");
    println!("  at registration, then for every change at or below the watched path.");
    let monitor = client.monitor();
    monitor.watch("/tour/watched", "my-token")?;
    shown("monitor.watch(\"/tour/watched\", \"my-token\")", "ok");
    let next = |what: &str| -> Result<(), Error> {
        match monitor.wait_timeout(Duration::from_secs(5))? {
            Some(event) => shown(what, format!("{} [{}]", event.path, event.token)),
            None => shown(what, "no event within 5 s"),
        }
        Ok(())
    };
    next("first event (registration)")?;
    client.write("/tour/watched/state", "up")?;
    next("after write /tour/watched/state")?;
    client.delete("/tour/watched")?;
    next("after delete /tour/watched")?;
    client.write("/tour/elsewhere", "x")?;
    shown(
        "after write /tour/elsewhere",
        format!("{:?} (not watched)", monitor.try_next()?),
    );
    monitor.unwatch("/tour/watched", "my-token")?;
    shown(
        "monitor.unwatch(...)",
        "ok (dropping the monitor does it too)",
    );
    println!("  Or just wait for a value: client.wait_for(path, timeout).");
    let waiter = client.clone();
    let setter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        waiter.write("/tour/ready", "yes")
    });
    let ready = client.wait_for("/tour/ready", Duration::from_secs(5))?;
    setter.join().expect("setter thread")?;
    shown(
        "client.wait_for(\"/tour/ready\", 5 s)",
        format!("{} (written by another thread)", text(&ready)),
    );
    Ok(())
}

fn compatibility(client: &Client) -> Result<(), Error> {
    section(6, "The compatibility API (xen.lowlevel.xs style)");
    println!("  compat::Xs takes explicit transaction ids (XBT_NULL = none), for code");
    println!("  ported from Python's xen.lowlevel.xs or pyxs's xs class.");
    let xs = Xs::with_client(client.clone());
    xs.write(XBT_NULL, "/tour/compat/key", b"value")?;
    shown("xs.write(XBT_NULL, \"/tour/compat/key\", b\"value\")", "ok");
    shown(
        "xs.read(XBT_NULL, \"/tour/compat/key\")",
        format!(
            "{:?}",
            xs.read(XBT_NULL, "/tour/compat/key")?
                .map(|v| String::from_utf8_lossy(&v).into_owned())
        ),
    );
    shown(
        "xs.read(XBT_NULL, \"/tour/compat/nope\")",
        format!("{:?}", xs.read(XBT_NULL, "/tour/compat/nope")?),
    );
    shown(
        "xs.ls(XBT_NULL, \"/tour/compat\")",
        format!("{:?}", xs.ls(XBT_NULL, "/tour/compat")?),
    );
    let t = xs.transaction_start()?;
    xs.write(t, "/tour/compat/key", b"changed")?;
    let committed = xs.transaction_end(t, false)?;
    shown("xs.transaction_start(); write; transaction_end", committed);
    xs.watch("/tour/compat", "compat")?;
    let event = xs.read_watch()?;
    shown(
        "xs.watch(...); xs.read_watch()",
        format!("{} [{}]", event.path, event.token),
    );
    xs.unwatch("/tour/compat", "compat")?;
    xs.close();
    Ok(())
}
