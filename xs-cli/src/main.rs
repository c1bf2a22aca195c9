//! `xs`: read, write, list and watch XenStore from the shell, in the habits
//! of Xen's `xenstore-read`, `xenstore-ls` and friends (same output formats,
//! same escaping of binary values), on the `xs-client` library.
//!
//! Exit status: 0 on success, 1 when an operation fails (one line on
//! standard error: `xs: read /a: ENOENT`), 2 for a usage error. `xs exists`
//! answers with 0 (all exist) or 1 (one does not), and 2 if it could not
//! tell.

mod escape;
mod features;
mod ls;
mod quota;
mod sys;

use std::collections::HashSet;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};
use xs_client::{Client, Errno, Error, Perm, Store};
use xs_wire::Op;

const AFTER_HELP: &str = "\
Connection: --socket PATH, else --xenbus PATH, else $XENSTORED_PATH, else
$XENSTORED_RUNDIR/socket, else /var/run/xenstored/socket, else the xenbus
device (as libxenstore does). Without --timeout a request waits for its
reply as long as the client library's default allows.

Values are shown escaped as xenstore-read shows them (\\t, \\n, \\r, \\\\,
\\000-\\007, \\xNN for other bytes) and written with the escapes undone as
xenstore-write does; -R/--raw turns this off.";

/// Read, write, list and watch XenStore.
#[derive(Parser, Debug)]
#[command(name = "xs", version, after_help = AFTER_HELP)]
struct Cli {
    /// Connect to the xenstored Unix socket at PATH
    #[arg(long, global = true, value_name = "PATH", conflicts_with = "xenbus")]
    socket: Option<PathBuf>,

    /// Connect through the xenbus device at PATH (e.g. /dev/xen/xenbus)
    #[arg(long, global = true, value_name = "PATH")]
    xenbus: Option<PathBuf>,

    /// Give up on a reply after SECS seconds (e.g. 5, 0.5, 200ms)
    #[arg(long, global = true, value_name = "SECS", value_parser = parse_timeout)]
    timeout: Option<Duration>,

