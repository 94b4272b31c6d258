/*
 * atr_log_migrate: copy a log into an empty store of any kind, record by
 * record, below the log layer (the records are not events to validate
 * again: their bytes are the Merkle leaves). The index columns come out of
 * each record, the content hash from the source's event index, the tiles
 * from the copy's own tree, which must end at the source's root; then every
 * signed checkpoint is checked against the copy (docs/postgres.md).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <agentrail/checkpoint.h>
#include <agentrail/migrate.h>
#include <agentrail/proof.h>
#include <agentrail/query.h>
#include <agentrail/sys/store.h>

#include "internal.h"
#include "logpriv.h"
#include "merkle.h"

/* Records per put_records call, and per transaction of the copy. */
#define CHUNK 256
#define TXN   8192

/* The redaction salt's key (log_redact.c): the masks of later events depend on it. */
static const char *const meta_keys[] = {"redact_salt"};

/* One record being copied, with everything its entry points to. */
struct item {
	json_t *rec; /* the parsed record: the index strings point into it */
	char *record;
	size_t record_len;
	char *detail; /* NULL: erased */
	size_t detail_len;
	uint8_t salt[32];
	uint8_t id[16];
	uint8_t hash[32];
};

static void items_clear(struct item *it, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		json_decref(it[i].rec);
		free(it[i].record);
		free(it[i].detail);
		memset(&it[i], 0, sizeof(it[i]));
	}
}

static const char *field(json_t *rec, const char *name)
{
	return json_string_value(json_object_get(rec, name));
}

/* Parse a text UUID (8-4-4-4-12 hex digits) into 16 bytes. */
static int uuid_bytes(uint8_t out[16], const char *s)
{
	char hex[33];
	size_t k = 0;

	if (!s || strlen(s) != 36)
		return -1;
	for (size_t i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return -1;
		} else {
			hex[k++] = s[i];
		}
	}
	hex[32] = '\0';
	return atr__unhex(out, 16, hex);
}

/* Take the cursor's row into 'it' and make its store entry. */
static int take_row(atr_store *src, const atr_store_row *row, struct item *it, atr_store_entry *e)
{
	json_error_t jerr;
	uint64_t seq = 0;
	int64_t ts;
	int rc;

	memset(e, 0, sizeof(*e));
	if (!(it->record = malloc(row->record_len ? row->record_len : 1)))
		return atr__err(ATR_ENOMEM, "out of memory");
	memcpy(it->record, row->record, row->record_len);
	it->record_len = row->record_len;
	if (row->detail) {
		if (!(it->detail = malloc(row->detail_len ? row->detail_len : 1)))
			return atr__err(ATR_ENOMEM, "out of memory");
		memcpy(it->detail, row->detail, row->detail_len);
		it->detail_len = row->detail_len;
		memcpy(it->salt, row->salt, 32);
	}
	it->rec = json_loadb(row->record, row->record_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!it->rec || !json_is_object(it->rec))
		return atr__err(ATR_ETAMPER, "record %llu is not a JSON object: %s",
		                (unsigned long long)row->seq,
		                it->rec ? "not an object" : jerr.text);
	if (uuid_bytes(it->id, field(it->rec, "event_id")) != 0 || !field(it->rec, "type") ||
	    !field(it->rec, "level") || !field(it->rec, "actor") || !field(it->rec, "ts") ||
	    atr_time_parse(field(it->rec, "ts"), &ts) != 0 ||
	    json_integer_value(json_object_get(it->rec, "seq")) != (json_int_t)row->seq)
		return atr__err(ATR_ETAMPER,
		                "record %llu lacks a well-formed event_id, type, level, actor, ts "
		                "or its own seq",
		                (unsigned long long)row->seq);
	/* The content hash (idempotency) is not in the record: the source's event index has it. */
	if ((rc = src->find_event(src, it->id, &seq, it->hash)) != 0)
		return atr__err_prefix(rc, "record %llu", (unsigned long long)row->seq);
	if (seq != row->seq)
		return atr__err(ATR_ETAMPER, "record %llu's event_id is indexed at seq %llu",
		                (unsigned long long)row->seq, (unsigned long long)seq);
	e->seq = row->seq;
	e->event_id = it->id;
	e->content_hash = it->hash;
	e->record = it->record;
	e->record_len = it->record_len;
	e->detail = it->detail;
	e->detail_len = it->detail_len;
	e->salt = it->detail ? it->salt : NULL;
	e->type = field(it->rec, "type");
	e->level = field(it->rec, "level");
	e->actor = field(it->rec, "actor");
	e->trace_id = field(it->rec, "trace_id");
	e->session_id = field(it->rec, "session_id");
	e->run_id = field(it->rec, "run_id");
	e->job_id = field(it->rec, "job_id");
	e->target = field(it->rec, "target");
	e->ts_us = ts;
	return 0;
}

