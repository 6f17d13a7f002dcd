#!/usr/bin/env bash
# Benchmark: requests/s to the apiserver's GET /healthz where every request is a fresh TCP
# connection and a full mutual-TLS handshake (client certificate verified each time, no
# resumption), against nginx (Debian `nginx-light`, `ssl_verify_client on`, static 200) with
# the same certificates and the same load generator (crates/loadgen), in one run; then the
# machine's crypto bound from `openssl speed`. Prints a markdown table.
# Needs nginx (Debian package `nginx-light`) and openssl.
#
# PIN=1 (the default on 2+ cores): each server gets CPU 0 to itself (one tokio worker, one
# nginx worker) and the load generator the other CPUs, so a server's figure is what one core
# serves and the crypto bound is one core's. PIN=0 lets everything share every core.
# CONCURRENCY=N, DURATION=SECONDS, WORKERS=N (nginx worker_processes) change the run.
# VERIFY_SERVER=1 makes the load generator check the server's chain too (off by default: it
# is the servers that are measured; the handshake signature is checked either way).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p kubecorp -p kubecorp-loadgen
bin=$PWD/target/release/kubecorp
loadgen=$PWD/target/release/kubecorp-loadgen
conc=${CONCURRENCY:-32}
dur=${DURATION:-10}
cores=$(nproc)
pin=${PIN:-$([ "$cores" -ge 2 ] && echo 1 || echo 0)}
if [ "$pin" = 1 ]; then
  server_cpus=0 loadgen_cpus=1-$((cores - 1)) server_cores=1 workers=${WORKERS:-1}
else
  server_cpus=0-$((cores - 1)) loadgen_cpus=$server_cpus server_cores=$cores workers=${WORKERS:-auto}
fi
insecure=--insecure-skip-tls-verify
[ "${VERIFY_SERVER:-0}" = 1 ] && insecure=""
. benches/lib.sh

api_port=$(free_port); etcd_port=$(free_port); nginx_port=$(free_port)
lab=$work/lab
taskset -c "$server_cpus" "$bin" up --dir "$lab" --key-algorithm ECDSA-P256 --apiserver-listen "127.0.0.1:$api_port" --etcd-listen "127.0.0.1:$etcd_port" --kubelet-listen 127.0.0.1:0 --etcd-peer-listen 127.0.0.1:0 --scheduler-listen 127.0.0.1:0 --proxy-healthz-listen 127.0.0.1:0 \
  >/dev/null 2>"$work/up.err" &
pids+=($!)
api_pid=$!
wait_port "$api_port"

pki=$lab/pki
# The client: signed by the cluster CA, O=kubeadm:cluster-admins (allowed to GET /healthz).
ca=$pki/ca.crt cert=$pki/apiserver-kubelet-client.crt key=$pki/apiserver-kubelet-client.key

mkdir -p "$work/nginx/logs"
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes $workers;
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
    # The apiserver ranks suites as Go does (AES-128-GCM first, its own choice); so does nginx
    # here, so both do the same AEAD and hash work.
    ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384;
    ssl_prefer_server_ciphers on;
    location / { default_type text/plain; return 200 "ok"; }
  }
}
CONF
taskset -c "$server_cpus" nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/logs/error.log" -g 'daemon off;' &
pids+=($!)
wait_port "$nginx_port"
nginx_pids() { local master; master=$(cat "$work/nginx/nginx.pid"); echo "$master" $(pgrep -P "$master"); }

cpu_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
now() { date +%s.%N; }
run_load() { # NAME URL PIDS... -> "NAME rps=… ok=… errors=… seconds=… cpu=…" on stdout
  # cpu: the server's CPU time per second of wall time, sampled inside the measured window.
  local name=$1 url=$2 t0 t1 c0 c1; shift 2
  # shellcheck disable=SC2086 # $insecure is one flag or nothing
  taskset -c "$loadgen_cpus" "$loadgen" --url "$url" --ca "$ca" --cert "$cert" --key "$key" \
    --concurrency "$conc" --duration "$dur" --plain $insecure >"$work/$name.out" 2>>"$work/negotiated.txt" &
  local lg=$!
  sleep 1.5 # the load generator's 1 s warm-up, and a margin
  c0=$(cpu_ticks "$@") t0=$(now)
  sleep "$(python3 -c "print(max($dur - 1, 0.5))")"
  c1=$(cpu_ticks "$@") t1=$(now)
  wait "$lg"
  echo "$name $(cat "$work/$name.out") cpu=$(python3 -c "print(($c1 - $c0) / $(getconf CLK_TCK) / ($t1 - $t0))")"
}
{
  run_load apiserver "https://127.0.0.1:$api_port/healthz" "$api_pid"
  # The lab's other staff (etcd, kubelet, controllers) share CPU 0: stop the lab first.
  kill "$api_pid" 2>/dev/null || true
  wait "$api_pid" 2>/dev/null || true
  # shellcheck disable=SC2046 # one pid per word
  run_load nginx "https://127.0.0.1:$nginx_port/healthz" $(nginx_pids)
} >"$work/load.txt"
# Stop both servers before measuring the crypto bound, so it has the machine to itself.
for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()
openssl speed -seconds 3 ecdsap256 ecdhp256 ecdhx25519 >"$work/speed.txt" 2>/dev/null
cat "$work/negotiated.txt"

