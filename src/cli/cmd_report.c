/*
 * agentrail report: the day or week report of a local store (report.h) as
 * JSON, Markdown or one self-contained HTML file, to standard output or
 * written atomically to --out.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <agentrail/report.h>

#include "cli/cli.h"

enum { O_PERIOD = OPT_FIRST_CMD, O_DATE, O_FORMAT, O_PRICES, O_SENSITIVE, O_VERIFY, O_KEY, O_TOP };

/* Repeatable options. */
#define MAX_GLOBS 64
#define MAX_KEYS  16
/* A price table is a small JSON file. */
#define MAX_PRICES (1u << 20)

/* Write 'text' to 'path' atomically: PATH.tmp, fsync, rename. */
static int write_file(const char *path, const char *text)
{
	size_t n = strlen(text), off = 0;
	char tmp[4200];
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		cli_err("the path '%.100s...' is too long", path);
		return CLI_FAIL;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
		cli_err("cannot create '%s': %s", tmp, strerror(errno));
		return CLI_FAIL;
	}
	while (off < n) {
		ssize_t w = write(fd, text + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			cli_err("cannot write '%s': %s", tmp, strerror(w < 0 ? errno : EIO));
			close(fd);
			unlink(tmp);
			return CLI_FAIL;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		cli_err("cannot write '%s': %s", tmp, strerror(errno));
		unlink(tmp);
		return CLI_FAIL;
	}
	if (rename(tmp, path) != 0) {
		cli_err("cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
		unlink(tmp);
		return CLI_FAIL;
	}
	return CLI_OK;
}

int cmd_report(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"period", required_argument, NULL, O_PERIOD},
	    {"date", required_argument, NULL, O_DATE},
	    {"format", required_argument, NULL, O_FORMAT},
	    {"out", required_argument, NULL, 'o'},
	    {"prices", required_argument, NULL, O_PRICES},
	    {"sensitive", required_argument, NULL, O_SENSITIVE},
	    {"verify", no_argument, NULL, O_VERIFY},
	    {"key", required_argument, NULL, O_KEY},
	    {"top", required_argument, NULL, O_TOP},
	    {"store", required_argument, NULL, OPT_STORE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	atr_report_opts opts = {0};
	atr_verify_opts vopts = {0};
	const char *period = NULL, *format = "md", *out = NULL, *prices = NULL;
	const char *globs[MAX_GLOBS], *key_files[MAX_KEYS];
	atr_verifier *keys[MAX_KEYS] = {0};
	size_t nglobs = 0, nkeys = 0;
	uint64_t top = 0;
	char *prices_text = NULL, *text = NULL;
	atr_report *rep = NULL;
	atr_log *log = NULL;
	int c, r, rc = CLI_FAIL;

	while ((c = getopt_long(argc, argv, ":ho:", longopts, NULL)) != -1) {
		switch (c) {
		case O_PERIOD:
			period = optarg;
			break;
		case O_DATE:
			opts.date = optarg;
			break;
		case O_FORMAT:
			format = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case O_PRICES:
			prices = optarg;
			break;
		case O_SENSITIVE:
			if (nglobs == MAX_GLOBS)
				return cli_usage(cli, "at most %d '--sensitive' globs", MAX_GLOBS);
			if (!*optarg || strlen(optarg) > 255)
				return cli_usage(
				    cli, "option '--sensitive' needs a glob of 1 to 255 bytes");
			globs[nglobs++] = optarg;
			break;
		case O_VERIFY:
			opts.verify = 1;
			break;
		case O_KEY:
			if (nkeys == MAX_KEYS)
				return cli_usage(cli, "at most %d '--key' options", MAX_KEYS);
			key_files[nkeys++] = optarg;
			break;
		case O_TOP:
			if ((r = cli_opt_u64(cli, "--top", optarg, &top)) != CLI_OK)
				return r;
			if (top == 0 || top > 10000)
				return cli_usage(cli, "option '--top' must be 1 to 10000");
			break;
		default:
			if ((r = cli_common_opt(cli, c, argv)) >= 0)
				return r;
		}
	}
	if (optind < argc)
		return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	if (!period)
		return cli_usage(cli, "missing '--period day' or '--period week'");
	if (strcmp(period, "day") == 0)
		opts.period = ATR_REPORT_DAY;
	else if (strcmp(period, "week") == 0)
		opts.period = ATR_REPORT_WEEK;
	else
		return cli_usage(cli, "option '--period' must be 'day' or 'week', not '%s'",
		                 period);
	if (strcmp(format, "md") != 0 && strcmp(format, "html") != 0 && strcmp(format, "json") != 0)
		return cli_usage(cli, "option '--format' must be 'md', 'html' or 'json', not '%s'",
		                 format);
	if (nkeys && !opts.verify)
		return cli_usage(cli, "option '--key' needs '--verify'");
	if (opts.date) {
		int64_t s, e;

		/* Refuse a bad date before opening anything, with the library's precise reason. */
		if (atr_report_period_bounds(opts.period, opts.date, 0, &s, &e) != 0)
			return cli_usage(cli, "option '--date': %s", atr_errmsg());
	}
	if (cli_is_remote(cli))
		return cli_remote_unsupported(cli, "run the report where the store is");

	if (prices && cli_read_file(prices, MAX_PRICES, &prices_text, NULL) != CLI_OK)
		goto out;
	for (size_t i = 0; i < nkeys; i++) {
		char *vk = NULL;

		if (atr_key_file_read(key_files[i], &vk) != 0 ||
		    atr_verifier_new(&keys[i], vk) != 0) {
			atr_free(vk);
			rc = cli_fail(key_files[i]);
			goto out;
		}
		atr_free(vk);
	}
	vopts.keys = (const atr_verifier *const *)keys;
	vopts.nkeys = nkeys;
	opts.prices_json = prices_text;
	opts.sensitive = nglobs ? globs : NULL;
	opts.nsensitive = nglobs;
	opts.top = (size_t)top;
	opts.verify_opts = &vopts;

	if (cli_open(cli, ATR_OPEN_READONLY, &log) != CLI_OK)
		goto out;
	if (atr_report_build(log, &opts, &rep) != 0) {
		char what[4200];

		if (prices && strncmp(atr_errmsg(), "price table", 11) == 0)
			snprintf(what, sizeof(what), "'%s'", prices);
		else
			snprintf(what, sizeof(what), "cannot build the report");
		rc = cli_fail(what);
		goto out;
	}
	r = format[0] == 'j'   ? atr_report_json(rep, &text)
	    : format[0] == 'h' ? atr_report_html(rep, &text)
	                       : atr_report_markdown(rep, &text);
	if (r != 0) {
		rc = cli_fail("cannot render the report");
		goto out;
	}
	if (out) {
		rc = write_file(out, text);
	} else {
		fputs(text, stdout);
		rc = cli_finish_stdout(CLI_OK);
	}
out:
	atr_free(text);
	atr_report_free(rep);
	atr_log_free(log);
	free(prices_text);
	for (size_t i = 0; i < nkeys; i++)
		atr_verifier_free(keys[i]);
	return rc;
}