/* Is 'to' a new log: no records, no checkpoints, no metadata that differs from the source's? */
static int check_empty(atr_store *from, atr_store *to)
{
	uint64_t size = 0;
	char *note = NULL, *a = NULL, *b = NULL;
	size_t len = 0, alen = 0, blen = 0;
	int rc;

	if ((rc = to->size(to, &size)) != 0)
		return rc;
	if (size > 0)
		return atr__err(ATR_EEXISTS,
		                "the target log is not empty (%llu records): migrate writes only "
		                "into a new log",
		                (unsigned long long)size);
	rc = to->get_checkpoint(to, UINT64_MAX, &note, &len);
	free(note);
	if (rc == 0)
		return atr__err(ATR_EEXISTS, "the target log is not empty (it holds a checkpoint): "
		                             "migrate writes only into a new log");
	if (rc != ATR_ENOTFOUND)
		return rc;
	for (size_t i = 0; i < sizeof(meta_keys) / sizeof(meta_keys[0]); i++) {
		int ra = from->meta_once(from, meta_keys[i], NULL, 0, &a, &alen);
		int rb = to->meta_once(to, meta_keys[i], NULL, 0, &b, &blen);

		rc = 0;
		if (ra != 0 && ra != ATR_ENOTFOUND)
			rc = ra;
		else if (rb != 0 && rb != ATR_ENOTFOUND)
			rc = rb;
		else if (rb == 0 && (ra != 0 || alen != blen || memcmp(a, b, alen) != 0))
			rc = atr__err(ATR_EEXISTS,
			              "the target log is not empty (it has another '%s'): migrate "
			              "writes only into a new log",
			              meta_keys[i]);
		else if (ra == 0 && rb == ATR_ENOTFOUND)
			rc = to->meta_once(to, meta_keys[i], a, alen, &b, &blen);
		free(a);
		free(b);
		a = b = NULL;
		if (rc)
			return rc;
	}
	return 0;
}

struct cps {
	char **notes;
	size_t *lens;
	uint64_t *sizes;
	size_t n, cap;
	uint64_t max_size;
};

static int keep_cp(void *ctx, uint64_t size, const char *note, size_t len)
{
	struct cps *c = ctx;

	if (size > c->max_size)
		return 0; /* newer than the copy: appended meanwhile */
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 16;
		char **n = realloc(c->notes, cap * sizeof(*n));

		if (n)
			c->notes = n;
		size_t *l = realloc(c->lens, cap * sizeof(*l));

		if (l)
			c->lens = l;
		uint64_t *s = realloc(c->sizes, cap * sizeof(*s));

		if (s)
			c->sizes = s;
		if (!n || !l || !s)
			return atr__err(ATR_ENOMEM, "out of memory");
		c->cap = cap;
	}
	if (!(c->notes[c->n] = malloc(len + 1)))
		return atr__err(ATR_ENOMEM, "out of memory");
	memcpy(c->notes[c->n], note, len);
	c->notes[c->n][len] = '\0';
	c->lens[c->n] = len;
	c->sizes[c->n++] = size;
	return 0;
}

/* Check the source's checkpoints' signatures against the keys: before anything is written. */
static int check_signatures(const struct cps *c, const atr_migrate_opts *o, uint64_t *signed_ok)
{
	*signed_ok = 0;
	for (size_t i = 0; i < c->n; i++) {
		atr_checkpoint cp;
		int rc;

		if (atr_checkpoint_parse(c->notes[i], c->lens[i], &cp) != 0)
			return atr__err(ATR_ETAMPER,
			                "the source's checkpoint of size %llu is malformed",
			                (unsigned long long)c->sizes[i]);
		for (size_t k = 0; o && k < o->nkeys; k++) {
			rc = atr_checkpoint_open(c->notes[i], c->lens[i], o->keys[k], &cp);
			if (rc == 0) {
				(*signed_ok)++;
				break;
			}
			if (rc != ATR_ENOTFOUND)
				return atr__err(
				    ATR_ETAMPER,
				    "the source's checkpoint of size %llu has a bad signature "
				    "by key '%s'",
				    (unsigned long long)c->sizes[i], atr_verifier_name(o->keys[k]));
		}
	}
	if (o && o->nkeys && c->n && *signed_ok == 0)
		return atr__err(ATR_ENOTFOUND,
		                "none of the source's %zu checkpoints is signed by the given key%s",
		                c->n, o->nkeys > 1 ? "s" : "");
	return 0;
}

static int tile_of(void *ctx, unsigned level, uint64_t index, atr_hash *hashes, unsigned *width)
{
	atr_store *st = ctx;

	return st->get_tile(st, level, index, hashes, width);
}

