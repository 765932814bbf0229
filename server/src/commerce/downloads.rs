//! Download products: files, links, and the rules of a download.
//!
//! A link is a 256-bit random token; only its SHA-256 is stored. A link expires (24 h by
//! default) and draws on its purchase's download budget (5 by default): a request takes one
//! download, atomically, unless it is free. `HEAD` is free (link scanners cannot burn
//! downloads). A range from a later byte is free only as the resume of a counted download:
//! same link, same client (network and user agent), within [`RESUME_WINDOW_SECS`] of it and
//! [`RESUME_BYTES_PER_FILE`] file sizes in all; any other range counts like a whole download,
//! so `Range: bytes=1-` cannot fetch a file for nothing. Refunded or disputed purchases
//! download nothing.

use licet_proto::ErrorCode;
use licet_proto::admin::PurchaseStatus;
use serde::Serialize;

use crate::auth::Admin;
use crate::commerce::Context;
use crate::commerce::blobs::Location;
use crate::platform::crypto::{new_id, random_secret, sha256_hex};
use crate::platform::error::{Error, Result};
use crate::store::{DownloadRecord, FileRow, NewAudit, NewLink, ResumeWindow};

/// The download log, written in batches by a background task so that logging costs a
/// download request no database round trip. Entries not yet written when the process stops
/// are lost (at most one batch's worth).
#[derive(Debug)]
pub struct DownloadLog {
    tx: tokio::sync::mpsc::UnboundedSender<DownloadRecord>,
    rx: std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<DownloadRecord>>>,
}

impl Default for DownloadLog {
    fn default() -> Self {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        Self {
            tx,
            rx: std::sync::Mutex::new(Some(rx)),
        }
    }
}

impl DownloadLog {
    /// Queues a record.
    pub fn record(&self, r: DownloadRecord) {
        let _ = self.tx.send(r);
    }

    /// Writes queued records until the task is aborted (started once per app by `serve`).
    pub async fn run(app: std::sync::Arc<impl Context>) {
        let Some(mut rx) = app.download_log().rx.lock().ok().and_then(|mut r| r.take()) else {
            return;
        };
        let mut batch = Vec::with_capacity(256);
        while let Some(first) = rx.recv().await {
            batch.push(first);
            while batch.len() < 256 {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            if let Err(e) = app.store().log_downloads(&batch).await {
                tracing::warn!(error = %e, records = batch.len(), "writing the download log failed");
            }
            batch.clear();
        }
    }
}

/// How long a download link lives.
pub const LINK_LIFETIME_SECS: i64 = 24 * 3600;
/// Largest accepted upload.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024 * 1024;

/// A file as the admin API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct FileEntry {
    pub id: String,
    pub product: String,
    pub name: String,
    /// Bytes.
    pub size: i64,
    /// SHA-256, hex.
    pub sha256: String,
    /// MIME type.
    pub content_type: String,
}

/// A fresh download link.
#[derive(Debug, Clone, Serialize)]
pub struct Link {
    pub file: String,
    /// The URL to send to the customer (contains the token: treat it as a secret).
    pub url: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// Adds (or replaces) a product file from a stream.
pub async fn add_file<S, B, E>(
    app: &impl Context,
    admin: &Admin,
    product_slug: &str,
    name: &str,
    content_type: Option<&str>,
    stream: S,
) -> Result<FileEntry>
where
    S: futures_util::Stream<Item = std::result::Result<B, E>>,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    let product = crate::catalogue::product(app, product_slug).await?;
    check_name(name)?;
    let (sha256, size) = app.blobs().put(stream, MAX_FILE_BYTES).await?;
    let now = app.now();
    let row = app
        .store()
        .upsert_file(&FileRow {
            id: new_id("fil"),
            product_id: product.id.clone(),
            name: name.to_owned(),
            size: i64::try_from(size).unwrap_or(i64::MAX),
            sha256,
            content_type: content_type
                .unwrap_or("application/octet-stream")
                .to_owned(),
            created_at: now,
        })
        .await?;
    app.store()
        .audit(&NewAudit::new(
            now,
            admin.actor(),
            "file.added",
            ("file", &row.id),
            serde_json::json!({ "product": product.slug, "name": row.name, "size": row.size, "sha256": row.sha256 }),
        ))
        .await?;
    Ok(file_entry(&row, &product.slug))
}

