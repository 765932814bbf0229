//! Releases, their artifacts, and the download counts of each.

use licet_proto::releases::ReleaseState;

use super::states::StateText;
use super::{NewAudit, Store};

/// A release, with its product's slug.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReleaseRow {
    pub id: String,
    pub product_id: String,
    /// The product's slug (read with the release; ignored when inserting).
    pub product_slug: String,
    /// Semantic version, as given.
    pub version: String,
    pub channel: String,
    /// Markdown.
    pub notes: String,
    /// An entitlement a license needs to have it.
    pub entitlement: Option<String>,
    #[sqlx(try_from = "StateText")]
    pub state: ReleaseState,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub published_at: Option<i64>,
    /// Unix seconds.
    pub yanked_at: Option<i64>,
}

/// One platform's file of a release.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ArtifactRow {
    pub id: String,
    pub release_id: String,
    /// `os-arch`, e.g. `linux-x86_64`.
    pub platform: String,
    /// File name.
    pub name: String,
    /// Bytes.
    pub size: i64,
    /// SHA-256, lower-case hex: also the blob's address in storage.
    pub sha256: String,
    pub content_type: String,
    /// The vendor's updater signature (e.g. minisign).
    pub signature: Option<String>,
    /// Downloads started.
    pub downloads: i64,
    /// Unix seconds.
    pub created_at: i64,
}

/// Why an artifact could not be attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachOutcome {
    /// Attached (or replaced the draft's file for that platform).
    Attached,
    /// The release is published and has a file for that platform (fixed once published),
    /// or is yanked.
    Fixed,
    /// No such release.
    Missing,
}

/// Downloads of one release on one platform.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReleaseDownloads {
    pub product_slug: String,
    pub version: String,
    pub platform: String,
    pub downloads: i64,
}

const RELEASE_COLUMNS: &str = "r.id, r.product_id, p.slug AS product_slug, r.version, \
     r.channel, r.notes, r.entitlement, r.state, r.created_at, r.published_at, r.yanked_at";

const ARTIFACT_COLUMNS: &str = "a.id, a.release_id, a.platform, a.name, a.size, a.sha256, \
     a.content_type, a.signature, a.downloads, a.created_at";

