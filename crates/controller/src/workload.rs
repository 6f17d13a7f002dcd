//! What the deployment and replicaset controllers share: label selectors, owner references,
//! the pod-template-hash, pod readiness, and the Kubernetes Events they record.

use kubecorp_client::KubeClient;
use kubecorp_trust::LabClock;
use serde_json::{json, Value};

/// The label the deployment controller puts on a ReplicaSet, its selector and its pods.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// The annotation carrying a ReplicaSet's revision (`kubectl rollout history` reads it).
pub const REVISION: &str = "deployment.kubernetes.io/revision";

/// apimachinery's `rand.SafeEncodeString` alphabet: no vowels, no look-alikes.
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Whether `labels` satisfy a `metav1.LabelSelector` (matchLabels and matchExpressions).
/// An empty selector matches nothing, as `LabelSelectorAsSelector` of a nil selector.
pub fn selects(selector: &Value, labels: &Value) -> bool {
    let label = |k: &str| labels[k].as_str();
    let match_labels = selector["matchLabels"].as_object();
    let expressions = selector["matchExpressions"].as_array();
    if match_labels.is_none_or(|m| m.is_empty()) && expressions.is_none_or(|e| e.is_empty()) {
        return false;
    }
    let labels_hold = match_labels
        .into_iter()
        .flatten()
        .all(|(k, v)| label(k) == v.as_str());
    let expressions_hold = expressions.into_iter().flatten().all(|e| {
        let key = e["key"].as_str().unwrap_or_default();
        let values: Vec<&str> = e["values"]
            .as_array()
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        match e["operator"].as_str().unwrap_or_default() {
            "In" => label(key).is_some_and(|v| values.contains(&v)),
            "NotIn" => label(key).is_none_or(|v| !values.contains(&v)),
            "Exists" => label(key).is_some(),
            "DoesNotExist" => label(key).is_none(),
            _ => false,
        }
    });
    labels_hold && expressions_hold
}

/// The uid of the object's controlling owner (`ownerReferences[].controller: true`).
pub fn controller_uid(obj: &Value) -> Option<&str> {
    obj["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["controller"] == true)
        .and_then(|r| r["uid"].as_str())
}

/// The owner reference a controller puts on what it makes (`metav1.NewControllerRef`).
pub fn controller_ref(owner: &Value, kind: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": kind,
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// The pod-template-hash of a Deployment's template: FNV-32a over the template, then the
/// decimal digits mapped onto apimachinery's safe alphabet (`controller.ComputeHash`, which
/// also folds in `status.collisionCount`). kube-controller-manager hashes Go's printed form of
/// the template, so the same template gets another hash there; the shape (`web-6c9f6d8b7`) is
/// the same.
pub fn template_hash(template: &Value, collision_count: Option<u32>) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u32::from(*b);
            hash = hash.wrapping_mul(0x0100_0193);
        }
    };
    feed(template.to_string().as_bytes());
    if let Some(count) = collision_count {
        feed(&count.to_le_bytes());
    }
    hash.to_string()
        .bytes()
        .map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char)
        .collect()
}

/// A template without the pod-template-hash label, to compare a Deployment's template with a
/// ReplicaSet's (`EqualIgnoreHash`).
pub fn without_hash(template: &Value) -> Value {
    let mut t = template.clone();
    let Some(meta) = t.get_mut("metadata").and_then(Value::as_object_mut) else {
        return t;
    };
    if let Some(labels) = meta.get_mut("labels").and_then(Value::as_object_mut) {
        labels.remove(POD_TEMPLATE_HASH);
        if labels.is_empty() {
            meta.remove("labels");
        }
    }
    if meta.is_empty() {
        if let Some(map) = t.as_object_mut() {
            map.remove("metadata");
        }
    }
    t
}

/// Whether a pod counts: not being deleted, not finished.
pub fn active(pod: &Value) -> bool {
    pod["metadata"]["deletionTimestamp"].is_null()
        && !matches!(
            pod["status"]["phase"].as_str(),
            Some("Succeeded") | Some("Failed")
        )
}

/// Whether a pod's `Ready` condition is `True`.
pub fn ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// `spec.replicas`, 1 when absent (the apiserver's default).
pub fn replicas(obj: &Value) -> i64 {
    obj["spec"]["replicas"].as_i64().unwrap_or(1)
}

/// Records a Kubernetes Event about `object` (what `kubectl describe` and `kubectl get events`
/// show), as the controller's event recorder does. Best effort: a refused Event changes nothing.
pub async fn record(
    client: &KubeClient,
    clock: &LabClock,
    component: &str,
    object: &Value,
    reason: &str,
    message: &str,
) {
    let meta = &object["metadata"];
    let namespace = meta["namespace"].as_str().unwrap_or("default");
    let now = kubecorp_trust::gotime::rfc3339(clock.now());
    // client-go's recorder names an Event `<object>.<UnixNano in hex>`; a counter keeps two
    // Events of the same instant apart when the lab clock stands still.
    static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let tick = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = clock.now().unix_timestamp_nanos().unsigned_abs() + u128::from(tick);
    let name = format!("{}.{nanos:x}", meta["name"].as_str().unwrap_or_default());
    let event = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": {"apiVersion": object["apiVersion"], "kind": object["kind"],
                           "name": meta["name"], "namespace": namespace, "uid": meta["uid"],
                           "resourceVersion": meta["resourceVersion"]},
        "reason": reason, "message": message, "type": "Normal",
        "source": {"component": component},
        "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        "reportingComponent": component, "reportingInstance": "",
    });
    let _ = client
        .create(&format!("/api/v1/namespaces/{namespace}/events"), &event)
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_match_labels_and_expressions_and_an_empty_one_matches_nothing() {
        let labels = json!({"app": "web", "tier": "front"});
        assert!(selects(&json!({"matchLabels": {"app": "web"}}), &labels));
        assert!(!selects(&json!({"matchLabels": {"app": "db"}}), &labels));
        assert!(selects(
            &json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front", "back"]}]}),
            &labels
        ));
        assert!(!selects(
            &json!({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}),
            &labels
        ));
        assert!(!selects(&json!({}), &labels));
    }

    #[test]
    fn the_hash_uses_only_the_safe_alphabet_and_changes_with_the_template_and_collisions() {
        let t = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}});
        let h = template_hash(&t, None);
        assert!(!h.is_empty() && h.len() <= 10, "{h}");
        assert!(h.bytes().all(|b| ALPHANUMS.contains(&b)), "{h}");
        assert_eq!(h, template_hash(&t, None));
        assert_ne!(h, template_hash(&t, Some(1)));
        let mut other = t.clone();
        other["spec"]["containers"][0]["image"] = json!("nginx:1.27");
        assert_ne!(h, template_hash(&other, None));
    }

    #[test]
    fn a_template_compares_equal_once_its_hash_label_is_set_aside() {
        let t = json!({"metadata": {"labels": {"app": "web"}}, "spec": {}});
        let mut labelled = t.clone();
        labelled["metadata"]["labels"][POD_TEMPLATE_HASH] = json!("abc");
        assert_eq!(without_hash(&labelled), without_hash(&t));
    }
}
