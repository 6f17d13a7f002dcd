//! The endpoints controller against a real office: a service's Endpoints and EndpointSlice
//! follow its Ready pods, written with the controller manager's badge.

use kubecorp_client::KubeClient;
use kubecorp_controller::EndpointsControllerConfig;
use kubecorp_office::Office;
use kubecorp_pki::{fault, Lab};
use kubecorp_testkit::eventually;
use kubecorp_testkit::office::{
    assert_never_refused, client, quiet_office, ready_pod, said_detail, web_service,
};
use kubecorp_trust::Event;
use serde_json::{json, Value};
use tokio::sync::oneshot;

fn start_controller(office: &Office) -> oneshot::Sender<()> {
    let (stop, stopped) = oneshot::channel::<()>();
    let config = EndpointsControllerConfig {
        client: client(office, "controller-manager", "controller-manager.conf"),
        clock: office.clock.clone(),
        events: office.events.clone(),
    };
    tokio::spawn(kubecorp_controller::run(config, async move {
        let _ = stopped.await;
    }));
    stop
}

async fn controller_says(office: &Office, detail: &str) -> Event {
    said_detail(office, "controller-manager", detail).await
}

async fn endpoints(admin: &KubeClient) -> Option<Value> {
    admin
        .get("/api/v1/namespaces/default/endpoints/web")
        .await
        .ok()
}

#[tokio::test]
async fn the_endpoints_controller_fills_endpoints_from_ready_pods_and_drops_them_when_the_pod_goes()
{
    let (_dir, office) = quiet_office().await;
    let admin = client(&office, "kubectl", "admin.conf");
    web_service(&admin).await;
    ready_pod(&admin, "web-1", "10.244.0.5").await;
    let _controller = start_controller(&office);

    let written = controller_says(&office, "endpoints default/web: 10.244.0.5:8080").await;
    assert_eq!(
        written.identity.map(|i| i.cn).as_deref(),
        Some("system:kube-controller-manager")
    );
    let stored = endpoints(&admin).await.unwrap();
    assert_eq!(stored["subsets"][0]["addresses"][0]["ip"], "10.244.0.5");
    assert_eq!(
        stored["subsets"][0]["addresses"][0]["targetRef"]["name"],
        "web-1"
    );
    assert_eq!(
        stored["subsets"][0]["ports"],
        json!([{"port": 8080, "protocol": "TCP"}])
    );

    // A second Ready pod joins; the Endpoints are replaced, not recreated.
    ready_pod(&admin, "web-2", "10.244.0.6").await;
    controller_says(
        &office,
        "endpoints default/web: 10.244.0.5:8080, 10.244.0.6:8080",
    )
    .await;

    // Both pods go away: the addresses go with them.
    for pod in ["web-1", "web-2"] {
        admin
            .delete(&format!("/api/v1/namespaces/default/pods/{pod}"))
            .await
            .unwrap();
    }
    controller_says(&office, "endpoints default/web: no ready pods").await;
    let stored = endpoints(&admin).await.unwrap();
    assert!(stored.get("subsets").is_none(), "{stored}");

    // The service goes away: so do its Endpoints.
    admin
        .delete("/api/v1/namespaces/default/services/web")
        .await
        .unwrap();
    controller_says(&office, "endpoints default/web: deleted with its service").await;
    assert!(endpoints(&admin).await.is_none());
    assert_never_refused(&office, "controller-manager");
    office.shutdown().await;
}

