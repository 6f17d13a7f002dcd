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

use std::collections::BTreeMap;
use std::net::IpAddr;

use base64::Engine as _;
use kubecorp_pki::issue::{random_serial, Ca, BACKDATE};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, DnValue, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyUsagePurpose, PublicKeyData, SanType, SignatureAlgorithm,
};
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use crate::rbac::Attributes;
use crate::status::{go_bytes, go_quote, Cause};
use crate::user::UserInfo;

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
        .and_then(|s| s.get("usages"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
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

fn decode_b64(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    // Go's base64 decoder skips line breaks.
    let cleaned: String = s.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    base64::engine::general_purpose::STANDARD.decode(cleaned)
}

/// The bytes of `spec.request` (JSON carries them base64-encoded); empty when absent or not
/// valid base64 ([`shape_check`] reports that case).
pub fn request_bytes(obj: &Value) -> Vec<u8> {
    decode_b64(spec_str(obj, "request")).unwrap_or_default()
}

/// Decoding problems that Kubernetes reports as 400 BadRequest before validation even runs
/// (the JSON cannot become a Go `CertificateSigningRequest`). Returns the Status message.
pub fn shape_check(obj: &Value) -> Result<(), String> {
    let fail = |detail: String| {
        Err(format!(
            "{KIND} in version \"v1\" cannot be handled as a {KIND}: {detail}"
        ))
    };
    if !obj.is_object() {
        return fail("json: cannot unmarshal into Go value of type struct".into());
    }
    let Some(spec) = spec(obj) else {
        return Ok(());
    };
    if !spec.is_object() {
        return fail(
            "json: cannot unmarshal into Go struct field CertificateSigningRequest.spec".into(),
        );
    }
    match spec.get("request") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => {
            if let Err(e) = decode_b64(s) {
                let at = match e {
                    base64::DecodeError::InvalidByte(i, _)
                    | base64::DecodeError::InvalidLastSymbol(i, _) => i,
                    _ => s.len(),
                };
                return fail(format!("illegal base64 data at input byte {at}"));
            }
        }
        Some(_) => return fail(field_type_error("request", "[]uint8")),
    }
    if let Some(e) = spec.get("expirationSeconds") {
        let ok = e.is_null() || e.as_i64().is_some_and(|n| i32::try_from(n).is_ok());
        if !ok {
            return fail(field_type_error("expirationSeconds", "int32"));
        }
    }
    if let Some(u) = spec.get("usages") {
        let ok = u.is_null() || u.as_array().is_some_and(|a| a.iter().all(Value::is_string));
        if !ok {
            return fail(field_type_error("usages", "[]v1.KeyUsage"));
        }
    }
    for key in ["signerName", "username", "uid"] {
        if spec
            .get(key)
            .is_some_and(|v| !v.is_string() && !v.is_null())
        {
            return fail(field_type_error(key, "string"));
        }
    }
    Ok(())
}

fn field_type_error(field: &str, go_type: &str) -> String {
    format!(
        "json: cannot unmarshal into Go struct field CertificateSigningRequestSpec.spec.{field} of type {go_type}"
    )
}

// ---------------------------------------------------------------------------------------------
// The PKCS#10 request
// ---------------------------------------------------------------------------------------------

/// What the signer looks at in a CSR, as Go's `x509.CertificateRequest` exposes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedRequest {
    /// The last CN of the subject (Go's `Subject.CommonName`).
    pub common_name: String,
    pub organizations: Vec<String>,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<IpAddr>,
    pub email_addresses: Vec<String>,
    pub uris: Vec<String>,
}

const PEM_TYPE_ERROR: &str = "PEM block type must be CERTIFICATE REQUEST";

fn request_der(pem_bytes: &[u8]) -> Result<Vec<u8>, String> {
    match pem::parse(pem_bytes) {
        Ok(p) if p.tag() == "CERTIFICATE REQUEST" => Ok(p.into_contents()),
        _ => Err(PEM_TYPE_ERROR.to_string()),
    }
}

