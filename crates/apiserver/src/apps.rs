//! apps/v1 at the front desk: what kube-apiserver does to a Deployment or ReplicaSet on its way
//! in (defaults, `metadata.generation`, status kept apart from spec), the autoscaling/v1 Scale
//! that `kubectl scale` patches, and the columns `kubectl get` shows for both kinds.
//!
//! Read from kubernetes v1.32: `pkg/apis/apps/v1/defaults.go` (`SetDefaults_Deployment`,
//! `SetDefaults_ReplicaSet`), `pkg/apis/core/v1/defaults.go` (the pod template's defaults),
//! `pkg/registry/apps/deployment/strategy.go` (`PrepareForCreate`, `PrepareForUpdate`: the
//! generation moves with the spec, the status only through `/status`),
//! `pkg/registry/apps/deployment/storage/storage.go` (`scaleFromDeployment`) and
//! `pkg/printers/internalversion/printers.go` (the columns).

use serde_json::{json, Map, Value};

use crate::registry::Resource;

/// Whether kube-apiserver treats this resource as an apps/v1 workload.
pub fn is_workload(r: &Resource) -> bool {
    r.group == "apps" && matches!(r.name, "deployments" | "replicasets")
}

/// A new Deployment or ReplicaSet: generation 1, an empty status, the defaults.
pub fn prepare_create(r: &Resource, obj: &mut Value) {
    if !is_workload(r) {
        return;
    }
    obj["metadata"]["generation"] = json!(1);
    obj["status"] = json!({});
    set_defaults(r, obj);
}

/// An update: through the object itself the status stays as stored and the generation moves
/// when the spec changed; through `/status` only the status changes.
pub fn prepare_update(r: &Resource, current: &Value, next: &mut Value, sub: Option<&str>) {
    if !is_workload(r) {
        return;
    }
    let generation = current["metadata"]["generation"].as_i64().unwrap_or(1);
    match sub {
        Some(_) => {
            next["spec"] = current["spec"].clone();
            next["metadata"]["generation"] = json!(generation);
        }
        None => {
            set_defaults(r, next);
            next["status"] = current["status"].clone();
            let moved = next["spec"] != current["spec"];
            next["metadata"]["generation"] = json!(generation + i64::from(moved));
        }
    }
}

fn default(obj: &mut Value, field: &str, value: Value) {
    if let Some(map) = obj.as_object_mut() {
        map.entry(field).or_insert(value);
    }
}

/// `SetDefaults_Deployment` / `SetDefaults_ReplicaSet`, and the pod template's own defaults.
fn set_defaults(r: &Resource, obj: &mut Value) {
    if !obj["spec"].is_object() {
        obj["spec"] = json!({});
    }
    let spec = &mut obj["spec"];
    default(spec, "replicas", json!(1));
    if r.name == "deployments" {
        if !spec["strategy"].is_object() {
            spec["strategy"] = json!({});
        }
        default(&mut spec["strategy"], "type", json!("RollingUpdate"));
        if spec["strategy"]["type"] == "RollingUpdate" {
            default(&mut spec["strategy"], "rollingUpdate", json!({}));
            let rolling = &mut spec["strategy"]["rollingUpdate"];
            default(rolling, "maxUnavailable", json!("25%"));
            default(rolling, "maxSurge", json!("25%"));
        }
        default(spec, "revisionHistoryLimit", json!(10));
        default(spec, "progressDeadlineSeconds", json!(600));
    }
    let Some(pod) = spec.pointer_mut("/template/spec") else {
        return;
    };
    default(pod, "restartPolicy", json!("Always"));
    default(pod, "terminationGracePeriodSeconds", json!(30));
    default(pod, "dnsPolicy", json!("ClusterFirst"));
    default(pod, "securityContext", json!({}));
    default(pod, "schedulerName", json!("default-scheduler"));
    if let Some(containers) = pod["containers"].as_array_mut() {
        for c in containers {
            let image = c["image"].as_str().unwrap_or_default().to_owned();
            default(c, "resources", json!({}));
            default(c, "terminationMessagePath", json!("/dev/termination-log"));
            default(c, "terminationMessagePolicy", json!("File"));
            default(c, "imagePullPolicy", json!(pull_policy(&image)));
        }
    }
}

/// `Always` for an image without a tag or tagged `:latest`, otherwise `IfNotPresent`.
fn pull_policy(image: &str) -> &'static str {
    let name = image.split('@').next().unwrap_or(image);
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.split_once(':') {
        _ if image.contains('@') => "IfNotPresent",
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

/// A label selector as `labels.Selector.String()` prints it: `app=web,tier in (a,b)`, keys sorted.
pub fn selector_string(selector: &Value) -> String {
    let mut terms: Vec<(String, String)> = Vec::new();
    if let Some(labels) = selector["matchLabels"].as_object() {
        for (k, v) in labels {
            terms.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or_default())));
        }
    }
    if let Some(exprs) = selector["matchExpressions"].as_array() {
        for e in exprs {
            let key = e["key"].as_str().unwrap_or_default();
            let mut values: Vec<&str> = e["values"]
                .as_array()
                .map(|v| v.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            values.sort_unstable();
            let term = match e["operator"].as_str().unwrap_or_default() {
                "In" => format!("{key} in ({})", values.join(",")),
                "NotIn" => format!("{key} notin ({})", values.join(",")),
                "Exists" => key.to_owned(),
                "DoesNotExist" => format!("!{key}"),
                other => format!("{key} {other}"),
            };
            terms.push((key.to_owned(), term));
        }
    }
    terms.sort();
    terms
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(",")
}

