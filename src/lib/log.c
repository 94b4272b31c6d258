/*
 * The log: opens a store by URI and runs the one ingest path. An append
 * validates and canonicalizes events outside the store's lock (on two
 * threads for big batches), then under the lock assigns seqs, hashes the
 * leaves into the tree's right edge and commits records and tiles at once.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agentrail/log.h>
#include <agentrail/proof.h>
#include <agentrail/sys/store.h>

#include "event.h"
#include "internal.h"
#include "logpriv.h"
#include "merkle.h"

/* Batches at least this big are prepared on two threads. */
#define PARALLEL_MIN 128

/* ---------------------------------------------------------------- open */

int atr_store_default_uri(char **out)
{
	const char *env = getenv("AGENTRAIL_STORE");
	const char *base;
	char *s;
	int n;

	*out = NULL;
	if (env && *env) {
		s = strdup(env);
		goto done;
	}
	base = getenv("XDG_DATA_HOME");
	if (base && *base == '/') {
		n = asprintf(&s, "%s/agentrail/agentrail.db", base);
	} else {
		base = getenv("HOME");
		if (!base || !*base)
			return atr__err(ATR_EINVALID,
					"cannot find a default store: set AGENTRAIL_STORE or HOME");
		n = asprintf(&s, "%s/.local/share/agentrail/agentrail.db", base);
	}
	if (n < 0)
		s = NULL;
done:
	if (!s)
		return atr__err(ATR_ENOMEM, "out of memory");
	*out = s;
	return 0;
}

static int open_store(atr_store **st, const char *uri, unsigned flags)
{
	const char *path = uri;

	if (!strncmp(uri, "sqlite:", 7))
		path = uri + 7;
	else if (!strncmp(uri, "file:", 5))
		path = uri + 5;
	else if (strstr(uri, "://"))
		return atr__err(ATR_EUNSUPPORTED, "store '%s': this build has no store for that scheme",
				uri);
	if (!*path)
		return atr__err(ATR_EINVALID, "store URI '%s' has no path", uri);
	return atr_store_sqlite_open(st, path, flags);
}

int atr_log_open(atr_log **out, const char *uri, unsigned flags)
{
	char *def = NULL;
	atr_log *log;
	int rc;

	*out = NULL;
	if (!uri) {
		if ((rc = atr_store_default_uri(&def)) < 0)
			return rc;
		uri = def;
	}
	log = calloc(1, sizeof(*log));
	if (!log) {
		free(def);
		return atr__err(ATR_ENOMEM, "out of memory");
	}
	atr__edge_init(&log->edge);
	rc = open_store(&log->st, uri, flags);
	free(def);
	if (rc < 0) {
		atr__edge_release(&log->edge);
		free(log);
		return rc;
	}
	*out = log;
	return 0;
}

void atr_log_free(atr_log *log)
{
	if (!log)
		return;
	log->st->free(log->st);
	atr__edge_release(&log->edge);
	free(log);
}

int atr__log_tile(void *ctx, unsigned level, uint64_t index, atr_hash *hashes, unsigned *width)
{
	atr_store *st = ctx;

	return st->get_tile(st, level, index, hashes, width);
}

/* ---------------------------------------------------------------- prepare */

struct prep_job {
	struct atr__event *evs;
	const char *const *jsons;
	const size_t *lens;
	size_t from, to;
	int64_t now;
	size_t bad;      /* index of the first failure, or 'to' */
	int rc;
	char msg[512];
};

static void *prep_run(void *arg)
{
	struct prep_job *j = arg;

	j->bad = j->to;
	j->rc = 0;
	for (size_t i = j->from; i < j->to; i++) {
		size_t len = j->lens ? j->lens[i] : strlen(j->jsons[i]);

		j->rc = atr__event_prepare(&j->evs[i], j->jsons[i], len, j->now);
		if (j->rc < 0) {
			j->bad = i;
			snprintf(j->msg, sizeof(j->msg), "%s", atr_errmsg());
			for (size_t k = j->from; k < i; k++)
				atr__event_release(&j->evs[k]);
			break;
		}
	}
	return NULL;
}

