//! Dates: badges and CAs expired or not yet valid, read as Go prints them, and a year on the
//! lab clock.

use time::macros::datetime;
use time::Duration;

use kubecorp_trust::{LabClock, VerdictKind};

use crate::fixtures::{assert_explains, assert_verdict, Badge, Ca, Guard, NOW};

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
