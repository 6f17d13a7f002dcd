//! The CSR rules, one test per rule, with kube-apiserver's and the signer's texts.

use super::*;
use crate::status::Cause;
use crate::user::UserInfo;
use base64::Engine as _;
use kubecorp_pki::issue::BACKDATE;
use rcgen::KeyPair;
use rcgen::{CertificateParams, DistinguishedName, DnType};
use serde_json::json;
use time::macros::datetime;

fn csr_pem(cn: &str, orgs: &[&str], dns: &[&str]) -> String {
    let mut p =
        CertificateParams::new(dns.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name = DistinguishedName::new();
    for (i, o) in orgs.iter().enumerate() {
        let ty = if i == 0 {
            DnType::OrganizationName
        } else {
            DnType::CustomDnType(vec![2, 5, 4, 10])
        };
        p.distinguished_name.push(ty, *o);
    }
    p.distinguished_name.push(DnType::CommonName, cn);
    let key = KeyPair::generate().unwrap();
    p.serialize_request(&key).unwrap().pem().unwrap()
}

fn csr_obj(pem: &str, signer: &str, usages: &[&str]) -> Value {
    json!({
        "apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": "x"},
        "spec": {
            "request": base64::engine::general_purpose::STANDARD.encode(pem),
            "signerName": signer, "usages": usages,
        }
    })
}

fn messages(r: Result<(), Vec<Cause>>) -> Vec<String> {
    r.err()
        .unwrap_or_default()
        .iter()
        .map(Cause::error)
        .collect()
}

#[test]
fn a_well_formed_csr_passes_validation() {
    let obj = csr_obj(
        &csr_pem("john", &["developers"], &[]),
        KUBE_APISERVER_CLIENT,
        &["client auth"],
    );
    assert_eq!(validate_create(&obj), Ok(()));
    assert_eq!(shape_check(&obj), Ok(()));
}

#[test]
fn parse_request_reads_subject_and_sans_of_multi_org_csrs() {
    let p = parse_request(
        csr_pem("system:node:n1", &["system:nodes", "extra"], &["n1.lab"]).as_bytes(),
    )
    .unwrap();
    assert_eq!(p.common_name, "system:node:n1");
    assert_eq!(p.organizations, ["system:nodes", "extra"]);
    assert_eq!(p.dns_names, ["n1.lab"]);
}

