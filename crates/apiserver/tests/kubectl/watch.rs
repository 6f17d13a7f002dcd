//! `?watch=true` over real mutual TLS: replay from a resourceVersion, 410 when it is gone,
//! selectors, bookmarks, initial events and timeouts, asserted event by event.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::Running;
use kubecorp_testkit::office::quiet_office;
use kubecorp_testkit::tool;

fn rv(object: &Value) -> String {
    object["metadata"]["resourceVersion"]
        .as_str()
        .expect("a resourceVersion")
        .to_owned()
}

fn configmap(name: &str, value: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": value}})
}

/// The next event as the line the apiserver wrote, parsed (`{"type":…,"object":…}`); panics
/// after 5 s or at the end of the stream.
async fn next_event(watch: &mut kubecorp_client::Watch) -> Value {
    let event = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .expect("an event within 5 s")
        .expect("the stream goes on")
        .expect("a readable event");
    json!({"type": event.kind, "object": event.object})
}

/// The stream's end: `None` within `within`.
async fn ends_within(watch: &mut kubecorp_client::Watch, within: Duration) {
    match tokio::time::timeout(within, watch.next()).await {
        Ok(None) => {}
        Ok(Some(other)) => panic!("expected the end of the stream, got {other:?}"),
        Err(_) => panic!("the stream was still open after {within:?}"),
    }
}

async fn namespace(client: &kubecorp_client::KubeClient, name: &str) {
    client
        .create(
            "/api/v1/namespaces",
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_watch_from_an_old_resource_version_replays_modifications_and_deletions_in_order() {
    let (_dir, office) = quiet_office().await;
    let admin = office.client("kubectl", "admin.conf").unwrap();
    namespace(&admin, "replay").await;
    let cms = "/api/v1/namespaces/replay/configmaps";
    let a = admin.create(cms, &configmap("a", "1")).await.unwrap();
    let b = admin.create(cms, &configmap("b", "1")).await.unwrap();
    let a2 = admin
        .merge_patch(&format!("{cms}/a"), &json!({"data": {"k": "2"}}))
        .await
        .unwrap();
    admin.delete(&format!("{cms}/b")).await.unwrap();
    let deleted_at = rv(&admin.get(cms).await.unwrap());

    let mut watch = admin
        .watch(&format!("{cms}?watch=true&resourceVersion={}", rv(&a)))
        .await
        .unwrap();
    let mut b_gone = b.clone();
    b_gone["metadata"]["resourceVersion"] = json!(deleted_at);
    assert_eq!(
        next_event(&mut watch).await,
        json!({"type": "ADDED", "object": b})
    );
    assert_eq!(
        next_event(&mut watch).await,
        json!({"type": "MODIFIED", "object": a2})
    );
    assert_eq!(
        next_event(&mut watch).await,
        json!({"type": "DELETED", "object": b_gone}),
        "a deletion carries the object at the deletion's resourceVersion"
    );
    // Live changes follow the replay, none twice and none missing.
    let c = admin.create(cms, &configmap("c", "1")).await.unwrap();
    let d = admin.create(cms, &configmap("d", "1")).await.unwrap();
    assert_eq!(
        next_event(&mut watch).await,
        json!({"type": "ADDED", "object": c})
    );
    assert_eq!(
        next_event(&mut watch).await,
        json!({"type": "ADDED", "object": d})
    );
    office.shutdown().await;
}

#[tokio::test]
async fn a_watch_from_a_compacted_resource_version_gets_410_too_old_resource_version() {
    let (_dir, office) = quiet_office().await;
    let admin = office.client("kubectl", "admin.conf").unwrap();
    namespace(&admin, "old").await;
    office.api.watch_cache().set_capacity(3);
    let cms = "/api/v1/namespaces/old/configmaps";
    let mut written = Vec::new();
    for i in 1..=5 {
        let cm = admin
            .create(cms, &configmap(&format!("x{i}"), "1"))
            .await
            .unwrap();
        written.push(rv(&cm).parse::<i64>().unwrap());
    }
    // The ring holds x3..x5: a watch may start after x2's revision at the earliest.
    let (asked, oldest) = (written[0], written[1]);
    let mut watch = admin
        .watch(&format!("{cms}?watch=true&resourceVersion={asked}"))
        .await
        .expect("the apiserver answers 200 and puts the error in the stream");
    assert_eq!(
        next_event(&mut watch).await,
        json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": format!("too old resource version: {asked} ({oldest})"),
            "reason": "Expired", "code": 410}})
    );
    ends_within(&mut watch, Duration::from_secs(2)).await;
    // From the oldest revision still held, the replay works.
    let mut watch = admin
        .watch(&format!("{cms}?watch=true&resourceVersion={oldest}"))
        .await
        .unwrap();
    let first = next_event(&mut watch).await;
    assert_eq!(first["type"], "ADDED");
    assert_eq!(first["object"]["metadata"]["name"], "x3");
    office.shutdown().await;
}

