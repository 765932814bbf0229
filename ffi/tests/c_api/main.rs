//! The C and C++ examples, compiled with the system compiler against the shared and the
//! static library, run against a live server: every result code a C caller can get,
//! floating seats, and a clean run under valgrind.

mod floating;
mod network;
mod offline;
mod support;
mod updates;

use support::*;

#[test]
fn the_c_api_shows_the_key_masked_or_in_full_and_forgets_locally() {
    let env = Env::start(2, |_| {});
    let key = env.license();
    let c = "licet-demo-shared";
    let (code, out) = env.run(c, "k1", &["key"]);
    assert_eq!(code, OK, "{out}");
    assert!(
        out.contains("masked: \n") || out.contains("masked: \r\n"),
        "empty before activation: {out}"
    );
    assert_eq!(env.run(c, "k1", &["activate", &key]).0, OK);
    let (code, out) = env.run(c, "k1", &["key"]);
    assert_eq!(code, OK, "{out}");
    let prefix = key.split('-').next().expect("prefix");
    let last = key.rsplit('-').next().expect("last group");
    assert!(
        out.contains(&format!("masked: {prefix}-*****-*****-*****-*****-{last}")),
        "{out}"
    );
    assert!(out.contains(&format!("full: {key}")), "{out}");
    let (code, out) = env.run(c, "k1", &["last"]);
    assert_eq!(code, OK, "{out}");
    assert!(
        out.contains("product: photo"),
        "the stored lease's license: {out}"
    );
    // Forgetting is local: the key and lease are gone here, the seat stays taken.
    assert_eq!(env.run(c, "k1", &["forget"]).0, OK);
    let (code, out) = env.run(c, "k1", &["last"]);
    assert_eq!(code, OK, "{out}");
    assert!(out.contains("no stored lease"), "{out}");
    assert_eq!(env.run(c, "k1", &["check"]).0, NOT_ACTIVATED);
    assert_eq!(env.run(c, "k2", &["activate", &key]).0, OK);
    assert_eq!(
        env.run(c, "k3", &["activate", &key]).0,
        LIMIT,
        "k1 still holds a seat"
    );
}

#[test]
fn the_c_and_cpp_examples_activate_check_offline_and_deactivate() {
    let mut env = Env::start(2, |_| {});
    let key = env.license();
    for (program, machine) in [
        ("licet-demo-shared", "c-shared"),
        ("licet-demo-static", "c-static"),
        ("licet-demo-cpp-shared", "cpp-shared"),
        ("licet-demo-cpp-static", "cpp-static"),
    ] {
        let (code, out) = env.run(program, machine, &["check"]);
        assert_eq!(code, NOT_ACTIVATED, "{out}");
        let cpp = program.contains("cpp");
        if cpp {
            // include/licet.hpp's non-throwing check.
            let (code, out) = env.run(program, machine, &["try-check"]);
            assert_eq!(code, NOT_ACTIVATED, "{out}");
            assert!(out.contains("license state"), "{out}");
        }
        let (code, out) = env.run(program, machine, &["activate", &key]);
        assert_eq!(code, OK, "{out}");
        assert!(out.contains("pro"), "{out}");
        if program.starts_with("licet-demo-s") {
            // The C example prints the license's getters.
            assert!(out.contains("product: photo"), "{out}");
            assert!(out.contains("seats: 2"), "{out}");
            assert!(out.contains("seats in use: "), "{out}");
            assert!(out.contains("lease signed at: 1"), "{out}");
            assert!(out.contains("metadata edition: studio"), "{out}");
        }
        if cpp {
            let (code, out) = env.run(program, machine, &["try-check"]);
            assert_eq!(code, OK, "{out}");
            assert!(out.contains("(photo, 2 seats)"), "{out}");
            assert!(out.contains("edition: studio"), "{out}");
            assert!(out.contains("metadata edition: studio"), "{out}");
            let (code, out) = env.run(program, machine, &["key"]);
            assert_eq!(code, OK, "{out}");
            assert!(out.contains("-*****-*****-*****-*****-"), "masked: {out}");
        }
        // Offline: the server is down, the lease still holds.
        env.rt.block_on(env.server.stop());
        let (code, out) = env.run(program, machine, &["check"]);
        assert_eq!(code, OK, "offline check: {out}");
        env.rt.block_on(env.server.restart()).expect("restart");
        let (code, out) = env.run(program, machine, &["deactivate"]);
        assert_eq!(code, OK, "{out}");
        let (code, _) = env.run(program, machine, &["check"]);
        assert_eq!(code, NOT_ACTIVATED);
    }
}

