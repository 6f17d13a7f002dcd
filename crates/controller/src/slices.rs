//! The EndpointSlice controller's arithmetic: one `discovery.k8s.io/v1` EndpointSlice per
//! Service, worked out from the same pods the Endpoints lists.
//!
//! The real controller names a slice by `generateName: <service>-` (the apiserver appends five
//! random lowercase letters and digits) and may split a big service across several slices; the
//! lab keeps exactly one per service and derives the five characters from the service's uid, so
//! a restarted controller finds the same name.

use serde_json::{json, Map, Value};

/// The label that ties a slice to its service; kube-proxy groups slices by it.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// The label that says which controller keeps a slice.
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
/// The real controller's value for [`MANAGED_BY_LABEL`].
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";

const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// `<service>-<5 lowercase alphanumerics>`, as generateName would give (same alphabet as
/// `k8s.io/apimachinery/pkg/util/rand`), fixed by the service's namespace, name and uid.
pub fn name(service: &Value) -> String {
    let meta = &service["metadata"];
    let service_name = meta["name"].as_str().unwrap_or_default();
    let seed = format!(
        "{}/{}/{}",
        meta["namespace"].as_str().unwrap_or_default(),
        service_name,
        meta["uid"].as_str().unwrap_or_default()
    );
    // FNV-1a: stable across runs and platforms.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let mut suffix = String::new();
    for _ in 0..5 {
        let i = (hash % ALPHANUMS.len() as u64) as usize;
        suffix.push(char::from(ALPHANUMS[i]));
        hash /= ALPHANUMS.len() as u64;
    }
    // generateName keeps the base to 58 characters so the whole fits in 63.
    let base: String = service_name.chars().take(57).collect();
    format!("{base}-{suffix}")
}

/// Whether `slice` is the one this controller keeps for the service `name`.
pub fn belongs_to(slice: &Value, service_name: &str) -> bool {
    let labels = &slice["metadata"]["labels"];
    labels[SERVICE_NAME_LABEL].as_str() == Some(service_name)
        && labels[MANAGED_BY_LABEL].as_str() == Some(MANAGED_BY)
}

/// The slice the service should have, from the Endpoints object worked out for it
/// ([`crate::endpoints::desired`]): every address becomes an endpoint, ready or not, and the
/// ports are those of the first subset (the lab's services have one).
pub fn desired(service: &Value, endpoints: &Value, slice_name: &str) -> Value {
    let meta = &service["metadata"];
    let service_name = meta["name"].as_str().unwrap_or_default();
    let mut list = Vec::new();
    let mut ports = Value::Null;
    for subset in endpoints["subsets"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        if ports.is_null() {
            ports = subset["ports"].clone();
        }
        for (field, ready) in [("addresses", true), ("notReadyAddresses", false)] {
            for address in subset[field].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                let Some(ip) = address["ip"].as_str() else {
                    continue;
                };
                let mut endpoint = Map::new();
                endpoint.insert("addresses".into(), json!([ip]));
                endpoint.insert(
                    "conditions".into(),
                    json!({"ready": ready, "serving": ready, "terminating": false}),
                );
                if let Some(node) = address["nodeName"].as_str() {
                    endpoint.insert("nodeName".into(), json!(node));
                }
                if address["targetRef"].is_object() {
                    endpoint.insert("targetRef".into(), address["targetRef"].clone());
                }
                list.push(Value::Object(endpoint));
            }
        }
    }
    list.sort_by(|a, b| a["addresses"][0].as_str().cmp(&b["addresses"][0].as_str()));
    let mut labels = Map::new();
    if let Some(service_labels) = meta["labels"].as_object() {
        labels.extend(service_labels.clone());
    }
    labels.insert(SERVICE_NAME_LABEL.into(), json!(service_name));
    labels.insert(MANAGED_BY_LABEL.into(), json!(MANAGED_BY));
    let mut slice = json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": slice_name,
            "namespace": meta["namespace"],
            "labels": labels,
            "ownerReferences": [{
                "apiVersion": "v1", "kind": "Service", "name": service_name,
                "uid": meta["uid"], "controller": true, "blockOwnerDeletion": true
            }]
        },
        "addressType": "IPv4",
        "endpoints": list,
    });
    if ports.is_array() {
        slice["ports"] = ports;
    }
    slice
}

