/*
 * agentrail export: write the whole log as export JSONL, to stdout or to a
 * file that appears only once complete (FILE.tmp, fsync, rename, fsync dir).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

/* Make the rename of a file in 'path''s directory durable. */
static int sync_dir_of(const char *path)
{
	char *copy = strdup(path);
	int fd, rc = -1;

	if (!copy)
		return -1;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		rc = fsync(fd);
		close(fd);
	}
	free(copy);
	return rc;
}

static int export_to_file(atr_log *log, const char *path, uint64_t *records)
{
	size_t n = strlen(path) + 5;
	char *tmp = malloc(n);
	FILE *f = NULL;
	int rc = CLI_FAIL, fd;

	if (!tmp) {
		cli_err("out of memory");
		return CLI_FAIL;
	}
	snprintf(tmp, n, "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		cli_err("cannot create '%s': %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	if (atr_log_export(log, f, records) != 0) {
		cli_fail("export failed");
		goto out;
	}
	if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0) {
		cli_err("cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (fclose(f) != 0) {
		f = NULL;
		cli_err("cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	f = NULL;
	if (rename(tmp, path) != 0) {
		cli_err("cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
		goto out;
	}
	if (sync_dir_of(path) != 0) {
		cli_err("cannot sync the directory of '%s': %s", path, strerror(errno));
		goto out_kept;
	}
	rc = CLI_OK;
	goto out_kept;
out:
	if (f)
		fclose(f);
	unlink(tmp);
out_kept:
	free(tmp);
	return rc;
}

int cmd_export(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"out", required_argument, NULL, 'o'},
	    {"store", required_argument, NULL, OPT_STORE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *out = NULL;
	atr_log *log = NULL;
	uint64_t records = 0;
	int c, r, rc = CLI_FAIL;

	while ((c = getopt_long(argc, argv, ":ho:", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		default:
			if ((r = cli_common_opt(cli, c, argv)) >= 0)
				return r;
		}
	}
	if (optind < argc)
		return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	if (out && strcmp(out, "-") == 0)
		out = NULL;
	if (cli_open(cli, ATR_OPEN_READONLY, &log) != CLI_OK)
		return CLI_FAIL;
	if (out) {
		rc = export_to_file(log, out, &records);
	} else if (atr_log_export(log, stdout, &records) != 0) {
		rc = cli_fail("export failed");
	} else {
		rc = cli_stdout_failed() ? CLI_FAIL : CLI_OK;
	}
	atr_log_free(log);
	if (rc == CLI_OK)
		fprintf(stderr, "exported %llu records to %s\n", (unsigned long long)records,
		        out ? out : "standard output");
	return rc;
}