#[test]
fn the_c_and_cpp_examples_offer_a_trial_on_first_run() {
    let env = Env::start(1, |_| {});
    let key = env.license();
    for (program, machine) in [
        ("licet-demo-shared", "trial-c"),
        ("licet-demo-cpp-shared", "trial-cpp"),
    ] {
        let (code, out) = env.run(program, machine, &["check"]);
        assert_eq!(code, NOT_ACTIVATED, "{out}");
        if !program.contains("cpp") {
            assert!(
                out.contains("Start trial") && out.contains("Enter key"),
                "{out}"
            );
        }
        let (code, out) = env.run(program, machine, &["trial"]);
        assert_eq!(code, OK, "{out}");
        assert!(out.contains("trial ends at: 1"), "{out}");
        // Offline-first, like a license.
        let (code, out) = env.run(program, machine, &["check"]);
        assert_eq!(code, OK, "{out}");
        assert!(out.contains("trial ends at: 1"), "{out}");
    }
    // A key takes over from the trial.
    let (code, out) = env.run("licet-demo-shared", "trial-c", &["activate", &key]);
    assert_eq!(code, OK, "{out}");
    assert!(!out.contains("trial ends at"), "{out}");

    // Fifteen days on, the trial of the other machine is over for good.
    env.server.clock.advance(15 * 86_400);
    std::fs::remove_dir_all(env.storage("trial-cpp")).expect("reinstall");
    let (code, out) = env.run("licet-demo-shared", "trial-cpp", &["trial"]);
    assert_eq!(code, TRIAL_EXPIRED, "{out}");
    let (code, out) = env.run("licet-demo-shared", "trial-cpp", &["check"]);
    assert_eq!(code, TRIAL_EXPIRED, "the verdict is kept: {out}");
    assert!(out.contains("Enter key"), "{out}");
}

