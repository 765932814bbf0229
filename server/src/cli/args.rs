//! The command line's shape: every command, option and argument (clap).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::platform::config::Overrides;

/// Sell, deliver and license software: the Licet server.
///
/// Configuration is read from defaults, then the TOML file given with --config, then
/// LICET_* environment variables, then flags. Secrets come from the environment only:
/// LICET_ADMIN_TOKEN (an admin token accepted besides the stored ones) and
/// LICET_MASTER_KEY (instead of <data-dir>/master.key; every replica needs the same one).
#[derive(Debug, Parser)]
#[command(name = "licet-server", version)]
pub struct Cli {
    /// TOML configuration file.
    #[arg(long, short = 'c', env = "LICET_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Settings that override the file.
    #[command(flatten)]
    pub overrides: Overrides,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (migrates and creates keys on first start).
    Serve,
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Manage the Ed25519 signing keys.
    Keys {
        /// Key action.
        #[command(subcommand)]
        action: KeysCommand,
    },
    /// Create a new admin API token and print it once.
    AdminToken {
        /// A label to recognise the token by in the audit log.
        #[arg(long, default_value = "cli")]
        label: String,
        /// Revoke every other admin token.
        #[arg(long)]
        revoke_others: bool,
    },
    /// Set the dashboard's sign-in password (Argon2id-hashed in the database). Prompts on a
    /// terminal; otherwise reads the password from the first line of standard input.
    AdminPassword,
    /// Manage products.
    Product {
        /// Product action.
        #[command(subcommand)]
        action: ProductCommand,
    },
    /// Manage licenses.
    License {
        /// License action.
        #[command(subcommand)]
        action: LicenseCommand,
    },
    /// Manage the files of download products.
    File {
        /// File action.
        #[command(subcommand)]
        action: FileCommand,
    },
    /// Publish, list and withdraw releases (license-gated updates).
    Release {
        /// Release action.
        #[command(subcommand)]
        action: ReleaseCommand,
    },
    /// Air-gapped activation: answer an offline machine's activation request, or free its
    /// seat with its deactivation proof.
    Offline {
        /// Offline action.
        #[command(subcommand)]
        action: OfflineCommand,
    },
}

/// `offline …`
#[derive(Debug, Subcommand)]
pub enum OfflineCommand {
    /// Take a seat for an activation request (checked like an online activation) and print
    /// the activation response to carry back to the machine.
    Activate {
        /// The request's file (its text block or bare token); `-` reads standard input.
        request: PathBuf,
        /// Also write the response to this file.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Print the whole answer (response, token, license, seat) as JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Free an offline machine's seat with its deactivation proof (once; a proof used
    /// before changes nothing).
    Deactivate {
        /// The proof's file (its text block or bare token); `-` reads standard input.
        proof: PathBuf,
    },
}

/// `release …`
#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Add one platform's file to a version and publish it.
    ///
    /// Creates the version (on --channel, with --notes-file and --entitlement) when the
    /// product has none, attaches the file, and publishes unless --draft. A published
    /// version takes files only for platforms it has none for, so run it once per platform;
    /// its channel and entitlement stay as created.
    Publish {
        /// Product slug.
        #[arg(long)]
        product: String,
        /// Semantic version, e.g. 1.2.0 or 2.0.0-beta.1.
        #[arg(long)]
        version: String,
        /// Channel of a new version [default: stable].
        #[arg(long)]
        channel: Option<String>,
        /// Platform of the file, `os-arch` (linux-x86_64, darwin-aarch64, windows-x86_64).
        #[arg(long)]
        platform: String,
        /// The updater's signature file (e.g. minisign `.sig`): its content is published.
        #[arg(long, value_name = "FILE")]
        signature: Option<PathBuf>,
        /// Release notes of a new version (Markdown).
        #[arg(long, value_name = "FILE")]
        notes_file: Option<PathBuf>,
        /// An entitlement a license needs to get a new version.
        #[arg(long)]
        entitlement: Option<String>,
        /// The name customers save the file as [default: the file's own name].
        #[arg(long)]
        name: Option<String>,
        /// Attach the file but leave the version a draft.
        #[arg(long)]
        draft: bool,
        /// The file.
        path: PathBuf,
    },
    /// Withdraw a published version: no app is offered it or can download it any more.
    Yank {
        /// Product slug.
        #[arg(long)]
        product: String,
        /// Version.
        #[arg(long)]
        version: String,
    },
    /// List a product's releases (every state), newest version first.
    List {
        /// Product slug.
        #[arg(long)]
        product: String,
    },
}

/// `file …`
#[derive(Debug, Subcommand)]
pub enum FileCommand {
    /// Add a file to a product (or replace the file of the same name).
    Add {
        /// Product slug.
        #[arg(long)]
        product: String,
        /// The name customers see and save as [default: the file's own name].
        #[arg(long)]
        name: Option<String>,
        /// MIME type [default: application/octet-stream].
        #[arg(long)]
        content_type: Option<String>,
        /// The file.
        path: PathBuf,
    },
    /// List a product's files.
    List {
        /// Product slug.
        #[arg(long)]
        product: String,
    },
}

