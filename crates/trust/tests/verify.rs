//! The guard's check, end to end: badges made in code with rcgen, broken on demand, and the
//! exact line Go would print for each.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SerialNumber, SigningKey,
};
use rustls_pki_types::CertificateDer;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use kubecorp_trust::{classify_text, verify, LabClock, Usage, Verdict, VerdictKind, VerifyRequest};

/// The lab's "now" in these tests: a day after the classic expiry below.
const NOW: OffsetDateTime = datetime!(2026-04-24 10:14:23 UTC);

// ----- fixtures ------------------------------------------------------------------------------

/// Which key a CA signs with.
#[derive(Clone, Copy)]
enum Alg {
    Ecdsa,
    Rsa,
}

/// A certificate authority: a Founder, or an impostor with the same or another name.
struct Ca {
    params: CertificateParams,
    key: KeyPair,
    der: CertificateDer<'static>,
}

fn ca_params(
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

fn common_name(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn
}

fn key(alg: Alg) -> KeyPair {
    match alg {
        Alg::Ecdsa => KeyPair::generate().unwrap(),
        Alg::Rsa => KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap(),
    }
}

impl Ca {
    /// A kubeadm-style root valid for ten years around [`NOW`].
    fn root(name: &str) -> Ca {
        Ca::root_with(
            common_name(name),
            Alg::Ecdsa,
            datetime!(2016-04-25 00:00:00 UTC),
            datetime!(2036-04-23 00:00:00 UTC),
        )
    }

    fn rsa_root(name: &str) -> Ca {
        Ca::root_with(
            common_name(name),
            Alg::Rsa,
            datetime!(2016-04-25 00:00:00 UTC),
            datetime!(2036-04-23 00:00:00 UTC),
        )
    }

    fn root_valid(name: &str, not_before: OffsetDateTime, not_after: OffsetDateTime) -> Ca {
        Ca::root_with(common_name(name), Alg::Ecdsa, not_before, not_after)
    }

    fn root_with(
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
    fn intermediate(name: &str, parent: &Ca, not_after: OffsetDateTime) -> Ca {
        let params = ca_params(
            common_name(name),
            datetime!(2020-01-01 00:00:00 UTC),
            not_after,
        );
        let key = key(Alg::Ecdsa);
        let der = signed(&params, &key, &parent.issuer());
        Ca { params, key, der }
    }

    fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }

    /// Signs `badge` with this CA.
    fn sign(&self, badge: &Badge) -> CertificateDer<'static> {
        self.sign_keeping_key(badge).0
    }

    /// Signs `badge` and hands back its private key too, for a server that must present it.
    fn sign_keeping_key(&self, badge: &Badge) -> (CertificateDer<'static>, KeyPair) {
        let key = key(Alg::Ecdsa);
        let der = signed(&badge.params(), &key, &self.issuer());
        (der, key)
    }
}

/// A certificate made of `params` for `key`, signed by `issuer`.
fn signed(
    params: &CertificateParams,
    key: &KeyPair,
    issuer: &Issuer<'_, impl SigningKey>,
) -> CertificateDer<'static> {
    params.signed_by(key, issuer).unwrap().der().clone()
}

/// A badge to be signed: kubeadm-like defaults, each one breakable on demand.
#[derive(Clone)]
struct Badge {
    common_name: String,
    sans: Vec<String>,
    usages: Vec<ExtendedKeyUsagePurpose>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    is_ca: IsCa,
}

