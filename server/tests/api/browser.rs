//! End to end in a real browser: Debian's headless Chromium driven over WebDriver
//! (chromedriver). A customer signs in from the emailed link, downloads a file and a release
//! their license covers, and frees a machine; a vendor signs in, creates a product, issues
//! and revokes a license, and looks at the releases pages. Each page is saved as a
//! screenshot under `target/screenshots/` (desktop and phone width).
//!
//! Needs `chromium` and `chromium-driver` (`.ci/run` installs them). Without them the tests
//! are skipped with a notice, except under `CI=true`, where they fail.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::portal::sign_in_link;
use crate::support::*;

/// A chromedriver process and a browser session on it; both end on drop.
pub(crate) struct Browser {
    pub(crate) client: Client,
    driver: Child,
    pub(crate) downloads: tempfile::TempDir,
}

impl Drop for Browser {
    /// Ends chromedriver and every Chromium process it started: they share its process
    /// group, so a failing test leaves no browser behind either.
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn find_program(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(env) {
        return Some(PathBuf::from(p));
    }
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

/// Starts chromedriver and a headless Chromium; `None` (skip) when they are not installed
/// and this is not CI.
pub(crate) async fn launch() -> Option<Browser> {
    let driver = find_program("LICET_CHROMEDRIVER", &["/usr/bin/chromedriver"]);
    let chromium = find_program(
        "LICET_CHROMIUM",
        &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
    );
    let (Some(driver), Some(chromium)) = (driver, chromium) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromium and chromedriver are required in CI (apt-get install -y chromium chromium-driver)"
        );
        eprintln!(
            "notice: chromium/chromedriver not installed; browser test skipped (CI does not skip it)"
        );
        return None;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        l.local_addr().expect("addr").port()
    };
    let mut child = Command::new(driver)
        .process_group(0)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let ready = eventually(async || {
        http.get(format!("{url}/status"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
            .then_some(())
    })
    .await
    .is_some();
    if !ready {
        let _ = child.kill();
        panic!("chromedriver did not start");
    }
    let downloads = tempfile::tempdir().expect("download dir");
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--no-first-run", "--window-size=1280,900"],
            "prefs": {
                "download.default_directory": downloads.path(),
                "download.prompt_for_download": false,
            },
        },
    });
    let Value::Object(caps) = caps else {
        unreachable!()
    };
    let client = match ClientBuilder::rustls()
        .expect("tls")
        .capabilities(caps)
        .connect(&url)
        .await
    {
        Ok(c) => c,
        Err(e) => {
            let _ = child.kill();
            panic!("chromium session: {e}");
        }
    };
    Some(Browser {
        client,
        driver: child,
        downloads,
    })
}

fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

impl Browser {
    pub(crate) async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// Saves the page at desktop width and at phone width, and checks that at phone width
    /// nothing but tables (which scroll in their own box) is wider than the screen.
    pub(crate) async fn shoot(&self, name: &str) {
        let dir = screenshot_dir();
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write");
        self.client.set_window_size(390, 844).await.expect("resize");
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(dir.join(format!("{name}-phone.png")), png).expect("write");
        let overflow = self
            .client
            .execute(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
                vec![],
            )
            .await
            .expect("script");
        assert!(
            overflow.as_i64().unwrap_or(0) <= 0,
            "{name}: the page is wider than a phone screen by {overflow}px"
        );
        self.client
            .set_window_size(1280, 900)
            .await
            .expect("resize");
        self.check_labels(name).await;
    }

    /// Every visible form control has a label.
    pub(crate) async fn check_labels(&self, name: &str) {
        let unlabelled = self
            .client
            .execute(
                "return [...document.querySelectorAll('input:not([type=hidden]),select,textarea')]\
                 .filter(e => e.labels.length === 0).map(e => e.name);",
                vec![],
            )
            .await
            .expect("script");
        assert_eq!(
            unlabelled,
            json!([]),
            "{name}: form controls without a label"
        );
    }

