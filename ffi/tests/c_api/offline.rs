//! Air-gapped activation from C: the example's `offline-request`, `offline-import` and
//! `offline-deactivate` commands with the server stopped on the machine's side, the request
//! answered on the "connected device" (the API), and the size-reporting buffers retried.

use serde_json::json;

use crate::support::*;

const OFFLINE_TEXT: u32 = 5000;
const OFFLINE_MISMATCH: u32 = 5001;

#[test]
fn a_c_app_activates_offline_from_a_request_file_and_deactivates_with_a_proof() {
    let mut env = Env::start(1, |_| {});
    let key = env.license();
    let c = "licet-demo-shared";
    let files = tempfile::tempdir().expect("dir");
    let path = |name: &str| files.path().join(name).display().to_string();

    // Nothing to import yet, and nothing to deactivate.
    std::fs::write(
        path("nothing.txt"),
        "LICET ACTIVATION RESPONSE\nAAAAA-AAAAA",
    )
    .expect("write");
    let (code, out) = env.run(c, "air", &["offline-import", &path("nothing.txt")]);
    assert_eq!(code, OFFLINE_TEXT, "{out}");
    let (code, out) = env.run(c, "air", &["offline-deactivate", &path("proof.txt")]);
    assert_eq!(code, OFFLINE_MISMATCH, "{out}");

    // The machine writes its request (the example grows its buffer to the size reported).
    let (code, out) = env.run(c, "air", &["offline-request", &key, &path("request.txt")]);
    assert_eq!(code, OK, "{out}");
    let request = std::fs::read_to_string(path("request.txt")).expect("request file");
    assert!(
        request.starts_with("LICET ACTIVATION REQUEST\n"),
        "{request}"
    );
    assert!(out.contains(&request), "the text is shown too: {out}");

    // On a connected device, the request is answered.
    let answer = env.admin(
        "/v1/licenses/offline/activate",
        Body::Json(json!({ "request": request })),
    );
    let response = answer["response"].as_str().expect("response");
    std::fs::write(path("response.txt"), response).expect("write");

    // The machine, which cannot reach the server, imports it and checks offline.
    env.rt.block_on(env.server.stop());
    let (code, out) = env.run(c, "air", &["offline-import", &path("response.txt")]);
    assert_eq!(code, OK, "{out}");
    assert!(out.contains("product: photo"), "{out}");
    let (code, out) = env.run(c, "air", &["check"]);
    assert_eq!(code, OK, "offline check: {out}");
    // Another machine cannot use this response.
    let (code, out) = env.run(c, "other", &["offline-import", &path("response.txt")]);
    assert_eq!(code, OFFLINE_MISMATCH, "{out}");

    // Deactivation: the proof is written; asked again, the same proof.
    let (code, out) = env.run(c, "air", &["offline-deactivate", &path("proof.txt")]);
    assert_eq!(code, OK, "{out}");
    let proof = std::fs::read_to_string(path("proof.txt")).expect("proof file");
    assert!(proof.starts_with("LICET DEACTIVATION PROOF\n"), "{proof}");
    let (code, _) = env.run(c, "air", &["offline-deactivate", &path("proof-again.txt")]);
    assert_eq!(code, OK);
    assert_eq!(
        std::fs::read_to_string(path("proof-again.txt")).expect("again"),
        proof
    );
    let (code, _) = env.run(c, "air", &["check"]);
    assert_eq!(code, NOT_ACTIVATED);

    // The proof frees the seat on the server: another machine can take it.
    env.rt.block_on(env.server.restart()).expect("restart");
    let freed = env.admin(
        "/v1/licenses/offline/deactivate",
        Body::Json(json!({ "proof": proof })),
    );
    assert_eq!(freed["deactivated"], true, "{freed}");
    let (code, out) = env.run(c, "next", &["activate", &key]);
    assert_eq!(code, OK, "{out}");
}
