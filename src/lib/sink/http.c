/*
 * The network sinks, over libcurl: the store sink pointed at a running
 * `agentrail serve` (NDJSON batches to /api/v1/events, each answer checked
 * event by event) and the webhook sink (a JSON array to any URL). Each
 * answer is sorted into delivered, retry later, or refused for good.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "internal.h"
#include "jscan.h"
#include "sink/sink.h"

#define ANSWER_MAX (1u << 20) /* what we keep of an answer body */

struct http_sink {
	atr_sink base;
	int webhook;
	char *url;  /* where batches are POSTed */
	char *dest; /* the URL given, without user:password, for messages and the spool */
	char *auth; /* "Authorization: Bearer …" or NULL */
	CURL *curl;
	char *body;
	size_t body_cap;
	char *ans;
	size_t ans_len;
	long retry_after_s;
	int cancel; /* atomic: stop */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_ok;

static void curl_init_once(void)
{
	curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
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

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct http_sink *h = ud;
	size_t n = size * nmemb, keep = n;

	if (h->ans_len + keep > ANSWER_MAX)
		keep = ANSWER_MAX - h->ans_len;
	if (keep) {
		char *p = realloc(h->ans, h->ans_len + keep + 1);

		if (!p)
			return 0;
		h->ans = p;
		memcpy(h->ans + h->ans_len, ptr, keep);
		h->ans_len += keep;
		h->ans[h->ans_len] = '\0';
	}
	return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct http_sink *h = ud;
	size_t n = size * nmemb;

	if (n > 12 && strncasecmp(ptr, "Retry-After:", 12) == 0) {
		const char *p = ptr + 12, *end = ptr + n;
		long v = 0;
		int digits = 0;

		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		while (p < end && isdigit((unsigned char)*p) && v < 86400) {
			v = v * 10 + (*p++ - '0');
			digits++;
		}
		if (digits)
			h->retry_after_s = v; /* an HTTP date is not honoured: back-off applies */
	}
	return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
	struct http_sink *h = ud;

	return __atomic_load_n(&h->cancel, __ATOMIC_RELAXED) ? 1 : 0;
}

void atr__sink_http_cancel(atr_sink *s)
{
	struct http_sink *h = (struct http_sink *)s;

	__atomic_store_n(&h->cancel, 1, __ATOMIC_RELAXED);
}

static int fill(atr_sink_report *rep, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fill(atr_sink_report *rep, int code, const char *fmt, ...)
{
	va_list ap;

	rep->code = code;
	va_start(ap, fmt);
	vsnprintf(rep->message, sizeof(rep->message), fmt, ap);
	va_end(ap);
	return 0;
}

/* The body: NDJSON for a server, a JSON array for a webhook. */
static int build_body(struct http_sink *h, const char *const *ev, const size_t *lens, size_t n,
                      size_t *len)
{
	size_t need = 3;
	char *w;

	for (size_t i = 0; i < n; i++)
		need += lens[i] + 1;
	if (need > h->body_cap) {
		char *p = realloc(h->body, need);

		if (!p)
			return ATR_ENOMEM;
		h->body = p;
		h->body_cap = need;
	}
	w = h->body;
	if (h->webhook)
		*w++ = '[';
	for (size_t i = 0; i < n; i++) {
		if (h->webhook && i)
			*w++ = ',';
		memcpy(w, ev[i], lens[i]);
		w += lens[i];
		if (!h->webhook)
			*w++ = '\n';
	}
	if (h->webhook)
		*w++ = ']';
	*len = (size_t)(w - h->body);
	return 0;
}

/* The event index of a server error's "at" ("event 3", "event 3, actor"), or -1. */
static long error_item(json_t *err, size_t n)
{
	const char *at = json_string_value(json_object_get(err, "at"));
	char *end;
	unsigned long long v;

	if (!at || strncmp(at, "event ", 6) != 0 || !isdigit((unsigned char)at[6]))
		return -1;
	v = strtoull(at + 6, &end, 10);
	return v < n ? (long)v : -1;
}

/* Check a 201 of the server: one result per event, with its event_id, in order. */
static atr_sink_result server_ok(struct http_sink *h, const char *const *ev, const size_t *lens,
                                 size_t n, atr_sink_report *rep)
{
	json_t *j = json_loadb(h->ans ? h->ans : "", h->ans_len, 0, NULL);
	json_t *res = json_object_get(j, "results");
	atr_sink_result r = ATR_SINK_OK;

	if (!json_is_array(res) || json_array_size(res) != n) {
		fill(rep, ATR_EBACKEND,
		     "the answer of '%s' is not agentrail's (no result per event)", h->dest);
		r = ATR_SINK_RETRY;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const char *got =
		    json_string_value(json_object_get(json_array_get(res, i), "event_id"));
		const char *want;
		size_t wl;

		if (atr__json_member_str(ev[i], lens[i], "event_id", &want, &wl) != 0 || !got ||
		    strlen(got) != wl || strncasecmp(got, want, wl) != 0) {
			fill(rep, ATR_EBACKEND,
			     "the answer of '%s' does not name event %zu's event_id", h->dest, i);
			r = ATR_SINK_RETRY;
			goto out;
		}
	}
out:
	json_decref(j);
	return r;
}

/* Sort a server's non-2xx answer. */
static atr_sink_result server_error(struct http_sink *h, long status, size_t n,
                                    atr_sink_report *rep)
{
	json_t *j = json_loadb(h->ans ? h->ans : "", h->ans_len, 0, NULL);
	json_t *err = json_object_get(j, "error");
	const char *code = json_string_value(json_object_get(err, "code"));
	const char *msg = json_string_value(json_object_get(err, "message"));
	long item = error_item(err, n);
	atr_sink_result r = ATR_SINK_RETRY;

	if (!code)
		code = "";
	if (!msg)
		msg = "no agentrail error in the answer";
	if (status == 413 &&
	    (!strcmp(code, "too_many_events") || !strcmp(code, "body_too_large"))) {
		fill(rep, ATR_ETOOBIG, "%s", msg);
		r = ATR_SINK_TOO_BIG;
	} else if ((status == 400 || status == 409 || status == 413) && code[0] &&
	           strcmp(code, "bad_request") != 0) {
		/* The server refused an event: the same event will always be refused. */
		fill(rep,
		     status == 409   ? ATR_ECONFLICT
		     : status == 413 ? ATR_ETOOBIG
		                     : ATR_EINVALID,
		     "HTTP %ld %s: %s", status, code, msg);
		rep->item = item >= 0 ? (size_t)item : n == 1 ? 0 : ATR_SINK_ITEM_UNKNOWN;
		r = ATR_SINK_REJECT;
	} else if (status == 401 || status == 403) {
		fill(rep, ATR_EINVALID, "HTTP %ld: the server refused the token%s: %s", status,
		     h->auth ? "" : " (AGENTRAIL_TOKEN is not set)", msg);
	} else {
		fill(rep, ATR_EBACKEND, "HTTP %ld%s%s: %s", status, code[0] ? " " : "", code, msg);
	}
	json_decref(j);
	return r;
}

/* Sort a webhook's non-2xx answer. */
static atr_sink_result webhook_error(struct http_sink *h, long status, size_t n,
                                     atr_sink_report *rep)
{
	if (status == 413) {
		fill(rep, ATR_ETOOBIG, "HTTP 413 from the webhook");
		return ATR_SINK_TOO_BIG;
	}
	if (status >= 400 && status < 500 && status != 401 && status != 403 && status != 404 &&
	    status != 408 && status != 425 && status != 429) {
		/* The receiver refuses the content itself. */
		fill(rep, ATR_EINVALID, "HTTP %ld from the webhook", status);
		rep->item = n == 1 ? 0 : ATR_SINK_ITEM_UNKNOWN;
		return ATR_SINK_REJECT;
	}
	fill(rep, ATR_EBACKEND, "HTTP %ld from the webhook", status);
	return ATR_SINK_RETRY;
}

static atr_sink_result http_deliver(atr_sink *s, const char *const *ev, const size_t *lens,
                                    size_t n, atr_sink_report *rep)
{
	struct http_sink *h = (struct http_sink *)s;
	struct curl_slist *hdrs = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	size_t len;
	long status = 0;
	CURLcode cc;
	atr_sink_result r;

	if (__atomic_load_n(&h->cancel, __ATOMIC_RELAXED)) {
		fill(rep, ATR_EIO, "stopping");
		return ATR_SINK_RETRY;
	}
	if (!h->curl && !(h->curl = curl_easy_init())) {
		fill(rep, ATR_ENOMEM, "cannot initialize libcurl");
		return ATR_SINK_RETRY;
	}
	if (build_body(h, ev, lens, n, &len) != 0) {
		fill(rep, ATR_ENOMEM, "out of memory");
		return ATR_SINK_RETRY;
	}
	hdrs = curl_slist_append(hdrs, h->webhook ? "Content-Type: application/json"
	                                          : "Content-Type: application/x-ndjson");
	if (hdrs)
		hdrs = curl_slist_append(hdrs, "Expect:"); /* no 1 s wait for 100-continue */
	if (hdrs && h->auth)
		hdrs = curl_slist_append(hdrs, h->auth);
	if (!hdrs) {
		fill(rep, ATR_ENOMEM, "out of memory");
		return ATR_SINK_RETRY;
	}
	h->ans_len = 0;
	h->retry_after_s = -1;
	curl_easy_setopt(h->curl, CURLOPT_URL, h->url);
	curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, h->body);
	curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(h->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h->curl, CURLOPT_HEADERDATA, h);
	curl_easy_setopt(h->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h->curl, CURLOPT_XFERINFODATA, h);
	curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, 60000L);
	curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h->curl, CURLOPT_USERAGENT, "agentrail/" ATR_VERSION);
	cc = curl_easy_perform(h->curl);
	if (cc == CURLE_OK)
		curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(hdrs);
	if (cc != CURLE_OK) {
		fill(rep, ATR_EIO, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
		return ATR_SINK_RETRY;
	}
	if (status >= 200 && status < 300)
		r = h->webhook ? ATR_SINK_OK : server_ok(h, ev, lens, n, rep);
	else
		r = h->webhook ? webhook_error(h, status, n, rep) : server_error(h, status, n, rep);
	if (r == ATR_SINK_RETRY && h->retry_after_s >= 0)
		rep->retry_after_ms =
		    (unsigned)(h->retry_after_s > 3600 ? 3600 : h->retry_after_s) * 1000u;
	return r;
}

