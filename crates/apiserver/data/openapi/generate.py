#!/usr/bin/env python3
"""Writes the lab's OpenAPI v3 component schemas (data/openapi/*.json) for the kinds Alice serves.

Source: the Kubernetes v1.32.0 definitions as the PyPI package `kubernetes-validate` ships them
(`kubernetes_validate/kubernetes-json-schema/v1.32.0-local/_definitions.json`, made from
kube-apiserver's published OpenAPI, whose descriptions are k8s.io/api's doc comments). Run by
hand when the lab serves a new kind; nothing runs it at build or test time:

    python3 -m pip download --no-deps -d /tmp/kv kubernetes-validate
    python3 crates/apiserver/data/openapi/generate.py /tmp/kv/kubernetes_validate-*.whl

Each group-version's file holds every schema its kinds reach through `$ref`, turned back into
the shape kube-apiserver serves at /openapi/v3/<gv>: `#/components/schemas/...` references,
`allOf: [{$ref}]` where a reference carries its own description, one `type` (the package adds
"null" to each), no `enum` on apiVersion and kind (the package's own addition), and Quantity and
IntOrString as strings (`format: int-or-string` for the latter).
"""
import json
import os
import sys
import zipfile

DEFS = "kubernetes_validate/kubernetes-json-schema/v1.32.0-local/_definitions.json"

# The kinds Alice serves (crates/client/src/resources.rs), by group-version path.
KINDS = {
    "api/v1": ("", ["Namespace", "Pod", "Node", "Service", "Endpoints", "Secret", "ConfigMap",
                    "Event", "ServiceAccount", "Binding"]),
    "apis/apps/v1": ("apps", ["Deployment", "ReplicaSet"]),
    "apis/discovery.k8s.io/v1": ("discovery.k8s.io", ["EndpointSlice"]),
    "apis/certificates.k8s.io/v1": ("certificates.k8s.io", ["CertificateSigningRequest"]),
    "apis/rbac.authorization.k8s.io/v1": ("rbac.authorization.k8s.io",
                                          ["Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"]),
    "apis/coordination.k8s.io/v1": ("coordination.k8s.io", ["Lease"]),
    "apis/apiregistration.k8s.io/v1": ("apiregistration.k8s.io", ["APIService"]),
    "apis/authentication.k8s.io/v1": ("authentication.k8s.io",
                                      ["TokenReview", "SelfSubjectReview", "TokenRequest"]),
    "apis/authorization.k8s.io/v1": ("authorization.k8s.io",
                                     ["SelfSubjectAccessReview", "SelfSubjectRulesReview",
                                      "SubjectAccessReview", "LocalSubjectAccessReview"]),
}

PREFIX = "#/$defs/"
STRINGLIKE = {
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": "string", "format": "int-or-string"},
}


def refs(node, out):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                out.add(v[len(PREFIX):])
            else:
                refs(v, out)
    elif isinstance(node, list):
        for v in node:
            refs(v, out)


def convert(node, prop_name=None):
    if isinstance(node, list):
        return [convert(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if k == "$ref":
            continue
        if k == "type" and isinstance(v, list):
            kept = [t for t in v if t != "null"]
            v = kept[0] if len(kept) == 1 else kept
        if k == "enum" and prop_name in ("apiVersion", "kind"):
            continue
        if k == "properties":
            out[k] = {name: convert(p, name) for name, p in v.items()}
            continue
        out[k] = convert(v)
    if "$ref" in node:
        ref = "#/components/schemas/" + node["$ref"][len(PREFIX):]
        if out:
            out = {"allOf": [{"$ref": ref}], **out}
        else:
            out = {"$ref": ref}
    return out


def main(wheel, outdir):
    defs = json.loads(zipfile.ZipFile(wheel).read(DEFS))["$defs"]
    by_gvk = {}
    for name, d in defs.items():
        for g in d.get("x-kubernetes-group-version-kind", []):
            by_gvk[(g["group"], g["version"], g["kind"])] = name
    for gv, (group, kinds) in KINDS.items():
        todo = [by_gvk[(group, "v1", k)] for k in kinds]
        seen = set(todo)
        while todo:
            found = set()
            refs(defs[todo.pop()], found)
            for r in sorted(found - seen):
                seen.add(r)
                todo.append(r)
        schemas = {}
        for name in sorted(seen):
            if name in STRINGLIKE:
                schemas[name] = dict(STRINGLIKE[name])
            else:
                schemas[name] = convert(defs[name])
        path = os.path.join(outdir, gv.replace("/", "__") + ".json")
        with open(path, "w") as f:
            json.dump({"components": {"schemas": schemas}}, f, separators=(",", ":"), sort_keys=True)
            f.write("\n")
        print(f"{path}: {len(schemas)} schemas")


if __name__ == "__main__":
    main(sys.argv[1], os.path.dirname(os.path.abspath(__file__)))
