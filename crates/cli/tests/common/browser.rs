//! A real browser for end-to-end tests: Debian's headless Chromium driven through
//! chromedriver's WebDriver protocol — JSON over HTTP, six calls, spoken with reqwest
//! (chromedriver keeps connections open, so the harness's close-delimited client
//! won't do).

use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

use super::{free_ports, wait_for};

/// A browser session; the browser and its driver stop when it drops.
pub struct Browser {
    driver: Child,
    addr: String,
    session: String,
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium; None, with a message, where
    /// neither is installed (scripts/setup installs both).
    pub fn start() -> Option<Browser> {
        let found = |bin: &str| {
            Command::new("which")
                .arg(bin)
                .output()
                .is_ok_and(|o| o.status.success())
        };
        if !found("chromium") || !found("chromedriver") {
            eprintln!("skipped: no chromium/chromedriver (apt-get install -y chromium chromium-driver)");
            return None;
        }
        let port = free_ports(1)[0];
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let addr = format!("127.0.0.1:{port}");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // reqwest's rustls needs a crypto provider even for plain HTTP.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::new();
        wait_for("chromedriver answers", 30, || {
            runtime
                .block_on(client.get(format!("http://{addr}/status")).send())
                .is_ok()
        });
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                // No background connections: this machine's closed network refuses
                // them, many at a time.
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1400,900", "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--disable-quic"]
            }
        }}});
        let mut browser = Browser {
            driver,
            addr,
            session: String::new(),
            runtime,
            client,
        };
        let answer = browser.call("POST", "/session", &caps);
        browser.session = answer["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_string();
        Some(browser)
    }

    fn call(&self, method: &str, path: &str, body: &Value) -> Value {
        let url = format!("http://{}{path}", self.addr);
        let request = match method {
            "GET" => self.client.get(url),
            "DELETE" => self.client.delete(url),
            _ => self.client.post(url).json(body),
        };
        let (code, text) = self.runtime.block_on(async {
            let response = request.send().await.expect("chromedriver answers");
            (
                response.status().as_u16(),
                response.text().await.unwrap_or_default(),
            )
        });
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert_eq!(code, 200, "{method} {path}: {text}");
        answer["value"].clone()
    }

    /// Opens `url`.
    pub fn goto(&self, url: &str) {
        self.call(
            "POST",
            &format!("/session/{}/url", self.session),
            &json!({ "url": url }),
        );
    }

    /// Runs `script` (a function body: `return …`) in the page; its result.
    pub fn eval(&self, script: &str) -> Value {
        self.call(
            "POST",
            &format!("/session/{}/execute/sync", self.session),
            &json!({"script": script, "args": []}),
        )
    }

    /// The page as a PNG.
    pub fn screenshot(&self) -> Vec<u8> {
        use base64::Engine as _;
        let shot = self.call(
            "GET",
            &format!("/session/{}/screenshot", self.session),
            &Value::Null,
        );
        base64::engine::general_purpose::STANDARD
            .decode(shot.as_str().unwrap_or(""))
            .expect("a base64 PNG")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let url = format!("http://{}/session/{}", self.addr, self.session);
            let _ = self.runtime.block_on(self.client.delete(url).send());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
