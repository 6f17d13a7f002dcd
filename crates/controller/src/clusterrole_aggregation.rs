//! The clusterrole-aggregation controller: writes into `admin`, `edit` and `view` — and into any
//! ClusterRole with an `aggregationRule` — the rules of every ClusterRole its selectors pick.
//!
//! Since Kubernetes 1.9 the three user-facing roles hold no rules of their own. Each carries an
//! `aggregationRule`: `view` picks the roles labelled `rbac.authorization.k8s.io/aggregate-to-view:
//! "true"` (`system:aggregate-to-view`, and metrics-server's `system:aggregated-metrics-reader`),
//! `edit` those labelled `aggregate-to-edit` (`system:aggregate-to-edit`, and `view`, which
//! carries that label), `admin` those labelled `aggregate-to-admin` (`system:aggregate-to-admin`
//! and `edit`). kube-apiserver stores them as its bootstrap policy has them — an
//! `aggregationRule` and `rules: null` (its `rbac/bootstrap-roles` post-start hook,
//! `pkg/registry/rbac/rest/storage_rbac.go`, reconciles `bootstrappolicy.ClusterRoles()` and never
//! fills them) — and RBAC reads only `rules`. Filling them is this controller's job, in
//! kube-controller-manager (`pkg/controller/clusterroleaggregation/
//! clusterroleaggregation_controller.go`, v1.32):
//!
//! - it watches every ClusterRole, and at any change queues every role that has an
//!   `aggregationRule` (the set is small and the dependencies unknown);
//! - for each, it walks the selectors in order; for each selector the matching ClusterRoles
//!   sorted by name, the aggregating role itself skipped; each of their rules is appended unless
//!   an equal rule is already there (`equality.Semantic`, for which an absent list and an empty
//!   one are the same);
//! - when the result differs from the stored `rules`, it writes them back. Its own write comes
//!   back as a change, so `edit` picks up what `view` just gained, then `admin`.
//!
//! So a role labelled `aggregate-to-view` extends `view` only once this controller has written
//! `view`'s rules — what `kubectl get clusterrole view -o yaml` shows — and a role deleted or
//! relabelled leaves again the same way. With the controller manager down nothing changes.
//!
//! It calls Alice as `system:serviceaccount:kube-system:clusterrole-aggregation-controller` (see
//! [`crate::credentials`]), bound to the bootstrap role
//! `system:controller:clusterrole-aggregation-controller`: get, list, watch, update and patch on
//! clusterroles, and `escalate`, since RBAC lets nobody write into a role rules they do not hold
//! themselves unless they may escalate.
//!
//! Where the lab differs: the real controller writes with server-side apply (field manager
//! `clusterrole-aggregation-controller`, forced) and falls back to an update when the server
//! answers 415; the lab's Alice has no server-side apply, so the lab's controller takes that
//! update path (a PUT carrying the resourceVersion it read; a 409 is logged and retried, as
//! upstream requeues it).

use std::collections::BTreeMap;
use std::future::Future;

use kubecorp_client::klog::{self, quote, Backoff, Severity};
use kubecorp_client::reflector::{apply, Reflector};
use kubecorp_client::ClientError;
use serde_json::Value;

use crate::workers::{self, RoundError, WorkerConfig};
use crate::workload::selects;

const CLUSTERROLES: Reflector = Reflector::new(
    "*v1.ClusterRole",
    "/apis/rbac.authorization.k8s.io/v1/clusterroles",
);

/// The controller's name: its service account.
pub const NAME: &str = "clusterrole-aggregation-controller";

/// What the controller needs (its credentials, a client with the token and no badge, the lab
/// clock and the events).
pub type ClusterRoleAggregationConfig = WorkerConfig;

/// The most passes [`aggregate`] spends settling chains of aggregating roles (admin ← edit ←
/// view is three deep); a cycle stops here instead of spinning.
const MAX_PASSES: usize = 8;

/// Keeps every aggregating ClusterRole's rules in step until `shutdown`; failures are retried,
/// never returned.
pub async fn run(config: ClusterRoleAggregationConfig, shutdown: impl Future) {
    // `Run`: `logger.Info("Starting ClusterRoleAggregator controller")`, line 194 of
    // clusterroleaggregation_controller.go at v1.32 (the typed work queue of 1.31 put it five
    // lines below the 189 of 1.29's logs); the logger is named after the controller.
    workers::announce(
        &config.client,
        &config.clock,
        &config.events,
        &config.credentials,
        "clusterroleaggregation_controller.go:194",
        "Starting ClusterRoleAggregator controller",
    );
    let mut controller = Controller {
        config,
        roles: BTreeMap::new(),
    };
    kubecorp_client::reflector::run_rounds(&mut controller, shutdown).await;
}

