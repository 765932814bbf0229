//! `check()` against a bare `verify_strict`: the first check in a process (read the cache,
//! check its seal, verify), and repeated checks (verified lease kept in memory).
//!
//! `cargo bench -p licet --bench check`

use std::io::{Read, Write};
use std::sync::Arc;

use criterion::{Criterion, criterion_main};
use ed25519_dalek::{Signer, SigningKey};
use licet::storage::MemoryStorage;
use licet_proto::api::{ActivationInfo, LeaseResponse, LicenseInfo};
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
            active_activations: Some(1),
            metadata: Default::default(),
            kind: Default::default(),
            subscription: None,
            updates_until: None,
            seat: None,
        },
        nonce: None,
    };
    licet_proto::token::sign(&claims, key)
}

fn client(key: &SigningKey, dir: &std::path::Path) -> licet::Client {
    client_at("https://licensing.example.com", key, dir)
}

fn client_at(url: &str, key: &SigningKey, dir: &std::path::Path) -> licet::Client {
    licet::Client::builder(url, "photo")
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
    store_lease(&key, &token, dir.path());

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

/// Stores `token` as an app does, by activating: the cache is sealed by the SDK, so only the
/// SDK can write it. A one-request local HTTP responder stands in for the server.
fn store_lease(key: &SigningKey, token: &str, dir: &std::path::Path) {
    let claims: Claims =
        serde_json::from_slice(&base64_url(token.split('.').nth(1).expect("claims part")))
            .expect("claims");
    let body = serde_json::to_string(&LeaseResponse {
        token: token.to_owned(),
        license: LicenseInfo {
            id: claims.sub.clone(),
            product: claims.aud.clone(),
            status: claims.lic.status,
            expires_at: claims.lic.expires_at,
            max_activations: claims.lic.max_activations,
            active_activations: 1,
            entitlements: claims.ent.clone(),
            email: claims.lic.email.clone(),
            metadata: claims.lic.metadata.clone(),
            kind: claims.lic.kind,
            subscription: claims.lic.subscription,
            updates_until: claims.lic.updates_until,
        },
        activation: ActivationInfo {
            id: "act_1".into(),
            fingerprint: claims.fpr.clone(),
            name: None,
            platform: None,
            first_seen_at: claims.iat,
            last_seen_at: claims.iat,
            deactivated_at: None,
        },
    })
    .expect("json");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let responder = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().expect("accept");
        let mut request = Vec::new();
        let mut chunk = [0u8; 4096];
        // Headers, then as many body bytes as Content-Length says.
        let complete = |r: &[u8]| {
            let text = String::from_utf8_lossy(r);
            let Some((head, body)) = text.split_once("\r\n\r\n") else {
                return false;
            };
            let length = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            body.len() >= length
        };
        while !complete(&request) {
            let n = socket.read(&mut chunk).expect("read");
            assert!(n > 0, "request cut short");
            request.extend_from_slice(&chunk[..n]);
        }
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(answer.as_bytes()).expect("write");
    });
    client_at(&url, key, dir)
        .activate("PHOTO-7KQ2M-XW9RT-D4HNP-38FZC-UJ6VB")
        .expect("activates");
    responder.join().expect("responder");
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
