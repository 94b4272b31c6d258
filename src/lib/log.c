/*
 * The log: opens a store by URI and runs the one ingest path. An append
 * validates and canonicalizes events (on a second thread for big batches,
 * pipelined with the store's work), and under the store's write lock assigns
 * seqs, hashes the leaves into the tree's right edge and commits records and
 * tiles at once.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
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

	if (!strncmp(uri, "postgres://", 11) || !strncmp(uri, "postgresql://", 13))
		return atr_store_postgres_open(st, uri, flags);
	if (!strncmp(uri, "sqlite:", 7))
		path = uri + 7;
	else if (!strncmp(uri, "file:", 5))
		path = uri + 5;
	else if (strstr(uri, "://"))
		return atr__err(ATR_EUNSUPPORTED,
		                "store '%s': this build has no store for that scheme", uri);
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
	pthread_mutex_init(&log->redact_mu, NULL);
	rc = open_store(&log->st, uri, flags);
	free(def);
	if (rc < 0) {
		atr__edge_release(&log->edge);
		pthread_mutex_destroy(&log->redact_mu);
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
	atr__log_redaction_free(log);
	free(log);
}

/* atr__tile_fn over an atr_store passed as 'ctx'. */
static int log_tile(void *ctx, unsigned level, uint64_t index, atr_hash *hashes, unsigned *width)
{
	atr_store *st = ctx;

	return st->get_tile(st, level, index, hashes, width);
}

/* ---------------------------------------------------------------- prepare */

/*
 * Big batches are a pipeline: a worker thread parses and validates events in
 * order while this thread, holding the store's write lock, sequences, hashes
 * and inserts those already prepared. Nothing is durable before the final
 * commit, so a bad event anywhere still leaves the log untouched.
 */
#define PIPELINE_MIN 64
/* Records handed to the store per put_records call. */
#define PUT_CHUNK 256

/* What one event of a batch is, as the two preparing threads see it. */
enum { EV_FREE, EV_CLAIMED, EV_READY, EV_FAILED };

struct preparer {
	struct atr__event *evs;
	const char *const *jsons;
	const size_t *lens;
	size_t n;
	int64_t now;
	const atr_redactor *red; /* masks each event before it is parsed; NULL: none */
	/*
	 * Both threads claim events in order from 'next' and publish each
	 * one's state. The consumer takes event i once it is ready and, rather
	 * than wait while the worker finishes it, prepares later ones itself.
	 */
	_Atomic size_t next;
	_Atomic unsigned char *state;
	int *rc;          /* per event: its status when EV_FAILED */
	char (*msg)[256]; /* per event: its message when EV_FAILED */
	int threaded;
	pthread_t th;
};

/* Claim and prepare the next free event; 0 when none is left. */
static int prepare_next(struct preparer *p)
{
	size_t i = atomic_fetch_add(&p->next, 1);
	size_t len;
	int rc;

	if (i >= p->n)
		return 0;
	len = p->lens ? p->lens[i] : strlen(p->jsons[i]);
	rc = atr__event_prepare_redacted(&p->evs[i], p->red, p->jsons[i], len, p->now);
	if (rc < 0) {
		p->rc[i] = rc;
		snprintf(p->msg[i], sizeof(p->msg[i]), "%s", atr_errmsg());
	}
	atomic_store(&p->state[i], rc < 0 ? EV_FAILED : EV_READY);
	return 1;
}

static void *prep_run(void *arg)
{
	while (prepare_next(arg))
		;
	return NULL;
}

static int preparer_start(struct preparer *p)
{
	atomic_init(&p->next, 0);
	p->state = calloc(p->n, sizeof(*p->state));
	p->rc = calloc(p->n, sizeof(*p->rc));
	p->msg = malloc(p->n * sizeof(*p->msg));
	if (!p->state || !p->rc || !p->msg)
		return atr__err(ATR_ENOMEM, "out of memory");
	if (p->n >= PIPELINE_MIN)
		p->threaded = pthread_create(&p->th, NULL, prep_run, p) == 0;
	return 0;
}

