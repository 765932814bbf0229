//! The `licet-server` binary as a vendor runs it: first start, restart, and the CLI chores.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_licet-server"));
    cmd.env_remove("LICET_ADMIN_TOKEN")
        .env_remove("LICET_MASTER_KEY");
    cmd
}

fn database_args(dir: &std::path::Path) -> Vec<String> {
    vec!["--data-dir".into(), dir.display().to_string()]
}

/// Starts `serve`, waits for the "listening" log line, returns the child, its base URL and
/// everything it printed on stdout before that.
fn serve(dir: &std::path::Path) -> (Child, String, String) {
    serve_with(dir, &[])
}

/// [`serve`] with extra environment variables.
fn serve_with(dir: &std::path::Path, env: &[(&str, &str)]) -> (Child, String, String) {
    let mut child = bin()
        .envs(env.iter().copied())
        .args(database_args(dir))
        .args(["--listen", "127.0.0.1:0", "--log-format", "text", "serve"])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn licet-server");
    // stderr is drained for the life of the process (a closed pipe would break its logging).
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on ").nth(1) {
                let _ = tx.send(
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
            if std::env::var_os("LICET_TEST_SHOW_SERVER_LOG").is_some() {
                eprintln!("server: {line}");
            }
        }
    });
    let url = rx.recv_timeout(Duration::from_secs(30)).ok();
    let url = url.expect("server logged where it listens");
    // stdout carries only the one-time admin-token banner, printed before the log line.
    let stdout = child.stdout.take().expect("stdout");
    let banner = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = banner.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(mut b) = sink.lock() {
                b.push_str(&line);
                b.push('\n');
            }
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let printed = banner.lock().map(|b| b.clone()).unwrap_or_default();
    (child, url, printed)
}

/// A bare HTTP/1.1 GET (no client library needed): `(status, body)`.
fn get(url: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, body.to_owned())
}

/// A bare HTTP/1.1 POST of JSON with the admin token: `(status, body)`.
fn post(url: &str, token: &str, json: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
        json.len()
    )
    .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, body.to_owned())
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    for _ in 0..50 {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
}

fn run(dir: &std::path::Path, args: &[&str]) -> String {
    let out = bin()
        .args(database_args(dir))
        .args(args)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn first_start_prints_an_admin_token_once_and_restarts_reuse_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (child, url, banner) = serve(dir.path());
    assert!(
        banner.contains("lct_admin_"),
        "first start shows the admin token: {banner:?}"
    );
    let (code, body) = get(&format!("{url}/healthz"));
    assert_eq!(code, 200, "{body}");
    let (_, jwks) = get(&format!("{url}/.well-known/jwks.json"));
    stop(child);

    let (child, url, banner) = serve(dir.path());
    assert!(
        !banner.contains("lct_admin_"),
        "the token is shown only once"
    );
    let (_, jwks_again) = get(&format!("{url}/.well-known/jwks.json"));
    assert_eq!(jwks, jwks_again, "the signing key is reused");
    stop(child);
}

#[test]
fn the_cli_manages_products_licenses_keys_and_admin_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(dir.path(), &["migrate"]);
    let product = run(
        dir.path(),
        &[
            "product",
            "create",
            "--slug",
            "photo",
            "--name",
            "Photo Pro",
            "--max-activations",
            "2",
            "--entitlement",
            "pro",
        ],
    );
    assert!(product.contains("\"slug\": \"photo\""), "{product}");
    let issued = run(
        dir.path(),
        &[
            "license",
            "issue",
            "--product",
            "photo",
            "--email",
            "ada@example.com",
        ],
    );
    let license: serde_json::Value = serde_json::from_str(&issued).expect("json");
    let key = license["key"].as_str().expect("key");
    assert!(key.starts_with("PHOTO-"), "{key}");

    let shown = run(dir.path(), &["license", "show", key]);
    assert!(shown.contains("ada@example.com"));
    let revoked = run(dir.path(), &["license", "revoke", key]);
    assert!(revoked.contains("\"REVOKED\""), "{revoked}");
    let extended = run(dir.path(), &["license", "extend", key, "--days", "30"]);
    assert!(extended.contains("\"expires_at\": 1"), "{extended}");
    let listed = run(
        dir.path(),
        &["license", "list", "--email", "ada@example.com"],
    );
    assert!(listed.contains(key));

    let keys = run(dir.path(), &["keys", "list"]);
    assert_eq!(
        keys.lines().filter(|l| l.contains("current")).count(),
        1,
        "{keys}"
    );
    let rotated = run(dir.path(), &["keys", "rotate"]);
    assert_eq!(
        rotated.lines().filter(|l| l.contains("published")).count(),
        1,
        "{rotated}"
    );

    let token = run(dir.path(), &["admin-token", "--label", "ci"]);
    assert!(token.trim().starts_with("lct_admin_"));

    let help = run(dir.path(), &["--help"]);
    for option in [
        "--listen",
        "--data-dir",
        "--database-url",
        "--public-url",
        "--rate-limit-per-ip",
    ] {
        assert!(help.contains(option), "--help explains {option}");
    }
}

#[test]
fn a_bad_command_line_fails_with_a_message() {
    let out = bin()
        .args(["--listen", "nonsense", "migrate"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("listen address"));
}

fn mail_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("mail"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .count()
        })
        .unwrap_or(0)
}

/// The process dies (SIGKILL) after the purchase committed and before its email could go
/// out; the restarted server sends it, once, and a further restart sends nothing more.
#[test]
fn a_crash_between_commit_and_email_loses_nothing_and_sends_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Port 1: nothing listens there, so every attempt is refused at once.
    let dead_smtp = "smtp://127.0.0.1:1".to_owned();
    let token = "lct_admin_crash_test_0123456789abcdef";
    let (mut child, url, _) = serve_with(
        dir.path(),
        &[("LICET_ADMIN_TOKEN", token), ("LICET_SMTP_URL", &dead_smtp)],
    );
    let (status, body) = post(
        &format!("{url}/v1/admin/products"),
        token,
        r#"{"slug":"photo","name":"Photo","max_activations":1}"#,
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = post(
        &format!("{url}/v1/admin/purchases"),
        token,
        r#"{"email":"ada@example.com","products":["photo"]}"#,
    );
    assert_eq!(status, 201, "{body}");
    // Let the first delivery attempt fail against the dead mail server, then die.
    std::thread::sleep(Duration::from_millis(500));
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert_eq!(
        mail_files(dir.path()),
        0,
        "nothing could be sent before the crash"
    );

    // Restarted with the file transport (no SMTP): the queued email goes out once its
    // retry is due (5 s after the failed attempt).
    let (child, _, _) = serve_with(dir.path(), &[("LICET_ADMIN_TOKEN", token)]);
    for _ in 0..300 {
        if mail_files(dir.path()) > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(mail_files(dir.path()), 1, "sent once");
    stop(child);
    let (child, _, _) = serve_with(dir.path(), &[("LICET_ADMIN_TOKEN", token)]);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(mail_files(dir.path()), 1, "not again after another restart");
    stop(child);
}

/// An admin token set in the environment opens everything; a short one is refused at start
/// with a message that says why, instead of quietly guarding the dashboard with "hunter2".
#[test]
fn a_short_admin_token_in_the_environment_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = bin()
        .env("LICET_ADMIN_TOKEN", "hunter2")
        .args(database_args(dir.path()))
        .args(["--listen", "127.0.0.1:0", "serve"])
        .output()
        .expect("run licet-server");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("LICET_ADMIN_TOKEN") && stderr.contains("at least 32"),
        "{stderr}"
    );
}
