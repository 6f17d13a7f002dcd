//! The watch cache through Alice's desk, without a socket: what a watcher that cannot keep up gets.

use kubecorp_apiserver::api::{Api, ApiRequest, ApiResponse};
use kubecorp_apiserver::store::Store;
use kubecorp_apiserver::user::UserInfo;
use kubecorp_trust::LabClock;
use serde_json::{json, Value};

const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";

async fn create(api: &Api, admin: &UserInfo, name: &str) -> Value {
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
    let (response, _) = api
        .handle(ApiRequest::json(admin, "POST", CONFIGMAPS, Some(&body)))
        .await;
    assert_eq!(response.code(), 201, "{response:?}");
    response.body_json()
}

#[tokio::test]
async fn a_watcher_that_falls_out_of_the_ring_is_ended_instead_of_skipping_changes() {
    let api = Api::new(Store::memory(), LabClock::real(), None);
    api.bootstrap().await.unwrap();
    api.watch_cache().set_capacity(4);
    let admin = UserInfo::from_cert("kubernetes-admin", ["system:masters"]).unwrap();
    let (list, _) = api
        .handle(ApiRequest::json(&admin, "GET", CONFIGMAPS, None))
        .await;
    let from = list.body_json()["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    let (watch, _) = api
        .handle(ApiRequest::json(
            &admin,
            "GET",
            &format!("{CONFIGMAPS}?resourceVersion={from}&watch=true"),
            None,
        ))
        .await;
    let ApiResponse::Watch(mut stream) = watch else {
        panic!("a watch stream, got {watch:?}");
    };
    let first = create(&api, &admin, "first").await;
    let line = stream.next().await.expect("the first change");
    assert_eq!(
        serde_json::from_str::<Value>(&line).unwrap(),
        json!({"type": "ADDED", "object": first})
    );
    // Six changes into a ring of four while the watcher reads nothing: two it never saw are gone.
    for i in 0..6 {
        create(&api, &admin, &format!("behind-{i}")).await;
    }
    assert_eq!(
        stream.next().await,
        None,
        "the watch ends (its client lists again) rather than jump over lost changes"
    );
}

#[tokio::test]
async fn a_watcher_that_keeps_up_gets_every_change_through_a_small_ring() {
    let api = Api::new(Store::memory(), LabClock::real(), None);
    api.bootstrap().await.unwrap();
    api.watch_cache().set_capacity(2);
    let admin = UserInfo::from_cert("kubernetes-admin", ["system:masters"]).unwrap();
    let (watch, _) = api
        .handle(ApiRequest::json(
            &admin,
            "GET",
            &format!("{CONFIGMAPS}?watch=true"),
            None,
        ))
        .await;
    let ApiResponse::Watch(mut stream) = watch else {
        panic!("a watch stream, got {watch:?}");
    };
    for i in 0..5 {
        let made = create(&api, &admin, &format!("kept-{i}")).await;
        let line = stream.next().await.expect("each change");
        assert_eq!(
            serde_json::from_str::<Value>(&line).unwrap(),
            json!({"type": "ADDED", "object": made})
        );
    }
}

#[tokio::test]
async fn odd_watch_parameters_get_an_answer_and_never_a_panic() {
    let api = Api::new(Store::memory(), LabClock::real(), None);
    api.bootstrap().await.unwrap();
    let admin = UserInfo::from_cert("kubernetes-admin", ["system:masters"]).unwrap();
    create(&api, &admin, "one").await;
    let odd = [
        "resourceVersion=18446744073709551615",
        "resourceVersion=18446744073709551616",
        "resourceVersion=9223372036854775808",
        "resourceVersion=-1",
        "resourceVersion=",
        "resourceVersion=%E2%9C%93",
        "timeoutSeconds=-9223372036854775808",
        "timeoutSeconds=9223372036854775807",
        "timeoutSeconds=99999999999999999999",
        "timeoutSeconds=0",
        "allowWatchBookmarks=maybe",
        "sendInitialEvents=true&resourceVersionMatch=NotOlderThan&resourceVersion=9223372036854775807",
        "sendInitialEvents=yes",
        "resourceVersionMatch=Exact",
        "labelSelector=%28%28%28",
        "fieldSelector=metadata.name%3D%3D%3D",
    ];
    for query in odd {
        let path = format!("{CONFIGMAPS}?watch=true&{query}");
        let answered = tokio::spawn({
            let (api, admin) = (api.clone(), admin.clone());
            async move {
                let (response, _) = api
                    .handle(ApiRequest::json(&admin, "GET", &path, None))
                    .await;
                match response {
                    // A stream: its first line (or its end) comes without a panic.
                    ApiResponse::Watch(mut stream) => {
                        let _ = tokio::time::timeout(
                            std::time::Duration::from_millis(50),
                            stream.next(),
                        )
                        .await;
                        200
                    }
                    other => other.code(),
                }
            }
        })
        .await;
        let code = answered.unwrap_or_else(|e| panic!("watch?{query} panicked: {e}"));
        assert!(
            [200, 400, 410, 422, 500, 504].contains(&code),
            "watch?{query}: {code}"
        );
    }
}
