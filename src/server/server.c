/*
 * The agentrail server: a libmicrohttpd daemon (a pool of polling threads)
 * in front of one ingest writer and per-thread read-only log handles, the
 * route table, request bodies read under a cap, request counters for
 * /metrics, and a shutdown that answers everything in flight first.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "server/server.h"

/* ------------------------------------------------------------- routes */

struct route {
	const char *method;
	const char *pattern; /* "{name}" matches one non-empty path segment */
	srv_handler fn;
	unsigned roles; /* who may call it when tokens are required (SRV_ROLE bits) */
};

/* Who may do what (DESIGN.md section 5). Readers' masking of secrets comes with redaction. */
#define WRITE (SRV_ROLE(ATR_ROLE_WRITER) | SRV_ROLE(ATR_ROLE_ADMIN))
#define READ                                                                                       \
	(SRV_ROLE(ATR_ROLE_READER) | SRV_ROLE(ATR_ROLE_AUDITOR) | SRV_ROLE(ATR_ROLE_APPROVER) |    \
	 SRV_ROLE(ATR_ROLE_ADMIN))
#define OPERATE (SRV_ROLE(ATR_ROLE_AUDITOR) | SRV_ROLE(ATR_ROLE_ADMIN))
#define APPROVE SRV_ROLE(ATR_ROLE_APPROVER)
#define ADMIN   SRV_ROLE(ATR_ROLE_ADMIN)

