//! The example app's air-gapped commands: the request it prints and saves is answered on a
//! connected device, the app imports the response and is licensed offline, and its
//! deactivation proof frees the seat.

use serde_json::json;

mod support;
use support::Env;

#[test]
fn the_example_app_is_activated_offline_and_leaves_with_a_proof() {
    let env = Env::start();
    env.admin(
        "/v1/admin/products",
        Some(
            json!({ "slug": "photo", "name": "Photo Pro", "max_activations": 1,
                     "entitlements": ["pro"] }),
        ),
        None,
    );
    let license = env.admin(
        "/v1/admin/licenses",
        Some(json!({ "product": "photo", "email": "ada@example.com" })),
        None,
    );
    let key = license["key"].as_str().expect("key");

    let (out, stdout, stderr) = env.app(&["offline-request", key, "request.txt"], "");
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.starts_with("LICET ACTIVATION REQUEST\n"), "{stdout}");
    let request = std::fs::read_to_string(env.dir.path().join("request.txt")).expect("file");
    let answer = env.admin(
        "/v1/licenses/offline/activate",
        Some(json!({ "request": request })),
        None,
    );
    let response = answer["response"].as_str().expect("response");
    std::fs::write(env.dir.path().join("response.txt"), response).expect("write");

    let (out, stdout, stderr) = env.app(&["offline-import", "response.txt"], "");
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("activated offline"), "{stdout}");
    let (out, stdout, _) = env.app(&["check"], "");
    assert!(out.status.success(), "{stdout}");

    let (out, stdout, stderr) = env.app(&["offline-deactivate", "proof.txt"], "");
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.starts_with("LICET DEACTIVATION PROOF\n"), "{stdout}");
    let proof = std::fs::read_to_string(env.dir.path().join("proof.txt")).expect("file");
    let freed = env.admin(
        "/v1/licenses/offline/deactivate",
        Some(json!({ "proof": proof })),
        None,
    );
    assert_eq!(freed["deactivated"], true, "{freed}");
    let (out, stdout, _) = env.app(&["check"], "");
    assert_eq!(
        out.status.code(),
        Some(1),
        "not licensed any more: {stdout}"
    );
}