async fn slices(admin: &KubeClient) -> Vec<Value> {
    admin
        .get("/apis/discovery.k8s.io/v1/namespaces/default/endpointslices")
        .await
        .ok()
        .and_then(|l| l["items"].as_array().cloned())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_endpointslice_follows_the_pods_and_goes_with_the_service() {
    let (_dir, office) = quiet_office().await;
    let admin = client(&office, "kubectl", "admin.conf");
    let service = admin
        .create(
            "/api/v1/namespaces/default/services",
            &json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                    "spec": {"clusterIP": "10.96.0.10", "selector": {"app": "web"},
                             "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}}),
        )
        .await
        .unwrap();
    let name = kubecorp_controller::slices::name(&service);
    ready_pod(&admin, "web-1", "10.244.0.5").await;
    let _controller = start_controller(&office);

    let written = controller_says(
        &office,
        &format!("endpointslice default/{name}: 10.244.0.5 ready"),
    )
    .await;
    assert_eq!(
        written.identity.map(|i| i.cn).as_deref(),
        Some("system:kube-controller-manager")
    );
    let stored = slices(&admin).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    let slice = &stored[0];
    assert_eq!(slice["metadata"]["name"], name.as_str());
    assert_eq!(
        slice["metadata"]["labels"]["kubernetes.io/service-name"],
        "web"
    );
    assert_eq!(
        slice["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
        "endpointslice-controller.k8s.io"
    );
    assert_eq!(slice["addressType"], "IPv4");
    assert_eq!(
        slice["ports"],
        json!([{"name": "http", "port": 8080, "protocol": "TCP"}])
    );
    let endpoint = &slice["endpoints"][0];
    assert_eq!(endpoint["addresses"], json!(["10.244.0.5"]));
    assert_eq!(
        endpoint["conditions"],
        json!({"ready": true, "serving": true, "terminating": false})
    );
    assert_eq!(endpoint["nodeName"], "kubecorp-control-plane");
    assert_eq!(endpoint["targetRef"]["kind"], "Pod");
    assert_eq!(endpoint["targetRef"]["name"], "web-1");

    ready_pod(&admin, "web-2", "10.244.0.6").await;
    controller_says(
        &office,
        &format!("endpointslice default/{name}: 10.244.0.5 ready, 10.244.0.6 ready"),
    )
    .await;
    assert_eq!(slices(&admin).await.len(), 1);

    admin
        .delete("/api/v1/namespaces/default/services/web")
        .await
        .unwrap();
    controller_says(
        &office,
        &format!("endpointslice default/{name}: deleted with its service"),
    )
    .await;
    assert!(slices(&admin).await.is_empty());
    assert_never_refused(&office, "controller-manager");
    office.shutdown().await;
}

#[tokio::test]
async fn the_endpoints_controller_says_which_identity_it_writes_with_and_why() {
    let (_dir, office) = quiet_office().await;
    let _controller = start_controller(&office);
    let start = eventually("the start event", || async {
        office
            .events
            .snapshot()
            .into_iter()
            .find(|e| e.from == "controller-manager")
    })
    .await;
    assert_eq!(
        start.server_log.as_deref(),
        Some("I1129 09:00:00.000000       1 endpoints_controller.go:182] \"Starting endpoint controller\" logger=\"endpoints-controller\"")
    );
    let note = start.explanation.unwrap();
    assert!(
        note.contains("system:serviceaccount:kube-system:endpoint-controller"),
        "{note}"
    );
    assert!(note.contains("kubecorp:endpoint-controller"), "{note}");
    office.shutdown().await;
}

#[tokio::test]
async fn an_expired_controller_manager_badge_is_logged_as_client_go_does_and_recovers_without_a_restart(
) {
    let (_dir, office) = quiet_office().await;
    let admin = client(&office, "kubectl", "admin.conf");
    admin
        .create(
            "/api/v1/namespaces/default/services",
            &json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                    "spec": {"clusterIP": "10.96.0.10", "selector": {"app": "web"},
                             "ports": [{"port": 80, "protocol": "TCP"}]}}),
        )
        .await
        .unwrap();
    ready_pod(&admin, "web-1", "10.244.0.5").await;
    let lab = Lab::new(&office.dir);
    fault::inflict(
        &lab,
        fault::Fault::Expire,
        "controller-manager.conf",
        office.clock.now(),
    )
    .unwrap();
    let _controller = start_controller(&office);

    let refused = eventually("the 401", || async {
        office
            .events
            .snapshot()
            .into_iter()
            .find(|e| e.from == "controller-manager" && !e.allowed)
    })
    .await;
    assert_eq!(
        refused.server_log.as_deref(),
        Some("W1129 09:00:00.000000       1 reflector.go:569] k8s.io/client-go/informers/factory.go:160: failed to list *v1.Service: Unauthorized\n\
              E1129 09:00:00.000000       1 reflector.go:166] \"Unhandled Error\" err=\"k8s.io/client-go/informers/factory.go:160: Failed to watch *v1.Service: failed to list *v1.Service: Unauthorized\" logger=\"UnhandledError\"")
    );
    assert!(endpoints(&admin).await.is_none());

    fault::undo(&lab, "controller-manager.conf").unwrap();
    controller_says(&office, "endpoints default/web: 10.244.0.5:80").await;
    office.shutdown().await;
}
