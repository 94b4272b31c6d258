/*
 * "Verify now" for auditors (docs/console.md): POST /api/v1/verify runs the
 * log's full verification (atr_log_verify, include/agentrail/verify.h) on a
 * thread of its own with its own read-only handle, one run at a time (409
 * while one runs); GET /api/v1/verify/status says how far it is and, once
 * done, the verdict and the first findings. The server joins a run still
 * going at shutdown (srv_verify_shutdown).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <agentrail/verify.h>

#include "server/server.h"

#define MAX_FINDINGS 20 /* kept for the status answer; the rest are only counted */

/* One server per process: the state of the latest run. */
static struct {
	pthread_mutex_t mu;
	pthread_t thread;
	int joinable; /* a thread was started and not yet joined */
	int running;
	uint64_t runs; /* started since the server started */
	int64_t started_us, finished_us, started_mono, finished_mono;
	char by[130]; /* the caller's token name ("" without tokens) */
	char *uri;
	atr_verifier *key; /* the trusted key the caller gave, or NULL */
	uint64_t total;    /* the log's size when the run started */
	uint64_t checked;  /* records read so far while the run goes on */
	int rc;            /* atr_log_verify's status: 0 when the check ran */
	char err[256];     /* why it could not run */
	atr_verify_result res;
	char *findings[MAX_FINDINGS];
	const char *kinds[MAX_FINDINGS];
	uint64_t seqs[MAX_FINDINGS];
	int has_seq[MAX_FINDINGS];
	size_t nfindings;
} V = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int64_t clock_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Findings arrive on the verify thread; the status answer reads them under the lock. */
static void on_finding(void *ctx, const atr_finding *f)
{
	(void)ctx;
	pthread_mutex_lock(&V.mu);
	if (V.nfindings < MAX_FINDINGS) {
		size_t i = V.nfindings;

		V.findings[i] = strdup(f->message ? f->message : "");
		if (V.findings[i]) {
			V.kinds[i] = atr_finding_kind_name(f->kind);
			V.seqs[i] = f->seq;
			V.has_seq[i] = f->has_seq;
			V.nfindings++;
		}
	}
	pthread_mutex_unlock(&V.mu);
}

/* Records checked so far, for the status route while a run goes on. */
static void on_progress(void *ctx, uint64_t records)
{
	(void)ctx;
	pthread_mutex_lock(&V.mu);
	V.checked = records;
	pthread_mutex_unlock(&V.mu);
}

static void *verify_run(void *arg)
{
	const atr_verifier *keys[1];
	atr_verify_opts opts = {.progress = on_progress};
	atr_verify_result res = {0};
	atr_log *log = NULL;
	char err[256] = "";
	int rc;

	(void)arg;
	if (V.key) {
		keys[0] = V.key;
		opts.keys = keys;
		opts.nkeys = 1;
	}
	rc = atr_log_open(&log, V.uri, ATR_OPEN_READONLY);
	if (rc == 0)
		rc = atr_log_verify(log, &opts, on_finding, NULL, &res);
	if (rc != 0)
		snprintf(err, sizeof(err), "%s", atr_errmsg());
	atr_log_free(log);
	pthread_mutex_lock(&V.mu);
	V.rc = rc;
	V.res = res;
	snprintf(V.err, sizeof(V.err), "%s", err);
	V.finished_us = clock_us(CLOCK_REALTIME);
	V.finished_mono = clock_us(CLOCK_MONOTONIC);
	V.running = 0;
	pthread_mutex_unlock(&V.mu);
	return NULL;
}

/* Forget the previous run (the lock held, nothing running). */
static void reset_locked(void)
{
	if (V.joinable) {
		pthread_join(V.thread, NULL);
		V.joinable = 0;
	}
	for (size_t i = 0; i < V.nfindings; i++)
		free(V.findings[i]);
	V.nfindings = 0;
	free(V.uri);
	V.uri = NULL;
	atr_verifier_free(V.key);
	V.key = NULL;
	memset(&V.res, 0, sizeof(V.res));
	V.rc = 0;
	V.err[0] = '\0';
}

void srv_verify_shutdown(void)
{
	pthread_t t;
	int join;

	pthread_mutex_lock(&V.mu);
	join = V.joinable;
	t = V.thread;
	V.joinable = 0;
	pthread_mutex_unlock(&V.mu);
	/* The check cannot be interrupted: a run in progress finishes first. */
	if (join)
		pthread_join(t, NULL);
	pthread_mutex_lock(&V.mu);
	reset_locked();
	pthread_mutex_unlock(&V.mu);
}

static int status_json(struct util_buf *b);

