//! Email: the delivery message, the transports, and the outbox worker.
//!
//! Messages are composed when a purchase is fulfilled and stored in the outbox in the same
//! transaction. The worker sends what is due, retries failures with exponential back-off,
//! gives a message up (and shows it on the dashboard) when its retries run out, and claims
//! each message with a lease, so replicas never send one message twice at once. Once the
//! mail server accepts a message it is marked sent; the file transport names each file after
//! the message id, so a message written before a crash is not written twice. Over SMTP
//! delivery is at-least-once: a crash between the server's `250` and marking the message
//! sent sends it again once the claim expires, with the same `Message-ID`, which mail
//! systems use to drop the copy.
//!
//! Transports: files in `<data-dir>/mail/` (RFC 5322, the default, so the server runs
//! without a mail server) or SMTP (`LICET_SMTP_URL`: `smtps://user:pass@host:465` for TLS,
//! `smtp://user:pass@host:587?tls=required` for STARTTLS), through lettre with rustls.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use licet_proto::admin::ProductKind;
use maud::{DOCTYPE, Markup, html};

use crate::commerce::Context;
use crate::commerce::downloads::Link;
use crate::platform::config::Config;
use crate::platform::crypto::new_id;
use crate::platform::dates::date;
use crate::platform::error::{Error, Result};
use crate::store::{OutboxRow, PaidInvoice, ProductRow, PurchaseRow};

/// How long a worker holds a claimed message before another may take it.
pub const CLAIM_SECS: i64 = 120;
/// The longest wait between two attempts.
const MAX_BACKOFF_SECS: i64 = 3600;
/// Attempts before a message that keeps failing is given up: waits of 5 s doubling to an
/// hour, about a day in all.
pub const MAX_ATTEMPTS: i64 = 30;
/// Attempts before a message the mail server refuses for good (a 5xx answer, such as an
/// unknown recipient) is given up: a few, in case the refusal was a passing misconfiguration.
pub const MAX_REFUSED_ATTEMPTS: i64 = 3;

/// Why an attempt failed.
#[derive(Debug)]
pub struct SendError {
    /// What went wrong (safe to store and show the vendor: no credentials).
    pub message: String,
    /// The mail server refused the message for good (SMTP 5xx), or it cannot be built.
    pub permanent: bool,
}

impl SendError {
    fn transient(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            permanent: false,
        }
    }

    fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            permanent: true,
        }
    }
}

/// Where messages go.
enum Transport {
    /// RFC 5322 files in a directory.
    Files(PathBuf),
    /// An SMTP server.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

/// Sends outbox messages; one per app.
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    support: String,
    domain: String,
    wake: tokio::sync::Notify,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.transport {
            Transport::Files(_) => "files",
            Transport::Smtp(_) => "smtp",
        };
        f.debug_struct("Mailer")
            .field("transport", &kind)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// The mailer the configuration asks for.
    pub fn from_config(config: &Config) -> Result<Self> {
        let from: Mailbox = config.mail_from.parse().map_err(|e| {
            Error::Internal(format!(
                "LICET_MAIL_FROM {:?} is not an address: {e}",
                config.mail_from
            ))
        })?;
        let transport = match &config.smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .map_err(|e| Error::Internal(format!("LICET_SMTP_URL is not usable: {e}")))?
                    .timeout(Some(Duration::from_secs(20)))
                    .build(),
            ),
            None => Transport::Files(config.data_dir.join("mail")),
        };
        let domain = config
            .public_url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split(['/', ':']).next())
            .filter(|h| !h.is_empty())
            .unwrap_or("licet.localhost")
            .to_owned();
        Ok(Self {
            transport,
            support: config
                .support_email
                .clone()
                .unwrap_or_else(|| from.email.to_string()),
            from,
            domain,
            wake: tokio::sync::Notify::new(),
        })
    }

    /// Asks the worker to look at the outbox now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The message of an outbox row. Its `Message-ID` is the row's id, the same on every
    /// attempt: delivery over SMTP is at-least-once (a crash after the server's `250` and
    /// before the row is marked sent sends it again), and mail systems drop a second copy
    /// with a `Message-ID` they have seen.
    fn message(&self, row: &OutboxRow) -> Result<Message, SendError> {
        let to: Mailbox = row
            .recipient
            .parse()
            .map_err(|e| SendError::permanent(format!("bad recipient: {e}")))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(row.subject.clone())
            .message_id(Some(format!("<{}@{}>", row.id, self.domain)))
            .multipart(MultiPart::alternative_plain_html(
                row.body_text.clone(),
                row.body_html.clone(),
            ))
            .map_err(|e| SendError::permanent(format!("cannot build the message: {e}")))
    }

    /// Hands a message to the transport once.
    pub async fn send(&self, row: &OutboxRow) -> Result<(), SendError> {
        let message = self.message(row)?;
        match &self.transport {
            Transport::Files(dir) => {
                let path = dir.join(format!("{}.eml", row.id));
                if path.exists() {
                    // Written before a crash that came before it was marked sent.
                    return Ok(());
                }
                let bytes = message.formatted();
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || write_file(&dir, &path, &bytes))
                    .await
                    .map_err(|e| SendError::transient(e.to_string()))?
                    .map_err(SendError::transient)
            }
            Transport::Smtp(smtp) => smtp.send(message).await.map(|_| ()).map_err(|e| SendError {
                permanent: e.is_permanent(),
                message: e.to_string(),
            }),
        }
    }
}

