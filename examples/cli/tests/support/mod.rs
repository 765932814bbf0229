//! What the example app's tests share: a real server and the app run against it.

use std::process::{Command, Output, Stdio};

use licet_server::testkit::TestServer;
use serde_json::Value;

/// A test server with one product's keys pinned in a `jwks.json`, and the app's directory.
pub struct Env {
    pub rt: tokio::runtime::Runtime,
    pub server: TestServer,
    pub dir: tempfile::TempDir,
}

impl Env {
    /// Starts the server.
    pub fn start() -> Self {
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
    pub fn admin(&self, path: &str, json: Option<Value>, file: Option<&[u8]>) -> Value {
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
    pub fn app(&self, args: &[&str], stdin: &str) -> (Output, String, String) {
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
