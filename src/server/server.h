/*
 * What the files of `agentrail serve` share: the configuration, one request
 * as it is handled, the error table, the JSON response helpers and the
 * route handlers. Only the CLI (cmd_serve.c) calls srv_run().
 */
#ifndef ATR_SERVER_H
#define ATR_SERVER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <agentrail/agentrail.h>
#include <agentrail/ingest.h>

#include "util/util.h"

struct MHD_Connection;
struct MHD_Response;

/* Defaults and limits, documented in docs/server.md. */
#define SRV_DEFAULT_LISTEN   "127.0.0.1:8081"
#define SRV_DEFAULT_THREADS  4u
#define SRV_MAX_THREADS      256u
#define SRV_DEFAULT_MAX_BODY ((size_t)16 << 20)
#define SRV_MAX_EVENTS       10000u /* events in one request; ingest queues hold more */
#define SRV_DEFAULT_LIMIT    100u
#define SRV_MAX_LIMIT        1000u
/*
 * Threads that wait in atr_ingest_submit() for suspended ingest requests:
 * as many requests as this can share one group commit, while the MHD
 * threads go on reading other connections.
 */
#define SRV_SUBMITTERS 64u

/* Events of ingest requests accepted and not yet answered (--queue-max); past it, 429. */
#define SRV_DEFAULT_QUEUE_MAX 100000u
#define SRV_MAX_QUEUE_MAX     10000000u

/* Alerts (alerter.c, docs/alerts.md). */
#define SRV_ALERT_POLL_MS       200L  /* the alerter looks at the log at least this often */
#define SRV_ALERT_BATCH         512u  /* records read per step */
#define SRV_ALERT_QUEUE         1024u /* alerts pending for the webhook; past it the oldest drops */
#define SRV_ALERT_MAX_SENSITIVE 32u   /* --alert-sensitive globs */

/* Checkpoints and witnesses (signer.c, witness.c; docs/server.md). */
#define SRV_DEFAULT_CKPT_INTERVAL 1u    /* --checkpoint-interval, seconds */
#define SRV_MAX_CKPT_INTERVAL     3600u /* DESIGN: a growing log is signed at least hourly */
#define SRV_IDLE_RECHECK_S        3600u /* idle: re-check the log still extends its checkpoint */
#define SRV_SIGNER_TICK_MS        100L  /* how often the signer looks at the tree size */
#define SRV_MAX_WITNESSES         8u    /* --witness and --witness-url, each */
#define SRV_WITNESS_QUEUE         64u   /* checkpoints pending per witness URL */
#define SRV_WITNESS_TIMEOUT_S     10L   /* one POST */
#define SRV_WITNESS_MAX_BACKOFF_S 60.0  /* retries wait 1, 2, 4, ... up to this */
#define SRV_WITNESS_SHUTDOWN_S    5.0   /* at shutdown, time left to deliver the final one */

/* Reports (reporter.c, route_reports.c; docs/reports.md, "Server"). */
#define SRV_DEFAULT_REPORT_DELAY 300u   /* --report-delay, seconds after midnight UTC */
#define SRV_MAX_REPORT_DELAY     43200u /* 12 h */
#define SRV_REPORT_TYPE          "x_report"
#define SRV_REPORT_ACTOR         "agentrail-reports"
/* Actors of the server's own threads; the ingest routes refuse them from producers. */
#define SRV_OWN_ACTOR_PREFIX "agentrail-"

