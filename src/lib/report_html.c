/*
 * A report as one self-contained HTML page: inline CSS, inline SVG bar
 * charts (tokens per bucket stacked by model, events per hour, approval
 * latency), no script and nothing fetched, light colours that print cleanly
 * to PDF. Every event-derived text goes through html_text().
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <agentrail/report.h>

#include "internal.h"
#include "reportpriv.h"

static const char *const palette[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759",
                                      "#76b7b2", "#edc948", "#b07aa1", "#9c755f"};
#define NPALETTE (sizeof(palette) / sizeof(palette[0]))

static const char css[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d1d1f;"
    "background:#fff;margin:0 auto;max-width:980px;padding:24px}"
    "h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;"
    "border-bottom:1px solid #d0d0d5;padding-bottom:4px}h3{font-size:15px;margin:16px 0 6px}"
    ".meta{color:#555;margin:0 0 16px}"
    "table{border-collapse:collapse;margin:6px 0 12px;width:100%}"
    "th,td{border:1px solid #d8d8de;padding:3px 8px;text-align:left;vertical-align:top}"
    "th{background:#f3f3f6;font-weight:600}td.n,th.n{text-align:right;"
    "font-variant-numeric:tabular-nums}td.t{word-break:break-all}"
    ".cards{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0}"
    ".card{border:1px solid #d8d8de;border-radius:6px;padding:6px 12px;min-width:120px}"
    ".card b{display:block;font-size:20px}.card span{color:#555;font-size:12px}"
    "figure{margin:8px 0 16px}figcaption{color:#555;font-size:12px}"
    "svg{max-width:100%;height:auto}svg text{font:11px system-ui,sans-serif;fill:#333}"
    ".legend span{display:inline-block;margin-right:12px;font-size:12px}"
    ".legend i{display:inline-block;width:10px;height:10px;margin-right:4px}"
    ".warn{color:#a4262c}.ok{color:#1b7f3b}.muted{color:#666}"
    "@media print{body{max-width:none;padding:0;font-size:11pt}"
    "section,figure,table{break-inside:avoid}h2{break-after:avoid}"
    "section.charts{break-before:page}a{color:inherit;text-decoration:none}"
    "@page{size:A4;margin:14mm}}";

/* Text from events: & < > " ' escaped, so no record can inject markup. */
static void html_text(struct atr__sbuf *b, const char *s)
{
	const char *run = s;

	if (!s) {
		atr__sb_puts(b, "<span class=\"muted\">(none)</span>");
		return;
	}
	for (; *s; s++) {
		const char *e = NULL;

		switch (*s) {
		case '&':
			e = "&amp;";
			break;
		case '<':
			e = "&lt;";
			break;
		case '>':
			e = "&gt;";
			break;
		case '"':
			e = "&quot;";
			break;
		case '\'':
			e = "&#39;";
			break;
		default:
			continue;
		}
		atr__sb_add(b, run, (size_t)(s - run));
		atr__sb_puts(b, e);
		run = s + 1;
	}
	atr__sb_add(b, run, (size_t)(s - run));
}

static const char *jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* The smallest 1, 2 or 5 times a power of ten at least 'v' (1 for 0). */
static int64_t nice_max(int64_t v)
{
	int64_t p = 1;

	if (v <= 1)
		return 1;
	for (;;) {
		if (v <= p)
			return p;
		if (v <= 2 * p)
			return 2 * p;
		if (v <= 5 * p)
			return 5 * p;
		if (p > INT64_MAX / 10)
			return v;
		p *= 10;
	}
}

/*
 * A bar chart of 'n' bars, each a stack of 'k' series ('v' series-major,
 * k*n values). 'labels' has n entries, NULL for an unlabelled bar; 'names'
 * (k, may be NULL when k is 1) makes the legend.
 */
