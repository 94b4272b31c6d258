/*
 * agentrail token: create, list and revoke bearer tokens. Each change is a
 * token_change event in the log; a new token is printed once, alone on the
 * last line of stdout, and only its hash is kept.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

enum { O_ROLE = OPT_FIRST_CMD, O_NAME, O_ACTOR, O_REASON, O_JSON };

/* Who is acting: --actor, else the login name, else the uid. */
static const char *default_actor(char buf[64])
{
	const char *u = getenv("USER");

	if (u && *u)
		return u;
	snprintf(buf, 64, "uid-%u", (unsigned)getuid());
	return buf;
}

static void print_info(const atr_token_info *t, int json)
{
	if (json) {
		printf("{\"id\":\"%s\",\"role\":\"%s\",\"name\":\"", t->id, atr_role_name(t->role));
		for (const char *p = t->name; *p; p++)
			printf(*p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
		printf("\",\"created_seq\":%llu,\"revoked\":%s}\n",
		       (unsigned long long)t->created_seq, t->revoked ? "true" : "false");
		return;
	}
	printf("%-16s  %-8s  %-7s  seq %-8llu  %s\n", t->id, atr_role_name(t->role),
	       t->revoked ? "revoked" : "live", (unsigned long long)t->created_seq, t->name);
}

int cmd_token(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"role", required_argument, NULL, O_ROLE},
	    {"name", required_argument, NULL, O_NAME},
	    {"actor", required_argument, NULL, O_ACTOR},
	    {"reason", required_argument, NULL, O_REASON},
	    {"json", no_argument, NULL, O_JSON},
	    {"store", required_argument, NULL, OPT_STORE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *role_name = NULL, *name = NULL, *actor = NULL, *reason = NULL, *verb;
	char actor_buf[64];
	int json = 0, c, r, rc = CLI_FAIL;
	atr_log *log = NULL;
	atr_role role;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_ROLE:
			role_name = optarg;
			break;
		case O_NAME:
			name = optarg;
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
		return cli_usage(cli, "missing what to do: 'create', 'list' or 'revoke'");
	if (cli_is_remote(cli))
		return cli_remote_unsupported(cli,
		                              "tokens are managed on the store the server runs on");
	verb = argv[optind++];
	if (!actor)
		actor = default_actor(actor_buf);

	if (!strcmp(verb, "create")) {
		char *token = NULL;
		atr_token_info info;

		if (optind < argc)
			return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
		if (!role_name)
			return cli_usage(cli, "'token create' needs '--role'");
		if (atr_role_parse(role_name, &role) != 0)
			return cli_usage(cli, "%s", atr_errmsg());
		if (cli_open(cli, 0, &log) != CLI_OK)
			return CLI_FAIL;
		if (atr_token_create(log, role, name, actor, &token, &info) != 0) {
			cli_fail("cannot create the token");
			goto out;
		}
		/* The secret goes last and alone, so scripts can take it with tail -n 1. */
		printf("created %s token %s%s%s%s; it is shown only now:\n%s\n", role_name, info.id,
		       name ? " '" : "", name ? name : "", name ? "'" : "", token);
		atr_free(token);
		rc = CLI_OK;
	} else if (!strcmp(verb, "list")) {
		atr_token_info *list;
		size_t n;

		if (optind < argc)
			return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
		if (cli_open(cli, ATR_OPEN_READONLY, &log) != CLI_OK)
			return CLI_FAIL;
		if (atr_token_list(log, &list, &n) != 0) {
			cli_fail("cannot list tokens");
			goto out;
		}
		for (size_t i = 0; i < n; i++)
			print_info(&list[i], json);
		atr_free(list);
		rc = CLI_OK;
	} else if (!strcmp(verb, "revoke")) {
		if (optind + 1 != argc)
			return cli_usage(cli, "'token revoke' takes one token id");
		if (cli_open(cli, 0, &log) != CLI_OK)
			return CLI_FAIL;
		if (atr_token_revoke(log, argv[optind], actor, reason) != 0) {
			cli_fail("cannot revoke");
			goto out;
		}
		printf("revoked %s\n", argv[optind]);
		rc = CLI_OK;
	} else {
		return cli_usage(cli, "unknown token action '%s': use create, list or revoke",
		                 verb);
	}
out:
	atr_log_free(log);
	return rc;
}
