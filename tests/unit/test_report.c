/*
 * Report arithmetic at its edges: calendar days, ISO weeks across year
 * ends (53-week years, weeks that start in December), default periods at
 * midnight, nearest-rank percentiles, duration texts, date errors, the
 * sensitive-path globs; and a small real log whose report puts events on
 * the period's boundaries, prices costs, and escapes text in every format.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include <agentrail/agentrail.h>

#include "reportpriv.h"

#define ATR_TEST_NAME "test_report"
#include "tmpstore.h"

#define DAY_US ATR__US_PER_DAY

static int64_t day_of(int y, int m, int d)
{
	return atr__days_from_civil(y, m, d);
}

static void test_civil_days(void **state)
{
	int64_t y;
	int m, d;

	(void)state;
	assert_int_equal(day_of(1970, 1, 1), 0);
	assert_int_equal(day_of(2000, 3, 1) - day_of(2000, 2, 28), 2); /* 2000 is a leap year */
	assert_int_equal(day_of(2100, 3, 1) - day_of(2100, 2, 28), 1); /* 2100 is not */
	for (int64_t z = -1000; z < 200000; z += 37) {
		atr__civil_from_days(z, &y, &m, &d);
		assert_int_equal(atr__days_from_civil(y, m, d), z);
	}
	assert_int_equal(atr__weekday(0), 3);                   /* a Thursday */
	assert_int_equal(atr__weekday(day_of(2026, 3, 30)), 0); /* a Monday */
	assert_int_equal(atr__weekday(day_of(2026, 4, 5)), 6);  /* a Sunday */
	assert_int_equal(atr__weekday(-1), 2);                  /* 1969-12-31, a Wednesday */
}

static void iso(int y, int m, int d, int64_t want_year, int want_week)
{
	int64_t iy;
	int w;

	atr__iso_week(day_of(y, m, d), &iy, &w);
	if (iy != want_year || w != want_week)
		fail_msg("%04d-%02d-%02d: got %lld-W%02d, expected %lld-W%02d", y, m, d,
		         (long long)iy, w, (long long)want_year, want_week);
}

static void test_iso_weeks(void **state)
{
	(void)state;
	iso(2026, 3, 30, 2026, 14);
	iso(2026, 4, 5, 2026, 14);
	iso(2026, 1, 1, 2026, 1);   /* a Thursday: week 1 */
	iso(2025, 12, 29, 2026, 1); /* the Monday of that week, still December */
	iso(2021, 1, 3, 2020, 53);  /* a Sunday in January, in the last week of 2020 */
	iso(2020, 12, 31, 2020, 53);
	iso(2021, 1, 4, 2021, 1);
	iso(2024, 12, 30, 2025, 1);
	iso(2015, 12, 31, 2015, 53);
	iso(2016, 1, 1, 2015, 53);
	iso(2027, 1, 1, 2026, 53); /* 2026 starts on a Thursday: 53 weeks */
	iso(2022, 1, 2, 2021, 52);
	iso(2018, 12, 31, 2019, 1);
	iso(1970, 1, 1, 1970, 1);
}

static void bounds(atr_report_period p, const char *date, int64_t now, int64_t start_day, int days)
{
	int64_t s = 0, e = 0;

	assert_int_equal(atr_report_period_bounds(p, date, now, &s, &e), 0);
	assert_int_equal(s, start_day * DAY_US);
	assert_int_equal(e, (start_day + days) * DAY_US);
}

