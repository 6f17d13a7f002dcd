//! The front desk's directory: every kind of object Alice keeps, its group, scope and names.
//!
//! One table for both sides of the door: the apiserver serves these resources, and a client
//! turns kubectl's words (`get csr NAME`, `create pod`) into their paths with [`lookup`],
//! [`Resource::collection_path`] and [`Resource::item_path`].

/// One REST resource the apiserver serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    pub group: &'static str,
    pub version: &'static str,
    /// Plural, lower-case: `pods`.
    pub name: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub verbs: &'static [&'static str],
    /// Subresources served, e.g. `status`, `binding`, `approval`.
    pub subresources: &'static [&'static str],
    /// Only `create` makes sense (reviews): nothing is stored.
    pub virtual_only: bool,
    /// The categories discovery lists (`all`: what `kubectl get all` shows).
    pub categories: &'static [&'static str],
}

const RW: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const CREATE: &[&str] = &["create"];

const fn res(
    group: &'static str,
    name: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    subresources: &'static [&'static str],
) -> Resource {
    Resource {
        group,
        version: "v1",
        name,
        singular,
        kind,
        namespaced,
        short_names,
        verbs: RW,
        subresources,
        virtual_only: false,
        categories: &[],
    }
}

/// A resource in the `all` category, as kube-apiserver 1.32 puts pods, services, deployments
/// and replicasets there (each one's storage `Categories()`), so `kubectl get all` lists it.
const fn in_all(resource: Resource) -> Resource {
    Resource {
        categories: &["all"],
        ..resource
    }
}

const fn review(
    group: &'static str,
    name: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
) -> Resource {
    Resource {
        group,
        version: "v1",
        name,
        singular,
        kind,
        namespaced,
        short_names: &[],
        verbs: CREATE,
        subresources: &[],
        virtual_only: true,
        categories: &[],
    }
}

/// Everything Alice serves.
pub const RESOURCES: &[Resource] = &[
    res(
        "",
        "namespaces",
        "namespace",
        "Namespace",
        false,
        &["ns"],
        &["status"],
    ),
    in_all(res(
        "",
        "pods",
        "pod",
        "Pod",
        true,
        &["po"],
        &["binding", "status", "log"],
    )),
    res(
        "",
        "nodes",
        "node",
        "Node",
        false,
        &["no"],
        &["status", "proxy"],
    ),
    in_all(res(
        "",
        "services",
        "service",
        "Service",
        true,
        &["svc"],
        &["status"],
    )),
    // apps/v1: `scale` answers an autoscaling/v1 Scale (what `kubectl scale` patches).
    in_all(res(
        "apps",
        "deployments",
        "deployment",
        "Deployment",
        true,
        &["deploy"],
        &["scale", "status"],
    )),
    in_all(res(
        "apps",
        "replicasets",
        "replicaset",
        "ReplicaSet",
        true,
        &["rs"],
        &["scale", "status"],
    )),
    res(
        "",
        "endpoints",
        "endpoints",
        "Endpoints",
        true,
        &["ep"],
        &[],
    ),
    res("", "secrets", "secret", "Secret", true, &[], &[]),
    res(
        "discovery.k8s.io",
        "endpointslices",
        "endpointslice",
        "EndpointSlice",
        true,
        &[],
        &[],
    ),
    res(
        "",
        "configmaps",
        "configmap",
        "ConfigMap",
        true,
        &["cm"],
        &[],
    ),
    res("", "events", "event", "Event", true, &["ev"], &[]),
    res(
        "",
        "serviceaccounts",
        "serviceaccount",
        "ServiceAccount",
        true,
        &["sa"],
        &["token"],
    ),
    res(
        "certificates.k8s.io",
        "certificatesigningrequests",
        "certificatesigningrequest",
        "CertificateSigningRequest",
        false,
        &["csr"],
        &["approval", "status"],
    ),
    res(
        "rbac.authorization.k8s.io",
        "roles",
        "role",
        "Role",
        true,
        &[],
        &[],
    ),
    res(
        "rbac.authorization.k8s.io",
        "rolebindings",
        "rolebinding",
        "RoleBinding",
        true,
        &[],
        &[],
    ),
    res(
        "rbac.authorization.k8s.io",
        "clusterroles",
        "clusterrole",
        "ClusterRole",
        false,
        &[],
        &[],
    ),
    res(
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        "clusterrolebinding",
        "ClusterRoleBinding",
        false,
        &[],
        &[],
    ),
    res(
        "coordination.k8s.io",
        "leases",
        "lease",
        "Lease",
        true,
        &[],
        &[],
    ),
    // The aggregation layer's registrations: which server answers for a group (kube-aggregator,
    // inside kube-apiserver; `v1beta1.metrics.k8s.io` names metrics-server).
    res(
        "apiregistration.k8s.io",
        "apiservices",
        "apiservice",
        "APIService",
        false,
        &[],
        &["status"],
    ),
    review(
        "authentication.k8s.io",
        "selfsubjectreviews",
        "selfsubjectreview",
        "SelfSubjectReview",
        false,
    ),
    review(
        "authentication.k8s.io",
        "tokenreviews",
        "tokenreview",
        "TokenReview",
        false,
    ),
    review(
        "authorization.k8s.io",
        "selfsubjectaccessreviews",
        "selfsubjectaccessreview",
        "SelfSubjectAccessReview",
        false,
    ),
    review(
        "authorization.k8s.io",
        "selfsubjectrulesreviews",
        "selfsubjectrulesreview",
        "SelfSubjectRulesReview",
        false,
    ),
    review(
        "authorization.k8s.io",
        "subjectaccessreviews",
        "subjectaccessreview",
        "SubjectAccessReview",
        false,
    ),
    review(
        "authorization.k8s.io",
        "localsubjectaccessreviews",
        "localsubjectaccessreview",
        "LocalSubjectAccessReview",
        true,
    ),
];

