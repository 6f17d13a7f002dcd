//! Charlie over gRPC, judged by the real `etcdctl` (Debian's etcd-client, 3.4): the same
//! commands run against the lab's etcd and against the real etcd 3.4 started with the lab's
//! PKI, and the outputs must match apart from IDs, revisions, versions and times. Then the
//! refusals (a cluster-CA badge, no badge, an expired badge): the same exit code and the same
//! `context deadline exceeded` / `transport: authentication handshake failed` texts. Last, tools
//! that speak the wrong protocol (a foreign ALPN, gRPC over HTTP/1.1) and curl over HTTP/2.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration as StdDuration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use kubecorp_etcd::{EtcdConfig, Release};
use kubecorp_trust::Events;

mod common;
use common::{tool, RealEtcd, TestLab, NODE};

/// The lab's etcd, advertising the same URLs as the real one so the member IDs agree.
struct Lab {
    endpoint: String,
    events: Events,
    stop: Option<oneshot::Sender<()>>,
}

impl Lab {
    async fn start(lab: &TestLab, release: Release, peer_url: &str) -> Lab {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("https://{}", listener.local_addr().unwrap());
        let events = Events::new();
        let mut config = EtcdConfig::new(
            NODE,
            lab.pem("etcd/server"),
            lab.etcd_ca(),
            lab.clock.clone(),
            events.clone(),
        );
        config.release = release;
        config.peer_urls = vec![peer_url.to_owned()];
        config.client_urls = vec![endpoint.clone()];
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(kubecorp_etcd::run(config, listener, async {
            let _ = stopped.await;
        }));
        Lab {
            endpoint,
            events,
            stop: Some(stop),
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// What one etcdctl run printed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

struct Etcdctl {
    program: PathBuf,
    pki: PathBuf,
}

/// Which badge etcdctl shows.
#[derive(Clone, Copy)]
enum Badge<'a> {
    Stem(&'a str),
    None,
}

impl Etcdctl {
    fn command(&self, endpoint: &str, badge: Badge<'_>, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={endpoint}"))
            .arg(format!(
                "--cacert={}",
                self.pki.join("etcd/ca.crt").display()
            ))
            .args(["--dial-timeout=2s", "--command-timeout=4s"]);
        if let Badge::Stem(stem) = badge {
            cmd.arg(format!(
                "--cert={}",
                self.pki.join(format!("{stem}.crt")).display()
            ))
            .arg(format!(
                "--key={}",
                self.pki.join(format!("{stem}.key")).display()
            ));
        }
        cmd.args(args).stdin(Stdio::null());
        cmd
    }

    async fn run(&self, endpoint: &str, badge: Badge<'_>, args: &[&str]) -> Run {
        let mut cmd = self.command(endpoint, badge, args);
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `etcdctl watch KEY` while `during` runs, then stopped; what it printed.
    async fn watch_while<F: std::future::Future<Output = ()>>(
        &self,
        endpoint: &str,
        args: &[&str],
        during: F,
    ) -> String {
        let mut cmd = self.command(endpoint, Badge::Stem("etcd/healthcheck-client"), args);
        let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
        // Time for etcdctl to start and create its watch, then for the events to arrive (a
        // busy machine is slow; the events are what is asserted, not the time).
        tokio::time::sleep(StdDuration::from_millis(1500)).await;
        during.await;
        tokio::time::sleep(StdDuration::from_millis(1500)).await;
        // Only the child this test started, by its handle.
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Hides what may differ between two etcds: the endpoints, hex IDs, times and durations.
fn normalize(text: &str, urls: &[&str]) -> String {
    let mut text = text.to_owned();
    for url in urls {
        text = text.replace(url, "URL");
    }
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let hex = word.len() >= 12 && word.chars().all(|c| c.is_ascii_hexdigit());
        out.push_str(if hex { "ID" } else { word.as_str() });
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out.lines()
        .map(|line| {
            let line = match line.find("took = ") {
                Some(at) => format!("{}took = T", &line[..at]),
                None => line.to_owned(),
            };
            match line.find("remaining(") {
                Some(at) => format!("{}remaining(S)", &line[..at]),
                None => line,
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

async fn both(test: &str) -> Option<(TestLab, RealEtcd, Lab, Etcdctl)> {
    let program = tool("etcdctl", test)?;
    let lab = TestLab::new();
    let real = RealEtcd::start(&lab, test).await?;
    let ours = Lab::start(&lab, Release::V3_4_23, &real.peer_url).await;
    let etcdctl = Etcdctl {
        program,
        pki: lab.lab.pki_dir(),
    };
    Some((lab, real, ours, etcdctl))
}

#[tokio::test]
async fn etcdctl_reads_writes_watches_and_leases_against_the_lab_etcd_as_against_real_etcd() {
    let test = "etcdctl_reads_writes_watches_and_leases_against_the_lab_etcd_as_against_real_etcd";
    let Some((_lab, real, ours, etcdctl)) = both(test).await else {
        return;
    };
    let badge = Badge::Stem("etcd/healthcheck-client");
    let urls = [
        real.client_url.as_str(),
        ours.endpoint.as_str(),
        real.peer_url.as_str(),
    ];
    let script: &[&[&str]] = &[
        &["put", "/registry/pods/default/web", "v1"],
        &["put", "/registry/pods/default/db", "v2"],
        &["put", "--prev-kv", "/registry/pods/default/db", "v3"],
        &["put", "/registry/namespaces/default", "ns"],
        &["get", "/registry/pods/default/web"],
        &["get", "/registry/", "--prefix", "--keys-only"],
        &["get", "/registry/", "--prefix", "--limit=1"],
        &[
            "get",
            "/registry/pods/",
            "--prefix",
            "--count-only",
            "-w",
            "simple",
        ],
        &[
            "get",
            "/registry/",
            "--prefix",
            "--sort-by=MODIFY",
            "--order=DESCEND",
        ],
        &["get", "nope"],
        &["get", "/registry/pods/default/db", "--rev=3"],
        &["get", "/registry/pods/default/db", "--rev=99"],
        &["txn"],
        &["del", "/registry/pods/default/web"],
        &["del", "/registry/pods/", "--prefix", "--prev-kv"],
        &["del", "gone"],
        &["compaction", "4"],
        &["get", "/registry/pods/default/db", "--rev=3"],
        &["member", "list"],
        &["endpoint", "health"],
        &["alarm", "list"],
        &["lease", "grant", "600"],
        &["lease", "list"],
        &["lease", "timetolive", "123456789abcdef0"],
        &["lease", "revoke", "123456789abcdef0"],
        &["lease", "keep-alive", "--once", "123456789abcdef0"],
    ];
    for args in script {
        let from_real = etcdctl.run(&real.client_url, badge, args).await;
        let from_ours = etcdctl.run(&ours.endpoint, badge, args).await;
        assert_eq!(
            (from_ours.code, normalize(&from_ours.stdout, &urls)),
            (from_real.code, normalize(&from_real.stdout, &urls)),
            "etcdctl {}\nreal stderr: {}\nlab stderr: {}",
            args.join(" "),
            from_real.stderr,
            from_ours.stderr
        );
    }

    // A lease granted, a key put under it, its time to live, then revoked with its key.
    let mut leased = Vec::new();
    for endpoint in [&real.client_url, &ours.endpoint] {
        let granted = etcdctl
            .run(endpoint, badge, &["lease", "grant", "600"])
            .await;
        let id = granted.stdout.split_whitespace().nth(1).unwrap().to_owned();
        let mut seen = vec![normalize(&granted.stdout, &urls)];
        for step in [
            vec!["put", "--lease", &id, "event", "x"],
            vec!["lease", "timetolive", "--keys", &id],
            vec!["lease", "keep-alive", "--once", &id],
            vec!["lease", "revoke", &id],
            vec!["get", "event"],
        ] {
            let run = etcdctl.run(endpoint, badge, &step).await;
            assert_eq!(run.code, Some(0), "{step:?}: {}", run.stderr);
            seen.push(normalize(&run.stdout, &urls));
        }
        leased.push(seen);
    }
    assert_eq!(leased[1], leased[0]);
    assert_eq!(leased[0][0], "lease ID granted with TTL(600s)");

    // A watcher sees a put and a delete, from now and from a past revision.
    let mut watched = Vec::new();
    for endpoint in [&real.client_url, &ours.endpoint] {
        let out = etcdctl
            .watch_while(endpoint, &["watch", "w", "--prev-kv"], async {
                etcdctl.run(endpoint, badge, &["put", "w", "1"]).await;
                etcdctl.run(endpoint, badge, &["del", "w"]).await;
            })
            .await;
        watched.push(normalize(&out, &urls));
    }
    assert_eq!(watched[1], watched[0]);
    // etcdctl prints a DELETE's key, then (with --prev-kv) the key and value before it.
    assert_eq!(watched[0], "PUT\nw\n1\nDELETE\nw\n1\nw\n");
    drop(ours);
}

#[tokio::test]
async fn endpoint_status_and_member_list_read_alike_apart_from_sizes_and_indexes() {
    let test = "endpoint_status_and_member_list_read_alike_apart_from_sizes_and_indexes";
    let Some((_lab, real, ours, etcdctl)) = both(test).await else {
        return;
    };
    let badge = Badge::Stem("etcd/healthcheck-client");
    let status = |run: Run, url: &str| -> Vec<String> {
        // ENDPOINT, ID, VERSION, DB SIZE, IS LEADER, IS LEARNER, RAFT TERM, RAFT INDEX,
        // RAFT APPLIED INDEX, ERRORS
        let fields: Vec<String> = run
            .stdout
            .trim_end_matches('\n')
            .split(", ")
            .map(str::to_owned)
            .collect();
        assert_eq!(fields.len(), 10, "{}", run.stdout);
        assert_eq!(fields[0], url);
        vec![fields[4].clone(), fields[5].clone(), fields[9].clone()]
    };
    let from_real = etcdctl
        .run(&real.client_url, badge, &["endpoint", "status"])
        .await;
    let from_ours = etcdctl
        .run(&ours.endpoint, badge, &["endpoint", "status"])
        .await;
    assert!(
        from_ours.stdout.contains(", 3.4.23, "),
        "{}",
        from_ours.stdout
    );
    assert_eq!(
        status(from_ours, &ours.endpoint),
        status(from_real, &real.client_url)
    );
    let members = |run: Run| {
        run.stdout
            .replace(&real.client_url, "C")
            .replace(&ours.endpoint, "C")
    };
    assert_eq!(
        members(
            etcdctl
                .run(&ours.endpoint, badge, &["member", "list"])
                .await
        ),
        members(
            etcdctl
                .run(&real.client_url, badge, &["member", "list"])
                .await
        )
    );
}

#[tokio::test]
async fn etcdctl_is_refused_alike_for_a_cluster_ca_badge_no_badge_and_an_expired_badge() {
    let test = "etcdctl_is_refused_alike_for_a_cluster_ca_badge_no_badge_and_an_expired_badge";
    let Some((lab, real, ours, etcdctl)) = both(test).await else {
        return;
    };
    kubecorp_pki::fault::inflict(
        &lab.lab,
        kubecorp_pki::fault::Fault::Expire,
        "apiserver-etcd-client",
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    for badge in [
        Badge::Stem("apiserver-kubelet-client"),
        Badge::None,
        Badge::Stem("apiserver-etcd-client"),
    ] {
        let from_real = etcdctl.run(&real.client_url, badge, &["get", "k"]).await;
        let from_ours = etcdctl.run(&ours.endpoint, badge, &["get", "k"]).await;
        assert_eq!(from_ours.code, from_real.code);
        assert_eq!(from_ours.code, Some(1));
        for run in [&from_real, &from_ours] {
            assert!(
                run.stderr.contains("Error: context deadline exceeded"),
                "{}",
                run.stderr
            );
            assert_eq!(
                run.stderr
                    .contains("transport: authentication handshake failed"),
                from_real
                    .stderr
                    .contains("transport: authentication handshake failed"),
                "{}",
                run.stderr
            );
        }
    }
    let lines: Vec<String> = ours
        .events
        .snapshot()
        .into_iter()
        .filter_map(|e| e.server_log)
        .collect();
    assert!(
        lines.iter().any(|l| l.ends_with(common::UNKNOWN_CA_LOG)),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn snapshot_save_writes_a_file_that_snapshot_status_reads_as_for_real_etcd() {
    let test = "snapshot_save_writes_a_file_that_snapshot_status_reads_as_for_real_etcd";
    let Some((lab, real, ours, etcdctl)) = both(test).await else {
        return;
    };
    let badge = Badge::Stem("etcd/healthcheck-client");
    let mut statuses = Vec::new();
    for (name, endpoint) in [("real", &real.client_url), ("lab", &ours.endpoint)] {
        for (key, value) in [("/registry/a", "1"), ("/registry/b", "2")] {
            etcdctl.run(endpoint, badge, &["put", key, value]).await;
        }
        let file = lab.dir.path().join(format!("{name}.db"));
        let file = file.to_str().unwrap();
        let saved = etcdctl
            .run(endpoint, badge, &["snapshot", "save", file])
            .await;
        assert_eq!(
            (saved.code, saved.stdout.as_str()),
            (Some(0), format!("Snapshot saved at {file}\n").as_str()),
            "{name}: {}",
            saved.stderr
        );
        let status = etcdctl
            .run("", badge, &["snapshot", "status", file, "-w", "json"])
            .await;
        assert_eq!(status.code, Some(0), "{name}: {}", status.stderr);
        let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
        statuses.push(status);
    }
    // Same revision; the lab's file holds the two keys and four of etcd's own (auth revision,
    // cluster version, the member, the consistent index).
    assert_eq!(statuses[1]["revision"], statuses[0]["revision"]);
    assert_eq!(statuses[1]["totalKey"], 6);
    assert_eq!(statuses[1]["totalSize"], 4 * 4096);
}

// ----- the wrong protocol ----------------------------------------------------------------------

fn run_tool(program: &Path, args: &[&str]) -> Run {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test]
async fn a_client_offering_only_a_foreign_protocol_is_refused_as_real_etcd_refuses_it_and_told_plainly(
) {
    let test = "a_client_offering_only_a_foreign_protocol_is_refused_as_real_etcd_refuses_it_and_told_plainly";
    let Some(openssl) = tool("openssl", test) else {
        return;
    };
    let lab = TestLab::new();
    let Some(real) = RealEtcd::start(&lab, test).await else {
        return;
    };
    let ours = Lab::start(&lab, Release::V3_4_23, &real.peer_url).await;
    let pki = lab.lab.pki_dir();
    let (cert, key) = (
        pki.join("etcd/healthcheck-client.crt"),
        pki.join("etcd/healthcheck-client.key"),
    );
    for url in [&real.client_url, &ours.endpoint] {
        let connect = url.trim_start_matches("https://").to_owned();
        let (openssl, cert, key) = (openssl.clone(), cert.clone(), key.clone());
        let run = tokio::task::spawn_blocking(move || {
            run_tool(
                &openssl,
                &[
                    "s_client",
                    "-connect",
                    &connect,
                    "-alpn",
                    "smtp",
                    "-cert",
                    cert.to_str().unwrap(),
                    "-key",
                    key.to_str().unwrap(),
                ],
            )
        })
        .await
        .unwrap();
        assert!(
            run.stdout.contains("no application protocol")
                || run.stderr.contains("no application protocol"),
            "{url}: {}{}",
            run.stdout,
            run.stderr
        );
    }
    let needle = r#"tls: client requested unsupported application protocols ([smtp])"#;
    assert!(
        real.log_with(needle)
            .await
            .iter()
            .any(|l| l.contains(needle)),
        "real etcd logged otherwise"
    );
    let refused = ours
        .events
        .snapshot()
        .into_iter()
        .find(|e| e.server_log.as_deref().is_some_and(|l| l.contains(needle)))
        .expect("the lab's etcd logs the same line");
    assert!(
        refused
            .explanation
            .as_deref()
            .is_some_and(|e| e.starts_with("The client offered only [smtp] in ALPN.")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_grpc_call_over_http_1_1_gets_gos_404_and_the_lab_says_grpc_needs_http_2() {
    let test = "a_grpc_call_over_http_1_1_gets_gos_404_and_the_lab_says_grpc_needs_http_2";
    let Some(curl) = tool("curl", test) else {
        return;
    };
    let lab = TestLab::new();
    let ours = Lab::start(&lab, Release::default(), "https://127.0.0.1:2380").await;
    let pki = lab.lab.pki_dir();
    let url = format!("{}/etcdserverpb.KV/Range", ours.endpoint);
    let cacert = pki.join("etcd/ca.crt");
    let cert = pki.join("etcd/healthcheck-client.crt");
    let key = pki.join("etcd/healthcheck-client.key");
    let run = tokio::task::spawn_blocking(move || {
        run_tool(
            &curl,
            &[
                "-sS",
                "--http1.1",
                "--cacert",
                cacert.to_str().unwrap(),
                "--cert",
                cert.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
                "-H",
                "content-type: application/grpc",
                "--data-binary",
                "x",
                &url,
            ],
        )
    })
    .await
    .unwrap();
    assert_eq!(run.stdout, "404 page not found\n", "{}", run.stderr);
    let told = kubecorp_testkit::eventually("the request event", || {
        let events = ours.events.snapshot();
        async move {
            events
                .into_iter()
                .find(|e| e.detail.as_deref() == Some("POST /etcdserverpb.KV/Range 404"))
        }
    })
    .await;
    assert!(
        told.explanation.as_deref().is_some_and(|e| e.starts_with(
            "A gRPC call (content-type application/grpc) arrived over HTTP/1.1. gRPC needs HTTP/2"
        )),
        "{told:?}"
    );
}

#[tokio::test]
async fn curl_reaches_the_json_gateway_over_http_2_as_over_http_1_1() {
    let test = "curl_reaches_the_json_gateway_over_http_2_as_over_http_1_1";
    let Some(curl) = tool("curl", test) else {
        return;
    };
    let lab = TestLab::new();
    let ours = Lab::start(&lab, Release::default(), "https://127.0.0.1:2380").await;
    let pki = lab.lab.pki_dir();
    let mut answers = Vec::new();
    for version in ["--http2", "--http1.1"] {
        let url = format!("{}/v3/kv/range", ours.endpoint);
        let args: Vec<String> = vec![
            "-sS".into(),
            "-w".into(),
            "\n%{http_version}".into(),
            version.into(),
            "--cacert".into(),
            pki.join("etcd/ca.crt").display().to_string(),
            "--cert".into(),
            pki.join("etcd/healthcheck-client.crt")
                .display()
                .to_string(),
            "--key".into(),
            pki.join("etcd/healthcheck-client.key")
                .display()
                .to_string(),
            "-d".into(),
            r#"{"key":"Lw=="}"#.into(),
            url,
        ];
        let curl = curl.clone();
        let run = tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_tool(&curl, &args)
        })
        .await
        .unwrap();
        answers.push(run.stdout);
    }
    let (h2, h1) = (&answers[0], &answers[1]);
    assert!(h2.ends_with("\n2"), "{h2}");
    assert!(h1.ends_with("\n1.1"), "{h1}");
    assert_eq!(h2.trim_end_matches("\n2"), h1.trim_end_matches("\n1.1"));
    assert!(h2.starts_with(r#"{"header":{"cluster_id":""#), "{h2}");
}
