//! What a service's Endpoints should say, worked out from its selector and the pods: the
//! endpoints controller's pure half, testable without a socket.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

/// The service's selector, if it has a non-empty one (a service without one is not the
/// controller's business).
pub fn selector(service: &Value) -> Option<BTreeMap<String, String>> {
    let map = service["spec"]["selector"].as_object()?;
    let selector: BTreeMap<String, String> = map
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
        .collect();
    (!selector.is_empty()).then_some(selector)
}

/// Whether every `key=value` of the selector is among the pod's labels.
pub fn matches(selector: &BTreeMap<String, String>, pod: &Value) -> bool {
    let labels = &pod["metadata"]["labels"];
    selector
        .iter()
        .all(|(k, v)| labels[k.as_str()].as_str() == Some(v.as_str()))
}

/// Ready condition `True`, or (before the kubelet reports conditions) phase `Running`.
pub fn is_ready(pod: &Value) -> bool {
    match pod["status"]["conditions"].as_array() {
        Some(conditions) if !conditions.is_empty() => conditions
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True"),
        _ => pod["status"]["phase"] == "Running",
    }
}

/// The endpoint ports this pod serves for the service: each service port's `targetPort`
/// (a number; a name looked up among the pod's container ports; absent means the port itself).
fn pod_ports(service: &Value, pod: &Value) -> Vec<Value> {
    let Some(ports) = service["spec"]["ports"].as_array() else {
        return Vec::new();
    };
    ports
        .iter()
        .filter_map(|sp| {
            let number = match &sp["targetPort"] {
                Value::Number(n) => n.as_u64()?,
                Value::String(s) => match s.parse::<u64>() {
                    Ok(n) => n,
                    Err(_) => named_container_port(pod, s)?,
                },
                _ => sp["port"].as_u64()?,
            };
            let mut port = Map::new();
            if let Some(name) = sp["name"].as_str().filter(|n| !n.is_empty()) {
                port.insert("name".into(), json!(name));
            }
            port.insert("port".into(), json!(number));
            port.insert(
                "protocol".into(),
                json!(sp["protocol"].as_str().unwrap_or("TCP")),
            );
            Some(Value::Object(port))
        })
        .collect()
}

fn named_container_port(pod: &Value, name: &str) -> Option<u64> {
    pod["spec"]["containers"]
        .as_array()?
        .iter()
        .filter_map(|c| c["ports"].as_array())
        .flatten()
        .find(|p| p["name"].as_str() == Some(name))
        .and_then(|p| p["containerPort"].as_u64())
}

/// One EndpointSubset being built: addresses that share the same ports.
#[derive(Default)]
struct Subset {
    ready: Vec<Value>,
    not_ready: Vec<Value>,
    ports: Vec<Value>,
}

