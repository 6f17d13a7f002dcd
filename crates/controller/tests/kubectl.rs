//! The real kubectl reads the controller's EndpointSlices: `kubectl api-resources` lists them
//! under discovery.k8s.io/v1 and `kubectl get endpointslices` shows kubectl's own columns.
//! Skipped (and said so) when kubectl is not installed; under `CI=true` that is a failure.

use std::path::PathBuf;
use std::time::Duration;

use kubecorp_controller::EndpointsControllerConfig;
use kubecorp_office::Office;
use kubecorp_testkit::office::quiet_office;
use kubecorp_testkit::tool;
use serde_json::json;
use tokio::sync::oneshot;

async fn kubectl(bin: PathBuf, office: &Office, cache: &std::path::Path, args: &[&str]) -> String {
    let mut all: Vec<String> = vec![
        "--kubeconfig".into(),
        office.dir.join("admin.conf").to_string_lossy().into_owned(),
        "--server".into(),
        office.apiserver_url(),
        "--cache-dir".into(),
        cache.to_string_lossy().into_owned(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(bin).args(&all).output().unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[tokio::test]
async fn kubectl_gets_the_endpointslices_the_controller_writes() {
    let Some(bin) = tool(
        "kubectl",
        "kubectl_gets_the_endpointslices_the_controller_writes",
    ) else {
        return;
    };
    let (dir, office) = quiet_office().await;
    let admin = office.client("kubectl", "admin.conf").unwrap();
    admin
        .create(
            "/api/v1/namespaces/default/services",
            &json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                    "spec": {"clusterIP": "10.96.0.10", "selector": {"app": "web"},
                             "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}]}}),
        )
        .await
        .unwrap();
    admin
        .create(
            "/api/v1/namespaces/default/pods",
            &json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "web-1", "labels": {"app": "web"}},
                    "spec": {"nodeName": "kubecorp-control-plane",
                             "containers": [{"name": "web", "image": "nginx"}]}}),
        )
        .await
        .unwrap();
    admin
        .merge_patch(
            "/api/v1/namespaces/default/pods/web-1/status",
            &json!({"status": {"phase": "Running", "podIP": "10.244.0.5",
                               "conditions": [{"type": "Ready", "status": "True"}]}}),
        )
        .await
        .unwrap();
    let (_stop, stopped) = oneshot::channel::<()>();
    let config = EndpointsControllerConfig {
        client: office
            .client("controller-manager", "controller-manager.conf")
            .unwrap(),
        clock: office.clock.clone(),
        events: office.events.clone(),
    };
    tokio::spawn(kubecorp_controller::run(config, async move {
        let _ = stopped.await;
    }));

    let cache = dir.path().join("kube-cache");
    let resources = kubectl(bin.clone(), &office, &cache, &["api-resources"]).await;
    let line = resources
        .lines()
        .find(|l| l.starts_with("endpointslices "))
        .unwrap_or_else(|| panic!("{resources}"));
    assert!(line.contains("discovery.k8s.io/v1"), "{line}");
    assert!(line.contains("EndpointSlice"), "{line}");

    let poll = async {
        loop {
            let text = kubectl(bin.clone(), &office, &cache, &["get", "endpointslices"]).await;
            if text.contains("10.244.0.5") {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let text = tokio::time::timeout(Duration::from_secs(10), poll)
        .await
        .expect("kubectl shows the slice");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"],
        "{text}"
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert!(row[0].starts_with("web-") && row[0].len() == 9, "{text}");
    assert_eq!(&row[1..4], ["IPv4", "8080", "10.244.0.5"], "{text}");
    office.shutdown().await;
}