struct srv_config {
	const char *listen; /* "HOST:PORT" or "[V6]:PORT" */
	const char *store;  /* the store URI; NULL: the default store */
	/* --read-store: where GET routes read (a replica); NULL: the store itself. */
	const char *read_store;
	unsigned threads;
	size_t max_body; /* bytes of a request body, after gzip inflation too */
	/* Events accepted and not yet answered; past it, 429. */
	size_t queue_max;
	/* Checkpoints (signer.c, witness.c): signed only with a key. */
	const char *key;              /* signer key file (--key); NULL: no signing */
	uint64_t checkpoint_every;    /* sign after this many new events; 0: by time only */
	unsigned checkpoint_interval; /* seconds between signatures while the log grows */
	const char *witness_dirs[SRV_MAX_WITNESSES]; /* --witness DIR */
	unsigned nwitness_dirs;
	const char *witness_urls[SRV_MAX_WITNESSES]; /* --witness-url URL */
	unsigned nwitness_urls;
	/* Masking at ingest (--redact-*, AGENTRAIL_REDACT_*); NULL: the built-ins and the env. */
	const atr_redact_config *redact;
	/* Reports (reporter.c): written into this directory when set (--reports-dir). */
	const char *reports_dir;
	unsigned report_delay; /* seconds after midnight UTC (--report-delay) */
	/* Alerts (alerter.c, docs/alerts.md): on unless 'alerts_off'. */
	int alerts_off;
	const char *alert_webhook; /* --alert-webhook URL; NULL: none */
	/* --alert-sensitive, --alert-token-spike, --alert-fail-burst */
	atr_alert_rules alert_rules;
};

/*
 * Run the server until SIGTERM or SIGINT, then drain and exit. Returns 0
 * after a clean shutdown, 1 when it could not start (the reason printed
 * on stderr).
 */
int srv_run(const struct srv_config *cfg);

/*
 * Errors the server adds to the library's ATR_E… codes, so that one table
 * maps every failure to an HTTP status and a JSON error code.
 */
enum srv_error {
	SRV_EBADJSON = -100,   /* the body is not JSON (400) */
	SRV_EBADREQ = -101,    /* a bad query parameter or path (400) */
	SRV_ENOROUTE = -102,   /* no such route (404) */
	SRV_EMETHOD = -103,    /* the route exists, not with this method (405) */
	SRV_EBODYBIG = -104,   /* body over --max-body (413) */
	SRV_EMEDIA = -105,     /* Content-Type or Content-Encoding (415) */
	SRV_ESHUTDOWN = -106,  /* the server is stopping (503) */
	SRV_ETOOMANY = -107,   /* more events in one request than SRV_MAX_EVENTS (413) */
	SRV_EUNAUTH = -108,    /* no token, or not a live one (401) */
	SRV_EFORBIDDEN = -109, /* the token's role may not use this route (403) */
	SRV_EQUEUEFULL = -110, /* the ingest queue is full: slow down (429) */
	/* POST /api/v1/approvals/{id}/resolve (route_resolve.c) */
	SRV_EJOBHASH = -111,  /* job_hash differs from the request's (409 job_hash_mismatch) */
	SRV_ERESOLVED = -112, /* the approval was already resolved (409 already_resolved) */
	SRV_ESELF = -113,     /* an approver resolving their own request (403 self_approval) */
	SRV_ERESERVED =
	    -114, /* a type or actor only the server's own routes write (403 reserved) */
	/* GET /api/v1/jobs/{id}/evidence (route_evidence.c) */
	SRV_ENOCHECKPOINT = -130, /* no signed checkpoint covers the job yet (409 no_checkpoint) */
	/* GET /api/v1/reports/{name} (route_reports.c) */
	SRV_EREPORTCHANGED = -150 /* the file no longer hashes as its x_report event says (409) */
};

/* HTTP status and JSON code of an ATR_E… or SRV_E… code (unknown: 500, "internal"). */
unsigned srv_http_status(int code);
const char *srv_error_code(int code);

struct srv;

/* A route: its handler answers one request (see srv_reply*). */
struct srv_req;
typedef void (*srv_handler)(struct srv_req *req);