/// The autoscaling/v1 Scale of a Deployment or ReplicaSet (`scaleFromDeployment`).
pub fn scale_of(obj: &Value) -> Value {
    let meta = &obj["metadata"];
    let mut metadata = Map::new();
    for field in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if !meta[field].is_null() {
            metadata.insert(field.into(), meta[field].clone());
        }
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {
            "replicas": obj["status"]["replicas"].as_i64().unwrap_or(0),
            "selector": selector_string(&obj["spec"]["selector"]),
        }
    })
}

fn col(name: &str, kind: &str, priority: i64) -> Value {
    json!({"name": name, "type": kind, "format": if name == "Name" { "name" } else { "" }, "description": "", "priority": priority})
}

/// The columns of `kubectl get deployments|replicasets`, or None for another resource.
pub fn columns(r: &Resource) -> Option<Vec<Value>> {
    let counts: &[(&str, &str)] = match r.name {
        "deployments" => &[
            ("Ready", "string"),
            ("Up-to-date", "integer"),
            ("Available", "integer"),
        ],
        "replicasets" => &[
            ("Desired", "integer"),
            ("Current", "integer"),
            ("Ready", "integer"),
        ],
        _ => return None,
    };
    let mut cols = vec![col("Name", "string", 0)];
    cols.extend(counts.iter().map(|(n, t)| col(n, t, 0)));
    cols.push(col("Age", "string", 0));
    for wide in ["Containers", "Images", "Selector"] {
        cols.push(col(wide, "string", 1));
    }
    Some(cols)
}

/// One row's cells, or None for another resource.
pub fn cells(r: &Resource, obj: &Value, age: String) -> Option<Vec<Value>> {
    let int = |path: &str| obj.pointer(path).and_then(Value::as_i64).unwrap_or(0);
    let counts = match r.name {
        "deployments" => vec![
            json!(format!(
                "{}/{}",
                int("/status/readyReplicas"),
                int("/spec/replicas")
            )),
            json!(int("/status/updatedReplicas")),
            json!(int("/status/availableReplicas")),
        ],
        "replicasets" => vec![
            json!(int("/spec/replicas")),
            json!(int("/status/replicas")),
            json!(int("/status/readyReplicas")),
        ],
        _ => return None,
    };
    let containers: Vec<&Value> = obj
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .map(|c| c.iter().collect())
        .unwrap_or_default();
    let list = |field: &str| {
        containers
            .iter()
            .filter_map(|c| c[field].as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut row = vec![json!(obj["metadata"]["name"])];
    row.extend(counts);
    row.push(json!(age));
    row.push(json!(list("name")));
    row.push(json!(list("image")));
    row.push(json!(selector_string(&obj["spec"]["selector"])));
    Some(row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::find;

    fn deployments() -> &'static Resource {
        find("apps", "v1", "deployments").unwrap()
    }

    #[test]
    fn a_new_deployment_gets_generation_one_and_kube_apiservers_defaults() {
        let mut d = json!({"metadata": {"name": "web"}, "spec": {"replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}},
            "status": {"replicas": 99}});
        prepare_create(deployments(), &mut d);
        assert_eq!(d["metadata"]["generation"], 1);
        assert_eq!(d["status"], json!({}));
        assert_eq!(
            d["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
        let c = &d["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["imagePullPolicy"], "Always");
        assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
    }

    #[test]
    fn the_generation_moves_with_the_spec_and_never_with_the_status() {
        let mut current = json!({"metadata": {"name": "web", "generation": 1},
            "spec": {"replicas": 3}, "status": {"replicas": 3}});
        prepare_create(deployments(), &mut current);
        current["metadata"]["generation"] = json!(1);
        current["status"] = json!({"replicas": 3});
        let mut same = current.clone();
        same["status"] = json!({"replicas": 0});
        prepare_update(deployments(), &current, &mut same, None);
        assert_eq!(same["metadata"]["generation"], 1);
        assert_eq!(same["status"]["replicas"], 3, "status comes from the store");
        let mut scaled = current.clone();
        scaled["spec"]["replicas"] = json!(5);
        prepare_update(deployments(), &current, &mut scaled, None);
        assert_eq!(scaled["metadata"]["generation"], 2);
        let mut status = current.clone();
        status["spec"]["replicas"] = json!(7);
        status["status"] = json!({"replicas": 5});
        prepare_update(deployments(), &current, &mut status, Some("status"));
        assert_eq!(status["spec"]["replicas"], 3, "spec comes from the store");
        assert_eq!(status["metadata"]["generation"], 1);
    }

    #[test]
    fn the_scale_carries_the_replicas_and_the_selector_as_a_string() {
        let d = json!({"metadata": {"name": "web", "namespace": "default", "resourceVersion": "7"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"tier": "front", "app": "web"}}},
            "status": {"replicas": 2}});
        assert_eq!(
            scale_of(&d),
            json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
                   "metadata": {"name": "web", "namespace": "default", "resourceVersion": "7"},
                   "spec": {"replicas": 3}, "status": {"replicas": 2, "selector": "app=web,tier=front"}})
        );
    }

    #[test]
    fn images_tagged_latest_or_untagged_are_always_pulled() {
        assert_eq!(pull_policy("nginx"), "Always");
        assert_eq!(pull_policy("nginx:latest"), "Always");
        assert_eq!(pull_policy("nginx:1.27"), "IfNotPresent");
        assert_eq!(pull_policy("registry:5000/nginx"), "Always");
        assert_eq!(pull_policy("nginx@sha256:abc"), "IfNotPresent");
    }
}
