//! Updates whose files live in S3-compatible storage: the server redirects a download to a
//! presigned URL of the bucket; the SDK follows it, resumes there with `Range`, and refuses
//! an object altered in the bucket.

use serde_json::json;
use sha2::Digest;

use crate::moto::moto;
use crate::support::*;

const MACHINE: &str = "v1:machine-s3";

#[test]
fn updates_stored_in_s3_download_resume_and_refuse_an_altered_object() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let Some(moto) = rt.block_on(moto()) else {
        return;
    };
    let config = moto.s3_config();
    let h = Harness::start_with(1, move |c| c.s3 = Some(config));
    let own = licet::fingerprint::update_platform();
    // Larger than one multipart part of the upload to the bucket.
    let bytes: Vec<u8> = (0..6_000_000u32).map(|i| (i % 251) as u8).collect();
    let id = h.release(
        "1.1.0",
        "stable",
        &[(own.as_str(), bytes.as_slice())],
        json!({}),
    );
    let downloads = || {
        h.admin("GET", &format!("/v1/admin/releases/{id}"), None)["artifacts"][0]["downloads"]
            .as_u64()
            .expect("downloads")
    };
    let clock = clock();
    let (dir, _, _) = h.activated(MACHINE, &clock);
    let client = h.client(dir.path(), MACHINE, &clock);
    let update = client
        .check_for_update("1.0.0", None)
        .expect("checks")
        .expect("an update");

    let path = dir.path().join("App.bin");
    update
        .download_to(&path, |_, _| {})
        .expect("downloads through the redirect to the bucket");
    assert_eq!(std::fs::read(&path).expect("file"), bytes);
    assert_eq!(downloads(), 1);

    // A partial file of the first half resumes from the bucket with a range.
    let sha: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let again = dir.path().join("Again.bin");
    let part = dir.path().join(format!("Again.bin.{}.part", &sha[..16]));
    std::fs::write(&part, &bytes[..bytes.len() / 2]).expect("first half");
    update
        .download_to(&again, |_, _| {})
        .expect("resumes from the bucket");
    assert_eq!(std::fs::read(&again).expect("file"), bytes);
    assert!(!part.exists());
    assert_eq!(downloads(), 1, "a resumed range is not a new download");

    // One flipped byte in the bucket's object: the SDK refuses what the manifest does not
    // name, and nothing lands.
    let mut altered = bytes.clone();
    altered[1_000_000] ^= 0x01;
    moto.put_object(&format!("files/{sha}"), &altered);
    let fresh = dir.path().join("Fresh.bin");
    let e = update.download_to(&fresh, |_, _| {}).expect_err("refused");
    assert_eq!(e.code(), "UPDATE_VERIFICATION");
    assert!(!fresh.exists(), "nothing at the destination");
}
