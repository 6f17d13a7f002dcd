//! Each decoded message in the JSON shape the handlers already understand: empty strings and
//! zeros left out (Go's "unset"), bytes base64-encoded as the JSON API carries them.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::messages::*;

pub(super) fn service_json(m: &Service) -> Value {
    let spec = m.spec.clone().unwrap_or_default();
    let ports: Vec<Value> = spec
        .ports
        .iter()
        .map(|p| {
            let mut port = Map::new();
            put_str(&mut port, "name", &p.name);
            put_str(&mut port, "protocol", &p.protocol);
            port.insert("port".into(), json!(p.port));
            match &p.target_port {
                Some(t) if t.kind == 1 => {
                    port.insert("targetPort".into(), json!(t.str_val));
                }
                Some(t) => {
                    port.insert("targetPort".into(), json!(t.int_val));
                }
                None => {}
            }
            if p.node_port != 0 {
                port.insert("nodePort".into(), json!(p.node_port));
            }
            Value::Object(port)
        })
        .collect();
    let mut s = Map::new();
    s.insert("ports".into(), json!(ports));
    if !spec.selector.is_empty() {
        s.insert("selector".into(), json!(spec.selector));
    }
    put_str(&mut s, "clusterIP", &spec.cluster_ip);
    put_str(&mut s, "type", &spec.r#type);
    put_str(&mut s, "externalName", &spec.external_name);
    json!({"apiVersion": "v1", "kind": "Service", "metadata": meta_json(m.metadata.as_ref()), "spec": s, "status": {"loadBalancer": {}}})
}

pub(super) fn role_json(kind: &str, m: &RoleMessage) -> Value {
    let rules: Vec<Value> = m
        .rules
        .iter()
        .map(|r| {
            let mut o = Map::new();
            o.insert("verbs".into(), json!(r.verbs));
            for (k, v) in [
                ("apiGroups", &r.api_groups),
                ("resources", &r.resources),
                ("resourceNames", &r.resource_names),
                ("nonResourceURLs", &r.non_resource_urls),
            ] {
                if !v.is_empty() {
                    o.insert(k.into(), json!(v));
                }
            }
            Value::Object(o)
        })
        .collect();
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta_json(m.metadata.as_ref()), "rules": rules})
}

pub(super) fn binding_json(kind: &str, m: &Binding) -> Value {
    let subjects: Vec<Value> = m
        .subjects
        .iter()
        .map(|s| {
            let mut o = Map::new();
            put_str(&mut o, "kind", &s.kind);
            put_str(&mut o, "apiGroup", &s.api_group);
            put_str(&mut o, "name", &s.name);
            put_str(&mut o, "namespace", &s.namespace);
            Value::Object(o)
        })
        .collect();
    let r = m.role_ref.clone().unwrap_or_default();
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta_json(m.metadata.as_ref()),
        "subjects": subjects, "roleRef": {"apiGroup": r.api_group, "kind": r.kind, "name": r.name}})
}

pub(super) fn token_request_json(m: &TokenRequest) -> Value {
    let mut spec = Map::new();
    if let Some(s) = &m.spec {
        spec.insert("audiences".into(), json!(s.audiences));
        if let Some(seconds) = s.expiration_seconds {
            spec.insert("expirationSeconds".into(), json!(seconds));
        }
        if let Some(b) = &s.bound_object_ref {
            let mut o = Map::new();
            put_str(&mut o, "kind", &b.kind);
            put_str(&mut o, "apiVersion", &b.api_version);
            put_str(&mut o, "name", &b.name);
            put_str(&mut o, "uid", &b.uid);
            spec.insert("boundObjectRef".into(), Value::Object(o));
        }
    }
    json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
           "metadata": meta_json(m.metadata.as_ref()), "spec": spec, "status": {}})
}

pub(super) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub(super) fn put_str(map: &mut Map<String, Value>, key: &str, value: &str) {
    if !value.is_empty() {
        map.insert(key.to_string(), json!(value));
    }
}

pub(super) fn time_json(t: Option<&Time>) -> Option<Value> {
    let t = t?;
    if t.seconds == 0 && t.nanos == 0 {
        return None;
    }
    let dt = time::OffsetDateTime::from_unix_timestamp(t.seconds).ok()?;
    Some(json!(kubecorp_trust::gotime::rfc3339(dt)))
}

