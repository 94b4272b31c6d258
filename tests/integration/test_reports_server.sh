#!/usr/bin/env bash
# serve --reports-dir (docs/reports.md, "Server") on a real server with a
# seeded store and a test clock (AGENTRAIL_REPORT_CLOCK): the day and week
# reports written as HTML, Markdown and JSON, each logged by one x_report
# event whose SHA-256 and size match the files; GET /api/v1/reports and
# /api/v1/reports/{name} for readers (headers, 409 report_changed once a
# file is altered, removed or replaced by a link, 400/404 for bad names and
# path traversal); a restart writes nothing twice; a later start catches up
# with the newest missing day only; the timer fires at midnight; bad flags.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/server.sh"

DIR="$T/reports"
mkdir -p "$DIR"
tok() { ar token create --role "$1" --name "$2" --actor admin | tail -n 1; }
R=$(tok reader rita)
W=$(tok writer wendy)
AUTH=(-H "Authorization: Bearer $R")

# A week (2024-W23: June 3 to 9) with events on Wednesday and on Sunday, none
# that fires an alert (the alerter would append events into the period while the
# reporter reads it, and the reports here are compared with `agentrail report`).
cat >"$T/seed.jsonl" <<'EOF'
{"ts":"2024-06-05T10:00:00Z","type":"session_start","actor":"agent-0","session_id":"S0"}
{"ts":"2024-06-05T10:01:00Z","type":"llm_call","actor":"agent-0","model":"m-small","session_id":"S0","usage":{"input_tokens":100,"output_tokens":10}}
{"ts":"2024-06-05T10:02:00Z","type":"session_end","actor":"agent-0","session_id":"S0","outcome":"failure"}
{"ts":"2024-06-09T08:00:00Z","type":"task_submit","actor":"alice","job_id":"J1","session_id":"S1","target":"ship it"}
{"ts":"2024-06-09T08:00:01Z","type":"session_start","actor":"agent-1","job_id":"J1","session_id":"S1"}
{"ts":"2024-06-09T08:01:00Z","type":"llm_call","actor":"agent-1","model":"m-large","job_id":"J1","session_id":"S1","usage":{"input_tokens":1200,"output_tokens":300}}
{"ts":"2024-06-09T08:02:00Z","type":"file_read","actor":"agent-1","target":"app/main.c","session_id":"S1"}
{"ts":"2024-06-09T08:03:00Z","type":"command","actor":"agent-1","target":"make test","exit_code":2,"session_id":"S1"}
{"ts":"2024-06-09T09:00:00Z","type":"session_end","actor":"agent-1","job_id":"J1","session_id":"S1","outcome":"success"}
EOF
expect_exit 0 ar import --quiet "$T/seed.jsonl"
ar keygen --name example.com/reports --out "$T/k" >/dev/null
expect_exit 0 ar checkpoint --key "$T/k.key"
CP_SIZE=$(ar query --count)
# A file left by a crash before its event: rewritten, not trusted.
echo bogus >"$DIR/day-2024-06-09.html"
# Another producer's x_report is not the reporter's: it neither lists nor blocks.
cat >"$T/foreign.json" <<'EOF'
{"type":"x_report","level":"pipeline","actor":"someone","target":"week-2024-W23","detail":{"period":"week","label":"2024-W23","date":"2024-06-03","files":[{"name":"week-2024-W23.html","format":"html","sha256":"0000000000000000000000000000000000000000000000000000000000000000","size":1}]}}
EOF
expect_exit 0 ar record --quiet --json - <"$T/foreign.json"

