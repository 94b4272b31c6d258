/*
 * The HTTP client of client mode (remote.h): one libcurl easy handle per
 * command, reused for keep-alive across pages and batches; the bearer token
 * from $AGENTRAIL_TOKEN; answers captured under a cap or streamed to a sink;
 * the server's {"error":{"code","message","at"}} turned into messages; the
 * event listing walked by cursor, with each record's text kept byte for byte
 * as the server sent it so that client output matches local output.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "cli/remote.h"

/*
 * The largest answer read into memory: a page of the listing is at most
 * 1000 records of at most 1 MiB each (with detail); client mode asks for
 * pages of REMOTE_PAGE records, so this is far above what a sane server
 * sends and still bounds a broken one.
 */
#define ANSWER_CAP ((size_t)640 << 20)
/* An error answer while streaming: only the message is wanted. */
#define ERROR_CAP ((size_t)1 << 20)

struct cli_remote {
	CURL *h;
	char *base;              /* the URL as given, without trailing '/' */
	struct curl_slist *auth; /* "Authorization: Bearer ...", or NULL */
	char errbuf[CURL_ERROR_SIZE];
	int global; /* curl_global_init() succeeded */
};

/* ------------------------------------------------------- open, free */

int cli_remote_open(struct cli *cli, struct cli_remote **out)
{
	const char *url = cli->store, *token = getenv("AGENTRAIL_TOKEN"), *host;
	struct cli_remote *r;
	size_t n = strlen(url);

	*out = NULL;
	host = strstr(url, "://") + 3;
	if (!*host || *host == '/' || strpbrk(url, "?# \t\r\n")) {
		return cli_usage(cli,
		                 "store '%s' is not a server URL: use http://HOST:PORT or "
		                 "https://HOST[:PORT][/PATH]",
		                 url);
	}
	if (token && *token) {
		for (const char *p = token; *p; p++) {
			if ((unsigned char)*p < 0x20 || *p == 0x7f) {
				cli_err("$AGENTRAIL_TOKEN holds a control character");
				return CLI_FAIL;
			}
		}
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		cli_err("out of memory");
		return CLI_FAIL;
	}
	while (n > 0 && url[n - 1] == '/')
		n--;
	r->base = strndup(url, n);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		cli_err("cannot initialize libcurl");
		goto fail;
	}
	r->global = 1;
	r->h = curl_easy_init();
	if (!r->base || !r->h) {
		cli_err("cannot initialize libcurl: out of memory");
		goto fail;
	}
	if (token && *token) {
		size_t len = strlen(token) + 32;
		char *line = malloc(len);

		if (!line) {
			cli_err("out of memory");
			goto fail;
		}
		snprintf(line, len, "Authorization: Bearer %s", token);
		r->auth = curl_slist_append(NULL, line);
		free(line);
		if (!r->auth) {
			cli_err("out of memory");
			goto fail;
		}
	}
	*out = r;
	return CLI_OK;
fail:
	cli_remote_free(r);
	return CLI_FAIL;
}

void cli_remote_free(struct cli_remote *r)
{
	if (!r)
		return;
	if (r->h)
		curl_easy_cleanup(r->h);
	curl_slist_free_all(r->auth);
	free(r->base);
	if (r->global)
		curl_global_cleanup();
	free(r);
}

const char *cli_remote_base(const struct cli_remote *r)
{
	return r->base;
}

/* ------------------------------------------------------ URL pieces */

static int add_escaped(struct util_buf *b, const char *s)
{
	/* curl_easy_escape leaves only A-Z a-z 0-9 - . _ ~ as they are. */
	char *e = curl_easy_escape(NULL, s, (int)strlen(s));
	int rc;

	if (!e)
		return -1;
	rc = util_buf_adds(b, e);
	curl_free(e);
	return rc;
}

int cli_remote_param(struct util_buf *q, const char *name, const char *value)
{
	if ((q->len && util_buf_adds(q, "&")) || add_escaped(q, name) || util_buf_adds(q, "="))
		return -1;
	return add_escaped(q, value);
}

