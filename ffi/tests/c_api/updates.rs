//! Updates from C and C++: the examples' `update` and `download-update` commands against a
//! live server with releases published, what the license does not cover, and a download
//! refused when the bytes are not the vendor's.

use serde_json::json;

use crate::support::*;

const DAY: i64 = 86_400;

/// This machine's platform, which the examples' update checks ask for.
fn own() -> String {
    licet::fingerprint::update_platform()
}

/// The bytes of a version's file (~60 KB: many progress reports).
fn bytes_of(version: &str) -> Vec<u8> {
    format!("Photo {version}. ").repeat(4000).into_bytes()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `.part` files left in `dir`.
fn partial_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn the_c_and_cpp_examples_say_what_is_new_and_what_the_license_does_not_cover() {
    let env = Env::start(2, |_| {});
    let everything = env.license();
    let c = "licet-demo-shared";
    assert_eq!(env.run(c, "c", &["activate", &everything]).0, OK);
    let (code, out) = env.run(c, "c", &["update", "1.0.0"]);
    assert_eq!(code, RELEASE_NOT_FOUND, "nothing published yet: {out}");

    let now = env.server.clock_now();
    env.release(
        "1.1.0",
        "stable",
        &[(&own(), &bytes_of("1.1.0"))],
        json!({ "published_at": now - 20 * DAY }),
    );
    env.release(
        "2.0.0",
        "stable",
        &[(&own(), &bytes_of("2.0.0"))],
        json!({}),
    );
    env.release(
        "2.1.0-beta.1",
        "beta",
        &[(&own(), &bytes_of("2.1.0-beta.1"))],
        json!({}),
    );

    for (program, machine) in [(c, "c"), ("licet-demo-cpp-shared", "cpp")] {
        if machine == "cpp" {
            assert_eq!(env.run(program, machine, &["activate", &everything]).0, OK);
        }
        let (code, out) = env.run(program, machine, &["update", "1.0.0"]);
        assert_eq!(code, OK, "{out}");
        assert!(
            out.contains("Update 2.0.0 available (stable channel"),
            "{out}"
        );
        assert!(out.contains("notes: What is new in 2.0.0"), "{out}");
        let (code, out) = env.run(program, machine, &["update", "2.0.0"]);
        assert_eq!(code, OK, "{out}");
        assert!(out.contains("up to date"), "{out}");
        let (code, out) = env.run(program, machine, &["update", "2.0.0", "beta"]);
        assert_eq!(code, OK, "{out}");
        assert!(
            out.contains("Update 2.1.0-beta.1 available (beta channel"),
            "{out}"
        );
    }

    // A perpetual license whose maintenance ended ten days ago: 1.1.0 is its, 2.0.0 not.
    let lapsed = env.license_with_updates_until(Some(now - 10 * DAY));
    assert_eq!(env.run(c, "old", &["activate", &lapsed]).0, OK);
    let (code, out) = env.run(c, "old", &["update", "1.0.0"]);
    assert_eq!(code, OK, "{out}");
    assert!(out.contains("Update 1.1.0 available"), "{out}");
    assert!(
        out.contains(
            "2.0.0 is available too but your license does not cover it (your updates ended"
        ),
        "{out}"
    );
    let (code, out) = env.run(c, "old", &["update", "1.1.0"]);
    assert_eq!(code, OK, "{out}");
    assert!(
        out.contains("2.0.0 is available but your license does not cover it"),
        "{out}"
    );
    let path = env.dir.path().join("Photo-old.bin");
    let (code, out) = env.run(
        c,
        "old",
        &["download-update", "1.1.0", path.to_str().expect("utf-8")],
    );
    assert_eq!(code, UPDATE_NOT_ALLOWED, "{out}");
    assert!(!path.exists());
    let (code, out) = env.run("licet-demo-cpp-shared", "old", &["update", "1.1.0"]);
    assert_eq!(code, OK, "{out}");
    assert!(
        out.contains("2.0.0 is available but your license does not cover it"),
        "{out}"
    );
}

#[test]
fn the_c_and_cpp_examples_download_updates_verified() {
    let env = Env::start(4, |_| {});
    let key = env.license();
    let expected = bytes_of("1.1.0");
    env.release("1.1.0", "stable", &[(&own(), &expected)], json!({}));
    for (program, machine) in [
        ("licet-demo-shared", "c-shared"),
        ("licet-demo-static", "c-static"),
        ("licet-demo-cpp-shared", "cpp-shared"),
    ] {
        assert_eq!(env.run(program, machine, &["activate", &key]).0, OK);
        let path = env.dir.path().join(format!("Photo-{machine}.bin"));
        let (code, out) = env.run(
            program,
            machine,
            &["download-update", "1.0.0", path.to_str().expect("utf-8")],
        );
        assert_eq!(code, OK, "{out}");
        let total = expected.len();
        assert!(
            out.contains(&format!("downloading: {total} of {total} bytes")),
            "progress reaches the end: {out}"
        );
        assert_eq!(std::fs::read(&path).expect("downloaded"), expected);
    }

    // One flipped byte in the stored file: the download is refused and nothing lands.
    let blob = env.blob_path(&sha256_hex(&expected));
    let mut stored = std::fs::read(&blob).expect("stored file");
    stored[expected.len() / 2] ^= 0x01;
    std::fs::write(&blob, &stored).expect("tamper");
    assert_eq!(
        env.run("licet-demo-shared", "late", &["activate", &key]).0,
        OK
    );
    let path = env.dir.path().join("Photo-late.bin");
    let (code, out) = env.run(
        "licet-demo-shared",
        "late",
        &["download-update", "1.0.0", path.to_str().expect("utf-8")],
    );
    assert_eq!(code, UPDATE_VERIFICATION, "{out}");
    assert!(out.contains("SHA-256"), "the detail says why: {out}");
    assert!(!path.exists());
    assert_eq!(partial_files(env.dir.path()), 0);
}

#[test]
fn the_c_example_checks_and_downloads_updates_clean_under_valgrind() {
    let Some(valgrind) = valgrind() else {
        return;
    };
    let env = Env::start(1, |_| {});
    let key = env.license();
    let expected = bytes_of("1.1.0");
    env.release("1.1.0", "stable", &[(&own(), &expected)], json!({}));
    let path = env.dir.path().join("Photo.bin");
    let path = path.to_str().expect("utf-8");
    env.run_clean_under_valgrind(
        &valgrind,
        "vg",
        &[
            vec!["activate", &key],
            vec!["update", "1.0.0"],
            vec!["update", "1.1.0"],
            vec!["download-update", "1.0.0", path],
        ],
    );
    assert_eq!(std::fs::read(path).expect("downloaded"), expected);
}
