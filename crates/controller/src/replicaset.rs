//! The replicaset controller: keeps as many pods as a ReplicaSet asks for.
//!
//! It lists and watches ReplicaSets and pods. For each ReplicaSet it counts the active pods it
//! controls (its uid in their `ownerReferences`, `controller: true`); too few, and it creates
//! pods from `spec.template` (`generateName: <replicaset>-`, so Alice adds five characters);
//! too many, and it deletes the least settled ones first (unscheduled, then not running, then
//! not ready, then the newest), as `pkg/controller/replicaset/replica_set.go` ranks them. Then
//! it writes `status` through `/status`: `replicas`, `fullyLabeledReplicas`, `readyReplicas`,
//! `availableReplicas` (ready for `minReadySeconds` on the lab clock) and `observedGeneration`.
//! Each pod made or deleted is recorded as a Kubernetes Event (`SuccessfulCreate`, `Created pod:
//! web-…`) and told on the lab's event stream.
//!
//! It calls Alice as `system:serviceaccount:kube-system:replicaset-controller` (see
//! [`crate::credentials`]). The real controller also adopts orphan pods that match its selector
//! and releases pods that stop matching; the lab's only counts the pods it made.

use std::collections::BTreeMap;
use std::future::Future;

use kubecorp_client::reflector::Reflector;
use kubecorp_client::ClientError;
use serde_json::{json, Value};

use crate::owners::{self, Owners};
use crate::workers::WorkerConfig;
use crate::workload::{self, active, controller_uid, ready, replicas};

const REPLICASETS: Reflector = Reflector {
    kind: "*v1.ReplicaSet",
    path: "/apis/apps/v1/replicasets",
};
const PODS: Reflector = Reflector {
    kind: "*v1.Pod",
    path: "/api/v1/pods",
};

/// The controller's name: its service account and its Events' source.
pub const NAME: &str = "replicaset-controller";

/// What the controller needs (its credentials, a client with the token and no badge, the
/// lab clock and the events).
pub type ReplicaSetControllerConfig = WorkerConfig;

/// Keeps pods in step with ReplicaSets until `shutdown`; failures are retried, never returned.
pub async fn run(config: ReplicaSetControllerConfig, shutdown: impl Future) {
    let controller = Controller {
        config,
        replicasets: BTreeMap::new(),
        pods: BTreeMap::new(),
    };
    owners::run(controller, shutdown).await;
}

struct Controller {
    config: ReplicaSetControllerConfig,
    replicasets: BTreeMap<String, Value>,
    pods: BTreeMap<String, Value>,
}

impl Owners for Controller {
    const OWNERS: Reflector = REPLICASETS;
    const OWNED: Reflector = PODS;
    const KIND: &'static str = "replicaset";
    const NAME: &'static str = NAME;
    const STARTED: (&'static str, &'static str) =
        ("replica_set.go:220", "Starting replicaset controller");
    const JOB: &'static str =
        "The replicaset controller keeps as many pods as each ReplicaSet asks for";

    fn config(&self) -> &WorkerConfig {
        &self.config
    }

    fn caches(&mut self) -> (&mut BTreeMap<String, Value>, &mut BTreeMap<String, Value>) {
        (&mut self.replicasets, &mut self.pods)
    }

    fn sync(&mut self, key: &str) -> impl Future<Output = Result<(), ClientError>> + Send {
        Controller::sync(self, key)
    }
}

impl Controller {
    /// The active pods `rs` controls, by key.
    fn owned(&self, rs: &Value) -> Vec<(String, Value)> {
        let uid = rs["metadata"]["uid"].as_str();
        self.pods
            .iter()
            .filter(|(_, p)| controller_uid(p) == uid && uid.is_some() && active(p))
            .map(|(k, p)| (k.clone(), p.clone()))
            .collect()
    }

    async fn sync(&mut self, key: &str) -> Result<(), ClientError> {
        let Some(rs) = self.replicasets.get(key).cloned() else {
            return Ok(());
        };
        if !rs["metadata"]["deletionTimestamp"].is_null() {
            return Ok(());
        }
        let namespace = rs["metadata"]["namespace"].as_str().unwrap_or("default");
        let owned = self.owned(&rs);
        let want = usize::try_from(replicas(&rs).max(0)).unwrap_or(0);
        if owned.len() < want {
            for _ in owned.len()..want {
                self.create_pod(&rs, namespace).await?;
            }
        } else if owned.len() > want {
            let mut victims = owned.clone();
            victims.sort_by_key(|(_, p)| deletion_rank(p));
            for (pod_key, pod) in victims.into_iter().take(owned.len() - want) {
                self.delete_pod(&rs, &pod_key, &pod).await?;
            }
        }
        self.write_status(key, &rs).await
    }

