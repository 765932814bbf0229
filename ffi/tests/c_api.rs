//! The C and C++ examples, compiled with the system compiler against the shared and the
//! static library, run against a live server: every result code a C caller can get, and a
//! clean run under valgrind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use licet_proto::admin::{CreateProduct, IssueLicense, ProductKind};
use licet_proto::trials::TrialPolicy;
use licet_server::testkit::TestServer;

/// Builds liblicet (shared and static) with the same cargo and profile as this test run,
/// and returns the directory holding it (target/<profile>). Cargo does not build a cdylib
/// or staticlib for a package's own tests, hence the explicit build.
fn lib_dir() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("test path");
            let profile_dir = exe
                .parent()
                .and_then(Path::parent)
                .expect("target/<profile>")
                .to_path_buf();
            let mut cmd = Command::new(env!("CARGO"));
            cmd.args(["build", "-p", "licet-ffi", "--lib"]);
            if profile_dir.file_name().is_some_and(|n| n == "release") {
                cmd.arg("--release");
            }
            let status = cmd.status().expect("cargo runs");
            assert!(status.success(), "cargo build -p licet-ffi failed");
            for name in ["liblicet.so", "liblicet.a"] {
                assert!(
                    profile_dir.join(name).exists(),
                    "{} is missing",
                    profile_dir.join(name).display()
                );
            }
            profile_dir
        })
        .clone()
}

/// Compiles the four example programs once per test run.
fn build_examples(out: &Path) {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let status = Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(&examples)
        .arg(format!("LIBDIR={}", lib_dir().display()))
        .arg(format!("OUT={}", out.display()))
        .status()
        .expect("make runs");
    assert!(
        status.success(),
        "the examples compile with -Wall -Wextra -Werror"
    );
}

struct Env {
    rt: tokio::runtime::Runtime,
    server: TestServer,
    dir: tempfile::TempDir,
    bin: PathBuf,
}

impl Env {
    fn start(seats: u32, configure: impl FnOnce(&mut licet_server::Config)) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("rt");
        let server = rt
            .block_on(TestServer::start_with(configure))
            .expect("server");
        rt.block_on(licet_server::testkit::internals::create_product(
            &server.app,
            &licet_server::testkit::operator(),
            CreateProduct {
                slug: "photo".into(),
                name: "Photo Pro".into(),
                kind: ProductKind::License,
                max_activations: seats,
                license_duration_secs: None,
                token_lifetime_secs: 3600,
                entitlements: vec!["pro".into()],
                metadata: serde_json::json!({}),
                stripe_price_ids: Vec::new(),
                download_limit: 5,
                // Every product here offers a trial; tests that use keys never start one.
                trial: Some(TrialPolicy {
                    duration_secs: 14 * 86_400,
                    entitlements: None,
                }),
                subscription_grace_secs: licet_proto::admin::DEFAULT_SUBSCRIPTION_GRACE_SECS,
                billing_portal_url: None,
            },
        ))
        .expect("product");
        let dir = tempfile::tempdir().expect("dir");
        let jwks = serde_json::to_string(&server.jwks()).expect("jwks");
        std::fs::write(dir.path().join("jwks.json"), jwks).expect("write jwks");
        let bin = dir.path().join("bin");
        build_examples(&bin);
        Self {
            rt,
            server,
            dir,
            bin,
        }
    }

    fn license(&self) -> String {
        self.rt
            .block_on(licet_server::testkit::internals::issue_license(
                &self.server.app,
                &licet_server::testkit::operator(),
                IssueLicense {
                    product: "photo".into(),
                    email: "ada@example.com".into(),
                    expires_at: None,
                    max_activations: None,
                    token_lifetime_secs: None,
                    entitlements: None,
                    metadata: Some([("edition".to_owned(), "studio".to_owned())].into()),
                },
            ))
            .expect("license")
            .key
    }

    fn storage(&self, machine: &str) -> PathBuf {
        self.dir.path().join(format!("store-{machine}"))
    }

    /// Runs a program; returns its output and the `result=` code it printed.
    fn run(&self, program: &str, machine: &str, args: &[&str]) -> (u32, String) {
        self.run_with(program, machine, args, &self.server.url, None)
    }

    fn run_with(
        &self,
        program: &str,
        machine: &str,
        args: &[&str],
        server: &str,
        wrapper: Option<&[&str]>,
    ) -> (u32, String) {
        self.run_pinning(program, machine, args, server, wrapper, &self.jwks_path())
    }

    fn jwks_path(&self) -> PathBuf {
        self.dir.path().join("jwks.json")
    }

    /// `run_with`, with the app pinning the keys in `jwks`.
    fn run_pinning(
        &self,
        program: &str,
        machine: &str,
        args: &[&str],
        server: &str,
        wrapper: Option<&[&str]>,
        jwks: &Path,
    ) -> (u32, String) {
        let target = self.bin.join(program);
        let mut cmd = match wrapper {
            Some(w) => {
                let mut c = Command::new(w[0]);
                c.args(&w[1..]).arg(&target);
                c
            }
            None => Command::new(&target),
        };
        let out: Output = cmd
            .args(args)
            .env("LICET_SERVER", server)
            .env("LICET_PRODUCT", "photo")
            .env("LICET_JWKS", jwks)
            .env("LICET_STORAGE_DIR", self.storage(machine))
            .env("LICET_FINGERPRINT", format!("v1:{machine}"))
            .env("LICET_NO_KEYRING", "1")
            .output()
            .expect("program runs");
        let text = format!(
            "{}{}\nexit={:?}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            out.status.code()
        );
        let code = text
            .split("result=")
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{program} {args:?} printed no result: {text}"));
        (code, text)
    }

    fn lease_file(&self, machine: &str) -> PathBuf {
        self.storage(machine).join("photo.lease.json")
    }
}

