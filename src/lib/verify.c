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

const char *atr_finding_kind_name(atr_finding_kind k)
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
	case ATR_FINDING_CHECKPOINT_MISMATCH:
		return "checkpoint_mismatch";
	case ATR_FINDING_BAD_SIGNATURE:
		return "bad_signature";
	case ATR_FINDING_FORK:
		return "fork";
	case ATR_FINDING_UNANCHORED:
		return "unanchored";
	case ATR_FINDING_PRUNED:
		return "pruned";
	}
	return "unknown";
}

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

/* One signed checkpoint to hold the records to (stored with the log, or an anchor). */
struct cpent {
	uint64_t size;
	atr_hash root;
	int anchor;  /* 1: the caller's; 0: stored with the log or export */
	int trusted; /* its signature verified with a trusted key */
	int state;   /* CP_PENDING until the records reach its size */
};

enum { CP_PENDING, CP_HOLDS, CP_DIFFERS };

struct checker {
	atr_finding_fn fn;
	void *ctx;
	atr_verify_result *res;
	atr__tree_edge *edge;
	uint64_t next; /* the seq the next record should carry */
	int tampered;
	int truncated;
	int forked;
	int has_last_bad;
	uint64_t last_bad; /* the highest seq a finding named */
	const atr_verify_opts *opts;
	/* Checkpoints sorted by size; 'icp' is the first the records have not reached. */
	struct cpent *cps;
	size_t ncp, icp, cp_cap;
	/* Export only: seqs skipped over, missing unless they turn up later. */
	uint64_t pending[MAX_PENDING];
	size_t npending;
	/* Erased payloads not yet reported: seqs erased_first .. erased_last. */
	int erased_run;
	uint64_t erased_first, erased_last;
};