#[test]
fn every_result_code_a_c_caller_can_get() {
    let mut env = Env::start(1, |_| {});
    let c = "licet-demo-shared";
    let (code, out) = env.run(c, "x", &["selftest"]);
    assert_eq!(
        code, OK,
        "selftest covers INVALID_ARGUMENT, BUFFER_TOO_SMALL and CONFIG: {out}"
    );

    let key = env.license();
    assert_eq!(
        env.run(
            c,
            "m1",
            &["activate", "PHOTO-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA"]
        )
        .0,
        INVALID_KEY
    );
    assert_eq!(env.run(c, "m1", &["activate", &key]).0, OK);
    assert_eq!(env.run(c, "m2", &["activate", &key]).0, LIMIT);
    let (code, out) = env.run(c, "m1", &["entitled", "pro"]);
    assert_eq!(code, OK);
    assert!(out.contains("pro: yes"), "{out}");
    let (code, out) = env.run(c, "m1", &["meta", "edition"]);
    assert_eq!(code, OK, "{out}");
    assert!(out.contains("edition = studio"), "{out}");
    let (code, out) = env.run(c, "m1", &["meta", "crm_id"]);
    assert_eq!(code, NOT_FOUND, "{out}");
    assert!(
        out.contains("licet_license_metadata"),
        "the detail names the function: {out}"
    );

    // A lease copied to another machine.
    std::fs::create_dir_all(env.storage("m3")).expect("dir");
    std::fs::copy(env.lease_file("m1"), env.lease_file("m3")).expect("copy");
    assert_eq!(env.run(c, "m3", &["check"]).0, FINGERPRINT_MISMATCH);

    // An edited lease file (here, a tampered signature): its seal no longer verifies.
    let lease = std::fs::read_to_string(env.lease_file("m1")).expect("lease");
    let mut cache: serde_json::Value = serde_json::from_str(&lease).expect("json");
    let token = cache["state"]["token"].as_str().expect("token").to_owned();
    let forged = format!("{}AAAA", &token[..token.len() - 4]);
    cache["state"]["token"] = forged.into();
    std::fs::create_dir_all(env.storage("m4")).expect("dir");
    std::fs::write(env.lease_file("m4"), cache.to_string()).expect("write");
    assert_eq!(env.run(c, "m4", &["check"]).0, STATE_TAMPERED);

    // A stored token signed by a key the app does not pin (an app update dropped it).
    let (code, out) = env.run_pinning(
        c,
        "m1",
        &["check"],
        &env.server.url,
        None,
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../client-sdk/tests/fixtures/example-jwks.json"),
    );
    assert_eq!(code, INVALID_TOKEN, "{out}");

    // Trusted time half an hour ahead of the clock: the clock was set back since. The lease
    // is stored by the Rust SDK running on a clock that is ahead, so it is sealed like any.
    let jwks = std::fs::read_to_string(env.jwks_path()).expect("jwks");
    licet::Client::builder(&env.server.url, "photo")
        .pinned_jwks(&jwks)
        .expect("jwks")
        .storage_dir(env.storage("m5"))
        .use_keyring(false)
        .fingerprint_override("v1:m5")
        .clock(std::sync::Arc::new(AheadClock(1800)))
        .build()
        .expect("client")
        .activate(&env.license())
        .expect("activates on a clock that is ahead");
    env.rt.block_on(env.server.stop());
    let (code, out) = env.run(c, "m5", &["check"]);
    assert_eq!(code, CLOCK_TAMPERED, "{out}");
    assert_eq!(env.run(c, "m1", &["validate"]).0, NETWORK);
    env.rt.block_on(env.server.restart()).expect("restart");

    // Verdicts from the server.
    let app = env.server.app.clone();
    let change = |change| {
        env.rt
            .block_on(licet_server::testkit::internals::change_status(
                &app,
                &licet_server::testkit::operator(),
                &key,
                change,
            ))
            .expect("status change");
    };
    change(licet_server::testkit::internals::StatusChange::Suspend);
    assert_eq!(env.run(c, "m1", &["validate"]).0, SUSPENDED);
    change(licet_server::testkit::internals::StatusChange::Reinstate);
    assert_eq!(env.run(c, "m1", &["validate"]).0, OK);
    env.rt
        .block_on(licet_server::testkit::internals::extend(
            &app,
            &licet_server::testkit::operator(),
            &key,
            licet_proto::admin::ExtendLicense {
                expires_at: Some(env.server.clock_now() - 1),
            },
        ))
        .expect("extend");
    assert_eq!(env.run(c, "m1", &["validate"]).0, EXPIRED);
    change(licet_server::testkit::internals::StatusChange::Revoke);
    assert_eq!(env.run(c, "m1", &["validate"]).0, REVOKED);

    // Not a Licet server at that URL.
    let bogus = format!("{}/not-licet", env.server.url);
    assert_eq!(
        env.run_with(c, "m6", &["activate", &key], &bogus, None).0,
        SERVER
    );

    // Storage that cannot be written (a file where the directory should be).
    let blocked = env.dir.path().join("blocked");
    std::fs::write(&blocked, b"not a directory").expect("write");
    std::fs::create_dir_all(env.storage("m7")).expect("dir");
    let key2 = env.license();
    let out = Command::new(env.bin.join(c))
        .args(["activate", &key2])
        .env("LICET_SERVER", &env.server.url)
        .env("LICET_JWKS", env.dir.path().join("jwks.json"))
        .env("LICET_STORAGE_DIR", blocked.join("sub"))
        .env("LICET_FINGERPRINT", "v1:m7")
        .env("LICET_NO_KEYRING", "1")
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("result={STORAGE}")));
}

#[test]
fn rate_limits_reach_c_callers_as_their_own_code() {
    let env = Env::start(1, |c| c.rate_limit_per_key = 2);
    // Start at the beginning of a one-minute window, so the three requests share one.
    env.server
        .clock
        .advance(60 - env.server.clock_now().rem_euclid(60));
    for _ in 0..2 {
        assert_eq!(
            env.run(
                "licet-demo-shared",
                "r",
                &["activate", "PHOTO-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA"]
            )
            .0,
            INVALID_KEY
        );
    }
    assert_eq!(
        env.run(
            "licet-demo-shared",
            "r",
            &["activate", "PHOTO-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA"]
        )
        .0,
        RATE_LIMITED
    );
}

