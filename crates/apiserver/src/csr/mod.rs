//! The badge office: people ask for a new badge (a CertificateSigningRequest), someone approves
//! it, and the Founder's stamp (the cluster CA, `ca.key`) signs it.
//!
//! In Kubernetes three different parties touch a CSR, and the lab keeps their rules apart:
//!
//! 1. **kube-apiserver at create** (synchronous, the client sees the answer): the strategy
//!    overwrites `spec.username/uid/groups/extra` with whoever sent the request, so nobody can
//!    ask in someone else's name ([`prepare_create`]); validation rejects malformed requests
//!    with a 422 ([`validate_create`]); the CertificateSubjectRestriction admission plugin
//!    refuses `O=system:masters` for the `kube-apiserver-client` signer with a 403
//!    ([`admission_create`]).
//! 2. **Approval** (`PUT …/approval`): the approver needs `update` on
//!    `certificatesigningrequests/approval` **and** `approve` on the resource `signers` named
//!    after the signer (or `<domain>/*`) ([`is_authorized_for_signer`]). kube-controller-manager's
//!    `csrapproving` controller auto-approves kubelet client certificates
//!    ([`should_auto_approve`]); serving certificates never.
//! 3. **The signer** (kube-controller-manager's `csrsigning`, holding `ca.crt`/`ca.key`)
//!    signs approved CSRs asynchronously. It checks each built-in signer's rules *only now*:
//!    a CSR that breaks them was accepted at create, can be approved, and then gets a `Failed`
//!    condition with reason `SignerValidationFailure` ([`sign`]).
//!
//! Validity: the signer's maximum is `--cluster-signing-duration` (8760h). `expirationSeconds`
//! may shorten it (never below 10 minutes). NotBefore is backdated 5 minutes for clock skew;
//! for TTLs of 8h or more NotAfter is pulled in by the same 5 minutes, so the certificate lives
//! exactly the TTL. NotAfter never passes the CA's own NotAfter.

use serde_json::Value;
use time::Duration;

mod approval;
mod create;
mod signer;
#[cfg(test)]
mod tests;

pub use approval::*;
pub use create::*;
pub use signer::*;

pub const GROUP: &str = "certificates.k8s.io";
pub const RESOURCE: &str = "certificatesigningrequests";
pub const KIND: &str = "CertificateSigningRequest";
pub const API_VERSION: &str = "certificates.k8s.io/v1";

/// Client certificates for talking to kube-apiserver; never auto-approved.
pub const KUBE_APISERVER_CLIENT: &str = "kubernetes.io/kube-apiserver-client";
/// Kubelet client certificates; auto-approved by kube-controller-manager.
pub const KUBE_APISERVER_CLIENT_KUBELET: &str = "kubernetes.io/kube-apiserver-client-kubelet";
/// Kubelet serving certificates; never auto-approved.
pub const KUBELET_SERVING: &str = "kubernetes.io/kubelet-serving";
/// The v1beta1-era catch-all; refused by the v1 API.
pub const LEGACY_UNKNOWN: &str = "kubernetes.io/legacy-unknown";

/// `--cluster-signing-duration` default: 8760h.
pub const DEFAULT_MAX_DURATION: Duration = Duration::hours(8760);
/// The floor for `spec.expirationSeconds`.
pub const MIN_EXPIRATION_SECONDS: i64 = 600;

/// Every `spec.usages` value the API accepts, sorted as Go's `sets.List` prints them.
pub const VALID_USAGES: [&str; 23] = [
    "any",
    "cert sign",
    "client auth",
    "code signing",
    "content commitment",
    "crl sign",
    "data encipherment",
    "decipher only",
    "digital signature",
    "email protection",
    "encipher only",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "key agreement",
    "key encipherment",
    "microsoft sgc",
    "netscape sgc",
    "ocsp signing",
    "s/mime",
    "server auth",
    "signing",
    "timestamping",
];

// ---------------------------------------------------------------------------------------------
// Reading the object
// ---------------------------------------------------------------------------------------------

fn spec(obj: &Value) -> Option<&Value> {
    obj.get("spec")
}

fn spec_str<'a>(obj: &'a Value, key: &str) -> &'a str {
    spec(obj)
        .and_then(|s| s.get(key))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `spec.signerName`.
pub fn signer_name(obj: &Value) -> &str {
    spec_str(obj, "signerName")
}

fn name(obj: &Value) -> &str {
    obj.get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `spec.usages` (non-strings skipped; [`shape_check`] reports them).
pub fn usages(obj: &Value) -> Vec<String> {
    spec(obj)
        .map(|s| crate::meta::str_list(s, "usages"))
        .unwrap_or_default()
}

fn conditions(obj: &Value) -> &[Value] {
    obj.get("status")
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn cond_str<'a>(c: &'a Value, key: &str) -> &'a str {
    c.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Whether a condition of `kind` with status True is present.
pub fn has_true_condition(obj: &Value, kind: &str) -> bool {
    conditions(obj)
        .iter()
        .any(|c| cond_str(c, "type") == kind && cond_str(c, "status") == "True")
}

/// `status.certificate` is set.
pub fn is_issued(obj: &Value) -> bool {
    obj.get("status")
        .and_then(|s| s.get("certificate"))
        .and_then(Value::as_str)
        .is_some_and(|c| !c.is_empty())
}