static void report_range(struct checker *c, atr_finding_kind kind, int has_seq, uint64_t seq,
                         uint64_t seq_last, uint64_t size, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

static void report_range(struct checker *c, atr_finding_kind kind, int has_seq, uint64_t seq,
                         uint64_t seq_last, uint64_t size, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	atr_finding f = {kind, has_seq, seq, msg, has_seq ? seq_last : 0, size};

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->res->findings++;
	switch (kind) {
	case ATR_FINDING_PAYLOAD_ERASED:
		c->res->erased += has_seq ? seq_last - seq + 1 : 1;
		c->res->erased_ranges++;
		break;
	case ATR_FINDING_PRUNED:
		break;
	case ATR_FINDING_TRUNCATED:
		c->truncated = 1;
		break;
	case ATR_FINDING_FORK:
		c->forked = 1;
		break;
	case ATR_FINDING_UNANCHORED:
		break;
	default:
		c->tampered = 1;
		if (has_seq && !c->res->has_bad_seq) {
			c->res->has_bad_seq = 1;
			c->res->first_bad_seq = seq;
		}
		if (has_seq && (!c->has_last_bad || seq_last > c->last_bad)) {
			c->has_last_bad = 1;
			c->last_bad = seq_last;
		}
	}
	if (c->fn)
		c->fn(c->ctx, &f);
}

#define report(c, kind, has_seq, seq, ...) report_range(c, kind, has_seq, seq, seq, 0, __VA_ARGS__)

static int checker_init(struct checker *c, const atr_verify_opts *opts, atr_finding_fn fn,
                        void *ctx, atr_verify_result *out)
{
	static const atr_verify_opts none = {0};

	memset(out, 0, sizeof(*out));
	memset(c, 0, sizeof(*c));
	c->fn = fn;
	c->ctx = ctx;
	c->res = out;
	c->opts = opts ? opts : &none;
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
	free(c->cps);
}

/* ---------------------------------------------------------------- checkpoints */

/* The trusted key named 'origin', or NULL. */
static const atr_verifier *key_for(const struct checker *c, const char *origin)
{
	for (size_t i = 0; i < c->opts->nkeys; i++)
		if (strcmp(atr_verifier_name(c->opts->keys[i]), origin) == 0)
			return c->opts->keys[i];
	return NULL;
}

/*
 * Take one signed checkpoint: check its signature when keys are given (a bad
 * one is a finding and the checkpoint is not used) and queue it for the
 * root check. A malformed stored note is a finding; a malformed anchor is
 * the caller's error.
 */
static int add_checkpoint(struct checker *c, const char *note, size_t len, int anchor)
{
	const char *what = anchor ? "anchor checkpoint" : "stored checkpoint";
	const atr_verifier *key;
	atr_checkpoint cp;
	struct cpent *e;
	int rc;

	if ((rc = atr_checkpoint_parse(note, len, &cp)) < 0) {
		if (anchor)
			return atr__err_prefix(rc, "%s", what);
		report(c, ATR_FINDING_MALFORMED, 0, 0, "a %s is malformed: %s", what, atr_errmsg());
		return 0;
	}
	c->res->checkpoints++;
	if (c->opts->nkeys) {
		if (!(key = key_for(c, cp.origin))) {
			report_range(
			    c, ATR_FINDING_BAD_SIGNATURE, 0, 0, 0, cp.size,
			    "the %s of size %llu is of origin '%s', which no trusted key names",
			    what, (unsigned long long)cp.size, cp.origin);
			return 0;
		}
		if ((rc = atr_checkpoint_open(note, len, key, &cp)) < 0) {
			if (rc != ATR_ETAMPER && rc != ATR_ENOTFOUND)
				return rc;
			report_range(c, ATR_FINDING_BAD_SIGNATURE, 0, 0, 0, cp.size, "%s: %s", what,
			             atr_errmsg());
			return 0;
		}
	}
	if (c->ncp == c->cp_cap) {
		size_t cap = c->cp_cap ? 2 * c->cp_cap : 64;
		struct cpent *n = realloc(c->cps, cap * sizeof(*n));

		if (!n)
			return atr__err(ATR_ENOMEM, "out of memory");
		c->cps = n;
		c->cp_cap = cap;
	}
	e = &c->cps[c->ncp++];
	e->size = cp.size;
	e->root = cp.root;
	e->anchor = anchor;
	e->trusted = c->opts->nkeys > 0;
	e->state = CP_PENDING;
	return 0;
}

static int cp_cmp(const void *a, const void *b)
{
	const struct cpent *x = a, *y = b;

	return x->size < y->size ? -1 : x->size > y->size;
}

/* Queue the caller's anchors, sort everything by size, and check those of size 0. */
static int checkpoints_ready(struct checker *c)
{
	int rc;

	for (size_t i = 0; i < c->opts->nanchors; i++)
		if ((rc = add_checkpoint(c, c->opts->anchors[i], strlen(c->opts->anchors[i]), 1)) <
		    0)
			return rc;
	if (c->ncp)
		qsort(c->cps, c->ncp, sizeof(*c->cps), cp_cmp);
	return 0;
}

/* The records now number c->next: check every checkpoint of that size. */
static void reach_checkpoints(struct checker *c)
{
	atr_hash root;
	int have = 0;

	while (c->icp < c->ncp && c->cps[c->icp].size <= c->next) {
		struct cpent *e = &c->cps[c->icp++];

		if (e->size < c->next)
			continue; /* only when records were placed out of order */
		if (!have) {
			atr__edge_root(c->edge, &root);
			have = 1;
		}
		e->state = memcmp(root.b, e->root.b, 32) ? CP_DIFFERS : CP_HOLDS;
	}
}

static inline void at_size(struct checker *c)
{
	if (c->icp < c->ncp && c->cps[c->icp].size <= c->next)
		reach_checkpoints(c);
}

/*
 * After the last record ('size' of them): what the checkpoints say. A
 * checkpoint that does not hold while a later (or equal) trusted one does
 * is a fork; one that does not hold with none after is tampering, located
 * between the last checkpoint that holds and its size; one beyond the end
 * is truncation.
 */
static void flush_erased(struct checker *c);

static void judge_checkpoints(struct checker *c, uint64_t size)
{
	const struct cpent *beyond = NULL, *differs = NULL;
	uint64_t anchored = 0, held_below = 0;
	char a[65], b[65];

	flush_erased(c);
	for (size_t i = 0; i < c->ncp; i++) {
		const struct cpent *e = &c->cps[i];

		if (e->size > size) {
			beyond = e;
			continue;
		}
		if (e->state == CP_HOLDS && e->trusted && e->size > anchored)
			anchored = e->size;
		if (e->state != CP_DIFFERS)
			continue;
		for (size_t k = 0; k < c->ncp; k++) {
			const struct cpent *o = &c->cps[k];

			if (o->state == CP_HOLDS && o->size >= e->size &&
			    (o->trusted || !e->trusted)) {
				atr_hash_hex(&e->root, a);
				atr_hash_hex(&o->root, b);
				report_range(
				    c, ATR_FINDING_FORK, 0, 0, 0, e->size,
				    "fork: the %s checkpoint of size %llu says root %s, but the "
				    "log holds another history there, vouched for by the "
				    "checkpoint of size %llu (root %s)",
				    e->anchor ? "anchor" : "stored", (unsigned long long)e->size, a,
				    (unsigned long long)o->size, b);
				e = NULL;
				break;
			}
		}
		if (e && !differs)
			differs = e;
	}
	/* Same size, different roots, both held to the same key: a fork even with no records. */
	for (size_t i = 0; i + 1 < c->ncp; i++) {
		const struct cpent *x = &c->cps[i], *y = &c->cps[i + 1];

		if (x->size == y->size && memcmp(x->root.b, y->root.b, 32) != 0 && !c->forked) {
			atr_hash_hex(&x->root, a);
			atr_hash_hex(&y->root, b);
			report_range(
			    c, ATR_FINDING_FORK, 0, 0, 0, x->size,
			    "fork: two signed checkpoints of size %llu have different roots "
			    "(%s and %s)",
			    (unsigned long long)x->size, a, b);
		}
	}
	if (differs && !c->has_last_bad) {
		for (size_t i = 0; i < c->ncp && c->cps[i].size < differs->size; i++)
			if (c->cps[i].state == CP_HOLDS)
				held_below = c->cps[i].size;
		atr_hash_hex(&differs->root, a);
		snprintf(b, sizeof(b), "%llu", (unsigned long long)held_below);
		report_range(
		    c, ATR_FINDING_CHECKPOINT_MISMATCH, 1, held_below, differs->size - 1,
		    differs->size,
		    "a record from %llu to %llu was changed after the checkpoint of size %llu "
		    "was signed: it says root %s, the records hash otherwise%s%s%s",
		    (unsigned long long)held_below, (unsigned long long)differs->size - 1,
		    (unsigned long long)differs->size, a,
		    held_below ? " (the checkpoint of size " : "", held_below ? b : "",
		    held_below ? " still holds)" : "");
	}
	if (beyond)
		report_range(c, ATR_FINDING_TRUNCATED, 1, size, beyond->size - 1, beyond->size,
		             "the log has %llu records but a signed checkpoint vouches for %llu: "
		             "records %llu to %llu are gone",
		             (unsigned long long)size, (unsigned long long)beyond->size,
		             (unsigned long long)size, (unsigned long long)beyond->size - 1);
	c->res->anchored_size = anchored;
	/* Unless a finding already names where the log went wrong. */
	if (c->opts->nkeys && anchored < size && !c->has_last_bad && !c->forked && !c->truncated)
		report_range(
		    c, ATR_FINDING_UNANCHORED, 1, anchored, size - 1, 0,
		    "%s %llu%s%.0llu %s not covered by a checkpoint signed with a trusted key",
		    anchored + 1 == size ? "record" : "records", (unsigned long long)anchored,
		    anchored + 1 == size ? "" : " to ",
		    anchored + 1 == size ? 0ull : (unsigned long long)size - 1,
		    anchored + 1 == size ? "is" : "are");
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
		c->next = s + 1;
		at_size(c);
	}
	c->next = upto;
	return 0;
}

