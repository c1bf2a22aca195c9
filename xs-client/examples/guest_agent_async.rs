//! What a guest agent does, on the async client (tokio): publish the OS
//! and memory figures every second, and watch `control/shutdown` to react
//! when the toolstack asks the guest to power off or reboot.
//!
//! ```sh
//! cargo run --example guest_agent_async -p xs-client --features tokio      # embedded xs-server
//! XENSTORED_PATH=/dev/xen/xenbus cargo run --example guest_agent_async -p xs-client --features tokio
//! ```
//!
//! Without `XENSTORED_PATH` it starts the in-memory `xs-server` and plays
//! the toolstack too: three seconds in, it writes `poweroff` to the
//! guest's `control/shutdown`. With it, it waits for the real toolstack
//! (at most `AGENT_SECONDS`, default 30 s). Paths are relative, so they
//! land under the agent's own `/local/domain/<domid>`.

use std::time::Duration;

use futures_lite::StreamExt;
use xs_client::tokio::{Client, Monitor};
use xs_client::Error;

/// The node the toolstack writes to ask for a shutdown.
const SHUTDOWN: &str = "control/shutdown";

/// What this agent tells the toolstack it can do.
const FEATURES: [(&str, &[u8]); 2] = [
    ("control/feature-poweroff", b"1"),
    ("control/feature-reboot", b"1"),
];

/// The figures a guest agent publishes, as (relative path, value).
fn figures() -> Vec<(String, String)> {
    let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let field = |key: &str| {
        os_release
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim_matches('"').to_owned())
            .unwrap_or_else(|| "unknown".to_owned())
    };
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kib = |key: &str| {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next())
            .unwrap_or("0")
            .to_owned()
    };
    vec![
        ("data/os_name".into(), field("PRETTY_NAME")),
        ("data/os_distro".into(), field("ID")),
        ("data/os_majorver".into(), field("VERSION_ID")),
        ("data/meminfo_total".into(), kib("MemTotal")),
        ("data/meminfo_free".into(), kib("MemAvailable")),
    ]
}

/// Publishes every figure in one transaction (the toolstack never sees
/// half an update), all writes pipelined.
async fn publish(client: &Client) -> Result<(), Error> {
    let figures = figures();
    client
        .transact(|tx| {
            let figures = &figures;
            async move {
                let items: Vec<(&str, &[u8])> = figures
                    .iter()
                    .map(|(p, v)| (p.as_str(), v.as_bytes()))
                    .collect();
                tx.write_many(&items).await.into_iter().collect()
            }
        })
        .await
}

/// Waits for a shutdown request; returns what was asked for.
async fn shutdown_request(client: &Client, monitor: &mut Monitor) -> Result<String, Error> {
    while let Some(event) = monitor.next().await {
        event?;
        // The value, not the event, says what is wanted ("" is nothing).
        let request = client.read_string(SHUTDOWN).await.unwrap_or_default();
        if !request.is_empty() {
            return Ok(request);
        }
    }
    Err(Error::Timeout(Duration::ZERO))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The embedded server plays xenstored (and the toolstack) when no real
    // daemon is named. Its handle must outlive the client.
    let server = match std::env::var_os("XENSTORED_PATH") {
        Some(_) => None,
        None => Some(xs_server::Server::builder().spawn()?),
    };
    let client = match &server {
        Some(server) => Client::unix(server.socket_path())?,
        None => Client::open()?,
    };
    let home = client.read_string("domid").await.ok();
    println!(
        "guest agent on {} (domid {})",
        client.peer(),
        home.as_deref().unwrap_or("unknown")
    );

    client
        .write_many(&FEATURES)
        .await
        .into_iter()
        .collect::<Result<(), Error>>()?;
    let mut monitor = client.monitor();
    monitor.watch(SHUTDOWN, "shutdown").await?;

    if server.is_some() {
        // Play the toolstack: ask for a poweroff in three seconds.
        let toolstack = client.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            println!("toolstack: writing poweroff to {SHUTDOWN}");
            let _ = toolstack.write(SHUTDOWN, "poweroff").await;
        });
    }
    let limit: u64 = std::env::var("AGENT_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let deadline = tokio::time::sleep(Duration::from_secs(limit));
    tokio::pin!(deadline);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // One future for the whole loop, so that no event is lost between
    // ticks.
    let shutdown = shutdown_request(&client, &mut monitor);
    tokio::pin!(shutdown);
    let request = loop {
        tokio::select! {
            _ = tick.tick() => {
                publish(&client).await?;
                let free = client.read_string("data/meminfo_free").await?;
                println!("published: {free} KiB available");
            }
            request = &mut shutdown => break Some(request?),
            _ = &mut deadline => break None,
        }
    };
    match request {
        Some(request) => {
            println!("shutdown requested: {request}");
            // Acknowledge, as agents do, by clearing the request; a real
            // agent would now run `shutdown -h now` or `reboot`.
            client.write(SHUTDOWN, "").await?;
        }
        None => println!("no shutdown request in {limit} s; exiting"),
    }
    for (path, _) in figures() {
        let _ = client.delete(&path).await;
    }
    Ok(())
}
