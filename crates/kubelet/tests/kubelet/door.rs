//! The kubelet's door :10250 judged by curl and openssl: a stranger's badge gets 401, a
//! cluster badge without nodes/proxy gets 403 in the kubelet's words, and the self-signed
//! serving badge the real kubelet makes by default.

use super::{rogue_badge, run_tool, Lab1, NODE};
use kubecorp_pki::Lab;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_without_a_cluster_ca_badge_gets_401_unauthorized_from_the_kubelet() {
    let test = "a_caller_without_a_cluster_ca_badge_gets_401_unauthorized_from_the_kubelet";
    let Some((lab, curl)) = Lab1::judged_by("curl", test).await else {
        return;
    };
    let anonymous = run_tool(&curl, lab.curl_args("/pods", None)).await;
    assert_eq!(anonymous.stdout, "Unauthorized\n401", "{anonymous:?}");

    let (cert, key) = rogue_badge(
        lab.tmp.path(),
        "kube-apiserver-kubelet-client",
        &["kubeadm:cluster-admins"],
    );
    let rogue = run_tool(&curl, lab.curl_args("/pods", Some((&cert, &key)))).await;
    assert_eq!(rogue.stdout, "Unauthorized\n401", "{rogue:?}");
    let logged = lab
        .logged(
            "the kubelet logs why",
            |e| e.to == "kubelet",
            |l| l.contains("Unable to authenticate the request"),
        )
        .await;
    // A CA named `kubernetes` with another key: Go's "possibly because of" variant.
    assert!(
        logged.ends_with("failed: x509: certificate signed by unknown authority (possibly because of \\\"x509: ECDSA verification failure\\\" while trying to verify candidate authority certificate \\\"kubernetes\\\")\""),
        "{logged}"
    );

    // The apiserver's real badge gets in.
    let pki = Lab::new(&lab.dir);
    let (cert, key) = (
        pki.cert_path("apiserver-kubelet-client"),
        pki.key_path("apiserver-kubelet-client"),
    );
    let alice = run_tool(&curl, lab.curl_args("/pods", Some((&cert, &key)))).await;
    assert!(alice.stdout.ends_with("\n200"), "{alice:?}");
    assert!(
        alice.stdout.starts_with("{\"kind\":\"PodList\""),
        "{alice:?}"
    );
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_badge_without_rights_on_nodes_proxy_gets_403_in_the_kubelets_words() {
    let test = "a_cluster_badge_without_rights_on_nodes_proxy_gets_403_in_the_kubelets_words";
    let Some((lab, curl)) = Lab1::judged_by("curl", test).await else {
        return;
    };
    // Bob's badge is genuine, but the scheduler may not use a node's API.
    let (cert, key) = lab.badge_files("scheduler.conf");
    let logs = "/containerLogs/default/web/web";
    let run = run_tool(&curl, lab.curl_args(logs, Some((&cert, &key)))).await;
    assert_eq!(
        run.stdout,
        "Forbidden (user=system:kube-scheduler, verb=get, resource=nodes, subresource(s)=[proxy])\n403",
        "{run:?}"
    );
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_serving_certificate_is_self_signed_the_way_the_real_kubelet_makes_it() {
    let test = "the_default_serving_certificate_is_self_signed_the_way_the_real_kubelet_makes_it";
    let Some((lab, openssl)) = Lab1::judged_by("openssl", test).await else {
        return;
    };
    let shown = run_tool(
        &openssl,
        vec![
            "s_client".into(),
            "-connect".into(),
            lab.kubelet_addr.to_string(),
            "-showcerts".into(),
        ],
    )
    .await;
    let stamp = |prefix: &str| shown.line_after(prefix);
    // `0 s:CN = kubecorp-control-plane@1795000000`, issued by its own throwaway CA, which is
    // sent along as the second certificate.
    let leaf = stamp(&format!("0 s:CN = {NODE}@"));
    let issuer = stamp(&format!("i:CN = {NODE}-ca@"));
    assert_eq!(leaf, issuer);
    assert_eq!(stamp(&format!("1 s:CN = {NODE}-ca@")), leaf);
    assert!(leaf.parse::<i64>().is_ok(), "{leaf}");
    assert!(lab.cert_dir.join("kubelet.crt").exists() && lab.cert_dir.join("kubelet.key").exists());
    lab.stop().await;
}
