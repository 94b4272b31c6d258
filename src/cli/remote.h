/*
 * Client mode: when the store is an http:// or https:// URL, record, import,
 * trail, query, export, root and prove talk to a running `agentrail serve`
 * through libcurl instead of opening a store. This is the small HTTP client
 * they share: requests with the bearer token of $AGENTRAIL_TOKEN, answers
 * read under a cap, the server's JSON errors turned into messages, query
 * parameters escaped, and the event listing walked page by page.
 */
#ifndef ATR_CLI_REMOTE_H
#define ATR_CLI_REMOTE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/cli.h"
#include "util/util.h"

struct cli_remote;

/* One HTTP answer. */
struct cli_answer {
	long status;          /* the HTTP status */
	struct util_buf body; /* the body as received (NUL-terminated once anything arrived) */
	json_t *json;         /* the body parsed, when it is JSON; else NULL */
	long retry_after;     /* seconds from Retry-After, -1 when absent */
};

/* What cli_remote_request() returns when no answer came. */
enum {
	CLI_REMOTE_UNSENT = -1, /* the request never reached the server (connect, resolve, URL) */
	CLI_REMOTE_LOST = -2    /* it may have reached the server, but no full answer came back */
};

/*
 * Connect to the server named by cli->store, with the bearer token from
 * $AGENTRAIL_TOKEN when it is set. On failure prints why and returns
 * CLI_FAIL or CLI_USAGE with '*out' NULL.
 */
int cli_remote_open(struct cli *cli, struct cli_remote **out);
void cli_remote_free(struct cli_remote *r);

/* The server's base URL as given, for messages. Borrowed. */
const char *cli_remote_base(const struct cli_remote *r);

/*
 * Append "name=value" (escaped) to a query string in 'q', with '&' between
 * parameters; and one escaped path segment. -1 when out of memory.
 */
int cli_remote_param(struct util_buf *q, const char *name, const char *value);
int cli_remote_segment(struct util_buf *path, const char *segment);

/*
 * Send METHOD to base + 'path' (which starts with '/'), with 'body' when
 * 'ctype' is not NULL. Returns 0 when an answer arrived, whatever its
 * status (then 'ans' holds it; release it with cli_answer_release), or
 * CLI_REMOTE_UNSENT / CLI_REMOTE_LOST after printing why.
 */
int cli_remote_request(struct cli_remote *r, const char *method, const char *path,
                       const char *ctype, const char *body, size_t len, struct cli_answer *ans);
void cli_answer_release(struct cli_answer *a);

/* The message of an error answer: the server's error.message, else a description. */
void cli_answer_message(const struct cli_remote *r, const struct cli_answer *a, char *out,
                        size_t size);
/* The server's error.code ("invalid"), or "" when the answer has none. Borrowed. */
const char *cli_answer_code(const struct cli_answer *a);

/*
 * Print an error answer as "agentrail: [what: ]message": 'what' only for the
 * server's own errors about the operation (not 401 and 403, which are about
 * the token, nor an answer that is not agentrail's). Returns CLI_FAIL.
 */
int cli_remote_fail(const struct cli_remote *r, const struct cli_answer *a, const char *what);

/*
 * GET 'path' and expect 200 with a JSON object. Returns CLI_OK with 'ans'
 * filled (release it), else CLI_FAIL with the reason printed (see
 * cli_remote_fail for 'what') and nothing to release.
 */
int cli_remote_get(struct cli_remote *r, const char *path, struct cli_answer *ans,
                   const char *what);

/*
 * GET 'path' and hand a 200 answer's body to 'fn' as it arrives, never
 * holding it whole ('fn' returns 0 to go on, -1 to stop: CLI_FAIL, with
 * whatever 'fn' printed). Any other status is printed as an error. Returns
 * CLI_OK once the whole body was handed over.
 */
typedef int (*cli_remote_sink)(void *ctx, const char *data, size_t len);
int cli_remote_stream(struct cli_remote *r, const char *path, cli_remote_sink fn, void *ctx);

/* Records per page of the listing: 500 records of at most 1 MiB fit ANSWER_CAP in remote.c. */
#define CLI_REMOTE_PAGE 500u

/*
 * Walk GET /api/v1/events?'params' page by page ('params': escaped, may be
 * empty; 'page': records per request, 1 to 1000) and call 'fn' for each
 * record in seq order with its JSON text exactly as the server sent it
 * (what atr_record_to_json() gives for a local record) and that text
 * parsed. 'fn' returns 0 to go on, 1 to stop early, or -1 (after printing
 * why) to fail. Server errors are printed with 'what' (see cli_remote_fail).
 * Returns CLI_OK or CLI_FAIL.
 */
typedef int (*cli_remote_event_fn)(void *ctx, const char *text, size_t len, json_t *rec);
int cli_remote_events(struct cli_remote *r, const char *params, unsigned page,
                      cli_remote_event_fn fn, void *ctx, const char *what);

/*
 * A record's field by dotted name ("actor", "usage.input_tokens") in a
 * record object from the server, with the meaning of atr_record_str() and
 * atr_record_int().
 */
const char *cli_json_str(json_t *rec, const char *field);
int cli_json_int(json_t *rec, const char *field, int64_t *out);

/* The fields of a record object from the server, for cli_print_fields(). */
void cli_json_fields(json_t *rec, struct cli_fields *out);

/* A hash from the server's JSON: the 64-hex string 'name' of 'obj'; -1 when absent or bad. */
int cli_json_hash(json_t *obj, const char *name, atr_hash *out);
/* A non-negative integer 'name' of 'obj'; -1 when absent or not one. */
int cli_json_u64(json_t *obj, const char *name, uint64_t *out);

#endif
