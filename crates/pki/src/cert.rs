//! Reading a badge: a certificate's subject, issuer, dates, names and usages, as owned facts.

use std::net::IpAddr;
use std::path::Path;

use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::error::{PkiError, Result};
use crate::profile::San;

/// What a badge says about itself, read from its DER.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CertInfo {
    pub subject_cn: String,
    pub subject_orgs: Vec<String>,
    /// The subject as openssl prints it (`O = …, CN = …`).
    pub subject: String,
    pub issuer_cn: String,
    pub issuer: String,
    /// Upper-case hex, colon-free, as `openssl x509 -serial` prints it.
    pub serial: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    #[serde(skip)]
    pub sans: Vec<San>,
    /// SANs as text, in certificate order: `DNS:name` or `IP:addr`.
    pub alt_names: Vec<String>,
    pub key_usages: Vec<String>,
    pub extended_key_usages: Vec<String>,
    pub is_ca: bool,
    pub key_algorithm: String,
    #[serde(skip)]
    pub public_key_der: Vec<u8>,
    #[serde(skip)]
    pub der: Vec<u8>,
}

impl CertInfo {
    /// Parses DER; `path` only names the source in errors.
    pub fn from_der(path: &Path, der: &[u8]) -> Result<CertInfo> {
        let bad = |detail: String| PkiError::BadDer {
            path: path.into(),
            what: "certificate",
            detail,
        };
        let (_, x509) = X509Certificate::from_der(der).map_err(|e| bad(e.to_string()))?;
        let subject_cn = first_cn(x509.subject());
        let subject_orgs = x509
            .subject()
            .iter_organization()
            .filter_map(|o| o.as_str().ok().map(str::to_string))
            .collect();
        let mut sans = Vec::new();
        let mut key_usages = Vec::new();
        let mut extended_key_usages = Vec::new();
        let mut is_ca = false;
        for ext in x509.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::SubjectAlternativeName(san) => {
                    for name in &san.general_names {
                        match name {
                            GeneralName::DNSName(d) => sans.push(San::Dns(d.to_string())),
                            GeneralName::IPAddress(b) => {
                                if let Some(ip) = ip_from_bytes(b) {
                                    sans.push(San::Ip(ip));
                                }
                            }
                            _ => {}
                        }
                    }
                }
                ParsedExtension::KeyUsage(ku) => {
                    let names = [
                        (ku.digital_signature(), "Digital Signature"),
                        (ku.non_repudiation(), "Non Repudiation"),
                        (ku.key_encipherment(), "Key Encipherment"),
                        (ku.data_encipherment(), "Data Encipherment"),
                        (ku.key_agreement(), "Key Agreement"),
                        (ku.key_cert_sign(), "Certificate Sign"),
                        (ku.crl_sign(), "CRL Sign"),
                    ];
                    key_usages = names
                        .iter()
                        .filter(|(on, _)| *on)
                        .map(|(_, n)| n.to_string())
                        .collect();
                }
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    if eku.server_auth {
                        extended_key_usages.push("TLS Web Server Authentication".into());
                    }
                    if eku.client_auth {
                        extended_key_usages.push("TLS Web Client Authentication".into());
                    }
                    if eku.any {
                        extended_key_usages.push("Any Extended Key Usage".into());
                    }
                }
                ParsedExtension::BasicConstraints(bc) => is_ca = bc.ca,
                _ => {}
            }
        }
        let alt_names = sans
            .iter()
            .map(|s| match s {
                San::Dns(d) => format!("DNS:{d}"),
                San::Ip(ip) => format!("IP:{ip}"),
            })
            .collect();
        let spki = x509.public_key();
        let key_algorithm = match spki.parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => {
                format!("RSA {}", rsa.key_size())
            }
            Ok(x509_parser::public_key::PublicKey::EC(_)) => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|oid| oid.to_id_string());
                match curve.as_deref() {
                    Some("1.2.840.10045.3.1.7") => "ECDSA P-256".into(),
                    Some("1.3.132.0.34") => "ECDSA P-384".into(),
                    Some("1.3.132.0.35") => "ECDSA P-521".into(),
                    Some(other) => format!("ECDSA ({other})"),
                    None => "ECDSA".into(),
                }
            }
            _ => spki.algorithm.algorithm.to_id_string(),
        };
        Ok(CertInfo {
            subject_cn,
            subject_orgs,
            subject: openssl_name(x509.subject()),
            issuer_cn: first_cn(x509.issuer()),
            issuer: openssl_name(x509.issuer()),
            serial: x509.raw_serial_as_string().replace(':', "").to_uppercase(),
            not_before: x509.validity().not_before.to_datetime(),
            not_after: x509.validity().not_after.to_datetime(),
            sans,
            alt_names,
            key_usages,
            extended_key_usages,
            is_ca,
            key_algorithm,
            public_key_der: spki.subject_public_key.data.to_vec(),
            der: der.to_vec(),
        })
    }

    pub fn has_server_auth(&self) -> bool {
        self.extended_key_usages
            .iter()
            .any(|u| u.contains("Server"))
    }

    pub fn has_client_auth(&self) -> bool {
        self.extended_key_usages
            .iter()
            .any(|u| u.contains("Client"))
    }
}

