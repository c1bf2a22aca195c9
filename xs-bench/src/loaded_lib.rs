//! Which `libxenstore.so.4` a running client actually loaded.
//!
//! The suite runs the same C benchmark binary twice over: on the C library
//! (the system's) and on xs-capi's (through `LD_LIBRARY_PATH`). A wrong
//! search path, a stale link or an `LD_LIBRARY_PATH` inherited from the
//! shell would silently compare a library with itself, so once per suite
//! run both are started and their `/proc/PID/maps` read while they run: the
//! file the dynamic loader mapped is the one that answers the requests.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The library file name the C benchmark is linked against (its SONAME).
pub const SONAME: &str = "libxenstore.so.4";

/// How long a client may take to get its libraries mapped.
const MAP_TIMEOUT: Duration = Duration::from_secs(10);

/// The files named `libxenstore.so*` mapped into a process, from its
/// `/proc/PID/maps` text (the kernel shows the resolved path of each file,
/// so a symbolic link appears as its target), each once.
pub fn libxenstore_in_maps(maps: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = maps
        .lines()
        // address perms offset dev inode pathname
        .filter_map(|l| l.split_whitespace().nth(5).map(|_| l))
        .filter_map(|l| l.find('/').map(|i| l[i..].trim_end()))
        .map(|p| p.strip_suffix(" (deleted)").unwrap_or(p))
        .filter(|p| {
            Path::new(p)
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("libxenstore.so"))
        })
        .map(PathBuf::from)
        .collect();
    found.sort();
    found.dedup();
    found
}

/// Starts `argv` (a long-running client) with `env` added, waits until a
/// `libxenstore.so*` file is mapped into it, stops it and returns that file.
fn mapped_by(argv: &[String], env: &[(String, String)], socket: &str) -> Result<PathBuf, String> {
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("XENSTORED_PATH", socket)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", argv[0]))?;
    let found = poll_maps(&mut child);
    let _ = child.kill();
    let _ = child.wait();
    found
}

fn poll_maps(child: &mut Child) -> Result<PathBuf, String> {
    let maps = format!("/proc/{}/maps", child.id());
    let start = Instant::now();
    loop {
        // Before exec the maps are xs-bench's own, which has no libxenstore.
        if let Ok(text) = std::fs::read_to_string(&maps) {
            match libxenstore_in_maps(&text).as_slice() {
                [] => {}
                [one] => return Ok(one.clone()),
                many => {
                    return Err(format!(
                        "{maps}: several libxenstore files mapped: {many:?}"
                    ))
                }
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                let _ = pipe.read_to_string(&mut stderr);
            }
            return Err(format!(
                "the client exited ({status}) before {SONAME} showed in its maps: {}",
                stderr.trim()
            ));
        }
        if start.elapsed() > MAP_TIMEOUT {
            return Err(format!("no {SONAME} in {maps} after {MAP_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// What the check found: the file each run of the C benchmark loaded.
#[derive(Clone, Debug)]
pub struct Checked {
    /// The library of the plain run (the C libxenstore).
    pub c: PathBuf,
    /// The library of the run with `LD_LIBRARY_PATH` at xs-capi's.
    pub capi: PathBuf,
}

/// Runs `argv` (the C benchmark, long enough to be looked at) once plain
/// and once with `capi_env`, and checks that the second loaded
/// `capi_dir/libxenstore.so.4` and the first another file.
pub fn check(
    argv: &[String],
    capi_env: &[(String, String)],
    capi_dir: &Path,
    socket: &str,
) -> Result<Checked, String> {
    let wanted = capi_dir.join(SONAME);
    let ours = wanted
        .canonicalize()
        .map_err(|e| format!("{}: {e}", wanted.display()))?;
    let capi = mapped_by(argv, capi_env, socket)
        .map_err(|e| format!("C benchmark with xs-capi's library: {e}"))?;
    if capi != ours {
        return Err(format!(
            "the C benchmark run with LD_LIBRARY_PATH={} loaded {}, not xs-capi's {}",
            capi_dir.display(),
            capi.display(),
            ours.display()
        ));
    }
    let c =
        mapped_by(argv, &[], socket).map_err(|e| format!("C benchmark with the C library: {e}"))?;
    if c == capi {
        return Err(format!(
            "the C benchmark loaded {} with and without LD_LIBRARY_PATH={}: both clients \
             would measure one library (is LD_LIBRARY_PATH set in the environment, or does \
             {} lead to the C library?)",
            c.display(),
            capi_dir.display(),
            wanted.display()
        ));
    }
    Ok(Checked { c, capi })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
55d0c0a00000-55d0c0a01000 r--p 00000000 fd:01 1234  /work/target/bench/libxenstore_bench
7f1e2a000000-7f1e2a010000 r--p 00000000 fd:01 5678  /work/target/release/libxenstore.so
7f1e2a010000-7f1e2a090000 r-xp 00010000 fd:01 5678  /work/target/release/libxenstore.so
7f1e2b000000-7f1e2b020000 r-xp 00000000 fd:01 91    /usr/lib/x86_64-linux-gnu/libc.so.6
7ffc0a000000-7ffc0a021000 rw-p 00000000 00:00 0     [stack]
7ffc0a100000-7ffc0a101000 rw-p 00000000 00:00 0
";

    #[test]
    fn the_mapped_library_is_found_once_however_many_segments() {
        assert_eq!(
            libxenstore_in_maps(MAPS),
            vec![PathBuf::from("/work/target/release/libxenstore.so")]
        );
    }

    #[test]
    fn a_replaced_file_is_named_without_the_deleted_mark() {
        let maps = "7f00-7f01 r-xp 0 fd:01 7 /usr/lib/libxenstore.so.4.0 (deleted)\n";
        assert_eq!(
            libxenstore_in_maps(maps),
            vec![PathBuf::from("/usr/lib/libxenstore.so.4.0")]
        );
    }

    #[test]
    fn a_process_without_the_library_has_none() {
        let maps = MAPS
            .lines()
            .filter(|l| !l.contains("libxenstore.so"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(libxenstore_in_maps(&maps).is_empty());
    }
}
