//! Three `licet-server` replicas on one PostgreSQL database, sharing one master key, with
//! traffic spread over all three: the seat limit holds across them, rate limits are shared,
//! a key rotated on one is served and used by the others, a Stripe event retried to another
//! replica fulfils once and mails once, and a replica killed mid-load loses no activation it
//! acknowledged.
//!
//! Needs PostgreSQL (`LICET_TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`):
//! skipped with a notice when it is unreachable, except under `CI=true`.

use std::process::Command;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use super::{Running, bin, mail_files, spawn_server};

const TOKEN: &str = "lct_admin_replicas_test_0123456789abcdef";
const WEBHOOK_SECRET: &str = "whsec_licet_replicas_secret";
/// The per-key limit the replicas run with (per minute, shared through the database).
const PER_KEY: usize = 40;

/// A fresh schema of the test database, or `None` (skip) when PostgreSQL is unreachable
/// outside CI.
fn database(rt: &tokio::runtime::Runtime) -> Option<String> {
    let base = std::env::var("LICET_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    match rt.block_on(licet_server::testkit::postgres_test_schema(&base)) {
        Ok(url) => Some(url),
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "PostgreSQL is required in CI for the replica test: {e}"
            );
            eprintln!("notice: PostgreSQL unreachable ({e}); the replica test is skipped");
            None
        }
    }
}

