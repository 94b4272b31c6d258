/*
 * The alerter of `agentrail serve` (docs/alerts.md): a thread with its own
 * read-only log handle that follows the log in seq order (woken after each
 * commit through this server, and polling for appends by other processes),
 * runs the alert engine over it, appends each alert through the group
 * commit like any producer and hands it to the --alert-webhook delivery
 * thread (witness.c's). Ingest never waits for it. On start it resumes
 * after the newest alert's trigger (bounded by the 7-day window) with its
 * state warmed up from the type index; alert ids are derived from their
 * trigger, so re-evaluated records append nothing twice.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include <jansson.h>

#include <agentrail/alerts.h>

#include "server/server.h"

/* The thread's nice value: a catch-up over a big log takes what ingest and readers leave. */
#define ALERTER_NICE 10

static const struct srv_push_kind webhook_kind = {
    "application/json", "alert", "alert webhook", "ALERT WEBHOOK", SRV_ALERT_QUEUE, 0};

struct srv_alerter {
	struct srv *srv;
	char *uri;
	atr_log *log; /* the thread's own read-only handle */
	atr_alerts *eng;
	atr_alert_rules rules;    /* the configuration's: it outlives the server */
	struct srv_witness *hook; /* --alert-webhook, NULL without */
	int curl_ready;

	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	int stop;
	int kicked; /* atomic: a commit happened since the thread last looked */

	/* For /metrics (atomics). */
	uint64_t next;       /* the next seq to evaluate */
	uint64_t m_fired;    /* alerts appended */
	uint64_t m_repeated; /* alerts already in the log (re-evaluated after a restart) */
	uint64_t m_errors;
};

void srv_alerter_kick(struct srv_alerter *al)
{
	if (!al || __atomic_exchange_n(&al->kicked, 1, __ATOMIC_ACQ_REL))
		return;
	pthread_mutex_lock(&al->mu);
	pthread_cond_signal(&al->cond);
	pthread_mutex_unlock(&al->mu);
}

/* Sleep up to 'ms' (called with 'mu' held) unless kicked or stopping. */
static void wait_ms(struct srv_alerter *al, long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	while (!al->stop && !__atomic_load_n(&al->kicked, __ATOMIC_ACQUIRE))
		if (pthread_cond_timedwait(&al->cond, &al->mu, &ts) == ETIMEDOUT)
			break;
}

static int stopping(struct srv_alerter *al)
{
	int stop;

	pthread_mutex_lock(&al->mu);
	stop = al->stop;
	pthread_mutex_unlock(&al->mu);
	return stop;
}

/* The webhook's body: the alert event with the seq it was appended at. */
static void post_hook(struct srv_alerter *al, const atr_alert *a, uint64_t seq)
{
	json_t *ev = json_loadb(a->json, a->len, 0, NULL);
	char *text = NULL;

	if (ev && json_object_set_new(ev, "seq", json_integer((json_int_t)seq)) == 0)
		text = json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(ev);
	if (!text) {
		fprintf(stderr,
		        "agentrail serve: out of memory: alert %llu not sent to the webhook\n",
		        (unsigned long long)seq);
		return;
	}
	srv_witness_push(al->hook, text, strlen(text), seq);
	free(text);
}

/* Append one alert through the group commit; a full queue is waited out, not skipped. */
static int on_alert(void *ctx, const atr_alert *a)
{
	struct srv_alerter *al = ctx;
	const char *texts[1] = {a->json};
	size_t lens[1] = {a->len};
	atr_append_result res;
	int rc;

	while ((rc = srv_submit(al->srv, texts, lens, 1, &res)) == ATR_EBUSY) {
		if (stopping(al))
			return rc;
		pthread_mutex_lock(&al->mu);
		wait_ms(al, 50);
		pthread_mutex_unlock(&al->mu);
	}
	if (rc == ATR_ECONFLICT) {
		/* Alerted before, from other state: that alert stands. */
		__atomic_fetch_add(&al->m_repeated, 1, __ATOMIC_RELAXED);
		return 0;
	}
	if (rc == ATR_EINVALID || rc == ATR_ETOOBIG) {
		__atomic_fetch_add(&al->m_errors, 1, __ATOMIC_RELAXED);
		fprintf(stderr, "agentrail serve: alert %s on seq %llu refused: %s\n", a->rule,
		        (unsigned long long)a->trigger_seq, atr_errmsg());
		return 0;
	}
	if (rc != 0)
		return rc;
	if (res.duplicate) {
		__atomic_fetch_add(&al->m_repeated, 1, __ATOMIC_RELAXED);
		return 0;
	}
	__atomic_fetch_add(&al->m_fired, 1, __ATOMIC_RELAXED);
	if (al->hook)
		post_hook(al, a, res.seq);
	return 0;
}

