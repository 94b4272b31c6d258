/*
 * agentrail root: the RFC 6962 Merkle root of the log (or of its first N
 * records), the value a checkpoint signs and an auditor compares.
 */
#include <stdlib.h>

#include "cli/cli.h"

enum { O_SIZE = OPT_FIRST_CMD, O_JSON };

int cmd_root(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"size", required_argument, NULL, O_SIZE},
	    {"json", no_argument, NULL, O_JSON},
	    {"store", required_argument, NULL, OPT_STORE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	uint64_t size = 0, cur = 0;
	int has_size = 0, json = 0, c, r, rc = CLI_FAIL;
	atr_log *log = NULL;
	atr_hash root;
	char hex[65];

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_SIZE:
			if ((r = cli_opt_u64(cli, "--size", optarg, &size)) != CLI_OK)
				return r;
			has_size = 1;
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
	if (cli_open(cli, ATR_OPEN_READONLY, &log) != CLI_OK)
		return CLI_FAIL;
	if (atr_log_size(log, &cur) != 0) {
		cli_fail("cannot read the log size");
		goto out;
	}
	if (!has_size) {
		size = cur;
	} else if (size > cur) {
		cli_err("size %llu is larger than the log (%llu records)", (unsigned long long)size,
		        (unsigned long long)cur);
		goto out;
	}
	if (atr_log_root(log, size, &root) != 0) {
		cli_fail("cannot compute the root");
		goto out;
	}
	atr_hash_hex(&root, hex);
	if (json)
		printf("{\"size\":%llu,\"root_hash\":\"%s\"}\n", (unsigned long long)size, hex);
	else
		printf("size %llu\nroot %s\n", (unsigned long long)size, hex);
	rc = CLI_OK;
out:
	atr_log_free(log);
	return rc;
}
