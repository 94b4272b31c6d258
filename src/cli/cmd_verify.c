/*
 * agentrail verify: stream the log or an export file through the library's
 * verifier and report every finding and the verdict. Exit status: 0 OK,
 * 1 TAMPERED/TRUNCATED/FORKED, 2 UNANCHORED, 3 ERROR (64 for usage errors).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

enum { V_OK = 0, V_BAD = 1, V_UNANCHORED = 2, V_ERROR = 3 };
enum { O_EXPORT = OPT_FIRST_CMD, O_JSON };

struct findings {
	int json;
	json_t *list; /* --json: the findings so far */
	int oom;
};

static const char *kind_name(atr_finding_kind k)
{
	switch (k) {
	case ATR_FINDING_RECORD_CHANGED:
		return "record_changed";
	case ATR_FINDING_PAYLOAD_CHANGED:
		return "payload_changed";
	case ATR_FINDING_PAYLOAD_ERASED:
		return "payload_erased";
	case ATR_FINDING_MISSING:
		return "missing";
	case ATR_FINDING_REORDERED:
		return "reordered";
	case ATR_FINDING_MALFORMED:
		return "malformed";
	case ATR_FINDING_TREE_MISMATCH:
		return "tree_mismatch";
	case ATR_FINDING_TRUNCATED:
		return "truncated";
	}
	return "unknown";
}

static void on_finding(void *ctx, const atr_finding *f)
{
	struct findings *fs = ctx;
	const char *msg = f->message ? f->message : "";

	if (fs->json) {
		json_t *o = json_pack("{s:s, s:o, s:s}", "kind", kind_name(f->kind), "seq",
		                      f->has_seq ? json_integer((json_int_t)f->seq) : json_null(),
		                      "message", msg);

		if (!o || json_array_append_new(fs->list, o) != 0)
			fs->oom = 1;
		return;
	}
	if (f->has_seq)
		printf("seq %llu: ", (unsigned long long)f->seq);
	if (f->kind == ATR_FINDING_PAYLOAD_ERASED) {
		puts("payload erased (not tampering)");
		return;
	}
	if (*msg) {
		puts(msg);
		return;
	}
	/* "record_changed" reads as "record changed". */
	for (const char *p = kind_name(f->kind); *p; p++)
		putchar(*p == '_' ? ' ' : *p);
	putchar('\n');
}

static int exit_for(atr_verify_status s)
{
	switch (s) {
	case ATR_VERIFY_OK:
		return V_OK;
	case ATR_VERIFY_TAMPERED:
	case ATR_VERIFY_TRUNCATED:
	case ATR_VERIFY_FORKED:
		return V_BAD;
	case ATR_VERIFY_UNANCHORED:
		return V_UNANCHORED;
	case ATR_VERIFY_ERROR:
		return V_ERROR;
	}
	return V_ERROR;
}

void cli_print_verify_status(const atr_verify_result *res)
{
	const char *name = atr_verify_status_name(res->status);
	unsigned long long n = (unsigned long long)res->records;
	char root[65];

	atr_hash_hex(&res->root, root);
	switch (res->status) {
	case ATR_VERIFY_OK:
		printf("OK: %llu records consistent, root %s", n, root);
		break;
	case ATR_VERIFY_UNANCHORED:
		printf("UNANCHORED: %llu records consistent, root %s; no signed checkpoint anchors "
		       "this log yet",
		       n, root);
		break;
	case ATR_VERIFY_ERROR:
		printf("ERROR: the check could not complete (records %llu)", n);
		break;
	default:
		if (res->has_bad_seq)
			printf("%s: first bad seq %llu (records %llu, root %s)", name,
			       (unsigned long long)res->first_bad_seq, n, root);
		else
			printf("%s: records %llu, root %s", name, n, root);
	}
	if (res->erased)
		printf(" (%llu payloads erased)", (unsigned long long)res->erased);
	putchar('\n');
}

static int print_json(const atr_verify_result *res, json_t *list)
{
	char root[65];
	json_t *o;
	char *text;

	atr_hash_hex(&res->root, root);
	o = json_pack("{s:s, s:I, s:I, s:s, s:I, s:o, s:O}", "status",
	              atr_verify_status_name(res->status), "records", (json_int_t)res->records,
	              "size", (json_int_t)res->size, "root_hash", root, "erased",
	              (json_int_t)res->erased, "first_bad_seq",
	              res->has_bad_seq ? json_integer((json_int_t)res->first_bad_seq) : json_null(),
	              "findings", list);
	if (!o)
		return -1;
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!text)
		return -1;
	puts(text);
	free(text);
	return 0;
}

int cmd_verify(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"export", required_argument, NULL, O_EXPORT},
	    {"json", no_argument, NULL, O_JSON},
	    {"store", required_argument, NULL, OPT_STORE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct findings fs = {0};
	atr_verify_result res;
	const char *export = NULL;
	atr_log *log = NULL;
	int c, r, rc = V_ERROR;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_EXPORT:
			export = optarg;
			break;
		case O_JSON:
			fs.json = 1;
			break;
		default:
			if ((r = cli_common_opt(cli, c, argv)) >= 0)
				return r;
		}
	}
	if (optind < argc)
		return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	memset(&res, 0, sizeof(res));
	fs.list = json_array();
	if (!fs.list) {
		cli_err("out of memory");
		return V_ERROR;
	}
	if (export) {
		r = atr_export_verify(export, on_finding, &fs, &res);
	} else {
		if (cli_open(cli, ATR_OPEN_READONLY, &log) != CLI_OK)
			goto out;
		r = atr_log_verify(log, on_finding, &fs, &res);
	}
	if (r != 0) {
		if (fs.json) {
			json_t *o =
			    json_pack("{s:s, s:s}", "status", "ERROR", "error", atr_errmsg());
			char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;

			if (text)
				puts(text);
			free(text);
			json_decref(o);
		}
		cli_fail(export ? "cannot verify the export" : "cannot verify the log");
		goto out;
	}
	if (fs.oom) {
		cli_err("out of memory");
		goto out;
	}
	if (fs.json) {
		if (print_json(&res, fs.list) != 0) {
			cli_err("cannot encode the result");
			goto out;
		}
	} else {
		cli_print_verify_status(&res);
	}
	rc = exit_for(res.status);
out:
	json_decref(fs.list);
	atr_log_free(log);
	if (cli_stdout_failed())
		rc = V_ERROR;
	return rc;
}
