//! Selling and delivering: purchases and their fulfilment, payment webhooks (Stripe),
//! downloads and the files behind them, and email.

pub mod blobs;
pub mod downloads;
pub mod mail;
pub(crate) mod reports;
pub mod sales;
pub mod stripe;
pub(crate) mod undelivered;
pub mod webhooks;