/* One HTTP request from its first header to its answer. */
struct srv_req {
	struct srv *srv;
	struct MHD_Connection *conn;
	int route;               /* index into the route table; -1 none */
	const char *captures[2]; /* the {name} path segments, copied into 'capbuf' */
	char capbuf[256];
	struct util_buf body; /* the raw request body as it arrives */
	int body_too_big;     /* the body grew past --max-body: answer 413 */
	int gzip;             /* Content-Encoding: gzip */
	int ndjson;           /* Content-Type: application/x-ndjson */
	const char *allow;    /* the Allow header of a 405 (static storage) */
	int answered;
	unsigned status; /* what was answered, for /metrics */
	/*
	 * Set by srv_auth_check() for a reader's token: srv_reply() passes
	 * every JSON answer through it, so readers see secrets masked. A
	 * route that readers may call must answer through srv_reply().
	 */
	const atr_redactor *mask;
	/*
	 * An ingest request in flight: route_ingest.c's parsed body and its
	 * answer, 'ingest_done' set (by a submitter thread) once the commit
	 * answered, 'next' its place in the submitters' queue.
	 */
	struct srv_ingest *ingest;
	int ingest_done;
	struct srv_req *next;
	/*
	 * The steps of a route whose requests wait, suspended, for the group
	 * commit (POST /api/v1/events, the OTLP routes); NULL for the others.
	 * 'parsed' once its parse step ran.
	 */
	const struct srv_ingest_ops *iops;
	int parsed;
	/* An OTLP route (route_otlp.c): every error answer is a google.rpc.Status. */
	int otlp;
	struct srv_otlp *otlp_in;
	/* POST /api/v1/hooks/claude-code (route_hooks.c): the mapped events in flight. */
	struct srv_hook *hook_in;
	/*
	 * Who called, set by srv_auth_check() when tokens are required: the
	 * token's name, or its id when it has no name ("" without a token).
	 */
	char caller[130];
	/* The token's role, set with 'caller' (0 without a token). */
	atr_role role;
	/* POST /api/v1/approvals/{id}/resolve (route_resolve.c): the resolution in flight. */
	struct srv_resolve *resolve_in;
	/* POST /api/v1/policies[/{name}/rollback] (route_policy.c): the change in flight. */
	struct srv_policy *policy_in;
};

/*
 * The steps of an ingest route, in the order the server calls them:
 * 'headers' before the body is read (0, or -1 with the error answered);
 * 'parse' once the body is in (0 to submit, or -1 answered); 'submit' on a
 * submitter thread, waiting for the commit (answers nothing); 'answer' on
 * the connection's thread after the resume; 'release' when the request
 * completes (frees what parse kept; safe when nothing was kept).
 */
struct srv_ingest_ops {
	int (*headers)(struct srv_req *req);
	int (*parse)(struct srv_req *req);
	void (*submit)(struct srv_req *req);
	void (*answer)(struct srv_req *req);
	void (*release)(struct srv_req *req);
};

/*
 * Tokens (auth.c). 'required' is fixed at start: set when the log holds at
 * least one live token; then every route but the public ones needs one.
 * Routes name the roles they admit as a mask of SRV_ROLE(atr_role) bits.
 */
#define SRV_ROLE(r)   (1u << (r))
#define SRV_ROLES_ANY 0u /* public: no token needed (liveness) */
struct srv_auth {
	int required;
	pthread_mutex_t mu;
	atr_token_info *list;
	size_t n;
	int64_t loaded_us;
	atr_redactor *redactor; /* readers' answers: built-in detectors, a salt drawn at start */
};
int srv_auth_init(struct srv_auth *a, atr_log *log);
void srv_auth_release(struct srv_auth *a);
size_t srv_auth_live(struct srv_auth *a);
/* 0 when the request may go on; -1 when 401 or 403 was answered. */
int srv_auth_check(struct srv_req *req, struct srv_auth *a, unsigned roles, const char *method,
                   const char *pattern);

/* The store URI the server runs on and its shared state, for the handlers. */
atr_approvals *srv_approvals(struct srv *s);
/*
 * Held around the check and the append of one approval resolution or
 * policy change (srv_checked_submit in append.c).
 */
pthread_mutex_t *srv_resolve_mutex(struct srv *s);
const char *srv_store_uri(const struct srv *s);
size_t srv_max_body(const struct srv *s);

