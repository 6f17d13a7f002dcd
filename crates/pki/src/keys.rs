//! Private keys: generated as kubeadm would (RSA 2048 by default there, ECDSA P-256 here for speed),
//! written as kubeadm writes them (`RSA PRIVATE KEY` / `EC PRIVATE KEY`), and read back in any form.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use aws_lc_rs::encoding::AsDer;
use rcgen::{KeyPair, RsaKeySize, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256};

use crate::error::{PkiError, Result};

/// The key algorithms kubeadm 1.32 offers (`encryptionAlgorithm` in its v1beta4 config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyAlgorithm {
    /// ECDSA on P-256: the lab's default, because it is fast to generate.
    #[default]
    EcdsaP256,
    /// RSA 2048: kubeadm's default.
    Rsa2048,
    Rsa3072,
    Rsa4096,
}

impl KeyAlgorithm {
    pub const ALL: [KeyAlgorithm; 4] = [
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::Rsa3072,
        KeyAlgorithm::Rsa4096,
    ];

    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::EcdsaP256 => "ecdsa-p256",
            KeyAlgorithm::Rsa2048 => "rsa-2048",
            KeyAlgorithm::Rsa3072 => "rsa-3072",
            KeyAlgorithm::Rsa4096 => "rsa-4096",
        }
    }

    /// Generates a fresh key pair of this algorithm.
    pub fn generate(self) -> Result<KeyPair> {
        let size = match self {
            KeyAlgorithm::EcdsaP256 => {
                return KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(sign_err)
            }
            KeyAlgorithm::Rsa2048 => RsaKeySize::_2048,
            KeyAlgorithm::Rsa3072 => RsaKeySize::_3072,
            KeyAlgorithm::Rsa4096 => RsaKeySize::_4096,
        };
        KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, size).map_err(sign_err)
    }

    /// The algorithm of an existing key, so a renewal keeps the key type the cluster chose.
    pub fn of(key: &KeyPair) -> KeyAlgorithm {
        if key.algorithm() == &PKCS_ECDSA_P256_SHA256 {
            return KeyAlgorithm::EcdsaP256;
        }
        // An RSA public key's DER length grows with its modulus; these bounds sit between sizes.
        match rcgen::PublicKeyData::der_bytes(key).len() {
            0..=300 => KeyAlgorithm::Rsa2048,
            301..=430 => KeyAlgorithm::Rsa3072,
            _ => KeyAlgorithm::Rsa4096,
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KeyAlgorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        KeyAlgorithm::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!("unknown key algorithm `{s}`; expected one of ecdsa-p256, rsa-2048, rsa-3072, rsa-4096")
            })
    }
}

fn sign_err(e: rcgen::Error) -> PkiError {
    PkiError::Sign {
        what: "a key pair".into(),
        detail: e.to_string(),
    }
}

/// Encodes a private key as kubeadm does: PKCS#1 `RSA PRIVATE KEY` for RSA, SEC1
/// `EC PRIVATE KEY` for ECDSA (client-go's keyutil writes these "traditional" forms).
pub fn private_key_pem(key: &KeyPair) -> Result<String> {
    // A generated key serializes as PKCS#8; a key read from disk keeps the form it had.
    let serialized = key.serialize_der();
    let (tag, der) = if key.algorithm() == &PKCS_ECDSA_P256_SHA256 {
        let der = match aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &serialized,
        ) {
            Ok(pair) => pair
                .private_key()
                .as_der()
                .map_err(|e| PkiError::Sign {
                    what: "an EC private key".into(),
                    detail: e.to_string(),
                })?
                .as_ref()
                .to_vec(),
            Err(_) => serialized,
        };
        ("EC PRIVATE KEY", der)
    } else {
        (
            "RSA PRIVATE KEY",
            pkcs1_from_pkcs8(&serialized).unwrap_or(serialized),
        )
    };
    Ok(crate::cert::pem_text(&[pem::Pem::new(tag, der)]))
}

/// A PKCS#8 RSA key wraps the PKCS#1 key as its third field, an OCTET STRING.
fn pkcs1_from_pkcs8(pkcs8: &[u8]) -> Result<Vec<u8>> {
    use x509_parser::der_parser::ber::BerObjectContent;
    let bad = |detail: String| PkiError::Sign {
        what: "an RSA private key".into(),
        detail,
    };
    let (_, obj) = x509_parser::der_parser::parse_der(pkcs8).map_err(|e| bad(e.to_string()))?;
    let seq = obj.as_sequence().map_err(|e| bad(e.to_string()))?;
    match seq.get(2).map(|o| &o.content) {
        Some(BerObjectContent::OctetString(inner)) => Ok(inner.to_vec()),
        _ => Err(bad("PKCS#8 structure without a private key".into())),
    }
}

/// Reads a private key from a PEM file in any of the three usual encodings.
pub fn read_private_key(path: &Path) -> Result<KeyPair> {
    let bytes = crate::fs::read(path, "a PEM private key")?;
    parse_private_key(path, &bytes)
}

/// Parses a private key from PEM bytes; `path` only names the source in errors.
pub fn parse_private_key(path: &Path, bytes: &[u8]) -> Result<KeyPair> {
    const EXPECTED: &str = "PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY";
    let block = first_block(path, bytes, EXPECTED)?;
    if !matches!(
        block.tag(),
        "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY"
    ) {
        return Err(PkiError::NotPem {
            path: path.into(),
            expected: EXPECTED,
            found: format!("a `{}` block", block.tag()),
        });
    }
    let der = match block.tag() {
        "PRIVATE KEY" => rustls_pki_types::PrivateKeyDer::Pkcs8(block.contents().to_vec().into()),
        "RSA PRIVATE KEY" => {
            rustls_pki_types::PrivateKeyDer::Pkcs1(block.contents().to_vec().into())
        }
        _ => rustls_pki_types::PrivateKeyDer::Sec1(block.contents().to_vec().into()),
    };
    KeyPair::try_from(&der).map_err(|e| PkiError::BadDer {
        path: path.into(),
        what: "private key",
        detail: format!("{e} (kubeadm accepts only RSA or ECDSA P-256 keys)"),
    })
}

/// The first PEM block of a file, with an error that says what the file held instead.
pub(crate) fn first_block(path: &Path, bytes: &[u8], expected: &'static str) -> Result<pem::Pem> {
    match pem::parse_many(bytes) {
        Ok(blocks) if !blocks.is_empty() => Ok(blocks.into_iter().next().expect("non-empty")),
        Ok(_) => Err(PkiError::NotPem {
            path: path.into(),
            expected,
            found: describe_non_pem(bytes),
        }),
        Err(e) => Err(PkiError::NotPem {
            path: path.into(),
            expected,
            found: format!("a damaged PEM block ({e}); is the file truncated?"),
        }),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn describe_non_pem(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        "an empty file".into()
    } else if let Some(start) = find(bytes, b"-----BEGIN ") {
        let line_end = bytes[start..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(bytes.len(), |i| start + i);
        let begin = String::from_utf8_lossy(&bytes[start..line_end])
            .trim()
            .to_string();
        format!("a damaged PEM block (`{begin}` without its END line); is the file truncated?")
    } else if bytes.first() == Some(&0x30) {
        "binary data that looks like DER; convert it with `openssl x509 -inform der -in FILE -out FILE.pem`".into()
    } else {
        "no PEM block at all".into()
    }
}