#[test]
fn usages_are_required_supported_and_unique() {
    let pem = csr_pem("j", &[], &[]);
    assert_eq!(
        messages(validate_create(&csr_obj(&pem, KUBE_APISERVER_CLIENT, &[]))),
        ["spec.usages: Required value"]
    );
    let m = messages(validate_create(&csr_obj(
        &pem,
        KUBE_APISERVER_CLIENT,
        &["client auth", "fly", "client auth"],
    )));
    assert_eq!(m.len(), 2);
    assert!(m[0].starts_with(r#"spec.usages[1]: Unsupported value: "fly": supported values: "any", "cert sign", "client auth","#), "{}", m[0]);
    assert!(m[0].ends_with(r#""signing", "timestamping""#));
    assert_eq!(m[1], r#"spec.usages[2]: Duplicate value: "client auth""#);
}

#[test]
fn signer_names_must_be_domain_slash_path_and_not_legacy() {
    let pem = csr_pem("j", &[], &[]);
    assert_eq!(
        messages(validate_create(&csr_obj(
            &pem,
            LEGACY_UNKNOWN,
            &["client auth"]
        ))),
        [
            r#"spec.signerName: Invalid value: "kubernetes.io/legacy-unknown": the legacy signerName is not allowed via this API version"#
        ]
    );
    assert_eq!(
        messages(validate_create(&csr_obj(&pem, "", &["client auth"]))),
        ["spec.signerName: Required value"]
    );
    assert_eq!(
        messages(validate_create(&csr_obj(
            &pem,
            "kubecorp",
            &["client auth"]
        ))),
        [
            r#"spec.signerName: Invalid value: "kubecorp": must be a fully qualified domain and path of the form 'example.com/signer-name'"#
        ]
    );
    assert_eq!(
        messages(validate_create(&csr_obj(
            &pem,
            "lab/badges",
            &["client auth"]
        ))),
        [
            r#"spec.signerName: Invalid value: "lab": should be a domain with at least two segments separated by dots"#
        ]
    );
    assert_eq!(
        validate_create(&csr_obj(&pem, "kubecorp.lab/badges", &["client auth"])),
        Ok(())
    );
}

#[test]
fn a_request_that_is_not_a_csr_pem_is_invalid_with_go_bytes() {
    let obj = csr_obj(
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        KUBE_APISERVER_CLIENT,
        &["client auth"],
    );
    let m = messages(validate_create(&obj));
    assert!(
        m[0].starts_with("spec.request: Invalid value: []byte{0x2d, 0x2d, 0x2d"),
        "{}",
        m[0]
    );
    assert!(m[0].ends_with("}: PEM block type must be CERTIFICATE REQUEST"));
    let mut missing = obj.clone();
    missing["spec"].as_object_mut().unwrap().remove("request");
    assert_eq!(
        messages(validate_create(&missing))[0],
        "spec.request: Invalid value: []byte(nil): PEM block type must be CERTIFICATE REQUEST"
    );
}

#[test]
fn a_tampered_csr_fails_the_signature_check() {
    let pem = csr_pem("john", &[], &[]);
    let mut der = pem::parse(&pem).unwrap().into_contents();
    let n = der.len();
    der[n - 3] ^= 0x55; // inside the signature
    let bad = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", der));
    let e = parse_request(bad.as_bytes()).unwrap_err();
    assert_eq!(e, "x509: ECDSA verification failure");
}

#[test]
fn bad_base64_is_a_400_before_validation() {
    let mut obj = csr_obj("x", KUBE_APISERVER_CLIENT, &["client auth"]);
    obj["spec"]["request"] = json!("ab!d");
    assert_eq!(
        shape_check(&obj),
        Err("CertificateSigningRequest in version \"v1\" cannot be handled as a CertificateSigningRequest: illegal base64 data at input byte 2".into())
    );
}

#[test]
fn prepare_create_overwrites_the_requester_and_clears_status() {
    let mut obj = csr_obj("x", KUBE_APISERVER_CLIENT, &["client auth"]);
    obj["spec"]["username"] = json!("kubernetes-admin");
    obj["spec"]["uid"] = json!("forged");
    obj["status"] = json!({"certificate": "Zm9v"});
    let john = UserInfo::from_cert("john", ["developers"]).unwrap();
    let p = prepare_create(&obj, &john);
    assert_eq!(p["spec"]["username"], "john");
    assert_eq!(
        p["spec"]["groups"],
        json!(["developers", "system:authenticated"])
    );
    assert!(p["spec"].get("uid").is_none());
    assert_eq!(p["status"], json!({}));
    assert_eq!(requester(&p), john);
}

#[test]
fn approval_update_rules() {
    let approved = json!({"type": "Approved", "status": "True", "reason": "KubectlApprove"});
    let denied = json!({"type": "Denied", "status": "True"});
    let old = json!({"status": {}});
    let new = json!({"status": {"conditions": [approved.clone(), denied.clone()]}});
    assert_eq!(
        messages(validate_approval_update(&old, &new)),
        [
            r#"status.conditions[1].type: Invalid value: "Denied": Approved and Denied conditions are mutually exclusive"#
        ]
    );
    let old_approved = json!({"status": {"conditions": [approved.clone()]}});
    assert_eq!(
        messages(validate_approval_update(&old_approved, &old)),
        [r#"status.conditions: Forbidden: updates may not remove a condition of type "Approved""#]
    );
    let falsy = json!({"status": {"conditions": [{"type": "Approved", "status": "False"}]}});
    assert_eq!(
        messages(validate_approval_update(&old, &falsy)),
        [r#"status.conditions[0].status: Unsupported value: "False": supported values: "True""#]
    );
    let dup = json!({"status": {"conditions": [approved.clone(), approved.clone()]}});
    assert_eq!(
        messages(validate_approval_update(&old, &dup)),
        [r#"status.conditions[1].type: Duplicate value: "Approved""#]
    );
    assert_eq!(
        validate_approval_update(&old, &json!({"status": {"conditions": [approved]}})),
        Ok(())
    );
}

#[test]
fn prepare_approval_update_takes_only_the_conditions_and_stamps_times() {
    let old = json!({"metadata": {"name": "j"}, "spec": {"username": "john"}, "status": {}});
    let new = json!({"metadata": {"name": "j"}, "spec": {"username": "mallory"},
        "status": {"certificate": "Zm9v", "conditions": [{"type": "Approved", "status": "True", "lastUpdateTime": "2025-01-01T00:00:00Z"}]}});
    let out = prepare_approval_update(&old, &new, datetime!(2025-02-02 10:00:00.5 UTC));
    assert_eq!(out["spec"]["username"], "john");
    assert!(out["status"].get("certificate").is_none());
    assert_eq!(
        out["status"]["conditions"][0]["lastUpdateTime"],
        "2025-01-01T00:00:00Z"
    );
    assert_eq!(
        out["status"]["conditions"][0]["lastTransitionTime"],
        "2025-02-02T10:00:00Z"
    );
}

#[test]
fn approvers_need_approve_on_the_signer_or_its_domain_wildcard() {
    assert_eq!(
        approval_needs_signer_permission(KUBELET_SERVING),
        [
            "kubernetes.io/kubelet-serving".to_string(),
            "kubernetes.io/*".to_string()
        ]
    );
    let u = UserInfo::from_cert("approver", ["x"]).unwrap();
    assert!(is_authorized_for_signer(
        &u,
        "approve",
        KUBELET_SERVING,
        |a| a.name == "kubernetes.io/*" && a.resource == "signers"
    ));
    assert!(!is_authorized_for_signer(
        &u,
        "approve",
        KUBELET_SERVING,
        |_| false
    ));
    assert_eq!(
        not_permitted_to_approve(KUBELET_SERVING),
        r#"user not permitted to approve requests with signerName "kubernetes.io/kubelet-serving""#
    );
}

#[test]
fn condition_summary_matches_kubectl() {
    let c = |t: &str| json!({"type": t, "status": "True"});
    assert_eq!(condition_summary(&json!({})), "Pending");
    assert_eq!(
        condition_summary(
            &json!({"status": {"conditions": [c("Approved")], "certificate": "Zm9v"}})
        ),
        "Approved,Issued"
    );
    assert_eq!(
        condition_summary(&json!({"status": {"conditions": [c("Denied")]}})),
        "Denied"
    );
    assert_eq!(
        condition_summary(&json!({"status": {"conditions": [c("Approved"), c("Failed")]}})),
        "Approved,Failed"
    );
}

#[test]
fn signer_rules_give_the_exact_failure_texts() {
    let client = ParsedRequest {
        common_name: "john".into(),
        ..Default::default()
    };
    let u = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let msg = |r: Result<(), SignerFailure>| r.unwrap_err().to_string();
    assert_eq!(
        msg(check_signer_rules(
            KUBE_APISERVER_CLIENT,
            &client,
            &u(&["client auth", "server auth"])
        )),
        "invalid usage for client certificate: server auth"
    );
    assert_eq!(
        msg(check_signer_rules(
            KUBE_APISERVER_CLIENT,
            &client,
            &u(&["digital signature"])
        )),
        "missing required usage for client certificate: client auth"
    );
    assert_eq!(
        msg(check_signer_rules(
            KUBE_APISERVER_CLIENT_KUBELET,
            &client,
            &u(&["client auth"])
        )),
        "subject organization is not system:nodes"
    );
    let node = ParsedRequest {
        common_name: "n1".into(),
        organizations: vec!["system:nodes".into()],
        ..Default::default()
    };
    assert_eq!(
        msg(check_signer_rules(
            KUBE_APISERVER_CLIENT_KUBELET,
            &node,
            &u(&["client auth", "digital signature"])
        )),
        "subject common name does not begin with system:node:"
    );
    let node = ParsedRequest {
        common_name: "system:node:n1".into(),
        ..node
    };
    assert_eq!(
        msg(check_signer_rules(
            KUBE_APISERVER_CLIENT_KUBELET,
            &node,
            &u(&["client auth"])
        )),
        "usages did not match [client auth digital signature key encipherment]"
    );
    assert_eq!(
        check_signer_rules(
            KUBE_APISERVER_CLIENT_KUBELET,
            &node,
            &u(&["client auth", "digital signature"])
        ),
        Ok(())
    );
    assert_eq!(
        msg(check_signer_rules(
            KUBELET_SERVING,
            &node,
            &u(&["server auth"])
        )),
        "DNS or IP subjectAltName is required"
    );
    let serving = ParsedRequest {
        dns_names: vec!["n1".into()],
        ..node.clone()
    };
    assert_eq!(
        msg(check_signer_rules(
            KUBELET_SERVING,
            &serving,
            &u(&["server auth"])
        )),
        "usages did not match [digital signature key encipherment server auth]"
    );
    let with_ip = ParsedRequest {
        ip_addresses: vec!["10.0.0.1".parse().unwrap()],
        ..node
    };
    assert_eq!(
        msg(check_signer_rules(
            KUBE_APISERVER_CLIENT_KUBELET,
            &with_ip,
            &u(&["client auth", "digital signature"])
        )),
        "IP subjectAltNames are not allowed"
    );
    assert!(matches!(
        check_signer_rules("kubecorp.lab/x", &client, &[]),
        Err(SignerFailure::NotHandled { .. })
    ));
}

#[test]
fn durations_are_floored_at_ten_minutes_and_capped_at_the_max() {
    assert_eq!(duration(None, DEFAULT_MAX_DURATION), Duration::hours(8760));
    assert_eq!(
        duration(Some(60), DEFAULT_MAX_DURATION),
        Duration::minutes(10)
    );
    assert_eq!(
        duration(Some(86400 * 400), DEFAULT_MAX_DURATION),
        Duration::hours(8760)
    );
    let now = datetime!(2025-01-01 12:00 UTC);
    let far = datetime!(2035-01-01 0:00 UTC);
    assert_eq!(
        validity(now, Duration::hours(1), far),
        Ok((now - BACKDATE, now + Duration::hours(1)))
    );
    assert_eq!(
        validity(now, Duration::hours(8), far),
        Ok((now - BACKDATE, now + Duration::hours(8) - BACKDATE))
    );
    let soon = now + Duration::hours(2);
    assert_eq!(validity(now, Duration::hours(8), soon).unwrap().1, soon);
    assert_eq!(
        validity(now, Duration::hours(1), now - Duration::minutes(10)),
        Err(SignerFailure::SignerExpired {
            not_after: "2025-01-01 11:50:00 +0000 UTC".into()
        })
    );
    assert_eq!(
        validity(now, Duration::hours(1), now - Duration::minutes(1)).unwrap_err().to_string(),
        "refusing to sign a certificate that expired in the past: NotAfter=2025-01-01 11:59:00 +0000 UTC"
    );
}