static void *alerter_run(void *arg)
{
	struct srv_alerter *al = arg;
	uint64_t next = 0, size;
	double backoff = 0;
	int rc, ready = 0;

#ifdef __linux__
	/* Linux's nice is per thread: lower only this one (best effort). */
	(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), ALERTER_NICE);
#endif
	/*
	 * No lock is held while reading: 'mu' only guards the wait, the log
	 * handle is the thread's own, and alerts are submitted after each
	 * batch's read is over, like any producer's events.
	 */
	pthread_mutex_lock(&al->mu);
	while (!al->stop) {
		__atomic_store_n(&al->kicked, 0, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&al->mu);
		if (!ready) {
			/* Resume and warm up: after a store error, try again later. */
			rc = atr_alerts_resume_seq(al->log, 0, &next);
			if (rc == 0)
				rc = atr_alerts_warm(al->eng, al->log, next, 0);
			ready = rc == 0;
			if (ready)
				__atomic_store_n(&al->next, next, __ATOMIC_RELAXED);
		} else if ((rc = atr_log_size(al->log, &size)) == 0 && next < size) {
			rc = atr_alerts_step(al->eng, al->log, next, SRV_ALERT_BATCH, on_alert, al,
			                     &next);
			__atomic_store_n(&al->next, next, __ATOMIC_RELAXED);
		}
		if (rc != 0 && ready) {
			/* The engine took in part of a batch: start over from the log. */
			atr_alerts *fresh = NULL;

			if (atr_alerts_new(&fresh, &al->rules) == 0) {
				atr_alerts_free(al->eng);
				al->eng = fresh;
				atr_alerts_set_log(al->eng, al->log);
				ready = 0;
			}
		}
		pthread_mutex_lock(&al->mu);
		if (rc != 0 && !al->stop) {
			__atomic_fetch_add(&al->m_errors, 1, __ATOMIC_RELAXED);
			backoff = backoff <= 0 ? 1 : backoff * 2 > 60 ? 60 : backoff * 2;
			fprintf(stderr,
			        "agentrail serve: alerts stopped at seq %llu: %s (retrying in %.0f "
			        "s)\n",
			        (unsigned long long)next, atr_errmsg(), backoff);
			wait_ms(al, (long)(backoff * 1000));
			continue;
		}
		backoff = 0;
		/* Caught up: wait for a commit, or poll for other writers. */
		if (ready && atr_log_size(al->log, &size) == 0 && next >= size)
			wait_ms(al, SRV_ALERT_POLL_MS);
	}
	pthread_mutex_unlock(&al->mu);
	return NULL;
}

static void alerter_free(struct srv_alerter *al)
{
	if (al->hook)
		srv_witness_stop(al->hook, SRV_WITNESS_SHUTDOWN_S);
	if (al->curl_ready)
		srv_witness_global_cleanup();
	atr_alerts_free(al->eng);
	atr_log_free(al->log);
	pthread_cond_destroy(&al->cond);
	pthread_mutex_destroy(&al->mu);
	free(al->uri);
	free(al);
}

