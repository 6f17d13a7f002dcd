//! What `kubectl get` shows: the Table each resource renders, columns as the real apiserver names them.

use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::meta::{human_duration, meta_str, parse_timestamp};
use crate::registry::Resource;

/// Whether the Accept header asks for a Table.
pub fn wants_table(accept: &str) -> bool {
    accept.contains("as=Table")
}

fn col(name: &str, kind: &str, priority: i64) -> Value {
    json!({"name": name, "type": kind, "format": if name == "Name" { "name" } else { "" }, "description": "", "priority": priority})
}

fn age(obj: &Value, now: OffsetDateTime) -> String {
    parse_timestamp(meta_str(obj, "creationTimestamp"))
        .map(|t| human_duration((now - t).whole_seconds()))
        .unwrap_or_else(|| "<unknown>".into())
}

/// String columns: those `kubectl get` always shows, then those only `-o wide` shows
/// (priority 1).
fn string_columns(shown: &[&str], wide: &[&str]) -> Vec<Value> {
    let shown = shown.iter().map(|name| col(name, "string", 0));
    shown
        .chain(wide.iter().map(|name| col(name, "string", 1)))
        .collect()
}

fn columns(resource: &Resource) -> Vec<Value> {
    if let Some(apps) = crate::apps::columns(resource) {
        return apps;
    }
    match resource.name {
        "pods" => string_columns(
            &["Name", "Ready", "Status", "Restarts", "Age"],
            &["IP", "Node", "Nominated Node", "Readiness Gates"],
        ),
        "nodes" => string_columns(
            &["Name", "Status", "Roles", "Age", "Version"],
            &[
                "Internal-IP",
                "External-IP",
                "OS-Image",
                "Kernel-Version",
                "Container-Runtime",
            ],
        ),
        "certificatesigningrequests" => string_columns(
            &[
                "Name",
                "Age",
                "SignerName",
                "Requestor",
                "RequestedDuration",
                "Condition",
            ],
            &[],
        ),
        "namespaces" => string_columns(&["Name", "Status", "Age"], &[]),
        // kube-aggregator's `apiservice` table: the service answering, and Available.
        "apiservices" => string_columns(&["Name", "Service", "Available", "Age"], &[]),
        "services" => string_columns(
            &[
                "Name",
                "Type",
                "Cluster-IP",
                "External-IP",
                "Port(s)",
                "Age",
            ],
            &["Selector"],
        ),
        "endpointslices" => {
            string_columns(&["Name", "AddressType", "Ports", "Endpoints", "Age"], &[])
        }
        // printers.go `roleColumnDefinitions`: no age, the creation time itself.
        "clusterroles" | "roles" => vec![col("Name", "string", 0), col("Created At", "date", 0)],
        "clusterrolebindings" | "rolebindings" => string_columns(
            &["Name", "Role", "Age"],
            &["Users", "Groups", "ServiceAccounts"],
        ),
        _ => string_columns(&["Name", "Age"], &[]),
    }
}

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(next) => cur = next,
            None => return "",
        }
    }
    cur.as_str().unwrap_or("")
}

fn none_if_empty(v: &str) -> String {
    if v.is_empty() {
        "<none>".into()
    } else {
        v.to_string()
    }
}

