//! Badges and authorities made in code with rcgen, each breakable on demand, a guard that
//! judges them on the lab's clock, and the two assertions every verdict test makes.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SigningKey,
};
use rustls_pki_types::CertificateDer;
use time::macros::datetime;
use time::OffsetDateTime;

use kubecorp_trust::{classify_text, verify, Usage, Verdict, VerdictKind, VerifyRequest};

/// The lab's "now" in these tests: a day after the classic expiry below.
pub(crate) const NOW: OffsetDateTime = datetime!(2026-04-24 10:14:23 UTC);

/// Which key a CA signs with.
#[derive(Clone, Copy)]
pub(crate) enum Alg {
    Ecdsa,
    Rsa,
}

/// A certificate authority: a Founder, or an impostor with the same or another name.
pub(crate) struct Ca {
    pub(crate) params: CertificateParams,
    pub(crate) key: KeyPair,
    pub(crate) der: CertificateDer<'static>,
}

pub(crate) fn ca_params(
    subject: DistinguishedName,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = subject;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyCertSign,
    ];
    params.not_before = not_before;
    params.not_after = not_after;
    params
}

pub(crate) fn common_name(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn
}

pub(crate) fn key(alg: Alg) -> KeyPair {
    match alg {
        Alg::Ecdsa => KeyPair::generate().unwrap(),
        Alg::Rsa => KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap(),
    }
}

impl Ca {
    /// A kubeadm-style root valid for ten years around [`NOW`].
    pub(crate) fn root(name: &str) -> Ca {
        Ca::root_with(
            common_name(name),
            Alg::Ecdsa,
            datetime!(2016-04-25 00:00:00 UTC),
            datetime!(2036-04-23 00:00:00 UTC),
        )
    }

    pub(crate) fn rsa_root(name: &str) -> Ca {
        Ca::root_with(
            common_name(name),
            Alg::Rsa,
            datetime!(2016-04-25 00:00:00 UTC),
            datetime!(2036-04-23 00:00:00 UTC),
        )
    }

    pub(crate) fn root_valid(
        name: &str,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Ca {
        Ca::root_with(common_name(name), Alg::Ecdsa, not_before, not_after)
    }

    pub(crate) fn root_with(
        subject: DistinguishedName,
        alg: Alg,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Ca {
        let params = ca_params(subject, not_before, not_after);
        let key = key(alg);
        let der = params.self_signed(&key).unwrap().der().clone();
        Ca { params, key, der }
    }

    /// An intermediate CA signed by `parent`.
    pub(crate) fn intermediate(name: &str, parent: &Ca, not_after: OffsetDateTime) -> Ca {
        let params = ca_params(
            common_name(name),
            datetime!(2020-01-01 00:00:00 UTC),
            not_after,
        );
        let key = key(Alg::Ecdsa);
        let der = signed(&params, &key, &parent.issuer());
        Ca { params, key, der }
    }

    pub(crate) fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }

    /// Signs `badge` with this CA.
    pub(crate) fn sign(&self, badge: &Badge) -> CertificateDer<'static> {
        self.sign_keeping_key(badge).0
    }

    /// Signs `badge` and hands back its private key too, for a server that must present it.
    pub(crate) fn sign_keeping_key(&self, badge: &Badge) -> (CertificateDer<'static>, KeyPair) {
        let key = key(Alg::Ecdsa);
        let der = signed(&badge.params(), &key, &self.issuer());
        (der, key)
    }
}

/// A certificate made of `params` for `key`, signed by `issuer`.
pub(crate) fn signed(
    params: &CertificateParams,
    key: &KeyPair,
    issuer: &Issuer<'_, impl SigningKey>,
) -> CertificateDer<'static> {
    params.signed_by(key, issuer).unwrap().der().clone()
}

/// A badge to be signed: kubeadm-like defaults, each one breakable on demand.
#[derive(Clone)]
pub(crate) struct Badge {
    pub(crate) common_name: String,
    pub(crate) sans: Vec<String>,
    pub(crate) usages: Vec<ExtendedKeyUsagePurpose>,
    pub(crate) not_before: OffsetDateTime,
    pub(crate) not_after: OffsetDateTime,
    pub(crate) is_ca: IsCa,
}

impl Badge {
    /// kube-apiserver's serving badge with kubeadm's SANs, in kubeadm's order.
    pub(crate) fn apiserver() -> Badge {
        Badge {
            common_name: "kube-apiserver".into(),
            sans: [
                "cp-1",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
                "10.96.0.1",
                "192.168.1.10",
            ]
            .map(String::from)
            .to_vec(),
            usages: vec![ExtendedKeyUsagePurpose::ServerAuth],
            not_before: datetime!(2026-01-01 00:00:00 UTC),
            not_after: datetime!(2027-01-01 00:00:00 UTC),
            is_ca: IsCa::NoCa,
        }
    }

    /// A client badge, as in a kubeconfig.
    pub(crate) fn client(name: &str) -> Badge {
        Badge {
            common_name: name.into(),
            sans: vec![],
            usages: vec![ExtendedKeyUsagePurpose::ClientAuth],
            ..Badge::apiserver()
        }
    }

    pub(crate) fn sans(mut self, sans: &[&str]) -> Badge {
        self.sans = sans.iter().map(|s| s.to_string()).collect();
        self
    }

