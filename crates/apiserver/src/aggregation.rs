//! ClusterRole aggregation: how `admin`, `edit` and `view` get their rules.
//!
//! Since Kubernetes 1.9 the three user-facing roles hold no rules of their own. Each carries an
//! `aggregationRule` with label selectors, and kube-controller-manager's
//! clusterrole-aggregation controller (`pkg/controller/clusterroleaggregation`, v1.32) writes
//! into `rules` every rule of every ClusterRole those selectors match: `view` gathers the roles
//! labelled `rbac.authorization.k8s.io/aggregate-to-view: "true"` (`system:aggregate-to-view`),
//! `edit` gathers `aggregate-to-edit` (`system:aggregate-to-edit`, and `view`, which carries that
//! label too), and `admin` gathers `aggregate-to-admin` (`system:aggregate-to-admin` and `edit`).
//! That is why labelling a CustomResourceDefinition's role `aggregate-to-view` lets every viewer
//! read the new kind.
//!
//! The controller's order is kept: for each selector, the matching roles sorted by name (the
//! aggregating role itself skipped), and each rule appended unless an equal rule is already
//! there. Roles that aggregate aggregating roles settle after a few rounds, as the controller's
//! requeues do.

use serde_json::{Map, Value};

use crate::meta::meta_str;

/// The most rounds the lab spends settling chains of aggregating roles (admin ← edit ← view is
/// three deep; a cycle stops here instead of spinning).
const MAX_ROUNDS: usize = 8;

/// Fills the `rules` of every ClusterRole in `roles` that has an `aggregationRule`, as the
/// aggregation controller does. Other objects are left alone.
pub fn aggregate(roles: &mut [Value]) {
    for _ in 0..MAX_ROUNDS {
        let mut changed = false;
        for i in 0..roles.len() {
            let Some(selectors) = selectors(&roles[i]) else {
                continue;
            };
            let rules = gathered_rules(roles, meta_str(&roles[i], "name"), &selectors);
            let rules = Value::Array(rules);
            if roles[i].get("rules") != Some(&rules) {
                roles[i]["rules"] = rules;
                changed = true;
            }
        }
        if !changed {
            return;
        }
    }
}

/// The `clusterRoleSelectors` of an aggregating ClusterRole; `None` for any other object.
fn selectors(role: &Value) -> Option<Vec<Value>> {
    if role.get("kind").and_then(Value::as_str) != Some("ClusterRole") {
        return None;
    }
    role.get("aggregationRule")?
        .get("clusterRoleSelectors")?
        .as_array()
        .cloned()
}

fn gathered_rules(roles: &[Value], own_name: &str, selectors: &[Value]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for selector in selectors {
        let mut matching: Vec<&Value> = roles
            .iter()
            .filter(|r| r.get("kind").and_then(Value::as_str) == Some("ClusterRole"))
            .filter(|r| meta_str(r, "name") != own_name)
            .filter(|r| selector_matches(selector, labels(r)))
            .collect();
        matching.sort_by(|a, b| meta_str(a, "name").cmp(meta_str(b, "name")));
        for role in matching {
            for rule in role
                .get("rules")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if !out.iter().any(|have| same_rule(have, rule)) {
                    out.push(rule.clone());
                }
            }
        }
    }
    out
}

fn labels(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata")?.get("labels")?.as_object()
}

/// A metav1.LabelSelector: every `matchLabels` pair and every `matchExpressions` requirement
/// must hold. An empty selector matches nothing here, as the controller's selectors are never
/// empty and an empty one would sweep every role in.
pub fn selector_matches(selector: &Value, labels: Option<&Map<String, Value>>) -> bool {
    let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    let match_labels = selector.get("matchLabels").and_then(Value::as_object);
    let expressions = selector.get("matchExpressions").and_then(Value::as_array);
    if match_labels.is_none_or(Map::is_empty) && expressions.is_none_or(Vec::is_empty) {
        return false;
    }
    let labels_ok = match_labels
        .into_iter()
        .flatten()
        .all(|(k, v)| get(k).is_some() && get(k) == v.as_str());
    let expressions_ok = expressions.into_iter().flatten().all(|e| {
        let key = e.get("key").and_then(Value::as_str).unwrap_or("");
        let values: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        match e.get("operator").and_then(Value::as_str) {
            Some("In") => get(key).is_some_and(|v| values.contains(&v)),
            Some("NotIn") => get(key).is_none_or(|v| !values.contains(&v)),
            Some("Exists") => get(key).is_some(),
            Some("DoesNotExist") => get(key).is_none(),
            _ => false,
        }
    });
    labels_ok && expressions_ok
}

/// Two PolicyRules are the same rule when every field is equal, an absent list counting as an
/// empty one (the controller compares the Go structs, where nil and empty look alike).
fn same_rule(a: &Value, b: &Value) -> bool {
    const FIELDS: [&str; 5] = [
        "verbs",
        "apiGroups",
        "resources",
        "resourceNames",
        "nonResourceURLs",
    ];
    let list = |v: &Value, k: &str| -> Vec<Value> {
        v.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    FIELDS.iter().all(|k| list(a, k) == list(b, k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn role(name: &str, labels: Value, rules: Value) -> Value {
        json!({"kind": "ClusterRole", "metadata": {"name": name, "labels": labels}, "rules": rules})
    }

    fn aggregating(name: &str, label: &str, own_labels: Value) -> Value {
        json!({"kind": "ClusterRole", "metadata": {"name": name, "labels": own_labels},
               "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {label: "true"}}]},
               "rules": null})
    }

    #[test]
    fn a_chain_of_aggregating_roles_settles_with_each_rule_once_in_name_order() {
        let r = |res: &str| json!({"verbs": ["get"], "apiGroups": [""], "resources": [res]});
        let mut roles = vec![
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
        aggregate(&mut roles);
        assert_eq!(roles[2]["rules"], json!([r("configmaps"), r("pods")]));
        assert_eq!(
            roles[1]["rules"],
            json!([r("secrets"), r("configmaps"), r("pods")])
        );
        assert_eq!(
            roles[0]["rules"],
            json!([r("secrets"), r("configmaps"), r("pods")])
        );
    }

    #[test]
    fn match_expressions_are_read_as_kubernetes_reads_them() {
        let labels = json!({"tier": "web", "team": "a"});
        let labels = labels.as_object();
        let sel = |e: Value| json!({"matchExpressions": [e]});
        assert!(selector_matches(
            &sel(json!({"key": "tier", "operator": "In", "values": ["web", "db"]})),
            labels
        ));
        assert!(!selector_matches(
            &sel(json!({"key": "tier", "operator": "NotIn", "values": ["web"]})),
            labels
        ));
        assert!(selector_matches(
            &sel(json!({"key": "zone", "operator": "DoesNotExist"})),
            labels
        ));
        assert!(!selector_matches(&json!({}), labels));
        assert!(!selector_matches(
            &json!({"matchLabels": {"team": "b"}}),
            labels
        ));
    }
}
