//! The CEO's badges: the self-signed serving certificate, the CSRs it sends to the Founder, and
//! when to ask for a new client badge.
//!
//! A kubelet holds two certificates, in `/var/lib/kubelet/pki` (here: the config's `cert_dir`):
//!
//! - **Serving** (port 10250). By default (`serverTLSBootstrap: false`) the kubelet makes its own:
//!   a throwaway CA `CN=<hostname>-ca@<unix time>` signs a leaf `CN=<hostname>@<unix time>` with
//!   a DNS SAN for the hostname only, RSA 2048, valid from an hour ago for a year;
//!   `kubelet.crt` holds the leaf and that CA, `kubelet.key` the leaf's key. Nobody trusts that
//!   CA, which works only because kube-apiserver does not check kubelet certificates unless
//!   `--kubelet-certificate-authority` is set. With `serverTLSBootstrap: true` the kubelet instead
//!   sends a `kubernetes.io/kubelet-serving` CSR and serves nothing until an admin approves it.
//! - **Client** (`kubelet-client-current.pem`, certificate and key in one file, a symlink to
//!   `kubelet-client-<timestamp>.pem`): its badge at Alice's door. When 70–90 % of its lifetime
//!   has passed (a random point, so a fleet does not renew at once) the kubelet makes a new key
//!   and sends a `kubernetes.io/kube-apiserver-client-kubelet` CSR, which kube-controller-manager
//!   approves by itself after a SubjectAccessReview (`selfnodeclient`).
//!
//! New keys are ECDSA P-256, as client-go's certificate manager makes them; so the CSRs ask for
//! `digital signature` and the auth usage only (`key encipherment` is for RSA keys).

use kubecorp_pki::key_source::KeySource;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use kubecorp_pki::cert::CertInfo;
use kubecorp_pki::fs::{ensure_dir, write_atomic, Mode};
use kubecorp_pki::keys::private_key_pem;
use kubecorp_pki::KeyAlgorithm;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

use crate::KubeletError;

/// The self-signed serving certificate (leaf, then its throwaway CA).
pub const SELF_SIGNED_CERT: &str = "kubelet.crt";
/// Its key.
pub const SELF_SIGNED_KEY: &str = "kubelet.key";
/// The current client badge: certificate and key in one file.
pub const CLIENT_CURRENT: &str = "kubelet-client-current.pem";
/// The current CA-signed serving badge: certificate and key in one file.
pub const SERVER_CURRENT: &str = "kubelet-server-current.pem";

/// `kubernetes.io/kube-apiserver-client-kubelet`.
pub const CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client-kubelet";
/// `kubernetes.io/kubelet-serving`.
pub const SERVING_SIGNER: &str = "kubernetes.io/kubelet-serving";

/// Which of its two badges the kubelet is renewing; names the certificate manager in logs
/// (client-go logs with `logger="<signer name>"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Client,
    Serving,
}

impl Kind {
    pub fn signer(self) -> &'static str {
        match self {
            Kind::Client => CLIENT_SIGNER,
            Kind::Serving => SERVING_SIGNER,
        }
    }

    /// `kubelet-client` / `kubelet-server`: the file prefix in the cert dir.
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::Client => "kubelet-client",
            Kind::Serving => "kubelet-server",
        }
    }

    pub fn current_file(self) -> &'static str {
        match self {
            Kind::Client => CLIENT_CURRENT,
            Kind::Serving => SERVER_CURRENT,
        }
    }

    fn usages(self) -> [&'static str; 2] {
        match self {
            Kind::Client => ["digital signature", "client auth"],
            Kind::Serving => ["digital signature", "server auth"],
        }
    }
}

fn sign_error(what: &str, e: impl std::fmt::Display) -> KubeletError {
    KubeletError::Certificate {
        what: what.to_owned(),
        problem: e.to_string(),
    }
}

fn pki_error(e: kubecorp_pki::PkiError) -> KubeletError {
    KubeletError::Certificate {
        what: "the kubelet's certificate files".into(),
        problem: e.to_string(),
    }
}

/// The cert dir, created 0700 if missing.
pub fn prepare_cert_dir(dir: &Path) -> Result<(), KubeletError> {
    ensure_dir(dir).map_err(pki_error)
}

/// The self-signed serving certificate and key, made the way client-go's
/// `GenerateSelfSignedCertKey(hostname, nil, nil)` makes them (see [`kubecorp_pki::selfsigned`]),
/// on the lab clock. Returns PEM (leaf + CA, key).
pub fn self_signed_serving(
    host: &str,
    now: OffsetDateTime,
    keys: &KeySource,
) -> Result<(String, String), KubeletError> {
    let pair = kubecorp_pki::selfsigned::generate(host, &[], &[], now, keys)
        .map_err(|e| sign_error("the self-signed serving certificate", e))?;
    Ok((pair.cert_pem, pair.key_pem))
}

