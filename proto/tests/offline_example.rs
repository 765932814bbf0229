//! The worked example of air-gapped activation in `docs/protocol.md`, computed from its
//! fixed inputs: every byte the document shows must be what the code makes, so the
//! example a vendor implements from cannot drift from the implementation.
//!
//! `LICET_PRINT_EXAMPLE=1 cargo test -p licet-proto --test offline_example -- --nocapture`
//! prints the values (to update the document after a deliberate format change).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use licet_proto::offline::{
    self, Document, ProofClaims, RequestClaims, VERSION, encode_text, public_key_text,
};
use licet_proto::token::{Claims, LicenseClaim};

/// The per-activation key of the example: seed bytes 0x01 × 32.
fn machine_key() -> SigningKey {
    SigningKey::from_bytes(&[1; 32])
}

/// The server's signing key of the example: seed bytes 0x02 × 32.
fn server_key() -> SigningKey {
    SigningKey::from_bytes(&[2; 32])
}

fn request_claims() -> RequestClaims {
    RequestClaims {
        v: VERSION,
        aud: "photo".into(),
        key: "PHOTO-4K7QM-9XW2P-TR8ZB-HC3ND".into(),
        fpr: "v1:3f1c9a".into(),
        name: Some("lab-pc".into()),
        platform: Some("linux-x86_64".into()),
        machine: None,
        public_key: public_key_text(&machine_key().verifying_key()),
        nonce: URL_SAFE_NO_PAD.encode([7u8; 16]),
        iat: 1_800_000_000,
    }
}

fn response_claims() -> Claims {
    Claims {
        iss: "https://licenses.example.com".into(),
        sub: "lic_01".into(),
        aud: "photo".into(),
        iat: 1_800_000_060,
        nbf: 1_800_000_060,
        exp: 1_802_592_060,
        jti: "5e0c1f0a9d3b7c21".into(),
        fpr: "v1:3f1c9a".into(),
        ent: vec!["pro".into()],
        lic: LicenseClaim {
            status: licet_proto::LicenseStatus::Active,
            expires_at: None,
            max_activations: 2,
            email: None,
            active_activations: Some(1),
            metadata: Default::default(),
            kind: Default::default(),
            subscription: None,
            updates_until: None,
            seat: None,
        },
        nonce: Some(URL_SAFE_NO_PAD.encode([7u8; 16])),
    }
}

fn proof_claims() -> ProofClaims {
    ProofClaims {
        v: VERSION,
        aud: "photo".into(),
        sub: "lic_01".into(),
        fpr: "v1:3f1c9a".into(),
        nonce: URL_SAFE_NO_PAD.encode([7u8; 16]),
        iat: 1_800_900_000,
    }
}

/// Each value the document shows, named as it names them.
fn values() -> Vec<(&'static str, String)> {
    let request = offline::sign_request(&request_claims(), &machine_key());
    let response = licet_proto::token::sign(&response_claims(), &server_key());
    let proof = offline::sign_proof(&proof_claims(), &machine_key());
    let payload = |token: &str| {
        let part = token.split('.').nth(1).unwrap_or_default();
        String::from_utf8(URL_SAFE_NO_PAD.decode(part).unwrap_or_default()).unwrap_or_default()
    };
    let header = |token: &str| {
        let part = token.split('.').next().unwrap_or_default();
        String::from_utf8(URL_SAFE_NO_PAD.decode(part).unwrap_or_default()).unwrap_or_default()
    };
    vec![
        (
            "machine public key",
            public_key_text(&machine_key().verifying_key()),
        ),
        ("request header", header(&request)),
        ("request payload", payload(&request)),
        ("request token", request.clone()),
        ("request text", encode_text(Document::Request, &request)),
        ("response payload", payload(&response)),
        ("response text", encode_text(Document::Response, &response)),
        ("proof header", header(&proof)),
        ("proof payload", payload(&proof)),
        ("proof text", encode_text(Document::Proof, &proof)),
    ]
}

#[test]
fn the_documented_example_is_what_the_code_makes() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md"))
        .expect("docs/protocol.md");
    let print = std::env::var("LICET_PRINT_EXAMPLE").is_ok();
    for (name, value) in values() {
        if print {
            println!("--- {name}\n{value}");
            continue;
        }
        assert!(
            doc.contains(value.trim_end()),
            "docs/protocol.md lacks the example's {name}:\n{value}"
        );
    }
}

#[test]
fn the_example_verifies() {
    let request = offline::sign_request(&request_claims(), &machine_key());
    let text = encode_text(Document::Request, &request);
    let token = offline::decode_text(Document::Request, &text).expect("decodes");
    let (claims, key) = offline::verify_request(&token).expect("verifies");
    assert_eq!(claims, request_claims());
    let proof = offline::sign_proof(&proof_claims(), &machine_key());
    assert_eq!(offline::verify_proof(&proof, &key), Ok(proof_claims()));
}