static void svg_chart(struct atr__sbuf *b, const char *caption, size_t n, size_t k,
                      const int64_t *v, const char *const *names, const char *const *labels)
{
	const double W = 760, H = 240, left = 56, right = 8, top = 10, bottom = 34;
	double pw = W - left - right, ph = H - top - bottom, slot = n ? pw / (double)n : pw;
	double bw = slot > 3 ? slot * 0.8 : slot;
	int64_t max = 0, total = 0;

	for (size_t i = 0; i < n; i++) {
		int64_t s = 0;

		for (size_t j = 0; j < k; j++)
			s += v[j * n + i];
		if (s > max)
			max = s;
		total += s;
	}
	/* Four gridline steps of 1, 2 or 5 times a power of ten: whole-number ticks. */
	max = 4 * nice_max((max + 3) / 4);
	atr__sb_puts(b, "<figure><svg viewBox=\"0 0 760 240\" width=\"760\" height=\"240\" "
	                "role=\"img\" aria-label=\"");
	html_text(b, caption);
	atr__sb_puts(b, "\"><title>");
	html_text(b, caption);
	atr__sb_puts(b, "</title>");
	for (int g = 0; g <= 4; g++) {
		double y = top + ph - ph * g / 4.0;

		atr__sb_printf(
		    b,
		    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
		    "stroke-width=\"1\"/><text x=\"%.1f\" y=\"%.1f\" "
		    "text-anchor=\"end\">%lld</text>",
		    left, y, W - right, y, g ? "#e4e4ea" : "#888", left - 4, y + 4,
		    (long long)(max * g / 4));
	}
	for (size_t i = 0; i < n; i++) {
		double x = left + slot * (double)i + (slot - bw) / 2, y = top + ph;
		int64_t s = 0;

		for (size_t j = 0; j < k; j++) {
			int64_t val = v[j * n + i];
			double h = ph * (double)val / (double)max;

			s += val;
			if (val <= 0)
				continue;
			y -= h;
			atr__sb_printf(b,
			               "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
			               "fill=\"%s\"><title>",
			               x, y, bw, h, palette[j % NPALETTE]);
			if (names) {
				html_text(b, names[j]);
				atr__sb_puts(b, ": ");
			}
			atr__sb_printf(b, "%lld</title></rect>", (long long)val);
		}
		(void)s;
		if (labels[i]) {
			atr__sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
			               left + slot * (double)i + slot / 2, H - bottom + 16);
			html_text(b, labels[i]);
			atr__sb_puts(b, "</text>");
		}
	}
	atr__sb_puts(b, "</svg><figcaption>");
	html_text(b, caption);
	atr__sb_printf(b, " (total %lld)", (long long)total);
	if (names) {
		atr__sb_puts(b, "<div class=\"legend\">");
		for (size_t j = 0; j < k; j++) {
			atr__sb_printf(b, "<span><i style=\"background:%s\"></i>",
			               palette[j % NPALETTE]);
			html_text(b, names[j]);
			atr__sb_puts(b, "</span>");
		}
		atr__sb_puts(b, "</div>");
	}
	atr__sb_puts(b, "</figcaption></figure>\n");
}

static void card(struct atr__sbuf *b, const char *what, int64_t n)
{
	atr__sb_printf(b, "<div class=\"card\"><b>%lld</b><span>%s</span></div>", (long long)n,
	               what);
}

static void th(struct atr__sbuf *b, const char *const *cols)
{
	atr__sb_puts(b, "<table><thead><tr>");
	for (size_t i = 0; cols[i]; i++)
		atr__sb_printf(b, "<th%s>%s</th>", i ? " class=\"n\"" : "", cols[i]);
	atr__sb_puts(b, "</tr></thead><tbody>\n");
}

static void tdn(struct atr__sbuf *b, int64_t n)
{
	atr__sb_printf(b, "<td class=\"n\">%lld</td>", (long long)n);
}

static void tokens_table(struct atr__sbuf *b, const json_t *list, const char *name)
{
	const char *cols[] = {name, "calls", "input tokens", "output tokens", "cost (USD)", NULL};
	const json_t *row;
	size_t i;

	if (json_array_size(list) == 0) {
		atr__sb_puts(b, "<p class=\"muted\">No model calls.</p>\n");
		return;
	}
	th(b, cols);
	json_array_foreach(list, i, row)
	{
		char money[40], src[96];

		atr__cost_source(row, src, sizeof(src));
		atr__money_text(atr__doc_int(row, "cost_micro_usd"), money, sizeof(money));
		atr__sb_puts(b, "<tr><td class=\"t\">");
		html_text(b, jstr(row, name));
		atr__sb_puts(b, "</td>");
		tdn(b, atr__doc_int(row, "calls"));
		tdn(b, atr__doc_int(row, "input_tokens"));
		tdn(b, atr__doc_int(row, "output_tokens"));
		atr__sb_printf(b,
		               "<td class=\"n\">%s<br><span class=\"muted\">%s</span></td></tr>\n",
		               strcmp(src, "unknown") ? money : "unknown", src);
	}
	atr__sb_puts(b, "</tbody></table>\n");
}

