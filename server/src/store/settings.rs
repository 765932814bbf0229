//! Small server-wide values (e.g. the master-key check) shared by every replica.

use super::Store;

impl Store {
    /// Reads a setting.
    pub async fn setting(&self, name: &str) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await
    }

    /// Writes a setting only if it does not exist yet; returns the value now stored.
    pub async fn setting_or_insert(&self, name: &str, value: &str) -> Result<String, sqlx::Error> {
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value)
        .execute(self.writer())
        .await?;
        Ok(self
            .setting(name)
            .await?
            .unwrap_or_else(|| value.to_owned()))
    }

    /// Writes (or overwrites) a setting.
    pub async fn set_setting(&self, name: &str, value: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(name)
        .bind(value)
        .execute(self.writer())
        .await
        .map(|_| ())
    }
}
