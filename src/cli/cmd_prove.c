/*
 * agentrail prove: an RFC 6962 inclusion proof for one record, or a
 * consistency proof between two tree sizes. Each proof is checked with the
 * store-free verifier (proof.h) before it is printed; from a server, the
 * inclusion proof is also checked against the record's own bytes, so what is
 * printed was verified here rather than taken on the server's word.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/remote.h"

enum { O_SIZE = OPT_FIRST_CMD, O_CONSISTENCY, O_JSON, O_CHECKPOINT };

static void print_path(const atr_hash *path, size_t n, int json)
{
	char hex[65];

	if (json)
		fputs("\"path\":[", stdout);
	else
		printf("path %zu\n", n);
	for (size_t i = 0; i < n; i++) {
		atr_hash_hex(&path[i], hex);
		if (json)
			printf("%s\"%s\"", i ? "," : "", hex);
		else
			puts(hex);
	}
	if (json)
		fputs("]", stdout);
}

static void print_inclusion(uint64_t seq, uint64_t size, const atr_hash *leaf, const atr_hash *root,
                            const atr_hash *path, size_t n, int json)
{
	char lhex[65], rhex[65];

	atr_hash_hex(leaf, lhex);
	atr_hash_hex(root, rhex);
	if (json) {
		printf("{\"seq\":%llu,\"size\":%llu,\"leaf_hash\":\"%s\",\"root_hash\":\"%s\",",
		       (unsigned long long)seq, (unsigned long long)size, lhex, rhex);
		print_path(path, n, 1);
		puts("}");
	} else {
		printf("seq %llu\nsize %llu\nleaf %s\nroot %s\n", (unsigned long long)seq,
		       (unsigned long long)size, lhex, rhex);
		print_path(path, n, 0);
	}
}

static void print_consistency(uint64_t old_size, uint64_t new_size, const atr_hash *old_root,
                              const atr_hash *new_root, const atr_hash *path, size_t n, int json)
{
	char ohex[65], nhex[65];

	atr_hash_hex(old_root, ohex);
	atr_hash_hex(new_root, nhex);
	if (json) {
		printf("{\"old_size\":%llu,\"new_size\":%llu,\"old_root\":\"%s\",\"new_root\":"
		       "\"%s\",",
		       (unsigned long long)old_size, (unsigned long long)new_size, ohex, nhex);
		print_path(path, n, 1);
		puts("}");
	} else {
		printf("old_size %llu\nold_root %s\nnew_size %llu\nnew_root %s\n",
		       (unsigned long long)old_size, ohex, (unsigned long long)new_size, nhex);
		print_path(path, n, 0);
	}
}

/* The checks both forms make on the sizes before asking for a proof. */
static int check_inclusion(uint64_t seq, int has_size, uint64_t *size, uint64_t cur)
{
	if (!has_size)
		*size = cur;
	if (*size > cur) {
		cli_err("size %llu is larger than the log (%llu records)",
		        (unsigned long long)*size, (unsigned long long)cur);
		return CLI_FAIL;
	}
	if (seq >= *size) {
		cli_err("seq %llu is not in a tree of size %llu", (unsigned long long)seq,
		        (unsigned long long)*size);
		return CLI_FAIL;
	}
	return CLI_OK;
}