static void test_period_bounds(void **state)
{
	int64_t s, e, midnight = day_of(2026, 4, 1) * DAY_US;

	(void)state;
	bounds(ATR_REPORT_DAY, "2026-04-01", 0, day_of(2026, 4, 1), 1);
	bounds(ATR_REPORT_WEEK, "2026-04-01", 0, day_of(2026, 3, 30), 7);
	bounds(ATR_REPORT_WEEK, "2026-03-30", 0, day_of(2026, 3, 30), 7);
	bounds(ATR_REPORT_WEEK, "2026-04-05", 0, day_of(2026, 3, 30), 7);
	bounds(ATR_REPORT_WEEK, "2026-04-06", 0, day_of(2026, 4, 6), 7);
	/* Weeks across a year end, and a leap day. */
	bounds(ATR_REPORT_WEEK, "2021-01-03", 0, day_of(2020, 12, 28), 7);
	bounds(ATR_REPORT_WEEK, "2027-01-01", 0, day_of(2026, 12, 28), 7);
	bounds(ATR_REPORT_DAY, "2024-02-29", 0, day_of(2024, 2, 29), 1);
	bounds(ATR_REPORT_WEEK, "1970-01-01", 0, -3, 7); /* that week began on a Monday in 1969 */

	/* Defaults: the last completed period, also exactly at midnight. */
	bounds(ATR_REPORT_DAY, NULL, midnight, day_of(2026, 3, 31), 1);
	bounds(ATR_REPORT_DAY, NULL, midnight - 1, day_of(2026, 3, 30), 1);
	bounds(ATR_REPORT_DAY, NULL, midnight + DAY_US - 1, day_of(2026, 3, 31), 1);
	bounds(ATR_REPORT_WEEK, NULL, midnight, day_of(2026, 3, 23), 7);
	bounds(ATR_REPORT_WEEK, NULL, day_of(2026, 3, 30) * DAY_US, day_of(2026, 3, 23), 7);
	bounds(ATR_REPORT_WEEK, NULL, day_of(2026, 3, 30) * DAY_US - 1, day_of(2026, 3, 16), 7);
	bounds(ATR_REPORT_WEEK, NULL, day_of(2027, 1, 4) * DAY_US + 5, day_of(2026, 12, 28), 7);

	/* Precise errors. */
	assert_int_equal(atr_report_period_bounds(ATR_REPORT_DAY, "2026-02-29", 0, &s, &e),
	                 ATR_EINVALID);
	assert_string_equal(atr_errmsg(), "date '2026-02-29': 2026-02 has no day 29");
	assert_int_equal(atr_report_period_bounds(ATR_REPORT_DAY, "2026-04-31", 0, &s, &e),
	                 ATR_EINVALID);
	assert_string_equal(atr_errmsg(), "date '2026-04-31': 2026-04 has no day 31");
	assert_int_equal(atr_report_period_bounds(ATR_REPORT_DAY, "2026-04-00", 0, &s, &e),
	                 ATR_EINVALID);
	assert_int_equal(atr_report_period_bounds(ATR_REPORT_DAY, "2026-13-01", 0, &s, &e),
	                 ATR_EINVALID);
	assert_string_equal(atr_errmsg(), "date '2026-13-01': month 13 is not 01 to 12");
	assert_int_equal(atr_report_period_bounds(ATR_REPORT_DAY, "2026-4-1", 0, &s, &e),
	                 ATR_EINVALID);
	assert_string_equal(atr_errmsg(), "date '2026-4-1' is not YYYY-MM-DD");
	assert_int_equal(atr_report_period_bounds(ATR_REPORT_DAY, "2026-04-01 ", 0, &s, &e),
	                 ATR_EINVALID);
	assert_int_equal(atr_report_period_bounds(ATR_REPORT_DAY, "", 0, &s, &e), ATR_EINVALID);
	assert_int_equal(atr_report_period_bounds(ATR_REPORT_DAY, "2026-0a-01", 0, &s, &e),
	                 ATR_EINVALID);
	assert_int_equal(atr_report_period_bounds(ATR_REPORT_DAY, "+026-04-01", 0, &s, &e),
	                 ATR_EINVALID);
	assert_int_equal(atr_report_period_bounds(ATR_REPORT_DAY, "1969-12-31", 0, &s, &e),
	                 ATR_EINVALID);
	assert_int_equal(atr_report_period_bounds((atr_report_period)7, NULL, 0, &s, &e),
	                 ATR_EINVALID);
}

