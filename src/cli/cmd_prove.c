/*
 * agentrail prove: an RFC 6962 inclusion proof for one record, or a
 * consistency proof between two tree sizes. Each proof is checked with the
 * store-free verifier (proof.h) before it is printed.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

enum { O_SIZE = OPT_FIRST_CMD, O_CONSISTENCY, O_JSON };

static void print_path(const atr_hash *path, size_t n, int json)
{
	char hex[65];

	if (json)
		fputs("\"path\":[", stdout);
	else
		printf("path %zu\n", n);
	for (size_t i = 0; i < n; i++) {
		atr_hash_hex(&path[i], hex);
		if (json)
			printf("%s\"%s\"", i ? "," : "", hex);
		else
			puts(hex);
	}
	if (json)
		fputs("]", stdout);
}

static int get_size(atr_log *log, uint64_t *size)
{
	if (atr_log_size(log, size) != 0)
		return cli_fail("cannot read the log size");
	return CLI_OK;
}

static int prove_inclusion(atr_log *log, uint64_t seq, int has_size, uint64_t size, int json)
{
	atr_hash leaf, root, *path = NULL;
	uint64_t cur;
	size_t n = 0;
	char lhex[65], rhex[65];
	int rc = CLI_FAIL;

	if (get_size(log, &cur) != CLI_OK)
		return CLI_FAIL;
	if (!has_size)
		size = cur;
	if (size > cur) {
		cli_err("size %llu is larger than the log (%llu records)", (unsigned long long)size,
		        (unsigned long long)cur);
		return CLI_FAIL;
	}
	if (seq >= size) {
		cli_err("seq %llu is not in a tree of size %llu", (unsigned long long)seq,
		        (unsigned long long)size);
		return CLI_FAIL;
	}
	if (atr_log_leaf_hash(log, seq, &leaf) != 0 || atr_log_root(log, size, &root) != 0 ||
	    atr_log_inclusion_proof(log, seq, size, &path, &n) != 0) {
		cli_fail("cannot build the proof");
		goto out;
	}
	if (atr_verify_inclusion(&leaf, seq, size, path, n, &root) != 0) {
		cli_fail("the log's own inclusion proof does not verify");
		goto out;
	}
	atr_hash_hex(&leaf, lhex);
	atr_hash_hex(&root, rhex);
	if (json) {
		printf("{\"seq\":%llu,\"size\":%llu,\"leaf_hash\":\"%s\",\"root_hash\":\"%s\",",
		       (unsigned long long)seq, (unsigned long long)size, lhex, rhex);
		print_path(path, n, 1);
		puts("}");
	} else {
		printf("seq %llu\nsize %llu\nleaf %s\nroot %s\n", (unsigned long long)seq,
		       (unsigned long long)size, lhex, rhex);
		print_path(path, n, 0);
	}
	rc = CLI_OK;
out:
	atr_free(path);
	return rc;
}

static int prove_consistency(atr_log *log, uint64_t old_size, uint64_t new_size, int json)
{
	atr_hash old_root, new_root, *path = NULL;
	uint64_t cur;
	size_t n = 0;
	char ohex[65], nhex[65];
	int rc = CLI_FAIL;

	if (get_size(log, &cur) != CLI_OK)
		return CLI_FAIL;
	if (old_size > new_size) {
		cli_err("old size %llu is larger than new size %llu", (unsigned long long)old_size,
		        (unsigned long long)new_size);
		return CLI_FAIL;
	}
	if (new_size > cur) {
		cli_err("size %llu is larger than the log (%llu records)",
		        (unsigned long long)new_size, (unsigned long long)cur);
		return CLI_FAIL;
	}
	if (atr_log_root(log, old_size, &old_root) != 0 ||
	    atr_log_root(log, new_size, &new_root) != 0 ||
	    atr_log_consistency_proof(log, old_size, new_size, &path, &n) != 0) {
		cli_fail("cannot build the proof");
		goto out;
	}
	if (atr_verify_consistency(old_size, new_size, &old_root, &new_root, path, n) != 0) {
		cli_fail("the log's own consistency proof does not verify");
		goto out;
	}
	atr_hash_hex(&old_root, ohex);
	atr_hash_hex(&new_root, nhex);
	if (json) {
		printf("{\"old_size\":%llu,\"new_size\":%llu,\"old_root\":\"%s\",\"new_root\":"
		       "\"%s\",",
		       (unsigned long long)old_size, (unsigned long long)new_size, ohex, nhex);
		print_path(path, n, 1);
		puts("}");
	} else {
		printf("old_size %llu\nold_root %s\nnew_size %llu\nnew_root %s\n",
		       (unsigned long long)old_size, ohex, (unsigned long long)new_size, nhex);
		print_path(path, n, 0);
	}
	rc = CLI_OK;
out:
	atr_free(path);
	return rc;
}

int cmd_prove(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"size", required_argument, NULL, O_SIZE},
	    {"consistency", no_argument, NULL, O_CONSISTENCY},
	    {"json", no_argument, NULL, O_JSON},
	    {"store", required_argument, NULL, OPT_STORE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	uint64_t size = 0, a = 0, b = 0;
	int has_size = 0, consistency = 0, json = 0, c, r, rc;
	atr_log *log = NULL;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_SIZE:
			if ((r = cli_opt_u64(cli, "--size", optarg, &size)) != CLI_OK)
				return r;
			has_size = 1;
			break;
		case O_CONSISTENCY:
			consistency = 1;
			break;
		case O_JSON:
			json = 1;
			break;
		default:
			if ((r = cli_common_opt(cli, c, argv)) >= 0)
				return r;
		}
	}
	if (consistency) {
		if (has_size)
			return cli_usage(cli, "option '--size' does not apply to '--consistency'");
		if (argc - optind < 2)
			return cli_usage(cli, "missing %s for '--consistency'",
			                 argc - optind ? "NEW" : "OLD and NEW");
		if (argc - optind > 2)
			return cli_usage(cli, "unexpected argument '%s'", argv[optind + 2]);
		if (cli_arg_u64(cli, "OLD", argv[optind], &a) != CLI_OK ||
		    cli_arg_u64(cli, "NEW", argv[optind + 1], &b) != CLI_OK)
			return CLI_USAGE;
	} else {
		if (argc - optind < 1)
			return cli_usage(cli, "missing SEQ");
		if (argc - optind > 1)
			return cli_usage(cli, "unexpected argument '%s'", argv[optind + 1]);
		if (cli_arg_u64(cli, "SEQ", argv[optind], &a) != CLI_OK)
			return CLI_USAGE;
	}
	if (cli_open(cli, ATR_OPEN_READONLY, &log) != CLI_OK)
		return CLI_FAIL;
	if (consistency)
		rc = prove_consistency(log, a, b, json);
	else
		rc = prove_inclusion(log, a, has_size, size, json);
	atr_log_free(log);
	return rc;
}