    /// Accepted and ignored, as xenstore-read -s and friends do since Xen
    /// 4.15 (it used to mean "socket only")
    #[arg(short = 's', global = true)]
    socket_only: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the values of nodes, one per line (like xenstore-read)
    ///
    /// Several paths are read in one transaction, from one snapshot. As
    /// xenstore-read does, the values are printed in order up to the first
    /// path that cannot be read; that one is reported on standard error and
    /// the exit status is 1.
    Read {
        /// Print "PATH: " before each value
        #[arg(short, long)]
        prefix: bool,
        /// Print the raw bytes, without escaping or newline
        #[arg(short = 'R', long)]
        raw: bool,
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<String>,
    },
    /// Set the values of nodes, creating them and missing parents (like
    /// xenstore-write)
    ///
    /// Several pairs are written in one transaction.
    #[command(override_usage = "xs write [OPTIONS] PATH VALUE [PATH VALUE]...")]
    Write {
        /// Write VALUE as given, without undoing escapes
        #[arg(short = 'R', long)]
        raw: bool,
        /// Pairs of a path and its value
        #[arg(
            required = true,
            num_args = 2..,
            value_names = ["PATH", "VALUE"],
            allow_hyphen_values = true
        )]
        pairs: Vec<OsString>,
    },
    /// Print the tree under PATH (default /), one node per line (like
    /// xenstore-ls)
    Ls {
        /// Print full paths, and never cut long values
        #[arg(short, long)]
        full: bool,
        /// Print each node's permissions
        #[arg(short, long)]
        perms: bool,
        #[arg(value_name = "PATH")]
        path: Option<String>,
    },
    /// Print the names of a node's children, one per line (like
    /// xenstore-list)
    List {
        /// Print "PATH/" before each name
        #[arg(short, long)]
        prefix: bool,
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<String>,
    },
    /// Remove nodes and everything below them (like xenstore-rm)
    ///
    /// Removing a missing node succeeds if its parent exists.
    Rm {
        /// Also remove parents left empty (no value, no children)
        #[arg(short, long)]
        tidy: bool,
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<String>,
    },
    /// Tell whether nodes exist: exit status 0 if all do, 1 if not (like
    /// xenstore-exists)
    ///
    /// Nothing is printed. Exit status 2, with a message, when it cannot be
    /// told (a bad path, no daemon, a permission error).
    Exists {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<String>,
    },
    /// Create nodes with empty values (existing ones are left alone)
    Mkdir {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<String>,
    },
    /// Set a node's permissions (like xenstore-chmod)
    ///
    /// Each PERM is a letter and a domain id: n (none), r (read), w (write)
    /// or b (both), e.g. `r0 b5`. The first names the owner and the access
    /// of every domain not listed.
    Chmod {
        /// Also set the permissions of every node below PATH
        #[arg(short, long)]
        recurse: bool,
        /// Also set the permissions of every parent of PATH
        #[arg(short, long)]
        upto: bool,
        #[arg(value_name = "PATH")]
        path: String,
        #[arg(required = true, value_name = "PERM", value_parser = parse_perm)]
        perms: Vec<Perm>,
    },
    /// Print a node's permissions on one line, as chmod takes them
    Perms {
        /// Print "PATH: " before each node's permissions
        #[arg(short, long)]
        prefix: bool,
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<String>,
    },
    /// Watch nodes and print the path of every change (like xenstore-watch)
    ///
    /// The daemon fires each watch once when it is set, so the first lines
    /// name the watched paths themselves.
    Watch {
        /// Stop after COUNT events
        #[arg(short = 'n', long, value_name = "COUNT")]
        count: Option<u64>,
        /// Only changes at most N levels below the path (Xen 4.22
        /// WATCHDEPTH; 0: the node itself, 1: and its children)
        #[arg(short = 'd', long, value_name = "N")]
        depth: Option<u32>,
        /// Print "PATH WATCHED": the event's path and the watched path it
        /// fired for
        #[arg(short, long)]
        token: bool,
        /// Keep watching across a restart of xenstored: reconnect, watch
        /// again, and say on standard error that events may have been missed
        #[arg(short = 'r', long)]
        reconnect: bool,
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<String>,
    },
    /// Show or set the daemon's quotas (Xen 4.22 GET_QUOTA/SET_QUOTA)
    ///
    /// Without NAME, every quota is listed as "NAME VALUE" lines; one NAME
    /// prints its value. NAME=VALUE pairs set quotas. Values are numbers;
    /// 0 switches a check off. Global values are the defaults for new
    /// domains. Needs dom0.
    #[command(override_usage = "xs quota [-D DOMID] [NAME... | NAME=VALUE...]")]
    Quota {
        /// A domain's quotas instead of the global ones
        #[arg(short = 'D', long, value_name = "DOMID")]
        domain: Option<u32>,
        #[arg(value_name = "NAME[=VALUE]")]
        args: Vec<String>,
    },
    /// Show or set XenStore feature bits (Xen 4.21+ GET_FEATURE/SET_FEATURE)
    ///
    /// Without DOMID, the features this connection has; with DOMID, that
    /// domain's (dom0 only). With FEATURES, sets the domain's bits, which
    /// the daemon allows only before the domain is introduced. FEATURES is
    /// a number or names joined by commas: RECONNECTION (1), ERROR (2),
    /// WATCHDEPTH (4), DOMID_ANY (8), or none.
    Features {
        #[arg(value_name = "DOMID")]
        domid: Option<u32>,
        #[arg(value_name = "FEATURES", requires = "domid", value_parser = features::parse)]
        set: Option<xs_client::Features>,
    },
}

