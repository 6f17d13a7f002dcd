//! Reading kubectl's protobuf: the few request bodies kubectl 1.32 sends as
//! `application/vnd.kubernetes.protobuf` instead of JSON.
//!
//! `kubectl certificate approve|deny`, `auth whoami` and `auth can-i` use the typed clientset,
//! which speaks protobuf. A body is the magic `k8s\0`, then a `runtime.Unknown` envelope
//! (`typeMeta`, `raw`, `contentEncoding`, `contentType`) whose `raw` is the object's own
//! message. Only the fields the handlers need are declared here (field numbers from
//! `k8s.io/api` `generated.proto`); unknown fields are skipped by the decoder. Go writes empty
//! strings and zero numbers for optional scalars, so empty means "unset".
//!
//! Each decoder returns the object in the JSON shape the handlers already understand, with
//! `spec.request` and `status.certificate` base64-encoded as the JSON API carries them.

use std::collections::BTreeMap;

use base64::Engine as _;

mod apps;
use prost::Message;
use serde_json::{json, Map, Value};

/// The four bytes in front of every Kubernetes protobuf body.
pub const MAGIC: &[u8; 4] = b"k8s\0";
/// The media type.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Why a protobuf body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProtobufError {
    #[error("protobuf body does not start with the k8s\\0 magic (first bytes: {first:02x?})")]
    MissingMagic { first: Vec<u8> },
    #[error("protobuf envelope (runtime.Unknown) is malformed: {0}")]
    Envelope(prost::DecodeError),
    #[error("protobuf body has content encoding {0:?}; only the identity encoding is supported")]
    ContentEncoding(String),
    #[error("protobuf body carries a {found}, but this endpoint expects a {expected}")]
    KindMismatch { expected: String, found: String },
    #[error("protobuf {kind} is malformed: {source}")]
    Object {
        kind: String,
        source: prost::DecodeError,
    },
    #[error("decoding protobuf {0} is not supported by the lab")]
    UnsupportedKind(String),
}

// ---- Envelope -------------------------------------------------------------------------------

#[derive(Clone, PartialEq, Message)]
pub struct TypeMeta {
    #[prost(string, tag = "1")]
    pub api_version: String,
    #[prost(string, tag = "2")]
    pub kind: String,
}

/// `runtime.Unknown`.
#[derive(Clone, PartialEq, Message)]
pub struct Unknown {
    #[prost(message, optional, tag = "1")]
    pub type_meta: Option<TypeMeta>,
    #[prost(bytes = "vec", tag = "2")]
    pub raw: Vec<u8>,
    #[prost(string, tag = "3")]
    pub content_encoding: String,
    #[prost(string, tag = "4")]
    pub content_type: String,
}

// ---- Shared ---------------------------------------------------------------------------------

