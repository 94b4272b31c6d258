/*
 * agentrail approvals: list the approval queue (a local store through the
 * library's jobs.h, or a server), and resolve a request through a server,
 * POST /api/v1/approvals/{id}/resolve: the resolver is the server's view of
 * $AGENTRAIL_TOKEN, so resolving needs a server.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <agentrail/jobs.h>

#include "cli/cli.h"
#include "cli/remote.h"

enum { O_ALL = OPT_FIRST_CMD, O_JSON, O_APPROVE, O_REJECT, O_COMMENT, O_JOB_HASH };

/* Print the queue: the JSON array, or one line per request. */
static int print_list(json_t *list, int json)
{
	size_t i;
	json_t *a;

	if (json)
		return cli_print_json(list);
	json_array_foreach(list, i, a)
	{
		const char *res = cli_str_or(a, "resolution", "pending");

		printf("%s  job %s  %s", cli_str_or(a, "approval_id", "-"),
		       cli_str_or(a, "job_id", "-"), res);
		if (strcmp(res, "pending") != 0)
			printf(" by %s", cli_str_or(a, "resolved_by", "?"));
		printf("  requested by %s  job_hash %s  %s\n", cli_str_or(a, "requested_by", "-"),
		       cli_str_or(a, "job_hash", "-"), cli_str_or(a, "reason", ""));
	}
	return CLI_OK;
}

static int list_local(struct cli *cli, int all, json_t **out)
{
	atr_log *log = NULL;
	char *text = NULL;
	int rc;

	if (cli_open(cli, ATR_OPEN_READONLY, &log) != CLI_OK)
		return CLI_FAIL;
	rc = atr_approvals_json(log, all, &text);
	atr_log_free(log);
	if (rc != 0)
		return cli_fail("cannot read the approval queue");
	*out = json_loads(text, 0, NULL);
	atr_free(text);
	return *out ? CLI_OK : cli_fail("out of memory");
}

/* GET /api/v1/approvals page by page into one array. */
static int list_remote(struct cli *cli, int all, json_t **out)
{
	struct cli_remote *r = NULL;
	struct util_buf path;
	char cursor[64] = "";
	json_t *list = json_array();
	int rc;

	if (!list)
		return cli_fail("out of memory");
	if ((rc = cli_remote_open(cli, &r)) != CLI_OK) {
		json_decref(list);
		return rc;
	}
	util_buf_init(&path);
	for (;;) {
		struct cli_answer ans;
		json_t *page, *next;

		path.len = 0;
		if (util_buf_adds(&path, all ? "/api/v1/approvals?include_resolved=true"
		                             : "/api/v1/approvals?include_resolved=false") ||
		    cli_remote_param(&path, "limit", "500") ||
		    (cursor[0] && cli_remote_param(&path, "cursor", cursor)) ||
		    util_buf_add(&path, "", 1)) {
			rc = cli_fail("out of memory");
			break;
		}
		if ((rc = cli_remote_get(r, path.data, &ans, "cannot list approvals")) != CLI_OK)
			break;
		page = json_object_get(ans.json, "approvals");
		next = json_object_get(ans.json, "next_cursor");
		if (!json_is_array(page) || json_array_extend(list, page) != 0) {
			cli_err("the answer of %s to GET /api/v1/approvals has no approvals",
			        cli_remote_base(r));
			cli_answer_release(&ans);
			rc = CLI_FAIL;
			break;
		}
		cursor[0] = '\0';
		if (json_is_string(next))
			snprintf(cursor, sizeof(cursor), "%s", json_string_value(next));
		cli_answer_release(&ans);
		if (!cursor[0])
			break;
	}
	util_buf_release(&path);
	cli_remote_free(r);
	if (rc != CLI_OK) {
		json_decref(list);
		return rc;
	}
	*out = list;
	return CLI_OK;
}

