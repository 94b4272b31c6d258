/*
 * agentrail trail: the timeline of one session, trace, run or job, one line
 * per record in seq order, each record indented under its parent when the
 * parent came earlier in the same trail. With a server's URL as the store the
 * records come from its event listing and print the same way.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/remote.h"
#include "util/util.h"

enum { O_SESSION = OPT_FIRST_CMD, O_TRACE, O_RUN, O_JOB, O_JSON };

/* The output of one trail, whichever side the records come from. */
struct trail {
	int json;
	struct util_map depth; /* event id -> indent of the records printed so far */
	uint64_t count;
	char last_date[11];
};

/*
 * Print one record: as JSON ('text', 'len'), or as a timeline line through
 * 'f', indented one step deeper than its parent. -1 when out of memory.
 */
static int trail_add(struct trail *t, const char *text, size_t len, const struct cli_fields *f)
{
	if (t->json) {
		fputs(t->count == 0 ? "[\n" : ",\n", stdout);
		fwrite(text, 1, len, stdout);
	} else {
		const char *parent = f->str(f->src, "parent_event_id");
		const char *self = f->str(f->src, "event_id");
		long d = -1;

		if (!parent || !util_map_get(&t->depth, parent, &d))
			d = -1;
		d++;
		if (self && util_map_put(&t->depth, self, d) != 0) {
			cli_err("out of memory");
			return -1;
		}
		cli_print_fields(stdout, f, (int)d, t->last_date);
	}
	t->count++;
	return 0;
}

static const char *rec_str(void *rec, const char *field)
{
	return atr_record_str(rec, field);
}

static int rec_int(void *rec, const char *field, int64_t *out)
{
	return atr_record_int(rec, field, out);
}

static int trail_local(struct cli *cli, struct trail *t, const atr_query *q)
{
	atr_log *log = NULL;
	atr_cursor *cur = NULL;
	const atr_record *rec;
	int r, rc = CLI_FAIL;

	if (cli_open(cli, ATR_OPEN_READONLY, &log) != CLI_OK)
		goto out;
	if (atr_log_query(log, q, &cur) != 0) {
		cli_fail("query failed");
		goto out;
	}
	while ((r = atr_cursor_next(cur, &rec)) == 1) {
		struct cli_fields f = {(void *)rec, atr_record_seq(rec), rec_str, rec_int};
		char *text = NULL;

		if (t->json && atr_record_to_json(rec, &text) != 0) {
			cli_fail(NULL);
			goto out;
		}
		r = trail_add(t, text, text ? strlen(text) : 0, &f);
		atr_free(text);
		if (r != 0)
			goto out;
	}
	if (r < 0) {
		cli_fail("reading the log");
		goto out;
	}
	rc = CLI_OK;
out:
	atr_cursor_free(cur);
	atr_log_free(log);
	return rc;
}

static int remote_record(void *ctx, const char *text, size_t len, json_t *rec)
{
	struct cli_fields f;

	cli_json_fields(rec, &f);
	return trail_add(ctx, text, len, &f);
}

/* Client mode: every page of the server's event listing filtered by the one id. */
static int trail_remote(struct cli *cli, struct trail *t, const char *param, const char *id)
{
	struct cli_remote *r = NULL;
	struct util_buf q;
	int rc;

	if ((rc = cli_remote_open(cli, &r)) != CLI_OK)
		return rc;
	/* No event has an empty id: the local query finds nothing, the server would list all. */
	if (!*id) {
		cli_remote_free(r);
		return CLI_OK;
	}
	util_buf_init(&q);
	if (cli_remote_param(&q, param, id)) {
		cli_err("out of memory");
		rc = CLI_FAIL;
	} else {
		rc =
		    cli_remote_events(r, q.data, CLI_REMOTE_PAGE, remote_record, t, "query failed");
	}
	util_buf_release(&q);
	cli_remote_free(r);
	return rc;
}

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
	const char *what = NULL, *id = NULL, *param = NULL;
	int c, r, rc = CLI_FAIL, nsel = 0;
	struct trail t;

	memset(&t, 0, sizeof(t));
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_SESSION:
			q.session_id = id = optarg;
			what = "session";
			param = "session_id";
			nsel++;
			break;
		case O_TRACE:
			q.trace_id = id = optarg;
			what = "trace";
			param = "trace_id";
			nsel++;
			break;
		case O_RUN:
			q.run_id = id = optarg;
			what = "run";
			param = "run_id";
			nsel++;
			break;
		case O_JOB:
			q.job_id = id = optarg;
			what = "job";
			param = "job_id";
			nsel++;
			break;
		case O_JSON:
			t.json = 1;
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

	util_map_init(&t.depth);
	r = cli_is_remote(cli) ? trail_remote(cli, &t, param, id) : trail_local(cli, &t, &q);
	if (r != CLI_OK) {
		rc = r;
		goto out;
	}
	if (t.count == 0) {
		cli_err("no events for %s '%s'", what, id);
		goto out;
	}
	if (t.json)
		fputs("\n]\n", stdout);
	rc = CLI_OK;
out:
	util_map_release(&t.depth);
	return rc;
}
