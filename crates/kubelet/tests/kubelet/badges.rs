//! The kubelet's client badge: renewed by CSR when the lab clock says most of its life has
//! passed, and a badge Alice refuses, which never stops the kubelet: once repaired, its
//! heartbeats and pod reports get in again without a restart.

use std::time::Duration;

use super::{Lab1, NODE};
use kubecorp_testkit::eventually;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubelet_renews_its_client_badge_by_csr_when_most_of_its_life_has_passed() {
    let lab = Lab1::start(false).await;
    let conf = lab.dir.join("kubelet.conf");
    let credentials = kubecorp_pki::kubeconfig::Kubeconfig::read(&conf)
        .unwrap()
        .credentials(&conf)
        .unwrap();
    let chain = kubecorp_pki::cert::parse_cert_chain(&conf, &credentials.cert_pem).unwrap();
    let old = kubecorp_pki::cert::CertInfo::from_der(&conf, &chain[0]).unwrap();
    // 95 % of kubelet.conf's life: past any rotation deadline (70–90 %), still valid.
    let lifetime = old.not_after - old.not_before;
    lab.office.clock.set(old.not_before + lifetime * 0.95);

    let current = lab.cert_dir.join("kubelet-client-current.pem");
    let path = current.clone();
    eventually("kubelet-client-current.pem is written", || {
        let path = path.clone();
        async move { path.exists().then_some(()) }
    })
    .await;
    let pem = std::fs::read(&current).unwrap();
    let text = String::from_utf8_lossy(&pem);
    assert!(text.contains("-----BEGIN CERTIFICATE-----") && text.contains("PRIVATE KEY-----"));
    let new = kubecorp_kubelet::certs::leaf_info(&current, &pem).unwrap();
    assert_ne!(new.serial, old.serial);
    assert_eq!(new.subject_cn, format!("system:node:{NODE}"));
    assert_eq!(new.subject_orgs, vec!["system:nodes".to_string()]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&current).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    let admin = lab.admin();
    let list = admin
        .get("/apis/certificates.k8s.io/v1/certificatesigningrequests")
        .await
        .unwrap();
    let csr = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["spec"]["signerName"] == "kubernetes.io/kube-apiserver-client-kubelet")
        .expect("the kubelet sent a client CSR")
        .clone();
    assert_eq!(csr["spec"]["username"], format!("system:node:{NODE}"));
    assert_eq!(csr["status"]["conditions"][0]["type"], "Approved");
    assert_eq!(
        csr["status"]["conditions"][0]["message"],
        "Auto approving self kubelet client certificate after SubjectAccessReview."
    );

    // The next heartbeat is posted with the new badge.
    let events = lab.office.events.clone();
    let serial = new.serial.clone();
    eventually("Alice sees the new badge", || {
        let events = events.clone();
        let serial = serial.clone();
        async move {
            events
                .snapshot()
                .into_iter()
                .any(|e| {
                    e.to == "apiserver"
                        && e.allowed
                        && e.identity.as_ref().is_some_and(|i| {
                            i.cn == format!("system:node:{NODE}")
                                && u128::from_str_radix(&serial, 16)
                                    .is_ok_and(|s| s.to_string() == i.serial)
                        })
                })
                .then_some(())
        }
    })
    .await;

    // client-go v1.32 csr.go logs the issue in these words and no others.
    let issued = format!(
        "certificate signing request {} is issued",
        csr["metadata"]["name"].as_str().unwrap()
    );
    assert!(
        lab.office
            .events
            .snapshot()
            .iter()
            .any(|e| e.server_log.as_deref() == Some(issued.as_str())),
        "{issued}"
    );

    // kubeadm's layout: kubelet.conf now names the rotating file instead of embedding a badge,
    // and what it names is the new badge.
    let yaml = std::fs::read_to_string(&conf).unwrap();
    let named = format!(
        "client-certificate: {}",
        std::fs::canonicalize(&lab.cert_dir)
            .unwrap()
            .join("kubelet-client-current.pem")
            .display()
    );
    assert!(yaml.contains(&named), "{yaml}");
    assert!(!yaml.contains("client-key-data"), "{yaml}");
    let identity = kubecorp_trust::tls::CertSource::kubeconfig(&conf)
        .identity()
        .unwrap();
    assert_eq!(
        u128::from_str_radix(&new.serial, 16).map(|s| s.to_string()),
        Ok(identity.serial)
    );
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_badge_never_stops_the_kubelet_and_it_recovers_once_the_badge_is_fixed() {
    let lab = Lab1::start(false).await;
    lab.registered_node().await;

    let original = lab.break_kubelet_conf();
    let line = lab
        .logged(
            "the kubelet logs the refused heartbeat",
            |e| e.log_owner() == "kubelet",
            |l| l.starts_with("\"Error updating node status, will retry\""),
        )
        .await;
    // The heartbeat is a GET then a PATCH (kubelet_node_status.go, v1.32); the badge may be
    // swapped between the two, so either step can be the one refused.
    let refused_get = format!(
        r#""Error updating node status, will retry" err="error getting node \"{NODE}\": Unauthorized""#
    );
    let refused_patch = r#""Error updating node status, will retry" err="error patching node status: Unauthorized""#;
    assert!(line == refused_get || line == refused_patch, "{line}");

    // Fix it: the kubelet's next heartbeat gets in again, without a restart.
    let mut fresh = lab.office.events.subscribe();
    lab.restore_kubelet_conf(&original);
    let status_path = format!("PATCH /api/v1/nodes/{NODE}/status");
    tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            let event = fresh.recv().await.unwrap();
            if event.to == "apiserver"
                && event.allowed
                && event
                    .detail
                    .as_deref()
                    .is_some_and(|d| d.starts_with(&status_path))
            {
                break;
            }
        }
    })
    .await
    .expect("a heartbeat gets in after the badge is fixed");
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_whose_report_failed_during_an_outage_runs_once_the_kubelet_recovers() {
    let lab = Lab1::start(false).await;
    let admin = lab.admin();
    // The kubelet's pod watch is open: it hears of every pod bound to it.
    lab.web_running().await;

    // Break kubelet.conf: its open watch still delivers, but every new call gets 401.
    let original = lab.break_kubelet_conf();
    admin
        .create(
            "/api/v1/namespaces/default/pods",
            &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "late"},
                    "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "nginx"}]}}),
        )
        .await
        .unwrap();
    let line = lab
        .logged(
            "the kubelet logs the refused status report",
            |e| e.log_owner() == "kubelet",
            |l| l.contains("\"Failed to update status for pod\" pod=\"default/late\""),
        )
        .await;
    assert!(line.ends_with("err=\"Unauthorized\""), "{line}");
    let late = admin
        .get("/api/v1/namespaces/default/pods/late")
        .await
        .unwrap();
    assert_eq!(late["status"]["phase"], "Pending");

    // Repaired: nothing changes the pod, yet the kubelet reports it by itself.
    lab.restore_kubelet_conf(&original);
    let late = lab.running("late").await;
    assert!(late["status"]["podIP"]
        .as_str()
        .is_some_and(|ip| ip.starts_with("10.244.")));
    lab.stop().await;
}
