//! The `licet-server` command line: run the server and do the vendor's daily chores
//! (keys, admin tokens, products, licenses) straight against the database.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use licet_proto::ErrorCode;
use licet_proto::admin::{
    CreateProduct, ExtendLicense, IssueLicense, Page, ProductKind, UpdateProduct,
};
use licet_proto::trials::TrialPolicy;
use serde::Serialize;

use crate::app::{self, App};
use crate::auth::{Actor, Admin};
use crate::catalogue::{self, StatusChange};
use crate::licensing::signing;
use crate::platform::clock::SystemClock;
use crate::platform::config::{Config, LogFormat, Overrides};
use crate::platform::crypto::MASTER_KEY_FILE;
use crate::platform::error::{Error, Result};
use crate::store::LicenseFilter;

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

/// Runs a parsed command line; the process exit code.
pub async fn run(cli: Cli) -> ExitCode {
    let config = match Config::load(cli.config.as_deref(), &cli.overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    init_logging(config.log_format);
    match dispatch(config, cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", describe(&e));
            ExitCode::FAILURE
        }
    }
}

fn describe(e: &Error) -> String {
    match e {
        Error::Api { code, message } => format!("{code}: {message}"),
        other => other.to_string(),
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LICET_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A closed stderr must not take the server down: tracing would otherwise report the
    // failed write with eprintln!, which panics.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never into files or pipes.
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .log_internal_errors(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

async fn open(config: Config) -> Result<Arc<App>> {
    let opened = App::open(config, Arc::new(SystemClock)).await?;
    if opened.created_master_key {
        tracing::info!(
            "created a new master key in {}/master.key (mode 0600); back it up",
            opened.app.config.data_dir.display()
        );
    }
    if let Some(token) = &opened.new_admin_token {
        // Printed to stdout once, never logged; only its hash is stored.
        println!(
            "\nAdmin token (shown once; store it now):\n\n    {}\n\n\
             Sign in to the dashboard with it at {}/admin (or set a password with\n\
             `licet-server admin-password`). Customers sign in at {}/portal.\n",
            token.as_str(),
            opened.app.config.public_url,
            opened.app.config.public_url
        );
    }
    Ok(opened.app)
}

/// Commands other than `serve` and `migrate` work on an existing installation. Run from the
/// wrong directory they would otherwise set up a new one (data dir, master key, admin token)
/// and then find nothing in it; instead they refuse and say where they looked.
fn ensure_installed(config: &Config) -> Result<()> {
    if config.master_key.is_some() || config.data_dir.join(MASTER_KEY_FILE).is_file() {
        return Ok(());
    }
    let dir = std::path::absolute(&config.data_dir).unwrap_or_else(|_| config.data_dir.clone());
    Err(Error::new(
        ErrorCode::NotFound,
        format!(
            "no Licet installation in {} (no {MASTER_KEY_FILE} there and LICET_MASTER_KEY is \
             unset); pass --data-dir (or LICET_DATA_DIR) for the existing one, or run \
             `licet-server serve` or `migrate` to set up a new one there",
            dir.display()
        ),
    ))
}

/// The published keys as the app compiles them in. The JWKS document is the one the server
/// serves; the C and Rust forms embed that same document as a string literal.
fn export_keys(jwks: &licet_proto::token::Jwks, format: KeysFormat) -> Result<String> {
    let json = serde_json::to_string(jwks).map_err(|e| Error::Internal(e.to_string()))?;
    let kids: Vec<&str> = jwks.keys.iter().filter_map(|k| k.kid.as_deref()).collect();
    let note = format!(
        "The public keys this app trusts (kids: {}). Generated by `licet-server keys export`;\n\
         regenerate after generating or retiring signing keys. Public keys: safe to ship.",
        kids.join(", ")
    );
    Ok(match format {
        KeysFormat::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(jwks).map_err(|e| Error::Internal(e.to_string()))?
        ),
        KeysFormat::CHeader => {
            // JSON has no characters a C string literal needs escaped except `"` and `\`.
            let literal = json.replace('\\', "\\\\").replace('"', "\\\"");
            format!(
                "/* {} */\n#ifndef LICET_PINNED_KEYS_H\n#define LICET_PINNED_KEYS_H\n\n\
                 /* Pass to licet_config_set_pinned_keys(config, LICET_PINNED_KEYS). */\n\
                 static const char LICET_PINNED_KEYS[] = \"{literal}\";\n\n#endif\n",
                note.replace('\n', "\n * ")
            )
        }
        KeysFormat::Rust => format!(
            "// {}\n\n/// Pass to `ClientBuilder::pinned_jwks(LICET_PINNED_KEYS)`.\n\
             pub const LICET_PINNED_KEYS: &str = r#\"{json}\"#;\n",
            note.replace('\n', "\n// ")
        ),
    })
}

fn print_json<T: Serialize>(value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::Internal(e.to_string()))?;
    println!("{text}");
    Ok(())
}

async fn dispatch(config: Config, command: Command) -> Result<()> {
    // Whoever runs a command on the host is the vendor (see `Admin::local_operator`).
    let operator = Admin::local_operator();
    if !matches!(command, Command::Serve | Command::Migrate) {
        ensure_installed(&config)?;
    }
    match command {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            open(config).await?;
            println!("database is up to date");
            Ok(())
        }
        Command::Keys { action } => {
            let app = open(config).await?;
            let now = app.now();
            match action {
                KeysCommand::List => {}
                KeysCommand::Generate => {
                    let kid =
                        signing::generate(&app.store, &app.master, now, &operator, false).await?;
                    println!("generated and published {kid}");
                }
                KeysCommand::Rotate => {
                    let kid = signing::rotate(&app.store, &app.master, now, &operator).await?;
                    println!("current signing key is now {kid}");
                }
                KeysCommand::Export { format } => {
                    // Only the document: its output is meant to be redirected into a file.
                    print!("{}", export_keys(&app.keys.jwks(), format)?);
                    return Ok(());
                }
                KeysCommand::Retire { kid } => {
                    signing::retire(&app.store, &kid, now, &operator).await?;
                    println!("retired {kid}");
                }
            }
            for k in app.store.signing_keys().await? {
                println!(
                    "{}  {:<9}  created {}",
                    k.kid,
                    k.state.as_str(),
                    k.created_at
                );
            }
            Ok(())
        }
        Command::AdminPassword => {
            let password = zeroize::Zeroizing::new(read_password()?);
            let app = open(config).await?;
            crate::auth::admin::set_password(&app, &operator, &password).await?;
            eprintln!(
                "dashboard password set; sign in at {}/admin",
                app.config.public_url
            );
            Ok(())
        }
        Command::AdminToken {
            label,
            revoke_others,
        } => {
            let app = open(config).await?;
            let now = app.now();
            if revoke_others {
                let n = app.store.revoke_admin_tokens(now).await?;
                eprintln!("revoked {n} admin token(s)");
            }
            let token = app::create_admin_token(&app.store, now, &label, &operator).await?;
            println!("{}", token.as_str());
            Ok(())
        }
        Command::Product { action } => {
            let app = open(config).await?;
            match action {
                ProductCommand::Create {
                    slug,
                    name,
                    kind,
                    max_activations,
                    license_days,
                    token_days,
                    entitlements,
                    trial_days,
                } => {
                    let req = CreateProduct {
                        slug,
                        name,
                        kind: ProductKind::parse(&kind).unwrap_or_default(),
                        max_activations,
                        license_duration_secs: license_days.map(|d| d.saturating_mul(86_400)),
                        token_lifetime_secs: token_days.saturating_mul(86_400),
                        entitlements,
                        metadata: serde_json::json!({}),
                        stripe_price_ids: Vec::new(),
                        download_limit: licet_proto::admin::DEFAULT_DOWNLOAD_LIMIT,
                        trial: trial_days.map(|d| TrialPolicy {
                            duration_secs: d.saturating_mul(86_400),
                            entitlements: None,
                        }),
                        subscription_grace_secs:
                            licet_proto::admin::DEFAULT_SUBSCRIPTION_GRACE_SECS,
                        billing_portal_url: None,
                    };
                    print_json(&catalogue::create_product(&app, &operator, req).await?)
                }
                ProductCommand::Trial {
                    slug,
                    days,
                    entitlements,
                    off,
                } => {
                    let trial = days.filter(|_| !off).map(|d| TrialPolicy {
                        duration_secs: d.saturating_mul(86_400),
                        entitlements: (!entitlements.is_empty()).then_some(entitlements),
                    });
                    let req = UpdateProduct {
                        trial: Some(trial),
                        ..UpdateProduct::default()
                    };
                    print_json(&catalogue::update_product(&app, &operator, &slug, req).await?)
                }
                ProductCommand::List => {
                    let rows = app.store.products().await?;
                    print_json(&Page {
                        items: rows.iter().map(|p| p.to_wire()).collect(),
                    })
                }
            }
        }
        Command::File { action } => {
            let app = open(config).await?;
            match action {
                FileCommand::Add {
                    product,
                    name,
                    content_type,
                    path,
                } => {
                    let name = match name {
                        Some(n) => n,
                        None => path
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .ok_or_else(|| Error::invalid("the path has no file name"))?,
                    };
                    let file = tokio::fs::File::open(&path).await.map_err(|e| {
                        Error::invalid(format!("cannot read {}: {e}", path.display()))
                    })?;
                    let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
                    print_json(
                        &crate::commerce::downloads::add_file(
                            &app,
                            &operator,
                            &product,
                            &name,
                            content_type.as_deref(),
                            stream,
                        )
                        .await?,
                    )
                }
                FileCommand::List { product } => print_json(&Page {
                    items: crate::commerce::downloads::files(&app, &product).await?,
                }),
            }
        }
        Command::License { action } => {
            let app = open(config).await?;
            let license = match action {
                LicenseCommand::Issue {
                    product,
                    email,
                    max_activations,
                    metadata,
                } => {
                    let req = IssueLicense {
                        product,
                        email,
                        expires_at: None,
                        max_activations,
                        token_lifetime_secs: None,
                        entitlements: None,
                        metadata: Some(metadata.into_iter().collect()),
                    };
                    catalogue::issue_license(&app, &operator, req).await?
                }
                LicenseCommand::List {
                    product,
                    email,
                    key,
                    limit,
                } => {
                    let filter = LicenseFilter {
                        key: key.map(|k| app.key_format.parse(&k).unwrap_or(k)),
                        email,
                        product,
                        limit: limit.clamp(1, 10_000),
                        offset: 0,
                    };
                    return print_json(&Page {
                        items: catalogue::list_licenses(&app, filter).await?,
                    });
                }
                LicenseCommand::Show { license } => catalogue::show_license(&app, &license).await?,
                LicenseCommand::Suspend { license } => {
                    catalogue::change_status(&app, &operator, &license, StatusChange::Suspend)
                        .await?
                }
                LicenseCommand::Reinstate { license } => {
                    catalogue::change_status(&app, &operator, &license, StatusChange::Reinstate)
                        .await?
                }
                LicenseCommand::Revoke { license } => {
                    catalogue::change_status(&app, &operator, &license, StatusChange::Revoke)
                        .await?
                }
                LicenseCommand::Extend {
                    license,
                    days,
                    until,
                    perpetual,
                } => {
                    let expires_at = match (days, until, perpetual) {
                        (Some(d), _, _) => Some(app.now().saturating_add(d.saturating_mul(86_400))),
                        (None, Some(u), _) => Some(u),
                        (None, None, true) => None,
                        (None, None, false) => {
                            return Err(Error::invalid("give --days, --until or --perpetual"));
                        }
                    };
                    catalogue::extend(&app, &operator, &license, ExtendLicense { expires_at })
                        .await?
                }
                LicenseCommand::Deactivate {
                    license,
                    activation,
                } => {
                    catalogue::remove_activation(
                        &app,
                        Actor::Admin(&operator),
                        &license,
                        &activation,
                    )
                    .await?
                }
            };
            print_json(&license)
        }
    }
}

async fn serve(config: Config) -> Result<()> {
    let listen = config.listen;
    crate::http_server::raise_open_files_limit(&config);
    let app = open(config).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Error::Internal(format!("cannot listen on {listen}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Internal(e.to_string()))?;
    tracing::info!(
        %addr,
        database = %app.store.backend_name(),
        public_url = %app.config.public_url,
        signing_key = app.keys.current_kid().as_deref().unwrap_or("none"),
        "licet-server listening on http://{addr}"
    );
    crate::serve(app.clone(), listener, shutdown_signal()).await;
    app.store.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

/// The new dashboard password: prompted twice on a terminal, else one line of stdin.
fn read_password() -> Result<String> {
    use std::io::IsTerminal;
    let io = |e: std::io::Error| Error::invalid(format!("could not read the password: {e}"));
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("New dashboard password: ").map_err(io)?;
        let second = rpassword::prompt_password("Again: ").map_err(io)?;
        if first != second {
            return Err(Error::invalid("the two passwords differ"));
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map_err(io)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

/// `--meta key=value`.
fn parse_meta(s: &str) -> std::result::Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))
}
