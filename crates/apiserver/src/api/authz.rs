//! Who may do what: the RBAC objects read once and shared until a write to them, the
//! authorizer chain, and a request's authorizer attributes.

use std::sync::Arc;

use serde_json::Value;

use super::Api;

use crate::rbac::{self, Attributes, Decision, RbacState};
use crate::registry;
use crate::request::RequestInfo;
use crate::store::StoreError;
use crate::user::UserInfo;

/// The RBAC objects last read, and how many times they have been written since the start.
#[derive(Default)]
pub(super) struct RbacCache {
    state: Option<Arc<RbacState>>,
    generation: u64,
}

impl Api {
    pub(super) fn invalidate_rbac(&self) {
        let mut cache = self.inner.rbac.lock().unwrap_or_else(|e| e.into_inner());
        cache.state = None;
        cache.generation += 1;
    }

    /// An RBAC object written through Alice, taken into the rulebook held, as kube-apiserver's
    /// RBAC authorizer learns it from its informers instead of reading every object again. A
    /// read under way when it comes may predate it: that read answers its own request only.
    pub(super) fn rbac_written(&self, change: &str, object: &Value) {
        let mut cache = self.inner.rbac.lock().unwrap_or_else(|e| e.into_inner());
        cache.generation += 1;
        if let Some(state) = &mut cache.state {
            let state = Arc::make_mut(state);
            match change {
                "DELETED" => state.remove(object),
                _ => state.put(object.clone()),
            }
        }
    }

    pub(super) async fn rbac_state(&self) -> Result<Arc<RbacState>, StoreError> {
        let generation = {
            let cache = self.inner.rbac.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(state) = &cache.state {
                return Ok(state.clone());
            }
            cache.generation
        };
        let mut objects = Vec::new();
        for name in [
            "clusterroles",
            "clusterrolebindings",
            "roles",
            "rolebindings",
        ] {
            let r = registry::find(rbac::RBAC_GROUP, "v1", name)
                .expect("rbac resources are registered");
            objects.extend(
                self.inner
                    .store
                    .list(&r.prefix(None))
                    .await?
                    .0
                    .into_iter()
                    .map(|s| s.value),
            );
        }
        let state = Arc::new(RbacState::from_objects(objects));
        let mut cache = self.inner.rbac.lock().unwrap_or_else(|e| e.into_inner());
        // A write to the RBAC objects while they were being read: this read may predate it, so
        // it answers this request only and the next one reads again.
        if cache.generation == generation {
            cache.state = Some(state.clone());
        }
        Ok(state)
    }

    /// The authorizer chain kubeadm configures (`--authorization-mode=Node,RBAC`, with the
    /// privileged `system:masters` group in front).
    pub async fn authorize(&self, attrs: &Attributes) -> Result<Decision, StoreError> {
        // The privileged group's authorizer decides before the others are asked.
        if let Some(allowed) = rbac::privileged_group(attrs) {
            return Ok(allowed);
        }
        let state = self.rbac_state().await?;
        let pods = if attrs.user.name.starts_with("system:node:") {
            let r = registry::find("", "v1", "pods").expect("pods are registered");
            self.inner
                .store
                .list(&r.prefix(None))
                .await?
                .0
                .into_iter()
                .map(|s| s.value)
                .collect()
        } else {
            Vec::new()
        };
        Ok(rbac::authorize_request(&state, &pods, attrs))
    }
}

/// The request's authorizer attributes (k8s RequestInfo → authorizer.Attributes).
pub fn attributes(user: &UserInfo, info: &RequestInfo) -> Attributes {
    if !info.resource_request {
        return Attributes::non_resource(user, &info.verb, &info.path);
    }
    let mut attrs = Attributes::resource(
        user,
        &info.verb,
        info.namespace.as_deref().unwrap_or(""),
        &info.group,
        &info.resource,
    )
    .with_name(&info.name)
    .with_subresource(&info.subresource);
    attrs.api_version = info.version.clone();
    // Kubernetes authorizes subresource requests with the parent's verb.
    if info.subresource == "binding" || info.subresource == "log" {
        attrs.verb = if info.subresource == "log" {
            "get".into()
        } else {
            "create".into()
        };
    }
    attrs
}
