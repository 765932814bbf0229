//! Air-gapped (offline) activation: for machines that never reach the server.
//!
//! Three documents travel by hand between the offline machine and a connected device, each a
//! compact JWS (`alg: EdDSA`) told apart by its `typ` header:
//!
//! | document | `typ` | signed by |
//! |---|---|---|
//! | activation request | `licet-activation-request+jwt` | the machine's per-activation key |
//! | activation response | `licet-lease+jwt` (a lease with `nonce`) | the server's key ring |
//! | deactivation proof | `licet-deactivation-proof+jwt` | the machine's per-activation key |
//!
//! The SDK makes a fresh Ed25519 key pair per offline activation and keeps its private half.
//! The request carries the public half (`pub`) and a random `nonce`; the server remembers
//! both with the seat and answers with the usual lease, bound to the fingerprint, whose
//! `nonce` claim repeats the request's, so the SDK accepts only the answer to the request it
//! is waiting for. To free the seat without a network, the SDK deletes its lease and signs a
//! deactivation proof with the private key (then destroys it); only the holder of that key
//! can make one, and the server frees the seat once.
//!
//! Each document also travels as a **text block** ([`encode_text`]): a title line, then the
//! RFC 4648 base32 (no padding) of the token's bytes followed by the first 4 bytes of their
//! SHA-256, in dash-separated groups of five, eight groups per line. A typo is caught by the
//! checksum before any signature is looked at. `docs/protocol.md` has a worked example.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::api::MachineInfo;
use crate::token::{KeySet, TokenError, key_id, signing_input_of, with_signature};

/// The `typ` header of an activation request.
pub const REQUEST_TYP: &str = "licet-activation-request+jwt";
/// The `typ` header of a deactivation proof.
pub const PROOF_TYP: &str = "licet-deactivation-proof+jwt";
/// The format version every document carries in `v`.
pub const VERSION: u32 = 1;
/// Bytes of a request's nonce (base64url in the document).
pub const NONCE_LEN: usize = 16;
/// Bytes of the text block's checksum (the head of the SHA-256 of the token).
pub const CHECKSUM_LEN: usize = 4;
/// Characters per group of the text block.
pub const GROUP_LEN: usize = 5;
/// Groups per line of the text block.
pub const GROUPS_PER_LINE: usize = 8;
/// Longest text block accepted, in bytes (a request is about 1.2 KiB, a response 2 KiB).
pub const MAX_TEXT_LEN: usize = 32 * 1024;

/// Which document a text block holds: its title line says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Document {
    /// An activation request (SDK → server).
    Request,
    /// An activation response (server → SDK).
    Response,
    /// A deactivation proof (SDK → server).
    Proof,
}

impl Document {
    /// The title line of its text block.
    pub fn title(self) -> &'static str {
        match self {
            Self::Request => "LICET ACTIVATION REQUEST",
            Self::Response => "LICET ACTIVATION RESPONSE",
            Self::Proof => "LICET DEACTIVATION PROOF",
        }
    }

    /// A file name for it.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Request => "activation-request.txt",
            Self::Response => "activation-response.txt",
            Self::Proof => "deactivation-proof.txt",
        }
    }

    fn of_title(line: &str) -> Option<Self> {
        [Self::Request, Self::Response, Self::Proof]
            .into_iter()
            .find(|d| line.eq_ignore_ascii_case(d.title()))
    }
}

/// Why a text block or a document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OfflineError {
    /// The text block is another document (its title says which).
    #[error("this is a {found}, not a {expected}")]
    WrongDocument {
        /// The title expected.
        expected: &'static str,
        /// The title found.
        found: &'static str,
    },
    /// A character outside base32 (and blanks and dashes).
    #[error("the text has a character that cannot be part of it: {0:?}")]
    BadCharacter(char),
    /// The checksum does not match: a character was mistyped, left out or added.
    #[error("the text does not check out: a character was mistyped, left out or added")]
    Checksum,
    /// Empty, too long, or not a token once decoded.
    #[error("the text is not a Licet document")]
    Malformed,
    /// The token inside is refused (malformed, wrong type, bad signature).
    #[error("the document is refused: {0}")]
    Token(#[from] TokenError),
    /// The document's `v` is not one this build reads.
    #[error("the document's format version {0} is not supported")]
    Version(u32),
    /// The request's public key or nonce is not what the format says.
    #[error("the request's public key or nonce is malformed")]
    BadKey,
}

