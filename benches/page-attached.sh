#!/usr/bin/env bash
# Benchmark: how much a browser attached to the live page's stream slows the apiserver's fresh
# handshakes. The method of apiserver-handshakes.sh (a new TCP connection and a full mutual-TLS
# handshake per GET /healthz, crates/loadgen, CONCURRENCY 32, DURATION s measured after its 1 s
# warm-up, `kubecorp up` pinned to CPU 0 and the load generator to the other CPUs, the server's
# CPU time sampled in the measured window), on one `kubecorp up --web`: runs alternate without
# and with a client on the page, RUNS pairs, the order swapped every other pair.
#
# CLIENT=chromium (the default): the real Chromium, headless, 1280×720, showing the page (it
# reads /events over Server-Sent Events and draws every record). CLIENT=curl: `curl -N /events`,
# a stream reader that renders nothing. Either runs on the load generator's CPUs: what is
# measured is the office's own extra work for the stream, not a browser taking the server's core.
# Prints each run with the load average when it started, the CPU the office and the client used
# in the measured window (100 % = one core), the records the office put on the page's stream a
# second (read from /api/info's `last`), then the medians. BUILD=0 uses the release binaries
# already built, KUBECORP=PATH measures another `kubecorp` binary. ECDSA-P256 keys, as the
# handshake benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${BUILD:-1}" != 0 ]; then
  cargo build --release --quiet -p kubecorp -p kubecorp-loadgen
fi
bin=${KUBECORP:-$PWD/target/release/kubecorp}
loadgen=$PWD/target/release/kubecorp-loadgen
conc=${CONCURRENCY:-32}
dur=${DURATION:-10}
runs=${RUNS:-5}
client=${CLIENT:-chromium}
cores=$(nproc)
[ "$cores" -ge 2 ] || { echo "needs 2 cores or more (the server gets CPU 0 to itself)" >&2; exit 2; }
server_cpus=0 loadgen_cpus=1-$((cores - 1))
. benches/lib.sh

api_port=$(free_port); etcd_port=$(free_port); web_port=$(free_port)
lab=$work/lab
taskset -c "$server_cpus" "$bin" up --dir "$lab" --key-algorithm ECDSA-P256 --apiserver-listen "127.0.0.1:$api_port" --etcd-listen "127.0.0.1:$etcd_port" --kubelet-listen 127.0.0.1:0 --etcd-peer-listen 127.0.0.1:0 --scheduler-listen 127.0.0.1:0 --proxy-healthz-listen 127.0.0.1:0 \
  --web "127.0.0.1:$web_port" >/dev/null 2>"$work/up.err" &
pids+=($!)
api_pid=$!
wait_port "$api_port"
wait_port "$web_port"

pki=$lab/pki
# The client: signed by the cluster CA, O=kubeadm:cluster-admins (allowed to GET /healthz).
ca=$pki/ca.crt cert=$pki/apiserver-kubelet-client.crt key=$pki/apiserver-kubelet-client.key

cpu_ticks() { local t=0 p v; for p in "$@"; do v=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) || v=0; t=$((t + ${v:-0})); done; echo "$t"; }
# A process and all its descendants (Chromium runs a renderer, a GPU and utility processes).
tree() { local c; echo "$1"; for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do tree "$c"; done; }
now() { date +%s.%N; }
streams() { ss -Htn state established "( sport = :$web_port )" | wc -l; }
# The number of the stream's last record.
last_record() { curl -s "http://127.0.0.1:$web_port/api/info" | python3 -c 'import json, sys; print(json.load(sys.stdin)["last"])'; }

# Starts the client on the page and waits until its stream is open (up to 60 s).
attach() {
  case $client in
    chromium)
      taskset -c "$loadgen_cpus" chromium --headless --no-sandbox --disable-gpu --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --window-size=1280,720 --user-data-dir="$work/profile" --remote-debugging-port=0 \
        "http://127.0.0.1:$web_port/" >/dev/null 2>&1 &
      ;;
    curl)
      taskset -c "$loadgen_cpus" curl -sN "http://127.0.0.1:$web_port/events" >/dev/null &
      ;;
    *) echo "CLIENT is chromium or curl, not $client" >&2; exit 2 ;;
  esac
  client_pid=$!
  pids+=("$client_pid")
  for _ in $(seq 600); do [ "$(streams)" -ge 1 ] && { sleep 2; return 0; }; sleep 0.1; done
  echo "the $client never opened the page's stream" >&2; return 1
}
detach() {
  kill "$client_pid" 2>/dev/null || true
  wait "$client_pid" 2>/dev/null || true
  for _ in $(seq 100); do [ "$(streams)" -eq 0 ] && return 0; sleep 0.1; done
}

