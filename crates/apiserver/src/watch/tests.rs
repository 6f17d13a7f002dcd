//! The ring's replay and expiry, and a watch's options read with the apiserver's words.

use serde_json::json;

use super::*;

fn change(revision: i64, kind: &'static str, name: &str) -> Change {
    Change {
        revision,
        kind,
        key: format!("/registry/configmaps/default/{name}"),
        object: json!({"metadata": {"name": name, "resourceVersion": revision.to_string()}}),
        prev: None,
    }
}

#[test]
fn the_ring_replays_what_is_newer_and_expires_what_it_pushed_out() {
    let cache = WatchCache::new(3);
    cache.begin_after(10);
    for rev in 11..=13 {
        cache.record(change(rev, "ADDED", &format!("c{rev}")));
    }
    assert_eq!(cache.position_after(10), Ok(0));
    assert_eq!(cache.position_after(12), Ok(2));
    assert_eq!(cache.position_after(9), Err(10));
    cache.record(change(14, "ADDED", "c14"));
    assert_eq!(
        cache.position_after(10),
        Err(11),
        "11 was pushed out: 12 is the oldest change, 11 the oldest start"
    );
    assert_eq!(cache.position_after(11), Ok(1));
    assert!(matches!(cache.read(0), Read::Lagged));
}

#[test]
fn large_objects_push_old_changes_out_before_the_count_is_reached() {
    let one = json_size(&change(11, "ADDED", "c11").object);
    // Room for two changes of this size, not three.
    let cache = WatchCache::with_byte_budget(1024, 2 * one + one / 2);
    cache.begin_after(10);
    for rev in 11..=13 {
        cache.record(change(rev, "ADDED", &format!("c{rev}")));
    }
    assert_eq!(cache.changes().len(), 2);
    assert_eq!(cache.position_after(10), Err(11));
    // Positions count every change since the start: 12 is the second one recorded.
    assert_eq!(cache.position_after(11), Ok(1));
    // However large, the newest change stays.
    let tiny = WatchCache::with_byte_budget(1024, 1);
    tiny.record(change(20, "ADDED", "c20"));
    tiny.record(change(21, "ADDED", "c21"));
    assert_eq!(tiny.changes().len(), 1);
    assert_eq!(tiny.current(), 21);
}

#[test]
fn a_timeout_too_large_for_the_clock_is_no_deadline_rather_than_a_panic() {
    let options = WatchOptions::parse("watch=true&timeoutSeconds=9223372036854775807").unwrap();
    let now = Instant::now();
    assert!(options.deadline(now) > now + Duration::from_secs(365 * 24 * 3600));
}

#[test]
fn watch_options_are_validated_with_the_apiserver_s_words() {
    let (code, body) = WatchOptions::parse("watch=true&sendInitialEvents=true").unwrap_err();
    assert_eq!(code, 422);
    let status = Status::parse(&body).unwrap();
    assert_eq!(status.message, "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan");
    let (code, body) =
        WatchOptions::parse("watch=true&sendInitialEvents=true&resourceVersionMatch=Exact")
            .unwrap_err();
    assert_eq!(code, 422);
    assert_eq!(Status::parse(&body).unwrap().message, "ListOptions.meta.k8s.io \"\" is invalid: [resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan, resourceVersionMatch: Unsupported value: \"Exact\": supported values: \"NotOlderThan\"]");
    let (code, body) =
        WatchOptions::parse("watch=true&resourceVersion=5&resourceVersionMatch=NotOlderThan")
            .unwrap_err();
    assert_eq!(code, 422);
    assert!(
        body.contains(
            "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"
        ),
        "{body}"
    );
    let (code, body) = WatchOptions::parse("watch=true&timeoutSeconds=1.5s").unwrap_err();
    assert_eq!(
        (code, Status::parse(&body).unwrap().message),
        (
            400,
            "strconv.ParseInt: parsing \"1.5s\": invalid syntax".into()
        )
    );
    let defaulted = WatchOptions::parse("watch=true&resourceVersion=0").unwrap();
    assert_eq!(defaulted.send_initial_events, Some(true));
    let from_n = WatchOptions::parse("watch=true&resourceVersion=7").unwrap();
    assert_eq!(from_n.send_initial_events, None);
    assert_eq!(from_n.requested_revision(), Ok(7));
}

#[test]
fn an_unparsable_resource_version_is_the_500_kube_apiserver_answers() {
    let options = WatchOptions::parse("watch=true&resourceVersion=abc").unwrap();
    let (code, body) = options.requested_revision().unwrap_err();
    assert_eq!(code, 500);
    assert_eq!(
        body,
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"resourceVersion: Invalid value: \"abc\": strconv.ParseUint: parsing \"abc\": invalid syntax","code":500}"#
    );
    let options = WatchOptions::parse("watch=true&resourceVersion=99999999999999999999").unwrap();
    assert!(options
        .requested_revision()
        .unwrap_err()
        .1
        .contains("value out of range"));
}
