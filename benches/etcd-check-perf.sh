#!/usr/bin/env bash
# Benchmark: `etcdctl check perf` (Debian's etcd-client 3.4) against the real etcd 3.4 (Debian's
# etcd-server) and against Charlie (`kubecorp serve etcd`, release build), both with one lab's
# PKI and client-certificate authentication, on loopback; one after the other, never at once.
# LOADS="s m" chooses etcdctl's loads (default: both). Prints etcdctl's PASS/FAIL lines.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p kubecorp
bin=$PWD/target/release/kubecorp
work=$(mktemp -d)
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
pki=$work/lab/pki
"$bin" pki init --dir "$work/lab" >/dev/null
"$bin" serve etcd --dir "$work/lab" --listen 127.0.0.1:23795 --peer-listen 127.0.0.1:23805 \
  >"$work/charlie.log" 2>&1 &
pids+=($!)
etcd --name n --data-dir "$work/etcd-data" --client-cert-auth \
  --cert-file "$pki/etcd/server.crt" --key-file "$pki/etcd/server.key" \
  --trusted-ca-file "$pki/etcd/ca.crt" \
  --listen-client-urls https://127.0.0.1:23791 --advertise-client-urls https://127.0.0.1:23791 \
  --listen-peer-urls http://127.0.0.1:23801 --initial-advertise-peer-urls http://127.0.0.1:23801 \
  --initial-cluster n=http://127.0.0.1:23801 >"$work/etcd.log" 2>&1 &
pids+=($!)
sleep 3
for load in ${LOADS:-s m}; do
  for target in "real etcd 3.4:23791" "Charlie:23795"; do
    echo "== --load=$load, ${target%:*} ($(uptime | sed 's/.*load/load/'))"
    ETCDCTL_API=3 etcdctl --endpoints "https://127.0.0.1:${target##*:}" --cacert "$pki/etcd/ca.crt" \
      --cert "$pki/etcd/healthcheck-client.crt" --key "$pki/etcd/healthcheck-client.key" \
      check perf --load="$load" 2>&1 | tr '\r' '\n' | grep -oE '(PASS|FAIL)(: .*)?$' || true
  done
done
