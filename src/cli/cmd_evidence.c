/*
 * agentrail evidence: a job's evidence bundle (evidence.h) from a store or
 * a server (GET /api/v1/jobs/{id}/evidence), and agentrail verify-evidence:
 * such a bundle checked offline with only the verifier key, then told as a
 * story an auditor reads: who submitted the job, each decision with its rule
 * and policy text, each approval with its approver and comment, output
 * safety and the final state. verify-evidence exits 0 when it holds, 1 when
 * it does not, 2 when the bundle is malformed or the check cannot run.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/remote.h"

enum { O_OUT = OPT_FIRST_CMD, O_CHECKPOINT, O_KEY, O_JSON };
enum { E_OK = 0, E_TAMPERED = 1, E_MALFORMED = 2 };

#define MAX_BUNDLE  ((size_t)1 << 30) /* every record of a job with its payload */
#define MAX_NOTE    (1u << 16)
#define TEXT_LINES  6   /* lines of a policy text shown */
#define TEXT_COLUMN 100 /* characters of each */

static long long i_or(json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);

	return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

/* The policies entry of 'seq' in bundle 'b', or NULL. */
static json_t *policy_entry(json_t *b, long long seq)
{
	size_t i;
	json_t *p;

	json_array_foreach(json_object_get(b, "policies"), i, p)
	{
		if (i_or(p, "seq") == seq)
			return p;
	}
	return NULL;
}

/* The first lines of a policy's text (its payload's detail.document), indented. */
static void print_policy_text(json_t *entry)
{
	const char *detail = cli_str_or(entry, "detail", NULL);
	json_t *d = detail ? json_loads(detail, 0, NULL) : NULL;
	const char *doc = cli_str_or(d, "document", NULL), *p;
	int line = 0;

	if (!doc) {
		printf("      (its text is not in the bundle: the payload was erased)\n");
		json_decref(d);
		return;
	}
	printf("      text (%s):\n", cli_str_or(d, "media_type", "text/plain"));
	for (p = doc; *p && line < TEXT_LINES; line++) {
		size_t n = strcspn(p, "\n");

		printf("      | %.*s%s\n", (int)(n > TEXT_COLUMN ? TEXT_COLUMN : n), p,
		       n > TEXT_COLUMN ? "..." : "");
		p += n;
		if (*p == '\n')
			p++;
	}
	if (*p)
		printf("      | ...\n");
	json_decref(d);
}

/* The bundle's summary as an auditor reads it. */
static void print_story(json_t *b)
{
	json_t *s = json_object_get(b, "summary"), *v;
	size_t i;

	printf("job %s\n", cli_str_or(b, "job_id", "?"));
	printf("  submitted by %s; status %s; %lld events\n",
	       cli_str_or(s, "submitter", "(unknown)"), cli_str_or(s, "status", "?"),
	       i_or(s, "events"));
	json_array_foreach(json_object_get(s, "decisions"), i, v)
	{
		const char *snap = cli_str_or(v, "snapshot", NULL);
		json_t *known = json_object_get(v, "snapshot_known");

		printf("  decision (seq %lld): %s under rule %s: %s\n", i_or(v, "seq"),
		       cli_str_or(v, "decision", "?"), cli_str_or(v, "rule_id", "(none)"),
		       cli_str_or(v, "reason", ""));
		if (!snap) {
			printf("    policy: no snapshot cited\n");
		} else if (!json_is_true(known)) {
			printf("    policy %s: UNKNOWN, no policy_publish in the log carries it\n",
			       snap);
		} else {
			printf("    policy %s (published at seq %lld)\n", snap,
			       i_or(v, "policy_text_seq"));
			print_policy_text(policy_entry(b, i_or(v, "policy_text_seq")));
		}
	}
	json_array_foreach(json_object_get(s, "approvals"), i, v)
	{
		const char *res = cli_str_or(v, "resolution", "pending");

		printf("  approval %s (seq %lld) requested by %s under rule %s, job hash %s\n",
		       cli_str_or(v, "approval_id", "(no id)"), i_or(v, "request_seq"),
		       cli_str_or(v, "requested_by", "?"), cli_str_or(v, "rule_id", "(none)"),
		       cli_str_or(v, "job_hash", "(none)"));
		if (!strcmp(res, "pending"))
			printf("    pending\n");
		else
			printf("    %s by %s (seq %lld): \"%s\"\n", res,
			       cli_str_or(v, "resolved_by", "?"), i_or(v, "resolved_seq"),
			       cli_str_or(v, "comment", ""));
	}
	v = json_object_get(s, "output_safety");
	if (json_is_object(v))
		printf("  output safety (seq %lld): %s under rule %s: %s\n", i_or(v, "seq"),
		       cli_str_or(v, "decision", "?"), cli_str_or(v, "rule_id", "(none)"),
		       cli_str_or(v, "reason", ""));
	else
		printf("  output safety: none recorded\n");
	v = json_object_get(s, "final");
	if (json_is_object(v))
		printf("  final: %s (seq %lld), outcome %s\n", cli_str_or(v, "type", "?"),
		       i_or(v, "seq"), cli_str_or(v, "outcome", "(none)"));
	else
		printf("  final: none yet\n");
}

