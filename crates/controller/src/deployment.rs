//! The deployment controller: turns a Deployment into a ReplicaSet, and the ReplicaSets'
//! progress into the Deployment's status that `kubectl rollout status` reads.
//!
//! For each Deployment it works out the pod-template-hash of `spec.template` and looks among
//! the ReplicaSets it controls for the one whose template is the Deployment's (the hash label
//! set aside). With none, it creates `<deployment>-<hash>`: the template's labels plus
//! `pod-template-hash` on the ReplicaSet, its selector and its template, an owner reference to
//! the Deployment (`controller: true`), the annotation `deployment.kubernetes.io/revision`, and
//! records `ScalingReplicaSet` — `Scaled up replica set web-… from 0 to 3`. When
//! `spec.replicas` changes (`kubectl scale`), it scales that ReplicaSet (`from 3 to 5`); older
//! ReplicaSets are scaled to 0.
//!
//! Then it writes the status through `/status` (`pkg/controller/deployment/sync.go`,
//! `calculateStatus`; the condition texts from `pkg/controller/deployment/util/
//! deployment_util.go`, v1.32): `replicas`, `updatedReplicas`, `readyReplicas`,
//! `availableReplicas`, `unavailableReplicas`, `observedGeneration`, and two conditions:
//!
//! - `Available`: `True`/`MinimumReplicasAvailable` ("Deployment has minimum availability.")
//!   once at least `replicas - maxUnavailable` pods are available, else `False`/
//!   `MinimumReplicasUnavailable`;
//! - `Progressing`: `NewReplicaSetCreated` when it made the ReplicaSet, `ReplicaSetUpdated`
//!   while pods come up, and `NewReplicaSetAvailable` ("ReplicaSet \"web-…\" has successfully
//!   progressed.") once every replica is updated and available.
//!
//! `kubectl rollout status` waits until `observedGeneration` has caught up with the
//! generation and the updated replicas are all available, then prints `deployment "web"
//! successfully rolled out`.
//!
//! It calls Alice as `system:serviceaccount:kube-system:deployment-controller` (see
//! [`crate::credentials`]). Where the real controller differs: a changed template is rolled
//! out step by step within `maxSurge`/`maxUnavailable`, and a rollout that makes no progress
//! for `progressDeadlineSeconds` gets `ProgressDeadlineExceeded`; the lab's scales the old
//! ReplicaSets to 0 at once and sets no deadline.

use std::collections::BTreeMap;
use std::future::Future;

use kubecorp_client::reflector::{key, Reflector};
use kubecorp_client::ClientError;
use serde_json::{json, Value};

use crate::owners::{self, Owners};
use crate::workers::WorkerConfig;
use crate::workload::{self, controller_uid, replicas, POD_TEMPLATE_HASH, REVISION};

const DEPLOYMENTS: Reflector = Reflector {
    kind: "*v1.Deployment",
    path: "/apis/apps/v1/deployments",
};
const REPLICASETS: Reflector = Reflector {
    kind: "*v1.ReplicaSet",
    path: "/apis/apps/v1/replicasets",
};

/// The controller's name: its service account and its Events' source.
pub const NAME: &str = "deployment-controller";

/// What the controller needs (its credentials, a client with the token and no badge, the
/// lab clock and the events).
pub type DeploymentControllerConfig = WorkerConfig;

/// Keeps ReplicaSets and status in step with Deployments until `shutdown`.
pub async fn run(config: DeploymentControllerConfig, shutdown: impl Future) {
    let controller = Controller {
        config,
        deployments: BTreeMap::new(),
        replicasets: BTreeMap::new(),
    };
    owners::run(controller, shutdown).await;
}

struct Controller {
    config: DeploymentControllerConfig,
    deployments: BTreeMap<String, Value>,
    replicasets: BTreeMap<String, Value>,
}

impl Owners for Controller {
    const OWNERS: Reflector = DEPLOYMENTS;
    const OWNED: Reflector = REPLICASETS;
    const KIND: &'static str = "deployment";
    const NAME: &'static str = NAME;
    const STARTED: (&'static str, &'static str) =
        ("deployment_controller.go:168", "Starting controller");
    const JOB: &'static str = "The deployment controller keeps one ReplicaSet per pod template and scales it to the Deployment's replicas";

