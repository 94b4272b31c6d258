/*
 * agentrail import: append a JSONL file of events in atomic batches. Lines
 * are agentrail events or one of two foreign shapes ("trail", "steps") mapped
 * onto our fields; lines without an event_id get one derived from the line's
 * SHA-256, so importing a file twice appends nothing the second time. With a
 * server's URL as the store each batch is one NDJSON request, atomic there too.
 */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/sha.h>

#include "cli/cli.h"
#include "cli/remote.h"
#include "util/util.h"

#define BATCH_EVENTS 1000
#define BATCH_BYTES  (64u << 20) /* flush earlier when a batch's text grows this big */
#define MAX_LINE     (32u << 20) /* longer lines are refused before parsing */
/*
 * Client mode: a batch is one request, so it must fit the server's body
 * limit (16 MiB unless --max-body says otherwise); a batch the server still
 * finds too large is sent in halves.
 */
#define REMOTE_BATCH_BYTES (4u << 20)
#define REMOTE_RETRIES     10 /* answers "busy" (429, 503) waited out per batch */
#define REMOTE_MAX_WAIT    30 /* seconds of Retry-After honoured at most */

enum format { FMT_AUTO, FMT_AGENTRAIL, FMT_TRAIL, FMT_STEPS, FMT_CODEX };

struct item {
	char *text;
	size_t len;
	long line;
	char id[37];
};

struct importer {
	atr_log *log;
	struct cli_remote *remote; /* client mode: the server, instead of 'log' */
	size_t batch_bytes;
	long stop_line; /* after a failed flush: nothing from this line on was appended */
	int lost;       /* ... unless the server may have taken the batch that failed */
	long lost_last; /* its last line */
	enum format format;
	struct item items[BATCH_EVENTS];
	const char *texts[BATCH_EVENTS];
	size_t lens[BATCH_EVENTS];
	atr_append_result results[BATCH_EVENTS];
	size_t n;
	size_t bytes;
	uint64_t events; /* accepted so far, duplicates included */
	uint64_t duplicates;
	char err[1024]; /* why the current line cannot be converted */
};

/* Our known event types (DESIGN.md section 2). */
static const char *const known_types[] = {
    "task_submit",
    "task_outcome",
    "session_start",
    "session_end",
    "llm_call",
    "tool_call",
    "tool_result",
    "file_read",
    "file_write",
    "file_delete",
    "command",
    "output",
    "error",
    "decision",
    "decomposition",
    "retry",
    "escalation",
    "abort",
    "complete",
    "approval_request",
    "approval_resolved",
    "policy_publish",
    "policy_rollback",
    "output_safety",
    "human_intervention",
    "alert",
    "erasure",
    "token_change",
};

/* Foreign action names that mean one of ours. */
static const struct {
	const char *from, *to;
} aliases[] = {
    {"tool_use", "tool_call"},
    {"tool", "tool_call"},
    {"llm", "llm_call"},
    {"model_call", "llm_call"},
    {"completion", "llm_call"},
    {"shell", "command"},
    {"exec", "command"},
    {"bash", "command"},
    {"read", "file_read"},
    {"write", "file_write"},
    {"edit", "file_write"},
    {"delete", "file_delete"},
    {"tool_output", "tool_result"},
};

static int fail(struct importer *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct importer *im, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(im->err, sizeof(im->err), fmt, ap);
	va_end(ap);
	return -1;
}

static int is_uuid(const char *s)
{
	if (strlen(s) != 36)
		return 0;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!isxdigit((unsigned char)s[i])) {
			return 0;
		}
	}
	return 1;
}

/* The deterministic event id of a line: SHA-256 of its bytes as a version 8 UUID. */
static void line_id(const char *line, size_t len, char out[37])
{
	uint8_t h[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)line, len, h);
	h[6] = (uint8_t)((h[6] & 0x0f) | 0x80);
	h[8] = (uint8_t)((h[8] & 0x3f) | 0x80);
	util_uuid_format(h, out);
}

static int is_known(const char *type)
{
	for (size_t i = 0; i < sizeof(known_types) / sizeof(known_types[0]); i++)
		if (strcmp(known_types[i], type) == 0)
			return 1;
	return 0;
}

