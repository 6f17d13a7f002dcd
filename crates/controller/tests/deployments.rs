//! Deployments in the whole office, judged by the real kubectl 1.32: `create deployment`,
//! `rollout status`, `scale`, `get all`, with the deployment and replicaset controllers
//! calling Alice as their own service accounts. Skipped (and said so) when kubectl is not
//! installed; under `CI=true` that is a failure.

use kubecorp_client::KubeClient;
use kubecorp_testkit::office::{client, kubectl, said, whole_office};
use kubecorp_testkit::{eventually, tool};
use serde_json::Value;

/// The cells of the row of `all` that starts with `name`, without the age.
fn row(all: &str, name: &str) -> Vec<String> {
    let cells: Vec<String> = all
        .lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .find(|cells| cells.first().map(String::as_str) == Some(name))
        .unwrap_or_else(|| panic!("no row {name} in:\n{all}"));
    cells[..cells.len() - 1].to_vec()
}

/// The pods labelled `app=web`, as the admin sees them.
async fn web_pods(admin: &KubeClient) -> Vec<Value> {
    admin
        .get("/api/v1/namespaces/default/pods?labelSelector=app%3Dweb")
        .await
        .ok()
        .and_then(|l| l["items"].as_array().cloned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_rolls_out_scales_to_five_running_pods_and_get_all_lists_its_family() {
    let Some(bin) = tool(
        "kubectl",
        "a_deployment_rolls_out_scales_to_five_running_pods_and_get_all_lists_its_family",
    ) else {
        return;
    };
    let (dir, office) = whole_office().await;
    let cache = dir.path().join("kube-cache");
    let admin = client(&office, "kubectl", "admin.conf");

    kubectl(
        &bin,
        &office,
        &cache,
        &[
            "create",
            "deployment",
            "web",
            "--image",
            "nginx",
            "--replicas",
            "3",
        ],
    )
    .await
    .success()
    .stdout_has("deployment.apps/web created");
    kubectl(
        &bin,
        &office,
        &cache,
        &["rollout", "status", "deployment/web", "--timeout", "120s"],
    )
    .await
    .success()
    .stdout_has("deployment \"web\" successfully rolled out");
    let deployment = admin
        .get("/apis/apps/v1/namespaces/default/deployments/web")
        .await
        .unwrap();
    let conditions: Vec<(String, String, String)> = deployment["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let s = |f: &str| c[f].as_str().unwrap_or_default().to_owned();
            (s("type"), s("status"), s("reason"))
        })
        .collect();
    assert_eq!(
        conditions,
        [
            (
                "Available".into(),
                "True".into(),
                "MinimumReplicasAvailable".into()
            ),
            (
                "Progressing".into(),
                "True".into(),
                "NewReplicaSetAvailable".into()
            ),
        ],
        "{deployment}"
    );

    kubectl(
        &bin,
        &office,
        &cache,
        &["scale", "deployment", "web", "--replicas", "5"],
    )
    .await
    .success()
    .stdout_has("deployment.apps/web scaled");
    let pods = eventually("five web pods bound and Running", || async {
        let pods = web_pods(&admin).await;
        let running = pods
            .iter()
            .filter(|p| p["spec"]["nodeName"].is_string() && p["status"]["phase"] == "Running")
            .count();
        (pods.len() == 5 && running == 5).then_some(pods)
    })
    .await;
    kubectl(
        &bin,
        &office,
        &cache,
        &["rollout", "status", "deployment/web", "--timeout", "120s"],
    )
    .await
    .success()
    .stdout_has("deployment \"web\" successfully rolled out");

    // Every pod belongs to the one ReplicaSet, named after the template's hash.
    let replicaset = pods[0]["metadata"]["ownerReferences"][0]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let hash = pods[0]["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(replicaset, format!("web-{hash}"));
    let all = kubectl(&bin, &office, &cache, &["get", "all"])
        .await
        .success()
        .stdout;
    assert_eq!(
        row(&all, "deployment.apps/web"),
        ["deployment.apps/web", "5/5", "5", "5"]
    );
    let rs_row = format!("replicaset.apps/{replicaset}");
    assert_eq!(row(&all, &rs_row), [rs_row.as_str(), "5", "5", "5"]);
    for pod in &pods {
        let name = pod["metadata"]["name"].as_str().unwrap();
        assert!(name.starts_with(&format!("{replicaset}-")), "{name}");
        assert!(all.contains(&format!("pod/{name}")), "{all}");
    }

    // The pods were made by the replicaset controller, calling as its own service account.
    let created = said(
        &office,
        "system:serviceaccount:kube-system:replicaset-controller",
        "the replicaset controller creating a pod as its service account",
        |e| e.allowed && e.detail.as_deref() == Some("POST /api/v1/namespaces/default/pods 201"),
    )
    .await;
    assert!(
        created.identity.is_none(),
        "a token, not a badge: {created:?}"
    );
    said(
        &office,
        "system:serviceaccount:kube-system:deployment-controller",
        "the deployment controller creating the ReplicaSet as its service account",
        |e| {
            e.allowed
                && e.detail.as_deref()
                    == Some("POST /apis/apps/v1/namespaces/default/replicasets 201")
        },
    )
    .await;
    let events = kubectl(
        &bin,
        &office,
        &cache,
        &[
            "get",
            "events",
            "-o",
            "jsonpath={range .items[*]}{.source.component} {.reason}: {.message}{\"\\n\"}{end}",
        ],
    )
    .await
    .success()
    .stdout;
    assert!(
        events.contains(&format!(
            "deployment-controller ScalingReplicaSet: Scaled up replica set {replicaset} from 3 to 5"
        )),
        "{events}"
    );
    assert!(
        events.contains(&format!(
            "replicaset-controller SuccessfulCreate: Created pod: {}",
            pods[0]["metadata"]["name"].as_str().unwrap()
        )),
        "{events}"
    );
    office.shutdown().await;
}
