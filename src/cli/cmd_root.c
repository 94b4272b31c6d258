/*
 * agentrail root: the RFC 6962 Merkle root of the log (or of its first N
 * records), the value a checkpoint signs and an auditor compares. From a
 * server, the root of N records comes with a consistency proof to the
 * current root, checked here before it is printed.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/remote.h"

enum { O_SIZE = OPT_FIRST_CMD, O_JSON };

/*
 * The root of the first 'size' records (all when !has_size) from the
 * server: GET /api/v1/root, and for an older size the consistency proof
 * from it to the current root, so the answer is checked, not trusted.
 */
static int root_remote(struct cli *cli, int has_size, uint64_t *size, atr_hash *root)
{
	struct cli_remote *r = NULL;
	struct cli_answer ans, proof;
	atr_hash cur_root, old_root, new_root, *path = NULL;
	uint64_t cur, from, to;
	size_t n = 0;
	json_t *jp;
	char q[64];
	int rc;

	if ((rc = cli_remote_open(cli, &r)) != CLI_OK)
		return rc;
	rc = CLI_FAIL;
	if (cli_remote_get(r, "/api/v1/root", &ans, NULL) != CLI_OK)
		goto out;
	if (cli_json_u64(ans.json, "size", &cur) != 0 ||
	    cli_json_hash(ans.json, "root_hash", &cur_root) != 0) {
		cli_err("the answer of %s to GET /api/v1/root has no size and root_hash",
		        cli_remote_base(r));
		goto out_ans;
	}
	if (!has_size || *size == cur) {
		*size = cur;
		*root = cur_root;
		rc = CLI_OK;
		goto out_ans;
	}
	if (*size > cur) {
		cli_err("size %llu is larger than the log (%llu records)",
		        (unsigned long long)*size, (unsigned long long)cur);
		goto out_ans;
	}
	if (*size == 0) {
		/* The empty tree has no consistency proof; its root is SHA-256 of nothing. */
		atr_root_from_leaves(root, NULL, 0);
		rc = CLI_OK;
		goto out_ans;
	}
	snprintf(q, sizeof(q), "/api/v1/proof/consistency?from=%llu&to=%llu",
	         (unsigned long long)*size, (unsigned long long)cur);
	if (cli_remote_get(r, q, &proof, "cannot compute the root") != CLI_OK)
		goto out_ans;
	jp = json_object_get(proof.json, "path");
	n = json_array_size(jp);
	path = calloc(n ? n : 1, sizeof(*path));
	if (!path) {
		cli_err("out of memory");
		goto out_proof;
	}
	for (size_t i = 0; i < n; i++) {
		const char *hex = json_string_value(json_array_get(jp, i));

		if (!hex || strlen(hex) != 64 || atr_hash_parse(&path[i], hex) != 0)
			goto bad;
	}
	if (!json_is_array(jp) || cli_json_u64(proof.json, "from", &from) != 0 ||
	    cli_json_u64(proof.json, "to", &to) != 0 || from != *size || to != cur ||
	    cli_json_hash(proof.json, "old_root", &old_root) != 0 ||
	    cli_json_hash(proof.json, "new_root", &new_root) != 0)
		goto bad;
	if (memcmp(new_root.b, cur_root.b, sizeof(cur_root.b)) != 0) {
		cli_err("the server's roots disagree: its consistency proof ends at another root "
		        "than GET /api/v1/root");
		goto out_proof;
	}
	if (atr_verify_consistency(*size, cur, &old_root, &new_root, path, n) != 0) {
		cli_fail("the server's consistency proof does not verify");
		goto out_proof;
	}
	*root = old_root;
	rc = CLI_OK;
	goto out_proof;
bad:
	cli_err("the answer of %s to GET /api/v1/proof/consistency is not a consistency proof",
	        cli_remote_base(r));
out_proof:
	cli_answer_release(&proof);
out_ans:
	cli_answer_release(&ans);
out:
	free(path);
	cli_remote_free(r);
	return rc;
}

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
	if (cli_is_remote(cli)) {
		if ((rc = root_remote(cli, has_size, &size, &root)) != CLI_OK)
			return rc;
		goto print;
	}
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
print:
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
