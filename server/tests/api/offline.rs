//! Air-gapped activation: a machine that never reaches the server is activated from its
//! activation request (taken like an online activation, seat limit and all), imports the
//! response and checks offline; its deactivation proof frees the seat once, and nothing
//! forged, altered, replayed or meant for another machine gets through.
//!
//! The offline machines are the real SDK with a server URL nothing listens on, so any
//! attempt to go online would fail the test.

use std::sync::Arc;

use licet::{Client, Error};
use licet_proto::offline::{self as wire, Document, ProofClaims};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

/// An SDK client on machine `fpr` that cannot reach any server, keeping its state in `dir`.
fn offline_machine(api: &Api, jwks: &Value, dir: &std::path::Path, fpr: &str) -> Client {
    Client::builder("http://127.0.0.1:9", "photo")
        .pinned_jwks(&jwks.to_string())
        .expect("jwks")
        .storage_dir(dir)
        .use_keyring(false)
        .fingerprint_override(fpr)
        .machine_name("lab-pc")
        .clock(Arc::new(api.server.clock.clone()))
        .build()
        .expect("client")
}

async fn offline_activate(api: &Api, request: &str) -> (StatusCode, Value) {
    api.post(
        "/v1/licenses/offline/activate",
        json!({ "request": request }),
    )
    .await
}

async fn offline_deactivate(api: &Api, proof: &str) -> (StatusCode, Value) {
    api.post("/v1/licenses/offline/deactivate", json!({ "proof": proof }))
        .await
}

#[tokio::test]
async fn an_air_gapped_machine_is_activated_from_its_request_and_checks_offline() {
    let api = Api::start().await;
    let (id, key) = api.seeded(2).await;
    let jwks = api.jwks().await;
    let dir = tempfile::tempdir().expect("dir");
    let machine = offline_machine(&api, &jwks, dir.path(), "v1:lab-a");

    let request = machine.offline_activation_request(&key).expect("request");
    let text = request.text();
    assert!(text.starts_with("LICET ACTIVATION REQUEST\n"), "{text}");
    assert!(machine.offline_activation_pending().expect("pending"));
    assert!(matches!(machine.check(), Err(Error::NotActivated(_))));

    let (status, body) = offline_activate(&api, &text).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["activation"]["fingerprint"], "v1:lab-a");
    assert_eq!(body["activation"]["name"], "lab-pc");
    assert_eq!(live_seats(&api, &id).await, 1);
    // The response is the usual lease, bound to the machine, naming the request.
    let claims = verify_independently(&str_of(&body, "token"), &jwks, "photo").expect("lease");
    assert_eq!(claims["fpr"], "v1:lab-a");
    let (_, nonce) = request_nonce(request.token());
    assert_eq!(claims["nonce"], nonce);
    let response = str_of(&body, "response");
    assert!(
        response.starts_with("LICET ACTIVATION RESPONSE\n"),
        "{response}"
    );

    let license = machine
        .import_offline_activation(&response)
        .expect("import");
    assert!(license.has_entitlement("pro"));
    assert!(!machine.offline_activation_pending().expect("pending"));
    // From now on the machine is licensed offline, like any activation.
    let again = offline_machine(&api, &jwks, dir.path(), "v1:lab-a");
    assert!(again.check().is_ok(), "{:?}", again.check());
    assert_eq!(
        again.license_key().expect("key").as_deref(),
        Some(key.as_str())
    );
}

/// The nonce and public key a request carries (read as any other language would).
fn request_nonce(token: &str) -> (String, String) {
    let (claims, key) = wire::verify_request(token).expect("a valid request");
    (wire::public_key_text(&key), claims.nonce)
}

