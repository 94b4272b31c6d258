#!/usr/bin/env bash
# The crash suite (issue 4): a real `agentrail serve` under concurrent ingest
# (crash_load.py: 8 connections posting single events and batches of up to
# 55, with client-chosen event_ids) is killed with SIGKILL at a random moment
# (50 to 700 ms after the first answer), ATR_CRASH_ROUNDS times (default 30),
# and restarted on the same store and port. After each kill:
#   - every event whose request got a 201 is in the store (an export of the
#     whole store is compared with the acknowledged ids), seqs are 0..N-1
#     with no repeat, and nothing is stored that was not sent;
#   - each request cut off without an answer is stored whole or not at all,
#     and re-sending it gets 201 (duplicates), never 409;
#   - `agentrail verify` passes (exit 0 OK or 2 UNANCHORED; never 1 or 3) and
#     the tree size never shrinks;
#   - the restarted server answers /healthz and accepts a new event.
# Every tenth round (5, 15, 25, ...) instead runs 3 such connections and one
# posting 5000-event batches back to back, and kills while one is in flight
# (a random point of the round trip the previous one took): it must be all
# there or all absent afterwards.
# Odd rounds check the killed store before the restart (the reader meets the
# crashed WAL first), even rounds after it.
# When this build's `serve` signs checkpoints (--key, --witness), the server
# signs every 500 events into the store and a witness directory, and each
# round also needs `verify --key` to find the stored checkpoints consistent
# with the tree and `witness check` to find every witness file whole and
# consistent; after the final SIGTERM (which signs) verify must say OK.
# ATR_CRASH_SIGN=0 turns that off.
# The choices are seeded: the seed is printed, ATR_CRASH_SEED=N repeats the
# delays and the events (what is in flight at the kill stays a race).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/server.sh"