static void files_table(struct atr__sbuf *b, const json_t *list, const char *none)
{
	const char *cols[] = {"path", "read", "write", "delete", "total", NULL};
	const json_t *row;
	size_t i;

	if (json_array_size(list) == 0) {
		atr__sb_printf(b, "<p class=\"muted\">%s</p>\n", none);
		return;
	}
	th(b, cols);
	json_array_foreach(list, i, row)
	{
		atr__sb_puts(b, "<tr><td class=\"t\">");
		html_text(b, jstr(row, "path"));
		atr__sb_puts(b, "</td>");
		tdn(b, atr__doc_int(row, "read"));
		tdn(b, atr__doc_int(row, "write"));
		tdn(b, atr__doc_int(row, "delete"));
		tdn(b, atr__doc_int(row, "total"));
		atr__sb_puts(b, "</tr>\n");
	}
	atr__sb_puts(b, "</tbody></table>\n");
}

static void outcome_row(struct atr__sbuf *b, const char *what, const json_t *o)
{
	static const char *const keys[] = {
	    "total",          "outcomes.success", "outcomes.partial", "outcomes.failure",
	    "outcomes.other", "outcomes.none"};

	atr__sb_printf(b, "<tr><td>%s</td>", what);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		tdn(b, atr__doc_int(o, keys[i]));
	atr__sb_puts(b, "</tr>\n");
}

/* The three charts, from the document's series. */
static int charts(struct atr__sbuf *b, const json_t *d)
{
	const json_t *labels = atr__doc_get(d, "tokens.series.labels");
	const json_t *bym = atr__doc_get(d, "tokens.series.by_model");
	const json_t *ph = atr__doc_get(d, "events.per_hour");
	const json_t *hist = atr__doc_get(d, "approvals.latency_histogram");
	size_t n = json_array_size(labels), k = json_object_size(bym), nh = json_array_size(ph);
	size_t nb = json_array_size(hist), big = n * (k ? k : 1) + nh + nb + 8;
	int64_t *v = calloc(big, sizeof(*v));
	const char **names = calloc(k + 1, sizeof(*names));
	const char **lab = calloc(nh + n + nb + 3, sizeof(*lab));
	char(*hl)[24] = calloc(nh + 1, sizeof(*hl));
	const char *key;
	const json_t *arr;
	size_t j = 0;

	if (!v || !names || !lab || !hl) {
		free(v);
		free(names);
		free(lab);
		free(hl);
		return -1;
	}
	json_object_foreach((json_t *)bym, key, arr)
	{
		names[j] = key;
		for (size_t i = 0; i < n; i++)
			v[j * n + i] = (int64_t)json_integer_value(json_array_get(arr, i));
		j++;
	}
	for (size_t i = 0; i < n; i++)
		lab[i] = n > 12 && i % 3 ? NULL : json_string_value(json_array_get(labels, i));
	atr__sb_puts(b, "<section class=\"charts\"><h2>Charts</h2>\n");
	svg_chart(b,
	          n == 7 ? "Tokens (input + output) per day, by model"
	                 : "Tokens (input + output) per hour, by model",
	          n, k, v, k ? names : NULL, lab);

	for (size_t i = 0; i < nh; i++) {
		v[i] = (int64_t)json_integer_value(json_array_get(ph, i));
		lab[i] = NULL;
		if (nh > 24 && i % 24 == 0) {
			lab[i] = json_string_value(json_array_get(labels, i / 24));
		} else if (nh <= 24 && i % 3 == 0) {
			snprintf(hl[i], sizeof(hl[i]), "%02zu:00", i);
			lab[i] = hl[i];
		}
	}
	svg_chart(b, "Events per hour (UTC)", nh, 1, v, NULL, lab);

	for (size_t i = 0; i < nb; i++) {
		const json_t *h = json_array_get(hist, i);

		v[i] = atr__doc_int(h, "count");
		lab[i] = jstr(h, "label");
	}
	svg_chart(b, "Approval latency (request to resolution)", nb, 1, v, NULL, lab);
	atr__sb_puts(b, "</section>\n");
	free(v);
	free(names);
	free(lab);
	free(hl);
	return 0;
}