/// `kubelet.crt`/`kubelet.key` in `dir`: reused if present, else made (RSA key generation takes
/// a moment, so call this off the async threads).
pub fn ensure_self_signed(
    dir: &Path,
    host: &str,
    now: OffsetDateTime,
    keys: &KeySource,
) -> Result<(PathBuf, PathBuf), KubeletError> {
    let cert = dir.join(SELF_SIGNED_CERT);
    let key = dir.join(SELF_SIGNED_KEY);
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    let (cert_pem, key_pem) = self_signed_serving(host, now, keys)?;
    write_atomic(&key, key_pem.as_bytes(), Mode::Secret).map_err(pki_error)?;
    write_atomic(&cert, cert_pem.as_bytes(), Mode::Public).map_err(pki_error)?;
    Ok((cert, key))
}

/// A fresh key and a PEM CSR for `node`: subject `O=system:nodes, CN=system:node:<node>`, and
/// for a serving badge the node's DNS name and IP as SANs.
pub fn new_request(
    kind: Kind,
    node: &str,
    address: IpAddr,
) -> Result<(KeyPair, String), KubeletError> {
    let key = KeyAlgorithm::EcdsaP256
        .generate()
        .map_err(|e| sign_error("a new kubelet key", e))?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "system:nodes");
    dn.push(DnType::CommonName, format!("system:node:{node}"));
    params.distinguished_name = dn;
    if kind == Kind::Serving {
        let mut sans = Vec::new();
        if let Ok(name) = node.to_owned().try_into() {
            sans.push(SanType::DnsName(name));
        }
        sans.push(SanType::IpAddress(address));
        params.subject_alt_names = sans;
    }
    let csr = params
        .serialize_request(&key)
        .map_err(|e| sign_error("a certificate signing request", e))?;
    let pem = csr
        .pem()
        .map_err(|e| sign_error("a certificate signing request", e))?;
    Ok((key, pem))
}

/// The CertificateSigningRequest object the kubelet POSTs (client-go names it `csr-` plus five
/// random characters, through `generateName`).
pub fn csr_object(kind: Kind, name: &str, request_pem: &str) -> Value {
    json!({
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name},
        "spec": {
            "request": STANDARD.encode(request_pem),
            "signerName": kind.signer(),
            "usages": kind.usages(),
        }
    })
}

/// `csr-` and five characters from Kubernetes' name alphabet (no vowels, no look-alikes).
pub fn generated_csr_name() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut bytes = [0u8; 5];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        bytes = [0, 1, 2, 3, 4];
    }
    let suffix: String = bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    format!("csr-{suffix}")
}

/// What became of a CSR the kubelet is waiting on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CsrState {
    /// Neither approved and issued, nor refused: keep waiting.
    Pending,
    /// The issued certificate, PEM.
    Issued(String),
    /// Denied, or Failed by the signer: the condition, its reason and its message.
    Refused {
        condition: String,
        reason: String,
        message: String,
    },
}

/// Reads a CSR object's status.
pub fn csr_state(csr: &Value) -> CsrState {
    let conditions = csr["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for c in &conditions {
        let kind = c["type"].as_str().unwrap_or("");
        if (kind == "Denied" || kind == "Failed") && c["status"] == "True" {
            return CsrState::Refused {
                condition: kind.to_owned(),
                reason: c["reason"].as_str().unwrap_or("").to_owned(),
                message: c["message"].as_str().unwrap_or("").to_owned(),
            };
        }
    }
    match csr["status"]["certificate"].as_str() {
        Some(b64) if !b64.is_empty() => match STANDARD.decode(b64) {
            Ok(bytes) => CsrState::Issued(String::from_utf8_lossy(&bytes).into_owned()),
            Err(_) => CsrState::Pending,
        },
        _ => CsrState::Pending,
    }
}

