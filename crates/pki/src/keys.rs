//! Private keys: generated as kubeadm 1.32 generates them (RSA-2048 by default, or the
//! `encryptionAlgorithm` chosen), written as kubeadm writes them (`RSA PRIVATE KEY` /
//! `EC PRIVATE KEY`), and read back in any form. Many keys at once are made side by side, one
//! generator per core: an RSA key costs tens of milliseconds of prime search, an ECDSA key
//! almost nothing.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use aws_lc_rs::encoding::AsDer;
use rcgen::{
    KeyPair, RsaKeySize, SignatureAlgorithm, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384,
    PKCS_RSA_SHA256,
};

use crate::error::{PkiError, Result};

/// The key algorithms kubeadm 1.32 offers, by the names of its v1beta4 `encryptionAlgorithm`
/// (`EncryptionAlgorithmType` in `cmd/kubeadm/app/apis/kubeadm/v1beta4/types.go`:
/// `ECDSA-P256`, `ECDSA-P384`, `RSA-2048`, `RSA-3072`, `RSA-4096`). kubeadm's
/// `pkiutil.NewPrivateKey` makes every CA, badge and kubeconfig key, and `sa.key`, with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum KeyAlgorithm {
    /// RSA 2048: kubeadm's default (`DefaultEncryptionAlgorithm`), so the lab's too.
    #[default]
    #[serde(rename = "RSA-2048", alias = "rsa-2048")]
    Rsa2048,
    #[serde(rename = "RSA-3072", alias = "rsa-3072")]
    Rsa3072,
    #[serde(rename = "RSA-4096", alias = "rsa-4096")]
    Rsa4096,
    /// ECDSA on P-256: a thousand times quicker to make than RSA, for labs where the key type
    /// is not the lesson.
    #[serde(rename = "ECDSA-P256", alias = "ecdsa-p256")]
    EcdsaP256,
    #[serde(rename = "ECDSA-P384", alias = "ecdsa-p384")]
    EcdsaP384,
}

impl KeyAlgorithm {
    pub const ALL: [KeyAlgorithm; 5] = [
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::Rsa3072,
        KeyAlgorithm::Rsa4096,
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
    ];

    /// kubeadm's name for it, as `encryptionAlgorithm` spells it.
    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::Rsa2048 => "RSA-2048",
            KeyAlgorithm::Rsa3072 => "RSA-3072",
            KeyAlgorithm::Rsa4096 => "RSA-4096",
            KeyAlgorithm::EcdsaP256 => "ECDSA-P256",
            KeyAlgorithm::EcdsaP384 => "ECDSA-P384",
        }
    }

    /// Whether keys of this kind take a prime search (slow) to make.
    pub fn is_rsa(self) -> bool {
        matches!(
            self,
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096
        )
    }

    /// Generates a fresh key pair of this algorithm.
    pub fn generate(self) -> Result<KeyPair> {
        let size = match self {
            KeyAlgorithm::EcdsaP256 => {
                return KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(sign_err)
            }
            KeyAlgorithm::EcdsaP384 => {
                return KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).map_err(sign_err)
            }
            KeyAlgorithm::Rsa2048 => RsaKeySize::_2048,
            KeyAlgorithm::Rsa3072 => RsaKeySize::_3072,
            KeyAlgorithm::Rsa4096 => RsaKeySize::_4096,
        };
        KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, size).map_err(sign_err)
    }

    /// Generates `count` fresh key pairs, side by side on every core the machine offers (each
    /// generator takes the next key to make, so a slow prime search does not hold the others).
    pub fn generate_many(self, count: usize) -> Result<Vec<KeyPair>> {
        KeyAlgorithm::generate_each(&vec![self; count])
    }

    /// One fresh key pair per entry of `algorithms`, in that order, made side by side as
    /// [`KeyAlgorithm::generate_many`] makes them (a renewal keeps each badge's own key type).
    pub fn generate_each(algorithms: &[KeyAlgorithm]) -> Result<Vec<KeyPair>> {
        let count = algorithms.len();
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(count);
        if workers <= 1 || !algorithms.iter().any(|a| a.is_rsa()) {
            return algorithms.iter().map(|a| a.generate()).collect();
        }
        let next = AtomicUsize::new(0);
        let made: Mutex<Vec<Option<Result<KeyPair>>>> =
            Mutex::new(std::iter::repeat_with(|| None).take(count).collect());
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(algorithm) = algorithms.get(i) else {
                        break;
                    };
                    let key = algorithm.generate();
                    made.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(key);
                });
            }
        });
        made.into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .into_iter()
            .zip(algorithms)
            // Every index was taken by one generator; a gap would only be made here instead.
            .map(|(key, algorithm)| key.unwrap_or_else(|| algorithm.generate()))
            .collect()
    }

    /// The algorithm of an existing key, so a renewal keeps the key type the cluster chose.
    pub fn of(key: &KeyPair) -> KeyAlgorithm {
        let alg: &SignatureAlgorithm = key.algorithm();
        if alg == &PKCS_ECDSA_P256_SHA256 {
            return KeyAlgorithm::EcdsaP256;
        }
        if alg == &PKCS_ECDSA_P384_SHA384 {
            return KeyAlgorithm::EcdsaP384;
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

/// kubeadm's names, in any case (`RSA-2048`, `rsa-2048`).
impl FromStr for KeyAlgorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        KeyAlgorithm::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<&str> = KeyAlgorithm::ALL.iter().map(|a| a.name()).collect();
                format!(
                    "unknown key algorithm `{s}`; expected one of {} (kubeadm's encryptionAlgorithm)",
                    names.join(", ")
                )
            })
    }
}

