//! Authorities: a rogue or recreated CA, a candidate named when it fails, a badge signing
//! another, and a version 1 intermediate that may not sign.

use rcgen::{DistinguishedName, DnType, Issuer, SerialNumber};
use time::macros::datetime;

use kubecorp_trust::VerdictKind;

use crate::fixtures::{
    assert_explains, assert_verdict, key, signed, v1_certificate, Alg, Badge, Ca, Guard,
};

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
