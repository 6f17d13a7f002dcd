//! What the etcd tests share: a lab made by `kubecorp_pki::init`, clients with its badges, a real `/usr/bin/etcd` started with kubeadm's TLS flags, and the outside tools.
// Each test file uses its own part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration as StdDuration, Instant};

use kubecorp_etcd::{ClientError, EtcdClient, Release};
use kubecorp_pki::{Authority, Lab};
use kubecorp_testkit::lab::FreshLab;
use kubecorp_trust::tls::{CertSource, GoAlerts, TrustSource};
use kubecorp_trust::{Events, LabClock};

/// The control-plane node's name, and etcd's member name.
pub const NODE: &str = "cp-1";

/// etcd 3.5.16's log line (its end) for a badge from a CA it does not trust.
pub const UNKNOWN_CA_LOG_3_5: &str = r#""server-name":"","error":"tls: failed to verify certificate: x509: certificate signed by unknown authority"}"#;

/// etcd 3.4's log line (its end) for a badge from a CA it does not trust.
pub const UNKNOWN_CA_LOG: &str = r#"(error "tls: failed to verify client certificate: x509: certificate signed by unknown authority", ServerName "")"#;

pub struct TestLab {
    pub dir: tempfile::TempDir,
    pub lab: Lab,
    pub clock: LabClock,
}

impl TestLab {
    /// A fresh kubeadm PKI (ECDSA), on a lab clock stopped a minute after it was made.
    pub fn new() -> TestLab {
        let FreshLab { dir, lab, clock } = FreshLab::new(NODE);
        TestLab { dir, lab, clock }
    }

    pub fn pem(&self, stem: &str) -> CertSource {
        CertSource::pem_files(self.lab.cert_path(stem), self.lab.key_path(stem))
    }

    pub fn etcd_ca(&self) -> TrustSource {
        TrustSource::bundle(self.lab.ca_cert_path(Authority::Etcd))
    }

    /// The apiserver's badge for etcd.
    pub fn apiserver_etcd_client(&self) -> Option<CertSource> {
        Some(self.pem("apiserver-etcd-client"))
    }

    /// kubectl's admin badge, signed by the cluster CA, not the etcd CA.
    pub fn admin(&self) -> Option<CertSource> {
        Some(CertSource::kubeconfig(
            self.lab.kubeconfig_path("admin.conf"),
        ))
    }

    /// A client of `endpoint` showing `identity` and checking etcd's badge against the etcd CA.
    pub fn client(&self, endpoint: &str, identity: Option<CertSource>) -> EtcdClient {
        EtcdClient::new(
            endpoint,
            identity,
            self.etcd_ca(),
            self.clock.clone(),
            Events::new(),
        )
        .unwrap()
    }

    /// A client showing the badge `stem` from pki/.
    pub fn caller(&self, endpoint: &str, stem: &str) -> EtcdClient {
        self.client(endpoint, Some(self.pem(stem)))
    }
}

/// The text of a transport error (the test fails on any other error).
pub fn transport_text(err: &ClientError) -> String {
    match err {
        ClientError::Transport { text, .. } => text.clone(),
        other => panic!("expected a transport error, got {other}"),
    }
}

// Not every test file that includes this module looks for a tool.
#[allow(unused_imports)]
pub use kubecorp_testkit::tool;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const ETCD: &str = "/usr/bin/etcd";

/// Debian's etcd 3.4, the judge.
pub struct RealEtcd {
    child: Child,
    pub client_url: String,
    pub peer_url: String,
    pub log: PathBuf,
    /// The alerts its Go version sends when it refuses a badge.
    pub alerts: GoAlerts,
    /// The lab's etcd release that logs and alerts like it.
    pub release: Release,
}

impl RealEtcd {
    /// `/usr/bin/etcd` with kubeadm's client and peer TLS flags on free ports, once it answers
    /// `/health` to the apiserver's badge; `None` (after saying so) when it is not installed,
    /// except under CI, where that is a failure.
    pub async fn start(lab: &TestLab, test: &str) -> Option<RealEtcd> {
        if !Path::new(ETCD).exists() {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{test}: {ETCD} is missing, and CI=true requires the real etcd as judge (apt-get install -y etcd-server)");
            }
            println!("SKIPPED {test}: etcd is not installed");
            return None;
        }
        let version = Command::new(ETCD).arg("--version").output().unwrap();
        let version = String::from_utf8_lossy(&version.stdout).into_owned();
        let go = version
            .lines()
            .find_map(|l| l.strip_prefix("Go Version: "))
            .unwrap_or("")
            .to_owned();
        // A free port can be taken by another test between our look and etcd's bind: then
        // etcd stops at once ("bind: address already in use") and is started again elsewhere.
        for attempt in 1.. {
            match RealEtcd::spawn(lab, &go).await {
                Ok(real) => return Some(real),
                Err(log) if log.contains("address already in use") && attempt < 5 => {
                    let _ = std::fs::remove_dir_all(lab.dir.path().join("etcd-data"));
                }
                Err(log) => panic!("etcd did not become healthy; its log:\n{log}"),
            }
        }
        unreachable!("the loop returns or panics")
    }

    /// One start on fresh ports: the running etcd, or its log if it stopped or never answered.
    async fn spawn(lab: &TestLab, go: &str) -> Result<RealEtcd, String> {
        let client_url = format!("https://127.0.0.1:{}", free_port());
        let peer_url = format!("https://127.0.0.1:{}", free_port());
        let pki = lab.lab.pki_dir();
        let log = lab.dir.path().join("etcd.log");
        let child = Command::new(ETCD)
            .args(["--name", NODE])
            .arg("--data-dir")
            .arg(lab.dir.path().join("etcd-data"))
            .arg("--cert-file")
            .arg(pki.join("etcd/server.crt"))
            .arg("--key-file")
            .arg(pki.join("etcd/server.key"))
            .arg("--trusted-ca-file")
            .arg(pki.join("etcd/ca.crt"))
            .arg("--client-cert-auth")
            .arg("--peer-cert-file")
            .arg(pki.join("etcd/peer.crt"))
            .arg("--peer-key-file")
            .arg(pki.join("etcd/peer.key"))
            .arg("--peer-trusted-ca-file")
            .arg(pki.join("etcd/ca.crt"))
            .arg("--peer-client-cert-auth")
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("{NODE}={peer_url}")])
            .args([
                "--listen-metrics-urls",
                &format!("http://127.0.0.1:{}", free_port()),
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut real = RealEtcd {
            child,
            client_url,
            peer_url,
            log,
            alerts: GoAlerts::for_go_version(go),
            release: Release::for_go_version(go),
        };
        let client = lab.client(&real.client_url, lab.apiserver_etcd_client());
        let deadline = Instant::now() + StdDuration::from_secs(30);
        while !matches!(client.health().await, Ok(true)) {
            let stopped = matches!(real.child.try_wait(), Ok(Some(_)));
            if stopped || Instant::now() >= deadline {
                return Err(std::fs::read_to_string(&real.log).unwrap_or_default());
            }
            tokio::time::sleep(StdDuration::from_millis(100)).await;
        }
        Ok(real)
    }

    /// etcd's log, waiting briefly for a line containing `needle`.
    pub async fn log_with(&self, needle: &str) -> Vec<String> {
        let deadline = Instant::now() + StdDuration::from_secs(5);
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            if text.contains(needle) || Instant::now() > deadline {
                return text.lines().map(str::to_owned).collect();
            }
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
    }
}

impl Drop for RealEtcd {
    fn drop(&mut self) {
        // Only the child this test started, by its handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
