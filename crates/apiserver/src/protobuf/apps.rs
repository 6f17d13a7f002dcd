//! apps/v1 Deployment and ReplicaSet in protobuf: what `kubectl create deployment` sends (its
//! typed clientset speaks protobuf in 1.32). Field numbers from `k8s.io/api` v0.32
//! `apps/v1/generated.proto` and `core/v1/generated.proto`; only the fields `kubectl create`
//! can set and a pod template needs are read.

use std::collections::BTreeMap;

use prost::Message;
use serde_json::{json, Map, Value};

use super::{meta_json, put_str, IntOrString, ObjectMeta};

#[derive(Clone, PartialEq, Message)]
pub struct LabelSelectorRequirement {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(string, tag = "2")]
    pub operator: String,
    #[prost(string, repeated, tag = "3")]
    pub values: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct LabelSelector {
    #[prost(btree_map = "string, string", tag = "1")]
    pub match_labels: BTreeMap<String, String>,
    #[prost(message, repeated, tag = "2")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ContainerPort {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(int32, tag = "2")]
    pub host_port: i32,
    #[prost(int32, tag = "3")]
    pub container_port: i32,
    #[prost(string, tag = "4")]
    pub protocol: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct EnvVar {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Container {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub image: String,
    #[prost(string, repeated, tag = "3")]
    pub command: Vec<String>,
    #[prost(string, repeated, tag = "4")]
    pub args: Vec<String>,
    #[prost(string, tag = "5")]
    pub working_dir: String,
    #[prost(message, repeated, tag = "6")]
    pub ports: Vec<ContainerPort>,
    #[prost(message, repeated, tag = "7")]
    pub env: Vec<EnvVar>,
    #[prost(string, tag = "14")]
    pub image_pull_policy: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct PodSpec {
    #[prost(message, repeated, tag = "2")]
    pub containers: Vec<Container>,
    #[prost(string, tag = "3")]
    pub restart_policy: String,
    #[prost(int64, optional, tag = "4")]
    pub termination_grace_period_seconds: Option<i64>,
    #[prost(string, tag = "6")]
    pub dns_policy: String,
    #[prost(btree_map = "string, string", tag = "7")]
    pub node_selector: BTreeMap<String, String>,
    #[prost(string, tag = "8")]
    pub service_account_name: String,
    #[prost(string, tag = "10")]
    pub node_name: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct PodTemplateSpec {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ObjectMeta>,
    #[prost(message, optional, tag = "2")]
    pub spec: Option<PodSpec>,
}

#[derive(Clone, PartialEq, Message)]
pub struct RollingUpdateDeployment {
    #[prost(message, optional, tag = "1")]
    pub max_unavailable: Option<IntOrString>,
    #[prost(message, optional, tag = "2")]
    pub max_surge: Option<IntOrString>,
}

#[derive(Clone, PartialEq, Message)]
pub struct DeploymentStrategy {
    #[prost(string, tag = "1")]
    pub r#type: String,
    #[prost(message, optional, tag = "2")]
    pub rolling_update: Option<RollingUpdateDeployment>,
}

/// DeploymentSpec and ReplicaSetSpec share tags 1–3; the rest differ and are read apart.
#[derive(Clone, PartialEq, Message)]
pub struct DeploymentSpec {
    #[prost(int32, optional, tag = "1")]
    pub replicas: Option<i32>,
    #[prost(message, optional, tag = "2")]
    pub selector: Option<LabelSelector>,
    #[prost(message, optional, tag = "3")]
    pub template: Option<PodTemplateSpec>,
    #[prost(message, optional, tag = "4")]
    pub strategy: Option<DeploymentStrategy>,
    #[prost(int32, tag = "5")]
    pub min_ready_seconds: i32,
    #[prost(int32, optional, tag = "6")]
    pub revision_history_limit: Option<i32>,
    #[prost(bool, tag = "7")]
    pub paused: bool,
    #[prost(int32, optional, tag = "9")]
    pub progress_deadline_seconds: Option<i32>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ReplicaSetSpec {
    #[prost(int32, optional, tag = "1")]
    pub replicas: Option<i32>,
    #[prost(message, optional, tag = "2")]
    pub selector: Option<LabelSelector>,
    #[prost(message, optional, tag = "3")]
    pub template: Option<PodTemplateSpec>,
    #[prost(int32, tag = "4")]
    pub min_ready_seconds: i32,
}

#[derive(Clone, PartialEq, Message)]
pub struct Deployment {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ObjectMeta>,
    #[prost(message, optional, tag = "2")]
    pub spec: Option<DeploymentSpec>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ReplicaSet {
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ObjectMeta>,
    #[prost(message, optional, tag = "2")]
    pub spec: Option<ReplicaSetSpec>,
}

fn int_or_string(v: &IntOrString) -> Value {
    match v.kind {
        1 => json!(v.str_val),
        _ => json!(v.int_val),
    }
}

fn selector_json(s: &LabelSelector) -> Value {
    let mut out = Map::new();
    if !s.match_labels.is_empty() {
        out.insert("matchLabels".into(), json!(s.match_labels));
    }
    if !s.match_expressions.is_empty() {
        let exprs: Vec<Value> = s
            .match_expressions
            .iter()
            .map(|e| json!({"key": e.key, "operator": e.operator, "values": e.values}))
            .collect();
        out.insert("matchExpressions".into(), json!(exprs));
    }
    Value::Object(out)
}

fn container_json(c: &Container) -> Value {
    let mut out = Map::new();
    put_str(&mut out, "name", &c.name);
    put_str(&mut out, "image", &c.image);
    if !c.command.is_empty() {
        out.insert("command".into(), json!(c.command));
    }
    if !c.args.is_empty() {
        out.insert("args".into(), json!(c.args));
    }
    put_str(&mut out, "workingDir", &c.working_dir);
    if !c.ports.is_empty() {
        let ports: Vec<Value> = c
            .ports
            .iter()
            .map(|p| {
                let mut port = Map::new();
                put_str(&mut port, "name", &p.name);
                if p.host_port != 0 {
                    port.insert("hostPort".into(), json!(p.host_port));
                }
                port.insert("containerPort".into(), json!(p.container_port));
                put_str(&mut port, "protocol", &p.protocol);
                Value::Object(port)
            })
            .collect();
        out.insert("ports".into(), json!(ports));
    }
    if !c.env.is_empty() {
        let env: Vec<Value> = c
            .env
            .iter()
            .map(|e| json!({"name": e.name, "value": e.value}))
            .collect();
        out.insert("env".into(), json!(env));
    }
    out.insert("resources".into(), json!({}));
    put_str(&mut out, "imagePullPolicy", &c.image_pull_policy);
    Value::Object(out)
}

fn template_json(t: &PodTemplateSpec) -> Value {
    let spec = t.spec.clone().unwrap_or_default();
    let mut s = Map::new();
    let containers: Vec<Value> = spec.containers.iter().map(container_json).collect();
    s.insert("containers".into(), json!(containers));
    put_str(&mut s, "restartPolicy", &spec.restart_policy);
    if let Some(grace) = spec.termination_grace_period_seconds {
        s.insert("terminationGracePeriodSeconds".into(), json!(grace));
    }
    put_str(&mut s, "dnsPolicy", &spec.dns_policy);
    if !spec.node_selector.is_empty() {
        s.insert("nodeSelector".into(), json!(spec.node_selector));
    }
    put_str(&mut s, "serviceAccountName", &spec.service_account_name);
    put_str(&mut s, "nodeName", &spec.node_name);
    json!({"metadata": meta_json(t.metadata.as_ref()), "spec": s})
}

/// The common part of both specs.
fn workload_spec(
    replicas: Option<i32>,
    selector: Option<&LabelSelector>,
    template: Option<&PodTemplateSpec>,
    min_ready_seconds: i32,
) -> Map<String, Value> {
    let mut s = Map::new();
    if let Some(r) = replicas {
        s.insert("replicas".into(), json!(r));
    }
    if let Some(sel) = selector {
        s.insert("selector".into(), selector_json(sel));
    }
    if let Some(t) = template {
        s.insert("template".into(), template_json(t));
    }
    if min_ready_seconds != 0 {
        s.insert("minReadySeconds".into(), json!(min_ready_seconds));
    }
    s
}

pub(super) fn deployment_json(m: &Deployment) -> Value {
    let spec = m.spec.clone().unwrap_or_default();
    let mut s = workload_spec(
        spec.replicas,
        spec.selector.as_ref(),
        spec.template.as_ref(),
        spec.min_ready_seconds,
    );
    if let Some(strategy) = &spec.strategy {
        let mut st = Map::new();
        put_str(&mut st, "type", &strategy.r#type);
        if let Some(rolling) = &strategy.rolling_update {
            let mut ru = Map::new();
            if let Some(v) = &rolling.max_unavailable {
                ru.insert("maxUnavailable".into(), int_or_string(v));
            }
            if let Some(v) = &rolling.max_surge {
                ru.insert("maxSurge".into(), int_or_string(v));
            }
            st.insert("rollingUpdate".into(), Value::Object(ru));
        }
        s.insert("strategy".into(), Value::Object(st));
    }
    if let Some(v) = spec.revision_history_limit {
        s.insert("revisionHistoryLimit".into(), json!(v));
    }
    if spec.paused {
        s.insert("paused".into(), json!(true));
    }
    if let Some(v) = spec.progress_deadline_seconds {
        s.insert("progressDeadlineSeconds".into(), json!(v));
    }
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta_json(m.metadata.as_ref()), "spec": s, "status": {}})
}

pub(super) fn replicaset_json(m: &ReplicaSet) -> Value {
    let spec = m.spec.clone().unwrap_or_default();
    let s = workload_spec(
        spec.replicas,
        spec.selector.as_ref(),
        spec.template.as_ref(),
        spec.min_ready_seconds,
    );
    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta_json(m.metadata.as_ref()), "spec": s, "status": {}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_kubectl_create_deployment_sends_decodes_to_its_json_shape() {
        let labels: BTreeMap<String, String> = [("app".to_string(), "web".to_string())].into();
        let message = Deployment {
            metadata: Some(ObjectMeta {
                name: "web".into(),
                labels: labels.clone(),
                ..Default::default()
            }),
            spec: Some(DeploymentSpec {
                replicas: Some(3),
                selector: Some(LabelSelector {
                    match_labels: labels.clone(),
                    match_expressions: vec![],
                }),
                template: Some(PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels,
                        ..Default::default()
                    }),
                    spec: Some(PodSpec {
                        containers: vec![Container {
                            name: "nginx".into(),
                            image: "nginx".into(),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                }),
                ..Default::default()
            }),
        };
        let body = super::super::encode("apps/v1", "Deployment", &message);
        let decoded = super::super::decode("Deployment", &body).unwrap();
        assert_eq!(
            decoded,
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "web", "labels": {"app": "web"}},
                   "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                            "template": {"metadata": {"labels": {"app": "web"}},
                                         "spec": {"containers": [{"name": "nginx", "image": "nginx", "resources": {}}]}}},
                   "status": {}})
        );
    }
}