/// The claims of an activation request, signed by the per-activation key whose public half
/// is `pub`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestClaims {
    /// Format version ([`VERSION`]).
    pub v: u32,
    /// The product slug.
    pub aud: String,
    /// The license key.
    pub key: String,
    /// The machine fingerprint.
    pub fpr: String,
    /// A human name for the machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The platform, e.g. `linux-x86_64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Descriptive machine facts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<MachineInfo>,
    /// The per-activation public key: base64url of its 32 bytes.
    #[serde(rename = "pub")]
    pub public_key: String,
    /// [`NONCE_LEN`] random bytes, base64url: names this request (and its response).
    pub nonce: String,
    /// When the request was made, Unix seconds (the offline machine's clock).
    pub iat: i64,
}

/// The claims of a deactivation proof, signed by the per-activation key of the seat it
/// frees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofClaims {
    /// Format version ([`VERSION`]).
    pub v: u32,
    /// The product slug.
    pub aud: String,
    /// The license id (the lease's `sub`).
    pub sub: String,
    /// The machine fingerprint.
    pub fpr: String,
    /// The nonce of the request the seat was taken with.
    pub nonce: String,
    /// When the machine deactivated, Unix seconds (its clock).
    pub iat: i64,
}

/// `POST /v1/licenses/offline/activate`: take a seat for an activation request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfflineActivateRequest {
    /// The activation request: its text block, or the bare token.
    pub request: String,
}

/// The answer to an activation request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfflineActivateResponse {
    /// The activation response as a text block, to carry to the offline machine.
    pub response: String,
    /// The same response as a bare token (a lease whose `nonce` is the request's).
    pub token: String,
    /// The license.
    pub license: crate::api::LicenseInfo,
    /// The machine's seat.
    pub activation: crate::api::ActivationInfo,
}

/// `POST /v1/licenses/offline/deactivate`: free a seat with its deactivation proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfflineDeactivateRequest {
    /// The deactivation proof: its text block, or the bare token.
    pub proof: String,
}

/// The answer to a deactivation proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfflineDeactivateResponse {
    /// Whether the seat was freed now (`false`: this proof was used before, or the seat had
    /// already been freed another way; nothing changed).
    pub deactivated: bool,
    /// The license.
    pub license_id: String,
    /// The activation the proof ends.
    pub activation_id: String,
}

/// Signs an activation request with `key` (the per-activation key; `claims.public_key`
/// must be its public half).
pub fn sign_request(claims: &RequestClaims, key: &SigningKey) -> String {
    sign_with(claims, key, REQUEST_TYP)
}

/// Signs a deactivation proof with the per-activation `key`.
pub fn sign_proof(claims: &ProofClaims, key: &SigningKey) -> String {
    sign_with(claims, key, PROOF_TYP)
}

fn sign_with<T: Serialize>(claims: &T, key: &SigningKey, typ: &str) -> String {
    let input = signing_input_of(claims, &key_id(&key.verifying_key()), typ);
    let signature = key.sign(input.as_bytes());
    with_signature(input, &signature.to_bytes())
}

/// Verifies an activation request: its signature by the key it carries (so whoever made it
/// holds the private half), its version, and the shapes of its key and nonce. Returns the
/// claims and that public key.
pub fn verify_request(token: &str) -> Result<(RequestClaims, VerifyingKey), OfflineError> {
    let unverified: RequestClaims = unverified_claims(token)?;
    let key = public_key(&unverified.public_key)?;
    let (_, claims) = single_key(&key).verify_of::<RequestClaims>(token, REQUEST_TYP, true)?;
    if claims.v != VERSION {
        return Err(OfflineError::Version(claims.v));
    }
    let nonce = URL_SAFE_NO_PAD
        .decode(&claims.nonce)
        .map_err(|_| OfflineError::BadKey)?;
    if nonce.len() != NONCE_LEN {
        return Err(OfflineError::BadKey);
    }
    Ok((claims, key))
}

