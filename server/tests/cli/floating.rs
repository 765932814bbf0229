//! `licet-server product create --floating-lease-secs …`: floating products from the
//! command line.

use super::releases::{fails, json};
use super::run;

#[test]
fn a_floating_product_is_created_from_the_command_line() {
    let dir = tempfile::tempdir().expect("dir");
    run(dir.path(), &["migrate"]);
    let made = json(&run(
        dir.path(),
        &[
            "product",
            "create",
            "--slug",
            "cad",
            "--name",
            "CAD",
            "--max-activations",
            "5",
            "--floating-lease-secs",
            "900",
            "--max-borrow-days",
            "7",
        ],
    ));
    assert_eq!(made["floating"]["lease_secs"], 900);
    assert_eq!(made["floating"]["max_borrow_secs"], 7 * 86_400);
    let err = fails(
        dir.path(),
        &[
            "product",
            "create",
            "--slug",
            "cad2",
            "--name",
            "CAD",
            "--max-activations",
            "5",
            "--floating-lease-secs",
            "5",
        ],
    );
    assert!(err.contains("lease_secs"), "{err}");
}
