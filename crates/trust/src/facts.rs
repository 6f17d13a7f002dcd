//! The facts a guard reads off a badge: the fields of Go's `x509.Certificate` that verification
//! looks at, read with x509-parser.
//!
//! Go parses a certificate once into a struct (`RawSubject`, `NotAfter`, `DNSNames`, `IsCA`, …)
//! and every later check reads that struct. [`Cert`] is the same idea, limited to the fields the
//! lab's verifier needs, so `verify.rs` can follow Go's code line by line.

use std::fmt;
use std::net::IpAddr;

use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::x509::X509Version;

/// A public-key family, as Go's `x509.PublicKeyAlgorithm` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyFamily {
    Rsa,
    Ecdsa,
    Ed25519,
    /// Go leaves `PublicKey` nil for these and never considers such a CA as a parent.
    Unknown,
}

impl KeyFamily {
    /// The name `PublicKeyAlgorithm.String()` prints.
    pub(crate) fn go_name(self) -> &'static str {
        match self {
            KeyFamily::Rsa => "RSA",
            KeyFamily::Ecdsa => "ECDSA",
            KeyFamily::Ed25519 => "Ed25519",
            KeyFamily::Unknown => "0",
        }
    }

    /// The Go type of a parsed public key, as `%T` prints it.
    pub(crate) fn go_type(self) -> &'static str {
        match self {
            KeyFamily::Rsa => "*rsa.PublicKey",
            KeyFamily::Ecdsa => "*ecdsa.PublicKey",
            KeyFamily::Ed25519 => "ed25519.PublicKey",
            KeyFamily::Unknown => "<nil>",
        }
    }
}

/// How a certificate was signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SignatureKind {
    /// A signature algorithm Go verifies, made with a key of this family.
    Family(KeyFamily),
    /// SHA-1 or MD5: Go 1.23 refuses these, printing this name.
    Insecure(&'static str),
    /// An algorithm Go does not implement.
    Unknown,
}

/// One extended key usage, in Go's vocabulary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Eku {
    Any,
    ServerAuth,
    ClientAuth,
    Other(String),
}

impl fmt::Display for Eku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Eku::Any => f.write_str("any purpose"),
            Eku::ServerAuth => f.write_str("server auth"),
            Eku::ClientAuth => f.write_str("client auth"),
            Eku::Other(name) => f.write_str(name),
        }
    }
}

/// The fields of one certificate that verification reads.
pub(crate) struct Cert<'a> {
    pub(crate) der: &'a [u8],
    pub(crate) x509: X509Certificate<'a>,
    pub(crate) raw_subject: &'a [u8],
    pub(crate) raw_issuer: &'a [u8],
    pub(crate) not_before: OffsetDateTime,
    pub(crate) not_after: OffsetDateTime,
    /// Go's `Subject.CommonName`: the last CN attribute, or empty.
    pub(crate) common_name: String,
    pub(crate) issuer_common_name: String,
    pub(crate) organization: Vec<String>,
    /// The serial number in decimal, as `big.Int.String()` prints it.
    pub(crate) serial: String,
    pub(crate) dns_names: Vec<String>,
    pub(crate) ip_addresses: Vec<IpAddr>,
    /// The raw value of the SAN extension, if the certificate has one.
    pub(crate) san_extension: Option<&'a [u8]>,
    /// Empty when the certificate has no EKU extension (or an empty one): fine for any use.
    pub(crate) ext_key_usage: Vec<Eku>,
    /// `Some((is_ca, max_path_len))` when basic constraints are present.
    pub(crate) basic_constraints: Option<(bool, Option<u32>)>,
    /// The key usage bits, 0 when the extension is absent (as in Go).
    pub(crate) key_usage: u16,
    pub(crate) key_cert_sign: bool,
    pub(crate) is_v3: bool,
    pub(crate) subject_key_id: &'a [u8],
    pub(crate) authority_key_id: &'a [u8],
    pub(crate) key: KeyFamily,
    pub(crate) signature: SignatureKind,
    /// The OID of the first critical extension Go would not handle.
    pub(crate) unhandled_critical: Option<String>,
}