#[tokio::test]
async fn the_same_request_twice_gives_one_seat_and_the_seat_limit_holds() {
    let api = Api::start().await;
    let (id, key) = api.seeded(1).await;
    let jwks = api.jwks().await;
    let dir = tempfile::tempdir().expect("dir");
    let machine = offline_machine(&api, &jwks, dir.path(), "v1:lab-a");
    let request = machine.offline_activation_request(&key).expect("request");

    let (status, first) = offline_activate(&api, &request.text()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    // The bare token is accepted as well as the text block.
    let (status, second) = offline_activate(&api, request.token()).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(first["activation"]["id"], second["activation"]["id"]);
    assert_eq!(live_seats(&api, &id).await, 1);

    // The one seat is taken: another machine is refused, online or offline.
    let other_dir = tempfile::tempdir().expect("dir");
    let other = offline_machine(&api, &jwks, other_dir.path(), "v1:lab-b");
    let request = other.offline_activation_request(&key).expect("request");
    let (status, body) = offline_activate(&api, &request.text()).await;
    assert_error(status, &body, 403, "ACTIVATION_LIMIT_REACHED");
    let (status, body) = api.activate(&key, "v1:online").await;
    assert_error(status, &body, 403, "ACTIVATION_LIMIT_REACHED");
    assert_eq!(live_seats(&api, &id).await, 1);
}

#[tokio::test]
async fn a_tampered_response_another_machines_and_an_old_requests_are_refused() {
    let api = Api::start().await;
    let (_, key) = api.seeded(3).await;
    let jwks = api.jwks().await;
    let dir_a = tempfile::tempdir().expect("dir");
    let dir_b = tempfile::tempdir().expect("dir");
    let a = offline_machine(&api, &jwks, dir_a.path(), "v1:lab-a");
    let b = offline_machine(&api, &jwks, dir_b.path(), "v1:lab-b");

    let old = a.offline_activation_request(&key).expect("request");
    let (_, old_answer) = offline_activate(&api, &old.text()).await;
    let current = a.offline_activation_request(&key).expect("request");
    let (status, answer) = offline_activate(&api, &current.text()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (_, b_answer) = offline_activate(
        &api,
        &b.offline_activation_request(&key).expect("request").text(),
    )
    .await;

    // A typo is caught by the checksum.
    let response = str_of(&answer, "response");
    let typo = mistype(&response);
    assert!(matches!(
        a.import_offline_activation(&typo),
        Err(Error::OfflineText(_))
    ));
    // The request is not a response.
    assert!(matches!(
        a.import_offline_activation(&current.text()),
        Err(Error::OfflineText(_))
    ));
    // An altered lease (re-encoded with a valid checksum) fails its signature.
    let token = str_of(&answer, "token");
    let forged = wire::encode_text(Document::Response, &alter_payload(&token));
    assert!(matches!(
        a.import_offline_activation(&forged),
        Err(Error::InvalidToken(_))
    ));
    // The answer to an older request, or to another machine's, is not this one's.
    for other in [&old_answer, &b_answer] {
        assert!(matches!(
            a.import_offline_activation(&str_of(other, "response")),
            Err(Error::OfflineMismatch(_))
        ));
    }
    // Machine B's files copied to another machine: the nonce matches, the fingerprint not.
    let b_request = b.offline_activation_request(&key).expect("request");
    let b_copy_dir = tempfile::tempdir().expect("dir");
    copy_dir(dir_b.path(), b_copy_dir.path());
    let (_, b_answer) = offline_activate(&api, &b_request.text()).await;
    let thief = offline_machine(&api, &jwks, b_copy_dir.path(), "v1:thief");
    assert!(matches!(
        thief.import_offline_activation(&str_of(&b_answer, "response")),
        Err(Error::FingerprintMismatch)
    ));
    assert!(thief.check().is_err());

    // Nothing refused left a license behind; the genuine answer still imports.
    assert!(a.check().is_err());
    a.import_offline_activation(&response)
        .expect("the genuine response");
    assert!(a.check().is_ok());
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).expect("dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}

/// One base32 symbol of the text block's body changed to another.
fn mistype(text: &str) -> String {
    let at = text.find('\n').expect("title") + 7;
    let mut chars: Vec<char> = text.chars().collect();
    chars[at] = if chars[at] == 'Q' { 'R' } else { 'Q' };
    chars.into_iter().collect()
}

/// The token with one character of its payload changed (its signature then fails).
fn alter_payload(token: &str) -> String {
    let dot = token.find('.').expect("header") + 5;
    let mut chars: Vec<char> = token.chars().collect();
    chars[dot] = if chars[dot] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[tokio::test]
async fn a_deactivation_proof_frees_the_seat_once_and_a_forged_one_is_refused() {
    let api = Api::start().await;
    let (id, key) = api.seeded(1).await;
    let jwks = api.jwks().await;
    let dir = tempfile::tempdir().expect("dir");
    let machine = offline_machine(&api, &jwks, dir.path(), "v1:lab-a");
    let request = machine.offline_activation_request(&key).expect("request");
    let (_, answer) = offline_activate(&api, &request.text()).await;
    let license_id = str_of(&answer["license"], "id");
    machine
        .import_offline_activation(&str_of(&answer, "response"))
        .expect("import");
    let (_, nonce) = request_nonce(request.token());

    // A proof made without the machine's private key: refused, the seat stays taken.
    let forger = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let forged = wire::sign_proof(
        &ProofClaims {
            v: wire::VERSION,
            aud: "photo".into(),
            sub: license_id.clone(),
            fpr: "v1:lab-a".into(),
            nonce: nonce.clone(),
            iat: api.server.clock_now(),
        },
        &forger,
    );
    let (status, body) = offline_deactivate(&api, &forged).await;
    assert_error(status, &body, 400, "INVALID_SIGNATURE");
    assert_eq!(live_seats(&api, &id).await, 1);

    // The machine's own proof: the lease, the key and the private key are gone locally.
    let proof = machine.offline_deactivation_proof().expect("proof");
    assert!(proof.text().starts_with("LICET DEACTIVATION PROOF\n"));
    assert!(matches!(machine.check(), Err(Error::NotActivated(_))));
    // Asked again (the user lost the text), the machine shows the same proof.
    assert_eq!(
        machine.offline_deactivation_proof().expect("again").token(),
        proof.token()
    );
    assert_eq!(machine.license_key().expect("key"), None);
    let (status, body) = offline_deactivate(&api, &proof.text()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["deactivated"], true);
    assert_eq!(live_seats(&api, &id).await, 0);

    // Replayed: nothing happens twice, even after the seat went to another machine.
    api.activate(&key, "v1:next").await;
    let (status, body) = offline_deactivate(&api, proof.token()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["deactivated"], false);
    assert_eq!(live_seats(&api, &id).await, 1);
    // And the spent request cannot take a seat again.
    api.deactivate(&key, "v1:next").await;
    let (status, body) = offline_activate(&api, &request.text()).await;
    assert_error(status, &body, 409, "CONFLICT");
    assert_eq!(live_seats(&api, &id).await, 0);
}

#[tokio::test]
async fn a_seat_freed_another_way_makes_its_proof_do_nothing() {
    let api = Api::start().await;
    let (id, key) = api.seeded(1).await;
    let jwks = api.jwks().await;
    let dir = tempfile::tempdir().expect("dir");
    let machine = offline_machine(&api, &jwks, dir.path(), "v1:lab-a");
    let (_, answer) = offline_activate(
        &api,
        &machine.offline_activation_request(&key).expect("r").text(),
    )
    .await;
    machine
        .import_offline_activation(&str_of(&answer, "response"))
        .expect("import");
    // Support frees the seat by hand; the machine comes back online later and re-activates.
    let (status, body) = api.deactivate(&key, "v1:lab-a").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = api.activate(&key, "v1:lab-a").await;
    assert_eq!(status, StatusCode::OK);
    // An old proof (made before) must not take that new seat away.
    let proof = machine.offline_deactivation_proof().expect("proof");
    let (status, body) = offline_deactivate(&api, &proof.text()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["deactivated"], false);
    assert_eq!(live_seats(&api, &id).await, 1);
}

#[tokio::test]
async fn bad_documents_get_clear_errors() {
    let api = Api::start().await;
    let (_, key) = api.seeded(1).await;
    for (body, code) in [
        (json!({ "request": "" }), "INVALID_REQUEST"),
        (
            json!({ "request": "LICET ACTIVATION REQUEST\nAAAAA-BBBBB" }),
            "INVALID_REQUEST",
        ),
        (json!({ "request": "not.a.token" }), "INVALID_REQUEST"),
        (json!({ "request": 5 }), "INVALID_REQUEST"),
        (json!({ "request": "x", "extra": 1 }), "INVALID_REQUEST"),
    ] {
        let (status, answer) = api.post("/v1/licenses/offline/activate", body).await;
        assert_error(status, &answer, 400, code);
    }
    // A request signed by another key than the one it carries.
    let signer = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
    let other = ed25519_dalek::SigningKey::from_bytes(&[2; 32]);
    let claims = wire::RequestClaims {
        v: wire::VERSION,
        aud: "photo".into(),
        key: key.clone(),
        fpr: "v1:x".into(),
        name: None,
        platform: None,
        machine: None,
        public_key: wire::public_key_text(&other.verifying_key()),
        nonce: "AAAAAAAAAAAAAAAAAAAAAA".into(),
        iat: 0,
    };
    let (status, answer) = offline_activate(&api, &wire::sign_request(&claims, &signer)).await;
    assert_error(status, &answer, 400, "INVALID_SIGNATURE");
    // A request for another product.
    let claims = wire::RequestClaims {
        aud: "video".into(),
        public_key: wire::public_key_text(&signer.verifying_key()),
        ..claims
    };
    let (status, answer) = offline_activate(&api, &wire::sign_request(&claims, &signer)).await;
    assert_error(status, &answer, 400, "INVALID_REQUEST");
    // A proof that names no offline activation.
    let proof = wire::sign_proof(
        &ProofClaims {
            v: wire::VERSION,
            aud: "photo".into(),
            sub: "lic_x".into(),
            fpr: "v1:x".into(),
            nonce: "nobody".into(),
            iat: 0,
        },
        &signer,
    );
    let (status, answer) = offline_deactivate(&api, &proof).await;
    assert_error(status, &answer, 404, "NOT_ACTIVATED");
    let (status, answer) =
        offline_deactivate(&api, &wire::encode_text(Document::Request, &proof)).await;
    assert_error(status, &answer, 400, "INVALID_REQUEST");
}

/// Posts `document` as the dashboard's (or portal's) offline form does: the CSRF token,
/// the text, and an empty file part (no file chosen).
async fn post_offline_form(
    b: &reqwest::Client,
    api: &Api,
    path: &str,
    csrf: &str,
    document: &str,
) -> (StatusCode, String) {
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf.to_owned())
        .text("text", document.to_owned())
        .part(
            "file",
            reqwest::multipart::Part::bytes(Vec::new()).file_name(""),
        );
    let res = b
        .post(api.server.url(path))
        .multipart(form)
        .send()
        .await
        .expect("post");
    (res.status(), res.text().await.expect("html"))
}

#[tokio::test]
async fn the_vendor_activates_and_frees_an_offline_machine_from_the_dashboard() {
    let api = Api::start().await;
    let (id, key) = api.seeded(1).await;
    let jwks = api.jwks().await;
    let dir = tempfile::tempdir().expect("dir");
    let machine = offline_machine(&api, &jwks, dir.path(), "v1:lab-a");
    let (b, csrf) = signed_in(&api).await;
    let (status, page) = get_page(&b, &api, &format!("/admin/licenses/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Activate an offline machine"), "{page}");

    let base = format!("/admin/licenses/{id}/offline");
    let request = machine.offline_activation_request(&key).expect("request");
    // A forged form (wrong CSRF token) takes nothing.
    let (status, _) = post_offline_form(
        &b,
        &api,
        &format!("{base}/activate"),
        "forged",
        &request.text(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(live_seats(&api, &id).await, 0);

    let (status, page) = post_offline_form(
        &b,
        &api,
        &format!("{base}/activate"),
        &csrf,
        &request.text(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let response = page
        .split("<pre id=\"offline-response\" class=\"notes\">")
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .expect("the response on the page");
    machine.import_offline_activation(response).expect("import");
    assert!(machine.check().is_ok());
    assert_eq!(live_seats(&api, &id).await, 1);

    let proof = machine.offline_deactivation_proof().expect("proof");
    let (status, page) = post_offline_form(
        &b,
        &api,
        &format!("{base}/deactivate"),
        &csrf,
        &proof.text(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("seat is free again"), "{page}");
    assert_eq!(live_seats(&api, &id).await, 0);
    // The audit log says who did it.
    let (_, audit) = api.admin_get("/v1/admin/audit").await;
    assert!(audit.to_string().contains("\"offline\":true"), "{audit}");
}

#[tokio::test]
async fn a_customer_can_only_activate_their_own_licenses_offline() {
    let api = Api::start().await;
    api.product("photo", 2).await;
    let mine = api.grant("ada@example.com", &["photo"]).await;
    let theirs = api.grant("bob@example.com", &["photo"]).await;
    let their_license = theirs["licenses"][0].as_str().expect("license").to_owned();
    let (_, their_license) = api
        .admin_get(&format!("/v1/admin/licenses/{their_license}"))
        .await;
    let jwks = api.jwks().await;
    let dir = tempfile::tempdir().expect("dir");
    let machine = offline_machine(&api, &jwks, dir.path(), "v1:lab-a");
    let request = machine
        .offline_activation_request(&str_of(&their_license, "key"))
        .expect("request");
    let b = crate::portal::signed_in_browser(&api, "ada@example.com").await;
    let mine_id = str_of(&mine, "id");
    let (_, page) = get_page(&b, &api, &format!("/portal/purchases/{mine_id}")).await;
    let csrf = hidden_csrf(&page);
    let (status, page) = post_offline_form(
        &b,
        &api,
        &format!("/portal/purchases/{mine_id}/offline/activate"),
        &csrf,
        &request.text(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{page}");
    assert_eq!(their_license["active_activations"], 0);
    assert_eq!(live_seats(&api, &str_of(&their_license, "id")).await, 0);
}

#[tokio::test]
async fn racing_requests_from_many_machines_take_exactly_the_seats_there_are() {
    let api = Api::start().await;
    let (id, key) = api.seeded(3).await;
    let jwks = api.jwks().await;
    let dirs: Vec<_> = (0..20).map(|_| tempfile::tempdir().expect("dir")).collect();
    let mut requests: Vec<String> = dirs
        .iter()
        .enumerate()
        .map(|(i, dir)| {
            offline_machine(&api, &jwks, dir.path(), &format!("v1:lab-{i}"))
                .offline_activation_request(&key)
                .expect("request")
                .text()
        })
        .collect();
    // One machine's request twice in the race: still one seat for it.
    requests.push(requests[0].clone());
    let answers =
        futures_util::future::join_all(requests.iter().map(|r| offline_activate(&api, r))).await;
    let granted = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    let refused = answers
        .iter()
        .filter(|(s, b)| {
            *s == StatusCode::FORBIDDEN && b["error"]["code"] == "ACTIVATION_LIMIT_REACHED"
        })
        .count();
    assert_eq!(live_seats(&api, &id).await, 3);
    assert_eq!(granted + refused, answers.len(), "{answers:?}");
    assert!((3..=4).contains(&granted), "{granted} granted");
}