/// Files of a product.
pub async fn files(app: &impl Context, product_slug: &str) -> Result<Vec<FileEntry>> {
    let product = crate::catalogue::product(app, product_slug).await?;
    Ok(app
        .store()
        .files_of(&product.id)
        .await?
        .iter()
        .map(|f| file_entry(f, &product.slug))
        .collect())
}

fn file_entry(f: &FileRow, product: &str) -> FileEntry {
    FileEntry {
        id: f.id.clone(),
        product: product.to_owned(),
        name: f.name.clone(),
        size: f.size,
        sha256: f.sha256.clone(),
        content_type: f.content_type.clone(),
    }
}

pub(crate) fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.chars().count() <= 200
        && !name
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\')
        && name != "."
        && name != "..";
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "the file name must be 1 to 200 characters, without / or \\",
        ))
    }
}

/// Makes the link of one file: a fresh secret token, stored by its hash, and the URL that
/// carries it (for the email or the page).
pub fn link_minter<C: Context>(
    app: &C,
    now: i64,
) -> impl FnMut(&FileRow) -> (NewLink, Link) + Send + use<C> {
    let public_url = app.config().public_url.clone();
    move |file| {
        let token = random_secret("");
        let expires_at = now + LINK_LIFETIME_SECS;
        let stored = NewLink {
            token_hash: sha256_hex(token.as_bytes()),
            expires_at,
        };
        let link = Link {
            file: file.name.clone(),
            url: format!("{}/v1/downloads/{}", public_url, token.as_str()),
            expires_at,
        };
        (stored, link)
    }
}

/// New links on demand for a purchase that still has downloads left.
pub async fn new_links(app: &impl Context, purchase_id: &str) -> Result<Vec<Link>> {
    let purchase = app
        .store()
        .purchase(purchase_id)
        .await?
        .ok_or_else(|| Error::new(ErrorCode::NotFound, "no such purchase"))?;
    if purchase.status != PurchaseStatus::Completed {
        return Err(Error::new(
            ErrorCode::PurchaseNotActive,
            "this purchase was refunded or is disputed",
        ));
    }
    if purchase.download_count >= purchase.download_limit {
        return Err(Error::new(
            ErrorCode::DownloadLimitReached,
            "this purchase has no downloads left",
        ));
    }
    let now = app.now();
    Ok(app
        .store()
        .mint_download_links(&purchase, now, link_minter(app, now))
        .await?)
}

/// A requested byte range, already checked against the file size: `start..=end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// Last byte (inclusive).
    pub end: u64,
}

/// What to send for a download request.
#[derive(Debug)]
pub struct Grant {
    pub file: FileRow,
    /// Where its bytes are.
    pub location: Location,
    /// The part to send (`None`: all of it).
    pub range: Option<ByteRange>,
}

/// Parses a `Range` header against a file size. `Ok(None)`: serve everything (no header, or
/// one this server does not honour, such as several ranges). `Err`: unsatisfiable.
pub fn parse_range(header: Option<&str>, size: u64) -> Result<Option<ByteRange>> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let unsatisfiable = || {
        Error::new(
            ErrorCode::RangeNotSatisfiable,
            format!("the file has {size} bytes"),
        )
    };
    let (a, b) = spec.split_once('-').ok_or_else(unsatisfiable)?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| unsatisfiable())?;
            if n == 0 || size == 0 {
                return Err(unsatisfiable());
            }
            (size.saturating_sub(n), size - 1)
        }
        (s, "") => (
            s.parse().map_err(|_| unsatisfiable())?,
            size.saturating_sub(1),
        ),
        (s, e) => {
            let s: u64 = s.parse().map_err(|_| unsatisfiable())?;
            let e: u64 = e.parse().map_err(|_| unsatisfiable())?;
            (s, e.min(size.saturating_sub(1)))
        }
    };
    if size == 0 || start >= size || end < start {
        return Err(unsatisfiable());
    }
    Ok(Some(ByteRange { start, end }))
}

