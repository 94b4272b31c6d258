/*
 * Witness receivers of `agentrail serve --witness-url`: each URL has a
 * thread that POSTs every new checkpoint (text/plain, the note verbatim)
 * in order, retrying with back-off, from a bounded queue that drops the
 * oldest pending checkpoint when full (the newest supersedes it). Nothing
 * here ever blocks the signer or the ingest. The same delivery serves the
 * alert webhook (alerter.c, --alert-webhook), as another srv_push_kind.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "server/server.h"

struct item {
	char *note;
	size_t len;
	uint64_t size;
};

const struct srv_push_kind srv_witness_kind = {
    "text/plain; charset=utf-8", "checkpoint", "witness", "WITNESS", SRV_WITNESS_QUEUE, 1};

struct srv_witness {
	const struct srv_push_kind *kind;
	char *url;
	char *name; /* the URL without user:password, for messages */
	unsigned index;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct item *q; /* a ring of kind->queue items: 'head', 'n' items */
	unsigned head, n;
	int stop;
	double deadline; /* once stopping: give up at this monotonic time */
	CURL *curl;
	/* For /metrics (atomics). */
	uint64_t m_delivered, m_failures, m_rejected, m_dropped;
};

int srv_witness_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void srv_witness_global_cleanup(void)
{
	curl_global_cleanup();
}

const char *srv_witness_name(const struct srv_witness *w)
{
	return w->name;
}

/* "scheme://user:pass@host/…" without "user:pass@". */
static char *strip_userinfo(const char *url)
{
	const char *p = strstr(url, "://"), *at, *end;
	size_t n;
	char *out;

	if (!p)
		return strdup(url);
	p += 3;
	end = p + strcspn(p, "/?#");
	at = memchr(p, '@', (size_t)(end - p));
	if (!at)
		return strdup(url);
	n = (size_t)(p - url) + strlen(at + 1) + 1;
	if (!(out = malloc(n)))
		return NULL;
	snprintf(out, n, "%.*s%s", (int)(p - url), url, at + 1);
	return out;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
	return size * nmemb;
}

/* Queue a copy of 'note'; when the queue is full the oldest pending one is dropped. */
void srv_witness_push(struct srv_witness *w, const char *note, size_t len, uint64_t size)
{
	char *copy = malloc(len + 1);

	if (!copy) {
		__atomic_fetch_add(&w->m_dropped, 1, __ATOMIC_RELAXED);
		return;
	}
	memcpy(copy, note, len);
	copy[len] = '\0';
	pthread_mutex_lock(&w->mu);
	if (w->n == w->kind->queue) {
		free(w->q[w->head].note);
		w->head = (w->head + 1) % w->kind->queue;
		w->n--;
		__atomic_fetch_add(&w->m_dropped, 1, __ATOMIC_RELAXED);
	}
	w->q[(w->head + w->n) % w->kind->queue] = (struct item){copy, len, size};
	w->n++;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->mu);
}

/* POST one note: 0 delivered (2xx), 1 retry later, -1 refused by the witness (4xx). */
static int post(struct srv_witness *w, const struct item *it, long timeout_ms, char *why,
                size_t whysize)
{
	struct curl_slist *hdrs = NULL;
	long status = 0;
	CURLcode cc;

	if (!w->curl && !(w->curl = curl_easy_init())) {
		snprintf(why, whysize, "cannot initialize libcurl");
		return 1;
	}
	curl_easy_reset(w->curl);
	snprintf(why, whysize, "Content-Type: %s", w->kind->content_type);
	hdrs = curl_slist_append(NULL, why);
	if (!hdrs) {
		snprintf(why, whysize, "out of memory");
		return 1;
	}
	curl_easy_setopt(w->curl, CURLOPT_URL, w->url);
	curl_easy_setopt(w->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(w->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, it->note);
	curl_easy_setopt(w->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)it->len);
	curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(w->curl, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(w->curl, CURLOPT_CONNECTTIMEOUT_MS,
	                 timeout_ms < 5000 ? timeout_ms : 5000L);
	curl_easy_setopt(w->curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(w->curl, CURLOPT_USERAGENT, "agentrail/" ATR_VERSION);
	cc = curl_easy_perform(w->curl);
	if (cc == CURLE_OK)
		curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	if (cc != CURLE_OK) {
		snprintf(why, whysize, "%s", curl_easy_strerror(cc));
		return 1;
	}
	if (status >= 200 && status < 300)
		return 0;
	snprintf(why, whysize, "HTTP status %ld", status);
	/* A witness that refused a checkpoint will refuse it again; a busy one may not. */
	return status >= 400 && status < 500 && status != 408 && status != 429 ? -1 : 1;
}

/*
 * Sleep 'seconds' on the condition (called with 'mu' held): new checkpoints
 * do not cut a back-off short, only a stop does.
 */
static void wait_for(struct srv_witness *w, double seconds)
{
	double at = util_now_mono() + seconds;
	int stop = w->stop;

	while (w->stop == stop) {
		double left = at - util_now_mono();
		struct timespec ts;

		if (left <= 0)
			break;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)left;
		ts.tv_nsec += (long)((left - (double)(time_t)left) * 1e9);
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&w->cond, &w->mu, &ts);
	}
}

