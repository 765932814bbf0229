//! Selling and delivering: purchases and their fulfilment, payment webhooks (Stripe),
//! subscriptions (Stripe Billing), downloads and the files behind them, and email.

pub mod blobs;
pub mod customers;
pub mod downloads;
pub mod mail;
pub(crate) mod reports;
pub mod sales;
pub mod stripe;
pub mod stripe_billing;
pub mod subscriptions;
pub(crate) mod undelivered;
pub mod webhooks;

/// What selling and delivering need beyond the catalogue: outgoing mail, the file store and
/// the download log.
pub trait Context: crate::catalogue::Context {
    /// Outgoing email.
    fn mail(&self) -> &mail::Mailer;
    /// Product files.
    fn blobs(&self) -> &blobs::BlobStore;
    /// Download records on their way to the database.
    fn download_log(&self) -> &downloads::DownloadLog;
}

impl<T: Context> Context for std::sync::Arc<T> {
    fn mail(&self) -> &mail::Mailer {
        (**self).mail()
    }
    fn blobs(&self) -> &blobs::BlobStore {
        (**self).blobs()
    }
    fn download_log(&self) -> &downloads::DownloadLog {
        (**self).download_log()
    }
}
