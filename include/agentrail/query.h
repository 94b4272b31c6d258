/*
 * Filtering and iterating the log with a cursor. Every filter is backed by an
 * index in each store, so a selective query does not scan the log.
 */
#ifndef AGENTRAIL_QUERY_H
#define AGENTRAIL_QUERY_H

#include "log.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A filter. Zero-initialize it and set what you need: NULL strings and zero
 * numbers mean "any". All set filters must hold (AND).
 */
typedef struct atr_query {
	const char *type; /* exact event type */
	const char *actor;
	const char *level; /* "pipeline", "agent" or "decision" */
	const char *trace_id;
	const char *session_id;
	const char *run_id;
	const char *job_id;
	const char *event_id;
	const char *target_prefix; /* target starts with this */
	int64_t since_us;          /* ts >= since (microseconds since the epoch); 0: unbounded */
	int64_t until_us;          /* ts < until; 0: unbounded */
	uint64_t seq_from;         /* seq >= seq_from */
	uint64_t seq_to;           /* seq < seq_to; 0: unbounded */
	uint64_t limit;            /* at most this many records; 0: all */
	int descending;            /* newest first */
} atr_query;

typedef struct atr_cursor atr_cursor;

/*
 * Start a query. '*out' is the caller's, to release with atr_cursor_free().
 * Records come in seq order (descending if asked) from one consistent snapshot.
 */
ATR_EXTERN int atr_log_query(atr_log *log, const atr_query *q, atr_cursor **out);

/*
 * The next record: returns 1 and sets '*rec' (borrowed, valid until the next
 * call or atr_cursor_free), 0 at the end, or a negative status.
 */
ATR_EXTERN int atr_cursor_next(atr_cursor *cur, const atr_record **rec);

ATR_EXTERN void atr_cursor_free(atr_cursor *cur);

/*
 * Parse an RFC 3339 timestamp ("2026-04-01T14:10:32.123456Z", offsets
 * allowed) into microseconds since the epoch, UTC.
 */
ATR_EXTERN int atr_time_parse(const char *text, int64_t *us);

/* Format 'us' as RFC 3339 UTC with microseconds into 'out' (at least 28 bytes). */
ATR_EXTERN void atr_time_format(int64_t us, char out[28]);

#ifdef __cplusplus
}
#endif
#endif
