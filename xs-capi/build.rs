//! Links `libxenstore.so` the way the C library is linked: SONAME
//! `libxenstore.so.4`, and every symbol under its version node from
//! `libxenstore.map` (VERS_4.0, VERS_4.1, VERS_4.2).
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rerun-if-changed=libxenstore.map");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libxenstore.so.4");
    println!("cargo:rustc-cdylib-link-arg=-Wl,--version-script={dir}/libxenstore.map");
}