/// Whether the stored slice already says what `desired` says.
pub fn same(current: &Value, desired: &Value) -> bool {
    current["endpoints"] == desired["endpoints"]
        && current["ports"] == desired["ports"]
        && current["addressType"] == desired["addressType"]
        && current["metadata"]["labels"] == desired["metadata"]["labels"]
}

/// The stored slice with the desired contents, keeping its uid and resourceVersion.
pub fn updated(current: &Value, desired: &Value) -> Value {
    if !current.is_object() || !current["metadata"].is_object() {
        return desired.clone();
    }
    let mut next = current.clone();
    for field in ["addressType", "endpoints", "ports"] {
        match desired.get(field) {
            Some(v) => next[field] = v.clone(),
            None => {
                if let Some(m) = next.as_object_mut() {
                    m.remove(field);
                }
            }
        }
    }
    next["metadata"]["labels"] = desired["metadata"]["labels"].clone();
    next
}

/// `10.244.0.5 ready, 10.244.0.6 not ready`, or `no endpoints`.
pub fn summary(slice: &Value) -> String {
    let parts: Vec<String> = slice["endpoints"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .map(|e| {
            let ip = e["addresses"][0].as_str().unwrap_or_default();
            if e["conditions"]["ready"].as_bool() == Some(false) {
                format!("{ip} not ready")
            } else {
                format!("{ip} ready")
            }
        })
        .collect();
    if parts.is_empty() {
        "no endpoints".into()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> Value {
        json!({"metadata": {"name": "web", "namespace": "default", "uid": "u-1"},
               "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    }

    #[test]
    fn the_name_looks_generated_and_stays_put() {
        let n = name(&service());
        assert_eq!(n, name(&service()));
        let suffix = n.strip_prefix("web-").unwrap();
        assert_eq!(suffix.len(), 5);
        assert!(suffix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    }

    #[test]
    fn addresses_become_endpoints_with_conditions_and_the_labels_name_the_service() {
        let eps = json!({"subsets": [{
            "addresses": [{"ip": "10.244.0.5", "nodeName": "n1",
                "targetRef": {"kind": "Pod", "name": "a", "namespace": "default", "uid": "p"}}],
            "notReadyAddresses": [{"ip": "10.244.0.6"}],
            "ports": [{"port": 8080, "protocol": "TCP"}]}]});
        let slice = desired(&service(), &eps, "web-abcde");
        assert_eq!(slice["addressType"], "IPv4");
        assert_eq!(slice["metadata"]["labels"][SERVICE_NAME_LABEL], "web");
        assert_eq!(slice["metadata"]["labels"][MANAGED_BY_LABEL], MANAGED_BY);
        assert_eq!(
            slice["endpoints"][0],
            json!({"addresses": ["10.244.0.5"], "conditions": {"ready": true, "serving": true, "terminating": false},
                   "nodeName": "n1", "targetRef": {"kind": "Pod", "name": "a", "namespace": "default", "uid": "p"}})
        );
        assert_eq!(slice["endpoints"][1]["conditions"]["ready"], false);
        assert_eq!(slice["ports"], json!([{"port": 8080, "protocol": "TCP"}]));
        assert!(belongs_to(&slice, "web"));
        assert_eq!(summary(&slice), "10.244.0.5 ready, 10.244.0.6 not ready");
        let empty = desired(&service(), &json!({}), "web-abcde");
        assert_eq!(summary(&empty), "no endpoints");
        assert!(!same(&slice, &empty));
        assert!(same(&updated(&slice, &empty), &empty));
        assert!(same(&updated(&json!("odd"), &empty), &empty));
    }
}