fn first_cn(name: &x509_parser::x509::X509Name<'_>) -> String {
    name.iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// `O = kubeadm:cluster-admins, CN = kubernetes-admin`, as `openssl x509 -subject` shows it.
fn openssl_name(name: &x509_parser::x509::X509Name<'_>) -> String {
    let mut parts = Vec::new();
    for rdn in name.iter() {
        for atv in rdn.iter() {
            let key = match atv.attr_type().to_id_string().as_str() {
                "2.5.4.3" => "CN".to_string(),
                "2.5.4.10" => "O".to_string(),
                "2.5.4.11" => "OU".to_string(),
                "2.5.4.6" => "C".to_string(),
                other => other.to_string(),
            };
            let value = atv.as_str().unwrap_or("?");
            parts.push(format!("{key} = {value}"));
        }
    }
    parts.join(", ")
}

fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(b).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(b).ok()?)),
        _ => None,
    }
}

/// Reads the certificates of a PEM file (a bundle holds several), first one first.
pub fn read_cert_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let bytes = crate::fs::read(path, "a PEM certificate")?;
    parse_cert_chain(path, &bytes)
}

/// Parses PEM bytes holding one or more `CERTIFICATE` blocks.
pub fn parse_cert_chain(path: &Path, bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    crate::keys::first_block(path, bytes, "CERTIFICATE")?;
    let blocks = pem::parse_many(bytes).map_err(|e| PkiError::NotPem {
        path: path.into(),
        expected: "CERTIFICATE",
        found: format!("a damaged PEM block ({e}); is the file truncated?"),
    })?;
    let mut out = Vec::new();
    for block in blocks {
        if block.tag() != "CERTIFICATE" {
            return Err(PkiError::NotPem {
                path: path.into(),
                expected: "CERTIFICATE",
                found: format!("a `{}` block", block.tag()),
            });
        }
        // Parse now, so a damaged body is reported here with the file's name.
        CertInfo::from_der(path, block.contents())?;
        out.push(CertificateDer::from(block.into_contents()));
    }
    Ok(out)
}

/// Reads the first certificate of a PEM file and its facts.
pub fn read_cert(path: &Path) -> Result<CertInfo> {
    let chain = read_cert_chain(path)?;
    CertInfo::from_der(path, &chain[0])
}

/// PEM text of one certificate.
pub fn cert_pem(der: &[u8]) -> String {
    pem_text(&[pem::Pem::new("CERTIFICATE", der.to_vec())])
}

/// PEM blocks as kubeadm writes them: lines end with LF (Go's `encoding/pem`), where the `pem`
/// crate's plain `encode` would end them with CRLF.
pub fn pem_text(blocks: &[pem::Pem]) -> String {
    pem::encode_many_config(
        blocks,
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}
