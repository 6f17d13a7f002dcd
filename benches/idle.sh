#!/usr/bin/env bash
# Idle connections: N mutual-TLS connections (default 2,000) held open at once to Alice, then to
# Charlie (a fresh office for each), each a full handshake with a good badge and then nothing
# sent; prints the office's resident memory (VmRSS) before, while they are all held, and 3 s and
# 30 s after they are closed, and the load average. `kubecorp-soak --hold` does the holding and
# the reading. Not part of CI.
#
# HOLD=N connections per door (default 2000), CONCURRENCY=N handshakes at a time (default 16),
# BUILD=0 to use the release binaries already in target/release, KUBECORP=PATH to measure
# another `kubecorp` binary (e.g. one built before a change) with the same load.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${BUILD:-1}" != 0 ]; then
  cargo build --release --quiet -p kubecorp -p kubecorp-loadgen
fi
bin=${KUBECORP:-$PWD/target/release/kubecorp}
soak=$PWD/target/release/kubecorp-soak
hold=${HOLD:-2000}
conc=${CONCURRENCY:-16}
. benches/lib.sh
# Every held connection is a socket on both sides.
ulimit -n "$(ulimit -Hn)"

lab=$work/lab
# The figures in BENCHMARKS.md are for an ECDSA-P256 lab (the default is RSA-2048, as kubeadm).
"$bin" pki init --dir "$lab" --key-algorithm ECDSA-P256 >/dev/null
pki=$lab/pki
# One fresh office per door, so neither measure starts from memory the other left.
measure() { # NAME PATH CERT KEY
  local api_port etcd_port up_pid url
  api_port=$(free_port); etcd_port=$(free_port)
  "$bin" up --dir "$lab" --apiserver-listen "127.0.0.1:$api_port" --etcd-listen "127.0.0.1:$etcd_port" \
    --kubelet-listen 127.0.0.1:0 --etcd-peer-listen 127.0.0.1:0 --scheduler-listen 127.0.0.1:0 \
    --proxy-healthz-listen 127.0.0.1:0 >/dev/null 2>"$work/up.err" &
  up_pid=$!
  pids+=("$up_pid")
  wait_port "$api_port"
  wait_port "$etcd_port"
  sleep 2
  case $2 in /api*) url=https://127.0.0.1:$api_port$2 ;; *) url=https://127.0.0.1:$etcd_port$2 ;; esac
  echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  "$soak" --hold "$hold" --concurrency "$conc" --office-pid "$up_pid" --case "$1=$url,$3,$4,200"
  kill -0 "$up_pid" 2>/dev/null || { echo "the office died: $(tail -5 "$work/up.err")" >&2; exit 1; }
  kill "$up_pid"; wait "$up_pid" 2>/dev/null || true
}

measure "Alice (admin badge)" /api "$pki/apiserver-kubelet-client.crt" "$pki/apiserver-kubelet-client.key"
measure "Charlie (apiserver-etcd-client badge)" /health "$pki/apiserver-etcd-client.crt" "$pki/apiserver-etcd-client.key"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
