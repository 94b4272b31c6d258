/*
 * agentrail demo: record a small, realistic agent pipeline (a user's task,
 * an agent session with a model call, tools, commands, a policy decision and
 * a human approval) with fresh ids, then show its trail and verify the log.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "util/util.h"

struct demo {
	atr_log *log;
	int64_t t; /* the next event's time, microseconds */
	char trace[48], session[48], job[48], run[48], approval[48];
	uint64_t count;
	uint64_t decision_seq;
};

/*
 * Append 'ev' (stolen) with the demo's ids and the next timestamp, 'parent'
 * may be NULL. On success 'id' (may be NULL) receives the event id.
 */
static int add(struct demo *d, json_t *ev, const char *parent, int in_session, int64_t step_ms,
               char id[37], uint64_t *seq)
{
	atr_append_result res;
	char ts[28], *text;
	int rc;

	d->t += step_ms * 1000;
	atr_time_format(d->t, ts);
	json_object_set_new(ev, "ts", json_string(ts));
	json_object_set_new(ev, "trace_id", json_string(d->trace));
	json_object_set_new(ev, "job_id", json_string(d->job));
	json_object_set_new(ev, "run_id", json_string(d->run));
	if (in_session)
		json_object_set_new(ev, "session_id", json_string(d->session));
	if (parent)
		json_object_set_new(ev, "parent_event_id", json_string(parent));
	text = json_dumps(ev, JSON_COMPACT);
	json_decref(ev);
	if (!text) {
		cli_err("cannot encode a demo event");
		return CLI_FAIL;
	}
	rc = atr_log_append(d->log, text, strlen(text), &res);
	free(text);
	if (rc != 0)
		return cli_fail("cannot record a demo event");
	if (id)
		memcpy(id, res.event_id, 37);
	if (seq)
		*seq = res.seq;
	d->count++;
	return CLI_OK;
}

static int fresh_id(const char *prefix, char *out, size_t cap)
{
	char u[37];

	if (util_uuid4(u) != 0) {
		cli_err("cannot get random bytes for fresh ids");
		return -1;
	}
	snprintf(out, cap, "%s-%.8s", prefix, u);
	return 0;
}

#define AGENT     "implementer-1"
#define MODEL     "claude-sonnet-4-5"
#define FILE_PATH "src/webhooks/payment_handler.py"

static int record_pipeline(struct demo *d)
{
	char task[37], start[37], llm[37], tool[37], fail[37], write[37], decision[37], req[37];
	char task_name[128];

	snprintf(task_name, sizeof(task_name), "%s: retry failed payment webhooks", d->job);
	if (add(d,
	        json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s}}", "type", "task_submit", "actor",
	                  "alice", "user_id", "alice", "target", task_name, "detail", "title",
	                  "Retry failed payment webhooks with backoff", "priority", "high"),
	        NULL, 0, 0, task, NULL) ||
	    add(d,
	        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", "session_start", "actor", AGENT,
	                  "agent_id", AGENT, "user_id", "alice", "model", MODEL, "target", d->job),
	        task, 1, 2300, start, NULL) ||
	    add(d,
	        json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:i, s:i, s:i}, s:{s:s, s:s}}", "type",
	                  "llm_call", "actor", AGENT, "model", MODEL, "target", "plan the change",
	                  "outcome", "success", "usage", "input_tokens", 4210, "output_tokens", 612,
	                  "cost_micro_usd", 21810, "detail", "prompt",
	                  "Add retries with exponential backoff to the payment webhook handler",
	                  "response", "Read the handler, add a retry loop, run the webhook tests"),
	        start, 1, 1800, llm, NULL) ||
	    add(d,
	        json_pack("{s:s, s:s, s:s, s:s, s:{s:{s:s}, s:i}}", "type", "tool_call", "actor",
	                  AGENT, "target", "read_file", "outcome", "success", "detail", "input",
	                  "path", FILE_PATH, "latency_ms", 12),
	        llm, 1, 6400, tool, NULL) ||
	    add(d,
	        json_pack("{s:s, s:s, s:s, s:s, s:{s:i}}", "type", "file_read", "actor", AGENT,
	                  "target", FILE_PATH, "outcome", "success", "detail", "bytes", 5120),
	        tool, 1, 15, NULL, NULL) ||
	    add(d,
	        json_pack("{s:s, s:s, s:s, s:{s:i, s:i}}", "type", "file_write", "actor", AGENT,
	                  "target", FILE_PATH, "detail", "lines_added", 24, "lines_removed", 3),
	        llm, 1, 9100, write, NULL) ||
	    add(d,
	        json_pack("{s:s, s:s, s:s, s:s, s:i, s:{s:s, s:i}}", "type", "command", "actor",
	                  AGENT, "target", "pytest tests/test_webhooks.py -q", "outcome", "failure",
	                  "exit_code", 1, "detail", "output",
	                  "1 failed, 11 passed: test_retry_gives_up_after_5_attempts", "latency_ms",
	                  3870),
	        write, 1, 2100, fail, NULL) ||
	    add(d,
	        json_pack("{s:s, s:s, s:s, s:{s:i, s:i}}", "type", "file_write", "actor", AGENT,
	                  "target", FILE_PATH, "detail", "lines_added", 2, "lines_removed", 1),
	        fail, 1, 7600, NULL, NULL) ||
	    add(d,
	        json_pack("{s:s, s:s, s:s, s:s, s:i, s:{s:s, s:i}}", "type", "command", "actor",
	                  AGENT, "target", "pytest tests/test_webhooks.py -q", "outcome", "success",
	                  "exit_code", 0, "detail", "output", "12 passed", "latency_ms", 3650),
	        fail, 1, 4300, NULL, NULL))
		return CLI_FAIL;
	if (add(d,
	        json_pack(
	            "{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s}}", "type", "decision", "actor", AGENT,
	            "target", "merge the change", "reason",
	            "tests pass, but the change touches payment code: policy requires a human "
	            "approval before merge",
	            "policy", "rule_id", "payments-require-approval", "snapshot", "policy-v7",
	            "decision", "REQUIRE_APPROVAL"),
	        llm, 1, 900, decision, &d->decision_seq) ||
	    add(d,
	        json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s}}", "type", "approval_request", "actor",
	                  AGENT, "target", "merge the change", "reason",
	                  "policy payments-require-approval", "approval", "id", d->approval,
	                  "resolution", "pending"),
	        decision, 1, 200, req, NULL) ||
	    add(d,
	        json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s}}", "type",
	                  "approval_resolved", "actor", "alice", "target", "merge the change",
	                  "reason", "reviewed the diff and the retry limits", "approval", "id",
	                  d->approval, "resolution", "approved", "resolved_by", "alice", "comment",
	                  "ship it"),
	        req, 1, 95000, NULL, NULL) ||
	    add(d,
	        json_pack("{s:s, s:s, s:s, s:s, s:{s:s}}", "type", "task_outcome", "actor", AGENT,
	                  "target", task_name, "outcome", "success", "detail", "summary",
	                  "retries with backoff merged; 12 tests pass"),
	        task, 1, 4000, NULL, NULL) ||
	    add(d,
	        json_pack("{s:s, s:s, s:s, s:s}", "type", "session_end", "actor", AGENT, "target",
	                  d->job, "outcome", "success"),
	        start, 1, 300, NULL, NULL))
		return CLI_FAIL;
	return CLI_OK;
}

