/*
 * agentrail trail: the timeline of one session, trace, run or job, one line
 * per record in seq order, each record indented under its parent when the
 * parent came earlier in the same trail.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/util.h"

enum { O_SESSION = OPT_FIRST_CMD, O_TRACE, O_RUN, O_JOB, O_JSON };

int cmd_trail(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"session", required_argument, NULL, O_SESSION},
	    {"trace", required_argument, NULL, O_TRACE},
	    {"run", required_argument, NULL, O_RUN},
	    {"job", required_argument, NULL, O_JOB},
	    {"json", no_argument, NULL, O_JSON},
	    {"store", required_argument, NULL, OPT_STORE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	atr_query q = {0};
	const char *what = NULL, *id = NULL;
	int json = 0, c, r, rc = CLI_FAIL, nsel = 0;
	atr_log *log = NULL;
	atr_cursor *cur = NULL;
	const atr_record *rec;
	struct util_map depth;
	uint64_t count = 0;
	char last_date[11] = "";

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_SESSION:
			q.session_id = id = optarg;
			what = "session";
			nsel++;
			break;
		case O_TRACE:
			q.trace_id = id = optarg;
			what = "trace";
			nsel++;
			break;
		case O_RUN:
			q.run_id = id = optarg;
			what = "run";
			nsel++;
			break;
		case O_JOB:
			q.job_id = id = optarg;
			what = "job";
			nsel++;
			break;
		case O_JSON:
			json = 1;
			break;
		default:
			if ((r = cli_common_opt(cli, c, argv)) >= 0)
				return r;
		}
	}
	if (optind < argc)
		return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	if (nsel != 1)
		return cli_usage(cli,
		                 "give exactly one of '--session', '--trace', '--run', '--job'");

	util_map_init(&depth);
	if (cli_open(cli, ATR_OPEN_READONLY, &log) != CLI_OK)
		goto out;
	if (atr_log_query(log, &q, &cur) != 0) {
		cli_fail("query failed");
		goto out;
	}
	while ((r = atr_cursor_next(cur, &rec)) == 1) {
		if (json) {
			char *text = NULL;

			if (atr_record_to_json(rec, &text) != 0) {
				cli_fail(NULL);
				goto out;
			}
			fputs(count == 0 ? "[\n" : ",\n", stdout);
			fputs(text, stdout);
			atr_free(text);
		} else {
			const char *parent = atr_record_str(rec, "parent_event_id");
			const char *self = atr_record_str(rec, "event_id");
			long d = -1;

			if (!parent || !util_map_get(&depth, parent, &d))
				d = -1;
			d++;
			if (self && util_map_put(&depth, self, d) != 0) {
				cli_err("out of memory");
				goto out;
			}
			cli_print_record(stdout, rec, (int)d, last_date);
		}
		count++;
	}
	if (r < 0) {
		cli_fail("reading the log");
		goto out;
	}
	if (count == 0) {
		cli_err("no events for %s '%s'", what, id);
		goto out;
	}
	if (json)
		fputs("\n]\n", stdout);
	rc = CLI_OK;
out:
	atr_cursor_free(cur);
	atr_log_free(log);
	util_map_release(&depth);
	return rc;
}
