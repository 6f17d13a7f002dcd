#!/usr/bin/env bash
# Benchmark: time from starting `kubecorp up` (PKI already on disk) to its "KubeCorp is open"
# line, when every component is serving; then the resident memory of the idle office, and after
# 1,000 fresh mutual-TLS handshakes to the apiserver (crates/loadgen, one connection per request).
# RUNS=N changes the number of timed starts (default 30).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p kubecorp -p kubecorp-loadgen
bin=$PWD/target/release/kubecorp
loadgen=$PWD/target/release/kubecorp-loadgen
runs=${RUNS:-30}
work=$(mktemp -d)
pid=
cleanup() {
  [ -f "$work/up.pid" ] && kill "$(cat "$work/up.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

lab=$work/lab
"$bin" pki init --dir "$lab" >/dev/null

# Starts `up` in the background with stdout in $work/up.out; waits for the open line and
# prints the elapsed milliseconds.
start_up() {
  local api=$1 etcd=$2 out=$work/up.out
  : >"$out"
  local t0; t0=$(date +%s%N)
  NO_COLOR=1 "$bin" up --dir "$lab" --apiserver-listen "127.0.0.1:$api" --etcd-listen "127.0.0.1:$etcd" --kubelet-listen 127.0.0.1:0 --etcd-peer-listen 127.0.0.1:0 --scheduler-listen 127.0.0.1:0 --proxy-healthz-listen 127.0.0.1:0 \
    ${UP_ARGS:-} >"$out" 2>"$work/up.err" &
  pid=$!
  echo "$pid" >"$work/up.pid"
  until grep -q "^KubeCorp is open" "$out" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then cat "$work/up.err" >&2; exit 1; fi
    sleep 0.001
  done
  local t1; t1=$(date +%s%N)
  echo $(( (t1 - t0) / 1000 ))
}
stop_up() {
  pid=$(cat "$work/up.pid")
  kill -TERM "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.01; done
  pid=
}

times=()
for _ in $(seq "$runs"); do
  us=$(start_up "$(free_port)" "$(free_port)")
  times+=("$us")
  stop_up
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
median=$(echo "$sorted" | awk -v n="$runs" 'NR==int((n+1)/2){print}')
min=$(echo "$sorted" | head -1); max=$(echo "$sorted" | tail -1)

api=$(free_port)
start_up "$api" "$(free_port)" >/dev/null
pid=$(cat "$work/up.pid")
sleep 1
idle_kb=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
pki=$lab/pki
"$loadgen" --url "https://127.0.0.1:$api/healthz" --ca "$pki/ca.crt" \
  --cert "$pki/apiserver-kubelet-client.crt" --key "$pki/apiserver-kubelet-client.key" \
  --concurrency 8 --duration 0.6 --warmup 0 --plain >"$work/load.out" || true
# Top up to at least 1,000 handshakes if the machine was quick.
done_n=$(sed -n 's/.*ok=\([0-9]*\).*/\1/p' "$work/load.out"); done_n=${done_n:-0}
while [ "$done_n" -lt 1000 ]; do
  "$loadgen" --url "https://127.0.0.1:$api/healthz" --ca "$pki/ca.crt" \
    --cert "$pki/apiserver-kubelet-client.crt" --key "$pki/apiserver-kubelet-client.key" \
    --concurrency 8 --duration 0.3 --warmup 0 --plain >"$work/load.out"
  more=$(sed -n 's/.*ok=\([0-9]*\).*/\1/p' "$work/load.out")
  done_n=$((done_n + ${more:-0}))
done
busy_kb=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
stop_up

echo "| measure | value |"
echo "|---|---|"
echo "| up → open, median of $runs (min–max) | $((median / 1000)).$(( (median % 1000) / 100 )) ms ($((min / 1000))–$((max / 1000)) ms) |"
echo "| resident memory, idle | $((idle_kb / 1024)).$(( (idle_kb % 1024) * 10 / 1024 )) MB |"
echo "| resident memory after $done_n handshakes | $((busy_kb / 1024)).$(( (busy_kb % 1024) * 10 / 1024 )) MB |"
