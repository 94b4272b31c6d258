/*
 * Group commit: many threads submit requests (each an atomic batch of
 * events); one writer thread appends whatever has arrived together in one
 * transaction and one fsync, and answers each request once it is durable.
 * This is what lets a server answer thousands of single-event requests a
 * second with every answer meaning "on disk".
 */
#ifndef AGENTRAIL_INGEST_H
#define AGENTRAIL_INGEST_H

#include "log.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct atr_ingest atr_ingest;

/*
 * Start an ingest writer over 'log' (borrowed: it must outlive the ingest,
 * and while the ingest runs no other thread may append through 'log').
 * 'queue_max' bounds the events waiting to be written (0: a default of
 * 100,000); past it, submissions fail fast with ATR_EBUSY. '*out' is the
 * caller's, to release with atr_ingest_free().
 */
ATR_EXTERN int atr_ingest_new(atr_ingest **out, atr_log *log, size_t queue_max);

/*
 * Submit 'n' events as one atomic request and wait until they are durable
 * (0, 'results' filled as by atr_log_append_batch) or the request is refused:
 * ATR_EINVALID / ATR_ETOOBIG / ATR_ECONFLICT with a message naming the item
 * (other requests committed in the same group are unaffected), ATR_EBUSY
 * when the queue is full, ATR_EBACKEND when the commit failed (then no
 * request of that group was appended). Thread-safe. The texts must stay
 * valid until it returns.
 */
ATR_EXTERN int atr_ingest_submit(atr_ingest *ing, const char *const *jsons, const size_t *lens,
                                 size_t n, atr_append_result *results);

/* Counters for /metrics; all since atr_ingest_new. */
typedef struct atr_ingest_stats {
	uint64_t events;   /* appended */
	uint64_t requests; /* answered */
	uint64_t commits;  /* transactions (fsyncs) */
	uint64_t queued;   /* events waiting now */
	/*
	 * Commit latency: commits in each bucket of <=1, 2, 5, 10, 25, 50,
	 * 100 ms and above (each bucket counted alone, not cumulatively).
	 */
	uint64_t commit_us_le[8];
	uint64_t commit_us_sum;
} atr_ingest_stats;

ATR_EXTERN void atr_ingest_stats_get(atr_ingest *ing, atr_ingest_stats *out);

/*
 * Stop taking submissions (new ones fail with ATR_EBUSY), write and answer
 * everything already submitted, stop the writer and release 'ing'.
 * NULL is a no-op.
 */
ATR_EXTERN void atr_ingest_free(atr_ingest *ing);

#ifdef __cplusplus
}
#endif
#endif
