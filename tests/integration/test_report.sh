#!/usr/bin/env bash
# Reports: a seeded week of events (report_figures.py, fixed random seed:
# sessions, jobs, model calls with and without recorded costs, files with
# sensitive paths, commands, decisions, approvals across the period's edges,
# escalations, alerts, redactions, events exactly on the boundaries, ingested
# out of ts order with checkpoints between) is reported by `agentrail report`,
# and every figure of the JSON is compared with figures computed
# independently from `agentrail export`. Then day periods, Markdown and HTML
# (well-formed, three SVG charts, nothing external, event text escaped),
# --verify, --out, and precise errors for bad input.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

FIG="$(dirname "$0")/report_figures.py"

python3 "$FIG" seed "$T"
"$AGENTRAIL" keygen --name report.test/log --out "$T/k" >/dev/null
ar import --quiet "$T/part1a.jsonl"
ar checkpoint --key "$T/k.key" >/dev/null
ar import --quiet "$T/part1b.jsonl"
ar checkpoint --key "$T/k.key" >/dev/null
ar import --quiet "$T/part2.jsonl"
ar checkpoint --key "$T/k.key" >/dev/null
ar export --out "$T/export.jsonl" 2>/dev/null
N=$(count)
assert_match "$N" '^[0-9]{4,}$' "record count"
cat >"$T/prices.json" <<'EOF'
{"m-large": {"input_per_mtok_micro_usd": 3000000, "output_per_mtok_micro_usd": 15000000},
 "m-small": {"input_per_mtok_micro_usd": 250000, "output_per_mtok_micro_usd": 1250000}}
EOF

# check PERIOD DATE [GLOB...]: the JSON report against the independent figures.
check() {
	local period=$1 date=$2
	shift 2
	local args=()
	for g in "$@"; do args+=(--sensitive "$g"); done
	expect_exit 0 ar report --period "$period" --date "$date" --format json \
		--prices "$T/prices.json" ${args[@]+"${args[@]}"}
	printf '%s\n' "$OUT" >"$T/report.json"
	run python3 "$FIG" check "$T/report.json" "$T/export.jsonl" "$T/prices.json" "$period" \
		"$date" "$@"
	if [ "$RC" -eq 0 ]; then
		pass
	else
		fail "report --period $period --date $date: figures differ:"$'\n'"$OUT"
	fi
	echo "  $period $date: ${OUT##*$'\n'}"
}

# The week, from any day of it; its first and last days; a day before it.
check week 2026-04-01
check week 2026-04-05
check day 2026-03-30
check day 2026-04-05
check day 2026-03-28
check week 2026-04-01 '*.md' 'src/'

# The seed really exercises what is compared.
ar report --period week --date 2026-03-30 --format json --prices "$T/prices.json" >"$T/w.json"
W="$T/w.json"
j() { py "$1" <"$W"; }
assert_eq "2026-W14" "$(j 'd["period"]["label"]')" "week label"
assert_eq "2026-03-30T00:00:00.000000Z" "$(j 'd["period"]["start"]')" "week start"
assert_eq "2026-04-06T00:00:00.000000Z" "$(j 'd["period"]["end"]')" "week end"
assert_eq "true" "$(j 'all(d["events"]["by_type"].get(t, 0) > 0 for t in ["session_start","session_end","task_submit","task_outcome","complete","abort","llm_call","file_read","file_write","file_delete","command","decision","approval_request","approval_resolved","escalation","retry","alert"])')" "every type seeded"
assert_eq "true" "$(j 'all(v > 0 for k, v in d["sessions"]["outcomes"].items() if k != "partial") and d["tasks"]["outcomes"]["none"] > 0')" "outcomes of every kind"
assert_eq "true" "$(j 'd["tokens"]["totals"]["calls_cost_recorded"] > 0 and d["tokens"]["totals"]["calls_cost_computed"] > 0 and d["tokens"]["totals"]["calls_cost_unknown"] > 0')" "recorded, computed and unknown costs"
assert_eq "true" "$(j 'len(d["files"]["sensitive"]) >= 5 and d["commands"]["failures"] > 0 and d["redactions"]["total"] > 0')" "sensitive paths, failures, redactions"
assert_eq "true" "$(j 'd["approvals"]["pending_at_end"] > 0 and d["approvals"]["latency"]["count"] > 5 and d["approvals"]["rejected"] > 0')" "approvals"
assert_eq "true" "$(j 'None in [r["rule"] for r in d["alerts"]["by_rule"]] and None in [r["rule_id"] for r in d["decisions"]["by_rule"]]')" "null keys"
assert_eq "true" "$(j '"edge-in-first" in d["tokens"]["series"]["by_model"] and "edge-in-last" in d["tokens"]["series"]["by_model"] and "edge-out-after" not in d["tokens"]["series"]["by_model"] and "edge-out-before" not in d["tokens"]["series"]["by_model"]')" "period edges"
CPS=$(j 'd["checkpoint"]["size"]')
assert_eq "true" "$(j "d['checkpoint']['size'] < $N and d['checkpoint']['origin'] == 'report.test/log'")" "the smallest covering checkpoint, not the newest"
assert_eq "false" "$(j 'd["verify"]["run"]')" "verify not run by default"

