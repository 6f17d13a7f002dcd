//! Alice's decisions end to end, without a socket: who may do what, and how the badge office
//! answers. Each test asserts the text a learner would see from kubectl.

use base64::Engine as _;
use kubecorp_apiserver::csr::{self, SignerFailure};
use kubecorp_apiserver::protobuf;
use kubecorp_apiserver::rbac::{self, Attributes, Decision, RbacState};
use kubecorp_apiserver::status::{self, Status};
use kubecorp_apiserver::user::UserInfo;
use kubecorp_pki::issue::{Ca, CA_VALIDITY};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use serde_json::{json, Value};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, X509Certificate};

const NOW: OffsetDateTime = datetime!(2025-03-01 09:00:00 UTC);

fn user(name: &str, groups: &[&str]) -> UserInfo {
    UserInfo::from_cert(name, groups.iter().copied()).expect("a non-empty CN")
}

/// The message of a `(code, body)` Status response.
fn message(response: (u16, String)) -> (u16, String) {
    let (code, body) = response;
    (code, Status::parse(&body).expect("a Status body").message)
}

/// The lab's rulebook: kubeadm defaults, `view` as the clusterrole-aggregation controller fills
/// it (system:aggregate-to-view's rules), and `developers` bound to `view` in `default`.
fn rulebook() -> RbacState {
    let mut state = RbacState::bootstrap();
    let aggregated = |name: &str| {
        state
            .cluster_roles
            .iter()
            .find(|r| r["metadata"]["name"] == name)
            .map(|r| r["rules"].clone())
    };
    let view_rules = aggregated("system:aggregate-to-view").expect("system:aggregate-to-view");
    if let Some(view) = state
        .cluster_roles
        .iter_mut()
        .find(|r| r["metadata"]["name"] == "view")
    {
        view["rules"] = view_rules;
    }
    state.role_bindings.push(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "developers-view", "namespace": "default"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "developers"}]
    }));
    state
}

/// What the apiserver would answer: the chain Node,RBAC (after system:masters), then a 403.
fn answer(state: &RbacState, pods: &[Value], attrs: &Attributes) -> Result<String, (u16, String)> {
    match rbac::authorize_request(state, pods, attrs) {
        Decision::Allow(reason) => Ok(reason),
        refused => Err(message(status::forbidden(attrs, refused.reason()))),
    }
}

fn ca() -> Ca {
    Ca::generate(
        "kubernetes",
        KeyPair::generate().unwrap(),
        NOW - Duration::days(30),
        CA_VALIDITY,
    )
    .unwrap()
}

