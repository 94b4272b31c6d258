/*
 * Signed checkpoints over HTTP: the newest stored note verbatim
 * (GET /api/v1/checkpoint), the smallest one covering a size
 * (GET /api/v1/checkpoints?size=N), and a paged JSON list of them all.
 * Notes are served as text/plain bytes exactly as signed, so a saved
 * answer is a file auditors can check with `agentrail verify --checkpoint`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agentrail/checkpoint.h>

#include "server/server.h"

#define NOTE_TYPE "text/plain; charset=utf-8"

/* A non-negative integer parameter: 1 present, 0 absent, -1 answered 400. */
static int arg_u64(struct srv_req *req, const char *name, uint64_t *out)
{
	const char *v = srv_arg_str(req, name);
	char msg[200];

	if (!v)
		return 0;
	if (util_parse_u64(v, out) == 0)
		return 1;
	snprintf(msg, sizeof(msg), "parameter '%s' must be a non-negative integer, got '%.64s'",
	         name, v);
	srv_reply_error(req, SRV_EBADREQ, msg, name);
	return -1;
}

/* Answer the stored note of 'min_size' (ATR_CHECKPOINT_LATEST: the newest) verbatim. */
static void reply_note(struct srv_req *req, uint64_t min_size)
{
	char *note = NULL, msg[200];
	size_t len = 0;
	atr_log *log;
	int rc;

	if (!(log = srv_reader(req)))
		return;
	rc = atr_log_checkpoint_get(log, min_size, &note, &len);
	if (rc == ATR_ENOTFOUND) {
		if (min_size == ATR_CHECKPOINT_LATEST)
			snprintf(msg, sizeof(msg),
			         "no checkpoint has been signed yet (serve --key FILE signs them)");
		else
			snprintf(msg, sizeof(msg), "no stored checkpoint covers %llu records",
			         (unsigned long long)min_size);
		srv_reply_error(req, rc, msg, min_size == ATR_CHECKPOINT_LATEST ? NULL : "size");
		return;
	}
	if (rc != 0) {
		srv_reply_error(req, rc, NULL, NULL);
		return;
	}
	srv_reply(req, 200, NOTE_TYPE, note, len, NULL, NULL);
	atr_free(note);
}

void srv_h_checkpoint(struct srv_req *req)
{
	static const char *const allowed[] = {NULL};

	if (srv_only_args(req, allowed))
		return;
	reply_note(req, ATR_CHECKPOINT_LATEST);
}

/* One list item: {"size":N,"origin":…,"root_hash":…,"note":…}. */
static int add_item(struct util_buf *b, int first, const char *note, size_t len,
                    const atr_checkpoint *cp)
{
	return (!first && util_buf_add(b, ",", 1)) ||
	       srv_bufprintf(b, "{\"size\":%llu,\"origin\":", (unsigned long long)cp->size) ||
	       srv_json_str(b, cp->origin, strlen(cp->origin)) ||
	       util_buf_adds(b, ",\"root_hash\":") || srv_json_hash(b, &cp->root) ||
	       util_buf_adds(b, ",\"note\":") || srv_json_str(b, note, len) ||
	       util_buf_add(b, "}", 1);
}

void srv_h_checkpoints(struct srv_req *req)
{
	static const char *const allowed[] = {"size", "limit", "cursor", NULL};
	uint64_t size = 0, limit = SRV_DEFAULT_LIMIT, from = 0, got = 0;
	const char *cursor;
	struct util_buf b;
	atr_log *log;
	char msg[200], tail[48];
	int has_size, has_limit, rc = 0;

	if (srv_only_args(req, allowed) || (has_size = arg_u64(req, "size", &size)) < 0 ||
	    (has_limit = arg_u64(req, "limit", &limit)) < 0)
		return;
	cursor = srv_arg_str(req, "cursor");
	if (has_size) {
		if (has_limit || cursor) {
			srv_reply_error(
			    req, SRV_EBADREQ,
			    "parameter 'size' asks for one checkpoint; 'limit' and 'cursor' "
			    "page the list",
			    has_limit ? "limit" : "cursor");
			return;
		}
		reply_note(req, size);
		return;
	}
	if (limit == 0 || limit > SRV_MAX_LIMIT) {
		snprintf(msg, sizeof(msg), "parameter 'limit' must be 1 to %u", SRV_MAX_LIMIT);
		srv_reply_error(req, SRV_EBADREQ, msg, "limit");
		return;
	}
	if (cursor && srv_cursor_decode(cursor, &from) != 0) {
		srv_reply_error(req, SRV_EBADREQ,
		                "parameter 'cursor' is not a cursor this server made", "cursor");
		return;
	}
	if (!(log = srv_reader(req)))
		return;
	util_buf_init(&b);
	if (util_buf_adds(&b, "{\"checkpoints\":["))
		goto oom;
	/*
	 * Each step is one indexed lookup of the smallest checkpoint at least
	 * 'from' (the newest of equal sizes), so a page costs 'limit' lookups
	 * however many checkpoints are stored.
	 */
	for (;;) {
		atr_checkpoint cp;
		char *note = NULL;
		size_t len = 0;

		if (from == ATR_CHECKPOINT_LATEST) {
			rc = ATR_ENOTFOUND;
			break;
		}
		rc = atr_log_checkpoint_get(log, from, &note, &len);
		if (rc != 0)
			break;
		if (got == limit) {
			atr_free(note);
			break;
		}
		/* A note whose size is below its row's would make the walk go back. */
		if (atr_checkpoint_parse(note, len, &cp) != 0 || cp.size < from) {
			atr_free(note);
			srv_reply_error(req, ATR_ETAMPER,
			                "a stored checkpoint is not a well-formed note of its size",
			                NULL);
			util_buf_release(&b);
			return;
		}
		rc = add_item(&b, got == 0, note, len, &cp);
		atr_free(note);
		if (rc)
			goto oom;
		got++;
		from = cp.size + 1;
	}
	if (rc != 0 && rc != ATR_ENOTFOUND) {
		util_buf_release(&b);
		srv_reply_error(req, rc, NULL, NULL);
		return;
	}
	srv_next_cursor(rc == 0, from, tail);
	if (util_buf_adds(&b, "]") || util_buf_adds(&b, tail))
		goto oom;
	srv_reply_json(req, 200, &b);
	util_buf_release(&b);
	return;
oom:
	srv_reply_oom(req, &b);
}