static int check_consistency(uint64_t old_size, uint64_t new_size, uint64_t cur)
{
	if (old_size > new_size) {
		cli_err("old size %llu is larger than new size %llu", (unsigned long long)old_size,
		        (unsigned long long)new_size);
		return CLI_FAIL;
	}
	if (new_size > cur) {
		cli_err("size %llu is larger than the log (%llu records)",
		        (unsigned long long)new_size, (unsigned long long)cur);
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* ------------------------------------------------------------ local */

static int get_size(atr_log *log, uint64_t *size)
{
	if (atr_log_size(log, size) != 0)
		return cli_fail("cannot read the log size");
	return CLI_OK;
}

static int prove_inclusion(atr_log *log, uint64_t seq, int has_size, uint64_t size, int json)
{
	atr_hash leaf, root, *path = NULL;
	uint64_t cur;
	size_t n = 0;
	int rc = CLI_FAIL;

	if (get_size(log, &cur) != CLI_OK || check_inclusion(seq, has_size, &size, cur) != CLI_OK)
		return CLI_FAIL;
	if (atr_log_leaf_hash(log, seq, &leaf) != 0 || atr_log_root(log, size, &root) != 0 ||
	    atr_log_inclusion_proof(log, seq, size, &path, &n) != 0) {
		cli_fail("cannot build the proof");
		goto out;
	}
	if (atr_verify_inclusion(&leaf, seq, size, path, n, &root) != 0) {
		cli_fail("the log's own inclusion proof does not verify");
		goto out;
	}
	print_inclusion(seq, size, &leaf, &root, path, n, json);
	rc = CLI_OK;
out:
	atr_free(path);
	return rc;
}

static int prove_consistency(atr_log *log, uint64_t old_size, uint64_t new_size, int json)
{
	atr_hash old_root, new_root, *path = NULL;
	uint64_t cur;
	size_t n = 0;
	int rc = CLI_FAIL;

	if (get_size(log, &cur) != CLI_OK || check_consistency(old_size, new_size, cur) != CLI_OK)
		return CLI_FAIL;
	if (atr_log_root(log, old_size, &old_root) != 0 ||
	    atr_log_root(log, new_size, &new_root) != 0 ||
	    atr_log_consistency_proof(log, old_size, new_size, &path, &n) != 0) {
		cli_fail("cannot build the proof");
		goto out;
	}
	if (atr_verify_consistency(old_size, new_size, &old_root, &new_root, path, n) != 0) {
		cli_fail("the log's own consistency proof does not verify");
		goto out;
	}
	print_consistency(old_size, new_size, &old_root, &new_root, path, n, json);
	rc = CLI_OK;
out:
	atr_free(path);
	return rc;
}

/*
 * The proof bundle of one event against a signed checkpoint: the auditor's
 * file, else the newest one stored with the log.
 */
static int prove_bundle(atr_log *log, const char *event_id, const char *cp_file)
{
	atr_record *rec = NULL;
	char *note = NULL, *bundle = NULL;
	size_t nlen = 0;
	uint64_t seq;
	int rc = CLI_FAIL;

	if (atr_log_get_by_id(log, event_id, &rec) != 0)
		return cli_fail(NULL);
	seq = atr_record_seq(rec);
	atr_record_free(rec);
	if (cp_file) {
		if (cli_read_file(cp_file, 1 << 16, &note, &nlen) != CLI_OK)
			return CLI_FAIL;
	} else if (atr_log_checkpoint_get(log, ATR_CHECKPOINT_LATEST, &note, &nlen) != 0) {
		cli_fail(
		    "no signed checkpoint to prove against (sign one with 'agentrail checkpoint "
		    "--key FILE', or give --checkpoint FILE)");
		return CLI_FAIL;
	}
	if (atr_log_proof_bundle(log, seq, note, nlen, &bundle) != 0) {
		cli_fail("cannot make the proof bundle");
		goto done;
	}
	puts(bundle);
	rc = cli_finish_stdout(CLI_OK);
done:
	if (cp_file)
		free(note);
	else
		atr_free(note);
	atr_free(bundle);
	return rc;
}

/* ----------------------------------------------------------- remote */

/* GET /api/v1/root: the current size and root. */
static int remote_root(struct cli_remote *r, uint64_t *size, atr_hash *root)
{
	struct cli_answer ans;
	int rc = CLI_OK;

	if (cli_remote_get(r, "/api/v1/root", &ans, NULL) != CLI_OK)
		return CLI_FAIL;
	if (cli_json_u64(ans.json, "size", size) != 0 ||
	    cli_json_hash(ans.json, "root_hash", root) != 0) {
		cli_err("the answer of %s to GET /api/v1/root has no size and root_hash",
		        cli_remote_base(r));
		rc = CLI_FAIL;
	}
	cli_answer_release(&ans);
	return rc;
}

/* The "path" of a proof answer; '*path' is the caller's (never NULL on success). */
static int remote_path(json_t *obj, atr_hash **path, size_t *n)
{
	json_t *jp = json_object_get(obj, "path");

	*n = json_array_size(jp);
	*path = calloc(*n ? *n : 1, sizeof(**path));
	if (!json_is_array(jp) || !*path)
		return -1;
	for (size_t i = 0; i < *n; i++) {
		const char *hex = json_string_value(json_array_get(jp, i));

		if (!hex || strlen(hex) != 64 || atr_hash_parse(&(*path)[i], hex) != 0)
			return -1;
	}
	return 0;
}

/* Both roots of the current size must agree: a server that answers two trees is caught. */
static int same_root(const atr_hash *a, const atr_hash *b)
{
	if (memcmp(a->b, b->b, sizeof(a->b)) == 0)
		return CLI_OK;
	cli_err("the server's roots disagree: its proof is for another tree than GET /api/v1/root");
	return CLI_FAIL;
}

static int remote_inclusion(struct cli_remote *r, uint64_t seq, int has_size, uint64_t size,
                            int json)
{
	struct cli_answer ans, rec;
	atr_hash cur_root, leaf, root, bytes_leaf, *path = NULL;
	uint64_t cur, got_seq, got_size;
	size_t n = 0;
	char q[96];
	int rc = CLI_FAIL;

	if (remote_root(r, &cur, &cur_root) != CLI_OK ||
	    check_inclusion(seq, has_size, &size, cur) != CLI_OK)
		return CLI_FAIL;
	snprintf(q, sizeof(q), "/api/v1/proof/inclusion?seq=%llu&size=%llu",
	         (unsigned long long)seq, (unsigned long long)size);
	if (cli_remote_get(r, q, &ans, "cannot build the proof") != CLI_OK)
		return CLI_FAIL;
	if (remote_path(ans.json, &path, &n) != 0 || cli_json_u64(ans.json, "seq", &got_seq) != 0 ||
	    cli_json_u64(ans.json, "size", &got_size) != 0 || got_seq != seq || got_size != size ||
	    cli_json_hash(ans.json, "leaf_hash", &leaf) != 0 ||
	    cli_json_hash(ans.json, "root_hash", &root) != 0) {
		cli_err("the answer of %s to GET /api/v1/proof/inclusion is not an inclusion proof",
		        cli_remote_base(r));
		goto out;
	}
	/* The leaf must be the hash of the record's stored bytes, which the server also serves. */
	snprintf(q, sizeof(q), "/api/v1/records/%llu", (unsigned long long)seq);
	if (cli_remote_request(r, "GET", q, NULL, NULL, 0, &rec) != 0)
		goto out;
	if (rec.status != 200) {
		cli_remote_fail(r, &rec, "cannot build the proof");
		cli_answer_release(&rec);
		goto out;
	}
	atr_leaf_hash(&bytes_leaf, rec.body.data ? rec.body.data : "", rec.body.len);
	cli_answer_release(&rec);
	if (memcmp(bytes_leaf.b, leaf.b, sizeof(leaf.b)) != 0) {
		cli_err("the server's leaf hash for seq %llu is not the hash of its record",
		        (unsigned long long)seq);
		goto out;
	}
	if (atr_verify_inclusion(&leaf, seq, size, path, n, &root) != 0) {
		cli_fail("the server's inclusion proof does not verify");
		goto out;
	}
	if (size == cur && same_root(&root, &cur_root) != CLI_OK)
		goto out;
	print_inclusion(seq, size, &leaf, &root, path, n, json);
	rc = CLI_OK;
out:
	free(path);
	cli_answer_release(&ans);
	return rc;
}

static int remote_consistency(struct cli_remote *r, uint64_t old_size, uint64_t new_size, int json)
{
	struct cli_answer ans;
	atr_hash cur_root, old_root, new_root, *path = NULL;
	uint64_t cur, from, to;
	size_t n = 0;
	char q[96];
	int rc = CLI_FAIL;

	if (remote_root(r, &cur, &cur_root) != CLI_OK ||
	    check_consistency(old_size, new_size, cur) != CLI_OK)
		return CLI_FAIL;
	snprintf(q, sizeof(q), "/api/v1/proof/consistency?from=%llu&to=%llu",
	         (unsigned long long)old_size, (unsigned long long)new_size);
	if (cli_remote_get(r, q, &ans, "cannot build the proof") != CLI_OK)
		return CLI_FAIL;
	if (remote_path(ans.json, &path, &n) != 0 || cli_json_u64(ans.json, "from", &from) != 0 ||
	    cli_json_u64(ans.json, "to", &to) != 0 || from != old_size || to != new_size ||
	    cli_json_hash(ans.json, "old_root", &old_root) != 0 ||
	    cli_json_hash(ans.json, "new_root", &new_root) != 0) {
		cli_err("the answer of %s to GET /api/v1/proof/consistency is not a consistency "
		        "proof",
		        cli_remote_base(r));
		goto out;
	}
	if (atr_verify_consistency(old_size, new_size, &old_root, &new_root, path, n) != 0) {
		cli_fail("the server's consistency proof does not verify");
		goto out;
	}
	if (new_size == cur && same_root(&new_root, &cur_root) != CLI_OK)
		goto out;
	print_consistency(old_size, new_size, &old_root, &new_root, path, n, json);
	rc = CLI_OK;
out:
	free(path);
	cli_answer_release(&ans);
	return rc;
}

int cmd_prove(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"size", required_argument, NULL, O_SIZE},
	    {"consistency", no_argument, NULL, O_CONSISTENCY},
	    {"json", no_argument, NULL, O_JSON},
	    {"checkpoint", required_argument, NULL, O_CHECKPOINT},
	    {"store", required_argument, NULL, OPT_STORE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	uint64_t size = 0, a = 0, b = 0;
	int has_size = 0, consistency = 0, json = 0, c, r, rc;
	const char *checkpoint = NULL, *event_id = NULL;
	atr_log *log = NULL;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_SIZE:
			if ((r = cli_opt_u64(cli, "--size", optarg, &size)) != CLI_OK)
				return r;
			has_size = 1;
			break;
		case O_CONSISTENCY:
			consistency = 1;
			break;
		case O_JSON:
			json = 1;
			break;
		case O_CHECKPOINT:
			checkpoint = optarg;
			break;
		default:
			if ((r = cli_common_opt(cli, c, argv)) >= 0)
				return r;
		}
	}
	/* An event id (a UUID, never all digits) asks for a proof bundle. */
	if (!consistency && argc - optind == 1 && strchr(argv[optind], '-'))
		event_id = argv[optind];
	if (event_id || checkpoint) {
		if (!event_id || consistency || has_size)
			return cli_usage(cli, "--checkpoint makes a proof bundle: prove EVENT_ID "
			                      "[--checkpoint FILE]");
		if (cli_is_remote(cli))
			return cli_remote_unsupported(cli, "make the bundle where the store is");
		if (cli_open(cli, ATR_OPEN_READONLY, &log) != CLI_OK)
			return CLI_FAIL;
		rc = prove_bundle(log, event_id, checkpoint);
		atr_log_free(log);
		return rc;
	}
	if (consistency) {
		if (has_size)
			return cli_usage(cli, "option '--size' does not apply to '--consistency'");
		if (argc - optind < 2)
			return cli_usage(cli, "missing %s for '--consistency'",
			                 argc - optind ? "NEW" : "OLD and NEW");
		if (argc - optind > 2)
			return cli_usage(cli, "unexpected argument '%s'", argv[optind + 2]);
		if (cli_arg_u64(cli, "OLD", argv[optind], &a) != CLI_OK ||
		    cli_arg_u64(cli, "NEW", argv[optind + 1], &b) != CLI_OK)
			return CLI_USAGE;
	} else {
		if (argc - optind < 1)
			return cli_usage(cli, "missing SEQ");
		if (argc - optind > 1)
			return cli_usage(cli, "unexpected argument '%s'", argv[optind + 1]);
		if (cli_arg_u64(cli, "SEQ", argv[optind], &a) != CLI_OK)
			return CLI_USAGE;
	}
	if (cli_is_remote(cli)) {
		struct cli_remote *remote = NULL;

		if ((rc = cli_remote_open(cli, &remote)) != CLI_OK)
			return rc;
		if (consistency)
			rc = remote_consistency(remote, a, b, json);
		else
			rc = remote_inclusion(remote, a, has_size, size, json);
		cli_remote_free(remote);
		return rc;
	}
	if (cli_open(cli, ATR_OPEN_READONLY, &log) != CLI_OK)
		return CLI_FAIL;
	if (consistency)
		rc = prove_consistency(log, a, b, json);
	else
		rc = prove_inclusion(log, a, has_size, size, json);
	atr_log_free(log);
	return rc;
}