fn csr_pem(cn: &str, org: Option<&str>, dns: &[&str]) -> String {
    let mut params =
        CertificateParams::new(dns.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name = DistinguishedName::new();
    if let Some(o) = org {
        params.distinguished_name.push(DnType::OrganizationName, o);
    }
    params.distinguished_name.push(DnType::CommonName, cn);
    let key = KeyPair::generate().unwrap();
    params.serialize_request(&key).unwrap().pem().unwrap()
}

/// A CSR as `kubectl create -f csr.yaml` sends it.
/// The cluster's admin, as admin.conf's badge names them.
fn admin() -> UserInfo {
    user("kubernetes-admin", &["kubeadm:cluster-admins"])
}

/// A CSR named `name` for the kube-apiserver-client signer, for client auth only.
fn client_csr(name: &str, pem: &str, expiration: Option<i64>) -> Value {
    csr_object(
        name,
        pem,
        csr::KUBE_APISERVER_CLIENT,
        &["client auth"],
        expiration,
    )
}

fn csr_object(
    name: &str,
    pem: &str,
    signer: &str,
    usages: &[&str],
    expiration: Option<i64>,
) -> Value {
    let mut obj = json!({
        "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
        "metadata": {"name": name},
        "spec": {
            "request": base64::engine::general_purpose::STANDARD.encode(pem),
            "signerName": signer, "usages": usages,
        }
    });
    if let Some(e) = expiration {
        obj["spec"]["expirationSeconds"] = json!(e);
    }
    obj
}

/// What `kubectl certificate approve` appends.
fn approve(obj: &Value) -> Value {
    let mut new = obj.clone();
    new["status"]["conditions"] = json!([{
        "type": "Approved", "status": "True", "reason": "KubectlApprove",
        "message": "This CSR was approved by kubectl certificate approve.",
        "lastUpdateTime": "2025-03-01T09:00:00Z"
    }]);
    csr::prepare_approval_update(obj, &new, NOW)
}

/// The create path: strategy, validation (422), admission (403).
fn create(obj: &Value, by: &UserInfo) -> Result<Value, (u16, String)> {
    csr::shape_check(obj).map_err(|m| message(status::bad_request(&m)))?;
    let prepared = csr::prepare_create(obj, by);
    let name = prepared["metadata"]["name"]
        .as_str()
        .unwrap_or("")
        .to_string();
    csr::validate_create(&prepared)
        .map_err(|causes| message(status::invalid(csr::KIND, csr::GROUP, &name, &causes)))?;
    csr::admission_create(&prepared).map_err(|text| {
        message(status::forbidden_with(
            csr::RESOURCE,
            csr::GROUP,
            &name,
            &text,
        ))
    })?;
    Ok(prepared)
}

// ---- RBAC ------------------------------------------------------------------------------------

#[test]
fn john_is_forbidden_to_list_secrets_with_kubernetes_exact_message() {
    let state = rulebook();
    let john = user("john", &["developers"]);
    let pods = Attributes::resource(&john, "list", "default", "", "pods");
    assert_eq!(
        answer(&state, &[], &pods),
        Ok("RBAC: allowed by RoleBinding \"developers-view/default\" of ClusterRole \"view\" to Group \"developers\"".into())
    );
    let secrets = Attributes::resource(&john, "list", "default", "", "secrets");
    assert_eq!(
        answer(&state, &[], &secrets),
        Err((403, r#"secrets is forbidden: User "john" cannot list resource "secrets" in API group "" in the namespace "default""#.into()))
    );
    // The binding is namespaced: kube-system is out of reach.
    let elsewhere = Attributes::resource(&john, "list", "kube-system", "", "pods");
    assert_eq!(
        answer(&state, &[], &elsewhere),
        Err((403, r#"pods is forbidden: User "john" cannot list resource "pods" in API group "" in the namespace "kube-system""#.into()))
    );
}

#[test]
fn admin_conf_is_allowed_through_kubeadm_cluster_admins_binding() {
    let admin = admin();
    let attrs = Attributes::resource(
        &admin,
        "list",
        "",
        "certificates.k8s.io",
        "certificatesigningrequests",
    );
    assert_eq!(
        answer(&rulebook(), &[], &attrs),
        Ok("RBAC: allowed by ClusterRoleBinding \"kubeadm:cluster-admins\" of ClusterRole \"cluster-admin\" to Group \"kubeadm:cluster-admins\"".into())
    );
    // Without that binding the same badge is refused everything (fact sheet §8.4).
    let mut broken = rulebook();
    broken
        .cluster_role_bindings
        .retain(|b| b["metadata"]["name"] != "kubeadm:cluster-admins");
    assert_eq!(
        answer(&broken, &[], &attrs),
        Err((403, r#"certificatesigningrequests.certificates.k8s.io is forbidden: User "kubernetes-admin" cannot list resource "certificatesigningrequests" in API group "certificates.k8s.io" at the cluster scope"#.into()))
    );
}

#[test]
fn super_admin_conf_needs_no_binding_at_all() {
    let root = user("kubernetes-super-admin", &["system:masters"]);
    let attrs = Attributes::resource(&root, "delete", "kube-system", "", "secrets").with_name("x");
    assert_eq!(
        answer(&RbacState::default(), &[], &attrs),
        Ok(String::new())
    );
}

#[test]
fn the_scheduler_may_bind_pods_but_not_read_secrets() {
    let state = rulebook();
    let bob = user("system:kube-scheduler", &[]);
    let bind = Attributes::resource(&bob, "create", "default", "", "pods")
        .with_name("web")
        .with_subresource("binding");
    assert_eq!(
        answer(&state, &[], &bind),
        Ok("RBAC: allowed by ClusterRoleBinding \"system:kube-scheduler\" of ClusterRole \"system:kube-scheduler\" to User \"system:kube-scheduler\"".into())
    );
    for (verb, res) in [("watch", "nodes"), ("list", "pods"), ("patch", "pods")] {
        let mut a = Attributes::resource(&bob, verb, "", "", res);
        if verb == "patch" {
            a = a.with_subresource("status").with_name("web");
            a.namespace = "default".into();
        }
        assert!(answer(&state, &[], &a).is_ok(), "{verb} {res}");
    }
    let lease = Attributes::resource(
        &bob,
        "update",
        "kube-system",
        "coordination.k8s.io",
        "leases",
    );
    assert!(answer(&state, &[], &lease.clone().with_name("kube-scheduler")).is_ok());
    // The bootstrap Role system::leader-locking-kube-scheduler lets it update any lease in
    // kube-system (upstream's namespace-roles.yaml), but nowhere else.
    let mut elsewhere = lease.with_name("kube-controller-manager");
    elsewhere.namespace = "default".into();
    assert!(answer(&state, &[], &elsewhere).is_err());
    let secret = Attributes::resource(&bob, "get", "default", "", "secrets").with_name("db");
    assert_eq!(
        answer(&state, &[], &secret),
        Err((403, r#"secrets "db" is forbidden: User "system:kube-scheduler" cannot get resource "secrets" in API group "" in the namespace "default""#.into()))
    );
}

#[test]
fn kube_proxy_may_watch_endpoints() {
    let state = rulebook();
    // kubeadm's kube-proxy is a ServiceAccount, bound by kubeadm:node-proxier.
    let dave = UserInfo::service_account("kube-system", "kube-proxy");
    let watch = Attributes::resource(&dave, "watch", "", "", "endpoints");
    assert_eq!(
        answer(&state, &[], &watch),
        Ok("RBAC: allowed by ClusterRoleBinding \"kubeadm:node-proxier\" of ClusterRole \"system:node-proxier\" to ServiceAccount \"kube-proxy/kube-system\"".into())
    );
    let slices = Attributes::resource(&dave, "list", "", "discovery.k8s.io", "endpointslices");
    assert!(answer(&state, &[], &slices).is_ok());
    let create = Attributes::resource(&dave, "create", "default", "", "services");
    assert!(answer(&state, &[], &create).is_err());
}

#[test]
fn a_node_may_not_read_a_secret_of_a_pod_on_another_node() {
    let pods = vec![
        json!({"metadata": {"name": "db-0", "namespace": "default"},
               "spec": {"nodeName": "n2", "volumes": [{"name": "pw", "secret": {"secretName": "db"}}]}}),
        json!({"metadata": {"name": "web", "namespace": "default"},
               "spec": {"nodeName": "n1", "containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "web-env"}}]}]}}),
    ];
    let n1 = user("system:node:n1", &["system:nodes"]);
    let own = Attributes::resource(&n1, "get", "default", "", "secrets").with_name("web-env");
    assert_eq!(answer(&rulebook(), &pods, &own), Ok(String::new()));
    let foreign = Attributes::resource(&n1, "get", "default", "", "secrets").with_name("db");
    assert_eq!(
        answer(&rulebook(), &pods, &foreign),
        Err((403, r#"secrets "db" is forbidden: User "system:node:n1" cannot get resource "secrets" in API group "" in the namespace "default": no relationship found between node 'n1' and this object"#.into()))
    );
}

#[test]
fn kubectl_auth_can_i_over_protobuf_gets_its_answer() {
    let msg = protobuf::SelfSubjectAccessReview {
        metadata: None,
        spec: Some(protobuf::SelfSubjectAccessReviewSpec {
            resource_attributes: Some(protobuf::ResourceAttributes {
                namespace: "default".into(),
                verb: "list".into(),
                resource: "secrets".into(),
                ..Default::default()
            }),
            non_resource_attributes: None,
        }),
    };
    let body = protobuf::encode("authorization.k8s.io/v1", "SelfSubjectAccessReview", &msg);
    let review = protobuf::decode("SelfSubjectAccessReview", &body).unwrap();
    let john = user("john", &["developers"]);
    let attrs = Attributes::from_access_review_spec(&john, &review["spec"]).unwrap();
    assert!(!rbac::authorize_request(&rulebook(), &[], &attrs).is_allowed());
    let (resource_rules, _) = rbac::rules_for(&rulebook(), &john, "default");
    assert!(resource_rules
        .iter()
        .any(|r| r["resources"].as_array().unwrap().contains(&json!("pods"))));
    assert!(!resource_rules.iter().any(|r| r["resources"]
        .as_array()
        .unwrap()
        .contains(&json!("secrets"))));
}

// ---- The badge office ------------------------------------------------------------------------

#[test]
fn expiration_seconds_300_is_refused_with_the_422_text() {
    let admin = admin();
    let obj = client_csr("john", &csr_pem("john", Some("developers"), &[]), Some(300));
    assert_eq!(
        create(&obj, &admin),
        Err((422, r#"CertificateSigningRequest.certificates.k8s.io "john" is invalid: spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 600 seconds (10 minutes)"#.into()))
    );
}

#[test]
fn system_masters_is_refused_by_the_kube_apiserver_client_signer() {
    let admin = admin();
    let obj = client_csr(
        "mallory",
        &csr_pem("mallory", Some("system:masters"), &[]),
        None,
    );
    assert_eq!(
        create(&obj, &admin),
        Err((403, r#"certificatesigningrequests.certificates.k8s.io "mallory" is forbidden: use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed"#.into()))
    );
}

#[test]
fn approving_without_approve_on_the_signer_is_forbidden() {
    let john = user("john", &["developers"]);
    let state = rulebook();
    let can = |a: &Attributes| rbac::authorize_request(&state, &[], a).is_allowed();
    assert!(!csr::is_authorized_for_signer(
        &john,
        "approve",
        csr::KUBE_APISERVER_CLIENT,
        can
    ));
    let admin = admin();
    assert!(csr::is_authorized_for_signer(
        &admin,
        "approve",
        csr::KUBE_APISERVER_CLIENT,
        can
    ));
    assert_eq!(
        message(status::forbidden_with(csr::RESOURCE, csr::GROUP, "john", &csr::not_permitted_to_approve(csr::KUBE_APISERVER_CLIENT))),
        (403, r#"certificatesigningrequests.certificates.k8s.io "john" is forbidden: user not permitted to approve requests with signerName "kubernetes.io/kube-apiserver-client""#.into())
    );
}

#[test]
fn a_serving_csr_without_sans_fails_signer_validation() {
    let n1 = user("system:node:n1", &["system:nodes"]);
    let obj = csr_object(
        "serving",
        &csr_pem("system:node:n1", Some("system:nodes"), &[]),
        csr::KUBELET_SERVING,
        &["digital signature", "key encipherment", "server auth"],
        None,
    );
    // Accepted at create: signer rules are checked only by the signer.
    let stored = create(&obj, &n1).unwrap();
    let approved = approve(&stored);
    let failure = csr::sign(&ca(), &approved, NOW, csr::DEFAULT_MAX_DURATION).unwrap_err();
    assert_eq!(failure.to_string(), "DNS or IP subjectAltName is required");
    let cond = failure.failed_condition(NOW).unwrap();
    assert_eq!(cond["type"], "Failed");
    assert_eq!(cond["reason"], "SignerValidationFailure");
    assert_eq!(cond["message"], "DNS or IP subjectAltName is required");
    let mut with_failed = approved.clone();
    with_failed["status"]["conditions"]
        .as_array_mut()
        .unwrap()
        .push(cond);
    assert_eq!(csr::condition_summary(&with_failed), "Approved,Failed");
    // And a serving CSR is never auto-approved, whoever may do what.
    assert_eq!(csr::should_auto_approve(&stored, &n1, |_| true, NOW), None);
}

#[test]
fn an_approved_csr_for_john_yields_a_one_day_certificate_that_keeps_his_subject() {
    let ca = ca();
    let admin = admin();
    let obj = csr_object(
        "john",
        &csr_pem("john", Some("developers"), &[]),
        csr::KUBE_APISERVER_CLIENT,
        &["digital signature", "key encipherment", "client auth"],
        Some(86400),
    );
    let stored = create(&obj, &admin).unwrap();
    assert_eq!(stored["spec"]["username"], "kubernetes-admin");
    assert_eq!(csr::condition_summary(&stored), "Pending");
    assert_eq!(
        csr::sign(&ca, &stored, NOW, csr::DEFAULT_MAX_DURATION),
        Err(SignerFailure::NotApproved)
    );

    let approved = approve(&stored);
    assert_eq!(csr::validate_approval_update(&stored, &approved), Ok(()));
    let pem = csr::sign(&ca, &approved, NOW, csr::DEFAULT_MAX_DURATION).unwrap();

    let der = pem::parse(&pem).unwrap().into_contents();
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    assert_eq!(cert.subject().to_string(), "O=developers, CN=john");
    assert_eq!(cert.issuer().to_string(), "CN=kubernetes");
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && !eku.server_auth);
    let ku = cert.key_usage().unwrap().unwrap().value;
    assert!(ku.digital_signature() && ku.key_encipherment() && !ku.key_cert_sign());
    assert!(!cert.is_ca());
    let nb = cert.validity().not_before.timestamp();
    let na = cert.validity().not_after.timestamp();
    assert_eq!(nb, (NOW - Duration::minutes(5)).unix_timestamp());
    assert_eq!(
        na - nb,
        86400,
        "exactly one day: backdated start, and the end pulled in by 5 min"
    );
    assert!(cert.subject_alternative_name().unwrap().is_none());
    // The public key is the requester's, not a new one.
    let csr_der = pem::parse(csr::request_bytes(&stored))
        .unwrap()
        .into_contents();
    let (_, req) =
        x509_parser::certification_request::X509CertificationRequest::from_der(&csr_der).unwrap();
    assert_eq!(
        cert.public_key().raw,
        req.certification_request_info.subject_pki.raw
    );

    let mut issued = approved.clone();
    issued["status"]["certificate"] = json!(base64::engine::general_purpose::STANDARD.encode(&pem));
    assert_eq!(csr::condition_summary(&issued), "Approved,Issued");
    assert_eq!(
        csr::sign(&ca, &issued, NOW, csr::DEFAULT_MAX_DURATION),
        Err(SignerFailure::AlreadyFinished)
    );
}

#[test]
fn openssl_accepts_the_issued_certificate_as_a_client_badge_from_the_cluster_ca() {
    let ca = ca();
    let obj = client_csr("john", &csr_pem("john", Some("developers"), &[]), None);
    let approved =
        approve(&create(&obj, &user("kubernetes-admin", &["kubeadm:cluster-admins"])).unwrap());
    let leaf = csr::sign(&ca, &approved, NOW, csr::DEFAULT_MAX_DURATION).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.crt");
    let leaf_path = dir.path().join("john.crt");
    std::fs::write(
        &ca_path,
        pem::encode(&pem::Pem::new("CERTIFICATE", ca.cert.to_vec())),
    )
    .unwrap();
    std::fs::write(&leaf_path, &leaf).unwrap();
    let Ok(out) = std::process::Command::new("openssl")
        .args(["verify", "-purpose", "sslclient", "-attime"])
        .arg((NOW.unix_timestamp() + 60).to_string())
        .arg("-CAfile")
        .arg(&ca_path)
        .arg(&leaf_path)
        .output()
    else {
        eprintln!("openssl not installed; skipping the independent check");
        return;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(": OK"), "{stdout}");
}

#[test]
fn a_year_is_the_most_anyone_gets_and_the_ca_end_is_a_hard_limit() {
    let admin = admin();
    let obj = client_csr("long", &csr_pem("long", None, &[]), Some(10 * 365 * 86400));
    let approved = approve(&create(&obj, &admin).unwrap());
    let lifetime = |ca: &Ca| {
        let pem = csr::sign(ca, &approved, NOW, csr::DEFAULT_MAX_DURATION).unwrap();
        let der = pem::parse(&pem).unwrap().into_contents();
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        (
            cert.validity().not_before.timestamp(),
            cert.validity().not_after.timestamp(),
        )
    };
    let (nb, na) = lifetime(&ca());
    assert_eq!(na - nb, 8760 * 3600);
    // A CA that ends tomorrow cannot sign past tomorrow.
    let short_ca = Ca::generate(
        "kubernetes",
        KeyPair::generate().unwrap(),
        NOW - Duration::days(30),
        Duration::days(31),
    )
    .unwrap();
    let (_, na) = lifetime(&short_ca);
    assert_eq!(na, (NOW + Duration::days(1)).unix_timestamp());
}

#[test]
fn a_badge_with_two_teams_keeps_both_organizations() {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "developers");
    params
        .distinguished_name
        .push(DnType::CustomDnType(vec![2, 5, 4, 10]), "qa");
    params.distinguished_name.push(DnType::CommonName, "john");
    let pem = params
        .serialize_request(&KeyPair::generate().unwrap())
        .unwrap()
        .pem()
        .unwrap();
    let admin = admin();
    let approved = approve(&create(&client_csr("john", &pem, None), &admin).unwrap());
    let leaf = csr::sign(&ca(), &approved, NOW, csr::DEFAULT_MAX_DURATION).unwrap();
    let der = pem::parse(&leaf).unwrap().into_contents();
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    assert_eq!(cert.subject().to_string(), "O=developers, O=qa, CN=john");
}

#[test]
fn an_unknown_signer_leaves_the_csr_unsigned() {
    let admin = admin();
    let obj = csr_object(
        "custom",
        &csr_pem("x", None, &[]),
        "kubecorp.lab/badges",
        &["client auth"],
        None,
    );
    let approved = approve(&create(&obj, &admin).unwrap());
    let err = csr::sign(&ca(), &approved, NOW, csr::DEFAULT_MAX_DURATION).unwrap_err();
    assert_eq!(
        err,
        SignerFailure::NotHandled {
            signer: "kubecorp.lab/badges".into()
        }
    );
    assert_eq!(err.failed_condition(NOW), None);
    assert_eq!(csr::condition_summary(&approved), "Approved");
}

#[test]
fn a_kubelet_rotating_its_own_client_certificate_is_auto_approved() {
    let n1 = user("system:node:n1", &["system:nodes"]);
    let obj = csr_object(
        "node-csr",
        &csr_pem("system:node:n1", Some("system:nodes"), &[]),
        csr::KUBE_APISERVER_CLIENT_KUBELET,
        &["digital signature", "client auth"],
        None,
    );
    let stored = create(&obj, &n1).unwrap();
    let state = rulebook();
    let can = |a: &Attributes| rbac::authorize_request(&state, &[], a).is_allowed();
    let cond = csr::should_auto_approve(&stored, &n1, can, NOW).unwrap();
    assert_eq!(cond["reason"], "AutoApproved");
    assert_eq!(
        cond["message"],
        "Auto approving self kubelet client certificate after SubjectAccessReview."
    );
    // Another node asking for n1's badge is not "self", and nodes hold no nodeclient grant.
    let n2 = user("system:node:n2", &["system:nodes"]);
    let stolen = create(&obj, &n2).unwrap();
    assert_eq!(csr::should_auto_approve(&stolen, &n2, can, NOW), None);
    // Approved and signed, it is a valid kubelet client certificate.
    let mut approved = stored.clone();
    approved["status"]["conditions"] = json!([cond]);
    assert!(csr::sign(&ca(), &approved, NOW, csr::DEFAULT_MAX_DURATION).is_ok());
}

#[test]
fn kubectl_certificate_approve_over_protobuf_round_trips_into_a_valid_approval() {
    let admin = admin();
    let pem = csr_pem("john", Some("developers"), &[]);
    let stored = create(&client_csr("john", &pem, None), &admin).unwrap();
    // kubectl 1.32 PUTs the whole object in protobuf, with the request as raw PEM bytes.
    let msg = protobuf::CertificateSigningRequest {
        metadata: Some(protobuf::ObjectMeta {
            name: "john".into(),
            resource_version: "7".into(),
            ..Default::default()
        }),
        spec: Some(protobuf::CsrSpec {
            request: pem.as_bytes().to_vec(),
            signer_name: csr::KUBE_APISERVER_CLIENT.into(),
            usages: vec!["client auth".into()],
            username: "kubernetes-admin".into(),
            groups: vec![
                "kubeadm:cluster-admins".into(),
                "system:authenticated".into(),
            ],
            ..Default::default()
        }),
        status: Some(protobuf::CsrStatus {
            conditions: vec![protobuf::CsrCondition {
                r#type: "Approved".into(),
                status: "True".into(),
                reason: "KubectlApprove".into(),
                message: "This CSR was approved by kubectl certificate approve.".into(),
                last_update_time: Some(protobuf::Time {
                    seconds: NOW.unix_timestamp(),
                    nanos: 0,
                }),
                last_transition_time: None,
            }],
            certificate: vec![],
        }),
    };
    let body = protobuf::encode("certificates.k8s.io/v1", "CertificateSigningRequest", &msg);
    let new = protobuf::decode("CertificateSigningRequest", &body).unwrap();
    assert_eq!(new["spec"]["request"], stored["spec"]["request"]);
    assert_eq!(new["metadata"]["resourceVersion"], "7");
    assert_eq!(csr::validate_approval_update(&stored, &new), Ok(()));
    let approved = csr::prepare_approval_update(&stored, &new, NOW);
    assert_eq!(
        approved["status"]["conditions"][0]["lastUpdateTime"],
        "2025-03-01T09:00:00Z"
    );
    assert!(csr::sign(&ca(), &approved, NOW, csr::DEFAULT_MAX_DURATION).is_ok());
}
