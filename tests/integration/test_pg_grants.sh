#!/usr/bin/env bash
# The agentrail_writer role of docs/postgres.md: a server running as a login
# role in it appends, signs checkpoints and erases payloads, while UPDATE,
# DELETE and TRUNCATE on records are refused to it by the grants (and to the
# owner by the triggers). A reader role can verify but not write.
# Runs on AGENTRAIL_TEST_PG, or on a throwaway cluster of its own (scripts/pg-temp).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/server.sh"

SRC=${ATR_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v psql >/dev/null || { echo "$TEST_NAME: psql is missing (scripts/bootstrap)"; exit 1; }
PGDIR=""
trap '[ -n "$SRV_PID" ] && kill -KILL "$SRV_PID" 2>/dev/null; [ -n "$PGDIR" ] && "$SRC/scripts/pg-temp" stop "$PGDIR"; true' EXIT
if [ -z "${AGENTRAIL_TEST_PG:-}" ]; then
	PGDIR=$(mktemp -d "${TMPDIR:-/tmp}/agentrail-pg.XXXXXX")
	AGENTRAIL_TEST_PG=$("$SRC/scripts/pg-temp" start "$PGDIR" 2>"$T/pg.err") ||
		{ fail "cannot start PostgreSQL: $(cat "$T/pg.err")"; finish; }
fi
ADMIN=$AGENTRAIL_TEST_PG # the superuser of the test cluster: owns the schema
# The same database as another role: postgres://ROLE@host:port/db.
as_role() { sed -E "s#^(postgres(ql)?://)[^@/]*@#\1$1@#" <<<"$ADMIN"; }
SUFFIX="$$$RANDOM"
W="svc_w$SUFFIX"
R="svc_r$SUFFIX"
LOG="grants-$SUFFIX"
sql() { psql "$ADMIN" -X -q -v ON_ERROR_STOP=1 -c "$1" >/dev/null; }

# The schema exists (an owner opened a log), then the roles and the grants of docs/postgres.md.
expect_exit 0 "$AGENTRAIL" --store "$ADMIN?log=init-$SUFFIX" record --type session_start --actor setup
sql "DO \$\$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'agentrail_writer') THEN
    CREATE ROLE agentrail_writer NOLOGIN; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'agentrail_reader') THEN
    CREATE ROLE agentrail_reader NOLOGIN; END IF; END \$\$;
  CREATE ROLE $W LOGIN IN ROLE agentrail_writer;
  CREATE ROLE $R LOGIN IN ROLE agentrail_reader;"
# The GRANT block of docs/postgres.md, verbatim.
python3 - "$SRC/docs/postgres.md" >"$T/grants.sql" <<'PY'
import sys
text = open(sys.argv[1]).read()
block = text.split("otherwise, or after adding tables, grant them:\n\n```sql\n", 1)[1].split("```", 1)[0]
print(block)
PY
assert_contains "$(cat "$T/grants.sql")" "GRANT SELECT, INSERT ON agentrail.records" "grant block found"
expect_exit 0 psql "$ADMIN" -X -q -v ON_ERROR_STOP=1 -f "$T/grants.sql"

WS="$(as_role "$W")?log=$LOG"
RS="$(as_role "$R")?log=$LOG"
mkdir -p "$T/keys"
expect_exit 0 "$AGENTRAIL" keygen --name grants.example/log --out "$T/keys/k"
# The writer creates its log, serves it, signs checkpoints.
start_server "$WS" --key "$T/keys/k.key" --checkpoint-every 10
for i in $(seq 25); do
	post "{\"type\":\"tool_call\",\"actor\":\"a\",\"target\":\"t$i\",\"session_id\":\"s$((i % 3))\",\"detail\":{\"i\":$i}}"
	[ "$CODE" = 201 ] || fail "POST $i: $CODE $BODY"
done
pass
stop_server
assert_eq 0 "$SRV_RC" "server as the writer role exits 0"
expect_exit 0 "$AGENTRAIL" --store "$WS" erase --session s1 --reason "request-7" --actor dpo
python3 -c '
import json
for i in range(300): print(json.dumps({"type": "tool_call", "actor": "b", "target": "u%d" % i}))' >"$T/ev.jsonl"
expect_exit 0 "$AGENTRAIL" --store "$WS" import "$T/ev.jsonl"
expect_exit 0 "$AGENTRAIL" --store "$WS" checkpoint --key "$T/keys/k.key"

# Changing records as the writer: refused by the grants.
for stmt in "UPDATE agentrail.records SET actor = 'x' WHERE log = '$LOG' AND seq = 1" \
	"DELETE FROM agentrail.records WHERE log = '$LOG' AND seq = 1" \
	"TRUNCATE agentrail.records" \
	"UPDATE agentrail.checkpoints SET size = 0 WHERE log = '$LOG'" \
	"DELETE FROM agentrail.meta WHERE log = '$LOG'"; do
	expect_exit 1 psql "$(as_role "$W")" -X -q -v ON_ERROR_STOP=1 -c "$stmt"
	assert_contains "$ERR" "permission denied" "writer: $stmt"
done
# Pruning records needs DELETE on records: the owner's job, not the writer's.
expect_exit 0 "$AGENTRAIL" --store "$WS" retention set --records 1d --actor admin
expect_exit 1 "$AGENTRAIL" --store "$WS" prune --records --now 2100-01-01T00:00:00Z --reason t --actor admin
assert_contains "$ERR" "permission denied" "prune as the writer"
# And as the owner, the triggers.
expect_exit 1 psql "$ADMIN" -X -q -v ON_ERROR_STOP=1 -c "UPDATE agentrail.records SET actor = 'x' WHERE log = '$LOG' AND seq = 1"
assert_contains "$ERR" "agentrail: records are append-only" "owner: update"
expect_exit 1 psql "$ADMIN" -X -q -v ON_ERROR_STOP=1 -c "DELETE FROM agentrail.records WHERE log = '$LOG' AND seq = 1"
assert_contains "$ERR" "only records below pruned_below may be pruned" "owner: delete"

# The reader verifies but cannot write.
expect_exit 0 "$AGENTRAIL" --store "$WS" checkpoint --key "$T/keys/k.key"
expect_exit 0 "$AGENTRAIL" --store "$RS" verify --key "$T/keys/k.pub"
assert_contains "$OUT" "OK: " "verify as the reader"
expect_exit 1 "$AGENTRAIL" --store "$RS" record --type session_start --actor r
assert_contains "$ERR" "permission denied"
assert_eq "$("$AGENTRAIL" --store "$WS" root --json)" "$("$AGENTRAIL" --store "$RS" root --json)" "the reader sees the writer's tree"
assert_eq 1 "$("$AGENTRAIL" --store "$RS" query --target u0 --count)" "the refused prune deleted nothing"
finish
