/*
 * OpenTelemetry in: turn one OTLP/HTTP export request in the OTLP JSON
 * encoding (ExportTraceServiceRequest or ExportLogsServiceRequest) into
 * agentrail events, following the GenAI semantic conventions: chat spans
 * become llm_call, execute_tool spans tool_call, invoke_agent spans a
 * session_start and a session_end, any other span or log record a generic
 * event, so nothing is dropped (the mapping table is in docs/otel.md).
 *
 * A pure function: nothing is appended. The caller submits the events
 * (agentrail serve does, through its group commit, for POST /v1/traces and
 * POST /v1/logs).
 */
#ifndef AGENTRAIL_OTLP_H
#define AGENTRAIL_OTLP_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Which export request a body holds. */
typedef enum atr_otlp_signal {
	ATR_OTLP_TRACES = 1, /* ExportTraceServiceRequest: items are spans */
	ATR_OTLP_LOGS = 2    /* ExportLogsServiceRequest: items are log records */
} atr_otlp_signal;

/* The largest body atr_otlp_map() takes (the JSON text, after any gzip inflation). */
#define ATR_OTLP_MAX_BODY (16u << 20)

/* The events of one request, item by item, and the items refused. */
typedef struct atr_otlp_batch atr_otlp_batch;

/*
 * Map the 'len' bytes at 'json' (not necessarily NUL-terminated). Trace and
 * span ids may be hex (as OTLP JSON has them) or base64; 64-bit integers
 * numbers or decimal strings; unknown members are ignored.
 *
 * Every event made is validated as the log would validate it. An item
 * (span or log record) whose ids are malformed or one of whose events
 * fails validation is refused on its own: its events are left out and the
 * refusal is counted with its reason (atr_otlp_batch_rejected,
 * atr_otlp_batch_error), as OTLP's partial success reports it.
 *
 * Returns 0 with '*out' the caller's, to release with atr_otlp_batch_free()
 * (also when every item was refused, or the request was empty);
 * ATR_EINVALID when the body is not such a request at all: not JSON, or a
 * member of the wrong type (the message names it as a path,
 * "resourceSpans[0].scopeSpans[0].spans[2].kind", also answered by
 * atr_otlp_error_path()); ATR_ETOOBIG when the items would make more than
 * 'max_events' events (0: no limit) or 'len' exceeds ATR_OTLP_MAX_BODY;
 * ATR_ENOMEM. On failure '*out' is NULL.
 */
ATR_EXTERN int atr_otlp_map(atr_otlp_batch **out, atr_otlp_signal signal, const char *json,
                            size_t len, size_t max_events);

/*
 * The JSON path of the member that made the calling thread's last
 * atr_otlp_map() fail with ATR_EINVALID ("" when unknown or for malformed
 * JSON). Borrowed until the thread's next atr_otlp_map().
 */
ATR_EXTERN const char *atr_otlp_error_path(void);

/* Items (spans or log records) in the request, and how many were refused. */
ATR_EXTERN size_t atr_otlp_batch_items(const atr_otlp_batch *b);
ATR_EXTERN size_t atr_otlp_batch_rejected(const atr_otlp_batch *b);

/*
 * The events of the items not refused, in request order (an invoke_agent
 * span makes two). atr_otlp_batch_event() answers the JSON text of event
 * 'i' (< atr_otlp_batch_events) with its length in '*len' and the index of
 * its item in the request in '*item' (either may be NULL); borrowed until
 * the batch changes (atr_otlp_batch_reject) or is freed.
 */
ATR_EXTERN size_t atr_otlp_batch_events(const atr_otlp_batch *b);
ATR_EXTERN const char *atr_otlp_batch_event(const atr_otlp_batch *b, size_t i, size_t *len,
                                            size_t *item);

/*
 * Refuse item 'item' after mapping (the log refused one of its events,
 * say for a conflicting event_id): its events leave the list and the
 * refusal is counted with 'why', after the item's path as the mapping's own
 * refusals have it. ATR_ENOTFOUND when the item has no events in the list
 * (refused already, or no such item).
 */
ATR_EXTERN int atr_otlp_batch_reject(atr_otlp_batch *b, size_t item, const char *why);

/*
 * Refusal 'k' (< atr_otlp_batch_rejected), in the order they happened:
 * "resourceSpans[0].scopeSpans[0].spans[3]: ..." naming the item and why,
 * with the item's index in '*item' (may be NULL). Only the first 100
 * refusals keep their text; later ones answer NULL.
 */
ATR_EXTERN const char *atr_otlp_batch_error(const atr_otlp_batch *b, size_t k, size_t *item);

/*
 * One line for OTLP's partialSuccess.errorMessage: how many items of how
 * many were refused and the first reasons ("" when none). Borrowed until
 * the batch changes or is freed.
 */
ATR_EXTERN const char *atr_otlp_batch_summary(atr_otlp_batch *b);

/* Release 'b'. NULL is a no-op. */
ATR_EXTERN void atr_otlp_batch_free(atr_otlp_batch *b);

#ifdef __cplusplus
}
#endif
#endif
