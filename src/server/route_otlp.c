/*
 * POST /v1/traces and POST /v1/logs: OTLP/HTTP with JSON bodies. The body
 * (gzip inflated under the same cap as /api/v1/events) is mapped onto events
 * by atr_otlp_map(); the events of the spans or log records it accepts go to
 * the group commit as one atomic request, and the answer is OTLP's: 200 with
 * {} or a partialSuccess naming what was refused, and every error as a
 * google.rpc.Status in JSON (docs/otel.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include <agentrail/otlp.h>

#include "server/server.h"

/*
 * A request whose submission the log refuses for one item (a span id logged
 * before with other content) is sent again without that item, at most this
 * many times; past it every item left is refused (never a retry loop a
 * client could make long).
 */
#define OTLP_MAX_ROUNDS 16

/* One OTLP request between its parse and its answer. */
struct srv_otlp {
	atr_otlp_signal signal;
	struct util_buf plain; /* the inflated body of a gzip request */
	atr_otlp_batch *batch;
	const char **texts; /* the batch's events as submitted */
	size_t *lens;
	atr_append_result *res;
	size_t cap;      /* entries of texts, lens, res */
	size_t admitted; /* places held in the server's ingest queue */
	int rc;
	char msg[1024];
};

/* ------------------------------------------------------ google.rpc.Status */

/* google.rpc.Code of an HTTP status (OTLP clients go by the HTTP status). */
static int rpc_code(unsigned http)
{
	switch (http) {
	case 400:
	case 415:
		return 3; /* INVALID_ARGUMENT */
	case 401:
		return 16; /* UNAUTHENTICATED */
	case 403:
		return 7; /* PERMISSION_DENIED */
	case 404:
		return 5; /* NOT_FOUND */
	case 409:
		return 10; /* ABORTED */
	case 405:
	case 501:
		return 12; /* UNIMPLEMENTED */
	case 413:
	case 429:
		return 8; /* RESOURCE_EXHAUSTED */
	case 503:
		return 14; /* UNAVAILABLE */
	default:
		return 13; /* INTERNAL */
	}
}

