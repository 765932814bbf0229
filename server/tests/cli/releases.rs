//! `licet-server release …`: publishing a version one platform at a time from a build
//! machine, listing and yanking it, and the mistakes it stops for.

use std::path::Path;

use super::{bin, database_args, run};

/// Runs a command that must fail; its standard error.
pub(super) fn fails(dir: &Path, args: &[&str]) -> String {
    let out = bin()
        .args(database_args(dir))
        .args(args)
        .output()
        .expect("run");
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(super) fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// `release publish` of app's `version` for `platform` with `file`, plus `extra` flags.
fn publish<'a>(
    version: &'a str,
    platform: &'a str,
    file: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "release",
        "publish",
        "--product",
        "app",
        "--version",
        version,
        "--platform",
        platform,
    ];
    args.extend_from_slice(extra);
    args.push(file);
    args
}

#[test]
fn the_cli_publishes_a_release_one_platform_at_a_time_then_lists_and_yanks_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    run(d, &["migrate"]);
    run(
        d,
        &[
            "product",
            "create",
            "--slug",
            "app",
            "--name",
            "App",
            "--entitlement",
            "pro",
        ],
    );
    let files = tempfile::tempdir().expect("tempdir");
    let path = |name: &str| files.path().join(name).display().to_string();
    let linux = b"ELF AppImage bytes ".repeat(40_000);
    std::fs::write(path("App.AppImage"), &linux).expect("write");
    std::fs::write(path("App.exe"), b"MZ windows bytes").expect("write");
    let signature = "untrusted comment: signature from tauri secret key\nRUSsig==\n";
    std::fs::write(path("App.AppImage.sig"), signature).expect("write");
    std::fs::write(path("NOTES.md"), "# 1.2.0\n\n- Dark mode\n").expect("write");

    // The first platform creates the version and publishes it.
    let first = json(&run(
        d,
        &publish(
            "1.2.0",
            "linux-x86_64",
            &path("App.AppImage"),
            &[
                "--signature",
                &path("App.AppImage.sig"),
                "--notes-file",
                &path("NOTES.md"),
            ],
        ),
    ));
    assert_eq!(first["state"], "published", "{first}");
    assert_eq!(first["channel"], "stable");
    assert_eq!(first["notes"], "# 1.2.0\n\n- Dark mode\n");
    assert_eq!(first["artifacts"][0]["platform"], "linux-x86_64");
    assert_eq!(first["artifacts"][0]["name"], "App.AppImage");
    assert_eq!(first["artifacts"][0]["size"], linux.len());
    assert_eq!(
        first["artifacts"][0]["signature"],
        signature.trim(),
        "the .sig file's text is the signature"
    );
    assert_eq!(first["artifacts"][0]["sha256"], sha256_hex(&linux));

    // The second adds its platform to the published version.
    let second = json(&run(
        d,
        &publish("1.2.0", "windows-x86_64", &path("App.exe"), &[]),
    ));
    assert_eq!(second["state"], "published");
    assert_eq!(second["id"], first["id"], "the same release");
    let platforms: Vec<&str> = second["artifacts"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|a| a["platform"].as_str())
        .collect();
    assert_eq!(platforms, ["linux-x86_64", "windows-x86_64"]);

    // A draft stays one; a beta on its channel with an entitlement.
    let beta = json(&run(
        d,
        &publish(
            "1.3.0-beta.1",
            "linux-x86_64",
            &path("App.AppImage"),
            &["--channel", "beta", "--entitlement", "pro", "--draft"],
        ),
    ));
    assert_eq!(beta["state"], "draft");
    assert_eq!(beta["channel"], "beta");
    assert_eq!(beta["entitlement"], "pro");

    let listed = json(&run(d, &["release", "list", "--product", "app"]));
    let items = listed["items"].as_array().expect("items");
    let versions: Vec<&str> = items.iter().filter_map(|r| r["version"].as_str()).collect();
    assert_eq!(versions, ["1.3.0-beta.1", "1.2.0"], "newest version first");
    assert_eq!(items[1]["artifacts"].as_array().map(Vec::len), Some(2));

    let yanked = json(&run(
        d,
        &["release", "yank", "--product", "app", "--version", "1.2.0"],
    ));
    assert_eq!(yanked["state"], "yanked");
    let listed = json(&run(d, &["release", "list", "--product", "app"]));
    assert_eq!(listed["items"][1]["state"], "yanked");
}

#[test]
fn release_commands_stop_with_a_clear_message_and_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    run(d, &["migrate"]);
    run(d, &["product", "create", "--slug", "app", "--name", "App"]);
    let files = tempfile::tempdir().expect("tempdir");
    let file = files.path().join("App.AppImage");
    std::fs::write(&file, b"bytes").expect("write");
    let file = file.display().to_string();
    let missing = files.path().join("nope.bin").display().to_string();

    let err = fails(d, &publish("1.2", "linux-x86_64", &file, &[]));
    assert!(err.contains("semantic version"), "{err}");
    let err = fails(d, &["release", "list", "--product", "nope"]);
    assert!(err.contains("no product with slug \"nope\""), "{err}");
    let mut unknown = publish("1.0.0", "linux-x86_64", &file, &[]);
    unknown[3] = "nope";
    let err = fails(d, &unknown);
    assert!(err.contains("no product with slug \"nope\""), "{err}");
    let err = fails(d, &publish("1.0.0", "linux", &file, &[]));
    assert!(err.contains("os-arch"), "{err}");
    let err = fails(d, &publish("1.0.0", "linux-x86_64", &missing, &[]));
    assert!(
        err.contains("cannot read") && err.contains("nope.bin"),
        "{err}"
    );
    let err = fails(
        d,
        &publish("1.0.0", "linux-x86_64", &file, &["--notes-file", &missing]),
    );
    assert!(err.contains("cannot read"), "{err}");
    let err = fails(
        d,
        &["release", "yank", "--product", "app", "--version", "9.9.9"],
    );
    assert!(err.contains("no such release"), "{err}");
    // Refused before anything was written: no draft was left behind.
    let listed = json(&run(d, &["release", "list", "--product", "app"]));
    assert_eq!(listed["items"], serde_json::json!([]), "{listed}");

    run(d, &publish("1.0.0", "linux-x86_64", &file, &[]));
    // A published platform's file is fixed; a version's channel is set when it is made.
    let err = fails(d, &publish("1.0.0", "linux-x86_64", &file, &[]));
    assert!(err.contains("fixed"), "{err}");
    let err = fails(
        d,
        &publish("1.0.0", "darwin-aarch64", &file, &["--channel", "beta"]),
    );
    assert!(err.contains("channel stable, not beta"), "{err}");
    let listed = json(&run(d, &["release", "list", "--product", "app"]));
    assert_eq!(
        listed["items"][0]["artifacts"].as_array().map(Vec::len),
        Some(1)
    );
}
