/*
 * agentrail export: write the whole log as export JSONL, to stdout or to a
 * file that appears only once complete (FILE.tmp, fsync, rename, fsync dir).
 * From a server the export streams from GET /api/v1/export, byte for byte
 * what a local export of its store writes, and counts as complete only when
 * it ends with its tree_head line.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/remote.h"

/* Where the export comes from: write all of it to 'out', counting its records. */
struct source {
	atr_log *log;              /* a local store, or */
	struct cli_remote *remote; /* a server */
};

/* A remote export as it streams by: where it goes and what its lines were. */
struct stream {
	FILE *out;
	int werr;       /* errno of a failed write */
	uint64_t lines; /* complete lines */
	char head[16];  /* the first bytes of the current line */
	size_t headlen;
	int last_is_head; /* the last complete line was the tree_head */
};

static const char tree_head[] = "{\"tree_head\":";

static int stream_write(void *ctx, const char *data, size_t len)
{
	struct stream *st = ctx;

	if (fwrite(data, 1, len, st->out) != len) {
		st->werr = errno ? errno : EIO;
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		if (data[i] == '\n') {
			st->last_is_head = st->headlen == sizeof(tree_head) - 1 &&
			                   memcmp(st->head, tree_head, st->headlen) == 0;
			st->lines++;
			st->headlen = 0;
		} else if (st->headlen < sizeof(tree_head) - 1) {
			st->head[st->headlen++] = data[i];
		}
	}
	return 0;
}

/* Copy the whole export to 'out'; CLI_OK or CLI_FAIL with the reason printed. */
static int write_export(struct source *src, FILE *out, const char *name, uint64_t *records)
{
	struct stream st;

	if (src->log) {
		if (atr_log_export(src->log, out, records) != 0)
			return cli_fail("export failed");
		return CLI_OK;
	}
	memset(&st, 0, sizeof(st));
	st.out = out;
	errno = 0;
	if (cli_remote_stream(src->remote, "/api/v1/export", stream_write, &st) != CLI_OK) {
		if (st.werr)
			cli_err("cannot write %s: %s", name, strerror(st.werr));
		return CLI_FAIL;
	}
	/* A server that fails half way can only stop: a complete export ends with its tree head. */
	if (st.headlen || !st.last_is_head) {
		cli_err("the export from %s is cut short: it does not end with its tree_head line",
		        cli_remote_base(src->remote));
		return CLI_FAIL;
	}
	if (fflush(out) != 0 || ferror(out)) {
		cli_err("cannot write %s: %s", name, strerror(errno ? errno : EIO));
		return CLI_FAIL;
	}
	*records = st.lines - 1;
	return CLI_OK;
}

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

static int export_to_file(struct source *src, const char *path, uint64_t *records)
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
	if (write_export(src, f, tmp, records) != CLI_OK)
		goto out;
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
	struct source src = {NULL, NULL};
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
	if (cli_is_remote(cli)) {
		if ((rc = cli_remote_open(cli, &src.remote)) != CLI_OK)
			return rc;
	} else if (cli_open(cli, ATR_OPEN_READONLY, &src.log) != CLI_OK) {
		return CLI_FAIL;
	}
	if (out)
		rc = export_to_file(&src, out, &records);
	else if ((rc = write_export(&src, stdout, "standard output", &records)) == CLI_OK)
		rc = cli_stdout_failed() ? CLI_FAIL : CLI_OK;
	atr_log_free(src.log);
	cli_remote_free(src.remote);
	if (rc == CLI_OK)
		fprintf(stderr, "exported %llu records to %s\n", (unsigned long long)records,
		        out ? out : "standard output");
	return rc;
}
