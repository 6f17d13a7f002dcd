//! The Go types behind the JSON Alice accepts: which field of which kind is a string, a number,
//! a struct or a list, named as `reflect.Type.String()` names them (`v1.PodSpec`, `[]v1.Container`).
//!
//! kube-apiserver decodes a body into typed Go structs; a field of the wrong JSON type fails that
//! decode with `encoding/json`'s `UnmarshalTypeError` (see [`crate::decode`]). The lab keeps objects
//! as JSON, so this table is how it knows the types. Fields not listed here are not checked
//! (the real decoder ignores unknown fields, so a missing entry only makes the lab more lenient).
//! Types with their own `UnmarshalJSON` (Time, Quantity, IntOrString) are [`GoType::Any`].
//! Source: k8s.io/api v0.32 `core/v1/types.go`, `certificates/v1`, `rbac/v1`, `discovery/v1`,
//! `coordination/v1`, and apimachinery `meta/v1/types.go`.

/// One Go type as the decoder sees it. Pointers are transparent (`*int32` reports as `int32`).
#[derive(Debug, Clone, Copy)]
pub enum GoType {
    /// `string` or a named string type (`v1.PodPhase`).
    Str(&'static str),
    /// An integer type: its name, and the range it holds.
    Int(&'static str, i64, i64),
    Bool,
    /// `[]byte`: base64 in JSON.
    Bytes,
    Struct(&'static Struct),
    Slice(&'static str, &'static GoType),
    /// A map from strings: its Go name (`map[string]string`, `v1.ResourceList`) and its values.
    Map(&'static str, &'static GoType),
    /// A type that decodes itself (metav1.Time, resource.Quantity, intstr.IntOrString, raw JSON).
    Any,
}

/// A Go struct: its qualified name and its JSON fields.
#[derive(Debug)]
pub struct Struct {
    /// `v1.PodSpec`: the package's last element and the type name.
    pub name: &'static str,
    pub fields: &'static [(&'static str, GoType)],
}

impl Struct {
    /// `PodSpec`: what `reflect.Type.Name()` gives, used in "Go struct field PodSpec.spec.…".
    pub fn short_name(&self) -> &'static str {
        self.name.rsplit('.').next().unwrap_or(self.name)
    }

    pub fn field(&self, name: &str) -> Option<&'static GoType> {
        // sigs.k8s.io/json matches field names case-sensitively.
        self.fields.iter().find(|(n, _)| *n == name).map(|(_, t)| t)
    }
}

impl GoType {
    /// `reflect.Type.String()`.
    pub fn go_name(&self) -> String {
        match self {
            GoType::Str(name) | GoType::Int(name, _, _) => (*name).to_owned(),
            GoType::Bool => "bool".into(),
            GoType::Bytes => "[]uint8".into(),
            GoType::Struct(s) => s.name.to_owned(),
            GoType::Slice(name, _) | GoType::Map(name, _) => (*name).to_owned(),
            GoType::Any => "interface {}".into(),
        }
    }
}

const STRING: GoType = GoType::Str("string");
const INT32: GoType = GoType::Int("int32", i32::MIN as i64, i32::MAX as i64);
const INT64: GoType = GoType::Int("int64", i64::MIN, i64::MAX);
const STRINGS: GoType = GoType::Slice("[]string", &STRING);
const STRING_MAP: GoType = GoType::Map("map[string]string", &STRING);
const RESOURCE_LIST: GoType = GoType::Map("v1.ResourceList", &GoType::Any);

