/*
 * agentrail alerts: list the alert events newest first (a local store
 * through the library's alerts.h, or a server's GET /api/v1/alerts), and
 * scan a local store with the alert engine, appending what fires (what
 * `agentrail serve` does as the log grows), for stores without a server.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <agentrail/alerts.h>

#include "cli/cli.h"
#include "cli/remote.h"

enum { O_RULE = OPT_FIRST_CMD, O_SESSION, O_JOB, O_JSON, O_LIMIT };

#define PAGE 500u

static int print_list(json_t *list, int json)
{
	size_t i;
	json_t *a;

	if (json)
		return cli_print_json(list);
	json_array_foreach(list, i, a)
	{
		json_t *t = json_object_get(a, "trigger_seq");

		printf("%lld  %s  %-6s  %-21s  ",
		       (long long)json_integer_value(json_object_get(a, "seq")),
		       cli_str_or(a, "ts", "-"), cli_str_or(a, "severity", "-"),
		       cli_str_or(a, "rule", "-"));
		if (json_is_integer(t))
			printf("trigger %lld  ", (long long)json_integer_value(t));
		printf("%s\n", cli_str_or(a, "reason", ""));
	}
	return CLI_OK;
}

static int list_local(struct cli *cli, const atr_alerts_filter *f, uint64_t max, json_t *out)
{
	uint64_t from = UINT64_MAX, next = 0;
	atr_log *log = NULL;
	int more = 1, rc = 0;

	if (cli_open(cli, ATR_OPEN_READONLY, &log) != CLI_OK)
		return CLI_FAIL;
	while (more && (!max || json_array_size(out) < max)) {
		uint64_t want = max ? max - json_array_size(out) : PAGE;
		char *text = NULL;
		json_t *page;

		if ((rc = atr_alerts_list(log, f, from, want < PAGE ? want : PAGE, &text, &more,
		                          &next)) != 0)
			break;
		page = json_loads(text, 0, NULL);
		atr_free(text);
		if (!page || json_array_extend(out, page) != 0) {
			json_decref(page);
			atr_log_free(log);
			return cli_fail("out of memory");
		}
		json_decref(page);
		from = next;
	}
	atr_log_free(log);
	return rc ? cli_fail("cannot list alerts") : CLI_OK;
}

/* GET /api/v1/alerts page by page. */
static int list_remote(struct cli *cli, const atr_alerts_filter *f, uint64_t max, json_t *out)
{
	struct cli_remote *r = NULL;
	struct util_buf path;
	char cursor[64] = "", lim[24];
	int rc;

	if ((rc = cli_remote_open(cli, &r)) != CLI_OK)
		return rc;
	util_buf_init(&path);
	for (;;) {
		uint64_t want = max ? max - json_array_size(out) : PAGE;
		struct cli_answer ans;
		json_t *page, *next;

		snprintf(lim, sizeof(lim), "%llu", (unsigned long long)(want < PAGE ? want : PAGE));
		path.len = 0;
		if (util_buf_adds(&path, "/api/v1/alerts?limit=") || util_buf_adds(&path, lim) ||
		    (f->rule && cli_remote_param(&path, "rule", f->rule)) ||
		    (f->session_id && cli_remote_param(&path, "session_id", f->session_id)) ||
		    (f->job_id && cli_remote_param(&path, "job_id", f->job_id)) ||
		    (cursor[0] && cli_remote_param(&path, "cursor", cursor)) ||
		    util_buf_add(&path, "", 1)) {
			rc = cli_fail("out of memory");
			break;
		}
		if ((rc = cli_remote_get(r, path.data, &ans, "cannot list alerts")) != CLI_OK)
			break;
		page = json_object_get(ans.json, "items");
		next = json_object_get(ans.json, "next_cursor");
		if (!json_is_array(page) || json_array_extend(out, page) != 0) {
			cli_err("the answer of %s to GET /api/v1/alerts has no items",
			        cli_remote_base(r));
			cli_answer_release(&ans);
			rc = CLI_FAIL;
			break;
		}
		cursor[0] = '\0';
		if (json_is_string(next))
			snprintf(cursor, sizeof(cursor), "%s", json_string_value(next));
		cli_answer_release(&ans);
		if (!cursor[0] || (max && json_array_size(out) >= max))
			break;
	}
	util_buf_release(&path);
	cli_remote_free(r);
	return rc;
}

struct scan {
	atr_log *log;
	uint64_t appended, repeated;
};