/* ------------------------------------------------------------ evidence */

static int bundle_local(struct cli *cli, const char *job, const char *cp_file, char **out,
                        size_t *len)
{
	atr_log *log = NULL;
	char *note = NULL, *json = NULL;
	size_t nlen = 0;
	int rc;

	if (cp_file && cli_read_file(cp_file, MAX_NOTE, &note, &nlen) != CLI_OK)
		return CLI_FAIL;
	if (cli_open(cli, ATR_OPEN_READONLY, &log) != CLI_OK) {
		free(note);
		return CLI_FAIL;
	}
	rc = atr_log_evidence(log, job, note, nlen, &json);
	atr_log_free(log);
	free(note);
	if (rc != 0)
		return cli_fail(NULL);
	*len = strlen(json);
	*out = json;
	return CLI_OK;
}

static int bundle_remote(struct cli *cli, const char *job, char **out, size_t *len)
{
	struct cli_remote *r = NULL;
	struct cli_answer ans;
	struct util_buf path;
	int rc;

	if ((rc = cli_remote_open(cli, &r)) != CLI_OK)
		return rc;
	util_buf_init(&path);
	if (util_buf_adds(&path, "/api/v1/jobs") || cli_remote_segment(&path, job) ||
	    util_buf_adds(&path, "/evidence")) {
		util_buf_release(&path);
		cli_remote_free(r);
		return cli_fail("out of memory");
	}
	rc = cli_remote_get(r, path.data, &ans, NULL);
	util_buf_release(&path);
	cli_remote_free(r);
	if (rc != CLI_OK)
		return rc;
	*len = ans.body.len;
	*out = malloc(ans.body.len + 1);
	if (*out) {
		memcpy(*out, ans.body.data, ans.body.len);
		(*out)[ans.body.len] = '\0';
	}
	cli_answer_release(&ans);
	return *out ? CLI_OK : cli_fail("out of memory");
}

static int write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	int bad;

	if (!f) {
		cli_err("cannot create '%s': %s", path, strerror(errno));
		return CLI_FAIL;
	}
	bad = fwrite(data, 1, len, f) != len || fputc('\n', f) == EOF;
	bad |= fclose(f) != 0;
	if (bad) {
		cli_err("cannot write '%s': %s", path, strerror(errno));
		return CLI_FAIL;
	}
	return CLI_OK;
}

