//! The real kubectl reads the controller's EndpointSlices: `kubectl api-resources` lists them
//! under discovery.k8s.io/v1 and `kubectl get endpointslices` shows kubectl's own columns.
//! Skipped (and said so) when kubectl is not installed; under `CI=true` that is a failure.

use std::time::Duration;

use kubecorp_controller::EndpointsControllerConfig;
use kubecorp_testkit::office::{kubectl, quiet_office, ready_pod, web_service};
use kubecorp_testkit::tool;
use tokio::sync::oneshot;

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
    web_service(&admin).await;
    ready_pod(&admin, "web-1", "10.244.0.5").await;
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
    let resources = kubectl(&bin, &office, &cache, &["api-resources"])
        .await
        .success()
        .stdout;
    let line = resources
        .lines()
        .find(|l| l.starts_with("endpointslices "))
        .unwrap_or_else(|| panic!("{resources}"));
    assert!(line.contains("discovery.k8s.io/v1"), "{line}");
    assert!(line.contains("EndpointSlice"), "{line}");

    let poll = async {
        loop {
            let text = kubectl(&bin, &office, &cache, &["get", "endpointslices"])
                .await
                .success()
                .stdout;
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