LOAD="$(dirname "$0")/crash_load.py"
ROUNDS=${ATR_CRASH_ROUNDS:-30}
SEED=${ATR_CRASH_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
RANDOM=$SEED
echo "$TEST_NAME: seed $SEED, $ROUNDS rounds (ATR_CRASH_SEED=$SEED ATR_CRASH_ROUNDS=$ROUNDS to repeat)"

LOAD_PID=""
trap '[ -n "$SRV_PID" ] && kill -KILL "$SRV_PID" 2>/dev/null; [ -n "$LOAD_PID" ] && kill -KILL "$LOAD_PID" 2>/dev/null; true' EXIT

ACKED="$T/acked.txt" # every id known to be stored, over all rounds
: >"$ACKED"
PORT=$(free_port)
mkdir -p "$T/store" "$T/keys"
STORE="$T/store/log.db" # the signer key must live outside the store's directory

SERVE_OPTS=()
VERIFY_OPTS=()
SIGN=0
if [ "${ATR_CRASH_SIGN:-1}" != 0 ] && "$AGENTRAIL" serve --help 2>&1 | grep -q -- '--witness DIR' &&
	"$AGENTRAIL" keygen --name crash.example/log --out "$T/keys/k" >/dev/null; then
	SIGN=1
	SERVE_OPTS=(--key "$T/keys/k.key" --checkpoint-every 500 --witness "$T/witness")
	# verify checks the stored checkpoints against the tree given the verifier key.
	run "$AGENTRAIL" --store "$T/probe.db" verify --key "$T/keys/k.pub"
	[ "$RC" -ne 64 ] && VERIFY_OPTS=(--key "$T/keys/k.pub")
	echo "$TEST_NAME: signing checkpoints every 500 events (verify ${VERIFY_OPTS[*]:-without a key})"
fi

# srv_start: serve $STORE on 127.0.0.1:$PORT (a new free port if that one
# cannot be bound), sets SRV_PID and URL once /healthz answers; 1 if it never does.
srv_start() {
	local try i
	for try in 1 2 3; do
		URL="http://127.0.0.1:$PORT"
		"$AGENTRAIL" --store "$STORE" serve --listen "127.0.0.1:$PORT" "${SERVE_OPTS[@]}" \
			>>"$T/serve.out" 2>"$T/serve.err.last" &
		SRV_PID=$!
		for i in $(seq 300); do
			curl -sf -m 5 "$URL/healthz" >/dev/null 2>&1 && { cat "$T/serve.err.last" >>"$T/serve.err"; return 0; }
			kill -0 "$SRV_PID" 2>/dev/null || break
			sleep 0.05
		done
		cat "$T/serve.err.last" >>"$T/serve.err"
		if kill -0 "$SRV_PID" 2>/dev/null; then
			kill -KILL "$SRV_PID" 2>/dev/null
			wait "$SRV_PID" 2>/dev/null || true
			SRV_PID=""
			return 1 # running but never healthy
		fi
		wait "$SRV_PID" 2>/dev/null || true
		SRV_PID=""
		# Only a port taken meanwhile (by another test's client) is worth another try.
		grep -qi "in use\|bind" "$T/serve.err.last" || return 1
		echo "$TEST_NAME: port $PORT was taken, moving to another" >&2
		PORT=$(free_port)
	done
	return 1
}

# jnum KEY TEXT: the integer KEY of a one-line JSON object (no python3 start-up per value).
jnum() {
	[[ "$2" =~ \"$1\":\ ?([0-9]+) ]] && echo "${BASH_REMATCH[1]}" || echo "?"
}

# check_store ROUND DIR: the whole store against what the load was told.
PREV_SIZE=0
check_store() {
	local r=$1 d=$2 size
	run "$AGENTRAIL" --store "$STORE" export --out "$T/export.jsonl"
	if [ "$RC" -ne 0 ]; then
		fail "round $r (seed $SEED): export exit $RC: $ERR"
		return 1
	fi
	run python3 "$LOAD" check --export "$T/export.jsonl" --acked "$ACKED" \
		--unknown "$d/unknown.jsonl" --rejected "$d/rejected.txt"
	echo "$OUT" >"$d/check.json"
	if [ "$RC" -ne 0 ]; then
		fail "round $r (seed $SEED): the store lost or mangled events: $OUT"
		echo "$ERR" >&2
		return 1
	fi
	pass
	size=$(jnum records "$OUT")
	if [ "$size" -ge "$PREV_SIZE" ]; then pass; else
		fail "round $r (seed $SEED): the log shrank from $PREV_SIZE to $size records"
		return 1
	fi
	PREV_SIZE=$size
	run "$AGENTRAIL" --store "$STORE" verify --json "${VERIFY_OPTS[@]}"
	if [ "$RC" -eq 0 ] || [ "$RC" -eq 2 ]; then pass; else
		fail "round $r (seed $SEED): verify exit $RC: ${OUT:0:2000} $ERR"
		return 1
	fi
	assert_eq "$size" "$(jnum records "$OUT")" "round $r: records verified"
	if [ "$SIGN" = 1 ] && compgen -G "$T/witness/*.note" >/dev/null; then
		run "$AGENTRAIL" witness check --dir "$T/witness" --store "$STORE" --key "$T/keys/k.pub"
		if [ "$RC" -eq 0 ]; then pass; else
			fail "round $r (seed $SEED): witness check exit $RC: ${OUT:0:2000} $ERR"
			return 1
		fi
	fi
}

# restart ROUND: start again on the killed store; it must serve and take a new event.
restart() {
	local r=$1 id
	if ! srv_start; then
		fail "round $r (seed $SEED): the server did not come back: $(tail -5 "$T/serve.err")"
		return 1
	fi
	pass
	id=$(cat /proc/sys/kernel/random/uuid)
	http POST /api/v1/events -m 30 -H 'Content-Type: application/json' \
		--data-binary "{\"type\":\"output\",\"actor\":\"crash-test\",\"event_id\":\"$id\",\"detail\":{\"round\":$r}}"
	if [ "$CODE" = 201 ]; then
		pass
		echo "$id" >>"$ACKED"
	else
		fail "round $r (seed $SEED): a new event after the restart got $CODE: $BODY"
		return 1
	fi
}

# resend ROUND DIR: every request of unknown fate again, exactly: 201, never 409.
resend() {
	local r=$1 d=$2
	[ -s "$d/unknown.jsonl" ] || return 0
	run python3 "$LOAD" resend --url "$URL" --unknown "$d/unknown.jsonl" --acked "$ACKED"
	if [ "$RC" -eq 0 ]; then pass; else
		fail "round $r (seed $SEED): re-sending the cut-off requests failed: $ERR"
		return 1
	fi
	echo "$OUT" >"$d/resend.json"
}

# wait_file FILE SECONDS: 0 once FILE exists, 1 after SECONDS.
wait_file() {
	local i
	for i in $(seq $(($2 * 20))); do
		[ -e "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

t0=$(date +%s.%N)
srv_start || { fail "the server did not start: $(cat "$T/serve.err")"; finish; exit 1; }
big_rounds=0
big_inflight=0
done_rounds=0
for r in $(seq "$ROUNDS"); do
	d="$T/r$r"
	mkdir -p "$d"
	big=()
	[ $((r % 10)) -eq 5 ] && big=(--big --conns 3)
	python3 "$LOAD" load --url "$URL" --dir "$d" --seed "$SEED-$r" "${big[@]}" \
		>"$d/load.out" 2>"$d/load.err" &
	LOAD_PID=$!
	if [ ${#big[@]} -gt 0 ]; then
		# Kill while a 5000-event batch is in flight: at a random point between
		# a quarter and 95% of the round trip the previous one took.
		big_rounds=$((big_rounds + 1))
		if ! wait_file "$d/big.sent" 60; then
			fail "round $r (seed $SEED): no big batch was answered: $(cat "$d/errors.txt" "$d/load.err" 2>/dev/null | head -5)"
			break
		fi
		rtt_ms=$(cat "$d/big.sent")
		delay_ms=$((rtt_ms / 4 + RANDOM % (rtt_ms * 7 / 10 + 1)))
	else
		# From the first answer on, so that the load is running, not starting.
		if ! wait_file "$d/ready" 60; then
			fail "round $r (seed $SEED): no request was answered: $(cat "$d/errors.txt" "$d/load.err" 2>/dev/null | head -5)"
			break
		fi
		delay_ms=$((50 + RANDOM % 651))
	fi
	sleep "$((delay_ms / 1000)).$(printf '%03d' $((delay_ms % 1000)))"
	if ! kill -KILL "$SRV_PID" 2>/dev/null; then
		fail "round $r (seed $SEED): the server died by itself under load: $(tail -5 "$T/serve.err.last")"
		wait "$SRV_PID" 2>/dev/null || true
		SRV_PID=""
		kill -KILL "$LOAD_PID" 2>/dev/null || true
		break
	fi
	wait "$SRV_PID" 2>/dev/null || true
	SRV_PID=""
	lrc=0
	wait "$LOAD_PID" || lrc=$?
	LOAD_PID=""
	if [ "$lrc" -eq 0 ]; then pass; else
		fail "round $r (seed $SEED): the load failed (exit $lrc): $(head -5 "$d/errors.txt" "$d/load.err")"
		break
	fi
	cat "$d/acked.txt" >>"$ACKED"
	if [ $((r % 2)) -eq 1 ]; then
		check_store "$r" "$d" && restart "$r" || break
	else
		restart "$r" && check_store "$r" "$d" || break
	fi
	resend "$r" "$d" || break
	done_rounds=$r
	if [ ${#big[@]} -gt 0 ]; then
		c=$(cat "$d/check.json")
		bi=$(jnum big_inflight "$c")
		big_inflight=$((big_inflight + bi))
		echo "$TEST_NAME: round $r: 5000-event batches in flight at the kill: $bi (stored whole: $(jnum big_present "$c")), killed ${delay_ms} ms into a ${rtt_ms} ms round trip"
	fi
	l=$(cat "$d/load.out")
	c=$(cat "$d/check.json")
	echo "$TEST_NAME: round $r: killed after $delay_ms ms; acked $(jnum requests_ok "$l") requests / $(jnum events_acked "$l") events, cut off $(jnum unknown_requests "$l") / $(jnum unknown_events "$l"); store $(jnum records "$c") records, cut-off requests stored $(jnum unknown_present "$c") / absent $(jnum unknown_absent "$c")"
done

# A big batch was caught in flight at least once (else the atomicity case was not exercised).
if [ "$big_rounds" -gt 0 ] && [ "$FAILED" -eq 0 ]; then
	if [ "$big_inflight" -gt 0 ]; then pass; else
		fail "no kill of $big_rounds big rounds caught a 5000-event batch in flight"
	fi
fi

# After all that, a clean stop still works and nothing was reported by a sanitizer.
if [ -n "$SRV_PID" ]; then
	stop_server
	assert_eq 0 "$SRV_RC" "the last server exits 0 on SIGTERM"
	run "$AGENTRAIL" --store "$STORE" verify "${VERIFY_OPTS[@]}"
	if [ "$SIGN" = 1 ] && [ ${#VERIFY_OPTS[@]} -gt 0 ]; then
		# The shutdown signed the final tree: everything is anchored now.
		assert_eq 0 "$RC" "final verify --key exit (OK: signed at shutdown): $OUT $ERR"
	elif [ "$RC" -eq 0 ] || [ "$RC" -eq 2 ]; then pass; else fail "final verify exit $RC: $OUT $ERR"; fi
	if [ "$SIGN" = 1 ]; then
		expect_exit 0 "$AGENTRAIL" witness check --dir "$T/witness" --store "$STORE" --key "$T/keys/k.pub"
	fi
fi
assert_not_contains "$(cat "$T/serve.err")" "Sanitizer" "server stderr"
assert_not_contains "$(cat "$T/serve.err")" "runtime error" "server stderr"
[ "$FAILED" -eq 0 ] || echo "$TEST_NAME: the store, the server's stderr and each round's load files are in $T" >&2
echo "$TEST_NAME: $(wc -l <"$ACKED") events acknowledged over $done_rounds rounds in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s (seed $SEED)"
finish