#[test]
fn the_c_example_runs_clean_under_valgrind() {
    let Some(valgrind) = valgrind() else {
        return;
    };
    let env = Env::start(1, |_| {});
    let key = env.license();
    env.run_clean_under_valgrind(
        &valgrind,
        "vg",
        &[
            vec!["selftest"],
            vec!["activate", &key],
            vec!["check"],
            vec!["deactivate"],
        ],
    );
}

#[test]
fn the_installed_library_builds_apps_with_pkg_config_and_cmake() {
    let ci = std::env::var_os("CI").is_some();
    let have = |tool: &str| Command::new(tool).arg("--version").output().is_ok();
    if !have("pkg-config") {
        assert!(!ci, "CI must have pkg-config (installed by .ci/run)");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let prefix = tempfile::tempdir().expect("prefix");
    let p = prefix.path();
    let status = Command::new(root.join("scripts/install-c"))
        .arg("--prefix")
        .arg(p)
        .arg("--from")
        .arg(lib_dir())
        .status()
        .expect("install-c runs");
    assert!(
        status.success(),
        "scripts/install-c installs into a fresh prefix"
    );

    // The shared library carries its SONAME, and the names point at the versioned file.
    let lib = p.join("lib");
    let version = env!("CARGO_PKG_VERSION");
    let major = version.split('.').next().expect("major");
    assert!(lib.join(format!("liblicet.so.{version}")).is_file());
    for (link, target) in [
        (
            format!("liblicet.so.{major}"),
            format!("liblicet.so.{version}"),
        ),
        ("liblicet.so".to_owned(), format!("liblicet.so.{version}")),
    ] {
        let resolved = std::fs::canonicalize(lib.join(&link)).expect("link resolves");
        assert_eq!(
            resolved.file_name().expect("name"),
            target.as_str(),
            "{link}"
        );
    }
    if have("readelf") {
        let dynamic = Command::new("readelf")
            .arg("-d")
            .arg(lib.join("liblicet.so"))
            .output()
            .expect("readelf");
        let text = String::from_utf8_lossy(&dynamic.stdout);
        assert!(
            text.contains(&format!("[liblicet.so.{major}]")),
            "SONAME: {text}"
        );
    }
    for header in ["licet.h", "licet.hpp"] {
        assert!(p.join("include").join(header).is_file(), "{header}");
    }

    // pkg-config: the C example builds with its flags and runs.
    let out = p.join("bin");
    let status = Command::new("make")
        .args(["-s", "-C"])
        .arg(root.join("examples"))
        .arg(format!("OUT={}", out.display()))
        .arg("pkgconfig")
        .env("PKG_CONFIG_PATH", lib.join("pkgconfig"))
        .status()
        .expect("make");
    assert!(
        status.success(),
        "the example builds with pkg-config's flags"
    );
    let printed = Command::new(out.join("licet-demo-pkgconfig"))
        .arg("version")
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&printed.stdout).contains(version));

    // CMake: find_package(licet) gives licet::licet and licet::licet_static.
    if !have("cmake") {
        assert!(!ci, "CI must have cmake (installed by .ci/run)");
        return;
    }
    let build = p.join("cmake-build");
    let configure = Command::new("cmake")
        .arg("-S")
        .arg(root.join("examples/cmake"))
        .arg("-B")
        .arg(&build)
        .arg(format!("-DCMAKE_PREFIX_PATH={}", p.display()))
        .output()
        .expect("cmake configure");
    assert!(
        configure.status.success(),
        "{}",
        String::from_utf8_lossy(&configure.stderr)
    );
    let built = Command::new("cmake")
        .arg("--build")
        .arg(&build)
        .output()
        .expect("cmake build");
    assert!(
        built.status.success(),
        "{}{}",
        String::from_utf8_lossy(&built.stdout),
        String::from_utf8_lossy(&built.stderr)
    );
    for program in ["licet-demo-cmake", "licet-demo-cmake-static"] {
        let printed = Command::new(build.join(program))
            .arg("version")
            .output()
            .expect("runs");
        assert!(
            String::from_utf8_lossy(&printed.stdout).contains(version),
            "{program}"
        );
    }
    assert!(build.join("licet-demo-cmake-cpp").is_file());
}