/* Copy records [0, size) in transactions of TXN records. */
static int copy_records(atr_log *from, atr_log *to, uint64_t size, const atr_migrate_opts *o,
                        atr_migrate_result *res)
{
	atr_store *src = from->st, *dst = to->st;
	atr_store_cursor *cur = NULL;
	struct item *items = calloc(CHUNK, sizeof(*items));
	atr_store_entry *ents = calloc(CHUNK, sizeof(*ents));
	atr__tree_edge edge;
	atr_store_row row;
	uint64_t done = 0, have = 0;
	size_t k = 0;
	int rc = 0, in_write = 0;

	atr__edge_init(&edge);
	if (!items || !ents) {
		rc = atr__err(ATR_ENOMEM, "out of memory");
		goto out;
	}
	if (size == 0)
		goto out;
	if ((rc = src->query_open(src, &(atr_query){.seq_to = size}, &cur)) != 0)
		goto out;
	while (done < size) {
		if (!in_write) {
			if ((rc = dst->write_begin(dst, &have)) != 0)
				goto out;
			in_write = 1;
			if (have != done) {
				rc = atr__err(
				    ATR_ECONFLICT,
				    "the new log grew to %llu records while being copied into",
				    (unsigned long long)have);
				goto out;
			}
		}
		if ((rc = src->query_next(cur, &row)) < 0)
			goto out;
		if (rc == 0 || row.seq != done) {
			rc = atr__err(ATR_ETAMPER, "the source has no record %llu of its %llu",
			              (unsigned long long)done, (unsigned long long)size);
			goto out;
		}
		if ((rc = take_row(src, &row, &items[k], &ents[k])) != 0)
			goto out;
		{
			atr_hash leaf;

			atr_leaf_hash(&leaf, items[k].record, items[k].record_len);
			if ((rc = atr__edge_append(&edge, &leaf)) != 0)
				goto out;
		}
		res->erased += !items[k].detail;
		k++;
		done++;
		if (k == CHUNK || done == size || done % TXN == 0) {
			if ((rc = dst->put_records(dst, ents, k)) != 0)
				goto out;
			items_clear(items, k);
			k = 0;
		}
		if (done == size || done % TXN == 0) {
			const atr_store_tile *tiles;
			size_t ntiles;

			atr__edge_take(&edge, &tiles, &ntiles);
			if ((rc = dst->put_tiles(dst, tiles, ntiles)) != 0 ||
			    (rc = dst->write_commit(dst, done)) != 0)
				goto out;
			in_write = 0;
			res->records = done;
			if (o && o->progress)
				o->progress(o->ctx, done, size);
		}
	}
	atr__edge_root(&edge, &res->root);
out:
	if (in_write)
		dst->write_abort(dst);
	if (cur)
		src->query_close(cur);
	if (items)
		items_clear(items, CHUNK);
	free(items);
	free(ents);
	atr__edge_release(&edge);
	return rc;
}

int atr_log_migrate(atr_log *from, atr_log *to, const atr_migrate_opts *opts,
                    atr_migrate_result *out)
{
	atr_store *src = from->st, *dst = to->st;
	struct cps c = {0};
	uint64_t size = 0, below = 0;
	atr_hash want;
	int rc;

	memset(out, 0, sizeof(*out));
	if (src->version < 3 || dst->version < 3)
		return atr__err(ATR_EUNSUPPORTED, "migrate needs stores of interface version 3");
	if ((rc = src->pruned_below(src, &below)) != 0)
		return rc;
	if (below > 0)
		return atr__err(
		    ATR_EUNSUPPORTED,
		    "the source was pruned below seq %llu: its first records are gone and "
		    "a copy starts at seq 0 (migrate an unpruned backup of it instead)",
		    (unsigned long long)below);
	if ((rc = check_empty(src, dst)) != 0)
		return rc;
	if ((rc = src->size(src, &size)) != 0)
		return rc;
	c.max_size = size;
	if ((rc = src->each_checkpoint(src, keep_cp, &c)) != 0 ||
	    (rc = check_signatures(&c, opts, &out->signed_ok)) != 0)
		goto out;
	if ((rc = copy_records(from, to, size, opts, out)) != 0)
		goto out;
	/* The copy's tree against the source's: the same leaves make the same root. */
	if (size > 0) {
		atr__tree_reader *r = NULL;

		if ((rc = atr__tree_reader_new(&r, tile_of, src)) == 0)
			rc = atr__tree_root(r, size, &want);
		atr__tree_reader_free(r);
		if (rc != 0)
			goto out;
		if (memcmp(&want, &out->root, sizeof(want)) != 0) {
			rc = atr__err(
			    ATR_ETAMPER,
			    "the copy's root at %llu records differs from the source's: the "
			    "source's records do not match its tree",
			    (unsigned long long)size);
			goto out;
		}
	}
	/* Each checkpoint must match the copy's root at its size (atr_log_checkpoint_add checks).
	 */
	for (size_t i = 0; i < c.n; i++) {
		if ((rc = atr_log_checkpoint_add(to, c.notes[i], c.lens[i])) != 0) {
			rc = atr__err_prefix(rc, "the source's checkpoint of size %llu",
			                     (unsigned long long)c.sizes[i]);
			goto out;
		}
		out->checkpoints++;
	}
out:
	for (size_t i = 0; i < c.n; i++)
		free(c.notes[i]);
	free(c.notes);
	free(c.lens);
	free(c.sizes);
	return rc;
}
