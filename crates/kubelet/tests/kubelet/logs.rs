//! `kubectl logs` through Alice to the kubelet: the lines it serves, the serving CSR an admin
//! must approve first, Alice's badge without rights on nodes/proxy, and a kubelet gone.

use super::{Lab1, NODE};
use kubecorp_apiserver::pod_log::KubeletClientConfig;
use kubecorp_testkit::eventually;
use kubecorp_trust::tls::CertSource;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_logs_reaches_the_kubelet_through_the_apiserver() {
    let test = "kubectl_logs_reaches_the_kubelet_through_the_apiserver";
    let Some((lab, kubectl)) = Lab1::judged_by("kubectl", test).await else {
        return;
    };
    lab.web_running().await;

    let logs = lab.kubectl(&kubectl, &["logs", "web"]).await;
    assert_eq!(logs.status, 0, "{logs:?}");
    assert!(
        logs.stdout
            .contains("kubecorp: container web started from image nginx"),
        "{logs:?}"
    );
    assert_eq!(logs.stdout.lines().count(), 5, "{logs:?}");

    let tail = lab.kubectl(&kubectl, &["logs", "web", "--tail=2"]).await;
    assert_eq!(tail.status, 0, "{tail:?}");
    assert_eq!(tail.stdout.lines().count(), 2, "{tail:?}");
    assert!(tail.stdout.contains("is serving requests"), "{tail:?}");

    // The kubelet's own refusal, relayed by Alice as a BadRequest.
    let previous = lab.kubectl(&kubectl, &["logs", "web", "--previous"]).await;
    assert_eq!(previous.status, 1, "{previous:?}");
    assert_eq!(
        previous.stderr.trim_end(),
        "Error from server (BadRequest): previous terminated container \"web\" in pod \"web\" not found"
    );
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_serving_certificate_rotation_logs_fail_until_an_admin_approves_the_kubelet_serving_csr(
) {
    let test = "with_serving_certificate_rotation_logs_fail_until_an_admin_approves_the_kubelet_serving_csr";
    let Some((lab, kubectl)) = Lab1::rotating_judged_by("kubectl", test).await else {
        return;
    };
    lab.web_running().await;

    let refused = lab.kubectl(&kubectl, &["logs", "web"]).await;
    assert_eq!(refused.status, 1, "{refused:?}");
    assert_eq!(
        refused.stderr.trim_end(),
        format!(
            "Error from server: Get \"https://127.0.0.1:{}/containerLogs/default/web/web\": remote error: tls: internal error",
            lab.kubelet_addr.port()
        )
    );
    let kubelet_log = lab
        .logged(
            "the kubelet logs the refused handshake",
            |e| e.to == "kubelet",
            |l| l.starts_with("http: TLS handshake error"),
        )
        .await;
    assert!(
        kubelet_log.starts_with("http: TLS handshake error from 127.0.0.1:")
            && kubelet_log.ends_with(": no serving certificate available for the kubelet"),
        "{kubelet_log}"
    );

    let admin = lab.admin();
    let csr = eventually("the kubelet-serving CSR is pending", || {
        let admin = admin.clone();
        async move {
            let list = admin
                .get("/apis/certificates.k8s.io/v1/certificatesigningrequests")
                .await
                .ok()?;
            list["items"]
                .as_array()?
                .iter()
                .find(|c| {
                    c["spec"]["signerName"] == "kubernetes.io/kubelet-serving"
                        && c["spec"]["username"] == format!("system:node:{NODE}")
                })
                .cloned()
        }
    })
    .await;
    assert!(
        csr["status"]["certificate"].is_null(),
        "serving CSRs are never auto-approved"
    );
    let name = csr["metadata"]["name"].as_str().unwrap().to_owned();

    let approve = lab
        .kubectl(&kubectl, &["certificate", "approve", &name])
        .await;
    assert_eq!(approve.status, 0, "{approve:?}");
    assert_eq!(
        approve.stdout.trim_end(),
        format!("certificatesigningrequest.certificates.k8s.io/{name} approved")
    );

    let cert_dir = lab.cert_dir.clone();
    eventually("kubelet-server-current.pem is written", || {
        let path = cert_dir.join("kubelet-server-current.pem");
        async move { path.exists().then_some(()) }
    })
    .await;
    let current = cert_dir.join("kubelet-server-current.pem");
    let served =
        kubecorp_kubelet::certs::leaf_info(&current, &std::fs::read(&current).unwrap()).unwrap();
    assert_eq!(served.issuer_cn, "kubernetes");
    assert_eq!(served.subject_cn, format!("system:node:{NODE}"));
    assert_eq!(
        served.alt_names,
        vec![format!("DNS:{NODE}"), "IP:127.0.0.1".to_string()]
    );
    let logs = lab.kubectl(&kubectl, &["logs", "web"]).await;
    assert_eq!(logs.status, 0, "{logs:?}");
    assert!(logs.stdout.contains("started from image nginx"), "{logs:?}");
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_alices_kubelet_badge_has_no_rights_on_nodes_proxy_kubectl_logs_prints_the_kubelets_refusal(
) {
    let test = "when_alices_kubelet_badge_has_no_rights_on_nodes_proxy_kubectl_logs_prints_the_kubelets_refusal";
    let Some((lab, kubectl)) = Lab1::judged_by("kubectl", test).await else {
        return;
    };
    lab.web_running().await;
    // Alice dials kubelets with Bob's badge: genuine, but without nodes/proxy.
    let (cert, key) = lab.badge_files("scheduler.conf");
    lab.office.api.set_kubelet_client(Some(KubeletClientConfig {
        cert: CertSource::pem_files(&cert, &key),
        events: lab.office.events.clone(),
    }));

    let refused = lab.kubectl(&kubectl, &["logs", "web"]).await;
    assert_eq!(refused.status, 1, "{refused:?}");
    assert_eq!(
        refused.stderr.trim_end(),
        "Error from server (Forbidden): Forbidden (user=system:kube-scheduler, verb=get, resource=nodes, subresource(s)=[proxy]) ( pods/log web)"
    );
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_kubelet_gone_kubectl_logs_says_the_dial_was_refused() {
    let test = "with_the_kubelet_gone_kubectl_logs_says_the_dial_was_refused";
    let Some((mut lab, kubectl)) = Lab1::judged_by("kubectl", test).await else {
        return;
    };
    lab.web_running().await;
    lab.stop_kubelet().await;
    let refused = lab.kubectl(&kubectl, &["logs", "web"]).await;
    assert_eq!(refused.status, 1, "{refused:?}");
    let addr = lab.kubelet_addr;
    assert_eq!(
        refused.stderr.trim_end(),
        format!("Error from server: Get \"https://{addr}/containerLogs/default/web/web\": dial tcp {addr}: connect: connection refused")
    );
    lab.stop().await;
}
