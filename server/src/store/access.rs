//! Access grants: course- or membership-style products a purchase unlocks.

use super::Store;

impl Store {
    /// Grants access (once per purchase and product).
    pub(super) async fn grant_access(
        &self,
        tx: &mut sqlx::AnyConnection,
        id: &str,
        purchase_id: &str,
        product_id: &str,
        email: &str,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO access_grants (id, purchase_id, product_id, email, granted_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (purchase_id, product_id) DO NOTHING",
        )
        .bind(id)
        .bind(purchase_id)
        .bind(product_id)
        .bind(email)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map(|_| ())
    }

    /// Ends (`Some(now)`) or restores (`None`) every grant of a purchase.
    pub(super) async fn set_access_revoked(
        &self,
        tx: &mut sqlx::AnyConnection,
        purchase_id: &str,
        at: Option<i64>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE access_grants SET revoked_at = $2 WHERE purchase_id = $1")
            .bind(purchase_id)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map(|_| ())
    }

    /// `(purchase id, granted at)` of the live grants of `email` for a product slug.
    pub async fn live_access(
        &self,
        email: &str,
        product_slug: &str,
    ) -> Result<Vec<(String, i64)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT g.purchase_id, g.granted_at FROM access_grants g JOIN products p ON p.id = g.product_id \
             WHERE lower(g.email) = lower($1) AND p.slug = $2 AND g.revoked_at IS NULL ORDER BY g.granted_at",
        )
        .bind(email)
        .bind(product_slug)
        .fetch_all(self.pool())
        .await
    }

    /// Ids of the licenses a purchase minted.
    pub(super) async fn licenses_of_purchase_in(
        &self,
        tx: &mut sqlx::AnyConnection,
        purchase_id: &str,
    ) -> Result<Vec<(String, String)>, sqlx::Error> {
        sqlx::query_as("SELECT id, status FROM licenses WHERE purchase_id = $1 ORDER BY created_at")
            .bind(purchase_id)
            .fetch_all(&mut *tx)
            .await
    }

    /// Keys and product names of the licenses a purchase minted (for the delivery email).
    pub(super) async fn keys_of_purchase(
        &self,
        tx: &mut sqlx::AnyConnection,
        purchase_id: &str,
    ) -> Result<Vec<(String, String)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT p.name, l.license_key FROM licenses l JOIN products p ON p.id = l.product_id \
             WHERE l.purchase_id = $1 ORDER BY p.name",
        )
        .bind(purchase_id)
        .fetch_all(&mut *tx)
        .await
    }
}
