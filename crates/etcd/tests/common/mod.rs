//! What the etcd tests share: a lab made by `kubecorp_pki::init`, clients with its badges, a real `/usr/bin/etcd` started with kubeadm's TLS flags, and the outside tools.
// Each test file uses its own part of this module.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

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

const ETCD: &str = "/usr/bin/etcd";

/// Debian's etcd 3.4, the judge: the testkit's launcher, and what its Go version means here.
pub struct RealEtcd {
    etcd: kubecorp_testkit::etcd::RealEtcd,
    /// The alerts its Go version sends when it refuses a badge.
    pub alerts: GoAlerts,
    /// The lab's etcd release that logs and alerts like it.
    pub release: Release,
}

impl std::ops::Deref for RealEtcd {
    type Target = kubecorp_testkit::etcd::RealEtcd;

    fn deref(&self) -> &Self::Target {
        &self.etcd
    }
}

impl RealEtcd {
    /// `/usr/bin/etcd` with kubeadm's client and peer TLS flags on free ports, once it says it
    /// is healthy; `None` (after saying so) when it is not installed, except under CI, where
    /// that is a failure.
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
            .unwrap_or("");
        let etcd = kubecorp_testkit::etcd::RealEtcd::start(
            Path::new(ETCD),
            NODE,
            &lab.lab.pki_dir(),
            lab.dir.path(),
        )
        .await;
        Some(RealEtcd {
            etcd,
            alerts: GoAlerts::for_go_version(go),
            release: Release::for_go_version(go),
        })
    }
}