/// The nonce a deactivation proof names, read without verifying it: for finding the seat
/// whose key must then verify it ([`verify_proof`]).
pub fn proof_nonce(token: &str) -> Result<String, OfflineError> {
    Ok(unverified_claims::<ProofClaims>(token)?.nonce)
}

/// Verifies a deactivation proof against the per-activation public key the seat was taken
/// with.
pub fn verify_proof(token: &str, key: &VerifyingKey) -> Result<ProofClaims, OfflineError> {
    let (_, claims) = single_key(key).verify_of::<ProofClaims>(token, PROOF_TYP, true)?;
    if claims.v != VERSION {
        return Err(OfflineError::Version(claims.v));
    }
    Ok(claims)
}

/// A per-activation public key from its base64url form.
pub fn public_key(text: &str) -> Result<VerifyingKey, OfflineError> {
    let bytes: [u8; 32] = URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(OfflineError::BadKey)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| OfflineError::BadKey)
}

/// The base64url form of a per-activation public key.
pub fn public_key_text(key: &VerifyingKey) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

fn single_key(key: &VerifyingKey) -> KeySet {
    let mut set = KeySet::new();
    set.insert(*key);
    set
}

/// The claims of a token before its signature is checked. Only for finding the key that
/// must then verify it.
fn unverified_claims<T: serde::de::DeserializeOwned>(token: &str) -> Result<T, OfflineError> {
    let payload = token.split('.').nth(1).ok_or(OfflineError::Malformed)?;
    let json = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| OfflineError::Malformed)?;
    serde_json::from_slice(&json).map_err(|_| OfflineError::Malformed)
}

/// The text block of `token` as `document`: the title line, then base32 groups.
pub fn encode_text(document: Document, token: &str) -> String {
    let mut bytes = token.as_bytes().to_vec();
    bytes.extend_from_slice(&Sha256::digest(token.as_bytes())[..CHECKSUM_LEN]);
    let encoded = data_encoding::BASE32_NOPAD.encode(&bytes);
    let mut out = String::with_capacity(encoded.len() * 6 / 5 + 64);
    out.push_str(document.title());
    for (i, group) in encoded.as_bytes().chunks(GROUP_LEN).enumerate() {
        out.push(if i % GROUPS_PER_LINE == 0 { '\n' } else { '-' });
        // Base32 output is ASCII.
        out.extend(group.iter().map(|&b| char::from(b)));
    }
    out.push('\n');
    out
}