/// Writes `<prefix>-<timestamp>.pem` (certificate then key, 0600) and points
/// `<prefix>-current.pem` at it, as client-go's file store does. Returns the current path.
pub fn store(
    dir: &Path,
    kind: Kind,
    cert_pem: &str,
    key: &KeyPair,
    now: OffsetDateTime,
) -> Result<PathBuf, KubeletError> {
    // client-go's tls.X509KeyPair check: the issued certificate must parse and carry the public
    // half of the key this kubelet made for the request.
    let issued =
        kubecorp_pki::cert::parse_cert_chain(dir, cert_pem.as_bytes()).map_err(pki_error)?;
    let leaf = issued.first().ok_or_else(|| KubeletError::Certificate {
        what: format!("the issued {} certificate", kind.prefix()),
        problem: "status.certificate holds no certificate".into(),
    })?;
    let info = kubecorp_pki::cert::CertInfo::from_der(dir, leaf).map_err(pki_error)?;
    if rcgen::PublicKeyData::der_bytes(key) != info.public_key_der.as_slice() {
        return Err(KubeletError::Certificate {
            what: format!("the issued {} certificate", kind.prefix()),
            problem: "tls: private key does not match public key".into(),
        });
    }
    let key_pem = private_key_pem(key).map_err(pki_error)?;
    let stamp = format!(
        "{:04}-{:02}-{:02}-{:02}-{:02}-{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let file = format!("{}-{stamp}.pem", kind.prefix());
    let target = dir.join(&file);
    let mut contents = cert_pem.trim_end().to_owned();
    contents.push('\n');
    contents.push_str(&key_pem);
    write_atomic(&target, contents.as_bytes(), Mode::Secret).map_err(pki_error)?;
    let current = dir.join(kind.current_file());
    link_current(dir, &file, &current)?;
    Ok(current)
}

#[cfg(unix)]
fn link_current(dir: &Path, file: &str, current: &Path) -> Result<(), KubeletError> {
    // A new symlink beside the old one, renamed over it: readers never see the name missing.
    let tmp = dir.join(format!(".{}.tmp", file));
    let _ = std::fs::remove_file(&tmp);
    let io = |e: std::io::Error| KubeletError::Certificate {
        what: current.display().to_string(),
        problem: e.to_string(),
    };
    std::os::unix::fs::symlink(file, &tmp).map_err(io)?;
    std::fs::rename(&tmp, current).map_err(io)
}

#[cfg(not(unix))]
fn link_current(dir: &Path, file: &str, current: &Path) -> Result<(), KubeletError> {
    std::fs::copy(dir.join(file), current)
        .map(|_| ())
        .map_err(|e| KubeletError::Certificate {
            what: current.display().to_string(),
            problem: e.to_string(),
        })
}

/// The first certificate in PEM text that may also hold a key (`kubelet-client-current.pem`),
/// read into facts.
pub fn leaf_info(path: &Path, pem_bytes: &[u8]) -> Option<CertInfo> {
    use rustls_pki_types::pem::PemObject;
    let leaf = rustls_pki_types::CertificateDer::pem_slice_iter(pem_bytes)
        .next()?
        .ok()?;
    CertInfo::from_der(path, &leaf).ok()
}

/// The client badge a kubeconfig carries, read into facts.
pub fn kubeconfig_leaf(path: &Path) -> Option<CertInfo> {
    let config = kubecorp_pki::kubeconfig::Kubeconfig::read(path).ok()?;
    let credentials = config.credentials(path).ok()?;
    leaf_info(path, &credentials.cert_pem)
}

/// When to renew a certificate: `jitter` (0.7–0.9) of the way from NotBefore to NotAfter.
pub fn rotation_deadline(info: &CertInfo, jitter: f64) -> OffsetDateTime {
    let total = info.not_after - info.not_before;
    let seconds = total.whole_seconds() as f64 * jitter.clamp(0.0, 1.0);
    info.not_before + Duration::seconds(seconds as i64)
}

/// A random point in [0.7, 0.9): client-go's `jitteryDuration(0.8, 0.2)` window.
pub fn random_jitter() -> f64 {
    let mut bytes = [0u8; 4];
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    0.7 + 0.2 * (u32::from_le_bytes(bytes) as f64 / (u32::MAX as f64 + 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_self_signed_serving_certificate_has_the_kubelet_shape() {
        let now = datetime!(2026-11-29 09:00:00 UTC);
        let (cert_pem, key_pem) =
            self_signed_serving("kubecorp-control-plane", now, &KeySource::Fresh).unwrap();
        assert!(key_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        let chain =
            kubecorp_pki::cert::parse_cert_chain(Path::new("kubelet.crt"), cert_pem.as_bytes())
                .unwrap();
        assert_eq!(chain.len(), 2, "leaf then its throwaway CA");
        let leaf = CertInfo::from_der(Path::new("kubelet.crt"), &chain[0]).unwrap();
        let ca = CertInfo::from_der(Path::new("kubelet.crt"), &chain[1]).unwrap();
        let stamp = now.unix_timestamp();
        assert_eq!(leaf.subject_cn, format!("kubecorp-control-plane@{stamp}"));
        assert_eq!(ca.subject_cn, format!("kubecorp-control-plane-ca@{stamp}"));
        assert_eq!(leaf.issuer_cn, ca.subject_cn);
        assert_eq!(
            leaf.alt_names,
            vec!["DNS:kubecorp-control-plane".to_string()]
        );
        assert!(leaf.has_server_auth() && !leaf.has_client_auth());
        assert!(ca.is_ca);
        assert_eq!(leaf.not_before, now - Duration::hours(1));
        assert_eq!(
            leaf.not_after,
            now - Duration::hours(1) + Duration::days(365)
        );
    }

    #[test]
    fn a_rotation_deadline_falls_between_seventy_and_ninety_percent_of_the_lifetime() {
        for _ in 0..100 {
            let j = random_jitter();
            assert!((0.7..0.9).contains(&j), "{j}");
        }
    }

    #[test]
    fn a_csr_with_a_certificate_is_issued_and_a_denied_one_is_refused() {
        let issued = json!({"status": {"certificate": STANDARD.encode("PEM")}});
        assert_eq!(csr_state(&issued), CsrState::Issued("PEM".into()));
        let denied = json!({"status": {"conditions": [{"type": "Denied", "status": "True", "message": "no"}]}});
        assert!(matches!(csr_state(&denied), CsrState::Refused { .. }));
        assert_eq!(csr_state(&json!({})), CsrState::Pending);
    }
}