/// How long after a counted download its client may resume it for free.
pub const RESUME_WINDOW_SECS: i64 = 6 * 3600;
/// How much resumes of one counted download may fetch in all, in multiples of the file's
/// size (a segmented download manager asks for overlapping open-ended ranges).
pub const RESUME_BYTES_PER_FILE: i64 = 2;

/// Who may resume a counted download: the client's network (its IPv4 address, its IPv6
/// /64) and user agent, as a digest. A download manager keeps both across its requests; a
/// link passed to someone else does not.
fn resume_client(ip: &str, user_agent: Option<&str>) -> String {
    let who = format!(
        "{}|{}",
        crate::platform::rate_limit::ip_group(ip),
        user_agent.unwrap_or("")
    );
    sha256_hex(who.as_bytes())[..32].to_owned()
}

/// Checks a download request and takes a download from the budget unless it is free: a
/// `HEAD`, or a range resuming a counted download of this link by the same client within
/// its resume window and byte budget. Any other request counts, ranges included, and is
/// refused once the purchase's downloads are used up.
pub async fn open(
    app: &impl Context,
    token: &str,
    head: bool,
    range: Option<&str>,
    ip: &str,
    user_agent: Option<&str>,
) -> Result<Grant> {
    let not_found = || Error::new(ErrorCode::NotFound, "this download link is not valid");
    if token.len() > 100
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(not_found());
    }
    let link = app
        .store()
        .link(&sha256_hex(token.as_bytes()))
        .await?
        .ok_or_else(not_found)?;
    let now = app.now();
    if now >= link.expires_at {
        return Err(Error::new(
            ErrorCode::LinkExpired,
            "this download link has expired; ask for a new one",
        ));
    }
    if link.purchase_status != PurchaseStatus::Completed {
        return Err(Error::new(
            ErrorCode::PurchaseNotActive,
            "this purchase was refunded or is disputed",
        ));
    }
    let size = u64::try_from(link.file.size).unwrap_or(0);
    let range = parse_range(range, size)?;
    let counted = if head {
        // HEAD takes nothing: link scanners and download managers probing the size cannot
        // burn downloads.
        false
    } else {
        let token_hash = sha256_hex(token.as_bytes());
        let client = resume_client(ip, user_agent);
        let resumed = match range {
            Some(r) if r.start > 0 => {
                let len = i64::try_from(r.end - r.start + 1).unwrap_or(i64::MAX);
                app.store()
                    .take_resume(&token_hash, &client, now, len)
                    .await?
            }
            _ => false,
        };
        if !resumed {
            let window = ResumeWindow {
                client: &client,
                until: (now + RESUME_WINDOW_SECS).min(link.expires_at),
                bytes: link.file.size.saturating_mul(RESUME_BYTES_PER_FILE),
            };
            if !app
                .store()
                .take_download(&link.purchase_id, &token_hash, &window)
                .await?
            {
                return Err(Error::new(
                    ErrorCode::DownloadLimitReached,
                    "this purchase has no downloads left",
                ));
            }
        }
        !resumed
    };
    if !head {
        app.download_log().record(DownloadRecord {
            id: new_id("dl"),
            purchase_id: link.purchase_id.clone(),
            file_id: link.file.id.clone(),
            at: now,
            ip: ip.to_owned(),
            user_agent: user_agent
                .map(|u| u.chars().take(300).collect::<String>())
                .filter(|u| !u.is_empty()),
            range_start: range.map(|r| i64::try_from(r.start).unwrap_or(i64::MAX)),
            counted,
        });
    }
    let location = app
        .blobs()
        .locate(&link.file.sha256, &content_disposition(&link.file.name))
        .await?;
    Ok(Grant {
        file: link.file,
        location,
        range,
    })
}