static const struct route routes[] = {
    {"POST", "/api/v1/events", srv_h_ingest, WRITE},
    {"GET", "/api/v1/events", srv_h_events, READ},
    {"GET", "/api/v1/events/{event_id}", srv_h_event, READ},
    {"GET", "/api/v1/records/{seq}", srv_h_record, READ},
    {"GET", "/api/v1/root", srv_h_root, READ},
    {"GET", "/api/v1/proof/inclusion", srv_h_inclusion, READ},
    {"GET", "/api/v1/proof/consistency", srv_h_consistency, READ},
    {"GET", "/api/v1/export", srv_h_export, OPERATE},
    {"GET", "/healthz", srv_h_healthz, SRV_ROLES_ANY},
    {"GET", "/metrics", srv_h_metrics, OPERATE},
    {"GET", "/api/v1/jobs/{job_id}", srv_h_job, READ},
    {"GET", "/api/v1/jobs/{job_id}/decisions", srv_h_job_decisions, READ},
    /* Evidence bundles carry unmasked payloads: not for readers (docs/evidence.md). */
    {"GET", "/api/v1/jobs/{job_id}/evidence", srv_h_job_evidence, OPERATE},
    {"GET", "/api/v1/approvals", srv_h_approvals, READ},
    {"POST", "/api/v1/approvals/{approval_id}/resolve", srv_h_resolve, APPROVE},
    {"GET", "/api/v1/sessions/{session_id}/trail", srv_h_session_trail, READ},
    {"GET", "/api/v1/traces/{trace_id}", srv_h_trace, READ},
    {"GET", "/api/v1/workflow-runs/{run_id}/timeline", srv_h_timeline, READ},
    {"GET", "/api/v1/policy/audit", srv_h_policy_audit, READ},
    /* Policies (docs/policies.md): admins publish and roll back. */
    {"POST", "/api/v1/policies", srv_h_policy_publish, ADMIN},
    {"GET", "/api/v1/policies", srv_h_policies, READ},
    {"GET", "/api/v1/policies/snapshots/{snapshot}", srv_h_policy_snapshot, READ},
    {"GET", "/api/v1/policies/{name}", srv_h_policy, READ},
    {"POST", "/api/v1/policies/{name}/rollback", srv_h_policy_rollback, ADMIN},
    {"GET", "/api/v1/checkpoint", srv_h_checkpoint, READ},
    {"GET", "/api/v1/checkpoints", srv_h_checkpoints, READ},
    /* OTLP/HTTP (docs/otel.md): the paths OpenTelemetry exporters post to. */
    {"POST", "/v1/traces", srv_h_otlp_traces, WRITE},
    {"POST", "/v1/logs", srv_h_otlp_logs, WRITE},
    /* Claude Code's HTTP hooks (docs/agents.md). */
    {"POST", "/api/v1/hooks/claude-code", srv_h_hook_claude, WRITE},
    /* The web console (docs/console.md): its files need no token; its data does. */
    {"GET", "/", srv_h_console, SRV_ROLES_ANY},
    {"GET", "/console/{file}", srv_h_console_file, SRV_ROLES_ANY},
    {"GET", "/api/v1/whoami", srv_h_whoami, READ | WRITE},
    {"GET", "/api/v1/activity", srv_h_activity, READ},
    {"POST", "/api/v1/verify", srv_h_verify, OPERATE},
    {"GET", "/api/v1/verify/status", srv_h_verify_status, OPERATE},
    /* Reports (docs/reports.md): listed from the log, served while their hash holds. */
    {"GET", "/api/v1/reports", srv_h_reports, READ},
    {"GET", "/api/v1/reports/{name}", srv_h_report, READ},
    /* Alerts (docs/alerts.md): alert events, newest first. */
    {"GET", "/api/v1/alerts", srv_h_alerts, READ},
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* The statuses /metrics counts one by one; anything else is "other". */
static const unsigned counted_status[] = {200, 201, 202, 304, 400, 404, 405,
                                          409, 413, 415, 429, 500, 501, 503};
#define NSTATUS (sizeof(counted_status) / sizeof(counted_status[0]) + 1)

struct srv {
	struct srv_config cfg;
	char *uri;
	atr_log *writer;
	atr_ingest *ing;
	pthread_key_t reader_key;
	int stopping; /* atomic: answer 503 to anything new */
	long active;  /* atomic: requests between their first header and their completion */
	/* atomic: events of ingest requests admitted and not yet answered (--queue-max) */
	size_t pending;
	uint64_t reqs[NROUTES + 1][NSTATUS]; /* atomic counters; row NROUTES: no route */
	/* The submitters: threads that wait on the ingest for suspended requests. */
	pthread_mutex_t qmu;
	pthread_cond_t qcond;
	struct srv_req *qhead, *qtail;
	int qstop;
	pthread_t submitters[SRV_SUBMITTERS];
	unsigned nsubmitters;
	struct srv_auth auth;
	int auth_ready;
	atr_approvals *approvals;   /* the approval queue, kept current incrementally */
	pthread_mutex_t resolve_mu; /* one approval resolution checked and appended at a time */
	/* The checkpoint signer (--key), NULL without. */
	struct srv_signer *signer;
	/* The reporter (--reports-dir), NULL without. */
	struct srv_reporter *reporter;
	/* The alerter (--alerts on, the default), NULL when off. */
	struct srv_alerter *alerter;
};

const char *srv_reports_dir(const struct srv *s)
{
	return s->cfg.reports_dir;
}

struct srv_alerter *srv_alerter_of(struct srv *s)
{
	return s->alerter;
}

struct srv_signer *srv_signer_of(struct srv *s)
{
	return s->signer;
}

atr_approvals *srv_approvals(struct srv *s)
{
	return s->approvals;
}

pthread_mutex_t *srv_resolve_mutex(struct srv *s)
{
	return &s->resolve_mu;
}

const char *srv_store_uri(const struct srv *s)
{
	return s->uri;
}

size_t srv_max_body(const struct srv *s)
{
	return s->cfg.max_body;
}

size_t srv_queue_max(const struct srv *s)
{
	return s->cfg.queue_max;
}

size_t srv_queue_pending(struct srv *s)
{
	return __atomic_load_n(&s->pending, __ATOMIC_RELAXED);
}

/* 'n' is at most queue_max (larger requests get 413), so pending never passes it. */
int srv_queue_admit(struct srv *s, size_t n)
{
	size_t cur = __atomic_load_n(&s->pending, __ATOMIC_RELAXED);

	do {
		if (cur + n > s->cfg.queue_max)
			return -1;
	} while (!__atomic_compare_exchange_n(&s->pending, &cur, cur + n, 1, __ATOMIC_ACQ_REL,
	                                      __ATOMIC_RELAXED));
	return 0;
}

void srv_queue_done(struct srv *s, size_t n)
{
	__atomic_fetch_sub(&s->pending, n, __ATOMIC_ACQ_REL);
}

int srv_queue_full(struct srv *s)
{
	return __atomic_load_n(&s->pending, __ATOMIC_RELAXED) >= s->cfg.queue_max;
}

/* Match 'path' against 'pattern', copying {name} segments into 'req'. */
static int match(const char *pattern, const char *path, struct srv_req *req)
{
	size_t used = 0;
	int ncap = 0;

	while (*pattern && *path) {
		if (*pattern == '{') {
			size_t n = strcspn(path, "/");

			if (n == 0 || ncap == 2 || used + n + 1 > sizeof(req->capbuf))
				return 0;
			memcpy(req->capbuf + used, path, n);
			req->capbuf[used + n] = '\0';
			req->captures[ncap++] = req->capbuf + used;
			used += n + 1;
			path += n;
			pattern = strchr(pattern, '}') + 1;
		} else if (*pattern++ != *path++) {
			return 0;
		}
	}
	return !*pattern && !*path;
}

static int check_ingest_headers(struct srv_req *req);

/* The steps of POST /api/v1/events (route_ingest.c). */
static const struct srv_ingest_ops events_ops = {check_ingest_headers, srv_ingest_parse,
                                                 srv_ingest_submit, srv_ingest_answer,
                                                 srv_ingest_release};

/* Routes whose requests wait, suspended, for the group commit: their steps; else NULL. */
static const struct srv_ingest_ops *ingest_ops(srv_handler fn)
{
	if (fn == srv_h_ingest)
		return &events_ops;
	if (fn == srv_h_otlp_traces)
		return &srv_otlp_traces_ops;
	if (fn == srv_h_otlp_logs)
		return &srv_otlp_logs_ops;
	if (fn == srv_h_hook_claude)
		return &srv_hook_claude_ops;
	if (fn == srv_h_resolve)
		return &srv_resolve_ops;
	if (fn == srv_h_policy_publish)
		return &srv_policy_publish_ops;
	if (fn == srv_h_policy_rollback)
		return &srv_policy_rollback_ops;
	return NULL;
}

static int is_otlp(srv_handler fn)
{
	return fn == srv_h_otlp_traces || fn == srv_h_otlp_logs;
}

/* An OTLP path (any method): OTLP clients read its errors as a google.rpc.Status. */
static int otlp_path(const char *path, struct srv_req *req)
{
	for (size_t i = 0; i < NROUTES; i++)
		if (is_otlp(routes[i].fn) && match(routes[i].pattern, path, req))
			return 1;
	return 0;
}

/* Pick the route for 'method' and 'path'; on a miss, answer 404 or 405. */
static int route_request(struct srv_req *req, const char *method, const char *path)
{
	int get = 0, post = 0;
	const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;

	for (size_t i = 0; i < NROUTES; i++) {
		if (!match(routes[i].pattern, path, req))
			continue;
		if (is_otlp(routes[i].fn))
			req->otlp = 1;
		if (strcmp(routes[i].method, m) == 0) {
			req->route = (int)i;
			req->iops = ingest_ops(routes[i].fn);
			return 0;
		}
		if (strcmp(routes[i].method, "GET") == 0)
			get = 1;
		else
			post = 1;
	}
	if (get || post) {
		char msg[160];

		req->allow = get && post ? "GET, HEAD, POST" : get ? "GET, HEAD" : "POST";
		snprintf(msg, sizeof(msg), "method '%.20s' is not allowed here; allowed: %s",
		         method, req->allow);
		srv_reply_error(req, SRV_EMETHOD, msg, NULL);
	} else {
		char msg[320];

		snprintf(msg, sizeof(msg), "no route for '%.256s'", path);
		srv_reply_error(req, SRV_ENOROUTE, msg, NULL);
	}
	return -1;
}

static size_t status_index(unsigned status)
{
	for (size_t i = 0; i < NSTATUS - 1; i++)
		if (counted_status[i] == status)
			return i;
	return NSTATUS - 1;
}

int srv_metrics_requests(struct srv *s, struct util_buf *b)
{
	if (util_buf_adds(b, "# HELP agentrail_requests_total HTTP requests answered, by route "
	                     "and status.\n# TYPE agentrail_requests_total counter\n"))
		return -1;
	for (size_t r = 0; r <= NROUTES; r++) {
		for (size_t i = 0; i < NSTATUS; i++) {
			uint64_t v = __atomic_load_n(&s->reqs[r][i], __ATOMIC_RELAXED);
			char status[8];

			if (!v)
				continue;
			if (i < NSTATUS - 1)
				snprintf(status, sizeof(status), "%u", counted_status[i]);
			else
				snprintf(status, sizeof(status), "other");
			if (srv_bufprintf(
			        b,
			        "agentrail_requests_total{route=\"%s%s%s\",status=\"%s\"} "
			        "%llu\n",
			        r < NROUTES ? routes[r].method : "", r < NROUTES ? " " : "",
			        r < NROUTES ? routes[r].pattern : "unmatched", status,
			        (unsigned long long)v))
				return -1;
		}
	}
	return 0;
}

/* ------------------------------------------------------ log handles */

static void reader_destroy(void *p)
{
	atr_log_free(p);
}

atr_log *srv_reader_quiet(struct srv_req *req)
{
	struct srv *s = req->srv;
	atr_log *log = pthread_getspecific(s->reader_key);

	if (log)
		return log;
	/* The read API's handles: on --read-store (a replica) when given. */
	if (atr_log_open(&log, s->cfg.read_store ? s->cfg.read_store : s->uri, ATR_OPEN_READONLY) !=
	    0)
		return NULL;
	if (pthread_setspecific(s->reader_key, log) != 0) {
		atr_log_free(log);
		return NULL;
	}
	return log;
}

atr_log *srv_reader(struct srv_req *req)
{
	atr_log *log = srv_reader_quiet(req);

	if (!log)
		srv_reply_error(req, ATR_EBACKEND, NULL, NULL);
	return log;
}

int srv_submit(struct srv *s, const char *const *jsons, const size_t *lens, size_t n,
               atr_append_result *results)
{
	int rc = atr_ingest_submit(s->ing, jsons, lens, n, results);

	/* Committed: the alerter has something to look at. */
	if (rc == 0)
		srv_alerter_kick(__atomic_load_n(&s->alerter, __ATOMIC_ACQUIRE));
	return rc;
}

void srv_ingest_stats(struct srv *s, atr_ingest_stats *out)
{
	atr_ingest_stats_get(s->ing, out);
}

/* ------------------------------------------------------ submitters */

/*
 * Each submitter takes a suspended ingest request, waits in the ingest
 * until its events are durable (or refused), and resumes the connection;
 * the MHD thread then answers it. Many connections thus wait in the same
 * group commit while a few MHD threads keep reading new requests.
 */
static void *submitter_run(void *arg)
{
	struct srv *s = arg;

	pthread_mutex_lock(&s->qmu);
	for (;;) {
		struct srv_req *req;
		struct MHD_Connection *conn;

		while (!s->qhead && !s->qstop)
			pthread_cond_wait(&s->qcond, &s->qmu);
		req = s->qhead;
		if (!req)
			break; /* stopping, and the queue is empty */
		s->qhead = req->next;
		if (!s->qhead)
			s->qtail = NULL;
		pthread_mutex_unlock(&s->qmu);

		req->iops->submit(req);
		/* 'req' may be freed once the connection resumes: nothing touches it after. */
		conn = req->conn;
		__atomic_store_n(&req->ingest_done, 1, __ATOMIC_RELEASE);
		MHD_resume_connection(conn);

		pthread_mutex_lock(&s->qmu);
	}
	pthread_mutex_unlock(&s->qmu);
	return NULL;
}

static int submitters_start(struct srv *s)
{
	pthread_attr_t attr;

	pthread_mutex_init(&s->qmu, NULL);
	pthread_cond_init(&s->qcond, NULL);
	if (pthread_attr_init(&attr) != 0)
		return -1;
	/* They only wait on a condition variable: a small stack each is plenty. */
	pthread_attr_setstacksize(&attr, (size_t)1 << 20);
	for (s->nsubmitters = 0; s->nsubmitters < SRV_SUBMITTERS; s->nsubmitters++)
		if (pthread_create(&s->submitters[s->nsubmitters], &attr, submitter_run, s) != 0)
			break;
	pthread_attr_destroy(&attr);
	return s->nsubmitters ? 0 : -1;
}

/* Let the submitters finish what is queued, then join them. */
static void submitters_stop(struct srv *s)
{
	pthread_mutex_lock(&s->qmu);
	s->qstop = 1;
	pthread_cond_broadcast(&s->qcond);
	pthread_mutex_unlock(&s->qmu);
	for (unsigned i = 0; i < s->nsubmitters; i++)
		pthread_join(s->submitters[i], NULL);
	s->nsubmitters = 0;
}

/* Hand a parsed ingest request to the submitters; the connection waits suspended. */
static void submit_async(struct srv *s, struct srv_req *req)
{
	/* Suspend first: the answer may come back before this function returns. */
	MHD_suspend_connection(req->conn);
	req->next = NULL;
	pthread_mutex_lock(&s->qmu);
	if (s->qtail)
		s->qtail->next = req;
	else
		s->qhead = req;
	s->qtail = req;
	pthread_cond_signal(&s->qcond);
	pthread_mutex_unlock(&s->qmu);
}

/* ------------------------------------------------------- MHD glue */

/* Without tokens only loopback clients may talk to us (DESIGN.md section 5). */
static int is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return 1;
		return memcmp(in6->sin6_addr.s6_addr, mapped, 12) == 0 &&
		       in6->sin6_addr.s6_addr[12] == 127;
	}
	return 0;
}

