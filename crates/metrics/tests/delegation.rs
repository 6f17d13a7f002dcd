//! Whom metrics-server believes, judged on a fresh kubeadm PKI: the front-proxy-client badge
//! speaks for the user in `X-Remote-User`; a front-proxy badge with another CN, or one from
//! another front-proxy CA, gets metrics-server's own refusal in Go's words; a cluster-CA badge
//! is its own holder, whatever its headers say.

use kubecorp_metrics::delegation::{authenticate, trust_from, Authn, Trust};
use kubecorp_pki::issue::{Ca, Shape, CA_VALIDITY};
use kubecorp_pki::{Authority, KeyAlgorithm};
use kubecorp_testkit::lab::FreshLab;
use kubecorp_trust::authn::requestheader::{ExtensionAuthentication, RequestHeaderConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// The trust metrics-server reads from Alice's ConfigMap, for this PKI.
fn trust(lab: &FreshLab) -> Trust {
    let read = |a| std::fs::read_to_string(lab.lab.ca_cert_path(a)).unwrap();
    let auth = ExtensionAuthentication {
        client_ca_pem: read(Authority::Cluster),
        requestheader_ca_pem: read(Authority::FrontProxy),
        config: RequestHeaderConfig::kubeadm(),
    };
    trust_from(&auth.to_data()).unwrap()
}

fn chain_of(lab: &FreshLab, stem: &str) -> Vec<CertificateDer<'static>> {
    let pem = std::fs::read(lab.lab.cert_path(stem)).unwrap();
    CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .unwrap()
}

/// A client badge for `cn`, signed by `ca`.
fn badge(ca: &Ca, cn: &str, lab: &FreshLab) -> Vec<CertificateDer<'static>> {
    let shape = Shape {
        common_name: cn.into(),
        organizations: vec![],
        sans: vec![],
        server_auth: false,
        client_auth: true,
    };
    let key = KeyAlgorithm::EcdsaP256.generate().unwrap();
    vec![ca.issue_now(&shape, &key, lab.clock.now()).unwrap()]
}

fn refused(authn: Authn) -> Vec<String> {
    match authn {
        Authn::Refused { errors, .. } => errors,
        Authn::Caller(c) => panic!("expected a refusal, got {c:?}"),
    }
}

const JANE: [(&str, &str); 3] = [
    ("x-remote-user", "jane"),
    ("x-remote-group", "developers"),
    ("x-remote-extra-scopes", "view"),
];

#[test]
fn the_front_proxy_client_badge_speaks_for_the_user_in_its_headers() {
    let lab = FreshLab::new("kubecorp-control-plane");
    let chain = chain_of(&lab, "front-proxy-client");
    let Authn::Caller(caller) = authenticate(&trust(&lab), &chain, JANE, lab.clock.now()) else {
        panic!("front-proxy-client was refused");
    };
    assert_eq!(caller.name, "jane");
    assert_eq!(caller.groups, ["developers", "system:authenticated"]);
    assert_eq!(caller.extra["scopes"], ["view"]);
    assert!(caller.proxied);
    assert_eq!(caller.badge.unwrap().cn, "front-proxy-client");
}

#[test]
fn a_front_proxy_badge_with_another_cn_is_refused_as_not_in_the_allowed_list() {
    let lab = FreshLab::new("kubecorp-control-plane");
    let ca = lab.lab.load_ca(Authority::FrontProxy).unwrap();
    let chain = badge(&ca, "mallory", &lab);
    let errors = refused(authenticate(&trust(&lab), &chain, JANE, lab.clock.now()));
    assert_eq!(
        errors[0],
        "x509: subject with cn=mallory is not in the allowed list"
    );
    assert!(
        errors[1].starts_with("verifying certificate SN="),
        "{errors:?}"
    );
    assert!(
        errors[1].ends_with("failed: x509: certificate signed by unknown authority"),
        "{errors:?}"
    );
    assert_eq!(
        Authn::log_line(&errors),
        format!(
            "\"Unable to authenticate the request\" err=\"[{}, {}]\"",
            errors[0], errors[1]
        )
    );
}

#[test]
fn a_front_proxy_client_from_another_front_proxy_ca_is_refused_as_unknown_authority() {
    let lab = FreshLab::new("kubecorp-control-plane");
    let key = KeyAlgorithm::EcdsaP256.generate().unwrap();
    let other = Ca::generate("front-proxy-ca", key, lab.clock.now(), CA_VALIDITY).unwrap();
    let chain = badge(&other, "front-proxy-client", &lab);
    let errors = refused(authenticate(&trust(&lab), &chain, JANE, lab.clock.now()));
    assert!(
        errors[0].starts_with("x509: certificate signed by unknown authority"),
        "{errors:?}"
    );
    assert_eq!(errors.len(), 2, "{errors:?}");
}

#[test]
fn a_cluster_ca_badge_is_its_own_holder_whatever_its_headers_say() {
    let lab = FreshLab::new("kubecorp-control-plane");
    let chain = chain_of(&lab, "apiserver-kubelet-client");
    let Authn::Caller(caller) = authenticate(&trust(&lab), &chain, JANE, lab.clock.now()) else {
        panic!("the cluster CA's badge was refused");
    };
    assert_eq!(caller.name, "kube-apiserver-kubelet-client");
    assert!(!caller.proxied);
    assert!(!caller.groups.contains(&"developers".to_string()));
}

#[test]
fn no_badge_at_all_is_system_anonymous() {
    let lab = FreshLab::new("kubecorp-control-plane");
    let Authn::Caller(caller) = authenticate(&trust(&lab), &[], JANE, lab.clock.now()) else {
        panic!("no badge was refused");
    };
    assert!(caller.is_anonymous());
}