/// Keys made ahead, all at once and side by side, then handed out one at a time: `pki init`
/// knows how many it will need before it signs anything.
pub struct KeySupply {
    algorithm: KeyAlgorithm,
    ready: Vec<KeyPair>,
    /// The pool names of the keys drawn from a pool (see [`crate::key_source`]).
    drawn: Vec<String>,
}

impl KeySupply {
    /// `count` keys of `algorithm`, made now, or drawn from `pool` (RSA only: ECDSA keys cost
    /// less to make than to read).
    pub fn new(
        algorithm: KeyAlgorithm,
        count: usize,
        pool: Option<&crate::pool::KeyPool>,
    ) -> Result<KeySupply> {
        let (ready, drawn) = match pool {
            Some(pool) if algorithm.is_rsa() => {
                let drawn = pool.draw_named(algorithm, count, &Default::default())?;
                let names = drawn.iter().filter_map(|d| d.name.clone()).collect();
                (drawn.into_iter().map(|d| d.key).collect(), names)
            }
            _ => (algorithm.generate_many(count)?, Vec::new()),
        };
        Ok(KeySupply {
            algorithm,
            ready,
            drawn,
        })
    }

    /// The next key: one made ahead, or a fresh one if the count fell short.
    pub fn take(&mut self) -> Result<KeyPair> {
        match self.ready.pop() {
            Some(key) => Ok(key),
            None => self.algorithm.generate(),
        }
    }

    /// The algorithm and pool names of the keys drawn from a pool.
    pub fn drawn(&self) -> (KeyAlgorithm, &[String]) {
        (self.algorithm, &self.drawn)
    }
}

fn sign_err(e: rcgen::Error) -> PkiError {
    PkiError::Sign {
        what: "a key pair".into(),
        detail: e.to_string(),
    }
}

/// Encodes a private key as kubeadm does: PKCS#1 `RSA PRIVATE KEY` for RSA, SEC1
/// `EC PRIVATE KEY` for ECDSA. kubeadm's `pkiutil.WriteKey`
/// (`cmd/kubeadm/app/util/pkiutil/pki_helpers.go`, v1.32) calls client-go's
/// `keyutil.MarshalPrivateKeyToPEM` (`staging/src/k8s.io/client-go/util/keyutil/key.go`), which
/// writes these "traditional" forms, never PKCS#8.
pub fn private_key_pem(key: &KeyPair) -> Result<String> {
    // A generated key serializes as PKCS#8; a key read from disk keeps the form it had.
    let serialized = key.serialize_der();
    let curve = if key.algorithm() == &PKCS_ECDSA_P256_SHA256 {
        Some(&aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING)
    } else if key.algorithm() == &PKCS_ECDSA_P384_SHA384 {
        Some(&aws_lc_rs::signature::ECDSA_P384_SHA384_ASN1_SIGNING)
    } else {
        None
    };
    let (tag, der) = match curve {
        Some(curve) => {
            let der = match aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(curve, &serialized) {
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
        }
        None => (
            "RSA PRIVATE KEY",
            pkcs1_from_pkcs8(&serialized).unwrap_or(serialized),
        ),
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
        detail: format!("{e} (kubeadm accepts only RSA or ECDSA keys)"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_is_written_as_kubeadm_writes_it_and_read_back_as_itself() {
        for (algorithm, tag) in [
            (KeyAlgorithm::Rsa2048, "RSA PRIVATE KEY"),
            (KeyAlgorithm::EcdsaP256, "EC PRIVATE KEY"),
            (KeyAlgorithm::EcdsaP384, "EC PRIVATE KEY"),
        ] {
            let pem_text = private_key_pem(&algorithm.generate().unwrap()).unwrap();
            assert!(
                pem_text.starts_with(&format!("-----BEGIN {tag}-----\n")),
                "{algorithm}: {pem_text}"
            );
            let back = parse_private_key(Path::new("k.key"), pem_text.as_bytes()).unwrap();
            assert_eq!(KeyAlgorithm::of(&back), algorithm);
        }
    }

    #[test]
    fn kubeadm_names_are_read_in_any_case_and_an_unknown_one_lists_them() {
        assert_eq!("RSA-2048".parse(), Ok(KeyAlgorithm::Rsa2048));
        assert_eq!("ecdsa-p384".parse(), Ok(KeyAlgorithm::EcdsaP384));
        assert_eq!(
            "rsa-1024".parse::<KeyAlgorithm>(),
            Err("unknown key algorithm `rsa-1024`; expected one of RSA-2048, RSA-3072, RSA-4096, ECDSA-P256, ECDSA-P384 (kubeadm's encryptionAlgorithm)".into())
        );
    }

    #[test]
    fn many_rsa_keys_made_side_by_side_are_all_different() {
        let keys = KeyAlgorithm::Rsa2048.generate_many(3).unwrap();
        let mut public: Vec<&[u8]> = keys.iter().map(rcgen::PublicKeyData::der_bytes).collect();
        public.sort();
        public.dedup();
        assert_eq!(public.len(), 3);
        assert!(keys
            .iter()
            .all(|k| KeyAlgorithm::of(k) == KeyAlgorithm::Rsa2048));
    }

    #[test]
    fn keys_of_mixed_kinds_made_side_by_side_come_back_in_the_order_asked() {
        let asked = [
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::Rsa2048,
            KeyAlgorithm::EcdsaP384,
            KeyAlgorithm::Rsa2048,
            KeyAlgorithm::EcdsaP256,
        ];
        let keys = KeyAlgorithm::generate_each(&asked).unwrap();
        let made: Vec<KeyAlgorithm> = keys.iter().map(KeyAlgorithm::of).collect();
        assert_eq!(made, asked);
    }
}
