//! CertificateSigningRequests with the real kubectl and openssl: the seed article's flow for
//! john (created, approved, issued, forbidden until bound, expired on the lab clock), the
//! expiration a signer grants or refuses, system:masters refused, approval as a verb of its
//! own, and a denied request.

use super::{base64_decoded, base64_of_bytes, Running};
use kubecorp_testkit::run_tool;

#[test]
fn the_seed_articles_csr_flow_gives_john_a_badge_that_is_forbidden_until_bound() {
    let Some((lab, openssl)) = Running::with_openssl("the_seed_articles_csr_flow") else {
        return;
    };
    // The article's request: john in developers, for one day.
    let (manifest, key) = csr_manifest(
        &lab,
        &openssl,
        "john-developer",
        "/CN=john/O=developers",
        Some(86400),
    );
    lab.admin(&["apply", "-f", &manifest])
        .success()
        .stdout_has("certificatesigningrequest.certificates.k8s.io/john-developer created");
    lab.admin(&["get", "csr"])
        .success()
        .stdout_has("Pending")
        .stdout_has("kubernetes-admin")
        .stdout_has("24h");
    lab.admin(&["certificate", "approve", "john-developer"])
        .success()
        .stdout_has("certificatesigningrequest.certificates.k8s.io/john-developer approved");
    lab.admin(&["get", "csr", "john-developer"])
        .success()
        .stdout_has("Approved,Issued");
    let crt = lab.write("john.crt", &issued_pem(&lab, "john-developer"));
    let text = run_tool(
        &openssl,
        ["x509", "-noout", "-subject", "-dates", "-in", &crt],
    )
    .success()
    .stdout;
    assert!(
        text.contains("subject=CN = john, O = developers"),
        "the CSR's subject is kept as written: {text}"
    );
    let ca = format!("{}/pki/ca.crt", lab.dir.display());
    run_tool(&openssl, ["verify", "-CAfile", &ca, &crt]).success();

    // A kubeconfig for john, made the way the article makes it.
    let john = lab.kubeconfig_for("john", &crt, &key);
    let john = john.as_str();

    lab.kubectl(john, &["auth", "whoami"])
        .success()
        .stdout_has("john")
        .stdout_has("developers");
    lab.kubectl(john, &["get", "pods"])
        .failure(1)
        .stderr_has("Error from server (Forbidden): pods is forbidden: User \"john\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\"");
    lab.kubectl(john, &["auth", "can-i", "list", "pods"])
        .failure(1)
        .stdout_has("no");
    lab.admin(&[
        "create",
        "rolebinding",
        "john-view",
        "--clusterrole=view",
        "--user=john",
        "-n",
        "default",
    ])
    .success()
    .stdout_has("rolebinding.rbac.authorization.k8s.io/john-view created");
    lab.kubectl(john, &["get", "pods"])
        .success()
        .stderr_has("No resources found in default namespace.");
    lab.kubectl(john, &["auth", "can-i", "list", "pods"])
        .success()
        .stdout_has("yes");
    lab.kubectl(john, &["get", "secrets"])
        .failure(1)
        .stderr_has("Error from server (Forbidden): secrets is forbidden: User \"john\" cannot list resource \"secrets\" in API group \"\" in the namespace \"default\"");

    // A day later on the lab clock, the one-day badge has expired: 401.
    lab.clock.advance(time::Duration::days(2));
    lab.kubectl(john, &["get", "pods"])
        .failure(1)
        .stderr_has("error: You must be logged in to the server (Unauthorized)");
    let events = lab.events.snapshot();
    let refused = events
        .iter()
        .find(|e| e.stage == kubecorp_trust::Stage::Authn && !e.allowed)
        .expect("the refusal is an event");
    let log = refused.server_log.as_deref().unwrap_or("");
    // kubeadm's front-proxy authenticator runs first, so Go's aggregate names its error first.
    assert!(
        log.starts_with("\"Unable to authenticate the request\" err=\"[x509: certificate has expired or is not yet valid: current time "),
        "{log}"
    );
    assert!(log.contains(", verifying certificate SN="), "{log}");
    assert!(
        log.contains("x509: certificate has expired or is not yet valid: current time"),
        "{log}"
    );
    assert!(
        !format!("{events:?}").contains("PRIVATE KEY"),
        "no key material in events"
    );
}

