//! Service accounts and their tokens through Alice's desk, without a socket: TokenRequest,
//! TokenReview, the published keys, and each refusal in kube-apiserver v1.32's words.

use kubecorp_apiserver::api::{Api, ApiRequest};
use kubecorp_apiserver::service_accounts::Bearer;
use kubecorp_apiserver::status::Status;
use kubecorp_apiserver::store::Store;
use kubecorp_apiserver::tokens::TokenKeys;
use kubecorp_apiserver::user::UserInfo;
use kubecorp_trust::LabClock;
use serde_json::{json, Value};
use time::macros::datetime;

const JWKS_URI: &str = "https://127.0.0.1:6443/openid/v1/jwks";

fn admin() -> UserInfo {
    UserInfo::from_cert("kubernetes-admin", ["kubeadm:cluster-admins"]).unwrap()
}

/// An ECDSA P-256 `sa.key`: quick to make, for the tests whose lesson is not the key type.
fn keys() -> TokenKeys {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    TokenKeys::from_key_pair(&key, JWKS_URI).unwrap()
}

/// An RSA-2048 `sa.key`, as kubeadm 1.32 makes it: tokens are signed RS256.
fn kubeadm_keys() -> TokenKeys {
    let key = kubecorp_pki::KeyAlgorithm::Rsa2048.generate().unwrap();
    TokenKeys::from_key_pair(&key, JWKS_URI).unwrap()
}

/// An office front desk on a standing lab clock, with ECDSA token keys.
async fn desk() -> Api {
    desk_with(keys()).await
}

/// An office front desk on a standing lab clock, with these token keys.
async fn desk_with(keys: TokenKeys) -> Api {
    let api = Api::new(
        Store::memory(),
        LabClock::fixed(datetime!(2026-04-24 09:00:00 UTC)),
        None,
    )
    .with_service_account_keys(keys);
    api.bootstrap().await.unwrap();
    api
}

async fn send(
    api: &Api,
    user: &UserInfo,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let (response, _) = api.handle(ApiRequest::json(user, method, path, body)).await;
    (response.code(), response.body_json())
}

/// `kubectl create token NAME -n NS --duration …`: the token, or the Status message.
/// A ten-minute token for `default/default`, the admin asking.
async fn ten_minute_token(api: &Api) -> String {
    let spec = json!({"expirationSeconds": 600});
    create_token(api, "default", "default", spec).await.unwrap()
}

async fn create_token(
    api: &Api,
    ns: &str,
    name: &str,
    spec: Value,
) -> Result<String, (u16, String)> {
    let (code, body) = send(
        api,
        &admin(),
        "POST",
        &format!("/api/v1/namespaces/{ns}/serviceaccounts/{name}/token"),
        Some(&json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec})),
    )
    .await;
    match code {
        201 => Ok(body["status"]["token"].as_str().unwrap().to_owned()),
        _ => Err((code, Status::parse(&body.to_string()).unwrap().message)),
    }
}

async fn review(api: &Api, token: &str, audiences: &[&str]) -> Value {
    let (code, body) = send(
        api,
        &admin(),
        "POST",
        "/apis/authentication.k8s.io/v1/tokenreviews",
        Some(
            &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                     "spec": {"token": token, "audiences": audiences}}),
        ),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    body["status"].clone()
}

#[tokio::test]
async fn every_namespace_has_a_default_service_account_and_kube_proxy_has_its_own() {
    let api = desk().await;
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let (code, _) = send(
            &api,
            &admin(),
            "GET",
            &format!("/api/v1/namespaces/{ns}/serviceaccounts/default"),
            None,
        )
        .await;
        assert_eq!(code, 200, "{ns}");
    }
    let (code, _) = send(
        &api,
        &admin(),
        "GET",
        "/api/v1/namespaces/kube-system/serviceaccounts/kube-proxy",
        None,
    )
    .await;
    assert_eq!(code, 200);
    let (code, _) = send(
        &api,
        &admin(),
        "POST",
        "/api/v1/namespaces",
        Some(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}})),
    )
    .await;
    assert_eq!(code, 201);
    let (code, sa) = send(
        &api,
        &admin(),
        "GET",
        "/api/v1/namespaces/team-a/serviceaccounts/default",
        None,
    )
    .await;
    assert_eq!(code, 200, "{sa}");
}

