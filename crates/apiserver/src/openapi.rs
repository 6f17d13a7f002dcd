//! The building's plans: OpenAPI v3 at `/openapi/v3`, what `kubectl explain` and `kubectl apply`
//! read.
//!
//! kubectl 1.32 asks `GET /openapi/v3` for an index of group-versions, then fetches one
//! document per group-version at the `serverRelativeURL` the index gives (its `?hash=` makes the
//! document cacheable for good). `kubectl explain pods` finds, in `api/v1`'s
//! `components.schemas`, the schema whose `x-kubernetes-group-version-kind` is v1 Pod and walks
//! its `$ref`s (`pod.spec.containers` → PodSpec → Container); `kubectl apply` looks for a PATCH
//! operation of the kind that accepts `fieldValidation` and then leaves validation to Alice
//! (kubectl-wire.md §3).
//!
//! The schemas are Kubernetes v1.32's own, for the kinds the lab serves and every type they
//! reach, kept as data in `data/openapi/` (`generate.py` there names their source and how they
//! were made); the paths are the lab's routes.

use std::sync::LazyLock;

use serde_json::{json, Value};

use crate::registry::{Resource, RESOURCES};

/// Each group-version's schemas, by the path the index names.
const SCHEMAS: &[(&str, &str)] = &[
    ("api/v1", include_str!("../data/openapi/api__v1.json")),
    (
        "apis/apps/v1",
        include_str!("../data/openapi/apis__apps__v1.json"),
    ),
    (
        "apis/certificates.k8s.io/v1",
        include_str!("../data/openapi/apis__certificates.k8s.io__v1.json"),
    ),
    (
        "apis/rbac.authorization.k8s.io/v1",
        include_str!("../data/openapi/apis__rbac.authorization.k8s.io__v1.json"),
    ),
    (
        "apis/coordination.k8s.io/v1",
        include_str!("../data/openapi/apis__coordination.k8s.io__v1.json"),
    ),
    (
        "apis/apiregistration.k8s.io/v1",
        include_str!("../data/openapi/apis__apiregistration.k8s.io__v1.json"),
    ),
    (
        "apis/discovery.k8s.io/v1",
        include_str!("../data/openapi/apis__discovery.k8s.io__v1.json"),
    ),
    (
        "apis/authentication.k8s.io/v1",
        include_str!("../data/openapi/apis__authentication.k8s.io__v1.json"),
    ),
    (
        "apis/authorization.k8s.io/v1",
        include_str!("../data/openapi/apis__authorization.k8s.io__v1.json"),
    ),
];

/// One group-version's document and the hash its URL carries.
struct Document {
    path: &'static str,
    body: Value,
    hash: String,
}

static DOCUMENTS: LazyLock<Vec<Document>> = LazyLock::new(|| {
    SCHEMAS
        .iter()
        .map(|(path, text)| {
            // The files are part of the program, and a test reads each one.
            let schemas: Value = serde_json::from_str(text)
                .unwrap_or_else(|e| panic!("data/openapi for {path} is not valid JSON: {e}"));
            let body = json!({
                "openapi": "3.0.0",
                "info": {"title": "Kubernetes", "version": "v1.32.0-kubecorp"},
                "paths": paths(path),
                "components": schemas["components"],
            });
            let hash = fnv1a(body.to_string().as_bytes());
            Document { path, body, hash }
        })
        .collect()
});

/// `GET /openapi/v3`: one entry per group-version, each URL with its document's hash.
pub fn openapi_index() -> Value {
    let mut paths = serde_json::Map::new();
    for d in DOCUMENTS.iter() {
        paths.insert(
            d.path.to_string(),
            json!({"serverRelativeURL": format!("/openapi/v3/{}?hash={}", d.path, d.hash)}),
        );
    }
    json!({"paths": paths})
}

/// `GET /openapi/v3/<gv>`; `None` for a group-version the lab does not serve.
pub fn openapi_group_version(path: &str) -> Option<Value> {
    DOCUMENTS
        .iter()
        .find(|d| d.path == path)
        .map(|d| d.body.clone())
}

fn gv_path(r: &Resource) -> String {
    if r.group.is_empty() {
        format!("api/{}", r.version)
    } else {
        format!("apis/{}/{}", r.group, r.version)
    }
}

/// A PATCH operation per stored kind that accepts `fieldValidation`, which is what kubectl's
/// server-side validation looks for before `apply` and `create -f`.
fn paths(gv: &str) -> Value {
    let mut paths = serde_json::Map::new();
    for r in RESOURCES
        .iter()
        .filter(|r| gv_path(r) == gv && !r.virtual_only)
    {
        let url = if r.namespaced {
            format!("/{gv}/namespaces/{{namespace}}/{}/{{name}}", r.name)
        } else {
            format!("/{gv}/{}/{{name}}", r.name)
        };
        paths.insert(
            url,
            json!({"patch": {
                "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
                "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": {"description": "OK"}}
            }}),
        );
    }
    Value::Object(paths)
}

/// A short, stable content hash (kube-apiserver uses SHA-512; kubectl treats it as opaque).
fn fnv1a(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016X}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schema of one kind in its group-version's document.
    fn kind_schema<'a>(doc: &'a Value, group: &str, kind: &str) -> Option<&'a Value> {
        doc["components"]["schemas"]
            .as_object()?
            .values()
            .find(|s| {
                s["x-kubernetes-group-version-kind"]
                    .as_array()
                    .is_some_and(|g| {
                        g.iter().any(|g| {
                            g["group"] == group && g["version"] == "v1" && g["kind"] == kind
                        })
                    })
            })
    }

    #[test]
    fn every_stored_kind_has_its_schema_and_a_patch_operation_in_its_document() {
        for r in RESOURCES.iter() {
            let doc = openapi_group_version(&gv_path(r)).expect("a document per group-version");
            assert!(
                kind_schema(&doc, r.group, r.kind).is_some(),
                "{} has no schema",
                r.kind
            );
            if !r.virtual_only {
                let has_patch = doc["paths"]
                    .as_object()
                    .unwrap()
                    .values()
                    .any(|p| p["patch"]["x-kubernetes-group-version-kind"]["kind"] == r.kind);
                assert!(has_patch, "{} has no PATCH operation", r.kind);
            }
        }
    }

    #[test]
    fn every_reference_resolves_inside_its_own_document() {
        fn refs(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    for (k, v) in m {
                        match (k.as_str(), v.as_str()) {
                            ("$ref", Some(r)) => out.push(r.to_string()),
                            _ => refs(v, out),
                        }
                    }
                }
                Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        for d in DOCUMENTS.iter() {
            let mut found = Vec::new();
            refs(&d.body, &mut found);
            assert!(!found.is_empty());
            for r in found {
                let name = r.strip_prefix("#/components/schemas/").unwrap();
                assert!(
                    d.body["components"]["schemas"].get(name).is_some(),
                    "{}: {r} dangles",
                    d.path
                );
            }
        }
    }

    #[test]
    fn the_index_names_each_document_with_its_hash() {
        let index = openapi_index();
        let url = index["paths"]["api/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap();
        assert!(url.starts_with("/openapi/v3/api/v1?hash="), "{url}");
        assert_eq!(url.len(), "/openapi/v3/api/v1?hash=".len() + 16);
        assert_eq!(index["paths"].as_object().unwrap().len(), SCHEMAS.len());
    }
}
