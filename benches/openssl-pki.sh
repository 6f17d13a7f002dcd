#!/usr/bin/env bash
# The same set `kubecorp pki init` writes (3 CAs, 7 leaves, sa, 6 kubeconfigs), made with the
# openssl CLI, as a baseline for BENCHMARKS.md. Usage: openssl-pki.sh DIR ecdsa|rsa
set -euo pipefail
dir=$1; alg=$2
rm -rf "$dir"; mkdir -p "$dir/pki/etcd"; cd "$dir"
node=kubecorp-control-plane; ip=127.0.0.1

newkey() { # $1 = key file
  if [ "$alg" = rsa ]; then openssl genrsa -traditional -out "$1" 2048 2>/dev/null
  else openssl ecparam -name prime256v1 -genkey -noout -out "$1"; fi
  chmod 600 "$1"
}
ca() { # $1 = stem, $2 = CN
  newkey "pki/$1.key"
  openssl req -x509 -new -key "pki/$1.key" -subj "/CN=$2" -days 3650 -sha256 -out "pki/$1.crt" \
    -addext "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "subjectAltName=DNS:$2" 2>/dev/null
}
leaf() { # $1 = out stem, $2 = ca stem, $3 = subject, $4 = eku, $5 = SANs or ""
  local ext="keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=$4
basicConstraints=critical,CA:FALSE
authorityKeyIdentifier=keyid"
  [ -n "$5" ] && ext="$ext
subjectAltName=$5"
  newkey "$1.key"
  openssl req -new -key "$1.key" -subj "$3" -out "$1.csr" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA "pki/$2.crt" -CAkey "pki/$2.key" -CAcreateserial -days 365 -sha256 \
    -extfile <(printf '%s\n' "$ext") -out "$1.crt" 2>/dev/null
  rm -f "$1.csr"
}
kubeconfig() { # $1 = file, $2 = subject, $3 = user
  leaf "pki/tmp-$1" ca "$2" clientAuth ""
  cat > "$1" <<YAML
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: $(base64 -w0 pki/ca.crt)
    server: https://$ip:6443
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: $3
  name: $3@kubernetes
current-context: $3@kubernetes
kind: Config
preferences: {}
users:
- name: $3
  user:
    client-certificate-data: $(base64 -w0 "pki/tmp-$1.crt")
    client-key-data: $(base64 -w0 "pki/tmp-$1.key")
YAML
  chmod 600 "$1"; rm -f "pki/tmp-$1".*
}

ca ca kubernetes
leaf pki/apiserver ca /CN=kube-apiserver serverAuth \
  "DNS:$node,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.96.0.1,IP:$ip"
leaf pki/apiserver-kubelet-client ca "/O=kubeadm:cluster-admins/CN=kube-apiserver-kubelet-client" clientAuth ""
ca front-proxy-ca front-proxy-ca
leaf pki/front-proxy-client front-proxy-ca /CN=front-proxy-client clientAuth ""
ca etcd/ca etcd-ca
etcd_sans="DNS:$node,DNS:localhost,IP:$ip,IP:127.0.0.1,IP:::1"
leaf pki/etcd/server etcd/ca "/CN=$node" serverAuth,clientAuth "$etcd_sans"
leaf pki/etcd/peer etcd/ca "/CN=$node" serverAuth,clientAuth "$etcd_sans"
leaf pki/etcd/healthcheck-client etcd/ca /CN=kube-etcd-healthcheck-client clientAuth ""
leaf pki/apiserver-etcd-client etcd/ca /CN=kube-apiserver-etcd-client clientAuth ""
newkey pki/sa.key; openssl pkey -in pki/sa.key -pubout -out pki/sa.pub 2>/dev/null
kubeconfig admin.conf "/O=kubeadm:cluster-admins/CN=kubernetes-admin" kubernetes-admin
kubeconfig super-admin.conf "/O=system:masters/CN=kubernetes-super-admin" kubernetes-super-admin
kubeconfig kubelet.conf "/O=system:nodes/CN=system:node:$node" "system:node:$node"
kubeconfig controller-manager.conf /CN=system:kube-controller-manager system:kube-controller-manager
kubeconfig scheduler.conf /CN=system:kube-scheduler system:kube-scheduler
kubeconfig kube-proxy.conf /CN=system:kube-proxy system:kube-proxy