/// For every ClusterRole among `roles` that has an `aggregationRule`, the rules the controller
/// gives it once everything has settled; only the roles whose stored rules that changes, in the
/// order of `roles`, each with its new `rules` (`null` when it gathers none, as the update
/// writes a nil list).
pub fn aggregate(roles: &[Value]) -> Vec<(String, Value)> {
    let mut settled: Vec<Value> = roles.to_vec();
    for _ in 0..MAX_PASSES {
        let mut changed = false;
        for i in 0..settled.len() {
            let Some(selectors) = selectors(&settled[i]) else {
                continue;
            };
            let rules = gathered(&settled, name(&settled[i]), &selectors);
            if !same_rules(&settled[i]["rules"], &rules) {
                settled[i]["rules"] = rules;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    roles
        .iter()
        .zip(settled)
        .filter(|(was, now)| !same_rules(&was["rules"], &now["rules"]))
        .map(|(was, now)| (name(was).to_owned(), now["rules"].clone()))
        .collect()
}

fn name(role: &Value) -> &str {
    role["metadata"]["name"].as_str().unwrap_or_default()
}

/// The `clusterRoleSelectors` of an aggregating role; `None` for any other.
fn selectors(role: &Value) -> Option<Vec<Value>> {
    role["aggregationRule"]["clusterRoleSelectors"]
        .as_array()
        .cloned()
}

/// `metav1.LabelSelectorAsSelector` of one selector: an empty one selects every role.
fn picks(selector: &Value, labels: &Value) -> bool {
    let empty = |field: &str| match &selector[field] {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    };
    (empty("matchLabels") && empty("matchExpressions")) || selects(selector, labels)
}

/// The union, in the controller's order, of the rules of the roles the selectors pick.
fn gathered(roles: &[Value], own: &str, selectors: &[Value]) -> Value {
    let mut out: Vec<Value> = Vec::new();
    for selector in selectors {
        let mut matching: Vec<&Value> = roles
            .iter()
            .filter(|r| name(r) != own && picks(selector, &r["metadata"]["labels"]))
            .collect();
        matching.sort_by(|a, b| name(a).cmp(name(b)));
        for rule in matching
            .into_iter()
            .filter_map(|r| r["rules"].as_array())
            .flatten()
        {
            if !out.iter().any(|have| same_rule(have, rule)) {
                out.push(rule.clone());
            }
        }
    }
    match out.is_empty() {
        true => Value::Null,
        false => Value::Array(out),
    }
}

/// `equality.Semantic.DeepEqual` of two rule lists: an absent list and an empty one are equal.
fn same_rules(a: &Value, b: &Value) -> bool {
    let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
    let (a, b) = (list(a), list(b));
    a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| same_rule(x, y))
}

/// Two PolicyRules are equal when every field is, an absent list counting as an empty one.
fn same_rule(a: &Value, b: &Value) -> bool {
    const FIELDS: [&str; 5] = [
        "verbs",
        "apiGroups",
        "resources",
        "resourceNames",
        "nonResourceURLs",
    ];
    let list = |v: &Value, k: &str| v[k].as_array().cloned().unwrap_or_default();
    FIELDS.iter().all(|k| list(a, k) == list(b, k))
}

struct Controller {
    config: ClusterRoleAggregationConfig,
    /// Every ClusterRole, by name.
    roles: BTreeMap<String, Value>,
}

impl kubecorp_client::reflector::Rounds for Controller {
    type Error = RoundError;

    fn round(
        &mut self,
        backoff: &mut Backoff,
    ) -> impl Future<Output = Result<(), RoundError>> + Send {
        Controller::round(self, backoff)
    }

    fn report(&mut self, error: &RoundError) {
        Controller::report(self, error)
    }
}

impl Controller {
    async fn round(&mut self, backoff: &mut Backoff) -> Result<(), RoundError> {
        let credentials = self.config.credentials.clone();
        credentials.ensure().await.map_err(RoundError::Token)?;
        let client = self.config.client.clone();
        let (roles, rv) = CLUSTERROLES
            .list(&client)
            .await
            .map_err(RoundError::Reflector)?;
        self.roles = roles;
        backoff.reset();
        self.sync_all().await?;
        let mut watch = CLUSTERROLES
            .watch(&client, &rv)
            .await
            .map_err(RoundError::Reflector)?;
        loop {
            let changed = match watch.next().await {
                Some(Ok(e)) => apply(&mut self.roles, &e.kind, e.object),
                _ => return Ok(()),
            };
            if changed {
                credentials.ensure().await.map_err(RoundError::Token)?;
                self.sync_all().await?;
            }
        }
    }

    /// Writes every aggregating role whose rules are behind.
    async fn sync_all(&mut self) -> Result<(), RoundError> {
        let roles: Vec<Value> = self.roles.values().cloned().collect();
        for (name, rules) in aggregate(&roles) {
            self.write(&name, rules)
                .await
                .map_err(|error| RoundError::Sync { what: name, error })
                .inspect_err(|e| workers::forget_on_401(&self.config.credentials, e))?;
        }
        Ok(())
    }

    async fn write(&mut self, name: &str, rules: Value) -> Result<(), ClientError> {
        let Some(current) = self.roles.get(name) else {
            return Ok(());
        };
        let mut next = current.clone();
        next["rules"] = rules;
        let count = next["rules"].as_array().map_or(0, Vec::len);
        let path = format!("{}/{name}", CLUSTERROLES.path);
        let written = self.config.client.replace(&path, &next).await?;
        self.roles.insert(name.to_owned(), written);
        let c = &self.config;
        c.events.emit(
            klog::allowed_call(&c.client, c.clock.now())
                .explanation(format!(
                    "The clusterrole-aggregation controller keeps every ClusterRole with an aggregationRule equal to the union of the rules of the ClusterRoles its selectors pick (sorted by name, each rule once), and writes that union into the stored role, where RBAC reads it: a ClusterRole labelled rbac.authorization.k8s.io/aggregate-to-view: \"true\" extends view, and through view's own aggregate-to-edit label edit and then admin. It calls Alice as {}.",
                    c.credentials.user()
                ))
                .detail(format!("clusterrole {name}: {count} rules gathered by its aggregationRule (as {})", c.credentials.user())),
        );
        Ok(())
    }

    fn report(&self, error: &RoundError) {
        let c = &self.config;
        let RoundError::Sync { what, error } = error else {
            return workers::report(&c.client, &c.clock, &c.events, &c.credentials, error);
        };
        let at = c.clock.now();
        let path = format!("{}/{what}", CLUSTERROLES.path);
        let go = klog::go_error(&c.client, "Put", &path, error);
        // processNextWorkItem's `utilruntime.HandleError(fmt.Errorf("%v failed with : %v",
        // dsKey, err))`, line 226 of clusterroleaggregation_controller.go at v1.32.
        let log = klog::line(
            Severity::Error,
            at,
            "clusterroleaggregation_controller.go:226",
            &format!(
                "\"Unhandled Error\" err={} logger=\"UnhandledError\"",
                quote(&format!("{what} failed with : {go}"))
            ),
        );
        c.events.emit(
            klog::failed_call(&c.client, at, workers::TOKEN_BADGE, error)
                .client_text(go)
                .caller_log(log)
                .detail(format!(
                    "aggregating clusterrole {what} as {} failed: {error}",
                    c.credentials.user()
                )),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn role(name: &str, labels: Value, rules: Value) -> Value {
        json!({"metadata": {"name": name, "labels": labels}, "rules": rules})
    }

    fn aggregating(name: &str, label: &str, own_labels: Value) -> Value {
        json!({"metadata": {"name": name, "labels": own_labels},
               "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {label: "true"}}]},
               "rules": null})
    }

    fn r(resource: &str) -> Value {
        json!({"verbs": ["get"], "apiGroups": [""], "resources": [resource]})
    }

    #[test]
    fn a_chain_of_aggregating_roles_settles_with_each_rule_once_in_name_order() {
        let roles = vec![
            aggregating("admin", "to-admin", json!({})),
            aggregating("edit", "to-edit", json!({"to-admin": "true"})),
            aggregating("view", "to-view", json!({"to-edit": "true"})),
            role("b-view", json!({"to-view": "true"}), json!([r("pods")])),
            role(
                "a-view",
                json!({"to-view": "true"}),
                json!([r("configmaps"), r("pods")]),
            ),
            role("a-edit", json!({"to-edit": "true"}), json!([r("secrets")])),
            role("unlabelled", json!({}), json!([r("nodes")])),
        ];
        let wide = json!([r("secrets"), r("configmaps"), r("pods")]);
        assert_eq!(
            aggregate(&roles),
            [
                ("admin".to_owned(), wide.clone()),
                ("edit".to_owned(), wide),
                ("view".to_owned(), json!([r("configmaps"), r("pods")])),
            ]
        );
    }

    #[test]
    fn settled_roles_are_left_alone_and_an_emptied_one_goes_back_to_null() {
        let mut view = aggregating("view", "to-view", json!({}));
        view["rules"] = json!([r("pods")]);
        let reader = role("reader", json!({"to-view": "true"}), json!([r("pods")]));
        assert!(aggregate(&[view.clone(), reader]).is_empty());
        // An empty list and no list are the same to the controller: nothing to write.
        let mut listed = aggregating("empty", "nobody", json!({}));
        listed["rules"] = json!([]);
        assert!(aggregate(&[listed]).is_empty());
        assert_eq!(aggregate(&[view]), [("view".to_owned(), Value::Null)]);
    }

    #[test]
    fn an_empty_selector_picks_every_other_role_as_label_selector_as_selector_does() {
        let all = json!({"metadata": {"name": "all"},
                         "aggregationRule": {"clusterRoleSelectors": [{}]}, "rules": null});
        let other = role("other", json!({}), json!([r("nodes")]));
        assert_eq!(
            aggregate(&[all, other]),
            [("all".to_owned(), json!([r("nodes")]))]
        );
    }
}
