//! The cluster-wide rulebook read with the real kubectl: `get clusterroles`,
//! `get clusterrolebindings`, `describe clusterrole view`, and `auth can-i` as someone else
//! (`--as`, impersonation), as on a kubeadm 1.32 cluster.

use super::Running;

/// The rows of a `kubectl get` table, without its header.
fn rows(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .collect()
}

#[test]
fn kubectl_lists_the_clusterroles_and_bindings_a_kubeadm_cluster_has() {
    let Some(lab) = Running::start("kubectl_lists_the_clusterroles") else {
        return;
    };
    let roles = lab.admin(&["get", "clusterroles"]).success();
    let header = roles.stdout.lines().next().unwrap_or("");
    assert!(
        header.starts_with("NAME") && header.trim_end().ends_with("CREATED AT"),
        "{}",
        roles.dump()
    );
    // 31 bootstrap roles, 33 controller roles, kubeadm:get-nodes and system:coredns, and the
    // two metrics-server's manifest applies (system:metrics-server, system:aggregated-metrics-reader).
    assert_eq!(rows(&roles.stdout).len(), 68, "{}", roles.dump());
    for name in [
        "admin",
        "edit",
        "view",
        "system:aggregate-to-view",
        "system:monitoring",
        "system:certificates.k8s.io:legacy-unknown-approver",
        "system:controller:clusterrole-aggregation-controller",
        "system:controller:validatingadmissionpolicy-status-controller",
        "kubeadm:get-nodes",
        "system:coredns",
    ] {
        assert!(
            rows(&roles.stdout)
                .iter()
                .any(|r| r.split_whitespace().next() == Some(name)),
            "{name} missing:\n{}",
            roles.dump()
        );
    }
    let bindings = lab.admin(&["get", "clusterrolebindings"]).success();
    // 12 bootstrap, 33 controller, 7 kubeadm, the lab's 3 and metrics-server's 2.
    assert_eq!(rows(&bindings.stdout).len(), 57, "{}", bindings.dump());
    let admins = rows(&bindings.stdout)
        .into_iter()
        .find(|r| r.starts_with("kubeadm:cluster-admins "))
        .unwrap_or_else(|| panic!("{}", bindings.dump()));
    assert!(
        admins.contains("ClusterRole/cluster-admin"),
        "{}",
        bindings.dump()
    );
}

#[test]
fn describe_clusterrole_view_shows_the_rules_aggregation_gave_it() {
    let Some(lab) = Running::start("describe_clusterrole_view") else {
        return;
    };
    let view = lab.admin(&["describe", "clusterrole", "view"]).success();
    for line in [
        "Name:         view",
        "Labels:       kubernetes.io/bootstrapping=rbac-defaults",
        "              rbac.authorization.k8s.io/aggregate-to-edit=true",
        "Annotations:  rbac.authorization.kubernetes.io/autoupdate: true",
        "PolicyRule:",
    ] {
        assert!(view.stdout.contains(line), "{line}:\n{}", view.dump());
    }
    // Rows of the PolicyRule table: resource, non-resource URLs, names, verbs.
    let row = |resource: &str| {
        view.stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(resource))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
    };
    assert_eq!(
        row("pods/log").as_deref(),
        Some("pods/log [] [] [get list watch]"),
        "{}",
        view.dump()
    );
    assert_eq!(
        row("daemonsets.extensions").as_deref(),
        Some("daemonsets.extensions [] [] [get list watch]"),
        "{}",
        view.dump()
    );
    // view never reads secrets; edit does. kubectl merges a resource's rules in rule order,
    // and edit's first rule (from system:aggregate-to-edit) is the read rule.
    assert_eq!(row("secrets"), None, "{}", view.dump());
    let edit = lab.admin(&["describe", "clusterrole", "edit"]).success();
    assert!(
        edit.stdout
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")
                == "secrets [] [] [get list watch create delete deletecollection patch update]"),
        "{}",
        edit.dump()
    );
}

#[test]
fn auth_can_i_as_someone_else_asks_the_rulebook_for_them_and_only_admins_may_ask() {
    let Some(lab) = Running::start("auth_can_i_as_someone_else") else {
        return;
    };
    // kube-proxy's account: system:node-proxier through kubeadm:node-proxier.
    let proxy = "system:serviceaccount:kube-system:kube-proxy";
    lab.admin(&[
        "auth",
        "can-i",
        "list",
        "endpointslices.discovery.k8s.io",
        "--as",
        proxy,
    ])
    .success()
    .stdout_has("yes");
    lab.admin(&[
        "auth",
        "can-i",
        "create",
        "endpointslices.discovery.k8s.io",
        "--as",
        proxy,
    ])
    .failure(1)
    .stdout_has("no");
    let list = lab
        .admin(&["auth", "can-i", "--list", "--as", "system:kube-scheduler"])
        .success();
    let row = |resource: &str| {
        list.stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(resource))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
    };
    assert!(list.stdout.starts_with("Resources"), "{}", list.dump());
    assert_eq!(
        row("leasecandidates.coordination.k8s.io").as_deref(),
        Some("leasecandidates.coordination.k8s.io [] [] [create delete deletecollection get list patch update watch]"),
        "{}",
        list.dump()
    );
    assert_eq!(
        row("volumeattachments.storage.k8s.io").as_deref(),
        Some("volumeattachments.storage.k8s.io [] [] [get list watch]"),
        "{}",
        list.dump()
    );
    // A user without cluster-admin may not impersonate: kube-apiserver's 403 text.
    let scheduler = lab.conf("scheduler.conf");
    lab.kubectl(&scheduler, &["auth", "can-i", "--list", "--as", "jane"])
        .failure(1)
        .stderr_has("Error from server (Forbidden): users \"jane\" is forbidden: User \"system:kube-scheduler\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope");
}
