#!/usr/bin/env bash
# Benchmark: the KubeCorp day as one process (`kubecorp run scenarios/kubecorp-day.yaml`), each
# chapter alone, and the whole shipped suite (`kubecorp test scenarios/`), with hyperfine on the
# release binary. Then where the day's time goes: opening the office, and each step (from the
# JSON event stream), slowest first.
# RUNS=N changes the number of timed runs (default 10). The scenarios' labs have kubeadm's
# RSA-2048 keys, drawn from the user's key pool (the warm-up fills it); the last part times the
# day and the suite with every key fresh (KUBECORP_KEY_POOL=off) for comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p kubecorp
bin=$PWD/target/release/kubecorp
runs=${RUNS:-10}
export NO_COLOR=1

echo "== cores: $(nproc)"
hyperfine --warmup 1 --runs "$runs" -N \
  "$bin run scenarios/kubecorp-day.yaml" \
  "$bin test scenarios/"
hyperfine --warmup 1 --runs "$runs" -N \
  "$bin run scenarios/day/0900-grand-entrance.yaml" \
  "$bin run scenarios/day/1000-scheduler.yaml" \
  "$bin run scenarios/day/1100-etcd-vault.yaml" \
  "$bin run scenarios/day/1400-kube-proxy.yaml" \
  "$bin run scenarios/day/1600-kubelet.yaml" \
  "$bin run scenarios/day/1700-trust-anchor.yaml" \
  "$bin run scenarios/day/1800-wrap-up.yaml"

echo "== without the key pool: every RSA key fresh"
KUBECORP_KEY_POOL=off hyperfine --warmup 1 --runs "$runs" -N \
  "$bin run scenarios/kubecorp-day.yaml" \
  "$bin test scenarios/"

echo "== where the day's time goes (one run)"
python3 - "$bin" <<'PY'
import json, subprocess, sys, time
t0 = time.time()
p = subprocess.Popen([sys.argv[1], "run", "scenarios/kubecorp-day.yaml", "--format", "json"],
                     stdout=subprocess.PIPE, text=True)
rows, cur, last, first = [], None, t0, None
for line in p.stdout:
    now = time.time()
    o = json.loads(line)
    if o.get("type") == "step":
        if first is None:
            first = now
        if cur:
            rows.append((now - last, cur))
        chapter = (o.get("file") or "").rsplit("/", 1)[-1]
        cur = f"{chapter} step {o['step']}: {(o.get('headline') or '')[:60]}"
        last = now
    elif o.get("type") == "result":
        rows.append((now - last, cur))
p.wait()
end = time.time()
print(f"total {1000*(end-t0):.0f} ms; opening the office (PKI, etcd, apiserver, staff) {1000*(first-t0):.0f} ms")
for d, c in sorted(rows, reverse=True)[:8]:
    print(f"{1000*d:6.0f} ms  {c}")
print(f"{1000*sum(d for d, _ in rows):6.0f} ms  all steps")
PY