#[tokio::test]
async fn a_pod_that_stops_matching_a_label_selector_is_sent_as_deleted() {
    let (_dir, office) = quiet_office().await;
    let admin = office.client("kubectl", "admin.conf").unwrap();
    namespace(&admin, "shop").await;
    let pods = "/api/v1/namespaces/shop/pods";
    let web = admin
        .create(
            pods,
            &json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "web", "labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx"}]}}),
        )
        .await
        .unwrap();
    let mut watch = admin
        .watch(&format!(
            "{pods}?labelSelector=app%3Dweb&resourceVersion={}&watch=true",
            rv(&web)
        ))
        .await
        .unwrap();
    let relabelled = admin
        .merge_patch(
            &format!("{pods}/web"),
            &json!({"metadata": {"labels": {"app": "db"}}}),
        )
        .await
        .unwrap();
    let mut last_match = web.clone();
    last_match["metadata"]["resourceVersion"] = json!(rv(&relabelled));
    assert_eq!(
        next_event(&mut watch).await,
        json!({"type": "DELETED", "object": last_match}),
        "the last state that matched, at the change's resourceVersion"
    );
    // A change while it does not match is not this watcher's business; matching again is ADDED.
    admin
        .merge_patch(
            &format!("{pods}/web"),
            &json!({"metadata": {"annotations": {"note": "unseen"}}}),
        )
        .await
        .unwrap();
    let back = admin
        .merge_patch(
            &format!("{pods}/web"),
            &json!({"metadata": {"labels": {"app": "web"}}}),
        )
        .await
        .unwrap();
    assert_eq!(
        next_event(&mut watch).await,
        json!({"type": "ADDED", "object": back})
    );
    office.shutdown().await;
}

#[tokio::test]
async fn bookmarks_carry_the_current_resource_version() {
    let (_dir, office) = quiet_office().await;
    let admin = office.client("kubectl", "admin.conf").unwrap();
    namespace(&admin, "marked").await;
    namespace(&admin, "elsewhere").await;
    office
        .api
        .watch_cache()
        .set_bookmark_period(Duration::from_millis(300));
    let mine = admin
        .create(
            "/api/v1/namespaces/marked/configmaps",
            &configmap("mine", "1"),
        )
        .await
        .unwrap();
    // A later write this watcher does not see: the bookmark still carries its revision.
    let other = admin
        .create(
            "/api/v1/namespaces/elsewhere/configmaps",
            &configmap("other", "1"),
        )
        .await
        .unwrap();
    let mut watch = admin
        .watch(&format!(
            "/api/v1/namespaces/marked/configmaps?allowWatchBookmarks=true&resourceVersion={}&watch=true",
            rv(&mine)
        ))
        .await
        .unwrap();
    let started = Instant::now();
    let bookmark = json!({"type": "BOOKMARK", "object": {"kind": "ConfigMap", "apiVersion": "v1",
        "metadata": {"resourceVersion": rv(&other)}}});
    assert_eq!(next_event(&mut watch).await, bookmark);
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "the bookmark waits for its period"
    );
    assert_eq!(
        next_event(&mut watch).await,
        bookmark,
        "and comes again every period"
    );
    // Without allowWatchBookmarks there are none.
    let mut quiet = admin
        .watch(&format!(
            "/api/v1/namespaces/marked/configmaps?resourceVersion={}&watch=true&timeoutSeconds=1",
            rv(&mine)
        ))
        .await
        .unwrap();
    ends_within(&mut quiet, Duration::from_secs(3)).await;
    office.shutdown().await;
}

