//! Differential conformance: every script is played against `xs-server` and
//! the real `oxenstored`, and the transcripts must match frame by frame,
//! except for differences listed (with the reason) in `docs/conformance.md`.
//! An unlisted difference fails, and so does a listed one that no longer
//! differs, so the document stays true.

use std::collections::BTreeSet;

use xs_interop::{run, scripts, Daemon, DaemonKind};

/// `(script, step)` pairs listed in docs/conformance.md's table of known
/// differences (section "Known differences"): rows like `| `script` | 3 | ... |`.
fn listed_differences() -> BTreeSet<(String, usize)> {
    let doc = xs_interop::workspace_root().join("docs/conformance.md");
    let text = std::fs::read_to_string(&doc).unwrap_or_default();
    xs_interop::listed_steps(&text, "Known differences").unwrap_or_default()
}

#[test]
fn xs_server_matches_oxenstored_except_where_documented() {
    let ours = Daemon::start(DaemonKind::XsServer).expect("start xs-server");
    let real = Daemon::start(DaemonKind::Oxenstored)
        .expect("the real oxenstored is required (scripts/install-deps installs it)");
    let listed = listed_differences();
    let mut report = String::new();
    let (mut unlisted, mut stale, mut same, mut total) = (Vec::new(), Vec::new(), 0, 0);
    for script in scripts::all() {
        let root = format!("/conformance/{}", script.name);
        let a = run(ours.socket(), &script, &root);
        let b = run(real.socket(), &script, &root);
        for (i, (x, y)) in a.steps.iter().zip(&b.steps).enumerate() {
            let key = (script.name.to_owned(), i + 1);
            let step = &script.steps[i];
            total += 1;
            if x == y {
                same += 1;
                if listed.contains(&key) {
                    stale.push(format!("{} step {}", script.name, i + 1));
                }
                continue;
            }
            let text = format!(
                "{} step {} ({} {:?}):\n  xs-server:  {x:?}\n  oxenstored: {y:?}\n",
                script.name,
                i + 1,
                step.op,
                step.payload
            );
            report.push_str(&text);
            if !listed.contains(&key) {
                unlisted.push(text);
            }
        }
    }
    let out = xs_interop::workspace_root().join("target/conformance-differences.txt");
    let _ = std::fs::write(&out, &report);
    println!(
        "conformance: {total} steps, {same} identical, {} differ ({} listed)",
        total - same,
        total - same - unlisted.len()
    );
    assert!(
        unlisted.is_empty(),
        "differences not in docs/conformance.md:\n{}",
        unlisted.join("\n")
    );
    assert!(
        stale.is_empty(),
        "listed in docs/conformance.md but no longer different: {stale:?}"
    );
}