/// The Endpoints object the service should have, given the pods of its namespace.
pub fn desired(service: &Value, pods: &[&Value]) -> Value {
    let meta = &service["metadata"];
    let selector = selector(service).unwrap_or_default();
    // Subsets group the addresses that share the same ports (EndpointSubset repacking).
    let mut subsets: BTreeMap<String, Subset> = BTreeMap::new();
    for pod in pods {
        if !matches(&selector, pod) || !pod["metadata"]["deletionTimestamp"].is_null() {
            continue;
        }
        let Some(ip) = pod["status"]["podIP"].as_str().filter(|ip| !ip.is_empty()) else {
            continue;
        };
        let ports = pod_ports(service, pod);
        if ports.is_empty() {
            continue;
        }
        let mut address = Map::new();
        address.insert("ip".into(), json!(ip));
        if let Some(node) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
            address.insert("nodeName".into(), json!(node));
        }
        address.insert(
            "targetRef".into(),
            json!({"kind": "Pod", "namespace": pod["metadata"]["namespace"],
                   "name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]}),
        );
        let entry = subsets
            .entry(Value::Array(ports.clone()).to_string())
            .or_insert_with(|| Subset {
                ports,
                ..Subset::default()
            });
        if is_ready(pod) {
            entry.ready.push(Value::Object(address));
        } else {
            entry.not_ready.push(Value::Object(address));
        }
    }
    let by_ip = |a: &Value, b: &Value| a["ip"].as_str().cmp(&b["ip"].as_str());
    let subsets: Vec<Value> = subsets
        .into_values()
        .map(
            |Subset {
                 mut ready,
                 mut not_ready,
                 ports,
             }| {
                ready.sort_by(by_ip);
                not_ready.sort_by(by_ip);
                let mut subset = Map::new();
                if !ready.is_empty() {
                    subset.insert("addresses".into(), Value::Array(ready));
                }
                if !not_ready.is_empty() {
                    subset.insert("notReadyAddresses".into(), Value::Array(not_ready));
                }
                subset.insert("ports".into(), Value::Array(ports));
                Value::Object(subset)
            },
        )
        .collect();
    let mut metadata = Map::new();
    metadata.insert("name".into(), meta["name"].clone());
    metadata.insert("namespace".into(), meta["namespace"].clone());
    if meta["labels"].is_object() {
        metadata.insert("labels".into(), meta["labels"].clone());
    }
    let mut endpoints = json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": metadata});
    if !subsets.is_empty() {
        endpoints["subsets"] = Value::Array(subsets);
    }
    endpoints
}

fn subsets_of(endpoints: &Value) -> &[Value] {
    endpoints["subsets"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Whether the stored Endpoints already says what `desired` says.
pub fn same(current: &Value, desired: &Value) -> bool {
    subsets_of(current) == subsets_of(desired)
        && current["metadata"]["labels"] == desired["metadata"]["labels"]
}

/// The stored object with the desired subsets and labels: the PUT keeps its uid and
/// resourceVersion, so the apiserver can refuse it (409) if someone wrote in between.
pub fn updated(current: &Value, desired: &Value) -> Value {
    // Whatever the server sent, never index into a non-object.
    if !current.is_object() || !current["metadata"].is_object() {
        return desired.clone();
    }
    let mut next = current.clone();
    match desired.get("subsets") {
        Some(subsets) => next["subsets"] = subsets.clone(),
        None => {
            if let Some(m) = next.as_object_mut() {
                m.remove("subsets");
            }
        }
    }
    if let Some(meta) = next["metadata"].as_object_mut() {
        match desired["metadata"].get("labels") {
            Some(labels) => {
                meta.insert("labels".into(), labels.clone());
            }
            None => {
                meta.remove("labels");
            }
        }
    }
    next
}

/// `10.244.0.5:8080` for every ready address and port, the not-ready ones in brackets, or
/// `no ready pods`.
pub fn summary(endpoints: &Value) -> String {
    let mut ready = Vec::new();
    let mut waiting = Vec::new();
    for subset in subsets_of(endpoints) {
        let ports: Vec<u64> = subset["ports"]
            .as_array()
            .map(|p| p.iter().filter_map(|p| p["port"].as_u64()).collect())
            .unwrap_or_default();
        for (list, out) in [
            ("addresses", &mut ready),
            ("notReadyAddresses", &mut waiting),
        ] {
            for address in subset[list].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                let ip = address["ip"].as_str().unwrap_or_default();
                out.extend(ports.iter().map(|p| format!("{ip}:{p}")));
            }
        }
    }
    let mut text = if ready.is_empty() {
        "no ready pods".to_owned()
    } else {
        ready.join(", ")
    };
    if !waiting.is_empty() {
        text.push_str(&format!(" (not ready: {})", waiting.join(", ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> Value {
        json!({"metadata": {"namespace": "default", "name": "web"},
               "spec": {"selector": {"app": "web"},
                        "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]}})
    }

    fn pod(name: &str, ip: &str, ready: &str) -> Value {
        json!({"metadata": {"namespace": "default", "name": name, "uid": name, "labels": {"app": "web"}},
               "spec": {"nodeName": "n1"},
               "status": {"phase": "Running", "podIP": ip,
                          "conditions": [{"type": "Ready", "status": ready}]}})
    }

    #[test]
    fn ready_pods_become_addresses_and_the_others_wait() {
        let (a, b) = (
            pod("a", "10.244.0.6", "True"),
            pod("b", "10.244.0.5", "False"),
        );
        let other = json!({"metadata": {"namespace": "default", "name": "c", "labels": {"app": "db"}},
                           "status": {"podIP": "10.244.0.7", "phase": "Running"}});
        let e = desired(&service(), &[&a, &b, &other]);
        assert_eq!(summary(&e), "10.244.0.6:8080 (not ready: 10.244.0.5:8080)");
        assert_eq!(e["subsets"][0]["addresses"][0]["targetRef"]["name"], "a");
        assert_eq!(
            e["subsets"][0]["ports"],
            json!([{"port": 8080, "protocol": "TCP"}])
        );
    }

    #[test]
    fn a_named_target_port_is_looked_up_in_the_pod_and_an_absent_one_is_the_port() {
        let mut svc = service();
        svc["spec"]["ports"] = json!([{"name": "http", "port": 80, "targetPort": "web"},
                                      {"name": "metrics", "port": 9100}]);
        let mut p = pod("a", "10.244.0.6", "True");
        p["spec"]["containers"] =
            json!([{"name": "c", "ports": [{"name": "web", "containerPort": 8080}]}]);
        let e = desired(&svc, &[&p]);
        assert_eq!(
            e["subsets"][0]["ports"],
            json!([{"name": "http", "port": 8080, "protocol": "TCP"},
                   {"name": "metrics", "port": 9100, "protocol": "TCP"}])
        );
    }

    #[test]
    fn odd_objects_from_the_apiserver_are_judged_not_panicked_over() {
        let garbage = [
            json!("pod"),
            json!({"metadata": [], "status": {"podIP": 7}}),
        ];
        let pods: Vec<&Value> = garbage.iter().collect();
        let e = desired(&json!({"spec": {"selector": "x"}}), &pods);
        assert!(e.get("subsets").is_none());
        assert_eq!(updated(&json!("stored"), &e), e);
        assert_eq!(summary(&json!({"subsets": "x"})), "no ready pods");
    }

    #[test]
    fn no_matching_pods_means_no_subsets_and_an_update_drops_the_old_ones() {
        let e = desired(&service(), &[]);
        assert!(e.get("subsets").is_none());
        assert_eq!(summary(&e), "no ready pods");
        let a = pod("a", "10.244.0.6", "True");
        let stored = desired(&service(), &[&a]);
        assert!(!same(&stored, &e));
        assert!(updated(&stored, &e).get("subsets").is_none());
    }
}
