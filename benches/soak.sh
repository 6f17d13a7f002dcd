#!/usr/bin/env bash
# Soak: fresh mutual-TLS connections against one `kubecorp up`, mixing good badges with ten
# faults (expired, not yet valid, a rogue CA, a CA with the same name as the cluster's, a badge
# for the wrong usage, no badge, a cluster-CA badge at etcd, handshakes cut half-way), each with
# the verdict its guard must give. Counts every outcome, fails on any wrong verdict, and prints
# the office's resident memory before and after. Not part of CI.
#
# TOTAL=N connections (default 33,000), CONCURRENCY=N (default 16), ROUNDS=N soak rounds
# (default 1; memory is printed after each).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p kubecorp -p kubecorp-loadgen
bin=$PWD/target/release/kubecorp
soak=$PWD/target/release/kubecorp-soak
total=${TOTAL:-33000}
conc=${CONCURRENCY:-16}
rounds=${ROUNDS:-1}
. benches/lib.sh
rss() { awk '/VmRSS/ {print $2 " kB"}' "/proc/$1/status"; }

lab=$work/lab
"$bin" pki init --dir "$lab" --key-algorithm ECDSA-P256 >/dev/null
pki=$lab/pki

# The faulty badges, made beside the lab so the office never sees them on its own disk.
# Expired and not yet valid: the cluster CA's own key signs them, a year out of date either way.
for when in past future; do
  cp -a "$lab" "$work/$when"
  now=$([ "$when" = past ] && echo -2y || echo +2y)
  "$bin" certs renew apiserver-kubelet-client --dir "$work/$when" --now "$now" >/dev/null
done
# A CA with the cluster CA's very name ("kubernetes"), but another key: a second lab.
"$bin" pki init --dir "$work/twin" --key-algorithm ECDSA-P256 >/dev/null
# A rogue CA with a name of its own, and a badge it signs for the admin's name.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj /CN=rogue-ca -keyout "$work/rogue-ca.key" -out "$work/rogue-ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj "/O=kubeadm:cluster-admins/CN=kubernetes-admin" -keyout "$work/rogue.key" -out "$work/rogue.csr" 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' >"$work/client.ext"
openssl x509 -req -in "$work/rogue.csr" -CA "$work/rogue-ca.crt" -CAkey "$work/rogue-ca.key" \
  -CAcreateserial -days 30 -extfile "$work/client.ext" -out "$work/rogue.crt" 2>/dev/null

api_port=$(free_port); etcd_port=$(free_port)
"$bin" up --dir "$lab" --apiserver-listen "127.0.0.1:$api_port" --etcd-listen "127.0.0.1:$etcd_port" \
  --kubelet-listen 127.0.0.1:0 --etcd-peer-listen 127.0.0.1:0 --scheduler-listen 127.0.0.1:0 \
  --proxy-healthz-listen 127.0.0.1:0 >/dev/null 2>"$work/up.err" &
pids+=($!)
up_pid=$!
wait_port "$api_port"
wait_port "$etcd_port"
sleep 2

api=https://127.0.0.1:$api_port/api/v1/namespaces
etcd=https://127.0.0.1:$etcd_port/health
admin="$pki/apiserver-kubelet-client.crt,$pki/apiserver-kubelet-client.key"
cases=(
  --case "good admin at Alice=$api,$admin,200"
  --case "good apiserver-etcd-client at Charlie=$etcd,$pki/apiserver-etcd-client.crt,$pki/apiserver-etcd-client.key,200"
  --case "expired badge at Alice=$api,$work/past/pki/apiserver-kubelet-client.crt,$work/past/pki/apiserver-kubelet-client.key,401"
  --case "not-yet-valid badge at Alice=$api,$work/future/pki/apiserver-kubelet-client.crt,$work/future/pki/apiserver-kubelet-client.key,401"
  --case "rogue CA at Alice=$api,$work/rogue.crt,$work/rogue.key,401"
  --case "same-name CA at Alice=$api,$work/twin/pki/apiserver-kubelet-client.crt,$work/twin/pki/apiserver-kubelet-client.key,401"
  --case "server badge as client at Alice=$api,$pki/apiserver.crt,$pki/apiserver.key,401"
  --case "no badge at Alice=$api,-,-,403"
  --case "cluster-CA badge at Charlie=$etcd,$admin,refused"
  --case "rogue CA at Charlie=$etcd,$work/rogue.crt,$work/rogue.key,refused"
  --case "no badge at Charlie=$etcd,-,-,refused"
  --case "cut half-way at Alice=$api,-,-,cut"
  --case "cut half-way at Charlie=$etcd,-,-,cut"
)

echo "office's resident memory before: $(rss "$up_pid")"
for round in $(seq "$rounds"); do
  "$soak" --total "$total" --concurrency "$conc" "${cases[@]}"
  kill -0 "$up_pid" 2>/dev/null || { echo "the office died: $(tail -5 "$work/up.err")" >&2; exit 1; }
  echo "office's resident memory after round $round: $(rss "$up_pid")"
done