/* With tokens anyone may connect (and must authenticate); without, only loopback. */
static enum MHD_Result accept_cb(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	struct srv *s = cls;

	if (s->auth.required)
		return MHD_YES;
	return addrlen > 0 && is_loopback(addr) ? MHD_YES : MHD_NO;
}

/*
 * Content-Encoding (gzip or identity) and Content-Length (at most
 * --max-body) of a request with a body, checked before any of it is read;
 * every ingest-like route shares these.
 */
int srv_check_body_headers(struct srv_req *req)
{
	const char *ce = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
	                                             MHD_HTTP_HEADER_CONTENT_ENCODING);
	const char *cl =
	    MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	uint64_t len;
	char msg[200];

	if (ce && *ce && strcasecmp(ce, "identity") != 0) {
		if (strcasecmp(ce, "gzip") == 0 || strcasecmp(ce, "x-gzip") == 0) {
			req->gzip = 1;
		} else {
			snprintf(msg, sizeof(msg),
			         "Content-Encoding '%.80s' is not supported; send gzip or identity",
			         ce);
			srv_reply_error(req, SRV_EMEDIA, msg, "Content-Encoding");
			return -1;
		}
	}
	if (cl && util_parse_u64(cl, &len) == 0 && len > req->srv->cfg.max_body) {
		snprintf(msg, sizeof(msg), "the body is %llu bytes; the limit is %zu",
		         (unsigned long long)len, req->srv->cfg.max_body);
		srv_reply_error(req, SRV_EBODYBIG, msg, NULL);
		return -1;
	}
	return 0;
}

