//! `check()` against a bare `verify_strict`: the first check in a process (read the cache,
//! verify), and repeated checks (verified lease kept in memory).
//!
//! `cargo bench -p licet --bench check`

use std::sync::Arc;

use criterion::{Criterion, criterion_main};
use ed25519_dalek::{Signer, SigningKey};
use licet::storage::MemoryStorage;
use licet_proto::{Claims, LicenseClaim, LicenseStatus};

const FPR: &str = "v1:5f0c2ab39d1e7e6b4c0a9d2f17e38b6a0f4d9c21e8b7a6f5d4c3b2a190817263";

fn lease(key: &SigningKey) -> String {
    let now = licet::Clock::now(&licet::SystemClock);
    let claims = Claims {
        iss: "https://licensing.example.com".into(),
        sub: "lic_401b2d5f44869e485e3d8365".into(),
        aud: "photo".into(),
        iat: now,
        nbf: now,
        exp: now + 7 * 86_400,
        jti: "5b49a702d23c45df704c5ecbc911cfaa".into(),
        fpr: FPR.into(),
        ent: vec!["pro".into(), "export-raw".into()],
        lic: LicenseClaim {
            status: LicenseStatus::Active,
            expires_at: None,
            max_activations: 3,
            email: Some("ada@example.com".into()),
        },
    };
    licet_proto::token::sign(&claims, key)
}

fn client(key: &SigningKey, dir: &std::path::Path) -> licet::Client {
    licet::Client::builder("https://licensing.example.com", "photo")
        .pinned_key(key.verifying_key().as_bytes())
        .expect("key")
        .storage_dir(dir)
        .use_keyring(false)
        .fingerprint_override(FPR)
        .auto_refresh(false)
        .build()
        .expect("client")
}

fn bench(c: &mut Criterion) {
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let token = lease(&key);
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = serde_json::json!({
        "version": 1, "token": token, "trusted_time": 0, "clock_offset": 0, "verdict": null
    });
    std::fs::write(dir.path().join("photo.lease.json"), cache.to_string()).expect("write cache");

    let (h64, rest) = token.split_once('.').expect("jws");
    let (c64, s64) = rest.split_once('.').expect("jws");
    let message = format!("{h64}.{c64}");
    let sig_bytes = base64_url(s64);
    let signature = ed25519_dalek::Signature::from_slice(&sig_bytes).expect("sig");
    let vk = key.verifying_key();
    assert!(vk.verify_strict(message.as_bytes(), &signature).is_ok());
    let _ = key.sign(b"warm");

    let mut g = c.benchmark_group("check");
    g.bench_function("bare verify_strict", |b| {
        b.iter(|| vk.verify_strict(std::hint::black_box(message.as_bytes()), &signature))
    });
    g.bench_function("first check (read cache file + verify)", |b| {
        b.iter_with_large_drop(|| {
            let client = client(&key, dir.path());
            client.check().expect("valid");
            client
        })
    });
    let warm = client(&key, dir.path());
    warm.check().expect("valid");
    g.bench_function("repeated check (same client)", |b| {
        b.iter(|| warm.check().expect("valid"))
    });
    let memory = licet::Client::builder("https://licensing.example.com", "photo")
        .pinned_key(key.verifying_key().as_bytes())
        .expect("key")
        .storage(Arc::new(MemoryStorage::default()))
        .fingerprint_override(FPR)
        .build()
        .expect("client");
    g.bench_function("check with nothing stored", |b| {
        b.iter(|| memory.check().is_err())
    });
    g.finish();
}

fn base64_url(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .expect("base64")
}

#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(group::benches);
