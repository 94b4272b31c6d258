/*
 * Helpers every subcommand uses: error and usage reporting, option values,
 * opening the store, printing one record as a timeline line, and the final
 * stdout check that keeps a full disk from passing for success.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "cli/cli.h"
#include "util/util.h"

void cli_err(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("agentrail: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_fail(const char *what)
{
	const char *msg = atr_errmsg();

	if (!msg || !*msg)
		msg = "unknown error";
	if (what)
		cli_err("%s: %s", what, msg);
	else
		cli_err("%s", msg);
	return CLI_FAIL;
}

int cli_usage(struct cli *cli, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("agentrail: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (cli->cmd)
		fprintf(stderr, "usage: %s\nsee 'agentrail %s --help'\n", cli->cmd->usage,
		        cli->cmd->name);
	else
		fputs("see 'agentrail --help'\n", stderr);
	return CLI_USAGE;
}

int cli_help(struct cli *cli)
{
	printf("usage: %s\n", cli->cmd->usage);
	return cli_finish_stdout(CLI_OK);
}

int cli_common_opt(struct cli *cli, int c, char **argv)
{
	switch (c) {
	case OPT_STORE:
		cli->store = optarg;
		cli->store_option = 1;
		return -1;
	case 'h':
		return cli_help(cli);
	case ':':
		return cli_usage(cli, "option '%s' requires an argument", argv[optind - 1]);
	case '?':
		if (optopt)
			return cli_usage(cli, "unknown option '-%c'", optopt);
		return cli_usage(cli, "unknown option '%s'", argv[optind - 1]);
	default:
		return cli_usage(cli, "unhandled option");
	}
}

int cli_opt_u64(struct cli *cli, const char *opt, const char *val, uint64_t *out)
{
	if (util_parse_u64(val, out) != 0)
		return cli_usage(cli, "option '%s' expects a non-negative integer, got '%s'", opt,
		                 val);
	return CLI_OK;
}

int cli_opt_i64(struct cli *cli, const char *opt, const char *val, int64_t *out)
{
	if (util_parse_i64(val, out) != 0)
		return cli_usage(cli, "option '%s' expects an integer, got '%s'", opt, val);
	return CLI_OK;
}

int cli_arg_u64(struct cli *cli, const char *name, const char *val, uint64_t *out)
{
	if (util_parse_u64(val, out) != 0)
		return cli_usage(cli, "%s must be a non-negative integer, got '%s'", name, val);
	return CLI_OK;
}

char *cli_store_name(struct cli *cli)
{
	char *uri = NULL;

	if (cli->store)
		return strdup(cli->store);
	if (atr_store_default_uri(&uri) != 0)
		return NULL;
	return uri;
}

int cli_is_remote(const struct cli *cli)
{
	return cli->store && (strncasecmp(cli->store, "http://", 7) == 0 ||
	                      strncasecmp(cli->store, "https://", 8) == 0);
}

int cli_remote_unsupported(struct cli *cli, const char *hint)
{
	return cli_usage(cli, "'%s' needs a local store, not the server '%s'%s%s",
	                 cli->cmd ? cli->cmd->name : "agentrail", cli->store, hint ? ": " : "",
	                 hint ? hint : "");
}

int cli_open(struct cli *cli, unsigned flags, atr_log **log)
{
	int rc;

	*log = NULL;
	/* Commands with a client mode branch before this; the others need a store here. */
	if (cli_is_remote(cli))
		return cli_remote_unsupported(cli, NULL);
	rc = atr_log_open(log, cli->store, flags);
	if (rc != 0) {
		char *name = cli_store_name(cli);
		char what[512];

		/* The library's message usually names the store already. */
		if (name && strstr(atr_errmsg(), name)) {
			free(name);
			return cli_fail(NULL);
		}
		snprintf(what, sizeof(what), "cannot open store '%s'", name ? name : "(default)");
		free(name);
		return cli_fail(what);
	}
	if (!(flags & ATR_OPEN_READONLY) && (rc = cli_redaction(cli, *log)) != CLI_OK) {
		atr_log_free(*log);
		*log = NULL;
		return rc;
	}
	return CLI_OK;
}

int cli_redaction(struct cli *cli, atr_log *log)
{
	atr_redact_config *cfg = NULL;
	int rc = atr_redact_config_new(&cfg);

	if (rc == 0 && (rc = atr_redact_config_add_env(cfg)) == 0)
		rc = atr_log_set_redaction(log, cfg);
	atr_redact_config_free(cfg);
	if (rc == 0)
		return CLI_OK;
	return rc == ATR_EINVALID ? cli_usage(cli, "%s", atr_errmsg()) : cli_fail(NULL);
}

/* Print 's' with control bytes replaced, at most 'max' bytes (then "..."). */
static void put_clean(FILE *out, const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] && i < max; i++) {
		unsigned char c = (unsigned char)s[i];

		fputc(c < 0x20 || c == 0x7f ? ' ' : c, out);
	}
	if (s[i])
		fputs("...", out);
}