/// `--timeout`: seconds (`5`, `0.5`) or milliseconds (`200ms`).
fn parse_timeout(text: &str) -> Result<Duration, String> {
    let (number, scale) = match text.strip_suffix("ms") {
        Some(ms) => (ms, 1e-3),
        None => (text.strip_suffix('s').unwrap_or(text), 1.0),
    };
    let secs = number
        .parse::<f64>()
        .map_err(|e| format!("{text:?} is not a duration: {e}"))?
        * scale;
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{text:?} is not a positive duration"))
}

fn parse_perm(text: &str) -> Result<Perm, String> {
    text.parse::<Perm>().map_err(|e| e.to_string())
}

/// A failed operation, and the path it was about when the error does not
/// say.
#[derive(Debug)]
struct Failure {
    path: Option<String>,
    error: Cause,
}

/// Why a command failed.
#[derive(Debug)]
enum Cause {
    /// The client library or the daemon said no.
    Client(Error),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        Failure {
            path: None,
            error: Cause::Client(error),
        }
    }
}

/// Tags an error with `path`.
fn at(path: &str) -> impl FnOnce(Error) -> Failure + '_ {
    move |error| Failure {
        path: Some(path.to_owned()),
        error: Cause::Client(error),
    }
}

impl Failure {
    /// The one line for standard error (after `xs: `).
    fn message(&self, command: &str) -> String {
        let Cause::Client(error) = &self.error;
        match error {
            Error::Connect { .. } => error.to_string(),
            Error::Daemon {
                errno: Some(Errno::ENOSYS),
                op,
                ..
            } if added_in(*op).is_some() => format!(
                "{command}: the daemon does not support {op} (ENOSYS; {})",
                added_in(*op).unwrap_or_default()
            ),
            Error::Daemon { path, name, .. } => {
                // The request's own path first: a walk fails below its top.
                let path = path.as_deref().or(self.path.as_deref());
                match path {
                    Some(p) => format!("{command} {p}: {name}"),
                    None => format!("{command}: {name}"),
                }
            }
            other => match &self.path {
                Some(p) => format!("{command} {p}: {other}"),
                None => format!("{command}: {other}"),
            },
        }
    }
}

/// When an optional operation came to C xenstored, for the message that a
/// daemon lacks it.
fn added_in(op: Op) -> Option<&'static str> {
    match op {
        Op::DirectoryPart => Some("added in Xen 4.9"),
        Op::GetFeature | Op::SetFeature => Some("added in Xen 4.21"),
        Op::GetQuota | Op::SetQuota => Some("added in Xen 4.22"),
        _ => None,
    }
}

type Outcome = Result<ExitCode, Failure>;

fn main() -> ExitCode {
    sys::default_sigpipe();
    let cli = Cli::parse();
    if let Command::Write { pairs, .. } = &cli.command {
        check_pairs(pairs); // usage errors before connecting
    }
    let name = command_name(&cli.command);
    let client = match connect(&cli) {
        Ok(c) => c,
        Err(e) => return report(name, &Failure::from(e)),
    };
    match run(&client, cli.command) {
        Ok(code) => code,
        Err(f) => report(name, &f),
    }
}

fn report(command: &str, failure: &Failure) -> ExitCode {
    eprintln!("xs: {}", failure.message(command));
    if command == "exists" {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}

fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Read { .. } => "read",
        Command::Write { .. } => "write",
        Command::Ls { .. } => "ls",
        Command::List { .. } => "list",
        Command::Rm { .. } => "rm",
        Command::Exists { .. } => "exists",
        Command::Mkdir { .. } => "mkdir",
        Command::Chmod { .. } => "chmod",
        Command::Perms { .. } => "perms",
        Command::Watch { .. } => "watch",
        Command::Quota { .. } => "quota",
        Command::Features { .. } => "features",
    }
}