/* Prepare every event, or none: on failure the message names the first bad item. */
static int prepare_all(struct atr__event *evs, const char *const *jsons, const size_t *lens,
		       size_t n, int64_t now)
{
	struct prep_job jobs[2] = {{evs, jsons, lens, 0, n, now, 0, 0, ""},
				   {evs, jsons, lens, n, n, now, 0, 0, ""}};
	pthread_t th;
	int threaded = 0;

	if (n >= PARALLEL_MIN) {
		jobs[0].to = jobs[1].from = n / 2;
		threaded = pthread_create(&th, NULL, prep_run, &jobs[1]) == 0;
	}
	prep_run(&jobs[0]);
	if (threaded)
		pthread_join(th, NULL);
	else if (jobs[1].from < jobs[1].to)
		prep_run(&jobs[1]);

	if (jobs[0].rc == 0 && jobs[1].rc == 0)
		return 0;
	for (int k = 0; k < 2; k++)
		if (jobs[k].rc == 0)
			for (size_t i = jobs[k].from; i < jobs[k].to; i++)
				atr__event_release(&evs[i]);
	struct prep_job *bad = jobs[0].rc < 0 ? &jobs[0] : &jobs[1];
	if (n == 1)
		return atr__err(bad->rc, "%s", bad->msg);
	return atr__err(bad->rc, "event %zu: %s", bad->bad, bad->msg);
}

/* ---------------------------------------------------------------- append */

/* Find an earlier event of this batch with the same id (open addressing over indices). */
struct idset {
	size_t *slot; /* index+1, 0 = empty */
	size_t mask;
};

static int idset_init(struct idset *s, size_t n)
{
	size_t cap = 16;

	while (cap < 2 * n)
		cap <<= 1;
	s->slot = calloc(cap, sizeof(*s->slot));
	s->mask = cap - 1;
	return s->slot ? 0 : atr__err(ATR_ENOMEM, "out of memory");
}

static size_t idset_find_or_add(struct idset *s, const struct atr__event *evs, size_t i)
{
	uint64_t h;

	memcpy(&h, evs[i].id + 8, sizeof(h));
	for (size_t p = h & s->mask;; p = (p + 1) & s->mask) {
		if (!s->slot[p]) {
			s->slot[p] = i + 1;
			return (size_t)-1;
		}
		if (!memcmp(evs[s->slot[p] - 1].id, evs[i].id, 16))
			return s->slot[p] - 1;
	}
}

/*
 * Decide for each event whether it is new or a re-send. 'dup[i]' is set to
 * the seq+1 of an identical record already logged, or to UINT64_MAX when it
 * repeats an earlier event of this batch (index in 'same[i]').
 */
static int check_ids(atr_store *st, const struct atr__event *evs, size_t n, uint64_t *dup,
		     size_t *same)
{
	struct idset set = {0};
	int rc = 0;

	if ((rc = idset_init(&set, n)) < 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++) {
		uint8_t hash[32];
		uint64_t seq;
		size_t prev;

		dup[i] = 0;
		if (!evs[i].id_given)
			continue;
		prev = idset_find_or_add(&set, evs, i);
		if (prev != (size_t)-1) {
			if (memcmp(evs[prev].content_hash, evs[i].content_hash, 32))
				rc = atr__err(ATR_ECONFLICT,
					      "event %zu: event_id '%s' appears earlier in the batch "
					      "with different content",
					      i, evs[i].id_text);
			dup[i] = UINT64_MAX;
			same[i] = prev;
			continue;
		}
		rc = st->find_event(st, evs[i].id, &seq, hash);
		if (rc == ATR_ENOTFOUND) {
			rc = 0;
		} else if (rc == 0) {
			if (memcmp(hash, evs[i].content_hash, 32)) {
				rc = atr__err(ATR_ECONFLICT,
					      "event_id '%s' is already logged at seq %llu with "
					      "different content",
					      evs[i].id_text, (unsigned long long)seq);
				if (n > 1)
					atr__err_prefix(rc, "event %zu", i);
			}
			dup[i] = seq + 1;
		}
	}
	if (rc < 0 && n > 1 && rc != ATR_ECONFLICT)
		rc = atr__err_prefix(rc, "checking event ids");
	free(set.slot);
	return rc;
}

