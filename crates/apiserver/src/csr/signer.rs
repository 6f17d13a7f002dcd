//! The csrsigning controller: each built-in signer's rules, the validity it gives, and the
//! certificate it signs with the cluster CA.

use kubecorp_pki::issue::{random_serial, Ca, BACKDATE};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, DnValue, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyUsagePurpose, PublicKeyData, SanType, SignatureAlgorithm,
};
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;

use super::*;

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

pub(super) fn validation(message: impl Into<String>) -> SignerFailure {
    SignerFailure::Validation {
        message: message.into(),
    }
}

pub(super) fn usage_set(usages: &[String]) -> Vec<&str> {
    let mut v: Vec<&str> = usages.iter().map(String::as_str).collect();
    v.sort_unstable();
    v.dedup();
    v
}

pub(super) fn no_other_sans(req: &ParsedRequest) -> Result<(), SignerFailure> {
    if !req.email_addresses.is_empty() {
        return Err(validation("Email subjectAltNames are not allowed"));
    }
    if !req.uris.is_empty() {
        return Err(validation("URI subjectAltNames are not allowed"));
    }
    Ok(())
}

pub(super) fn organization_is_nodes(req: &ParsedRequest) -> Result<(), SignerFailure> {
    if req.organizations != ["system:nodes"] {
        return Err(validation("subject organization is not system:nodes"));
    }
    Ok(())
}

pub(super) fn common_name_is_node(req: &ParsedRequest) -> Result<(), SignerFailure> {
    if !req.common_name.starts_with("system:node:") {
        return Err(validation(
            "subject common name does not begin with system:node:",
        ));
    }
    Ok(())
}

/// `kubernetes.io/kube-apiserver-client`: any subject; usages from {digital signature, key
/// encipherment, client auth} and `client auth` required.
pub(super) fn validate_apiserver_client(usages: &[String]) -> Result<(), SignerFailure> {
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
pub(super) fn validate_kubelet_client(
    req: &ParsedRequest,
    usages: &[String],
) -> Result<(), SignerFailure> {
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
pub(super) fn validate_kubelet_serving(
    req: &ParsedRequest,
    usages: &[String],
) -> Result<(), SignerFailure> {
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

pub(super) fn ca_not_after(ca: &Ca) -> Result<OffsetDateTime, SignerFailure> {
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

pub(super) enum Purpose {
    Key(KeyUsagePurpose),
    Extended(ExtendedKeyUsagePurpose),
}

/// `spec.usages` → X.509 key usage bits and extended key usages (`keyUsagesFromStrings`).
pub(super) fn usage_purpose(usage: &str) -> Option<Purpose> {
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

pub(super) fn sans(req: &ParsedRequest) -> Result<Vec<SanType>, String> {
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
pub(super) fn copy_subject(
    name: &x509_parser::x509::X509Name<'_>,
) -> Result<DistinguishedName, String> {
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
pub(super) struct RequestKey {
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