static void *witness_run(void *arg)
{
	struct srv_witness *w = arg;
	struct item cur = {0};
	double backoff = 0;
	char why[CURL_ERROR_SIZE + 64];

	pthread_mutex_lock(&w->mu);
	for (;;) {
		long timeout_ms = SRV_WITNESS_TIMEOUT_S * 1000L;
		int rc;

		if (!cur.note) {
			while (!w->n && !w->stop)
				pthread_cond_wait(&w->cond, &w->mu);
			if (!w->n)
				break; /* stopping with nothing left */
			cur = w->q[w->head];
			w->head = (w->head + 1) % w->kind->queue;
			w->n--;
		}
		if (w->stop) {
			double left = w->deadline - util_now_mono();

			/* Shutting down: only the newest checkpoint matters now. */
			if (w->n && w->kind->newest_only) {
				free(cur.note);
				__atomic_fetch_add(&w->m_dropped, 1, __ATOMIC_RELAXED);
				cur = w->q[w->head];
				w->head = (w->head + 1) % w->kind->queue;
				w->n--;
				continue;
			}
			if (left <= 0)
				break;
			if (left * 1000 < (double)timeout_ms)
				timeout_ms = (long)(left * 1000) + 1;
		}
		pthread_mutex_unlock(&w->mu);
		rc = post(w, &cur, timeout_ms, why, sizeof(why));
		pthread_mutex_lock(&w->mu);
		if (rc == 0) {
			__atomic_fetch_add(&w->m_delivered, 1, __ATOMIC_RELAXED);
			if (backoff > 0)
				fprintf(
				    stderr,
				    "agentrail serve: %s '%s' reached again: %s %llu delivered\n",
				    w->kind->receiver, w->name, w->kind->noun,
				    (unsigned long long)cur.size);
			backoff = 0;
			free(cur.note);
			cur.note = NULL;
		} else if (rc < 0) {
			__atomic_fetch_add(&w->m_rejected, 1, __ATOMIC_RELAXED);
			fprintf(stderr,
			        "agentrail serve: %s '%s' REFUSED %s %llu (%s); not retried\n",
			        w->kind->shout, w->name, w->kind->noun,
			        (unsigned long long)cur.size, why);
			free(cur.note);
			cur.note = NULL;
		} else {
			__atomic_fetch_add(&w->m_failures, 1, __ATOMIC_RELAXED);
			backoff = backoff <= 0 ? 1
			          : backoff * 2 > SRV_WITNESS_MAX_BACKOFF_S
			              ? SRV_WITNESS_MAX_BACKOFF_S
			              : backoff * 2;
			fprintf(stderr,
			        "agentrail serve: cannot deliver %s %llu to %s '%s': %s (retrying "
			        "in %.0f s)\n",
			        w->kind->noun, (unsigned long long)cur.size, w->kind->receiver,
			        w->name, why, backoff);
			if (w->stop) {
				double left = w->deadline - util_now_mono();

				if (left > 0)
					wait_for(w, left < 0.25 ? left : 0.25);
			} else {
				wait_for(w, backoff);
			}
		}
	}
	if (cur.note) {
		fprintf(stderr, "agentrail serve: %s '%s' did not get %s %llu before shutdown\n",
		        w->kind->receiver, w->name, w->kind->noun, (unsigned long long)cur.size);
		free(cur.note);
		__atomic_fetch_add(&w->m_dropped, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int srv_witness_start(struct srv_witness **out, const char *url, unsigned index)
{
	return srv_push_start(out, url, index, &srv_witness_kind);
}

int srv_push_start(struct srv_witness **out, const char *url, unsigned index,
                   const struct srv_push_kind *kind)
{
	struct srv_witness *w = calloc(1, sizeof(*w));
	pthread_condattr_t ca;

	*out = NULL;
	if (!w || !(w->url = strdup(url)) || !(w->name = strip_userinfo(url)) ||
	    !(w->q = calloc(kind->queue, sizeof(*w->q)))) {
		if (w) {
			free(w->name);
			free(w->url);
		}
		free(w);
		fprintf(stderr, "agentrail: out of memory\n");
		return -1;
	}
	w->index = index;
	w->kind = kind;
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&w->thread, NULL, witness_run, w) != 0) {
		fprintf(stderr, "agentrail: cannot start the thread of %s '%s'\n", kind->receiver,
		        w->name);
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->mu);
		free(w->q);
		free(w->name);
		free(w->url);
		free(w);
		return -1;
	}
	*out = w;
	return 0;
}