    pub(crate) fn usages(mut self, usages: Vec<ExtendedKeyUsagePurpose>) -> Badge {
        self.usages = usages;
        self
    }

    pub(crate) fn valid(mut self, not_before: OffsetDateTime, not_after: OffsetDateTime) -> Badge {
        self.not_before = not_before;
        self.not_after = not_after;
        self
    }

    pub(crate) fn params(&self) -> CertificateParams {
        let mut params = CertificateParams::new(self.sans.clone()).unwrap();
        params.distinguished_name = common_name(&self.common_name);
        params.extended_key_usages = self.usages.clone();
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.not_before = self.not_before;
        params.not_after = self.not_after;
        params.is_ca = self.is_ca;
        params
    }
}

/// A guard: what it trusts, its clock, and what it asks of a badge.
pub(crate) struct Guard {
    pub(crate) roots: Vec<CertificateDer<'static>>,
    pub(crate) intermediates: Vec<CertificateDer<'static>>,
    pub(crate) name: Option<String>,
    pub(crate) usage: Option<Usage>,
    pub(crate) at: OffsetDateTime,
}

impl Guard {
    pub(crate) fn trusting(roots: &[&Ca]) -> Guard {
        Guard {
            roots: roots.iter().map(|ca| ca.der.clone()).collect(),
            intermediates: vec![],
            name: None,
            usage: None,
            at: NOW,
        }
    }

    /// A client dialling `name` and checking the server's badge (EKU serverAuth).
    pub(crate) fn dialling(mut self, name: &str) -> Guard {
        self.name = Some(name.into());
        self.usage = Some(Usage::Server);
        self
    }

    /// A server checking a client's badge (EKU clientAuth, no name).
    pub(crate) fn checking_clients(mut self) -> Guard {
        self.usage = Some(Usage::Client);
        self
    }

    pub(crate) fn with_intermediates(
        mut self,
        intermediates: &[&CertificateDer<'static>],
    ) -> Guard {
        self.intermediates = intermediates.iter().map(|der| (*der).clone()).collect();
        self
    }

    pub(crate) fn at(mut self, at: OffsetDateTime) -> Guard {
        self.at = at;
        self
    }

    pub(crate) fn check(&self, leaf: &CertificateDer<'_>) -> Verdict {
        verify(&VerifyRequest {
            leaf,
            intermediates: &self.intermediates,
            roots: &self.roots,
            name: self.name.as_deref(),
            usage: self.usage,
            at: self.at,
        })
    }
}

/// Asserts the kind and the exact Go text, and that the text classifies back to the kind.
pub(crate) fn assert_verdict(verdict: &Verdict, kind: VerdictKind, text: &str) {
    assert_eq!(
        verdict.text, text,
        "explanation was: {}",
        verdict.explanation
    );
    assert_eq!(verdict.kind, kind, "for {text}");
    assert_eq!(verdict.to_string(), text);
    let classified = classify_text(&format!("tls: failed to verify certificate: {text}"));
    let expected = match kind {
        VerdictKind::CaExpired => VerdictKind::Expired,
        VerdictKind::CaNotYetValid => VerdictKind::NotYetValid,
        other => other,
    };
    assert_eq!(classified, Some(expected), "classify_text({text})");
    assert!(!verdict.explanation.is_empty() && !verdict.hint.is_empty());
}

/// Asserts that the lab's plain explanation of `verdict` says `part`.
pub(crate) fn assert_explains(verdict: &Verdict, part: &str) {
    assert!(
        verdict.explanation.contains(part),
        "wanted {part:?} in: {}",
        verdict.explanation
    );
}

// ----- a version 1 certificate, by hand (rcgen only writes v3) -------------------------------

/// A DER TLV.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// A version 1 certificate (no version field, no extensions) for `name`, signed by `parent`
/// with ECDSA P-256 / SHA-256.
pub(crate) fn v1_certificate(name: &str, key: &KeyPair, parent: &Ca) -> CertificateDer<'static> {
    let (_, parent_cert) = x509_parser::parse_x509_certificate(&parent.der).unwrap();
    let ecdsa_with_sha256 = tlv(
        0x30,
        &tlv(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]),
    );
    let subject = tlv(
        0x30,
        &tlv(
            0x31,
            &tlv(
                0x30,
                &[tlv(0x06, &[0x55, 0x04, 0x03]), tlv(0x0c, name.as_bytes())].concat(),
            ),
        ),
    );
    let validity = tlv(
        0x30,
        &[tlv(0x17, b"200101000000Z"), tlv(0x17, b"350101000000Z")].concat(),
    );
    let tbs = tlv(
        0x30,
        &[
            tlv(0x02, &[0x01, 0x23]),
            ecdsa_with_sha256.clone(),
            parent_cert.tbs_certificate.issuer.as_raw().to_vec(),
            validity,
            subject,
            key.subject_public_key_info(),
        ]
        .concat(),
    );
    // The parent is self-signed, so its issuer is its subject: the v1 certificate's issuer.
    let signature = parent.key.sign(&tbs).unwrap();
    let mut bit_string = vec![0];
    bit_string.extend(signature);
    CertificateDer::from(tlv(
        0x30,
        &[tbs, ecdsa_with_sha256, tlv(0x03, &bit_string)].concat(),
    ))
}