void srv_h_verify(struct srv_req *req)
{
	static const char *const allowed[] = {"key", NULL};
	const char *ktext = srv_arg_str(req, "key");
	atr_verifier *key = NULL;
	struct util_buf b;
	atr_log *log;
	uint64_t size = 0;
	char *uri;
	int rc;

	if (srv_only_args(req, allowed) || !(log = srv_reader(req)))
		return;
	if (ktext && (rc = atr_verifier_new(&key, ktext)) != 0) {
		srv_reply_error(req, rc, NULL, "key");
		return;
	}
	if ((rc = atr_log_size(log, &size)) != 0) {
		atr_verifier_free(key);
		srv_reply_error(req, rc, NULL, NULL);
		return;
	}
	if (!(uri = strdup(srv_store_uri(req->srv)))) {
		atr_verifier_free(key);
		srv_reply_error(req, ATR_ENOMEM, "out of memory", NULL);
		return;
	}
	pthread_mutex_lock(&V.mu);
	if (V.running) {
		pthread_mutex_unlock(&V.mu);
		atr_verifier_free(key);
		free(uri);
		srv_reply_error(req, ATR_ECONFLICT,
		                "a verification is running; follow it at GET /api/v1/verify/status",
		                NULL);
		return;
	}
	reset_locked();
	V.uri = uri;
	V.key = key;
	V.total = size;
	V.checked = 0;
	V.started_us = clock_us(CLOCK_REALTIME);
	V.started_mono = clock_us(CLOCK_MONOTONIC);
	V.finished_us = V.finished_mono = 0;
	snprintf(V.by, sizeof(V.by), "%s", req->caller);
	V.running = 1;
	if (pthread_create(&V.thread, NULL, verify_run, NULL) != 0) {
		V.running = 0;
		reset_locked();
		pthread_mutex_unlock(&V.mu);
		srv_reply_error(req, ATR_ENOMEM, "cannot start the verification thread", NULL);
		return;
	}
	V.joinable = 1;
	V.runs++;
	util_buf_init(&b);
	rc = status_json(&b);
	pthread_mutex_unlock(&V.mu);
	if (rc) {
		srv_reply_oom(req, &b);
		return;
	}
	/* 202: accepted, the verdict comes later from the status route. */
	srv_reply_json(req, 202, &b);
	util_buf_release(&b);
}

/* The state of the latest run as JSON (the lock held). */
static int status_json(struct util_buf *b)
{
	const char *state = V.running ? "running" : !V.runs ? "idle" : V.rc ? "error" : "done";
	char ts[28];
	int64_t end = V.running ? clock_us(CLOCK_MONOTONIC) : V.finished_mono;

	if (srv_bufprintf(b, "{\"state\":\"%s\"", state))
		return -1;
	if (!V.runs)
		return util_buf_adds(b, "}");
	atr_time_format(V.started_us, ts);
	if (srv_bufprintf(
	        b, ",\"started_at\":\"%s\",\"elapsed_ms\":%lld,\"total\":%llu,\"checked\":", ts,
	        (long long)((end - V.started_mono) / 1000), (unsigned long long)V.total) ||
	    /* While it runs: the records read so far, every 65,536. */
	    (V.rc && !V.running
	         ? util_buf_adds(b, "null")
	         : srv_bufprintf(b, "%llu",
	                         (unsigned long long)(V.running ? V.checked : V.res.records))) ||
	    util_buf_adds(b, ",\"by\":") || srv_json_str(b, V.by, strlen(V.by)) ||
	    util_buf_adds(b, ",\"trusted_key\":"))
		return -1;
	if (V.key ? srv_json_str(b, atr_verifier_name(V.key), strlen(atr_verifier_name(V.key)))
	          : util_buf_adds(b, "null"))
		return -1;
	if (V.running)
		return util_buf_adds(b, "}");
	atr_time_format(V.finished_us, ts);
	if (srv_bufprintf(b, ",\"finished_at\":\"%s\"", ts))
		return -1;
	if (V.rc)
		return util_buf_adds(b, ",\"verdict\":\"ERROR\",\"error\":") ||
		       srv_json_str(b, V.err, strlen(V.err)) || util_buf_adds(b, "}");
	if (srv_bufprintf(b, ",\"verdict\":\"%s\",\"size\":%llu,\"root_hash\":",
	                  atr_verify_status_name(V.res.status), (unsigned long long)V.res.size) ||
	    srv_json_hash(b, &V.res.root) ||
	    srv_bufprintf(b,
	                  ",\"bytes\":%llu,\"erased\":%llu,\"checkpoints\":%llu,\"anchored_size\":%"
	                  "llu,\"first_bad_seq\":",
	                  (unsigned long long)V.res.bytes, (unsigned long long)V.res.erased,
	                  (unsigned long long)V.res.checkpoints,
	                  (unsigned long long)V.res.anchored_size) ||
	    (V.res.has_bad_seq ? srv_bufprintf(b, "%llu", (unsigned long long)V.res.first_bad_seq)
	                       : util_buf_adds(b, "null")) ||
	    srv_bufprintf(b, ",\"findings_total\":%llu,\"findings\":[",
	                  (unsigned long long)V.res.findings))
		return -1;
	for (size_t i = 0; i < V.nfindings; i++) {
		if ((i && util_buf_add(b, ",", 1)) ||
		    srv_bufprintf(b, "{\"kind\":\"%s\",\"seq\":", V.kinds[i]) ||
		    (V.has_seq[i] ? srv_bufprintf(b, "%llu", (unsigned long long)V.seqs[i])
		                  : util_buf_adds(b, "null")) ||
		    util_buf_adds(b, ",\"message\":") ||
		    srv_json_str(b, V.findings[i], strlen(V.findings[i])) ||
		    util_buf_add(b, "}", 1))
			return -1;
	}
	return util_buf_adds(b, "]}");
}

void srv_h_verify_status(struct srv_req *req)
{
	static const char *const allowed[] = {NULL};
	struct util_buf b;
	int rc;

	if (srv_only_args(req, allowed))
		return;
	util_buf_init(&b);
	pthread_mutex_lock(&V.mu);
	rc = status_json(&b);
	pthread_mutex_unlock(&V.mu);
	if (rc) {
		srv_reply_oom(req, &b);
		return;
	}
	srv_reply_json(req, 200, &b);
	util_buf_release(&b);
}
