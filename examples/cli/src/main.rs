//! A small app licensed with the Licet SDK, using only its public API.
//!
//! ```text
//! licet-example activate KEY    bind this machine to a license
//! licet-example trial           no key yet: start (or resume) this machine's trial
//! licet-example check           am I licensed? (offline-first)
//! licet-example deactivate      free this machine's seat
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
        _ => {
            eprintln!("usage: licet-example activate KEY | trial | check | validate | deactivate");
            return ExitCode::from(2);
        }
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
