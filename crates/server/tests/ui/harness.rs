//! The browser tests' harness: a real service in-process on loopback HTTPS (the demo
//! depot, an administrator and a read-only user), chromedriver on a free loopback port
//! driving headless Chromium, screenshots under `target/ui-screenshots/`, and the browser's
//! console read back through WebDriver's log endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr, dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use esxlcm_server::api::users::InitialAdmin;
use esxlcm_server::api::{ApiConfig, ApiServer};
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

pub const ADMIN: (&str, &str) = ("admin", "Adm1n!pass");
pub const VIEWER: (&str, &str) = ("viewer", "just-looking");

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Browser tests run one at a time (two Chromiums on a small machine time out).
pub static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Whether to run: Chromium and chromedriver must be installed, unless
/// `ESXLCM_SKIP_BROWSER=1` says explicitly to skip.
pub fn browser_wanted() -> bool {
    if std::env::var("ESXLCM_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!("ESXLCM_SKIP_BROWSER=1: skipping the browser tests");
        return false;
    }
    for bin in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(bin).exists(),
            "{bin} is missing: the web UI's tests drive a real browser. Install it with \
             `apt-get install -y chromium chromium-driver`, or set ESXLCM_SKIP_BROWSER=1 to skip them"
        );
    }
    true
}