/*
 * This thread's read-only handle on the log (opened on first use, closed
 * when the thread exits): the ingest owns the writer handle and atr_log
 * handles are not shared between threads. NULL with an error answered.
 */
atr_log *srv_reader(struct srv_req *req);
/* The same without answering anything on failure. */
atr_log *srv_reader_quiet(struct srv_req *req);

/*
 * Back-pressure: ingest requests hold 'n' places in a queue of --queue-max
 * events from when they are parsed until they are answered. srv_queue_admit
 * takes them (0), or -1 when they do not fit (answer 429); srv_queue_done
 * gives them back. srv_queue_full: not one more event fits now.
 */
int srv_queue_admit(struct srv *s, size_t n);
void srv_queue_done(struct srv *s, size_t n);
int srv_queue_full(struct srv *s);
size_t srv_queue_max(const struct srv *s);
size_t srv_queue_pending(struct srv *s);
/* Answer 429 queue_full (with Retry-After). */
void srv_reply_queue_full(struct srv_req *req);

/* Submit events as one atomic request; see atr_ingest_submit(). */
int srv_submit(struct srv *s, const char *const *jsons, const size_t *lens, size_t n,
               atr_append_result *results);

/* The ingest counters for /metrics. */
void srv_ingest_stats(struct srv *s, atr_ingest_stats *out);

/* Append a /metrics section for request counters. */
int srv_metrics_requests(struct srv *s, struct util_buf *b);

/*
 * Answers. Each takes ownership of nothing it is given; 'body' is copied.
 * srv_reply_error() uses the thread's atr_errmsg() when 'message' is NULL.
 */
void srv_reply(struct srv_req *req, unsigned status, const char *content_type, const char *body,
               size_t len, const char *hname, const char *hvalue);
void srv_reply_json(struct srv_req *req, unsigned status, struct util_buf *b);
void srv_reply_error(struct srv_req *req, int code, const char *message, const char *at);
/*
 * Answer 200 with 'pre' + 'json' + 'post' ('json', from an atr_*_json
 * function, is released), or the error of 'rc' (with 'at') when it is not 0.
 */
void srv_reply_wrapped(struct srv_req *req, int rc, const char *at, const char *pre, char *json,
                       const char *post);
/* Release 'b' and answer 500 out of memory. */
void srv_reply_oom(struct srv_req *req, struct util_buf *b);

/*
 * Query parameters (route_read.c). Unknown ones are an error, as unknown
 * event fields are: srv_only_args answers 400 and returns -1 for a name not
 * in the NULL-terminated 'allowed'. srv_arg_str is NULL when absent or empty.
 */
int srv_only_args(struct srv_req *req, const char *const *allowed);
const char *srv_arg_str(struct srv_req *req, const char *name);

/*
 * Content-Encoding (gzip or identity: sets req->gzip) and Content-Length (at
 * most --max-body) of a request with a body; answers the error and returns
 * -1 when refused.
 */
int srv_check_body_headers(struct srv_req *req);

/* Opaque list cursors ("c" and the hex of the next seq), shared by every paged route. */
void srv_cursor_encode(uint64_t seq, char out[20]);
int srv_cursor_decode(const char *text, uint64_t *seq);
/* The closing member of a paged answer: ',"next_cursor":"c…"}', or ':null}' unless 'more'. */
void srv_next_cursor(int more, uint64_t next, char out[48]);

/* A query parameter of the request ("seq"), or NULL. Borrowed for the request. */
const char *srv_arg(struct srv_req *req, const char *name);