/* Report the run of erased payloads seen so far, as one finding. */
static void flush_erased(struct checker *c)
{
	unsigned long long a = (unsigned long long)c->erased_first,
	                   b = (unsigned long long)c->erased_last;

	if (!c->erased_run)
		return;
	c->erased_run = 0;
	if (a == b)
		report(c, ATR_FINDING_PAYLOAD_ERASED, 1, c->erased_first,
		       "record %llu: payload erased (the record itself is intact)", a);
	else
		report_range(c, ATR_FINDING_PAYLOAD_ERASED, 1, c->erased_first, c->erased_last, 0,
		             "records %llu to %llu: payloads erased (the records themselves are "
		             "intact)",
		             a, b);
}

/* The payload of record 'pos' is erased: extend the current run, or start one. */
static void note_erased(struct checker *c, uint64_t pos)
{
	if (c->erased_run && pos == c->erased_last + 1) {
		c->erased_last = pos;
		return;
	}
	flush_erased(c);
	c->erased_run = 1;
	c->erased_first = c->erased_last = pos;
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

	if (c->erased_run && !(h->seq_ok && h->commit_ok && h->payload == 2 && h->seq == pos))
		flush_erased(c);
	if (++c->res->records % 65536 == 0 && c->opts->progress)
		c->opts->progress(c->opts->progress_ctx, c->res->records);
	c->res->bytes += bytes;
	if ((rc = atr__edge_append(c->edge, &h->leaf)) < 0)
		return rc;
	atr__edge_clear_pending(c->edge);
	c->next = pos + 1;
	at_size(c);

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
		note_erased(c, pos);
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

/* The verdict, once every finding is in (judge_checkpoints() included). */
static void checker_finish(struct checker *c, uint64_t size)
{
	if (c->tampered)
		c->res->status = ATR_VERIFY_TAMPERED;
	else if (c->forked)
		c->res->status = ATR_VERIFY_FORKED;
	else if (c->truncated)
		c->res->status = ATR_VERIFY_TRUNCATED;
	else if (c->opts->nkeys && c->res->anchored_size == size &&
	         (size > 0 || c->res->checkpoints > 0))
		c->res->status = ATR_VERIFY_OK;
	else
		c->res->status = ATR_VERIFY_UNANCHORED;
}

/* ---------------------------------------------------------------- store */

/* A window on one level of stored tiles, read 256 hashes at a time. */
struct leaves {
	atr_store *st;
	unsigned level;
	uint64_t index; /* tile index held, or UINT64_MAX */
	unsigned width;
	atr_hash h[ATR_TILE_WIDTH];
};

static void window_init(struct leaves *w, atr_store *st, unsigned level)
{
	w->st = st;
	w->level = level;
	w->index = UINT64_MAX;
	w->width = 0;
}

/* Stored node 'i' of the window's level (leaf 'i' at level 0). */
static int stored_node(struct leaves *l, uint64_t i, atr_hash *out)
{
	uint64_t idx = i / ATR_TILE_WIDTH;
	int rc;

	if (l->index != idx) {
		l->index = UINT64_MAX;
		if ((rc = l->st->get_tile(l->st, l->level, idx, l->h, &l->width)) < 0)
			return rc;
		l->index = idx;
	}
	if (i % ATR_TILE_WIDTH >= l->width)
		return atr__err(ATR_ETAMPER, "the tree has no node %llu at level %u",
		                (unsigned long long)i, l->level);
	*out = l->h[i % ATR_TILE_WIDTH];
	return 0;
}

static int stored_leaf(void *ctx, uint64_t seq, atr_hash *out)
{
	return stored_node(ctx, seq, out);
}

/*
 * The records now fill a block of 256: compare the hash the records give it
 * with the tree's stored one, which catches a record changed together with
 * its leaf hash (and names its block) unless a finding there explains it.
 */
static void check_block(struct checker *c, struct leaves *blocks)
{
	uint64_t block = c->next / ATR_TILE_WIDTH - 1, first = block * ATR_TILE_WIDTH;
	atr_hash stored;
	int rc = stored_node(blocks, block, &stored);

	if (c->has_last_bad && c->last_bad >= first)
		return;
	if (rc < 0 || memcmp(stored.b, c->edge->last_block.b, 32) != 0)
		report_range(
		    c, ATR_FINDING_TREE_MISMATCH, 1, first, first + ATR_TILE_WIDTH - 1, 0,
		    "records %llu to %llu do not hash to the tree's node over them: one of "
		    "them was changed and its leaf hash rewritten",
		    (unsigned long long)first, (unsigned long long)first + ATR_TILE_WIDTH - 1);
}

/*
 * Store verification is pipelined over two threads: this thread reads one
 * chunk of records and hashes each where SQLite holds it (no copy), while a
 * worker places the chunk before it in order against the stored tree.
 * Memory stays bounded by two chunks of hashes.
 */
#define CHUNK_ROWS 4096

struct chunk {
	size_t n;
	struct {
		uint64_t seq;
		size_t bytes; /* record and payload bytes hashed */
	} row[CHUNK_ROWS];
	struct hashed h[CHUNK_ROWS];
};

/* Read and hash up to one chunk of rows; answers the row count (0 at the end) or a status. */
static int chunk_fill(struct chunk *k, atr_store *st, atr_store_cursor *cur)
{
	atr_store_row r;
	int rc = 0;

	k->n = 0;
	while (k->n < CHUNK_ROWS && (rc = st->query_next(cur, &r)) > 0) {
		size_t i = k->n++;
		int pl = r.detail && r.salt;

		k->row[i].seq = r.seq;
		k->row[i].bytes = r.record_len + (pl ? r.detail_len : 0);
		hash_record(&k->h[i], r.record, r.record_len, pl ? r.detail : NULL,
		            pl ? r.detail_len : 0, pl ? r.salt : NULL);
	}
	return rc < 0 ? rc : (int)k->n;
}

/* Place a hashed chunk's records in order against the stored tree. */
static int chunk_place(struct checker *c, struct chunk *k, struct leaves *lv, struct leaves *blocks)
{
	int rc;

	for (size_t i = 0; i < k->n; i++) {
		uint64_t seq = k->row[i].seq;
		atr_hash leaf;

		if (seq > c->next && (rc = note_missing(c, seq, stored_leaf, lv)) < 0)
			return rc;
		int have = stored_leaf(lv, seq, &leaf) == 0;

		if (!have)
			report(c, ATR_FINDING_TREE_MISMATCH, 1, seq,
			       "the tree has no leaf for record %llu", (unsigned long long)seq);
		rc = place_record(c, seq, &k->h[i], have ? &leaf : NULL, k->row[i].bytes);
		if (rc < 0)
			return rc;
		if (c->next % ATR_TILE_WIDTH == 0)
			check_block(c, blocks);
	}
	return 0;
}

/*
 * Records at or past the tree's size exist only if someone put them there:
 * the store writes records and the size in one transaction.
 */
static int check_beyond(struct checker *c, atr_store *st, uint64_t size)
{
	atr_store_cursor *cur;
	atr_store_row row;
	atr_query q = {0};
	int rc;

	q.seq_from = size;
	q.limit = 1;
	if ((rc = st->query_open(st, &q, &cur)) < 0)
		return rc;
	rc = st->query_next(cur, &row);
	if (rc > 0)
		report(c, ATR_FINDING_MALFORMED, 1, row.seq,
		       "record %llu lies beyond the tree's %llu records: it was inserted outside "
		       "the log",
		       (unsigned long long)row.seq, (unsigned long long)size);
	st->query_close(cur);
	return rc < 0 ? rc : 0;
}

/*
 * The second stage of the pipeline: place a hashed chunk. It runs in a
 * worker thread while the caller reads the next chunk; an error's message is
 * carried back, since messages are per thread.
 */
struct stage {
	struct checker *c;
	struct chunk *k;
	struct leaves *lv, *blocks;
	int rc;
	char msg[512];
};

static void *chunk_stage(void *arg)
{
	struct stage *sg = arg;

	sg->rc = chunk_place(sg->c, sg->k, sg->lv, sg->blocks);
	if (sg->rc < 0)
		snprintf(sg->msg, sizeof(sg->msg), "%s", atr_errmsg());
	return NULL;
}

/*
 * Records below 'below' were pruned by retention: place their stored leaf
 * hashes instead, so every checkpoint inside the pruned prefix is still
 * checked against the root they give and every block of 256 against the
 * tree's node over it, and report the prefix once. Without a pruned prefix
 * the store declared, a record that is gone is 'missing' as ever.
 */
static int place_pruned(struct checker *c, uint64_t below, uint64_t size, struct leaves *lv,
                        struct leaves *blocks)
{
	int rc;

	if (below == 0)
		return 0;
	if (below > size) {
		report(c, ATR_FINDING_MALFORMED, 0, 0,
		       "the store says records below %llu were pruned, but the tree has only %llu",
		       (unsigned long long)below, (unsigned long long)size);
		below = size / ATR_TILE_WIDTH * ATR_TILE_WIDTH;
	}
	c->res->pruned = below;
	report_range(c, ATR_FINDING_PRUNED, 1, 0, below - 1, 0,
	             "records 0 to %llu were pruned by retention (their leaf hashes remain in the "
	             "tree; not tampering)",
	             (unsigned long long)below - 1);
	for (uint64_t s = 0; s < below; s++) {
		atr_hash leaf;

		if (stored_leaf(lv, s, &leaf) < 0) {
			report(c, ATR_FINDING_TREE_MISMATCH, 1, s,
			       "the tree has no leaf for pruned record %llu",
			       (unsigned long long)s);
			memset(&leaf, 0, sizeof(leaf));
		}
		if ((rc = atr__edge_append(c->edge, &leaf)) < 0)
			return rc;
		atr__edge_clear_pending(c->edge);
		c->next = s + 1;
		at_size(c);
		if (c->next % ATR_TILE_WIDTH == 0)
			check_block(c, blocks);
	}
	return 0;
}

static int stored_checkpoint(void *ctx, uint64_t size, const char *note, size_t len)
{
	(void)size;
	return add_checkpoint(ctx, note, len, 0);
}

int atr_log_verify(atr_log *log, const atr_verify_opts *opts, atr_finding_fn fn, void *ctx,
                   atr_verify_result *out)
{
	struct leaves *lv = NULL;
	struct chunk *a = NULL, *b = NULL, *t;
	atr_store_cursor *cur = NULL;
	atr_query q = {0};
	struct checker c;
	atr_hash tree_root;
	uint64_t size, below = 0;
	int rc, n, no_root = 0;

	if ((rc = checker_init(&c, opts, fn, ctx, out)) < 0)
		return rc;
	if ((rc = log->st->size(log->st, &size)) < 0 ||
	    (log->st->version >= 3 && log->st->pruned_below &&
	     (rc = log->st->pruned_below(log->st, &below)) < 0))
		goto done;
	/* A tree that cannot give its root is damaged: a finding, and every record still checked.
	 */
	if ((rc = atr_log_root(log, size, &tree_root)) < 0) {
		if (rc != ATR_ETAMPER && rc != ATR_ENOTFOUND)
			goto done;
		report(&c, ATR_FINDING_TREE_MISMATCH, 0, 0,
		       "the stored tree cannot give its root: %s", atr_errmsg());
		no_root = 1;
	}
	if ((rc = log->st->each_checkpoint(log->st, stored_checkpoint, &c)) < 0 ||
	    (rc = checkpoints_ready(&c)) < 0)
		goto done;
	at_size(&c);
	lv = malloc(2 * sizeof(*lv));
	a = calloc(1, sizeof(*a));
	b = calloc(1, sizeof(*b));
	if (!lv || !a || !b) {
		rc = atr__err(ATR_ENOMEM, "out of memory");
		goto done;
	}
	window_init(&lv[0], log->st, 0);
	window_init(&lv[1], log->st, 1);
	if ((rc = place_pruned(&c, below, size, &lv[0], &lv[1])) < 0)
		goto done;
	q.seq_from = c.next;
	q.seq_to = size;
	if (size == 0 || c.next == size)
		goto finish;
	if ((rc = log->st->query_open(log->st, &q, &cur)) < 0)
		goto done;
	n = chunk_fill(a, log->st, cur);
	while (n > 0) {
		struct stage sg = {&c, a, &lv[0], &lv[1], 0, ""};
		pthread_t th;
		int threaded = pthread_create(&th, NULL, chunk_stage, &sg) == 0;

		/* A short chunk was the last: never step a finished cursor again. */
		n = a->n < CHUNK_ROWS ? 0 : chunk_fill(b, log->st, cur);
		if (threaded)
			pthread_join(th, NULL);
		else
			chunk_stage(&sg);
		if ((rc = sg.rc) < 0) {
			atr__err(rc, "%s", sg.msg);
			goto done;
		}
		t = a;
		a = b;
		b = t;
	}
	if ((rc = n) < 0 || (rc = note_missing(&c, size, stored_leaf, &lv[0])) < 0)
		goto done;
finish:
	if ((rc = check_beyond(&c, log->st, size)) < 0)
		goto done;
	/* Checkpoints first: they locate a change the tree's root can only see. */
	judge_checkpoints(&c, size);
	if (!no_root) {
		check_root(&c, size, &tree_root);
	} else {
		atr__edge_root(c.edge, &out->root);
		out->size = size;
	}
	checker_finish(&c, size);
	rc = 0;
done:
	if (cur)
		log->st->query_close(cur);
	free(lv);
	free(a);
	free(b);
	checker_release(&c);
	if (rc < 0)
		out->status = ATR_VERIFY_ERROR;
	return rc;
}

/* ---------------------------------------------------------------- export */

struct export_ctx {
	FILE *out;
	uint64_t size;
	uint64_t below; /* the pruned prefix: checkpoints inside it are not exported */
};

static int export_tile(void *ctx, unsigned level, uint64_t index, atr_hash *hashes, unsigned *width)
{
	atr_store *st = ctx;

	return st->get_tile(st, level, index, hashes, width);
}

/*
 * {"pruned":{"below":B,"edge":[[HEIGHT,"<hex>"],...]}}: the tree's right
 * edge at B, the complete subtrees covering [0, B) left to right (those of
 * height 8L are level L's partial tile, top level first). With them and the
 * records from B on, every root from B on can be recomputed.
 */
static int export_pruned(atr_store *st, FILE *out, uint64_t below)
{
	atr__tree_edge *e = malloc(sizeof(*e));
	const char *sep = "";
	char hex[65];
	int rc;

	if (!e)
		return atr__err(ATR_ENOMEM, "out of memory");
	atr__edge_init(e);
	if ((rc = atr__edge_load(e, export_tile, st, below)) < 0)
		goto done;
	fprintf(out, "{\"pruned\":{\"below\":%llu,\"edge\":[", (unsigned long long)below);
	for (unsigned level = ATR_TREE_LEVELS; level-- > 0;)
		for (unsigned i = 0; i < e->st.width[level]; i++) {
			atr_hash_hex(&e->st.tile[level][i], hex);
			fprintf(out, "%s[%u,\"%s\"]", sep, 8 * level, hex);
			sep = ",";
		}
	fputs("]}}\n", out);
done:
	atr__edge_release(e);
	free(e);
	return rc;
}

/* One {"checkpoint":"<note>"} line for each stored checkpoint within the export. */
static int export_checkpoint(void *ctx, uint64_t size, const char *note, size_t len)
{
	struct export_ctx *x = ctx;

	if (size > x->size || size < x->below)
		return 0;
	fputs("{\"checkpoint\":\"", x->out);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)note[i];

		if (ch == '\n')
			fputs("\\n", x->out);
		else if (ch == '"' || ch == '\\')
			fprintf(x->out, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(x->out, "\\u%04x", ch);
		else
			fputc(ch, x->out);
	}
	fputs("\"}\n", x->out);
	return 0;
}

