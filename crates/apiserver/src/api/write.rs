//! Changing and deleting objects: update and patch, a pod's binding, delete one or a collection,
//! NodeRestriction for kubelets, and each change handed to the watch cache.

use serde_json::{json, Value};

use super::{
    decode_body, patched_type_check, with_version, Api, ApiRequest, ApiResponse, Selectors,
    PROTOBUF,
};

use crate::meta::{merge_patch, meta_str};
use crate::node_restriction::{self, Operation};
use crate::registry::{self, Resource};
use crate::status;
use crate::store::StoreError;
use crate::watch::Change;

impl Api {
    /// The one door into the watch cache. The caller holds `Inner::writes` from its store
    /// write until this returns, so changes enter in revision order.
    pub(super) fn publish(
        &self,
        kind: &'static str,
        key: &str,
        revision: i64,
        object: &Value,
        prev: Option<&Value>,
    ) {
        if key.starts_with("/registry/cluster") || key.starts_with("/registry/role") {
            self.rbac_written(kind, object);
        }
        if self.inner.store.feeds_watch_cache() {
            // etcd's watch brings every change, this one too (see `store::feed`).
            return;
        }
        self.inner.watch_cache.record(Change {
            revision,
            kind,
            key: key.into(),
            object: object.clone(),
            prev: prev.cloned(),
        });
    }