impl Badge {
    /// kube-apiserver's serving badge with kubeadm's SANs, in kubeadm's order.
    fn apiserver() -> Badge {
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
    fn client(name: &str) -> Badge {
        Badge {
            common_name: name.into(),
            sans: vec![],
            usages: vec![ExtendedKeyUsagePurpose::ClientAuth],
            ..Badge::apiserver()
        }
    }

    fn sans(mut self, sans: &[&str]) -> Badge {
        self.sans = sans.iter().map(|s| s.to_string()).collect();
        self
    }

    fn usages(mut self, usages: Vec<ExtendedKeyUsagePurpose>) -> Badge {
        self.usages = usages;
        self
    }

    fn valid(mut self, not_before: OffsetDateTime, not_after: OffsetDateTime) -> Badge {
        self.not_before = not_before;
        self.not_after = not_after;
        self
    }

    fn params(&self) -> CertificateParams {
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
struct Guard {
    roots: Vec<CertificateDer<'static>>,
    intermediates: Vec<CertificateDer<'static>>,
    name: Option<String>,
    usage: Option<Usage>,
    at: OffsetDateTime,
}

impl Guard {
    fn trusting(roots: &[&Ca]) -> Guard {
        Guard {
            roots: roots.iter().map(|ca| ca.der.clone()).collect(),
            intermediates: vec![],
            name: None,
            usage: None,
            at: NOW,
        }
    }

    /// A client dialling `name` and checking the server's badge (EKU serverAuth).
    fn dialling(mut self, name: &str) -> Guard {
        self.name = Some(name.into());
        self.usage = Some(Usage::Server);
        self
    }

    /// A server checking a client's badge (EKU clientAuth, no name).
    fn checking_clients(mut self) -> Guard {
        self.usage = Some(Usage::Client);
        self
    }

    fn with_intermediates(mut self, intermediates: &[&CertificateDer<'static>]) -> Guard {
        self.intermediates = intermediates.iter().map(|der| (*der).clone()).collect();
        self
    }

    fn at(mut self, at: OffsetDateTime) -> Guard {
        self.at = at;
        self
    }

    fn check(&self, leaf: &CertificateDer<'_>) -> Verdict {
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
fn assert_verdict(verdict: &Verdict, kind: VerdictKind, text: &str) {
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
fn assert_explains(verdict: &Verdict, part: &str) {
    assert!(
        verdict.explanation.contains(part),
        "wanted {part:?} in: {}",
        verdict.explanation
    );
}

// ----- valid ---------------------------------------------------------------------------------

#[test]
fn a_badge_signed_by_the_cluster_ca_gets_in() {
    let ca = Ca::root("kubernetes");
    let verdict = Guard::trusting(&[&ca])
        .dialling("kubernetes.default.svc")
        .check(&ca.sign(&Badge::apiserver()));
    assert!(verdict.is_valid(), "{verdict:?}");
    assert_eq!(verdict.kind, VerdictKind::Valid);

    let admin = ca.sign(&Badge::client("kubernetes-admin"));
    assert!(Guard::trusting(&[&ca])
        .checking_clients()
        .check(&admin)
        .is_valid());
}

#[test]
fn a_badge_is_still_good_at_the_very_second_of_its_not_after() {
    let ca = Ca::root("kubernetes");
    let badge = ca.sign(&Badge::client("john").valid(
        datetime!(2025-04-23 16:42:11 UTC),
        datetime!(2026-04-23 16:42:11 UTC),
    ));
    let guard = Guard::trusting(&[&ca]).checking_clients();
    assert!(guard
        .at(datetime!(2026-04-23 16:42:11 UTC))
        .check(&badge)
        .is_valid());
}

#[test]
fn a_badge_signed_by_an_intermediate_chains_to_the_root() {
    let root = Ca::root("kubernetes");
    let intermediate = Ca::intermediate(
        "kubecorp-issuing",
        &root,
        datetime!(2030-01-01 00:00:00 UTC),
    );
    let badge = intermediate.sign(&Badge::apiserver());
    let verdict = Guard::trusting(&[&root])
        .with_intermediates(&[&intermediate.der])
        .dialling("kubernetes")
        .check(&badge);
    assert!(verdict.is_valid(), "{verdict:?}");
}

#[test]
fn a_trust_bundle_with_the_old_and_the_new_cluster_ca_accepts_badges_from_the_new_one() {
    // CA rotation: both CAs are called "kubernetes"; the old one is tried first and fails its
    // signature check, the new one verifies. Go keeps looking, and so must we.
    let old = Ca::root("kubernetes");
    let new = Ca::root("kubernetes");
    let badge = new.sign(&Badge::apiserver());
    assert!(Guard::trusting(&[&old, &new])
        .dialling("kubernetes")
        .check(&badge)
        .is_valid());
}

#[test]
fn a_badge_without_an_eku_extension_is_fine_for_any_usage() {
    let ca = Ca::root("kubernetes");
    let badge = ca.sign(&Badge::apiserver().usages(vec![]));
    assert!(Guard::trusting(&[&ca])
        .dialling("kubernetes")
        .check(&badge)
        .is_valid());
    assert!(Guard::trusting(&[&ca])
        .checking_clients()
        .check(&badge)
        .is_valid());
}

// ----- dates ---------------------------------------------------------------------------------

#[test]
fn an_expired_client_badge_reads_as_go_prints_it() {
    let ca = Ca::root("kubernetes");
    let badge = ca.sign(&Badge::client("kubernetes-admin").valid(
        datetime!(2025-04-23 16:42:11 UTC),
        datetime!(2026-04-23 16:42:11 UTC),
    ));
    let verdict = Guard::trusting(&[&ca]).checking_clients().check(&badge);
    assert_verdict(
        &verdict,
        VerdictKind::Expired,
        "x509: certificate has expired or is not yet valid: current time 2026-04-24T10:14:23Z is after 2026-04-23T16:42:11Z",
    );
    assert_explains(
        &verdict,
        "\"kubernetes-admin\" ran out at 2026-04-23T16:42:11Z",
    );
    assert!(verdict.hint.contains("kubecorp certs renew NAME"));
    assert!(verdict.hint.contains("openssl x509 -noout -dates -in FILE"));
}

#[test]
fn a_badge_from_the_future_reads_as_not_yet_valid() {
    let ca = Ca::root("kubernetes");
    let badge = ca.sign(&Badge::apiserver().valid(
        datetime!(2026-04-25 00:00:00 UTC),
        datetime!(2027-04-25 00:00:00 UTC),
    ));
    assert_verdict(
        &Guard::trusting(&[&ca]).dialling("kubernetes").check(&badge),
        VerdictKind::NotYetValid,
        "x509: certificate has expired or is not yet valid: current time 2026-04-24T10:14:23Z is before 2026-04-25T00:00:00Z",
    );
}

#[test]
fn an_expired_cluster_ca_is_reported_with_the_cas_own_not_after() {
    // webpki alone would accept this chain: it never checks a trust anchor's dates. Go does.
    let ca = Ca::root_valid(
        "kubernetes",
        datetime!(2016-04-23 00:00:00 UTC),
        datetime!(2026-04-22 09:00:00 UTC),
    );
    let badge = ca.sign(&Badge::apiserver());
    let verdict = Guard::trusting(&[&ca]).dialling("kubernetes").check(&badge);
    assert_verdict(
        &verdict,
        VerdictKind::CaExpired,
        "x509: certificate has expired or is not yet valid: current time 2026-04-24T10:14:23Z is after 2026-04-22T09:00:00Z",
    );
    assert_explains(
        &verdict,
        "the CA \"kubernetes\" that signed it ran out at 2026-04-22T09:00:00Z",
    );

    // The reason the lab checks this itself: rustls-webpki alone lets the chain through.
    let anchors = [webpki::anchor_from_trusted_cert(&ca.der).unwrap()];
    let now = rustls_pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        NOW.unix_timestamp() as u64,
    ));
    let end_entity = webpki::EndEntityCert::try_from(&badge).unwrap();
    let webpki_alone = end_entity.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &[],
        now,
        webpki::KeyUsage::server_auth(),
        None,
        None,
    );
    assert!(webpki_alone.is_ok(), "{:?}", webpki_alone.err());
}

#[test]
fn a_cluster_ca_from_the_future_is_reported_with_the_cas_own_not_before() {
    let ca = Ca::root_valid(
        "kubernetes",
        datetime!(2026-05-01 00:00:00 UTC),
        datetime!(2036-05-01 00:00:00 UTC),
    );
    let badge = ca.sign(&Badge::client("kubernetes-admin"));
    assert_verdict(
        &Guard::trusting(&[&ca]).checking_clients().check(&badge),
        VerdictKind::CaNotYetValid,
        "x509: certificate has expired or is not yet valid: current time 2026-04-24T10:14:23Z is before 2026-05-01T00:00:00Z",
    );
}

#[test]
fn an_expired_intermediate_is_reported_as_a_ca_expiry() {
    let root = Ca::root("kubernetes");
    let intermediate = Ca::intermediate(
        "kubecorp-issuing",
        &root,
        datetime!(2026-03-01 00:00:00 UTC),
    );
    let badge = intermediate.sign(&Badge::apiserver());
    let guard = Guard::trusting(&[&root])
        .with_intermediates(&[&intermediate.der])
        .dialling("kubernetes");
    assert_verdict(
        &guard.check(&badge),
        VerdictKind::CaExpired,
        "x509: certificate has expired or is not yet valid: current time 2026-04-24T10:14:23Z is after 2026-03-01T00:00:00Z",
    );
}

#[test]
fn advancing_the_lab_clock_a_year_expires_a_one_year_badge() {
    let clock = LabClock::fixed(datetime!(2026-01-02 00:00:00 UTC));
    let ca = Ca::root("kubernetes");
    let badge = ca.sign(&Badge::client("system:kube-scheduler"));
    let guard = |at| {
        Guard::trusting(&[&ca])
            .checking_clients()
            .at(at)
            .check(&badge)
    };
    assert!(guard(clock.now()).is_valid());

    clock.advance(Duration::days(365));
    assert_verdict(
        &guard(clock.now()),
        VerdictKind::Expired,
        "x509: certificate has expired or is not yet valid: current time 2027-01-02T00:00:00Z is after 2027-01-01T00:00:00Z",
    );
}

// ----- authorities ---------------------------------------------------------------------------

#[test]
fn a_badge_from_a_rogue_ca_is_signed_by_unknown_authority() {
    let ca = Ca::root("kubernetes");
    let rogue = Ca::root("rogue-ca");
    let verdict = Guard::trusting(&[&ca])
        .dialling("kubernetes")
        .check(&rogue.sign(&Badge::apiserver()));
    assert_verdict(
        &verdict,
        VerdictKind::UnknownAuthority,
        "x509: certificate signed by unknown authority",
    );
    assert_explains(&verdict, "signed by \"rogue-ca\"");
}

#[test]
fn a_badge_from_a_recreated_ecdsa_ca_names_the_candidate_and_the_ecdsa_failure() {
    let old = Ca::root("kubernetes");
    let recreated = Ca::root("kubernetes");
    let verdict = Guard::trusting(&[&old])
        .dialling("kubernetes")
        .check(&recreated.sign(&Badge::apiserver()));
    assert_verdict(
        &verdict,
        VerdictKind::UnknownAuthorityPossibly,
        "x509: certificate signed by unknown authority (possibly because of \"x509: ECDSA verification failure\" while trying to verify candidate authority certificate \"kubernetes\")",
    );
}

#[test]
fn a_badge_from_a_recreated_rsa_ca_reads_crypto_rsa_verification_error() {
    // kubeadm's default: RSA 2048 CAs, so this is the line seen after a `kubeadm reset`.
    let old = Ca::rsa_root("kubernetes");
    let recreated = Ca::rsa_root("kubernetes");
    let badge = recreated.sign(&Badge::client("kubernetes-admin"));
    assert_verdict(
        &Guard::trusting(&[&old]).checking_clients().check(&badge),
        VerdictKind::UnknownAuthorityPossibly,
        "x509: certificate signed by unknown authority (possibly because of \"crypto/rsa: verification error\" while trying to verify candidate authority certificate \"kubernetes\")",
    );
}

#[test]
fn a_same_name_ca_with_another_key_type_reads_as_an_algorithm_mismatch() {
    let ecdsa_ca = Ca::root("kubernetes");
    let rsa_ca = Ca::rsa_root("kubernetes");
    let badge = rsa_ca.sign(&Badge::apiserver());
    assert_verdict(
        &Guard::trusting(&[&ecdsa_ca]).dialling("kubernetes").check(&badge),
        VerdictKind::UnknownAuthorityPossibly,
        "x509: certificate signed by unknown authority (possibly because of \"x509: signature algorithm specifies an RSA public key, but have public key of type *ecdsa.PublicKey\" while trying to verify candidate authority certificate \"kubernetes\")",
    );
}

#[test]
fn a_candidate_ca_without_a_common_name_is_named_by_organization_then_serial() {
    let mut by_org = DistinguishedName::new();
    by_org.push(DnType::OrganizationName, "kubecorp");
    let (nb, na) = (
        datetime!(2016-04-25 00:00:00 UTC),
        datetime!(2036-04-23 00:00:00 UTC),
    );
    let trusted = Ca::root_with(by_org.clone(), Alg::Ecdsa, nb, na);
    let impostor = Ca::root_with(by_org, Alg::Ecdsa, nb, na);
    assert_verdict(
        &Guard::trusting(&[&trusted]).checking_clients().check(&impostor.sign(&Badge::client("john"))),
        VerdictKind::UnknownAuthorityPossibly,
        "x509: certificate signed by unknown authority (possibly because of \"x509: ECDSA verification failure\" while trying to verify candidate authority certificate \"kubecorp\")",
    );

    let mut trusted = Ca::root_with(DistinguishedName::new(), Alg::Ecdsa, nb, na);
    trusted.params.serial_number = Some(SerialNumber::from_slice(&[0x01, 0x00]));
    trusted.der = trusted
        .params
        .self_signed(&trusted.key)
        .unwrap()
        .der()
        .clone();
    let impostor = Ca::root_with(DistinguishedName::new(), Alg::Ecdsa, nb, na);
    assert_verdict(
        &Guard::trusting(&[&trusted]).checking_clients().check(&impostor.sign(&Badge::client("john"))),
        VerdictKind::UnknownAuthorityPossibly,
        "x509: certificate signed by unknown authority (possibly because of \"x509: ECDSA verification failure\" while trying to verify candidate authority certificate \"serial:256\")",
    );
}

#[test]
fn a_badge_signed_by_another_badge_reads_as_go_prints_it() {
    // A v3 certificate without CA:TRUE fails Go's CheckSignatureFrom before isValid is reached,
    // so Go reports it as an unknown authority with a "cannot sign" hint.
    let ca = Ca::root("kubernetes");
    let impostor_key = key(Alg::Ecdsa);
    let impostor_params = Badge::apiserver().params();
    let impostor = signed(&impostor_params, &impostor_key, &ca.issuer());
    let issuer = Issuer::from_params(&impostor_params, &impostor_key);
    let badge = signed(&Badge::client("john").params(), &key(Alg::Ecdsa), &issuer);

    let verdict = Guard::trusting(&[&ca])
        .with_intermediates(&[&impostor])
        .checking_clients()
        .check(&badge);
    assert_verdict(
        &verdict,
        VerdictKind::NotAuthorizedToSign,
        "x509: certificate signed by unknown authority (possibly because of \"x509: invalid signature: parent certificate cannot sign this kind of certificate\" while trying to verify candidate authority certificate \"kube-apiserver\")",
    );
}

#[test]
fn a_version_1_intermediate_is_not_authorized_to_sign() {
    // Only a v1 certificate (no extensions at all) passes CheckSignatureFrom without being a CA;
    // Go's isValid then refuses it as an intermediate.
    let root = Ca::root("kubernetes");
    let v1_key = key(Alg::Ecdsa);
    let v1 = v1_certificate("legacy-signer", &v1_key, &root);
    let issuer = Issuer::from_ca_cert_der(&v1, &v1_key).unwrap();
    let badge = signed(&Badge::client("john").params(), &key(Alg::Ecdsa), &issuer);

    let verdict = Guard::trusting(&[&root])
        .with_intermediates(&[&v1])
        .checking_clients()
        .check(&badge);
    assert_verdict(
        &verdict,
        VerdictKind::NotAuthorizedToSign,
        "x509: certificate is not authorized to sign other certificates",
    );
    assert_explains(&verdict, "\"legacy-signer\"");
}

// ----- names ---------------------------------------------------------------------------------

#[test]
fn a_dns_mismatch_lists_the_dns_sans_in_certificate_order() {
    let ca = Ca::root("kubernetes");
    let verdict = Guard::trusting(&[&ca])
        .dialling("example.com")
        .check(&ca.sign(&Badge::apiserver()));
    assert_verdict(
        &verdict,
        VerdictKind::NameMismatch,
        "x509: certificate is valid for cp-1, kubernetes, kubernetes.default, kubernetes.default.svc, kubernetes.default.svc.cluster.local, not example.com",
    );
    assert_explains(&verdict, "asked for \"example.com\"");
}

#[test]
fn an_ip_mismatch_lists_only_the_ip_sans() {
    let ca = Ca::root("kubernetes");
    let badge = ca.sign(&Badge::apiserver());
    assert_verdict(
        &Guard::trusting(&[&ca]).dialling("10.0.0.1").check(&badge),
        VerdictKind::NameMismatch,
        "x509: certificate is valid for 10.96.0.1, 192.168.1.10, not 10.0.0.1",
    );
    // An IP in brackets, as in a URL, is matched and printed without them.
    assert_verdict(
        &Guard::trusting(&[&ca]).dialling("[10.0.0.1]").check(&badge),
        VerdictKind::NameMismatch,
        "x509: certificate is valid for 10.96.0.1, 192.168.1.10, not 10.0.0.1",
    );
    assert!(Guard::trusting(&[&ca])
        .dialling("192.168.1.10")
        .check(&badge)
        .is_valid());
}

#[test]
fn an_ip_against_a_badge_without_ip_sans_says_so() {
    let ca = Ca::root("kubernetes");
    let badge = ca.sign(&Badge::apiserver().sans(&["cp-1", "kubernetes"]));
    let verdict = Guard::trusting(&[&ca]).dialling("10.0.0.1").check(&badge);
    assert_verdict(
        &verdict,
        VerdictKind::NoIpSans,
        "x509: cannot validate certificate for 10.0.0.1 because it doesn't contain any IP SANs",
    );
    assert_explains(&verdict, "cp-1, kubernetes");
}

#[test]
fn a_badge_named_only_in_its_common_name_relies_on_the_legacy_field() {
    let ca = Ca::root("kubernetes");
    let badge = ca.sign(
        &Badge {
            common_name: "cp-1".into(),
            ..Badge::apiserver()
        }
        .sans(&[]),
    );
    assert_verdict(
        &Guard::trusting(&[&ca]).dialling("cp-1").check(&badge),
        VerdictKind::LegacyCommonName,
        "x509: certificate relies on legacy Common Name field, use SANs instead",
    );
    // Another name: Go falls through to the list of DNS SANs, which is empty.
    assert_verdict(
        &Guard::trusting(&[&ca]).dialling("cp-2").check(&badge),
        VerdictKind::NotValidForAnyNames,
        "x509: certificate is not valid for any names, but wanted to match cp-2",
    );
}

#[test]
fn a_badge_with_only_ip_sans_is_not_valid_for_any_dns_name() {
    let ca = Ca::root("kubernetes");
    let badge = ca.sign(&Badge::apiserver().sans(&["10.96.0.1"]));
    assert_verdict(
        &Guard::trusting(&[&ca]).dialling("kubernetes").check(&badge),
        VerdictKind::NotValidForAnyNames,
        "x509: certificate is not valid for any names, but wanted to match kubernetes",
    );
}

// ----- usage ---------------------------------------------------------------------------------

#[test]
fn a_client_only_badge_serving_reads_incompatible_key_usage() {
    let ca = Ca::root("kubernetes");
    let badge = ca.sign(&Badge::apiserver().usages(vec![ExtendedKeyUsagePurpose::ClientAuth]));
    let verdict = Guard::trusting(&[&ca]).dialling("kubernetes").check(&badge);
    assert_verdict(
        &verdict,
        VerdictKind::IncompatibleUsage,
        "x509: certificate specifies an incompatible key usage",
    );
    assert_explains(&verdict, "used as a server certificate");
    assert_explains(&verdict, "client auth");
}

#[test]
fn a_server_only_badge_logging_in_reads_incompatible_key_usage() {
    let ca = Ca::root("kubernetes");
    let badge = ca.sign(&Badge::apiserver());
    assert_verdict(
        &Guard::trusting(&[&ca]).checking_clients().check(&badge),
        VerdictKind::IncompatibleUsage,
        "x509: certificate specifies an incompatible key usage",
    );
}

// ----- Go's order of checks ------------------------------------------------------------------

#[test]
fn an_expired_badge_from_a_rogue_ca_reports_the_expiry_first() {
    let ca = Ca::root("kubernetes");
    let rogue = Ca::root("rogue-ca");
    let badge = rogue.sign(&Badge::client("mallory").valid(
        datetime!(2025-04-23 16:42:11 UTC),
        datetime!(2026-04-23 16:42:11 UTC),
    ));
    assert_verdict(
        &Guard::trusting(&[&ca]).checking_clients().check(&badge),
        VerdictKind::Expired,
        "x509: certificate has expired or is not yet valid: current time 2026-04-24T10:14:23Z is after 2026-04-23T16:42:11Z",
    );
}

#[test]
fn a_name_mismatch_is_reported_before_an_unknown_authority() {
    let ca = Ca::root("kubernetes");
    let rogue = Ca::root("rogue-ca");
    assert_verdict(
        &Guard::trusting(&[&ca])
            .dialling("example.com")
            .check(&rogue.sign(&Badge::apiserver().sans(&["kubernetes"]))),
        VerdictKind::NameMismatch,
        "x509: certificate is valid for kubernetes, not example.com",
    );
}

#[test]
fn a_wrong_usage_from_a_rogue_ca_reports_the_unknown_authority_first() {
    let ca = Ca::root("kubernetes");
    let rogue = Ca::root("rogue-ca");
    let badge = rogue.sign(&Badge::apiserver().usages(vec![ExtendedKeyUsagePurpose::ClientAuth]));
    assert_verdict(
        &Guard::trusting(&[&ca]).dialling("kubernetes").check(&badge),
        VerdictKind::UnknownAuthority,
        "x509: certificate signed by unknown authority",
    );
}

// ----- what is not a badge, and where webpki has the last word ------------------------------

#[test]
fn bytes_that_are_not_a_certificate_are_malformed() {
    let ca = Ca::root("kubernetes");
    let junk = CertificateDer::from(b"-----BEGIN CERTIFICATE-----".to_vec());
    let verdict = Guard::trusting(&[&ca]).checking_clients().check(&junk);
    assert_verdict(
        &verdict,
        VerdictKind::Malformed,
        "x509: malformed certificate",
    );
}

#[test]
fn a_ca_certificate_presented_as_a_badge_is_refused_by_webpki_even_where_go_accepts_it() {
    // Go accepts a leaf that is itself in the trust pool; rustls-webpki refuses a CA certificate
    // as an end entity. webpki is the judge, so this is never Valid.
    let ca = Ca::root("kubernetes");
    let verdict = Guard::trusting(&[&ca]).checking_clients().check(&ca.der);
    assert_eq!(verdict.kind, VerdictKind::Rejected, "{verdict:?}");
    assert_eq!(verdict.text, "rustls-webpki: CaUsedAsEndEntity");
}

#[test]
fn a_verdict_serializes_with_its_kebab_kind_and_three_texts() {
    let ca = Ca::root("kubernetes");
    let rogue = Ca::root("rogue-ca");
    let verdict = Guard::trusting(&[&ca])
        .checking_clients()
        .check(&rogue.sign(&Badge::client("john")));
    let json: serde_json::Value = serde_json::to_value(&verdict).unwrap();
    assert_eq!(json["kind"], "unknown-authority");
    assert_eq!(
        json["text"],
        "x509: certificate signed by unknown authority"
    );
    let back: Verdict = serde_json::from_value(json).unwrap();
    assert_eq!(back, verdict);
}

// ----- Go itself as the judge --------------------------------------------------------------

/// kubectl is a Go 1.23 program: serve a badge with `openssl s_server`, point kubectl at it,
/// and compare the line it prints with ours. Skipped when either tool is missing.
#[test]
fn kubectl_prints_the_same_lines_as_the_lab() {
    let have = |tool: &str| {
        std::process::Command::new(tool)
            .arg("version")
            .arg("--client")
            .output()
            .is_ok()
    };
    if !have("openssl") || !have("kubectl") {
        eprintln!("skipped: needs openssl and kubectl on PATH");
        return;
    }
    let dir = std::env::temp_dir().join(format!("kubecorp-trust-kubectl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let ca = Ca::rsa_root("kubernetes");
    let recreated = Ca::rsa_root("kubernetes");
    let expired_ca = Ca::root_valid(
        "kubernetes",
        datetime!(2016-01-01 00:00:00 UTC),
        datetime!(2026-01-01 00:00:00 UTC),
    );
    let now = OffsetDateTime::now_utc();
    let fresh = Badge::apiserver()
        .sans(&["kubernetes", "10.96.0.1", "127.0.0.1"])
        .valid(now - Duration::days(1), now + Duration::days(365));

    let no_ip_sans = fresh.clone().sans(&["kubernetes"]);
    let legacy = Badge {
        common_name: "kubernetes".into(),
        ..fresh.clone()
    }
    .sans(&[]);
    let client_only = fresh
        .clone()
        .usages(vec![ExtendedKeyUsagePurpose::ClientAuth]);

    // (server's CA, the CA kubectl trusts, the server's badge, --tls-server-name)
    let cases: [(&Ca, &Ca, &Badge, &str); 7] = [
        (&recreated, &ca, &fresh, "kubernetes"),
        (&ca, &ca, &fresh, "10.0.0.99"),
        (&ca, &ca, &fresh, "example.com"),
        (&expired_ca, &expired_ca, &fresh, "kubernetes"),
        (&ca, &ca, &no_ip_sans, "10.0.0.99"),
        (&ca, &ca, &legacy, "kubernetes"),
        (&ca, &ca, &client_only, "kubernetes"),
    ];
    if now < datetime!(2026-01-01 00:00:00 UTC) {
        eprintln!("note: the expired-CA case is only meaningful after 2026-01-01");
    }
    for (i, (signer, trusted, badge, name)) in cases.into_iter().enumerate() {
        let (cert, key) = signer.sign_keeping_key(badge);
        let files = |ext: &str| dir.join(format!("{i}.{ext}"));
        std::fs::write(files("crt.der"), &cert).unwrap();
        std::fs::write(files("key.pem"), key.serialize_pem()).unwrap();
        std::fs::write(files("ca.der"), &trusted.der).unwrap();
        let to_pem = |from: &std::path::Path, to: &std::path::Path| {
            let status = std::process::Command::new("openssl")
                .args(["x509", "-inform", "DER", "-in"])
                .arg(from)
                .arg("-out")
                .arg(to)
                .status()
                .unwrap();
            assert!(status.success());
        };
        to_pem(&files("crt.der"), &files("crt.pem"));
        to_pem(&files("ca.der"), &files("ca.pem"));

        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = Server(
            std::process::Command::new("openssl")
                .args(["s_server", "-quiet", "-www", "-accept"])
                .arg(format!("127.0.0.1:{port}"))
                .arg("-cert")
                .arg(files("crt.pem"))
                .arg("-key")
                .arg(files("key.pem"))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        for _ in 0..50 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let output = std::process::Command::new("kubectl")
            .args([
                "--kubeconfig=/dev/null",
                "--token=lab",
                "--request-timeout=10s",
            ])
            .arg(format!("--server=https://127.0.0.1:{port}"))
            .arg(format!(
                "--certificate-authority={}",
                files("ca.pem").display()
            ))
            .arg(format!("--tls-server-name={name}"))
            .args(["get", "--raw", "/version"])
            .env("TZ", "UTC")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        drop(server);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let go_line = stderr.lines().last().unwrap_or_default();

        let ours = Guard::trusting(&[trusted])
            .dialling(name)
            .at(OffsetDateTime::now_utc())
            .check(&cert);
        let wanted = format!(
            "Unable to connect to the server: tls: failed to verify certificate: {}",
            ours.text
        );
        eprintln!("kubectl: {go_line}");
        assert!(!ours.is_valid(), "case {i}: {ours:?}");
        if ours.kind == VerdictKind::CaExpired {
            // Both lines hold the current time, whose seconds may differ: compare around it.
            let around = |s: &str| {
                let before = s.split(" current time ").next().unwrap_or_default();
                let after = s.rsplit(" is after ").next().unwrap_or_default();
                (before.to_owned(), after.to_owned())
            };
            assert_eq!(around(go_line), around(&wanted), "case {i}");
        } else {
            assert_eq!(go_line, wanted, "case {i}");
        }
        assert_eq!(
            classify_text(go_line),
            Some(match ours.kind {
                VerdictKind::CaExpired => VerdictKind::Expired,
                other => other,
            })
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// An `openssl s_server` that is stopped however the test ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

// ----- a version 1 certificate, by hand (rcgen only writes v3) -------------------------------

/// A DER TLV.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
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
fn v1_certificate(name: &str, key: &KeyPair, parent: &Ca) -> CertificateDer<'static> {
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
