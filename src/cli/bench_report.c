/*
 * agentrail bench report: fill a store with a realistic week of agent work
 * (sessions of 100 events: tasks, model calls with usage, file reads and
 * writes, commands that sometimes fail, policy decisions, approvals,
 * retries, escalations, aborts, alerts) spread evenly over ISO week
 * 2026-W14, sign a checkpoint over it, then time the week report (build
 * and all three renderings) R times and print the median as one JSON line.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/util.h"

enum { O_EVENTS = OPT_FIRST_CMD, O_RUNS, O_KEEP };

enum { RSESSION = 100, RMAX_EVENT = 1024 };

#define BENCH_DATE "2026-04-01" /* Wednesday of 2026-W14 */

static const char *const r_models[] = {"m-large", "m-small", "m-code"};
static const char *const r_files[] = {
    "src/lib/log.c", "src/lib/store/sqlite.c", "src/cli/main.c",
    "README.md",     "tests/unit/test_log.c",  "docs/cli.md",
    "deploy/.env",   "home/dev/.ssh/id_rsa",   "certs/server.pem"};
static const char *const r_commands[] = {"make -j8", "ctest --output-on-failure", "git status",
                                         "npm test", "python3 -m pytest -q"};

/* Event 'i' of the corpus: a session of RSESSION events, ts spread evenly over the week. */
static int r_event(char *buf, size_t cap, uint64_t i, uint64_t n, int64_t week_us)
{
	uint64_t s = i / RSESSION, k = i % RSESSION;
	unsigned r = (unsigned)((i * 0x9e3779b97f4a7c15ull) >> 40);
	int64_t ts = week_us + (int64_t)((double)i * (7.0 * 86400e6 - 1) / (double)n);
	char t[28], common[256];

	atr_time_format(ts, t);
	snprintf(common, sizeof(common),
	         "\"ts\":\"%s\",\"actor\":\"agent-%u\",\"agent_id\":\"agent-%u\","
	         "\"session_id\":\"rs-%06llu\",\"job_id\":\"rj-%06llu\"",
	         t, (unsigned)(s % 12), (unsigned)(s % 12), (unsigned long long)s,
	         (unsigned long long)s);
	if (k == 0)
		return snprintf(buf, cap, "{\"type\":\"session_start\",%s}", common);
	if (k == 1)
		return snprintf(buf, cap,
		                "{\"type\":\"task_submit\",%s,\"detail\":{\"prompt\":\"fix the "
		                "failing test in %s\"}}",
		                common, r_files[r % 6]);
	if (k == RSESSION - 2)
		return snprintf(buf, cap, "{\"type\":\"task_outcome\",%s,\"outcome\":\"%s\"}",
		                common,
		                r % 7   ? "success"
		                : r % 2 ? "partial"
		                        : "failure");
	if (k == RSESSION - 1)
		return snprintf(buf, cap, "{\"type\":\"session_end\",%s,\"outcome\":\"%s\"}",
		                common, r % 7 ? "success" : "failure");
	if (s % 10 == 0 && k == 50)
		return snprintf(buf, cap,
		                "{\"type\":\"approval_request\",%s,\"reason\":\"push to main\","
		                "\"approval\":{\"id\":\"ra-%06llu\",\"required\":true}}",
		                common, (unsigned long long)s);
	if (s % 10 == 0 && k == 60 && s % 200)
		return snprintf(buf, cap,
		                "{\"type\":\"approval_resolved\",%s,\"reason\":\"checked\","
		                "\"approval\":{\"id\":\"ra-%06llu\",\"resolution\":\"%s\","
		                "\"resolved_by\":\"reviewer-1\"}}",
		                common, (unsigned long long)s, r % 9 ? "approved" : "rejected");
	if (k == 70 && s % 25 == 0)
		return snprintf(buf, cap,
		                "{\"type\":\"alert\",%s,\"reason\":\"sensitive path\",\"detail\":{"
		                "\"rule\":\"sensitive_path\",\"seq\":%llu}}",
		                common, (unsigned long long)(i - 3));
	if (k == 80 && s % 7 == 0)
		return snprintf(buf, cap, "{\"type\":\"%s\",%s,\"reason\":\"tests keep failing\"}",
		                s % 3 == 0   ? "escalation"
		                : s % 3 == 1 ? "retry"
		                             : "abort",
		                common);
	switch (k % 10) {
	case 0:
	case 3:
	case 6:
	case 8:
		return snprintf(
		    buf, cap,
		    "{\"type\":\"llm_call\",%s,\"model\":\"%s\",\"usage\":{"
		    "\"input_tokens\":%u,\"output_tokens\":%u%s},\"detail\":{\"prompt\":"
		    "\"read the failing test and propose the smallest change\"}}",
		    common, r_models[r % 3], 1000 + r % 9000, 50 + r % 900,
		    r % 3 == 0 ? ",\"cost_micro_usd\":1234" : "");
	case 1:
	case 4:
		return snprintf(buf, cap, "{\"type\":\"file_read\",%s,\"target\":\"%s\"}", common,
		                r_files[r % 9]);
	case 2:
		return snprintf(buf, cap,
		                "{\"type\":\"file_write\",%s,\"target\":\"%s\",\"detail\":{"
		                "\"lines_added\":%u}}",
		                common, r_files[r % 6], r % 120);
	case 5:
		return snprintf(
		    buf, cap,
		    "{\"type\":\"command\",%s,\"target\":\"%s\",\"exit_code\":%u,"
		    "\"detail\":{\"output\":\"[%u/48] Building C object; 0 warnings\"}}",
		    common, r_commands[r % 5], r % 9 ? 0u : 2u, 1 + r % 48);
	case 7:
		return snprintf(buf, cap,
		                "{\"type\":\"decision\",%s,\"reason\":\"policy\",\"policy\":{"
		                "\"rule_id\":\"R-%u\",\"decision\":\"%s\"}}",
		                common, r % 12, r % 11 == 0 ? "DENY" : "ALLOW");
	default:
		return snprintf(
		    buf, cap,
		    "{\"type\":\"tool_call\",%s,\"target\":\"grep\",\"detail\":{\"input\":"
		    "{\"pattern\":\"atr_log_append\"},\"latency_ms\":%u}}",
		    common, 20 + r % 900);
	}
}