#[test]
fn a_long_lived_csr_gets_the_one_year_default() {
    let Some((lab, openssl)) = Running::with_openssl("a_long_lived_csr") else {
        return;
    };
    let (manifest, _) = csr_manifest(
        &lab,
        &openssl,
        "john-developer-long-lived",
        "/CN=john/O=developers",
        None,
    );
    lab.admin(&["create", "-f", &manifest]).success();
    lab.admin(&["get", "csr"]).success().stdout_has("<none>");
    lab.admin(&["certificate", "approve", "john-developer-long-lived"])
        .success();
    let json = lab
        .admin(&["get", "csr", "john-developer-long-lived", "-o", "json"])
        .success()
        .stdout;
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    use base64::Engine;
    let pem = base64::engine::general_purpose::STANDARD
        .decode(v["status"]["certificate"].as_str().unwrap())
        .unwrap();
    let crt = lab.write("long.crt", &String::from_utf8(pem).unwrap());
    let end = run_tool(&openssl, ["x509", "-noout", "-enddate", "-in", &crt])
        .success()
        .stdout;
    let next_year = (time::OffsetDateTime::now_utc() + time::Duration::days(364))
        .year()
        .to_string();
    assert!(end.contains(&next_year), "one year: {end}");
    lab.admin(&["create", "-f", &manifest])
        .failure(1)
        .stderr_has("Error from server (AlreadyExists): error when creating");
    lab.admin(&["delete", "csr", "john-developer-long-lived"])
        .success()
        .stdout_has(
            "certificatesigningrequest.certificates.k8s.io \"john-developer-long-lived\" deleted",
        );
    lab.admin(&["get", "csr", "john-developer-long-lived"])
        .failure(1)
        .stderr_has("Error from server (NotFound): certificatesigningrequests.certificates.k8s.io \"john-developer-long-lived\" not found");
}

/// A CSR manifest for `subj`, with its private key written beside it: (manifest, key path).
fn csr_manifest(
    lab: &Running,
    openssl: &std::path::Path,
    name: &str,
    subj: &str,
    expiration: Option<u32>,
) -> (String, String) {
    let key = lab.tmp.path().join(format!("{name}.key"));
    let csr = lab.tmp.path().join(format!("{name}.csr"));
    run_tool(openssl, ["genrsa", "-out", key.to_str().unwrap(), "2048"]).success();
    run_tool(
        openssl,
        [
            "req",
            "-new",
            "-key",
            key.to_str().unwrap(),
            "-out",
            csr.to_str().unwrap(),
            "-subj",
            subj,
        ],
    )
    .success();
    let request = base64_of_bytes(&std::fs::read(&csr).unwrap());
    let expiration = expiration
        .map(|s| format!("  expirationSeconds: {s}\n"))
        .unwrap_or_default();
    let manifest = lab.write(
        &format!("{name}.yaml"),
        &format!(
            "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  name: {name}\nspec:\n  request: {request}\n  signerName: kubernetes.io/kube-apiserver-client\n{expiration}  usages:\n  - client auth\n"
        ),
    );
    (manifest, key.to_string_lossy().into_owned())
}

/// Admin creates and approves a CSR for `subj`; returns a kubeconfig for the issued badge.
fn issued_kubeconfig(lab: &Running, openssl: &std::path::Path, name: &str, subj: &str) -> String {
    let (manifest, key) = csr_manifest(lab, openssl, name, subj, Some(86400));
    lab.admin(&["create", "-f", &manifest]).success();
    lab.admin(&["certificate", "approve", name]).success();
    let crt = lab.write(&format!("{name}.crt"), &issued_pem(lab, name));
    lab.kubeconfig_for(name, &crt, &key)
}

/// The badge issued for CSR `name`, as PEM (`.status.certificate`, decoded).
fn issued_pem(lab: &Running, name: &str) -> String {
    let b64 = lab
        .admin(&["get", "csr", name, "-o", "jsonpath={.status.certificate}"])
        .success()
        .stdout;
    base64_decoded(&b64)
}

