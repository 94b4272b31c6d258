/*
 * agentrail keygen: make an Ed25519 key pair for signing checkpoints,
 * written as PREFIX.key (the signer key, mode 0600) and PREFIX.pub (the
 * verifier key), one line each in Go's sumdb/note text encoding.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"

enum { O_NAME = OPT_FIRST_CMD, O_OUT, O_FORCE };

/* Write 'line' and a newline to a new file 'path' with 'mode'; never overwrite unless 'force'. */
static int write_key(const char *path, const char *line, mode_t mode, int force)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL), mode);
	size_t len = strlen(line);
	int ok;

	if (fd < 0) {
		cli_err("cannot create '%s': %s%s", path, strerror(errno),
		        errno == EEXIST ? " (use --force to replace it)" : "");
		return CLI_FAIL;
	}
	ok = fchmod(fd, mode) == 0 && write(fd, line, len) == (ssize_t)len &&
	     write(fd, "\n", 1) == 1 && fsync(fd) == 0;
	if (close(fd) != 0 || !ok) {
		cli_err("cannot write '%s': %s", path, strerror(errno));
		unlink(path);
		return CLI_FAIL;
	}
	return CLI_OK;
}

int cmd_keygen(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"name", required_argument, NULL, O_NAME},
	    {"out", required_argument, NULL, O_OUT},
	    {"force", no_argument, NULL, O_FORCE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *name = NULL, *out = NULL;
	char *skey = NULL, *vkey = NULL, *kpath = NULL, *ppath = NULL;
	int force = 0, c, r, rc = CLI_FAIL;
	size_t n;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_NAME:
			name = optarg;
			break;
		case O_OUT:
			out = optarg;
			break;
		case O_FORCE:
			force = 1;
			break;
		default:
			if ((r = cli_common_opt(cli, c, argv)) >= 0)
				return r;
		}
	}
	if (optind < argc)
		return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	if (!name || !out)
		return cli_usage(cli, "keygen needs --name ORIGIN and --out PREFIX");
	if (atr_keygen(name, &skey, &vkey) != 0)
		return cli_fail("cannot make a key");
	n = strlen(out) + 5;
	kpath = malloc(n);
	ppath = malloc(n);
	if (!kpath || !ppath) {
		cli_err("out of memory");
		goto done;
	}
	snprintf(kpath, n, "%s.key", out);
	snprintf(ppath, n, "%s.pub", out);
	if (write_key(kpath, skey, 0600, force) != CLI_OK)
		goto done;
	if (write_key(ppath, vkey, 0644, force) != CLI_OK) {
		unlink(kpath);
		goto done;
	}
	printf("signer key   %s (keep it secret, outside the store's directory)\n"
	       "verifier key %s\n%s\n",
	       kpath, ppath, vkey);
	rc = cli_finish_stdout(CLI_OK);
done:
	if (skey)
		memset(skey, 0, strlen(skey));
	atr_free(skey);
	atr_free(vkey);
	free(kpath);
	free(ppath);
	return rc;
}
