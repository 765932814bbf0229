//! Product files, download links and the download log.

use licet_proto::admin::PurchaseStatus;

use super::Store;
use super::states::StateText;

/// A product file.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FileRow {
    pub id: String,
    pub product_id: String,
    /// The name customers see (and save as).
    pub name: String,
    /// Bytes.
    pub size: i64,
    /// SHA-256, lower-case hex: also the blob's address in storage.
    pub sha256: String,
    /// MIME type.
    pub content_type: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// One download, as logged.
#[derive(Debug, Clone)]
pub struct DownloadRecord {
    pub id: String,
    /// Purchase id.
    pub purchase_id: String,
    /// File id.
    pub file_id: String,
    /// Unix seconds.
    pub at: i64,
    /// Client IP.
    pub ip: String,
    /// User agent (truncated).
    pub user_agent: Option<String>,
    /// First byte of a range request.
    pub range_start: Option<i64>,
    /// Whether it took a download from the budget.
    pub counted: bool,
}

/// The resume window a counted download opens on its link.
#[derive(Debug, Clone, Copy)]
pub struct ResumeWindow<'a> {
    /// Who may resume (a digest of the client's network and user agent).
    pub client: &'a str,
    /// Unix seconds; resumes after it count again.
    pub until: i64,
    /// Bytes that resumes may fetch in all.
    pub bytes: i64,
}

/// A download link resolved to its file and purchase.
#[derive(Debug, Clone, sqlx::FromRow)]
// A row mirrors its table: some columns are read only by some paths (or by tests).
#[allow(dead_code)]
pub struct LinkRow {
    /// Purchase id.
    pub purchase_id: String,
    /// Unix seconds.
    pub expires_at: i64,
    #[sqlx(flatten)]
    pub file: FileRow,
    /// The purchase's status.
    #[sqlx(try_from = "StateText")]
    pub purchase_status: PurchaseStatus,
    /// Downloads used.
    pub download_count: i64,
    /// Downloads allowed.
    pub download_limit: i64,
}

impl Store {
    /// Adds a file to a product, or replaces the file of the same name.
    pub async fn upsert_file(&self, f: &FileRow) -> Result<FileRow, sqlx::Error> {
        sqlx::query(
            "INSERT INTO files (id, product_id, name, size, sha256, content_type, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (product_id, name) DO UPDATE SET \
             size = excluded.size, sha256 = excluded.sha256, content_type = excluded.content_type, \
             created_at = excluded.created_at",
        )
        .bind(&f.id)
        .bind(&f.product_id)
        .bind(&f.name)
        .bind(f.size)
        .bind(&f.sha256)
        .bind(&f.content_type)
        .bind(f.created_at)
        .execute(self.writer())
        .await?;
        sqlx::query_as(
            "SELECT id, product_id, name, size, sha256, content_type, created_at FROM files \
             WHERE product_id = $1 AND name = $2",
        )
        .bind(&f.product_id)
        .bind(&f.name)
        .fetch_one(self.pool())
        .await
    }

    /// Files of a product, by name.
    pub(super) async fn files_of_in<'e, E>(
        &self,
        executor: E,
        product_id: &str,
    ) -> Result<Vec<FileRow>, sqlx::Error>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        sqlx::query_as(
            "SELECT id, product_id, name, size, sha256, content_type, created_at FROM files \
             WHERE product_id = $1 ORDER BY name",
        )
        .bind(product_id)
        .fetch_all(executor)
        .await
    }

    /// A file by id.
    pub async fn file(&self, id: &str) -> Result<Option<FileRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT id, product_id, name, size, sha256, content_type, created_at FROM files WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await
    }

    /// Stores a link (by the hash of its token).
    pub(super) async fn insert_link(
        &self,
        tx: &mut sqlx::AnyConnection,
        token_hash: &str,
        purchase_id: &str,
        file_id: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO download_links (token_hash, purchase_id, file_id, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(purchase_id)
        .bind(file_id)
        .bind(expires_at)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map(|_| ())
    }

    /// The link with this token hash.
    pub async fn link(&self, token_hash: &str) -> Result<Option<LinkRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT l.purchase_id, l.expires_at, f.id, f.product_id, f.name, f.size, f.sha256, \
             f.content_type, f.created_at, p.status AS purchase_status, p.download_count, p.download_limit \
             FROM download_links l JOIN files f ON f.id = l.file_id JOIN purchases p ON p.id = l.purchase_id \
             WHERE l.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(self.pool())
        .await
    }

    /// Takes one download from a completed purchase's budget and opens the link's resume
    /// window for `client`, atomically: two simultaneous requests for the last download
    /// cannot both get it. `Ok(false)` when none is left or the purchase is not completed.
    pub async fn take_download(
        &self,
        purchase_id: &str,
        token_hash: &str,
        resume: &ResumeWindow<'_>,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE purchases SET download_count = download_count + 1 \
             WHERE id = $1 AND status = 'COMPLETED' AND download_count < download_limit",
        )
        .bind(purchase_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE download_links SET resume_client = $2, resume_until = $3, \
             resume_bytes_left = $4 WHERE token_hash = $1",
        )
        .bind(token_hash)
        .bind(resume.client)
        .bind(resume.until)
        .bind(resume.bytes)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Draws `bytes` from the link's resume window if `client` holds it, it has not ended
    /// and enough of its byte budget is left; `Ok(false)` otherwise.
    pub async fn take_resume(
        &self,
        token_hash: &str,
        client: &str,
        now: i64,
        bytes: i64,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE download_links SET resume_bytes_left = resume_bytes_left - $4 \
             WHERE token_hash = $1 AND resume_client = $2 AND resume_until > $3 \
             AND resume_bytes_left >= $4",
        )
        .bind(token_hash)
        .bind(client)
        .bind(now)
        .bind(bytes)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Logs downloads, many in one statement (the log is written in batches, off the
    /// request path).
    pub async fn log_downloads(&self, batch: &[DownloadRecord]) -> Result<(), sqlx::Error> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut sql = String::from(
            "INSERT INTO downloads (id, purchase_id, file_id, at, ip, user_agent, range_start, counted) VALUES ",
        );
        for i in 0..batch.len() {
            let n = i * 8;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5,
                n + 6,
                n + 7,
                n + 8
            ));
        }
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in batch {
            q = q
                .bind(&r.id)
                .bind(&r.purchase_id)
                .bind(&r.file_id)
                .bind(r.at)
                .bind(&r.ip)
                .bind(r.user_agent.as_deref())
                .bind(r.range_start)
                .bind(i64::from(r.counted));
        }
        q.execute(self.writer()).await.map(|_| ())
    }

    #[cfg(feature = "testkit")]
    /// `(ip, user agent, counted)` of a purchase's downloads, oldest first.
    pub async fn downloads_of(
        &self,
        purchase_id: &str,
    ) -> Result<Vec<(Option<String>, Option<String>, i64)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT ip, user_agent, counted FROM downloads WHERE purchase_id = $1 ORDER BY at, id",
        )
        .bind(purchase_id)
        .fetch_all(self.pool())
        .await
    }
}
