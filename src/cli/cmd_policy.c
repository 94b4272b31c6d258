/*
 * agentrail policy: publish a policy document, roll a policy back, show a
 * policy or a snapshot's text, list the policies. Each works on a local
 * store through the library's policy.h, or on a server (client mode, with
 * $AGENTRAIL_TOKEN: publishing and rolling back need an admin's token, and
 * the actor is then the token's name).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include <agentrail/policy.h>

#include "cli/cli.h"
#include "cli/remote.h"

enum { O_JSON_DOC = OPT_FIRST_CMD, O_REASON, O_ACTOR, O_TO, O_JSON, O_TEXT };

/* The largest document file read; the log's own limit (1 MiB a record) is reported precisely. */
#define MAX_DOCUMENT ((size_t)16 << 20)

struct opts {
	int json_doc, json, text;
	const char *reason, *actor, *to;
};

static long long num(json_t *o, const char *name)
{
	return (long long)json_integer_value(json_object_get(o, name));
}

/* Who is acting locally: --actor, else the login name, else the uid. */
static const char *local_actor(const struct opts *o, char buf[64])
{
	const char *u = getenv("USER");

	if (o->actor)
		return o->actor;
	if (u && *u)
		return u;
	snprintf(buf, 64, "uid-%u", (unsigned)getuid());
	return buf;
}

/* Print the JSON text 'text' (released) parsed into '*out'; CLI_OK or CLI_FAIL. */
static int parse_answer(char *text, json_t **out)
{
	*out = text ? json_loads(text, 0, NULL) : NULL;
	atr_free(text);
	return *out ? CLI_OK : cli_fail("out of memory");
}

static int print_json(json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);

	if (!text)
		return cli_fail("out of memory");
	printf("%s\n", text);
	free(text);
	return CLI_OK;
}

/* ------------------------------------------------------- publish, rollback */

static int print_change(json_t *a, int rollback, int json)
{
	if (json)
		return print_json(a);
	if (json_is_true(json_object_get(a, "unchanged")))
		printf("policy %s unchanged: %s is in force since seq %lld (event %s)\n",
		       cli_str_or(a, "name", "?"), cli_str_or(a, "snapshot", "?"), num(a, "seq"),
		       cli_str_or(a, "event_id", "?"));
	else if (rollback)
		printf("rolled back policy %s from %s to %s: seq %lld, event %s\n",
		       cli_str_or(a, "name", "?"), cli_str_or(a, "from", "?"),
		       cli_str_or(a, "snapshot", "?"), num(a, "seq"),
		       cli_str_or(a, "event_id", "?"));
	else
		printf("published policy %s: %s, seq %lld, event %s\n", cli_str_or(a, "name", "?"),
		       cli_str_or(a, "snapshot", "?"), num(a, "seq"),
		       cli_str_or(a, "event_id", "?"));
	return CLI_OK;
}

static int change_local(struct cli *cli, int rollback, const char *name, const char *doc,
                        const struct opts *o)
{
	atr_log *log = NULL;
	char *text = NULL, buf[64];
	json_t *a;
	int rc;

	if (cli_open(cli, 0, &log) != CLI_OK)
		return CLI_FAIL;
	rc = rollback ? atr_policy_rollback(log, name, o->to, local_actor(o, buf), o->reason, &text)
	              : atr_policy_publish(log, name, doc, o->json_doc ? ATR_POLICY_JSON : 0,
	                                   local_actor(o, buf), o->reason, &text);
	atr_log_free(log);
	if (rc != 0)
		return cli_fail(rollback ? "cannot roll back" : "cannot publish");
	if ((rc = parse_answer(text, &a)) != CLI_OK)
		return rc;
	rc = print_change(a, rollback, o->json);
	json_decref(a);
	return rc;
}

