/*
 * Verification and export. One checker consumes records in order, from the
 * store or from an export file, and reports every finding: it recomputes each
 * leaf, checks it against the stored tree, checks each payload against its
 * commitment and finally the root. O(n) hashing, O(log n) memory.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <agentrail/proof.h>
#include <agentrail/query.h>
#include <agentrail/verify.h>

#include "internal.h"
#include "jscan.h"
#include "logpriv.h"
#include "merkle.h"

/* Missing seqs reported one by one before they are summarized. */
#define MISSING_DETAIL 16
/* Skipped seqs an export check remembers, to tell a moved record from a missing one. */
#define MAX_PENDING 64

const char *atr_verify_status_name(atr_verify_status s)
{
	switch (s) {
	case ATR_VERIFY_OK:
		return "OK";
	case ATR_VERIFY_TAMPERED:
		return "TAMPERED";
	case ATR_VERIFY_TRUNCATED:
		return "TRUNCATED";
	case ATR_VERIFY_FORKED:
		return "FORKED";
	case ATR_VERIFY_UNANCHORED:
		return "UNANCHORED";
	default:
		return "ERROR";
	}
}

/* ---------------------------------------------------------------- checker */

struct checker {
	atr_finding_fn fn;
	void *ctx;
	atr_verify_result *res;
	atr__tree_edge *edge;
	uint64_t next; /* the seq the next record should carry */
	int tampered;
	int truncated;
	/* Export only: seqs skipped over, missing unless they turn up later. */
	uint64_t pending[MAX_PENDING];
	size_t npending;
};