/// Three replicas on `url`, started at once, each with its own data directory (for its
/// mail files), the same master key and admin token, keys reloaded every second.
fn replicas(url: &str, dirs: &[tempfile::TempDir; 3]) -> Vec<Running> {
    let master = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([42u8; 32]);
    let per_key = PER_KEY.to_string();
    let env = [
        ("LICET_DATABASE_URL", url),
        ("LICET_MASTER_KEY", master.as_str()),
        ("LICET_ADMIN_TOKEN", TOKEN),
        ("LICET_KEY_REFRESH_SECS", "1"),
        ("LICET_RATE_LIMIT_PER_KEY", per_key.as_str()),
        ("LICET_RATE_LIMIT_PER_IP", "100000"),
        ("LICET_STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
    ];
    // Started together, as an orchestrator starts replicas: they race to make the first
    // signing key on the empty database.
    std::thread::scope(|s| {
        let starting: Vec<_> = dirs
            .iter()
            .map(|d| s.spawn(|| spawn_server(bin(), d.path(), &env)))
            .collect();
        starting
            .into_iter()
            .map(|h| h.join().expect("replica starts"))
            .collect()
    })
}

struct Cluster {
    http: reqwest::Client,
    urls: Vec<String>,
}

impl Cluster {
    async fn post(&self, replica: usize, path: &str, body: &Value) -> (u16, Value) {
        let url = &self.urls[replica % self.urls.len()];
        let res = self
            .http
            .post(format!("{url}{path}"))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await;
        match res {
            Ok(r) => {
                let status = r.status().as_u16();
                (status, r.json().await.unwrap_or(Value::Null))
            }
            Err(_) => (0, Value::Null),
        }
    }

    async fn get(&self, replica: usize, path: &str) -> Value {
        let url = &self.urls[replica % self.urls.len()];
        self.http
            .get(format!("{url}{path}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json")
    }

    /// A license of a new product `slug` with `seats` seats; its `(id, key)`.
    async fn license(&self, slug: &str, seats: u32) -> (String, String) {
        let (status, body) = self
            .post(
                0,
                "/v1/admin/products",
                &json!({ "slug": slug, "name": slug, "max_activations": seats }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = self
            .post(
                1,
                "/v1/admin/licenses",
                &json!({ "product": slug, "email": "ada@example.com" }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        (
            body["id"].as_str().expect("id").to_owned(),
            body["key"].as_str().expect("key").to_owned(),
        )
    }

    async fn activate(&self, replica: usize, key: &str, fpr: &str) -> (u16, Value) {
        self.post(
            replica,
            "/v1/licenses/activate",
            &json!({ "key": key, "fingerprint": fpr }),
        )
        .await
    }

    /// The live activations of a license, by fingerprint.
    async fn live_fingerprints(&self, replica: usize, license: &str) -> Vec<String> {
        let lic = self
            .get(replica, &format!("/v1/admin/licenses/{license}"))
            .await;
        lic["activations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["deactivated_at"].is_null())
            .filter_map(|a| a["fingerprint"].as_str().map(str::to_owned))
            .collect()
    }
}

/// The `kid` in a token's header.
fn kid_of(token: &str) -> String {
    let header = token.split('.').next().expect("header");
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .expect("base64url");
    let v: Value = serde_json::from_slice(&json).expect("json");
    v["kid"].as_str().expect("kid").to_owned()
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| k["kid"].as_str().map(str::to_owned))
        .collect()
}

fn total_mail(dirs: &[tempfile::TempDir; 3]) -> usize {
    dirs.iter().map(|d| mail_files(d.path())).sum()
}

fn stripe_event(id: &str) -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/stripe/checkout.session.completed.json"
    );
    let mut e: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    e["id"] = id.into();
    e.to_string()
}

#[test]
fn three_replicas_on_one_postgres_database_behave_as_one_server() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    let Some(url) = database(&rt) else {
        return;
    };
    let dirs = [
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    ];
    let mut servers = replicas(&url, &dirs);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cluster = Cluster {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client"),
        urls: servers.iter().map(|s| s.url.clone()).collect(),
    };

    rt.block_on(async {
        // 0. Started on an empty database, the replicas agree on one first signing key.
        let first: Vec<Vec<String>> = futures_util::future::join_all((0..3).map(|r| {
            let cluster = &cluster;
            async move { kids(&cluster.get(r, "/.well-known/jwks.json").await) }
        }))
        .await;
        assert!(
            first.iter().all(|k| k.len() == 1 && *k == first[0]),
            "one first key: {first:?}"
        );

        // 1. The seat limit holds across replicas: 50 machines race for 3 seats.
        let (id, key) = cluster.license("photo", 3).await;
        let answers = futures_util::future::join_all((0..50).map(|i| {
            let (cluster, key) = (&cluster, &key);
            async move { cluster.activate(i, key, &format!("v1:race-{i}")).await }
        }))
        .await;
        let won = answers.iter().filter(|(s, _)| *s == 200).count();
        let limited = answers
            .iter()
            .filter(|(s, b)| *s == 403 && b["error"]["code"] == "ACTIVATION_LIMIT_REACHED")
            .count();
        let rate_limited = answers.iter().filter(|(s, _)| *s == 429).count();
        assert_eq!(won, 3, "{answers:?}");
        assert_eq!(won + limited + rate_limited, 50, "{answers:?}");
        assert_eq!(cluster.live_fingerprints(2, &id).await.len(), 3);

        // 2. Rate limits are shared: the per-key limit is not multiplied by three. (The
        //    burst keeps clear of a minute's end, where a new window would open.)
        let (_, key2) = cluster.license("video", 1).await;
        let into_minute = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() % 60)
            .unwrap_or_default();
        if into_minute > 55 {
            tokio::time::sleep(Duration::from_secs(61 - into_minute)).await;
        }
        let answers = futures_util::future::join_all((0..PER_KEY + 15).map(|i| {
            let (cluster, key2) = (&cluster, &key2);
            async move {
                let body = json!({ "key": key2, "fingerprint": "v1:nobody" });
                cluster.post(i, "/v1/licenses/validate", &body).await
            }
        }))
        .await;
        let allowed = answers.iter().filter(|(s, _)| *s != 429).count();
        assert!(
            allowed <= PER_KEY,
            "{allowed} requests passed a shared limit of {PER_KEY} per minute"
        );

        // 3. A key rotated on one replica is published and used by the others within the
        //    refresh interval, and leases from before keep verifying.
        let (_, key3) = cluster.license("audio", 1).await;
        let (status, before) = cluster.activate(0, &key3, "v1:keeper").await;
        assert_eq!(status, 200, "{before}");
        let old_token = before["token"].as_str().expect("token").to_owned();
        let old_kid = kid_of(&old_token);
        let published_before = kids(&cluster.get(0, "/.well-known/jwks.json").await);
        let (status, body) = cluster.post(0, "/v1/admin/keys/rotate", &json!({})).await;
        assert!(status == 200 || status == 201, "{body}");
        let new_kid = body["items"]
            .as_array()
            .and_then(|keys| keys.iter().find(|k| k["state"] == "current"))
            .and_then(|k| k["kid"].as_str())
            .expect("a current key")
            .to_owned();
        assert!(
            !published_before.contains(&new_kid),
            "a rotation brings a new key, not one published before: {body}"
        );
        let mut rotated = false;
        for _ in 0..25 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let jwks = cluster.get(2, "/.well-known/jwks.json").await;
            let (_, lease) = cluster
                .post(
                    2,
                    "/v1/licenses/validate",
                    &json!({ "key": key3, "fingerprint": "v1:keeper" }),
                )
                .await;
            if let Some(token) = lease["token"].as_str()
                && kid_of(token) == new_kid
                && kids(&jwks).contains(&new_kid)
            {
                assert!(
                    kids(&jwks).contains(&old_kid),
                    "the old key stays published"
                );
                rotated = true;
                break;
            }
        }
        assert!(rotated, "replica 2 signs with the rotated key within 5 s");
        for replica in 0..3 {
            let jwks = cluster.get(replica, "/.well-known/jwks.json").await;
            assert!(kids(&jwks).contains(&old_kid), "replica {replica}");
        }

        // 4. A Stripe event delivered to one replica and retried to another fulfils once and
        //    mails once, with all three outbox workers running.
        let body = stripe_event("evt_replicas_1");
        for replica in [0, 1, 2, 1] {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or_default();
            let sig = licet_server::testkit::internals::stripe::sign(
                body.as_bytes(),
                WEBHOOK_SECRET,
                now,
            );
            let res = cluster
                .http
                .post(format!("{}/v1/webhooks/stripe", cluster.urls[replica]))
                .header("content-type", "application/json")
                .header("stripe-signature", sig)
                .body(body.clone())
                .send()
                .await
                .expect("webhook");
            assert_eq!(res.status().as_u16(), 200);
        }
        let purchases = cluster.get(2, "/v1/admin/purchases").await;
        assert_eq!(
            purchases["items"].as_array().map(Vec::len),
            Some(1),
            "{purchases}"
        );
        for _ in 0..100 {
            if total_mail(&dirs) > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(total_mail(&dirs), 1, "one email, whichever replica sent it");
    });

    // 5. One replica killed with SIGKILL mid-load: the others keep serving, and every
    //    activation acknowledged to a client is there.
    // Spread over ten licenses, so no key meets its rate limit.
    let licenses: Vec<(String, String)> = rt.block_on(async {
        let mut all = Vec::new();
        for n in 0..10 {
            all.push(cluster.license(&format!("bulk{n}"), 1000).await);
        }
        all
    });
    let victim = servers.remove(2);
    let victim_pid = victim.child.id();
    let acknowledged = rt.block_on(async {
        let load = (0..300).map(|i| {
            let cluster = &cluster;
            let key = &licenses[i % 10].1;
            async move {
                if i == 120 {
                    let _ = Command::new("kill")
                        .args(["-KILL", &victim_pid.to_string()])
                        .status();
                }
                // Round-robin; after the kill, requests to the dead replica fail (status 0).
                let fpr = format!("v1:bulk-{i}");
                let (status, _) = cluster.activate(i, key, &fpr).await;
                (status == 200).then_some(fpr)
            }
        });
        // In waves of 30, so the kill lands mid-load.
        let mut acknowledged = Vec::new();
        let mut load = load.collect::<Vec<_>>();
        while !load.is_empty() {
            let wave: Vec<_> = load.drain(..load.len().min(30)).collect();
            acknowledged.extend(
                futures_util::future::join_all(wave)
                    .await
                    .into_iter()
                    .flatten(),
            );
        }
        acknowledged
    });
    let mut victim = victim;
    let _ = victim.child.wait();
    assert!(
        acknowledged.len() >= 150,
        "the survivors kept serving: {}",
        acknowledged.len()
    );
    let live: Vec<String> = rt.block_on(async {
        let mut all = Vec::new();
        for (id, _) in &licenses {
            all.extend(cluster.live_fingerprints(0, id).await);
        }
        all
    });
    for fpr in &acknowledged {
        assert!(live.contains(fpr), "acknowledged activation {fpr} was lost");
    }
    for mut s in servers {
        let _ = s.child.kill();
        let _ = s.child.wait();
    }
}
