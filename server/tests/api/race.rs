//! Invariants under concurrency.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::*;

/// 50 machines race for 3 seats. If the seat check and the insert were not one atomic step
/// (row lock on PostgreSQL, write lock on SQLite), more than 3 would get in.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn activation_limit_holds_under_concurrent_requests() {
    let api = std::sync::Arc::new(Api::start().await);
    let (id, key) = api.seeded(3).await;
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let api = api.clone();
            let key = key.clone();
            tokio::spawn(async move { api.activate(&key, &format!("v1:racer-{i}")).await })
        })
        .collect();
    let mut ok = 0;
    let mut limited = 0;
    for t in tasks {
        let (status, body) = t.await.expect("task");
        match status {
            StatusCode::OK => ok += 1,
            _ => {
                assert_error(status, &body, 403, "ACTIVATION_LIMIT_REACHED");
                limited += 1;
            }
        }
    }
    assert_eq!((ok, limited), (3, 47));
    assert_eq!(live_seats(&api, &id).await, 3);
}

/// The same machine activating 20 times at once holds one seat, not 20.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_activations_from_one_machine_take_one_seat() {
    let api = std::sync::Arc::new(Api::start().await);
    let (id, key) = api.seeded(5).await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let api = api.clone();
            let key = key.clone();
            tokio::spawn(async move { api.activate(&key, "v1:same-machine").await.0 })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.expect("task"), StatusCode::OK);
    }
    assert_eq!(live_seats(&api, &id).await, 1);
    let (_, lic) = api.admin_get(&format!("/v1/admin/licenses/{id}")).await;
    assert_eq!(
        lic["activations"].as_array().map(Vec::len),
        Some(1),
        "{}",
        json!(lic)
    );
}