/// `keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List keys with their states (current, published, retired).
    List,
    /// Generate and publish a key without signing with it yet, so apps can pin it early.
    Generate,
    /// Make a new key current (the newest pre-generated one, or a fresh one). The old key
    /// stays published; running servers pick the change up within LICET_KEY_REFRESH_SECS.
    Rotate,
    /// Print the published public keys for an app to compile in (pin): as JSON (JWKS), a C
    /// header or a Rust source file. Re-export after generating or retiring keys.
    Export {
        /// `json` (the JWKS document), `c-header` or `rust`.
        #[arg(long, value_enum, default_value = "json")]
        format: KeysFormat,
    },
    /// Withdraw a published key; tokens it signed stop verifying.
    Retire {
        /// The key id.
        kid: String,
    },
}

/// How `keys export` writes the published keys.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum KeysFormat {
    /// The JWKS document (`/.well-known/jwks.json`).
    Json,
    /// A C header defining `LICET_PINNED_KEYS`, for `licet_config_set_pinned_keys`.
    CHeader,
    /// A Rust file defining `LICET_PINNED_KEYS`, for `ClientBuilder::pinned_jwks`.
    Rust,
}

/// `product …`
#[derive(Debug, Subcommand)]
pub enum ProductCommand {
    /// Create a product.
    Create {
        /// URL-safe identifier (a-z, 0-9, '-').
        #[arg(long)]
        slug: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// What the product delivers.
        #[arg(long, default_value = "license", value_parser = ["license", "download", "access"])]
        kind: String,
        /// Machines per license.
        #[arg(long, default_value_t = 3)]
        max_activations: u32,
        /// License lifetime in days; omit for perpetual licenses.
        #[arg(long)]
        license_days: Option<i64>,
        /// How long an app may run offline on one lease, in days.
        #[arg(long, default_value_t = 7)]
        token_days: i64,
        /// A feature flag every license grants (repeatable).
        #[arg(long = "entitlement")]
        entitlements: Vec<String>,
        /// Offer a trial of this many days (a machine starts one without a key).
        #[arg(long)]
        trial_days: Option<i64>,
        /// Updates period of each license from its issue, in days ("maintenance"): releases
        /// published in it stay the license's forever. Default: until the license expires.
        #[arg(long)]
        maintenance_days: Option<i64>,
        /// Offer releases to machines on a trial too.
        #[arg(long)]
        trial_updates: bool,
        /// Floating: licenses hold at most --max-activations seats at a time, each through a
        /// seat lease of this many seconds that heartbeats renew (e.g. 900).
        #[arg(long, value_name = "SECS")]
        floating_lease_secs: Option<i64>,
        /// Floating: the longest a seat may be borrowed for offline use, in days.
        #[arg(long, value_name = "DAYS", requires = "floating_lease_secs")]
        max_borrow_days: Option<i64>,
    },
    /// Offer a trial of a product, or stop offering it.
    Trial {
        /// Product slug.
        slug: String,
        /// Trial length in days.
        #[arg(long, conflicts_with = "off", required_unless_present = "off")]
        days: Option<i64>,
        /// A feature flag the trial grants instead of the product's (repeatable).
        #[arg(long = "entitlement")]
        entitlements: Vec<String>,
        /// Stop offering trials (trials started keep their end).
        #[arg(long)]
        off: bool,
    },
    /// List products.
    List,
}

/// `license …`
#[derive(Debug, Subcommand)]
pub enum LicenseCommand {
    /// Issue a license and print it with its key.
    Issue {
        /// Product slug.
        #[arg(long)]
        product: String,
        /// Customer email.
        #[arg(long)]
        email: String,
        /// Seats for this license (overrides the product).
        #[arg(long)]
        max_activations: Option<u32>,
        /// Metadata carried in every lease, as `key=value` (repeatable).
        #[arg(long = "meta", value_name = "KEY=VALUE", value_parser = parse_meta)]
        metadata: Vec<(String, String)>,
        /// End of the license's updates, `YYYY-MM-DD` (default: from the product's
        /// maintenance period, else the license's expiry).
        #[arg(long, value_name = "DATE", value_parser = parse_day)]
        updates_until: Option<i64>,
    },
    /// Find licenses.
    List {
        /// Product slug.
        #[arg(long)]
        product: Option<String>,
        /// Customer email.
        #[arg(long)]
        email: Option<String>,
        /// Exact key.
        #[arg(long)]
        key: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Show a license (by id or key) with its activations.
    Show {
        /// License id or key.
        license: String,
    },
    /// Suspend a license.
    Suspend {
        /// License id or key.
        license: String,
    },
    /// Reinstate a suspended license.
    Reinstate {
        /// License id or key.
        license: String,
    },
    /// Revoke a license (final).
    Revoke {
        /// License id or key.
        license: String,
    },
    /// Change a license's expiry.
    Extend {
        /// License id or key.
        license: String,
        /// New expiry, this many days from now.
        #[arg(long, conflicts_with_all = ["until", "perpetual"])]
        days: Option<i64>,
        /// New expiry as Unix seconds.
        #[arg(long, conflicts_with = "perpetual")]
        until: Option<i64>,
        /// Never expire.
        #[arg(long)]
        perpetual: bool,
    },
    /// Free a seat: end one activation of a license.
    Deactivate {
        /// License id or key.
        license: String,
        /// Activation id (see `license show`).
        activation: String,
    },
}

/// `--meta key=value`.
fn parse_meta(s: &str) -> std::result::Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))
}

fn parse_day(s: &str) -> std::result::Result<i64, String> {
    crate::platform::dates::parse_date(s).ok_or_else(|| format!("`{s}` is not a YYYY-MM-DD date"))
}