# --verify reports the verdict; with the key every record is anchored.
ar report --period week --date 2026-03-30 --format json --verify >"$T/v.json"
assert_eq "UNANCHORED true false" "$(py 'd["verify"]["status"] + " " + str(d["verify"]["consistent"]).lower() + " " + str(d["verify"]["passed"]).lower()' <"$T/v.json")" "verify without a key"
ar report --period week --date 2026-03-30 --format json --verify --key "$T/k.pub" >"$T/v.json"
assert_eq "OK true $N" "$(py 'd["verify"]["status"] + " " + str(d["verify"]["passed"]).lower() + " " + str(d["verify"]["records"])' <"$T/v.json")" "verify with the key"
ar report --period week --date 2026-03-30 --format md --verify --key "$T/k.pub" >"$T/v.md"
assert_contains "$(cat "$T/v.md")" "Verify: OK ($N records checked)." "markdown verify line"
ar report --period week --date 2026-03-30 --format md >"$T/v.md"
assert_contains "$(cat "$T/v.md")" "Verify: not run" "markdown says verify was not run"
assert_contains "$(cat "$T/v.md")" "Checkpoint covering the period: size $CPS," "markdown checkpoint"

# A period with no events.
expect_exit 0 ar report --period day --date 2025-01-01 --format json
assert_eq "0 None None" "$(py '" ".join(str(x) for x in [d["events"]["total"], d["checkpoint"], d["tokens"]["totals"]["cost_micro_usd"]])' <<<"$OUT")" "empty period"
expect_exit 0 ar report --period day --date 2025-01-01 --format html
expect_exit 0 ar report --period week --date 2025-01-01

# Markdown: sections, and event text cannot break a table.
expect_exit 0 ar report --period week --date 2026-04-01
MD=$OUT
for h in "# agentrail report: week 2026-W14" "## Sessions and tasks" "## Tokens and cost" \
	"### Sensitive paths" "## Commands" "## Policy decisions" "## Approvals" "## Integrity"; do
	assert_contains "$MD" "$h" "markdown"
done
assert_contains "$MD" '| cfg/\<script\>alert\(1\)\</script\>.pem |' "markdown escapes a path"
assert_contains "$MD" "| \\<script\\>alert\\('x'\\)\\</script\\> |" "markdown escapes a command"
assert_contains "$MD" 'docs/a\|b\_\*c\*.md' "markdown escapes '|', '_' and '*'"
assert_not_contains "$MD" '<script>' "markdown"

# HTML: one well-formed page, three charts, no script, nothing external, text escaped.
expect_exit 0 ar report --period week --date 2026-04-01 --format html --out "$T/w.html"
assert_eq "" "$OUT" "--out prints nothing"
run python3 - "$T/w.html" <<'EOF'
import html.parser, re, sys
text = open(sys.argv[1], encoding="utf-8").read()
VOID = {"meta", "br", "hr", "img", "input", "link", "line", "rect", "path", "circle", "wbr"}
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.tags, self.data = [], [], {}, []
    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        for k, v in attrs:
            if k in ("src", "href", "action") or (v and re.search(r"(?i)\b(https?:|url\()", v)):
                self.errors.append("external reference: %s=%s" % (k, v))
            if k.startswith("on"):
                self.errors.append("event handler %s" % k)
        if tag not in VOID:
            self.stack.append(tag)
    def handle_startendtag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append("</%s> closes %s" % (tag, self.stack[-1:] or "nothing"))
        else:
            self.stack.pop()
    def handle_data(self, d):
        self.data.append(d)
p = P()
p.feed(text)
p.close()
if p.stack:
    p.errors.append("unclosed: %s" % p.stack)
if not text.startswith("<!DOCTYPE html>"):
    p.errors.append("no doctype")
if p.tags.get("svg") != 3:
    p.errors.append("%s svg charts, expected 3" % p.tags.get("svg"))
if p.tags.get("script") or p.tags.get("link") or p.tags.get("img") or p.tags.get("iframe"):
    p.errors.append("script, link, img or iframe present")
if re.search(r"(?i)https?://|@import|url\(", text):
    p.errors.append("an external URL in the page")