const fn s(name: &'static str, fields: &'static [(&'static str, GoType)]) -> Struct {
    Struct { name, fields }
}
const fn st(s: &'static Struct) -> GoType {
    GoType::Struct(s)
}

const OWNER_REFERENCE: Struct = s(
    "v1.OwnerReference",
    &[
        ("apiVersion", STRING),
        ("kind", STRING),
        ("name", STRING),
        ("uid", GoType::Str("types.UID")),
        ("controller", GoType::Bool),
        ("blockOwnerDeletion", GoType::Bool),
    ],
);

/// `metav1.ObjectMeta`.
pub const OBJECT_META: Struct = s(
    "v1.ObjectMeta",
    &[
        ("name", STRING),
        ("generateName", STRING),
        ("namespace", STRING),
        ("selfLink", STRING),
        ("uid", GoType::Str("types.UID")),
        ("resourceVersion", STRING),
        ("generation", INT64),
        ("creationTimestamp", GoType::Any),
        ("deletionTimestamp", GoType::Any),
        ("deletionGracePeriodSeconds", INT64),
        ("labels", STRING_MAP),
        ("annotations", STRING_MAP),
        (
            "ownerReferences",
            GoType::Slice("[]v1.OwnerReference", &st(&OWNER_REFERENCE)),
        ),
        ("finalizers", STRINGS),
        ("managedFields", GoType::Any),
    ],
);

const TYPE_META: [(&str, GoType); 2] = [("apiVersion", STRING), ("kind", STRING)];
const META: (&str, GoType) = ("metadata", st(&OBJECT_META));

const OBJECT_REFERENCE: Struct = s(
    "v1.ObjectReference",
    &[
        ("kind", STRING),
        ("namespace", STRING),
        ("name", STRING),
        ("uid", GoType::Str("types.UID")),
        ("apiVersion", STRING),
        ("resourceVersion", STRING),
        ("fieldPath", STRING),
    ],
);

const CONTAINER_PORT: Struct = s(
    "v1.ContainerPort",
    &[
        ("name", STRING),
        ("hostPort", INT32),
        ("containerPort", INT32),
        ("protocol", GoType::Str("v1.Protocol")),
        ("hostIP", STRING),
    ],
);

const ENV_VAR: Struct = s(
    "v1.EnvVar",
    &[
        ("name", STRING),
        ("value", STRING),
        ("valueFrom", GoType::Any),
    ],
);

const CONTAINER: Struct = s(
    "v1.Container",
    &[
        ("name", STRING),
        ("image", STRING),
        ("command", STRINGS),
        ("args", STRINGS),
        ("workingDir", STRING),
        (
            "ports",
            GoType::Slice("[]v1.ContainerPort", &st(&CONTAINER_PORT)),
        ),
        ("env", GoType::Slice("[]v1.EnvVar", &st(&ENV_VAR))),
        ("resources", GoType::Any),
        ("imagePullPolicy", GoType::Str("v1.PullPolicy")),
        ("stdin", GoType::Bool),
        ("tty", GoType::Bool),
    ],
);
const CONTAINERS: GoType = GoType::Slice("[]v1.Container", &st(&CONTAINER));

const TOLERATION: Struct = s(
    "v1.Toleration",
    &[
        ("key", STRING),
        ("operator", GoType::Str("v1.TolerationOperator")),
        ("value", STRING),
        ("effect", GoType::Str("v1.TaintEffect")),
        ("tolerationSeconds", INT64),
    ],
);

const POD_SPEC: Struct = s(
    "v1.PodSpec",
    &[
        ("volumes", GoType::Any),
        ("initContainers", CONTAINERS),
        ("containers", CONTAINERS),
        ("restartPolicy", GoType::Str("v1.RestartPolicy")),
        ("terminationGracePeriodSeconds", INT64),
        ("activeDeadlineSeconds", INT64),
        ("dnsPolicy", GoType::Str("v1.DNSPolicy")),
        ("nodeSelector", STRING_MAP),
        ("serviceAccountName", STRING),
        ("serviceAccount", STRING),
        ("automountServiceAccountToken", GoType::Bool),
        ("nodeName", STRING),
        ("hostNetwork", GoType::Bool),
        ("hostPID", GoType::Bool),
        ("hostIPC", GoType::Bool),
        ("hostname", STRING),
        ("subdomain", STRING),
        ("schedulerName", STRING),
        (
            "tolerations",
            GoType::Slice("[]v1.Toleration", &st(&TOLERATION)),
        ),
        ("priorityClassName", STRING),
        ("priority", INT32),
    ],
);

const POD_CONDITION: Struct = s(
    "v1.PodCondition",
    &[
        ("type", GoType::Str("v1.PodConditionType")),
        ("status", GoType::Str("v1.ConditionStatus")),
        ("lastProbeTime", GoType::Any),
        ("lastTransitionTime", GoType::Any),
        ("reason", STRING),
        ("message", STRING),
    ],
);

const POD_IP: Struct = s("v1.PodIP", &[("ip", STRING)]);

const CONTAINER_STATUS: Struct = s(
    "v1.ContainerStatus",
    &[
        ("name", STRING),
        ("state", GoType::Any),
        ("lastState", GoType::Any),
        ("ready", GoType::Bool),
        ("restartCount", INT32),
        ("image", STRING),
        ("imageID", STRING),
        ("containerID", STRING),
        ("started", GoType::Bool),
    ],
);

const POD_STATUS: Struct = s(
    "v1.PodStatus",
    &[
        ("phase", GoType::Str("v1.PodPhase")),
        (
            "conditions",
            GoType::Slice("[]v1.PodCondition", &st(&POD_CONDITION)),
        ),
        ("message", STRING),
        ("reason", STRING),
        ("nominatedNodeName", STRING),
        ("hostIP", STRING),
        ("podIP", STRING),
        ("podIPs", GoType::Slice("[]v1.PodIP", &st(&POD_IP))),
        ("startTime", GoType::Any),
        (
            "containerStatuses",
            GoType::Slice("[]v1.ContainerStatus", &st(&CONTAINER_STATUS)),
        ),
        ("qosClass", GoType::Str("v1.PodQOSClass")),
    ],
);

const POD: Struct = s(
    "v1.Pod",
    &[
        TYPE_META[0],
        TYPE_META[1],
        META,
        ("spec", st(&POD_SPEC)),
        ("status", st(&POD_STATUS)),
    ],
);

const SERVICE_PORT: Struct = s(
    "v1.ServicePort",
    &[
        ("name", STRING),
        ("protocol", GoType::Str("v1.Protocol")),
        ("appProtocol", STRING),
        ("port", INT32),
        ("targetPort", GoType::Any),
        ("nodePort", INT32),
    ],
);

const SERVICE_SPEC: Struct = s(
    "v1.ServiceSpec",
    &[
        (
            "ports",
            GoType::Slice("[]v1.ServicePort", &st(&SERVICE_PORT)),
        ),
        ("selector", STRING_MAP),
        ("clusterIP", STRING),
        ("clusterIPs", STRINGS),
        ("type", GoType::Str("v1.ServiceType")),
        ("externalIPs", STRINGS),
        ("sessionAffinity", GoType::Str("v1.ServiceAffinity")),
        ("loadBalancerIP", STRING),
        ("externalName", STRING),
        (
            "externalTrafficPolicy",
            GoType::Str("v1.ServiceExternalTrafficPolicy"),
        ),
        ("publishNotReadyAddresses", GoType::Bool),
        (
            "ipFamilies",
            GoType::Slice("[]v1.IPFamily", &GoType::Str("v1.IPFamily")),
        ),
        ("ipFamilyPolicy", GoType::Str("v1.IPFamilyPolicy")),
        (
            "internalTrafficPolicy",
            GoType::Str("v1.ServiceInternalTrafficPolicy"),
        ),
    ],
);

const SERVICE: Struct = s(
    "v1.Service",
    &[
        TYPE_META[0],
        TYPE_META[1],
        META,
        ("spec", st(&SERVICE_SPEC)),
        ("status", GoType::Any),
    ],
);

const TAINT: Struct = s(
    "v1.Taint",
    &[
        ("key", STRING),
        ("value", STRING),
        ("effect", GoType::Str("v1.TaintEffect")),
        ("timeAdded", GoType::Any),
    ],
);

const NODE_SPEC: Struct = s(
    "v1.NodeSpec",
    &[
        ("podCIDR", STRING),
        ("podCIDRs", STRINGS),
        ("providerID", STRING),
        ("unschedulable", GoType::Bool),
        ("taints", GoType::Slice("[]v1.Taint", &st(&TAINT))),
    ],
);

const NODE_CONDITION: Struct = s(
    "v1.NodeCondition",
    &[
        ("type", GoType::Str("v1.NodeConditionType")),
        ("status", GoType::Str("v1.ConditionStatus")),
        ("lastHeartbeatTime", GoType::Any),
        ("lastTransitionTime", GoType::Any),
        ("reason", STRING),
        ("message", STRING),
    ],
);

const NODE_ADDRESS: Struct = s(
    "v1.NodeAddress",
    &[
        ("type", GoType::Str("v1.NodeAddressType")),
        ("address", STRING),
    ],
);

const DAEMON_ENDPOINT: Struct = s("v1.DaemonEndpoint", &[("Port", INT32)]);
const NODE_DAEMON_ENDPOINTS: Struct = s(
    "v1.NodeDaemonEndpoints",
    &[("kubeletEndpoint", st(&DAEMON_ENDPOINT))],
);

const NODE_STATUS: Struct = s(
    "v1.NodeStatus",
    &[
        ("capacity", RESOURCE_LIST),
        ("allocatable", RESOURCE_LIST),
        ("phase", GoType::Str("v1.NodePhase")),
        (
            "conditions",
            GoType::Slice("[]v1.NodeCondition", &st(&NODE_CONDITION)),
        ),
        (
            "addresses",
            GoType::Slice("[]v1.NodeAddress", &st(&NODE_ADDRESS)),
        ),
        ("daemonEndpoints", st(&NODE_DAEMON_ENDPOINTS)),
        ("nodeInfo", GoType::Any),
        ("images", GoType::Any),
    ],
);

const NODE: Struct = s(
    "v1.Node",
    &[
        TYPE_META[0],
        TYPE_META[1],
        META,
        ("spec", st(&NODE_SPEC)),
        ("status", st(&NODE_STATUS)),
    ],
);

const NAMESPACE: Struct = s(
    "v1.Namespace",
    &[
        TYPE_META[0],
        TYPE_META[1],
        META,
        (
            "spec",
            st(&s(
                "v1.NamespaceSpec",
                &[(
                    "finalizers",
                    GoType::Slice("[]v1.FinalizerName", &GoType::Str("v1.FinalizerName")),
                )],
            )),
        ),
        (
            "status",
            st(&s(
                "v1.NamespaceStatus",
                &[
                    ("phase", GoType::Str("v1.NamespacePhase")),
                    ("conditions", GoType::Any),
                ],
            )),
        ),
    ],
);

const ENDPOINT_ADDRESS: Struct = s(
    "v1.EndpointAddress",
    &[
        ("ip", STRING),
        ("hostname", STRING),
        ("nodeName", STRING),
        ("targetRef", st(&OBJECT_REFERENCE)),
    ],
);
const ADDRESSES: GoType = GoType::Slice("[]v1.EndpointAddress", &st(&ENDPOINT_ADDRESS));

const ENDPOINT_PORT: Struct = s(
    "v1.EndpointPort",
    &[
        ("name", STRING),
        ("port", INT32),
        ("protocol", GoType::Str("v1.Protocol")),
        ("appProtocol", STRING),
    ],
);

const ENDPOINT_SUBSET: Struct = s(
    "v1.EndpointSubset",
    &[
        ("addresses", ADDRESSES),
        ("notReadyAddresses", ADDRESSES),
        (
            "ports",
            GoType::Slice("[]v1.EndpointPort", &st(&ENDPOINT_PORT)),
        ),
    ],
);

const ENDPOINTS: Struct = s(
    "v1.Endpoints",
    &[
        TYPE_META[0],
        TYPE_META[1],
        META,
        (
            "subsets",
            GoType::Slice("[]v1.EndpointSubset", &st(&ENDPOINT_SUBSET)),
        ),
    ],
);

const ENDPOINT_CONDITIONS: Struct = s(
    "v1.EndpointConditions",
    &[
        ("ready", GoType::Bool),
        ("serving", GoType::Bool),
        ("terminating", GoType::Bool),
    ],
);

const SLICE_ENDPOINT: Struct = s(
    "v1.Endpoint",
    &[
        ("addresses", STRINGS),
        ("conditions", st(&ENDPOINT_CONDITIONS)),
        ("hostname", STRING),
        ("targetRef", st(&OBJECT_REFERENCE)),
        ("nodeName", STRING),
        ("zone", STRING),
    ],
);

const ENDPOINT_SLICE: Struct = s(
    "v1.EndpointSlice",
    &[
        TYPE_META[0],
        TYPE_META[1],
        META,
        ("addressType", GoType::Str("v1.AddressType")),
        (
            "endpoints",
            GoType::Slice("[]v1.Endpoint", &st(&SLICE_ENDPOINT)),
        ),
        (
            "ports",
            GoType::Slice("[]v1.EndpointPort", &st(&ENDPOINT_PORT)),
        ),
    ],
);

const CONFIG_MAP: Struct = s(
    "v1.ConfigMap",
    &[
        TYPE_META[0],
        TYPE_META[1],
        META,
        ("immutable", GoType::Bool),
        ("data", STRING_MAP),
        (
            "binaryData",
            GoType::Map("map[string][]uint8", &GoType::Bytes),
        ),
    ],
);

const SERVICE_ACCOUNT: Struct = s(
    "v1.ServiceAccount",
    &[
        TYPE_META[0],
        TYPE_META[1],
        META,
        (
            "secrets",
            GoType::Slice("[]v1.ObjectReference", &st(&OBJECT_REFERENCE)),
        ),
        ("imagePullSecrets", GoType::Any),
        ("automountServiceAccountToken", GoType::Bool),
    ],
);

const CSR_SPEC: Struct = s(
    "v1.CertificateSigningRequestSpec",
    &[
        ("request", GoType::Bytes),
        ("signerName", STRING),
        ("expirationSeconds", INT32),
        (
            "usages",
            GoType::Slice("[]v1.KeyUsage", &GoType::Str("v1.KeyUsage")),
        ),
        ("username", STRING),
        ("uid", STRING),
        ("groups", STRINGS),
        ("extra", GoType::Any),
    ],
);

const CSR_CONDITION: Struct = s(
    "v1.CertificateSigningRequestCondition",
    &[
        ("type", GoType::Str("v1.RequestConditionType")),
        ("status", GoType::Str("v1.ConditionStatus")),
        ("reason", STRING),
        ("message", STRING),
        ("lastUpdateTime", GoType::Any),
        ("lastTransitionTime", GoType::Any),
    ],
);

const CSR_STATUS: Struct = s(
    "v1.CertificateSigningRequestStatus",
    &[
        (
            "conditions",
            GoType::Slice(
                "[]v1.CertificateSigningRequestCondition",
                &st(&CSR_CONDITION),
            ),
        ),
        ("certificate", GoType::Bytes),
    ],
);

const CSR: Struct = s(
    "v1.CertificateSigningRequest",
    &[
        TYPE_META[0],
        TYPE_META[1],
        META,
        ("spec", st(&CSR_SPEC)),
        ("status", st(&CSR_STATUS)),
    ],
);

const POLICY_RULE: Struct = s(
    "v1.PolicyRule",
    &[
        ("verbs", STRINGS),
        ("apiGroups", STRINGS),
        ("resources", STRINGS),
        ("resourceNames", STRINGS),
        ("nonResourceURLs", STRINGS),
    ],
);
const RULES: (&str, GoType) = ("rules", GoType::Slice("[]v1.PolicyRule", &st(&POLICY_RULE)));

const SUBJECT: Struct = s(
    "v1.Subject",
    &[
        ("kind", STRING),
        ("apiGroup", STRING),
        ("name", STRING),
        ("namespace", STRING),
    ],
);
const ROLE_REF: Struct = s(
    "v1.RoleRef",
    &[("apiGroup", STRING), ("kind", STRING), ("name", STRING)],
);
const SUBJECTS: (&str, GoType) = ("subjects", GoType::Slice("[]v1.Subject", &st(&SUBJECT)));

const ROLE: Struct = s("v1.Role", &[TYPE_META[0], TYPE_META[1], META, RULES]);
const CLUSTER_ROLE: Struct = s(
    "v1.ClusterRole",
    &[
        TYPE_META[0],
        TYPE_META[1],
        META,
        RULES,
        ("aggregationRule", GoType::Any),
    ],
);
const ROLE_BINDING: Struct = s(
    "v1.RoleBinding",
    &[
        TYPE_META[0],
        TYPE_META[1],
        META,
        SUBJECTS,
        ("roleRef", st(&ROLE_REF)),
    ],
);
const CLUSTER_ROLE_BINDING: Struct = s(
    "v1.ClusterRoleBinding",
    &[
        TYPE_META[0],
        TYPE_META[1],
        META,
        SUBJECTS,
        ("roleRef", st(&ROLE_REF)),
    ],
);

const LEASE: Struct = s(
    "v1.Lease",
    &[
        TYPE_META[0],
        TYPE_META[1],
        META,
        (
            "spec",
            st(&s(
                "v1.LeaseSpec",
                &[
                    ("holderIdentity", STRING),
                    ("leaseDurationSeconds", INT32),
                    ("acquireTime", GoType::Any),
                    ("renewTime", GoType::Any),
                    ("leaseTransitions", INT32),
                ],
            )),
        ),
    ],
);

/// `pods/binding`'s body.
pub const BINDING: Struct = s(
    "v1.Binding",
    &[
        TYPE_META[0],
        TYPE_META[1],
        META,
        ("target", st(&OBJECT_REFERENCE)),
    ],
);

/// The Go struct a kind decodes into, for the kinds Alice stores.
pub fn of_kind(kind: &str) -> Option<&'static Struct> {
    Some(match kind {
        "Pod" => &POD,
        "Service" => &SERVICE,
        "Node" => &NODE,
        "Namespace" => &NAMESPACE,
        "Endpoints" => &ENDPOINTS,
        "EndpointSlice" => &ENDPOINT_SLICE,
        "ConfigMap" => &CONFIG_MAP,
        "ServiceAccount" => &SERVICE_ACCOUNT,
        "CertificateSigningRequest" => &CSR,
        "Role" => &ROLE,
        "ClusterRole" => &CLUSTER_ROLE,
        "RoleBinding" => &ROLE_BINDING,
        "ClusterRoleBinding" => &CLUSTER_ROLE_BINDING,
        "Lease" => &LEASE,
        "Binding" => &BINDING,
        _ => return None,
    })
}