/// Why some bytes are not a certificate.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum ParseError {
    #[error("{0}")]
    Der(String),
    #[error("{0} bytes of trailing data after the certificate")]
    TrailingData(usize),
    #[error("an IP address SAN of {0} bytes (must be 4 or 16)")]
    IpLength(usize),
    #[error("{0}")]
    Extension(String),
}

/// Critical extensions Go's parser understands; any other critical one makes Go refuse the
/// certificate with `x509: unhandled critical extension`.
const HANDLED_CRITICAL: &[&str] = &[
    "2.5.29.14",         // subject key identifier
    "2.5.29.15",         // key usage
    "2.5.29.17",         // subject alternative name
    "2.5.29.19",         // basic constraints
    "2.5.29.30",         // name constraints
    "2.5.29.31",         // CRL distribution points
    "2.5.29.32",         // certificate policies
    "2.5.29.33",         // policy mappings
    "2.5.29.35",         // authority key identifier
    "2.5.29.36",         // policy constraints
    "2.5.29.37",         // extended key usage
    "2.5.29.54",         // inhibit anyPolicy
    "1.3.6.1.5.5.7.1.1", // authority information access
];

impl<'a> Cert<'a> {
    /// Reads the facts from DER, refusing what Go's `ParseCertificate` would refuse.
    pub(crate) fn parse(der: &'a [u8]) -> Result<Self, ParseError> {
        let (rest, x509) =
            x509_parser::parse_x509_certificate(der).map_err(|e| ParseError::Der(e.to_string()))?;
        if !rest.is_empty() {
            return Err(ParseError::TrailingData(rest.len()));
        }
        let ext_err = |e: x509_parser::error::X509Error| ParseError::Extension(e.to_string());

        let mut dns_names = Vec::new();
        let mut ip_addresses = Vec::new();
        if let Some(san) = x509.subject_alternative_name().map_err(ext_err)? {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(dns) => dns_names.push((*dns).to_owned()),
                    GeneralName::IPAddress(bytes) => ip_addresses.push(ip_from_bytes(bytes)?),
                    _ => {}
                }
            }
        }

        let ext_key_usage = match x509.extended_key_usage().map_err(ext_err)? {
            None => Vec::new(),
            Some(eku) => {
                let eku = eku.value;
                let mut list = Vec::new();
                let known = [
                    (eku.any, Eku::Any),
                    (eku.server_auth, Eku::ServerAuth),
                    (eku.client_auth, Eku::ClientAuth),
                    (eku.code_signing, Eku::Other("code signing".into())),
                    (eku.email_protection, Eku::Other("email protection".into())),
                    (eku.time_stamping, Eku::Other("time stamping".into())),
                    (eku.ocsp_signing, Eku::Other("OCSP signing".into())),
                ];
                list.extend(known.into_iter().filter(|(on, _)| *on).map(|(_, e)| e));
                list.extend(eku.other.iter().map(|oid| Eku::Other(oid.to_id_string())));
                list
            }
        };

        let basic_constraints = x509
            .basic_constraints()
            .map_err(ext_err)?
            .map(|bc| (bc.value.ca, bc.value.path_len_constraint));
        let (key_usage, key_cert_sign) = match x509.key_usage().map_err(ext_err)? {
            Some(ku) => (ku.value.flags, ku.value.key_cert_sign()),
            None => (0, false),
        };

        let mut subject_key_id: &[u8] = &[];
        let mut authority_key_id: &[u8] = &[];
        let mut san_extension = None;
        let mut unhandled_critical = None;
        for ext in x509.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(kid) => subject_key_id = kid.0,
                ParsedExtension::AuthorityKeyIdentifier(akid) => {
                    if let Some(kid) = &akid.key_identifier {
                        authority_key_id = kid.0;
                    }
                }
                ParsedExtension::SubjectAlternativeName(_) => san_extension = Some(ext.value),
                _ => {}
            }
            let oid = ext.oid.to_id_string();
            if ext.critical && unhandled_critical.is_none() && !HANDLED_CRITICAL.contains(&&*oid) {
                unhandled_critical = Some(oid);
            }
        }

        let subject = &x509.tbs_certificate.subject;
        let issuer = &x509.tbs_certificate.issuer;
        let raw_subject = subject.as_raw();
        let raw_issuer = issuer.as_raw();
        let common_name = last_string(subject.iter_common_name());
        let issuer_common_name = last_string(issuer.iter_common_name());
        let organization = subject
            .iter_organization()
            .filter_map(|attr| attr.as_str().ok().map(str::to_owned))
            .collect();

        Ok(Cert {
            der,
            raw_subject,
            raw_issuer,
            not_before: x509.validity().not_before.to_datetime(),
            not_after: x509.validity().not_after.to_datetime(),
            common_name,
            issuer_common_name,
            organization,
            serial: x509.tbs_certificate.serial.to_string(),
            dns_names,
            ip_addresses,
            san_extension,
            ext_key_usage,
            basic_constraints,
            key_usage,
            key_cert_sign,
            is_v3: x509.version() == X509Version::V3,
            subject_key_id,
            authority_key_id,
            key: key_family(&x509.public_key().algorithm.algorithm.to_id_string()),
            signature: signature_kind(&x509.signature_algorithm.algorithm.to_id_string()),
            unhandled_critical,
            x509,
        })
    }

    /// How Go names a CA in `… candidate authority certificate "NAME"`: the Common Name, else
    /// the first Organization, else `serial:` and the decimal serial number.
    pub(crate) fn go_name(&self) -> String {
        if !self.common_name.is_empty() {
            self.common_name.clone()
        } else if let Some(org) = self.organization.first() {
            org.clone()
        } else {
            format!("serial:{}", self.serial)
        }
    }

    /// Whether basic constraints say this is a CA.
    pub(crate) fn is_ca(&self) -> bool {
        matches!(self.basic_constraints, Some((true, _)))
    }
}

