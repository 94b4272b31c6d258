/*
 * agentrail retention, prune and erase: the retention settings (a policy in
 * the log), pruning payloads and records by age, and erasing the payloads of
 * one user or session. Every removal appends an erasure event first; a legal
 * hold refuses them all (docs/retention.md).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include <agentrail/retention.h>

#include "cli/cli.h"

enum {
	O_PAYLOADS = OPT_FIRST_CMD,
	O_RECORDS,
	O_HOLD,
	O_ACTOR,
	O_REASON,
	O_JSON,
	O_DRY_RUN,
	O_NOW,
	O_USER,
	O_SESSION
};

/* Who is acting: --actor, else the login name, else the uid. */
static const char *default_actor(char buf[64])
{
	const char *u = getenv("USER");

	if (u && *u)
		return u;
	snprintf(buf, 64, "uid-%u", (unsigned)getuid());
	return buf;
}

static void print_settings(const atr_retention *r, int json)
{
	if (json) {
		json_t *o = json_pack(
		    "{s:o, s:o, s:b, s:o, s:o}", "payloads",
		    r->payloads[0] ? json_string(r->payloads) : json_null(), "records",
		    r->records[0] ? json_string(r->records) : json_null(), "legal_hold",
		    r->legal_hold, "snapshot", r->set ? json_string(r->snapshot) : json_null(),
		    "seq", r->set ? json_integer((json_int_t)r->seq) : json_null());
		if (o)
			cli_print_json(o);
		json_decref(o);
		return;
	}
	printf("payloads    %s\n", r->payloads[0] ? r->payloads : "kept forever");
	printf("records     %s\n", r->records[0] ? r->records : "kept forever");
	printf("legal hold  %s\n", r->legal_hold ? "on: nothing is pruned or erased" : "off");
	if (r->set)
		printf("policy      %s %s (record %llu)\n", ATR_RETENTION_POLICY, r->snapshot,
		       (unsigned long long)r->seq);
	else
		printf("policy      %s never set\n", ATR_RETENTION_POLICY);
}

int cmd_retention(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"payloads", required_argument, NULL, O_PAYLOADS},
	    {"records", required_argument, NULL, O_RECORDS},
	    {"legal-hold", required_argument, NULL, O_HOLD},
	    {"actor", required_argument, NULL, O_ACTOR},
	    {"reason", required_argument, NULL, O_REASON},
	    {"json", no_argument, NULL, O_JSON},
	    {"store", required_argument, NULL, OPT_STORE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *payloads = NULL, *records = NULL, *actor = NULL, *reason = NULL, *verb;
	char actor_buf[64];
	int c, r, hold = -1, json = 0, changed = 0, rc;
	atr_retention set;
	atr_log *log = NULL;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_PAYLOADS:
			payloads = optarg;
			break;
		case O_RECORDS:
			records = optarg;
			break;
		case O_HOLD:
			if (!strcmp(optarg, "on"))
				hold = 1;
			else if (!strcmp(optarg, "off"))
				hold = 0;
			else
				return cli_usage(cli, "--legal-hold takes 'on' or 'off', not '%s'",
				                 optarg);
			break;
		case O_ACTOR:
			actor = optarg;
			break;
		case O_REASON:
			reason = optarg;
			break;
		case O_JSON:
			json = 1;
			break;
		default:
			if ((r = cli_common_opt(cli, c, argv)) >= 0)
				return r;
		}
	}
	if (optind >= argc)
		return cli_usage(cli, "missing 'set' or 'show'");
	verb = argv[optind++];
	if (optind < argc)
		return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	if (cli_is_remote(cli))
		return cli_remote_unsupported(cli, "run it where the store is");
	if (!strcmp(verb, "show")) {
		if (payloads || records || hold >= 0 || actor || reason)
			return cli_usage(cli, "'show' takes only --json");
		if (cli_open(cli, ATR_OPEN_READONLY, &log) != CLI_OK)
			return CLI_FAIL;
		rc = atr_retention_get(log, &set);
		atr_log_free(log);
		if (rc != 0)
			return cli_fail("cannot read the retention settings");
		print_settings(&set, json);
		return cli_finish_stdout(CLI_OK);
	}
	if (strcmp(verb, "set") != 0)
		return cli_usage(cli, "unknown subcommand '%s' (set or show)", verb);
	if (!payloads && !records && hold < 0)
		return cli_usage(cli,
		                 "'set' needs at least one of --payloads, --records, --legal-hold");
	if (!actor)
		actor = default_actor(actor_buf);
	if (cli_open(cli, 0, &log) != CLI_OK)
		return CLI_FAIL;
	rc = atr_retention_set(log, payloads, records, hold, actor, reason, &set, &changed);
	atr_log_free(log);
	if (rc != 0)
		return cli_fail("cannot set the retention settings");
	if (!json)
		printf("%s\n", changed ? "retention settings published"
		                       : "retention settings unchanged: nothing appended");
	print_settings(&set, json);
	return cli_finish_stdout(CLI_OK);
}

