/*
 * The server's answers: the one table from status codes to HTTP statuses
 * and JSON error codes, the single error shape
 * {"error":{"code","message","at"}}, and small JSON writers.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "server/server.h"

static const struct {
	int code;
	unsigned http;
	const char *name;
} error_table[] = {
    {ATR_EINVALID, 400, "invalid"},
    {ATR_ENOTFOUND, 404, "not_found"},
    {ATR_EEXISTS, 409, "exists"},
    {ATR_ECONFLICT, 409, "conflict"},
    {ATR_ETAMPER, 500, "tampered"},
    {ATR_EBACKEND, 500, "backend"},
    {ATR_ETOOBIG, 413, "too_big"},
    {ATR_ENOMEM, 503, "out_of_memory"},
    {ATR_EIO, 500, "io"},
    {ATR_EBUSY, 503, "busy"},
    {ATR_EUNSUPPORTED, 501, "unsupported"},
    {ATR_EERASED, 410, "payload_erased"},
    {SRV_EBADJSON, 400, "bad_json"},
    {SRV_EBADREQ, 400, "bad_request"},
    {SRV_ENOROUTE, 404, "no_route"},
    {SRV_EMETHOD, 405, "method_not_allowed"},
    {SRV_EBODYBIG, 413, "body_too_large"},
    {SRV_EMEDIA, 415, "unsupported_media_type"},
    {SRV_ESHUTDOWN, 503, "shutting_down"},
    {SRV_ETOOMANY, 413, "too_many_events"},
    {SRV_EUNAUTH, 401, "unauthorized"},
    {SRV_EFORBIDDEN, 403, "forbidden"},
    {SRV_ERESERVED, 403, "reserved"},
    {SRV_EQUEUEFULL, 429, "queue_full"},
    {SRV_EJOBHASH, 409, "job_hash_mismatch"},
    {SRV_ERESOLVED, 409, "already_resolved"},
    {SRV_ESELF, 403, "self_approval"},
    {SRV_ENOCHECKPOINT, 409, "no_checkpoint"},
    {SRV_EREPORTCHANGED, 409, "report_changed"},
};

unsigned srv_http_status(int code)
{
	for (size_t i = 0; i < sizeof(error_table) / sizeof(error_table[0]); i++)
		if (error_table[i].code == code)
			return error_table[i].http;
	return 500;
}

const char *srv_error_code(int code)
{
	for (size_t i = 0; i < sizeof(error_table) / sizeof(error_table[0]); i++)
		if (error_table[i].code == code)
			return error_table[i].name;
	return "internal";
}

int srv_bufprintf(struct util_buf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof(small))
		return util_buf_add(b, small, (size_t)n);
	{
		char *big = malloc((size_t)n + 1);
		int rc;

		if (!big)
			return -1;
		va_start(ap, fmt);
		vsnprintf(big, (size_t)n + 1, fmt, ap);
		va_end(ap);
		rc = util_buf_add(b, big, (size_t)n);
		free(big);
		return rc;
	}
}

/* Length of the valid UTF-8 sequence at 's' (at most 'n' bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/*
 * A JSON string. Messages can quote what a client sent, so bytes that are
 * not UTF-8 become U+FFFD rather than breaking the answer.
 */
int srv_json_str(struct util_buf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	if (util_buf_add(b, "\"", 1))
		return -1;
	while (i < len) {
		unsigned char c = p[i];
		size_t run = i;

		/* Copy plain bytes in runs: most text needs no escaping. */
		while (run < len && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' &&
		       p[run] != '\\')
			run++;
		if (run > i) {
			if (util_buf_add(b, s + i, run - i))
				return -1;
			i = run;
			continue;
		}
		c = p[i];
		if (c == '"' || c == '\\') {
			char esc[2] = {'\\', (char)c};

			if (util_buf_add(b, esc, 2))
				return -1;
			i++;
		} else if (c < 0x20) {
			if (srv_bufprintf(b, "\\u%04x", c))
				return -1;
			i++;
		} else {
			size_t u = utf8_len(p + i, len - i);

			if (u == 0) {
				if (util_buf_adds(b, "\\ufffd"))
					return -1;
				i++;
			} else {
				if (util_buf_add(b, s + i, u))
					return -1;
				i += u;
			}
		}
	}
	return util_buf_add(b, "\"", 1);
}

int srv_json_hash(struct util_buf *b, const atr_hash *h)
{
	char hex[65];

	atr_hash_hex(h, hex);
	return srv_bufprintf(b, "\"%s\"", hex);
}

