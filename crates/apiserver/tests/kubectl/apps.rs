//! apps/v1 as the real kubectl 1.32 reads it: discovery lists deployments and replicasets with
//! kube-apiserver's short names, categories and scale subresource, `kubectl create deployment`
//! stores one with kube-apiserver's defaults, and `kubectl scale` goes through `/scale`.

use super::Running;

#[test]
fn kubectl_finds_deployments_and_replicasets_as_kube_apiserver_advertises_them() {
    let Some(lab) = Running::start(
        "kubectl_finds_deployments_and_replicasets_as_kube_apiserver_advertises_them",
    ) else {
        return;
    };
    let admin = lab.conf("admin.conf");
    let out = lab
        .kubectl(
            &admin,
            &["api-resources", "--api-group", "apps", "-o", "wide"],
        )
        .success()
        .stdout;
    let lines: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert!(
        lines.contains(&"deployments deploy apps/v1 true Deployment create,delete,deletecollection,get,list,patch,update,watch all".to_string()),
        "{out}"
    );
    assert!(
        lines.contains(&"replicasets rs apps/v1 true ReplicaSet create,delete,deletecollection,get,list,patch,update,watch all".to_string()),
        "{out}"
    );
    // The scale subresource names autoscaling/v1 Scale, which kubectl's scale client needs.
    let raw = lab
        .kubectl(&admin, &["get", "--raw", "/apis/apps/v1"])
        .success()
        .stdout;
    let list: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let scale = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "deployments/scale")
        .unwrap_or_else(|| panic!("no deployments/scale in {raw}"));
    assert_eq!(
        *scale,
        serde_json::json!({"name": "deployments/scale", "singularName": "", "namespaced": true,
                           "group": "autoscaling", "version": "v1", "kind": "Scale",
                           "verbs": ["get", "patch", "update"]})
    );
}

#[test]
fn kubectl_creates_a_deployment_scales_it_through_scale_and_get_all_lists_it() {
    let Some(lab) =
        Running::start("kubectl_creates_a_deployment_scales_it_through_scale_and_get_all_lists_it")
    else {
        return;
    };
    let admin = lab.conf("admin.conf");
    lab.kubectl(
        &admin,
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
    .success()
    .stdout_has("deployment.apps/web created");
    let stored = |lab: &Running| {
        lab.kubectl(
            &admin,
            &[
                "get",
                "deploy",
                "web",
                "-o",
                "jsonpath={.spec.replicas} {.metadata.generation} {.spec.strategy.type} {.spec.template.spec.containers[0].imagePullPolicy} {.spec.selector.matchLabels.app}",
            ],
        )
        .success()
        .stdout
    };
    assert_eq!(stored(&lab), "3 1 RollingUpdate Always web");
    lab.kubectl(&admin, &["scale", "deployment", "web", "--replicas", "5"])
        .success()
        .stdout_has("deployment.apps/web scaled");
    assert_eq!(
        stored(&lab),
        "5 2 RollingUpdate Always web",
        "the spec moved: a new generation"
    );
    let scale = lab
        .kubectl(
            &admin,
            &[
                "get",
                "--raw",
                "/apis/apps/v1/namespaces/default/deployments/web/scale",
            ],
        )
        .success()
        .stdout;
    let scale: serde_json::Value = serde_json::from_str(&scale).unwrap();
    assert_eq!(
        (
            &scale["apiVersion"],
            &scale["kind"],
            &scale["spec"],
            &scale["status"]["selector"]
        ),
        (
            &serde_json::json!("autoscaling/v1"),
            &serde_json::json!("Scale"),
            &serde_json::json!({"replicas": 5}),
            &serde_json::json!("app=web")
        ),
        "{scale}"
    );
    let all = lab.kubectl(&admin, &["get", "all"]).success().stdout;
    assert!(all.contains("deployment.apps/web"), "{all}");
    assert!(all.contains("service/kubernetes"), "{all}");
}
