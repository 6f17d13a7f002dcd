//! A CSR at create: its shape, its PEM request, the strategy that names the requester,
//! validation's 422s and the subject-restriction admission plugin.

use std::net::IpAddr;

use base64::Engine as _;
use serde_json::{json, Value};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use crate::status::{go_bytes, go_quote, Cause};
use crate::user::UserInfo;

use super::*;

pub(super) fn decode_b64(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
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

pub(super) fn field_type_error(field: &str, go_type: &str) -> String {
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

pub(super) const PEM_TYPE_ERROR: &str = "PEM block type must be CERTIFICATE REQUEST";

pub(super) fn request_der(pem_bytes: &[u8]) -> Result<Vec<u8>, String> {
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

pub(super) fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
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

pub(super) const DNS1123_LABEL_ERROR: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
pub(super) const DNS1123_SUBDOMAIN_ERROR: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

pub(super) fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    let ok_char = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-';
    let alnum = |c: Option<&u8>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    !b.is_empty() && b.iter().all(ok_char) && alnum(b.first()) && alnum(b.last())
}

/// apimachinery's `ValidateSignerName`: `<domain>/<path>` with a dotted DNS domain.
pub(super) fn validate_signer_name(field: &str, signer: &str) -> Vec<Cause> {
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
