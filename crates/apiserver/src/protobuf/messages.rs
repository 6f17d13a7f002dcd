//! The protobuf messages kubectl 1.32 sends, as `prost` derives: only the fields the handlers
//! read, with the field numbers of `k8s.io/api` `generated.proto`. A schema, kept as data.

use std::collections::BTreeMap;

use prost::Message;

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