#[tokio::test]
async fn send_initial_events_ends_with_the_initial_events_end_bookmark() {
    let (_dir, office) = quiet_office().await;
    let admin = office.client("kubectl", "admin.conf").unwrap();
    namespace(&admin, "initial").await;
    let cms = "/api/v1/namespaces/initial/configmaps";
    let a = admin.create(cms, &configmap("a", "1")).await.unwrap();
    let b = admin.create(cms, &configmap("b", "1")).await.unwrap();
    let current = rv(&admin.get(cms).await.unwrap());
    let mut watch = admin
        .watch(&format!("{cms}?allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&sendInitialEvents=true&watch=true"))
        .await
        .unwrap();
    assert_eq!(
        next_event(&mut watch).await,
        json!({"type": "ADDED", "object": a})
    );
    assert_eq!(
        next_event(&mut watch).await,
        json!({"type": "ADDED", "object": b})
    );
    assert_eq!(
        next_event(&mut watch).await,
        json!({"type": "BOOKMARK", "object": {"kind": "ConfigMap", "apiVersion": "v1",
            "metadata": {"resourceVersion": current,
                         "annotations": {"k8s.io/initial-events-end": "true"}}}})
    );
    let c = admin.create(cms, &configmap("c", "1")).await.unwrap();
    assert_eq!(
        next_event(&mut watch).await,
        json!({"type": "ADDED", "object": c})
    );

    // sendInitialEvents needs resourceVersionMatch=NotOlderThan: 422, in the apiserver's words.
    let refused = admin
        .watch(&format!("{cms}?sendInitialEvents=true&watch=true"))
        .await
        .unwrap_err();
    match refused {
        kubecorp_client::ClientError::Status {
            code,
            reason,
            message,
            ..
        } => assert_eq!(
            (code, reason.as_str(), message.as_str()),
            (422, "Invalid", "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan")
        ),
        other => panic!("expected a 422, got {other:?}"),
    }
    // A resourceVersion that is not a number: kube-apiserver 1.32's 500, without a reason.
    match admin
        .watch(&format!("{cms}?resourceVersion=abc&watch=true"))
        .await
        .unwrap_err()
    {
        kubecorp_client::ClientError::Status { code, message, .. } => assert_eq!(
            (code, message.as_str()),
            (500, "resourceVersion: Invalid value: \"abc\": strconv.ParseUint: parsing \"abc\": invalid syntax")
        ),
        other => panic!("expected a 500, got {other:?}"),
    }
    office.shutdown().await;
}

#[tokio::test]
async fn a_watch_closes_after_timeout_seconds() {
    let (_dir, office) = quiet_office().await;
    let admin = office.client("kubectl", "admin.conf").unwrap();
    namespace(&admin, "brief").await;
    let started = Instant::now();
    let mut watch = admin
        .watch("/api/v1/namespaces/brief/configmaps?timeoutSeconds=1&watch=true")
        .await
        .unwrap();
    ends_within(&mut watch, Duration::from_secs(5)).await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "closed after {took:?}"
    );
    office.shutdown().await;
}

#[test]
fn kubectl_get_watch_only_prints_added_modified_and_deleted() {
    let Some(lab) = Running::start("kubectl_get_watch_only") else {
        return;
    };
    let Some(kubectl) = tool("kubectl", "kubectl_get_watch_only") else {
        return;
    };
    lab.admin(&["create", "namespace", "seen"]).success();
    let cache = lab.tmp.path().join("kube-cache-watch");
    let mut child = std::process::Command::new(&kubectl)
        .args([
            "--kubeconfig",
            &lab.conf("admin.conf"),
            "--server",
            &lab.url,
            "--cache-dir",
            &cache.to_string_lossy(),
            "get",
            "configmaps",
            "-n",
            "seen",
            "--watch-only",
            "--output-watch-events",
            "-o",
            "jsonpath={.type} {.object.metadata.name} {.object.data.k}{\"\\n\"}",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let manifest = lab.write(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: seen\ndata:\n  k: \"1\"\n",
    );
    lab.admin(&["apply", "-f", &manifest]).success();
    lab.admin(&[
        "patch",
        "configmap",
        "cm",
        "-n",
        "seen",
        "--type=merge",
        "-p",
        r#"{"data":{"k":"2"}}"#,
    ])
    .success();
    lab.admin(&["delete", "configmap", "cm", "-n", "seen"])
        .success();
    std::thread::sleep(Duration::from_millis(1500));
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["ADDED cm 1", "MODIFIED cm 2", "DELETED cm 2"],
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