int cmd_evidence(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"out", required_argument, NULL, O_OUT},
	    {"checkpoint", required_argument, NULL, O_CHECKPOINT},
	    {"store", required_argument, NULL, OPT_STORE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *out = NULL, *cp_file = NULL;
	char *bundle = NULL;
	size_t len = 0;
	json_t *b;
	int c, r, rc;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_OUT:
			out = optarg;
			break;
		case O_CHECKPOINT:
			cp_file = optarg;
			break;
		default:
			if ((r = cli_common_opt(cli, c, argv)) >= 0)
				return r;
		}
	}
	if (argc - optind != 1)
		return cli_usage(cli, "evidence needs one JOB_ID");
	if (!*argv[optind])
		return cli_usage(cli, "the JOB_ID is empty");
	if (cli_is_remote(cli)) {
		if (cp_file)
			return cli_usage(cli, "option '--checkpoint' needs a local store; a server "
			                      "answers with its newest checkpoint");
		rc = bundle_remote(cli, argv[optind], &bundle, &len);
	} else {
		rc = bundle_local(cli, argv[optind], cp_file, &bundle, &len);
	}
	if (rc != CLI_OK)
		return rc;
	if (!out) {
		rc = fwrite(bundle, 1, len, stdout) == len && putchar('\n') != EOF ? CLI_OK
		                                                                   : CLI_FAIL;
		free(bundle);
		return cli_finish_stdout(rc);
	}
	rc = write_file(out, bundle, len);
	if (rc == CLI_OK && (b = json_loadb(bundle, len, 0, NULL))) {
		print_story(b);
		printf("wrote '%s' (not yet verified here: agentrail verify-evidence %s --key "
		       "VKEY)\n",
		       out, out);
		json_decref(b);
	}
	free(bundle);
	return cli_finish_stdout(rc);
}

/* ------------------------------------------------------------ verify-evidence */

int cmd_verify_evidence(struct cli *cli, int argc, char **argv)
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
	atr_evidence_info info;
	json_t *b = NULL;
	size_t len = 0;
	int json = 0, c, r, rc = E_MALFORMED;

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
				return r == CLI_USAGE ? E_MALFORMED : r;
		}
	}
	if (argc - optind != 1) {
		cli_usage(cli, "verify-evidence needs one FILE ('-' for standard input)");
		return E_MALFORMED;
	}
	if (!key) {
		cli_usage(cli, "verify-evidence needs --key VKEY: the log's verifier key");
		return E_MALFORMED;
	}
	if (atr_key_file_read(key, &text) != 0 || atr_verifier_new(&v, text) != 0) {
		cli_fail(key);
		goto done;
	}
	if (cli_read_file(argv[optind], MAX_BUNDLE, &bundle, &len) != CLI_OK)
		goto done;
	r = atr_evidence_verify(bundle, len, v, &info);
	if (r == ATR_ETAMPER || r == ATR_EINVALID) {
		cli_print_status(json, r == ATR_ETAMPER ? "TAMPERED" : "MALFORMED", atr_errmsg());
		rc = r == ATR_ETAMPER ? E_TAMPERED : E_MALFORMED;
		if (cli_stdout_failed())
			rc = E_MALFORMED;
		goto done;
	}
	if (r != 0) {
		cli_fail("cannot check the bundle");
		goto done;
	}
	if (!(b = json_loadb(bundle, len, 0, NULL))) {
		cli_fail("out of memory");
		goto done;
	}
	if (json) {
		char root[65], *s;
		json_t *o;

		atr_hash_hex(&info.checkpoint.root, root);
		o = json_pack("{s:s, s:O, s:I, s:I, s:I, s:I, s:s, s:I, s:s, s:O}", "status", "OK",
		              "job_id", json_object_get(b, "job_id"), "events",
		              (json_int_t)info.events, "policies", (json_int_t)info.policies,
		              "payloads", (json_int_t)info.payloads, "erased",
		              (json_int_t)info.erased, "origin", info.checkpoint.origin,
		              "tree_size", (json_int_t)info.checkpoint.size, "root_hash", root,
		              "summary", json_object_get(b, "summary"));
		s = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		if (!s) {
			cli_fail("out of memory");
			goto done;
		}
		puts(s);
		free(s);
	} else {
		print_story(b);
		printf("evidence OK: %llu events proven against checkpoint of size %llu ('%s')",
		       (unsigned long long)info.events, (unsigned long long)info.checkpoint.size,
		       info.checkpoint.origin);
		if (info.policies)
			printf(", with %llu policy text%s", (unsigned long long)info.policies,
			       info.policies == 1 ? "" : "s");
		if (info.erased)
			printf("; %llu payload%s erased", (unsigned long long)info.erased,
			       info.erased == 1 ? "" : "s");
		printf("\n");
	}
	rc = cli_stdout_failed() ? E_MALFORMED : E_OK;
done:
	json_decref(b);
	atr_free(text);
	free(bundle);
	atr_verifier_free(v);
	return rc;
}