/* Map a foreign action name to our type: known, an alias, else x_<sanitized>. */
static void map_type(const char *action, char *out, size_t cap)
{
	char low[256];
	size_t i, n = 0;

	for (i = 0; action[i] && n + 1 < sizeof(low); i++) {
		unsigned char c = (unsigned char)tolower((unsigned char)action[i]);

		low[n++] =
		    (char)(((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') ? c
		                                                                          : '_');
	}
	low[n] = '\0';
	if (is_known(low)) {
		snprintf(out, cap, "%s", low);
		return;
	}
	for (i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
		if (strcmp(aliases[i].from, low) == 0) {
			snprintf(out, cap, "%s", aliases[i].to);
			return;
		}
	}
	if (strncmp(low, "x_", 2) == 0)
		snprintf(out, cap, "%s", n > 2 ? low : "x_event");
	else
		snprintf(out, cap, "x_%s", n ? low : "event");
}

/* A source timestamp (RFC 3339 text, or epoch seconds or milliseconds) as our ts. */
static int map_ts(struct importer *im, const char *field, json_t *v, json_t *ev)
{
	char text[28];
	int64_t us;

	if (json_is_string(v)) {
		if (atr_time_parse(json_string_value(v), &us) != 0)
			return fail(im, "field '%s': '%s' is not an RFC 3339 time", field,
			            json_string_value(v));
	} else if (json_is_integer(v)) {
		json_int_t n = json_integer_value(v);

		/* Epoch milliseconds from 1973 on are >= 1e11; seconds stay below until 5138. */
		if (n >= 100000000000LL || n <= -100000000000LL) {
			if (n > INT64_MAX / 1000 || n < INT64_MIN / 1000)
				return fail(im, "field '%s': %lld is out of range", field,
				            (long long)n);
			us = n * 1000;
		} else {
			us = n * 1000000;
		}
	} else if (json_is_real(v)) {
		double d = json_real_value(v);

		if (!(d > -1e14 && d < 1e14))
			return fail(im, "field '%s': %g is out of range", field, d);
		us = (d >= 1e11 || d <= -1e11) ? (int64_t)(d * 1e3) : (int64_t)(d * 1e6);
	} else {
		return fail(im, "field '%s' must be an RFC 3339 string or epoch seconds", field);
	}
	atr_time_format(us, text);
	json_object_set_new(ev, "ts", json_string(text));
	return 0;
}

/* Copy a string (or integer, as text) field to 'key' of 'ev'. */
static int map_str(struct importer *im, const char *field, json_t *v, json_t *ev, const char *key)
{
	if (json_is_string(v)) {
		json_object_set(ev, key, v);
	} else if (json_is_integer(v)) {
		char num[32];

		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
		json_object_set_new(ev, key, json_string(num));
	} else if (!json_is_null(v)) {
		return fail(im, "field '%s' must be a string", field);
	}
	return 0;
}

/* Known types some fields are required for; when a foreign event lacks them it stays custom. */
static int lacks_required(json_t *ev, const char *type)
{
	if (strcmp(type, "llm_call") == 0)
		return !json_object_get(ev, "model");
	if (strcmp(type, "command") == 0)
		return !json_object_get(ev, "target") || !json_object_get(ev, "exit_code");
	if (strcmp(type, "approval_resolved") == 0 || strcmp(type, "approval_request") == 0)
		return !json_object_get(ev, "approval");
	return 0;
}

/*
 * Set type (and level, for custom types) from a foreign action name; lift
 * fields a known type needs out of 'detail' when the source kept them there.
 */
static int set_type(struct importer *im, json_t *ev, json_t *detail, const char *action,
                    const char *src_level)
{
	static const char *const lift[] = {"exit_code", "model", "reason", "outcome"};
	char type[300];

	map_type(action, type, sizeof(type));
	if (is_known(type)) {
		for (size_t i = 0; i < sizeof(lift) / sizeof(lift[0]); i++) {
			json_t *v = json_object_get(detail, lift[i]);
			int ok = strcmp(lift[i], "exit_code") == 0 ? json_is_integer(v)
			                                           : json_is_string(v);

			if (ok && !json_object_get(ev, lift[i]))
				json_object_set(ev, lift[i], v);
		}
		if (lacks_required(ev, type)) {
			/* Known type names are short: "x_" fits in front. */
			memmove(type + 2, type, strlen(type) + 1);
			type[0] = 'x';
			type[1] = '_';
		}
	}
	if (strcmp(type, action) != 0)
		json_object_set_new(detail, "source_action", json_string(action));
	json_object_set_new(ev, "type", json_string(type));
	if (!is_known(type)) {
		const char *level = "agent";

		if (src_level &&
		    (strcmp(src_level, "pipeline") == 0 || strcmp(src_level, "agent") == 0 ||
		     strcmp(src_level, "decision") == 0))
			level = src_level;
		json_object_set_new(ev, "level", json_string(level));
	}
	return 0;
}

/* Keep a source-only field in detail as source_<key>. */
static void keep_in_detail(json_t *detail, const char *key, json_t *v)
{
	char name[300];

	snprintf(name, sizeof(name), "source_%s", key);
	json_object_set(detail, name, v);
}

/* {timestamp, trace_id, level, actor, action, target, detail} */
static int from_trail(struct importer *im, json_t *src, json_t *ev, json_t *detail)
{
	json_t *action = json_object_get(src, "action");
	json_t *level = json_object_get(src, "level");
	json_t *src_detail = json_object_get(src, "detail");
	const char *key;
	json_t *v;

	if (!json_is_string(action))
		return fail(im,
		            action ? "field 'action' must be a string" : "missing field 'action'");
	if (json_is_object(src_detail))
		json_object_update(detail, src_detail);
	else if (json_is_string(src_detail))
		json_object_set(detail, "text", src_detail);
	else if (src_detail && !json_is_null(src_detail))
		json_object_set(detail, "value", src_detail);
	if (level)
		keep_in_detail(detail, "level", level);
	json_object_foreach(src, key, v)
	{
		if (strcmp(key, "timestamp") == 0) {
			if (map_ts(im, key, v, ev) != 0)
				return -1;
		} else if (strcmp(key, "trace_id") == 0 || strcmp(key, "actor") == 0 ||
		           strcmp(key, "target") == 0) {
			if (map_str(im, key, v, ev, key) != 0)
				return -1;
		} else if (strcmp(key, "action") != 0 && strcmp(key, "level") != 0 &&
		           strcmp(key, "detail") != 0) {
			keep_in_detail(detail, key, v);
		}
	}
	return set_type(im, ev, detail, json_string_value(action),
	                json_is_string(level) ? json_string_value(level) : NULL);
}

/* {event_id, session_id, agent_id, timestamp, event_type, content, step_number, model_id,
 * system_prompt_hash} */
static int from_steps(struct importer *im, json_t *src, json_t *ev, json_t *detail)
{
	json_t *etype = json_object_get(src, "event_type");
	const char *key;
	json_t *v;

	if (!json_is_string(etype))
		return fail(im, etype ? "field 'event_type' must be a string"
		                      : "missing field 'event_type'");
	json_object_foreach(src, key, v)
	{
		int rc = 0;

		if (strcmp(key, "event_id") == 0) {
			if (json_is_string(v) && is_uuid(json_string_value(v)))
				json_object_set(ev, "event_id", v);
			else
				keep_in_detail(detail, key, v);
		} else if (strcmp(key, "timestamp") == 0) {
			rc = map_ts(im, key, v, ev);
		} else if (strcmp(key, "session_id") == 0 ||
		           strcmp(key, "system_prompt_hash") == 0) {
			rc = map_str(im, key, v, ev, key);
		} else if (strcmp(key, "agent_id") == 0) {
			rc = map_str(im, key, v, ev, "actor");
			if (rc == 0)
				rc = map_str(im, key, v, ev, "agent_id");
		} else if (strcmp(key, "model_id") == 0) {
			rc = map_str(im, key, v, ev, "model");
		} else if (strcmp(key, "step_number") == 0) {
			if (json_is_integer(v))
				json_object_set(ev, "step", v);
			else if (!json_is_null(v))
				keep_in_detail(detail, key, v);
		} else if (strcmp(key, "content") == 0) {
			json_object_set(detail, "content", v);
		} else if (strcmp(key, "event_type") != 0) {
			keep_in_detail(detail, key, v);
		}
		if (rc != 0)
			return -1;
	}
	return set_type(im, ev, detail, json_string_value(etype), NULL);
}

static enum format detect(json_t *obj)
{
	if (json_object_get(obj, "type"))
		return FMT_AGENTRAIL;
	if (json_object_get(obj, "action"))
		return FMT_TRAIL;
	if (json_object_get(obj, "event_type"))
		return FMT_STEPS;
	return FMT_AGENTRAIL;
}

/*
 * Turn one line into our event text ('*out' malloc'd, or NULL when the line
 * goes to the log verbatim) and its event id ("" when unknown).
 */
static int convert(struct importer *im, const char *line, size_t len, char **out, char id[37])
{
	json_error_t jerr;
	json_t *src, *ev = NULL, *detail = NULL, *v;
	enum format fmt = im->format;
	int rc = -1;

	*out = NULL;
	id[0] = '\0';
	src = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (!src) {
		if (fmt == FMT_AGENTRAIL || fmt == FMT_AUTO)
			return 0; /* the library says precisely what is wrong with it */
		return fail(im, "invalid JSON at column %d: %s", jerr.column, jerr.text);
	}
	if (fmt == FMT_AUTO)
		fmt = detect(src);
	if (fmt == FMT_AGENTRAIL) {
		v = json_object_get(src, "event_id");
		if (v) {
			if (json_is_string(v))
				snprintf(id, 37, "%s", json_string_value(v));
			rc = 0; /* verbatim */
			goto out;
		}
		line_id(line, len, id);
		json_object_set_new(src, "event_id", json_string(id));
		*out = json_dumps(src, JSON_COMPACT);
		rc = *out ? 0 : fail(im, "cannot encode the event");
		goto out;
	}
	ev = json_object();
	detail = json_object();
	if (!ev || !detail) {
		fail(im, "out of memory");
		goto out;
	}
	if (fmt == FMT_TRAIL)
		rc = from_trail(im, src, ev, detail);
	else
		rc = from_steps(im, src, ev, detail);
	if (rc != 0)
		goto out;
	if (json_object_size(detail) > 0)
		json_object_set(ev, "detail", detail);
	v = json_object_get(ev, "event_id");
	if (v) {
		snprintf(id, 37, "%s", json_string_value(v));
	} else {
		line_id(line, len, id);
		json_object_set_new(ev, "event_id", json_string(id));
	}
	*out = json_dumps(ev, JSON_COMPACT);
	rc = *out ? 0 : fail(im, "cannot encode the event");
out:
	json_decref(detail);
	json_decref(ev);
	json_decref(src);
	return rc;
}

static void clear_batch(struct importer *im)
{
	for (size_t i = 0; i < im->n; i++)
		free(im->items[i].text);
	im->n = 0;
	im->bytes = 0;
}

/* Say which line of items [lo, hi) the message "event N: ..." (or a batch-wide one) is about. */
static void report_bad(struct importer *im, size_t lo, size_t hi, const char *msg)
{
	size_t bad;
	unsigned long long k;
	char *end;

	bad = hi - lo == 1 ? lo : hi;
	if (strncmp(msg, "event ", 6) == 0 && msg[6] >= '0' && msg[6] <= '9') {
		errno = 0;
		k = strtoull(msg + 6, &end, 10);
		if (errno == 0 && end[0] == ':' && end[1] == ' ' && k < hi - lo) {
			msg = end + 2;
			bad = lo + (size_t)k;
		}
	}
	if (bad < hi)
		cli_err("line %ld: %s", im->items[bad].line, msg);
	else
		cli_err("lines %ld-%ld: %s", im->items[lo].line, im->items[hi - 1].line, msg);
}

static void sleep_s(long s)
{
	struct timespec ts = {s, 0};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * Client mode: POST items [lo, hi) as NDJSON, one atomic request. A batch
 * the server finds too large goes in halves; "busy" answers are waited out
 * (every line has an event id, so a retry appends nothing twice).
 */
static int send_remote(struct importer *im, size_t lo, size_t hi)
{
	struct util_buf body;
	struct cli_answer ans;
	const char *code;
	json_t *results;
	int tries = 0, rc;

	util_buf_init(&body);
	for (size_t i = lo; i < hi; i++) {
		const char *t = im->texts[i];
		size_t j = 0;

		/*
		 * The server skips blank NDJSON lines; the library refuses a line of
		 * white space other than blanks and tabs, which is what a local
		 * import says.
		 */
		while (j < im->lens[i] && (t[j] == ' ' || t[j] == '\t' || t[j] == '\r'))
			j++;
		if (j == im->lens[i]) {
			cli_err("line %ld: empty input: an event is a JSON object",
			        im->items[i].line);
			im->stop_line = im->items[lo].line;
			util_buf_release(&body);
			return -1;
		}
		if (util_buf_add(&body, t, im->lens[i]) || util_buf_add(&body, "\n", 1)) {
			cli_err("out of memory");
			im->stop_line = im->items[lo].line;
			util_buf_release(&body);
			return -1;
		}
	}
	for (;;) {
		rc = cli_remote_request(im->remote, "POST", "/api/v1/events",
		                        "application/x-ndjson", body.data, body.len, &ans);
		if (rc != 0) {
			im->stop_line = im->items[lo].line;
			if (rc == CLI_REMOTE_LOST) {
				im->lost = 1;
				im->lost_last = im->items[hi - 1].line;
			}
			util_buf_release(&body);
			return -1;
		}
		code = cli_answer_code(&ans);
		if ((ans.status == 429 || (ans.status == 503 && strcmp(code, "busy") == 0)) &&
		    tries++ < REMOTE_RETRIES) {
			long wait = ans.retry_after < 1 ? 1 : ans.retry_after;

			cli_answer_release(&ans);
			sleep_s(wait > REMOTE_MAX_WAIT ? REMOTE_MAX_WAIT : wait);
			continue;
		}
		break;
	}
	util_buf_release(&body);
	if (ans.status == 413 && hi - lo > 1 &&
	    (strcmp(code, "body_too_large") == 0 || strcmp(code, "too_many_events") == 0)) {
		size_t mid = lo + (hi - lo) / 2;

		cli_answer_release(&ans);
		return send_remote(im, lo, mid) != 0 ? -1 : send_remote(im, mid, hi);
	}
	if (ans.status != 201) {
		char msg[1024];

		im->stop_line = im->items[lo].line;
		cli_answer_message(im->remote, &ans, msg, sizeof(msg));
		/* What the events hold is a line's fault; anything else is the request's. */
		if (ans.status == 400 || ans.status == 409 ||
		    (ans.status == 413 && strcmp(code, "too_big") == 0))
			report_bad(im, lo, hi, msg);
		else
			cli_err("%s", msg);
		cli_answer_release(&ans);
		return -1;
	}
	results = json_object_get(ans.json, "results");
	if (json_array_size(results) != hi - lo) {
		cli_err("the answer of %s to POST /api/v1/events does not have %zu results",
		        cli_remote_base(im->remote), hi - lo);
		im->stop_line = im->items[lo].line;
		im->lost = 1;
		im->lost_last = im->items[hi - 1].line;
		cli_answer_release(&ans);
		return -1;
	}
	for (size_t i = 0; i < hi - lo; i++)
		if (json_is_true(json_object_get(json_array_get(results, i), "duplicate")))
			im->duplicates++;
	im->events += hi - lo;
	cli_answer_release(&ans);
	return 0;
}

/* Append the batch. On failure say which line and why; nothing of it is appended. */
static int flush(struct importer *im)
{
	if (im->n == 0)
		return 0;
	if (im->remote) {
		if (send_remote(im, 0, im->n) != 0)
			return -1;
		clear_batch(im);
		return 0;
	}
	im->stop_line = im->items[0].line;
	if (atr_log_append_batch(im->log, im->texts, im->lens, im->n, im->results) == 0) {
		for (size_t i = 0; i < im->n; i++)
			if (im->results[i].duplicate)
				im->duplicates++;
		im->events += im->n;
		clear_batch(im);
		return 0;
	}
	report_bad(im, 0, im->n, atr_errmsg());
	return -1;
}

static void report_stop(struct importer *im, long first_line)
{
	if (im->lost)
		cli_err("import stopped: %llu events imported before line %ld; lines %ld-%ld may "
		        "or may not have been appended (importing the file again appends nothing "
		        "twice), nothing after line %ld was",
		        (unsigned long long)im->events, first_line, first_line, im->lost_last,
		        im->lost_last);
	else
		cli_err("import stopped: %llu events imported before line %ld; nothing from line "
		        "%ld on was appended",
		        (unsigned long long)im->events, first_line, first_line);
}

static int parse_format(const char *s, enum format *out)
{
	static const char *const names[] = {"auto", "agentrail", "trail", "steps", "codex"};

	for (int i = 0; i < 5; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum format)i;
			return 0;
		}
	}
	return -1;
}

int cmd_import(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"format", required_argument, NULL, 'f'}, {"quiet", no_argument, NULL, 'q'},
	    {"follow", no_argument, NULL, 'F'},       {"store", required_argument, NULL, OPT_STORE},
	    {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	struct importer *im = NULL;
	struct util_buf line;
	const char *path;
	FILE *f = NULL;
	long lineno = 0;
	int quiet = 0, follow = 0, rc = CLI_USAGE, c, r;
	enum format format = FMT_AUTO;

	util_buf_init(&line);
	while ((c = getopt_long(argc, argv, ":hqf:", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (parse_format(optarg, &format) != 0)
				return cli_usage(
				    cli,
				    "option '--format' expects auto, agentrail, trail, "
				    "steps or codex, got '%s'",
				    optarg);
			break;
		case 'q':
			quiet = 1;
			break;
		case 'F':
			follow = 1;
			break;
		default:
			if ((r = cli_common_opt(cli, c, argv)) >= 0)
				return r;
		}
	}
	if (optind >= argc)
		return cli_usage(cli, "missing FILE (use '-' for standard input)");
	if (optind + 1 < argc)
		return cli_usage(cli, "unexpected argument '%s'", argv[optind + 1]);
	path = argv[optind];
	/* Codex rollouts: files or a sessions directory, maybe followed (import_codex.c). */
	if (format == FMT_CODEX)
		return cli_import_codex(cli, path, quiet, follow);
	if (follow)
		return cli_usage(cli, "option '--follow' goes with '--format codex'");
	rc = CLI_FAIL;
	if (strcmp(path, "-") == 0) {
		f = stdin;
	} else if (!(f = fopen(path, "rb"))) {
		cli_err("cannot open '%s': %s", path, strerror(errno));
		return CLI_FAIL;
	}
	im = calloc(1, sizeof(*im));
	if (!im) {
		cli_err("out of memory");
		goto out;
	}
	im->format = format;
	im->batch_bytes = BATCH_BYTES;
	if (cli_is_remote(cli)) {
		struct cli_answer ans;

		if ((rc = cli_remote_open(cli, &im->remote)) != CLI_OK)
			goto out;
		rc = CLI_FAIL;
		im->batch_bytes = REMOTE_BATCH_BYTES;
		/* As a local import opens its store first: a server that is not there fails now. */
		if (cli_remote_get(im->remote, "/healthz", &ans, NULL) != CLI_OK)
			goto out;
		cli_answer_release(&ans);
	} else if (cli_open(cli, 0, &im->log) != CLI_OK) {
		goto out;
	}
	for (;;) {
		struct item *it;
		char *text = NULL;
		const char *p;
		size_t len;

		r = util_read_line(f, &line, MAX_LINE);
		if (r == 0)
			break;
		lineno++;
		if (r == -2) {
			cli_err("line %ld: longer than %u bytes", lineno, MAX_LINE);
			report_stop(im, im->n ? im->items[0].line : lineno);
			goto out;
		}
		if (r < 0) {
			cli_err("line %ld: cannot read '%s': %s", lineno, path, strerror(errno));
			report_stop(im, im->n ? im->items[0].line : lineno);
			goto out;
		}
		for (p = line.data; *p == ' ' || *p == '\t'; p++)
			;
		if ((size_t)(p - line.data) == line.len)
			continue; /* blank line */
		if (im->n == BATCH_EVENTS || (im->n && im->bytes + line.len > im->batch_bytes)) {
			if (flush(im) != 0) {
				report_stop(im, im->stop_line);
				goto out;
			}
		}
		it = &im->items[im->n];
		if (convert(im, line.data, line.len, &text, it->id) != 0) {
			cli_err("line %ld: %s", lineno, im->err);
			report_stop(im, im->n ? im->items[0].line : lineno);
			goto out;
		}
		if (!text) {
			text = malloc(line.len + 1);
			if (!text) {
				cli_err("out of memory");
				goto out;
			}
			memcpy(text, line.data, line.len + 1);
			len = line.len;
		} else {
			len = strlen(text);
		}
		it->text = text;
		it->len = len;
		it->line = lineno;
		im->texts[im->n] = text;
		im->lens[im->n] = len;
		im->bytes += len;
		im->n++;
	}
	if (flush(im) != 0) {
		report_stop(im, im->stop_line);
		goto out;
	}
	if (!quiet)
		printf("imported %llu events (%llu duplicates) from %s\n",
		       (unsigned long long)im->events, (unsigned long long)im->duplicates,
		       strcmp(path, "-") == 0 ? "standard input" : path);
	rc = CLI_OK;
out:
	if (im) {
		clear_batch(im);
		atr_log_free(im->log);
		cli_remote_free(im->remote);
		free(im);
	}
	util_buf_release(&line);
	if (f && f != stdin)
		fclose(f);
	return rc;
}

/* ------------------------------------------------------------ for other formats */

/*
 * The batch writer above, for importers that read other shapes
 * (import_codex.c): the same atomic batches, client mode, duplicate counts
 * and messages as an import of JSONL events.
 */
int cli_import_open(struct cli *cli, struct importer **out)
{
	struct importer *im = calloc(1, sizeof(*im));
	int rc;

	*out = NULL;
	if (!im) {
		cli_err("out of memory");
		return CLI_FAIL;
	}
	im->format = FMT_AGENTRAIL;
	im->batch_bytes = BATCH_BYTES;
	if (cli_is_remote(cli)) {
		struct cli_answer ans;

		if ((rc = cli_remote_open(cli, &im->remote)) != CLI_OK) {
			free(im);
			return rc;
		}
		im->batch_bytes = REMOTE_BATCH_BYTES;
		if (cli_remote_get(im->remote, "/healthz", &ans, NULL) != CLI_OK) {
			cli_import_close(im);
			return CLI_FAIL;
		}
		cli_answer_release(&ans);
	} else if (cli_open(cli, 0, &im->log) != CLI_OK) {
		free(im);
		return CLI_FAIL;
	}
	*out = im;
	return CLI_OK;
}

int cli_import_flush(struct importer *im)
{
	if (flush(im) != 0) {
		report_stop(im, im->stop_line);
		return -1;
	}
	return 0;
}

int cli_import_add(struct importer *im, char *text, long line)
{
	size_t len = strlen(text);

	if (im->n == BATCH_EVENTS || (im->n && im->bytes + len > im->batch_bytes)) {
		if (cli_import_flush(im) != 0) {
			free(text);
			return -1;
		}
	}
	im->items[im->n].text = text;
	im->items[im->n].len = len;
	im->items[im->n].line = line;
	im->items[im->n].id[0] = '\0';
	im->texts[im->n] = text;
	im->lens[im->n] = len;
	im->bytes += len;
	im->n++;
	return 0;
}

void cli_import_counts(const struct importer *im, uint64_t *events, uint64_t *duplicates)
{
	*events = im->events;
	*duplicates = im->duplicates;
}

void cli_import_close(struct importer *im)
{
	if (!im)
		return;
	clear_batch(im);
	atr_log_free(im->log);
	cli_remote_free(im->remote);
	free(im);
}
