//! The protobuf bodies kubectl sends, encoded here and read back into their JSON shape.

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
