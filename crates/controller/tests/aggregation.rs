//! The clusterrole-aggregation controller against a real office: a ClusterRole labelled
//! `rbac.authorization.k8s.io/aggregate-to-view` is written into `view`'s stored rules (and so
//! into `edit`'s and `admin`'s), leaves them when it is relabelled or deleted, and extends
//! nobody while the controller is not running. The real kubectl 1.32 labels a role and reads
//! `view` back (skipped, and said so, when kubectl is not installed; under `CI=true` that is a
//! failure).

use kubecorp_client::KubeClient;
use kubecorp_controller::clusterrole_aggregation::{self, ClusterRoleAggregationConfig, NAME};
use kubecorp_controller::credentials::ServiceAccountCredentials;
use kubecorp_office::Office;
use kubecorp_testkit::office::{assert_never_refused, client, kubectl, quiet_office, said};
use kubecorp_testkit::{eventually, tool};
use kubecorp_trust::tls::TrustSource;
use serde_json::{json, Value};
use tokio::sync::oneshot;

const CLUSTERROLES: &str = "/apis/rbac.authorization.k8s.io/v1/clusterroles";

/// Starts the controller as the controller manager does: with a token for its own service
/// account, asked for with `controller-manager.conf`, and no badge.
fn start_controller(office: &Office) -> oneshot::Sender<()> {
    let (stop, stopped) = oneshot::channel::<()>();
    let manager = client(office, "controller-manager", "controller-manager.conf");
    let anonymous = KubeClient::new(
        "controller-manager",
        &office.apiserver_url(),
        None,
        TrustSource::kubeconfig(office.dir.join("controller-manager.conf")),
        office.clock.clone(),
        office.events.clone(),
    )
    .unwrap();
    let credentials = ServiceAccountCredentials::new(NAME, manager, office.clock.clone());
    let config = ClusterRoleAggregationConfig {
        client: credentials.client(anonymous),
        credentials,
        clock: office.clock.clone(),
        events: office.events.clone(),
    };
    tokio::spawn(clusterrole_aggregation::run(config, async move {
        let _ = stopped.await;
    }));
    stop
}

/// The rule the test's role carries.
fn lease_rule() -> Value {
    json!({"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["list"]})
}

/// A ClusterRole with the lease rule, labelled aggregate-to-view.
async fn create_lease_reader(admin: &KubeClient) {
    admin
        .create(
            CLUSTERROLES,
            &json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                    "metadata": {"name": "lease-reader",
                                 "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
                    "rules": [lease_rule()]}),
        )
        .await
        .unwrap();
}

/// A ClusterRole's stored rules, as `kubectl get clusterrole NAME -o yaml` reads them.
async fn rules(admin: &KubeClient, name: &str) -> Value {
    admin.get(&format!("{CLUSTERROLES}/{name}")).await.unwrap()["rules"].clone()
}

fn holds_lease_rule(rules: &Value) -> bool {
    rules.as_array().is_some_and(|r| r.contains(&lease_rule()))
}

/// Waits until `name`'s stored rules hold the lease rule (`true`) or do not (`false`).
async fn until_rules(admin: &KubeClient, name: &str, hold: bool) {
    let what = format!(
        "{name} {} the lease rule",
        if hold { "holds" } else { "lacks" }
    );
    eventually(&what, || async {
        (holds_lease_rule(&rules(admin, name).await) == hold).then_some(())
    })
    .await;
}

/// Whether `jane` may list leases in `default`, as RBAC answers a SubjectAccessReview.
async fn jane_may_list_leases(admin: &KubeClient) -> bool {
    let review = admin
        .create(
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            &json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                    "spec": {"user": "jane", "resourceAttributes": {
                        "namespace": "default", "verb": "list",
                        "group": "coordination.k8s.io", "resource": "leases"}}}),
        )
        .await
        .unwrap();
    review["status"]["allowed"] == true
}

async fn bind_jane_to_view(admin: &KubeClient) {
    admin
        .create(
            "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
            &json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                    "metadata": {"name": "jane-view", "namespace": "default"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
                    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "jane"}]}),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn the_office_opens_with_view_edit_and_admin_filled_as_kubeadm_init_leaves_them() {
    let (_dir, office) = quiet_office().await;
    let admin = client(&office, "kubectl", "admin.conf");
    let view = rules(&admin, "view").await;
    assert_eq!(view, rules(&admin, "system:aggregate-to-view").await);
    // edit: system:aggregate-to-edit's rules, then view's not already there.
    let edit = rules(&admin, "edit").await;
    let own = rules(&admin, "system:aggregate-to-edit").await;
    assert!(edit
        .as_array()
        .unwrap()
        .starts_with(own.as_array().unwrap()));
    assert!(view
        .as_array()
        .unwrap()
        .iter()
        .all(|r| edit.as_array().unwrap().contains(r)));
    let admin_rules = rules(&admin, "admin").await;
    assert!(edit
        .as_array()
        .unwrap()
        .iter()
        .all(|r| admin_rules.as_array().unwrap().contains(r)));
    office.shutdown().await;
}

