//! `kubecorp certs renew`: a new badge with the same name on it, as `kubeadm certs renew` makes one.
//!
//! kubeadm copies the subject, SANs and usages from the certificate **on disk** (not from its
//! configuration), makes a new private key, signs with the existing CA and starts a new year.
//! It never renews a CA, the `sa` key pair, or `kubelet.conf` (the kubelet rotates that itself).

use time::OffsetDateTime;

use crate::error::{PkiError, Result};
use crate::issue::Shape;
use crate::keys::KeyAlgorithm;
use crate::layout::Lab;
use crate::profile::{profile, ClusterFacts, Profile, PROFILES};

/// One renewed badge.
#[derive(Debug, Clone)]
pub struct Renewed {
    pub name: &'static str,
    /// kubeadm's line: `<long name> renewed`.
    pub line: String,
    /// Said when the signing CA is itself outside its validity: the new badge will not verify.
    pub warning: Option<String>,
}

/// kubeadm's closing line after a renewal.
pub const DONE: &str = "Done renewing certificates. You must restart the kube-apiserver, kube-controller-manager, kube-scheduler and etcd, so that they can use the new certificates.";

/// The names `certs renew` accepts, kubeadm's plus the lab's `kube-proxy.conf`.
pub fn renewable() -> impl Iterator<Item = &'static Profile> {
    PROFILES
        .iter()
        .filter(|p| p.kubeadm_managed || p.name == "kube-proxy.conf")
}

/// Resolves a name typed by a user into the badges to renew, explaining refusals and
/// leading the seed article's spellings to the right name.
pub fn resolve(name: &str) -> Result<Vec<&'static Profile>> {
    if name == "all" {
        return Ok(renewable().filter(|p| p.kubeadm_managed).collect());
    }
    if let Some(reason) = not_renewable(name) {
        return Err(PkiError::NotRenewable {
            name: name.into(),
            reason: reason.into(),
        });
    }
    if let Some(p) = profile(name).filter(|p| renewable().any(|r| r.name == p.name)) {
        return Ok(vec![p]);
    }
    let known: Vec<&str> = renewable().map(|p| p.name).chain(["all"]).collect();
    Err(PkiError::UnknownName {
        name: name.into(),
        suggestion: suggestion(name)
            .map(|s| format!(" ({s})"))
            .unwrap_or_default(),
        known: known.join(", "),
    })
}

fn not_renewable(name: &str) -> Option<&'static str> {
    Some(match name {
        "ca" | "front-proxy-ca" | "etcd-ca" | "etcd/ca" => {
            "kubeadm never renews a certificate authority; a CA is rotated by hand (https://kubernetes.io/docs/tasks/tls/manual-rotation-of-ca-certificates/)"
        }
        "sa" => "`sa` is a key pair that signs service-account tokens, not a certificate: it has no expiry to renew",
        "kubelet.conf" => {
            "the kubelet rotates its own client certificate by CSR (rotateCertificates: true), so kubeadm leaves kubelet.conf alone; on a real node look at /var/lib/kubelet/pki/kubelet-client-current.pem"
        }
        _ => return None,
    })
}

/// A pointer from a near miss to the right name: the article's spellings first.
pub fn suggestion(name: &str) -> Option<String> {
    let direct = match name {
        "scheduler" | "kube-scheduler" => Some(
            "the scheduler's badge lives in its kubeconfig: `kubecorp certs renew scheduler.conf` (kubeadm: `kubeadm certs renew scheduler.conf`)".to_string(),
        ),
        "controller-manager" | "kube-controller-manager" => {
            Some("did you mean `controller-manager.conf`?".to_string())
        }
        "admin" => Some("did you mean `admin.conf`?".to_string()),
        "kube-proxy" => Some(
            "kube-proxy has nothing to do with admin.conf; in a kubeadm cluster it uses a service-account token that needs no renewal. The lab's kube-proxy badge is `kube-proxy.conf`".to_string(),
        ),
        "kubelet" => Some(
            "the kubelet's client badge is kubelet.conf, which the kubelet rotates itself".to_string(),
        ),
        _ => None,
    };
    if direct.is_some() {
        return direct;
    }
    let closest = renewable()
        .map(|p| (strsim_distance(name, p.name), p.name))
        .min()?;
    (closest.0 <= 3).then(|| format!("did you mean `{}`?", closest.1))
}

/// Levenshtein distance, for "did you mean" hints.
pub fn strsim_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Renews the named badges from their certificates on disk.
pub fn renew(lab: &Lab, name: &str, now: OffsetDateTime) -> Result<Vec<Renewed>> {
    let _lock = lab.lock()?;
    let profiles = resolve(name)?;
    // Everything is read first, so a badge that cannot be renewed stops the run before any
    // file is written; then the new keys are made side by side (with RSA, most of the time).
    let mut plans = Vec::with_capacity(profiles.len());
    for p in profiles {
        let ca = lab.load_ca(p.authority)?;
        let ca_info = crate::cert::CertInfo::from_der(&lab.ca_cert_path(p.authority), &ca.cert)?;
        let warning = (now > ca_info.not_after || now < ca_info.not_before).then(|| {
            format!(
                "warning: the CA `{}` is valid only from {} to {}; {} will not verify until the CA itself is replaced (kubeadm never renews a CA)",
                p.authority.name(),
                crate::expiration::kubeadm_date(ca_info.not_before),
                crate::expiration::kubeadm_date(ca_info.not_after),
                p.name
            )
        });
        let old = lab.read_badge_cert(p)?;
        let shape = Shape::from_cert(&old);
        // Keep the key type the cluster chose; the key itself is always new.
        let algorithm = lab
            .load_badge(p)
            .map(|b| KeyAlgorithm::of(&b.key))
            .unwrap_or_else(|_| KeyAlgorithm::of(&ca.key));
        plans.push((p, ca, shape, algorithm, warning));
    }
    let algorithms: Vec<KeyAlgorithm> = plans.iter().map(|plan| plan.3).collect();
    let keys = crate::key_source::KeySource::of(lab).keys(&algorithms)?;
    // Facts only matter when a kubeconfig has to be written from scratch.
    let facts = ClusterFacts::new(
        "kubecorp-control-plane",
        std::net::IpAddr::from([127, 0, 0, 1]),
    );
    let mut out = Vec::new();
    for ((p, ca, shape, _, warning), key) in plans.into_iter().zip(keys) {
        let cert = ca.issue_now(&shape, &key, now)?;
        lab.store_badge(p, &facts, &ca, &cert, &key)?;
        out.push(Renewed {
            name: p.name,
            line: format!("{} renewed", p.long_name),
            warning,
        });
    }
    Ok(out)
}
