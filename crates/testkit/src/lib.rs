//! Test-only helpers shared by every crate's tests: finding the outside tools that judge the lab,
//! waiting for something to become true, and (feature `office`) a quiet test office.
//!
//! # Layout
//!
//! - [`tool`]: an outside judge (openssl, kubectl, curl, etcd) on `PATH`, skipped with a plain
//!   word outside CI and a failure under `CI=true`.
//! - [`eventually`]: polls a check until it gives a value, or fails the test after [`WAIT`].
//! - `server_log_with` (features `pki`, `office`): the server log lines told so far, once one
//!   holds a needle.
//! - [`Run`] and [`run_tool`]: an outside tool's exit code and output, with assertions that print
//!   everything when they fail.
//! - `lab::FreshLab` (feature `pki`): a fresh kubeadm PKI made by the library.
//! - [`free_port`]: a loopback port for a program that must be told its port before it binds it.
//! - [`etcd::RealEtcd`]: the real etcd 3.4 started on a lab's etcd PKI, as kubeadm starts it.
//! - `office` (feature `office`): an office with only etcd and the apiserver on a stopped lab clock, a client per
//!   kubeconfig, a matcher for what a component said, a check that it was refused nothing, the
//!   service and pod `web` many tests start from, and kubectl as the admin.
//! - [`runtime`]: the two-thread runtime a test uses to keep an office open outside `async`.
#![forbid(unsafe_code)]

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

pub mod etcd;
#[cfg(feature = "pki")]
pub mod lab;
#[cfg(feature = "office")]
pub mod office;
mod run;

pub use run::{run_command, run_tool, Run};

/// A runtime with two worker threads, for a test that keeps an office open outside `async`
/// (its doors close when the runtime is dropped).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a test runtime")
}

/// An upper bound for waits (each wait takes well under a second on a quiet machine; the bound
/// is for a machine busy building other things).
pub const WAIT: Duration = Duration::from_secs(20);

/// `name` on `PATH`, or `None` when it is absent outside CI, after saying plainly that `test`
/// is skipped. Under `CI=true` a missing tool fails the test instead.
pub fn tool(name: &str, test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    match found {
        Some(p) => Some(p),
        None if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{test}: `{name}` is not installed, and CI=true requires it")
        }
        None => {
            println!("SKIPPED {test}: {name} is not installed");
            None
        }
    }
}

/// A loopback port free at this moment, for a program that must be told its port before it binds
/// it (the real etcd, `kubecorp up`'s apiserver). It is drawn at random below the kernel's
/// ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`), where no bind to port 0 and no
/// outgoing connection lands, so only another such draw can take it before the program binds it.
/// Without room below that range, the kernel's own pick.
pub fn free_port() -> u16 {
    use std::hash::BuildHasher;
    use std::net::TcpListener;
    const FLOOR: u16 = 10_000;
    if let Some(room) = ephemeral_start()
        .checked_sub(FLOOR)
        .filter(|room| *room >= 1_000)
    {
        // A fresh `RandomState` has fresh keys: a random draw without a dependency.
        let random = std::collections::hash_map::RandomState::new();
        for draw in 0..100u32 {
            let port = FLOOR + (random.hash_one(draw) % u64::from(room)) as u16;
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return port;
            }
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// The first port of the kernel's ephemeral range (0 where it cannot be read).
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Polls `check` every 10 ms until it gives a value; fails the test naming `what` after [`WAIT`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let poll = async {
        loop {
            if let Some(v) = check().await {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(WAIT, poll)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting until {what}"))
}

/// The server log lines told on `events` so far, once one of them contains `needle` or five
/// seconds have passed: the test's own assertion on the lines then says what is missing.
#[cfg(any(feature = "office", feature = "pki"))]
pub async fn server_log_with(events: &kubecorp_trust::Events, needle: &str) -> Vec<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let lines: Vec<String> = events
            .snapshot()
            .into_iter()
            .filter_map(|e| e.server_log)
            .collect();
        if lines.iter().any(|l| l.contains(needle)) || std::time::Instant::now() > deadline {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_on_the_path_is_found_and_a_missing_one_outside_ci_is_none() {
        assert!(tool("sh", "finding sh").is_some());
        if std::env::var("CI").as_deref() != Ok("true") {
            assert_eq!(tool("no-such-tool-kubecorp", "finding nothing"), None);
        }
    }

    #[test]
    fn a_free_port_is_drawn_below_the_kernels_ephemeral_range_and_can_be_bound() {
        let port = free_port();
        let ephemeral = ephemeral_start();
        if ephemeral >= 11_000 {
            assert!(
                (10_000..ephemeral).contains(&port),
                "{port} below {ephemeral}"
            );
        }
        std::net::TcpListener::bind(("127.0.0.1", port)).expect("the drawn port is free");
    }

    #[tokio::test]
    async fn eventually_returns_the_first_value_the_check_gives() {
        let mut tries = 0;
        let got = eventually("the third try", || {
            tries += 1;
            let now = tries;
            async move { (now == 3).then_some(now) }
        })
        .await;
        assert_eq!(got, 3);
    }

    #[tokio::test(start_paused = true)]
    #[should_panic(expected = "timed out waiting until the sky falls")]
    async fn eventually_fails_the_test_naming_what_never_happened() {
        eventually("the sky falls", || async { None::<()> }).await;
    }
}
