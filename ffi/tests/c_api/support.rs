//! The test bench: liblicet and the examples built once, a live server with a product,
//! and the programs run against it with their `result=` code read back.

pub(crate) use std::path::{Path, PathBuf};
pub(crate) use std::process::{Command, Output};

use licet_proto::admin::{CreateProduct, IssueLicense, ProductKind};
use licet_proto::floating::FloatingPolicy;
use licet_proto::trials::TrialPolicy;
use licet_server::testkit::TestServer;

/// Builds liblicet (shared and static) with the same cargo and profile as this test run,
/// and returns the directory holding it (target/<profile>). Cargo does not build a cdylib
/// or staticlib for a package's own tests, hence the explicit build.
pub(crate) fn lib_dir() -> PathBuf {
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
pub(crate) fn build_examples(out: &Path) {
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

pub(crate) struct Env {
    pub(crate) rt: tokio::runtime::Runtime,
    pub(crate) server: TestServer,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) bin: PathBuf,
}

impl Env {
    pub(crate) fn start(seats: u32, configure: impl FnOnce(&mut licet_server::Config)) -> Self {
        Self::launch(seats, None, configure)
    }

    /// [`Env::start`] with `photo` a floating product: `seats` seats held at a time, 2-minute
    /// seat leases, borrows up to a day.
    pub(crate) fn start_floating(seats: u32) -> Self {
        let policy = FloatingPolicy {
            lease_secs: 120,
            max_borrow_secs: 86_400,
        };
        Self::launch(seats, Some(policy), |_| {})
    }

    fn launch(
        seats: u32,
        floating: Option<FloatingPolicy>,
        configure: impl FnOnce(&mut licet_server::Config),
    ) -> Self {
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
                maintenance_secs: None,
                trial_updates: false,
                floating,
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

    pub(crate) fn license(&self) -> String {
        self.license_with_updates_until(None)
    }

    /// A license whose updates end at `updates_until` (`None`: with its expiry, here never).
    pub(crate) fn license_with_updates_until(&self, updates_until: Option<i64>) -> String {
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
                    updates_until,
                },
            ))
            .expect("license")
            .key
    }

    /// An admin API request with the server's admin token: a JSON body, or a file's bytes;
    /// the JSON answer of a success.
    pub(crate) fn admin(&self, path: &str, body: Body) -> serde_json::Value {
        self.rt.block_on(async {
            let req = reqwest::Client::new()
                .post(self.server.url(path))
                .bearer_auth(&self.server.admin_token);
            let req = match body {
                Body::Json(value) => req.json(&value),
                Body::File(bytes) => req
                    .header("content-type", "application/octet-stream")
                    .body(bytes),
            };
            let res = req.send().await.expect("admin request");
            assert!(res.status().is_success(), "{path}: {}", res.status());
            res.json().await.expect("json")
        })
    }

    /// A release of `photo` with one file per `(platform, bytes)`, published with `publish`
    /// (`{}`: now; `{"published_at": t}`: backdated); its id. Notes: "What is new in <version>".
    pub(crate) fn release(
        &self,
        version: &str,
        channel: &str,
        files: &[(&str, &[u8])],
        publish: serde_json::Value,
    ) -> String {
        let draft = self.admin(
            "/v1/admin/products/photo/releases",
            Body::Json(serde_json::json!({ "version": version, "channel": channel,
                                           "notes": format!("What is new in {version}") })),
        );
        let id = draft["id"].as_str().expect("release id").to_owned();
        for (platform, bytes) in files {
            self.admin(
                &format!("/v1/admin/releases/{id}/artifacts?platform={platform}&name=Photo.bin"),
                Body::File(bytes.to_vec()),
            );
        }
        self.admin(
            &format!("/v1/admin/releases/{id}/publish"),
            Body::Json(publish),
        );
        id
    }

    /// Where the server keeps the file with this SHA-256 (its local blob store).
    pub(crate) fn blob_path(&self, sha256: &str) -> PathBuf {
        self.server
            .data_dir()
            .join("files")
            .join(&sha256[..2])
            .join(sha256)
    }

    pub(crate) fn storage(&self, machine: &str) -> PathBuf {
        self.dir.path().join(format!("store-{machine}"))
    }

    /// Runs a program; returns its output and the `result=` code it printed.
    pub(crate) fn run(&self, program: &str, machine: &str, args: &[&str]) -> (u32, String) {
        self.run_with(program, machine, args, &self.server.url, None)
    }

    pub(crate) fn run_with(
        &self,
        program: &str,
        machine: &str,
        args: &[&str],
        server: &str,
        wrapper: Option<&[&str]>,
    ) -> (u32, String) {
        self.run_pinning(program, machine, args, server, wrapper, &self.jwks_path())
    }

    pub(crate) fn jwks_path(&self) -> PathBuf {
        self.dir.path().join("jwks.json")
    }

    /// `run_with`, with the app pinning the keys in `jwks`.
    pub(crate) fn run_pinning(
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
        let out: Output = self
            .environment(&mut cmd, machine, server, jwks)
            .args(args)
            .output()
            .expect("program runs");
        let text = format!(
            "{}{}\nexit={:?}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            out.status.code()
        );
        let code = result_of(&text)
            .unwrap_or_else(|| panic!("{program} {args:?} printed no result: {text}"));
        (code, text)
    }

    /// `program` as machine `machine` against this server, to start and talk to while it
    /// runs (`run` waits for it to end).
    pub(crate) fn command(&self, program: &str, machine: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(program));
        self.environment(&mut cmd, machine, &self.server.url, &self.jwks_path());
        cmd
    }

    /// The environment the example programs read their configuration from.
    fn environment<'c>(
        &self,
        cmd: &'c mut Command,
        machine: &str,
        server: &str,
        jwks: &Path,
    ) -> &'c mut Command {
        cmd.env("LICET_SERVER", server)
            .env("LICET_PRODUCT", "photo")
            .env("LICET_JWKS", jwks)
            .env("LICET_STORAGE_DIR", self.storage(machine))
            .env("LICET_FINGERPRINT", format!("v1:{machine}"))
            .env("LICET_NO_KEYRING", "1")
    }

    /// Runs the shared C example under `valgrind` with each of `commands` in turn, as
    /// machine `machine`; each must succeed with nothing for valgrind to report.
    pub(crate) fn run_clean_under_valgrind(
        &self,
        valgrind: &[&str],
        machine: &str,
        commands: &[Vec<&str>],
    ) {
        for args in commands {
            let (code, out) = self.run_with(
                "licet-demo-shared",
                machine,
                args,
                &self.server.url,
                Some(valgrind),
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

    pub(crate) fn lease_file(&self, machine: &str) -> PathBuf {
        self.storage(machine).join("photo.lease.json")
    }
}

/// The first `result=` code a program printed.
pub(crate) fn result_of(text: &str) -> Option<u32> {
    text.split("result=")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
}

/// The body of an admin request.
pub(crate) enum Body {
    Json(serde_json::Value),
    File(Vec<u8>),
}

/// The valgrind command line the C tests run programs under, or `None` where valgrind is
/// not installed (outside CI only: CI must have it).
pub(crate) fn valgrind() -> Option<[&'static str; 5]> {
    if Command::new("valgrind").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have valgrind (installed by .ci/run)"
        );
        eprintln!("valgrind not installed; skipped outside CI");
        return None;
    }
    Some([
        "valgrind",
        "--quiet",
        "--leak-check=full",
        "--errors-for-leak-kinds=definite",
        "--error-exitcode=99",
    ])
}

