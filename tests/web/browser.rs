//! Chromium for the page's tests: started headless through chromedriver with a fresh profile
//! and a projector's 1280×720 of page, and the few things the tests do with it (read an
//! element's text once it shows something, click, break a badge from the trainer tab, save a
//! screenshot under `target/web-screens/`).

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

use crate::support::tool;

/// Chromium driven by chromedriver, with the flags a root container needs and a fresh profile.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn open(test: &str, extra: &[&str]) -> Option<Browser> {
        let chromium = tool("chromium", test)?;
        let driver = tool("chromedriver", test)?;
        let port = kubecorp_testkit::free_port();
        let driver = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver never listened");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().unwrap();
        let mut args: Vec<String> = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,720",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({"binary": chromium, "args": args}),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session");
        // A projector's 1280×720 of page, whatever the window's own bars take.
        let bars = client
            .execute("return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]", vec![])
            .await
            .unwrap();
        let bar = |i: usize| bars[i].as_u64().unwrap_or(0) as u32;
        client
            .set_window_size(1280 + bar(0), 720 + bar(1))
            .await
            .unwrap();
        Some(Browser {
            client,
            driver,
            _profile: profile,
        })
    }

    /// Saves what the page shows now as `target/web-screens/NAME.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = screens();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// The element's text, once it has `needle` (up to 20 s).
    pub async fn text_with(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                if let Ok(text) = element.text().await {
                    if text.contains(needle) {
                        return text;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "{css} never showed {needle:?}; it shows:\n{text}"
                    );
                }
            }
            assert!(Instant::now() < deadline, "{css} never appeared");
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    pub async fn click(&self, css: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let clicked = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.click().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match clicked {
                Ok(()) => return,
                Err(e) => assert!(Instant::now() < deadline, "clicking {css}: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// The trainer tab's break: picks `fault` and `badge`, then presses the button.
    pub async fn break_from_the_page(&self, fault: &str, badge: &str) {
        for (css, value) in [("#t-fault", fault), ("#t-badge", badge)] {
            self.client
                .find(Locator::Css(css))
                .await
                .unwrap()
                .select_by_value(value)
                .await
                .unwrap();
        }
        self.click("#t-break").await;
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `target/web-screens`, beside the test binary's `target/debug`.
fn screens() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).unwrap().to_path_buf();
    target.join("web-screens")
}
