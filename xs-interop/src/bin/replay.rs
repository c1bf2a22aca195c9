//! Plays the differential scripts against a daemon and saves the transcripts,
//! or compares saved transcripts.
//!
//! ```text
//! replay play (--socket PATH | --xs-server | --oxenstored) --label NAME --out DIR
//!     Plays every script of xs_interop::scripts::all() (each in its own
//!     subtree /conformance/<script>) and writes DIR/<file>.txt (one line
//!     per received frame, compared by `replay compare`) and DIR/<file>.json,
//!     where <file> is NAME in lower case with each run of anything but
//!     [a-z0-9] made one '-' ("oxenstored 4.17 (dom0)": oxenstored-4-17-dom0).
//!
//! replay compare [--report FILE] [--expect DOC --section HEADING] BASE.txt OTHER.txt...
//!     Compares BASE with each OTHER step by step, prints one summary line
//!     per pair ("C xenstored vs xs-server: 158 steps, 140 identical, 18
//!     differ") and writes every difference to FILE (Markdown). With
//!     --expect, the steps that differ must be exactly those listed in the
//!     tables of DOC's section HEADING (see xs_interop::listed_steps): an
//!     unlisted difference, or a listed step that no longer differs, makes
//!     the command fail.
//! ```
//!
//! `scripts/xen-qemu/ci` runs `play --socket /run/xenstored/socket` inside a
//! Xen dom0 and compares the result with `play --xs-server` (and
//! `--oxenstored`) on the host.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use xs_interop::{run, scripts, Daemon, DaemonKind};