run_load() { # NAME -> "NAME rps=… ok=… errors=… seconds=… cpu=… load=… streams=…"
  local name=$1 t0 t1 c0 c1 k0 k1 r0 r1 load
  load=$(cut -d' ' -f1 /proc/loadavg)
  taskset -c "$loadgen_cpus" "$loadgen" --url "https://127.0.0.1:$api_port/healthz" --ca "$ca" --cert "$cert" --key "$key" \
    --concurrency "$conc" --duration "$dur" --plain --insecure-skip-tls-verify >"$work/run.out" 2>>"$work/negotiated.txt" &
  local lg=$!
  sleep 1.5 # the load generator's 1 s warm-up, and a margin
  local client_pids=()
  if [ "$name" = with ]; then mapfile -t client_pids < <(tree "$client_pid"); fi
  r0=$(last_record)
  c0=$(cpu_ticks "$api_pid") k0=$(cpu_ticks "${client_pids[@]}") t0=$(now)
  sleep "$(python3 -c "print(max($dur - 1, 0.5))")"
  c1=$(cpu_ticks "$api_pid") k1=$(cpu_ticks "${client_pids[@]}") t1=$(now)
  r1=$(last_record)
  local open; open=$(streams)
  wait "$lg"
  echo "$name $(cat "$work/run.out") cpu=$(python3 -c "print(($c1 - $c0) / $(getconf CLK_TCK) / ($t1 - $t0))") client=$(python3 -c "print(($k1 - $k0) / $(getconf CLK_TCK) / ($t1 - $t0))") load=$load streams=$open records=$(python3 -c "print(($r1 - $r0) / ($t1 - $t0))")"
}

: >"$work/load.txt"
for i in $(seq "$runs"); do
  order="without with"
  if [ $((i % 2)) -eq 0 ]; then order="with without"; fi
  for what in $order; do
    if [ "$what" = with ]; then attach; fi
    run_load "$what" | tee -a "$work/load.txt" >&2
    if [ "$what" = with ]; then detach; fi
  done
done

python3 - "$work/load.txt" "$client" "$conc" "$dur" <<'PY'
import statistics, sys
path, client, conc, dur = sys.argv[1:]
rows = []
for line in open(path):
    name, *kv = line.split()
    rows.append((name, dict(x.split("=") for x in kv)))
print(f"client: {client}; concurrency {conc}, {dur} s measured per run, up --web on CPU 0, "
      "load generator and client on the others")
print()
print("| run | page | requests/s | errors | server CPU per request | server's CPU | client's CPU | stream records/s | load average (1 min) | streams open |")
print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for n, (name, r) in enumerate(rows, 1):
    rps = float(r["rps"])
    cpu_us = float(r["cpu"]) / max(rps, 1) * 1e6
    print(f"| {n} | {name} | {rps:.0f} | {r['errors']} | {cpu_us:.0f} µs | {100 * float(r['cpu']):.0f} % | "
          f"{100 * float(r['client']):.0f} % | {float(r['records']):.0f} | {r['load']} | {r['streams']} |")
def med(name, f):
    return statistics.median(f(r) for n, r in rows if n == name)
rps = lambda r: float(r["rps"])
cpu = lambda r: float(r["cpu"]) / max(float(r["rps"]), 1) * 1e6
without, with_ = med("without", rps), med("with", rps)
print(f"| **median** | without | **{without:.0f}** | | **{med('without', cpu):.0f} µs** | | | | | |")
print(f"| **median** | with | **{with_:.0f}** | | **{med('with', cpu):.0f} µs** | | **{100 * med('with', lambda r: float(r['client'])):.0f} %** | | | |")
spread = [rps(r) for n, r in rows if n == "without"]
print()
print(f"with the page attached (medians): requests/s {100 * (with_ / without - 1):+.1f} %, "
      f"server CPU per request {100 * (med('with', cpu) / med('without', cpu) - 1):+.1f} %")
print(f"noise: the runs without the page spread {min(spread):.0f}–{max(spread):.0f} requests/s "
      f"({100 * (max(spread) - min(spread)) / without:.0f} % of their median)")
PY