/* Event 'i', prepared by whichever thread got it; on failure p->rc[i] and p->msg[i] say why. */
static int preparer_get(struct preparer *p, size_t i)
{
	unsigned char st;

	while ((st = atomic_load(&p->state[i])) < EV_READY)
		if (!prepare_next(p))
			sched_yield(); /* the worker holds the last ones */
	return st == EV_READY ? 0 : p->rc[i];
}

/* Stop the worker and release every event that was prepared. */
static void preparer_finish(struct preparer *p)
{
	if (p->state)
		atomic_store(&p->next, p->n); /* nothing more gets claimed */
	if (p->threaded)
		pthread_join(p->th, NULL);
	for (size_t i = 0; p->state && i < p->n; i++)
		if (atomic_load(&p->state[i]) == EV_READY)
			atr__event_release(&p->evs[i]);
	free((void *)p->state);
	free(p->rc);
	free(p->msg);
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

/* The index of an event in the set with the same id as evs[i], or (size_t)-1. */
static size_t idset_find(const struct idset *s, const struct atr__event *evs, size_t i)
{
	uint64_t h;

	memcpy(&h, evs[i].id + 8, sizeof(h));
	for (size_t p = h & s->mask; s->slot[p]; p = (p + 1) & s->mask)
		if (!memcmp(evs[s->slot[p] - 1].id, evs[i].id, 16))
			return s->slot[p] - 1;
	return (size_t)-1;
}

static void idset_add(struct idset *s, const struct atr__event *evs, size_t i)
{
	uint64_t h;
	size_t p;

	memcpy(&h, evs[i].id + 8, sizeof(h));
	for (p = h & s->mask; s->slot[p]; p = (p + 1) & s->mask)
		;
	s->slot[p] = i + 1;
}

static int sync_edge(atr_log *log, uint64_t size)
{
	int rc;

	if (log->edge_valid && log->edge.st.size == size)
		return 0;
	log->edge_valid = 0;
	atr__edge_clear_pending(&log->edge);
	rc = atr__edge_load(&log->edge, log_tile, log->st, size);
	if (rc == 0)
		log->edge_valid = 1;
	return rc;
}

/* Records sequenced but not yet handed to the store. */
struct pending {
	atr_store_entry ents[PUT_CHUNK];
	size_t k;
	char *buf;
	size_t len, cap;
};

static int pending_flush(atr_store *st, struct pending *pd)
{
	int rc = pd->k ? st->put_records(st, pd->ents, pd->k) : 0;

	pd->k = 0;
	pd->len = 0;
	return rc;
}

/* Sequence event 'ev' as record 'seq': build its bytes, hash the leaf, queue it. */
static int sequence(atr_log *log, struct pending *pd, const struct atr__event *ev, uint64_t seq,
                    atr_hash *leaf_out)
{
	size_t need = atr__event_record_cap(ev);
	atr_store_entry *e;
	atr_hash leaf;
	int rc;

	if (pd->k == PUT_CHUNK && (rc = pending_flush(log->st, pd)) < 0)
		return rc;
	if (pd->len + need > pd->cap) {
		/* Entries point into the buffer: flush them before it moves. */
		if ((rc = pending_flush(log->st, pd)) < 0)
			return rc;
		size_t cap = pd->cap ? pd->cap : (256u << 10);
		char *b;

		while (cap < need)
			cap *= 2;
		if (cap > pd->cap) {
			if (!(b = realloc(pd->buf, cap)))
				return atr__err(ATR_ENOMEM, "out of memory");
			pd->buf = b;
			pd->cap = cap;
		}
	}
	e = &pd->ents[pd->k++];
	e->seq = seq;
	e->record = pd->buf + pd->len;
	e->record_len = atr__event_record(ev, seq, pd->buf + pd->len);
	pd->len += e->record_len;
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
	*leaf_out = leaf;
	return atr__edge_append(&log->edge, &leaf);
}

/*
 * Group 'g' failed at its event 'i' (relative): keep why, for its submitter.
 * Other groups of the same transaction are not affected.
 */
static void group_fail(struct atr__group *g, int rc, size_t i, const char *msg)
{
	g->rc = rc;
	if (g->n > 1)
		snprintf(g->msg, sizeof(g->msg), "event %zu: %s", i, msg);
	else
		snprintf(g->msg, sizeof(g->msg), "%s", msg);
}

/*
 * Is event 'i' (of the group starting at 'a') a re-send? Sets 'dup[i]' to 0
 * (new), seq+1 of a logged record, or UINT64_MAX with 'same[i]' the earlier
 * event of this transaction it repeats. 'txn' holds the events of groups
 * already accepted; 'local' this group's. Returns 0, 1 when a conflict
 * failed the group (only it), or the store's status.
 */
static int resend_one(atr_store *st, struct idset *txn, struct idset *local,
                      const struct atr__event *evs, size_t i, size_t a, uint64_t *dup, size_t *same,
                      struct atr__group *g)
{
	const struct atr__event *ev = &evs[i];
	char msg[400];
	uint8_t hash[32];
	uint64_t seq;
	size_t prev;
	int rc;

	dup[i] = 0;
	if (!ev->id_given)
		return 0;
	if ((prev = idset_find(local, evs, i)) == (size_t)-1) {
		prev = idset_find(txn, evs, i);
		idset_add(local, evs, i);
	}
	if (prev != (size_t)-1) {
		if (memcmp(evs[prev].content_hash, ev->content_hash, 32)) {
			snprintf(msg, sizeof(msg),
			         "event_id '%s' appears earlier with different content",
			         ev->id_text);
			group_fail(g, ATR_ECONFLICT, i - a, msg);
			return 1;
		}
		dup[i] = UINT64_MAX;
		same[i] = prev;
		return 0;
	}
	rc = st->find_event(st, ev->id, &seq, hash);
	if (rc == ATR_ENOTFOUND)
		return 0;
	if (rc < 0)
		return rc; /* the store failed: the whole transaction does */
	if (memcmp(hash, ev->content_hash, 32)) {
		snprintf(msg, sizeof(msg),
		         "event_id '%s' is already logged at seq %llu with different content",
		         ev->id_text, (unsigned long long)seq);
		group_fail(g, ATR_ECONFLICT, i - a, msg);
		return 1;
	}
	dup[i] = seq + 1;
	return 0;
}

/* What append_locked carries from event to event. */
struct txn {
	atr_log *log;
	struct preparer *p;
	uint64_t size, k; /* the size at the start; records sequenced so far */
	atr_append_result *res;
	uint64_t *dup;
	size_t *same;
	struct idset ids;         /* ids of the new events of accepted groups */
	struct idset local;       /* ids of the group being placed */
	atr__tree_reader *reader; /* leaf hashes of re-sent records */
	struct pending *pd;
};

/* Place event 'i', whose re-send status is decided: answer a re-send, or sequence it. */
static int place(struct txn *t, size_t i, struct atr__group *gr)
{
	const struct atr__event *ev = &t->p->evs[i];
	atr_append_result *r = &t->res[i];
	int rc;

	if (t->dup[i] == UINT64_MAX) {
		*r = t->res[t->same[i]];
		r->duplicate = 1;
		return 0;
	}
	memcpy(r->event_id, ev->id_text, sizeof(r->event_id));
	if (t->dup[i]) {
		r->seq = t->dup[i] - 1;
		r->duplicate = 1;
		if (!t->reader && (rc = atr__tree_reader_new(&t->reader, log_tile, t->log->st)) < 0)
			return rc;
		return atr__tree_node(t->reader, 0, r->seq, &r->leaf_hash);
	}
	if ((rc = sequence(t->log, t->pd, ev, t->size + t->k, &r->leaf_hash)) < 0)
		return rc;
	if (ev->id_given)
		idset_add(&t->ids, t->p->evs, i);
	r->seq = t->size + t->k++;
	r->duplicate = 0;
	gr->appended++;
	return 0;
}

/*
 * One group, alone in its transaction (atr_log_append_batch): its fate is
 * the transaction's, so each event is placed as soon as it is prepared,
 * overlapping the store's inserts with the other thread's parsing.
 */
static int place_alone(struct txn *t, struct atr__group *gr)
{
	int rc;

	for (size_t i = 0; i < gr->n; i++) {
		if (preparer_get(t->p, i) < 0) {
			group_fail(gr, t->p->rc[i], i, t->p->msg[i]);
			return atr__err(gr->rc, "%s", gr->msg);
		}
		rc = resend_one(t->log->st, &t->ids, &t->local, t->p->evs, i, 0, t->dup, t->same,
		                gr);
		if (rc == 1)
			return atr__err(gr->rc, "%s", gr->msg);
		if (rc < 0 || (rc = place(t, i, gr)) < 0)
			return rc;
	}
	return 0;
}

/*
 * Several groups: each must be wholly prepared and free of conflicts before
 * any of it is placed, because a group that fails leaves the others to
 * commit without it.
 */
static int place_groups(struct txn *t, struct atr__group *groups, size_t ng)
{
	size_t a = 0;
	int rc;

	for (size_t g = 0; g < ng; a += groups[g].n, g++) {
		struct atr__group *gr = &groups[g];
		size_t b = a + gr->n, i;

		for (i = a; i < b; i++)
			if (preparer_get(t->p, i) < 0)
				break;
		if (i < b) {
			group_fail(gr, t->p->rc[i], i - a, t->p->msg[i]);
			continue;
		}
		memset(t->local.slot, 0, (t->local.mask + 1) * sizeof(*t->local.slot));
		for (i = a, rc = 0; i < b && rc == 0; i++)
			rc = resend_one(t->log->st, &t->ids, &t->local, t->p->evs, i, a, t->dup,
			                t->same, gr);
		if (rc < 0)
			return rc;
		if (rc == 1)
			continue;
		for (i = a; i < b; i++)
			if ((rc = place(t, i, gr)) < 0)
				return rc;
	}
	return 0;
}

/*
 * Under the write lock: place every group's events, drop the groups that
 * fail (bad event, conflict), and commit once. Returns 0 when the commit (if
 * any) succeeded, or the status of a failure that refuses the whole
 * transaction.
 */
static int append_locked(atr_log *log, struct preparer *p, uint64_t size, atr_append_result *res,
                         struct atr__group *groups, size_t ng)
{
	struct txn t = {log, p, size, 0, res, NULL, NULL, {0}, {0}, NULL, NULL};
	const atr_store_tile *tiles;
	size_t ntiles, maxg = 1;
	int rc;

	for (size_t g = 0; g < ng; g++) {
		groups[g].rc = 0;
		groups[g].appended = 0;
		maxg = groups[g].n > maxg ? groups[g].n : maxg;
	}
	t.pd = calloc(1, sizeof(*t.pd));
	t.dup = malloc(p->n * sizeof(*t.dup));
	t.same = malloc(p->n * sizeof(*t.same));
	if (!t.pd || !t.dup || !t.same || idset_init(&t.ids, p->n) < 0 ||
	    idset_init(&t.local, maxg) < 0) {
		rc = atr__err(ATR_ENOMEM, "out of memory");
		goto cleanup;
	}
	rc = ng == 1 ? place_alone(&t, groups) : place_groups(&t, groups, ng);
	if (rc < 0)
		goto cleanup;
	if (t.k == 0)
		goto cleanup; /* nothing new: nothing to commit */
	if ((rc = pending_flush(log->st, t.pd)) < 0)
		goto cleanup;
	atr__edge_take(&log->edge, &tiles, &ntiles);
	if ((rc = log->st->put_tiles(log->st, tiles, ntiles)) < 0)
		goto cleanup;
	rc = log->st->write_commit(log->st, size + t.k);
cleanup:
	atr__tree_reader_free(t.reader);
	free(t.ids.slot);
	free(t.local.slot);
	free(t.dup);
	free(t.same);
	if (t.pd)
		free(t.pd->buf);
	free(t.pd);
	return rc;
}

int atr__log_append_groups(atr_log *log, struct atr__group *groups, size_t ng)
{
	struct preparer p = {0};
	const char **jsons = NULL;
	size_t *lens = NULL, n = 0, off = 0;
	atr_append_result *res = NULL;
	atr__edge_state *snap = NULL;
	uint64_t size;
	int rc;

	for (size_t g = 0; g < ng; g++)
		n += groups[g].n;
	if (n == 0)
		return 0;
	/* One flat run of events, so both threads prepare across group boundaries. */
	jsons = malloc(n * sizeof(*jsons));
	lens = malloc(n * sizeof(*lens));
	res = malloc(n * sizeof(*res));
	p.evs = calloc(n, sizeof(*p.evs));
	snap = malloc(sizeof(*snap));
	if (!jsons || !lens || !res || !p.evs || !snap) {
		rc = atr__err(ATR_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t g = 0; g < ng; g++)
		for (size_t i = 0; i < groups[g].n; i++, off++) {
			jsons[off] = groups[g].jsons[i];
			lens[off] = groups[g].lens ? groups[g].lens[i] : strlen(groups[g].jsons[i]);
		}
	p.jsons = jsons;
	p.lens = lens;
	p.n = n;
	p.now = atr__now_us();
	if ((rc = atr__log_redactor(log, &p.red)) < 0 || (rc = preparer_start(&p)) < 0 ||
	    (rc = log->st->write_begin(log->st, &size)) < 0)
		goto out;
	if ((rc = sync_edge(log, size)) < 0) {
		log->st->write_abort(log->st);
		goto out;
	}
	memcpy(snap, &log->edge.st, sizeof(*snap));
	rc = append_locked(log, &p, size, res, groups, ng);
	if (rc < 0 || log->edge.st.size == size) {
		/* Failed, or nothing new: end the transaction and put the edge back. */
		log->st->write_abort(log->st);
		memcpy(&log->edge.st, snap, sizeof(*snap));
		atr__edge_clear_pending(&log->edge);
	}
	off = 0;
	for (size_t g = 0; g < ng; off += groups[g].n, g++)
		if (groups[g].results && groups[g].rc == 0 && rc == 0)
			memcpy(groups[g].results, res + off, groups[g].n * sizeof(*res));
out:
	if (rc < 0)
		for (size_t g = 0; g < ng; g++) {
			groups[g].rc = rc;
			snprintf(groups[g].msg, sizeof(groups[g].msg), "%s", atr_errmsg());
		}
	preparer_finish(&p);
	free(p.evs);
	free(jsons);
	free(lens);
	free(res);
	free(snap);
	return rc;
}

int atr_log_append_batch(atr_log *log, const char *const *jsons, const size_t *lens, size_t n,
                         atr_append_result *results)
{
	struct atr__group g = {jsons, lens, n, results, 0, 0, ""};
	int rc;

	if (n == 0)
		return 0;
	rc = atr__log_append_groups(log, &g, 1);
	if (rc == 0 && g.rc < 0)
		return atr__err(g.rc, "%s", g.msg);
	return rc < 0 ? atr__err(rc, "%s", g.msg) : 0;
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
	return atr__tree_reader_new(r, log_tile, log->st);
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