static int sync_edge(atr_log *log, uint64_t size)
{
	int rc;

	if (log->edge_valid && log->edge.st.size == size)
		return 0;
	log->edge_valid = 0;
	atr__edge_clear_pending(&log->edge);
	rc = atr__edge_load(&log->edge, atr__log_tile, log->st, size);
	if (rc == 0)
		log->edge_valid = 1;
	return rc;
}

/* Under the write lock: sequence, hash and store the prepared events. */
static int append_locked(atr_log *log, struct atr__event *evs, size_t n, uint64_t size,
			 atr_append_result *res, uint64_t *dup, size_t *same)
{
	atr_store_entry *ents = NULL;
	const atr_store_tile *tiles;
	size_t ntiles, k = 0, cap = 0, off = 0;
	char *buf = NULL;
	int rc;

	if ((rc = check_ids(log->st, evs, n, dup, same)) < 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		if (!dup[i])
			cap += atr__event_record_cap(&evs[i]);
	ents = malloc(n * sizeof(*ents));
	buf = malloc(cap ? cap : 1);
	if (!ents || !buf) {
		rc = atr__err(ATR_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < n; i++) {
		struct atr__event *ev = &evs[i];
		atr_store_entry *e;
		atr_hash leaf;

		if (dup[i] == UINT64_MAX) {
			res[i] = res[same[i]];
			res[i].duplicate = 1;
			continue;
		}
		if (dup[i]) {
			res[i].seq = dup[i] - 1;
			res[i].duplicate = 1;
			memcpy(res[i].event_id, ev->id_text, sizeof(res[i].event_id));
			continue;
		}
		e = &ents[k];
		e->seq = size + k;
		e->record = buf + off;
		e->record_len = atr__event_record(ev, e->seq, buf + off);
		off += e->record_len;
		e->event_id = ev->id;
		e->content_hash = ev->content_hash;
		e->detail = ev->detail;
		e->detail_len = ev->detail_len;
		e->salt = ev->salt;
		e->type = ev->type;
		e->level = ev->level;
		e->actor = ev->actor;
		e->trace_id = ev->trace_id;
		e->session_id = ev->session_id;
		e->run_id = ev->run_id;
		e->job_id = ev->job_id;
		e->target = ev->target;
		e->ts_us = ev->ts_us;
		atr_leaf_hash(&leaf, e->record, e->record_len);
		if ((rc = atr__edge_append(&log->edge, &leaf)) < 0)
			goto cleanup;
		res[i].seq = e->seq;
		res[i].duplicate = 0;
		memcpy(res[i].event_id, ev->id_text, sizeof(res[i].event_id));
		k++;
	}
	if (k == 0)
		goto cleanup;
	if ((rc = log->st->put_records(log->st, ents, k)) < 0)
		goto cleanup;
	atr__edge_take(&log->edge, &tiles, &ntiles);
	if ((rc = log->st->put_tiles(log->st, tiles, ntiles)) < 0)
		goto cleanup;
	rc = log->st->write_commit(log->st, size + k);
cleanup:
	free(ents);
	free(buf);
	return rc;
}

int atr_log_append_batch(atr_log *log, const char *const *jsons, const size_t *lens, size_t n,
			 atr_append_result *results)
{
	struct atr__event *evs = NULL;
	atr_append_result *res = results;
	atr__edge_state *snap = NULL;
	uint64_t size, *dup = NULL;
	size_t *same = NULL;
	int rc, began = 0;

	if (n == 0)
		return 0;
	evs = calloc(n, sizeof(*evs));
	dup = malloc(n * sizeof(*dup));
	same = malloc(n * sizeof(*same));
	snap = malloc(sizeof(*snap));
	if (!res)
		res = malloc(n * sizeof(*res));
	if (!evs || !dup || !same || !snap || !res) {
		free(evs);
		rc = atr__err(ATR_ENOMEM, "out of memory");
		evs = NULL;
		goto out;
	}
	if ((rc = prepare_all(evs, jsons, lens, n, atr__now_us())) < 0) {
		free(evs);
		evs = NULL;
		goto out;
	}
	if ((rc = log->st->write_begin(log->st, &size)) < 0)
		goto out;
	began = 1;
	if ((rc = sync_edge(log, size)) < 0)
		goto out;
	memcpy(snap, &log->edge.st, sizeof(*snap));
	rc = append_locked(log, evs, n, size, res, dup, same);
	if (rc < 0) {
		memcpy(&log->edge.st, snap, sizeof(*snap));
		atr__edge_clear_pending(&log->edge);
	}
out:
	if (began && rc < 0)
		log->st->write_abort(log->st);
	else if (began && rc == 0 && log->edge.st.size == size)
		log->st->write_abort(log->st); /* all duplicates: nothing to commit */
	if (evs)
		for (size_t i = 0; i < n; i++)
			atr__event_release(&evs[i]);
	free(evs);
	free(dup);
	free(same);
	free(snap);
	if (res != results)
		free(res);
	return rc;
}

int atr_log_append(atr_log *log, const char *json, size_t len, atr_append_result *out)
{
	return atr_log_append_batch(log, &json, &len, 1, out);
}

/* ---------------------------------------------------------------- tree */

int atr_log_size(atr_log *log, uint64_t *size)
{
	return log->st->size(log->st, size);
}

/* Run 'fn' with a tree reader after checking 'size' against the log. */
static int with_reader(atr_log *log, uint64_t size, atr__tree_reader **r)
{
	uint64_t have;
	int rc;

	if ((rc = log->st->size(log->st, &have)) < 0)
		return rc;
	if (size > have)
		return atr__err(ATR_EINVALID, "size %llu is beyond the log's size %llu",
				(unsigned long long)size, (unsigned long long)have);
	return atr__tree_reader_new(r, atr__log_tile, log->st);
}

int atr_log_root(atr_log *log, uint64_t size, atr_hash *root)
{
	atr__tree_reader *r;
	int rc;

	if ((rc = with_reader(log, size, &r)) < 0)
		return rc;
	rc = atr__tree_root(r, size, root);
	atr__tree_reader_free(r);
	return rc;
}

int atr_log_leaf_hash(atr_log *log, uint64_t seq, atr_hash *out)
{
	atr__tree_reader *r;
	int rc;

	if ((rc = with_reader(log, seq + 1, &r)) < 0)
		return atr__err(ATR_ENOTFOUND, "no record at seq %llu", (unsigned long long)seq);
	rc = atr__tree_node(r, 0, seq, out);
	atr__tree_reader_free(r);
	return rc;
}

int atr_log_inclusion_proof(atr_log *log, uint64_t seq, uint64_t size, atr_hash **path, size_t *n)
{
	atr__tree_reader *r;
	int rc;

	*path = NULL;
	*n = 0;
	if ((rc = with_reader(log, size, &r)) < 0)
		return rc;
	rc = atr__tree_inclusion(r, seq, size, path, n);
	atr__tree_reader_free(r);
	return rc;
}

int atr_log_consistency_proof(atr_log *log, uint64_t old_size, uint64_t new_size, atr_hash **path,
			      size_t *n)
{
	atr__tree_reader *r;
	int rc;

	*path = NULL;
	*n = 0;
	if ((rc = with_reader(log, new_size, &r)) < 0)
		return rc;
	rc = atr__tree_consistency(r, old_size, new_size, path, n);
	atr__tree_reader_free(r);
	return rc;
}