/// The system clock moved forward by this many seconds.
#[derive(Debug)]
pub(crate) struct AheadClock(pub(crate) i64);

impl licet::Clock for AheadClock {
    fn now(&self) -> i64 {
        licet::Clock::now(&licet::SystemClock) + self.0
    }
}

pub(crate) const OK: u32 = 0;
pub(crate) const NOT_ACTIVATED: u32 = 1000;
pub(crate) const EXPIRED: u32 = 1001;
pub(crate) const SUSPENDED: u32 = 1002;
pub(crate) const REVOKED: u32 = 1003;
pub(crate) const LIMIT: u32 = 1004;
pub(crate) const CLOCK_TAMPERED: u32 = 1005;
pub(crate) const INVALID_KEY: u32 = 1006;
pub(crate) const INVALID_TOKEN: u32 = 1007;
pub(crate) const FINGERPRINT_MISMATCH: u32 = 1008;
pub(crate) const STATE_TAMPERED: u32 = 1009;
pub(crate) const NETWORK: u32 = 3000;
pub(crate) const SERVER: u32 = 3001;
pub(crate) const RATE_LIMITED: u32 = 3002;
pub(crate) const STORAGE: u32 = 3003;
pub(crate) const TLS: u32 = 3006;
pub(crate) const NOT_FOUND: u32 = 2002;
pub(crate) const TRIAL_EXPIRED: u32 = 1011;
pub(crate) const NO_FREE_SEAT: u32 = 1013;
pub(crate) const RELEASE_NOT_FOUND: u32 = 4000;
pub(crate) const UPDATE_NOT_ALLOWED: u32 = 4002;
pub(crate) const UPDATE_VERIFICATION: u32 = 4003;
