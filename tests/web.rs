//! The office's page, judged by the real Chromium over WebDriver (chromedriver), and the page's
//! stream read by hand: what a room sees when a rogue badge knocks, when a trainer breaks a badge
//! from the projector, and when a class replays a report from a file.
//!
//! Screenshots of each are saved under `target/web-screens/` (`web/browser.rs`: Chromium driven
//! over WebDriver).

#[path = "web/browser.rs"]
mod browser;
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use browser::Browser;
use fantoccini::Locator;
use support::{kubecorp, run_tool, tool, up_command};

/// A `kubecorp up --web` on free ports, quiet, until dropped.
struct Office {
    child: Child,
    dir: tempfile::TempDir,
    page: String,
    apiserver: String,
    /// What the office printed so far, shown when a test fails.
    said: Arc<Mutex<String>>,
}

impl Drop for Office {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let said = self.said.lock().map(|s| s.clone()).unwrap_or_default();
            eprintln!("--- what the office said\n{said}");
        }
    }
}

impl Office {
    fn open(control: bool) -> Office {
        let dir = tempfile::tempdir().unwrap();
        let mut command = up_command(&dir.path().join("lab"), "127.0.0.1:0");
        command.args(["--quiet", "--web", "127.0.0.1:0"]);
        if control {
            command.arg("--web-control");
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let out = Arc::new(Mutex::new(String::new()));
        // Killed and reaped when dropped, also when the office never opens.
        let mut office = Office {
            child,
            dir,
            page: String::new(),
            apiserver: String::new(),
            said: out.clone(),
        };
        let sink = out.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut out = sink.lock().unwrap();
                out.push_str(&line);
                out.push('\n');
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = out.lock().unwrap().clone();
            if text.contains("Press Ctrl-C") {
                let word_after = |marker: &str| {
                    text.lines()
                        .find(|l| l.contains(marker))
                        .and_then(|l| l.split_whitespace().find(|w| w.starts_with("http")))
                        .unwrap_or_else(|| panic!("no URL after {marker:?} in:\n{text}"))
                        .to_owned()
                };
                office.page = word_after("the page (live floor plan)");
                office.apiserver = word_after("apiserver (Alice, the front door)");
                return office;
            }
            assert!(
                Instant::now() < deadline,
                "the office never opened:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn lab(&self) -> PathBuf {
        self.dir.path().join("lab")
    }

    /// The page's address, without the token.
    fn addr(&self) -> SocketAddr {
        let rest = self.page.trim_start_matches("http://");
        rest[..rest.find('/').unwrap()].parse().unwrap()
    }
}

/// One HTTP/1.1 GET, read until the server closes or `wait` passes.
fn get(addr: SocketAddr, path: &str, wait: Duration) -> String {
    let mut tcp = TcpStream::connect(addr).unwrap();
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    // A busy stream never pauses long enough for a read to time out: `wait` is for the whole.
    let deadline = Instant::now() + wait;
    let mut bytes = Vec::new();
    let mut buf = [0u8; 65536];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if left.is_zero() {
            break;
        }
        tcp.set_read_timeout(Some(left)).unwrap();
        match tcp.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The numbers of the events in brief on a stream read by hand.
fn event_seqs(stream: &str) -> Vec<u64> {
    stream
        .split(r#""seq":"#)
        .skip(1)
        .filter(|rest| {
            let record = &rest[..rest.find('}').unwrap_or(rest.len())];
            record.contains(r#""type":"event","brief":true"#)
        })
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

/// Every private key of the lab as its PEM body lines: key files and kubeconfigs' embedded keys.
fn key_lines(lab: &Path) -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(lab, &mut files);
    let mut pems = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        if file.extension().is_some_and(|e| e == "key") {
            pems.push(text);
        } else if file.extension().is_some_and(|e| e == "conf") {
            // `client-key-data: >-` folds the base64 over the indented lines that follow.
            let lines: Vec<&str> = text.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                let Some(value) = line.trim().strip_prefix("client-key-data:") else {
                    continue;
                };
                let data: String = match value.trim() {
                    ">-" | ">" | "|" | "|-" => lines[i + 1..]
                        .iter()
                        .take_while(|l| {
                            l.starts_with(&" ".repeat(line.len() - line.trim_start().len() + 1))
                        })
                        .map(|l| l.trim())
                        .collect(),
                    inline => inline.to_owned(),
                };
                use base64::Engine;
                let pem = base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .unwrap();
                pems.push(String::from_utf8(pem).unwrap());
            }
        }
    }
    assert!(pems.len() > 10, "the lab has its keys: {}", pems.len());
    pems.iter()
        .flat_map(|pem| pem.lines())
        .filter(|l| !l.starts_with("-----") && l.len() >= 40)
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_page_and_its_stream_never_carry_private_key_bytes() {
    let office = Office::open(false);
    let kubeconfig = office.lab().join("admin.conf");
    if let Some(kubectl) = tool("kubectl", "making traffic for the page") {
        run_tool(
            &kubectl,
            [
                "--kubeconfig",
                kubeconfig.to_str().unwrap(),
                "--server",
                &office.apiserver,
                "get",
                "namespaces",
            ],
        );
    }
    let addr = office.addr();
    let mut seen = String::new();
    for path in ["/", "/app.js", "/app.css", "/api/info"] {
        seen += &get(addr, path, Duration::from_secs(5));
    }
    let stream = get(addr, "/events", Duration::from_millis(1500));
    assert!(
        stream.contains(r#""type":"event""#),
        "the stream told something: {stream}"
    );
    assert!(
        stream.contains(r#""identity":{"cn":"#),
        "badges are shown: {stream}"
    );
    seen += &stream;
    // The stream has events in brief; each one's whole record is fetched when opened.
    let events = event_seqs(&stream);
    assert!(!events.is_empty(), "{stream}");
    for seq in events.iter().take(40) {
        let whole = get(addr, &format!("/api/records/{seq}"), Duration::from_secs(5));
        assert!(whole.contains(r#""client_text":"#), "{whole}");
        seen += &whole;
    }
    assert!(!seen.contains("PRIVATE KEY"));
    let keys = key_lines(&office.lab());
    for line in &keys {
        assert!(
            !seen.contains(&line[..40]),
            "a private key line reached the page: {line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rogue_badge_lights_a_refused_edge_and_a_break_from_the_page_needs_the_token() {
    let test = "the live page in Chromium";
    let Some(kubectl) = tool("kubectl", test) else {
        return;
    };
    let Some(browser) = Browser::open(test, &[]).await else {
        return;
    };
    let office = Office::open(true);
    let (without_token, token) = office.page.split_once('?').unwrap();
    assert!(token.starts_with("token="), "{}", office.page);
    let c = &browser.client;
    c.goto(without_token).await.unwrap();
    browser.text_with("#link", "● live").await;

    // A rogue badge at Alice's door, from the real kubectl.
    let lab = office.lab();
    kubecorp([
        "break",
        "rogue-ca",
        "admin.conf",
        "--dir",
        lab.to_str().unwrap(),
    ])
    .success();
    let refused = run_tool(
        &kubectl,
        [
            "--kubeconfig",
            lab.join("admin.conf").to_str().unwrap(),
            "--server",
            &office.apiserver,
            "get",
            "namespaces",
        ],
    );
    assert!(
        refused
            .stderr
            .contains("error: You must be logged in to the server"),
        "{}",
        refused.dump()
    );

    // The refused edge from the rogue at the entrance to Alice, and its timeline row.
    let row = "#timeline button.row.bad";
    // kubectl's discovery of /api reads a 401 as `(the server has asked for the client to provide
    // credentials)`, any later call as `(Unauthorized)`: either row is the rogue's.
    let text = browser
        .text_with(row, "You must be logged in to the server (")
        .await;
    assert!(text.contains("authn"), "{text}");
    assert!(text.contains("kubernetes-admin → apiserver"), "{text}");
    // (Alice's corridor and the staff's doors have edges of their own.)
    let edge = c
        .find(Locator::XPath(
            "//*[local-name()='g'][@data-edge='rogue>apiserver'][contains(@class,'bad')]/*[local-name()='text']",
        ))
        .await
        .expect("a refused edge from the rogue at the entrance to Alice");
    assert_eq!(edge.text().await.unwrap(), "✗ authn");
    browser.screenshot("1-live-rogue-refused").await;

    // Click it: the badge, Go's texts and the explanation.
    browser.click(row).await;
    let details = browser.text_with("#details", "What it means").await;
    for needle in [
        "✗ refused at authentication: kubernetes-admin → apiserver",
        "CN=rogue-ca — not one of the Founder's CAs",
        "error: You must be logged in to the server (",
        "x509: certificate signed by unknown authority",
        "The badge says it was signed by \"rogue-ca\", and the guard trusts no CA of that name",
        "kubecorp certs verify --cert CLIENT.crt --ca",
    ] {
        assert!(
            details.contains(needle),
            "details lack {needle:?}:\n{details}"
        );
    }
    browser.screenshot("2-live-details").await;
    // Those details came from the office when the row was opened: the stream carries the
    // rogue's refusal in brief, without the explanation, and the page fetched the whole record.
    let stream = get(office.addr(), "/events", Duration::from_millis(1500));
    assert!(
        stream.contains(
            r#""issuer":"rogue-ca"},"text":"error: You must be logged in to the server ("#
        ),
        "{stream}"
    );
    assert!(
        !stream.contains("The badge says it was signed by"),
        "the stream carries no explanation: {stream}"
    );
    let fetched = c
        .execute(
            "return performance.getEntriesByType('resource').map(function (e) { return e.name; }).filter(function (n) { return n.indexOf('/api/records/') !== -1; })",
            vec![],
        )
        .await
        .unwrap();
    let fetched = fetched.as_array().unwrap();
    assert!(!fetched.is_empty(), "the page fetched no record");
    browser.click("#d-close").await;

    // A break from the page without the token is refused, and nothing changes.
    let conf = lab.join("scheduler.conf");
    let before = std::fs::read(&conf).unwrap();
    browser.click("#tab-trainer").await;
    browser
        .text_with("#trainer-note", "Read-only: this URL carries no token")
        .await;
    browser
        .break_from_the_page("expire", "scheduler.conf")
        .await;
    browser
        .text_with(
            "#trainer-result",
            "✗ refused: changing the lab needs the token printed in the terminal",
        )
        .await;
    assert_eq!(std::fs::read(&conf).unwrap(), before);
    browser.screenshot("3-break-without-token").await;

    // With the URL the terminal printed, it works.
    c.goto(&office.page).await.unwrap();
    browser.text_with("#link", "● live").await;
    browser.click("#tab-trainer").await;
    browser
        .text_with("#trainer-note", "Changes apply to the running office")
        .await;
    browser
        .break_from_the_page("expire", "scheduler.conf")
        .await;
    browser
        .text_with("#trainer-result", "✓ kubecorp break expire scheduler.conf")
        .await;
    assert_ne!(
        std::fs::read(&conf).unwrap(),
        before,
        "the badge was broken"
    );
    browser.click("#tab-timeline").await;
    browser
        .text_with("#timeline", "kubecorp break expire scheduler.conf")
        .await;
    browser.screenshot("4-break-with-token").await;
    browser.close().await;
    drop(office);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_html_report_replays_offline_to_the_last_step_with_the_terminals_checks() {
    let test = "the HTML report in Chromium";
    // Any request the page tried would go to a proxy that is not there: the network is off.
    let Some(browser) = Browser::open(test, &["--proxy-server=http://127.0.0.1:9"]).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("run.html");
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scenarios/break/expired-client-badge.yaml"
    );
    // --wide: one line per check, as the page's table has it.
    let run = kubecorp([
        "run",
        "--wide",
        scenario,
        "--report",
        report.to_str().unwrap(),
    ])
    .success();
    let terminal: Vec<String> = run
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("✓ ") || l.starts_with("✗ ") || l.starts_with("– "))
        .map(str::to_owned)
        .collect();
    assert!(terminal.len() >= 3, "{}", run.dump());

    let c = &browser.client;
    c.goto(&format!("file://{}", report.display()))
        .await
        .unwrap();
    let steps = run.stdout.matches("  ▸ ").count() + run.stdout.matches("── ").count();
    let whereabouts = browser.text_with("#where", "step ").await;
    let (shown, total) = whereabouts
        .trim_start_matches("step ")
        .split_once(" of ")
        .unwrap();
    assert_eq!(shown, total, "opens at the last step: {whereabouts}");
    assert!(steps >= 1);
    browser.screenshot("5-report-last-step").await;

    browser.click("#tab-checks").await;
    let rows = c.find_all(Locator::Css("#checks tbody tr")).await.unwrap();
    let mut page = Vec::new();
    for row in rows {
        let cells = row.find_all(Locator::Css("td")).await.unwrap();
        let mark = cells[1].text().await.unwrap();
        let what = cells[2].text().await.unwrap();
        page.push(format!("{mark} {what}"));
    }
    assert_eq!(page, terminal, "the same checks as the terminal");
    browser.screenshot("6-report-checks").await;

    // Back to the start and one step on, from the keyboard.
    c.find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys("\u{E011}")
        .await
        .unwrap(); // Home
    browser.text_with("#where", "step 0 of ").await;
    c.find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys("\u{E014}")
        .await
        .unwrap(); // ArrowRight
    browser.text_with("#where", "step 1 of ").await;

    // Predict first: a step's action, then (one key later) what came of it.
    browser.click("#predict").await;
    let body = c.find(Locator::Css("body")).await.unwrap();
    body.send_keys("\u{E014}").await.unwrap();
    browser
        .text_with("#where", &format!("step 2 of {total} (not yet revealed)"))
        .await;
    browser
        .text_with("#outcome", "What will happen? Predict, then press next")
        .await;
    browser.screenshot("7-report-predict").await;
    assert!(
        !c.find(Locator::Css("#chapters"))
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap(),
        "a story without chapters offers none to jump to"
    );
    body.send_keys("\u{E014}").await.unwrap();
    browser
        .text_with(
            "#outcome",
            "✗ caller sees: error: You must be logged in to the server (Unauthorized)",
        )
        .await;
    assert_eq!(
        c.find(Locator::Css("#where"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        format!("step 2 of {total}")
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_days_report_jumps_to_a_chapter_by_its_title() {
    let test = "the day's HTML report in Chromium";
    let Some(browser) = Browser::open(test, &["--proxy-server=http://127.0.0.1:9"]).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("day.html");
    let day = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scenarios/kubecorp-day.yaml"
    );
    kubecorp(["run", day, "--report", report.to_str().unwrap()]).success();
    let c = &browser.client;
    c.goto(&format!("file://{}", report.display()))
        .await
        .unwrap();
    browser.text_with("#where", "step ").await;
    c.find(Locator::Css("#chapters"))
        .await
        .unwrap()
        .select_by_label("10:00 Bob the scheduler places the first pod")
        .await
        .unwrap();
    browser
        .text_with("#chapter", "10:00 Bob the scheduler places the first pod")
        .await;
    let whereabouts = browser.text_with("#where", "step ").await;
    assert!(!whereabouts.contains("step 0 "), "{whereabouts}");
    browser.screenshot("8-report-chapter").await;
    browser.close().await;
}

/// A `kubecorp run FILE --step --web` on a free port, its narration thrown away, until dropped.
struct PacedRun {
    child: Child,
    /// The URL the terminal printed, with its token.
    page: String,
}

impl Drop for PacedRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl PacedRun {
    fn start(scenario: &str) -> PacedRun {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kubecorp"))
            .args(["run", "--step", "--web", "127.0.0.1:0", scenario])
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut run = PacedRun {
            child,
            page: String::new(),
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("The page follows the run at ") {
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        run.page = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the run prints its page's URL");
        run
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_at_the_presenters_pace_reveals_on_next_and_back_shows_the_earlier_step() {
    let test = "a paced run in Chromium";
    let Some(browser) = Browser::open(test, &[]).await else {
        return;
    };
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scenarios/break/rogue-ca.yaml"
    );
    let run = PacedRun::start(scenario);
    let (without_token, token) = run.page.split_once('?').unwrap();
    assert!(token.starts_with("token="), "{}", run.page);
    let c = &browser.client;

    // Without the token the page replays, but cannot move the run on or change its pace.
    c.goto(without_token).await.unwrap();
    let waits_for_1 = "step 0 of 0 · the run waits: next ▶ (or →) for step 1";
    browser.text_with("#where", waits_for_1).await;
    browser
        .text_with("#pace-note", "Read-only: this URL carries no token")
        .await;
    browser.click("#next").await;
    browser
        .text_with(
            "#pace-note",
            "✗ refused: the run's pace needs the token printed in the terminal",
        )
        .await;
    c.find(Locator::Css("#pace"))
        .await
        .unwrap()
        .select_by_value("2")
        .await
        .unwrap();
    browser
        .text_with(
            "#pace-note",
            "✗ refused: the run's pace needs the token printed in the terminal",
        )
        .await;
    browser.text_with("#where", waits_for_1).await;

    // With the terminal's URL: step 1 (a fault, shown with what it did), then step 2's call.
    c.goto(&run.page).await.unwrap();
    browser.text_with("#where", waits_for_1).await;
    browser.click("#next").await;
    browser
        .text_with(
            "#where",
            "step 1 of 1 · the run waits: next ▶ (or →) for step 2",
        )
        .await;
    let first = browser.text_with("#headline", "rogue-ca").await;
    browser.click("#next").await;
    browser
        .text_with(
            "#where",
            "step 2 of 2 · the run waits: next ▶ (or →) shows what came of it",
        )
        .await;
    browser.text_with("#headline", "controller-manager").await;
    let predict = browser
        .text_with("#outcome", "What will happen? Predict")
        .await;
    assert!(!predict.contains("caller sees"), "{predict}");
    browser.screenshot("9-paced-run-predict").await;

    // A key on the page reveals it: what the caller saw, from the run itself.
    c.find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys("\u{E014}")
        .await
        .unwrap(); // ArrowRight
    browser
        .text_with(
            "#outcome",
            "✗ caller sees: error: You must be logged in to the server (Unauthorized)",
        )
        .await;
    browser.screenshot("10-paced-run-revealed").await;

    // Back shows the earlier step as it was recorded; forward comes back to the newest.
    browser.click("#prev").await;
    browser
        .text_with("#where", "step 1 of 2 · the run is at step 2")
        .await;
    assert_eq!(browser.text_with("#headline", "rogue-ca").await, first);
    let outcome = c
        .find(Locator::Css("#outcome"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!outcome.contains("caller sees"), "{outcome}");
    browser.screenshot("11-paced-run-back").await;
    browser.click("#next").await;
    browser
        .text_with(
            "#outcome",
            "✗ caller sees: error: You must be logged in to the server",
        )
        .await;
    browser.close().await;
    drop(run);
}