#[test]
fn expiration_seconds_300_is_refused_with_kubernetes_422_text() {
    let Some((lab, openssl)) = Running::with_openssl("expiration_seconds_300") else {
        return;
    };
    let (manifest, _) = csr_manifest(
        &lab,
        &openssl,
        "john-short",
        "/CN=john/O=developers",
        Some(300),
    );
    lab.admin(&["create", "-f", &manifest])
        .failure(1)
        .stderr_has("The CertificateSigningRequest \"john-short\" is invalid: spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 600 seconds (10 minutes)");
    lab.admin(&["get", "csr", "john-short"])
        .failure(1)
        .stderr_has("Error from server (NotFound)");
}

#[test]
fn the_kube_apiserver_client_signer_refuses_system_masters() {
    let Some((lab, openssl)) = Running::with_openssl("the_kube_apiserver_client_signer_refuses")
    else {
        return;
    };
    let (manifest, _) = csr_manifest(&lab, &openssl, "root", "/CN=mallory/O=system:masters", None);
    lab.admin(&["create", "-f", &manifest])
        .failure(1)
        .stderr_has("Error from server (Forbidden): error when creating")
        .stderr_has("use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed");
}

#[test]
fn john_cannot_approve_his_own_csr_without_the_approve_verb() {
    let Some((lab, openssl)) = Running::with_openssl("john_cannot_approve_his_own_csr") else {
        return;
    };
    let john = issued_kubeconfig(&lab, &openssl, "john", "/CN=john/O=developers");
    // `kubectl create clusterrole` sends the role as protobuf.
    lab.admin(&[
        "create",
        "clusterrole",
        "csr-approval",
        "--verb=get,list,create,update",
        "--resource=certificatesigningrequests,certificatesigningrequests/approval",
    ])
    .success()
    .stdout_has("clusterrole.rbac.authorization.k8s.io/csr-approval created");
    lab.admin(&[
        "create",
        "clusterrolebinding",
        "john-csr-approval",
        "--clusterrole=csr-approval",
        "--user=john",
    ])
    .success()
    .stdout_has("clusterrolebinding.rbac.authorization.k8s.io/john-csr-approval created");
    let (manifest, _) = csr_manifest(&lab, &openssl, "john-more", "/CN=john/O=developers", None);
    lab.kubectl(&john, &["create", "-f", &manifest])
        .success()
        .stdout_has("certificatesigningrequest.certificates.k8s.io/john-more created");
    lab.kubectl(&john, &["certificate", "approve", "john-more"])
        .failure(1)
        .stderr_has(
            "user not permitted to approve requests with signerName \"kubernetes.io/kube-apiserver-client\"",
        );
    lab.admin(&["get", "csr", "john-more"])
        .success()
        .stdout_has("Pending");
}

#[test]
fn kubectl_certificate_deny_marks_the_csr_denied() {
    let Some((lab, openssl)) = Running::with_openssl("kubectl_certificate_deny") else {
        return;
    };
    let (manifest, _) = csr_manifest(&lab, &openssl, "eve", "/CN=eve/O=developers", None);
    lab.admin(&["create", "-f", &manifest]).success();
    lab.admin(&["certificate", "deny", "eve"])
        .success()
        .stdout_has("certificatesigningrequest.certificates.k8s.io/eve denied");
    lab.admin(&["get", "csr", "eve"])
        .success()
        .stdout_has("Denied");
    let yaml = lab
        .admin(&["get", "csr", "eve", "-o", "yaml"])
        .success()
        .stdout_has("type: Denied")
        .stdout_has("status: \"True\"");
    assert!(!yaml.stdout.contains("certificate: "), "{}", yaml.dump());
    let list = lab.admin(&["auth", "can-i", "--list"]).success();
    assert!(
        list.stdout.starts_with("Resources"),
        "a table: {}",
        list.dump()
    );
    assert!(
        list.stdout
            .lines()
            .any(|l| l.starts_with("*.*") && l.contains("[*]")),
        "{}",
        list.dump()
    );
}