struct r_week {
	uint64_t n;
	int64_t week_us;
};

static int r_event_at(char *buf, size_t cap, uint64_t i, void *ctx)
{
	const struct r_week *w = ctx;

	return r_event(buf, cap, i, w->n, w->week_us);
}

static int r_fill(atr_log *log, uint64_t n, int64_t week_us)
{
	/* Signed with a fixed bench key, so the report finds its checkpoint. */
	static const uint8_t seed[32] = {7, 7, 7};
	struct r_week w = {n, week_us};

	if (cli_bench_append(log, n, RMAX_EVENT, r_event_at, &w) != CLI_OK)
		return CLI_FAIL;
	return cli_bench_sign(log, "bench.agentrail.example/report", seed,
	                      "cannot sign a checkpoint");
}

int cli_bench_report(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"events", required_argument, NULL, O_EVENTS},
	    {"runs", required_argument, NULL, O_RUNS},
	    {"keep", no_argument, NULL, O_KEEP},
	    {"store", required_argument, NULL, OPT_STORE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	uint64_t events = 1000000, runs = 3, size = 0, in_period = 0;
	double build[100], render[100], total[100], fill_s = 0;
	char dir[4096], path[4200];
	const char *tmp = getenv("TMPDIR");
	int64_t week_us, end_us;
	atr_log *log = NULL;
	int c, r, keep = 0, own = !cli->store_option, rc = CLI_FAIL;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_EVENTS:
			if ((r = cli_opt_u64(cli, "--events", optarg, &events)) != CLI_OK)
				return r;
			if (events == 0)
				return cli_usage(cli, "option '--events' must be at least 1");
			break;
		case O_RUNS:
			if ((r = cli_opt_u64(cli, "--runs", optarg, &runs)) != CLI_OK)
				return r;
			if (runs == 0 || runs > 100)
				return cli_usage(cli, "option '--runs' must be 1 to 100");
			break;
		case O_KEEP:
			keep = 1;
			break;
		default:
			if ((r = cli_common_opt(cli, c, argv)) >= 0)
				return r;
		}
	}
	own = !cli->store_option;
	if (optind < argc)
		return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	if (atr_report_period_bounds(ATR_REPORT_WEEK, BENCH_DATE, 0, &week_us, &end_us) != 0)
		return cli_fail(NULL);
	if (own) {
		if (!tmp || !*tmp)
			tmp = "/tmp";
		if (snprintf(dir, sizeof(dir), "%s/agentrail-bench-report-XXXXXX", tmp) >=
		        (int)sizeof(dir) ||
		    !mkdtemp(dir)) {
			cli_err("cannot create a directory in '%s': %s", tmp, strerror(errno));
			return CLI_FAIL;
		}
		snprintf(path, sizeof(path), "%s/bench.db", dir);
		cli->store = path;
	}
	if (cli_open(cli, 0, &log) != CLI_OK || atr_log_size(log, &size) != 0)
		goto out;
	/* A given store that already holds events is reported as it is. */
	if (size == 0) {
		double t0 = util_now_mono();

		if (r_fill(log, events, week_us) != CLI_OK)
			goto out;
		fill_s = util_now_mono() - t0;
	}
	atr_log_free(log);
	log = NULL;

	for (uint64_t i = 0; i < runs; i++) {
		atr_report_opts opts = {.period = ATR_REPORT_WEEK, .date = BENCH_DATE};
		atr_report *rep = NULL;
		char *texts[3] = {NULL, NULL, NULL};
		double t0 = util_now_mono(), t1;
		int bad;

		/* Each run as the command does it: open, build, render, close. */
		if (cli_open(cli, ATR_OPEN_READONLY, &log) != CLI_OK)
			goto out;
		if (atr_report_build(log, &opts, &rep) != 0) {
			cli_fail("cannot build the report");
			goto out;
		}
		t1 = util_now_mono();
		bad = atr_report_json(rep, &texts[0]) != 0 ||
		      atr_report_html(rep, &texts[1]) != 0 ||
		      atr_report_markdown(rep, &texts[2]) != 0;
		if (i == 0 && !bad) {
			const char *p = strstr(texts[0], "\"total\": ");

			in_period = p ? strtoull(p + 9, NULL, 10) : 0;
		}
		for (int j = 0; j < 3; j++)
			atr_free(texts[j]);
		atr_report_free(rep);
		atr_log_free(log);
		log = NULL;
		if (bad) {
			cli_fail("cannot render the report");
			goto out;
		}
		total[i] = util_now_mono() - t0;
		build[i] = t1 - t0;
		render[i] = total[i] - build[i];
	}
	qsort(total, runs, sizeof(double), cli_bench_cmp_double);
	qsort(build, runs, sizeof(double), cli_bench_cmp_double);
	qsort(render, runs, sizeof(double), cli_bench_cmp_double);
	printf(
	    "{\"bench\":\"report\",\"period\":\"week\",\"events\":%llu,\"events_in_period\":%llu,"
	    "\"runs\":%llu,\"seconds\":%.3f,\"build_s\":%.3f,\"render_s\":%.3f,"
	    "\"min_s\":%.3f,\"max_s\":%.3f",
	    (unsigned long long)(size ? size : events), (unsigned long long)in_period,
	    (unsigned long long)runs, total[runs / 2], build[runs / 2], render[runs / 2], total[0],
	    total[runs - 1]);
	if (fill_s > 0)
		printf(",\"fill_s\":%.1f", fill_s);
	printf("}\n");
	rc = CLI_OK;
out:
	atr_log_free(log);
	if (own) {
		if (keep) {
			fprintf(stderr, "agentrail: kept the store '%s'\n", path);
		} else {
			static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
			char p[4300];

			for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
				snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
				unlink(p);
			}
			rmdir(dir);
		}
	}
	return rc;
}