static void http_free(atr_sink *s)
{
	struct http_sink *h = (struct http_sink *)s;

	if (!h)
		return;
	if (h->curl)
		curl_easy_cleanup(h->curl);
	if (h->auth) {
		memset(h->auth, 0, strlen(h->auth));
		free(h->auth);
	}
	free(h->url);
	free(h->dest);
	free(h->body);
	free(h->ans);
	free(h);
}

int atr__sink_http_new(atr_sink **out, const char *base, int webhook, const char *token)
{
	struct http_sink *h;
	size_t n = strlen(base);

	*out = NULL;
	pthread_once(&curl_once, curl_init_once);
	if (!curl_ok)
		return atr__err(ATR_EBACKEND, "cannot initialize libcurl");
	if (!(h = calloc(1, sizeof(*h))))
		return atr__err(ATR_ENOMEM, "out of memory");
	h->webhook = webhook;
	h->base.version = ATR_SINK_VERSION;
	h->base.name = webhook ? "webhook" : "store";
	h->base.flags = ATR_SINK_NETWORK;
	/* The server takes 10,000 events and 16 MiB a request; stay well below. */
	h->base.max_events = webhook ? 500 : 2000;
	h->base.max_bytes = webhook ? (1u << 20) : (4u << 20);
	h->base.deliver = http_deliver;
	h->base.flush = NULL;
	h->base.free = http_free;
	if (!webhook)
		while (n > 0 && base[n - 1] == '/')
			n--;
	h->url = malloc(n + sizeof("/api/v1/events"));
	if (h->url)
		snprintf(h->url, n + sizeof("/api/v1/events"), "%.*s%s", (int)n, base,
		         webhook ? "" : "/api/v1/events");
	h->dest = strip_userinfo(base);
	if (h->dest && !webhook)
		h->dest[strlen(h->dest) - (strlen(base) - n)] = '\0';
	if (token) {
		size_t k = strlen(token) + sizeof("Authorization: Bearer ");

		if ((h->auth = malloc(k)))
			snprintf(h->auth, k, "Authorization: Bearer %s", token);
	}
	if (!h->url || !h->dest || (token && !h->auth)) {
		http_free(&h->base);
		return atr__err(ATR_ENOMEM, "out of memory");
	}
	h->base.destination = h->dest;
	*out = &h->base;
	return 0;
}
