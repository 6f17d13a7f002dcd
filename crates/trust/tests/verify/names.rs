//! Names and usages: DNS and IP mismatches listed as Go lists them, the legacy common name,
//! and a client badge serving or a server badge logging in.

use rcgen::ExtendedKeyUsagePurpose;

use kubecorp_trust::VerdictKind;

use crate::fixtures::{assert_explains, assert_verdict, Badge, Ca, Guard};

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