/// The API groups served, in discovery order.
pub const GROUPS: &[&str] = &[
    "",
    "apiregistration.k8s.io",
    "apps",
    "certificates.k8s.io",
    "rbac.authorization.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
];

/// The stored resource kubectl means by `name`: plural, singular or short name, any case
/// (`pods`, `pod`, `po`, `csr`). Reviews, which are only ever created, are not among them.
pub fn lookup(name: &str) -> Option<&'static Resource> {
    let name = name.to_ascii_lowercase();
    RESOURCES.iter().find(|r| {
        !r.virtual_only
            && (r.name == name || r.singular == name || r.short_names.contains(&name.as_str()))
    })
}

/// The plural names of every resource [`lookup`] finds.
pub fn stored_names() -> impl Iterator<Item = &'static str> + Clone {
    RESOURCES.iter().filter(|r| !r.virtual_only).map(|r| r.name)
}

pub fn find(group: &str, version: &str, name: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.name == name)
}

impl Resource {
    /// `apiVersion` as objects carry it: `v1` or `group/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// Where an object lives in etcd: `/registry/<resource>/<namespace>/<name>`.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        match (self.namespaced, namespace) {
            (true, Some(ns)) => format!("/registry/{}/{ns}/{name}", self.name),
            _ => format!("/registry/{}/{name}", self.name),
        }
    }

    /// The prefix under which a list lives.
    pub fn prefix(&self, namespace: Option<&str>) -> String {
        match (self.namespaced, namespace) {
            (true, Some(ns)) => format!("/registry/{}/{ns}/", self.name),
            _ => format!("/registry/{}/", self.name),
        }
    }

    /// `pods` or `certificatesigningrequests.certificates.k8s.io`, as Status messages name it.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.name.to_string()
        } else {
            format!("{}.{}", self.name, self.group)
        }
    }

    /// The collection's path: `/api/v1/namespaces/NS/pods`, `/apis/GROUP/v1/NAME` for a
    /// cluster-scoped one.
    pub fn collection_path(&self, namespace: &str) -> String {
        let base = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        if self.namespaced {
            format!("{base}/namespaces/{namespace}/{}", self.name)
        } else {
            format!("{base}/{}", self.name)
        }
    }

    /// One object's path, or the collection's when no name is given.
    pub fn item_path(&self, namespace: &str, name: Option<&str>) -> String {
        match name {
            Some(n) => format!("{}/{n}", self.collection_path(namespace)),
            None => self.collection_path(namespace),
        }
    }

    /// How kubectl names an object of this kind in its answers: `pod/web`,
    /// `certificatesigningrequest.certificates.k8s.io/john`.
    pub fn kubectl_name(&self, name: &str) -> String {
        if self.group.is_empty() {
            format!("{}/{name}", self.singular)
        } else {
            format!("{}.{}/{name}", self.singular, self.group)
        }
    }
}