fn last_string<'x>(
    attrs: impl Iterator<Item = &'x x509_parser::x509::AttributeTypeAndValue<'x>>,
) -> String {
    attrs
        .filter_map(|attr| attr.as_str().ok())
        .last()
        .unwrap_or_default()
        .to_owned()
}

fn ip_from_bytes(bytes: &[u8]) -> Result<IpAddr, ParseError> {
    match bytes.len() {
        4 => Ok(IpAddr::from(
            <[u8; 4]>::try_from(bytes).expect("length checked"),
        )),
        16 => Ok(IpAddr::from(
            <[u8; 16]>::try_from(bytes).expect("length checked"),
        )),
        n => Err(ParseError::IpLength(n)),
    }
}

fn key_family(spki_algorithm: &str) -> KeyFamily {
    match spki_algorithm {
        "1.2.840.113549.1.1.1" => KeyFamily::Rsa,
        "1.2.840.10045.2.1" => KeyFamily::Ecdsa,
        "1.3.101.112" => KeyFamily::Ed25519,
        _ => KeyFamily::Unknown,
    }
}

fn signature_kind(algorithm: &str) -> SignatureKind {
    match algorithm {
        // sha256/384/512WithRSAEncryption and RSASSA-PSS
        "1.2.840.113549.1.1.11"
        | "1.2.840.113549.1.1.12"
        | "1.2.840.113549.1.1.13"
        | "1.2.840.113549.1.1.10" => SignatureKind::Family(KeyFamily::Rsa),
        "1.2.840.10045.4.3.2" | "1.2.840.10045.4.3.3" | "1.2.840.10045.4.3.4" => {
            SignatureKind::Family(KeyFamily::Ecdsa)
        }
        "1.3.101.112" => SignatureKind::Family(KeyFamily::Ed25519),
        "1.2.840.113549.1.1.5" => SignatureKind::Insecure("SHA1-RSA"),
        "1.2.840.10045.4.1" => SignatureKind::Insecure("ECDSA-SHA1"),
        "1.2.840.113549.1.1.4" => SignatureKind::Insecure("MD5-RSA"),
        _ => SignatureKind::Unknown,
    }
}

/// An IP address as Go's `net.IP.String()` prints it: IPv4-mapped IPv6 addresses print as
/// IPv4, other IPv6 addresses in the compressed RFC 5952 form (as Rust prints them too).
pub(crate) fn go_ip_string(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// Go's `net.IP.Equal`: an IPv4 address equals its IPv4-mapped IPv6 form.
pub(crate) fn same_ip(a: &IpAddr, b: &IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}
