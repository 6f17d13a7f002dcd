//! What Alice refuses at her desk before anything is stored: bodies too deep for Go, fields of the
//! wrong type, names Kubernetes does not allow — each in kube-apiserver's words.

use bytes::Bytes;
use kubecorp_apiserver::api::{Api, ApiRequest, ApiResponse};
use kubecorp_apiserver::store::Store;
use kubecorp_apiserver::user::UserInfo;
use kubecorp_trust::LabClock;
use serde_json::{json, Value};

const PODS: &str = "/api/v1/namespaces/default/pods";
const SERVICES: &str = "/api/v1/namespaces/default/services";

async fn desk() -> (Api, UserInfo) {
    let api = Api::new(Store::memory(), LabClock::real(), None);
    api.bootstrap().await.unwrap();
    let admin = UserInfo::from_cert("kubernetes-admin", ["system:masters"]).unwrap();
    (api, admin)
}

async fn send(api: &Api, user: &UserInfo, method: &str, path: &str, body: &[u8]) -> ApiResponse {
    let mut req = ApiRequest::json(user, method, path, None);
    req.body = Bytes::copy_from_slice(body);
    if method == "PATCH" {
        req.content_type = "application/merge-patch+json".into();
    }
    api.handle(req).await.0
}

fn message(response: &ApiResponse) -> String {
    response.body_json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn pod_names(api: &Api, user: &UserInfo) -> Vec<String> {
    let list = send(api, user, "GET", PODS, b"").await.body_json();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_pod_whose_spec_is_a_string_is_refused_with_400_and_never_stored() {
    let (api, admin) = desk().await;
    let body = br#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"odd"},"spec":"web"}"#;
    let response = send(&api, &admin, "POST", PODS, body).await;
    assert_eq!(response.code(), 400, "{response:?}");
    assert_eq!(
        message(&response),
        r#"Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal string into Go struct field Pod.spec of type v1.PodSpec"#
    );
    assert_eq!(response.body_json()["reason"], "BadRequest");
    assert!(pod_names(&api, &admin).await.is_empty());
}

#[tokio::test]
async fn a_service_whose_spec_is_a_string_is_refused_with_400() {
    let (api, admin) = desk().await;
    let body = br#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"web"},"spec":"x"}"#;
    let response = send(&api, &admin, "POST", SERVICES, body).await;
    assert_eq!(response.code(), 400, "{response:?}");
    assert_eq!(
        message(&response),
        r#"Service in version "v1" cannot be handled as a Service: json: cannot unmarshal string into Go struct field Service.spec of type v1.ServiceSpec"#
    );
}

#[tokio::test]
async fn a_body_nested_100000_deep_gets_gos_max_depth_error() {
    let (api, admin) = desk().await;
    let body = "{\"a\":".repeat(100_000);
    let response = send(&api, &admin, "POST", PODS, body.as_bytes()).await;
    assert_eq!(response.code(), 400, "{response:?}");
    assert_eq!(
        message(&response),
        "the object provided is unrecognized (must be of type Pod): couldn't get version/kind; json parse error: invalid character '{' exceeded max depth ({\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\": ...)"
    );
}

#[tokio::test]
async fn names_kubernetes_refuses_are_refused_with_422_and_the_dns_1123_text() {
    let (api, admin) = desk().await;
    let long = "a".repeat(10_000);
    for (name, detail) in [
        ("a/b", "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"),
        ("..", "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"),
        (long.as_str(), "must be no more than 253 characters"),
    ] {
        let body = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                          "spec": {"containers": [{"name": "a", "image": "nginx"}]}});
        let response = send(&api, &admin, "POST", PODS, body.to_string().as_bytes()).await;
        assert_eq!(response.code(), 422, "{name}: {response:?}");
        assert_eq!(
            message(&response),
            format!("Pod {name:?} is invalid: metadata.name: Invalid value: {name:?}: {detail}")
        );
        assert_eq!(response.body_json()["details"]["causes"][0]["field"], "metadata.name");
    }
    assert!(pod_names(&api, &admin).await.is_empty());
}

#[tokio::test]
async fn a_merge_patch_that_turns_spec_into_a_string_is_refused_and_the_pod_is_unchanged() {
    let (api, admin) = desk().await;
    let body = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
                      "spec": {"containers": [{"name": "a", "image": "nginx"}]}});
    let created = send(&api, &admin, "POST", PODS, body.to_string().as_bytes()).await;
    assert_eq!(created.code(), 201, "{created:?}");
    let response = send(
        &api,
        &admin,
        "PATCH",
        &format!("{PODS}/web"),
        br#"{"spec":"x"}"#,
    )
    .await;
    assert_eq!(response.code(), 422, "{response:?}");
    let text = message(&response);
    assert!(
        text.starts_with(r#" "" is invalid: patch: Invalid value: "{"#),
        "{text}"
    );
    assert!(
        text.ends_with(
            ": json: cannot unmarshal string into Go struct field Pod.spec of type v1.PodSpec"
        ),
        "{text}"
    );
    let pod: Value = send(&api, &admin, "GET", &format!("{PODS}/web"), b"")
        .await
        .body_json();
    assert_eq!(pod["spec"]["containers"][0]["image"], "nginx");
}

#[tokio::test]
async fn binding_a_pod_with_a_target_of_the_wrong_type_is_a_400_not_a_panic() {
    let (api, admin) = desk().await;
    let body = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
                      "spec": {"containers": [{"name": "a", "image": "nginx"}]}});
    send(&api, &admin, "POST", PODS, body.to_string().as_bytes()).await;
    let response = send(
        &api,
        &admin,
        "POST",
        &format!("{PODS}/web/binding"),
        br#"{"apiVersion":"v1","kind":"Binding","metadata":{"name":"web"},"target":"node-1"}"#,
    )
    .await;
    assert_eq!(response.code(), 400, "{response:?}");
    assert_eq!(
        message(&response),
        r#"Binding in version "v1" cannot be handled as a Binding: json: cannot unmarshal string into Go struct field Binding.target of type v1.ObjectReference"#
    );
}