/// The system clock moved forward by this many seconds.
#[derive(Debug)]
struct AheadClock(i64);

impl licet::Clock for AheadClock {
    fn now(&self) -> i64 {
        licet::Clock::now(&licet::SystemClock) + self.0
    }
}

const OK: u32 = 0;
const NOT_ACTIVATED: u32 = 1000;
const EXPIRED: u32 = 1001;
const SUSPENDED: u32 = 1002;
const REVOKED: u32 = 1003;
const LIMIT: u32 = 1004;
const CLOCK_TAMPERED: u32 = 1005;
const INVALID_KEY: u32 = 1006;
const INVALID_TOKEN: u32 = 1007;
const FINGERPRINT_MISMATCH: u32 = 1008;
const STATE_TAMPERED: u32 = 1009;
const NETWORK: u32 = 3000;
const SERVER: u32 = 3001;
const RATE_LIMITED: u32 = 3002;
const STORAGE: u32 = 3003;
const TLS: u32 = 3006;
const NOT_FOUND: u32 = 2002;
const TRIAL_EXPIRED: u32 = 1011;

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

/// Serves `upstream` (plain HTTP) over TLS with the test CA's server certificate
/// (`tests/fixtures`: a CA, and a certificate for 127.0.0.1 it signed); returns the port.
fn tls_front(rt: &tokio::runtime::Runtime, upstream: String) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs =
        vec![CertificateDer::from_pem_slice(include_bytes!("fixtures/server.pem")).expect("cert")];
    let key =
        PrivateKeyDer::from_pem_slice(include_bytes!("fixtures/server-key.pem")).expect("key");
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    rt.spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                if let Ok(mut plain) = tokio::net::TcpStream::connect(&upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                }
            });
        }
    });
    port
}

