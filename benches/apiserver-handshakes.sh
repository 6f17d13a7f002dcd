#!/usr/bin/env bash
# Benchmark: requests/s to the apiserver's GET /healthz where every request is a fresh TCP
# connection and a full mutual-TLS handshake (client certificate verified each time, no
# resumption), against nginx (Debian `nginx-light`, `ssl_verify_client on`, static 200) with
# the same certificates and the same load generator (crates/loadgen), in one run; then the
# machine's crypto bound from `openssl speed`. Prints a markdown table.
# Needs nginx (Debian package `nginx-light`) and openssl.
# CONCURRENCY=N, DURATION=SECONDS, WORKERS=N (nginx worker_processes, default auto) change the run.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p kubecorp -p kubecorp-loadgen
bin=$PWD/target/release/kubecorp
loadgen=$PWD/target/release/kubecorp-loadgen
conc=${CONCURRENCY:-32}
dur=${DURATION:-10}
cores=$(nproc)
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done
  echo "nothing listening on port $1" >&2; return 1
}

api_port=$(free_port); etcd_port=$(free_port); nginx_port=$(free_port)
lab=$work/lab
"$bin" up --dir "$lab" --apiserver-listen "127.0.0.1:$api_port" --etcd-listen "127.0.0.1:$etcd_port" --kubelet-listen 127.0.0.1:0 --etcd-peer-listen 127.0.0.1:0 --scheduler-listen 127.0.0.1:0 --proxy-healthz-listen 127.0.0.1:0 \
  >/dev/null 2>"$work/up.err" &
pids+=($!)
wait_port "$api_port"

pki=$lab/pki
# The client: signed by the cluster CA, O=kubeadm:cluster-admins (allowed to GET /healthz).
ca=$pki/ca.crt cert=$pki/apiserver-kubelet-client.crt key=$pki/apiserver-kubelet-client.key

mkdir -p "$work/nginx/logs"
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes ${WORKERS:-auto};
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  ssl_session_cache off;
  ssl_session_tickets off;
  server {
    listen 127.0.0.1:$nginx_port ssl;
    ssl_certificate $pki/apiserver.crt;
    ssl_certificate_key $pki/apiserver.key;
    ssl_client_certificate $ca;
    ssl_verify_client on;
    ssl_protocols TLSv1.3;  # nginx 1.22's default stops at TLS 1.2; compare like with like
    location / { default_type text/plain; return 200 "ok"; }
  }
}
CONF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/logs/error.log" -g 'daemon off;' &
pids+=($!)
wait_port "$nginx_port"

run_load() { # NAME URL -> "NAME rps=… ok=… errors=… seconds=…" on stdout
  echo "$1 $("$loadgen" --url "$2" --ca "$ca" --cert "$cert" --key "$key" \
    --concurrency "$conc" --duration "$dur" --plain 2>>"$work/negotiated.txt")"
}
{
  run_load apiserver "https://127.0.0.1:$api_port/healthz"
  run_load nginx "https://127.0.0.1:$nginx_port/healthz"
} >"$work/load.txt"
# Stop both servers before measuring the crypto bound, so it has the machine to itself.
for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()
openssl speed -seconds 3 ecdsap256 ecdhp256 ecdhx25519 >"$work/speed.txt" 2>/dev/null
cat "$work/negotiated.txt"

python3 - "$work/load.txt" "$work/speed.txt" "$cores" "$conc" "$dur" <<'PY'
import re, sys
load_path, speed_path, cores, conc, dur = sys.argv[1:]
cores = int(cores)
load = {}
for line in open(load_path):
    name, *kv = line.split()
    load[name] = dict(x.split("=") for x in kv)
speed = open(speed_path).read()
sign, verify = map(float, re.search(r"ecdsa \(nistp256\)\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)", speed).groups())
ecdh_p256 = float(re.search(r"ecdh \(nistp256\)\s+\S+\s+([\d.]+)", speed).group(1))
ecdh_x25519 = float(re.search(r"ecdh \(X25519\)\s+\S+\s+([\d.]+)", speed).group(1))
# Per full TLS 1.3 handshake with ECDSA P-256 certificates on both sides, each side does
# 1 ECDSA sign (its CertificateVerify), 2 ECDSA verifies (the peer's certificate by the CA,
# the peer's CertificateVerify) and 1 ECDH derivation (X25519 is negotiated; ephemeral key
# generation is not counted, so the bound is optimistic). Server and client share the cores.
def side(ecdh):
    return 1 / sign + 2 / verify + 1 / ecdh
bound = cores / (2 * side(ecdh_x25519))
bound_server_only = cores / side(ecdh_x25519)
api = float(load["apiserver"]["rps"]); ngx = float(load["nginx"]["rps"])
print(f"openssl speed (1 core): ECDSA P-256 sign {sign:.0f}/s, verify {verify:.0f}/s; "
      f"ECDH P-256 {ecdh_p256:.0f}/s, X25519 {ecdh_x25519:.0f}/s")
print(f"per-side cost: 1 sign + 2 verify + 1 X25519 = {side(ecdh_x25519)*1e6:.1f} µs; "
      f"bound = {cores} cores / (server + client) = {bound:.0f} handshakes/s "
      f"(server alone on {cores} cores: {bound_server_only:.0f}/s)")
print(f"concurrency {conc}, {dur} s measured per target, loadgen and servers on the same {cores} cores")
print()
print("| target | requests/s | ok | errors | vs nginx | vs crypto bound |")
print("|---|---:|---:|---:|---:|---:|")
for name, rps in (("kubecorp apiserver GET /healthz", api), ("nginx-light static 200", ngx)):
    r = load["apiserver" if "kubecorp" in name else "nginx"]
    print(f"| {name} | {rps:.0f} | {r['ok']} | {r['errors']} | {rps/ngx:.2f}× | {100*rps/bound:.0f} % |")
print(f"| crypto bound (openssl speed, server + client work) | {bound:.0f} | | | {bound/ngx:.2f}× | 100 % |")
PY