/// Parses a PEM `CERTIFICATE REQUEST` and checks its self-signature (`certificates.ParseCSR`
/// followed by `CheckSignature`). Errors are the texts the apiserver puts after
/// `spec.request: Invalid value: …: `.
pub fn parse_request(pem_bytes: &[u8]) -> Result<ParsedRequest, String> {
    let der = request_der(pem_bytes)?;
    let (_, csr) = X509CertificationRequest::from_der(&der)
        .map_err(|e| format!("x509: malformed certificate request: {e}"))?;
    if csr.verify_signature().is_err() {
        let alg = csr
            .certification_request_info
            .subject_pki
            .algorithm
            .algorithm
            .to_id_string();
        return Err(match alg.as_str() {
            "1.2.840.113549.1.1.1" => "crypto/rsa: verification error",
            "1.2.840.10045.2.1" => "x509: ECDSA verification failure",
            "1.3.101.112" => "x509: Ed25519 verification failure",
            _ => "x509: cannot verify signature: algorithm unimplemented",
        }
        .to_string());
    }
    let subject = &csr.certification_request_info.subject;
    let mut parsed = ParsedRequest {
        common_name: subject
            .iter_common_name()
            .filter_map(|a| a.as_str().ok())
            .last()
            .unwrap_or("")
            .to_string(),
        organizations: subject
            .iter_organization()
            .filter_map(|a| a.as_str().ok())
            .map(str::to_string)
            .collect(),
        ..ParsedRequest::default()
    };
    if let Some(exts) = csr.requested_extensions() {
        for ext in exts {
            if let ParsedExtension::SubjectAlternativeName(san) = ext {
                for g in &san.general_names {
                    match g {
                        GeneralName::DNSName(d) => parsed.dns_names.push(d.to_string()),
                        GeneralName::RFC822Name(e) => parsed.email_addresses.push(e.to_string()),
                        GeneralName::URI(u) => parsed.uris.push(u.to_string()),
                        GeneralName::IPAddress(b) => {
                            if let Some(ip) = ip_from_bytes(b) {
                                parsed.ip_addresses.push(ip);
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    Ok(parsed)
}

fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => <[u8; 4]>::try_from(b).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(b).ok().map(IpAddr::from),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Create: strategy, validation, admission
// ---------------------------------------------------------------------------------------------

/// The create strategy (`PrepareForCreate`): the requester's identity is written into the spec
/// (whatever the client put there is overwritten) and the status is cleared.
pub fn prepare_create(obj: &Value, user: &UserInfo) -> Value {
    let mut out = obj.clone();
    if !out.is_object() {
        out = json!({});
    }
    out["apiVersion"] = json!(API_VERSION);
    out["kind"] = json!(KIND);
    if !out.get("spec").is_some_and(Value::is_object) {
        out["spec"] = json!({});
    }
    if let Some(spec) = out.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("username".into(), json!(user.name));
        spec.insert("groups".into(), json!(user.groups));
        // Go's `omitempty`: an empty uid or extra is not written at all.
        if user.uid.is_empty() {
            spec.remove("uid");
        } else {
            spec.insert("uid".into(), json!(user.uid));
        }
        if user.extra.is_empty() {
            spec.remove("extra");
        } else {
            spec.insert("extra".into(), json!(user.extra));
        }
    }
    out["status"] = json!({});
    out
}

/// Validation at create (`ValidateCertificateSigningRequestCreate`). Run it on the prepared
/// object. On failure the causes go into a 422 via `status::invalid(KIND, GROUP, name, …)`.
pub fn validate_create(obj: &Value) -> Result<(), Vec<Cause>> {
    let mut errs = Vec::new();
    let meta = obj.get("metadata");
    let meta_str = |k: &str| {
        meta.and_then(|m| m.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    if meta_str("name").is_empty() && meta_str("generateName").is_empty() {
        errs.push(Cause::required(
            "metadata.name",
            "name or generateName is required",
        ));
    }

    // The request must be a PEM CSR whose signature verifies: proof that the requester holds
    // the private key of the public key they want certified.
    let raw = spec(obj).and_then(|s| s.get("request"));
    let bytes = request_bytes(obj);
    if let Err(e) = parse_request(&bytes) {
        let shown = if raw.is_none_or(Value::is_null) {
            "[]byte(nil)".to_string()
        } else {
            go_bytes(&bytes)
        };
        errs.push(Cause::invalid("spec.request", &shown, &e));
    }

    let usages = usages(obj);
    if usages.is_empty() {
        errs.push(Cause::required("spec.usages", ""));
    }
    for (i, u) in usages.iter().enumerate() {
        if !VALID_USAGES.contains(&u.as_str()) {
            errs.push(Cause::not_supported(
                &format!("spec.usages[{i}]"),
                &go_quote(u),
                &VALID_USAGES,
            ));
        }
    }
    for (i, u) in usages.iter().enumerate() {
        if usages[..i].contains(u) {
            errs.push(Cause::duplicate(&format!("spec.usages[{i}]"), &go_quote(u)));
        }
    }

    let signer = signer_name(obj);
    if signer == LEGACY_UNKNOWN {
        errs.push(Cause::invalid(
            "spec.signerName",
            &go_quote(signer),
            "the legacy signerName is not allowed via this API version",
        ));
    } else {
        errs.extend(validate_signer_name("spec.signerName", signer));
    }

    if let Some(secs) = spec(obj)
        .and_then(|s| s.get("expirationSeconds"))
        .and_then(Value::as_i64)
    {
        if secs < MIN_EXPIRATION_SECONDS {
            errs.push(Cause::invalid(
                "spec.expirationSeconds",
                &secs.to_string(),
                "may not specify a duration less than 600 seconds (10 minutes)",
            ));
        }
    }

    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}

const DNS1123_LABEL_ERROR: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_ERROR: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    let ok_char = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-';
    let alnum = |c: Option<&u8>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    !b.is_empty() && b.iter().all(ok_char) && alnum(b.first()) && alnum(b.last())
}

/// apimachinery's `ValidateSignerName`: `<domain>/<path>` with a dotted DNS domain.
fn validate_signer_name(field: &str, signer: &str) -> Vec<Cause> {
    let mut errs = Vec::new();
    if signer.is_empty() {
        errs.push(Cause::required(field, ""));
        return errs;
    }
    let segments: Vec<&str> = signer.split('/').collect();
    let [domain, path] = segments.as_slice() else {
        errs.push(Cause::invalid(
            field,
            &go_quote(signer),
            "must be a fully qualified domain and path of the form 'example.com/signer-name'",
        ));
        return errs;
    };
    if domain.len() > 253 {
        errs.push(Cause {
            reason: "FieldValueTooLong".into(),
            message: "Too long: may not be more than 253 bytes".into(),
            field: field.into(),
        });
    }
    let labels: Vec<&str> = domain.split('.').collect();
    for l in &labels {
        let problem = if l.len() > 63 {
            Some("must be no more than 63 characters")
        } else if !is_dns1123_label(l) {
            Some(DNS1123_LABEL_ERROR)
        } else {
            None
        };
        if let Some(p) = problem {
            errs.push(Cause::invalid(
                field,
                &go_quote(domain),
                &format!("validating label {}: {p}", go_quote(l)),
            ));
            break;
        }
    }
    if labels.len() < 2 {
        errs.push(Cause::invalid(
            field,
            &go_quote(domain),
            "should be a domain with at least two segments separated by dots",
        ));
    }
    for l in path.split('.') {
        let problem = if l.len() > 253 {
            Some("must be no more than 253 characters")
        } else if !is_dns1123_label(l) {
            Some(DNS1123_SUBDOMAIN_ERROR)
        } else {
            None
        };
        if let Some(p) = problem {
            errs.push(Cause::invalid(
                field,
                &go_quote(path),
                &format!("validating label {}: {p}", go_quote(l)),
            ));
            break;
        }
    }
    errs
}

/// The CertificateSubjectRestriction admission plugin (runs after validation): nobody may
/// *ask* for a `system:masters` client certificate through the API, because such a badge
/// would bypass RBAC forever. The error is the text after `… "<name>" is forbidden: `
/// (use `status::forbidden_with(RESOURCE, GROUP, name, text)`).
pub fn admission_create(obj: &Value) -> Result<(), String> {
    if signer_name(obj) != KUBE_APISERVER_CLIENT {
        return Ok(());
    }
    let parsed =
        parse_request(&request_bytes(obj)).map_err(|e| format!("failed to parse CSR: {e}"))?;
    if parsed.organizations.iter().any(|o| o == "system:masters") {
        return Err(format!(
            "use of {KUBE_APISERVER_CLIENT} signer with system:masters group is not allowed"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Approval
// ---------------------------------------------------------------------------------------------

/// The RBAC names that let someone approve for `signer`: the signer itself, then
/// `<domain>/*`. Checked as verb `approve` on resource `signers` in `certificates.k8s.io`.
pub fn approval_needs_signer_permission(signer: &str) -> [String; 2] {
    let domain = signer.split('/').next().unwrap_or("");
    [signer.to_string(), format!("{domain}/*")]
}

/// The two authorization questions behind [`approval_needs_signer_permission`] (verb
/// `approve` for approval, `sign` for setting the certificate).
pub fn signer_permission_attributes(user: &UserInfo, verb: &str, signer: &str) -> [Attributes; 2] {
    approval_needs_signer_permission(signer).map(|name| {
        let mut a = Attributes::resource(user, verb, "", GROUP, "signers").with_name(&name);
        a.api_version = "*".to_string();
        a
    })
}

/// Kubernetes' `IsAuthorizedForSignerName`: the exact signer name first, then the wildcard.
pub fn is_authorized_for_signer(
    user: &UserInfo,
    verb: &str,
    signer: &str,
    can: impl Fn(&Attributes) -> bool,
) -> bool {
    signer_permission_attributes(user, verb, signer)
        .iter()
        .any(&can)
}

/// The CertificateApproval admission refusal (after `… "<name>" is forbidden: `).
pub fn not_permitted_to_approve(signer: &str) -> String {
    format!(
        "user not permitted to approve requests with signerName {}",
        go_quote(signer)
    )
}

/// The CertificateSigning admission refusal for `PUT …/status` with a certificate.
pub fn not_permitted_to_sign(signer: &str) -> String {
    format!(
        "user not permitted to sign requests with signerName {}",
        go_quote(signer)
    )
}

const TRUE_ONLY: [&str; 3] = ["Approved", "Denied", "Failed"];

/// Validation of `PUT …/approval`: conditions well-formed, Approved and Denied mutually
/// exclusive, at most one of each type, and no Approved/Denied/Failed condition removed.
/// (Problems already present in `old` are tolerated, as Kubernetes does.)
pub fn validate_approval_update(old: &Value, new: &Value) -> Result<(), Vec<Cause>> {
    let mut errs = Vec::new();
    let old_conds = conditions(old);
    let types = |cs: &[Value]| -> Vec<String> {
        cs.iter().map(|c| cond_str(c, "type").to_string()).collect()
    };
    let old_types = types(old_conds);
    let allow_both =
        old_types.iter().any(|t| t == "Approved") && old_types.iter().any(|t| t == "Denied");
    let allow_dup = old_types
        .iter()
        .enumerate()
        .any(|(i, t)| old_types[..i].contains(t));
    let allow_empty = old_types.iter().any(String::is_empty);

    let mut seen: Vec<&str> = Vec::new();
    let (mut approved, mut denied) = (false, false);
    for (i, c) in conditions(new).iter().enumerate() {
        let base = format!("status.conditions[{i}]");
        let t = cond_str(c, "type");
        let st = cond_str(c, "status");
        if t.is_empty() && !allow_empty {
            errs.push(Cause::required(&format!("{base}.type"), ""));
        }
        let allowed: &[&str] = if TRUE_ONLY.contains(&t) {
            &["True"]
        } else {
            &["False", "True", "Unknown"]
        };
        if st.is_empty() {
            errs.push(Cause::required(&format!("{base}.status"), ""));
        } else if !allowed.contains(&st) {
            errs.push(Cause::not_supported(
                &format!("{base}.status"),
                &go_quote(st),
                allowed,
            ));
        }
        if !allow_both {
            let clash = match t {
                "Approved" => {
                    approved = true;
                    denied
                }
                "Denied" => {
                    denied = true;
                    approved
                }
                _ => false,
            };
            if clash {
                errs.push(Cause::invalid(
                    &format!("{base}.type"),
                    &go_quote(t),
                    "Approved and Denied conditions are mutually exclusive",
                ));
            }
        }
        if !allow_dup {
            if seen.contains(&t) {
                errs.push(Cause::duplicate(&format!("{base}.type"), &go_quote(t)));
            }
            seen.push(t);
        }
    }
    let new_types = types(conditions(new));
    for t in TRUE_ONLY {
        let count = |ts: &[String]| ts.iter().filter(|x| *x == t).count();
        if count(&new_types) < count(&old_types) {
            errs.push(Cause::forbidden(
                "status.conditions",
                &format!("updates may not remove a condition of type {}", go_quote(t)),
            ));
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}

/// The approval strategy (`PrepareForUpdate`): only the conditions are taken from the
/// client's object; spec, certificate and everything else stay as stored. Missing
/// `lastUpdateTime`s become `now`; a missing `lastTransitionTime` is kept from an old
/// condition with the same type and status, else `now`.
pub fn prepare_approval_update(old: &Value, new: &Value, now: OffsetDateTime) -> Value {
    let stamp = kubecorp_trust::gotime::rfc3339(now);
    let mut out = if old.is_object() {
        old.clone()
    } else {
        json!({})
    };
    let mut conds: Vec<Value> = conditions(new).to_vec();
    for c in conds.iter_mut() {
        if !c.is_object() {
            continue;
        }
        if cond_str(c, "lastUpdateTime").is_empty() {
            c["lastUpdateTime"] = json!(stamp);
        }
        if cond_str(c, "lastTransitionTime").is_empty() {
            let kept = conditions(old).iter().find(|o| {
                cond_str(o, "type") == cond_str(c, "type")
                    && cond_str(o, "status") == cond_str(c, "status")
                    && !cond_str(o, "lastTransitionTime").is_empty()
            });
            c["lastTransitionTime"] = match kept {
                Some(o) => json!(cond_str(o, "lastTransitionTime")),
                None => json!(stamp),
            };
        }
    }
    if !out.get("status").is_some_and(Value::is_object) {
        out["status"] = json!({});
    }
    out["status"]["conditions"] = Value::Array(conds);
    out
}

/// kubectl's CONDITION column: `Pending`/`Approved`/`Denied`, then `,Failed`, `,Issued`.
pub fn condition_summary(csr: &Value) -> String {
    let has = |t: &str| conditions(csr).iter().any(|c| cond_str(c, "type") == t);
    let mut s = if has("Denied") {
        "Denied".to_string()
    } else if has("Approved") {
        "Approved".to_string()
    } else {
        "Pending".to_string()
    };
    if has("Failed") {
        s.push_str(",Failed");
    }
    if is_issued(csr) {
        s.push_str(",Issued");
    }
    s
}

/// The condition kube-controller-manager's `csrapproving` controller would append, if any.
///
/// Only `kube-apiserver-client-kubelet` CSRs that already satisfy that signer's rules are
/// considered. The requester (`user`: the one recorded in the spec at create, see
/// [`requester`]) must pass a SubjectAccessReview (`can`) for
/// `create certificatesigningrequests/selfnodeclient` when the CSR's CN is their own name
/// (certificate rotation), or `…/nodeclient` (bootstrap with a token). Serving certificates
/// are never auto-approved: a node could otherwise claim any hostname.
pub fn should_auto_approve(
    csr: &Value,
    user: &UserInfo,
    can: impl Fn(&Attributes) -> bool,
    now: OffsetDateTime,
) -> Option<Value> {
    if is_issued(csr) || has_condition(csr, "Approved") || has_condition(csr, "Denied") {
        return None;
    }
    if signer_name(csr) != KUBE_APISERVER_CLIENT_KUBELET {
        return None;
    }
    let parsed = parse_request(&request_bytes(csr)).ok()?;
    if validate_kubelet_client(&parsed, &usages(csr)).is_err() {
        return None;
    }
    let ask = |sub: &str| {
        let mut a = Attributes::resource(user, "create", "", GROUP, RESOURCE).with_subresource(sub);
        a.api_version = "*".to_string();
        can(&a)
    };
    let message = if user.name == parsed.common_name && ask("selfnodeclient") {
        "Auto approving self kubelet client certificate after SubjectAccessReview."
    } else if ask("nodeclient") {
        "Auto approving kubelet client certificate after SubjectAccessReview."
    } else {
        return None;
    };
    let stamp = kubecorp_trust::gotime::rfc3339(now);
    Some(json!({
        "type": "Approved", "status": "True", "reason": "AutoApproved", "message": message,
        "lastUpdateTime": stamp, "lastTransitionTime": stamp,
    }))
}

fn has_condition(obj: &Value, kind: &str) -> bool {
    conditions(obj).iter().any(|c| cond_str(c, "type") == kind)
}

/// The user recorded in the spec at create.
pub fn requester(csr: &Value) -> UserInfo {
    let list = |k: &str| {
        spec(csr)
            .and_then(|s| s.get(k))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let extra: BTreeMap<String, Vec<String>> = spec(csr)
        .and_then(|s| s.get("extra"))
        .and_then(|e| serde_json::from_value(e.clone()).ok())
        .unwrap_or_default();
    UserInfo {
        name: spec_str(csr, "username").to_string(),
        uid: spec_str(csr, "uid").to_string(),
        groups: list("groups"),
        extra,
    }
}

// ---------------------------------------------------------------------------------------------
// Signing
// ---------------------------------------------------------------------------------------------

/// Why the signer did not produce a certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignerFailure {
    /// Not one of the built-in signers: kube-controller-manager ignores the CSR and it stays
    /// unsigned (an external signer would have to act).
    #[error("signer {signer:?} is not a built-in signer of kube-controller-manager; the CSR stays unsigned")]
    NotHandled { signer: String },
    /// The signer only acts on approved CSRs.
    #[error("the CSR is not approved")]
    NotApproved,
    /// Already failed or already issued: nothing to do.
    #[error("the CSR already has a Failed condition or a certificate")]
    AlreadyFinished,
    /// The CSR breaks its signer's rules. Becomes condition `Failed`/`SignerValidationFailure`.
    #[error("{message}")]
    Validation { message: String },
    /// The request no longer parses (it was validated at create, so this is rare).
    #[error("unable to parse csr {name:?}: {detail}")]
    Unparsable { name: String, detail: String },
    /// The CA itself is no longer valid when the certificate would start.
    #[error("the signer has expired: NotAfter={not_after}")]
    SignerExpired { not_after: String },
    /// The CA expired before now.
    #[error("refusing to sign a certificate that expired in the past: NotAfter={not_after}")]
    ExpiredInThePast { not_after: String },
    /// The cryptography failed (a bad CA key, an unsupported public key).
    #[error("error auto signing csr: {detail}")]
    Sign { detail: String },
}

impl SignerFailure {
    /// The `Failed` condition the signer appends, for validation failures only; every other
    /// failure leaves the CSR approved and unsigned (kube-controller-manager retries).
    pub fn failed_condition(&self, now: OffsetDateTime) -> Option<Value> {
        match self {
            SignerFailure::Validation { message } => Some(json!({
                "type": "Failed", "status": "True", "reason": "SignerValidationFailure",
                "message": message, "lastUpdateTime": kubecorp_trust::gotime::rfc3339(now),
                "lastTransitionTime": kubecorp_trust::gotime::rfc3339(now),
            })),
            _ => None,
        }
    }
}

fn validation(message: impl Into<String>) -> SignerFailure {
    SignerFailure::Validation {
        message: message.into(),
    }
}

fn usage_set(usages: &[String]) -> Vec<&str> {
    let mut v: Vec<&str> = usages.iter().map(String::as_str).collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn no_other_sans(req: &ParsedRequest) -> Result<(), SignerFailure> {
    if !req.email_addresses.is_empty() {
        return Err(validation("Email subjectAltNames are not allowed"));
    }
    if !req.uris.is_empty() {
        return Err(validation("URI subjectAltNames are not allowed"));
    }
    Ok(())
}

fn organization_is_nodes(req: &ParsedRequest) -> Result<(), SignerFailure> {
    if req.organizations != ["system:nodes"] {
        return Err(validation("subject organization is not system:nodes"));
    }
    Ok(())
}

fn common_name_is_node(req: &ParsedRequest) -> Result<(), SignerFailure> {
    if !req.common_name.starts_with("system:node:") {
        return Err(validation(
            "subject common name does not begin with system:node:",
        ));
    }
    Ok(())
}

/// `kubernetes.io/kube-apiserver-client`: any subject; usages from {digital signature, key
/// encipherment, client auth} and `client auth` required.
fn validate_apiserver_client(usages: &[String]) -> Result<(), SignerFailure> {
    let mut has_client_auth = false;
    for u in usages {
        match u.as_str() {
            "digital signature" | "key encipherment" => {}
            "client auth" => has_client_auth = true,
            other => {
                return Err(validation(format!(
                    "invalid usage for client certificate: {other}"
                )))
            }
        }
    }
    if !has_client_auth {
        return Err(validation(
            "missing required usage for client certificate: client auth",
        ));
    }
    Ok(())
}

/// `kubernetes.io/kube-apiserver-client-kubelet` (`ValidateKubeletClientCSR`).
fn validate_kubelet_client(req: &ParsedRequest, usages: &[String]) -> Result<(), SignerFailure> {
    organization_is_nodes(req)?;
    if !req.dns_names.is_empty() {
        return Err(validation("DNS subjectAltNames are not allowed"));
    }
    if !req.email_addresses.is_empty() {
        return Err(validation("Email subjectAltNames are not allowed"));
    }
    if !req.ip_addresses.is_empty() {
        return Err(validation("IP subjectAltNames are not allowed"));
    }
    if !req.uris.is_empty() {
        return Err(validation("URI subjectAltNames are not allowed"));
    }
    common_name_is_node(req)?;
    let set = usage_set(usages);
    if set != ["client auth", "digital signature", "key encipherment"]
        && set != ["client auth", "digital signature"]
    {
        return Err(validation(
            "usages did not match [client auth digital signature key encipherment]",
        ));
    }
    Ok(())
}

/// `kubernetes.io/kubelet-serving` (`ValidateKubeletServingCSR`).
fn validate_kubelet_serving(req: &ParsedRequest, usages: &[String]) -> Result<(), SignerFailure> {
    organization_is_nodes(req)?;
    if req.dns_names.is_empty() && req.ip_addresses.is_empty() {
        return Err(validation("DNS or IP subjectAltName is required"));
    }
    no_other_sans(req)?;
    let set = usage_set(usages);
    if set != ["digital signature", "key encipherment", "server auth"]
        && set != ["digital signature", "server auth"]
    {
        return Err(validation(
            "usages did not match [digital signature key encipherment server auth]",
        ));
    }
    common_name_is_node(req)?;
    Ok(())
}

/// The signer's rules for `signer` (without signing). `NotHandled` for unknown signers.
pub fn check_signer_rules(
    signer: &str,
    req: &ParsedRequest,
    usages: &[String],
) -> Result<(), SignerFailure> {
    match signer {
        KUBE_APISERVER_CLIENT => validate_apiserver_client(usages),
        KUBE_APISERVER_CLIENT_KUBELET => validate_kubelet_client(req, usages),
        KUBELET_SERVING => validate_kubelet_serving(req, usages),
        other => Err(SignerFailure::NotHandled {
            signer: other.to_string(),
        }),
    }
}

/// The certificate lifetime the signer grants: `expirationSeconds` if set (raised to 10
/// minutes, cut to `max`), else `max`.
pub fn duration(expiration_seconds: Option<i64>, max: Duration) -> Duration {
    match expiration_seconds {
        None => max,
        Some(s) => {
            let requested = Duration::seconds(s);
            if requested > max {
                max
            } else if requested < Duration::minutes(10) {
                Duration::minutes(10)
            } else {
                requested
            }
        }
    }
}

/// NotBefore and NotAfter for a certificate signed at `now` with `ttl`, clipped to the CA's
/// NotAfter (`PermissiveSigningPolicy.apply`).
pub fn validity(
    now: OffsetDateTime,
    ttl: Duration,
    ca_not_after: OffsetDateTime,
) -> Result<(OffsetDateTime, OffsetDateTime), SignerFailure> {
    // A lab clock at the calendar's very start has no five minutes to give back.
    let not_before = now.checked_sub(BACKDATE).unwrap_or(now);
    // Short certificates keep their full TTL from now; longer ones give the backdate back. Past
    // the calendar's end is past the CA's end too, so it is clipped below.
    let back = if ttl < Duration::hours(8) {
        Duration::ZERO
    } else {
        BACKDATE
    };
    let mut not_after = now.checked_add(ttl - back).unwrap_or(ca_not_after);
    if not_after >= ca_not_after {
        not_after = ca_not_after;
    }
    if not_before >= ca_not_after {
        return Err(SignerFailure::SignerExpired {
            not_after: kubecorp_trust::gotime::string(ca_not_after),
        });
    }
    if now >= ca_not_after {
        return Err(SignerFailure::ExpiredInThePast {
            not_after: kubecorp_trust::gotime::string(ca_not_after),
        });
    }
    Ok((not_before, not_after))
}

/// The built-in signer: checks the signer's rules, then issues a certificate with the CSR's
/// subject, SANs and public key, usages from `spec.usages`, CA:FALSE, a random serial, signed
/// by `ca`. Returns the PEM of the leaf (what goes, base64-encoded, into `status.certificate`).
pub fn sign(
    ca: &Ca,
    csr: &Value,
    now: OffsetDateTime,
    max: Duration,
) -> Result<String, SignerFailure> {
    if has_true_condition(csr, "Failed") || is_issued(csr) {
        return Err(SignerFailure::AlreadyFinished);
    }
    if !has_true_condition(csr, "Approved") || has_condition(csr, "Denied") {
        return Err(SignerFailure::NotApproved);
    }
    let signer = signer_name(csr);
    if ![
        KUBE_APISERVER_CLIENT,
        KUBE_APISERVER_CLIENT_KUBELET,
        KUBELET_SERVING,
    ]
    .contains(&signer)
    {
        return Err(SignerFailure::NotHandled {
            signer: signer.to_string(),
        });
    }
    let bytes = request_bytes(csr);
    let unparsable = |detail: String| SignerFailure::Unparsable {
        name: name(csr).to_string(),
        detail,
    };
    let parsed = parse_request(&bytes).map_err(unparsable)?;
    let usages = usages(csr);
    check_signer_rules(signer, &parsed, &usages)?;

    let expiration = spec(csr)
        .and_then(|s| s.get("expirationSeconds"))
        .and_then(Value::as_i64);
    let ttl = duration(expiration, max);
    let ca_not_after = ca_not_after(ca)?;
    let (not_before, not_after) = validity(now, ttl, ca_not_after)?;

    let der = request_der(&bytes).map_err(unparsable)?;
    let (_, req) =
        X509CertificationRequest::from_der(&der).map_err(|e| unparsable(e.to_string()))?;
    let info = &req.certification_request_info;
    let sign_err = |detail: String| SignerFailure::Sign { detail };

    let mut params = CertificateParams::default();
    params.distinguished_name = copy_subject(&info.subject).map_err(sign_err)?;
    params.subject_alt_names = sans(&parsed).map_err(sign_err)?;
    params.is_ca = IsCa::ExplicitNoCa;
    for u in &usages {
        match usage_purpose(u) {
            Some(Purpose::Key(k)) if !params.key_usages.contains(&k) => {
                params.key_usages.push(k);
            }
            Some(Purpose::Extended(e)) if !params.extended_key_usages.contains(&e) => {
                params.extended_key_usages.push(e);
            }
            _ => {}
        }
    }
    params.use_authority_key_identifier_extension = true;
    params.not_before = not_before;
    params.not_after = not_after;
    params.serial_number = Some(random_serial());

    let key = RequestKey::from_spki(&info.subject_pki).map_err(sign_err)?;
    let issuer =
        Issuer::from_ca_cert_der(&ca.cert, &ca.key).map_err(|e| sign_err(e.to_string()))?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|e| sign_err(e.to_string()))?;
    Ok(cert.pem())
}

fn ca_not_after(ca: &Ca) -> Result<OffsetDateTime, SignerFailure> {
    let (_, cert) =
        x509_parser::certificate::X509Certificate::from_der(ca.cert.as_ref()).map_err(|e| {
            SignerFailure::Sign {
                detail: format!("cannot read the CA certificate: {e}"),
            }
        })?;
    OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp()).map_err(|e| {
        SignerFailure::Sign {
            detail: format!("CA NotAfter out of range: {e}"),
        }
    })
}

enum Purpose {
    Key(KeyUsagePurpose),
    Extended(ExtendedKeyUsagePurpose),
}

/// `spec.usages` → X.509 key usage bits and extended key usages (`keyUsagesFromStrings`).
fn usage_purpose(usage: &str) -> Option<Purpose> {
    use ExtendedKeyUsagePurpose as E;
    use KeyUsagePurpose as K;
    Some(match usage {
        "signing" | "digital signature" => Purpose::Key(K::DigitalSignature),
        "content commitment" => Purpose::Key(K::ContentCommitment),
        "key encipherment" => Purpose::Key(K::KeyEncipherment),
        "key agreement" => Purpose::Key(K::KeyAgreement),
        "data encipherment" => Purpose::Key(K::DataEncipherment),
        "cert sign" => Purpose::Key(K::KeyCertSign),
        "crl sign" => Purpose::Key(K::CrlSign),
        "encipher only" => Purpose::Key(K::EncipherOnly),
        "decipher only" => Purpose::Key(K::DecipherOnly),
        "any" => Purpose::Extended(E::Any),
        "server auth" => Purpose::Extended(E::ServerAuth),
        "client auth" => Purpose::Extended(E::ClientAuth),
        "code signing" => Purpose::Extended(E::CodeSigning),
        "email protection" | "s/mime" => Purpose::Extended(E::EmailProtection),
        "timestamping" => Purpose::Extended(E::TimeStamping),
        "ocsp signing" => Purpose::Extended(E::OcspSigning),
        "ipsec end system" => Purpose::Extended(E::Other(vec![1, 3, 6, 1, 5, 5, 7, 3, 5])),
        "ipsec tunnel" => Purpose::Extended(E::Other(vec![1, 3, 6, 1, 5, 5, 7, 3, 6])),
        "ipsec user" => Purpose::Extended(E::Other(vec![1, 3, 6, 1, 5, 5, 7, 3, 7])),
        "microsoft sgc" => Purpose::Extended(E::Other(vec![1, 3, 6, 1, 4, 1, 311, 10, 3, 3])),
        "netscape sgc" => Purpose::Extended(E::Other(vec![2, 16, 840, 1, 113_730, 4, 1])),
        _ => return None,
    })
}

fn sans(req: &ParsedRequest) -> Result<Vec<SanType>, String> {
    let ia5 = |s: &String| {
        rcgen::string::Ia5String::try_from(s.as_str()).map_err(|e| format!("SAN {s:?}: {e}"))
    };
    let mut out = Vec::new();
    for d in &req.dns_names {
        out.push(SanType::DnsName(ia5(d)?));
    }
    for ip in &req.ip_addresses {
        out.push(SanType::IpAddress(*ip));
    }
    for e in &req.email_addresses {
        out.push(SanType::Rfc822Name(ia5(e)?));
    }
    for u in &req.uris {
        out.push(SanType::URI(ia5(u)?));
    }
    Ok(out)
}

/// Copies the CSR's subject attribute by attribute, in order.
///
/// rcgen's `DistinguishedName` holds one value per attribute type, but a subject may carry
/// several O's (one per group). The second value of a type is stored under the same OID as a
/// "custom" type, which rcgen encodes identically; a third value cannot be represented.
fn copy_subject(name: &x509_parser::x509::X509Name<'_>) -> Result<DistinguishedName, String> {
    let mut dn = DistinguishedName::new();
    let mut used: Vec<DnType> = Vec::new();
    for rdn in name.iter() {
        for attr in rdn.iter() {
            let oid = attr.attr_type();
            let arcs: Vec<u64> = oid
                .iter()
                .map(|it| it.collect())
                .ok_or_else(|| format!("subject attribute {oid} has an oversized arc"))?;
            let value = attr
                .as_str()
                .map_err(|_| format!("subject attribute {oid} is not a string"))?;
            let named = DnType::from_oid(&arcs);
            let custom = DnType::CustomDnType(arcs.clone());
            let ty = if !used.contains(&named) {
                named
            } else if !used.contains(&custom) {
                custom
            } else {
                return Err(format!(
                    "subject has more than two values of attribute {oid}; the lab's signer cannot copy it"
                ));
            };
            used.push(ty.clone());
            let printable = attr.attr_value().header.tag()
                == x509_parser::der_parser::asn1_rs::Tag::PrintableString;
            let dv = match printable {
                true => rcgen::string::PrintableString::try_from(value)
                    .map(DnValue::PrintableString)
                    .unwrap_or_else(|_| DnValue::Utf8String(value.to_string())),
                false => DnValue::Utf8String(value.to_string()),
            };
            dn.push(ty, dv);
        }
    }
    Ok(dn)
}

/// The CSR's public key, in the form rcgen needs to put it into a certificate.
struct RequestKey {
    raw: Vec<u8>,
    alg: &'static SignatureAlgorithm,
}

impl RequestKey {
    fn from_spki(spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> Result<RequestKey, String> {
        let alg_oid = spki.algorithm.algorithm.to_id_string();
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .map(|o| o.to_id_string())
            .unwrap_or_default();
        let alg: &'static SignatureAlgorithm = match (alg_oid.as_str(), curve.as_str()) {
            ("1.2.840.113549.1.1.1", _) => &rcgen::PKCS_RSA_SHA256,
            ("1.2.840.10045.2.1", "1.2.840.10045.3.1.7") => &rcgen::PKCS_ECDSA_P256_SHA256,
            ("1.2.840.10045.2.1", "1.3.132.0.34") => &rcgen::PKCS_ECDSA_P384_SHA384,
            ("1.2.840.10045.2.1", "1.3.132.0.35") => &rcgen::PKCS_ECDSA_P521_SHA512,
            ("1.3.101.112", _) => &rcgen::PKCS_ED25519,
            _ => {
                return Err(format!(
                    "unsupported public key algorithm {alg_oid} {curve}"
                ))
            }
        };
        Ok(RequestKey {
            raw: spki.subject_public_key.data.to_vec(),
            alg,
        })
    }
}

impl PublicKeyData for RequestKey {
    fn der_bytes(&self) -> &[u8] {
        &self.raw
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.alg
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::KeyPair;
    use time::macros::datetime;

    fn csr_pem(cn: &str, orgs: &[&str], dns: &[&str]) -> String {
        let mut p =
            CertificateParams::new(dns.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        p.distinguished_name = DistinguishedName::new();
        for (i, o) in orgs.iter().enumerate() {
            let ty = if i == 0 {
                DnType::OrganizationName
            } else {
                DnType::CustomDnType(vec![2, 5, 4, 10])
            };
            p.distinguished_name.push(ty, *o);
        }
        p.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::generate().unwrap();
        p.serialize_request(&key).unwrap().pem().unwrap()
    }

    fn csr_obj(pem: &str, signer: &str, usages: &[&str]) -> Value {
        json!({
            "apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": "x"},
            "spec": {
                "request": base64::engine::general_purpose::STANDARD.encode(pem),
                "signerName": signer, "usages": usages,
            }
        })
    }

    fn messages(r: Result<(), Vec<Cause>>) -> Vec<String> {
        r.err()
            .unwrap_or_default()
            .iter()
            .map(Cause::error)
            .collect()
    }

    #[test]
    fn a_well_formed_csr_passes_validation() {
        let obj = csr_obj(
            &csr_pem("john", &["developers"], &[]),
            KUBE_APISERVER_CLIENT,
            &["client auth"],
        );
        assert_eq!(validate_create(&obj), Ok(()));
        assert_eq!(shape_check(&obj), Ok(()));
    }

    #[test]
    fn parse_request_reads_subject_and_sans_of_multi_org_csrs() {
        let p = parse_request(
            csr_pem("system:node:n1", &["system:nodes", "extra"], &["n1.lab"]).as_bytes(),
        )
        .unwrap();
        assert_eq!(p.common_name, "system:node:n1");
        assert_eq!(p.organizations, ["system:nodes", "extra"]);
        assert_eq!(p.dns_names, ["n1.lab"]);
    }

    #[test]
    fn usages_are_required_supported_and_unique() {
        let pem = csr_pem("j", &[], &[]);
        assert_eq!(
            messages(validate_create(&csr_obj(&pem, KUBE_APISERVER_CLIENT, &[]))),
            ["spec.usages: Required value"]
        );
        let m = messages(validate_create(&csr_obj(
            &pem,
            KUBE_APISERVER_CLIENT,
            &["client auth", "fly", "client auth"],
        )));
        assert_eq!(m.len(), 2);
        assert!(m[0].starts_with(r#"spec.usages[1]: Unsupported value: "fly": supported values: "any", "cert sign", "client auth","#), "{}", m[0]);
        assert!(m[0].ends_with(r#""signing", "timestamping""#));
        assert_eq!(m[1], r#"spec.usages[2]: Duplicate value: "client auth""#);
    }

    #[test]
    fn signer_names_must_be_domain_slash_path_and_not_legacy() {
        let pem = csr_pem("j", &[], &[]);
        assert_eq!(
            messages(validate_create(&csr_obj(
                &pem,
                LEGACY_UNKNOWN,
                &["client auth"]
            ))),
            [
                r#"spec.signerName: Invalid value: "kubernetes.io/legacy-unknown": the legacy signerName is not allowed via this API version"#
            ]
        );
        assert_eq!(
            messages(validate_create(&csr_obj(&pem, "", &["client auth"]))),
            ["spec.signerName: Required value"]
        );
        assert_eq!(
            messages(validate_create(&csr_obj(
                &pem,
                "kubecorp",
                &["client auth"]
            ))),
            [
                r#"spec.signerName: Invalid value: "kubecorp": must be a fully qualified domain and path of the form 'example.com/signer-name'"#
            ]
        );
        assert_eq!(
            messages(validate_create(&csr_obj(
                &pem,
                "lab/badges",
                &["client auth"]
            ))),
            [
                r#"spec.signerName: Invalid value: "lab": should be a domain with at least two segments separated by dots"#
            ]
        );
        assert_eq!(
            validate_create(&csr_obj(&pem, "kubecorp.lab/badges", &["client auth"])),
            Ok(())
        );
    }

    #[test]
    fn a_request_that_is_not_a_csr_pem_is_invalid_with_go_bytes() {
        let obj = csr_obj(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            KUBE_APISERVER_CLIENT,
            &["client auth"],
        );
        let m = messages(validate_create(&obj));
        assert!(
            m[0].starts_with("spec.request: Invalid value: []byte{0x2d, 0x2d, 0x2d"),
            "{}",
            m[0]
        );
        assert!(m[0].ends_with("}: PEM block type must be CERTIFICATE REQUEST"));
        let mut missing = obj.clone();
        missing["spec"].as_object_mut().unwrap().remove("request");
        assert_eq!(
            messages(validate_create(&missing))[0],
            "spec.request: Invalid value: []byte(nil): PEM block type must be CERTIFICATE REQUEST"
        );
    }

    #[test]
    fn a_tampered_csr_fails_the_signature_check() {
        let pem = csr_pem("john", &[], &[]);
        let mut der = pem::parse(&pem).unwrap().into_contents();
        let n = der.len();
        der[n - 3] ^= 0x55; // inside the signature
        let bad = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", der));
        let e = parse_request(bad.as_bytes()).unwrap_err();
        assert_eq!(e, "x509: ECDSA verification failure");
    }

    #[test]
    fn bad_base64_is_a_400_before_validation() {
        let mut obj = csr_obj("x", KUBE_APISERVER_CLIENT, &["client auth"]);
        obj["spec"]["request"] = json!("ab!d");
        assert_eq!(
            shape_check(&obj),
            Err("CertificateSigningRequest in version \"v1\" cannot be handled as a CertificateSigningRequest: illegal base64 data at input byte 2".into())
        );
    }

    #[test]
    fn prepare_create_overwrites_the_requester_and_clears_status() {
        let mut obj = csr_obj("x", KUBE_APISERVER_CLIENT, &["client auth"]);
        obj["spec"]["username"] = json!("kubernetes-admin");
        obj["spec"]["uid"] = json!("forged");
        obj["status"] = json!({"certificate": "Zm9v"});
        let john = UserInfo::from_cert("john", ["developers"]).unwrap();
        let p = prepare_create(&obj, &john);
        assert_eq!(p["spec"]["username"], "john");
        assert_eq!(
            p["spec"]["groups"],
            json!(["developers", "system:authenticated"])
        );
        assert!(p["spec"].get("uid").is_none());
        assert_eq!(p["status"], json!({}));
        assert_eq!(requester(&p), john);
    }

    #[test]
    fn approval_update_rules() {
        let approved = json!({"type": "Approved", "status": "True", "reason": "KubectlApprove"});
        let denied = json!({"type": "Denied", "status": "True"});
        let old = json!({"status": {}});
        let new = json!({"status": {"conditions": [approved.clone(), denied.clone()]}});
        assert_eq!(
            messages(validate_approval_update(&old, &new)),
            [
                r#"status.conditions[1].type: Invalid value: "Denied": Approved and Denied conditions are mutually exclusive"#
            ]
        );
        let old_approved = json!({"status": {"conditions": [approved.clone()]}});
        assert_eq!(
            messages(validate_approval_update(&old_approved, &old)),
            [
                r#"status.conditions: Forbidden: updates may not remove a condition of type "Approved""#
            ]
        );
        let falsy = json!({"status": {"conditions": [{"type": "Approved", "status": "False"}]}});
        assert_eq!(
            messages(validate_approval_update(&old, &falsy)),
            [
                r#"status.conditions[0].status: Unsupported value: "False": supported values: "True""#
            ]
        );
        let dup = json!({"status": {"conditions": [approved.clone(), approved.clone()]}});
        assert_eq!(
            messages(validate_approval_update(&old, &dup)),
            [r#"status.conditions[1].type: Duplicate value: "Approved""#]
        );
        assert_eq!(
            validate_approval_update(&old, &json!({"status": {"conditions": [approved]}})),
            Ok(())
        );
    }

    #[test]
    fn prepare_approval_update_takes_only_the_conditions_and_stamps_times() {
        let old = json!({"metadata": {"name": "j"}, "spec": {"username": "john"}, "status": {}});
        let new = json!({"metadata": {"name": "j"}, "spec": {"username": "mallory"},
            "status": {"certificate": "Zm9v", "conditions": [{"type": "Approved", "status": "True", "lastUpdateTime": "2025-01-01T00:00:00Z"}]}});
        let out = prepare_approval_update(&old, &new, datetime!(2025-02-02 10:00:00.5 UTC));
        assert_eq!(out["spec"]["username"], "john");
        assert!(out["status"].get("certificate").is_none());
        assert_eq!(
            out["status"]["conditions"][0]["lastUpdateTime"],
            "2025-01-01T00:00:00Z"
        );
        assert_eq!(
            out["status"]["conditions"][0]["lastTransitionTime"],
            "2025-02-02T10:00:00Z"
        );
    }

    #[test]
    fn approvers_need_approve_on_the_signer_or_its_domain_wildcard() {
        assert_eq!(
            approval_needs_signer_permission(KUBELET_SERVING),
            [
                "kubernetes.io/kubelet-serving".to_string(),
                "kubernetes.io/*".to_string()
            ]
        );
        let u = UserInfo::from_cert("approver", ["x"]).unwrap();
        assert!(is_authorized_for_signer(
            &u,
            "approve",
            KUBELET_SERVING,
            |a| a.name == "kubernetes.io/*" && a.resource == "signers"
        ));
        assert!(!is_authorized_for_signer(
            &u,
            "approve",
            KUBELET_SERVING,
            |_| false
        ));
        assert_eq!(
            not_permitted_to_approve(KUBELET_SERVING),
            r#"user not permitted to approve requests with signerName "kubernetes.io/kubelet-serving""#
        );
    }

    #[test]
    fn condition_summary_matches_kubectl() {
        let c = |t: &str| json!({"type": t, "status": "True"});
        assert_eq!(condition_summary(&json!({})), "Pending");
        assert_eq!(
            condition_summary(
                &json!({"status": {"conditions": [c("Approved")], "certificate": "Zm9v"}})
            ),
            "Approved,Issued"
        );
        assert_eq!(
            condition_summary(&json!({"status": {"conditions": [c("Denied")]}})),
            "Denied"
        );
        assert_eq!(
            condition_summary(&json!({"status": {"conditions": [c("Approved"), c("Failed")]}})),
            "Approved,Failed"
        );
    }

    #[test]
    fn signer_rules_give_the_exact_failure_texts() {
        let client = ParsedRequest {
            common_name: "john".into(),
            ..Default::default()
        };
        let u = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let msg = |r: Result<(), SignerFailure>| r.unwrap_err().to_string();
        assert_eq!(
            msg(check_signer_rules(
                KUBE_APISERVER_CLIENT,
                &client,
                &u(&["client auth", "server auth"])
            )),
            "invalid usage for client certificate: server auth"
        );
        assert_eq!(
            msg(check_signer_rules(
                KUBE_APISERVER_CLIENT,
                &client,
                &u(&["digital signature"])
            )),
            "missing required usage for client certificate: client auth"
        );
        assert_eq!(
            msg(check_signer_rules(
                KUBE_APISERVER_CLIENT_KUBELET,
                &client,
                &u(&["client auth"])
            )),
            "subject organization is not system:nodes"
        );
        let node = ParsedRequest {
            common_name: "n1".into(),
            organizations: vec!["system:nodes".into()],
            ..Default::default()
        };
        assert_eq!(
            msg(check_signer_rules(
                KUBE_APISERVER_CLIENT_KUBELET,
                &node,
                &u(&["client auth", "digital signature"])
            )),
            "subject common name does not begin with system:node:"
        );
        let node = ParsedRequest {
            common_name: "system:node:n1".into(),
            ..node
        };
        assert_eq!(
            msg(check_signer_rules(
                KUBE_APISERVER_CLIENT_KUBELET,
                &node,
                &u(&["client auth"])
            )),
            "usages did not match [client auth digital signature key encipherment]"
        );
        assert_eq!(
            check_signer_rules(
                KUBE_APISERVER_CLIENT_KUBELET,
                &node,
                &u(&["client auth", "digital signature"])
            ),
            Ok(())
        );
        assert_eq!(
            msg(check_signer_rules(
                KUBELET_SERVING,
                &node,
                &u(&["server auth"])
            )),
            "DNS or IP subjectAltName is required"
        );
        let serving = ParsedRequest {
            dns_names: vec!["n1".into()],
            ..node.clone()
        };
        assert_eq!(
            msg(check_signer_rules(
                KUBELET_SERVING,
                &serving,
                &u(&["server auth"])
            )),
            "usages did not match [digital signature key encipherment server auth]"
        );
        let with_ip = ParsedRequest {
            ip_addresses: vec!["10.0.0.1".parse().unwrap()],
            ..node
        };
        assert_eq!(
            msg(check_signer_rules(
                KUBE_APISERVER_CLIENT_KUBELET,
                &with_ip,
                &u(&["client auth", "digital signature"])
            )),
            "IP subjectAltNames are not allowed"
        );
        assert!(matches!(
            check_signer_rules("kubecorp.lab/x", &client, &[]),
            Err(SignerFailure::NotHandled { .. })
        ));
    }

    #[test]
    fn durations_are_floored_at_ten_minutes_and_capped_at_the_max() {
        assert_eq!(duration(None, DEFAULT_MAX_DURATION), Duration::hours(8760));
        assert_eq!(
            duration(Some(60), DEFAULT_MAX_DURATION),
            Duration::minutes(10)
        );
        assert_eq!(
            duration(Some(86400 * 400), DEFAULT_MAX_DURATION),
            Duration::hours(8760)
        );
        let now = datetime!(2025-01-01 12:00 UTC);
        let far = datetime!(2035-01-01 0:00 UTC);
        assert_eq!(
            validity(now, Duration::hours(1), far),
            Ok((now - BACKDATE, now + Duration::hours(1)))
        );
        assert_eq!(
            validity(now, Duration::hours(8), far),
            Ok((now - BACKDATE, now + Duration::hours(8) - BACKDATE))
        );
        let soon = now + Duration::hours(2);
        assert_eq!(validity(now, Duration::hours(8), soon).unwrap().1, soon);
        assert_eq!(
            validity(now, Duration::hours(1), now - Duration::minutes(10)),
            Err(SignerFailure::SignerExpired {
                not_after: "2025-01-01 11:50:00 +0000 UTC".into()
            })
        );
        assert_eq!(
            validity(now, Duration::hours(1), now - Duration::minutes(1)).unwrap_err().to_string(),
            "refusing to sign a certificate that expired in the past: NotAfter=2025-01-01 11:59:00 +0000 UTC"
        );
    }
}
