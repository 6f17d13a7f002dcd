//! `pki init --apiserver-cert-extra-sans`: a name added to the apiserver's badge kubeadm's way.
//!
//! kubeadm v1.32 (`cmd/kubeadm/app/phases/certs/certs.go`, `writeCertificateFilesIfNotExist`
//! and `validateCertificateWithConfig`) keeps an existing apiserver certificate only if it
//! already has every configured name, and otherwise stops with `certificate apiserver is
//! invalid: …`. The documented way is: add the name to `apiServer.certSANs`, delete
//! apiserver.crt and apiserver.key, run `kubeadm init phase certs apiserver`. The lab does the same.

use std::process::Command;

use kubecorp_pki::init::{init, InitOptions};
use kubecorp_pki::profile::{profile, San};
use kubecorp_pki::{ClusterFacts, KeyAlgorithm, Lab, PkiError};
use time::macros::datetime;

fn options(extra: &[&str]) -> InitOptions {
    let mut facts = ClusterFacts::new("cp-1", "10.0.0.5".parse().unwrap());
    facts.apiserver_extra_sans = extra.iter().map(|s| San::parse_extra(s).unwrap()).collect();
    InitOptions {
        facts,
        key_algorithm: KeyAlgorithm::EcdsaP256,
        force: false,
        now: datetime!(2026-01-01 0:00 UTC),
    }
}

#[test]
fn an_extra_name_on_an_existing_lab_is_refused_until_that_one_badge_is_deleted_then_only_it_is_reissued(
) {
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab::new(dir.path());
    init(&lab, &options(&[])).unwrap();
    let before = std::fs::read(lab.pki_dir().join("apiserver-kubelet-client.crt")).unwrap();

    let err = init(&lab, &options(&["api.example.com", "192.0.2.7"])).unwrap_err();
    assert!(matches!(err, PkiError::LacksSan { .. }), "{err}");
    assert!(
        err.to_string().contains(
            "certificate apiserver is invalid: x509: certificate is valid for cp-1, kubernetes, kubernetes.default, kubernetes.default.svc, kubernetes.default.svc.cluster.local, 10.96.0.1, 10.0.0.5, not api.example.com"
        ),
        "{err}"
    );

    std::fs::remove_file(lab.pki_dir().join("apiserver.crt")).unwrap();
    std::fs::remove_file(lab.pki_dir().join("apiserver.key")).unwrap();
    let log = init(&lab, &options(&["api.example.com", "192.0.2.7"])).unwrap();
    assert!(log.contains(&"[certs] Generating \"apiserver\" certificate and key".to_string()));
    assert!(log.contains(&"[certs] apiserver serving cert is signed for DNS names [api.example.com cp-1 kubernetes kubernetes.default kubernetes.default.svc kubernetes.default.svc.cluster.local] and IPs [10.96.0.1 10.0.0.5 192.0.2.7]".to_string()), "{log:#?}");
    assert_eq!(
        log.iter().filter(|l| l.contains("Generating")).count(),
        1,
        "only the apiserver badge is issued again: {log:#?}"
    );
    assert_eq!(
        std::fs::read(lab.pki_dir().join("apiserver-kubelet-client.crt")).unwrap(),
        before
    );
    let badge = lab.load_badge(profile("apiserver").unwrap()).unwrap();
    assert!(badge
        .info
        .sans
        .contains(&San::Dns("api.example.com".into())));

    // openssl is the judge of what the certificate says.
    let Some(openssl) = kubecorp_testkit::tool("openssl", "extra SANs judged by openssl") else {
        return;
    };
    let out = Command::new(openssl)
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(lab.pki_dir().join("apiserver.crt"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("DNS:api.example.com"), "{text}");
    assert!(text.contains("IP Address:192.0.2.7"), "{text}");
}

#[test]
fn certificates_keys_and_kubeconfigs_end_their_lines_with_lf_as_kubeadm_writes_them() {
    // Go's encoding/pem writes "\n"; a CR in a PEM file or in base64'd kubeconfig data is
    // something no kubeadm file has.
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab::new(dir.path());
    init(&lab, &options(&[])).unwrap();
    for file in [
        lab.pki_dir().join("apiserver.crt"),
        lab.pki_dir().join("apiserver.key"),
        lab.pki_dir().join("ca.crt"),
        dir.path().join("admin.conf"),
    ] {
        let bytes = std::fs::read(&file).unwrap();
        assert!(!bytes.contains(&b'\r'), "{} has a CR", file.display());
    }
    let conf = dir.path().join("admin.conf");
    let credentials = kubecorp_pki::kubeconfig::Kubeconfig::read(&conf)
        .unwrap()
        .credentials(&conf)
        .unwrap();
    let pem = [
        credentials.cert_pem.as_slice(),
        credentials.key_pem.as_slice(),
    ]
    .concat();
    assert!(!pem.contains(&b'\r'));
}

#[test]
fn an_entry_that_is_neither_an_ip_nor_a_dns_name_is_refused_with_the_flag_named() {
    assert_eq!(
        San::parse_extra("*.apps.example.com").unwrap(),
        San::Dns("*.apps.example.com".into())
    );
    let err = San::parse_extra("Bad_Name").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid --apiserver-cert-extra-sans entry `Bad_Name`: expected an IP address or a lower-case RFC 1123 DNS name (a wildcard `*.` in front is allowed)"
    );
}