impl Store {
    /// Inserts a draft release and audits it; `Ok(false)` when the product has that version.
    pub async fn create_release(
        &self,
        r: &ReleaseRow,
        audit: &NewAudit,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO releases (id, product_id, version, channel, notes, entitlement, state, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (product_id, version) DO NOTHING",
        )
        .bind(&r.id)
        .bind(&r.product_id)
        .bind(&r.version)
        .bind(&r.channel)
        .bind(&r.notes)
        .bind(r.entitlement.as_deref())
        .bind(r.state.as_str())
        .bind(r.created_at)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        audit.write(&mut *tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The release with this id.
    pub async fn release(&self, id: &str) -> Result<Option<ReleaseRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {RELEASE_COLUMNS} FROM releases r JOIN products p ON p.id = r.product_id \
             WHERE r.id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await
    }

    /// The release of a product with this version.
    pub async fn release_by_version(
        &self,
        product_id: &str,
        version: &str,
    ) -> Result<Option<ReleaseRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {RELEASE_COLUMNS} FROM releases r JOIN products p ON p.id = r.product_id \
             WHERE r.product_id = $1 AND r.version = $2"
        )))
        .bind(product_id)
        .bind(version)
        .fetch_optional(self.pool())
        .await
    }

    /// Releases of a product (every state; `published_only` for what clients may see),
    /// newest first by creation, with their artifacts.
    pub async fn releases_of(
        &self,
        product_id: &str,
        published_only: bool,
    ) -> Result<Vec<(ReleaseRow, Vec<ArtifactRow>)>, sqlx::Error> {
        let state = if published_only {
            " AND r.state = 'published'"
        } else {
            ""
        };
        let releases: Vec<ReleaseRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {RELEASE_COLUMNS} FROM releases r JOIN products p ON p.id = r.product_id \
             WHERE r.product_id = $1{state} ORDER BY r.created_at DESC, r.id DESC"
        )))
        .bind(product_id)
        .fetch_all(self.pool())
        .await?;
        let artifacts: Vec<ArtifactRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ARTIFACT_COLUMNS} FROM release_artifacts a \
             JOIN releases r ON r.id = a.release_id WHERE r.product_id = $1{state} \
             ORDER BY a.platform"
        )))
        .bind(product_id)
        .fetch_all(self.pool())
        .await?;
        Ok(releases
            .into_iter()
            .map(|r| {
                let mine = artifacts
                    .iter()
                    .filter(|a| a.release_id == r.id)
                    .cloned()
                    .collect();
                (r, mine)
            })
            .collect())
    }

    /// The artifacts of one release, by platform.
    pub async fn artifacts_of(&self, release_id: &str) -> Result<Vec<ArtifactRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ARTIFACT_COLUMNS} FROM release_artifacts a WHERE a.release_id = $1 \
             ORDER BY a.platform"
        )))
        .bind(release_id)
        .fetch_all(self.pool())
        .await
    }

    /// An artifact with its release.
    pub async fn artifact(
        &self,
        id: &str,
    ) -> Result<Option<(ArtifactRow, ReleaseRow)>, sqlx::Error> {
        let Some(artifact): Option<ArtifactRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ARTIFACT_COLUMNS} FROM release_artifacts a WHERE a.id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        else {
            return Ok(None);
        };
        Ok(self
            .release(&artifact.release_id)
            .await?
            .map(|release| (artifact, release)))
    }

    /// Attaches a file to a release, audited: to a draft for any platform (replacing its
    /// file), to a published release only for a platform it has no file for yet (what a
    /// client was offered never changes). State check and write share one write
    /// transaction (the release row locked on PostgreSQL), so they cannot interleave with a
    /// publish or another upload.
    pub async fn attach_artifact(
        &self,
        a: &ArtifactRow,
        audit: &NewAudit,
    ) -> Result<AttachOutcome, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        let state: Option<(String,)> = match self.backend() {
            super::Backend::Postgres => {
                sqlx::query_as("SELECT state FROM releases WHERE id = $1 FOR UPDATE")
                    .bind(&a.release_id)
                    .fetch_optional(&mut *tx)
                    .await?
            }
            super::Backend::Sqlite => {
                sqlx::query_as("SELECT state FROM releases WHERE id = $1")
                    .bind(&a.release_id)
                    .fetch_optional(&mut *tx)
                    .await?
            }
        };
        match state.map(|(s,)| ReleaseState::from(StateText::from(s))) {
            None => return Ok(AttachOutcome::Missing),
            Some(ReleaseState::Draft) => {}
            Some(ReleaseState::Published) => {
                let taken: Option<(String,)> = sqlx::query_as(
                    "SELECT id FROM release_artifacts WHERE release_id = $1 AND platform = $2",
                )
                .bind(&a.release_id)
                .bind(&a.platform)
                .fetch_optional(&mut *tx)
                .await?;
                if taken.is_some() {
                    return Ok(AttachOutcome::Fixed);
                }
            }
            Some(ReleaseState::Yanked) => return Ok(AttachOutcome::Fixed),
        }
        sqlx::query(
            "INSERT INTO release_artifacts (id, release_id, platform, name, size, sha256, \
             content_type, signature, downloads, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9) \
             ON CONFLICT (release_id, platform) DO UPDATE SET name = excluded.name, \
             size = excluded.size, sha256 = excluded.sha256, \
             content_type = excluded.content_type, signature = excluded.signature, \
             created_at = excluded.created_at",
        )
        .bind(&a.id)
        .bind(&a.release_id)
        .bind(&a.platform)
        .bind(&a.name)
        .bind(a.size)
        .bind(&a.sha256)
        .bind(&a.content_type)
        .bind(a.signature.as_deref())
        .bind(a.created_at)
        .execute(&mut *tx)
        .await?;
        audit.write(&mut *tx).await?;
        tx.commit().await?;
        Ok(AttachOutcome::Attached)
    }

    /// Moves a release from `from` to `to` (stamping `published_at` or `yanked_at` with
    /// `at`), audited; `Ok(false)` when it was not in state `from` (nothing written).
    pub async fn move_release(
        &self,
        id: &str,
        from: ReleaseState,
        to: ReleaseState,
        at: i64,
        audit: &NewAudit,
    ) -> Result<bool, sqlx::Error> {
        let stamp = match to {
            ReleaseState::Published => "published_at",
            ReleaseState::Yanked => "yanked_at",
            ReleaseState::Draft => "created_at",
        };
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE releases SET state = $3, {stamp} = $4 WHERE id = $1 AND state = $2"
        )))
        .bind(id)
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(at)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        audit.write(&mut *tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Counts one download of an artifact.
    pub async fn count_artifact_download(&self, id: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE release_artifacts SET downloads = downloads + 1 WHERE id = $1")
            .bind(id)
            .execute(self.writer())
            .await
            .map(|_| ())
    }

    /// Downloads per published release and platform, busiest first.
    pub async fn release_downloads(
        &self,
        limit: i64,
    ) -> Result<Vec<ReleaseDownloads>, sqlx::Error> {
        sqlx::query_as(
            "SELECT p.slug AS product_slug, r.version, a.platform, a.downloads \
             FROM release_artifacts a JOIN releases r ON r.id = a.release_id \
             JOIN products p ON p.id = r.product_id WHERE r.state = 'published' \
             ORDER BY a.downloads DESC, p.slug, r.version, a.platform LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await
    }
}