static void report(struct checker *c, atr_finding_kind kind, int has_seq, uint64_t seq,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void report(struct checker *c, atr_finding_kind kind, int has_seq, uint64_t seq,
                   const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	atr_finding f = {kind, has_seq, seq, msg};

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->res->findings++;
	if (kind == ATR_FINDING_PAYLOAD_ERASED) {
		c->res->erased++;
	} else if (kind == ATR_FINDING_TRUNCATED) {
		c->truncated = 1;
	} else {
		c->tampered = 1;
		if (has_seq && !c->res->has_bad_seq) {
			c->res->has_bad_seq = 1;
			c->res->first_bad_seq = seq;
		}
	}
	if (c->fn)
		c->fn(c->ctx, &f);
}

static int checker_init(struct checker *c, atr_finding_fn fn, void *ctx, atr_verify_result *out)
{
	memset(out, 0, sizeof(*out));
	memset(c, 0, sizeof(*c));
	c->fn = fn;
	c->ctx = ctx;
	c->res = out;
	c->edge = malloc(sizeof(*c->edge));
	if (!c->edge)
		return atr__err(ATR_ENOMEM, "out of memory");
	atr__edge_init(c->edge);
	return 0;
}

static void checker_release(struct checker *c)
{
	if (c->edge) {
		atr__edge_release(c->edge);
		free(c->edge);
	}
}

/*
 * Records 'c->next' .. 'upto'-1 are absent. 'leaf_of' (may be NULL) gives the
 * tree's leaf for a missing seq so the recomputed root stays comparable.
 */
static int note_missing(struct checker *c, uint64_t upto,
                        int (*leaf_of)(void *, uint64_t, atr_hash *), void *lctx)
{
	uint64_t first = c->next;

	for (uint64_t s = first; s < upto; s++) {
		atr_hash leaf;
		int rc;

		if (s - first < MISSING_DETAIL)
			report(c, ATR_FINDING_MISSING, 1, s, "record %llu is missing",
			       (unsigned long long)s);
		else if (s - first == MISSING_DETAIL)
			report(c, ATR_FINDING_MISSING, 1, s, "records %llu to %llu are missing",
			       (unsigned long long)s, (unsigned long long)upto - 1);
		if (leaf_of && leaf_of(lctx, s, &leaf) == 0)
			rc = atr__edge_append(c->edge, &leaf);
		else
			rc = atr__edge_append(c->edge, &(atr_hash){{0}});
		if (rc < 0)
			return rc;
		atr__edge_clear_pending(c->edge);
	}
	c->next = upto;
	return 0;
}

/* What hashing one record tells, before it is placed in order (thread-safe). */
struct hashed {
	atr_hash leaf;
	uint64_t seq;
	int seq_ok;    /* the record carries a valid seq */
	int commit_ok; /* ... and a 64-digit detail_commit */
	int payload;   /* 0 matches, 1 changed, 2 erased */
};

static void hash_record(struct hashed *h, const char *rec, size_t len, const char *detail,
                        size_t dlen, const uint8_t *salt)
{
	const char *commit_hex;
	size_t commit_len;
	uint8_t got[32];
	char hex[65];

	atr_leaf_hash(&h->leaf, rec, len);
	h->seq_ok = atr__json_member_u64(rec, len, "seq", &h->seq) == 0;
	h->commit_ok =
	    atr__json_member_str(rec, len, "detail_commit", &commit_hex, &commit_len) == 0 &&
	    commit_len == 64;
	h->payload = 2;
	if (!h->commit_ok || !detail || !salt)
		return;
	/* Compare in hex: the record holds lower-case hex, and encoding is cheaper than parsing. */
	atr__sha256(got, salt, 32, detail, dlen, NULL, 0);
	atr__hex(hex, got, 32);
	h->payload = memcmp(hex, commit_hex, 64) != 0;
}

/*
 * Place one hashed record found at position 'pos' and report what is wrong
 * with it. 'stored' is the leaf hash the tree (or the export line) holds for
 * it, NULL if unknown. 'bytes' is what was hashed.
 */
static int place_record(struct checker *c, uint64_t pos, const struct hashed *h,
                        const atr_hash *stored, size_t bytes)
{
	unsigned long long p = (unsigned long long)pos;
	int rc;

	c->res->records++;
	c->res->bytes += bytes;
	if ((rc = atr__edge_append(c->edge, &h->leaf)) < 0)
		return rc;
	atr__edge_clear_pending(c->edge);
	c->next = pos + 1;

	if (!h->seq_ok)
		report(c, ATR_FINDING_MALFORMED, 1, pos, "record %llu has no valid 'seq'", p);
	else if (h->seq != pos)
		report(c, ATR_FINDING_REORDERED, 1, pos,
		       "record stored at seq %llu carries seq %llu: records were moved", p,
		       (unsigned long long)h->seq);
	else if (stored && memcmp(stored->b, h->leaf.b, sizeof(h->leaf.b)))
		report(c, ATR_FINDING_RECORD_CHANGED, 1, pos,
		       "record %llu changed: its bytes do not hash to the leaf in the tree", p);
	else if (!h->commit_ok)
		report(c, ATR_FINDING_MALFORMED, 1, pos, "record %llu has no valid 'detail_commit'",
		       p);
	else if (h->payload == 2)
		report(c, ATR_FINDING_PAYLOAD_ERASED, 1, pos,
		       "record %llu: payload erased (the record itself is intact)", p);
	else if (h->payload == 1)
		report(c, ATR_FINDING_PAYLOAD_CHANGED, 1, pos,
		       "record %llu: payload changed: detail does not match detail_commit", p);
	return 0;
}

static int check_record(struct checker *c, uint64_t pos, const char *rec, size_t len,
                        const atr_hash *stored, const char *detail, size_t dlen,
                        const uint8_t *salt)
{
	struct hashed h;

	hash_record(&h, rec, len, detail, dlen, salt);
	return place_record(c, pos, &h, stored, len + (detail ? dlen : 0));
}

/* Compare the recomputed root with the one the store or export vouches for. */
static void check_root(struct checker *c, uint64_t size, const atr_hash *want)
{
	char a[65], b[65];

	atr__edge_root(c->edge, &c->res->root);
	c->res->size = size;
	if (memcmp(c->res->root.b, want->b, 32) && !c->tampered) {
		atr_hash_hex(&c->res->root, a);
		atr_hash_hex(want, b);
		report(c, ATR_FINDING_TREE_MISMATCH, 0, 0,
		       "the records hash to root %s but the tree says %s", a, b);
	}
}

static void checker_finish(struct checker *c)
{
	if (c->tampered)
		c->res->status = ATR_VERIFY_TAMPERED;
	else if (c->truncated)
		c->res->status = ATR_VERIFY_TRUNCATED;
	else
		c->res->status = ATR_VERIFY_UNANCHORED;
}

/* ---------------------------------------------------------------- store */

/* Level-0 tile window: the stored leaf hashes, read 256 at a time. */
struct leaves {
	atr_store *st;
	uint64_t index; /* tile index held, or UINT64_MAX */
	unsigned width;
	atr_hash h[ATR_TILE_WIDTH];
};

static int stored_leaf(void *ctx, uint64_t seq, atr_hash *out)
{
	struct leaves *l = ctx;
	uint64_t idx = seq / ATR_TILE_WIDTH;
	int rc;

	if (l->index != idx) {
		l->index = UINT64_MAX;
		if ((rc = l->st->get_tile(l->st, 0, idx, l->h, &l->width)) < 0)
			return rc;
		l->index = idx;
	}
	if (seq % ATR_TILE_WIDTH >= l->width)
		return atr__err(ATR_ETAMPER, "the tree has no leaf %llu", (unsigned long long)seq);
	*out = l->h[seq % ATR_TILE_WIDTH];
	return 0;
}

/*
 * Store verification is pipelined over two threads: while a worker hashes
 * one chunk of records, this thread reads the next from the store; then the
 * hashed chunk is placed in order. Memory stays bounded by two chunks.
 */
#define CHUNK_ROWS  1024
#define CHUNK_BYTES (8u << 20)

struct chunk {
	size_t n;
	struct {
		uint64_t seq;
		size_t rec, rlen, det, dlen;
		int has_payload;
		uint8_t salt[32];
	} row[CHUNK_ROWS];
	struct hashed h[CHUNK_ROWS];
	char *buf;
	size_t len, cap;
};

static int chunk_put(struct chunk *k, const char *p, size_t n, size_t *off)
{
	if (k->len + n > k->cap) {
		size_t cap = k->cap ? k->cap : (1u << 20);
		char *b;

		while (cap < k->len + n)
			cap *= 2;
		if (!(b = realloc(k->buf, cap)))
			return atr__err(ATR_ENOMEM, "out of memory");
		k->buf = b;
		k->cap = cap;
	}
	memcpy(k->buf + k->len, p, n);
	*off = k->len;
	k->len += n;
	return 0;
}

/* Read up to one chunk of rows; answers the row count (0 at the end) or a status. */
static int chunk_fill(struct chunk *k, atr_store *st, atr_store_cursor *cur)
{
	atr_store_row r;
	int rc = 0;

	k->n = 0;
	k->len = 0;
	while (k->n < CHUNK_ROWS && k->len < CHUNK_BYTES && (rc = st->query_next(cur, &r)) > 0) {
		size_t i = k->n++;

		k->row[i].seq = r.seq;
		k->row[i].rlen = r.record_len;
		k->row[i].has_payload = r.detail && r.salt;
		k->row[i].dlen = k->row[i].has_payload ? r.detail_len : 0;
		if ((rc = chunk_put(k, r.record, r.record_len, &k->row[i].rec)) < 0 ||
		    (k->row[i].has_payload &&
		     (rc = chunk_put(k, r.detail, r.detail_len, &k->row[i].det)) < 0))
			return rc;
		if (k->row[i].has_payload)
			memcpy(k->row[i].salt, r.salt, 32);
	}
	return rc < 0 ? rc : (int)k->n;
}

static void *chunk_hash(void *arg)
{
	struct chunk *k = arg;

	for (size_t i = 0; i < k->n; i++) {
		int pl = k->row[i].has_payload;

		hash_record(&k->h[i], k->buf + k->row[i].rec, k->row[i].rlen,
		            pl ? k->buf + k->row[i].det : NULL, k->row[i].dlen,
		            pl ? k->row[i].salt : NULL);
	}
	return NULL;
}

/* Place a hashed chunk's records in order against the stored tree. */
static int chunk_place(struct checker *c, struct chunk *k, struct leaves *lv)
{
	int rc;

	for (size_t i = 0; i < k->n; i++) {
		uint64_t seq = k->row[i].seq;
		atr_hash leaf;

		if (seq > c->next && (rc = note_missing(c, seq, stored_leaf, lv)) < 0)
			return rc;
		if (stored_leaf(lv, seq, &leaf) < 0) {
			report(c, ATR_FINDING_TREE_MISMATCH, 1, seq,
			       "the tree has no leaf for record %llu", (unsigned long long)seq);
			leaf = (atr_hash){{0}};
		}
		rc = place_record(c, seq, &k->h[i], &leaf, k->row[i].rlen + k->row[i].dlen);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int atr_log_verify(atr_log *log, atr_finding_fn fn, void *ctx, atr_verify_result *out)
{
	struct leaves *lv = NULL;
	struct chunk *a = NULL, *b = NULL, *t;
	atr_store_cursor *cur = NULL;
	atr_query q = {0};
	struct checker c;
	atr_hash tree_root;
	uint64_t size;
	int rc, n;

	if ((rc = checker_init(&c, fn, ctx, out)) < 0)
		return rc;
	if ((rc = log->st->size(log->st, &size)) < 0 ||
	    (rc = atr_log_root(log, size, &tree_root)) < 0)
		goto done;
	lv = malloc(sizeof(*lv));
	a = calloc(1, sizeof(*a));
	b = calloc(1, sizeof(*b));
	if (!lv || !a || !b) {
		rc = atr__err(ATR_ENOMEM, "out of memory");
		goto done;
	}
	lv->st = log->st;
	lv->index = UINT64_MAX;
	q.seq_to = size;
	if (size == 0)
		goto finish;
	if ((rc = log->st->query_open(log->st, &q, &cur)) < 0)
		goto done;
	n = chunk_fill(a, log->st, cur);
	while (n > 0) {
		pthread_t th;
		int threaded = pthread_create(&th, NULL, chunk_hash, a) == 0;

		/* A short chunk was the last: never step a finished cursor again. */
		n = a->n < CHUNK_ROWS && a->len < CHUNK_BYTES ? 0 : chunk_fill(b, log->st, cur);
		if (threaded)
			pthread_join(th, NULL);
		else
			chunk_hash(a);
		if ((rc = chunk_place(&c, a, lv)) < 0)
			goto done;
		t = a;
		a = b;
		b = t;
	}
	if ((rc = n) < 0 || (rc = note_missing(&c, size, stored_leaf, lv)) < 0)
		goto done;
finish:
	check_root(&c, size, &tree_root);
	checker_finish(&c);
	rc = 0;
done:
	if (cur)
		log->st->query_close(cur);
	free(lv);
	if (a)
		free(a->buf);
	if (b)
		free(b->buf);
	free(a);
	free(b);
	checker_release(&c);
	if (rc < 0)
		out->status = ATR_VERIFY_ERROR;
	return rc;
}

/* ---------------------------------------------------------------- export */

int atr_log_export(atr_log *log, FILE *out, uint64_t *records)
{
	struct leaves *lv = NULL;
	atr_store_cursor *cur = NULL;
	atr_query q = {0};
	atr_store_row row;
	atr_hash root;
	char hex[65], salt[65];
	uint64_t size, n = 0;
	int rc;

	if (records)
		*records = 0;
	if ((rc = log->st->size(log->st, &size)) < 0 || (rc = atr_log_root(log, size, &root)) < 0)
		return rc;
	lv = malloc(sizeof(*lv));
	if (!lv)
		return atr__err(ATR_ENOMEM, "out of memory");
	lv->st = log->st;
	lv->index = UINT64_MAX;
	q.seq_to = size;
	if (size && (rc = log->st->query_open(log->st, &q, &cur)) < 0)
		goto done;
	while (cur && (rc = log->st->query_next(cur, &row)) > 0) {
		atr_hash leaf;

		if ((rc = stored_leaf(lv, row.seq, &leaf)) < 0)
			goto done;
		atr_hash_hex(&leaf, hex);
		fputs("{\"record\":", out);
		fwrite(row.record, 1, row.record_len, out);
		fprintf(out, ",\"leaf_hash\":\"%s\"", hex);
		if (row.detail && row.salt) {
			atr__hex(salt, row.salt, 32);
			fputs(",\"detail\":", out);
			fwrite(row.detail, 1, row.detail_len, out);
			fprintf(out, ",\"salt\":\"%s\"", salt);
		}
		fputs("}\n", out);
		n++;
	}
	if (rc < 0)
		goto done;
	atr_hash_hex(&root, hex);
	fprintf(out, "{\"tree_head\":{\"root_hash\":\"%s\",\"size\":%llu}}\n", hex,
	        (unsigned long long)size);
	if (fflush(out) != 0 || ferror(out)) {
		rc = atr__err(ATR_EIO, "cannot write the export: %s", strerror(errno));
		goto done;
	}
	if (records)
		*records = n;
	rc = 0;
done:
	if (cur)
		log->st->query_close(cur);
	free(lv);
	return rc;
}

/* Parse the trailer line; 0 on success. */
static int parse_tree_head(const char *line, size_t len, uint64_t *size, atr_hash *root)
{
	json_t *j = json_loadb(line, len, 0, NULL);
	json_t *th = json_object_get(j, "tree_head");
	json_t *sz = json_object_get(th, "size");
	const char *rh = json_string_value(json_object_get(th, "root_hash"));
	int ok = json_is_integer(sz) && json_integer_value(sz) >= 0 && rh &&
	         atr__unhex(root->b, 32, rh) == 0;

	if (ok)
		*size = (uint64_t)json_integer_value(sz);
	json_decref(j);
	return ok ? 0 : -1;
}

/* Check one export line (a record line); reports instead of failing. */
static int check_line(struct checker *c, const char *line, size_t len, uint64_t lineno)
{
	const char *rec, *leafhex, *detail = NULL, *salthex;
	size_t rlen, llen, dlen = 0, slen;
	uint8_t salt[32];
	int have_salt = 0;
	atr_hash stored;
	char hex[65];
	uint64_t seq;
	int rc;

	if (atr__json_member(line, len, "record", &rec, &rlen) != 0 ||
	    atr__json_member_str(line, len, "leaf_hash", &leafhex, &llen) != 0 || llen != 64) {
		report(c, ATR_FINDING_MALFORMED, 1, c->next,
		       "line %llu is not an export record line", (unsigned long long)lineno);
		c->next++;
		return 0;
	}
	memcpy(hex, leafhex, 64);
	hex[64] = '\0';
	if (atr__unhex(stored.b, 32, hex) != 0) {
		report(c, ATR_FINDING_MALFORMED, 1, c->next, "line %llu has a bad leaf_hash",
		       (unsigned long long)lineno);
		c->next++;
		return 0;
	}
	if (atr__json_member(line, len, "detail", &detail, &dlen) != 0)
		detail = NULL;
	if (atr__json_member_str(line, len, "salt", &salthex, &slen) == 0 && slen == 64) {
		memcpy(hex, salthex, 64);
		have_salt = atr__unhex(salt, 32, hex) == 0;
	}
	/*
	 * Place the record by its own seq: a jump forward leaves seqs pending
	 * as missing; a record that comes back for a pending seq was moved.
	 */
	if (atr__json_member_u64(rec, rlen, "seq", &seq) == 0 && seq != c->next) {
		if (seq > c->next && seq - c->next <= MAX_PENDING - c->npending) {
			while (c->next < seq) {
				c->pending[c->npending++] = c->next++;
				if ((rc = atr__edge_append(c->edge, &(atr_hash){{0}})) < 0)
					return rc;
				atr__edge_clear_pending(c->edge);
			}
		} else if (seq > c->next) {
			if ((rc = note_missing(c, seq, NULL, NULL)) < 0)
				return rc;
		} else {
			size_t k = 0;

			while (k < c->npending && c->pending[k] != seq)
				k++;
			c->res->records++;
			c->res->bytes += rlen;
			if (k < c->npending) {
				c->pending[k] = c->pending[--c->npending];
				report(c, ATR_FINDING_REORDERED, 1, seq,
				       "record %llu appears out of order (line %llu, after record "
				       "%llu)",
				       (unsigned long long)seq, (unsigned long long)lineno,
				       (unsigned long long)c->next - 1);
			} else {
				report(c, ATR_FINDING_REORDERED, 1, seq,
				       "record %llu appears again at line %llu",
				       (unsigned long long)seq, (unsigned long long)lineno);
			}
			return 0;
		}
	}
	return check_record(c, c->next, rec, rlen, &stored, detail, dlen, have_salt ? salt : NULL);
}

/* Seqs still pending at the end were never seen. */
static void report_pending(struct checker *c)
{
	for (size_t k = 0; k < c->npending; k++)
		report(c, ATR_FINDING_MISSING, 1, c->pending[k], "record %llu is missing",
		       (unsigned long long)c->pending[k]);
	c->npending = 0;
}

int atr_export_verify(const char *path, atr_finding_fn fn, void *ctx, atr_verify_result *out)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	struct checker c;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	uint64_t lineno = 0, head_size = 0;
	atr_hash head_root;
	int rc, have_head = 0;

	if ((rc = checker_init(&c, fn, ctx, out)) < 0) {
		if (f && f != stdin)
			fclose(f);
		return rc;
	}
	if (!f) {
		rc = atr__err(errno == ENOENT ? ATR_ENOTFOUND : ATR_EIO, "cannot open '%s': %s",
		              path, strerror(errno));
		goto done;
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			len--;
		if (len == 0)
			continue;
		if (have_head) {
			report(&c, ATR_FINDING_MALFORMED, 0, 0, "line %llu follows the tree head",
			       (unsigned long long)lineno);
			continue;
		}
		if (!strncmp(line, "{\"tree_head\"", 12)) {
			if (parse_tree_head(line, (size_t)len, &head_size, &head_root) != 0) {
				report(&c, ATR_FINDING_MALFORMED, 0, 0,
				       "line %llu: malformed tree head",
				       (unsigned long long)lineno);
				continue;
			}
			have_head = 1;
			continue;
		}
		if ((rc = check_line(&c, line, (size_t)len, lineno)) < 0)
			goto done;
	}
	if (ferror(f)) {
		rc = atr__err(ATR_EIO, "cannot read '%s': %s", path, strerror(errno));
		goto done;
	}
	report_pending(&c);
	if (!have_head) {
		report(&c, ATR_FINDING_TRUNCATED, 0, 0,
		       "the export ends without its tree head: it was cut short after %llu records",
		       (unsigned long long)c.next);
		atr__edge_root(c.edge, &out->root);
		out->size = c.next;
	} else {
		if (c.next < head_size && (rc = note_missing(&c, head_size, NULL, NULL)) < 0)
			goto done;
		if (c.next > head_size)
			report(&c, ATR_FINDING_MALFORMED, 0, 0,
			       "the export holds %llu records but its tree head says %llu",
			       (unsigned long long)c.next, (unsigned long long)head_size);
		check_root(&c, head_size, &head_root);
	}
	checker_finish(&c);
	rc = 0;
done:
	free(line);
	if (f && f != stdin)
		fclose(f);
	checker_release(&c);
	if (rc < 0)
		out->status = ATR_VERIFY_ERROR;
	return rc;
}
