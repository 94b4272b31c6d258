/*
 * agentrail query: every atr_query filter as an option; prints one line per
 * record, JSONL with --json, or just the count. With a server's URL as the
 * store the server's listing does the filtering it can (GET /api/v1/events)
 * and the rest (seq range, --desc, --event-id with other filters) is done
 * here, so the output is the same as a local query's.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/remote.h"

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

/* ------------------------------------------------------ client mode */

/* One remote query: its filter, what it prints, and for --desc the records kept. */
struct rq {
	const atr_query *q;
	int json, count_only;
	uint64_t count; /* records printed (or counted) */
	char last_date[11];
	int full;    /* check every filter here (a record fetched by id) */
	char **kept; /* --desc: the last records seen, a ring of 'limit' when there is one */
	size_t nkept, capkept, head;
};

/* Does 'rec' pass the filters the server did not apply (all of them when 'full')? */
static int rq_match(const struct rq *rq, json_t *rec)
{
	const atr_query *q = rq->q;
	const char *target = cli_json_str(rec, "target");
	int64_t seq;

	if (cli_json_int(rec, "seq", &seq) != 0 || seq < 0 || (uint64_t)seq < q->seq_from ||
	    (q->seq_to && (uint64_t)seq >= q->seq_to))
		return 0;
	/* The server takes an empty prefix for "any"; locally it still needs a target. */
	if (q->target_prefix && !target)
		return 0;
	if (rq->full) {
		static const char *const names[] = {"type",       "actor",  "level", "trace_id",
		                                    "session_id", "run_id", "job_id"};
		const char *want[] = {q->type,       q->actor,  q->level, q->trace_id,
		                      q->session_id, q->run_id, q->job_id};
		const char *ts = cli_json_str(rec, "ts");
		int64_t us = 0;

		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			const char *v = cli_json_str(rec, names[i]);

			if (want[i] && (!v || strcmp(v, want[i]) != 0))
				return 0;
		}
		if (q->target_prefix && strncmp(target, q->target_prefix, strlen(q->target_prefix)))
			return 0;
		if ((q->since_us || q->until_us) && (!ts || atr_time_parse(ts, &us) != 0))
			return 0;
		if ((q->since_us && us < q->since_us) || (q->until_us && us >= q->until_us))
			return 0;
	}
	return 1;
}

/* Print one record as a local query does. -1 on a bad record. */
static int rq_print(struct rq *rq, const char *text, size_t len, json_t *rec)
{
	struct cli_fields f;

	rq->count++;
	if (rq->count_only)
		return 0;
	if (rq->json) {
		fwrite(text, 1, len, stdout);
		putchar('\n');
		return 0;
	}
	cli_json_fields(rec, &f);
	cli_print_fields(stdout, &f, 0, rq->last_date);
	return 0;
}

/* Keep a copy of a record for --desc: at most 'limit' of the newest when there is a limit. */
static int rq_keep(struct rq *rq, const char *text, size_t len)
{
	uint64_t limit = rq->q->limit;
	char *copy = strndup(text, len);

	if (!copy) {
		cli_err("out of memory");
		return -1;
	}
	if (limit && rq->nkept == limit) {
		free(rq->kept[rq->head]);
		rq->kept[rq->head] = copy;
		rq->head = (rq->head + 1) % rq->nkept;
		return 0;
	}
	if (rq->nkept == rq->capkept) {
		size_t cap = rq->capkept ? 2 * rq->capkept : 256;
		char **v = realloc(rq->kept, cap * sizeof(*v));

		if (!v) {
			free(copy);
			cli_err("out of memory");
			return -1;
		}
		rq->kept = v;
		rq->capkept = cap;
	}
	rq->kept[rq->nkept++] = copy;
	return 0;
}

/* One record of the answer: 0 go on, 1 enough, -1 failed. */
static int rq_record(void *ctx, const char *text, size_t len, json_t *rec)
{
	struct rq *rq = ctx;
	const atr_query *q = rq->q;
	int64_t seq = 0;

	/* The listing is in seq order: past --to-seq nothing more can match. */
	if (q->seq_to && cli_json_int(rec, "seq", &seq) == 0 && seq >= 0 &&
	    (uint64_t)seq >= q->seq_to)
		return 1;
	if (!rq_match(rq, rec))
		return 0;
	if (q->descending && !rq->count_only)
		return rq_keep(rq, text, len);
	if (rq_print(rq, text, len, rec) != 0)
		return -1;
	return q->limit && rq->count == q->limit ? 1 : 0;
}

