#!/usr/bin/env bash
# Benchmark: `kubecorp pki init` of the whole set, as a process, RSA-2048 (kubeadm's default
# and the lab's) and ECDSA P-256, against openssl-pki.sh making the same set, in one hyperfine
# run. Prints medians. `pki init` never draws from the key pool: every key is fresh.
# Needs hyperfine (Debian package `hyperfine`). RUNS=N changes the number of runs.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=$PWD/target/release/kubecorp
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
hyperfine --warmup 3 --runs "${RUNS:-30}" -N --export-json "$work/result.json" \
  -n "kubecorp pki init (RSA-2048, the default)" "$bin pki init --force --dir $work/k-rsa" \
  -n "kubecorp pki init (ECDSA-P256)" "$bin pki init --force --dir $work/k-ec --key-algorithm ECDSA-P256" \
  -n "openssl CLI script (ecdsa-p256)" "bash benches/openssl-pki.sh $work/o-ec ecdsa" \
  -n "openssl CLI script (rsa-2048)" "bash benches/openssl-pki.sh $work/o-rsa rsa" >&2
python3 - "$work/result.json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
print("| command | median | min | max | runs |")
print("|---|---:|---:|---:|---:|")
for r in results:
    print(f"| {r['command']} | {r['median']*1000:.1f} ms | {r['min']*1000:.1f} ms | {r['max']*1000:.1f} ms | {len(r['times'])} |")
PY
