/*
 * agentrail verify-proof: check a proof bundle (from `agentrail prove
 * EVENT_ID`) offline, with only the log's verifier key: the checkpoint's
 * signature, the record's leaf hash, the audit path to the signed root and
 * the payload against its commitment. Exit 0 holds, 1 does not, 3 error.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

enum { O_KEY = OPT_FIRST_CMD, O_JSON };
enum { P_OK = 0, P_BAD = 1, P_ERROR = 3 };

#define MAX_BUNDLE (64u << 20) /* a record and its payload are at most a few MiB */

int cmd_verify_proof(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"key", required_argument, NULL, O_KEY},
	    {"json", no_argument, NULL, O_JSON},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *key = NULL;
	char *text = NULL, *bundle = NULL;
	atr_verifier *v = NULL;
	atr_bundle_info info;
	size_t len = 0;
	int json = 0, c, r, rc = P_ERROR;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_KEY:
			key = optarg;
			break;
		case O_JSON:
			json = 1;
			break;
		default:
			if ((r = cli_common_opt(cli, c, argv)) >= 0)
				return r;
		}
	}
	if (argc - optind != 1)
		return cli_usage(cli,
		                 "verify-proof needs one BUNDLE file ('-' for standard input)");
	if (!key)
		return cli_usage(cli, "verify-proof needs --key VKEY: the log's verifier key");
	if (atr_key_file_read(key, &text) != 0 || atr_verifier_new(&v, text) != 0) {
		cli_fail(key);
		goto done;
	}
	if (cli_read_file(argv[optind], MAX_BUNDLE, &bundle, &len) != CLI_OK)
		goto done;
	r = atr_proof_bundle_verify(bundle, len, v, &info);
	if (r == ATR_ETAMPER || r == ATR_EINVALID) {
		cli_print_status(json, r == ATR_ETAMPER ? "TAMPERED" : "MALFORMED", atr_errmsg());
		rc = cli_finish_stdout(P_BAD) == P_BAD ? P_BAD : P_ERROR;
		goto done;
	}
	if (r != 0) {
		cli_fail("cannot check the bundle");
		goto done;
	}
	if (json) {
		char root[65];

		atr_hash_hex(&info.checkpoint.root, root);
		printf("{\"status\":\"OK\",\"seq\":%llu,\"event_id\":\"%s\",\"payload\":%s,"
		       "\"origin\":\"%s\",\"tree_size\":%llu,\"root_hash\":\"%s\"}\n",
		       (unsigned long long)info.seq, info.event_id, info.payload ? "true" : "false",
		       info.checkpoint.origin, (unsigned long long)info.checkpoint.size, root);
	} else {
		printf("OK: record %llu (event %s) is in the log '%s' of %llu records, as signed; "
		       "%s\n",
		       (unsigned long long)info.seq, info.event_id, info.checkpoint.origin,
		       (unsigned long long)info.checkpoint.size,
		       info.payload ? "its payload matches its commitment"
		                    : "its payload is not in the bundle (erased)");
	}
	rc = cli_finish_stdout(P_OK) == CLI_OK ? P_OK : P_ERROR;
done:
	atr_free(text);
	free(bundle);
	atr_verifier_free(v);
	return rc;
}
