#!/usr/bin/env bash
# Tokens from the CLI: created once and printed alone on the last line, only
# the hash kept in the log, each change a token_change event, revocation
# final, and bad roles or ids refused with precise errors.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

expect_exit 0 ar token create --role writer --name ci --actor alice
tok=$(tail -n 1 <<<"$OUT")
assert_match "$tok" "^atr_[0-9a-f]{64}$" "token format"
id=$(grep -o 'tok_[0-9a-f]\{12\}' <<<"$OUT" | head -1)
assert_match "$id" "^tok_[0-9a-f]{12}$" "token id"
expect_exit 0 ar token create --role auditor --actor alice

expect_exit 0 ar token list
assert_contains "$OUT" "$id  writer    live"
expect_exit 0 ar token list --json
assert_eq 2 "$(wc -l <<<"$OUT" | tr -d ' ')" "two tokens listed"

# The secret is nowhere in the store file or an export; its hash is.
expect_exit 0 ar export --out "$T/e.jsonl"
assert_not_contains "$(cat "$T/e.jsonl")" "${tok#atr_}"
hash=$(printf '%s' "$tok" | sha256sum | cut -d' ' -f1)
assert_contains "$(cat "$T/e.jsonl")" "$hash"
if grep -q "${tok#atr_}" "$STORE"* 2>/dev/null; then fail "secret found in the store files"; else pass; fi

# Every change is an event with a reason.
expect_exit 0 ar query --type token_change --json
assert_eq 2 "$(wc -l <<<"$OUT" | tr -d ' ')" "two token_change events"
assert_contains "$OUT" "\"reason\":\"created writer token 'ci'\""
assert_contains "$OUT" "\"actor\":\"alice\""

expect_exit 0 ar token revoke "$id" --reason "left in a CI log" --actor bob
expect_exit 0 ar token list
assert_contains "$OUT" "$id  writer    revoked"
expect_exit 1 ar token revoke "$id"
assert_contains "$ERR" "already revoked at seq 2"
expect_exit 1 ar token revoke tok_000000000000
assert_contains "$ERR" "no token 'tok_000000000000'"
expect_exit 64 ar token create --role root
assert_contains "$ERR" "unknown role 'root'"
expect_exit 64 ar token create
assert_contains "$ERR" "needs '--role'"
expect_exit 64 ar token rotate
assert_contains "$ERR" "unknown token action 'rotate'"
expect_exit 0 ar token --help
expect_exit 2 ar verify
finish
