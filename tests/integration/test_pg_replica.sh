#!/usr/bin/env bash
# serve --read-store: a real PostgreSQL hot standby (pg_basebackup -R of a
# scripts/pg-temp primary) answers the read API while ingest goes to the
# primary. The standby's reads catch up with the primary's writes; with the
# standby stopped, reads fail and ingest still works.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/server.sh"

SRC=${ATR_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PGDIR=$(mktemp -d "${TMPDIR:-/tmp}/agentrail-pg.XXXXXX")
SBDIR=$(mktemp -d "${TMPDIR:-/tmp}/agentrail-pgs.XXXXXX")
OWNER=${AGENTRAIL_PG_USER:-nobody}
as_owner() { if [ "$(id -u)" -eq 0 ]; then runuser -u "$OWNER" -- "$@"; else "$@"; fi; }
stop_standby() {
	[ -f "$SBDIR/data/postmaster.pid" ] && as_owner "$BIN/pg_ctl" -D "$SBDIR/data" -m immediate -w stop >/dev/null 2>&1
	true
}
trap '[ -n "$SRV_PID" ] && kill -KILL "$SRV_PID" 2>/dev/null; stop_standby; rm -rf "$SBDIR"; "$SRC/scripts/pg-temp" stop "$PGDIR"; true' EXIT
PRIMARY=$("$SRC/scripts/pg-temp" start "$PGDIR" 2>"$T/pg.err") ||
	{ fail "cannot start PostgreSQL: $(cat "$T/pg.err")"; finish; }
BIN=$(cat "$PGDIR/bindir")
PPORT=$(cat "$PGDIR/port")

# The standby: a base backup with recovery settings, on its own port and socket.
[ "$(id -u)" -eq 0 ] && chown "$OWNER" "$SBDIR"
as_owner "$BIN/pg_basebackup" -h "$PGDIR" -p "$PPORT" -U postgres -D "$SBDIR/data" -R -X stream -c fast \
	>"$T/basebackup.log" 2>&1 || { fail "pg_basebackup: $(cat "$T/basebackup.log")"; finish; }
SPORT=$(free_port)
as_owner "$BIN/pg_ctl" -D "$SBDIR/data" -l "$SBDIR/server.log" -w -t 30 \
	-o "-p $SPORT -k $SBDIR" start >/dev/null 2>&1 || { fail "standby: $(tail -5 "$SBDIR/server.log")"; finish; }
assert_eq t "$(psql "postgres://postgres@127.0.0.1:$SPORT/agentrail" -Atc 'SELECT pg_is_in_recovery()')" "a hot standby"

LOG="replica-$$"
STORE="$PRIMARY?log=$LOG"
READ="postgres://postgres@127.0.0.1:$SPORT/agentrail?log=$LOG"
expect_exit 0 "$AGENTRAIL" --store "$STORE" record --type session_start --actor setup
expect_exit 64 "$AGENTRAIL" --store "$STORE" serve --read-store http://127.0.0.1:1
# The log reaches the standby (the schema and the first record).
for _ in $(seq 100); do
	"$AGENTRAIL" --store "$READ" root --json >/dev/null 2>&1 && break
	sleep 0.1
done
start_server "$STORE" --read-store "$READ"

for i in $(seq 40); do
	post "{\"type\":\"tool_call\",\"actor\":\"a\",\"target\":\"f$i\",\"session_id\":\"rs\"}"
	[ "$CODE" = 201 ] || fail "POST $i: $CODE $BODY"
done
pass
# Reads come from the standby: it catches up with what the primary acknowledged.
n=0
for _ in $(seq 100); do
	http GET "/api/v1/events?session_id=rs&limit=100"
	n=$(jq_ 'len(d["events"]) if isinstance(d, dict) and "events" in d else len(d)' 2>/dev/null || echo 0)
	[ "$n" = 40 ] && break
	sleep 0.1
done
assert_eq 40 "$n" "the standby answers all 40 events"
assert_eq 200 "$CODE" "GET from the standby"
# The standby stopped: reads fail, writes still succeed on the primary.
stop_standby
http GET "/api/v1/events?session_id=rs&limit=100"
[ "$CODE" -ge 500 ] && pass || fail "a read with the standby down answered $CODE"
post '{"type":"tool_call","actor":"a","target":"after","session_id":"rs"}'
assert_eq 201 "$CODE" "ingest with the standby down"
stop_server
assert_eq 42 "$("$AGENTRAIL" --store "$STORE" root --json | py 'd["size"]')" "the primary has everything"
finish