    /// A deletion enters the cache with the object's last state at the deletion's revision.
    pub(super) fn publish_deletion(&self, key: &str, deleted_at: i64, last: &Value) {
        let mut gone = last.clone();
        if let Some(meta) = gone.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("resourceVersion".into(), json!(deleted_at.to_string()));
        }
        self.publish("DELETED", key, deleted_at, &gone, None);
    }

    /// The NodeRestriction admission plugin for a write by a kubelet (see
    /// [`crate::node_restriction`]): `Some(403)` when it refuses, `None` to go on.
    pub(super) async fn node_restriction(
        &self,
        write: node_restriction::Write<'_>,
    ) -> Result<Option<ApiResponse>, StoreError> {
        let Some(node) = node_restriction::node_of(write.user) else {
            return Ok(None);
        };
        // A mirror pod's owner must carry the UID of the node's own Node object.
        let node_obj = match (write.resource, write.operation) {
            ("pods", Operation::Create) if !node.is_empty() => {
                let nodes = registry::find("", "v1", "nodes").expect("nodes are registered");
                self.inner
                    .store
                    .get(&nodes.key(None, node))
                    .await?
                    .map(|s| s.value)
            }
            _ => None,
        };
        let lookups = node_restriction::Lookups {
            node: node_obj.as_ref(),
        };
        Ok(node_restriction::admit(&write, lookups)
            .err()
            .map(|refusal| ApiResponse::status(refusal.response())))
    }

    /// `pods/binding`: Bob the scheduler assigns a pod to a node.
    pub(super) async fn bind(
        &self,
        req: &ApiRequest,
        r: &Resource,
        ns: Option<&str>,
        name: &str,
    ) -> Result<ApiResponse, StoreError> {
        let binding = match crate::decode::object(&req.body, "Binding") {
            Ok(b) => b,
            Err(e) => return Ok(ApiResponse::status(status::bad_request(&e.to_string()))),
        };
        let node = binding["target"]["name"].as_str().unwrap_or("").to_string();
        let key = r.key(ns, name);
        let Some(stored) = self.inner.store.get(&key).await? else {
            return Ok(ApiResponse::status(status::not_found(
                r.name, r.group, name,
            )));
        };
        let mut pod = stored.value.clone();
        if let Some(current) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
            let detail = format!("pod {name} is already assigned to node {current:?}");
            return Ok(ApiResponse::status(status::conflict(
                r.name, r.group, name, &detail,
            )));
        }
        pod["spec"]["nodeName"] = json!(node);
        // The binding registry marks the pod scheduled, replacing any earlier PodScheduled.
        let scheduled = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null,
                               "lastTransitionTime": self.now()});
        let mut conditions: Vec<Value> = pod["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c["type"] != "PodScheduled")
            .collect();
        conditions.push(scheduled);
        pod["status"]["conditions"] = json!(conditions);
        let order = self.inner.writes.lock().await;
        let rev = self
            .inner
            .store
            .update(&key, &pod, Some(stored.revision))
            .await?;
        pod["metadata"]["resourceVersion"] = json!(rev.to_string());
        self.publish(
            "MODIFIED",
            &key,
            rev,
            &pod,
            Some(&with_version(stored.clone())),
        );
        drop(order);
        Ok(ApiResponse::json(
            201,
            &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
        ))
    }

    pub(super) async fn update(
        &self,
        req: &ApiRequest,
        r: &Resource,
        ns: Option<&str>,
        name: &str,
        sub: Option<&str>,
    ) -> Result<ApiResponse, StoreError> {
        let key = r.key(ns, name);
        let Some(stored) = self.inner.store.get(&key).await? else {
            return Ok(ApiResponse::status(status::not_found(
                r.name, r.group, name,
            )));
        };
        let current = with_version(stored.clone());
        let mut next = if req.method == "PATCH"
            && req.content_type.starts_with("application/json-patch+json")
        {
            // RFC 6902 operations on the object as stored (json-patch does the work).
            let patch: json_patch::Patch = match serde_json::from_slice(&req.body) {
                Ok(p) => p,
                Err(e) => return Ok(ApiResponse::status(status::bad_request(&e.to_string()))),
            };
            let mut next = current.clone();
            if let Err(e) = json_patch::patch(&mut next, &patch) {
                return Ok(ApiResponse::status(status::json_patch_failed(
                    &e.to_string(),
                )));
            }
            next
        } else {
            if req.method == "PATCH" && !req.content_type.starts_with(PROTOBUF) {
                let body = match crate::decode::patch(&req.body, r.kind) {
                    Ok(b) => b,
                    Err(e) => return Ok(ApiResponse::status(status::bad_request(&e.to_string()))),
                };
                let mut next = current.clone();
                merge_patch(&mut next, &body);
                next
            } else if req.method == "PATCH" {
                let body = match decode_body(req, r) {
                    Ok(b) => b,
                    Err(resp) => return Ok(resp),
                };
                let mut next = current.clone();
                merge_patch(&mut next, &body);
                next
            } else {
                match decode_body(req, r) {
                    Ok(b) => b,
                    Err(resp) => return Ok(resp),
                }
            }
        };
        if req.method == "PATCH" {
            if let Err(refusal) = patched_type_check(&next, r) {
                return Ok(refusal);
            }
        }
        let expected = match meta_str(&next, "resourceVersion") {
            "" => None,
            rv => match rv.parse::<i64>() {
                Ok(v) => Some(v),
                Err(_) => {
                    return Ok(ApiResponse::status(status::bad_request(&format!(
                        "invalid resourceVersion {rv:?}"
                    ))))
                }
            },
        };
        if let Some(sub) = sub {
            // A status update changes only the status; everything else comes from the store.
            let mut merged = current.clone();
            merged[sub] = next[sub].clone();
            next = merged;
        } else if r.name == "certificatesigningrequests" {
            // spec is immutable, and status only changes through /approval and /status.
            next["spec"] = current["spec"].clone();
            next["status"] = current["status"].clone();
        }
        crate::apps::prepare_update(r, &current, &mut next, sub);
        if meta_str(&next, "name") != name {
            let cause = status::Cause::invalid(
                "metadata.name",
                meta_str(&next, "name"),
                "field is immutable",
            );
            return Ok(ApiResponse::status(status::invalid(
                r.kind,
                r.group,
                name,
                &[cause],
            )));
        }
        next["apiVersion"] = json!(r.api_version());
        next["kind"] = json!(r.kind);
        next["metadata"]["uid"] = current["metadata"]["uid"].clone();
        next["metadata"]["creationTimestamp"] = current["metadata"]["creationTimestamp"].clone();
        if let Some(ns) = ns {
            next["metadata"]["namespace"] = json!(ns);
        }
        if let Some(m) = next["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        let write = node_restriction::Write {
            user: &req.user,
            operation: Operation::Update,
            group: r.group,
            resource: r.name,
            subresource: sub.unwrap_or(""),
            namespace: ns.unwrap_or(""),
            name,
            object: Some(&next),
            old: Some(&current),
        };
        if let Some(refused) = self.node_restriction(write).await? {
            return Ok(refused);
        }
        self.write(
            r,
            &key,
            name,
            next,
            (expected.or(Some(stored.revision)), &current),
            expected.is_some(),
        )
        .await
    }

    pub(super) async fn write(
        &self,
        r: &Resource,
        key: &str,
        name: &str,
        mut obj: Value,
        (expected, prev): (Option<i64>, &Value),
        client_said: bool,
    ) -> Result<ApiResponse, StoreError> {
        // `prev` is the object at `expected`: a write that lands replaced exactly it.
        let order = self.inner.writes.lock().await;
        match self.inner.store.update(key, &obj, expected).await {
            Ok(rev) => {
                obj["metadata"]["resourceVersion"] = json!(rev.to_string());
                self.publish("MODIFIED", key, rev, &obj, Some(prev));
                drop(order);
                Ok(ApiResponse::json(200, &obj))
            }
            Err(StoreError::Conflict { .. }) if client_said => Ok(ApiResponse::status(status::conflict(
                r.name,
                r.group,
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ))),
            Err(StoreError::NotFound(_)) => Ok(ApiResponse::status(status::not_found(r.name, r.group, name))),
            Err(e) => Err(e),
        }
    }

    pub(super) async fn delete(
        &self,
        req: &ApiRequest,
        r: &Resource,
        ns: Option<&str>,
        name: &str,
    ) -> Result<ApiResponse, StoreError> {
        let key = r.key(ns, name);
        if node_restriction::node_of(&req.user).is_some() {
            let existing = self.inner.store.get(&key).await?.map(with_version);
            let write = node_restriction::Write {
                user: &req.user,
                operation: Operation::Delete,
                group: r.group,
                resource: r.name,
                subresource: "",
                namespace: ns.unwrap_or(""),
                name,
                object: None,
                old: existing.as_ref(),
            };
            if let Some(refused) = self.node_restriction(write).await? {
                return Ok(refused);
            }
        }
        let order = self.inner.writes.lock().await;
        match self.inner.store.delete(&key).await? {
            Some((stored, deleted_at)) => {
                let obj = with_version(stored);
                self.publish_deletion(&key, deleted_at, &obj);
                drop(order);
                Ok(ApiResponse::json(200, &obj))
            }
            None => Ok(ApiResponse::status(status::not_found(
                r.name, r.group, name,
            ))),
        }
    }

    /// `DELETE` on a collection: every object the selectors pick, answered with the list of
    /// what was deleted (as the generic registry's `DeleteCollection` does).
    pub(super) async fn delete_collection(
        &self,
        req: &ApiRequest,
        r: &Resource,
        ns: Option<&str>,
    ) -> Result<ApiResponse, StoreError> {
        let selectors = Selectors::parse(&req.query);
        let (objects, revision) = self.list_objects(r, ns, &selectors).await?;
        let mut deleted = Vec::new();
        for obj in objects {
            let key = r.key(
                ns.or(Some(meta_str(&obj, "namespace")).filter(|n| !n.is_empty())),
                meta_str(&obj, "name"),
            );
            let order = self.inner.writes.lock().await;
            if let Some((stored, deleted_at)) = self.inner.store.delete(&key).await? {
                let gone = with_version(stored);
                self.publish_deletion(&key, deleted_at, &gone);
                deleted.push(gone);
            }
            drop(order);
        }
        Ok(ApiResponse::json(
            200,
            &json!({"kind": r.list_kind(), "apiVersion": r.api_version(),
                    "metadata": {"resourceVersion": revision.to_string()}, "items": deleted}),
        ))
    }
}
