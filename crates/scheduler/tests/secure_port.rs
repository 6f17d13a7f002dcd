//! Bob's secure port :10259, judged by the real curl and openssl: health for anyone over his
//! self-signed `localhost@…` badge, `/metrics` refused to an anonymous caller, and a client that
//! verifies the badge turning away from it; with delegated authentication, an admin badge reads
//! `/metrics` and a badge from another CA gets 401.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use kubecorp_trust::{Events, LabClock, Stage};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use kubecorp_testkit::{tool, Run};

async fn run(tool: &Path, args: &[&str], stdin: Option<String>) -> Run {
    let tool = tool.to_owned();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(&tool);
        command
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = command.spawn().expect("the tool starts");
        if let Some(input) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().expect("the tool runs");
        Run::from_output(format!("{} {}", tool.display(), args.join(" ")), out)
    })
    .await
    .unwrap()
}

/// Bob's door on a free port, with his own event stream.
struct Bob {
    addr: SocketAddr,
    events: Events,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), kubecorp_scheduler::ServingError>>,
}

impl Bob {
    async fn start() -> Bob {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let events = Events::new();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(kubecorp_scheduler::serve_secure(
            listener,
            LabClock::real(),
            events.clone(),
            // Started without --authentication-kubeconfig: every caller is system:anonymous.
            None,
            kubecorp_pki::key_source::KeySource::Fresh,
            async {
                let _ = stopped.await;
            },
        ));
        Bob {
            addr,
            events,
            stop: Some(stop),
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    /// The scheduler's log lines, waiting briefly for one containing `needle`.
    async fn log_with(&self, needle: &str) -> Vec<String> {
        kubecorp_testkit::server_log_with(&self.events, needle).await
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_k_reads_ok_from_bobs_healthz_readyz_and_livez() {
    let test = "curl_k_reads_ok_from_bobs_healthz_readyz_and_livez";
    let Some(curl) = tool("curl", test) else {
        return;
    };
    let bob = Bob::start().await;
    for path in ["/healthz", "/readyz", "/livez"] {
        let url = bob.url(path);
        let got = run(&curl, &["-k", "-sS", &url], None).await;
        assert_eq!(
            (got.status, got.stdout.as_str()),
            (0, "ok"),
            "{path}: {got:?}"
        );
    }
    let requests: Vec<_> = bob
        .events
        .snapshot()
        .into_iter()
        .filter(|e| e.stage == Stage::Request)
        .collect();
    assert_eq!(requests.len(), 3);
    assert!(requests.iter().all(|e| e.to == "scheduler" && e.allowed));
    assert_eq!(
        requests[0].detail.as_deref(),
        Some("GET /healthz 200 on the secure port")
    );
    bob.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_sees_a_localhost_badge_signed_by_its_own_localhost_ca() {
    let test = "openssl_sees_a_localhost_badge_signed_by_its_own_localhost_ca";
    let Some(openssl) = tool("openssl", test) else {
        return;
    };
    let bob = Bob::start().await;
    let shown = run(
        &openssl,
        &["s_client", "-connect", &bob.addr.to_string(), "-showcerts"],
        None,
    )
    .await;
    let stamp = |prefix: &str| shown.line_after(prefix);
    // `0 s:CN = localhost@1795000000`, issued by `CN = localhost-ca@1795000000`, which is sent
    // along as the second certificate.
    let leaf = stamp("0 s:CN = localhost@");
    assert_eq!(stamp("i:CN = localhost-ca@"), leaf);
    assert_eq!(stamp("1 s:CN = localhost-ca@"), leaf);
    assert!(leaf.parse::<i64>().is_ok(), "{leaf}");
    let told = bob
        .events
        .snapshot()
        .into_iter()
        .find_map(|e| e.detail.filter(|d| d.starts_with("secure port :")))
        .expect("the self-signed badge is told at start");
    assert!(
        told.ends_with(&format!(
            "CN=localhost@{leaf}, issuer CN=localhost-ca@{leaf}"
        )),
        "{told}"
    );

    let first_pem: String = {
        let start = shown.stdout.find("-----BEGIN CERTIFICATE-----").unwrap();
        let end = shown.stdout[start..]
            .find("-----END CERTIFICATE-----")
            .unwrap()
            + start
            + "-----END CERTIFICATE-----".len();
        shown.stdout[start..end].to_owned() + "\n"
    };
    let sans = run(
        &openssl,
        &["x509", "-noout", "-ext", "subjectAltName"],
        Some(first_pem),
    )
    .await;
    assert_eq!(
        sans.stdout.lines().nth(1).map(str::trim),
        Some("DNS:localhost, IP Address:127.0.0.1, IP Address:127.0.0.1"),
        "{sans:?}"
    );
    bob.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_without_a_badge_is_refused_metrics_as_system_anonymous() {
    let test = "curl_without_a_badge_is_refused_metrics_as_system_anonymous";
    let Some(curl) = tool("curl", test) else {
        return;
    };
    let bob = Bob::start().await;
    let url = bob.url("/metrics");
    let got = run(&curl, &["-k", "-sS", "-w", "\n%{http_code}", &url], None).await;
    assert_eq!(
        got.stdout,
        r#"{
  "kind": "Status",
  "apiVersion": "v1",
  "metadata": {},
  "status": "Failure",
  "message": "forbidden: User \"system:anonymous\" cannot get path \"/metrics\"",
  "reason": "Forbidden",
  "details": {},
  "code": 403
}
403"#
    );
    let refused = bob
        .events
        .snapshot()
        .into_iter()
        .find(|e| e.stage == Stage::Request && !e.allowed)
        .expect("the refusal is told");
    assert_eq!(refused.to, "scheduler");
    assert_eq!(
        refused.client_text.as_deref(),
        Some(r#"forbidden: User "system:anonymous" cannot get path "/metrics""#)
    );
    bob.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_that_verifies_turns_away_from_the_self_signed_badge_and_bob_logs_it() {
    let test = "curl_that_verifies_turns_away_from_the_self_signed_badge_and_bob_logs_it";
    let Some(curl) = tool("curl", test) else {
        return;
    };
    let bob = Bob::start().await;
    let url = bob.url("/healthz");
    let got = run(&curl, &["-sS", &url], None).await;
    assert_eq!(got.status, 60, "{got:?}");
    assert!(
        got.stderr
            .starts_with("curl: (60) SSL certificate problem: "),
        "{got:?}"
    );
    let needle = "http: TLS handshake error from 127.0.0.1:";
    let lines = bob.log_with("unknown certificate authority").await;
    assert!(
        lines.iter().any(|l| l.starts_with(needle)
            && l.ends_with(": remote error: tls: unknown certificate authority")),
        "{lines:?}"
    );
    bob.stop().await;
}

/// Bob's door as kubeadm starts it (`--authentication-kubeconfig` and
/// `--authorization-kubeconfig` are scheduler.conf), beside an office with etcd and Alice.
async fn delegating_bob(office: &kubecorp_office::Office) -> (SocketAddr, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let lab = kubecorp_pki::Lab::new(&office.dir);
    let delegation = kubecorp_scheduler::Delegation {
        client_ca: kubecorp_trust::tls::TrustSource::bundle(
            lab.ca_cert_path(kubecorp_pki::Authority::Cluster),
        ),
        front_proxy_ca: Some(kubecorp_trust::tls::TrustSource::bundle(
            lab.ca_cert_path(kubecorp_pki::Authority::FrontProxy),
        )),
        reviewer: office.client("scheduler", "scheduler.conf").unwrap(),
    };
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(kubecorp_scheduler::serve_secure(
        listener,
        office.clock.clone(),
        office.events.clone(),
        Some(delegation),
        kubecorp_pki::key_source::KeySource::of(&lab),
        async {
            let _ = stopped.await;
        },
    ));
    (addr, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_with_an_admin_badge_reads_metrics_after_alice_says_yes_and_a_foreign_badge_gets_401()
{
    let test =
        "curl_with_an_admin_badge_reads_metrics_after_alice_says_yes_and_a_foreign_badge_gets_401";
    let Some(curl) = tool("curl", test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let office = kubecorp_office::Office::start(kubecorp_office::OfficeOptions {
        staff: kubecorp_office::Staff::NONE,
        ..kubecorp_office::OfficeOptions::ephemeral(dir.path().join("lab"))
    })
    .await
    .unwrap();
    let (addr, stop) = delegating_bob(&office).await;
    // `curl -k` with a badge from the lab's pki/ directory, as a learner would type it.
    let curl_as = |badge: &'static str, path: &'static str| {
        let pki = office.dir.join("pki");
        let (cert, key) = (
            pki.join(format!("{badge}.crt")),
            pki.join(format!("{badge}.key")),
        );
        let (cert, key) = (cert.display().to_string(), key.display().to_string());
        let url = format!("https://{addr}{path}");
        let curl = curl.clone();
        async move {
            let args = [
                "-k",
                "-sS",
                "-w",
                "\n%{http_code}",
                "--cert",
                &cert,
                "--key",
                &key,
                &url,
            ];
            run(&curl, &args, None).await
        }
    };

    // O=kubeadm:cluster-admins: cluster-admin, so the SubjectAccessReview says yes.
    let admin = curl_as("apiserver-kubelet-client", "/metrics").await;
    assert!(
        admin.stdout.contains(
            "\nkubernetes_build_info{build_date=\"2026-01-01T00:00:00Z\",compiler=\"gc\","
        ),
        "{admin:?}"
    );
    assert!(admin.stdout.ends_with("\n200"), "{admin:?}");

    // Signed by the etcd CA, which Bob does not trust for clients: 401, even for /healthz.
    let foreign = curl_as("etcd/healthcheck-client", "/healthz").await;
    assert_eq!(
        foreign.stdout,
        "{\n  \"kind\": \"Status\",\n  \"apiVersion\": \"v1\",\n  \"metadata\": {},\n  \"status\": \"Failure\",\n  \"message\": \"Unauthorized\",\n  \"reason\": \"Unauthorized\",\n  \"code\": 401\n}\n401"
    );
    let refused = office
        .events
        .snapshot()
        .into_iter()
        .find(|e| e.to == "scheduler" && e.stage == Stage::Authn && !e.allowed)
        .expect("the 401 is told");
    let log = refused.server_log.unwrap();
    assert!(
        log.starts_with("\"Unable to authenticate the request\" err=\"[x509: certificate signed by unknown authority, verifying certificate SN="),
        "{log}"
    );
    assert!(
        log.ends_with("failed: x509: certificate signed by unknown authority]\""),
        "{log}"
    );
    let _ = stop.send(());
}