/* The ingest route's headers, checked before any of the body is read. */
static int check_ingest_headers(struct srv_req *req)
{
	const char *ct =
	    MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	char msg[200];

	if (ct) {
		size_t n = strcspn(ct, "; \t");

		if (n == 16 && strncasecmp(ct, "application/json", n) == 0)
			req->ndjson = 0;
		else if (n == 20 && strncasecmp(ct, "application/x-ndjson", n) == 0)
			req->ndjson = 1;
		else {
			snprintf(msg, sizeof(msg),
			         "Content-Type '%.80s' is not supported; send application/json or "
			         "application/x-ndjson",
			         ct);
			srv_reply_error(req, SRV_EMEDIA, msg, "Content-Type");
			return -1;
		}
	}
	return srv_check_body_headers(req);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
	struct srv *s = cls;
	struct srv_req *req = *con_cls;

	if (!req) {
		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO; /* MHD drops the connection */
		req->srv = s;
		req->conn = conn;
		req->route = -1;
		util_buf_init(&req->body);
		*con_cls = req;
		__atomic_fetch_add(&s->active, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&s->stopping, __ATOMIC_SEQ_CST)) {
			req->otlp = otlp_path(url, req);
			srv_reply_error(req, SRV_ESHUTDOWN, "the server is shutting down", NULL);
			return MHD_YES;
		}
		if (route_request(req, method, url) != 0)
			return MHD_YES;
		if (srv_auth_check(req, &s->auth, routes[req->route].roles, method,
		                   routes[req->route].pattern) != 0)
			return MHD_YES;
		if (!req->iops) {
			routes[req->route].fn(req);
			return MHD_YES;
		}
		/* A full queue refuses before the body is read: a client that
		 * must slow down costs no upload. */
		if (req->iops->headers(req) == 0 && srv_queue_full(s))
			srv_reply_queue_full(req);
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (req->answered || req->body_too_big)
			return MHD_YES; /* discard: the answer is known */
		/* The cap is checked as the body grows: a huge body never sits in memory. */
		if (n > s->cfg.max_body - req->body.len) {
			req->body_too_big = 1;
			util_buf_release(&req->body);
			return MHD_YES;
		}
		if (util_buf_add(&req->body, upload_data, n)) {
			srv_reply_error(req, ATR_ENOMEM, "out of memory for the request body",
			                NULL);
			util_buf_release(&req->body);
		}
		return MHD_YES;
	}
	if (req->answered)
		return MHD_YES;
	if (req->body_too_big) {
		char msg[120];

		snprintf(msg, sizeof(msg), "the body exceeds %zu bytes", s->cfg.max_body);
		srv_reply_error(req, SRV_EBODYBIG, msg, NULL);
		return MHD_YES;
	}
	if (req->iops) {
		/* Called again after the resume: the commit has answered. */
		if (__atomic_load_n(&req->ingest_done, __ATOMIC_ACQUIRE)) {
			req->iops->answer(req);
		} else if (!req->parsed) {
			req->parsed = 1;
			if (req->iops->parse(req) != 0)
				return MHD_YES;
			submit_async(s, req);
			return MHD_YES;
		}
	} else {
		routes[req->route].fn(req);
	}
	if (!req->answered)
		srv_reply_error(req, ATR_ENOMEM, "no answer", NULL);
	return MHD_YES;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode why)
{
	struct srv *s = cls;
	struct srv_req *req = *con_cls;
	size_t r;

	if (!req)
		return;
	if (req->answered) {
		r = req->route >= 0 ? (size_t)req->route : NROUTES;
		__atomic_fetch_add(&s->reqs[r][status_index(req->status)], 1, __ATOMIC_RELAXED);
	}
	if (req->iops)
		req->iops->release(req);
	util_buf_release(&req->body);
	free(req);
	*con_cls = NULL;
	__atomic_fetch_sub(&s->active, 1, __ATOMIC_SEQ_CST);
}

