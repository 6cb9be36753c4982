#!/bin/sh
# Two portal replicas on one throwaway PostgreSQL behind haproxy (balance roundrobin, /healthz checks), all on
# loopback. Replica A runs the embedded sandbox; replica B uses A's sandbox as its Klavi. Ctrl-C stops everything and
# removes the temporary directory. Usage: scripts/cluster.sh [path/to/portal] (default bin/portal).
# Ports: LB_PORT (8080), A 8081, B 8082, sandbox 8090, PostgreSQL PG_PORT (55432), metrics A 9091, B 9092.
set -eu

BIN=$(realpath "${1:-bin/portal}")
LB_PORT=${LB_PORT:-8080}
A_PORT=${A_PORT:-8081}
B_PORT=${B_PORT:-8082}
SANDBOX_PORT=${SANDBOX_PORT:-8090}
PG_PORT=${PG_PORT:-55432}
A_METRICS_PORT=${A_METRICS_PORT:-9091}
B_METRICS_PORT=${B_METRICS_PORT:-9092}
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
LB="http://127.0.0.1:$LB_PORT"

[ -x "$BIN" ] || { echo "cluster: no portal binary at $BIN (make build)"; exit 1; }
[ -x "$PG_BIN/pg_ctl" ] || { echo "cluster: PostgreSQL server binaries not found (make pg-deps)"; exit 1; }
command -v haproxy >/dev/null || { echo "cluster: haproxy not found (make cluster installs it)"; exit 1; }

# Every port must be free: a portal already answering on 8080 would otherwise pass for the load balancer.
for p in "$LB_PORT" "$A_PORT" "$B_PORT" "$SANDBOX_PORT" "$PG_PORT" "$A_METRICS_PORT" "$B_METRICS_PORT"; do
	rc=0
	curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$p/" || rc=$?
	[ "$rc" = 7 ] || { echo "cluster: 127.0.0.1:$p is in use; choose other ports (LB_PORT, A_PORT, ... at the top of $0)"; exit 1; }
done

dir=$(mktemp -d /tmp/portal-cluster.XXXXXX)
as_pg=""
if [ "$(id -u)" = 0 ]; then # the server refuses root: run it as Debian's postgres user, in a directory it owns
	chown postgres:postgres "$dir"
	as_pg="runuser -u postgres --"
fi
pids=""
cleanup() {
	trap - EXIT INT TERM
	echo "cluster: stopping"
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	[ -d "$dir/data" ] && $as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# healthy NAME URL PID LOG: wait up to 20 s for URL/healthz while PID runs; otherwise show the end of LOG and stop.
healthy() {
	for _ in $(seq 200); do
		kill -0 "$3" 2>/dev/null || break
		curl -fs "$2/healthz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "cluster: $1 did not come up ($2/healthz); the end of $4:"
	tail -n 20 "$4"
	exit 1
}

$as_pg "$PG_BIN/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-locale >/dev/null
$as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w \
	-o "-p $PG_PORT -k $dir -c listen_addresses=127.0.0.1" start >/dev/null
$as_pg "$PG_BIN/psql" -h "$dir" -p "$PG_PORT" -U postgres -qc 'CREATE DATABASE portal'
DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/portal?sslmode=disable"
SESSION_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
# haproxy forwards each client's address (option forwardfor); the replicas take it from haproxy only. Deployed,
# TRUSTED_PROXIES names the balancer's own address: here on loopback a local client looks like haproxy itself.
export DATABASE_URL SESSION_KEY PUBLIC_URL="$LB" TRUSTED_PROXIES=127.0.0.1

ADDR=127.0.0.1:$A_PORT SANDBOX_ADDR=127.0.0.1:$SANDBOX_PORT METRICS_ADDR=127.0.0.1:$A_METRICS_PORT "$BIN" >"$dir/a.log" 2>&1 &
pids="$pids $!"
# B starts once A has migrated the database and its sandbox listens.
healthy "replica A" "http://127.0.0.1:$A_PORT" $! "$dir/a.log"
ADDR=127.0.0.1:$B_PORT METRICS_ADDR=127.0.0.1:$B_METRICS_PORT KLAVI_BASE_URL=http://127.0.0.1:$SANDBOX_PORT/data/v1 \
	KLAVI_ACCESS_KEY=demo-access-key KLAVI_SECRET_KEY=demo-secret-key "$BIN" >"$dir/b.log" 2>&1 &
pids="$pids $!"
healthy "replica B" "http://127.0.0.1:$B_PORT" $! "$dir/b.log"

cat >"$dir/haproxy.cfg" <<CFG
global
    log stderr format short local0 warning
defaults
    mode http
    option forwardfor
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    option redispatch
    retries 2
frontend portal
    bind 127.0.0.1:$LB_PORT
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /healthz
    server a 127.0.0.1:$A_PORT check inter 1s
    server b 127.0.0.1:$B_PORT check inter 1s
CFG
haproxy -W -db -f "$dir/haproxy.cfg" >"$dir/haproxy.log" 2>&1 &
pids="$pids $!"
healthy haproxy "$LB" $! "$dir/haproxy.log"
cat <<MSG
cluster: up (logs in $dir)
  open          $LB   (haproxy, round robin over the two replicas)
  replica A     http://127.0.0.1:$A_PORT   (embedded sandbox http://localhost:$SANDBOX_PORT)
  replica B     http://127.0.0.1:$B_PORT   (Klavi = A's sandbox)
  metrics       http://127.0.0.1:$A_METRICS_PORT/metrics (A), http://127.0.0.1:$B_METRICS_PORT/metrics (B)
  PostgreSQL    $DATABASE_URL
  first operator: the one-time setup link is in a replica's log ($dir/a.log), or run
    DATABASE_URL='$DATABASE_URL' SESSION_KEY=$SESSION_KEY $BIN operator add --email you@example.com
Ctrl-C stops everything.
MSG
grep -h 'no operator yet' "$dir/a.log" | head -n 1 || true
wait
