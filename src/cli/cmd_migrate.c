/*
 * agentrail migrate: copy a log into a new, empty store of any kind (SQLite
 * to PostgreSQL and back), record by record, and check the copy against the
 * source's signed checkpoints (atr_log_migrate, docs/postgres.md).
 */
#include <stdlib.h>
#include <string.h>

#include <agentrail/migrate.h>

#include "cli/cli.h"

enum { O_FROM = OPT_FIRST_CMD, O_TO, O_KEY, O_QUIET, O_JSON };

#define MAX_KEYS 8

static void progress(void *ctx, uint64_t done, uint64_t total)
{
	(void)ctx;
	fprintf(stderr, "\ragentrail: migrated %llu of %llu records", (unsigned long long)done,
	        (unsigned long long)total);
	if (done == total)
		fputc('\n', stderr);
}

int cmd_migrate(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"from", required_argument, NULL, O_FROM},
	    {"to", required_argument, NULL, O_TO},
	    {"key", required_argument, NULL, O_KEY},
	    {"quiet", no_argument, NULL, O_QUIET},
	    {"json", no_argument, NULL, O_JSON},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *from = NULL, *to = NULL, *key_files[MAX_KEYS];
	atr_verifier *keys[MAX_KEYS] = {0};
	atr_migrate_opts opts = {0};
	atr_migrate_result res;
	atr_log *src = NULL, *dst = NULL;
	size_t nkey = 0;
	int quiet = 0, json = 0, c, r, rc = CLI_FAIL;
	char hex[65];

	while ((c = getopt_long(argc, argv, ":hq", longopts, NULL)) != -1) {
		switch (c) {
		case O_FROM:
			from = optarg;
			break;
		case O_TO:
			to = optarg;
			break;
		case O_KEY:
			if (nkey == MAX_KEYS)
				return cli_usage(cli, "at most %d --key", MAX_KEYS);
			key_files[nkey++] = optarg;
			break;
		case 'q':
		case O_QUIET:
			quiet = 1;
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
	if (!from || !to)
		return cli_usage(cli, "migrate needs --from URI and --to URI");
	if (!strcmp(from, to))
		return cli_usage(cli, "--from and --to are the same store '%s'", from);
	for (const char *u = from; u; u = u == from ? to : NULL)
		if (!strncmp(u, "http://", 7) || !strncmp(u, "https://", 8))
			return cli_usage(cli,
			                 "'%s' is a server: migrate copies between stores "
			                 "(a path, sqlite:PATH or postgres://...)",
			                 u);
	for (size_t i = 0; i < nkey; i++) {
		char *text = NULL;

		r = atr_key_file_read(key_files[i], &text);
		if (r == 0)
			r = atr_verifier_new(&keys[i], text);
		atr_free(text);
		if (r != 0) {
			cli_fail(key_files[i]);
			goto out;
		}
	}
	if (atr_log_open(&src, from, ATR_OPEN_READONLY) != 0) {
		cli_fail(from);
		goto out;
	}
	if (atr_log_open(&dst, to, 0) != 0) {
		cli_fail(to);
		goto out;
	}
	opts.keys = (const atr_verifier *const *)keys;
	opts.nkeys = nkey;
	if (!quiet && !json)
		opts.progress = progress;
	if (atr_log_migrate(src, dst, &opts, &res) != 0) {
		cli_err("cannot migrate '%s' to '%s': %s", from, to, atr_errmsg());
		goto out;
	}
	atr_hash_hex(&res.root, hex);
	if (json)
		printf("{\"records\":%llu,\"erased_payloads\":%llu,\"checkpoints\":%llu,"
		       "\"signatures_checked\":%llu,\"root_hash\":\"%s\"}\n",
		       (unsigned long long)res.records, (unsigned long long)res.erased,
		       (unsigned long long)res.checkpoints, (unsigned long long)res.signed_ok, hex);
	else if (!quiet)
		printf("migrated %llu records (%llu with erased payloads) and %llu checkpoints "
		       "(%llu signatures checked); root %s\n",
		       (unsigned long long)res.records, (unsigned long long)res.erased,
		       (unsigned long long)res.checkpoints, (unsigned long long)res.signed_ok, hex);
	rc = cli_finish_stdout(CLI_OK);
out:
	atr_log_free(src);
	atr_log_free(dst);
	for (size_t i = 0; i < nkey; i++)
		atr_verifier_free(keys[i]);
	return rc;
}