int cli_remote_segment(struct util_buf *path, const char *segment)
{
	return util_buf_adds(path, "/") || add_escaped(path, segment);
}

/* ------------------------------------------------------ requests */

/* Where an answer's body goes while it arrives. */
struct sink {
	struct cli_remote *r;
	struct cli_answer *ans;
	size_t cap;         /* bytes kept in ans->body */
	int over_cap;       /* the body passed 'cap': the transfer was stopped */
	int oom;            /* no memory for the body */
	cli_remote_sink fn; /* stream a 200 body here instead of keeping it */
	void *ctx;          /* for 'fn' */
	int fn_failed;      /* 'fn' asked to stop */
	int status_checked; /* the status was read once the body began */
	int streaming;      /* the status is 200 and 'fn' is set */
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n = size * nmemb;

	if (!s->status_checked) {
		long status = 0;

		curl_easy_getinfo(s->r->h, CURLINFO_RESPONSE_CODE, &status);
		s->status_checked = 1;
		s->streaming = s->fn && status == 200;
	}
	if (s->streaming) {
		if (s->fn(s->ctx, data, n) != 0) {
			s->fn_failed = 1;
			return 0;
		}
		return n;
	}
	if (n > s->cap - s->ans->body.len) {
		s->over_cap = 1;
		return 0;
	}
	if (util_buf_add(&s->ans->body, data, n) != 0) {
		s->oom = 1;
		return 0;
	}
	return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n = size * nmemb;
	static const char name[] = "retry-after:";

	if (n > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
		char text[32];
		size_t len = n - (sizeof(name) - 1);
		const char *v = data + sizeof(name) - 1;
		char *end;
		long secs;

		while (len > 0 && (*v == ' ' || *v == '\t'))
			v++, len--;
		if (len >= sizeof(text))
			len = sizeof(text) - 1;
		memcpy(text, v, len);
		text[len] = '\0';
		errno = 0;
		secs = strtol(text, &end, 10);
		if (end != text && errno == 0 && secs >= 0 &&
		    (*end == '\r' || *end == '\n' || !*end))
			s->ans->retry_after = secs;
	}
	return n;
}

/* The path without its query string, for messages. */
static int path_len(const char *path)
{
	size_t n = strcspn(path, "?");

	return n > 200 ? 200 : (int)n;
}

/* Append a header line; on failure the list is left as it was. */
static int add_header(struct curl_slist **list, const char *line)
{
	struct curl_slist *l = curl_slist_append(*list, line);

	if (!l)
		return -1;
	*list = l;
	return 0;
}