    fn config(&self) -> &WorkerConfig {
        &self.config
    }

    fn caches(&mut self) -> (&mut BTreeMap<String, Value>, &mut BTreeMap<String, Value>) {
        (&mut self.deployments, &mut self.replicasets)
    }

    fn sync(&mut self, key: &str) -> impl Future<Output = Result<(), ClientError>> + Send {
        Controller::sync(self, key)
    }
}

impl Controller {
    /// The ReplicaSets `d` controls, by key.
    fn owned(&self, d: &Value) -> Vec<(String, Value)> {
        let uid = d["metadata"]["uid"].as_str();
        self.replicasets
            .iter()
            .filter(|(_, rs)| uid.is_some() && controller_uid(rs) == uid)
            .map(|(k, rs)| (k.clone(), rs.clone()))
            .collect()
    }

    async fn sync(&mut self, k: &str) -> Result<(), ClientError> {
        let Some(d) = self.deployments.get(k).cloned() else {
            return Ok(());
        };
        if !d["metadata"]["deletionTimestamp"].is_null() || d["spec"]["paused"] == true {
            return Ok(());
        }
        let template = workload::without_hash(&d["spec"]["template"]);
        let owned = self.owned(&d);
        let want = replicas(&d);
        let mut created = None;
        let current = owned
            .iter()
            .find(|(_, rs)| workload::without_hash(&rs["spec"]["template"]) == template)
            .map(|(k, _)| k.clone());
        let new_key = match current {
            Some(k) => k,
            None => {
                let rs = self.create_replicaset(&d, &owned).await?;
                created = rs["metadata"]["name"].as_str().map(str::to_owned);
                key(&rs)
            }
        };
        for (rs_key, rs) in &owned {
            let target = if *rs_key == new_key { want } else { 0 };
            if replicas(rs) != target {
                self.scale(&d, rs_key, rs, target).await?;
            }
        }
        self.write_status(k, &d, &new_key, created).await
    }

