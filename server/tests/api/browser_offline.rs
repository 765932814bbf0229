//! Air-gapped activation through the portal in a real headless Chromium: the offline
//! machine's request file is uploaded on the customer's purchase page, the response shown
//! there is imported by the machine (the real SDK, which never reaches the server) and
//! checks offline; then its deactivation proof, pasted, frees the seat.

use std::sync::Arc;

use fantoccini::Locator;
use serde_json::Value;

use crate::browser::launch;
use crate::portal::sign_in_link;
use crate::support::*;

#[tokio::test]
async fn an_offline_machine_is_activated_by_uploading_its_request_in_the_portal() {
    let Some(browser) = launch().await else {
        return;
    };
    let api = Api::start().await;
    api.product("photo", 2).await;
    let purchase = api.grant("ada@example.com", &["photo"]).await;
    let license_id = purchase["licenses"][0]
        .as_str()
        .expect("license")
        .to_owned();
    let key = str_of(
        &api.admin_get(&format!("/v1/admin/licenses/{license_id}"))
            .await
            .1,
        "key",
    );
    let jwks: Value = api.jwks().await;
    let machine_dir = tempfile::tempdir().expect("dir");
    let machine = licet::Client::builder("http://127.0.0.1:9", "photo")
        .pinned_jwks(&jwks.to_string())
        .expect("jwks")
        .storage_dir(machine_dir.path())
        .use_keyring(false)
        .fingerprint_override("v1:lab-pc")
        .machine_name("Lab PC")
        .clock(Arc::new(api.server.clock.clone()))
        .build()
        .expect("client");
    let request = machine.offline_activation_request(&key).expect("request");
    let request_file = machine_dir.path().join(request.file_name());
    request.write_to(&request_file).expect("write");

    // The customer signs in and opens the purchase.
    browser.goto(&api.server.url("/portal")).await;
    browser.fill("email", "ada@example.com").await;
    browser.click("Email me a sign-in link").await;
    browser.wait_title("Check your email").await;
    let link = sign_in_link(&api, "ada@example.com")
        .await
        .expect("the emailed link");
    browser.goto(&link).await;
    browser.wait_title("Sign in").await;
    browser.click("Sign in").await;
    browser.wait_title("Your purchases").await;
    browser
        .goto(
            &api.server
                .url(&format!("/portal/purchases/{}", str_of(&purchase, "id"))),
        )
        .await;
    browser.wait_text("Activate an offline machine").await;
    browser.shoot("portal-offline-forms").await;

    // Upload the request file and activate.
    browser
        .client
        .find(Locator::Id("offline-activate-file"))
        .await
        .expect("the request file field")
        .send_keys(request_file.to_str().expect("path"))
        .await
        .expect("choose the file");
    browser.click("Activate").await;
    browser.wait_title("Activation response").await;
    let response = browser
        .wait_for(Locator::Id("offline-response"), "the activation response")
        .await
        .text()
        .await
        .expect("text");
    assert!(
        response.starts_with("LICET ACTIVATION RESPONSE"),
        "{response}"
    );
    assert!(browser.text().await.contains("Lab PC"));
    browser.shoot("portal-offline-response").await;
    assert_eq!(live_seats(&api, &license_id).await, 1);

    // The machine imports what the page showed and is licensed offline.
    machine
        .import_offline_activation(&response)
        .expect("import");
    let license = machine.check().expect("licensed offline");
    assert!(license.has_entitlement("pro"));

    // Later: the machine deactivates offline; its proof, pasted, frees the seat.
    let proof = machine.offline_deactivation_proof().expect("proof");
    browser.client.back().await.expect("back");
    browser
        .goto(
            &api.server
                .url(&format!("/portal/purchases/{}", str_of(&purchase, "id"))),
        )
        .await;
    browser.fill("offline-deactivate-text", &proof.text()).await;
    browser.click("Free the seat").await;
    browser.wait_text("seat is free again").await;
    assert_eq!(live_seats(&api, &license_id).await, 0);
}