int srv_otlp_status(struct util_buf *b, int code, const char *message, const char *at)
{
	unsigned http = srv_http_status(code);
	const char *name = srv_error_code(code);
	char reason[64];
	size_t i;

	/* ErrorInfo.reason is UPPER_SNAKE_CASE: agentrail's error code. */
	for (i = 0; name[i] && i + 1 < sizeof(reason); i++)
		reason[i] =
		    (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 'a' + 'A' : name[i]);
	reason[i] = '\0';
	if (srv_bufprintf(b, "{\"code\":%d,\"message\":", rpc_code(http)) ||
	    srv_json_str(b, message, strlen(message)) || util_buf_adds(b, ",\"details\":["))
		return -1;
	if (http == 400 && at && *at) {
		if (util_buf_adds(b, "{\"@type\":\"type.googleapis.com/google.rpc.BadRequest\","
		                     "\"fieldViolations\":[{\"field\":") ||
		    srv_json_str(b, at, strlen(at)) || util_buf_adds(b, ",\"description\":") ||
		    srv_json_str(b, message, strlen(message)) || util_buf_adds(b, "}]},"))
			return -1;
	}
	if (util_buf_adds(b,
	                  "{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":") ||
	    srv_json_str(b, reason, strlen(reason)) ||
	    util_buf_adds(b, ",\"domain\":\"agentrail\""))
		return -1;
	if (at && *at &&
	    (util_buf_adds(b, ",\"metadata\":{\"at\":") || srv_json_str(b, at, strlen(at)) ||
	     util_buf_adds(b, "}")))
		return -1;
	if (util_buf_adds(b, "}"))
		return -1;
	/* The server answers Retry-After: 1 with these; RetryInfo says the same. */
	if ((http == 429 || http == 503) &&
	    util_buf_adds(b, ",{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\","
	                     "\"retryDelay\":\"1s\"}"))
		return -1;
	return util_buf_adds(b, "]}\n");
}

/* ------------------------------------------------------------- headers */

static int otlp_headers(struct srv_req *req)
{
	const char *ct =
	    MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	char msg[300];

	if (ct && *ct) {
		size_t n = strcspn(ct, "; \t");

		if (n == 22 && strncasecmp(ct, "application/x-protobuf", n) == 0) {
			srv_reply_error(
			    req, SRV_EMEDIA,
			    "OTLP protobuf bodies are not supported by this server; send "
			    "the OTLP JSON encoding with Content-Type: application/json "
			    "(the exporters' http/json protocol)",
			    "Content-Type");
			return -1;
		}
		if (n != 16 || strncasecmp(ct, "application/json", n) != 0) {
			snprintf(msg, sizeof(msg),
			         "Content-Type '%.80s' is not supported; send OTLP JSON with "
			         "Content-Type: application/json",
			         ct);
			srv_reply_error(req, SRV_EMEDIA, msg, "Content-Type");
			return -1;
		}
	}
	return srv_check_body_headers(req);
}

/* --------------------------------------------------------------- steps */

static void otlp_release(struct srv_req *req)
{
	struct srv_otlp *in = req->otlp_in;

	if (!in)
		return;
	if (in->admitted)
		srv_queue_done(req->srv, in->admitted);
	atr_otlp_batch_free(in->batch);
	free(in->texts);
	free(in->lens);
	free(in->res);
	util_buf_release(&in->plain);
	free(in);
	req->otlp_in = NULL;
}

/* 200: {} when everything was taken, else partialSuccess (rejected counts are int64: strings). */
static void answer_ok(struct srv_req *req, atr_otlp_batch *batch)
{
	struct util_buf b;
	size_t rejected = atr_otlp_batch_rejected(batch);
	const char *what =
	    req->otlp_in->signal == ATR_OTLP_TRACES ? "rejectedSpans" : "rejectedLogRecords";
	const char *summary;

	util_buf_init(&b);
	if (!rejected) {
		if (util_buf_adds(&b, "{}"))
			goto oom;
	} else {
		summary = atr_otlp_batch_summary(batch);
		if (srv_bufprintf(&b, "{\"partialSuccess\":{\"%s\":\"%zu\",\"errorMessage\":", what,
		                  rejected) ||
		    srv_json_str(&b, summary, strlen(summary)) || util_buf_adds(&b, "}}"))
			goto oom;
	}
	srv_reply_json(req, 200, &b);
	util_buf_release(&b);
	return;
oom:
	srv_reply_oom(req, &b);
}

/* Point texts/lens at the batch's current events; answers how many. */
static size_t gather(struct srv_otlp *in)
{
	size_t n = atr_otlp_batch_events(in->batch);

	for (size_t i = 0; i < n; i++)
		in->texts[i] = atr_otlp_batch_event(in->batch, i, &in->lens[i], NULL);
	return n;
}

static int otlp_parse(struct srv_req *req, atr_otlp_signal signal)
{
	struct srv_otlp *in;
	const char *body = req->body.data ? req->body.data : "";
	size_t len = req->body.len, n;
	char msg[200];
	int rc;

	if (!(in = calloc(1, sizeof(*in)))) {
		srv_reply_error(req, ATR_ENOMEM, "out of memory", NULL);
		return -1;
	}
	req->otlp_in = in;
	in->signal = signal;
	util_buf_init(&in->plain);
	if (req->gzip) {
		rc = srv_gunzip(body, len, srv_max_body(req->srv), &in->plain, msg, sizeof(msg));
		if (rc != 0) {
			srv_reply_error(req, rc, msg,
			                rc == SRV_EBODYBIG ? NULL : "Content-Encoding");
			goto fail;
		}
		body = in->plain.data ? in->plain.data : "";
		len = in->plain.len;
	}
	if (len > ATR_OTLP_MAX_BODY) {
		/* --max-body may allow more than an OTLP request may be. */
		snprintf(msg, sizeof(msg), "the OTLP body is %zu bytes; the limit is %u", len,
		         ATR_OTLP_MAX_BODY);
		srv_reply_error(req, SRV_EBODYBIG, msg, NULL);
		goto fail;
	}
	rc = atr_otlp_map(&in->batch, signal, body, len, SRV_MAX_EVENTS);
	if (rc == ATR_ETOOBIG) {
		srv_reply_error(req, SRV_ETOOMANY, NULL, NULL);
		goto fail;
	}
	if (rc != 0) {
		const char *path = atr_otlp_error_path();

		/* No path: the text is not JSON (or not an object) at all. */
		srv_reply_error(req, rc == ATR_EINVALID && !*path ? SRV_EBADJSON : rc, NULL,
		                *path ? path : NULL);
		goto fail;
	}
	/* Only the inflated text was needed for mapping; the events are copies. */
	util_buf_release(&in->plain);
	n = atr_otlp_batch_events(in->batch);
	if (n == 0) {
		/* Empty, or everything refused: nothing to write (OTLP: still 200). */
		answer_ok(req, in->batch);
		goto fail;
	}
	if (n > srv_queue_max(req->srv)) {
		snprintf(msg, sizeof(msg),
		         "%zu events in one request; the ingest queue holds at most %zu "
		         "(--queue-max): send fewer spans or log records per request",
		         n, srv_queue_max(req->srv));
		srv_reply_error(req, SRV_ETOOMANY, msg, NULL);
		goto fail;
	}
	if (srv_queue_admit(req->srv, n) != 0) {
		srv_reply_queue_full(req);
		goto fail;
	}
	in->admitted = n;
	in->cap = n;
	in->texts = calloc(n, sizeof(*in->texts));
	in->lens = calloc(n, sizeof(*in->lens));
	in->res = calloc(n, sizeof(*in->res));
	if (!in->texts || !in->lens || !in->res) {
		srv_reply_error(req, ATR_ENOMEM, "out of memory", NULL);
		goto fail;
	}
	return 0;
fail:
	otlp_release(req);
	return -1;
}

/*
 * The item a refused submission names: the library's "event K: ..." (a
 * request of one event names none). SIZE_MAX when it names none.
 */
static size_t failed_item(const struct srv_otlp *in, size_t n, const char *msg, const char **reason)
{
	size_t item = SIZE_MAX, ev = 0;

	*reason = msg;
	if (n > 1) {
		char *end;
		unsigned long long k;

		if (strncmp(msg, "event ", 6) != 0)
			return SIZE_MAX;
		k = strtoull(msg + 6, &end, 10);
		if (end == msg + 6 || *end != ':' || k >= n)
			return SIZE_MAX;
		ev = (size_t)k;
		*reason = end + 1 + (end[1] == ' ');
	}
	atr_otlp_batch_event(in->batch, ev, NULL, &item);
	return item;
}

static void otlp_submit(struct srv_req *req)
{
	struct srv_otlp *in = req->otlp_in;
	char why[200];

	for (unsigned round = 0;; round++) {
		size_t n = gather(in), item;
		const char *reason;

		in->rc = n ? srv_submit(req->srv, in->texts, in->lens, n, in->res) : 0;
		if (in->rc == 0)
			break;
		/* Keep the message: it is this thread's, and later calls replace it. */
		snprintf(in->msg, sizeof(in->msg), "%s", atr_errmsg());
		/* One item refused (its id logged with other content): send the rest again. */
		if (in->rc != ATR_ECONFLICT && in->rc != ATR_EINVALID && in->rc != ATR_ETOOBIG)
			break;
		item = failed_item(in, n, in->msg, &reason);
		if (item == SIZE_MAX)
			break;
		if (round + 1 == OTLP_MAX_ROUNDS) {
			/* Give up on the rest rather than commit again and again. */
			snprintf(why, sizeof(why),
			         "not written: %d items of this request were refused by the log",
			         OTLP_MAX_ROUNDS);
			while (atr_otlp_batch_events(in->batch)) {
				atr_otlp_batch_event(in->batch, 0, NULL, &item);
				if (atr_otlp_batch_reject(in->batch, item, why) != 0)
					break;
			}
			in->rc = 0;
			break;
		}
		if (atr_otlp_batch_reject(in->batch, item, reason) != 0)
			break;
	}
	/* Written (or refused): the places go back before the answer is sent. */
	srv_queue_done(req->srv, in->admitted);
	in->admitted = 0;
}

static void otlp_answer(struct srv_req *req)
{
	struct srv_otlp *in = req->otlp_in;

	if (in->rc != 0)
		srv_reply_error(req, in->rc, in->msg, NULL);
	else
		answer_ok(req, in->batch);
	otlp_release(req);
}

static int parse_traces(struct srv_req *req)
{
	return otlp_parse(req, ATR_OTLP_TRACES);
}

static int parse_logs(struct srv_req *req)
{
	return otlp_parse(req, ATR_OTLP_LOGS);
}

const struct srv_ingest_ops srv_otlp_traces_ops = {otlp_headers, parse_traces, otlp_submit,
                                                   otlp_answer, otlp_release};
const struct srv_ingest_ops srv_otlp_logs_ops = {otlp_headers, parse_logs, otlp_submit, otlp_answer,
                                                 otlp_release};

/* All steps on the calling thread (the server suspends between them instead). */
void srv_h_otlp_traces(struct srv_req *req)
{
	if (otlp_headers(req) != 0 || parse_traces(req) != 0)
		return;
	otlp_submit(req);
	otlp_answer(req);
}

void srv_h_otlp_logs(struct srv_req *req)
{
	if (otlp_headers(req) != 0 || parse_logs(req) != 0)
		return;
	otlp_submit(req);
	otlp_answer(req);
}
