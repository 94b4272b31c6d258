#!/usr/bin/env bash
# Docs stay true: docs/cli.md holds every command's --help verbatim
# (regenerate with scripts/gen-cli-doc), and every command is documented.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

: "${ATR_SRC:?set ATR_SRC to the source tree}"
expect_exit 0 python3 "$ATR_SRC/scripts/gen-cli-doc" --check "$AGENTRAIL" "$ATR_SRC/docs/cli.md"
[ "$RC" -eq 0 ] || echo "  $ERR" >&2
for cmd in $("$AGENTRAIL" --help | sed -n '/^commands:/,/^$/p' | awk 'NF > 1 {print $1}'); do
	assert_contains "$(cat "$ATR_SRC/docs/cli.md")" "## $cmd" "docs/cli.md section for $cmd"
done
finish