/* The request body of a change; NULL after saying why. */
static char *change_body(const char *name, const char *doc, const struct opts *o, int rollback)
{
	json_t *b = json_object(), *d = NULL;
	char *text = NULL;
	json_error_t jerr;

	if (!b)
		goto oom;
	if (!rollback) {
		if (o->json_doc) {
			if (!(d = json_loads(doc, JSON_REJECT_DUPLICATES, &jerr))) {
				cli_err("the document is not valid JSON (an object or an array): "
				        "%s at line %d "
				        "column %d",
				        jerr.text, jerr.line, jerr.column);
				json_decref(b);
				return NULL;
			}
		} else if (!(d = json_string(doc))) {
			cli_err("the document is not valid UTF-8");
			json_decref(b);
			return NULL;
		}
		if (json_object_set_new(b, "name", json_string(name)) ||
		    json_object_set_new(b, "document", d))
			goto oom;
	} else if (o->to && json_object_set_new(b, "snapshot", json_string(o->to))) {
		goto oom;
	}
	if (o->reason && json_object_set_new(b, "reason", json_string(o->reason)))
		goto oom;
	if ((text = json_dumps(b, JSON_COMPACT)))
		goto out;
oom:
	cli_err("out of memory");
out:
	json_decref(b);
	return text;
}

static int change_remote(struct cli *cli, int rollback, const char *name, const char *doc,
                         const struct opts *o)
{
	struct cli_remote *r = NULL;
	struct cli_answer ans;
	struct util_buf path;
	char *body;
	int rc;

	if (!(body = change_body(name, doc, o, rollback)))
		return CLI_FAIL;
	if ((rc = cli_remote_open(cli, &r)) != CLI_OK) {
		free(body);
		return rc;
	}
	util_buf_init(&path);
	rc = CLI_FAIL;
	if (util_buf_adds(&path, "/api/v1/policies") ||
	    (rollback && (cli_remote_segment(&path, name) || util_buf_adds(&path, "/rollback"))) ||
	    util_buf_add(&path, "", 1)) {
		cli_fail("out of memory");
		goto out;
	}
	if (cli_remote_request(r, "POST", path.data, "application/json", body, strlen(body),
	                       &ans) != 0)
		goto out;
	if (ans.status != 201 && ans.status != 200)
		cli_remote_fail(r, &ans, rollback ? "cannot roll back" : "cannot publish");
	else if (!json_is_object(ans.json))
		cli_err("the answer of %s is not a JSON object", cli_remote_base(r));
	else
		rc = print_change(ans.json, rollback, o->json);
	cli_answer_release(&ans);
out:
	util_buf_release(&path);
	cli_remote_free(r);
	free(body);
	return rc;
}

/* ------------------------------------------------------- show, list */

static int is_snapshot(const char *arg)
{
	return strncmp(arg, "sha256:", 7) == 0;
}

static int print_policy(json_t *p, const struct opts *o)
{
	json_t *h, *e;
	size_t i;

	if (o->json)
		return print_json(p);
	if (o->text) {
		const char *t = cli_str_or(p, "text", NULL);

		if (!t) {
			cli_err("the text of %s was erased",
			        cli_str_or(p, "snapshot", "the snapshot"));
			return CLI_FAIL;
		}
		fputs(t, stdout);
		return CLI_OK;
	}
	if ((h = json_object_get(p, "published"))) {
		printf("snapshot %s  %s\n", cli_str_or(p, "snapshot", "?"),
		       cli_str_or(p, "media_type", "?"));
		json_array_foreach(h, i, e)
		    printf("published as %s at seq %lld (event %s)\n", cli_str_or(e, "name", "?"),
		           num(e, "seq"), cli_str_or(e, "event_id", "?"));
	} else {
		printf("policy %s  %s  in force since seq %lld  %s  %lld version(s)\n",
		       cli_str_or(p, "name", "?"), cli_str_or(p, "snapshot", "?"), num(p, "seq"),
		       cli_str_or(p, "media_type", "-"), num(p, "versions"));
		json_array_foreach(json_object_get(p, "history"), i, e)
		{
			printf("  seq %-6lld %-15s %s  by %s  %s  %s\n", num(e, "seq"),
			       cli_str_or(e, "type", "?"), cli_str_or(e, "snapshot", "?"),
			       cli_str_or(e, "actor", "?"), cli_str_or(e, "timestamp", "?"),
			       cli_str_or(e, "reason", ""));
		}
	}
	printf("\n");
	if (cli_str_or(p, "text", NULL)) {
		const char *t = cli_str_or(p, "text", "");

		fputs(t, stdout);
		if (*t && t[strlen(t) - 1] != '\n')
			printf("\n");
	} else {
		printf("(the text was erased)\n");
	}
	return CLI_OK;
}