/* --desc: print what was kept, newest first. */
static int rq_print_kept(struct rq *rq)
{
	for (size_t i = 0; i < rq->nkept; i++) {
		const char *text = rq->kept[(rq->head + rq->nkept - 1 - i) % rq->nkept];
		json_t *rec = json_loads(text, 0, NULL);
		int rc = rec ? rq_print(rq, text, strlen(text), rec) : -1;

		json_decref(rec);
		if (rc != 0) {
			cli_err("out of memory");
			return CLI_FAIL;
		}
	}
	return CLI_OK;
}

/* A record by id: GET /api/v1/events/{id}, then every other filter checked here. */
static int rq_by_id(struct cli_remote *r, struct rq *rq)
{
	struct util_buf path;
	struct cli_answer ans;
	int rc = CLI_FAIL;

	util_buf_init(&path);
	if (util_buf_adds(&path, "/api/v1/events") || cli_remote_segment(&path, rq->q->event_id)) {
		cli_err("out of memory");
		goto out;
	}
	if (cli_remote_request(r, "GET", path.data, NULL, NULL, 0, &ans) != 0)
		goto out;
	if (ans.status == 404 && strcmp(cli_answer_code(&ans), "not_found") == 0) {
		rc = CLI_OK;
	} else if (ans.status != 200) {
		cli_remote_fail(r, &ans, "query failed");
	} else if (!json_is_object(ans.json)) {
		cli_err("the answer of %s to GET /api/v1/events/{event_id} is not a JSON object",
		        cli_remote_base(r));
	} else {
		size_t len = ans.body.len;

		/* The answer is the record's JSON and a newline, which is not part of it. */
		while (len > 0 &&
		       (ans.body.data[len - 1] == '\n' || ans.body.data[len - 1] == '\r'))
			len--;
		rq->full = 1;
		rc = rq_record(rq, ans.body.data, len, ans.json) < 0 ? CLI_FAIL : CLI_OK;
	}
	cli_answer_release(&ans);
out:
	util_buf_release(&path);
	return rc;
}

static int query_remote(struct cli *cli, const atr_query *q, int json, int count_only,
                        const char *since, const char *until)
{
	/* The listing's parameters; the first NEXACT are exact matches. */
	enum { NEXACT = 7 };
	static const char *const names[] = {"type",       "actor",  "level",  "trace_id",
	                                    "session_id", "run_id", "job_id", "target_prefix",
	                                    "since",      "until"};
	const char *vals[] = {q->type,   q->actor,  q->level,         q->trace_id, q->session_id,
	                      q->run_id, q->job_id, q->target_prefix, since,       until};
	struct cli_remote *r = NULL;
	struct util_buf params;
	struct rq rq;
	unsigned page = CLI_REMOTE_PAGE;
	int rc;

	memset(&rq, 0, sizeof(rq));
	rq.q = q;
	rq.json = json;
	rq.count_only = count_only;
	util_buf_init(&params);
	if ((rc = cli_remote_open(cli, &r)) != CLI_OK)
		return rc;
	rc = CLI_FAIL;
	if (q->event_id && !*q->event_id) {
		cli_err("query failed: '' is not a UUID");
		goto out;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		/* Exact filters: no event has an empty value, so nothing matches. */
		if (vals[i] && !*vals[i] && i < NEXACT) {
			rc = CLI_OK;
			goto done;
		}
		if (vals[i] && *vals[i] && cli_remote_param(&params, names[i], vals[i])) {
			cli_err("out of memory");
			goto out;
		}
	}
	if (q->event_id) {
		rc = rq_by_id(r, &rq);
	} else {
		/* Ask for no more than a plain query needs. */
		if (q->limit && q->limit < page && !q->descending && !q->seq_from &&
		    !(q->target_prefix && !*q->target_prefix))
			page = (unsigned)q->limit;
		rc = cli_remote_events(r, params.data ? params.data : "", page, rq_record, &rq,
		                       "query failed");
	}
	if (rc == CLI_OK && q->descending)
		rc = rq_print_kept(&rq);
done:
	if (rc == CLI_OK && count_only)
		printf("%llu\n", (unsigned long long)rq.count);
out:
	for (size_t i = 0; i < rq.nkept; i++)
		free(rq.kept[i]);
	free(rq.kept);
	util_buf_release(&params);
	cli_remote_free(r);
	return rc;
}

/* ------------------------------------------------------------ query */

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
	const char *since = NULL, *until = NULL;
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
			since = optarg;
			break;
		case O_UNTIL:
			r = opt_time(cli, "--until", optarg, &q.until_us);
			until = optarg;
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
	if (cli_is_remote(cli))
		return query_remote(cli, &q, json, count_only, since, until);

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
