//! The rulebook: the RBAC objects as the store holds them, read at once or kept up to date
//! write by write, in the store's key order.

use serde_json::Value;

use crate::meta::meta_str;

/// The RBAC objects in the store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RbacState {
    pub cluster_roles: Vec<Value>,
    pub cluster_role_bindings: Vec<Value>,
    pub roles: Vec<Value>,
    pub role_bindings: Vec<Value>,
}

impl RbacState {
    /// Sorts objects into the four lists by `kind`; other kinds are ignored.
    pub fn from_objects(objects: impl IntoIterator<Item = Value>) -> RbacState {
        let mut state = RbacState::default();
        for o in objects {
            if let Some(list) = state.list_of(&o) {
                list.push(o);
            }
        }
        // Authorization reads the stored rules only: a role labelled `aggregate-to-view`
        // extends `view` once the clusterrole-aggregation controller has written `view`.
        state
    }

    /// Takes in a written object (created or replaced), as the RBAC authorizer's informers
    /// would: each list stays in the store's key order, so a decision names the same binding
    /// as after a fresh read. Other kinds are ignored.
    pub fn put(&mut self, object: Value) {
        let Some(list) = self.list_of(&object) else {
            return;
        };
        match find(list, &object) {
            Ok(at) => list[at] = object,
            Err(at) => list.insert(at, object),
        }
    }

    /// Lets go of a deleted object (its last state names it).
    pub fn remove(&mut self, object: &Value) {
        let Some(list) = self.list_of(object) else {
            return;
        };
        if let Ok(at) = find(list, object) {
            list.remove(at);
        }
    }

    fn list_of(&mut self, object: &Value) -> Option<&mut Vec<Value>> {
        match object.get("kind").and_then(Value::as_str) {
            Some("ClusterRole") => Some(&mut self.cluster_roles),
            Some("ClusterRoleBinding") => Some(&mut self.cluster_role_bindings),
            Some("Role") => Some(&mut self.roles),
            Some("RoleBinding") => Some(&mut self.role_bindings),
            _ => None,
        }
    }

    /// The rulebook of a fresh kubeadm 1.32 cluster.
    pub fn bootstrap() -> RbacState {
        RbacState::from_objects(super::bootstrap_policy())
    }

    pub(super) fn cluster_role(&self, name: &str) -> Option<&Value> {
        self.cluster_roles
            .iter()
            .find(|r| meta_str(r, "name") == name)
    }

    pub(super) fn role(&self, namespace: &str, name: &str) -> Option<&Value> {
        self.roles
            .iter()
            .find(|r| meta_str(r, "name") == name && meta_str(r, "namespace") == namespace)
    }
}

/// Where `object` is in `list` (`Ok`), or would go (`Err`), by its key.
fn find(list: &[Value], object: &Value) -> Result<usize, usize> {
    list.binary_search_by(|o| key_of(o).cmp(key_of(object)))
}

/// Where the store keeps `object` under its resource's prefix (`NAMESPACE/NAME`, or `NAME` for
/// a cluster-wide kind, whatever namespace its metadata may carry), whose bytes order a list as
/// etcd orders its keys.
fn key_of(object: &Value) -> impl Iterator<Item = u8> + '_ {
    let cluster_wide = matches!(
        object.get("kind").and_then(Value::as_str),
        Some("ClusterRole" | "ClusterRoleBinding")
    );
    let namespace = match cluster_wide {
        true => "",
        false => meta_str(object, "namespace"),
    };
    let separator: &[u8] = if namespace.is_empty() { b"" } else { b"/" };
    namespace
        .bytes()
        .chain(separator.iter().copied())
        .chain(meta_str(object, "name").bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn role_binding(namespace: &str, name: &str) -> Value {
        json!({"kind": "RoleBinding", "metadata": {"namespace": namespace, "name": name}})
    }

    fn keys(list: &[Value]) -> Vec<String> {
        list.iter()
            .map(|o| format!("{}/{}", meta_str(o, "namespace"), meta_str(o, "name")))
            .collect()
    }

    #[test]
    fn a_written_object_goes_where_etcd_would_list_it_and_replaces_its_older_self() {
        // etcd orders `…/rolebindings/a-b/x` before `…/rolebindings/a/x` ('-' sorts before '/').
        let mut state = RbacState::from_objects([role_binding("a-b", "x"), role_binding("a", "x")]);
        state.put(role_binding("a", "w"));
        state.put(role_binding("a-b", "y"));
        state.put(role_binding("b", "a"));
        assert_eq!(
            keys(&state.role_bindings),
            ["a-b/x", "a-b/y", "a/w", "a/x", "b/a"]
        );
        let mut replaced = role_binding("a", "w");
        replaced["subjects"] = json!([{"kind": "User", "name": "pat"}]);
        state.put(replaced.clone());
        assert_eq!(state.role_bindings.len(), 5);
        assert_eq!(state.role_bindings[2], replaced);
        state.remove(&role_binding("a-b", "x"));
        state.remove(&role_binding("nowhere", "x"));
        assert_eq!(keys(&state.role_bindings), ["a-b/y", "a/w", "a/x", "b/a"]);
        // A cluster-wide object is stored by name alone, whatever namespace its body names.
        let stray = |namespace: &str, name: &str| json!({"kind": "ClusterRoleBinding", "metadata": {"namespace": namespace, "name": name}});
        state.cluster_role_bindings = vec![stray("default", "a"), stray("", "b")];
        state.put(stray("", "a"));
        state.put(stray("kube-system", "c"));
        assert_eq!(
            keys(&state.cluster_role_bindings),
            ["/a", "/b", "kube-system/c"]
        );
        state.remove(&stray("zzz", "b"));
        assert_eq!(keys(&state.cluster_role_bindings), ["/a", "kube-system/c"]);
        state.cluster_role_bindings.clear();
        // Another kind is not the rulebook's.
        state.put(json!({"kind": "ConfigMap", "metadata": {"name": "x"}}));
        assert_eq!(
            state,
            RbacState {
                role_bindings: state.role_bindings.clone(),
                ..Default::default()
            }
        );
    }
}
