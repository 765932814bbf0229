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

/// Whether aiosmtpd can run; outside CI a missing one skips the test, in CI it fails.
fn aiosmtpd_available() -> bool {
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
    }
    available
}

/// Starts aiosmtpd on `port`; `None` (test skipped) only outside CI when it is missing.
fn smtp_on(port: u16) -> Option<Smtp> {
    if !aiosmtpd_available() {
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
    Some(Smtp { child, maildir }.listening(port))
}

/// An aiosmtpd server on `port` that refuses every recipient whose address starts with
/// "refused" (`550 5.1.1`), and stores the rest in a Maildir like [`smtp_on`].
fn refusing_smtp_on(port: u16) -> Option<Smtp> {
    if !aiosmtpd_available() {
        return None;
    }
    let maildir = tempfile::tempdir().expect("maildir");
    let script = r#"
import sys, time, mailbox
from aiosmtpd.controller import Controller
class Handler:
    def __init__(self, path):
        self.box = mailbox.Maildir(path, create=True)
    async def handle_RCPT(self, server, session, envelope, address, options):
        if address.startswith("refused"):
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"
    async def handle_DATA(self, server, session, envelope):
        self.box.add(envelope.original_content)
        return "250 OK"
c = Controller(Handler(sys.argv[2]), hostname="127.0.0.1", port=int(sys.argv[1]))
c.start()
while True:
    time.sleep(3600)
"#;
    let child = Command::new("python3")
        .args(["-c", script, &port.to_string()])
        .arg(maildir.path().join("box"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the refusing SMTP server starts");
    Some(Smtp { child, maildir }.listening(port))
}

impl Smtp {
    /// Waits (5 s at most) until the server accepts connections on `port`.
    fn listening(self, port: u16) -> Self {
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return self;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the SMTP server did not listen on {port}");
    }

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
            .store()
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
            .store()
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

fn message_id(mail: &str) -> String {
    mail.lines()
        .find(|l| l.to_ascii_lowercase().starts_with("message-id:"))
        .map(|l| l[11..].trim().to_owned())
        .unwrap_or_else(|| panic!("no Message-ID in {mail}"))
}

/// Delivery over SMTP is at-least-once: the process can die after the mail server's `250`
/// and before the message is marked sent. Then it goes out again once its claim expires,
/// with the same `Message-ID`, so mail systems drop the copy. If the id changed per attempt,
/// the customer would see the email twice.
#[tokio::test]
async fn a_crash_after_the_server_accepted_a_message_resends_it_with_the_same_message_id() {
    let port = free_port();
    let Some(smtp) = smtp_on(port) else { return };
    let api = shop_over_smtp(port).await;
    let server = &api.server;
    // A message not due for an hour, so the worker leaves it alone while this test plays
    // the part of the worker that crashes.
    let due = api.server.clock_now() + 3600;
    let row = licet_server::testkit::internals::OutboxRow {
        id: "msg_crash_window".into(),
        dedupe_key: "test:crash-window".into(),
        recipient: "ada@example.com".into(),
        subject: "Your purchase".into(),
        body_text: "text".into(),
        body_html: "<p>html</p>".into(),
        created_at: due,
        attempts: 0,
        next_attempt_at: due,
        sent_at: None,
        last_error: None,
        failed_at: None,
    };
    server.store().queue_mail(&row).await.expect("queued");
    let claimed = server
        .store()
        .claim_mail(&row.id, due, licet_server::testkit::internals::CLAIM_SECS)
        .await
        .expect("claim")
        .expect("claimed");
    server.mailer().send(&claimed).await.expect("accepted");
    // …and the process dies here, before marking it sent.
    assert_eq!(smtp.wait_for(1).await.len(), 1);

    // A replica (or the restarted process) takes it up once the claim has expired.
    api.server
        .clock
        .advance(3600 + licet_server::testkit::internals::CLAIM_SECS + 1);
    let mails = smtp.wait_for(2).await;
    assert_eq!(mails.len(), 2, "sent again: at-least-once");
    assert_eq!(message_id(&mails[0]), message_id(&mails[1]));
    assert!(message_id(&mails[0]).starts_with("<msg_crash_window@"));
    let sent = eventually(async || {
        let rows = server
            .store()
            .mail_to("ada@example.com")
            .await
            .expect("outbox");
        rows.iter()
            .any(|m| m.id == row.id && m.sent_at.is_some())
            .then_some(())
    })
    .await;
    assert!(sent.is_some(), "and marked sent, so not a third time");
}

/// A recipient the mail server refuses used to be retried forever. It is given up after a
/// few attempts, shown to the vendor on the dashboard, and sent again on request.
#[tokio::test]
async fn a_recipient_the_mail_server_refuses_is_given_up_and_shown_on_the_dashboard() {
    let port = free_port();
    let Some(_smtp) = refusing_smtp_on(port) else {
        return;
    };
    let api = shop_over_smtp(port).await;
    api.admin_post(
        "/v1/admin/purchases",
        json!({ "email": "refused@example.com", "products": ["photo"] }),
    )
    .await;
    let given_up = eventually(async || {
        api.server.clock.advance(60);
        let rows = api
            .server
            .store()
            .mail_to("refused@example.com")
            .await
            .expect("outbox");
        rows.into_iter().find(|m| m.failed_at.is_some())
    })
    .await
    .expect("given up");
    assert_eq!(
        given_up.attempts,
        licet_server::testkit::internals::MAX_REFUSED_ATTEMPTS
    );
    assert!(given_up.sent_at.is_none());
    assert!(
        given_up
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("550")),
        "{given_up:?}"
    );
    // No further attempts once given up.
    api.server.clock.advance(7200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let rows = api
        .server
        .store()
        .mail_to("refused@example.com")
        .await
        .expect("outbox");
    assert_eq!(
        rows[0].attempts,
        licet_server::testkit::internals::MAX_REFUSED_ATTEMPTS
    );

    // The vendor sees it and can send it again.
    let (b, _) = signed_in(&api).await;
    let overview = b
        .get(api.server.url("/admin"))
        .send()
        .await
        .expect("overview");
    let html = overview.text().await.expect("html");
    assert!(html.contains("1 undelivered emails"), "{html}");
    let list = b
        .get(api.server.url("/admin/emails"))
        .send()
        .await
        .expect("emails")
        .text()
        .await
        .expect("html");
    assert!(
        list.contains("refused@example.com") && list.contains("550"),
        "{list}"
    );
    let res = b
        .post(
            api.server
                .url(&format!("/admin/emails/{}/retry", given_up.id)),
        )
        .form(&[("csrf", hidden_csrf(&list).as_str())])
        .send()
        .await
        .expect("retry");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let retried = api
        .server
        .store()
        .mail_to("refused@example.com")
        .await
        .expect("outbox");
    assert!(retried[0].failed_at.is_none(), "queued again");
}