pub(super) fn meta_json(m: Option<&ObjectMeta>) -> Value {
    let mut out = Map::new();
    if let Some(m) = m {
        put_str(&mut out, "name", &m.name);
        put_str(&mut out, "generateName", &m.generate_name);
        put_str(&mut out, "namespace", &m.namespace);
        put_str(&mut out, "uid", &m.uid);
        put_str(&mut out, "resourceVersion", &m.resource_version);
        if let Some(t) = time_json(m.creation_timestamp.as_ref()) {
            out.insert("creationTimestamp".into(), t);
        }
        if !m.labels.is_empty() {
            out.insert("labels".into(), json!(m.labels));
        }
        if !m.annotations.is_empty() {
            out.insert("annotations".into(), json!(m.annotations));
        }
    }
    Value::Object(out)
}

pub(super) fn csr_json(m: &CertificateSigningRequest) -> Value {
    let mut spec = Map::new();
    if let Some(s) = &m.spec {
        if !s.request.is_empty() {
            spec.insert("request".into(), json!(b64(&s.request)));
        }
        put_str(&mut spec, "signerName", &s.signer_name);
        if let Some(e) = s.expiration_seconds.filter(|e| *e != 0) {
            spec.insert("expirationSeconds".into(), json!(e));
        }
        if !s.usages.is_empty() {
            spec.insert("usages".into(), json!(s.usages));
        }
        put_str(&mut spec, "username", &s.username);
        put_str(&mut spec, "uid", &s.uid);
        if !s.groups.is_empty() {
            spec.insert("groups".into(), json!(s.groups));
        }
        if !s.extra.is_empty() {
            let extra: BTreeMap<&String, &Vec<String>> =
                s.extra.iter().map(|(k, v)| (k, &v.items)).collect();
            spec.insert("extra".into(), json!(extra));
        }
    }
    let mut status = Map::new();
    if let Some(st) = &m.status {
        if !st.conditions.is_empty() {
            let conds: Vec<Value> = st
                .conditions
                .iter()
                .map(|c| {
                    let mut o = Map::new();
                    put_str(&mut o, "type", &c.r#type);
                    put_str(&mut o, "status", &c.status);
                    put_str(&mut o, "reason", &c.reason);
                    put_str(&mut o, "message", &c.message);
                    if let Some(t) = time_json(c.last_update_time.as_ref()) {
                        o.insert("lastUpdateTime".into(), t);
                    }
                    if let Some(t) = time_json(c.last_transition_time.as_ref()) {
                        o.insert("lastTransitionTime".into(), t);
                    }
                    Value::Object(o)
                })
                .collect();
            status.insert("conditions".into(), Value::Array(conds));
        }
        if !st.certificate.is_empty() {
            status.insert("certificate".into(), json!(b64(&st.certificate)));
        }
    }
    json!({
        "apiVersion": crate::csr::API_VERSION, "kind": crate::csr::KIND,
        "metadata": meta_json(m.metadata.as_ref()),
        "spec": spec, "status": status,
    })
}

pub(super) fn ssar_json(m: &SelfSubjectAccessReview) -> Value {
    let mut spec = Map::new();
    if let Some(s) = &m.spec {
        if let Some(ra) = &s.resource_attributes {
            let mut o = Map::new();
            put_str(&mut o, "namespace", &ra.namespace);
            put_str(&mut o, "verb", &ra.verb);
            put_str(&mut o, "group", &ra.group);
            put_str(&mut o, "version", &ra.version);
            put_str(&mut o, "resource", &ra.resource);
            put_str(&mut o, "subresource", &ra.subresource);
            put_str(&mut o, "name", &ra.name);
            spec.insert("resourceAttributes".into(), Value::Object(o));
        }
        if let Some(nra) = &s.non_resource_attributes {
            let mut o = Map::new();
            put_str(&mut o, "path", &nra.path);
            put_str(&mut o, "verb", &nra.verb);
            spec.insert("nonResourceAttributes".into(), Value::Object(o));
        }
    }
    json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
           "metadata": meta_json(m.metadata.as_ref()), "spec": spec, "status": {"allowed": false}})
}

pub(super) fn ssrr_json(m: &SelfSubjectRulesReview) -> Value {
    let namespace = m.spec.as_ref().map(|s| s.namespace.as_str()).unwrap_or("");
    let mut spec = Map::new();
    put_str(&mut spec, "namespace", namespace);
    json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview",
           "metadata": meta_json(m.metadata.as_ref()), "spec": spec,
           "status": {"resourceRules": [], "nonResourceRules": [], "incomplete": false}})
}
