//! Fixed-window request counters in the shared database, so that every replica sees the
//! same count and a limit holds across the whole deployment.

use crate::platform::error::Error;
use crate::platform::rate_limit::Counters;

use super::Store;

impl Counters for Store {
    async fn count_hits(&self, buckets: &[(&str, i64, i64)]) -> Result<Vec<i64>, Error> {
        Ok(self.hit_rate_buckets(buckets).await?)
    }

    async fn hits(&self, buckets: &[(&str, i64)]) -> Result<Vec<i64>, Error> {
        Ok(self.rate_hits(buckets).await?)
    }
}

impl Store {
    /// Counts one hit in each `(bucket, window start, window end)` and returns the hit
    /// counts after this request, in the order given. One statement, one round trip.
    pub async fn hit_rate_buckets(
        &self,
        buckets: &[(&str, i64, i64)],
    ) -> Result<Vec<i64>, sqlx::Error> {
        if buckets.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = String::from(
            "INSERT INTO rate_limits (bucket, window_start, hits, expires_at) VALUES ",
        );
        for i in 0..buckets.len() {
            let n = i * 3;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("(${}, ${}, 1, ${})", n + 1, n + 2, n + 3));
        }
        sql.push_str(
            " ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limits.hits + 1 \
             RETURNING bucket, window_start, hits",
        );
        let mut q = sqlx::query_as::<_, (String, i64, i64)>(sqlx::AssertSqlSafe(sql));
        for (bucket, start, end) in buckets {
            q = q.bind(*bucket).bind(*start).bind(*end);
        }
        let rows = q.fetch_all(self.writer()).await?;
        Ok(buckets
            .iter()
            .map(|(b, start, _)| {
                rows.iter()
                    .find(|(n, s, _)| n == b && s == start)
                    .map_or(0, |(_, _, h)| *h)
            })
            .collect())
    }

    /// The hit counts of `(bucket, window start)` pairs, in the order given (0 for none),
    /// without counting anything.
    pub async fn rate_hits(&self, buckets: &[(&str, i64)]) -> Result<Vec<i64>, sqlx::Error> {
        let mut counts = Vec::with_capacity(buckets.len());
        for (bucket, start) in buckets {
            let hits: Option<i64> = sqlx::query_scalar(
                "SELECT hits FROM rate_limits WHERE bucket = $1 AND window_start = $2",
            )
            .bind(*bucket)
            .bind(*start)
            .fetch_optional(self.pool())
            .await?;
            counts.push(hits.unwrap_or(0));
        }
        Ok(counts)
    }

    /// Drops windows that ended before `now`.
    pub async fn prune_rate_limits(&self, now: i64) -> Result<u64, sqlx::Error> {
        let done = sqlx::query("DELETE FROM rate_limits WHERE expires_at < $1")
            .bind(now)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected())
    }
}