/* The summary line of a prune or an erase. */
static void print_result(const atr_erasure_result *res, int dry_run, int records, int json)
{
	if (json) {
		char first[24] = "null";

		if (res->events)
			snprintf(first, sizeof(first), "%llu",
			         (unsigned long long)res->first_event);
		printf("{\"dry_run\":%s,\"payloads\":%llu,\"ranges\":%llu,\"records\":%llu,"
		       "\"below\":%llu,\"events\":%llu,\"first_event\":%s,\"resumed\":%llu,"
		       "\"carried\":%llu}\n",
		       dry_run ? "true" : "false", (unsigned long long)res->payloads,
		       (unsigned long long)res->ranges, (unsigned long long)res->records,
		       (unsigned long long)res->below, (unsigned long long)res->events, first,
		       (unsigned long long)res->resumed, (unsigned long long)res->carried);
		return;
	}
	if (res->resumed)
		printf("finished an interrupted run: %llu payloads and records removed\n",
		       (unsigned long long)res->resumed);
	if (dry_run) {
		printf("dry run: would delete %llu payloads (%llu ranges)",
		       (unsigned long long)res->payloads, (unsigned long long)res->ranges);
		if (records)
			printf(" and %llu records (pruned below %llu)",
			       (unsigned long long)res->records, (unsigned long long)res->below);
		printf("; nothing deleted, nothing appended\n");
	} else if (res->events == 0) {
		printf("nothing to remove: nothing appended\n");
	} else {
		printf("deleted %llu payloads (%llu ranges)", (unsigned long long)res->payloads,
		       (unsigned long long)res->ranges);
		if (records)
			printf(" and %llu records (records below %llu are pruned)",
			       (unsigned long long)res->records, (unsigned long long)res->below);
		printf("; erasure event%s at seq %llu%s\n", res->events == 1 ? "" : "s",
		       (unsigned long long)res->first_event, res->events == 1 ? "" : " on");
	}
	if (res->carried)
		printf("%s %llu polic%s in force, so pruning keeps %s\n",
		       dry_run ? "would publish again" : "published again",
		       (unsigned long long)res->carried, res->carried == 1 ? "y" : "ies",
		       res->carried == 1 ? "it" : "them");
	if (records && res->limit && *res->limit)
		printf("records pruning stops at %llu: %s\n", (unsigned long long)res->below,
		       res->limit);
}

/* prune and erase share their options. */
static int removal(struct cli *cli, int argc, char **argv, int erase)
{
	static const struct option longopts[] = {
	    {"records", no_argument, NULL, O_RECORDS},
	    {"dry-run", no_argument, NULL, O_DRY_RUN},
	    {"now", required_argument, NULL, O_NOW},
	    {"user", required_argument, NULL, O_USER},
	    {"session", required_argument, NULL, O_SESSION},
	    {"actor", required_argument, NULL, O_ACTOR},
	    {"reason", required_argument, NULL, O_REASON},
	    {"json", no_argument, NULL, O_JSON},
	    {"store", required_argument, NULL, OPT_STORE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *actor = NULL, *reason = NULL, *user = NULL, *session = NULL;
	char actor_buf[64];
	unsigned flags = 0;
	int64_t now = 0;
	int c, r, json = 0, rc;
	atr_erasure_result res;
	atr_log *log = NULL;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_RECORDS:
		case O_NOW:
			if (erase)
				return cli_usage(cli, "erase takes no '%s'", argv[optind - 1]);
			if (c == O_RECORDS) {
				flags |= ATR_PRUNE_RECORDS;
			} else if (atr_time_parse(optarg, &now) != 0) {
				return cli_usage(cli, "--now: '%s' is not an RFC 3339 time (%s)",
				                 optarg, atr_errmsg());
			}
			break;
		case O_USER:
		case O_SESSION:
			if (!erase)
				return cli_usage(cli, "prune takes no '%s'", argv[optind - 1]);
			if (c == O_USER)
				user = optarg;
			else
				session = optarg;
			break;
		case O_DRY_RUN:
			flags |= ATR_PRUNE_DRY_RUN;
			break;
		case O_ACTOR:
			actor = optarg;
			break;
		case O_REASON:
			reason = optarg;
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
	if (erase && !user == !session)
		return cli_usage(cli, "give exactly one of --user ID and --session ID");
	if (erase && (!reason || !*reason))
		return cli_usage(cli, "--reason is required: an erasure must say why");
	if (cli_is_remote(cli))
		return cli_remote_unsupported(cli, "run it where the store is");
	if (!actor)
		actor = default_actor(actor_buf);
	if (cli_open(cli, (flags & ATR_PRUNE_DRY_RUN) ? ATR_OPEN_READONLY : 0, &log) != CLI_OK)
		return CLI_FAIL;
	if (erase)
		rc = atr_log_erase(log, user, session, flags, actor, reason, &res);
	else
		rc = atr_log_prune(log, flags, now, actor, reason, &res);
	atr_log_free(log);
	if (rc != 0)
		return cli_fail(erase ? "cannot erase" : "cannot prune");
	print_result(&res, (flags & ATR_PRUNE_DRY_RUN) != 0, (flags & ATR_PRUNE_RECORDS) != 0,
	             json);
	return cli_finish_stdout(CLI_OK);
}

int cmd_prune(struct cli *cli, int argc, char **argv)
{
	return removal(cli, argc, argv, 0);
}

int cmd_erase(struct cli *cli, int argc, char **argv)
{
	return removal(cli, argc, argv, 1);
}
