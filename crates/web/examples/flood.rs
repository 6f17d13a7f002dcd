//! Bench-only: does the page keep up with a busy office? Serves the page, opens it in the real
//! Chromium (chromedriver on PATH), pushes refusals into the stream at a steady rate, and notes
//! each time the page redraws its timeline which record is its newest row: the time from a
//! record's push to its row on screen is how far the page lags behind the office. Also prints
//! the CPU Chromium (all its processes) used while the records were pushed.
//!
//! `cargo run --release -p kubecorp-web --example flood -- [RATE] [SECONDS]` (default 1000 20).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};
use kubecorp_trust::record::{Body, EventRecord};
use kubecorp_trust::{Event, Identity, Stage};
use kubecorp_web::{Hub, Site};

fn sample_event(n: u64) -> Event {
    let at = time::OffsetDateTime::now_utc();
    Event::new(at, format!("127.0.0.1:{}", 40000 + n % 20000), "apiserver", Stage::Authn)
        .identity(Some(Identity {
            cn: "kubernetes-admin".into(),
            orgs: vec!["kubeadm:cluster-admins".into()],
            issuer: "rogue-ca".into(),
            serial: "6912498324104210941".into(),
            not_before: at,
            not_after: at + time::Duration::days(365),
            sans: Vec::new(),
            usages: vec!["client auth".into()],
        }))
        .client_text("error: You must be logged in to the server (Unauthorized)")
        .server_log("\"Unable to authenticate the request\" err=\"[x509: certificate signed by unknown authority, verifying certificate SN=6912498324104210941, SKID=43:B2:7C:9B:84:02:26:5F:F3:91:5C:A8:17:CE:38:10:FE:62:60:86, AKID=78:F6:84:99:9C:5B:37:75:7C:EB:9D:1E:1A:A3:7C:9D:1E:A1:FA:C9 failed: x509: certificate signed by unknown authority]\"")
        .explanation("The badge says it was signed by \"rogue-ca\", and the guard trusts no CA of that name, so it cannot check the signature at all.")
        .hint("re-issue the badge from the cluster CA")
        .detail("GET /api 401")
}

/// CPU seconds used so far by `pid` and every process below it (Linux `/proc`).
fn cpu_seconds(pid: u32) -> f64 {
    fn ticks(pid: u32) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, rest)| rest)
            .split_whitespace()
            .collect();
        // utime and stime: the 14th and 15th fields, the 12th and 13th after the name.
        let own: u64 = [11, 12]
            .iter()
            .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
            .sum();
        let mut children = 0;
        for task in std::fs::read_dir(format!("/proc/{pid}/task"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let list = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in list.split_whitespace().filter_map(|c| c.parse().ok()) {
                children += ticks(child);
            }
        }
        own + children
    }
    // The kernel's clock ticks, 100 a second on Linux.
    ticks(pid) as f64 / 100.0
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let rate: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);

    let hub = Hub::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let site = Site {
        hub: hub.clone(),
        control: None,
        pace: None,
    };
    tokio::spawn(kubecorp_web::run(
        site,
        listener,
        std::future::pending::<()>(),
    ));

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver on PATH");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({"args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--window-size=1280,720", format!("--user-data-dir={}", profile.path().display()),
        ]}),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session");
    client.goto(&format!("http://{addr}/")).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Each time the timeline is redrawn, the page notes its newest row and the time.
    client
        .execute(
            "window.flood = []; new MutationObserver(function () { var b = document.querySelector('#timeline button.row'); if (b) window.flood.push([+b.dataset.seq, Date.now()]); }).observe(document.getElementById('timeline'), { childList: true }); return true;",
            vec![],
        )
        .await
        .unwrap();
    let epoch_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    // Push `rate` events a second, 10 ms at a time, noting when each went out.
    let cpu_before = cpu_seconds(driver.id());
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut sent: Vec<(u64, i64)> = Vec::new();
    let mut pushed = 0u64;
    while started.elapsed() < Duration::from_secs(seconds) {
        tick.tick().await;
        let due = rate * started.elapsed().as_millis() as u64 / 1000;
        while pushed < due {
            pushed += 1;
            let seq = hub.push(Body::Event(EventRecord::new(
                sample_event(pushed),
                false,
                None,
            )));
            sent.push((seq, epoch_ms()));
        }
    }
    let pushing = started.elapsed();
    let chromium_cpu = (cpu_seconds(driver.id()) - cpu_before) / pushing.as_secs_f64();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let log = client.execute("return window.flood", vec![]).await.unwrap();
    let link = client
        .find(Locator::Css("#link"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sent_at: std::collections::HashMap<u64, i64> = sent.iter().copied().collect();
    let mut lags: Vec<i64> = log
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            let seq = e[0].as_u64()?;
            Some(e[1].as_i64()? - sent_at.get(&seq)?)
        })
        .collect();
    lags.sort();
    let at = |q: f64| {
        lags.get(((lags.len() as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or(-1)
    };
    let newest = log
        .as_array()
        .unwrap()
        .last()
        .and_then(|e| e[0].as_u64())
        .unwrap_or(0);
    println!(
        "pushed {pushed} event records in {:.1} s ({:.0}/s); the page says: {link}",
        pushing.as_secs_f64(),
        pushed as f64 / pushing.as_secs_f64()
    );
    println!(
        "timeline redraws: {} ({:.1}/s); newest row at the end: seq {newest} of {}",
        lags.len(),
        lags.len() as f64 / pushing.as_secs_f64(),
        hub.last()
    );
    println!(
        "from push to its row on screen: median {} ms, p95 {} ms, max {} ms",
        at(0.5),
        at(0.95),
        lags.last().copied().unwrap_or(-1)
    );
    println!(
        "Chromium's CPU while records were pushed: {:.0} % of a core",
        100.0 * chromium_cpu
    );
    let _ = client.close().await;
    let _ = driver.kill();
    let _ = driver.wait();
}
