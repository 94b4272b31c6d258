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
enum { O_EXPORT = OPT_FIRST_CMD, O_JSON, O_CHECKPOINT, O_KEY };

/* Checkpoint and key files given on the command line (each option may repeat). */
#define MAX_FILES 16

struct findings {
	int json;
	json_t *list; /* --json: the findings so far */
	int oom;
};

static void on_finding(void *ctx, const atr_finding *f)
{
	struct findings *fs = ctx;
	const char *msg = f->message ? f->message : "";

	if (fs->json) {
		json_t *o = json_pack(
		    "{s:s, s:o, s:o, s:o, s:s}", "kind", atr_finding_kind_name(f->kind), "seq",
		    f->has_seq ? json_integer((json_int_t)f->seq) : json_null(), "seq_last",
		    f->has_seq ? json_integer((json_int_t)f->seq_last) : json_null(),
		    "checkpoint_size", f->size ? json_integer((json_int_t)f->size) : json_null(),
		    "message", msg);

		if (!o || json_array_append_new(fs->list, o) != 0)
			fs->oom = 1;
		return;
	}
	if (f->has_seq && f->seq_last > f->seq)
		printf("seq %llu-%llu: ", (unsigned long long)f->seq,
		       (unsigned long long)f->seq_last);
	else if (f->has_seq)
		printf("seq %llu: ", (unsigned long long)f->seq);
	if (f->kind == ATR_FINDING_PAYLOAD_ERASED) {
		puts(f->seq_last > f->seq ? "payloads erased (not tampering)"
		                          : "payload erased (not tampering)");
		return;
	}
	if (f->kind == ATR_FINDING_PRUNED && f->has_seq) {
		puts("records pruned by retention (not tampering)");
		return;
	}
	if (*msg) {
		puts(msg);
		return;
	}
	/* "record_changed" reads as "record changed". */
	for (const char *p = atr_finding_kind_name(f->kind); *p; p++)
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

void cli_print_verify_status(const atr_verify_result *res, int keys)
{
	const char *name = atr_verify_status_name(res->status);
	unsigned long long n = (unsigned long long)res->records;
	char root[65];

	atr_hash_hex(&res->root, root);
	switch (res->status) {
	case ATR_VERIFY_OK:
		printf("OK: %llu records consistent, root %s; %llu signed checkpoint%s hold%s", n,
		       root, (unsigned long long)res->checkpoints, res->checkpoints == 1 ? "" : "s",
		       res->checkpoints == 1 ? "s" : "");
		break;
	case ATR_VERIFY_UNANCHORED:
		printf("UNANCHORED: %llu records consistent, root %s; ", n, root);
		if (res->checkpoints == 0)
			printf("no signed checkpoint anchors this log yet");
		else if (!keys)
			printf("no verifier key given (--key), so no signature was checked");
		else if (res->anchored_size == 0)
			printf("no checkpoint signed with a trusted key covers them");
		else
			printf("records from %llu on are not yet covered by a signed checkpoint",
			       (unsigned long long)res->anchored_size);
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
	if (res->erased || res->pruned)
		fputs(" (", stdout);
	if (res->erased)
		printf("%llu payloads erased", (unsigned long long)res->erased);
	if (res->pruned)
		printf("%s%llu records pruned: seq 0 to %llu", res->erased ? "; " : "",
		       (unsigned long long)res->pruned, (unsigned long long)res->pruned - 1);
	if (res->erased || res->pruned)
		putchar(')');
	putchar('\n');
}

static int print_json(const atr_verify_result *res, json_t *list)
{
	char root[65];
	json_t *o;
	char *text;

	atr_hash_hex(&res->root, root);
	o = json_pack("{s:s, s:I, s:I, s:s, s:I, s:I, s:o, s:I, s:I, s:o, s:O}", "status",
	              atr_verify_status_name(res->status), "records", (json_int_t)res->records,
	              "size", (json_int_t)res->size, "root_hash", root, "erased",
	              (json_int_t)res->erased, "erased_ranges", (json_int_t)res->erased_ranges,
	              "pruned",
	              res->pruned ? json_pack("{s:I, s:I}", "below", (json_int_t)res->pruned,
	                                      "count", (json_int_t)res->pruned)
	                          : json_null(),
	              "checkpoints", (json_int_t)res->checkpoints, "anchored_size",
	              (json_int_t)res->anchored_size, "first_bad_seq",
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
	    {"checkpoint", required_argument, NULL, O_CHECKPOINT},
	    {"key", required_argument, NULL, O_KEY},
	    {"store", required_argument, NULL, OPT_STORE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct findings fs = {0};
	atr_verify_result res;
	const char *export = NULL, *cp_files[MAX_FILES], *key_files[MAX_FILES];
	size_t ncp = 0, nkey = 0;
	atr_verifier *keys[MAX_FILES] = {0};
	char *anchors[MAX_FILES] = {0};
	atr_verify_opts opts = {0};
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
		case O_CHECKPOINT:
		case O_KEY:
			if ((c == O_KEY ? nkey : ncp) == MAX_FILES)
				return cli_usage(
				    cli, "at most %d of each of --checkpoint and --key", MAX_FILES);
			if (c == O_KEY)
				key_files[nkey++] = optarg;
			else
				cp_files[ncp++] = optarg;
			break;
		default:
			if ((r = cli_common_opt(cli, c, argv)) >= 0)
				return r;
		}
	}
	if (optind < argc)
		return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	if (!export && cli_is_remote(cli))
		return cli_remote_unsupported(cli,
		                              "export the log from the server, then verify the "
		                              "file ('agentrail export --out FILE', 'agentrail "
		                              "verify --export FILE')");
	if (ncp && !nkey)
		return cli_usage(cli, "--checkpoint needs --key: an anchor is only as good as its "
		                      "signature");
	memset(&res, 0, sizeof(res));
	fs.list = json_array();
	if (!fs.list) {
		cli_err("out of memory");
		return V_ERROR;
	}
	for (size_t i = 0; i < nkey; i++) {
		char *text = NULL;

		r = atr_key_file_read(key_files[i], &text);
		if (r == 0)
			r = atr_verifier_new(&keys[i], text);
		atr_free(text);
		if (r != 0) {
			cli_fail(key_files[i]);
			goto out;
		}
	}
	for (size_t i = 0; i < ncp; i++) {
		if (cli_read_file(cp_files[i], 1 << 16, &anchors[i], NULL) != CLI_OK)
			goto out;
	}
	opts.keys = (const atr_verifier *const *)keys;
	opts.nkeys = nkey;
	opts.anchors = (const char *const *)anchors;
	opts.nanchors = ncp;
	if (export) {
		r = atr_export_verify(export, &opts, on_finding, &fs, &res);
	} else {
		if (cli_open(cli, ATR_OPEN_READONLY, &log) != CLI_OK)
			goto out;
		r = atr_log_verify(log, &opts, on_finding, &fs, &res);
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
		cli_print_verify_status(&res, nkey > 0);
	}
	rc = exit_for(res.status);
out:
	for (size_t i = 0; i < MAX_FILES; i++) {
		atr_verifier_free(keys[i]);
		free(anchors[i]);
	}
	json_decref(fs.list);
	atr_log_free(log);
	if (cli_stdout_failed())
		rc = V_ERROR;
	return rc;
}
