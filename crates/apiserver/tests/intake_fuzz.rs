//! Alice's intake fed what a hostile or careless visitor might send: arbitrary bytes, JSON of
//! any shape (the wrong kinds in a Pod's or a Service's fields), bodies nested around Go's depth
//! limit, and arbitrary protobuf. Whatever comes, the desk answers (never panics, never a 5xx),
//! and anything stored reads back with the shapes its kind promises. A bounded property run;
//! failures proptest finds are kept in `tests/proptest-regressions/intake.txt` and replayed first.

use bytes::Bytes;
use kubecorp_apiserver::api::{Api, ApiRequest};
use kubecorp_apiserver::store::Store;
use kubecorp_apiserver::user::UserInfo;
use kubecorp_trust::LabClock;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{json, Value};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/proptest-regressions/intake.txt",
        ))),
        ..ProptestConfig::default()
    }
}

/// Any JSON value, a few levels deep, biased towards the keys a Pod or Service has.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("metadata".to_owned()),
        Just("spec".to_owned()),
        Just("status".to_owned()),
        Just("name".to_owned()),
        Just("labels".to_owned()),
        Just("containers".to_owned()),
        Just("ports".to_owned()),
        Just("nodeName".to_owned()),
        Just("port".to_owned()),
        Just("clusterIP".to_owned()),
        Just("selector".to_owned()),
        Just("conditions".to_owned()),
        "[a-z]{1,6}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[a-z0-9./-]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn desk() -> (Api, UserInfo) {
    let api = Api::new(Store::memory(), LabClock::real(), None);
    api.bootstrap().await.unwrap();
    let admin = UserInfo::from_cert("kubernetes-admin", ["system:masters"]).unwrap();
    (api, admin)
}

/// POSTs `body` as `kind` to its collection; whatever was stored must decode as that kind.
async fn post_and_read_back(
    api: &Api,
    admin: &UserInfo,
    resource: &str,
    kind: &'static str,
    body: Bytes,
) {
    let path = format!("/api/v1/namespaces/default/{resource}");
    let mut req = ApiRequest::json(admin, "POST", &path, None);
    req.body = body.clone();
    let (response, _) = api.handle(req).await;
    let code = response.code();
    assert!(
        code < 500,
        "{code} for {}: {response:?}",
        String::from_utf8_lossy(&body)
    );
    if code == 201 {
        let created = response.body_json();
        let name = created["metadata"]["name"].as_str().unwrap().to_owned();
        let (got, _) = api
            .handle(ApiRequest::json(
                admin,
                "GET",
                &format!("{path}/{name}"),
                None,
            ))
            .await;
        assert_eq!(got.code(), 200, "{got:?}");
        let schema = kubecorp_apiserver::schema::of_kind(kind).unwrap();
        kubecorp_apiserver::decode::check(&got.body_json(), schema).unwrap();
        let (gone, _) = api
            .handle(ApiRequest::json(
                admin,
                "DELETE",
                &format!("{path}/{name}"),
                None,
            ))
            .await;
        assert_eq!(gone.code(), 200, "a stored object can be deleted: {gone:?}");
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn decoding_arbitrary_bytes_never_panics(body in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = kubecorp_apiserver::decode::object(&body, "Pod");
        let _ = kubecorp_apiserver::decode::patch(&body, "Service");
    }

    #[test]
    fn decoding_arbitrary_protobuf_never_panics(body in prop::collection::vec(any::<u8>(), 0..256)) {
        let mut framed = b"k8s\x00".to_vec();
        framed.extend_from_slice(&body);
        for kind in ["SelfSubjectAccessReview", "SelfSubjectRulesReview", "CertificateSigningRequest", "Pod"] {
            let _ = kubecorp_apiserver::protobuf::decode(kind, &body);
            let _ = kubecorp_apiserver::protobuf::decode(kind, &framed);
        }
    }

    #[test]
    fn a_decoded_object_always_has_its_kinds_shapes(value in json_value()) {
        let body = value.to_string();
        if let Ok(obj) = kubecorp_apiserver::decode::object(body.as_bytes(), "Pod") {
            prop_assert!(obj.is_object());
            kubecorp_apiserver::decode::check(&obj, kubecorp_apiserver::schema::of_kind("Pod").unwrap()).unwrap();
        }
    }

    #[test]
    fn nesting_around_gos_limit_is_refused_exactly_past_it(depth in 9_990usize..10_010, brace in any::<bool>()) {
        let (open, close) = if brace { ("{\"a\":", "}") } else { ("[", "]") };
        let body = format!("{}1{}", open.repeat(depth), close.repeat(depth));
        let refused = kubecorp_apiserver::decode::object(body.as_bytes(), "Pod").unwrap_err().to_string();
        prop_assert_eq!(refused.contains("exceeded max depth"), depth > 10_000, "{}", refused);
    }
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn the_desk_answers_any_pod_or_service_body_without_a_5xx_and_stores_only_good_shapes(
        metadata in json_value(), spec in json_value(), status in json_value(), as_service in any::<bool>()
    ) {
        let (resource, kind) = if as_service { ("services", "Service") } else { ("pods", "Pod") };
        let body = json!({"apiVersion": "v1", "kind": kind, "metadata": metadata, "spec": spec, "status": status});
        runtime().block_on(async {
            let (api, admin) = desk().await;
            post_and_read_back(&api, &admin, resource, kind, Bytes::from(body.to_string())).await;
            // The same with a name, so more bodies get past the name check.
            let mut named = body.clone();
            if named["metadata"].is_object() || named["metadata"].is_null() {
                named["metadata"]["name"] = json!("web");
                post_and_read_back(&api, &admin, resource, kind, Bytes::from(named.to_string())).await;
            }
        });
    }
}

/// A PEM block around `der`, as a CSR's `spec.request` would carry it (before base64).
fn pem(tag: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN {tag}-----\n{b64}\n-----END {tag}-----\n")
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn a_csr_whose_request_is_anything_is_refused_in_words_never_a_panic(
        der in prop::collection::vec(any::<u8>(), 0..300), tag in prop_oneof![Just("CERTIFICATE REQUEST"), Just("NEW CERTIFICATE REQUEST"), Just("CERTIFICATE")], raw in any::<bool>()
    ) {
        use base64::Engine as _;
        let request = if raw { der.clone() } else { pem(tag, &der).into_bytes() };
        let csr = json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": "fuzz"},
            "spec": {"request": base64::engine::general_purpose::STANDARD.encode(&request),
                     "signerName": "kubernetes.io/kube-apiserver-client", "usages": ["client auth"]}});
        let _ = kubecorp_apiserver::csr::shape_check(&csr);
        prop_assert!(kubecorp_apiserver::csr::validate_create(&csr).is_err(), "random bytes are not a signed CSR");
    }
}
