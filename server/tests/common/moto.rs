//! An S3-compatible server process for tests: moto, from PyPI (`.ci/run` installs it).
//! Shared by the server's API suite and the SDK's suite (included by path).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use licet_server::config::{S3Config, Secret};

/// A running moto server with the bucket `licet-files`; stopped on drop.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// The server's storage settings for this bucket.
    pub fn s3_config(&self) -> S3Config {
        S3Config {
            bucket: "licet-files".into(),
            region: "us-east-1".into(),
            endpoint: Some(self.endpoint.clone()),
            access_key_id: Secret::new("testing"),
            secret_access_key: Secret::new("testing"),
            presign_secs: 300,
        }
    }

    /// Replaces the object stored under `key` with `bytes` (as an attacker with write
    /// access to the bucket, or a corrupted mirror, would), through boto3, which moto
    /// brings along. (Used by the SDK's suite; the server's includes this file too.)
    #[allow(dead_code)]
    pub fn put_object(&self, key: &str, bytes: &[u8]) {
        use std::io::Write;
        let script = "import sys, boto3\n\
             s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', \
             aws_access_key_id='testing', aws_secret_access_key='testing')\n\
             s3.put_object(Bucket='licet-files', Key=sys.argv[2], Body=sys.stdin.buffer.read())\n";
        let mut child = Command::new("python3")
            .args(["-c", script, &self.endpoint, key])
            .stdin(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(bytes)
            .expect("write the object");
        assert!(child.wait().expect("waits").success(), "put_object failed");
    }
}

/// Starts moto's S3 server with a bucket; `None` (skipped) only outside CI when missing.
pub async fn moto() -> Option<Moto> {
    let available = Command::new("python3")
        .args(["-c", "import moto.server"])
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have moto (pip install 'moto[server]')"
        );
        eprintln!("moto is not installed; skipping");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let child = Command::new("python3")
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto starts");
    let moto = Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    for _ in 0..200 {
        let created = http
            .put(format!("{}/licet-files", moto.endpoint))
            .send()
            .await;
        if created.is_ok_and(|res| res.status().is_success()) {
            return Some(moto);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("moto did not come up");
}