static int perform(struct cli_remote *r, const char *method, const char *path, const char *ctype,
                   const char *body, size_t len, struct cli_answer *ans, struct sink *s)
{
	struct curl_slist *hdrs = NULL, *p;
	struct util_buf url;
	CURLcode cr;
	long oserr = 0, sent = 0;
	int rc = 0;

	memset(ans, 0, sizeof(*ans));
	util_buf_init(&ans->body);
	ans->retry_after = -1;
	util_buf_init(&url);
	if (util_buf_adds(&url, r->base) || util_buf_adds(&url, path)) {
		util_buf_release(&url);
		cli_err("out of memory");
		return CLI_REMOTE_UNSENT;
	}
	if (ctype) {
		char line[128];

		snprintf(line, sizeof(line), "Content-Type: %s", ctype);
		/* No "100 Continue" round trip before the body. */
		if (add_header(&hdrs, line) || add_header(&hdrs, "Expect:"))
			rc = -1;
	}
	for (p = r->auth; p && rc == 0; p = p->next)
		rc = add_header(&hdrs, p->data);
	if (rc != 0) {
		curl_slist_free_all(hdrs);
		util_buf_release(&url);
		cli_err("out of memory");
		return CLI_REMOTE_UNSENT;
	}
	curl_easy_reset(r->h);
	r->errbuf[0] = '\0';
	curl_easy_setopt(r->h, CURLOPT_URL, url.data);
	curl_easy_setopt(r->h, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(r->h, CURLOPT_USERAGENT, "agentrail/" ATR_VERSION);
	curl_easy_setopt(r->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(r->h, CURLOPT_CONNECTTIMEOUT, 10L);
	/* No overall limit (an export takes as long as it takes), but never hang on a dead peer. */
	curl_easy_setopt(r->h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(r->h, CURLOPT_LOW_SPEED_TIME, 300L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(r->h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(r->h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(r->h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(r->h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(r->h, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(r->h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(r->h, CURLOPT_HEADERDATA, s);
	if (ctype) {
		curl_easy_setopt(r->h, CURLOPT_POST, 1L);
		curl_easy_setopt(r->h, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(r->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
		curl_easy_setopt(r->h, CURLOPT_CUSTOMREQUEST, method);
	cr = curl_easy_perform(r->h);
	curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &ans->status);
	if (cr == CURLE_OK) {
		if (ans->body.len)
			ans->json = json_loadb(ans->body.data, ans->body.len, 0, NULL);
		goto out;
	}
	curl_easy_getinfo(r->h, CURLINFO_OS_ERRNO, &oserr);
	curl_easy_getinfo(r->h, CURLINFO_REQUEST_SIZE, &sent);
	rc = sent > 0 ? CLI_REMOTE_LOST : CLI_REMOTE_UNSENT;
	if (s->fn_failed) {
		/* The sink said why. */
	} else if (s->oom) {
		cli_err("out of memory for the answer of %s", r->base);
	} else if (s->over_cap) {
		cli_err("the answer of %s to %s %.*s exceeds %zu bytes", r->base, method,
		        path_len(path), path, s->cap);
	} else {
		const char *detail = r->errbuf[0] ? r->errbuf : curl_easy_strerror(cr);

		if (cr == CURLE_COULDNT_CONNECT && oserr)
			detail = strerror((int)oserr);
		if (rc == CLI_REMOTE_UNSENT)
			cli_err("cannot connect to %s: %s", r->base, detail);
		else
			cli_err("no complete answer from %s to %s %.*s: %s", r->base, method,
			        path_len(path), path, detail);
	}
	cli_answer_release(ans);
out:
	curl_slist_free_all(hdrs);
	util_buf_release(&url);
	return rc;
}

int cli_remote_request(struct cli_remote *r, const char *method, const char *path,
                       const char *ctype, const char *body, size_t len, struct cli_answer *ans)
{
	struct sink s = {r, ans, ANSWER_CAP, 0, 0, NULL, NULL, 0, 0, 0};

	return perform(r, method, path, ctype, body, len, ans, &s);
}

void cli_answer_release(struct cli_answer *a)
{
	json_decref(a->json);
	a->json = NULL;
	util_buf_release(&a->body);
}

const char *cli_answer_code(const struct cli_answer *a)
{
	const char *c =
	    json_string_value(json_object_get(json_object_get(a->json, "error"), "code"));

	return c ? c : "";
}

void cli_answer_message(const struct cli_remote *r, const struct cli_answer *a, char *out,
                        size_t size)
{
	const char *m =
	    json_string_value(json_object_get(json_object_get(a->json, "error"), "message"));

	if (m && *m)
		snprintf(out, size, "%s", m);
	else
		snprintf(out, size, "unexpected answer from %s: HTTP %ld%s", r->base, a->status,
		         a->json ? "" : " (not an agentrail server?)");
}

int cli_remote_fail(const struct cli_remote *r, const struct cli_answer *a, const char *what)
{
	char msg[1024];

	cli_answer_message(r, a, msg, sizeof(msg));
	if (what && a->status != 401 && a->status != 403 && *cli_answer_code(a))
		cli_err("%s: %s", what, msg);
	else
		cli_err("%s", msg);
	return CLI_FAIL;
}

int cli_remote_get(struct cli_remote *r, const char *path, struct cli_answer *ans, const char *what)
{
	if (cli_remote_request(r, "GET", path, NULL, NULL, 0, ans) != 0)
		return CLI_FAIL;
	if (ans->status != 200) {
		cli_remote_fail(r, ans, what);
		cli_answer_release(ans);
		return CLI_FAIL;
	}
	if (!json_is_object(ans->json)) {
		cli_err("the answer of %s to GET %.*s is not a JSON object", r->base,
		        path_len(path), path);
		cli_answer_release(ans);
		return CLI_FAIL;
	}
	return CLI_OK;
}

int cli_remote_stream(struct cli_remote *r, const char *path, cli_remote_sink fn, void *ctx)
{
	struct cli_answer ans;
	struct sink s = {r, &ans, ERROR_CAP, 0, 0, fn, ctx, 0, 0, 0};
	int rc = perform(r, "GET", path, NULL, NULL, 0, &ans, &s);

	if (rc != 0)
		return CLI_FAIL;
	rc = CLI_OK;
	if (ans.status != 200)
		rc = cli_remote_fail(r, &ans, NULL);
	cli_answer_release(&ans);
	return rc;
}

/* ------------------------------------------------------- listings */

static size_t skip_ws(const char *s, size_t i, size_t n)
{
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

/* The index just past the JSON value at s[i]; the text is valid JSON (jansson parsed it). */
static size_t skip_value(const char *s, size_t i, size_t n)
{
	int depth = 0;

	if (i < n && s[i] != '{' && s[i] != '[' && s[i] != '"') {
		while (i < n && !strchr(",]} \t\r\n", s[i]))
			i++;
		return i;
	}
	while (i < n) {
		char c = s[i++];

		if (c == '"') {
			for (; i < n && s[i] != '"'; i++)
				if (s[i] == '\\')
					i++;
			i++;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			depth--;
		}
		if (depth == 0)
			break;
	}
	return i > n ? n : i;
}

struct span {
	size_t off, len;
};

/*
 * The text spans of the 'count' elements of the array that is member 'key'
 * of the object 's' (the answer jansson parsed into an object whose 'key' has
 * 'count' elements). -1 if the text does not have that shape.
 */
static int array_spans(const char *s, size_t n, const char *key, struct span *out, size_t count)
{
	size_t i = skip_ws(s, 0, n), klen = strlen(key), got = 0;

	if (i >= n || s[i] != '{')
		return -1;
	i = skip_ws(s, i + 1, n);
	while (i < n && s[i] == '"') {
		size_t k = i, kend = skip_value(s, i, n);
		int match = kend - k == klen + 2 && memcmp(s + k + 1, key, klen) == 0;

		i = skip_ws(s, kend, n);
		if (i >= n || s[i] != ':')
			return -1;
		i = skip_ws(s, i + 1, n);
		if (!match) {
			i = skip_ws(s, skip_value(s, i, n), n);
			if (i < n && s[i] == ',')
				i = skip_ws(s, i + 1, n);
			continue;
		}
		if (i >= n || s[i] != '[')
			return -1;
		i = skip_ws(s, i + 1, n);
		while (i < n && s[i] != ']') {
			size_t end = skip_value(s, i, n);

			if (got == count || end == i)
				return -1;
			out[got].off = i;
			out[got].len = end - i;
			got++;
			i = skip_ws(s, end, n);
			if (i < n && s[i] == ',')
				i = skip_ws(s, i + 1, n);
		}
		return got == count ? 0 : -1;
	}
	return -1;
}

int cli_remote_events(struct cli_remote *r, const char *params, unsigned page,
                      cli_remote_event_fn fn, void *ctx, const char *what)
{
	struct util_buf path;
	struct cli_answer ans;
	struct span *spans = NULL;
	char *cursor = NULL;
	int rc = CLI_FAIL;

	util_buf_init(&path);
	for (;;) {
		json_t *events, *next;
		size_t n;
		int stop = 0;

		util_buf_reset(&path);
		if (util_buf_adds(&path, "/api/v1/events?") ||
		    (*params && (util_buf_adds(&path, params) || util_buf_adds(&path, "&"))) ||
		    util_buf_adds(&path, "limit=")) {
			cli_err("out of memory");
			goto out;
		}
		{
			char num[16];

			snprintf(num, sizeof(num), "%u", page);
			if (util_buf_adds(&path, num) ||
			    (cursor &&
			     (util_buf_adds(&path, "&cursor=") || add_escaped(&path, cursor)))) {
				cli_err("out of memory");
				goto out;
			}
		}
		if (cli_remote_get(r, path.data, &ans, what) != CLI_OK)
			goto out;
		events = json_object_get(ans.json, "events");
		next = json_object_get(ans.json, "next_cursor");
		n = json_array_size(events);
		free(spans);
		spans = n ? calloc(n, sizeof(*spans)) : NULL;
		if (!json_is_array(events) || !(json_is_null(next) || json_is_string(next)) ||
		    (n && !spans) ||
		    array_spans(ans.body.data, ans.body.len, "events", spans, n) != 0 ||
		    (json_is_string(next) &&
		     (n == 0 || (cursor && strcmp(cursor, json_string_value(next)) == 0)))) {
			cli_err("the answer of %s to GET /api/v1/events is not a page of events",
			        r->base);
			cli_answer_release(&ans);
			goto out;
		}
		for (size_t i = 0; i < n && !stop; i++) {
			json_t *rec = json_array_get(events, i);
			int frc;

			if (!json_is_object(rec)) {
				cli_err(
				    "the answer of %s to GET /api/v1/events holds a record that is "
				    "not a JSON object",
				    r->base);
				cli_answer_release(&ans);
				goto out;
			}
			frc = fn(ctx, ans.body.data + spans[i].off, spans[i].len, rec);
			if (frc < 0) {
				cli_answer_release(&ans);
				goto out;
			}
			stop = frc > 0;
		}
		stop = stop || json_is_null(next);
		free(cursor);
		cursor = stop ? NULL : strdup(json_string_value(next));
		cli_answer_release(&ans); /* 'next' is gone now */
		if (stop)
			break;
		if (!cursor) {
			cli_err("out of memory");
			goto out;
		}
	}
	rc = CLI_OK;
out:
	free(cursor);
	free(spans);
	util_buf_release(&path);
	return rc;
}

/* --------------------------------------------------- record fields */

/* A field by dotted name, as the library's record accessors find it. */
static json_t *field(json_t *v, const char *name)
{
	const char *p = name;

	while (v && *p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);

		v = json_is_object(v) ? json_object_getn(v, p, n) : NULL;
		p += n + (dot ? 1 : 0);
	}
	return v;
}

const char *cli_json_str(json_t *rec, const char *name)
{
	return json_string_value(field(rec, name));
}

int cli_json_int(json_t *rec, const char *name, int64_t *out)
{
	json_t *v = field(rec, name);

	if (!json_is_integer(v))
		return ATR_ENOTFOUND;
	*out = json_integer_value(v);
	return 0;
}

static const char *obj_str(void *src, const char *name)
{
	return cli_json_str(src, name);
}

static int obj_int(void *src, const char *name, int64_t *out)
{
	return cli_json_int(src, name, out);
}

void cli_json_fields(json_t *rec, struct cli_fields *out)
{
	int64_t seq = 0;

	out->src = rec;
	out->seq = cli_json_int(rec, "seq", &seq) == 0 && seq >= 0 ? (uint64_t)seq : 0;
	out->str = obj_str;
	out->num = obj_int;
}

int cli_json_hash(json_t *obj, const char *name, atr_hash *out)
{
	const char *hex = json_string_value(json_object_get(obj, name));

	return hex && strlen(hex) == 64 && atr_hash_parse(out, hex) == 0 ? 0 : -1;
}

int cli_json_u64(json_t *obj, const char *name, uint64_t *out)
{
	json_t *v = json_object_get(obj, name);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}
