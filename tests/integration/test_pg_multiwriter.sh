#!/usr/bin/env bash
# Many writers, one log (docs/postgres.md): three `agentrail serve` processes
# on different ports append to the same PostgreSQL log, 8 client connections
# each (crash_load.py: single events and batches, client-chosen event_ids),
# all three signing checkpoints with the same key. One server is killed with
# SIGKILL mid-run. Afterwards: seqs are 0..N-1 without gaps or repeats, every
# acknowledged event is present, the requests of unknown fate are all there or
# all absent, and `verify --key` is OK over every server's checkpoints.
# Runs on AGENTRAIL_TEST_PG, or on a throwaway cluster of its own (scripts/pg-temp).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/server.sh"

SRC=${ATR_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
LOAD="$(dirname "$0")/crash_load.py"
PGDIR=""
PIDS=()
LOADS=()
cleanup() {
	for p in "${PIDS[@]}" "${LOADS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	[ -n "$PGDIR" ] && "$SRC/scripts/pg-temp" stop "$PGDIR"
	true
}
trap cleanup EXIT
if [ -z "${AGENTRAIL_TEST_PG:-}" ]; then
	PGDIR=$(mktemp -d "${TMPDIR:-/tmp}/agentrail-pg.XXXXXX")
	AGENTRAIL_TEST_PG=$("$SRC/scripts/pg-temp" start "$PGDIR" 2>"$T/pg.err") ||
		{ fail "cannot start PostgreSQL: $(cat "$T/pg.err")"; finish; }
fi
STORE="$AGENTRAIL_TEST_PG?log=multi-$$-$RANDOM"
SEED=${ATR_MW_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
echo "$TEST_NAME: seed $SEED (ATR_MW_SEED=$SEED to repeat), log $STORE"

mkdir -p "$T/keys"
expect_exit 0 "$AGENTRAIL" keygen --name multi.example/log --out "$T/keys/k"
# Create the log first: three servers then open the same one.
expect_exit 0 "$AGENTRAIL" --store "$STORE" record --type session_start --actor setup
N_SETUP=1

# Three servers, each its own port, the same key: every one signs checkpoints of the shared tree.
URLS=()
for i in 0 1 2; do
	port=$(free_port)
	"$AGENTRAIL" --store "$STORE" serve --listen "127.0.0.1:$port" --key "$T/keys/k.key" \
		--checkpoint-every 300 >"$T/serve$i.out" 2>"$T/serve$i.err" &
	PIDS+=($!)
	URLS+=("http://127.0.0.1:$port")
done
for i in 0 1 2; do
	ok=0
	for _ in $(seq 100); do
		curl -sf "${URLS[$i]}/healthz" >/dev/null 2>&1 && { ok=1; break; }
		sleep 0.1
	done
	[ $ok = 1 ] && pass || fail "server $i did not start: $(cat "$T/serve$i.err")"
done

# 8 connections per server, until its server goes away.
for i in 0 1 2; do
	mkdir -p "$T/load$i"
	python3 "$LOAD" load --url "${URLS[$i]}" --dir "$T/load$i" --seed "$SEED$i" --conns 8 \
		--pace-ms 5 --max-seconds 60 >"$T/load$i.out" 2>"$T/load$i.err" &
	LOADS+=($!)
done
for _ in $(seq 100); do
	[ -e "$T/load0/ready" ] && [ -e "$T/load1/ready" ] && [ -e "$T/load2/ready" ] && break
	sleep 0.1
done
sleep 2
# Server 1 dies mid-run, with requests in flight.
kill -KILL "${PIDS[1]}"
wait "${PIDS[1]}" 2>/dev/null || true
ACK_AT_KILL=$(cat "$T"/load*/acked.txt | wc -l)
sleep 3
for i in 0 2; do kill -TERM "${PIDS[$i]}"; done
for i in 0 2; do
	rc=0
	wait "${PIDS[$i]}" || rc=$?
	assert_eq 0 "$rc" "server $i exits 0 after SIGTERM"
done
for i in 0 1 2; do wait "${LOADS[$i]}" 2>/dev/null || true; done
PIDS=()
LOADS=()
for i in 0 1 2; do
	[ -s "$T/load$i/errors.txt" ] && fail "load $i got errors: $(head -3 "$T/load$i/errors.txt")" || pass
done

# The whole log against what the three loads were told.
cat "$T"/load*/acked.txt >"$T/acked.txt"
cat "$T"/load*/unknown.jsonl >"$T/unknown.jsonl" 2>/dev/null || : >"$T/unknown.jsonl"
cat "$T"/load*/rejected.txt >"$T/rejected.txt" 2>/dev/null || : >"$T/rejected.txt"
ACKED=$(wc -l <"$T/acked.txt")
[ "$ACKED" -gt 1000 ] && pass || fail "only $ACKED events acknowledged"
[ "$ACK_AT_KILL" -gt 0 ] && pass || fail "nothing was acknowledged before the kill"
expect_exit 0 "$AGENTRAIL" --store "$STORE" export --out "$T/export.jsonl"
# The setup event is ours too: treat it as acknowledged.
python3 - "$T/export.jsonl" "$T/acked.txt" <<'PY'
import json, sys
with open(sys.argv[1]) as f:
    for line in f:
        r = json.loads(line).get("record")
        if r and r["seq"] == 0:
            with open(sys.argv[2], "a") as a:
                a.write(r["event_id"] + "\n")
            break
PY
run python3 "$LOAD" check --export "$T/export.jsonl" --acked "$T/acked.txt" \
	--unknown "$T/unknown.jsonl" --rejected "$T/rejected.txt"
if [ "$RC" -eq 0 ]; then pass; else
	fail "the log lost or mangled events: $OUT $ERR"
fi
echo "$TEST_NAME: $OUT"
# Contiguous seqs from the store itself, and every signer's checkpoints against the tree.
SIZE=$("$AGENTRAIL" --store "$STORE" root --json | py 'd["size"]')
assert_eq "$SIZE" "$(grep -c '^{"record":' "$T/export.jsonl")" "one export record per leaf"
assert_eq "true" "$(python3 -c '
import json, sys
seqs = [json.loads(l)["record"]["seq"] for l in open(sys.argv[1]) if l.startswith("{\"record\":")]
print(str(seqs == list(range(len(seqs)))).lower())' "$T/export.jsonl")" "seqs 0..N-1, no gaps, no repeats"
expect_exit 0 "$AGENTRAIL" --store "$STORE" verify --key "$T/keys/k.pub"
assert_match "$OUT" "^OK" "verify with the key"
NCP=$(psql "$AGENTRAIL_TEST_PG" -Atc "SELECT count(*) FROM agentrail.checkpoints WHERE log = '${STORE##*log=}'" 2>/dev/null || echo "?")
echo "$TEST_NAME: $SIZE records from $((ACKED + N_SETUP)) acknowledged (+ unknown fate), $NCP checkpoints from three signers"
finish
