//! The client against a running office: reads, writes, watches, and the failures kubectl
//! would print.

use kubecorp_client::{ClientError, Phase};
use kubecorp_testkit::office::{client, quiet_office, web_pod, whole_office};
use kubecorp_testkit::{run_tool, tool};
use serde_json::json;

#[tokio::test]
async fn the_admin_creates_a_pod_and_a_watcher_sees_it_added() {
    let (_dir, office) = whole_office().await;
    let admin = client(&office, "kubectl", "admin.conf");
    let mut watch = admin
        .watch("/api/v1/namespaces/default/pods?watch=true")
        .await
        .unwrap();
    web_pod(&admin).await;
    let event = watch.next().await.unwrap().unwrap();
    assert_eq!(event.kind, "ADDED");
    assert_eq!(event.object["metadata"]["name"], "web");
    let got = admin
        .get("/api/v1/namespaces/default/pods/web")
        .await
        .unwrap();
    assert_eq!(got["spec"]["containers"][0]["image"], "nginx");
    office.shutdown().await;
}

#[tokio::test]
async fn the_scheduler_may_not_read_secrets_and_says_so_as_kubectl_would() {
    let (_dir, office) = whole_office().await;
    let bob = client(&office, "scheduler", "scheduler.conf");
    let err = bob
        .get("/api/v1/namespaces/kube-system/secrets")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(403));
    assert_eq!(
        err.kubectl_text(),
        "Error from server (Forbidden): secrets is forbidden: User \"system:kube-scheduler\" cannot list resource \"secrets\" in API group \"\" in the namespace \"kube-system\""
    );
    office.shutdown().await;
}

#[tokio::test]
async fn a_closed_door_is_a_connect_failure_naming_the_address() {
    let (_dir, office) = whole_office().await;
    let bob = client(&office, "scheduler", "scheduler.conf")
        .with_server("https://127.0.0.1:1")
        .unwrap();
    let err = bob.get("/api/v1/pods").await.unwrap_err();
    assert_eq!(err.phase(), Some(Phase::Connect));
    assert!(
        matches!(&err, ClientError::Transport { text, .. } if text == "dial tcp 127.0.0.1:1: connect: connection refused"),
        "{err}"
    );
    office.shutdown().await;
}

#[tokio::test]
async fn a_server_name_that_does_not_resolve_reads_as_kubectl_prints_it() {
    let (_dir, office) = quiet_office().await;
    // `.invalid` never resolves (RFC 6761): the name server answers NXDOMAIN.
    let server = "https://kubecorp-nowhere.invalid:6443";
    let bob = client(&office, "scheduler", "scheduler.conf")
        .with_server(server)
        .unwrap();
    let err = bob.get("/api/v1/pods").await.unwrap_err();
    assert_eq!(err.phase(), Some(Phase::Connect));
    let ClientError::Transport { text, .. } = &err else {
        panic!("{err}");
    };
    let resolver = kubecorp_client::resolve::system_name_server();
    assert_eq!(
        text,
        &format!("dial tcp: lookup kubecorp-nowhere.invalid on {resolver}: no such host")
    );
    let test = "a_server_name_that_does_not_resolve_reads_as_kubectl_prints_it";
    if let Some(kubectl) = tool("kubectl", test) {
        let kubeconfig = office.dir.join("scheduler.conf");
        let said = run_tool(
            &kubectl,
            [
                "--kubeconfig".as_ref(),
                kubeconfig.as_os_str(),
                "--server".as_ref(),
                server.as_ref(),
                "get".as_ref(),
                "pods".as_ref(),
            ],
        )
        .failure(1);
        let last = said.stderr.lines().last().unwrap_or_default();
        assert_eq!(
            last,
            format!("Unable to connect to the server: {text}"),
            "{}",
            said.dump()
        );
        assert_eq!(err.kubectl_text(), last);
    }
    office.shutdown().await;
}

#[tokio::test]
async fn a_delete_on_a_collection_removes_what_the_selector_picks_and_lists_it() {
    let (_dir, office) = whole_office().await;
    let admin = client(&office, "kubectl", "admin.conf");
    for (name, app) in [("web-1", "web"), ("web-2", "web"), ("db", "db")] {
        admin
            .create(
                "/api/v1/namespaces/default/configmaps",
                &json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": name, "labels": {"app": app}}}),
            )
            .await
            .unwrap();
    }
    let gone = admin
        .delete("/api/v1/namespaces/default/configmaps?labelSelector=app%3Dweb")
        .await
        .unwrap();
    assert_eq!(gone["kind"], "ConfigMapList");
    let mut names: Vec<_> = gone["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["web-1", "web-2"]);
    let left = admin
        .get("/api/v1/namespaces/default/configmaps")
        .await
        .unwrap();
    assert_eq!(left["items"].as_array().unwrap().len(), 1);
    assert_eq!(left["items"][0]["metadata"]["name"], "db");
    // The scheduler may not: deletecollection is its own verb under RBAC.
    let bob = client(&office, "scheduler", "scheduler.conf");
    let err = bob
        .delete("/api/v1/namespaces/default/configmaps")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(403));
    assert!(
        err.text()
            .contains("cannot deletecollection resource \"configmaps\""),
        "{err}"
    );
    office.shutdown().await;
}