static const char *rec_str(void *src, const char *field)
{
	return atr_record_str(src, field);
}

static int rec_int(void *src, const char *field, int64_t *out)
{
	return atr_record_int(src, field, out);
}

void cli_print_record(FILE *out, const atr_record *rec, int depth, char last_date[11])
{
	struct cli_fields f = {(void *)rec, atr_record_seq(rec), rec_str, rec_int};

	cli_print_fields(out, &f, depth, last_date);
}

void cli_print_fields(FILE *out, const struct cli_fields *f, int depth, char last_date[11])
{
	const char *ts = f->str(f->src, "ts");
	const char *type = f->str(f->src, "type");
	const char *actor = f->str(f->src, "actor");
	const char *target = f->str(f->src, "target");
	const char *outcome = f->str(f->src, "outcome");
	const char *reason = f->str(f->src, "reason");
	const char *decision = f->str(f->src, "policy.decision");
	const char *resolution = f->str(f->src, "approval.resolution");
	char when[28] = "----------T--:--:--.------Z";
	int64_t us, v;
	int col;

	if (ts && atr_time_parse(ts, &us) == 0)
		atr_time_format(us, when);
	if (last_date && strncmp(last_date, when, 10) != 0) {
		memcpy(last_date, when, 10);
		last_date[10] = '\0';
		fprintf(out, "%.10s\n", when);
	}
	fprintf(out, "%.12s  %5llu  ", when + 11, (unsigned long long)f->seq);
	/* The indent eats into the type column so the actor column stays put. */
	if (depth > 8)
		depth = 8;
	col = fprintf(out, "%*s%s", 2 * depth, "", type ? type : "?");
	fprintf(out, "%*s", col < 24 ? 24 - col : 1, "");
	col = fprintf(out, "%s", actor ? actor : "?");
	fprintf(out, "%*s", col < 16 ? 16 - col : 1, "");
	/* A model call without a target is best named by its model. */
	if (!target && type && strcmp(type, "llm_call") == 0)
		target = f->str(f->src, "model");
	if (target)
		put_clean(out, target, 60);
	if (outcome)
		fprintf(out, "  -> %s", outcome);
	if (f->num(f->src, "exit_code", &v) == 0)
		fprintf(out, " (exit %lld)", (long long)v);
	if (decision)
		fprintf(out, "  policy %s", decision);
	if (resolution)
		fprintf(out, "  approval %s", resolution);
	if (type && strcmp(type, "llm_call") == 0) {
		int64_t in = 0, outt = 0;
		int has_in = f->num(f->src, "usage.input_tokens", &in) == 0;
		int has_out = f->num(f->src, "usage.output_tokens", &outt) == 0;

		if (has_in || has_out)
			fprintf(out, "  tokens %lld in / %lld out", (long long)in, (long long)outt);
	}
	if (reason) {
		fputs("  reason: \"", out);
		put_clean(out, reason, 120);
		fputc('"', out);
	}
	fputc('\n', out);
}

int cli_stdout_failed(void)
{
	errno = 0;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "agentrail: cannot write to standard output: %s\n",
		        strerror(errno ? errno : EIO));
		return 1;
	}
	return 0;
}

int cli_finish_stdout(int code)
{
	if (cli_stdout_failed())
		return code == CLI_OK ? CLI_FAIL : code;
	return code;
}

int cli_print_json(json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT);

	if (!text)
		return cli_fail("out of memory");
	puts(text);
	free(text);
	return CLI_OK;
}

const char *cli_str_or(json_t *o, const char *name, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, name));

	return s ? s : dflt;
}

void cli_print_status(int json, const char *status, const char *message)
{
	if (json) {
		json_t *o = json_pack("{s:s, s:s}", "status", status, "message", message);

		if (o)
			cli_print_json(o);
		json_decref(o);
	} else {
		printf("%s: %s\n", status, message);
	}
}

int cli_read_file(const char *path, size_t max, char **out, size_t *len)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	char *buf = NULL;
	size_t n = 0;
	int rc = CLI_FAIL;

	*out = NULL;
	if (!f) {
		cli_err("cannot open '%s': %s", path, strerror(errno));
		return CLI_FAIL;
	}
	if (!(buf = malloc(max + 1))) {
		cli_err("out of memory");
		goto done;
	}
	n = fread(buf, 1, max + 1, f);
	if (ferror(f)) {
		cli_err("cannot read '%s': %s", path, strerror(errno));
	} else if (n > max) {
		cli_err("'%s' is larger than %zu bytes", path, max);
	} else {
		buf[n] = '\0';
		*out = buf;
		buf = NULL;
		if (len)
			*len = n;
		rc = CLI_OK;
	}
done:
	free(buf);
	if (f != stdin)
		fclose(f);
	return rc;
}
