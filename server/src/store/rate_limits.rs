//! Fixed-window request counters in the shared database, so that every replica sees the
//! same count and a limit holds across the whole deployment.

use super::Store;

impl Store {
    /// Counts one hit in each bucket for the window starting at `window_start` and returns
    /// the hit counts after this request, in the order given.
    pub async fn hit_rate_buckets(
        &self,
        buckets: [&str; 2],
        window_start: i64,
    ) -> Result<[i64; 2], sqlx::Error> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "INSERT INTO rate_limits (bucket, window_start, hits) VALUES ($1, $3, 1), ($2, $3, 1) \
             ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limits.hits + 1 \
             RETURNING bucket, hits",
        )
        .bind(buckets[0])
        .bind(buckets[1])
        .bind(window_start)
        .fetch_all(self.writer())
        .await?;
        let count = |b: &str| rows.iter().find(|(n, _)| n == b).map_or(0, |(_, h)| *h);
        Ok([count(buckets[0]), count(buckets[1])])
    }

    /// Drops windows that ended before `before`.
    pub async fn prune_rate_limits(&self, before: i64) -> Result<u64, sqlx::Error> {
        let done = sqlx::query("DELETE FROM rate_limits WHERE window_start < $1")
            .bind(before)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected())
    }
}