void srv_witness_stop(struct srv_witness *w, double seconds)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	w->deadline = util_now_mono() + seconds;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	for (unsigned i = 0; i < w->n; i++)
		free(w->q[(w->head + i) % w->kind->queue].note);
	free(w->q);
	if (w->curl)
		curl_easy_cleanup(w->curl);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->mu);
	free(w->name);
	free(w->url);
	free(w);
}

int srv_witness_metrics(struct srv_witness *const *ws, unsigned n, struct util_buf *b)
{
	static const char *const names[4][2] = {
	    {"agentrail_witness_delivered_total", "Checkpoints a witness URL accepted (2xx)."},
	    {"agentrail_witness_failures_total", "Failed deliveries to a witness URL (retried)."},
	    {"agentrail_witness_rejected_total", "Checkpoints a witness URL refused (4xx)."},
	    {"agentrail_witness_dropped_total",
	     "Checkpoints never delivered: dropped from a full queue (a newer one supersedes "
	     "them) or pending at shutdown."},
	};

	if (!n)
		return 0;
	for (unsigned k = 0; k < 4; k++) {
		if (srv_bufprintf(b, "# HELP %s %s\n# TYPE %s counter\n", names[k][0], names[k][1],
		                  names[k][0]))
			return -1;
		for (unsigned i = 0; i < n; i++) {
			const uint64_t *v = k == 0   ? &ws[i]->m_delivered
			                    : k == 1 ? &ws[i]->m_failures
			                    : k == 2 ? &ws[i]->m_rejected
			                             : &ws[i]->m_dropped;

			if (srv_bufprintf(b, "%s{witness=\"%u\"} %llu\n", names[k][0], ws[i]->index,
			                  (unsigned long long)__atomic_load_n(v, __ATOMIC_RELAXED)))
				return -1;
		}
	}
	if (srv_bufprintf(b, "# HELP agentrail_witness_queue Checkpoints waiting for a witness "
	                     "URL.\n# TYPE agentrail_witness_queue gauge\n"))
		return -1;
	for (unsigned i = 0; i < n; i++) {
		unsigned q;

		pthread_mutex_lock(&ws[i]->mu);
		q = ws[i]->n;
		pthread_mutex_unlock(&ws[i]->mu);
		if (srv_bufprintf(b, "agentrail_witness_queue{witness=\"%u\"} %u\n", ws[i]->index,
		                  q))
			return -1;
	}
	return 0;
}

void srv_push_counts(struct srv_witness *w, uint64_t out[5])
{
	out[0] = __atomic_load_n(&w->m_delivered, __ATOMIC_RELAXED);
	out[1] = __atomic_load_n(&w->m_failures, __ATOMIC_RELAXED);
	out[2] = __atomic_load_n(&w->m_rejected, __ATOMIC_RELAXED);
	out[3] = __atomic_load_n(&w->m_dropped, __ATOMIC_RELAXED);
	pthread_mutex_lock(&w->mu);
	out[4] = w->n;
	pthread_mutex_unlock(&w->mu);
}