int atr_report_html(const atr_report *r, char **out)
{
	const json_t *d = r->doc, *row, *v;
	struct atr__sbuf b = {0};
	const char *key;
	char money[40], src[96], text[48];
	size_t i;

	atr__sb_puts(&b,
	             "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
	atr__sb_printf(&b,
	               "<title>agentrail report %s</title>\n<style>%s</style>\n</head>\n<body>\n",
	               r->label, css);
	atr__sb_printf(&b, "<h1>agentrail report: %s %s</h1>\n",
	               json_string_value(atr__doc_get(d, "period.kind")), r->label);
	atr__sb_printf(&b,
	               "<p class=\"meta\">Period (UTC): %s to %s. Generated %s. Computed from the "
	               "log alone.</p>\n",
	               json_string_value(atr__doc_get(d, "period.start")),
	               json_string_value(atr__doc_get(d, "period.end")),
	               json_string_value(atr__doc_get(d, "generated_at")));

	atr__sb_puts(&b, "<section><h2>Summary</h2><div class=\"cards\">");
	card(&b, "events", atr__doc_int(d, "events.total"));
	card(&b, "sessions", atr__doc_int(d, "sessions.total"));
	card(&b, "tasks", atr__doc_int(d, "tasks.total"));
	card(&b, "model calls", atr__doc_int(d, "tokens.totals.calls"));
	card(&b, "tokens", atr__doc_int(d, "tokens.totals.total_tokens"));
	card(&b, "commands failed", atr__doc_int(d, "commands.failures"));
	card(&b, "decisions", atr__doc_int(d, "decisions.total"));
	card(&b, "approvals pending", atr__doc_int(d, "approvals.pending_at_end"));
	card(&b, "alerts", atr__doc_int(d, "alerts.total"));
	card(&b, "redactions", atr__doc_int(d, "redactions.total"));
	atr__sb_puts(&b, "</div></section>\n");

	{
		const char *cols[] = {"",        "total", "success",    "partial",
		                      "failure", "other", "no outcome", NULL};

		atr__sb_puts(&b, "<section><h2>Sessions and tasks</h2>");
		th(&b, cols);
		outcome_row(&b, "sessions", atr__doc_get(d, "sessions"));
		outcome_row(&b, "tasks", atr__doc_get(d, "tasks"));
		atr__sb_puts(&b, "</tbody></table></section>\n");
	}

	v = atr__doc_get(d, "tokens.totals");
	atr__cost_source(v, src, sizeof(src));
	atr__money_text(atr__doc_int(v, "cost_micro_usd"), money, sizeof(money));
	atr__sb_printf(&b,
	               "<section><h2>Tokens and cost</h2><p>%lld model calls, %lld input and %lld "
	               "output tokens; cost %s (%s).</p>\n<h3>By model</h3>\n",
	               (long long)atr__doc_int(v, "calls"),
	               (long long)atr__doc_int(v, "input_tokens"),
	               (long long)atr__doc_int(v, "output_tokens"),
	               strcmp(src, "unknown") ? money : "unknown", src);
	tokens_table(&b, atr__doc_get(d, "tokens.by_model"), "model");
	atr__sb_puts(&b, "<h3>By agent</h3>\n");
	tokens_table(&b, atr__doc_get(d, "tokens.by_agent"), "agent");
	atr__sb_puts(&b, "</section>\n");

	atr__sb_printf(&b,
	               "<section><h2>Files</h2><p>%lld reads, %lld writes, %lld deletes over %lld "
	               "paths (%lld read, %lld modified).</p>\n<h3>Top paths</h3>\n",
	               (long long)atr__doc_int(d, "files.file_read"),
	               (long long)atr__doc_int(d, "files.file_write"),
	               (long long)atr__doc_int(d, "files.file_delete"),
	               (long long)atr__doc_int(d, "files.distinct_paths"),
	               (long long)atr__doc_int(d, "files.paths_read"),
	               (long long)atr__doc_int(d, "files.paths_modified"));
	files_table(&b, atr__doc_get(d, "files.top"), "No file events.");
	atr__sb_puts(&b, "<h3>Sensitive paths</h3><p class=\"muted\">Globs: ");
	json_array_foreach(atr__doc_get(d, "files.sensitive_globs"), i, row)
	{
		if (i)
			atr__sb_puts(&b, ", ");
		atr__sb_puts(&b, "<code>");
		html_text(&b, json_string_value(row));
		atr__sb_puts(&b, "</code>");
	}
	atr__sb_puts(&b, "</p>\n");
	if (json_array_size(atr__doc_get(d, "files.sensitive")))
		atr__sb_puts(&b, "<p class=\"warn\">Sensitive paths were touched:</p>\n");
	files_table(&b, atr__doc_get(d, "files.sensitive"), "No sensitive path was touched.");
	atr__sb_puts(&b, "</section>\n");

	atr__sb_printf(
	    &b, "<section><h2>Commands</h2><p>%lld run, %lld failed (exit code not 0).</p>\n",
	    (long long)atr__doc_int(d, "commands.runs"),
	    (long long)atr__doc_int(d, "commands.failures"));
	if (json_array_size(atr__doc_get(d, "commands.top_failing"))) {
		const char *cols[] = {"failing command", "runs", "failures", NULL};

		th(&b, cols);
		json_array_foreach(atr__doc_get(d, "commands.top_failing"), i, row)
		{
			atr__sb_puts(&b, "<tr><td class=\"t\"><code>");
			html_text(&b, jstr(row, "command"));
			atr__sb_puts(&b, "</code></td>");
			tdn(&b, atr__doc_int(row, "runs"));
			tdn(&b, atr__doc_int(row, "failures"));
			atr__sb_puts(&b, "</tr>\n");
		}
		atr__sb_puts(&b, "</tbody></table>\n");
	}
	atr__sb_puts(&b, "</section>\n");

	atr__sb_puts(&b, "<section><h2>Policy decisions</h2>");
	{
		const char *cols[] = {"decision", "count", NULL};

		th(&b, cols);
		json_object_foreach((json_t *)atr__doc_get(d, "decisions.by_decision"), key, v)
		{
			atr__sb_printf(&b, "<tr><td>%s</td>", key);
			tdn(&b, (int64_t)json_integer_value(v));
			atr__sb_puts(&b, "</tr>\n");
		}
		atr__sb_puts(&b, "</tbody></table>\n");
	}
	if (json_array_size(atr__doc_get(d, "decisions.by_rule"))) {
		const char *cols[] = {"rule",  "total", "ALLOW", "DENY", "REQUIRE_APPROVAL",
		                      "other", NULL};

		th(&b, cols);
		json_array_foreach(atr__doc_get(d, "decisions.by_rule"), i, row)
		{
			atr__sb_puts(&b, "<tr><td class=\"t\">");
			html_text(&b, jstr(row, "rule_id"));
			atr__sb_puts(&b, "</td>");
			tdn(&b, atr__doc_int(row, "total"));
			tdn(&b, atr__doc_int(row, "ALLOW"));
			tdn(&b, atr__doc_int(row, "DENY"));
			tdn(&b, atr__doc_int(row, "REQUIRE_APPROVAL"));
			tdn(&b, atr__doc_int(row, "other"));
			atr__sb_puts(&b, "</tr>\n");
		}
		atr__sb_puts(&b, "</tbody></table>\n");
	}
	atr__sb_puts(&b, "</section>\n");

	atr__sb_printf(&b,
	               "<section><h2>Approvals</h2><p>%lld opened, %lld resolved (%lld approved, "
	               "%lld rejected), %lld pending at the end of the period.</p>\n",
	               (long long)atr__doc_int(d, "approvals.opened"),
	               (long long)atr__doc_int(d, "approvals.resolved"),
	               (long long)atr__doc_int(d, "approvals.approved"),
	               (long long)atr__doc_int(d, "approvals.rejected"),
	               (long long)atr__doc_int(d, "approvals.pending_at_end"));
	v = atr__doc_get(d, "approvals.latency");
	if (atr__doc_int(v, "count")) {
		atr__sb_printf(&b,
		               "<p>Time to resolve (%lld): ", (long long)atr__doc_int(v, "count"));
		atr__duration_text(atr__doc_int(v, "median_us"), text, sizeof(text));
		atr__sb_printf(&b, "median %s, ", text);
		atr__duration_text(atr__doc_int(v, "p90_us"), text, sizeof(text));
		atr__sb_printf(&b, "p90 %s, ", text);
		atr__duration_text(atr__doc_int(v, "max_us"), text, sizeof(text));
		atr__sb_printf(&b, "max %s.</p>\n", text);
	} else {
		atr__sb_puts(&b, "<p class=\"muted\">No resolutions with a known request.</p>\n");
	}
	atr__sb_puts(&b, "</section>\n");

	atr__sb_puts(&b, "<section><h2>Escalations, retries, aborts, redactions, alerts</h2>");
	{
		const char *cols[] = {"figure", "count", NULL};
		static const char *const rows[][2] = {
		    {"escalations", "interventions.escalation"},
		    {"retries", "interventions.retry"},
		    {"aborts", "interventions.abort"},
		    {"redactions", "redactions.total"},
		    {"records with redactions", "redactions.records"},
		    {"alerts", "alerts.total"},
		};

		th(&b, cols);
		for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++) {
			atr__sb_printf(&b, "<tr><td>%s</td>", rows[k][0]);
			tdn(&b, atr__doc_int(d, rows[k][1]));
			atr__sb_puts(&b, "</tr>\n");
		}
		atr__sb_puts(&b, "</tbody></table>\n");
	}
	if (json_array_size(atr__doc_get(d, "alerts.by_rule"))) {
		const char *cols[] = {"alert", "count", NULL};

		th(&b, cols);
		json_array_foreach(atr__doc_get(d, "alerts.by_rule"), i, row)
		{
			atr__sb_puts(&b, "<tr><td class=\"t\">");
			html_text(&b, jstr(row, "rule"));
			atr__sb_puts(&b, "</td>");
			tdn(&b, atr__doc_int(row, "count"));
			atr__sb_puts(&b, "</tr>\n");
		}
		atr__sb_puts(&b, "</tbody></table>\n");
	}
	atr__sb_puts(&b, "</section>\n");

	atr__sb_puts(&b, "<section><h2>Integrity</h2>");
	v = atr__doc_get(d, "checkpoint");
	if (json_is_object(v)) {
		atr__sb_printf(
		    &b,
		    "<p>Checkpoint covering the period: size %lld, root <code>%s</code>, "
		    "origin <code>",
		    (long long)atr__doc_int(v, "size"), jstr(v, "root_hash"));
		html_text(&b, jstr(v, "origin"));
		atr__sb_puts(&b, "</code>.</p>\n");
	} else if (atr__doc_int(d, "events.total") == 0) {
		atr__sb_puts(&b, "<p>Checkpoint: none needed (no events in the period).</p>\n");
	} else {
		atr__sb_printf(
		    &b, "<p class=\"warn\">Checkpoint: none stored yet covers seq %lld.</p>\n",
		    (long long)atr__doc_int(d, "events.last_seq"));
	}
	v = atr__doc_get(d, "verify");
	if (json_is_true(json_object_get(v, "run")))
		atr__sb_printf(&b, "<p class=\"%s\">Verify: %s (%lld records checked).</p>\n",
		               json_is_true(json_object_get(v, "consistent")) ? "ok" : "warn",
		               jstr(v, "status"), (long long)atr__doc_int(v, "records"));
	else
		atr__sb_puts(&b, "<p class=\"muted\">Verify: not run (use --verify).</p>\n");
	atr__sb_puts(&b, "</section>\n");

	if (charts(&b, d) != 0)
		b.oom = 1;
	atr__sb_puts(&b, "</body>\n</html>\n");
	return atr__sb_finish(&b, out);
}
