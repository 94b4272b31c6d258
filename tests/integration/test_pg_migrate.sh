#!/usr/bin/env bash
# agentrail migrate: a signed SQLite log with erased payloads is copied into
# a PostgreSQL log and back into a new SQLite file; every copy has the same
# root, verifies with the key, and exports byte for byte the same. A
# non-empty target, a pruned source, a checkpoint signed by no given key and
# bad arguments are refused with precise errors.
# Runs on AGENTRAIL_TEST_PG, or on a throwaway cluster of its own (scripts/pg-temp).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SRC=${ATR_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PGDIR=""
trap '[ -n "$PGDIR" ] && "$SRC/scripts/pg-temp" stop "$PGDIR"; true' EXIT
if [ -z "${AGENTRAIL_TEST_PG:-}" ]; then
	PGDIR=$(mktemp -d "${TMPDIR:-/tmp}/agentrail-pg.XXXXXX")
	AGENTRAIL_TEST_PG=$("$SRC/scripts/pg-temp" start "$PGDIR" 2>"$T/pg.err") ||
		{ fail "cannot start PostgreSQL: $(cat "$T/pg.err")"; finish; }
fi
PG="$AGENTRAIL_TEST_PG?log=migrate-$$-$RANDOM"
PG2="$AGENTRAIL_TEST_PG?log=migrate2-$$-$RANDOM"
A="$T/a.db"
B="$T/b.db"
mkdir -p "$T/keys"
expect_exit 0 "$AGENTRAIL" keygen --name migrate.example/log --out "$T/keys/k"
expect_exit 0 "$AGENTRAIL" keygen --name other.example/log --out "$T/keys/o"

# The source: events with details, two signed checkpoints, erased payloads, a redaction salt.
python3 - "$T/ev.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(1500):
        f.write(json.dumps({"type": "tool_call", "actor": "agent-%d" % (i % 4),
                            "session_id": "s%d" % (i % 6), "target": "src/f%d.c" % i,
                            "detail": {"i": i, "note": "secret-%d@example.com" % i}}) + "\n")
PY
expect_exit 0 "$AGENTRAIL" --store "$A" import "$T/ev.jsonl"
expect_exit 0 "$AGENTRAIL" --store "$A" checkpoint --key "$T/keys/k.key"
expect_exit 0 "$AGENTRAIL" --store "$A" record --type session_start --actor alice
expect_exit 0 "$AGENTRAIL" --store "$A" erase --session s2 --reason "gdpr-1" --actor dpo
expect_exit 0 "$AGENTRAIL" --store "$A" checkpoint --key "$T/keys/k.key"
ROOT_A=$("$AGENTRAIL" --store "$A" root --json)

# SQLite -> PostgreSQL.
expect_exit 0 "$AGENTRAIL" migrate --from "$A" --to "$PG" --key "$T/keys/k.pub" --json
assert_eq "1502 250 2 2" "$(py '" ".join(str(d[k]) for k in ("records","erased_payloads","checkpoints","signatures_checked"))' <<<"$OUT")" "migrate summary"
assert_eq "$ROOT_A" "$("$AGENTRAIL" --store "$PG" root --json)" "same root in PostgreSQL"
expect_exit 0 "$AGENTRAIL" --store "$PG" verify --key "$T/keys/k.pub"
assert_contains "$OUT" "OK: 1502 records" "the PostgreSQL copy verifies"
assert_eq 250 "$("$AGENTRAIL" --store "$PG" query --session s3 --count)" "queries on the copy"
# The copy is a live log: it takes events and checkpoints as the source did.
expect_exit 0 "$AGENTRAIL" --store "$PG" record --type session_start --actor bob
expect_exit 0 "$AGENTRAIL" --store "$PG" checkpoint --key "$T/keys/k.key"
# PostgreSQL -> a new SQLite file: the same bytes as the source.
"$AGENTRAIL" migrate --from "$A" --to "$PG2" --quiet
expect_exit 0 "$AGENTRAIL" migrate --from "$PG2" --to "$B"
assert_match "$OUT" "^migrated 1502 records \(250 with erased payloads\) and 2 checkpoints" "summary"
"$AGENTRAIL" --store "$A" export --out "$T/a.jsonl"
"$AGENTRAIL" --store "$B" export --out "$T/b.jsonl"
if cmp -s "$T/a.jsonl" "$T/b.jsonl"; then pass; else fail "the round trip changed the export"; fi
expect_exit 0 "$AGENTRAIL" --store "$B" verify --key "$T/keys/k.pub"

# The redaction salt came along: the same secret masks to the same token in both logs.
for s in "$A" "$PG"; do
	"$AGENTRAIL" --store "$s" record --json '{"type":"tool_call","actor":"x","target":"mail","detail":{"m":"key AKIAIOSFODNN7EXAMPLE"}}' >/dev/null
done
MA=$("$AGENTRAIL" --store "$A" query --limit 1 --desc --json | py 'rows[0]["detail"]["m"]')
MP=$("$AGENTRAIL" --store "$PG" query --limit 1 --desc --json | py 'rows[0]["detail"]["m"]')
assert_not_contains "$MA" "AKIAIOSFODNN7EXAMPLE" "masked at ingest"
assert_eq "$MA" "$MP" "the same salt masks alike"

# Refusals.
expect_exit 1 "$AGENTRAIL" migrate --from "$A" --to "$PG"
assert_contains "$ERR" "the target log is not empty (1504 records): migrate writes only into a new log"
expect_exit 1 "$AGENTRAIL" migrate --from "$PG" --to "$A"
assert_contains "$ERR" "is not empty"
expect_exit 1 "$AGENTRAIL" migrate --from "$A" --to "$T/c.db" --key "$T/keys/o.pub"
assert_contains "$ERR" "none of the source's 2 checkpoints is signed by the given key"
assert_eq 0 "$("$AGENTRAIL" --store "$T/c.db" root --json | py 'd["size"]')" "nothing copied"
expect_exit 1 "$AGENTRAIL" migrate --from "$T/missing.db" --to "$T/d.db"
assert_contains "$ERR" "does not exist"
expect_exit 64 "$AGENTRAIL" migrate --from "$A"
expect_exit 64 "$AGENTRAIL" migrate --from "$A" --to "$A"
expect_exit 64 "$AGENTRAIL" migrate --from "$A" --to http://127.0.0.1:1
expect_exit 1 "$AGENTRAIL" migrate --from "$A" --to "$AGENTRAIL_TEST_PG?log=bad/name"
assert_contains "$ERR" "[A-Za-z0-9_.-]"

# A pruned source: its first records are gone, so no copy can start at seq 0.
P="$T/p.db"
expect_exit 0 "$AGENTRAIL" --store "$P" import "$T/ev.jsonl"
expect_exit 0 "$AGENTRAIL" --store "$P" checkpoint --key "$T/keys/k.key"
expect_exit 0 "$AGENTRAIL" --store "$P" retention set --records 1d --actor admin
expect_exit 0 "$AGENTRAIL" --store "$P" prune --records --now 2100-01-01T00:00:00Z --reason test --actor admin
expect_exit 1 "$AGENTRAIL" migrate --from "$P" --to "$AGENTRAIL_TEST_PG?log=pruned-$$"
assert_contains "$ERR" "the source was pruned below seq 1280: its first records are gone"
finish
