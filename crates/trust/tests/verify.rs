//! The guard's check, end to end: badges made in code with rcgen, broken on demand, and the
//! exact line Go would print for each.
//!
//! In rooms by job: this file holds the badges that get in, Go's order of checks and what is
//! not a badge at all; `verify/dates.rs`, `verify/authorities.rs` and `verify/names.rs` (names
//! and usages) hold each kind of refusal; `verify/kubectl.rs` has kubectl judge the lab; the
//! badges, authorities and guard they share are made in `verify/fixtures.rs`.

#[path = "verify/authorities.rs"]
mod authorities;
#[path = "verify/dates.rs"]
mod dates;
#[path = "verify/fixtures.rs"]
mod fixtures;
#[path = "verify/kubectl.rs"]
mod kubectl;
#[path = "verify/names.rs"]
mod names;

use rcgen::ExtendedKeyUsagePurpose;
use rustls_pki_types::CertificateDer;
use time::macros::datetime;

use kubecorp_trust::{Verdict, VerdictKind};

use crate::fixtures::{assert_verdict, Badge, Ca, Guard};

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