    pub(crate) async fn button(&self, text: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::XPath(&format!(
                "//button[normalize-space()='{text}']"
            )))
            .await
            .unwrap_or_else(|e| panic!("a button '{text}': {e}"))
    }

    pub(crate) async fn click(&self, text: &str) {
        self.button(text).await.click().await.expect("click");
    }

    /// Waits (10 s at most) for an element; `what` names it in the failure.
    pub(crate) async fn wait_for(
        &self,
        locator: Locator<'_>,
        what: &str,
    ) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(locator)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"))
    }

    pub(crate) async fn fill(&self, id: &str, text: &str) {
        let field = self
            .client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("a field #{id}: {e}"));
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    /// Waits until the page's `h1` reads `title`.
    pub(crate) async fn wait_title(&self, title: &str) {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::XPath(&format!(
                "//h1[normalize-space()=\"{title}\"]"
            )))
            .await
            .unwrap_or_else(|e| panic!("a page titled '{title}': {e}"));
    }

    /// Waits until the page's `main` contains `needle`: after a form posts back to a
    /// page with the same title, the old page may still be showing (and its elements
    /// go stale under the reader), so this reads again until the new one is there.
    pub(crate) async fn wait_text(&self, needle: &str) {
        let deadline = std::time::Instant::now() + PATIENCE;
        let mut last = String::new();
        while std::time::Instant::now() < deadline {
            if let Ok(main) = self.client.find(Locator::Css("main")).await
                && let Ok(text) = main.text().await
            {
                if text.contains(needle) {
                    return;
                }
                last = text;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("a page saying '{needle}'; it said: {last}");
    }

    pub(crate) async fn text(&self) -> String {
        self.client
            .find(Locator::Css("main"))
            .await
            .expect("main")
            .text()
            .await
            .expect("text")
    }
}

/// Publishes `version` of `product` through the admin API with one file for Linux.
async fn publish_release(api: &Api, product: &str, version: &str, name: &str, bytes: &[u8]) {
    let (status, body) = api
        .admin_post(
            &format!("/v1/admin/products/{product}/releases"),
            json!({ "version": version, "notes": "Faster exports.\nA dark theme." }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = str_of(&body, "id");
    let res = api
        .http
        .post(api.server.url(&format!(
            "/v1/admin/releases/{id}/artifacts?platform=linux-x86_64&name={name}"
        )))
        .bearer_auth(&api.server.admin_token)
        .body(bytes.to_vec())
        .send()
        .await
        .expect("upload");
    assert_eq!(res.status(), StatusCode::CREATED);
    let (status, body) = api
        .admin_post(&format!("/v1/admin/releases/{id}/publish"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_customer_signs_in_from_the_email_downloads_the_file_and_frees_a_machine() {
    let Some(browser) = launch().await else {
        return;
    };
    let api = Api::start().await;
    api.product("photo", 2).await;
    let installer: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
    api.download_product("extras", "Photo Extras", "extras.zip", &installer)
        .await;
    let purchase = api.grant("ada@example.com", &["photo", "extras"]).await;
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
    assert_eq!(api.activate(&key, "v1:old-laptop").await.0, StatusCode::OK);
    let app_image: Vec<u8> = (0..30_000u32).map(|i| (i % 241) as u8).collect();
    publish_release(&api, "photo", "2.0.0", "Photo.AppImage", &app_image).await;

    // Sign-in: the form, then the link from the email.
    browser.goto(&api.server.url("/portal")).await;
    browser.shoot("portal-sign-in").await;
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
    assert!(browser.text().await.contains("photo, extras"));
    browser.shoot("portal-purchases").await;

    browser
        .client
        .find(Locator::LinkText("photo, extras"))
        .await
        .expect("the purchase")
        .click()
        .await
        .expect("click");
    browser.wait_title("photo, extras").await;
    let text = browser.text().await;
    assert!(
        text.contains(&key) && text.contains("Ada's laptop"),
        "{text}"
    );
    // The copy button appears once the script runs (it is hidden without it).
    let copy = browser
        .client
        .find(Locator::Css("button[data-copy]"))
        .await
        .expect("a copy button");
    assert!(copy.is_displayed().await.expect("displayed"));
    browser.shoot("portal-purchase").await;

    // Generate a download link and download the file in the browser.
    browser.click("Generate download link").await;
    let download = browser
        .wait_for(Locator::LinkText("Download extras.zip"), "a download link")
        .await;
    browser.shoot("portal-download-link").await;
    download.click().await.expect("click");
    let saved = browser.downloads.path().join("extras.zip");
    let got = eventually(async || {
        std::fs::read(&saved)
            .ok()
            .filter(|bytes| bytes.len() == installer.len())
    })
    .await;
    assert!(got == Some(installer), "the browser saved the file intact");

    // The release the license covers downloads from its button.
    browser
        .client
        .find(Locator::LinkText("Download for linux-x86_64"))
        .await
        .expect("the release's download button")
        .click()
        .await
        .expect("click");
    let saved = browser.downloads.path().join("Photo.AppImage");
    let got = eventually(async || {
        std::fs::read(&saved)
            .ok()
            .filter(|bytes| bytes.len() == app_image.len())
    })
    .await;
    assert!(
        got == Some(app_image),
        "the browser saved the release intact"
    );

    // Free the old machine's seat.
    browser
        .goto(
            &api.server
                .url(&format!("/portal/purchases/{}", str_of(&purchase, "id"))),
        )
        .await;
    browser.click("Deactivate this machine").await;
    browser
        .wait_for(
            Locator::XPath("//p[contains(., '0 of 2 machines in use')]"),
            "the machine is gone",
        )
        .await;
    browser.shoot("portal-machine-freed").await;
    let (status, body) = api.validate(&key, "v1:old-laptop").await;
    assert_error(status, &body, 404, "NOT_ACTIVATED");
}

#[tokio::test]
async fn a_vendor_signs_in_creates_a_product_and_issues_and_revokes_a_license() {
    let Some(browser) = launch().await else {
        return;
    };
    let api = Api::start().await;
    // Three weeks of history, so the overview's charts have something to draw.
    api.product("photo", 3).await;
    api.admin_post(
        "/v1/admin/products",
        json!({ "slug": "studio", "name": "Photo Studio", "max_activations": 2 }),
    )
    .await;
    api.server.clock.advance(-21 * 86_400);
    for day in 0..21u32 {
        for n in 0..(day * 7 % 5 + 1) {
            let product = if n % 3 == 0 { "studio" } else { "photo" };
            let (_, p) = api
                .admin_post(
                    "/v1/admin/purchases",
                    json!({ "email": format!("buyer{day}-{n}@example.com"), "products": [product],
                            "amount": 4900, "currency": "eur" }),
                )
                .await;
            let id = p["licenses"][0].as_str().expect("license");
            let key = str_of(
                &api.admin_get(&format!("/v1/admin/licenses/{id}")).await.1,
                "key",
            );
            for m in 0..=(n % 2) {
                api.activate(&key, &format!("v1:machine-{m}")).await;
            }
        }
        api.server.clock.advance(86_400);
    }

    browser.goto(&api.server.url("/admin")).await;
    browser.wait_title("Licet dashboard").await;
    browser.shoot("dashboard-sign-in").await;
    browser.fill("secret", "not-the-token").await;
    browser.click("Sign in").await;
    browser.wait_title("Licet dashboard").await;
    browser.wait_text("not right").await;
    browser.fill("secret", &api.server.admin_token).await;
    browser.click("Sign in").await;
    browser.wait_title("Overview").await;
    let charts = browser
        .client
        .find_all(Locator::Css("svg[role=img]"))
        .await
        .expect("svg");
    assert_eq!(charts.len(), 3);
    browser.shoot("dashboard-overview").await;

    // A product through the form; a bad number first, which keeps what was typed.
    browser.goto(&api.server.url("/admin/products/new")).await;
    browser.fill("slug", "video-pro").await;
    browser.fill("name", "Video Pro").await;
    browser.fill("max_activations", "two").await;
    browser.fill("entitlements", "export, 4k").await;
    browser.click("Create product").await;
    browser.wait_title("New product").await;
    browser.wait_text("must be a whole number").await;
    let slug = browser
        .client
        .find(Locator::Id("slug"))
        .await
        .expect("slug");
    assert_eq!(
        slug.prop("value").await.expect("value").as_deref(),
        Some("video-pro")
    );
    browser.shoot("dashboard-product-error").await;
    browser.fill("max_activations", "2").await;
    browser.click("Create product").await;
    browser.wait_title("Video Pro").await;
    browser.shoot("dashboard-product").await;
    let (_, p) = api.admin_get("/v1/admin/products/video-pro").await;
    assert_eq!(p["max_activations"], 2);
    assert_eq!(p["entitlements"], json!(["export", "4k"]));

    // Issue a license for it, then revoke it.
    browser.goto(&api.server.url("/admin/licenses")).await;
    browser.shoot("dashboard-licenses").await;
    browser
        .client
        .find(Locator::Id("issue-product"))
        .await
        .expect("select")
        .select_by_value("video-pro")
        .await
        .expect("select");
    browser.fill("issue-email", "dora@example.com").await;
    browser.click("Issue license").await;
    browser.wait_title("License").await;
    let key = browser
        .client
        .find(Locator::Id("license-key"))
        .await
        .expect("key")
        .text()
        .await
        .expect("text");
    assert_eq!(api.activate(&key, "v1:dora-pc").await.0, StatusCode::OK);
    browser.client.refresh().await.expect("reload");
    browser.wait_title("License").await;
    browser.shoot("dashboard-license").await;
    browser.click("Revoke").await;
    browser
        .wait_for(Locator::Css(".status-REVOKED"), "revoked")
        .await;
    browser.shoot("dashboard-license-revoked").await;
    let (status, body) = api.validate(&key, "v1:dora-pc").await;
    assert_error(status, &body, 403, "LICENSE_REVOKED");

    // The releases pages, with a published release and a draft.
    publish_release(&api, "photo", "1.0.0", "Photo.AppImage", b"photo 1.0.0").await;
    api.admin_post(
        "/v1/admin/products/photo/releases",
        json!({ "version": "1.1.0-beta.1", "channel": "beta", "entitlement": "pro" }),
    )
    .await;
    browser.goto(&api.server.url("/admin/releases")).await;
    browser.wait_title("Releases").await;
    browser.shoot("dashboard-releases").await;
    browser.goto(&api.server.url("/admin/releases/photo")).await;
    browser.wait_title("Releases of photo app").await;
    browser.shoot("dashboard-product-releases").await;

    browser.goto(&api.server.url("/admin/purchases")).await;
    browser.shoot("dashboard-purchases").await;
    browser.goto(&api.server.url("/admin/products")).await;
    browser.shoot("dashboard-products").await;
}