python3 - "$work/load.txt" "$work/speed.txt" "$cores" "$conc" "$dur" "$pin" "$server_cores" "$(getconf CLK_TCK)" "$insecure" <<'PY'
import re, sys
load_path, speed_path, cores, conc, dur, pin, server_cores, hz, insecure = sys.argv[1:]
cores, server_cores, hz = int(cores), int(server_cores), int(hz)
pinned = pin == "1"
load = {}
for line in open(load_path):
    name, *kv = line.split()
    load[name] = dict(x.split("=") for x in kv)
speed = open(speed_path).read()
sign, verify = map(float, re.search(r"ecdsa \(nistp256\)\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)", speed).groups())
ecdh_p256 = float(re.search(r"ecdh \(nistp256\)\s+\S+\s+([\d.]+)", speed).group(1))
ecdh_x25519 = float(re.search(r"ecdh \(X25519\)\s+\S+\s+([\d.]+)", speed).group(1))
# Per full TLS 1.3 handshake with ECDSA P-256 certificates on both sides, the server does
# 1 ECDSA sign (its CertificateVerify), 2 ECDSA verifies (the client's certificate by the CA,
# the client's CertificateVerify) and 1 X25519 derivation (ephemeral key generation, hashing and
# AEAD are not counted, so the bound is optimistic). The load generator does 1 sign, 1 verify
# (the server's CertificateVerify) and 1 X25519, plus 1 verify more if it checks the chain.
server_side = 1 / sign + 2 / verify + 1 / ecdh_x25519
client_side = 1 / sign + (1 if insecure else 2) / verify + 1 / ecdh_x25519
if pinned:
    # The server has one core to itself; the load generator's work is elsewhere.
    bound = server_cores / server_side
    how = f"server alone on {server_cores} core: 1 / {server_side*1e6:.1f} µs"
else:
    bound = cores / (server_side + client_side)
    how = f"{cores} cores shared by server and load generator: {cores} / ({server_side*1e6:.1f} + {client_side*1e6:.1f} µs)"
print(f"openssl speed (1 core): ECDSA P-256 sign {sign:.0f}/s, verify {verify:.0f}/s; "
      f"ECDH P-256 {ecdh_p256:.0f}/s, X25519 {ecdh_x25519:.0f}/s")
print(f"crypto bound = {bound:.0f} handshakes/s ({how})")
print(f"concurrency {conc}, {dur} s measured per target, "
      + ("servers pinned to CPU 0, load generator on the others" if pinned else "servers and load generator share every core")
      + ("; load generator does not check the server's chain" if insecure else ""))
print()
print("| target | requests/s | errors | server CPU per request | vs nginx | vs crypto bound |")
print("|---|---:|---:|---:|---:|---:|")
ngx = float(load["nginx"]["rps"])
for name, key in (("kubecorp apiserver GET /healthz", "apiserver"), ("nginx-light static 200", "nginx")):
    r = load[key]
    rps = float(r["rps"])
    # CPU seconds per second (sampled in the measured window) over requests per second.
    cpu_us = float(r["cpu"]) / max(rps, 1) * 1e6
    print(f"| {name} | {rps:.0f} | {r['errors']} | {cpu_us:.0f} µs | {rps/ngx:.2f}× | {100*rps/bound:.0f} % |")
print(f"| crypto bound (openssl speed) | {bound:.0f} | | {1e6*server_side:.0f} µs | {bound/ngx:.2f}× | 100 % |")
PY