int cmd_demo(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"store", required_argument, NULL, OPT_STORE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct demo d;
	atr_query q = {0};
	atr_cursor *cur = NULL;
	const atr_record *rec;
	atr_verify_result res;
	struct util_map depth;
	struct timespec now;
	char last_date[11] = "", *name = NULL, store_opt[4200] = "";
	int c, r, rc = CLI_FAIL;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1)
		if ((r = cli_common_opt(cli, c, argv)) >= 0)
			return r;
	if (optind < argc)
		return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	if (cli_is_remote(cli))
		return cli_remote_unsupported(cli, NULL);

	memset(&d, 0, sizeof(d));
	util_map_init(&depth);
	if (fresh_id("trace", d.trace, sizeof(d.trace)) ||
	    fresh_id("sess", d.session, sizeof(d.session)) ||
	    fresh_id("JOB", d.job, sizeof(d.job)) || fresh_id("run", d.run, sizeof(d.run)) ||
	    fresh_id("APR", d.approval, sizeof(d.approval)))
		return CLI_FAIL;
	clock_gettime(CLOCK_REALTIME, &now);
	/* Pretend the pipeline started a little over two minutes ago. */
	d.t = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000 - 140 * 1000000LL;
	if (cli_open(cli, 0, &d.log) != CLI_OK)
		goto out;
	if (record_pipeline(&d) != CLI_OK)
		goto out;
	name = cli_store_name(cli);
	printf("recorded %llu events in '%s'\n\n", (unsigned long long)d.count,
	       name ? name : "(default store)");

	q.trace_id = d.trace;
	if (atr_log_query(d.log, &q, &cur) != 0) {
		cli_fail("query failed");
		goto out;
	}
	while ((r = atr_cursor_next(cur, &rec)) == 1) {
		const char *parent = atr_record_str(rec, "parent_event_id");
		const char *self = atr_record_str(rec, "event_id");
		long dep = -1;

		if (!parent || !util_map_get(&depth, parent, &dep))
			dep = -1;
		dep++;
		if (self)
			util_map_put(&depth, self, dep);
		cli_print_record(stdout, rec, (int)dep, last_date);
	}
	if (r < 0) {
		cli_fail("reading the log");
		goto out;
	}
	putchar('\n');
	if (atr_log_verify(d.log, NULL, NULL, NULL, &res) != 0) {
		cli_fail("cannot verify the log");
		goto out;
	}
	fputs("verify: ", stdout);
	cli_print_verify_status(&res, 0);
	if (cli->store_option)
		snprintf(store_opt, sizeof(store_opt), " --store '%s'", cli->store);
	printf("\ntry next:\n"
	       "  agentrail%s trail --trace %s\n"
	       "  agentrail%s query --level decision\n"
	       "  agentrail%s verify\n"
	       "  agentrail%s prove %llu\n"
	       "  agentrail%s export --out audit.jsonl && agentrail verify --export audit.jsonl\n",
	       store_opt, d.trace, store_opt, store_opt, store_opt,
	       (unsigned long long)d.decision_seq, store_opt);
	rc = CLI_OK;
out:
	free(name);
	atr_cursor_free(cur);
	atr_log_free(d.log);
	util_map_release(&depth);
	return rc;
}
