//! The example app's `update` command against a real server: it says what is new, asks
//! before downloading (or not, with `--yes`), and lands the verified file.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use licet_server::testkit::TestServer;
use serde_json::{Value, json};

struct Env {
    rt: tokio::runtime::Runtime,
    server: TestServer,
    dir: tempfile::TempDir,
}

impl Env {
    fn start() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let server = rt.block_on(TestServer::start()).expect("server");
        let dir = tempfile::tempdir().expect("dir");
        let jwks = serde_json::to_string(&server.jwks()).expect("jwks");
        std::fs::write(dir.path().join("jwks.json"), jwks).expect("write jwks");
        Self { rt, server, dir }
    }

    /// A POST to the admin API: a JSON body or a file's bytes; the JSON answer.
    fn admin(&self, path: &str, json: Option<Value>, file: Option<&[u8]>) -> Value {
        self.rt.block_on(async {
            let mut req = reqwest::Client::new()
                .post(self.server.url(path))
                .bearer_auth(&self.server.admin_token);
            if let Some(body) = json {
                req = req.json(&body);
            }
            if let Some(bytes) = file {
                req = req.body(bytes.to_vec());
            }
            let res = req.send().await.expect("admin request");
            assert!(res.status().is_success(), "{path}: {}", res.status());
            res.json().await.expect("json")
        })
    }

    /// Runs the example app with `args` (and `stdin`), configured for this server.
    fn app(&self, args: &[&str], stdin: &str) -> (Output, String, String) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_licet-example"))
            .args(args)
            .current_dir(self.dir.path())
            .env("LICET_SERVER", &self.server.url)
            .env("LICET_PRODUCT", "photo")
            .env("LICET_JWKS", self.dir.path().join("jwks.json"))
            .env("LICET_STORAGE_DIR", self.dir.path().join("store"))
            .env("LICET_FINGERPRINT", "v1:cli-machine")
            .env("LICET_NO_KEYRING", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runs");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("answer");
        let out = child.wait_with_output().expect("finishes");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        (out, stdout, stderr)
    }
}

#[test]
fn the_example_app_offers_the_update_and_downloads_it_verified() {
    let env = Env::start();
    env.admin(
        "/v1/admin/products",
        Some(
            json!({ "slug": "photo", "name": "Photo Pro", "max_activations": 1,
                     "entitlements": ["pro"] }),
        ),
        None,
    );
    let key = env.admin(
        "/v1/admin/licenses",
        Some(json!({ "product": "photo", "email": "ada@example.com" })),
        None,
    )["key"]
        .as_str()
        .expect("key")
        .to_owned();
    let bytes = "Photo 1.3.0. ".repeat(5000).into_bytes();
    let release = env.admin(
        "/v1/admin/products/photo/releases",
        Some(json!({ "version": "1.3.0", "notes": "Faster exports" })),
        None,
    )["id"]
        .as_str()
        .expect("id")
        .to_owned();
    env.admin(
        &format!(
            "/v1/admin/releases/{release}/artifacts?platform={}&name=Photo-1.3.0.bin",
            licet::fingerprint::update_platform()
        ),
        None,
        Some(&bytes),
    );
    env.admin(
        &format!("/v1/admin/releases/{release}/publish"),
        Some(json!({})),
        None,
    );
    let (out, _, _) = env.app(&["activate", &key], "");
    assert!(out.status.success());

    // Asked, and declined: nothing is downloaded.
    let (out, stdout, _) = env.app(&["update", "--current", "1.0.0"], "n\n");
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("Update 1.3.0 available\n  Faster exports"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Update 1.3.0 available — download? [y/N]"),
        "{stdout}"
    );
    let landed = env.dir.path().join("Photo-1.3.0.bin");
    assert!(!landed.exists());

    // Confirmed: the file lands under its own name, with a progress line.
    let (out, stdout, stderr) = env.app(&["update", "--current", "1.0.0"], "y\n");
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("downloaded 1.3.0 to Photo-1.3.0.bin"),
        "{stdout}"
    );
    assert!(stderr.contains("downloading: 100%"), "{stderr}");
    assert_eq!(std::fs::read(&landed).expect("file"), bytes);

    // --yes does not ask; --to names the file.
    let to = env.dir.path().join("elsewhere.bin");
    let (out, stdout, _) = env.app(
        &[
            "update",
            "--current",
            "1.0.0",
            "--yes",
            "--to",
            path_str(&to),
        ],
        "",
    );
    assert!(out.status.success(), "{stdout}");
    assert!(!stdout.contains("[y/N]"), "{stdout}");
    assert_eq!(std::fs::read(&to).expect("file"), bytes);

    let (out, stdout, _) = env.app(&["update", "--current", "1.3.0"], "");
    assert!(out.status.success());
    assert!(stdout.contains("up to date (1.3.0)"), "{stdout}");
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8")
}