/// The token inside a text block of `expected`: case, blanks, line breaks and dashes are
/// forgiven; the title may be left out but not be another document's; the checksum must
/// match. A bare token (as the API also accepts) is returned as it is.
pub fn decode_text(expected: Document, text: &str) -> Result<String, OfflineError> {
    let text = text.trim();
    if text.is_empty() || text.len() > MAX_TEXT_LEN {
        return Err(OfflineError::Malformed);
    }
    if text.split('.').count() == 3 && !text.contains(char::is_whitespace) {
        return Ok(text.to_owned());
    }
    let mut body = text;
    if let Some((first, rest)) = text.split_once('\n') {
        let first = first.trim();
        if first.to_ascii_uppercase().starts_with("LICET ") {
            match Document::of_title(first) {
                Some(d) if d == expected => body = rest,
                Some(d) => {
                    return Err(OfflineError::WrongDocument {
                        expected: expected.title(),
                        found: d.title(),
                    });
                }
                None => return Err(OfflineError::Malformed),
            }
        }
    }
    let mut symbols = Vec::with_capacity(body.len());
    for c in body.chars() {
        match c {
            'a'..='z' | 'A'..='Z' | '2'..='7' => symbols.push(c.to_ascii_uppercase() as u8),
            '-' => {}
            c if c.is_whitespace() => {}
            c => return Err(OfflineError::BadCharacter(c)),
        }
    }
    let bytes = data_encoding::BASE32_NOPAD
        .decode(&symbols)
        .map_err(|_| OfflineError::Checksum)?;
    if bytes.len() <= CHECKSUM_LEN {
        return Err(OfflineError::Malformed);
    }
    let (token, sum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
    if Sha256::digest(token)[..CHECKSUM_LEN] != *sum {
        return Err(OfflineError::Checksum);
    }
    String::from_utf8(token.to_vec()).map_err(|_| OfflineError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn request(key: &SigningKey) -> RequestClaims {
        RequestClaims {
            v: VERSION,
            aud: "photo".into(),
            key: "PHOTO-AAAAA".into(),
            fpr: "v1:abc".into(),
            name: Some("lab-pc".into()),
            platform: Some("linux-x86_64".into()),
            machine: None,
            public_key: public_key_text(&key.verifying_key()),
            nonce: URL_SAFE_NO_PAD.encode([7u8; NONCE_LEN]),
            iat: 1_800_000_000,
        }
    }

    #[test]
    fn a_request_verifies_by_the_key_it_carries() {
        let k = key(1);
        let token = sign_request(&request(&k), &k);
        let (claims, public) = verify_request(&token).expect("verifies");
        assert_eq!(claims, request(&k));
        assert_eq!(public, k.verifying_key());
    }

    #[test]
    fn a_request_signed_by_another_key_than_it_carries_is_refused() {
        let claims = request(&key(1));
        let token = sign_request(&claims, &key(2));
        assert!(matches!(
            verify_request(&token),
            Err(OfflineError::Token(TokenError::UnknownKey))
        ));
    }

    #[test]
    fn a_proof_verifies_only_with_its_key_and_only_as_a_proof() {
        let k = key(3);
        let proof = ProofClaims {
            v: VERSION,
            aud: "photo".into(),
            sub: "lic_1".into(),
            fpr: "v1:abc".into(),
            nonce: "n".into(),
            iat: 1,
        };
        let token = sign_proof(&proof, &k);
        assert_eq!(verify_proof(&token, &k.verifying_key()), Ok(proof));
        assert_eq!(proof_nonce(&token).as_deref(), Ok("n"));
        assert!(verify_proof(&token, &key(4).verifying_key()).is_err());
        // A request is not a proof, even by the same key.
        let request = sign_request(&request(&k), &k);
        assert!(verify_proof(&request, &k.verifying_key()).is_err());
    }

    #[test]
    fn text_blocks_round_trip_and_forgive_case_blanks_and_dashes() {
        let token = "aaa.bbb.ccc";
        let text = encode_text(Document::Request, token);
        assert!(text.starts_with("LICET ACTIVATION REQUEST\n"), "{text}");
        assert_eq!(decode_text(Document::Request, &text).as_deref(), Ok(token));
        let sloppy = text
            .to_lowercase()
            .replace('-', " ")
            .replace('\n', "\r\n  ");
        assert_eq!(
            decode_text(Document::Request, &sloppy).as_deref(),
            Ok(token)
        );
        let untitled = text.split_once('\n').map(|(_, b)| b).unwrap_or_default();
        assert_eq!(
            decode_text(Document::Request, untitled).as_deref(),
            Ok(token)
        );
        assert_eq!(decode_text(Document::Request, token).as_deref(), Ok(token));
    }

    #[test]
    fn a_mistyped_text_block_fails_its_checksum() {
        let token = "header.payload.signature-of-some-length";
        let text = encode_text(Document::Response, token);
        // Change one symbol of the body to another valid one.
        let at = text.find('\n').map(|i| i + 3).unwrap_or(0);
        let mut chars: Vec<char> = text.chars().collect();
        chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
        let typo: String = chars.into_iter().collect();
        assert!(matches!(
            decode_text(Document::Response, &typo),
            Err(OfflineError::Checksum)
        ));
        assert!(matches!(
            decode_text(Document::Proof, &text),
            Err(OfflineError::WrongDocument { .. })
        ));
        assert!(matches!(
            decode_text(Document::Response, "LICET ACTIVATION RESPONSE\nAB1CD"),
            Err(OfflineError::BadCharacter('1'))
        ));
    }
}
