/*
 * agentrail checkpoint: with --key, sign the log's durable tree as a C2SP
 * tlog-checkpoint note, store it and print it; without, print a stored one
 * (the newest, or the smallest covering --size N).
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

enum { O_KEY = OPT_FIRST_CMD, O_SIZE };

int cmd_checkpoint(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"key", required_argument, NULL, O_KEY},
	    {"size", required_argument, NULL, O_SIZE},
	    {"store", required_argument, NULL, OPT_STORE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *key = NULL;
	uint64_t size = ATR_CHECKPOINT_LATEST;
	atr_signer *signer = NULL;
	atr_log *log = NULL;
	char *text = NULL, *note = NULL;
	int c, r, rc = CLI_FAIL;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_KEY:
			key = optarg;
			break;
		case O_SIZE:
			if ((r = cli_opt_u64(cli, "--size", optarg, &size)) != CLI_OK)
				return r;
			break;
		default:
			if ((r = cli_common_opt(cli, c, argv)) >= 0)
				return r;
		}
	}
	if (optind < argc)
		return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	if (key && size != ATR_CHECKPOINT_LATEST)
		return cli_usage(cli,
		                 "--size reads a stored checkpoint; --key signs the whole log");
	if (key) {
		if (atr_key_file_read(key, &text) != 0 || atr_signer_new(&signer, text) != 0) {
			cli_fail(key);
			goto done;
		}
	}
	if (cli_open(cli, key ? ATR_OPEN_NOCREATE : ATR_OPEN_READONLY, &log) != CLI_OK)
		goto done;
	if (key ? atr_log_checkpoint_sign(log, signer, &note, NULL) != 0
	        : atr_log_checkpoint_get(log, size, &note, NULL) != 0) {
		cli_fail(key ? "cannot sign a checkpoint" : NULL);
		goto done;
	}
	fputs(note, stdout);
	rc = cli_finish_stdout(CLI_OK);
done:
	if (text)
		memset(text, 0, strlen(text));
	atr_free(text);
	atr_free(note);
	atr_signer_free(signer);
	atr_log_free(log);
	return rc;
}