/* JSON output helpers over util_buf; each returns -1 when out of memory. */
int srv_json_str(struct util_buf *b, const char *s, size_t len);
int srv_json_hash(struct util_buf *b, const atr_hash *h);
int srv_bufprintf(struct util_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * The ingest route in three steps, so that the connection can be suspended
 * while the commit is awaited on another thread: parse (0, or -1 with the
 * error answered), submit and wait (any thread; answers nothing), answer
 * (the connection's MHD thread). srv_ingest_release() frees what parse
 * kept; NULL-safe. srv_h_ingest() runs all three on the calling thread.
 */
int srv_ingest_parse(struct srv_req *req);
void srv_ingest_submit(struct srv_req *req);
void srv_ingest_answer(struct srv_req *req);
void srv_ingest_release(struct srv_req *req);

/*
 * Inflate a gzip body (one or more members) into 'out', at most 'max' bytes
 * (route_ingest.c): 0, or SRV_EBADJSON (corrupt), SRV_EBODYBIG (over 'max')
 * or ATR_ENOMEM with the reason in 'msg'.
 */
int srv_gunzip(const char *in, size_t len, size_t max, struct util_buf *out, char *msg,
               size_t msgsize);

/*
 * OTLP/HTTP ingest (route_otlp.c): POST /v1/traces and /v1/logs, whose steps
 * are these ops. srv_otlp_status() writes an error as OTLP answers them, a
 * google.rpc.Status in JSON (srv_reply_error() does for OTLP routes); -1 out
 * of memory.
 */
extern const struct srv_ingest_ops srv_otlp_traces_ops;
extern const struct srv_ingest_ops srv_otlp_logs_ops;
void srv_h_otlp_traces(struct srv_req *req);
void srv_h_otlp_logs(struct srv_req *req);
int srv_otlp_status(struct util_buf *b, int code, const char *message, const char *at);

/*
 * Claude Code's HTTP hooks (route_hooks.c): POST /api/v1/hooks/claude-code
 * maps one hook payload (atr_claude_hook_map) and submits its events like
 * /api/v1/events; a success answers 200 {} so the hook never blocks.
 */
extern const struct srv_ingest_ops srv_hook_claude_ops;
void srv_h_hook_claude(struct srv_req *req);

/*
 * POST /api/v1/approvals/{approval_id}/resolve (route_resolve.c): an
 * approver's resolution, checked against the queue and appended as an
 * approval_resolved event through the group commit, one at a time.
 */
extern const struct srv_ingest_ops srv_resolve_ops;
void srv_h_resolve(struct srv_req *req);

/*
 * Routes that append one event checked against the log (append.c):
 * srv_check_json_headers() takes Content-Type application/json (or none;
 * 'what' names the body in the error) and srv_check_body_headers();
 * srv_body_object() reads the body as one JSON object (not gzip, no
 * duplicate keys) whose members are all in the NULL-terminated 'allowed'
 * ('hint' ends the unknown-field error) into '*out' (the caller's);
 * srv_body_str() reads a string member of 1 to 'max' bytes ('*out'
 * borrowed from 'o', NULL when absent and not required). Each answers
 * 400 (or 415) and returns -1 when refused.
 * srv_checked_submit(), on a submitter thread, runs 'build' with this
 * thread's reader under srv_resolve_mutex(): 'build' checks the request
 * and answers 0 with '*event' (malloc'd; NULL: nothing to append) or an
 * ATR_E or SRV_E code with its own message; the event is then submitted
 * through the group commit into '*res'. Returns 0 or the code, with the
 * message in 'msg' for failures other than build's.
 */
struct json_t;
int srv_check_json_headers(struct srv_req *req, const char *what);
int srv_body_object(struct srv_req *req, const char *const *allowed, const char *what,
                    const char *hint, struct json_t **out);
int srv_body_str(struct srv_req *req, struct json_t *o, const char *name, size_t max, int required,
                 const char **out);
typedef int (*srv_build_fn)(struct srv_req *req, atr_log *log, void *ctx, char **event);
int srv_checked_submit(struct srv_req *req, srv_build_fn build, void *ctx, atr_append_result *res,
                       char *msg, size_t size);

/*
 * Policies (route_policy.c): POST /api/v1/policies and
 * /api/v1/policies/{name}/rollback (admins) append policy_publish and
 * policy_rollback through the group commit, checked one at a time; the GET
 * routes read them (docs/policies.md).
 */
extern const struct srv_ingest_ops srv_policy_publish_ops;
extern const struct srv_ingest_ops srv_policy_rollback_ops;
void srv_h_policy_publish(struct srv_req *req);
void srv_h_policy_rollback(struct srv_req *req);
void srv_h_policies(struct srv_req *req);
void srv_h_policy(struct srv_req *req);
void srv_h_policy_snapshot(struct srv_req *req);

/* Route handlers. */
void srv_h_ingest(struct srv_req *req);
void srv_h_events(struct srv_req *req);
void srv_h_event(struct srv_req *req);
void srv_h_record(struct srv_req *req);
void srv_h_root(struct srv_req *req);
void srv_h_inclusion(struct srv_req *req);
void srv_h_consistency(struct srv_req *req);
void srv_h_export(struct srv_req *req); /* route_export.c: streamed, auditor and admin */
void srv_h_healthz(struct srv_req *req);
void srv_h_metrics(struct srv_req *req);

/* Signed checkpoints (route_checkpoint.c). */
void srv_h_checkpoint(struct srv_req *req);
void srv_h_checkpoints(struct srv_req *req);

/*
 * The checkpoint signer (signer.c). srv_signer_start() checks the key and
 * the witnesses (printing why not on stderr: -1) and starts the signing
 * thread with its own log handle; without cfg->key '*out' is NULL and
 * nothing runs. srv_signer_stop() (NULL-safe) stops it; with 'final' it
 * signs the final checkpoint (call it after the ingest drained) and hands it
 * to the witnesses; then it frees everything. srv_signer_announce() prints the start line.
 */
struct srv_signer;
int srv_signer_start(struct srv_signer **out, const struct srv_config *cfg, const char *uri);
void srv_signer_announce(const struct srv_signer *sg, const struct srv_config *cfg);
void srv_signer_stop(struct srv_signer *sg, int final);
/* The /metrics section of checkpoints and witnesses ('sg' may be NULL). */
int srv_signer_metrics(struct srv_signer *sg, struct util_buf *b);
/* The server's signer, NULL without --key. */
struct srv_signer *srv_signer_of(struct srv *s);

/*
 * Witness URLs (witness.c): a thread per URL POSTs each pushed checkpoint
 * with retries; srv_witness_push() copies the note and never blocks for
 * long. srv_witness_stop() gives the newest pending checkpoint 'seconds'
 * to be delivered, then stops and frees. libcurl is set up once around them.
 */
struct srv_witness;
int srv_witness_global_init(void);
void srv_witness_global_cleanup(void);
int srv_witness_start(struct srv_witness **out, const char *url, unsigned index);
const char *srv_witness_name(const struct srv_witness *w);
void srv_witness_push(struct srv_witness *w, const char *note, size_t len, uint64_t size);
void srv_witness_stop(struct srv_witness *w, double seconds);
int srv_witness_metrics(struct srv_witness *const *ws, unsigned n, struct util_buf *b);
/*
 * The same delivery for other payloads (the alert webhook): what is
 * POSTed and how it is named in messages, the queue's bound, and whether
 * at shutdown only the newest pending item matters (checkpoints) or every
 * pending one gets its chance until the deadline (alerts).
 * srv_push_counts(): delivered, failures, rejected, dropped, queued now.
 */
struct srv_push_kind {
	const char *content_type;
	const char *noun;     /* "checkpoint" */
	const char *receiver; /* "witness" */
	const char *shout;    /* "WITNESS", for a refusal */
	unsigned queue;
	int newest_only;
};
extern const struct srv_push_kind srv_witness_kind;
int srv_push_start(struct srv_witness **out, const char *url, unsigned index,
                   const struct srv_push_kind *kind);
void srv_push_counts(struct srv_witness *w, uint64_t out[5]);

/* Derived answers (route_derived.c): jobs, approvals, trails, timelines, policy audit. */
void srv_h_job(struct srv_req *req);
void srv_h_job_decisions(struct srv_req *req);
void srv_h_approvals(struct srv_req *req);
void srv_h_session_trail(struct srv_req *req);
void srv_h_trace(struct srv_req *req);
void srv_h_timeline(struct srv_req *req);
void srv_h_policy_audit(struct srv_req *req);
/* GET /api/v1/jobs/{id}/evidence (route_evidence.c): auditor and admin. */
void srv_h_job_evidence(struct srv_req *req);

/*
 * The web console (route_console.c, docs/console.md): its embedded files at
 * / and /console/{file} (no token), who the caller is, recent activity.
 */
void srv_h_console(struct srv_req *req);
void srv_h_console_file(struct srv_req *req);
void srv_h_whoami(struct srv_req *req);
void srv_h_activity(struct srv_req *req);

/*
 * Alerts (alerter.c): a thread with its own log handle that follows the log
 * (woken by srv_alerter_kick() after each commit through the server, and
 * every SRV_ALERT_POLL_MS for appends by other processes), runs the alert
 * engine and appends its alerts through the group commit, and POSTs each
 * to --alert-webhook. srv_alerter_start() leaves '*out' NULL with
 * --alerts off; -1 (printed) when it cannot start. srv_alerter_stop() is
 * NULL-safe; call it before the ingest is freed. GET /api/v1/alerts is
 * route_alerts.c.
 */
struct srv_alerter;
int srv_alerter_start(struct srv_alerter **out, struct srv *s, const struct srv_config *cfg);
void srv_alerter_kick(struct srv_alerter *al);
void srv_alerter_stop(struct srv_alerter *al);
int srv_alerter_metrics(struct srv_alerter *al, struct util_buf *b);
/* The server's alerter, NULL with --alerts off. */
struct srv_alerter *srv_alerter_of(struct srv *s);
void srv_h_alerts(struct srv_req *req);

/*
 * Verify now (route_verify.c): POST /api/v1/verify starts atr_log_verify on
 * a thread of its own (409 while one runs), GET /api/v1/verify/status follows
 * it. srv_verify_shutdown() waits for a run in progress and frees its state.
 */
void srv_h_verify(struct srv_req *req);
void srv_h_verify_status(struct srv_req *req);
void srv_verify_shutdown(void);

/*
 * Reports (reporter.c, docs/reports.md "Server"). srv_reporter_start()
 * checks --reports-dir (creating it) and AGENTRAIL_REPORT_CLOCK (a test
 * clock) and starts the thread that writes each day's and week's report
 * after midnight UTC plus --report-delay, catching up on the newest missing
 * ones at start; without cfg->reports_dir '*out' is NULL and nothing runs
 * (-1: why not printed on stderr). srv_reporter_stop() (NULL-safe) lets a
 * report in progress finish, then stops; call it while the ingest runs.
 */
struct srv_reporter;
int srv_reporter_start(struct srv_reporter **out, struct srv *s, const struct srv_config *cfg);
void srv_reporter_announce(const struct srv_reporter *r);
void srv_reporter_stop(struct srv_reporter *r);
/* The server's --reports-dir, NULL without. */
const char *srv_reports_dir(const struct srv *s);
/* 1 when 'name' is a report file: day-YYYY-MM-DD.EXT or week-YYYY-Www.EXT (html, md, json). */
int srv_report_name_valid(const char *name);
/* 1 when 'log' holds the reporter's x_report event for 'stem' ("day-2026-11-22"), 0 if not, <0. */
int srv_report_logged(atr_log *log, const char *stem);
/* Lower-case hex SHA-256 of 'len' bytes. */
void srv_report_sha256(const char *data, size_t len, char hex[65]);
/* GET /api/v1/reports (the x_report events, newest first) and /api/v1/reports/{name}. */
void srv_h_reports(struct srv_req *req);
void srv_h_report(struct srv_req *req);

#endif