static int show_local(struct cli *cli, const char *arg, json_t **out)
{
	atr_log *log = NULL;
	char *text = NULL;
	uint64_t next;
	int rc;

	if (cli_open(cli, ATR_OPEN_READONLY, &log) != CLI_OK)
		return CLI_FAIL;
	rc = is_snapshot(arg) ? atr_policy_snapshot_json(log, arg, &text)
	                      : atr_policy_get(log, arg, 0, 0, &text, &next);
	atr_log_free(log);
	if (rc != 0)
		return cli_fail(NULL);
	return parse_answer(text, out);
}

/* GET the policy (every page of its history into one) or the snapshot. */
static int show_remote(struct cli *cli, const char *arg, json_t **out)
{
	struct cli_remote *r = NULL;
	struct util_buf path;
	char cursor[64] = "";
	json_t *all = NULL;
	int rc;

	if ((rc = cli_remote_open(cli, &r)) != CLI_OK)
		return rc;
	util_buf_init(&path);
	for (;;) {
		struct cli_answer ans;
		json_t *next;

		path.len = 0;
		if (util_buf_adds(&path, is_snapshot(arg) ? "/api/v1/policies/snapshots"
		                                          : "/api/v1/policies") ||
		    cli_remote_segment(&path, arg) ||
		    (!is_snapshot(arg) &&
		     (util_buf_adds(&path, "?limit=1000") ||
		      (cursor[0] && cli_remote_param(&path, "cursor", cursor)))) ||
		    util_buf_add(&path, "", 1)) {
			rc = cli_fail("out of memory");
			break;
		}
		if ((rc = cli_remote_get(r, path.data, &ans, NULL)) != CLI_OK)
			break;
		next = json_object_get(ans.json, "next_cursor");
		cursor[0] = '\0';
		if (json_is_string(next))
			snprintf(cursor, sizeof(cursor), "%s", json_string_value(next));
		if (!all) {
			all = json_incref(ans.json);
		} else if (json_array_extend(json_object_get(all, "history"),
		                             json_object_get(ans.json, "history")) != 0) {
			cli_answer_release(&ans);
			rc = cli_fail("out of memory");
			break;
		}
		cli_answer_release(&ans);
		if (!cursor[0])
			break;
	}
	util_buf_release(&path);
	cli_remote_free(r);
	if (rc != CLI_OK) {
		json_decref(all);
		return rc;
	}
	json_object_del(all, "next_cursor");
	*out = all;
	return CLI_OK;
}

static int list(struct cli *cli, const struct opts *o)
{
	json_t *l = NULL, *p;
	size_t i;
	int rc;

	if (cli_is_remote(cli)) {
		struct cli_remote *r = NULL;
		struct cli_answer ans;

		if ((rc = cli_remote_open(cli, &r)) != CLI_OK)
			return rc;
		rc = cli_remote_get(r, "/api/v1/policies", &ans, "cannot list policies");
		if (rc == CLI_OK) {
			l = json_incref(json_object_get(ans.json, "policies"));
			cli_answer_release(&ans);
		}
		cli_remote_free(r);
		if (rc != CLI_OK)
			return rc;
		if (!json_is_array(l)) {
			json_decref(l);
			cli_err("the answer to GET /api/v1/policies has no policies");
			return CLI_FAIL;
		}
	} else {
		atr_log *log = NULL;
		char *text = NULL;

		if (cli_open(cli, ATR_OPEN_READONLY, &log) != CLI_OK)
			return CLI_FAIL;
		rc = atr_policy_list_json(log, &text);
		atr_log_free(log);
		if (rc != 0)
			return cli_fail("cannot list policies");
		if ((rc = parse_answer(text, &l)) != CLI_OK)
			return rc;
	}
	if (o->json) {
		rc = print_json(l);
	} else {
		json_array_foreach(l, i, p)
		{
			printf("%s  %s  seq %lld  %lld version(s)  updated %s\n",
			       cli_str_or(p, "name", "?"), cli_str_or(p, "snapshot", "?"),
			       num(p, "seq"), num(p, "versions"), cli_str_or(p, "updated_at", "?"));
		}
		rc = CLI_OK;
	}
	json_decref(l);
	return rc;
}

