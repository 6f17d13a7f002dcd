//! `kubectl explain` against the lab, which reads v1.32's schemas from `/openapi/v3`.

use super::Running;

#[test]
fn kubectl_explain_pods_prints_the_kind_version_and_upstream_description() {
    let Some(lab) = Running::start("kubectl_explain_pods") else {
        return;
    };
    let pods = lab
        .admin(&["explain", "pods"])
        .success()
        .stdout_has("KIND:       Pod\n")
        .stdout_has("VERSION:    v1\n")
        .stdout_has("DESCRIPTION:\n    Pod is a collection of containers that can run on a host. This resource is\n    created by clients and scheduled onto hosts.\n");
    for field in [
        "  apiVersion\t<string>\n",
        "  metadata\t<ObjectMeta>\n",
        "  spec\t<PodSpec>\n",
        "  status\t<PodStatus>\n",
    ] {
        assert!(pods.stdout.contains(field), "{field:?}:\n{}", pods.dump());
    }
    lab.admin(&["explain", "pod.spec.containers"])
        .success()
        .stdout_has("KIND:       Pod\n")
        .stdout_has("FIELD: containers <[]Container>\n")
        .stdout_has("    List of containers belonging to the pod. Containers cannot currently be\n")
        .stdout_has("  name\t<string> -required-\n")
        .stdout_has("  image\t<string>\n");
}

#[test]
fn kubectl_explain_reads_the_other_groups_the_lab_serves() {
    let Some(lab) = Running::start("kubectl_explain_other_groups") else {
        return;
    };
    lab.admin(&["explain", "clusterrole.aggregationRule"])
        .success()
        .stdout_has("GROUP:      rbac.authorization.k8s.io\n")
        .stdout_has("FIELD: aggregationRule <AggregationRule>\n")
        .stdout_has("  clusterRoleSelectors\t<[]LabelSelector>\n");
    lab.admin(&["explain", "csr.spec.usages"])
        .success()
        .stdout_has("GROUP:      certificates.k8s.io\n")
        .stdout_has("FIELD: usages <[]string>\n");
}
