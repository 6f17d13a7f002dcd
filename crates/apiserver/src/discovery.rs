//! The building directory kubectl reads first: /version and discovery documents (OpenAPI is
//! [`crate::openapi`]).
//!
//! kubectl 1.32 asks `/api` and `/apis` for *aggregated* discovery and only trusts the answer
//! when its Content-Type says so (see kubectl-wire.md §2).

use serde_json::{json, Value};

use crate::registry::{Resource, GROUPS, RESOURCES};

pub const AGGREGATED_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// `/version` as kube-apiserver writes it (`WriteRawJSON`: `json.MarshalIndent`, in
/// `version.Info`'s field order, for every client).
pub fn version_body() -> String {
    let v = version();
    let field = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
    let fields = [
        "major",
        "minor",
        "gitVersion",
        "gitCommit",
        "gitTreeState",
        "buildDate",
        "goVersion",
        "compiler",
        "platform",
    ];
    let lines: Vec<String> = fields
        .iter()
        .map(|k| format!("  {}: {}", Value::from(*k), Value::from(field(k))))
        .collect();
    format!("{{\n{}\n}}", lines.join(",\n"))
}

/// `/version`: minor 32, so kubectl's dispatcher runs its own 1.32 client.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.0-kubecorp",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.23.8",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// Whether the Accept header asks for aggregated discovery.
pub fn wants_aggregated(accept: &str) -> bool {
    accept.contains("as=APIGroupDiscoveryList")
}

fn resources_of(group: &str) -> impl Iterator<Item = &'static Resource> + '_ {
    RESOURCES.iter().filter(move |r| r.group == group)
}

fn aggregated_group(group: &str) -> Value {
    let resources: Vec<Value> = resources_of(group)
        .map(|r| {
            let mut v = json!({
                "resource": r.name,
                "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
                "singularResource": r.singular,
                "verbs": r.verbs,
            });
            if !r.short_names.is_empty() {
                v["shortNames"] = json!(r.short_names);
            }
            if !r.categories.is_empty() {
                v["categories"] = json!(r.categories);
            }
            if !r.subresources.is_empty() {
                v["subresources"] = r
                    .subresources
                    .iter()
                    .map(|s| match *s {
                        // serviceaccounts/token answers a TokenRequest, and only to create.
                        "token" => json!({"subresource": s, "responseKind": {"group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest"}, "verbs": ["create"]}),
                        // kubectl's scale client finds the Scale's kind here (autoscaling/v1).
                        "scale" => json!({"subresource": s, "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"}, "verbs": ["get", "patch", "update"]}),
                        _ => json!({"subresource": s, "responseKind": {"group": r.group, "version": r.version, "kind": r.kind}, "verbs": ["get", "patch", "update"]}),
                    })
                    .collect();
            }
            v
        })
        .collect();
    json!({
        "metadata": {"name": group},
        "versions": [{"version": "v1", "resources": resources, "freshness": "Current"}]
    })
}

/// `GET /api` or `GET /apis` with the aggregated Accept.
pub fn aggregated(core: bool) -> Value {
    let items: Vec<Value> = GROUPS
        .iter()
        .filter(|g| g.is_empty() == core)
        .map(|g| aggregated_group(g))
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items
    })
}

/// Legacy `GET /api`.
pub fn legacy_api() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]})
}

/// Legacy `GET /apis`.
pub fn legacy_apis() -> Value {
    let groups: Vec<Value> = GROUPS
        .iter()
        .filter(|g| !g.is_empty())
        .map(|g| {
            let gv = json!({"groupVersion": format!("{g}/v1"), "version": "v1"});
            json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// Legacy `GET /api/v1` or `/apis/GROUP/v1`, or None for an unknown group-version.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    if version != "v1" || !GROUPS.contains(&group) {
        return None;
    }
    let mut resources = Vec::new();
    for r in resources_of(group) {
        let mut v = json!({
            "name": r.name,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs,
        });
        if !r.short_names.is_empty() {
            v["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            v["categories"] = json!(r.categories);
        }
        resources.push(v);
        for sub in r.subresources {
            resources.push(match *sub {
                "token" => json!({"name": format!("{}/{sub}", r.name), "singularName": "", "namespaced": r.namespaced, "group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest", "verbs": ["create"]}),
                "scale" => json!({"name": format!("{}/{sub}", r.name), "singularName": "", "namespaced": r.namespaced, "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}),
                _ => json!({"name": format!("{}/{sub}", r.name), "singularName": "", "namespaced": r.namespaced, "kind": r.kind, "verbs": ["get", "patch", "update"]}),
            });
        }
    }
    let gv = if group.is_empty() {
        "v1".to_string()
    } else {
        format!("{group}/v1")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

/// Legacy `GET /apis/GROUP`.
pub fn group(group: &str) -> Option<Value> {
    (GROUPS.contains(&group) && !group.is_empty()).then(|| {
        let gv = json!({"groupVersion": format!("{group}/v1"), "version": "v1"});
        json!({"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": [gv.clone()], "preferredVersion": gv})
    })
}

// The OpenAPI documents live in their own module; api.rs routes here.
pub use crate::openapi::{openapi_group_version, openapi_index};

#[cfg(test)]
mod tests {
    #[test]
    fn version_is_indented_in_gos_field_order_for_every_client() {
        assert_eq!(
            super::version_body(),
            "{\n  \"major\": \"1\",\n  \"minor\": \"32\",\n  \"gitVersion\": \"v1.32.0-kubecorp\",\n  \"gitCommit\": \"0000000000000000000000000000000000000000\",\n  \"gitTreeState\": \"clean\",\n  \"buildDate\": \"2026-01-01T00:00:00Z\",\n  \"goVersion\": \"go1.23.8\",\n  \"compiler\": \"gc\",\n  \"platform\": \"linux/amd64\"\n}"
        );
    }
}
