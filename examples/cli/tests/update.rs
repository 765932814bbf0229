//! The example app's `update` command against a real server: it says what is new, asks
//! before downloading (or not, with `--yes`), and lands the verified file.

use serde_json::json;
use std::path::Path;

mod support;
use support::Env;

#[test]
fn the_example_app_offers_the_update_and_downloads_it_verified() {
    let env = Env::start();
    env.admin(
        "/v1/admin/products",
        Some(
            json!({ "slug": "photo", "name": "Photo Pro", "max_activations": 1,
                     "entitlements": ["pro"] }),
        ),
        None,
    );
    let key = env.admin(
        "/v1/admin/licenses",
        Some(json!({ "product": "photo", "email": "ada@example.com" })),
        None,
    )["key"]
        .as_str()
        .expect("key")
        .to_owned();
    let bytes = "Photo 1.3.0. ".repeat(5000).into_bytes();
    let release = env.admin(
        "/v1/admin/products/photo/releases",
        Some(json!({ "version": "1.3.0", "notes": "Faster exports" })),
        None,
    )["id"]
        .as_str()
        .expect("id")
        .to_owned();
    env.admin(
        &format!(
            "/v1/admin/releases/{release}/artifacts?platform={}&name=Photo-1.3.0.bin",
            licet::fingerprint::update_platform()
        ),
        None,
        Some(&bytes),
    );
    env.admin(
        &format!("/v1/admin/releases/{release}/publish"),
        Some(json!({})),
        None,
    );
    let (out, _, _) = env.app(&["activate", &key], "");
    assert!(out.status.success());

    // Asked, and declined: nothing is downloaded.
    let (out, stdout, _) = env.app(&["update", "--current", "1.0.0"], "n\n");
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("Update 1.3.0 available\n  Faster exports"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Update 1.3.0 available — download? [y/N]"),
        "{stdout}"
    );
    let landed = env.dir.path().join("Photo-1.3.0.bin");
    assert!(!landed.exists());

    // Confirmed: the file lands under its own name, with a progress line.
    let (out, stdout, stderr) = env.app(&["update", "--current", "1.0.0"], "y\n");
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("downloaded 1.3.0 to Photo-1.3.0.bin"),
        "{stdout}"
    );
    assert!(stderr.contains("downloading: 100%"), "{stderr}");
    assert_eq!(std::fs::read(&landed).expect("file"), bytes);

    // --yes does not ask; --to names the file.
    let to = env.dir.path().join("elsewhere.bin");
    let (out, stdout, _) = env.app(
        &[
            "update",
            "--current",
            "1.0.0",
            "--yes",
            "--to",
            path_str(&to),
        ],
        "",
    );
    assert!(out.status.success(), "{stdout}");
    assert!(!stdout.contains("[y/N]"), "{stdout}");
    assert_eq!(std::fs::read(&to).expect("file"), bytes);

    let (out, stdout, _) = env.app(&["update", "--current", "1.3.0"], "");
    assert!(out.status.success());
    assert!(stdout.contains("up to date (1.3.0)"), "{stdout}");
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8")
}
