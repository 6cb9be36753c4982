#!/usr/bin/env bash
# The portal against a bare server serving the same page bytes and against a minimal durable webhook receiver, one
# load-kit run per page, then one table of ratios (docs/benchmarks.md#pages).
# Usage: scripts/bench-compare.sh PORTAL_BENCH_BIN. The binary is built with -tags benchharness (make bench-compare):
# it walks the flow once at start and lends that browser's cookies to the kit's requests for /bench/... pages.
# Env: BENCH_KIT (the kit's directory, required), PAGES (default below), SYNC (default FULL: the
# kit's receiver commits durably, as the portal does), and the kit's own knobs (DUR, C, ROUNDS, ...).
set -euo pipefail
BIN=$(realpath "${1:?usage: $0 PORTAL_BENCH_BIN}")
KIT=${BENCH_KIT:?set BENCH_KIT to the load kit directory (the one with run.sh)}
[ -x "$KIT/run.sh" ] || { echo "bench-compare: no run.sh in $KIT"; exit 1; }
PAGES=${PAGES:-/ /bench/start /bench/institutions /bench/consent /bench/report}
export SYNC=${SYNC:-FULL}
# The kit starts the portal with its own ADDR and database; the metrics listener is not needed and its fixed
# default port could collide with another portal on this machine.
export METRICS_ADDR=

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
i=0
for page in $PAGES; do
  i=$((i + 1))
  echo "== $page" >&2
  PAGE=$page "$KIT/run.sh" "$BIN" >"$out/$i.txt" 2>"$out/$i.err" || { cat "$out/$i.err" >&2; exit 1; }
  echo "$page" >"$out/$i.page"
done
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"

printf '\n%-22s %9s %9s %8s %9s %9s %10s %10s\n' page "rps" "bare rps" "ratio" "cpu/req" "bare cpu" "hook ratio" "RSS kB"
for f in $(ls "$out"/*.txt | sort -V); do
  n=${f%.txt}
  awk -v page="$(cat "$n.page")" '
    $1 == "page" && $2 == "portal" { rps = $3; cpu = $5 }
    $1 == "page" && $2 == "static" { brps = $3; bcpu = $5 }
    $1 == "page" && $2 == "ratio" { ratio = $3 }
    $1 == "webhook" && $2 == "ratio" { hook = $3 }
    /^peak RSS/ { rss = $5 }
    END { printf "%-22s %9s %9s %8s %9s %9s %10s %10s\n", page, rps, brps, ratio, cpu, bcpu, hook, rss }' "$f"
done
echo "(ratio = portal rps / bare server rps for the same bytes; hook ratio = signed webhooks acknowledged per second,"
echo " portal / minimal receiver at SYNC=$SYNC; cpu/req in us of server CPU; RSS = the portal's peak in that run)"