    async fn create_pod(&mut self, rs: &Value, namespace: &str) -> Result<(), ClientError> {
        let name = rs["metadata"]["name"].as_str().unwrap_or_default();
        let template = &rs["spec"]["template"];
        let mut metadata = json!({
            "generateName": format!("{name}-"),
            "namespace": namespace,
            "ownerReferences": [workload::controller_ref(rs, "ReplicaSet")],
        });
        for field in ["labels", "annotations"] {
            if template["metadata"][field].is_object() {
                metadata[field] = template["metadata"][field].clone();
            }
        }
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
                         "spec": template["spec"]});
        let client = &self.config.client;
        let created = client
            .create(&format!("/api/v1/namespaces/{namespace}/pods"), &pod)
            .await?;
        let pod_name = created["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        self.pods
            .insert(kubecorp_client::reflector::key(&created), created);
        let message = format!("Created pod: {pod_name}");
        owners::did(self, rs, "SuccessfulCreate", &message).await;
        Ok(())
    }

    async fn delete_pod(&mut self, rs: &Value, key: &str, pod: &Value) -> Result<(), ClientError> {
        let namespace = rs["metadata"]["namespace"].as_str().unwrap_or("default");
        let pod_name = pod["metadata"]["name"].as_str().unwrap_or_default();
        let client = &self.config.client;
        match client
            .delete(&format!("/api/v1/namespaces/{namespace}/pods/{pod_name}"))
            .await
        {
            Ok(_) => {}
            Err(e) if e.code() == Some(404) => {}
            Err(e) => return Err(e),
        }
        self.pods.remove(key);
        let message = format!("Deleted pod: {pod_name}");
        owners::did(self, rs, "SuccessfulDelete", &message).await;
        Ok(())
    }

    /// `status` as the pods stand, written through `/status` when it changed.
    async fn write_status(&mut self, key: &str, rs: &Value) -> Result<(), ClientError> {
        let owned = self.owned(rs);
        let now = self.config.clock.now();
        let min_ready = rs["spec"]["minReadySeconds"].as_i64().unwrap_or(0);
        let template_labels = &rs["spec"]["template"]["metadata"]["labels"];
        let count = |keep: &dyn Fn(&Value) -> bool| owned.iter().filter(|(_, p)| keep(p)).count();
        let ready_count = count(&ready);
        let available = count(&|p: &Value| ready(p) && ready_for(p, now) >= min_ready);
        let labelled = count(&|p: &Value| {
            template_labels
                .as_object()
                .into_iter()
                .flatten()
                .all(|(k, v)| p["metadata"]["labels"][k] == *v)
        });
        let mut status = json!({
            "replicas": owned.len(),
            "fullyLabeledReplicas": labelled,
            "readyReplicas": ready_count,
            "availableReplicas": available,
            "observedGeneration": rs["metadata"]["generation"].as_i64().unwrap_or(1),
        });
        // Go's omitempty drops the zero counts; `replicas` is always written.
        if let Some(map) = status.as_object_mut() {
            map.retain(|k, v| k == "replicas" || v.as_i64() != Some(0));
        }
        if rs["status"] == status {
            return Ok(());
        }
        let mut next = rs.clone();
        next["status"] = status;
        let namespace = rs["metadata"]["namespace"].as_str().unwrap_or("default");
        let name = rs["metadata"]["name"].as_str().unwrap_or_default();
        let path = format!("/apis/apps/v1/namespaces/{namespace}/replicasets/{name}/status");
        let written = match self.config.client.replace(&path, &next).await {
            // The deployment controller changed the spec meanwhile: the next event brings it.
            Err(e) if e.code() == Some(409) => return Ok(()),
            Err(e) if e.code() == Some(404) => return Ok(()),
            other => other?,
        };
        self.replicasets.insert(key.to_owned(), written);
        Ok(())
    }
}

/// How long a pod has been Ready, in seconds on the lab clock.
fn ready_for(pod: &Value, now: time::OffsetDateTime) -> i64 {
    pod["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .and_then(|c| c["lastTransitionTime"].as_str())
        .and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        })
        .map_or(i64::MAX, |since| (now - since).whole_seconds())
}

/// Which pods go first when there are too many (`ActivePodsWithRanks`, simplified): not yet
/// on a node, then not running, then not ready, then the newest.
fn deletion_rank(pod: &Value) -> (bool, bool, bool, std::cmp::Reverse<String>) {
    (
        pod["spec"]["nodeName"].is_string(),
        pod["status"]["phase"] == "Running",
        ready(pod),
        std::cmp::Reverse(
            pod["metadata"]["creationTimestamp"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        ),
    )
}