fn connect(cli: &Cli) -> Result<Client, Error> {
    let mut builder = Client::builder();
    if let Some(timeout) = cli.timeout {
        builder = builder.timeout(timeout);
    }
    if matches!(
        cli.command,
        Command::Watch {
            reconnect: true,
            ..
        }
    ) {
        builder = builder.reconnect(xs_client::Reconnect::default());
    }
    match (&cli.socket, &cli.xenbus) {
        (Some(path), _) => builder.unix(path),
        (None, Some(path)) => builder.xenbus(path),
        (None, None) => builder,
    }
    .connect()
}

fn usage_error(subcommand: &str, message: String) -> ! {
    let mut cli = Cli::command();
    cli.build();
    let mut command = match cli.find_subcommand_mut(subcommand) {
        Some(sub) => sub.clone(),
        None => cli,
    };
    command
        .error(clap::error::ErrorKind::InvalidValue, message)
        .exit()
}

fn run(client: &Client, command: Command) -> Outcome {
    match command {
        Command::Read { prefix, raw, paths } => read(client, &paths, prefix, raw),
        Command::Write { raw, pairs } => write(client, &pairs, raw),
        Command::Ls { full, perms, path } => list_tree(client, path.as_deref(), full, perms),
        Command::List { prefix, paths } => list(client, &paths, prefix),
        Command::Rm { tidy, paths } => remove(client, &paths, tidy),
        Command::Exists { paths } => exists(client, &paths),
        Command::Mkdir { paths } => mkdir(client, &paths),
        Command::Chmod {
            recurse,
            upto,
            path,
            perms,
        } => chmod(client, &path, &perms, upto, recurse),
        Command::Perms { prefix, paths } => show_perms(client, &paths, prefix),
        Command::Watch {
            count,
            depth,
            token,
            paths,
            ..
        } => watch(client, &paths, count, depth, token),
        Command::Quota { domain, args } => show_or_set_quota(client, domain, &args),
        Command::Features { domid, set } => show_or_set_features(client, domid, set),
    }
}

/// Writes `bytes` to standard output in one go.
fn emit(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    if out.write_all(bytes).and_then(|()| out.flush()).is_err() {
        // Only a closed pipe gets here without SIGPIPE ending us first.
        std::process::exit(141);
    }
}

fn refs(paths: &[String]) -> Vec<&str> {
    paths.iter().map(String::as_str).collect()
}

/// The values of `results` up to the first failure, and that failure.
fn until_failure<T>(
    paths: &[&str],
    results: Vec<xs_client::Result<T>>,
) -> (Vec<T>, Option<Failure>) {
    let mut values = Vec::with_capacity(results.len());
    for (path, result) in paths.iter().zip(results) {
        match result {
            Ok(value) => values.push(value),
            Err(e) => return (values, Some(at(path)(e))),
        }
    }
    (values, None)
}

/// The values of `results` in order, or the first failure with its path.
fn all_ok<T>(paths: &[&str], results: Vec<xs_client::Result<T>>) -> Result<Vec<T>, Failure> {
    paths
        .iter()
        .zip(results)
        .map(|(p, r)| r.map_err(at(p)))
        .collect()
}

fn read(client: &Client, paths: &[String], prefix: bool, raw: bool) -> Outcome {
    let paths = refs(paths);
    let results = if let [path] = paths[..] {
        vec![client.read(path)]
    } else {
        // One snapshot for all of them, as xenstore-read does.
        client.transact(|tx| Ok::<_, Error>(tx.read_many(&paths)))?
    };
    // Like xenstore-read: the values before the first failure are printed.
    let (values, failure) = until_failure(&paths, results);
    let mut out = Vec::new();
    for (path, value) in paths.iter().zip(values) {
        if prefix {
            out.extend_from_slice(path.as_bytes());
            out.extend_from_slice(b": ");
        }
        if raw {
            out.extend_from_slice(&value);
        } else {
            out.extend_from_slice(escape::escape(&value).as_bytes());
            out.push(b'\n');
        }
    }
    emit(&out);
    failure.map_or(Ok(ExitCode::SUCCESS), Err)
}