fn usage() -> ExitCode {
    eprintln!(
        "usage: replay play (--socket PATH | --xs-server | --oxenstored) --label NAME --out DIR\n       \
         replay compare [--report FILE] [--expect DOC --section HEADING] BASE.txt OTHER.txt..."
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("play") => play(&args[1..]),
        Some("compare") => compare(&args[1..]),
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("replay: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------
// play

enum Target {
    Socket(PathBuf),
    Start(DaemonKind),
}

fn play(args: &[String]) -> Result<(), String> {
    let (mut target, mut label, mut out) = (None, None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--socket" => target = Some(Target::Socket(value()?.into())),
            "--xs-server" => target = Some(Target::Start(DaemonKind::XsServer)),
            "--oxenstored" => target = Some(Target::Start(DaemonKind::Oxenstored)),
            "--label" => label = Some(value()?),
            "--out" => out = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let target = target.ok_or("play needs --socket, --xs-server or --oxenstored")?;
    let label = label.ok_or("play needs --label")?;
    let out = out.ok_or("play needs --out")?;
    let daemon;
    let socket = match target {
        Target::Socket(p) => p,
        Target::Start(kind) => {
            daemon = Daemon::start(kind)?;
            daemon.socket().to_owned()
        }
    };
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;

    let mut text = format!("# xs-interop transcript\n# label: {label}\n");
    let mut json = format!("{{\"label\":{},\"scripts\":[", json_str(&label));
    let (mut steps, mut unreachable) = (0, 0);
    for (n, script) in scripts::all().iter().enumerate() {
        let root = format!("/conformance/{}", script.name);
        let transcript = run(&socket, script, &root);
        if n > 0 {
            json.push(',');
        }
        let _ = write!(json, "{{\"name\":{},\"steps\":[", json_str(script.name));
        for (i, (step, lines)) in script.steps.iter().zip(&transcript.steps).enumerate() {
            steps += 1;
            if lines.iter().any(|l| l.ends_with("cannot connect")) {
                unreachable += 1;
            }
            let _ = writeln!(
                text,
                "== {} {} {} {:?}",
                script.name,
                i + 1,
                step.op,
                step.payload
            );
            for l in lines {
                text.push_str(l);
                text.push('\n');
            }
            if i > 0 {
                json.push(',');
            }
            let frames: Vec<String> = lines.iter().map(|l| json_str(l)).collect();
            let _ = write!(
                json,
                "{{\"step\":{},\"conn\":{},\"op\":{},\"payload\":{},\"frames\":[{}]}}",
                i + 1,
                step.conn,
                json_str(&step.op.to_string()),
                json_str(step.payload),
                frames.join(",")
            );
        }
        json.push_str("]}");
    }
    json.push_str("]}\n");
    let file = file_name(&label);
    for (ext, body) in [("txt", &text), ("json", &json)] {
        let path = out.join(format!("{file}.{ext}"));
        std::fs::write(&path, body).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    println!(
        "replay: {label}: {} scripts, {steps} steps, written to {}",
        scripts::all().len(),
        out.join(format!("{file}.txt")).display()
    );
    if unreachable == steps {
        return Err(format!("could not connect to {}", socket.display()));
    }
    Ok(())
}

/// `label` in lower case, runs of anything but `[a-z0-9]` made one `-`.
fn file_name(label: &str) -> String {
    let mut out = String::new();
    for c in label.to_ascii_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------
// compare

/// A saved transcript: its label and, per (script, step), the step's
/// heading and received lines, in file order.
struct Saved {
    label: String,
    order: Vec<(String, usize)>,
    steps: BTreeMap<(String, usize), (String, Vec<String>)>,
}

fn load(path: &Path) -> Result<Saved, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut saved = Saved {
        label: path.display().to_string(),
        order: Vec::new(),
        steps: BTreeMap::new(),
    };
    let mut current: Option<(String, usize)> = None;
    for line in text.lines() {
        if let Some(label) = line.strip_prefix("# label: ") {
            saved.label = label.to_owned();
        } else if line.starts_with('#') {
        } else if let Some(heading) = line.strip_prefix("== ") {
            let mut words = heading.splitn(3, ' ');
            let script = words.next().unwrap_or_default().to_owned();
            let step = words
                .next()
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("{}: bad heading {line:?}", path.display()))?;
            let key = (script, step);
            saved.order.push(key.clone());
            saved
                .steps
                .insert(key.clone(), (heading.to_owned(), Vec::new()));
            current = Some(key);
        } else {
            let key = current
                .as_ref()
                .ok_or_else(|| format!("{}: a frame before any step", path.display()))?;
            if let Some(step) = saved.steps.get_mut(key) {
                step.1.push(line.to_owned());
            }
        }
    }
    Ok(saved)
}

/// A line for the report: long runs (big payloads) cut in the middle.
fn shorten(line: &str) -> String {
    const KEEP: usize = 60;
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= 2 * KEEP + 20 {
        return line.to_owned();
    }
    let head: String = chars[..KEEP].iter().collect();
    let tail: String = chars[chars.len() - KEEP..].iter().collect();
    format!("{head}[... {} chars ...]{tail}", chars.len() - 2 * KEEP)
}

fn compare(args: &[String]) -> Result<(), String> {
    let (mut report_path, mut expect, mut section) = (None, None, None);
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--report" => report_path = Some(PathBuf::from(value()?)),
            "--expect" => expect = Some(PathBuf::from(value()?)),
            "--section" => section = Some(value()?),
            f => files.push(PathBuf::from(f)),
        }
    }
    if files.len() < 2 {
        return Err("compare needs a base transcript and at least one other".into());
    }
    let listed = match (expect, section) {
        (None, None) => None,
        (Some(doc), Some(heading)) => {
            let text =
                std::fs::read_to_string(&doc).map_err(|e| format!("{}: {e}", doc.display()))?;
            let steps = xs_interop::listed_steps(&text, &heading)
                .ok_or_else(|| format!("{}: no section {heading:?}", doc.display()))?;
            Some((doc, heading, steps))
        }
        _ => return Err("--expect and --section go together".into()),
    };
    let mut unexpected = Vec::new();
    let base = load(&files[0])?;
    let mut report = format!("# Transcript differences: {} vs the others\n\n", base.label);
    let mut details = String::new();
    for file in &files[1..] {
        let other = load(file)?;
        let (mut same, mut differ) = (0, Vec::new());
        for key in &base.order {
            let (heading, lines) = &base.steps[key];
            match other.steps.get(key) {
                Some((_, theirs)) if theirs == lines => same += 1,
                theirs => differ.push((heading, lines, theirs.map(|t| &t.1))),
            }
        }
        if let Some((_, _, steps)) = &listed {
            let differing: std::collections::BTreeSet<&(String, usize)> = base
                .order
                .iter()
                .filter(|key| other.steps.get(*key).map(|t| &t.1) != Some(&base.steps[*key].1))
                .collect();
            for key in &differing {
                if !steps.contains(*key) {
                    unexpected.push(format!("{} step {} differs, unlisted", key.0, key.1));
                }
            }
            for key in steps {
                if !differing.contains(key) {
                    unexpected.push(format!("{} step {} is listed but identical", key.0, key.1));
                }
            }
        }
        let summary = format!(
            "{} vs {}: {} steps, {same} identical, {} differ",
            base.label,
            other.label,
            base.order.len(),
            differ.len()
        );
        println!("{summary}");
        let _ = writeln!(report, "- {summary}");
        let _ = writeln!(details, "\n## {} vs {}\n", base.label, other.label);
        for (heading, ours, theirs) in differ {
            let _ = writeln!(details, "### {}\n\n```text", shorten(heading));
            let _ = writeln!(details, "{}:", base.label);
            for l in ours {
                let _ = writeln!(details, "    {}", shorten(l));
            }
            let _ = writeln!(details, "{}:", other.label);
            match theirs {
                Some(lines) => {
                    for l in lines {
                        let _ = writeln!(details, "    {}", shorten(l));
                    }
                }
                None => {
                    let _ = writeln!(details, "    (step missing)");
                }
            }
            let _ = writeln!(details, "```\n");
        }
    }
    report.push_str(&details);
    if let Some(path) = report_path {
        std::fs::write(&path, report).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("replay: differences written to {}", path.display());
    }
    if let Some((doc, heading, _)) = listed {
        if !unexpected.is_empty() {
            return Err(format!(
                "the differences do not match {} (section {heading:?}):\n  {}",
                doc.display(),
                unexpected.join("\n  ")
            ));
        }
        println!(
            "replay: the differences are those listed in {} ({heading})",
            doc.display()
        );
    }
    Ok(())
}
