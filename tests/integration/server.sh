# Helpers for tests that run a real `agentrail serve` (source after lib.sh):
# a free loopback port, start and stop with SIGTERM, an HTTP call that
# keeps the status, body and headers of the answer (with a token: call), and
# the node packages a test drives the server with (npm_ci).

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
# call TOKEN METHOD PATH [CURL ARGS...]: http with the token ('' for none).
call() {
	local tok=$1 m=$2 p=$3
	shift 3
	if [ -n "$tok" ]; then
		http "$m" "$p" -H "Authorization: Bearer $tok" "$@"
	else
		http "$m" "$p" "$@"
	fi
}

# npm_ci SRC DEST: the node packages pinned by SRC/package-lock.json, installed
# with `npm ci` into DEST and reused while the lock file is unchanged; a failed
# install fails the test and ends it.
npm_ci() {
	local src=$1 dest=$2
	if ! cmp -s "$src/package-lock.json" "$dest/package-lock.json" || [ ! -d "$dest/node_modules" ]; then
		rm -rf "$dest"
		mkdir -p "$dest"
		cp "$src/package.json" "$src/package-lock.json" "$dest/"
		if ! (cd "$dest" && npm ci --no-audit --no-fund --loglevel=error) >"$T/npm.log" 2>&1; then
			fail "npm ci failed: $(tail -5 "$T/npm.log")"
			rm -rf "$dest"
			finish
		fi
	fi
}