#[tokio::test]
async fn a_requested_token_names_its_account_and_a_token_review_says_so() {
    let api = desk().await;
    let token = ten_minute_token(&api).await;
    let Bearer::User { user, audiences } = api.authenticate_token(&token).await.unwrap() else {
        panic!("a good token");
    };
    assert_eq!(user.name, "system:serviceaccount:default:default");
    assert_eq!(audiences, ["https://kubernetes.default.svc.cluster.local"]);
    let status = review(&api, &token, &[]).await;
    assert_eq!(status["authenticated"], true);
    assert_eq!(
        status["user"]["username"],
        "system:serviceaccount:default:default"
    );
    assert_eq!(
        status["user"]["groups"],
        json!([
            "system:serviceaccounts",
            "system:serviceaccounts:default",
            "system:authenticated"
        ])
    );
    assert!(
        status["user"]["extra"]["authentication.kubernetes.io/credential-id"][0]
            .as_str()
            .unwrap()
            .starts_with("JTI=")
    );
}

#[tokio::test]
async fn a_token_shorter_than_ten_minutes_or_for_no_account_is_refused() {
    let api = desk().await;
    assert_eq!(
        create_token(&api, "default", "default", json!({"expirationSeconds": 300})).await,
        Err((422, "TokenRequest.authentication.k8s.io \"default\" is invalid: spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes".into()))
    );
    assert_eq!(
        create_token(&api, "default", "robot", json!({})).await,
        Err((404, "serviceaccounts \"robot\" not found".into()))
    );
}

#[tokio::test]
async fn an_expired_token_a_foreign_token_and_another_audience_fail_with_the_apiservers_texts() {
    let api = desk().await;
    let token = ten_minute_token(&api).await;
    // Ten minutes, then go-jose's minute of leeway, on the lab clock.
    api.clock().advance(time::Duration::seconds(661));
    assert_eq!(
        review(&api, &token, &[]).await,
        json!({"user": {}, "error": "[invalid bearer token, service account token has expired]"})
    );
    let vault = create_token(&api, "default", "default", json!({"audiences": ["vault"]}))
        .await
        .unwrap();
    assert_eq!(
        review(&api, &vault, &[]).await["error"],
        "[invalid bearer token, token audiences [\"vault\"] is invalid for the target audiences [\"https://kubernetes.default.svc.cluster.local\"]]"
    );
    assert_eq!(
        review(&api, &vault, &["vault"]).await["authenticated"],
        true
    );
    let other_cluster = desk().await;
    let foreign = create_token(&other_cluster, "default", "default", json!({}))
        .await
        .unwrap();
    assert_eq!(
        review(&api, &foreign, &[]).await["error"],
        "[invalid bearer token, invalid signature, no keys found]"
    );
}

#[tokio::test]
async fn a_token_dies_with_its_account() {
    let api = desk().await;
    let (code, _) = send(
        &api,
        &admin(),
        "POST",
        "/api/v1/namespaces/default/serviceaccounts",
        Some(&json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}})),
    )
    .await;
    assert_eq!(code, 201);
    let token = create_token(&api, "default", "robot", json!({}))
        .await
        .unwrap();
    assert_eq!(review(&api, &token, &[]).await["authenticated"], true);
    send(
        &api,
        &admin(),
        "DELETE",
        "/api/v1/namespaces/default/serviceaccounts/robot",
        None,
    )
    .await;
    assert_eq!(
        review(&api, &token, &[]).await["error"],
        "[invalid bearer token, serviceaccount \"robot\" not found]"
    );
}

#[tokio::test]
async fn service_accounts_may_read_the_issuers_keys_and_anonymous_may_not() {
    // kubeadm's sa.key is RSA-2048: what a learner's own cluster publishes.
    let api = desk_with(kubeadm_keys()).await;
    let robot = UserInfo::service_account("default", "default");
    let (code, config) = send(
        &api,
        &robot,
        "GET",
        "/.well-known/openid-configuration",
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        config,
        json!({"issuer": "https://kubernetes.default.svc.cluster.local", "jwks_uri": JWKS_URI,
               "response_types_supported": ["id_token"], "subject_types_supported": ["public"],
               "id_token_signing_alg_values_supported": ["RS256"]})
    );
    let (code, jwks) = send(&api, &robot, "GET", "/openid/v1/jwks", None).await;
    assert_eq!(code, 200);
    let token = create_token(&api, "default", "default", json!({}))
        .await
        .unwrap();
    let header: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            token.split('.').next().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "RS256");
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    assert_eq!(jwks["keys"][0]["alg"], "RS256");
    assert_eq!(
        jwks["keys"][0]["kid"], header["kid"],
        "the token's kid names the published key"
    );
    let (code, body) = send(&api, &UserInfo::anonymous(), "GET", "/openid/v1/jwks", None).await;
    assert_eq!(code, 403);
    assert_eq!(
        Status::parse(&body.to_string()).unwrap().message,
        "forbidden: User \"system:anonymous\" cannot get path \"/openid/v1/jwks\""
    );
}
