#!/usr/bin/env python3
"""Two builds of kubecorp timed in interleaved pairs, for a change too small for hyperfine's
back-to-back runs on a shared machine: each pair runs both (the order alternating), then the
medians of wall time and of CPU (user + system of the child) are printed.

    python3 benches/pairs.py OLD_BINARY NEW_BINARY PAIRS ARGS...
    python3 benches/pairs.py /tmp/kubecorp-old target/release/kubecorp 20 run scenarios/kubecorp-day.yaml
"""
import os
import resource
import statistics
import subprocess
import sys
import time

if len(sys.argv) < 5:
    sys.exit(__doc__)
bins, pairs, args = sys.argv[1:3], int(sys.argv[3]), sys.argv[4:]
runs = {b: [] for b in bins}
for i in range(pairs):
    for b in bins if i % 2 == 0 else bins[::-1]:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.monotonic()
        done = subprocess.run([b] + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=dict(os.environ, NO_COLOR="1"))
        wall = time.monotonic() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        runs[b].append((wall, cpu, done.returncode))
for b in bins:
    walls = [r[0] for r in runs[b]]
    cpus = [r[1] for r in runs[b]]
    codes = sorted({r[2] for r in runs[b]})
    print(f"{b}: wall median {1000 * statistics.median(walls):.0f} ms "
          f"(min {1000 * min(walls):.0f}), CPU median {1000 * statistics.median(cpus):.0f} ms, "
          f"exit codes {codes}")
