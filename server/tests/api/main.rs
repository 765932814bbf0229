//! The server's HTTP API, specified by tests against a real server (in-process, random
//! port, temporary data dir). The same suite runs on SQLite and, with
//! `LICET_TEST_DATABASE_URL=postgres://…`, on PostgreSQL.

mod admin;
mod browser;
mod browser_offline;
mod connections;
mod dashboard;
mod dashboard_sign_in;
mod downloads;
mod errors;
mod floating;
mod keys;
mod licensing;
#[path = "../common/moto.rs"]
mod moto;
mod offline;
mod portal;
mod race;
mod release_fixtures;
mod release_pages;
mod releases;
mod s3;
mod sales;
mod smtp;
mod startup;
mod subscription_payments;
mod subscriptions;
mod support;
mod trials;
mod unchanged;
