//! etcd's watch feeding Alice's watch cache, as kube-apiserver's cacher is fed
//! (k8s.io/apiserver v0.32 `pkg/storage/etcd3/watcher.go`): one `Watch` stream over the kept
//! connection, on every key under `/registry/`, from the revision after the cache began, with
//! each change's previous value (`prev_kv`). A change written through another apiserver, or
//! an Event etcd forgot when its lease ran out, reaches watchers the same way as Alice's own.
//!
//! A put whose key was created at that revision is ADDED (`create_revision == mod_revision`,
//! watcher.go's `isCreated`), any other put MODIFIED, a delete DELETED with the object's last
//! state. If the stream breaks, it is opened again from the revision after the last change
//! seen, so nothing is skipped and nothing is told twice.

use std::sync::Weak;
use std::time::Duration;

use kubecorp_etcd::grpc::pb;
use kubecorp_etcd::store::prefix_end;
use serde_json::{json, Value};

use super::grpc::{Channel, GrpcError};
use crate::watch::{Change, WatchCache};

/// Every object lives under this prefix.
const REGISTRY: &[u8] = b"/registry/";

/// How long to wait before opening a broken stream again.
const REOPEN_AFTER: Duration = Duration::from_millis(200);

/// Feeds `cache` with every change after `after` until the cache is gone or the channel is
/// closed (Alice shutting down).
pub async fn run(channel: Channel, cache: Weak<WatchCache>, after: i64) {
    let mut next = after + 1;
    while cache.strong_count() > 0 && !channel.is_closed() {
        let followed = tokio::select! {
            followed = follow(&channel, &cache, &mut next) => followed,
            // The stream is dropped with `follow`: nothing holds the connection open.
            _ = channel.closed() => return,
        };
        if let Err(GrpcError::Status { .. }) = followed {
            // A refusal that will not change by asking again at once (a compacted start).
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        tokio::time::sleep(REOPEN_AFTER).await;
    }
}

/// One watch stream, read until it ends; `next` follows the changes recorded.
async fn follow(
    channel: &Channel,
    cache: &Weak<WatchCache>,
    next: &mut i64,
) -> Result<(), GrpcError> {
    let create = pb::WatchRequest {
        request_union: Some(pb::watch_request::RequestUnion::CreateRequest(
            pb::WatchCreateRequest {
                key: REGISTRY.to_vec(),
                range_end: prefix_end(REGISTRY),
                start_revision: *next,
                prev_kv: true,
                progress_notify: true,
                ..Default::default()
            },
        )),
    };
    let mut stream = channel
        .open_stream("/etcdserverpb.Watch/Watch", &create)
        .await?;
    while let Some(answer) = stream.next::<pb::WatchResponse>().await? {
        if answer.canceled {
            if answer.compact_revision > 0 {
                // The revision wanted is gone: go on from the oldest one kept.
                *next = answer.compact_revision;
            }
            return Ok(());
        }
        let Some(cache) = cache.upgrade() else {
            return Ok(());
        };
        for event in &answer.events {
            if let Some(change) = change_of(event) {
                *next = change.revision + 1;
                cache.record(change);
            }
        }
    }
    Ok(())
}

/// The watch cache's change for one etcd event; `None` for a value that is not an object (the
/// cacher logs and drops what it cannot decode).
pub fn change_of(event: &pb::Event) -> Option<Change> {
    let kv = event.kv.as_ref()?;
    let key = String::from_utf8_lossy(&kv.key).into_owned();
    let with_version = |value: &[u8], revision: i64| -> Option<Value> {
        let mut object: Value = serde_json::from_slice(value).ok()?;
        let meta = object.get_mut("metadata")?.as_object_mut()?;
        meta.insert("resourceVersion".into(), json!(revision.to_string()));
        Some(object)
    };
    let prev = event
        .prev_kv
        .as_ref()
        .and_then(|p| with_version(&p.value, p.mod_revision));
    // mvccpb.Event type: PUT = 0, DELETE = 1.
    if event.r#type == 1 {
        let last = event.prev_kv.as_ref()?;
        return Some(Change {
            revision: kv.mod_revision,
            kind: "DELETED",
            key,
            object: with_version(&last.value, kv.mod_revision)?,
            prev: None,
        });
    }
    let created = kv.create_revision == kv.mod_revision;
    Some(Change {
        revision: kv.mod_revision,
        kind: if created { "ADDED" } else { "MODIFIED" },
        key,
        object: with_version(&kv.value, kv.mod_revision)?,
        prev: if created { None } else { prev },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: &Value, create: i64, modified: i64) -> pb::KeyValue {
        pb::KeyValue {
            key: key.as_bytes().to_vec(),
            value: value.to_string().into_bytes(),
            create_revision: create,
            mod_revision: modified,
            version: 1,
            lease: 0,
        }
    }

    #[test]
    fn puts_are_added_or_modified_by_their_create_revision_and_a_delete_carries_the_last_state() {
        let cm = json!({"kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"x": "1"}});
        let key = "/registry/configmaps/default/a";
        let added = change_of(&pb::Event {
            r#type: 0,
            kv: Some(kv(key, &cm, 7, 7)),
            prev_kv: None,
        })
        .unwrap();
        assert_eq!((added.kind, added.revision), ("ADDED", 7));
        assert_eq!(added.object["metadata"]["resourceVersion"], "7");

        let modified = change_of(&pb::Event {
            r#type: 0,
            kv: Some(kv(key, &cm, 7, 9)),
            prev_kv: Some(kv(key, &cm, 7, 7)),
        })
        .unwrap();
        assert_eq!(modified.kind, "MODIFIED");
        assert_eq!(modified.prev.unwrap()["metadata"]["resourceVersion"], "7");

        let deleted = change_of(&pb::Event {
            r#type: 1,
            kv: Some(pb::KeyValue {
                key: key.as_bytes().to_vec(),
                mod_revision: 12,
                ..Default::default()
            }),
            prev_kv: Some(kv(key, &cm, 7, 9)),
        })
        .unwrap();
        assert_eq!((deleted.kind, deleted.revision), ("DELETED", 12));
        assert_eq!(deleted.object["metadata"]["resourceVersion"], "12");
        assert_eq!(deleted.object["data"]["x"], "1");

        let not_json = change_of(&pb::Event {
            r#type: 0,
            kv: Some(pb::KeyValue {
                key: b"/registry/x".to_vec(),
                value: b"hello".to_vec(),
                ..Default::default()
            }),
            prev_kv: None,
        });
        assert_eq!(not_json, None);
    }
}
