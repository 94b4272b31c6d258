# Shared helpers for the integration tests: a scratch directory per test,
# assertions that count passes and failures, and JSON checks with python3.
# Source it after 'set -euo pipefail'; call 'finish' at the end.

: "${AGENTRAIL:?set AGENTRAIL to the agentrail binary}"
: "${ATR_TEST_TMP:?set ATR_TEST_TMP to a scratch directory}"

TEST_NAME=$(basename "$0" .sh)
T="$ATR_TEST_TMP/$TEST_NAME"
rm -rf "$T"
mkdir -p "$T"
PASSED=0
FAILED=0
OUT=""  # stdout of the last 'run' / 'expect_exit'
ERR=""  # its stderr
RC=0    # its exit status

# The default store of a test; commands go through 'ar'.
STORE="$T/store.db"
unset AGENTRAIL_STORE
# The ctest variants integration.pg.* (tests/pg-run.sh) run a test on a fresh
# PostgreSQL log instead: AGENTRAIL_TEST_STORE_KIND=postgres, AGENTRAIL_TEST_PG the database.
if [ "${AGENTRAIL_TEST_STORE_KIND:-sqlite}" = postgres ]; then
	: "${AGENTRAIL_TEST_PG:?set AGENTRAIL_TEST_PG to a PostgreSQL URI (scripts/pg-temp)}"
	STORE="$AGENTRAIL_TEST_PG?log=$TEST_NAME-$$-$RANDOM$RANDOM"
fi

ar() { "$AGENTRAIL" --store "$STORE" "$@"; }

pass() { PASSED=$((PASSED + 1)); }
fail() {
	FAILED=$((FAILED + 1))
	echo "FAIL [$TEST_NAME:${BASH_LINENO[1]:-?}]: $*" >&2
}

# run CMD...: run it, keep stdout/stderr/status in OUT/ERR/RC, never abort.
run() {
	RC=0
	"$@" >"$T/.out" 2>"$T/.err" || RC=$?
	OUT=$(cat "$T/.out")
	ERR=$(cat "$T/.err")
}

# expect_exit CODE CMD...: run CMD and check its exit status.
expect_exit() {
	local want=$1
	shift
	run "$@"
	if [ "$RC" -eq "$want" ]; then
		pass
	else
		fail "exit $RC, expected $want: $*"
		[ -n "$OUT" ] && echo "  stdout: ${OUT:0:600}" >&2
		[ -n "$ERR" ] && echo "  stderr: ${ERR:0:600}" >&2
	fi
	return 0
}

# assert_eq EXPECTED ACTUAL [WHAT]
assert_eq() {
	if [ "$1" == "$2" ]; then
		pass
	else
		fail "${3:-value}: expected '$1', got '${2:0:600}'"
	fi
}

# assert_contains HAYSTACK NEEDLE [WHAT]
assert_contains() {
	if [[ "$1" == *"$2"* ]]; then
		pass
	else
		fail "${3:-output} does not contain '$2': '${1:0:600}'"
	fi
}

assert_not_contains() {
	if [[ "$1" != *"$2"* ]]; then
		pass
	else
		fail "${3:-output} contains '$2': '${1:0:600}'"
	fi
}

# assert_match TEXT REGEX [WHAT]
assert_match() {
	if [[ "$1" =~ $2 ]]; then
		pass
	else
		fail "${3:-output} does not match /$2/: '${1:0:600}'"
	fi
}

# assert_line TEXT REGEX [WHAT]: some line of TEXT matches the extended REGEX.
assert_line() {
	if grep -Eq -- "$2" <<<"$1"; then
		pass
	else
		fail "${3:-output} has no line matching /$2/: '${1:0:600}'"
	fi
}

# py EXPR: evaluate a python3 expression over JSON read from stdin, bound as
# 'd' (one document) and 'rows' (the non-empty lines of JSONL, parsed).
py() {
	python3 -c '
import json, sys
text = sys.stdin.read()
try:
    d = json.loads(text)
except ValueError:
    d = None
try:
    rows = [json.loads(l) for l in text.splitlines() if l.strip()]
except ValueError:
    rows = None
v = eval(sys.argv[1])
print(json.dumps(v) if not isinstance(v, str) else v)
' "$1"
}

# count [STORE]: the number of records, via the CLI.
count() { "$AGENTRAIL" --store "${1:-$STORE}" query --count; }

finish() {
	echo "$TEST_NAME: $PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
}

# merkle_check ROOT_HEX: read `prove --json` (inclusion) from stdin and check
# it with an independent RFC 9162 verifier (section 2.1.3.2); prints "ok" or why not.
merkle_check() {
	python3 -c '
import hashlib, json, sys
p = json.load(sys.stdin)
want = bytes.fromhex(sys.argv[1])
H = lambda a, b: hashlib.sha256(b"\x01" + a + b).digest()
fn, sn = p["seq"], p["size"] - 1
r = bytes.fromhex(p["leaf_hash"])
for h in p["path"]:
    h = bytes.fromhex(h)
    if sn == 0:
        print("path too long"); sys.exit(0)
    if fn & 1 or fn == sn:
        r = H(h, r)
        while not fn & 1 and fn != 0:
            fn >>= 1; sn >>= 1
    else:
        r = H(r, h)
    fn >>= 1; sn >>= 1
print("ok" if sn == 0 and r == want and r.hex() == p["root_hash"] else "mismatch")
' "$1"
}

# consistency_check: read `prove --consistency --json` from stdin and check it
# with an independent RFC 9162 verifier (section 2.1.4.2); prints "ok" or why not.
consistency_check() {
	python3 -c '
import hashlib, json, sys
p = json.load(sys.stdin)
n1, n2 = p["old_size"], p["new_size"]
r1, r2 = bytes.fromhex(p["old_root"]), bytes.fromhex(p["new_root"])
path = [bytes.fromhex(h) for h in p["path"]]
H = lambda a, b: hashlib.sha256(b"\x01" + a + b).digest()
if n1 == n2:
    print("ok" if not path and r1 == r2 else "mismatch"); sys.exit(0)
if n1 & (n1 - 1) == 0:
    path = [r1] + path
fn, sn = n1 - 1, n2 - 1
while fn & 1:
    fn >>= 1; sn >>= 1
fr = sr = path[0]
for c in path[1:]:
    if sn == 0:
        print("path too long"); sys.exit(0)
    if fn & 1 or fn == sn:
        fr = H(c, fr); sr = H(c, sr)
        while not fn & 1 and fn != 0:
            fn >>= 1; sn >>= 1
    else:
        sr = H(sr, c)
    fn >>= 1; sn >>= 1
print("ok" if fr == r1 and sr == r2 and sn == 0 else "mismatch")
'
}