static int resolve_remote(struct cli *cli, const char *id, const char *resolution,
                          const char *comment, const char *job_hash)
{
	struct cli_remote *r = NULL;
	struct cli_answer ans;
	struct util_buf path;
	json_t *body;
	char *text;
	int rc;

	body = json_pack("{s:s, s:s}", "resolution", resolution, "job_hash", job_hash);
	if (body && comment && json_object_set_new(body, "comment", json_string(comment)) != 0) {
		json_decref(body);
		body = NULL;
	}
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text)
		return cli_fail("out of memory");
	if ((rc = cli_remote_open(cli, &r)) != CLI_OK) {
		free(text);
		return rc;
	}
	util_buf_init(&path);
	rc = CLI_FAIL;
	if (util_buf_adds(&path, "/api/v1/approvals") || cli_remote_segment(&path, id) ||
	    util_buf_adds(&path, "/resolve") || util_buf_add(&path, "", 1)) {
		cli_fail("out of memory");
		goto out;
	}
	if (cli_remote_request(r, "POST", path.data, "application/json", text, strlen(text),
	                       &ans) != 0)
		goto out;
	if (ans.status != 201) {
		cli_remote_fail(r, &ans, "cannot resolve");
	} else {
		json_t *seq = json_object_get(ans.json, "seq");

		printf("%s %s (job %s) as %s: seq %lld, event %s\n",
		       cli_str_or(ans.json, "resolution", "?"), id,
		       cli_str_or(ans.json, "job_id", "-"),
		       cli_str_or(ans.json, "resolved_by", "?"), (long long)json_integer_value(seq),
		       cli_str_or(ans.json, "event_id", "?"));
		rc = CLI_OK;
	}
	cli_answer_release(&ans);
out:
	util_buf_release(&path);
	cli_remote_free(r);
	free(text);
	return rc;
}

int cmd_approvals(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"all", no_argument, NULL, O_ALL},
	    {"json", no_argument, NULL, O_JSON},
	    {"approve", no_argument, NULL, O_APPROVE},
	    {"reject", no_argument, NULL, O_REJECT},
	    {"comment", required_argument, NULL, O_COMMENT},
	    {"job-hash", required_argument, NULL, O_JOB_HASH},
	    {"store", required_argument, NULL, OPT_STORE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *resolution = NULL, *comment = NULL, *job_hash = NULL, *verb;
	int all = 0, json = 0, c, r;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_ALL:
			all = 1;
			break;
		case O_JSON:
			json = 1;
			break;
		case O_APPROVE:
		case O_REJECT:
			if (resolution)
				return cli_usage(cli, "give one of '--approve' and '--reject'");
			resolution = c == O_APPROVE ? "approved" : "rejected";
			break;
		case O_COMMENT:
			comment = optarg;
			break;
		case O_JOB_HASH:
			job_hash = optarg;
			break;
		default:
			if ((r = cli_common_opt(cli, c, argv)) >= 0)
				return r;
		}
	}
	if (optind >= argc)
		return cli_usage(cli, "missing what to do: 'list' or 'resolve'");
	verb = argv[optind++];
	if (!strcmp(verb, "list")) {
		json_t *list = NULL;

		if (optind < argc)
			return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
		if (resolution || comment || job_hash)
			return cli_usage(cli, "'approvals list' takes only '--all' and '--json'");
		r = cli_is_remote(cli) ? list_remote(cli, all, &list) : list_local(cli, all, &list);
		if (r != CLI_OK)
			return r;
		r = print_list(list, json);
		json_decref(list);
		return cli_finish_stdout(r);
	}
	if (!strcmp(verb, "resolve")) {
		if (optind + 1 != argc)
			return cli_usage(cli, "'approvals resolve' takes one approval id");
		if (!resolution)
			return cli_usage(cli,
			                 "'approvals resolve' needs '--approve' or '--reject'");
		if (!job_hash)
			return cli_usage(cli, "'approvals resolve' needs '--job-hash'");
		if (all || json)
			return cli_usage(cli, "'--all' and '--json' are for 'approvals list'");
		if (!cli_is_remote(cli))
			return cli_usage(cli,
			                 "resolving needs a server (--store http://HOST:PORT and "
			                 "an approver's token in AGENTRAIL_TOKEN): the resolver "
			                 "is the token's name");
		return cli_finish_stdout(
		    resolve_remote(cli, argv[optind], resolution, comment, job_hash));
	}
	return cli_usage(cli, "unknown approvals action '%s': use list or resolve", verb);
}