fn write_file(dir: &std::path::Path, path: &std::path::Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let tmp = path.with_extension("eml.tmp");
    std::fs::write(&tmp, bytes).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, path).map_err(|e| e.to_string())
}

/// The delivery email of a purchase: product names, license keys, the customer portal and
/// support contact, as text and HTML.
pub fn delivery(
    app: &impl Context,
    purchase: &PurchaseRow,
    products: &[ProductRow],
    keys: &[(String, String)],
    links: &[Link],
    now: i64,
) -> OutboxRow {
    let names: Vec<&str> = products.iter().map(|p| p.name.as_str()).collect();
    let portal = format!("{}/portal", app.config().public_url);
    let support = &app.mail().support;
    let keys_of = |product: &ProductRow| -> Vec<&str> {
        keys.iter()
            .filter(|(name, _)| *name == product.name)
            .map(|(_, key)| key.as_str())
            .collect()
    };
    let is_access = |product: &ProductRow| product.kind == ProductKind::Access;
    let mut text = String::from("Thank you for your purchase.\n\n");
    for product in products {
        text.push_str(&format!("{}\n", product.name));
        for key in keys_of(product) {
            text.push_str(&format!("  License key: {key}\n"));
        }
        if is_access(product) {
            text.push_str("  Your access is active.\n");
        }
        text.push('\n');
    }
    if !links.is_empty() {
        text.push_str("Downloads (each link works for 24 hours; get new ones in the portal):\n");
        for link in links {
            text.push_str(&format!("  {}: {}\n", link.file, link.url));
        }
        text.push('\n');
    }
    text.push_str(&format!(
        "Your purchases, downloads and activated machines: {portal}\nQuestions? Write to {support}.\n"
    ));
    let html = email(html! {
        p { "Thank you for your purchase." }
        @for product in products {
            h2 { (product.name) }
            @for key in keys_of(product) {
                p { "License key: " code style="font-size:1.2em" { (key) } }
            }
            @if is_access(product) {
                p { "Your access is active." }
            }
        }
        @if !links.is_empty() {
            h2 { "Downloads" }
            ul { @for link in links { li { a href=(link.url) { (link.file) } } } }
        }
        p { "Your purchases, downloads and activated machines: " a href=(portal) { (portal) } }
        p { "Questions? Write to " a href={ "mailto:" (support) } { (support) } "." }
    });
    message(
        format!("delivery:{}", purchase.id),
        &purchase.email,
        format!("Your purchase: {}", names.join(", ")),
        (text, html),
        now,
    )
}

/// The receipt of a subscription renewal (sent only with `renewal_receipts` on): what was
/// paid, the new end of the paid period, and where to manage the subscription.
pub fn renewal_receipt(
    app: &impl Context,
    purchase: &PurchaseRow,
    invoice: &PaidInvoice,
    currency: Option<&str>,
    now: i64,
) -> OutboxRow {
    let portal = format!("{}/portal", app.config().public_url);
    let support = &app.mail().support;
    let amount = match (invoice.amount_paid, currency) {
        (Some(a), Some(c)) => format!("{}.{:02} {}", a / 100, (a % 100).abs(), c.to_uppercase()),
        _ => "your renewal".to_owned(),
    };
    let until = date(invoice.period_end);
    let text = format!(
        "Thank you: we received {amount} for your subscription.\n\n\
         It is paid until {until}; your license renews with it, nothing to do.\n\n\
         Your purchases and activated machines: {portal}\nQuestions? Write to {support}.\n"
    );
    let html = email(html! {
        p { "Thank you: we received " strong { (amount) } " for your subscription." }
        p { "It is paid until " (until) "; your license renews with it, nothing to do." }
        p { "Your purchases and activated machines: " a href=(portal) { (portal) } }
        p { "Questions? Write to " a href={ "mailto:" (support) } { (support) } "." }
    });
    message(
        format!("receipt:{}", invoice.id),
        &purchase.email,
        "Your subscription was renewed".into(),
        (text, html),
        now,
    )
}

