//! A small app licensed with the Licet SDK, using only its public API.
//!
//! ```text
//! licet-example activate KEY    bind this machine to a license
//! licet-example trial           no key yet: start (or resume) this machine's trial
//! licet-example check           am I licensed? (offline-first)
//! licet-example deactivate      free this machine's seat
//! licet-example update [--yes] [--channel beta] [--current 1.0.0] [--to PATH]
//!                               is there a newer release this license covers? download it
//! licet-example offline-request KEY [FILE]   a machine that never goes online: print (and
//!                               save) its activation request for the portal
//! licet-example offline-import FILE          import the activation response
//! licet-example offline-deactivate [FILE]    leave: print (and save) the deactivation proof
//! ```
//!
//! Configuration comes from the environment:
//! - `LICET_SERVER`: the server URL (default `http://127.0.0.1:8787`)
//! - `LICET_PRODUCT`: the product slug (default `photo`)
//! - `LICET_JWKS`: a file with the server's public keys
//!   (`curl $LICET_SERVER/.well-known/jwks.json > jwks.json`). A real app compiles its keys in
//!   with `include_str!`; keys fetched at run time are never trusted unless pinned.
//! - `LICET_STORAGE_DIR`: where to keep the lease (default: the platform's data directory)
//! - `LICET_FINGERPRINT`: a fingerprint override (containers without a machine id)
//! - `LICET_NO_KEYRING`: set to keep the key in a file instead of the OS keyring

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command: Vec<&str> = args.iter().map(String::as_str).collect();
    let client = match client() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = match command.as_slice() {
        ["activate", key] => client.activate(key).map(|l| report("activated", &l)),
        ["trial"] => client.start_trial().map(|l| report("trial", &l)),
        ["check"] => client.check().map(|l| report("licensed", &l)),
        ["validate"] => client.validate().map(|l| report("validated online", &l)),
        ["deactivate"] => client
            .deactivate()
            .map(|()| println!("deactivated: this machine's seat is free")),
        ["offline-request", key, file @ ..] if file.len() <= 1 => client
            .offline_activation_request(key)
            .and_then(|request| show_document(&request, file.first().copied())),
        ["offline-import", file] => std::fs::read_to_string(file)
            .map_err(|e| licet::Error::Storage(format!("reading {file}: {e}")))
            .and_then(|text| client.import_offline_activation(&text))
            .map(|l| report("activated offline", &l)),
        ["offline-deactivate", file @ ..] if file.len() <= 1 => client
            .offline_deactivation_proof()
            .and_then(|proof| show_document(&proof, file.first().copied())),
        ["update", flags @ ..] => match UpdateArgs::parse(flags) {
            Some(args) => update(&client, &args),
            None => return usage(),
        },
        _ => return usage(),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_verdict() => {
            println!("not licensed ({}): {e}", e.code());
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error ({}): {e}", e.code());
            ExitCode::from(3)
        }
    }
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: licet-example activate KEY | trial | check | validate | deactivate\n       \
         licet-example update [--yes] [--channel NAME] [--current VERSION] [--to PATH]\n       \
         licet-example offline-request KEY [FILE] | offline-import FILE | offline-deactivate [FILE]"
    );
    ExitCode::from(2)
}

/// Prints an air-gapped document's text block for the user to carry, and saves it to `file`.
fn show_document(document: &licet::OfflineDocument, file: Option<&str>) -> licet::Result<()> {
    print!("{}", document.text());
    if let Some(path) = file {
        document.write_to(path)?;
        println!("(also saved to {path})");
    }
    Ok(())
}

/// The options of `update`.
struct UpdateArgs<'a> {
    /// Download without asking.
    yes: bool,
    channel: Option<&'a str>,
    /// The version "running" (default: this program's).
    current: &'a str,
    /// Where to put the file (default: its own name, in the current directory).
    to: Option<PathBuf>,
}

