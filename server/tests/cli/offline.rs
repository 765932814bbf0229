//! `licet-server offline activate|deactivate`: the vendor answers an air-gapped machine's
//! activation request from the shell, and frees its seat with its deactivation proof.

use super::releases::{fails, json};
use super::run;

#[test]
fn an_offline_machine_is_activated_and_freed_from_the_command_line() {
    let dir = tempfile::tempdir().expect("dir");
    let machine_dir = tempfile::tempdir().expect("dir");
    run(dir.path(), &["migrate"]);
    run(
        dir.path(),
        &[
            "product",
            "create",
            "--slug",
            "lab",
            "--name",
            "Lab",
            "--max-activations",
            "1",
        ],
    );
    let license = json(&run(
        dir.path(),
        &[
            "license",
            "issue",
            "--product",
            "lab",
            "--email",
            "ada@example.com",
        ],
    ));
    let key = license["key"].as_str().expect("key");
    let jwks = run(dir.path(), &["keys", "export", "--format", "json"]);
    // The machine: the real SDK, which never reaches a server.
    let machine = licet::Client::builder("http://127.0.0.1:9", "lab")
        .pinned_jwks(&jwks)
        .expect("jwks")
        .storage_dir(machine_dir.path())
        .use_keyring(false)
        .fingerprint_override("v1:lab-pc")
        .build()
        .expect("client");

    let request = machine.offline_activation_request(key).expect("request");
    let request_file = machine_dir.path().join(request.file_name());
    request.write_to(&request_file).expect("write");
    let response_file = machine_dir.path().join("response.txt");
    let printed = run(
        dir.path(),
        &[
            "offline",
            "activate",
            request_file.to_str().expect("path"),
            "--out",
            response_file.to_str().expect("path"),
        ],
    );
    assert!(
        printed.starts_with("LICET ACTIVATION RESPONSE\n"),
        "{printed}"
    );
    let response = std::fs::read_to_string(&response_file).expect("response file");
    assert_eq!(response, printed);
    machine
        .import_offline_activation(&response)
        .expect("import");
    assert!(machine.check().is_ok());

    // The one seat is taken; the proof frees it, once.
    let proof = machine.offline_deactivation_proof().expect("proof");
    let proof_file = machine_dir.path().join(proof.file_name());
    proof.write_to(&proof_file).expect("write");
    let path = proof_file.to_str().expect("path");
    let freed = json(&run(dir.path(), &["offline", "deactivate", path]));
    assert_eq!(freed["deactivated"], true, "{freed}");
    let again = json(&run(dir.path(), &["offline", "deactivate", path]));
    assert_eq!(again["deactivated"], false, "{again}");
    // A spent request cannot take the seat again.
    let err = fails(
        dir.path(),
        &["offline", "activate", request_file.to_str().expect("path")],
    );
    assert!(err.contains("used before"), "{err}");
}
