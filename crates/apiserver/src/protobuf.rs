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
//!
//! The envelope and the dispatch by kind are here; the messages in `protobuf/messages.rs`, their
//! JSON shapes in `protobuf/json.rs`.

use prost::Message;
use serde_json::{json, Value};

mod apps;
mod json;
mod messages;
#[cfg(test)]
mod tests;

use json::*;
pub use messages::*;

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