void srv_reply(struct srv_req *req, unsigned status, const char *content_type, const char *body,
               size_t len, const char *hname, const char *hvalue)
{
	static const char unmasked[] = "{\"error\":{\"code\":\"internal\",\"message\":\"cannot "
	                               "mask secrets in the answer\"}}\n";
	struct MHD_Response *resp;
	char *masked = NULL, nmasked[24] = "";

	if (req->answered)
		return;
	/* A reader's JSON answers: secrets masked, and never the stored bytes if that fails. */
	if (req->mask && strncmp(content_type, "application/json", 16) == 0) {
		size_t mlen = 0, count = 0;

		if (atr_redact_json(req->mask, body, len, &masked, &mlen, &count) == 0) {
			body = masked;
			len = mlen;
			snprintf(nmasked, sizeof(nmasked), "%zu", count);
		} else {
			body = unmasked;
			len = sizeof(unmasked) - 1;
			status = 500;
		}
	}
	resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	atr_free(masked);
	if (!resp)
		return; /* MHD closes the connection: the client sees no answer, nothing acked */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	if (nmasked[0])
		MHD_add_response_header(resp, "X-Agentrail-Redactions", nmasked);
	if (hname)
		MHD_add_response_header(resp, hname, hvalue);
	/* Both mean "not now": a full ingest queue (429), stopping or a locked store (503). */
	if (status == 429 || status == 503)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	MHD_queue_response(req->conn, status, resp);
	MHD_destroy_response(resp);
	req->answered = 1;
	req->status = status;
}

void srv_reply_json(struct srv_req *req, unsigned status, struct util_buf *b)
{
	if (util_buf_add(b, "\n", 1)) {
		srv_reply_error(req, ATR_ENOMEM, "out of memory", NULL);
		return;
	}
	srv_reply(req, status, "application/json", b->data, b->len, NULL, NULL);
}

/* Answer 'pre' + 'json' + 'post' (json is released), or the error of 'rc'. */
void srv_reply_wrapped(struct srv_req *req, int rc, const char *at, const char *pre, char *json,
                       const char *post)
{
	struct util_buf b;

	if (rc != 0) {
		atr_free(json);
		srv_reply_error(req, rc, NULL, at);
		return;
	}
	util_buf_init(&b);
	if (util_buf_adds(&b, pre) || util_buf_adds(&b, json) || util_buf_adds(&b, post)) {
		atr_free(json);
		srv_reply_oom(req, &b);
		return;
	}
	atr_free(json);
	srv_reply_json(req, 200, &b);
	util_buf_release(&b);
}

/* The one error shape; OTLP paths answer theirs, a google.rpc.Status (route_otlp.c). */
static int error_body(struct srv_req *req, struct util_buf *b, int code, const char *message,
                      const char *at)
{
	if (req->otlp)
		return srv_otlp_status(b, code, message, at);
	return util_buf_adds(b, "{\"error\":{\"code\":") ||
	       srv_json_str(b, srv_error_code(code), strlen(srv_error_code(code))) ||
	       util_buf_adds(b, ",\"message\":") || srv_json_str(b, message, strlen(message)) ||
	       (at && (util_buf_adds(b, ",\"at\":") || srv_json_str(b, at, strlen(at)))) ||
	       util_buf_adds(b, "}}\n");
}

void srv_reply_error(struct srv_req *req, int code, const char *message, const char *at)
{
	static const char oom[] = "{\"error\":{\"code\":\"out_of_memory\",\"message\":\"out of "
	                          "memory\"}}\n";
	unsigned status = srv_http_status(code);
	struct util_buf b;
	/* 405 names the allowed methods; 401 says how to authenticate (RFC 6750). */
	const char *hname = status == 405 ? "Allow" : status == 401 ? "WWW-Authenticate" : NULL;
	const char *hval = status == 405 ? req->allow : "Bearer realm=\"agentrail\"";

	if (!message)
		message = atr_errmsg();
	if (!message || !*message)
		message = atr_strerror(code);
	util_buf_init(&b);
	if (error_body(req, &b, code, message, at)) {
		util_buf_release(&b);
		srv_reply(req, 503, "application/json", oom, sizeof(oom) - 1, NULL, NULL);
		return;
	}
	srv_reply(req, status, "application/json", b.data, b.len, hval ? hname : NULL, hval);
	util_buf_release(&b);
}

const char *srv_arg(struct srv_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}
