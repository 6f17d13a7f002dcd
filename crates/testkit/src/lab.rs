//! A fresh kubeadm PKI for a test, made by the library (`kubecorp_pki::init`) rather than the
//! binary, with a lab clock stopped a minute after it was made.

use kubecorp_pki::init::{init, InitOptions};
use kubecorp_pki::{ClusterFacts, KeyAlgorithm, Lab};
use kubecorp_trust::LabClock;
use time::{Duration, OffsetDateTime};

/// A lab directory with every certificate and kubeconfig `pki init` writes, removed when dropped.
pub struct FreshLab {
    pub dir: tempfile::TempDir,
    pub lab: Lab,
    /// Stopped a minute after the badges were made, so every badge is valid and times in log
    /// lines are known.
    pub clock: LabClock,
}

impl FreshLab {
    /// The PKI of a control-plane node named `node` on 127.0.0.1, with ECDSA P-256 keys (quick to
    /// make; the tests that are about RSA say so).
    pub fn new(node: &str) -> FreshLab {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let lab = Lab::new(dir.path().join("lab"));
        let now = OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .expect("zero nanoseconds is a valid time");
        init(
            &lab,
            &InitOptions {
                facts: ClusterFacts::new(node, [127, 0, 0, 1].into()),
                key_algorithm: KeyAlgorithm::EcdsaP256,
                force: false,
                now,
            },
        )
        .unwrap_or_else(|e| panic!("pki init for {node}: {e}"));
        FreshLab {
            dir,
            lab,
            clock: LabClock::fixed(now + Duration::minutes(1)),
        }
    }
}