impl<'a> UpdateArgs<'a> {
    fn parse(mut flags: &[&'a str]) -> Option<Self> {
        let mut args = Self {
            yes: false,
            channel: None,
            current: env!("CARGO_PKG_VERSION"),
            to: None,
        };
        loop {
            flags = match flags {
                [] => return Some(args),
                ["--yes" | "-y", rest @ ..] => {
                    args.yes = true;
                    rest
                }
                ["--channel", name, rest @ ..] => {
                    args.channel = Some(name);
                    rest
                }
                ["--current", version, rest @ ..] => {
                    args.current = version;
                    rest
                }
                ["--to", path, rest @ ..] => {
                    args.to = Some(PathBuf::from(path));
                    rest
                }
                _ => return None,
            };
        }
    }
}

/// Asks the server for a newer release, says what it found, and downloads an update the
/// license covers when the user agrees (or `--yes`).
fn update(client: &licet::Client, args: &UpdateArgs<'_>) -> licet::Result<()> {
    let Some(update) = client.check_for_update(args.current, args.channel)? else {
        println!("up to date ({})", args.current);
        return Ok(());
    };
    if !update.is_allowed() {
        println!(
            "{} is available but your license does not cover it: {}",
            update.version(),
            why_not(update.newer_not_allowed())
        );
        return Ok(());
    }
    println!("Update {} available", update.version());
    for line in update.notes().lines() {
        println!("  {line}");
    }
    if let Some(newer) = update.newer_not_allowed() {
        println!(
            "({} is out too, but your license does not cover it: {})",
            newer.version,
            why_not(Some(newer))
        );
    }
    if !args.yes
        && !confirm(&format!(
            "Update {} available — download?",
            update.version()
        ))
    {
        return Ok(());
    }
    // The vendor's file name, never a path of the server's choosing.
    let name = std::path::Path::new(update.file_name())
        .file_name()
        .map_or_else(|| PathBuf::from("update.bin"), PathBuf::from);
    let path = args.to.clone().unwrap_or(name);
    update.download_to(&path, |done, total| {
        let percent = (done * 100).checked_div(total).unwrap_or(100);
        eprint!("\r  downloading: {percent:3}% ({done} of {total} bytes)");
        if done == total {
            eprintln!();
        }
    })?;
    println!(
        "downloaded {} to {} (SHA-256 {}, verified)",
        update.version(),
        path.display(),
        update.sha256()
    );
    Ok(())
}

/// Why a release is not the license's, for people.
fn why_not(newer: Option<&licet::NotAllowed>) -> String {
    match newer.map(|n| (n.reason, n)) {
        Some((licet::NotAllowedReason::UpdatesEnded, n)) => match n.updates_until {
            Some(t) => format!("your updates ended at {t} (Unix time); renew to get it"),
            None => "your updates ended; renew to get it".to_owned(),
        },
        Some((licet::NotAllowedReason::EntitlementRequired, n)) => format!(
            "it needs the {} edition",
            n.entitlement.as_deref().unwrap_or("another")
        ),
        Some((licet::NotAllowedReason::TrialExcluded, _)) => {
            "trials do not receive updates; buy a license to get it".to_owned()
        }
        _ => "it is not covered".to_owned(),
    }
}

/// Asks a yes/no question on the terminal; anything but "y" or "yes" is no.
fn confirm(question: &str) -> bool {
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

fn client() -> licet::Result<licet::Client> {
    let env =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let jwks_path = env("LICET_JWKS", "jwks.json");
    let jwks = std::fs::read_to_string(&jwks_path)
        .map_err(|e| licet::Error::Config(format!("reading pinned keys from {jwks_path}: {e}")))?;
    let mut builder = licet::Client::builder(
        &env("LICET_SERVER", "http://127.0.0.1:8787"),
        &env("LICET_PRODUCT", "photo"),
    )
    .pinned_jwks(&jwks)?
    .app_name("licet-example");
    if let Ok(dir) = std::env::var("LICET_STORAGE_DIR") {
        builder = builder.storage_dir(dir);
    }
    if let Ok(fpr) = std::env::var("LICET_FINGERPRINT") {
        builder = builder.fingerprint_override(&fpr);
    }
    if std::env::var_os("LICET_NO_KEYRING").is_some() {
        builder = builder.use_keyring(false);
    }
    builder.build()
}

fn report(what: &str, license: &licet::License) {
    println!("{what}: {} (license {})", license.product, license.id);
    println!("  entitlements: {}", license.entitlements.join(", "));
    match license.expires_at {
        Some(t) if license.is_trial() => println!("  trial ends at: {t} (Unix time)"),
        Some(t) => println!("  license expires at: {t} (Unix time)"),
        None => println!("  license expires: never"),
    }
    println!(
        "  valid offline for: {} more day(s)",
        license.offline_days_left()
    );
    if let Some(email) = &license.email {
        println!("  licensed to: {email}");
    }
}