#[tokio::test]
async fn a_role_labelled_aggregate_to_view_is_written_into_view_and_leaves_when_relabelled_or_deleted(
) {
    let (_dir, office) = quiet_office().await;
    let admin = client(&office, "kubectl", "admin.conf");
    bind_jane_to_view(&admin).await;
    let _controller = start_controller(&office);
    let start = said(&office, "controller-manager", "the start line", |e| {
        e.server_log
            .as_deref()
            .is_some_and(|l| l.contains("clusterroleaggregation_controller.go"))
    })
    .await;
    assert_eq!(
        start.server_log.as_deref(),
        Some("I1129 09:00:00.000000       1 clusterroleaggregation_controller.go:194] \"Starting ClusterRoleAggregator controller\" logger=\"clusterrole-aggregation-controller\"")
    );

    create_lease_reader(&admin).await;
    until_rules(&admin, "view", true).await;
    // view carries aggregate-to-edit, edit carries aggregate-to-admin: the rule travels on.
    until_rules(&admin, "edit", true).await;
    until_rules(&admin, "admin", true).await;
    assert!(jane_may_list_leases(&admin).await);
    said(&office, "controller-manager", "the controller's word on view", |e| {
        e.detail.as_deref().is_some_and(|d| {
            d.starts_with("clusterrole view: ")
                && d.ends_with(" rules gathered by its aggregationRule (as system:serviceaccount:kube-system:clusterrole-aggregation-controller)")
        })
    })
    .await;

    // Relabelled: the role no longer matches view's selector.
    admin
        .merge_patch(
            &format!("{CLUSTERROLES}/lease-reader"),
            &json!({"metadata": {"labels": {"rbac.authorization.k8s.io/aggregate-to-view": null}}}),
        )
        .await
        .unwrap();
    until_rules(&admin, "view", false).await;
    until_rules(&admin, "admin", false).await;
    assert!(!jane_may_list_leases(&admin).await);

    // Labelled again, then deleted.
    admin
        .merge_patch(
            &format!("{CLUSTERROLES}/lease-reader"),
            &json!({"metadata": {"labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}}}),
        )
        .await
        .unwrap();
    until_rules(&admin, "view", true).await;
    admin
        .delete(&format!("{CLUSTERROLES}/lease-reader"))
        .await
        .unwrap();
    until_rules(&admin, "view", false).await;
    until_rules(&admin, "edit", false).await;
    assert_never_refused(&office, "controller-manager");
    office.shutdown().await;
}

#[tokio::test]
async fn while_the_controller_is_not_running_a_labelled_role_extends_nobody_and_once_it_starts_view_gains_it(
) {
    let (_dir, office) = quiet_office().await;
    let admin = client(&office, "kubectl", "admin.conf");
    bind_jane_to_view(&admin).await;
    create_lease_reader(&admin).await;
    // Nobody but the controller writes view, and no controller runs: Alice alone does not
    // aggregate, neither in what she stores nor in what she allows.
    assert!(!holds_lease_rule(&rules(&admin, "view").await));
    assert!(!jane_may_list_leases(&admin).await);

    let _controller = start_controller(&office);
    until_rules(&admin, "view", true).await;
    assert!(jane_may_list_leases(&admin).await);
    office.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_labels_a_role_aggregate_to_view_and_get_clusterrole_view_shows_its_rule() {
    let test = "kubectl_labels_a_role_aggregate_to_view_and_get_clusterrole_view_shows_its_rule";
    let Some(bin) = tool("kubectl", test) else {
        return;
    };
    let (dir, office) = quiet_office().await;
    let cache = dir.path().join("kube-cache");
    let admin = client(&office, "kubectl", "admin.conf");
    let _controller = start_controller(&office);
    kubectl(
        &bin,
        &office,
        &cache,
        &[
            "create",
            "clusterrole",
            "lease-reader",
            "--verb=list",
            "--resource=leases.coordination.k8s.io",
        ],
    )
    .await
    .success()
    .stdout_has("clusterrole.rbac.authorization.k8s.io/lease-reader created");
    kubectl(
        &bin,
        &office,
        &cache,
        &[
            "label",
            "clusterrole",
            "lease-reader",
            "rbac.authorization.k8s.io/aggregate-to-view=true",
        ],
    )
    .await
    .success()
    .stdout_has("clusterrole.rbac.authorization.k8s.io/lease-reader labeled");
    until_rules(&admin, "view", true).await;
    kubectl(
        &bin,
        &office,
        &cache,
        &["get", "clusterrole", "view", "-o", "yaml"],
    )
    .await
    .success()
    .stdout_has(
        "- apiGroups:\n  - coordination.k8s.io\n  resources:\n  - leases\n  verbs:\n  - list\n",
    );
    office.shutdown().await;
}