/// kubectl's PORTS for an EndpointSlice: `80,443`, `<unset>` for a port without a number, or
/// `<unset>` when there are none.
fn slice_ports(obj: &Value) -> String {
    let ports: Vec<String> = obj["ports"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    p["port"]
                        .as_u64()
                        .map_or_else(|| "<unset>".to_string(), |n| n.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    if ports.is_empty() {
        "<unset>".into()
    } else {
        ports.join(",")
    }
}

/// kubectl's ENDPOINTS for an EndpointSlice: the first three addresses, `+ N more...`, or
/// `<unset>`.
fn slice_endpoints(obj: &Value) -> String {
    let addresses: Vec<&str> = obj["endpoints"]
        .as_array()
        .map(|eps| {
            eps.iter()
                .flat_map(|e| {
                    e["addresses"]
                        .as_array()
                        .map(Vec::as_slice)
                        .unwrap_or(&[])
                        .iter()
                        .filter_map(Value::as_str)
                })
                .collect()
        })
        .unwrap_or_default();
    if addresses.is_empty() {
        return "<unset>".into();
    }
    let mut text = addresses
        .iter()
        .take(3)
        .copied()
        .collect::<Vec<_>>()
        .join(",");
    if addresses.len() > 3 {
        text.push_str(&format!(" + {} more...", addresses.len() - 3));
    }
    text
}

fn cells(resource: &Resource, obj: &Value, now: OffsetDateTime) -> Vec<Value> {
    let name = meta_str(obj, "name").to_string();
    if let Some(apps) = crate::apps::cells(resource, obj, age(obj, now)) {
        return apps;
    }
    match resource.name {
        "apiservices" => {
            let service = match obj["spec"]["service"].as_object() {
                Some(svc) => format!(
                    "{}/{}",
                    svc.get("namespace").and_then(Value::as_str).unwrap_or(""),
                    svc.get("name").and_then(Value::as_str).unwrap_or("")
                ),
                None => "Local".into(),
            };
            // `True`, or `False (FailedDiscoveryCheck)`: the status, then the reason when not True.
            let available = obj["status"]["conditions"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["type"] == "Available"))
                .map(|c| match (s(c, &["status"]), s(c, &["reason"])) {
                    ("True", _) | (_, "") => s(c, &["status"]).to_string(),
                    (status, reason) => format!("{status} ({reason})"),
                })
                .unwrap_or_else(|| "Unknown".into());
            vec![
                json!(name),
                json!(service),
                json!(available),
                json!(age(obj, now)),
            ]
        }
        "pods" => {
            let phase = s(obj, &["status", "phase"]);
            let containers = obj["spec"]["containers"].as_array().map_or(0, Vec::len);
            let ready = obj["status"]["containerStatuses"]
                .as_array()
                .map_or(0, |c| {
                    c.iter()
                        .filter(|c| c["ready"].as_bool() == Some(true))
                        .count()
                });
            vec![
                json!(name),
                json!(format!("{ready}/{containers}")),
                json!(if phase.is_empty() { "Pending" } else { phase }),
                json!("0"),
                json!(age(obj, now)),
                json!(none_if_empty(s(obj, &["status", "podIP"]))),
                json!(none_if_empty(s(obj, &["spec", "nodeName"]))),
                json!("<none>"),
                json!("<none>"),
            ]
        }
        "nodes" => {
            let ready = obj["status"]["conditions"]
                .as_array()
                .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
                .map(|c| {
                    if c["status"] == "True" {
                        "Ready"
                    } else {
                        "NotReady"
                    }
                })
                .unwrap_or("Unknown");
            let labels = obj["metadata"]["labels"].as_object();
            let roles: Vec<&str> = labels
                .map(|l| {
                    l.keys()
                        .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                        .collect()
                })
                .unwrap_or_default();
            let address = |kind: &str| {
                obj["status"]["addresses"]
                    .as_array()
                    .and_then(|a| a.iter().find(|a| a["type"] == kind))
                    .and_then(|a| a["address"].as_str())
                    .unwrap_or("<none>")
                    .to_string()
            };
            vec![
                json!(name),
                json!(ready),
                json!(if roles.is_empty() {
                    "<none>".to_string()
                } else {
                    roles.join(",")
                }),
                json!(age(obj, now)),
                json!(s(obj, &["status", "nodeInfo", "kubeletVersion"])),
                json!(address("InternalIP")),
                json!(address("ExternalIP")),
                json!(none_if_empty(s(obj, &["status", "nodeInfo", "osImage"]))),
                json!(none_if_empty(s(
                    obj,
                    &["status", "nodeInfo", "kernelVersion"]
                ))),
                json!(none_if_empty(s(
                    obj,
                    &["status", "nodeInfo", "containerRuntimeVersion"]
                ))),
            ]
        }
        "certificatesigningrequests" => {
            let duration = obj["spec"]["expirationSeconds"]
                .as_i64()
                .map(human_duration)
                .unwrap_or_else(|| "<none>".into());
            vec![
                json!(name),
                json!(age(obj, now)),
                json!(s(obj, &["spec", "signerName"])),
                json!(s(obj, &["spec", "username"])),
                json!(duration),
                json!(crate::csr::condition_summary(obj)),
            ]
        }
        "namespaces" => vec![
            json!(name),
            json!(if s(obj, &["status", "phase"]).is_empty() {
                "Active"
            } else {
                s(obj, &["status", "phase"])
            }),
            json!(age(obj, now)),
        ],
        "services" => {
            let ports: Vec<String> = obj["spec"]["ports"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .map(|p| {
                            format!("{}/{}", p["port"], p["protocol"].as_str().unwrap_or("TCP"))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let selector: Vec<String> = obj["spec"]["selector"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                        .collect()
                })
                .unwrap_or_default();
            vec![
                json!(name),
                json!(if s(obj, &["spec", "type"]).is_empty() {
                    "ClusterIP"
                } else {
                    s(obj, &["spec", "type"])
                }),
                json!(none_if_empty(s(obj, &["spec", "clusterIP"]))),
                json!("<none>"),
                json!(if ports.is_empty() {
                    "<none>".into()
                } else {
                    ports.join(",")
                }),
                json!(age(obj, now)),
                json!(if selector.is_empty() {
                    "<none>".into()
                } else {
                    selector.join(",")
                }),
            ]
        }
        "endpointslices" => vec![
            json!(name),
            json!(s(obj, &["addressType"])),
            json!(slice_ports(obj)),
            json!(slice_endpoints(obj)),
            json!(age(obj, now)),
        ],
        // `obj.CreationTimestamp.Time.UTC().Format(time.RFC3339)`, as the store already keeps it.
        "clusterroles" | "roles" => vec![json!(name), json!(meta_str(obj, "creationTimestamp"))],
        "clusterrolebindings" | "rolebindings" => {
            let subjects = |kind: &str| -> String {
                let names: Vec<String> = obj["subjects"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter(|s| s["kind"] == kind)
                            .map(|s| match s["namespace"].as_str() {
                                Some(ns) if kind == "ServiceAccount" => {
                                    format!("{ns}/{}", s["name"].as_str().unwrap_or(""))
                                }
                                _ => s["name"].as_str().unwrap_or("").to_string(),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                names.join(", ")
            };
            vec![
                json!(name),
                json!(format!(
                    "{}/{}",
                    s(obj, &["roleRef", "kind"]),
                    s(obj, &["roleRef", "name"])
                )),
                json!(age(obj, now)),
                json!(subjects("User")),
                json!(subjects("Group")),
                json!(subjects("ServiceAccount")),
            ]
        }
        _ => vec![json!(name), json!(age(obj, now))],
    }
}

/// A meta.k8s.io/v1 Table of `objects`.
pub fn table(
    resource: &Resource,
    objects: &[Value],
    resource_version: &str,
    now: OffsetDateTime,
) -> Value {
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let mut metadata = json!({"name": meta_str(o, "name"), "creationTimestamp": meta_str(o, "creationTimestamp")});
            if !meta_str(o, "namespace").is_empty() {
                metadata["namespace"] = json!(meta_str(o, "namespace"));
            }
            // `kubectl get --show-labels` and `-L` read these from the row's object.
            for field in ["labels", "annotations", "uid", "resourceVersion"] {
                if !o["metadata"][field].is_null() {
                    metadata[field] = o["metadata"][field].clone();
                }
            }
            json!({
                "cells": cells(resource, o, now),
                "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata}
            })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": columns(resource),
        "rows": rows
    })
}