int srv_alerter_start(struct srv_alerter **out, struct srv *s, const struct srv_config *cfg)
{
	struct srv_alerter *al;
	pthread_condattr_t ca;

	*out = NULL;
	if (cfg->alerts_off)
		return 0;
	if (!(al = calloc(1, sizeof(*al)))) {
		fprintf(stderr, "agentrail: out of memory\n");
		return -1;
	}
	al->srv = s;
	al->rules = cfg->alert_rules;
	pthread_mutex_init(&al->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&al->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (atr_alerts_new(&al->eng, &cfg->alert_rules) != 0) {
		fprintf(stderr, "agentrail: cannot set up alerts: %s\n", atr_errmsg());
		goto fail;
	}
	if (atr_log_open(&al->log, srv_store_uri(s), ATR_OPEN_READONLY) != 0) {
		fprintf(stderr, "agentrail: cannot open store '%s' for alerts: %s\n",
		        srv_store_uri(s), atr_errmsg());
		goto fail;
	}
	atr_alerts_set_log(al->eng, al->log);
	if (cfg->alert_webhook) {
		if (srv_witness_global_init() != 0) {
			fprintf(stderr, "agentrail: cannot initialize libcurl\n");
			goto fail;
		}
		al->curl_ready = 1;
		if (srv_push_start(&al->hook, cfg->alert_webhook, 0, &webhook_kind) != 0)
			goto fail;
	}
	if (pthread_create(&al->thread, NULL, alerter_run, al) != 0) {
		fprintf(stderr, "agentrail: cannot start the alerts thread\n");
		goto fail;
	}
	/* The thread may already kick itself through srv_submit. */
	__atomic_store_n(out, al, __ATOMIC_RELEASE);
	return 0;
fail:
	alerter_free(al);
	return -1;
}

void srv_alerter_stop(struct srv_alerter *al)
{
	if (!al)
		return;
	pthread_mutex_lock(&al->mu);
	al->stop = 1;
	pthread_cond_signal(&al->cond);
	pthread_mutex_unlock(&al->mu);
	pthread_join(al->thread, NULL);
	alerter_free(al);
}

int srv_alerter_metrics(struct srv_alerter *al, struct util_buf *b)
{
	uint64_t h[5];

	if (!al)
		return 0;
	if (srv_bufprintf(
	        b,
	        "# HELP agentrail_alerts_total Alert events the server appended.\n"
	        "# TYPE agentrail_alerts_total counter\nagentrail_alerts_total %llu\n"
	        "# HELP agentrail_alerts_repeated_total Alerts found already in the "
	        "log when records were evaluated again after a restart.\n"
	        "# TYPE agentrail_alerts_repeated_total counter\n"
	        "agentrail_alerts_repeated_total %llu\n"
	        "# HELP agentrail_alerts_errors_total Failed alert steps and refused "
	        "alerts.\n# TYPE agentrail_alerts_errors_total counter\n"
	        "agentrail_alerts_errors_total %llu\n"
	        "# HELP agentrail_alerts_next_seq The next seq the alerter evaluates.\n"
	        "# TYPE agentrail_alerts_next_seq gauge\nagentrail_alerts_next_seq %llu\n",
	        (unsigned long long)__atomic_load_n(&al->m_fired, __ATOMIC_RELAXED),
	        (unsigned long long)__atomic_load_n(&al->m_repeated, __ATOMIC_RELAXED),
	        (unsigned long long)__atomic_load_n(&al->m_errors, __ATOMIC_RELAXED),
	        (unsigned long long)__atomic_load_n(&al->next, __ATOMIC_RELAXED)))
		return -1;
	if (!al->hook)
		return 0;
	srv_push_counts(al->hook, h);
	return srv_bufprintf(
	    b,
	    "# HELP agentrail_alert_webhook_delivered_total Alerts the webhook accepted (2xx).\n"
	    "# TYPE agentrail_alert_webhook_delivered_total counter\n"
	    "agentrail_alert_webhook_delivered_total %llu\n"
	    "# HELP agentrail_alert_webhook_failures_total Failed deliveries (retried).\n"
	    "# TYPE agentrail_alert_webhook_failures_total counter\n"
	    "agentrail_alert_webhook_failures_total %llu\n"
	    "# HELP agentrail_alert_webhook_rejected_total Alerts the webhook refused (4xx).\n"
	    "# TYPE agentrail_alert_webhook_rejected_total counter\n"
	    "agentrail_alert_webhook_rejected_total %llu\n"
	    "# HELP agentrail_alert_webhook_dropped_total Alerts never delivered: dropped from "
	    "a full queue or pending at shutdown.\n"
	    "# TYPE agentrail_alert_webhook_dropped_total counter\n"
	    "agentrail_alert_webhook_dropped_total %llu\n"
	    "# HELP agentrail_alert_webhook_queue Alerts waiting for the webhook.\n"
	    "# TYPE agentrail_alert_webhook_queue gauge\nagentrail_alert_webhook_queue %llu\n",
	    (unsigned long long)h[0], (unsigned long long)h[1], (unsigned long long)h[2],
	    (unsigned long long)h[3], (unsigned long long)h[4]);
}