/// metav1.Time: seconds and nanos since the epoch.
#[derive(Clone, PartialEq, Message)]
pub struct Time {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

#[derive(Clone, PartialEq, Message)]
pub struct ObjectMeta {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub generate_name: String,
    #[prost(string, tag = "3")]
    pub namespace: String,
    #[prost(string, tag = "5")]
    pub uid: String,
    #[prost(string, tag = "6")]
    pub resource_version: String,
    #[prost(message, optional, tag = "8")]
    pub creation_timestamp: Option<Time>,
    #[prost(btree_map = "string, string", tag = "11")]
    pub labels: BTreeMap<String, String>,
    #[prost(btree_map = "string, string", tag = "12")]
    pub annotations: BTreeMap<String, String>,
}

// ---- core/v1 and rbac.authorization.k8s.io/v1 (what `kubectl create namespace|rolebinding` sends)

/// A message of which only the metadata matters (Namespace, ConfigMap without data, …).
#[derive(Clone, PartialEq, Message)]
pub struct MetadataOnly {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ObjectMeta>,
}

/// apimachinery IntOrString (`targetPort`): type 0 = int, 1 = string.
#[derive(Clone, PartialEq, Message)]
pub struct IntOrString {
    #[prost(int64, tag = "1")]
    pub kind: i64,
    #[prost(int32, tag = "2")]
    pub int_val: i32,
    #[prost(string, tag = "3")]
    pub str_val: String,
}

/// core/v1 ServicePort.
#[derive(Clone, PartialEq, Message)]
pub struct ServicePort {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub protocol: String,
    #[prost(int32, tag = "3")]
    pub port: i32,
    #[prost(message, optional, tag = "4")]
    pub target_port: Option<IntOrString>,
    #[prost(int32, tag = "5")]
    pub node_port: i32,
}

/// core/v1 ServiceSpec: the fields `kubectl create service` sets.
#[derive(Clone, PartialEq, Message)]
pub struct ServiceSpec {
    #[prost(message, repeated, tag = "1")]
    pub ports: Vec<ServicePort>,
    #[prost(btree_map = "string, string", tag = "2")]
    pub selector: BTreeMap<String, String>,
    #[prost(string, tag = "3")]
    pub cluster_ip: String,
    #[prost(string, tag = "4")]
    pub r#type: String,
    #[prost(string, tag = "10")]
    pub external_name: String,
}

/// core/v1 Service.
#[derive(Clone, PartialEq, Message)]
pub struct Service {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ObjectMeta>,
    #[prost(message, optional, tag = "2")]
    pub spec: Option<ServiceSpec>,
}

fn service_json(m: &Service) -> Value {
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

/// rbac/v1 Subject.
#[derive(Clone, PartialEq, Message)]
pub struct Subject {
    #[prost(string, tag = "1")]
    pub kind: String,
    #[prost(string, tag = "2")]
    pub api_group: String,
    #[prost(string, tag = "3")]
    pub name: String,
    #[prost(string, tag = "4")]
    pub namespace: String,
}

/// rbac/v1 RoleRef.
#[derive(Clone, PartialEq, Message)]
pub struct RoleRef {
    #[prost(string, tag = "1")]
    pub api_group: String,
    #[prost(string, tag = "2")]
    pub kind: String,
    #[prost(string, tag = "3")]
    pub name: String,
}

/// rbac/v1 RoleBinding and ClusterRoleBinding share this shape.
#[derive(Clone, PartialEq, Message)]
pub struct Binding {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ObjectMeta>,
    #[prost(message, repeated, tag = "2")]
    pub subjects: Vec<Subject>,
    #[prost(message, optional, tag = "3")]
    pub role_ref: Option<RoleRef>,
}

/// rbac/v1 PolicyRule.
#[derive(Clone, PartialEq, Message)]
pub struct PolicyRule {
    #[prost(string, repeated, tag = "1")]
    pub verbs: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    pub api_groups: Vec<String>,
    #[prost(string, repeated, tag = "3")]
    pub resources: Vec<String>,
    #[prost(string, repeated, tag = "4")]
    pub resource_names: Vec<String>,
    #[prost(string, repeated, tag = "5")]
    pub non_resource_urls: Vec<String>,
}

/// rbac/v1 Role and ClusterRole (the aggregation rule, tag 3, is not read).
#[derive(Clone, PartialEq, Message)]
pub struct RoleMessage {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ObjectMeta>,
    #[prost(message, repeated, tag = "2")]
    pub rules: Vec<PolicyRule>,
}

fn role_json(kind: &str, m: &RoleMessage) -> Value {
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

fn binding_json(kind: &str, m: &Binding) -> Value {
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

// ---- certificates.k8s.io/v1 -----------------------------------------------------------------

#[derive(Clone, PartialEq, Message)]
pub struct CertificateSigningRequest {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ObjectMeta>,
    #[prost(message, optional, tag = "2")]
    pub spec: Option<CsrSpec>,
    #[prost(message, optional, tag = "3")]
    pub status: Option<CsrStatus>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ExtraValue {
    #[prost(string, repeated, tag = "1")]
    pub items: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct CsrSpec {
    /// Raw PEM bytes (protobuf has no base64).
    #[prost(bytes = "vec", tag = "1")]
    pub request: Vec<u8>,
    #[prost(string, tag = "2")]
    pub username: String,
    #[prost(string, tag = "3")]
    pub uid: String,
    #[prost(string, repeated, tag = "4")]
    pub groups: Vec<String>,
    #[prost(string, repeated, tag = "5")]
    pub usages: Vec<String>,
    #[prost(btree_map = "string, message", tag = "6")]
    pub extra: BTreeMap<String, ExtraValue>,
    #[prost(string, tag = "7")]
    pub signer_name: String,
    /// proto2 `optional int32`: absent and 0 are both "unset" for us.
    #[prost(int32, optional, tag = "8")]
    pub expiration_seconds: Option<i32>,
}

#[derive(Clone, PartialEq, Message)]
pub struct CsrCondition {
    #[prost(string, tag = "1")]
    pub r#type: String,
    #[prost(string, tag = "2")]
    pub reason: String,
    #[prost(string, tag = "3")]
    pub message: String,
    #[prost(message, optional, tag = "4")]
    pub last_update_time: Option<Time>,
    #[prost(message, optional, tag = "5")]
    pub last_transition_time: Option<Time>,
    #[prost(string, tag = "6")]
    pub status: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct CsrStatus {
    #[prost(message, repeated, tag = "1")]
    pub conditions: Vec<CsrCondition>,
    #[prost(bytes = "vec", tag = "2")]
    pub certificate: Vec<u8>,
}

// ---- authorization.k8s.io/v1 and authentication.k8s.io/v1 ----------------------------------

#[derive(Clone, PartialEq, Message)]
pub struct ResourceAttributes {
    #[prost(string, tag = "1")]
    pub namespace: String,
    #[prost(string, tag = "2")]
    pub verb: String,
    #[prost(string, tag = "3")]
    pub group: String,
    #[prost(string, tag = "4")]
    pub version: String,
    #[prost(string, tag = "5")]
    pub resource: String,
    #[prost(string, tag = "6")]
    pub subresource: String,
    #[prost(string, tag = "7")]
    pub name: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct NonResourceAttributes {
    #[prost(string, tag = "1")]
    pub path: String,
    #[prost(string, tag = "2")]
    pub verb: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct SelfSubjectAccessReviewSpec {
    #[prost(message, optional, tag = "1")]
    pub resource_attributes: Option<ResourceAttributes>,
    #[prost(message, optional, tag = "2")]
    pub non_resource_attributes: Option<NonResourceAttributes>,
}

#[derive(Clone, PartialEq, Message)]
pub struct SelfSubjectAccessReview {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ObjectMeta>,
    #[prost(message, optional, tag = "2")]
    pub spec: Option<SelfSubjectAccessReviewSpec>,
}

#[derive(Clone, PartialEq, Message)]
pub struct SelfSubjectRulesReviewSpec {
    #[prost(string, tag = "1")]
    pub namespace: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct SelfSubjectRulesReview {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ObjectMeta>,
    #[prost(message, optional, tag = "2")]
    pub spec: Option<SelfSubjectRulesReviewSpec>,
}

#[derive(Clone, PartialEq, Message)]
pub struct SelfSubjectReview {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ObjectMeta>,
}

/// `k8s.io/api/authentication/v1` BoundObjectReference.
#[derive(Clone, PartialEq, Message)]
pub struct BoundObjectReference {
    #[prost(string, tag = "1")]
    pub kind: String,
    #[prost(string, tag = "2")]
    pub api_version: String,
    #[prost(string, tag = "3")]
    pub name: String,
    #[prost(string, tag = "4")]
    pub uid: String,
}

/// `k8s.io/api/authentication/v1` TokenRequestSpec.
#[derive(Clone, PartialEq, Message)]
pub struct TokenRequestSpec {
    #[prost(string, repeated, tag = "1")]
    pub audiences: Vec<String>,
    #[prost(message, optional, tag = "3")]
    pub bound_object_ref: Option<BoundObjectReference>,
    #[prost(int64, optional, tag = "4")]
    pub expiration_seconds: Option<i64>,
}

/// `k8s.io/api/authentication/v1` TokenRequest (what `kubectl create token` sends).
#[derive(Clone, PartialEq, Message)]
pub struct TokenRequest {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ObjectMeta>,
    #[prost(message, optional, tag = "2")]
    pub spec: Option<TokenRequestSpec>,
}

fn token_request_json(m: &TokenRequest) -> Value {
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

// ---- Decoding -------------------------------------------------------------------------------

/// Opens the envelope: checks the magic, decodes `runtime.Unknown`.
pub fn unwrap_envelope(body: &[u8]) -> Result<Unknown, ProtobufError> {
    let Some(rest) = body.strip_prefix(MAGIC.as_slice()) else {
        return Err(ProtobufError::MissingMagic {
            first: body.iter().take(4).copied().collect(),
        });
    };
    let unknown = Unknown::decode(rest).map_err(ProtobufError::Envelope)?;
    if !unknown.content_encoding.is_empty() {
        return Err(ProtobufError::ContentEncoding(unknown.content_encoding));
    }
    Ok(unknown)
}

/// Decodes a protobuf body for an endpoint that expects `expected_kind`
/// (`CertificateSigningRequest`, `SelfSubjectAccessReview`, `SelfSubjectRulesReview`,
/// `SelfSubjectReview`) into its JSON shape. The envelope's kind wins when present and must
/// match.
pub fn decode(expected_kind: &str, body: &[u8]) -> Result<Value, ProtobufError> {
    let envelope = unwrap_envelope(body)?;
    let meta = envelope.type_meta.unwrap_or_default();
    if !meta.kind.is_empty() && meta.kind != expected_kind {
        return Err(ProtobufError::KindMismatch {
            expected: expected_kind.to_string(),
            found: meta.kind,
        });
    }
    let raw = envelope.raw.as_slice();
    let object_err = |source| ProtobufError::Object {
        kind: expected_kind.to_string(),
        source,
    };
    match expected_kind {
        "CertificateSigningRequest" => CertificateSigningRequest::decode(raw)
            .map(|m| csr_json(&m))
            .map_err(object_err),
        "SelfSubjectAccessReview" => SelfSubjectAccessReview::decode(raw)
            .map(|m| ssar_json(&m))
            .map_err(object_err),
        "SelfSubjectRulesReview" => SelfSubjectRulesReview::decode(raw)
            .map(|m| ssrr_json(&m))
            .map_err(object_err),
        "SelfSubjectReview" => SelfSubjectReview::decode(raw)
            .map(|m| {
                json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview",
                       "metadata": meta_json(m.metadata.as_ref()), "status": {}})
            })
            .map_err(object_err),
        "TokenRequest" => TokenRequest::decode(raw)
            .map(|m| token_request_json(&m))
            .map_err(object_err),
        "Namespace" => MetadataOnly::decode(raw)
            .map(|m| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": meta_json(m.metadata.as_ref()), "spec": {}, "status": {}}))
            .map_err(object_err),
        "Service" => Service::decode(raw)
            .map(|m| service_json(&m))
            .map_err(object_err),
        "Role" | "ClusterRole" => RoleMessage::decode(raw)
            .map(|m| role_json(expected_kind, &m))
            .map_err(object_err),
        "RoleBinding" | "ClusterRoleBinding" => Binding::decode(raw)
            .map(|m| binding_json(expected_kind, &m))
            .map_err(object_err),
        "Deployment" => apps::Deployment::decode(raw)
            .map(|m| apps::deployment_json(&m))
            .map_err(object_err),
        "ReplicaSet" => apps::ReplicaSet::decode(raw)
            .map(|m| apps::replicaset_json(&m))
            .map_err(object_err),
        other => Err(ProtobufError::UnsupportedKind(other.to_string())),
    }
}

/// Wraps a message in the envelope, as kubectl does (for tests and lab clients).
pub fn encode(api_version: &str, kind: &str, message: &impl Message) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        }),
        raw: message.encode_to_vec(),
        content_encoding: String::new(),
        content_type: String::new(),
    };
    let mut out = MAGIC.to_vec();
    out.extend(unknown.encode_to_vec());
    out
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn put_str(map: &mut Map<String, Value>, key: &str, value: &str) {
    if !value.is_empty() {
        map.insert(key.to_string(), json!(value));
    }
}

fn time_json(t: Option<&Time>) -> Option<Value> {
    let t = t?;
    if t.seconds == 0 && t.nanos == 0 {
        return None;
    }
    let dt = time::OffsetDateTime::from_unix_timestamp(t.seconds).ok()?;
    Some(json!(kubecorp_trust::gotime::rfc3339(dt)))
}

fn meta_json(m: Option<&ObjectMeta>) -> Value {
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

fn csr_json(m: &CertificateSigningRequest) -> Value {
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

fn ssar_json(m: &SelfSubjectAccessReview) -> Value {
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

fn ssrr_json(m: &SelfSubjectRulesReview) -> Value {
    let namespace = m.spec.as_ref().map(|s| s.namespace.as_str()).unwrap_or("");
    let mut spec = Map::new();
    put_str(&mut spec, "namespace", namespace);
    json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview",
           "metadata": meta_json(m.metadata.as_ref()), "spec": spec,
           "status": {"resourceRules": [], "nonResourceRules": [], "incomplete": false}})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(seconds: i64) -> Option<Time> {
        Some(Time { seconds, nanos: 0 })
    }

    #[test]
    fn an_approval_put_decodes_to_the_json_shape_with_base64_request() {
        let pem = b"-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n";
        let msg = CertificateSigningRequest {
            metadata: Some(ObjectMeta {
                name: "alice".into(),
                resource_version: "42".into(),
                creation_timestamp: t(1_735_689_600),
                ..Default::default()
            }),
            spec: Some(CsrSpec {
                request: pem.to_vec(),
                username: "kubernetes-admin".into(),
                groups: vec![
                    "kubeadm:cluster-admins".into(),
                    "system:authenticated".into(),
                ],
                usages: vec!["client auth".into()],
                signer_name: "kubernetes.io/kube-apiserver-client".into(),
                expiration_seconds: Some(86400),
                ..Default::default()
            }),
            status: Some(CsrStatus {
                conditions: vec![CsrCondition {
                    r#type: "Approved".into(),
                    status: "True".into(),
                    reason: "KubectlApprove".into(),
                    message: "This CSR was approved by kubectl certificate approve.".into(),
                    last_update_time: t(1_735_689_600),
                    last_transition_time: None,
                }],
                certificate: vec![],
            }),
        };
        let body = encode("certificates.k8s.io/v1", "CertificateSigningRequest", &msg);
        let v = decode("CertificateSigningRequest", &body).unwrap();
        assert_eq!(
            v["metadata"],
            json!({"name": "alice", "resourceVersion": "42", "creationTimestamp": "2025-01-01T00:00:00Z"})
        );
        assert_eq!(v["spec"]["request"], json!(b64(pem)));
        assert_eq!(v["spec"]["expirationSeconds"], 86400);
        assert_eq!(
            v["spec"]["signerName"],
            "kubernetes.io/kube-apiserver-client"
        );
        assert_eq!(
            v["status"]["conditions"],
            json!([{"type": "Approved", "status": "True", "reason": "KubectlApprove",
                    "message": "This CSR was approved by kubectl certificate approve.",
                    "lastUpdateTime": "2025-01-01T00:00:00Z"}])
        );
        assert!(v["status"].get("certificate").is_none());
    }

    #[test]
    fn a_can_i_review_decodes_resource_and_non_resource_attributes() {
        let msg = SelfSubjectAccessReview {
            metadata: Some(ObjectMeta::default()),
            spec: Some(SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    namespace: "default".into(),
                    verb: "list".into(),
                    resource: "pods".into(),
                    ..Default::default()
                }),
                non_resource_attributes: None,
            }),
        };
        let v = decode(
            "SelfSubjectAccessReview",
            &encode("authorization.k8s.io/v1", "SelfSubjectAccessReview", &msg),
        )
        .unwrap();
        assert_eq!(
            v["spec"],
            json!({"resourceAttributes": {"namespace": "default", "verb": "list", "resource": "pods"}})
        );
        let msg = SelfSubjectAccessReview {
            metadata: None,
            spec: Some(SelfSubjectAccessReviewSpec {
                resource_attributes: None,
                non_resource_attributes: Some(NonResourceAttributes {
                    path: "/healthz".into(),
                    verb: "get".into(),
                }),
            }),
        };
        let v = decode(
            "SelfSubjectAccessReview",
            &encode("authorization.k8s.io/v1", "", &msg),
        )
        .unwrap();
        assert_eq!(
            v["spec"],
            json!({"nonResourceAttributes": {"path": "/healthz", "verb": "get"}})
        );
    }

    #[test]
    fn rules_and_self_reviews_decode() {
        let msg = SelfSubjectRulesReview {
            metadata: None,
            spec: Some(SelfSubjectRulesReviewSpec {
                namespace: "default".into(),
            }),
        };
        let v = decode(
            "SelfSubjectRulesReview",
            &encode("authorization.k8s.io/v1", "SelfSubjectRulesReview", &msg),
        )
        .unwrap();
        assert_eq!(v["spec"], json!({"namespace": "default"}));
        let v = decode(
            "SelfSubjectReview",
            &encode(
                "authentication.k8s.io/v1",
                "SelfSubjectReview",
                &SelfSubjectReview { metadata: None },
            ),
        )
        .unwrap();
        assert_eq!(v["kind"], "SelfSubjectReview");
    }

    #[test]
    fn bad_bytes_are_errors_not_panics() {
        assert!(matches!(
            decode("SelfSubjectReview", b"{}"),
            Err(ProtobufError::MissingMagic { .. })
        ));
        assert!(matches!(
            decode("SelfSubjectReview", b"k8s\0\x0a\xff\xff"),
            Err(ProtobufError::Envelope(_))
        ));
        let body = encode(
            "v1",
            "SelfSubjectReview",
            &SelfSubjectReview { metadata: None },
        );
        assert!(matches!(
            decode("CertificateSigningRequest", &body),
            Err(ProtobufError::KindMismatch { .. })
        ));
        let mut garbage = MAGIC.to_vec();
        garbage.extend(
            Unknown {
                type_meta: None,
                raw: vec![0x0a, 0x05, 0x01],
                content_encoding: String::new(),
                content_type: String::new(),
            }
            .encode_to_vec(),
        );
        assert!(matches!(
            decode("CertificateSigningRequest", &garbage),
            Err(ProtobufError::Object { .. })
        ));
        // Every prefix of a real body either decodes or errors.
        let full = encode(
            "authorization.k8s.io/v1",
            "SelfSubjectRulesReview",
            &SelfSubjectRulesReview {
                metadata: None,
                spec: Some(SelfSubjectRulesReviewSpec {
                    namespace: "default".into(),
                }),
            },
        );
        for n in 0..full.len() {
            let _ = decode("SelfSubjectRulesReview", &full[..n]);
        }
    }
}