int atr_log_export(atr_log *log, FILE *out, uint64_t *records)
{
	struct export_ctx xp;
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
	window_init(lv, log->st, 0);
	xp.out = out;
	xp.size = size;
	xp.below = 0;
	if (log->st->version >= 3 && log->st->pruned_below &&
	    (rc = log->st->pruned_below(log->st, &xp.below)) < 0)
		goto done;
	if (xp.below > size) {
		rc = atr__err(ATR_ETAMPER,
		              "the store says records below %llu were pruned, but the "
		              "tree has only %llu",
		              (unsigned long long)xp.below, (unsigned long long)size);
		goto done;
	}
	if (xp.below && (rc = export_pruned(log->st, out, xp.below)) < 0)
		goto done;
	if ((rc = log->st->each_checkpoint(log->st, export_checkpoint, &xp)) < 0)
		goto done;
	q.seq_from = xp.below;
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
				at_size(c);
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

/*
 * The {"pruned":{"below":B,"edge":[...]}} line, first: start the tree at B
 * from the edge it gives. Its heights must be exactly those B implies;
 * every checkpoint from B on then checks the edge's hashes with the records.
 */
static int export_pruned_line(struct checker *c, const char *line, size_t len, uint64_t lineno)
{
	json_t *j = json_loadb(line, len, 0, NULL);
	json_t *p = json_object_get(j, "pruned");
	json_t *b = json_object_get(p, "below"), *edge = json_object_get(p, "edge"), *it;
	atr__edge_state *st = &c->edge->st;
	uint64_t below;
	size_t k = 0;
	int ok = json_is_integer(b) && json_integer_value(b) > 0 && json_is_array(edge) &&
	         json_integer_value(b) % ATR_TILE_WIDTH == 0 && c->next == 0;

	below = ok ? (uint64_t)json_integer_value(b) : 0;
	for (unsigned level = ATR_TREE_LEVELS; ok && level-- > 0;) {
		unsigned want = level ? (unsigned)((below >> (8 * level)) % ATR_TILE_WIDTH) : 0;

		st->width[level] = 0;
		for (unsigned i = 0; ok && i < want; i++, k++) {
			it = json_array_get(edge, k);
			ok = json_is_array(it) && json_array_size(it) == 2 &&
			     json_integer_value(json_array_get(it, 0)) == 8 * (json_int_t)level &&
			     json_is_string(json_array_get(it, 1)) &&
			     json_string_length(json_array_get(it, 1)) == 64 &&
			     atr__unhex(st->tile[level][i].b, 32,
			                json_string_value(json_array_get(it, 1))) == 0;
			st->width[level] = i + 1;
		}
	}
	ok = ok && k == json_array_size(edge);
	json_decref(j);
	if (!ok) {
		memset(st->width, 0, sizeof(st->width));
		report(c, ATR_FINDING_MALFORMED, 0, 0,
		       "line %llu: malformed pruned line (it must come first and give the tree's "
		       "edge at a multiple of 256)",
		       (unsigned long long)lineno);
		return 0;
	}
	st->size = below;
	c->next = below;
	c->res->pruned = below;
	report_range(c, ATR_FINDING_PRUNED, 1, 0, below - 1, 0,
	             "records 0 to %llu were pruned by retention (the export carries the tree's "
	             "edge at %llu; not tampering)",
	             (unsigned long long)below - 1, (unsigned long long)below);
	return 0;
}

/* Checkpoints inside the pruned prefix cannot be checked from an export: say so. */
static void pruned_checkpoints(struct checker *c)
{
	for (size_t i = 0; i < c->ncp && c->cps[i].size < c->res->pruned; i++)
		report_range(
		    c, ATR_FINDING_PRUNED, 0, 0, 0, c->cps[i].size,
		    "the %s checkpoint of size %llu lies in the pruned prefix (below %llu): "
		    "an export cannot check it; verify it against the store",
		    c->cps[i].anchor ? "anchor" : "stored", (unsigned long long)c->cps[i].size,
		    (unsigned long long)c->res->pruned);
}

/* A {"checkpoint":"<note>"} line, before any record. */
static int export_checkpoint_line(struct checker *c, const char *line, size_t len, uint64_t lineno)
{
	json_t *j = json_loadb(line, len, 0, NULL);
	json_t *v = json_object_get(j, "checkpoint");
	int rc = 0;

	if (!json_is_string(v) || json_object_size(j) != 1)
		report(c, ATR_FINDING_MALFORMED, 0, 0, "line %llu: malformed checkpoint line",
		       (unsigned long long)lineno);
	else
		rc = add_checkpoint(c, json_string_value(v), json_string_length(v), 0);
	json_decref(j);
	return rc;
}

int atr_export_verify(const char *path, const atr_verify_opts *opts, atr_finding_fn fn, void *ctx,
                      atr_verify_result *out)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	struct checker c;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	uint64_t lineno = 0, head_size = 0;
	atr_hash head_root;
	int rc, have_head = 0, records_started = 0;

	if ((rc = checker_init(&c, opts, fn, ctx, out)) < 0) {
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
		if (!strncmp(line, "{\"pruned\"", 9)) {
			if (records_started || lineno != 1)
				report(&c, ATR_FINDING_MALFORMED, 0, 0,
				       "line %llu: the pruned line must be the first",
				       (unsigned long long)lineno);
			else if ((rc = export_pruned_line(&c, line, (size_t)len, lineno)) < 0)
				goto done;
			continue;
		}
		if (!strncmp(line, "{\"checkpoint\"", 13)) {
			if (records_started)
				report(&c, ATR_FINDING_MALFORMED, 0, 0,
				       "line %llu: a checkpoint line after the records",
				       (unsigned long long)lineno);
			else if ((rc = export_checkpoint_line(&c, line, (size_t)len, lineno)) < 0)
				goto done;
			continue;
		}
		if (!records_started) {
			records_started = 1;
			if ((rc = checkpoints_ready(&c)) < 0)
				goto done;
			pruned_checkpoints(&c);
			at_size(&c);
		}
		if ((rc = check_line(&c, line, (size_t)len, lineno)) < 0)
			goto done;
	}
	if (!records_started) {
		if ((rc = checkpoints_ready(&c)) < 0)
			goto done;
		pruned_checkpoints(&c);
		at_size(&c);
	}
	if (ferror(f)) {
		rc = atr__err(ATR_EIO, "cannot read '%s': %s", path, strerror(errno));
		goto done;
	}
	report_pending(&c);
	if (have_head && c.next < head_size && (rc = note_missing(&c, head_size, NULL, NULL)) < 0)
		goto done;
	judge_checkpoints(&c, c.next);
	if (!have_head) {
		report(&c, ATR_FINDING_TRUNCATED, 0, 0,
		       "the export ends without its tree head: it was cut short after %llu records",
		       (unsigned long long)c.next);
		atr__edge_root(c.edge, &out->root);
		out->size = c.next;
	} else {
		if (c.next > head_size)
			report(&c, ATR_FINDING_MALFORMED, 0, 0,
			       "the export holds %llu records but its tree head says %llu",
			       (unsigned long long)c.next, (unsigned long long)head_size);
		check_root(&c, head_size, &head_root);
	}
	checker_finish(&c, c.next);
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
