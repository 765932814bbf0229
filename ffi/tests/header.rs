//! The committed `include/licet.h` is exactly what the pinned cbindgen generates from the
//! sources. Regenerate with `LICET_UPDATE_HEADER=1 cargo test -p licet-ffi --test header`
//! (or `cbindgen --config ffi/cbindgen.toml --output include/licet.h ffi` with cbindgen 0.29.4).

#[test]
fn committed_header_matches_a_fresh_generation() {
    let crate_dir = env!("CARGO_MANIFEST_DIR");
    let config =
        cbindgen::Config::from_file(format!("{crate_dir}/cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut fresh = Vec::new();
    bindings.write(&mut fresh);
    let path = format!("{crate_dir}/../include/licet.h");
    if std::env::var_os("LICET_UPDATE_HEADER").is_some() {
        std::fs::write(&path, &fresh).expect("write header");
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "include/licet.h differs from what cbindgen generates; regenerate it: \
         LICET_UPDATE_HEADER=1 cargo test -p licet-ffi --test header"
    );
}