# wait_reports N: until the list has N items (BODY: the list).
wait_reports() {
	for _ in $(seq 150); do
		http GET /api/v1/reports "${AUTH[@]}"
		[ "$CODE" = 200 ] && [ "$(jq_ 'len(d["items"])')" -ge "$1" ] && return 0
		sleep 0.1
	done
}
# x_reports: the reporter's x_report events as JSON lines (seq, target, detail).
x_reports() {
	ar query --type x_report --actor agentrail-reports --json |
		py_lines '[d["seq"], d["target"], d["reason"], d["level"], d["detail"]]' 2>/dev/null || true
}
py_lines() { python3 -c '
import json, sys
for line in sys.stdin:
    d = json.loads(line)
    print(json.dumps(eval(sys.argv[1])))' "$1"; }

# ------------------------------------------------------------ the first start
AGENTRAIL_REPORT_CLOCK=2024-06-10T00:10:00Z start_server "$STORE" --reports-dir "$DIR" --report-delay 5m
assert_contains "$(cat "$T/serve.out")" "reports: daily and weekly into '$DIR', 300 s after midnight UTC (AGENTRAIL_REPORT_CLOCK: a test clock)"
wait_reports 6
assert_eq 6 "$(jq_ 'len(d["items"])')" "six files listed"
assert_eq '[["week-2024-W23.html", "week", "2024-W23", "2024-06-03", "html"], ["week-2024-W23.md", "week", "2024-W23", "2024-06-03", "md"], ["week-2024-W23.json", "week", "2024-W23", "2024-06-03", "json"], ["day-2024-06-09.html", "day", "2024-06-09", "2024-06-09", "html"], ["day-2024-06-09.md", "day", "2024-06-09", "2024-06-09", "md"], ["day-2024-06-09.json", "day", "2024-06-09", "2024-06-09", "json"]]' \
	"$(jq_ '[[x["name"], x["period"], x["label"], x["date"], x["format"]] for x in d["items"]]')" "newest first"
assert_eq '[null]' "$(jq_ 'list({x["next_cursor"] for x in [d]})')" "one page"
LIST=$BODY
assert_eq "day-2024-06-09.html day-2024-06-09.json day-2024-06-09.md week-2024-W23.html week-2024-W23.json week-2024-W23.md" \
	"$(cd "$DIR" && ls | tr '\n' ' ' | sed 's/ $//')" "the files, no temporary ones"
# Each item: sha256 and size of the file on disk, its URL.
for f in day-2024-06-09.html day-2024-06-09.md day-2024-06-09.json week-2024-W23.html week-2024-W23.md week-2024-W23.json; do
	assert_eq "[\"$(sha256sum <"$DIR/$f" | cut -d' ' -f1)\", $(stat -c %s "$DIR/$f"), \"/api/v1/reports/$f\"]" \
		"$(py "[[x['sha256'], x['size'], x['url']] for x in d['items'] if x['name'] == '$f'][0]" <<<"$LIST")" "$f listed with its hash"
done
assert_contains "$(cat "$DIR/day-2024-06-09.html")" "<svg" "the bogus file was replaced by the report"
assert_eq 3 "$(grep -c '<svg' "$DIR/day-2024-06-09.html")" "three charts"
assert_contains "$(cat "$DIR/day-2024-06-09.md")" "# "
# The JSON file is the report `agentrail report` computes (but for when it was made).
ar report --period day --date 2024-06-09 --format json >"$T/cli-day.json"
strip='import json, sys; d = json.load(open(sys.argv[1])); d.pop("generated_at"); print(json.dumps(d, sort_keys=True))'
assert_eq "$(python3 -c "$strip" "$T/cli-day.json")" "$(python3 -c "$strip" "$DIR/day-2024-06-09.json")" "the day's JSON = agentrail report"
ar report --period week --date 2024-06-09 --format json >"$T/cli-week.json"
assert_eq "$(python3 -c "$strip" "$T/cli-week.json")" "$(python3 -c "$strip" "$DIR/week-2024-W23.json")" "the week's JSON = agentrail report"
assert_eq '[6, 1200, "2024-06-10T00:10"]' \
	"$(py '[d["events"]["total"], d["tokens"]["totals"]["input_tokens"], d["generated_at"][:16]]' <"$DIR/day-2024-06-09.json")" "figures, and made at the test clock"

# The events: one per report, pipeline level, the files with their hashes, the checkpoint.
EV=$(x_reports)
assert_eq 2 "$(wc -l <<<"$EV")" "two x_report events"
DAY=$(grep '"day-2024-06-09"' <<<"$EV")
assert_eq '["day-2024-06-09", "daily report for 2024-06-09", "pipeline"]' "$(py 'd[1:4]' <<<"$DAY")" "the day's event"
assert_eq '["day", "2024-06-09", "2024-06-09", "2024-06-09T00:00:00.000000Z", "2024-06-10T00:00:00.000000Z"]' \
	"$(py '[d[4][k] for k in ("period", "label", "date", "start", "end")]' <<<"$DAY")" "its period"
assert_eq "$CP_SIZE" "$(py 'd[4]["checkpoint"]["size"]' <<<"$DAY")" "the checkpoint that covers it"
assert_eq "$(py 'd["checkpoint"]["root_hash"]' <"$DIR/day-2024-06-09.json")" "$(py 'd[4]["checkpoint"]["root"]' <<<"$DAY")" "its root"
for f in html md json; do
	assert_eq "[\"$(sha256sum <"$DIR/day-2024-06-09.$f" | cut -d' ' -f1)\", $(stat -c %s "$DIR/day-2024-06-09.$f")]" \
		"$(py "[[x['sha256'], x['size']] for x in d[4]['files'] if x['name'] == 'day-2024-06-09.$f' and x['format'] == '$f'][0]" <<<"$DAY")" "event: $f"
done
assert_eq '["week-2024-W23", "weekly report for 2024-W23", "pipeline", "2024-06-03"]' \
	"$(py 'd[1:4] + [d[4]["date"]]' <<<"$(grep '"week-2024-W23"' <<<"$EV")")" "the week's event"

# ------------------------------------------------------------ serving a file
http GET /api/v1/reports/day-2024-06-09.html "${AUTH[@]}"
assert_eq 200 "$CODE" "a reader gets the HTML"
assert_eq "$(cat "$DIR/day-2024-06-09.html")" "$BODY" "the file's bytes"
assert_contains "$HDRS" "Content-Type: text/html; charset=utf-8"
assert_contains "$HDRS" "Content-Security-Policy: sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"
assert_contains "$HDRS" "X-Content-Type-Options: nosniff"
assert_contains "$HDRS" "X-Agentrail-Report-SHA256: $(sha256sum <"$DIR/day-2024-06-09.html" | cut -d' ' -f1)"
http GET /api/v1/reports/week-2024-W23.md "${AUTH[@]}"
assert_eq 200 "$CODE" "markdown"
assert_contains "$HDRS" "Content-Type: text/markdown; charset=utf-8"
http GET /api/v1/reports/week-2024-W23.json "${AUTH[@]}"
assert_contains "$HDRS" "Content-Type: application/json"
assert_eq "$(cat "$DIR/week-2024-W23.json")" "$BODY" "the JSON file's bytes"
http HEAD /api/v1/reports/day-2024-06-09.md "${AUTH[@]}"
assert_eq 200 "$CODE" "HEAD"
http GET /api/v1/reports
assert_eq 401 "$CODE" "a token is needed"
http GET /api/v1/reports -H "Authorization: Bearer $W"
assert_eq 403 "$CODE" "a writer may not read reports"
http GET /api/v1/reports/day-2024-06-09.html -H "Authorization: Bearer $W"
assert_eq 403 "$CODE" "nor fetch one"
http GET '/api/v1/reports?limit=1' "${AUTH[@]}"
assert_eq '[3, "week-2024-W23"]' "$(jq_ '[len(d["items"]), d["items"][0]["name"][:13]]')" "limit counts reports"
NEXT=$(jq_ 'd["next_cursor"]')
http GET "/api/v1/reports?limit=1&cursor=$NEXT" "${AUTH[@]}"
assert_eq '[3, "day-2024-06-09", null]' "$(jq_ '[len(d["items"]), d["items"][0]["name"][:14], d["next_cursor"]]')" "the next page"
http GET '/api/v1/reports?limit=0' "${AUTH[@]}"
assert_eq 400 "$CODE" "limit 0"
http GET '/api/v1/reports?kind=day' "${AUTH[@]}"
assert_eq 400 "$CODE" "unknown parameter"

# ------------------------------------------------------------ names
for p in '..%2F..%2Fstore%2Flog.db' '..%2Fday-2024-06-09.html' '%2E%2E' '.day-2024-06-09.html.tmp'; do
	http GET "/api/v1/reports/$p" "${AUTH[@]}"
	assert_match "$CODE" '^40[04]$' "traversal '$p' refused ($CODE)"
	assert_not_contains "$BODY" "<svg" "nothing served for '$p'"
done
http GET /api/v1/reports/..%2Fday-2024-06-09.html "${AUTH[@]}"
assert_eq 404 "$CODE" "an encoded slash makes two segments: no route"
http GET /api/v1/reports/day-2024-06-09.txt "${AUTH[@]}"
assert_eq 400 "$CODE" "an unknown extension"
assert_contains "$BODY" "'day-2024-06-09.txt' is not a report name: day-YYYY-MM-DD.EXT or week-YYYY-Www.EXT, EXT html, md or json"
http GET /api/v1/reports/day-2024-06-10.html "${AUTH[@]}"
assert_eq 404 "$CODE" "a report not written"
assert_eq '["not_found", "no report '"'"'day-2024-06-10.html'"'"' in the log"]' "$(jq_ '[d["error"]["code"], d["error"]["message"]]')"
http GET /api/v1/reports/week-2024-W23.pdf "${AUTH[@]}"
assert_eq 400 "$CODE" "pdf is not a format"

# ------------------------------------------------------------ the log, not the directory
cp "$DIR/day-2024-06-09.html" "$T/day.html.orig"
sed -i 's/<h1>/<h1>X/' "$DIR/day-2024-06-09.html"
http GET /api/v1/reports/day-2024-06-09.html "${AUTH[@]}"
assert_eq 409 "$CODE" "an altered file"
assert_eq report_changed "$(jq_ 'd["error"]["code"]')"
assert_contains "$(jq_ 'd["error"]["message"]')" "report 'day-2024-06-09.html' changed on disk: it is $(stat -c %s "$DIR/day-2024-06-09.html") bytes, the log (seq"
# Same size, other bytes: the hash says so.
cp "$T/day.html.orig" "$DIR/day-2024-06-09.html"
python3 -c 'import sys; p = sys.argv[1]; b = bytearray(open(p, "rb").read()); i = b.index(b"<h1>") + 4; b[i] ^= 1; open(p, "wb").write(b)' "$DIR/day-2024-06-09.html"
http GET /api/v1/reports/day-2024-06-09.html "${AUTH[@]}"
assert_eq 409 "$CODE" "same size, other bytes"
assert_match "$(jq_ 'd["error"]["message"]')" "^report 'day-2024-06-09.html' changed on disk: its SHA-256 is $(sha256sum <"$DIR/day-2024-06-09.html" | cut -d' ' -f1), the log \(seq [0-9]+\) says $(sha256sum <"$T/day.html.orig" | cut -d' ' -f1)$"
http GET /api/v1/reports "${AUTH[@]}"
assert_eq "$(sha256sum <"$T/day.html.orig" | cut -d' ' -f1)" "$(jq_ '[x["sha256"] for x in d["items"] if x["name"] == "day-2024-06-09.html"][0]')" "the list keeps the logged hash"
cp "$T/day.html.orig" "$DIR/day-2024-06-09.html"
http GET /api/v1/reports/day-2024-06-09.html "${AUTH[@]}"
assert_eq 200 "$CODE" "restored: served again"
mv "$DIR/week-2024-W23.md" "$T/week.md"
http GET /api/v1/reports/week-2024-W23.md "${AUTH[@]}"
assert_eq 409 "$CODE" "a removed file"
assert_match "$(jq_ 'd["error"]["message"]')" "^report 'week-2024-W23.md' \(logged at seq [0-9]+\) is no longer in the reports directory$"
ln -s "$T/week.md" "$DIR/week-2024-W23.md"
http GET /api/v1/reports/week-2024-W23.md "${AUTH[@]}"
assert_eq 409 "$CODE" "a symbolic link is not followed"
rm "$DIR/week-2024-W23.md"
mv "$T/week.md" "$DIR/week-2024-W23.md"
stop_server
assert_eq 0 "$SRV_RC" "clean exit"
assert_contains "$(cat "$T/serve.err")" "wrote the day report 2024-06-09 into '$DIR'"

# ------------------------------------------------------------ restart: nothing twice
AGENTRAIL_REPORT_CLOCK=2024-06-10T00:10:00Z start_server "$STORE" --reports-dir "$DIR" --report-delay 5m
sleep 1
stop_server
assert_eq 2 "$(x_reports | wc -l)" "a restart writes no report twice"
assert_not_contains "$(cat "$T/serve.err")" "wrote the" "nothing written"
# Before the delay has passed, yesterday is not due yet: the day before is (done).
AGENTRAIL_REPORT_CLOCK=2024-06-11T00:04:00Z start_server "$STORE" --reports-dir "$DIR" --report-delay 5m
sleep 1
stop_server
assert_eq 2 "$(x_reports | wc -l)" "00:04 with a 5 min delay: June 10 not due"
# A removed file whose event exists is not rewritten: the log says it was written.
rm "$DIR/day-2024-06-09.json"
# Four days later: only the newest missing day (June 13), not June 10 to 12; the week is done.
AGENTRAIL_REPORT_CLOCK=2024-06-14T06:00:00Z start_server "$STORE" --reports-dir "$DIR"
wait_reports 9
assert_eq '["day-2024-06-13.html", "day-2024-06-13.md", "day-2024-06-13.json"]' "$(jq_ '[x["name"] for x in d["items"]][:3]')" "caught up"
assert_eq 9 "$(jq_ 'len(d["items"])')" "only that one"
assert_eq "" "$(ls "$DIR" | grep -E '06-1[012]|day-2024-06-09.json' || true)" "no older day, no rewrite"
stop_server
assert_eq 3 "$(x_reports | wc -l)" "one more event"

# ------------------------------------------------------------ the timer fires at midnight
AGENTRAIL_REPORT_CLOCK=2024-06-14T23:59:58Z start_server "$STORE" --reports-dir "$DIR" --report-delay 0
sleep 0.5
assert_eq 3 "$(x_reports | wc -l)" "before midnight: nothing new"
wait_reports 12
assert_eq '["day-2024-06-14.html", "day", "2024-06-14"]' "$(jq_ '[d["items"][0][k] for k in ("name", "period", "label")]')" "after midnight: June 14"
# Ingest goes on meanwhile.
post '{"type":"output","actor":"late"}' -H "Authorization: Bearer $W"
assert_eq 201 "$CODE" "ingest"
stop_server
assert_eq 0 "$SRV_RC" "clean exit"

# ------------------------------------------------------------ bad flags
expect_exit 64 ar serve --reports-dir "$DIR" --report-delay 13h
assert_contains "$ERR" "option '--report-delay' must be 0 to 43200s (12h), got '13h'"
expect_exit 64 ar serve --reports-dir "$DIR" --report-delay 5x
assert_contains "$ERR" "option '--report-delay' expects N, Ns, Nm or Nh, got '5x'"
expect_exit 64 ar serve --reports-dir ''
AGENTRAIL_REPORT_CLOCK=tomorrow expect_exit 1 ar serve --listen 127.0.0.1:0 --reports-dir "$DIR"
assert_contains "$ERR" "AGENTRAIL_REPORT_CLOCK 'tomorrow' is not an RFC 3339 time"
expect_exit 1 ar serve --listen 127.0.0.1:0 --reports-dir "$T/seed.jsonl"
assert_contains "$ERR" "is not a writable directory"
expect_exit 0 ar checkpoint --key "$T/k.key"
expect_exit 0 ar verify --key "$T/k.pub"
finish