/* ------------------------------------------------------- the command */

int cmd_policy(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"json-document", no_argument, NULL, O_JSON_DOC},
	    {"reason", required_argument, NULL, O_REASON},
	    {"actor", required_argument, NULL, O_ACTOR},
	    {"to", required_argument, NULL, O_TO},
	    {"json", no_argument, NULL, O_JSON},
	    {"text", no_argument, NULL, O_TEXT},
	    {"store", required_argument, NULL, OPT_STORE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct opts o = {0};
	const char *verb;
	int c, r, nargs;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_JSON_DOC:
			o.json_doc = 1;
			break;
		case O_REASON:
			o.reason = optarg;
			break;
		case O_ACTOR:
			o.actor = optarg;
			break;
		case O_TO:
			o.to = optarg;
			break;
		case O_JSON:
			o.json = 1;
			break;
		case O_TEXT:
			o.text = 1;
			break;
		default:
			if ((r = cli_common_opt(cli, c, argv)) >= 0)
				return r;
		}
	}
	if (optind >= argc)
		return cli_usage(cli, "missing what to do: publish, rollback, show or list");
	verb = argv[optind++];
	nargs = argc - optind;
	if (!strcmp(verb, "publish") || !strcmp(verb, "rollback")) {
		int rollback = verb[0] == 'r';
		char *doc = NULL;

		if (nargs != (rollback ? 1 : 2))
			return cli_usage(cli, rollback
			                          ? "'policy rollback' takes a policy name"
			                          : "'policy publish' takes a policy name and a "
			                            "file ('-': standard input)");
		if (o.json || o.text)
			return cli_usage(cli, "'--json' is for show and list, '--text' for show");
		if (rollback && o.json_doc)
			return cli_usage(cli, "'--json-document' is for 'policy publish'");
		if (!rollback && o.to)
			return cli_usage(cli, "'--to' is for 'policy rollback'");
		if (o.actor && cli_is_remote(cli))
			return cli_usage(cli, "on a server the actor is the token's name: drop "
			                      "'--actor'");
		if (atr_policy_name_check(argv[optind]) != 0)
			return cli_usage(cli, "%s", atr_errmsg());
		if (!rollback &&
		    cli_read_file(argv[optind + 1], MAX_DOCUMENT, &doc, NULL) != CLI_OK)
			return CLI_FAIL;
		r = cli_is_remote(cli) ? change_remote(cli, rollback, argv[optind], doc, &o)
		                       : change_local(cli, rollback, argv[optind], doc, &o);
		free(doc);
		return cli_finish_stdout(r);
	}
	if (o.json_doc || o.reason || o.actor || o.to)
		return cli_usage(cli, "'--json-document', '--reason', '--actor' and '--to' are for "
		                      "publish and rollback");
	if (!strcmp(verb, "show")) {
		json_t *p = NULL;

		if (nargs != 1)
			return cli_usage(cli, "'policy show' takes a policy name or a snapshot");
		if (o.json && o.text)
			return cli_usage(cli, "give one of '--json' and '--text'");
		r = cli_is_remote(cli) ? show_remote(cli, argv[optind], &p)
		                       : show_local(cli, argv[optind], &p);
		if (r != CLI_OK)
			return r;
		r = print_policy(p, &o);
		json_decref(p);
		return cli_finish_stdout(r);
	}
	if (!strcmp(verb, "list")) {
		if (nargs != 0)
			return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
		if (o.text)
			return cli_usage(cli, "'--text' is for 'policy show'");
		return cli_finish_stdout(list(cli, &o));
	}
	return cli_usage(cli, "unknown policy action '%s': use publish, rollback, show or list",
	                 verb);
}
