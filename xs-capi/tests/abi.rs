//! The library's ABI as the dynamic linker sees it: SONAME, and exactly the
//! symbols of Xen's `libxenstore.map` under their version nodes, with every
//! symbol of Debian's C library (Xen 4.17) at the same version.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::lib_dir;

/// Defined dynamic symbols of `lib`: name -> version node.
fn exports(lib: &Path) -> BTreeMap<String, String> {
    let out = Command::new("objdump")
        .arg("-T")
        .arg(lib)
        .output()
        .expect("objdump (binutils)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(" g ") && !l.contains("*UND*") && !l.contains("*ABS*"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let name = f.last()?.to_string();
            let version = f.get(f.len().checked_sub(2)?)?.to_string();
            Some((name, version))
        })
        .collect()
}

#[test]
fn soname_is_libxenstore_so_4() {
    let lib = lib_dir().join("libxenstore.so.4");
    let out = Command::new("readelf")
        .arg("-d")
        .arg(&lib)
        .output()
        .expect("readelf");
    let dynamic = String::from_utf8_lossy(&out.stdout);
    assert!(
        dynamic.contains("Library soname: [libxenstore.so.4]"),
        "{dynamic}"
    );
}

#[test]
fn exports_exactly_the_map_with_its_versions() {
    let ours = exports(&lib_dir().join("libxenstore.so.4"));
    let count = |v: &str| ours.values().filter(|x| *x == v).count();
    assert_eq!(
        (count("VERS_4.0"), count("VERS_4.1"), count("VERS_4.2")),
        (37, 3, 7)
    );
    assert_eq!(ours.len(), 47, "nothing else leaves the library: {ours:?}");
    for (name, v) in [
        ("xs_open", "VERS_4.0"),
        ("xs_strings_to_perms", "VERS_4.0"),
        ("xs_get_features_domain", "VERS_4.1"),
        ("xs_watch_try_depth", "VERS_4.2"),
    ] {
        assert_eq!(ours.get(name).map(String::as_str), Some(v), "{name}");
    }
}

#[test]
fn every_symbol_of_the_c_library_is_there_at_its_version() {
    let c = exports(Path::new("/usr/lib/x86_64-linux-gnu/libxenstore.so.4"));
    assert!(c.len() >= 37, "Debian's libxenstore4 is required: {c:?}");
    let ours = exports(&lib_dir().join("libxenstore.so.4"));
    for (name, version) in &c {
        assert_eq!(ours.get(name), Some(version), "{name}");
    }
}
