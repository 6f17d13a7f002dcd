"""The official Kubernetes Python client against a running office, with admin.conf.

Usage: python3 client_judge.py KUBECONFIG SERVER_URL

Prints one line per check; the Rust test compares them. Any exception (a refused call, or a
model that will not deserialize what the lab sent) ends the script with a traceback.
"""
import base64
import json
import sys

from kubernetes import client, config


def main(kubeconfig, server):
    cfg = client.Configuration()
    config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    cfg.host = server  # the office listens where the test started it
    api = client.ApiClient(cfg)
    v1 = client.CoreV1Api(api)

    names = sorted(ns.metadata.name for ns in v1.list_namespace().items)
    print("namespaces:", " ".join(names))

    pods = v1.list_pod_for_all_namespaces()
    print("pods listed:", type(pods).__name__)

    nodes = v1.list_node().items
    print("nodes:", " ".join(sorted(n.metadata.name for n in nodes)))
    for n in nodes:
        info = n.status.node_info
        print("nodeInfo:", n.metadata.name, bool(info.boot_id), bool(info.machine_id),
              bool(info.system_uuid), info.kubelet_version)

    cm = client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="judge", labels={"from": "python"}),
        data={"greeting": "hello from the official client"},
    )
    created = v1.create_namespaced_config_map("default", cm)
    print("configmap created:", created.metadata.name, bool(created.metadata.uid))
    read = v1.read_namespaced_config_map("judge", "default")
    print("configmap read:", read.data["greeting"], read.metadata.labels["from"])

    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
    )
    answer = v1.create_namespaced_service_account_token("default", "default", request)
    token = answer.status.token
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    print("token for:", claims["sub"], bool(answer.status.expiration_timestamp))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
