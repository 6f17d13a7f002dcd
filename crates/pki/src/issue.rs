//! Signing badges: a CA (the Founder's stamp) turns a badge's shape and a public key into a certificate.
//!
//! kubeadm 1.31+ backdates every certificate by five minutes (`CertificateBackdate`) so a node
//! whose clock lags a little still accepts a badge made a moment ago, and gives leaves one year
//! and CAs ten. Serial numbers are random in [1, 2^63), as kubeadm's are.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls_pki_types::CertificateDer;
use time::{Duration, OffsetDateTime};

use crate::cert::CertInfo;
use crate::error::{PkiError, Result};
use crate::profile::{Authority, ClusterFacts, Profile, San, Usage};

/// A leaf's default lifetime: 8760h.
pub const LEAF_VALIDITY: Duration = Duration::hours(8760);
/// A CA's default lifetime: 87600h.
pub const CA_VALIDITY: Duration = Duration::hours(87600);
/// How far back kubeadm sets NotBefore.
pub const BACKDATE: Duration = Duration::minutes(5);

/// What is written on a badge, independent of who signs it: subject, names and usages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    pub common_name: String,
    pub organizations: Vec<String>,
    pub sans: Vec<San>,
    pub server_auth: bool,
    pub client_auth: bool,
}

impl Shape {
    /// The shape kubeadm gives a profile on this cluster.
    pub fn of(profile: &Profile, facts: &ClusterFacts) -> Shape {
        let (server_auth, client_auth) = match profile.usage {
            Usage::Server => (true, false),
            Usage::Client => (false, true),
            Usage::ServerAndClient => (true, true),
        };
        Shape {
            common_name: profile.common_name(facts),
            organizations: profile
                .organizations
                .iter()
                .map(|o| o.to_string())
                .collect(),
            sans: profile.alt_names(facts),
            server_auth,
            client_auth,
        }
    }

    /// The shape of an existing certificate, as `kubeadm certs renew` copies it from disk.
    pub fn from_cert(info: &CertInfo) -> Shape {
        Shape {
            common_name: info.subject_cn.clone(),
            organizations: info.subject_orgs.clone(),
            sans: info.sans.clone(),
            server_auth: info.has_server_auth(),
            client_auth: info.has_client_auth(),
        }
    }

    fn params(
        &self,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<CertificateParams> {
        let mut params = CertificateParams::default();
        params.distinguished_name = subject(&self.organizations, &self.common_name);
        params.subject_alt_names = self
            .sans
            .iter()
            .map(|san| match san {
                San::Dns(d) => d
                    .clone()
                    .try_into()
                    .map(SanType::DnsName)
                    .map_err(|e: rcgen::Error| sign_error(&self.common_name, e)),
                San::Ip(ip) => Ok(SanType::IpAddress(*ip)),
            })
            .collect::<Result<_>>()?;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        if self.server_auth {
            params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ServerAuth);
        }
        if self.client_auth {
            params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ClientAuth);
        }
        params.use_authority_key_identifier_extension = true;
        params.not_before = not_before;
        params.not_after = not_after;
        params.serial_number = Some(random_serial());
        Ok(params)
    }
}

/// Go's pkix.Name puts O before CN, so `openssl x509 -subject` reads `O = …, CN = …`.
fn subject(orgs: &[String], cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for o in orgs {
        dn.push(DnType::OrganizationName, o.as_str());
    }
    dn.push(DnType::CommonName, cn);
    dn
}

/// A random serial in [1, 2^63), like kubeadm's.
pub fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 8];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random generator failed");
    bytes[0] &= 0x7f;
    if bytes.iter().all(|b| *b == 0) {
        bytes[7] = 1;
    }
    SerialNumber::from_slice(&bytes)
}

fn sign_error(what: &str, e: rcgen::Error) -> PkiError {
    PkiError::Sign {
        what: what.to_string(),
        detail: e.to_string(),
    }
}

/// A certificate authority in hand: its certificate and its private key.
pub struct Ca {
    pub authority: Option<Authority>,
    pub cert: CertificateDer<'static>,
    pub key: KeyPair,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Ca")
            .field("authority", &self.authority)
            .finish_non_exhaustive()
    }
}

impl Ca {
    /// A new self-signed CA as kubeadm makes one: CA:TRUE, key usages DigitalSignature,
    /// KeyEncipherment and CertSign, and its own CN copied into a DNS SAN.
    pub fn generate(
        common_name: &str,
        key: KeyPair,
        now: OffsetDateTime,
        validity: Duration,
    ) -> Result<Ca> {
        let mut params = CertificateParams::default();
        params.distinguished_name = subject(&[], common_name);
        params.subject_alt_names = match common_name.to_string().try_into() {
            Ok(name) => vec![SanType::DnsName(name)],
            Err(_) => Vec::new(),
        };
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
            KeyUsagePurpose::KeyCertSign,
        ];
        (params.not_before, params.not_after) =
            crate::when::validity(common_name, now, -BACKDATE, validity)?;
        params.serial_number = Some(random_serial());
        let cert = params
            .self_signed(&key)
            .map_err(|e| sign_error(common_name, e))?;
        Ok(Ca {
            authority: None,
            cert: cert.der().clone(),
            key,
        })
    }

    /// Signs `shape` for the holder of `public_key` (a key pair or a CSR's key).
    pub fn issue(
        &self,
        shape: &Shape,
        public_key: &KeyPair,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<CertificateDer<'static>> {
        for (label, t) in [("NotBefore", not_before), ("NotAfter", not_after)] {
            if !crate::when::certifiable(t) {
                return Err(crate::when::TimeError::NotCertifiable {
                    what: format!("{}'s {label}", shape.common_name),
                    time: format!("the year {}", t.year()),
                }
                .into());
            }
        }
        let params = shape.params(not_before, not_after)?;
        let issuer = Issuer::from_ca_cert_der(&self.cert, &self.key)
            .map_err(|e| sign_error(&shape.common_name, e))?;
        let cert = params
            .signed_by(public_key, &issuer)
            .map_err(|e| sign_error(&shape.common_name, e))?;
        Ok(cert.der().clone())
    }

    /// Signs `shape` with the default leaf validity starting at `now` (backdated 5 minutes).
    pub fn issue_now(
        &self,
        shape: &Shape,
        public_key: &KeyPair,
        now: OffsetDateTime,
    ) -> Result<CertificateDer<'static>> {
        let (not_before, not_after) =
            crate::when::validity(&shape.common_name, now, -BACKDATE, LEAF_VALIDITY)?;
        self.issue(shape, public_key, not_before, not_after)
    }
}