    async fn create_replicaset(
        &mut self,
        d: &Value,
        owned: &[(String, Value)],
    ) -> Result<Value, ClientError> {
        let meta = &d["metadata"];
        let namespace = meta["namespace"].as_str().unwrap_or("default");
        let name = meta["name"].as_str().unwrap_or_default();
        let collisions = d["status"]["collisionCount"]
            .as_u64()
            .and_then(|c| u32::try_from(c).ok());
        let hash = workload::template_hash(&d["spec"]["template"], collisions);
        let revision = owned
            .iter()
            .filter_map(|(_, rs)| {
                rs["metadata"]["annotations"][REVISION]
                    .as_str()?
                    .parse()
                    .ok()
            })
            .max()
            .unwrap_or(0u64)
            + 1;
        let want = replicas(d);
        let mut template = d["spec"]["template"].clone();
        template["metadata"]["labels"][POD_TEMPLATE_HASH] = json!(hash);
        let labels = template["metadata"]["labels"].clone();
        let mut selector = d["spec"]["selector"].clone();
        selector["matchLabels"][POD_TEMPLATE_HASH] = json!(hash);
        let rs = json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {
                "name": format!("{name}-{hash}"), "namespace": namespace, "labels": labels,
                "annotations": {
                    "deployment.kubernetes.io/desired-replicas": want.to_string(),
                    "deployment.kubernetes.io/max-replicas": max_replicas(d, want).to_string(),
                    REVISION: revision.to_string(),
                },
                "ownerReferences": [workload::controller_ref(d, "Deployment")],
            },
            "spec": {"replicas": want, "minReadySeconds": d["spec"]["minReadySeconds"].as_i64().unwrap_or(0),
                     "selector": selector, "template": template},
        });
        let client = &self.config.client;
        let created = client
            .create(
                &format!("/apis/apps/v1/namespaces/{namespace}/replicasets"),
                &rs,
            )
            .await?;
        let rs_name = created["metadata"]["name"].as_str().unwrap_or_default();
        let message = format!("Scaled up replica set {rs_name} from 0 to {want}");
        owners::did(self, d, "ScalingReplicaSet", &message).await;
        self.replicasets.insert(key(&created), created.clone());
        Ok(created)
    }

    async fn scale(
        &mut self,
        d: &Value,
        rs_key: &str,
        rs: &Value,
        target: i64,
    ) -> Result<(), ClientError> {
        let from = replicas(rs);
        let mut next = rs.clone();
        next["spec"]["replicas"] = json!(target);
        next["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] =
            json!(replicas(d).to_string());
        next["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] =
            json!(max_replicas(d, replicas(d)).to_string());
        let namespace = rs["metadata"]["namespace"].as_str().unwrap_or("default");
        let name = rs["metadata"]["name"].as_str().unwrap_or_default();
        let client = &self.config.client;
        let path = format!("/apis/apps/v1/namespaces/{namespace}/replicasets/{name}");
        let written = match client.replace(&path, &next).await {
            // The replicaset controller wrote its status meanwhile: read it again, once.
            Err(e) if e.code() == Some(409) => {
                let mut fresh = client.get(&path).await?;
                fresh["spec"]["replicas"] = json!(target);
                fresh["metadata"]["annotations"] = next["metadata"]["annotations"].clone();
                client.replace(&path, &fresh).await?
            }
            other => other?,
        };
        self.replicasets.insert(rs_key.to_owned(), written);
        let way = if target > from { "up" } else { "down" };
        let message = format!("Scaled {way} replica set {name} from {from} to {target}");
        owners::did(self, d, "ScalingReplicaSet", &message).await;
        Ok(())
    }

    async fn write_status(
        &mut self,
        k: &str,
        d: &Value,
        new_key: &str,
        created: Option<String>,
    ) -> Result<(), ClientError> {
        let owned = self.owned(d);
        let sum = |field: &str| -> i64 {
            owned
                .iter()
                .map(|(_, rs)| rs["status"][field].as_i64().unwrap_or(0))
                .sum()
        };
        let new_rs = self.replicasets.get(new_key);
        let new_name = new_rs
            .and_then(|rs| rs["metadata"]["name"].as_str())
            .unwrap_or_default()
            .to_owned();
        let updated = new_rs.map_or(0, |rs| rs["status"]["replicas"].as_i64().unwrap_or(0));
        let want = replicas(d);
        let (total, ready, available) = (
            sum("replicas"),
            sum("readyReplicas"),
            sum("availableReplicas"),
        );
        let generation = d["metadata"]["generation"].as_i64().unwrap_or(1);
        let mut status = json!({
            "observedGeneration": generation,
            "replicas": total,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
            "unavailableReplicas": (want - available).max(0),
        });
        if let Some(map) = status.as_object_mut() {
            map.retain(|k, v| k == "observedGeneration" || v.as_i64() != Some(0));
        }
        if let Some(count) = d["status"].get("collisionCount") {
            status["collisionCount"] = count.clone();
        }
        let mut conditions = d["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let now = kubecorp_trust::gotime::rfc3339(self.config.clock.now());
        let minimum = want - max_unavailable(d, want);
        let (status_word, reason, message) = if available >= minimum {
            (
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            )
        } else {
            (
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        };
        set_condition(
            &mut conditions,
            "Available",
            status_word,
            reason,
            message,
            &now,
        );
        let complete = updated == want && total == want && available == want;
        let (reason, message) = match (&created, complete) {
            (Some(name), _) => (
                "NewReplicaSetCreated",
                format!("Created new replica set \"{name}\""),
            ),
            (None, true) => (
                "NewReplicaSetAvailable",
                format!("ReplicaSet \"{new_name}\" has successfully progressed."),
            ),
            (None, false) => (
                "ReplicaSetUpdated",
                format!("ReplicaSet \"{new_name}\" is progressing."),
            ),
        };
        set_condition(
            &mut conditions,
            "Progressing",
            "True",
            reason,
            &message,
            &now,
        );
        status["conditions"] = json!(conditions);
        if d["status"] == status {
            return Ok(());
        }
        let mut next = d.clone();
        next["status"] = status;
        let namespace = d["metadata"]["namespace"].as_str().unwrap_or("default");
        let name = d["metadata"]["name"].as_str().unwrap_or_default();
        let path = format!("/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status");
        let written = match self.config.client.replace(&path, &next).await {
            // Scaled meanwhile: the watch brings the new generation, and another sync.
            Err(e) if matches!(e.code(), Some(409) | Some(404)) => return Ok(()),
            other => other?,
        };
        self.deployments.insert(k.to_owned(), written);
        Ok(())
    }
}

/// A RollingUpdate's `maxSurge` or `maxUnavailable` as a number of pods: an integer, or a
/// percentage of `replicas` rounded up (surge) or down (unavailable). Recreate allows none.
fn resolve(d: &Value, field: &str, want: i64, round_up: bool) -> i64 {
    if d["spec"]["strategy"]["type"] == "Recreate" {
        return 0;
    }
    let value = &d["spec"]["strategy"]["rollingUpdate"][field];
    if let Some(n) = value.as_i64() {
        return n;
    }
    let percent = value
        .as_str()
        .and_then(|s| s.strip_suffix('%'))
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(25);
    match round_up {
        true => (want * percent + 99) / 100,
        false => want * percent / 100,
    }
}

fn max_unavailable(d: &Value, want: i64) -> i64 {
    let surge = resolve(d, "maxSurge", want, true);
    let unavailable = resolve(d, "maxUnavailable", want, false);
    // `ResolveFenceposts`: both zero would stall a rollout, so one pod may be unavailable.
    if surge == 0 && unavailable == 0 {
        return 1.min(want);
    }
    unavailable.min(want)
}

fn max_replicas(d: &Value, want: i64) -> i64 {
    want + resolve(d, "maxSurge", want, true)
}

/// `SetDeploymentCondition`: an unchanged status and reason keeps the condition; a changed
/// reason keeps its `lastTransitionTime` unless the status changed; the condition moves last.
fn set_condition(
    conditions: &mut Vec<Value>,
    kind: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: &str,
) {
    let existing = conditions.iter().position(|c| c["type"] == kind);
    let mut transition = now.to_owned();
    if let Some(i) = existing {
        let c = &conditions[i];
        if c["status"] == status && c["reason"] == reason {
            return;
        }
        if c["status"] == status {
            transition = c["lastTransitionTime"].as_str().unwrap_or(now).to_owned();
        }
        conditions.remove(i);
    }
    conditions.push(
        json!({"type": kind, "status": status, "lastUpdateTime": now,
                           "lastTransitionTime": transition, "reason": reason, "message": message}),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quarter_of_three_rounds_down_for_unavailable_and_up_for_surge() {
        let d = json!({"spec": {"strategy": {"type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}}});
        assert_eq!(max_unavailable(&d, 3), 0);
        assert_eq!(max_replicas(&d, 3), 4);
        assert_eq!(max_unavailable(&d, 5), 1);
    }

    #[test]
    fn a_condition_with_the_same_status_and_reason_is_left_as_it_was() {
        let mut conditions = Vec::new();
        set_condition(
            &mut conditions,
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "m",
            "t1",
        );
        set_condition(
            &mut conditions,
            "Progressing",
            "True",
            "NewReplicaSetCreated",
            "m",
            "t1",
        );
        set_condition(
            &mut conditions,
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "m",
            "t2",
        );
        assert_eq!(conditions[0]["lastUpdateTime"], "t1");
        set_condition(
            &mut conditions,
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            "done",
            "t3",
        );
        let progressing = &conditions[1];
        assert_eq!(progressing["reason"], "NewReplicaSetAvailable");
        assert_eq!(
            progressing["lastTransitionTime"], "t1",
            "the status stayed True"
        );
        assert_eq!(progressing["lastUpdateTime"], "t3");
    }
}