/* ------------------------------------------------------ start, stop */

/* Split "HOST:PORT" / "[V6]:PORT" and resolve it; prints why not. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *sslen)
{
	char host[256];
	const char *colon = strrchr(listen, ':');
	const char *port;
	size_t hlen;
	struct addrinfo hints = {0}, *ai = NULL;
	int rc;

	if (!colon || colon == listen) {
		fprintf(stderr, "agentrail: --listen expects HOST:PORT, got '%s'\n", listen);
		return -1;
	}
	port = colon + 1;
	hlen = (size_t)(colon - listen);
	if (listen[0] == '[' && hlen >= 2 && listen[hlen - 1] == ']') {
		listen++;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof(host) || !*port ||
	    strspn(port, "0123456789") != strlen(port) || strlen(port) > 5 ||
	    strtol(port, NULL, 10) > 65535) {
		fprintf(stderr, "agentrail: --listen expects HOST:PORT, got '%s'\n", listen);
		return -1;
	}
	memcpy(host, listen, hlen);
	host[hlen] = '\0';
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0 || !ai) {
		fprintf(stderr, "agentrail: cannot resolve '%s': %s\n", host, gai_strerror(rc));
		return -1;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*sslen = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int srv_run(const struct srv_config *cfg)
{
	struct srv *s;
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	struct MHD_Daemon *d = NULL;
	const union MHD_DaemonInfo *info;
	sigset_t sigs;
	char host[NI_MAXHOST];
	unsigned flags;
	uint16_t port;
	int sig = 0, rc = 1, key = 0, i;
	MHD_socket lfd;
	atr_ingest_stats st;

	if (parse_listen(cfg->listen, &ss, &sslen) != 0)
		return 1;
	s = calloc(1, sizeof(*s));
	if (!s) {
		fprintf(stderr, "agentrail: out of memory\n");
		return 1;
	}
	s->cfg = *cfg;
	if (!s->cfg.queue_max)
		s->cfg.queue_max = SRV_DEFAULT_QUEUE_MAX;
	if (cfg->store) {
		s->uri = strdup(cfg->store);
	} else if (atr_store_default_uri(&s->uri) != 0) {
		fprintf(stderr, "agentrail: %s\n", atr_errmsg());
		goto out;
	}
	if (!s->uri) {
		fprintf(stderr, "agentrail: out of memory\n");
		goto out;
	}

	/*
	 * Block the stop signals before any thread starts, so every thread
	 * inherits the mask and only sigwait() below sees them.
	 */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (atr_log_open(&s->writer, s->uri, 0) != 0) {
		fprintf(stderr, "agentrail: cannot open store '%s': %s\n", s->uri, atr_errmsg());
		goto out;
	}
	if (cfg->redact && atr_log_set_redaction(s->writer, cfg->redact) != 0) {
		fprintf(stderr, "agentrail: cannot set up redaction: %s\n", atr_errmsg());
		goto out;
	}
	if (srv_auth_init(&s->auth, s->writer) != 0) {
		fprintf(stderr, "agentrail: cannot read the tokens: %s\n", atr_errmsg());
		goto out;
	}
	s->auth_ready = 1;
	if (!s->auth.required && !is_loopback((struct sockaddr *)&ss)) {
		fprintf(stderr,
		        "agentrail: tokens are required to listen on '%s'; create one with "
		        "'agentrail token create --role admin' or listen on a loopback address\n",
		        cfg->listen);
		goto out;
	}
	if (atr_approvals_new(&s->approvals) != 0) {
		fprintf(stderr, "agentrail: out of memory\n");
		goto out;
	}
	pthread_mutex_init(&s->resolve_mu, NULL);
	if (atr_ingest_new(&s->ing, s->writer, s->cfg.queue_max) != 0) {
		fprintf(stderr, "agentrail: cannot start the ingest: %s\n", atr_errmsg());
		goto out;
	}
	if (pthread_key_create(&s->reader_key, reader_destroy) != 0) {
		fprintf(stderr, "agentrail: cannot create a thread key\n");
		goto out;
	}
	key = 1;
	if (submitters_start(s) != 0) {
		fprintf(stderr, "agentrail: cannot start the submitter threads\n");
		goto out;
	}
	/* Its own thread and log handle: signing never holds up the ingest. */
	if (srv_signer_start(&s->signer, cfg, s->uri) != 0)
		goto out;
	/* Its own thread too; it appends through the ingest like any producer. */
	if (srv_reporter_start(&s->reporter, s, cfg) != 0)
		goto out;
	/* And the alerter: it follows the log and appends through the ingest too. */
	if (srv_alerter_start(&s->alerter, s, cfg) != 0)
		goto out;

	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
	        MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	d = MHD_start_daemon(flags, 0, accept_cb, s, handle, s, MHD_OPTION_SOCK_ADDR,
	                     (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
	                     (unsigned int)cfg->threads, MHD_OPTION_NOTIFY_COMPLETED, completed, s,
	                     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)60,
	                     MHD_OPTION_CONNECTION_LIMIT, (unsigned int)1024, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr,
		        "agentrail: cannot listen on '%s' (in use, or not an address here)\n",
		        cfg->listen);
		goto out;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	port = info ? info->port : 0;
	if (getnameinfo((struct sockaddr *)&ss, sslen, host, sizeof(host), NULL, 0,
	                NI_NUMERICHOST) != 0)
		snprintf(host, sizeof(host), "?");
	{
		const char *lb = ss.ss_family == AF_INET6 ? "[" : "";
		const char *rb = ss.ss_family == AF_INET6 ? "]" : "";

		const char *bearer = s->auth.required ? "-H 'Authorization: Bearer $TOKEN' " : "";

		printf("agentrail serve: listening on http://%s%s%s:%u (store '%s'); ", lb, host,
		       rb, (unsigned)port, s->uri);
		if (s->auth.required)
			printf("bearer tokens required (%zu live)\n", srv_auth_live(&s->auth));
		else
			printf("loopback clients only\n");
		printf("try:  curl %s-H 'Content-Type: application/json' -d "
		       "'{\"type\":\"output\",\"actor\":\"me\"}' http://%s%s%s:%u/api/v1/events\n"
		       "      curl %shttp://%s%s%s:%u/api/v1/events\n",
		       bearer, lb, host, rb, (unsigned)port, bearer, lb, host, rb, (unsigned)port);
		srv_signer_announce(s->signer, cfg);
		srv_reporter_announce(s->reporter);
		fflush(stdout);
	}

	while (sigwait(&sigs, &sig) != 0)
		;

	/*
	 * Stop accepting, answer what is in flight (an ingest request is
	 * answered only once durable), then stop the threads. Requests that
	 * arrive on open connections meanwhile get 503 and are not acked.
	 */
	__atomic_store_n(&s->stopping, 1, __ATOMIC_SEQ_CST);
	lfd = MHD_quiesce_daemon(d);
	for (i = 0; i < 3000 && __atomic_load_n(&s->active, __ATOMIC_SEQ_CST) > 0; i++)
		sleep_ms(10);
	/*
	 * Every queued ingest request is committed and its connection resumed
	 * before the daemon goes: a resume after MHD_stop_daemon would be a
	 * use after free.
	 */
	submitters_stop(s);
	MHD_stop_daemon(d);
	d = NULL;
	if (lfd != MHD_INVALID_SOCKET)
		close(lfd);
	atr_ingest_stats_get(s->ing, &st);
	fprintf(stderr, "agentrail serve: %s, stopping (%llu events appended, %llu requests)\n",
	        sig == SIGINT ? "interrupted" : "terminated", (unsigned long long)st.events,
	        (unsigned long long)st.requests);
	rc = 0;
out:
	if (s->nsubmitters)
		submitters_stop(s);
	if (d)
		MHD_stop_daemon(d);
	srv_verify_shutdown();
	/* Before the ingest goes: a report being written still appends its event. */
	srv_reporter_stop(s->reporter);
	/* Before the ingest goes too: an alert being appended is answered first. */
	srv_alerter_stop(__atomic_exchange_n(&s->alerter, NULL, __ATOMIC_ACQ_REL));
	/* Frees drain: everything submitted is written and answered first. */
	atr_ingest_free(s->ing);
	/* The final checkpoint, after the drain: it covers every acknowledged event. */
	srv_signer_stop(s->signer, rc == 0);
	if (key)
		pthread_key_delete(s->reader_key);
	atr_log_free(s->writer);
	if (s->auth_ready)
		srv_auth_release(&s->auth);
	if (s->approvals)
		pthread_mutex_destroy(&s->resolve_mu);
	atr_approvals_free(s->approvals);
	free(s->uri);
	free(s);
	return rc;
}
