//! The front proxy's badge, judged by the real curl and openssl: `front-proxy-client` vouches
//! for the user in `X-Remote-User`, a front-proxy badge with another CN is refused with Go's
//! text, a cluster-CA badge's `X-Remote-User` is ignored, and the `extension-apiserver-
//! authentication` ConfigMap carries what extension servers need.

use std::path::Path;

use super::Running;
use kubecorp_testkit::{run_tool, tool, Run};

/// `POST selfsubjectreviews` with curl: who Alice says the caller is. `badge` is the file stem
/// under `pki/` (`front-proxy-client`), or a full path pair.
fn whoami(lab: &Running, curl: &Path, cert: &str, key: &str, headers: &[&str]) -> Run {
    let ca = lab.dir.join("pki/ca.crt").to_string_lossy().into_owned();
    let mut args = vec![
        "-sS".to_string(),
        "-w".to_string(),
        "\n%{http_code}".to_string(),
        "--cacert".to_string(),
        ca,
        "--cert".to_string(),
        cert.to_string(),
        "--key".to_string(),
        key.to_string(),
        "-H".to_string(),
        "Content-Type: application/json".to_string(),
        "-d".to_string(),
        r#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#.to_string(),
    ];
    for h in headers {
        args.push("-H".to_string());
        args.push(h.to_string());
    }
    args.push(format!(
        "{}/apis/authentication.k8s.io/v1/selfsubjectreviews",
        lab.url
    ));
    run_tool(curl, args)
}

