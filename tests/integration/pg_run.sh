#!/usr/bin/env bash
# pg_run.sh CMD...: run CMD against a throwaway PostgreSQL cluster started with
# scripts/pg-temp (Debian's postgresql package) and always stopped afterwards.
# CMD sees AGENTRAIL_TEST_PG (the database's URI) and
# AGENTRAIL_TEST_STORE_KIND=postgres, which makes lib.sh give each
# integration test a fresh PostgreSQL log as its default store. ctest runs the
# unit.pg.* and integration.pg.* tests through it (tests/CMakeLists.txt).
set -euo pipefail
src=${ATR_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
dir=$(mktemp -d "${TMPDIR:-/tmp}/agentrail-pg.XXXXXX")
trap '"$src/scripts/pg-temp" stop "$dir"' EXIT
AGENTRAIL_TEST_PG=$("$src/scripts/pg-temp" start "$dir" 2>"$dir.start.err") || {
	echo "pg_run: cannot start PostgreSQL: $(cat "$dir.start.err")" >&2
	rm -f "$dir.start.err"
	exit 1
}
rm -f "$dir.start.err"
export AGENTRAIL_TEST_PG AGENTRAIL_TEST_STORE_KIND=postgres
echo "pg_run: PostgreSQL at $AGENTRAIL_TEST_PG" >&2
rc=0
"$@" || rc=$?
exit $rc