static void test_percentile(void **state)
{
	const int64_t one[] = {42};
	const int64_t two[] = {10, 20};
	const int64_t ten[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
	const int64_t eleven[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};

	(void)state;
	assert_int_equal(atr__percentile(one, 1, 50), 42);
	assert_int_equal(atr__percentile(one, 1, 90), 42);
	assert_int_equal(atr__percentile(one, 1, 100), 42);
	assert_int_equal(atr__percentile(two, 2, 50), 10); /* nearest rank: the lower median */
	assert_int_equal(atr__percentile(two, 2, 51), 20);
	assert_int_equal(atr__percentile(two, 2, 90), 20);
	assert_int_equal(atr__percentile(ten, 10, 50), 5);
	assert_int_equal(atr__percentile(ten, 10, 90), 9);
	assert_int_equal(atr__percentile(ten, 10, 91), 10);
	assert_int_equal(atr__percentile(ten, 10, 100), 10);
	assert_int_equal(atr__percentile(ten, 10, 1), 1);
	assert_int_equal(atr__percentile(eleven, 11, 50), 6);
	assert_int_equal(atr__percentile(eleven, 11, 90), 10);
}

static void dur(int64_t us, const char *want)
{
	char text[48];

	atr__duration_text(us, text, sizeof(text));
	assert_string_equal(text, want);
}

static void test_durations(void **state)
{
	(void)state;
	dur(0, "0s");
	dur(-5, "0s");
	dur(250000, "0.25s");
	dur(1000000, "1s");
	dur(59999999, "59s");
	dur(60000000, "1m 00s");
	dur(252000000, "4m 12s");
	dur(INT64_C(3599) * 1000000, "59m 59s");
	dur(INT64_C(3600) * 1000000, "1h 00m");
	dur(INT64_C(7500) * 1000000, "2h 05m");
	dur(INT64_C(86399) * 1000000, "23h 59m");
	dur(INT64_C(86400) * 1000000, "1d 00h");
	dur(INT64_C(273600) * 1000000, "3d 04h");
}

static void test_sensitive(void **state)
{
	const char *const globs[] = {"*.log", "build*/"};

	(void)state;
	assert_true(atr_report_sensitive_match(".env", NULL, 0));
	assert_true(atr_report_sensitive_match("app/.env", NULL, 0));
	assert_false(atr_report_sensitive_match("app/.environment", NULL, 0));
	assert_false(atr_report_sensitive_match(".env/readme", NULL, 0));
	assert_true(atr_report_sensitive_match("/home/u/.ssh/id_ed25519", NULL, 0));
	assert_true(atr_report_sensitive_match("id_rsa.pub", NULL, 0));
	assert_true(atr_report_sensitive_match("/etc/tls/server.pem", NULL, 0));
	assert_false(atr_report_sensitive_match("/etc/tls/server.pem.bak", NULL, 0));
	assert_true(atr_report_sensitive_match("config/credentials.json", NULL, 0));
	assert_true(atr_report_sensitive_match(".aws/config", NULL, 0));
	assert_false(atr_report_sensitive_match("aws/config", NULL, 0));
	assert_false(atr_report_sensitive_match("docs/.ssh", NULL, 0)); /* a file, not the dir */
	assert_false(atr_report_sensitive_match("src/main.c", NULL, 0));
	assert_true(atr_report_sensitive_match("var/app.log", globs, 2));
	assert_true(atr_report_sensitive_match("build-x/out.o", globs, 2));
	assert_false(atr_report_sensitive_match(".env", globs, 2));
}

static void append(atr_log *log, const char *json)
{
	assert_int_equal(atr_log_append(log, json, strlen(json), NULL), 0);
}

static json_t *report_json(atr_log *log, const atr_report_opts *opts)
{
	atr_report *r = NULL;
	char *text;
	json_t *doc;

	assert_int_equal(atr_report_build(log, opts, &r), 0);
	assert_int_equal(atr_report_json(r, &text), 0);
	doc = json_loads(text, 0, NULL);
	assert_non_null(doc);
	atr_free(text);
	atr_report_free(r);
	return doc;
}

static int64_t num(const json_t *doc, const char *name)
{
	const json_t *v = atr__doc_get(doc, name);

	if (!json_is_integer(v))
		fail_msg("'%s' is not an integer", name);
	return (int64_t)json_integer_value(v);
}

static void test_report_small_log(void **state)
{
	atr_report_opts opts = {.period = ATR_REPORT_DAY, .date = "2026-04-01"};
	atr_report *r = NULL;
	atr_log *log;
	json_t *doc;
	char *md, *html;
	int64_t s, e;

	(void)state;
	assert_int_equal(atr_log_open(&log, path, 0), 0);
	/* On the edges: the first and last microsecond are in, the next day is not. */
	append(log, "{\"type\":\"llm_call\",\"actor\":\"a\",\"model\":\"m1\",\"ts\":"
	            "\"2026-04-01T00:00:00Z\",\"usage\":{\"input_tokens\":1000000,"
	            "\"output_tokens\":1000}}");
	append(log, "{\"type\":\"llm_call\",\"actor\":\"a\",\"agent_id\":\"bot\",\"model\":\"m1\","
	            "\"ts\":\"2026-04-01T23:59:59.999999Z\",\"usage\":{\"input_tokens\":1,"
	            "\"cost_micro_usd\":7}}");
	append(log, "{\"type\":\"llm_call\",\"actor\":\"a\",\"model\":\"m2\",\"ts\":"
	            "\"2026-04-02T00:00:00Z\",\"usage\":{\"input_tokens\":5}}");
	append(log, "{\"type\":\"llm_call\",\"actor\":\"a\",\"model\":\"m2\",\"ts\":"
	            "\"2026-03-31T23:59:59.999999Z\",\"usage\":{\"input_tokens\":5}}");
	append(log,
	       "{\"type\":\"file_write\",\"actor\":\"a\",\"target\":\"x/<b>\\\"q\\\"</b>.pem\","
	       "\"ts\":\"2026-04-01T10:00:00+02:00\"}");
	append(log,
	       "{\"type\":\"command\",\"actor\":\"a\",\"target\":\"make | tee\",\"exit_code\":2,"
	       "\"ts\":\"2026-04-01T12:00:00Z\"}");
	append(log, "{\"type\":\"approval_request\",\"actor\":\"a\",\"reason\":\"r\",\"approval\":"
	            "{\"id\":\"A\"},\"ts\":\"2026-03-31T23:00:00Z\"}");
	append(log, "{\"type\":\"approval_resolved\",\"actor\":\"b\",\"reason\":\"r\",\"approval\":"
	            "{\"id\":\"A\",\"resolution\":\"approved\",\"resolved_by\":\"b\"},\"ts\":"
	            "\"2026-04-01T01:30:00Z\"}");
	append(log, "{\"type\":\"approval_request\",\"actor\":\"a\",\"reason\":\"r\",\"approval\":"
	            "{\"id\":\"B\"},\"ts\":\"2026-04-01T20:00:00Z\"}");
	append(log, "{\"type\":\"approval_resolved\",\"actor\":\"b\",\"reason\":\"r\",\"approval\":"
	            "{\"id\":\"B\",\"resolution\":\"rejected\",\"resolved_by\":\"b\"},\"ts\":"
	            "\"2026-04-02T08:00:00Z\"}");

	opts.prices_json = "{\"m1\": {\"input_per_mtok_micro_usd\": 3000000, "
	                   "\"output_per_mtok_micro_usd\": 15000000}}";
	doc = report_json(log, &opts);
	assert_string_equal(json_string_value(atr__doc_get(doc, "period.label")), "2026-04-01");
	assert_int_equal(num(doc, "events.total"), 6);
	assert_int_equal(
	    json_integer_value(json_array_get(atr__doc_get(doc, "events.per_hour"), 0)), 1);
	assert_int_equal(
	    json_integer_value(json_array_get(atr__doc_get(doc, "events.per_hour"), 23)), 1);
	/* 1e6 input at 3 $/Mtok plus 1000 output at 15 $/Mtok: 3.015 $, computed. */
	assert_int_equal(num(doc, "tokens.totals.cost_computed_micro_usd"), 3015000);
	assert_int_equal(num(doc, "tokens.totals.cost_recorded_micro_usd"), 7);
	assert_int_equal(num(doc, "tokens.totals.cost_micro_usd"), 3015007);
	assert_int_equal(num(doc, "tokens.totals.calls_cost_unknown"), 0);
	assert_int_equal(num(doc, "tokens.totals.input_tokens"), 1000001);
	assert_int_equal(num(doc, "files.file_write"), 1);
	assert_int_equal(json_array_size(atr__doc_get(doc, "files.sensitive")), 1);
	assert_int_equal(num(doc, "commands.failures"), 1);
	assert_int_equal(num(doc, "approvals.opened"), 1);
	assert_int_equal(num(doc, "approvals.resolved"), 1);
	assert_int_equal(num(doc, "approvals.approved"), 1);
	assert_int_equal(num(doc, "approvals.pending_at_end"), 1);
	assert_int_equal(num(doc, "approvals.latency.median_us"), INT64_C(9000) * 1000000);
	assert_true(json_is_null(atr__doc_get(doc, "checkpoint")));
	json_decref(doc);

	/* Without prices the model's cost is unknown, and said so. */
	opts.prices_json = NULL;
	doc = report_json(log, &opts);
	assert_int_equal(num(doc, "tokens.totals.calls_cost_unknown"), 1);
	assert_int_equal(num(doc, "tokens.totals.cost_micro_usd"), 7);
	assert_true(json_is_false(atr__doc_get(doc, "tokens.totals.cost_complete")));
	json_decref(doc);

	/* The week holds all ten; its label and bounds. */
	opts.period = ATR_REPORT_WEEK;
	assert_int_equal(atr_report_build(log, &opts, &r), 0);
	assert_string_equal(atr_report_label(r), "2026-W14");
	atr_report_bounds(r, &s, &e);
	assert_int_equal(s, day_of(2026, 3, 30) * DAY_US);
	assert_int_equal(e, day_of(2026, 4, 6) * DAY_US);
	assert_int_equal(atr_report_markdown(r, &md), 0);
	assert_int_equal(atr_report_html(r, &html), 0);
	assert_non_null(strstr(md, "x/\\<b\\>\"q\"\\</b\\>.pem"));
	assert_non_null(strstr(md, "make \\| tee"));
	assert_non_null(strstr(html, "x/&lt;b&gt;&quot;q&quot;&lt;/b&gt;.pem"));
	assert_null(strstr(html, "<b>\"q\""));
	atr_free(md);
	atr_free(html);
	atr_report_free(r);

	/* Bad price tables name what is wrong; nothing is handed out. */
	r = (atr_report *)1;
	opts.prices_json = "[1]";
	assert_int_equal(atr_report_build(log, &opts, &r), ATR_EINVALID);
	assert_null(r);
	assert_string_equal(atr_errmsg(), "price table: expected an object of models");
	opts.prices_json = "{\"m\": {\"input_per_mtok_micro_usd\": -1, "
	                   "\"output_per_mtok_micro_usd\": 1}}";
	assert_int_equal(atr_report_build(log, &opts, &r), ATR_EINVALID);
	assert_string_equal(atr_errmsg(), "price table: model 'm': 'input_per_mtok_micro_usd' must "
	                                  "be a non-negative integer");
	opts.prices_json = "{\"m\": {\"input_per_mtok_micro_usd\": 1}}";
	assert_int_equal(atr_report_build(log, &opts, &r), ATR_EINVALID);
	assert_string_equal(atr_errmsg(),
	                    "price table: model 'm': 'output_per_mtok_micro_usd' must "
	                    "be a non-negative integer");
	opts.prices_json = NULL;
	opts.date = "2026-02-30";
	assert_int_equal(atr_report_build(log, &opts, &r), ATR_EINVALID);
	assert_null(r);
	atr_log_free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_civil_days),
	    cmocka_unit_test(test_iso_weeks),
	    cmocka_unit_test(test_period_bounds),
	    cmocka_unit_test(test_percentile),
	    cmocka_unit_test(test_durations),
	    cmocka_unit_test(test_sensitive),
	    cmocka_unit_test_setup_teardown(test_report_small_log, tmpstore_setup,
	                                    tmpstore_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
