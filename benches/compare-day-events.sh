#!/usr/bin/env bash
# Compares what the KubeCorp day shows with two builds of `kubecorp`: runs
# `kubecorp run scenarios/kubecorp-day.yaml --format json` with each binary and diffs the lines
# after setting aside what differs from run to run (ports, serial numbers, times, the lab
# directory, durations, uids and resource versions, names the apiserver generates such as csr-XXXXX).
#
# An outcome's `also` (raw answer bodies and error texts, which carry random keys and etcd
# revisions) is left out: its text, its checks and the events are compared.
#
# Steps, outcomes, outputs and checks are compared in order. Events arrive in an order and number
# the run decides (the scheduler's watch, kube-proxy's syncs, the apiserver's etcd traffic, a
# wait's reads), so they are compared as sets of distinct lines: the steps' own events, and the
# background. A background event at the very end (a kubelet's rotation deadline) may or may not
# make it into a run before the office closes: run the script again before reading much into it.
#
# Usage: benches/compare-day-events.sh OLD_BINARY NEW_BINARY [SCENARIO]
# Exit status 0 when both show the same, 1 otherwise (the differences are printed).
set -euo pipefail
cd "$(dirname "$0")/.."
old=${1:?usage: $0 OLD_BINARY NEW_BINARY [SCENARIO]}
new=${2:?usage: $0 OLD_BINARY NEW_BINARY [SCENARIO]}
scenario=${3:-scenarios/kubecorp-day.yaml}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export NO_COLOR=1

normalise() {
  # Ports, serials, times, lab paths and durations vary from run to run.
  jq -c -S '
    del(.elapsed_ms, .office, .at, .also, .seq, .apiserver, .etcd, .dir)
    | walk(if type == "object" and has("serial") then .serial = "S" else . end)
    | walk(if type == "string" then
        gsub(":[0-9]{4,5}\\b"; ":PORT")
        | gsub("\\b(?<p>[a-z]+)-[bcdfghjklmnpqrstvwxz2456789]{5}\\b"; "\(.p)-XXXXX")
        | gsub("/tmp/kubecorp-scenario-[A-Za-z0-9]+"; "/tmp/LAB")
        | gsub("[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9:.]+(Z| UTC| \\+0000 UTC)?"; "TIME")
        | gsub("serial(Number)?[=: ]+\"?[0-9a-fA-F:]+"; "serial S")
        | gsub("[0-9]+ ms\\b"; "N ms")
        | gsub("took = [0-9.]+[mµn]?s"; "took = T")
        | gsub("SN=[0-9]+"; "SN=S")
        | gsub("revision [0-9]+"; "revision N")
        | gsub("\"id\\\\?\":[0-9]+"; "\"id\":ID")
        | gsub("(?<k>[SA]KID)=[0-9A-F:]+"; "\(.k)=ID")
        | gsub("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"; "UID")
        | gsub("resourceVersion\\\\?\":\\\\?\"[0-9]+"; "resourceVersion\":\"RV")
        # A Service without a clusterIP (metrics-server'"'"'s) gets one at random from 10.96.0.0/12.
        | gsub("\\b10\\.(9[6-9]|10[0-9]|11[01])\\.[0-9]+\\.[0-9]+\\b"; "SERVICE-IP")
      else . end)
    # A wait for a binding may see the pod already Running, or still Pending: the race is the
    # staff'"'"'s, not the runner'"'"'s.
    | if .type == "outcome" and (.text | type) == "string" then
        .text |= sub(" \\((Pending|Running)\\)$"; " (PHASE)") else . end'
}

for side in old new; do
  bin=${!side}
  status=0
  "$bin" run "$scenario" --format json >"$work/$side.raw" || status=$?
  echo "$side: $bin exited $status, $(wc -l <"$work/$side.raw") lines"
  normalise <"$work/$side.raw" >"$work/$side.all"
  # The story in order: steps, outcomes, outputs, checks.
  jq -c 'select(.type != "event")' "$work/$side.all" >"$work/$side.story"
  # kubeadm's mark-control-plane (admin.conf reading and labelling the node once it registers)
  # runs while the office opens: its lines fall before or after the stream starts, and with the
  # admin's badge they may count as a step's own. Left out of both sets.
  jq -c 'select(.type == "event") | del(.step, .chapter)
    | select((.from == "kubernetes-admin" and (.detail // "" | test("^(GET|PATCH) /api/v1/nodes/[^/ ]+ 200$"))) | not)' \
    "$work/$side.all" >"$work/$side.events"
  # The steps' own events, as a set (staff working with the same badge in the background may
  # fall into one step or the next).
  jq -c 'select(.mine == true)' "$work/$side.events" | sort -u >"$work/$side.mine"
  # The background, as a set (which step it fell into is the run's timing).
  jq -c 'select(.mine != true)' "$work/$side.events" | sort -u >"$work/$side.background"
done

same=0
if ! diff -u "$work/old.story" "$work/new.story"; then same=1; fi
if ! diff -u "$work/old.mine" "$work/new.mine"; then same=1; fi
if ! diff -u "$work/old.background" "$work/new.background"; then same=1; fi
if [ "$same" = 0 ]; then
  echo "same events: $(wc -l <"$work/new.story") story lines, $(wc -l <"$work/new.mine") distinct events of the steps' own, $(wc -l <"$work/new.background") distinct background events"
fi
exit "$same"
