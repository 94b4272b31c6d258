# Helpers for tests that run a real `agentrail serve` (source after lib.sh):
# a free loopback port, start and stop with SIGTERM, and an HTTP call that
# keeps the status, body and headers of the answer.

command -v curl >/dev/null || { echo "$TEST_NAME: curl is missing (scripts/bootstrap)"; exit 1; }

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

SRV_PID=""
# start_server STORE [SERVE OPTIONS...]: binds SRV_HOST (default 127.0.0.1), always
# talked to via 127.0.0.1; sets SRV_PID, PORT and URL once /healthz answers.
start_server() {
	local store=$1
	shift
	PORT=$(free_port)
	URL="http://127.0.0.1:$PORT"
	"$AGENTRAIL" --store "$store" serve --listen "${SRV_HOST:-127.0.0.1}:$PORT" "$@" \
		>"$T/serve.out" 2>"$T/serve.err" &
	SRV_PID=$!
	for _ in $(seq 100); do
		curl -sf "$URL/healthz" >/dev/null 2>&1 && return 0
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.1
	done
	fail "server did not start: $(cat "$T/serve.err")"
	return 1
}
# stop_server: SIGTERM, wait, set SRV_RC.
stop_server() {
	SRV_RC=0
	kill -TERM "$SRV_PID" 2>/dev/null || true
	wait "$SRV_PID" || SRV_RC=$?
	SRV_PID=""
}
trap '[ -n "$SRV_PID" ] && kill -KILL "$SRV_PID" 2>/dev/null || true' EXIT

# http METHOD PATH [CURL ARGS...]: CODE, BODY and HDRS of the answer.
http() {
	local m=$1 p=$2
	shift 2
	CODE=$(curl -s -X "$m" -o "$T/.body" -D "$T/.hdrs" -w '%{http_code}' "$@" "$URL$p" || true)
	BODY=$(cat "$T/.body")
	HDRS=$(tr -d '\r' <"$T/.hdrs")
}
post() { http POST /api/v1/events -H 'Content-Type: application/json' --data-binary "$@"; }
jq_() { py "$1" <<<"$BODY"; }