#[test]
fn the_c_api_trusts_a_vendor_root_ca_and_reports_tls_failures_as_such() {
    let env = Env::start(2, |_| {});
    let key = env.license();
    let port = tls_front(
        &env.rt,
        env.server.url.trim_start_matches("http://").to_owned(),
    );
    let url = format!("https://127.0.0.1:{port}");
    // Without the vendor's CA the certificate is not trusted: a TLS failure, not "offline".
    let (code, out) = env.run_with("licet-demo-shared", "t1", &["activate", &key], &url, None);
    assert_eq!(code, TLS, "{out}");
    assert!(
        out.contains(&format!("127.0.0.1:{port}")),
        "names the host: {out}"
    );
    // With it (licet_config_set_root_ca_pem), the same server is trusted.
    let ca = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ca.pem");
    let root = format!("LICET_ROOT_CA={}", ca.display());
    let wrapper = ["env", root.as_str()];
    let (code, out) = env.run_with(
        "licet-demo-shared",
        "t1",
        &["activate", &key],
        &url,
        Some(&wrapper),
    );
    assert_eq!(code, OK, "{out}");
}

#[test]
fn the_c_api_sends_through_a_proxy_and_names_the_machine() {
    let env = Env::start(2, |_| {});
    let key = env.license();
    // A relay that counts connections and pipes them to the server: a plain-HTTP proxy
    // receives absolute-form requests, which the server accepts as they are.
    let upstream = env.server.url.trim_start_matches("http://").to_owned();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let relayed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = relayed.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().map_while(Result::ok) {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let Ok(server) = std::net::TcpStream::connect(&upstream) else {
                continue;
            };
            let (mut c_read, mut s_write) = (
                client.try_clone().expect("clone"),
                server.try_clone().expect("clone"),
            );
            std::thread::spawn(move || std::io::copy(&mut c_read, &mut s_write));
            let (mut s_read, mut c_write) = (server, client);
            std::thread::spawn(move || std::io::copy(&mut s_read, &mut c_write));
        }
    });
    let proxy = format!("LICET_PROXY=http://127.0.0.1:{port}");
    let wrapper = ["env", proxy.as_str(), "LICET_MACHINE_NAME=Ada's laptop"];
    let (code, out) = env.run_with(
        "licet-demo-shared",
        "p1",
        &["activate", &key],
        &env.server.url,
        Some(&wrapper),
    );
    assert_eq!(code, OK, "{out}");
    assert!(
        relayed.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "the request went through the proxy"
    );
    let (code, out) = env.run_with(
        "licet-demo-shared",
        "p1",
        &["whoami"],
        &env.server.url,
        Some(&wrapper),
    );
    assert_eq!(code, OK, "{out}");
    assert!(out.contains("machine: Ada's laptop"), "{out}");
    assert!(
        out.contains(&format!("platform: {}-", std::env::consts::OS)),
        "{out}"
    );
    let seat = env
        .rt
        .block_on(
            env.server
                .store()
                .license_with_activation_now(&key, "v1:p1"),
        )
        .expect("read")
        .expect("the license");
    assert_eq!(seat.act_name.as_deref(), Some("Ada's laptop"));
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
    if Command::new("valgrind").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have valgrind (installed by .ci/run)"
        );
        eprintln!("valgrind not installed; skipped outside CI");
        return;
    }
    let env = Env::start(1, |_| {});
    let key = env.license();
    let valgrind = [
        "valgrind",
        "--quiet",
        "--leak-check=full",
        "--errors-for-leak-kinds=definite",
        "--error-exitcode=99",
    ];
    for args in [
        vec!["selftest"],
        vec!["activate", &key],
        vec!["check"],
        vec!["deactivate"],
    ] {
        let (code, out) = env.run_with(
            "licet-demo-shared",
            "vg",
            &args,
            &env.server.url,
            Some(&valgrind),
        );
        assert_eq!(code, OK, "{args:?}: {out}");
        assert!(
            !out.contains("exit=Some(99)"),
            "valgrind reported errors: {out}"
        );
        assert!(
            !out.contains("Invalid read")
                && !out.contains("Invalid write")
                && !out.contains("definitely lost"),
            "{out}"
        );
    }
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
