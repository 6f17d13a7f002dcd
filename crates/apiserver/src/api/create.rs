//! Creating an object: defaults, admission, a Service's cluster IP, a CSR's auto-approval, and
//! the objects kube-apiserver makes alongside (a namespace's service account).

use serde_json::{json, Value};

use super::{decode_body, resource_of, Api, ApiRequest, ApiResponse};

use crate::meta::{meta_str, new_uid};
use crate::node_restriction::{self, Operation};
use crate::registry::{self, Resource};
use crate::status;
use crate::store::StoreError;

impl Api {
    pub(super) async fn create(
        &self,
        req: &ApiRequest,
        r: &Resource,
        ns: Option<&str>,
    ) -> Result<ApiResponse, StoreError> {
        let mut obj = match decode_body(req, r) {
            Ok(o) => o,
            Err(resp) => return Ok(resp),
        };
        crate::meta::generate_name(&mut obj);
        let name = meta_str(&obj, "name").to_string();
        if name.is_empty() {
            let cause =
                status::Cause::required("metadata.name", "name or generateName is required");
            return Ok(ApiResponse::status(status::invalid(
                r.kind,
                r.group,
                "",
                &[cause],
            )));
        }
        let causes = crate::validation::name_causes(r.kind, &name);
        if !causes.is_empty() {
            return Ok(ApiResponse::status(status::invalid(
                r.kind, r.group, &name, &causes,
            )));
        }
        if let Some(problem) = crate::validation::key_problem(&name) {
            return Ok(ApiResponse::status(status::bad_request(&problem)));
        }
        if let Some(ns) = ns {
            let body_ns = meta_str(&obj, "namespace");
            if !body_ns.is_empty() && body_ns != ns {
                return Ok(ApiResponse::status(status::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                )));
            }
            let namespaces =
                registry::find("", "v1", "namespaces").expect("namespaces are registered");
            if self
                .inner
                .store
                .get(&namespaces.key(None, ns))
                .await?
                .is_none()
            {
                return Ok(ApiResponse::status(status::not_found("namespaces", "", ns)));
            }
            obj["metadata"]["namespace"] = json!(ns);
        }
        obj["apiVersion"] = json!(r.api_version());
        obj["kind"] = json!(r.kind);
        obj["metadata"]["uid"] = json!(new_uid());
        obj["metadata"]["creationTimestamp"] = json!(self.now());
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        crate::apps::prepare_create(r, &mut obj);
        let write = node_restriction::Write {
            user: &req.user,
            operation: Operation::Create,
            group: r.group,
            resource: r.name,
            subresource: "",
            namespace: ns.unwrap_or(""),
            name: "",
            object: Some(&obj),
            old: None,
        };
        if let Some(refused) = self.node_restriction(write).await? {
            return Ok(refused);
        }
        // Lives until the object is stored (see `Inner::service_ips`).
        let mut reserved = None;
        match r.name {
            "certificatesigningrequests" => {
                if let Err(message) = crate::csr::shape_check(&obj) {
                    return Ok(ApiResponse::status(status::bad_request(&message)));
                }
                obj = crate::csr::prepare_create(&obj, &req.user);
                if let Err(causes) = crate::csr::validate_create(&obj) {
                    return Ok(ApiResponse::status(status::invalid(
                        r.kind, r.group, &name, &causes,
                    )));
                }
                if let Err(message) = crate::csr::admission_create(&obj) {
                    return Ok(ApiResponse::status(status::forbidden_with(
                        r.name, r.group, &name, &message,
                    )));
                }
                if let Some(condition) = self.auto_approval(&obj, &req.user).await? {
                    obj["status"]["conditions"] = json!([condition]);
                    self.sign_if_approved(&mut obj);
                }
            }
            "pods" if obj["status"]["phase"].is_null() => obj["status"]["phase"] = json!("Pending"),
            "services" => {
                reserved = Some(self.inner.service_ips.lock().await);
                if let Err(cause) = self.allocate_cluster_ip(&mut obj).await? {
                    return Ok(ApiResponse::status(status::invalid(
                        r.kind,
                        r.group,
                        &name,
                        &[cause],
                    )));
                }
            }
            "namespaces" => obj["status"]["phase"] = json!("Active"),
            _ => {}
        }
        let key = r.key(ns, &name);
        let order = self.inner.writes.lock().await;
        let created = self.inner.store.create(&key, &obj).await;
        drop(reserved);
        match created {
            Ok(rev) => {
                obj["metadata"]["resourceVersion"] = json!(rev.to_string());
                self.publish("ADDED", &key, rev, &obj, None);
                drop(order);
                if r.name == "namespaces" {
                    // The service account controller's work, done at once in the lab.
                    self.create_internal(crate::service_accounts::account(
                        &name,
                        crate::service_accounts::DEFAULT,
                    ))
                    .await?;
                }
                Ok(ApiResponse::json(201, &obj))
            }
            Err(StoreError::Exists(_)) => Ok(ApiResponse::status(status::already_exists(
                r.name, r.group, &name,
            ))),
            Err(e) => Err(e),
        }
    }

    /// Stores an object the apiserver makes itself (a namespace's `default` ServiceAccount);
    /// one that exists already is kept.
    pub(super) async fn create_internal(&self, mut obj: Value) -> Result<(), StoreError> {
        let Some(r) = resource_of(&obj) else {
            return Ok(());
        };
        let ns = meta_str(&obj, "namespace").to_string();
        let key = r.key(
            Some(ns.as_str()).filter(|n| !n.is_empty()),
            meta_str(&obj, "name"),
        );
        obj["metadata"]["uid"] = json!(new_uid());
        obj["metadata"]["creationTimestamp"] = json!(self.now());
        let order = self.inner.writes.lock().await;
        match self.inner.store.create(&key, &obj).await {
            Ok(rev) => {
                obj["metadata"]["resourceVersion"] = json!(rev.to_string());
                self.publish("ADDED", &key, rev, &obj, None);
                drop(order);
                Ok(())
            }
            Err(StoreError::Exists(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// A Service's defaults and its virtual IP from kubeadm's `--service-cluster-ip-range`
    /// (10.96.0.0/12): a free address picked at random, or the one asked for if it is in the
    /// range and free. The refusal is the `spec.clusterIPs` cause the real allocator gives.
    pub(super) async fn allocate_cluster_ip(
        &self,
        svc: &mut Value,
    ) -> Result<Result<(), status::Cause>, StoreError> {
        let spec = &mut svc["spec"];
        if spec["type"].as_str().unwrap_or("").is_empty() {
            spec["type"] = json!("ClusterIP");
        }
        if spec["sessionAffinity"].is_null() {
            spec["sessionAffinity"] = json!("None");
        }
        if let Some(ports) = spec["ports"].as_array_mut() {
            for port in ports {
                if port["protocol"].is_null() {
                    port["protocol"] = json!("TCP");
                }
                if port["targetPort"].is_null() {
                    port["targetPort"] = port["port"].clone();
                }
            }
        }
        if spec["type"] == "ExternalName" {
            return Ok(Ok(()));
        }
        let asked = spec["clusterIP"].as_str().unwrap_or("").to_owned();
        if asked == "None" {
            spec["clusterIPs"] = json!(["None"]);
            return Ok(Ok(()));
        }
        let services = registry::find("", "v1", "services").expect("services are registered");
        let (all, _) = self.inner.store.list(&services.prefix(None)).await?;
        let used: std::collections::HashSet<String> = all
            .iter()
            .filter_map(|s| s.value["spec"]["clusterIP"].as_str().map(str::to_owned))
            .collect();
        const RANGE: &str = "10.96.0.0/12";
        let (base, size) = (u32::from(std::net::Ipv4Addr::new(10, 96, 0, 0)), 1u32 << 20);
        let ip = if asked.is_empty() {
            let mut pick = None;
            for _ in 0..64 {
                let mut b = [0u8; 4];
                crate::meta::fill_random(&mut b);
                let offset = 1 + u32::from_be_bytes(b) % (size - 2);
                let candidate = std::net::Ipv4Addr::from(base + offset).to_string();
                if !used.contains(&candidate) {
                    pick = Some(candidate);
                    break;
                }
            }
            match pick {
                Some(ip) => ip,
                None => {
                    return Ok(Err(status::Cause::invalid(
                        "spec.clusterIPs",
                        "[]string{}",
                        "failed to allocate a serviceIP: range is full",
                    )))
                }
            }
        } else {
            let refuse = |detail: String| {
                status::Cause::invalid(
                    "spec.clusterIPs",
                    &format!("[]string{{{}}}", status::go_quote(&asked)),
                    &format!("failed to allocate IP {asked}: {detail}"),
                )
            };
            let in_range = asked
                .parse::<std::net::Ipv4Addr>()
                .map(u32::from)
                .is_ok_and(|a| a > base && a < base + size - 1);
            if !in_range {
                return Ok(Err(refuse(format!(
                    "the provided IP ({asked}) is not in the valid range. The range of valid IPs is {RANGE}"
                ))));
            }
            if used.contains(&asked) {
                return Ok(Err(refuse("provided IP is already allocated".into())));
            }
            asked
        };
        spec["clusterIP"] = json!(ip);
        spec["clusterIPs"] = json!([ip]);
        spec["ipFamilies"] = json!(["IPv4"]);
        spec["ipFamilyPolicy"] = json!("SingleStack");
        if spec["internalTrafficPolicy"].is_null() {
            spec["internalTrafficPolicy"] = json!("Cluster");
        }
        Ok(Ok(()))
    }
}
