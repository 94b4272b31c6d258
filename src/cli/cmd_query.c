/*
 * agentrail query: every atr_query filter as an option; prints one line per
 * record, JSONL with --json, or just the count.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

enum {
	O_TYPE = OPT_FIRST_CMD,
	O_ACTOR,
	O_LEVEL,
	O_TRACE,
	O_SESSION,
	O_RUN,
	O_JOB,
	O_EVENT_ID,
	O_TARGET_PREFIX,
	O_SINCE,
	O_UNTIL,
	O_FROM_SEQ,
	O_TO_SEQ,
	O_LIMIT,
	O_DESC,
	O_JSON,
	O_COUNT
};

static int opt_time(struct cli *cli, const char *opt, const char *val, int64_t *us)
{
	if (atr_time_parse(val, us) != 0)
		return cli_usage(cli, "option '%s' expects an RFC 3339 time, got '%s'", opt, val);
	return CLI_OK;
}

int cmd_query(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"type", required_argument, NULL, O_TYPE},
	    {"actor", required_argument, NULL, O_ACTOR},
	    {"level", required_argument, NULL, O_LEVEL},
	    {"trace", required_argument, NULL, O_TRACE},
	    {"session", required_argument, NULL, O_SESSION},
	    {"run", required_argument, NULL, O_RUN},
	    {"job", required_argument, NULL, O_JOB},
	    {"event-id", required_argument, NULL, O_EVENT_ID},
	    {"target-prefix", required_argument, NULL, O_TARGET_PREFIX},
	    {"since", required_argument, NULL, O_SINCE},
	    {"until", required_argument, NULL, O_UNTIL},
	    {"from-seq", required_argument, NULL, O_FROM_SEQ},
	    {"to-seq", required_argument, NULL, O_TO_SEQ},
	    {"limit", required_argument, NULL, O_LIMIT},
	    {"desc", no_argument, NULL, O_DESC},
	    {"json", no_argument, NULL, O_JSON},
	    {"count", no_argument, NULL, O_COUNT},
	    {"store", required_argument, NULL, OPT_STORE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	atr_query q = {0};
	int json = 0, count_only = 0, c, r, rc = CLI_FAIL;
	atr_log *log = NULL;
	atr_cursor *cur = NULL;
	const atr_record *rec;
	uint64_t count = 0;
	char last_date[11] = "";

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		r = CLI_OK;
		switch (c) {
		case O_TYPE:
			q.type = optarg;
			break;
		case O_ACTOR:
			q.actor = optarg;
			break;
		case O_LEVEL:
			if (strcmp(optarg, "pipeline") != 0 && strcmp(optarg, "agent") != 0 &&
			    strcmp(optarg, "decision") != 0)
				return cli_usage(cli,
				                 "option '--level' expects pipeline, agent or "
				                 "decision, got '%s'",
				                 optarg);
			q.level = optarg;
			break;
		case O_TRACE:
			q.trace_id = optarg;
			break;
		case O_SESSION:
			q.session_id = optarg;
			break;
		case O_RUN:
			q.run_id = optarg;
			break;
		case O_JOB:
			q.job_id = optarg;
			break;
		case O_EVENT_ID:
			q.event_id = optarg;
			break;
		case O_TARGET_PREFIX:
			q.target_prefix = optarg;
			break;
		case O_SINCE:
			r = opt_time(cli, "--since", optarg, &q.since_us);
			break;
		case O_UNTIL:
			r = opt_time(cli, "--until", optarg, &q.until_us);
			break;
		case O_FROM_SEQ:
			r = cli_opt_u64(cli, "--from-seq", optarg, &q.seq_from);
			break;
		case O_TO_SEQ:
			r = cli_opt_u64(cli, "--to-seq", optarg, &q.seq_to);
			break;
		case O_LIMIT:
			r = cli_opt_u64(cli, "--limit", optarg, &q.limit);
			break;
		case O_DESC:
			q.descending = 1;
			break;
		case O_JSON:
			json = 1;
			break;
		case O_COUNT:
			count_only = 1;
			break;
		default:
			if ((r = cli_common_opt(cli, c, argv)) < 0)
				r = CLI_OK;
			else
				return r;
		}
		if (r != CLI_OK)
			return r;
	}
	if (optind < argc)
		return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	if (json && count_only)
		return cli_usage(cli, "options '--json' and '--count' exclude each other");

	if (cli_open(cli, ATR_OPEN_READONLY, &log) != CLI_OK)
		goto out;
	if (atr_log_query(log, &q, &cur) != 0) {
		cli_fail("query failed");
		goto out;
	}
	while ((r = atr_cursor_next(cur, &rec)) == 1) {
		count++;
		if (count_only)
			continue;
		if (json) {
			char *text = NULL;

			if (atr_record_to_json(rec, &text) != 0) {
				cli_fail(NULL);
				goto out;
			}
			puts(text);
			atr_free(text);
		} else {
			cli_print_record(stdout, rec, 0, last_date);
		}
	}
	if (r < 0) {
		cli_fail("reading the log");
		goto out;
	}
	if (count_only)
		printf("%llu\n", (unsigned long long)count);
	rc = CLI_OK;
out:
	atr_cursor_free(cur);
	atr_log_free(log);
	return rc;
}
