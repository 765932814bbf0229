//! Products and their license policy.

use licet_proto::admin::ProductKind;

use super::states::StateText;
use super::{Store, parse_list};

/// A product row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProductRow {
    pub id: String,
    pub slug: String,
    /// Display name.
    pub name: String,
    /// What a purchase of it grants.
    #[sqlx(try_from = "StateText")]
    pub kind: ProductKind,
    /// Seats per license.
    pub max_activations: i64,
    /// License lifetime, `None` for perpetual.
    pub license_duration_secs: Option<i64>,
    /// Offline-token lifetime.
    pub token_lifetime_secs: i64,
    /// JSON list.
    pub entitlements: String,
    /// JSON object.
    pub metadata: String,
    /// JSON list of Stripe price ids.
    pub stripe_price_ids: String,
    /// Downloads per purchase.
    pub download_limit: i64,
    /// Trial length; `None`: no trial.
    pub trial_secs: Option<i64>,
    /// Trial entitlements (JSON list); `None`: the product's.
    pub trial_entitlements: Option<String>,
    /// Sold by subscription: seconds a license outlives its paid period.
    pub subscription_grace_secs: i64,
    /// Sold by subscription: the product's own billing portal link.
    pub billing_portal_url: Option<String>,
    /// A license's updates period from issue; `None`: until it expires.
    pub maintenance_secs: Option<i64>,
    /// 1 when trials are offered releases.
    pub trial_updates: i64,
    /// Floating: the seat lease; `None`: node-locked.
    pub floating_lease_secs: Option<i64>,
    /// Floating: the longest borrow (0: none).
    pub floating_max_borrow_secs: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl ProductRow {
    /// Stripe price ids as a list.
    pub fn price_id_list(&self) -> Vec<String> {
        parse_list(&self.stripe_price_ids)
    }

    /// Entitlements as a list.
    pub fn entitlement_list(&self) -> Vec<String> {
        parse_list(&self.entitlements)
    }

    /// The floating policy, for floating products.
    pub fn floating_policy(&self) -> Option<licet_proto::floating::FloatingPolicy> {
        self.floating_lease_secs
            .map(|lease_secs| licet_proto::floating::FloatingPolicy {
                lease_secs,
                max_borrow_secs: self.floating_max_borrow_secs,
            })
    }

    /// What a trial grants: the trial's entitlements, else the product's.
    pub fn trial_entitlement_list(&self) -> Vec<String> {
        parse_list(
            self.trial_entitlements
                .as_deref()
                .unwrap_or(&self.entitlements),
        )
    }
}

const COLUMNS: &str = "id, slug, name, kind, max_activations, license_duration_secs, \
     token_lifetime_secs, entitlements, metadata, stripe_price_ids, download_limit, trial_secs, \
     trial_entitlements, subscription_grace_secs, billing_portal_url, maintenance_secs, trial_updates, \
     floating_lease_secs, floating_max_borrow_secs, created_at, updated_at";

impl Store {
    /// Inserts a product; `Ok(false)` when the slug is taken.
    pub(super) async fn insert_product(
        &self,
        tx: &mut sqlx::AnyConnection,
        p: &ProductRow,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO products (id, slug, name, kind, max_activations, license_duration_secs, \
             token_lifetime_secs, entitlements, metadata, stripe_price_ids, download_limit, \
             trial_secs, trial_entitlements, created_at, updated_at, subscription_grace_secs, \
             billing_portal_url, maintenance_secs, trial_updates, floating_lease_secs, \
             floating_max_borrow_secs) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $18, $19, $20, $21) \
             ON CONFLICT (slug) DO NOTHING",
        )
        .bind(&p.id)
        .bind(&p.slug)
        .bind(&p.name)
        .bind(p.kind.as_str())
        .bind(p.max_activations)
        .bind(p.license_duration_secs)
        .bind(p.token_lifetime_secs)
        .bind(&p.entitlements)
        .bind(&p.metadata)
        .bind(&p.stripe_price_ids)
        .bind(p.download_limit)
        .bind(p.trial_secs)
        .bind(p.trial_entitlements.as_deref())
        .bind(p.created_at)
        .bind(p.updated_at)
        .bind(p.subscription_grace_secs)
        .bind(p.billing_portal_url.as_deref())
        .bind(p.maintenance_secs)
        .bind(p.trial_updates)
        .bind(p.floating_lease_secs)
        .bind(p.floating_max_borrow_secs)
        .execute(&mut *tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Writes every mutable column of an existing product.
    pub(super) async fn update_product(
        &self,
        tx: &mut sqlx::AnyConnection,
        p: &ProductRow,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE products SET name = $2, max_activations = $3, license_duration_secs = $4, \
             token_lifetime_secs = $5, entitlements = $6, metadata = $7, updated_at = $8, \
             stripe_price_ids = $9, download_limit = $10, trial_secs = $11, \
             trial_entitlements = $12, subscription_grace_secs = $13, billing_portal_url = $14, \
             maintenance_secs = $15, trial_updates = $16, floating_lease_secs = $17, \
             floating_max_borrow_secs = $18 WHERE id = $1",
        )
        .bind(&p.id)
        .bind(&p.name)
        .bind(p.max_activations)
        .bind(p.license_duration_secs)
        .bind(p.token_lifetime_secs)
        .bind(&p.entitlements)
        .bind(&p.metadata)
        .bind(p.updated_at)
        .bind(&p.stripe_price_ids)
        .bind(p.download_limit)
        .bind(p.trial_secs)
        .bind(p.trial_entitlements.as_deref())
        .bind(p.subscription_grace_secs)
        .bind(p.billing_portal_url.as_deref())
        .bind(p.maintenance_secs)
        .bind(p.trial_updates)
        .bind(p.floating_lease_secs)
        .bind(p.floating_max_borrow_secs)
        .execute(&mut *tx)
        .await
        .map(|_| ())
    }

    /// The product with this slug.
    pub async fn product_by_slug(&self, slug: &str) -> Result<Option<ProductRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM products WHERE slug = $1"
        )))
        .bind(slug)
        .fetch_optional(self.pool())
        .await
    }

    /// Every product, by slug.
    pub async fn products(&self) -> Result<Vec<ProductRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM products ORDER BY slug"
        )))
        .fetch_all(self.pool())
        .await
    }
}