fn pki(lab: &Running, file: &str) -> String {
    lab.dir
        .join("pki")
        .join(file)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn the_front_proxy_client_badge_vouches_for_the_user_in_x_remote_user() {
    let Some(lab) = Running::start("the_front_proxy_client_badge_vouches") else {
        return;
    };
    let Some(curl) = tool("curl", "the_front_proxy_client_badge_vouches") else {
        return;
    };
    let (crt, key) = (
        pki(&lab, "front-proxy-client.crt"),
        pki(&lab, "front-proxy-client.key"),
    );
    let run = whoami(
        &lab,
        &curl,
        &crt,
        &key,
        &[
            "X-Remote-User: jane",
            "X-Remote-Group: developers",
            "X-Remote-Group: qa",
            "X-Remote-Extra-Scopes: view",
        ],
    )
    .success();
    assert!(run.stdout.ends_with("\n201"), "{}", run.dump());
    let body: serde_json::Value =
        serde_json::from_str(run.stdout.rsplit_once('\n').unwrap().0).unwrap();
    let info = &body["status"]["userInfo"];
    assert_eq!(info["username"], "jane", "{}", run.dump());
    assert_eq!(
        info["groups"],
        serde_json::json!(["developers", "qa", "system:authenticated"]),
        "{}",
        run.dump()
    );
    assert_eq!(info["extra"]["scopes"], serde_json::json!(["view"]));

    // Without X-Remote-User the front-proxy authenticator has no opinion, and the x509 one
    // does not know a badge signed by front-proxy-ca: 401.
    let run = whoami(&lab, &curl, &crt, &key, &[]).success();
    assert!(run.stdout.ends_with("\n401"), "{}", run.dump());
    assert!(
        run.stdout.contains("\"message\": \"Unauthorized\""),
        "{}",
        run.dump()
    );
    let line = lab.alices_log("Unable to authenticate the request");
    assert!(
        line.starts_with("\"Unable to authenticate the request\" err=\"verifying certificate SN="),
        "{line}"
    );
    assert!(
        line.ends_with("failed: x509: certificate signed by unknown authority\""),
        "{line}"
    );
}

#[test]
fn a_front_proxy_badge_whose_cn_is_not_allowed_is_refused_with_gos_text() {
    let Some(lab) = Running::start("a_front_proxy_badge_whose_cn_is_not_allowed") else {
        return;
    };
    let Some(curl) = tool("curl", "a_front_proxy_badge_whose_cn_is_not_allowed") else {
        return;
    };
    let Some(openssl) = tool("openssl", "a_front_proxy_badge_whose_cn_is_not_allowed") else {
        return;
    };
    // A badge the front-proxy CA signs, made with openssl, for a CN kubeadm does not allow.
    let key = lab.tmp.path().join("mallory.key");
    let csr = lab.tmp.path().join("mallory.csr");
    let crt = lab.tmp.path().join("mallory.crt");
    let ext = lab.write("client.ext", "extendedKeyUsage=clientAuth\n");
    let s = |p: &Path| p.to_string_lossy().into_owned();
    run_tool(
        &openssl,
        [
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=mallory",
            "-keyout",
            &s(&key),
            "-out",
            &s(&csr),
        ],
    )
    .success();
    run_tool(
        &openssl,
        [
            "x509",
            "-req",
            "-in",
            &s(&csr),
            "-CA",
            &pki(&lab, "front-proxy-ca.crt"),
            "-CAkey",
            &pki(&lab, "front-proxy-ca.key"),
            "-set_serial",
            "4242",
            "-days",
            "1",
            "-extfile",
            &ext,
            "-out",
            &s(&crt),
        ],
    )
    .success();
    let run = whoami(
        &lab,
        &curl,
        &s(&crt),
        &s(&key),
        &["X-Remote-User: kubernetes-admin"],
    )
    .success();
    assert!(run.stdout.ends_with("\n401"), "{}", run.dump());
    assert!(
        run.stdout.contains("\"message\": \"Unauthorized\""),
        "{}",
        run.dump()
    );
    // Go's aggregate: the request-header authenticator's refusal first, then x509's.
    let line = lab.alices_log("not in the allowed list");
    assert!(
        line.starts_with("\"Unable to authenticate the request\" err=\"[x509: subject with cn=mallory is not in the allowed list, verifying certificate SN=4242, "),
        "{line}"
    );
    assert!(
        line.ends_with("failed: x509: certificate signed by unknown authority]\""),
        "{line}"
    );
}

#[test]
fn a_cluster_ca_badge_s_x_remote_user_header_is_ignored() {
    let Some(lab) = Running::start("a_cluster_ca_badge_s_x_remote_user") else {
        return;
    };
    let Some(curl) = tool("curl", "a_cluster_ca_badge_s_x_remote_user") else {
        return;
    };
    let run = whoami(
        &lab,
        &curl,
        &pki(&lab, "apiserver-kubelet-client.crt"),
        &pki(&lab, "apiserver-kubelet-client.key"),
        &[
            "X-Remote-User: system:admin",
            "X-Remote-Group: system:masters",
        ],
    )
    .success();
    assert!(run.stdout.ends_with("\n201"), "{}", run.dump());
    assert!(
        run.stdout
            .contains("\"username\": \"kube-apiserver-kubelet-client\""),
        "{}",
        run.dump()
    );
    assert!(!run.stdout.contains("system:admin"), "{}", run.dump());
    assert!(!run.stdout.contains("system:masters"), "{}", run.dump());
}

#[test]
fn the_extension_apiserver_authentication_configmap_has_kube_apiservers_keys() {
    let Some(lab) = Running::start("the_extension_apiserver_authentication_configmap") else {
        return;
    };
    let run = lab
        .admin(&[
            "get",
            "configmap",
            "-n",
            "kube-system",
            "extension-apiserver-authentication",
            "-o",
            "json",
        ])
        .success();
    let cm: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let data = &cm["data"];
    let file = |f: &str| std::fs::read_to_string(lab.dir.join("pki").join(f)).unwrap();
    assert_eq!(data["client-ca-file"], file("ca.crt"));
    assert_eq!(
        data["requestheader-client-ca-file"],
        file("front-proxy-ca.crt")
    );
    assert_eq!(
        data["requestheader-allowed-names"],
        "[\"front-proxy-client\"]"
    );
    assert_eq!(
        data["requestheader-username-headers"],
        "[\"X-Remote-User\"]"
    );
    assert_eq!(data["requestheader-group-headers"], "[\"X-Remote-Group\"]");
    assert_eq!(
        data["requestheader-extra-headers-prefix"],
        "[\"X-Remote-Extra-\"]"
    );
}