/// Key id of the signing key for stateless URLs. A new id (and so a new derived key) can be
/// introduced later while URLs signed under this one keep working.
pub const SIGNED_URL_KID: &str = "k1";

fn signed_url_mac(app: &impl Context, kid: &str, file_id: &str, expires: i64) -> String {
    let key = app.master().derive(&format!("signed-url {kid}"));
    crate::platform::crypto::hex(&crate::platform::crypto::hmac_sha256(
        key.as_ref(),
        format!("{file_id}:{expires}").as_bytes(),
    ))
}

/// A stateless signed URL for a free or public file (no purchase, no counting), valid for
/// `lifetime` seconds: `/v1/files/{id}?expires=…&kid=…&sig=…` with HMAC-SHA256.
pub async fn signed_url(app: &impl Context, file_id: &str, lifetime: i64) -> Result<Link> {
    if !(1..=366 * 86_400).contains(&lifetime) {
        return Err(Error::invalid("expires_in must be 1 second to 366 days"));
    }
    let file = app
        .store()
        .file(file_id)
        .await?
        .ok_or_else(|| Error::new(ErrorCode::NotFound, "no such file"))?;
    let expires = app.now() + lifetime;
    let sig = signed_url_mac(app, SIGNED_URL_KID, &file.id, expires);
    Ok(Link {
        file: file.name,
        url: format!(
            "{}/v1/files/{}?expires={expires}&kid={SIGNED_URL_KID}&sig={sig}",
            app.config().public_url,
            file.id
        ),
        expires_at: expires,
    })
}

/// Checks a signed URL: 403 for a bad signature or key id, 410 when expired.
pub async fn open_signed(
    app: &impl Context,
    file_id: &str,
    expires: i64,
    kid: &str,
    sig: &str,
    range: Option<&str>,
) -> Result<Grant> {
    let forbidden = || Error::new(ErrorCode::Forbidden, "the link's signature is not valid");
    if kid != SIGNED_URL_KID {
        return Err(forbidden());
    }
    let expected = signed_url_mac(app, kid, file_id, expires);
    if !crate::platform::crypto::ct_eq(expected.as_bytes(), sig.as_bytes()) {
        return Err(forbidden());
    }
    if app.now() >= expires {
        return Err(Error::new(ErrorCode::LinkExpired, "this link has expired"));
    }
    let file = app
        .store()
        .file(file_id)
        .await?
        .ok_or_else(|| Error::new(ErrorCode::NotFound, "no such file"))?;
    let range = parse_range(range, u64::try_from(file.size).unwrap_or(0))?;
    let location = app
        .blobs()
        .locate(&file.sha256, &content_disposition(&file.name))
        .await?;
    Ok(Grant {
        file,
        location,
        range,
    })
}

/// `attachment` with a safe ASCII `filename` and the exact name as RFC 8187 `filename*`.
pub fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_parsed_against_the_size() {
        assert_eq!(parse_range(None, 10).ok().flatten(), None);
        assert_eq!(
            parse_range(Some("bytes=0-"), 10).ok().flatten(),
            Some(ByteRange { start: 0, end: 9 })
        );
        assert_eq!(
            parse_range(Some("bytes=4-6"), 10).ok().flatten(),
            Some(ByteRange { start: 4, end: 6 })
        );
        assert_eq!(
            parse_range(Some("bytes=4-60"), 10).ok().flatten(),
            Some(ByteRange { start: 4, end: 9 })
        );
        assert_eq!(
            parse_range(Some("bytes=-3"), 10).ok().flatten(),
            Some(ByteRange { start: 7, end: 9 })
        );
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 10).ok().flatten(), None);
        assert!(parse_range(Some("bytes=10-"), 10).is_err());
        assert!(parse_range(Some("bytes=5-2"), 10).is_err());
        assert!(parse_range(Some("bytes=x-"), 10).is_err());
    }
}