/// The sign-in email of the customer portal.
pub fn sign_in(
    app: &impl Context,
    email_to: &str,
    url: &str,
    link_hash: &str,
    now: i64,
) -> OutboxRow {
    let text = format!(
        "Sign in to see your purchases, downloads and activated machines:\n\n{url}\n\n\
         The link works once, for 15 minutes. If you did not ask for it, ignore this email.\n\
         Questions? Write to {}.\n",
        app.mail().support
    );
    let html = email(html! {
        p { "Sign in to see your purchases, downloads and activated machines:" }
        p { a href=(url) { "Sign in" } }
        p { "The link works once, for 15 minutes. If you did not ask for it, ignore this email." }
    });
    message(
        format!("sign-in:{link_hash}"),
        email_to,
        "Your sign-in link".into(),
        (text, html),
        now,
    )
}

/// A message for the outbox, due now. `dedupe_key` names what it is about, so the same
/// message is never queued twice.
fn message(
    dedupe_key: String,
    recipient: &str,
    subject: String,
    (body_text, body_html): (String, String),
    now: i64,
) -> OutboxRow {
    OutboxRow {
        id: new_id("msg"),
        dedupe_key,
        recipient: recipient.to_owned(),
        subject,
        body_text,
        body_html,
        created_at: now,
        attempts: 0,
        next_attempt_at: now,
        sent_at: None,
        last_error: None,
        failed_at: None,
    }
}

/// The HTML part of an email around its content. Mail clients ignore stylesheets, so the
/// little styling there is stays inline.
fn email(content: Markup) -> String {
    html! {
        (DOCTYPE)
        html { body style="font-family:sans-serif" { (content) } }
    }
    .into_string()
}

/// Sends due messages until the task is aborted; wakes on [`Mailer::wake`] or every second.
pub async fn run_outbox(app: Arc<impl Context>) {
    loop {
        // Each pass in its own task: even a panic in one pass cannot stop deliveries.
        let pass = tokio::spawn({
            let app = app.clone();
            async move { deliver_due(&app).await }
        });
        match pass.await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "outbox pass failed"),
            Err(e) => tracing::error!(error = %e, "outbox pass panicked"),
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), app.mail().wake.notified()).await;
    }
}

/// One pass over the outbox: sends what is due. A message is marked sent right after the
/// mail server accepts it (the only window in which a crash sends it twice); a failure is
/// retried with exponential back-off until [`MAX_ATTEMPTS`] (or [`MAX_REFUSED_ATTEMPTS`]
/// for a refusal), then given up and shown on the dashboard.
pub async fn deliver_due(app: &impl Context) -> Result<usize> {
    let now = app.now();
    let mut sent = 0;
    for id in app.store().due_mail(now, 20).await? {
        let Some(row) = app.store().claim_mail(&id, now, CLAIM_SECS).await? else {
            continue;
        };
        match app.mail().send(&row).await {
            Ok(()) => {
                let done = app.now();
                app.store().mail_sent(&row.id, done).await?;
                if let Some(purchase) = row.dedupe_key.strip_prefix("delivery:") {
                    app.store().mark_delivered(purchase, done).await?;
                }
                sent += 1;
            }
            Err(e) => {
                let attempts = row.attempts + 1;
                let limit = if e.permanent {
                    MAX_REFUSED_ATTEMPTS
                } else {
                    MAX_ATTEMPTS
                };
                if attempts >= limit {
                    tracing::error!(message = %row.id, attempts, error = %e.message, "sending mail failed; given up");
                    app.store()
                        .mail_given_up(&row.id, &e.message, app.now())
                        .await?;
                } else {
                    let backoff = (5_i64 << row.attempts.clamp(0, 12)).min(MAX_BACKOFF_SECS);
                    tracing::warn!(message = %row.id, attempts, error = %e.message, "sending mail failed; will retry");
                    app.store()
                        .mail_failed(&row.id, &e.message, app.now() + backoff)
                        .await?;
                }
            }
        }
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::email;
    use maud::html;

    #[test]
    fn what_customers_typed_is_escaped_in_the_html_part() {
        let cases = [
            ("<b>", "&lt;b&gt;"),
            ("a & b", "a &amp; b"),
            ("\"quoted\"", "&quot;quoted&quot;"),
            (
                "https://x.example/?a=1&b=2",
                "https://x.example/?a=1&amp;b=2",
            ),
        ];
        for (raw, want) in cases {
            let html = email(html! { p { (raw) } a href=(raw) { "link" } });
            assert!(html.contains(&format!("<p>{want}</p>")), "{raw}: {html}");
            assert!(html.contains(&format!("href=\"{want}\"")), "{raw}: {html}");
        }
    }
}