if "@media print" not in text:
    p.errors.append("no print styles")
body = "".join(p.data)
for want in ["cfg/<script>alert(1)</script>.pem", "<script>alert('x')</script>", "R-<3>",
             "m <odd> & \"quoted\"", "<b>burst</b>"]:
    if want not in body:
        p.errors.append("text %r not shown (escaped) in the page" % want)
print("\n".join(p.errors) or "ok")
EOF
assert_eq "ok" "$OUT" "html checks"
assert_contains "$(cat "$T/w.html")" "cfg/&lt;script&gt;alert(1)&lt;/script&gt;.pem" "html escapes a path"
assert_contains "$(cat "$T/w.html")" "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" "html escapes a command"
expect_exit 0 ar report --period day --date 2026-03-30 --format html
assert_eq "3" "$(grep -o '<svg ' <<<"$OUT" | wc -l)" "day html has three charts"

# The default date: yesterday, or last week.
Y=$(python3 -c 'import datetime as d; print((d.datetime.now(d.timezone.utc) - d.timedelta(days=1)).strftime("%Y-%m-%d"))')
expect_exit 0 ar report --period day --format json
assert_eq "$Y" "$(py 'd["period"]["label"]' <<<"$OUT")" "default day"
LW=$(python3 -c 'import datetime as d; t = d.datetime.now(d.timezone.utc).date() - d.timedelta(days=7); print("%04d-W%02d" % t.isocalendar()[:2])')
expect_exit 0 ar report --period week --format json
assert_eq "$LW" "$(py 'd["period"]["label"]' <<<"$OUT")" "default week"

# Bad input: precise usage errors (64), nothing printed on stdout.
bad() {
	local want=$1
	shift
	expect_exit 64 ar report "$@"
	assert_contains "$ERR" "$want" "report $*"
	assert_eq "" "$OUT" "stdout of report $*"
}
bad "date '2026-02-30': 2026-02 has no day 30" --period day --date 2026-02-30
bad "date '2025-02-29': 2025-02 has no day 29" --period week --date 2025-02-29
bad "date '2026-13-01': month 13 is not 01 to 12" --period day --date 2026-13-01
bad "date '2026-00-10': month 00 is not 01 to 12" --period day --date 2026-00-10
bad "date '20260401' is not YYYY-MM-DD" --period day --date 20260401
bad "date '2026-4-01' is not YYYY-MM-DD" --period day --date 2026-4-01
bad "date '2026-04-01T00:00:00Z' is not YYYY-MM-DD" --period day --date 2026-04-01T00:00:00Z
bad "date '1969-12-31': the year must be 1970 or later" --period day --date 1969-12-31
bad "missing '--period day' or '--period week'" --date 2026-04-01
bad "option '--period' must be 'day' or 'week', not 'month'" --period month
bad "option '--format' must be 'md', 'html' or 'json', not 'pdf'" --period day --format pdf
bad "option '--key' needs '--verify'" --period day --key "$T/k.pub"
bad "option '--top' must be 1 to 10000" --period day --top 0
bad "unexpected argument 'extra'" --period day extra
bad "needs a local store" --period day --store http://127.0.0.1:9
expect_exit 0 ar report --period day --date 2024-02-29
printf '{"m-large": {"input_per_mtok_micro_usd": 1.5, "output_per_mtok_micro_usd": 2}}' >"$T/p1.json"
expect_exit 1 ar report --period day --prices "$T/p1.json"
assert_contains "$ERR" "'$T/p1.json': price table: model 'm-large': 'input_per_mtok_micro_usd' must be a non-negative integer" "price error"
printf '{"m": {"input_per_mtok": 1}}' >"$T/p2.json"
expect_exit 1 ar report --period day --prices "$T/p2.json"
assert_contains "$ERR" "unknown key 'input_per_mtok'" "price key error"
printf '{"m": ' >"$T/p3.json"
expect_exit 1 ar report --period day --prices "$T/p3.json"
assert_contains "$ERR" "price table: malformed JSON" "price JSON error"
expect_exit 1 ar report --period day --prices "$T/missing.json"
assert_contains "$ERR" "cannot open '$T/missing.json'" "missing price file"
expect_exit 1 "$AGENTRAIL" --store "$T/none.db" report --period day
assert_contains "$ERR" "none.db" "a missing store is named"
[ ! -e "$T/none.db" ] && pass || fail "report created a store"

# The bench prints its JSON line.
expect_exit 0 "$AGENTRAIL" bench report --events 3000 --runs 1
assert_eq "report 3000 3000" "$(py 'd["bench"] + " " + str(d["events"]) + " " + str(d["events_in_period"])' <<<"$OUT")" "bench report"

finish