pub struct Service {
    pub server: ApiServer,
    pub base: String,
    pub data_dir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Service {
    /// A service with the demo depot, `admin` and the read-only `viewer`.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        std::fs::create_dir_all(&data_dir).unwrap();
        std::fs::write(
            data_dir.join("config.json"),
            json!({"users": [{"name": VIEWER.0, "role": "read_only", "password": VIEWER.1}]}).to_string(),
        )
        .unwrap();
        esxlcm_server::service::seed_demo(
            &esxlcm_store::StoreLocation::local(&esxlcm_server::api::store_dir(&data_dir)),
            7,
        )
        .unwrap();
        let server = ApiServer::start(ApiConfig {
            data_dir: data_dir.clone(),
            listen: "127.0.0.1:0".parse().unwrap(),
            initial_admin: Some(InitialAdmin { user: ADMIN.0.into(), password: ADMIN.1.into() }),
            hosts_listen: None,
            database: None,
            blobs: None,
        })
        .await
        .unwrap();
        let base = format!("https://127.0.0.1:{}", server.local_addr.port());
        Self { server, base, data_dir, _dir: dir }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A plain HTTP client trusting the service's CA, without cookies of its own.
    pub fn http(&self) -> reqwest::Client {
        let ca = std::fs::read(self.server.ca_file.as_ref().unwrap()).unwrap();
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }
}

/// chromedriver (ours, on a free port) with one headless Chromium session.
pub struct Browser {
    pub client: Client,
    driver: Child,
    shots: PathBuf,
}

/// `GET /session/{id}/se/log` as chromedriver serves it: the browser's console.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/se/log", session_id.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (axum::http::Method::POST, Some(json!({"type": "browser"}).to_string()))
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Browser {
    pub async fn start() -> Self {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("esxlcm-chromedriver-{port}.log"));
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {CHROMEDRIVER}: {e}"));
        let url = format!("http://127.0.0.1:{port}");
        let mut caps = serde_json::Map::new();
        caps.insert("acceptInsecureCerts".into(), json!(true));
        caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"binary": CHROMIUM, "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--ignore-certificate-errors", "--window-size=1280,900", "--no-first-run",
                "--disable-extensions", "--disable-background-networking"]}),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let mut builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
            builder.capabilities(caps.clone());
            match builder.connect(&url).await {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("chromedriver on {url} did not start a session: {e}"),
            }
        };
        let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/ui-screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        Self { client, driver, shots }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    pub async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_owned()
    }

    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self.client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => panic!("no element '{css}' on {}: {e}", self.path().await),
        }
    }

    pub async fn exists(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    pub async fn click_link(&self, text: &str) {
        let old = self.find("html").await;
        let link = self.client.wait().at_most(Duration::from_secs(20)).for_element(Locator::LinkText(text)).await;
        link.unwrap_or_else(|e| panic!("no link '{text}': {e}")).click().await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while old.attr("lang").await.is_ok() {
            assert!(Instant::now() < deadline, "the link '{text}' led nowhere");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    /// The page's visible text (retried while a navigation replaces the document).
    pub async fn body_text(&self) -> String {
        let mut tries = 0;
        loop {
            match self.find("body").await.text().await {
                Ok(t) => return t,
                Err(e) if tries < 20 => {
                    let _ = e;
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("reading the page on {}: {e}", self.path().await),
            }
        }
    }

    /// Wait until the page's text contains `needle`.
    pub async fn wait_text(&self, needle: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let text = self.body_text().await;
            if text.contains(needle) {
                return text;
            }
            assert!(Instant::now() < deadline, "'{needle}' did not appear on {}:\n{text}", self.path().await);
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// A screenshot of the page as `target/ui-screenshots/<name>.png`.
    pub async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    /// The console's entries since the last call.
    pub async fn console(&self) -> Vec<Value> {
        let log = self.client.issue_cmd(BrowserLog).await.unwrap();
        log.as_array().cloned().unwrap_or_default()
    }

    /// The page so far logged no error (CSP violations, failed loads, script errors).
    pub async fn assert_clean_console(&self) {
        let errors: Vec<Value> = self.console().await.into_iter().filter(|e| e["level"] == "SEVERE").collect();
        assert!(errors.is_empty(), "browser console errors on {}: {errors:#?}", self.path().await);
    }

    /// Visit a page, check that it rendered without a server error, screenshot it and check
    /// the console.
    pub async fn page(&self, svc: &Service, path: &str, shot: &str) -> String {
        self.goto(&svc.url(path)).await;
        self.checked(shot).await
    }

    /// The current page checked and screenshot.
    pub async fn checked(&self, shot: &str) -> String {
        let text = self.body_text().await;
        assert!(!text.contains("Internal Server Error"), "server error on {}:\n{text}", self.path().await);
        self.shot(shot).await;
        self.assert_clean_console().await;
        self.assert_labelled().await;
        text
    }

    /// Every control a person fills in has a label (`label for=` or `aria-label`), and the
    /// page has a language and a main landmark.
    pub async fn assert_labelled(&self) {
        let path = self.path().await;
        let controls = self.client.find_all(Locator::Css("input:not([type=hidden]), select, textarea")).await.unwrap();
        for c in controls {
            if c.attr("aria-label").await.unwrap().is_some() {
                continue;
            }
            let id =
                c.attr("id").await.unwrap().unwrap_or_else(|| panic!("{path}: a control without id or aria-label"));
            assert!(self.exists(&format!("label[for='{id}']")).await, "{path}: #{id} has no label");
        }
        assert!(self.exists("html[lang] main").await, "{path}: a language and a main landmark");
    }

    /// The keyboard reaches the page: the first Tab lands on the skip link, which leads to
    /// the main content.
    pub async fn assert_keyboard_start(&self) {
        self.find("body").await.send_keys("\u{E004}").await.unwrap();
        let first = self.client.active_element().await.unwrap();
        assert_eq!(first.attr("href").await.unwrap().as_deref(), Some("#main"), "the first Tab reaches the skip link");
    }

    /// Wait until the browser is on a URL containing `needle` (a form's answer arrived).
    pub async fn wait_url(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let url = self.client.current_url().await.unwrap().to_string();
            if url.contains(needle) {
                return;
            }
            assert!(Instant::now() < deadline, "never reached a URL with '{needle}' (at {url})");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// When the page follows a task: wait for it to end, then follow the link it shows.
    pub async fn after_task(&self, then: &str) {
        if !self.exists("[data-task-events]").await {
            return;
        }
        self.find("[data-task-finished]").await;
        self.click_link(then).await;
    }

    /// A select's option by value (the picking a user does).
    pub async fn select(&self, css: &str, value: &str) {
        self.find(css)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("no option '{value}' in {css}: {e}"));
    }

    /// Submit the form whose action is `action` (its submit button) and wait for the answer.
    pub async fn submit(&self, action: &str) {
        self.click_and_wait(&format!("form[action='{action}'] button[type=submit]")).await;
    }

    /// Click what `css` finds and wait until the page it was on is gone (the next one may
    /// show text the last one had: waiting for text alone races).
    pub async fn click_and_wait(&self, css: &str) {
        let old = self.find("html").await;
        self.find(css).await.click().await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while old.attr("lang").await.is_ok() {
            assert!(Instant::now() < deadline, "clicking {css} led nowhere");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The session cookie the browser holds (for fetching a download outside it).
    pub async fn session_cookie(&self) -> String {
        let c = self.client.get_named_cookie("esxlcm_session").await.unwrap();
        format!("esxlcm_session={}", c.value())
    }

    pub async fn login(&self, svc: &Service, user: (&str, &str)) {
        self.goto(&svc.url("/")).await;
        assert_eq!(self.path().await, "/ui/login", "/ leads to the UI, which asks for a login");
        self.fill("#user", user.0).await;
        self.fill("#password", user.1).await;
        self.find("form button[type=submit]").await.click().await.unwrap();
        self.wait_text("Log out", Duration::from_secs(20)).await;
    }

    pub async fn stop(mut self) {
        let _ = self.client.close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// What the scenario composes from the demo depot (the generator's `tiny(7)`, as
/// `Service::start` seeds it), as the API's image tests pick it, in the page's text.
pub struct Picks {
    pub low: String,
    pub high: String,
    pub addon: (String, String),
    pub component: (String, String),
}

pub fn picks() -> Picks {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, p) = crate::picks::tiny_depot(dir.path());
    Picks {
        low: p.low.to_string(),
        high: p.high.to_string(),
        addon: (p.addon.0, p.addon.1.to_string()),
        component: (p.component.0, p.component.1.to_string()),
    }
}
