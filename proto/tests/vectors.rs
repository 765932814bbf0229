//! The documented example token (docs/protocol.md) verifies, and every one-byte change of it
//! does not.

use licet_proto::token::{Expectations, TokenError};
use licet_proto::{Jwks, KeySet};

#[derive(serde::Deserialize)]
struct Vector {
    token: String,
    jwks: Jwks,
    audience: String,
    fingerprint: String,
    verify_at: i64,
}

fn vector() -> Vector {
    serde_json::from_str(include_str!("vectors/example-lease.json")).expect("vector parses")
}

#[test]
fn the_documented_example_lease_verifies() {
    let v = vector();
    let keys = KeySet::from_jwks(&v.jwks).expect("jwks");
    let verified = keys.verify(&v.token).expect("signature verifies");
    let expect = Expectations {
        audience: &v.audience,
        fingerprint: &v.fingerprint,
        now: v.verify_at,
        leeway: 0,
    };
    verified.claims.check(&expect).expect("claims hold");
    assert_eq!(verified.claims.ent, ["pro", "export-raw"]);
    let other_machine = Expectations {
        fingerprint: "v1:other",
        ..expect
    };
    assert_eq!(
        verified.claims.check(&other_machine),
        Err(TokenError::FingerprintMismatch)
    );
}

#[test]
fn no_single_character_change_of_the_signature_or_claims_verifies() {
    let v = vector();
    let keys = KeySet::from_jwks(&v.jwks).expect("jwks");
    let header_len = v.token.find('.').expect("dot") + 1;
    let bytes = v.token.as_bytes();
    for i in (header_len..bytes.len()).step_by(7) {
        if bytes[i] == b'.' {
            continue;
        }
        let mut forged = bytes.to_vec();
        forged[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).expect("ascii");
        assert!(keys.verify(&forged).is_err(), "change at {i} verified");
    }
}
