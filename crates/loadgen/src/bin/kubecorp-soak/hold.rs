//! `--hold N`: many idle mutual-TLS connections held open at once, and what they cost the office.
//!
//! For each case in turn: the office's resident memory (`VmRSS` in `/proc/PID/status`, as
//! `benches/soak.sh` reads it) is taken, N connections are opened with the case's badge (each
//! a full handshake, then nothing sent: idle), the memory is taken again while all are held,
//! then every connection is closed and the memory is taken once more after a pause, and again
//! [`RETURNED`] later (an allocator gives freed pages back to the system over some seconds, not
//! at once). Only connections whose handshake succeeded count as held.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_rustls::client::TlsStream;

use crate::Case;

/// How long the office is given after the last handshake, and after closing, before memory is
/// read: its tasks finish the handshakes they were in, or notice the closed sockets.
const SETTLE: Duration = Duration::from_secs(3);

/// When the memory is read a last time after closing.
const RETURNED: Duration = Duration::from_secs(30);

/// `PID`'s resident memory in kB.
fn rss_kb(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("the office (pid {pid}) is not running"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS line")
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

/// One connection of `case`: TCP, the whole handshake, then held as it is.
async fn open(case: &Case) -> Result<TlsStream<TcpStream>, String> {
    let tcp = TcpStream::connect(&case.addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let name = ServerName::try_from("kubernetes").expect("a valid DNS name");
    case.connector
        .connect(name, tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))
}

/// Holds `count` idle connections per case, `concurrency` handshakes at a time; prints a
/// Markdown row per case. Fails if the office stops or fewer than all could be held.
pub async fn hold(
    cases: Arc<Vec<Case>>,
    count: usize,
    concurrency: usize,
    office: u32,
) -> Result<()> {
    println!(
        "| door (case) | held | opened in | office's RSS before | while held | {} s after closing | {} s after closing |",
        SETTLE.as_secs(),
        RETURNED.as_secs()
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut short = Vec::new();
    for index in 0..cases.len() {
        tokio::time::sleep(SETTLE).await;
        let before = rss_kb(office)?;
        let started = Instant::now();
        let mut held = Vec::with_capacity(count);
        let mut first_error = None;
        let mut tasks = JoinSet::new();
        let mut next = 0;
        while held.len() + first_error.iter().count() < count || !tasks.is_empty() {
            while next < count && tasks.len() < concurrency {
                let cases = cases.clone();
                tasks.spawn(async move { open(&cases[index]).await });
                next += 1;
            }
            match tasks.join_next().await {
                Some(Ok(Ok(tls))) => held.push(tls),
                Some(Ok(Err(e))) => {
                    first_error.get_or_insert(e);
                }
                Some(Err(e)) => bail!("a connection task failed: {e}"),
                None => break,
            }
        }
        let opened = started.elapsed();
        tokio::time::sleep(SETTLE).await;
        let during = rss_kb(office)?;
        let n = held.len();
        drop(held);
        tokio::time::sleep(SETTLE).await;
        let after = rss_kb(office)?;
        tokio::time::sleep(RETURNED - SETTLE).await;
        let returned = rss_kb(office)?;
        let case = &cases[index];
        println!(
            "| {} | {n} | {:.1} s | {} | {} (+{}) | {} | {} |",
            case.name,
            opened.as_secs_f64(),
            mb(before),
            mb(during),
            mb(during.saturating_sub(before)),
            mb(after),
            mb(returned)
        );
        if n < count {
            short.push(format!(
                "{}: {n} of {count} held, first failure: {}",
                case.name,
                first_error.unwrap_or_default()
            ));
        }
    }
    if !short.is_empty() {
        bail!("not every connection could be held: {}", short.join("; "));
    }
    Ok(())
}