static int append_alert(void *ctx, const atr_alert *al)
{
	struct scan *sc = ctx;
	atr_append_result res;
	int rc = atr_log_append(sc->log, al->json, al->len, &res);

	if (rc == ATR_ECONFLICT) {
		sc->repeated++; /* alerted before, from other state: that alert stands */
		return 0;
	}
	if (rc != 0)
		return rc;
	if (res.duplicate) {
		sc->repeated++;
	} else {
		sc->appended++;
		printf("seq %llu: %s (%s) on seq %llu\n", (unsigned long long)res.seq, al->rule,
		       al->severity, (unsigned long long)al->trigger_seq);
	}
	return 0;
}

/* Run the engine over a local store from where alerts left off; append what fires. */
static int scan(struct cli *cli)
{
	struct scan sc = {0};
	atr_alerts *eng = NULL;
	uint64_t start = 0, next, size = 0;
	int rc;

	if (cli_open(cli, 0, &sc.log) != CLI_OK)
		return CLI_FAIL;
	if ((rc = atr_alerts_new(&eng, NULL)) != 0 ||
	    (rc = atr_alerts_resume_seq(sc.log, 0, &start)) != 0 ||
	    (rc = atr_alerts_warm(eng, sc.log, start, 0)) != 0 ||
	    (rc = atr_log_size(sc.log, &size)) != 0)
		goto out;
	atr_alerts_set_log(eng, sc.log);
	/* Up to the size at the start: the alerts appended meanwhile need no look. */
	for (next = start; next < size && rc == 0;)
		rc = atr_alerts_step(eng, sc.log, next, 0, append_alert, &sc, &next);
out:
	atr_alerts_free(eng);
	atr_log_free(sc.log);
	if (rc != 0)
		return cli_fail("cannot scan for alerts");
	printf("%llu alert%s appended, %llu already in the log; seq %llu to %llu evaluated\n",
	       (unsigned long long)sc.appended, sc.appended == 1 ? "" : "s",
	       (unsigned long long)sc.repeated, (unsigned long long)start,
	       (unsigned long long)(size ? size - 1 : 0));
	return CLI_OK;
}

int cmd_alerts(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"rule", required_argument, NULL, O_RULE},
	    {"session", required_argument, NULL, O_SESSION},
	    {"job", required_argument, NULL, O_JOB},
	    {"json", no_argument, NULL, O_JSON},
	    {"limit", required_argument, NULL, O_LIMIT},
	    {"store", required_argument, NULL, OPT_STORE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	atr_alerts_filter f = {0};
	uint64_t limit = 0;
	int json = 0, filtered = 0, c, r;
	const char *verb;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_RULE:
			f.rule = optarg;
			filtered = 1;
			break;
		case O_SESSION:
			f.session_id = optarg;
			filtered = 1;
			break;
		case O_JOB:
			f.job_id = optarg;
			filtered = 1;
			break;
		case O_JSON:
			json = 1;
			filtered = 1;
			break;
		case O_LIMIT:
			if ((r = cli_opt_u64(cli, "--limit", optarg, &limit)) != CLI_OK)
				return r;
			if (limit == 0)
				return cli_usage(cli, "option '--limit' must be 1 or more");
			filtered = 1;
			break;
		default:
			if ((r = cli_common_opt(cli, c, argv)) >= 0)
				return r;
		}
	}
	if (optind >= argc)
		return cli_usage(cli, "missing what to do: 'list' or 'scan'");
	verb = argv[optind++];
	if (optind < argc)
		return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	if (!strcmp(verb, "list")) {
		static const char *const rules[] = {"sensitive_path",        "deny",
		                                    "command_after_deny",    "token_spike",
		                                    "command_failure_burst", "rules_changed",
		                                    "system_prompt_changed", NULL};
		json_t *list;
		size_t i = 0;

		while (f.rule && rules[i] && strcmp(rules[i], f.rule) != 0)
			i++;
		if (f.rule && !rules[i])
			return cli_usage(
			    cli,
			    "unknown rule '%s': sensitive_path, deny, command_after_deny, "
			    "token_spike, command_failure_burst, rules_changed or "
			    "system_prompt_changed",
			    f.rule);
		if (!(list = json_array()))
			return cli_fail("out of memory");

		r = cli_is_remote(cli) ? list_remote(cli, &f, limit, list)
		                       : list_local(cli, &f, limit, list);
		if (r == CLI_OK)
			r = print_list(list, json);
		json_decref(list);
		return cli_finish_stdout(r);
	}
	if (!strcmp(verb, "scan")) {
		if (filtered)
			return cli_usage(cli, "'alerts scan' takes only '--store'");
		if (cli_is_remote(cli))
			return cli_usage(cli,
			                 "'alerts scan' is for a local store: a server evaluates "
			                 "alerts itself (serve --alerts on)");
		return cli_finish_stdout(scan(cli));
	}
	return cli_usage(cli, "unknown alerts action '%s': use list or scan", verb);
}
