//! Email through a real SMTP server process (aiosmtpd, from PyPI; `.ci/run` installs it).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use licet_server::config::Secret;
use licet_server::testkit::TestServer;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::*;

/// An aiosmtpd process storing what it receives in a Maildir.
struct Smtp {
    child: Child,
    maildir: tempfile::TempDir,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts aiosmtpd on `port`; `None` (test skipped) only outside CI when it is missing.
fn smtp_on(port: u16) -> Option<Smtp> {
    let available = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have aiosmtpd (pip install aiosmtpd)"
        );
        eprintln!("aiosmtpd is not installed; skipping");
        return None;
    }
    let maildir = tempfile::tempdir().expect("maildir");
    let child = Command::new("python3")
        .args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            "aiosmtpd.handlers.Mailbox",
        ])
        .arg(maildir.path().join("box"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("aiosmtpd starts");
    let smtp = Smtp { child, maildir };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(smtp);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("aiosmtpd did not listen on {port}");
}

impl Smtp {
    fn received(&self) -> Vec<String> {
        let new = self.maildir.path().join("box").join("new");
        std::fs::read_dir(new)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn wait_for(&self, n: usize) -> Vec<String> {
        let enough = eventually(async || Some(self.received()).filter(|got| got.len() >= n)).await;
        enough.unwrap_or_else(|| self.received())
    }
}

async fn shop_over_smtp(port: u16) -> Api {
    let url = format!("smtp://127.0.0.1:{port}");
    let server = TestServer::start_with(move |c| {
        c.smtp_url = Some(Secret::new(url));
        c.mail_from = "Photo Pro <sales@photo.example>".into();
        c.support_email = Some("help@photo.example".into());
    })
    .await
    .expect("server");
    let api = Api::with(server);
    api.product("photo", 1).await;
    api
}

#[tokio::test]
async fn the_delivery_email_goes_out_over_smtp_once() {
    let port = free_port();
    let Some(smtp) = smtp_on(port) else { return };
    let api = shop_over_smtp(port).await;
    let (status, p) = api
        .admin_post(
            "/v1/admin/purchases",
            json!({ "email": "ada@example.com", "products": ["photo"] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert!(mail.contains("To: ada@example.com"), "{mail}");
    assert!(
        mail.contains("From: \"Photo Pro\" <sales@photo.example>")
            || mail.contains("From: Photo Pro <sales@photo.example>"),
        "{mail}"
    );
    assert!(mail.contains("help@photo.example"), "{mail}");
    assert!(mail.contains("License key:"), "{mail}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(smtp.received().len(), 1, "sent once");
    // Marked delivered just after the mail server accepts it.
    let path = format!("/v1/admin/purchases/{}", str_of(&p, "id"));
    let delivered = eventually(async || {
        Some(api.admin_get(&path).await.1).filter(|shown| shown["delivered_at"].is_i64())
    })
    .await;
    assert!(delivered.is_some(), "the purchase is marked delivered");
}

#[tokio::test]
async fn a_mail_server_that_is_down_is_retried_until_it_accepts() {
    let port = free_port();
    let api = shop_over_smtp(port).await;
    api.admin_post(
        "/v1/admin/purchases",
        json!({ "email": "ada@example.com", "products": ["photo"] }),
    )
    .await;
    let failed = eventually(async || {
        let queued = api
            .server
            .app
            .store
            .mail_to("ada@example.com")
            .await
            .expect("outbox");
        queued
            .first()
            .is_some_and(|m| m.last_error.is_some() && m.sent_at.is_none())
            .then_some(())
    })
    .await
    .is_some();
    assert!(failed, "the first attempt fails and is recorded");
    let Some(smtp) = smtp_on(port) else { return };
    // Past the back-off, the worker tries again.
    api.server.clock.advance(60);
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails.len(), 1);
    // The server marks it sent right after the mail server accepts it.
    let sent = eventually(async || {
        let queued = api
            .server
            .app
            .store
            .mail_to("ada@example.com")
            .await
            .expect("outbox");
        queued
            .first()
            .is_some_and(|m| m.sent_at.is_some())
            .then_some(())
    })
    .await
    .is_some();
    assert!(sent, "the message is marked sent");
}
