/*
 * Group commit. Submitters queue requests and sleep; one writer thread takes
 * everything queued, appends it as one transaction (one fsync) through
 * atr__log_append_groups, and wakes each submitter with its own answer. The
 * more producers arrive at once, the bigger the group and the cheaper each
 * durable answer.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agentrail/ingest.h>

#include "internal.h"
#include "logpriv.h"

#define QUEUE_DEFAULT 100000
/* Events one transaction takes at most, so a flood still commits in steps. */
#define GROUP_MAX_EVENTS 20000

struct request {
	struct atr__group g;
	int done;
	struct request *next;
};

struct atr_ingest {
	atr_log *log;
	size_t queue_max;
	pthread_mutex_t mu;
	pthread_cond_t work; /* the writer waits for requests */
	pthread_cond_t done; /* submitters wait for their answer */
	struct request *head, *tail;
	size_t queued; /* events in the queue */
	int stopping;
	pthread_t writer;
	atr_ingest_stats stats;
};

static const uint64_t bucket_ms[] = {1, 2, 5, 10, 25, 50, 100};

static void record_commit(atr_ingest *ing, int64_t us)
{
	size_t b = 0;

	while (b < sizeof(bucket_ms) / sizeof(bucket_ms[0]) && (uint64_t)us > bucket_ms[b] * 1000)
		b++;
	ing->stats.commit_us_le[b]++;
	ing->stats.commit_us_sum += (uint64_t)us;
	ing->stats.commits++;
}

/* Append one taken batch of 'ng' requests; each request's group gets its answer. */
static void write_batch(atr_ingest *ing, struct request *batch, size_t ng,
                        struct atr__group **groups, size_t *cap)
{
	struct request *r;
	size_t i;

	if (ng > *cap) {
		struct atr__group *g = realloc(*groups, ng * sizeof(**groups));

		if (!g) {
			for (r = batch, i = 0; i < ng; i++, r = r->next)
				r->g.rc = atr__err(ATR_ENOMEM, "out of memory");
			return;
		}
		*groups = g;
		*cap = ng;
	}
	/* The call needs the groups side by side; copy in, then copy the answers back. */
	for (r = batch, i = 0; i < ng; i++, r = r->next)
		(*groups)[i] = r->g;
	atr__log_append_groups(ing->log, *groups, ng);
	for (r = batch, i = 0; i < ng; i++, r = r->next) {
		r->g.rc = (*groups)[i].rc;
		r->g.appended = (*groups)[i].appended;
		memcpy(r->g.msg, (*groups)[i].msg, sizeof(r->g.msg));
	}
}

static void *writer_run(void *arg)
{
	atr_ingest *ing = arg;
	struct atr__group *groups = NULL;
	size_t cap = 0;

	pthread_mutex_lock(&ing->mu);
	for (;;) {
		struct request *batch, *r;
		size_t ng = 0, events = 0;
		int64_t t0;

		while (!ing->head && !ing->stopping)
			pthread_cond_wait(&ing->work, &ing->mu);
		if (!ing->head)
			break; /* stopping, and everything is answered */
		/* Take what is queued, up to the group limit (always at least one request). */
		batch = ing->head;
		for (r = batch; r && (ng == 0 || events + r->g.n <= GROUP_MAX_EVENTS);
		     r = r->next) {
			events += r->g.n;
			ng++;
		}
		ing->head = r;
		if (!r)
			ing->tail = NULL;
		ing->queued -= events;
		pthread_mutex_unlock(&ing->mu);

		t0 = atr__now_us();
		write_batch(ing, batch, ng, &groups, &cap);

		pthread_mutex_lock(&ing->mu);
		record_commit(ing, atr__now_us() - t0);
		for (r = batch; ng--; r = r->next) {
			if (r->g.rc == 0)
				ing->stats.events += r->g.appended;
			ing->stats.requests++;
			r->done = 1;
		}
		pthread_cond_broadcast(&ing->done);
	}
	pthread_mutex_unlock(&ing->mu);
	free(groups);
	return NULL;
}

int atr_ingest_new(atr_ingest **out, atr_log *log, size_t queue_max)
{
	atr_ingest *ing = calloc(1, sizeof(*ing));

	*out = NULL;
	if (!ing)
		return atr__err(ATR_ENOMEM, "out of memory");
	ing->log = log;
	ing->queue_max = queue_max ? queue_max : QUEUE_DEFAULT;
	pthread_mutex_init(&ing->mu, NULL);
	pthread_cond_init(&ing->work, NULL);
	pthread_cond_init(&ing->done, NULL);
	if (pthread_create(&ing->writer, NULL, writer_run, ing) != 0) {
		pthread_mutex_destroy(&ing->mu);
		pthread_cond_destroy(&ing->work);
		pthread_cond_destroy(&ing->done);
		free(ing);
		return atr__err(ATR_EBACKEND, "cannot start the ingest writer thread");
	}
	*out = ing;
	return 0;
}

int atr_ingest_submit(atr_ingest *ing, const char *const *jsons, const size_t *lens, size_t n,
                      atr_append_result *results)
{
	struct request r = {{jsons, lens, n, results, 0, 0, ""}, 0, NULL};

	if (n == 0)
		return 0;
	pthread_mutex_lock(&ing->mu);
	if (ing->stopping) {
		pthread_mutex_unlock(&ing->mu);
		return atr__err(ATR_EBUSY, "the log is shutting down");
	}
	/* A request bigger than the whole queue still goes in when the queue is empty. */
	if (ing->queued && ing->queued + n > ing->queue_max) {
		pthread_mutex_unlock(&ing->mu);
		return atr__err(ATR_EBUSY, "the ingest queue is full (%zu events waiting)",
		                ing->queued);
	}
	if (ing->tail)
		ing->tail->next = &r;
	else
		ing->head = &r;
	ing->tail = &r;
	ing->queued += n;
	pthread_cond_signal(&ing->work);
	while (!r.done)
		pthread_cond_wait(&ing->done, &ing->mu);
	pthread_mutex_unlock(&ing->mu);
	if (r.g.rc < 0)
		return atr__err(r.g.rc, "%s", r.g.msg);
	return 0;
}

void atr_ingest_stats_get(atr_ingest *ing, atr_ingest_stats *out)
{
	pthread_mutex_lock(&ing->mu);
	*out = ing->stats;
	out->queued = ing->queued;
	pthread_mutex_unlock(&ing->mu);
}

void atr_ingest_free(atr_ingest *ing)
{
	if (!ing)
		return;
	pthread_mutex_lock(&ing->mu);
	ing->stopping = 1;
	pthread_cond_signal(&ing->work);
	pthread_mutex_unlock(&ing->mu);
	pthread_join(ing->writer, NULL);
	pthread_mutex_destroy(&ing->mu);
	pthread_cond_destroy(&ing->work);
	pthread_cond_destroy(&ing->done);
	free(ing);
}