/// Exits with a usage error unless `pairs` are PATH VALUE pairs with
/// textual paths.
fn check_pairs(pairs: &[OsString]) {
    if pairs.len() % 2 != 0 {
        usage_error(
            "write",
            "write takes PATH VALUE pairs: the last PATH has no VALUE".into(),
        );
    }
    for path in pairs.iter().step_by(2) {
        if path.to_str().is_none() {
            usage_error("write", format!("path {path:?} is not valid text"));
        }
    }
}

fn write(client: &Client, pairs: &[OsString], raw: bool) -> Outcome {
    let mut items = Vec::with_capacity(pairs.len() / 2);
    for pair in pairs.chunks(2) {
        let path = pair[0].to_str().unwrap_or_default(); // checked by check_pairs
        let value = pair[1].as_bytes();
        let value = if raw {
            value.to_vec()
        } else {
            escape::unescape(value)
        };
        items.push((path, value));
    }
    if let [(path, value)] = &items[..] {
        client.write(path, value).map_err(at(path))?;
    } else {
        let batch: Vec<(&str, &[u8])> = items.iter().map(|(p, v)| (*p, v.as_slice())).collect();
        let paths: Vec<&str> = items.iter().map(|(p, _)| *p).collect();
        client.transact(|tx| all_ok(&paths, tx.write_many(&batch)))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `f` on every item from a few threads at once. Requests from
/// several threads are pipelined on the client's one connection, so this
/// costs about one round trip per `WORKERS` items, not one per item.
fn parallel<T: Send>(items: &[&str], f: impl Fn(&str) -> T + Sync) -> Vec<T> {
    const WORKERS: usize = 16;
    let workers = WORKERS.min(items.len());
    if workers <= 1 {
        return items.iter().map(|item| f(item)).collect();
    }
    let mut slots: Vec<Option<T>> = (0..items.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let f = &f;
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                scope.spawn(move || {
                    items
                        .iter()
                        .enumerate()
                        .skip(w)
                        .step_by(workers)
                        .map(|(i, item)| (i, f(item)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for handle in handles {
            let done = handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            for (i, value) in done {
                slots[i] = Some(value);
            }
        }
    });
    slots.into_iter().flatten().collect()
}

fn list_tree(client: &Client, path: Option<&str>, full: bool, show_perms: bool) -> Outcome {
    let top = path.unwrap_or("/");
    // One pipelined batch per level of the tree.
    let entries = client.walk(top).map_err(at(top))?;
    let below = entries.get(1..).unwrap_or_default();

    // walk() shows an unreadable value as empty; tell the two apart with
    // one more pipelined batch over the empty ones (xenstore-ls prints
    // `name:` for a node it cannot read).
    let empty: Vec<&str> = below
        .iter()
        .filter(|e| e.value.is_empty())
        .map(|e| e.path.as_str())
        .collect();
    let mut unreadable = HashSet::new();
    for (path, result) in empty.iter().zip(client.read_many(&empty)) {
        match result {
            Err(e @ Error::Daemon { .. }) if !e.is_not_found() => {
                unreadable.insert(*path);
            }
            Err(e @ Error::Daemon { .. }) => drop(e),
            Err(e) => return Err(at(path)(e)),
            Ok(_) => {}
        }
    }

    let perms: Vec<Option<Vec<Perm>>> = if show_perms {
        let paths: Vec<&str> = below.iter().map(|e| e.path.as_str()).collect();
        let results = parallel(&paths, |p| client.get_perms(p));
        let mut perms = Vec::with_capacity(results.len());
        for (path, result) in paths.iter().zip(results) {
            match result {
                Ok(list) => perms.push(Some(list)),
                Err(e @ Error::Daemon { .. }) => {
                    eprintln!("xs: {}", at(path)(e).message("ls"));
                    perms.push(None);
                }
                Err(e) => return Err(at(path)(e)),
            }
        }
        perms
    } else {
        vec![None; below.len()]
    };

    let layout = ls::Layout {
        full,
        perms: show_perms,
        width: sys::terminal_columns()
            .map(|c| c.saturating_sub(2))
            .unwrap_or(ls::DEFAULT_WIDTH),
    };
    let mut out = String::new();
    for (entry, perms) in below.iter().zip(&perms) {
        let Some((depth, name)) = ls::position(top, &entry.path) else {
            continue;
        };
        let node = ls::Node {
            depth,
            name,
            path: &entry.path,
            value: (!unreadable.contains(entry.path.as_str())).then_some(entry.value.as_slice()),
            perms: perms.as_deref(),
        };
        out.push_str(&ls::line(&node, &layout));
        out.push('\n');
    }
    emit(out.as_bytes());
    Ok(ExitCode::SUCCESS)
}

fn list(client: &Client, paths: &[String], prefix: bool) -> Outcome {
    let paths = refs(paths);
    let results = if let [path] = paths[..] {
        vec![client.list(path)]
    } else {
        client.transact(|tx| Ok::<_, Error>(tx.list_many(&paths)))?
    };
    // Like xenstore-list: the listings before the first failure are printed.
    let (listings, failure) = until_failure(&paths, results);
    let mut out = String::new();
    for (path, names) in paths.iter().zip(listings) {
        for name in names {
            if prefix {
                out.push_str(path);
                out.push('/');
            }
            out.push_str(&name);
            out.push('\n');
        }
    }
    emit(out.as_bytes());
    failure.map_or(Ok(ExitCode::SUCCESS), Err)
}

/// The parent of `path`, if it has one worth looking at.
fn parent(path: &str) -> Option<&str> {
    let (parent, _) = path.rsplit_once('/')?;
    (!parent.is_empty()).then_some(parent)
}

fn remove(client: &Client, paths: &[String], tidy: bool) -> Outcome {
    if let ([path], false) = (paths, tidy) {
        client.delete(path).map_err(at(path))?;
        return Ok(ExitCode::SUCCESS);
    }
    client.transact(|tx| {
        for path in paths {
            tx.delete(path).map_err(at(path))?;
            if !tidy {
                continue;
            }
            // Then each parent left with no value and no children.
            let mut next = parent(path);
            while let Some(p) = next {
                let empty = matches!(tx.read(p), Ok(v) if v.is_empty())
                    && matches!(tx.list(p), Ok(c) if c.is_empty());
                if !empty {
                    break;
                }
                tx.delete(p).map_err(at(p))?;
                next = parent(p);
            }
        }
        Ok::<_, Failure>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn exists(client: &Client, paths: &[String]) -> Outcome {
    let paths = refs(paths);
    let mut missing = false;
    for (path, result) in paths.iter().zip(client.read_many(&paths)) {
        match result {
            Ok(_) => {}
            Err(e) if e.is_not_found() => missing = true,
            Err(e) => return Err(at(path)(e)),
        }
    }
    Ok(if missing {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn mkdir(client: &Client, paths: &[String]) -> Outcome {
    if let [path] = paths {
        client.mkdir(path).map_err(at(path))?;
    } else {
        client.transact(|tx| {
            for path in paths {
                tx.mkdir(path).map_err(at(path))?;
            }
            Ok::<_, Failure>(())
        })?;
    }
    Ok(ExitCode::SUCCESS)
}

fn chmod(client: &Client, path: &str, perms: &[Perm], upto: bool, recurse: bool) -> Outcome {
    if !upto && !recurse {
        client.set_perms(path, perms).map_err(at(path))?;
        return Ok(ExitCode::SUCCESS);
    }
    client.transact(|tx| {
        let mut targets = vec![path.to_owned()];
        if upto {
            let mut next = parent(path);
            while let Some(p) = next {
                targets.push(p.to_owned());
                next = parent(p);
            }
        }
        if recurse {
            let below = tx.walk(path).map_err(at(path))?;
            targets.extend(below.into_iter().skip(1).map(|e| e.path));
        }
        for target in &targets {
            tx.set_perms(target, perms).map_err(at(target))?;
        }
        Ok::<_, Failure>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn show_perms(client: &Client, paths: &[String], prefix: bool) -> Outcome {
    let paths = refs(paths);
    let results = parallel(&paths, |p| client.get_perms(p));
    let lists = all_ok(&paths, results)?;
    let mut out = String::new();
    for (path, list) in paths.iter().zip(lists) {
        if prefix {
            out.push_str(path);
            out.push_str(": ");
        }
        let words: Vec<String> = list.iter().map(Perm::to_string).collect();
        out.push_str(&words.join(" "));
        out.push('\n');
    }
    emit(out.as_bytes());
    Ok(ExitCode::SUCCESS)
}

fn watch(
    client: &Client,
    paths: &[String],
    count: Option<u64>,
    depth: Option<u32>,
    token: bool,
) -> Outcome {
    let monitor = client.monitor();
    let mut watched = HashSet::new();
    for path in paths {
        // The token is the watched path: it says which watch fired.
        if watched.insert(path.as_str()) {
            match depth {
                Some(depth) => monitor.watch_with_depth(path, path, depth),
                None => monitor.watch(path, path),
            }
            .map_err(at(path))?;
        }
    }
    let mut seen = 0;
    while count.is_none_or(|n| seen < n) {
        match monitor.wait() {
            Ok(event) => {
                let line = if token {
                    format!("{} {}\n", event.path, event.token)
                } else {
                    format!("{}\n", event.path)
                };
                emit(line.as_bytes());
                seen += 1;
            }
            Err(Error::Overflow { dropped }) => {
                eprintln!("xs: watch: {dropped} events were lost (output too slow)");
            }
            Err(Error::Reconnected) => {
                eprintln!("xs: watch: reconnected to xenstored; events may have been missed");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Fails unless the daemon answers `op` at all. Against oxenstored a
/// request with an empty payload (GET_QUOTA of the names, GET_FEATURE of
/// one's own) waits for the connection's next bytes, so `xs` asks with an
/// argument first: any answer but `ENOSYS` means the operation exists.
fn probe(result: xs_client::Result<u64>) -> Result<(), Failure> {
    match result {
        Err(e) if e.is_unsupported() => Err(e.into()),
        _ => Ok(()),
    }
}

fn show_or_set_quota(client: &Client, domid: Option<u32>, args: &[String]) -> Outcome {
    let action = quota::action(args).unwrap_or_else(|message| usage_error("quota", message));
    let mut out = String::new();
    match action {
        quota::Action::List => {
            probe(client.get_quota(domid, "nodes"))?;
            for name in client.get_quota_names()? {
                let value = client.get_quota(domid, &name).map_err(at(&name))?;
                out.push_str(&format!("{name} {value}\n"));
            }
        }
        quota::Action::Get(names) => {
            for name in &names {
                let value = client.get_quota(domid, name).map_err(at(name))?;
                if names.len() == 1 {
                    out.push_str(&format!("{value}\n"));
                } else {
                    out.push_str(&format!("{name} {value}\n"));
                }
            }
        }
        quota::Action::Set(pairs) => {
            for (name, value) in pairs {
                client.set_quota(domid, name, value).map_err(at(name))?;
            }
        }
    }
    emit(out.as_bytes());
    Ok(ExitCode::SUCCESS)
}

fn show_or_set_features(
    client: &Client,
    domid: Option<u32>,
    set: Option<xs_client::Features>,
) -> Outcome {
    match (domid, set) {
        (Some(domid), Some(bits)) => client.set_features(domid, bits)?,
        (domid, _) => {
            if domid.is_none() {
                probe(client.get_features(Some(0)).map(|f| u64::from(f.bits())))?;
            }
            let word = client.get_features(domid)?;
            emit(format!("{}\n", features::describe(word)).as_bytes());
        }
    }
    Ok(ExitCode::SUCCESS)
}
