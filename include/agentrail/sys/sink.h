/*
 * The sink interface, for people writing a sink: where a producer
 * (include/agentrail/producer.h) delivers events. A sink is a versioned
 * struct of function pointers, like a store backend (sys/store.h). The
 * producer owns batching, the on-disk spool, retries and back-off; a sink
 * delivers one batch and answers how it went, so that the producer can tell
 * a transient failure (keep the events, try again later) from a permanent
 * one (this event will never be accepted: log it and drop it).
 */
#ifndef AGENTRAIL_SYS_SINK_H
#define AGENTRAIL_SYS_SINK_H

#include "../common.h"
#include "../producer.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ATR_SINK_VERSION 1

enum atr_sink_flag {
	/*
	 * Delivery may fail transiently (a network far end). The producer then
	 * appends every event to its spool before emit returns and calls
	 * 'deliver' from a background thread. Without it the sink is local:
	 * 'deliver' is called from emit with one event, and its failure is
	 * emit's failure.
	 */
	ATR_SINK_NETWORK = 1 << 0
};

/* How a delivery went. */
typedef enum atr_sink_result {
	/* Every event of the batch is delivered. */
	ATR_SINK_OK = 0,
	/*
	 * Transient: the far end is down, overloaded (429, 503), answered
	 * something unexpected, or refused the credentials. Events from
	 * 'accepted' on are not delivered; the producer keeps them and tries
	 * again after a back-off (at least 'retry_after_ms' when set).
	 */
	ATR_SINK_RETRY,
	/*
	 * Permanent for one event: the far end will never take event 'item'
	 * (it is invalid there, or its event_id is taken by other content).
	 * Events before 'accepted' are delivered; the rest were not and are
	 * offered again without it. 'item' may be ATR_SINK_ITEM_UNKNOWN when the
	 * far end refused the batch without saying which event: the producer
	 * then splits the batch to find it.
	 */
	ATR_SINK_REJECT,
	/* The batch is too large for the far end: nothing delivered; offer fewer events. */
	ATR_SINK_TOO_BIG
} atr_sink_result;

#define ATR_SINK_ITEM_UNKNOWN ((size_t)-1)

/* What 'deliver' says beyond its result; the producer zeroes it before each call. */
typedef struct atr_sink_report {
	size_t accepted; /* events from the start of the batch that were delivered */
	size_t item;     /* ATR_SINK_REJECT: the refused event's index in the batch */
	unsigned
	    retry_after_ms; /* ATR_SINK_RETRY: the far end asked to wait this long (0: not said) */
	int code;           /* the ATR_E… status of a failure (local sinks: emit returns it) */
	char message[512];  /* one line: why it failed */
	/* Local sinks that place events in a log, about the batch's first event: */
	int has_seq;
	uint64_t seq;
	int duplicate;
} atr_sink_report;

typedef struct atr_sink atr_sink;

struct atr_sink {
	unsigned version; /* ATR_SINK_VERSION; fields are only ever appended */
	const char *name; /* "store", "file", "stdout", "webhook", ... */
	/*
	 * Where it delivers (a URL without credentials, a path): for messages,
	 * and for the spool, whose events are only ever delivered to a sink of
	 * the same name and destination.
	 */
	const char *destination;
	unsigned flags;    /* atr_sink_flag */
	size_t max_events; /* most events per batch (at least 1) */
	size_t max_bytes;  /* most event bytes per batch (a larger single event is offered alone) */

	/*
	 * Deliver 'n' (at least 1) event texts: JSON objects on one line each,
	 * every one with its event_id, borrowed for the call. Called from one
	 * thread at a time.
	 */
	atr_sink_result (*deliver)(atr_sink *s, const char *const *events, const size_t *lens,
	                           size_t n, atr_sink_report *rep);

	/*
	 * Make what was delivered durable (a local sink's fsync; the file sink
	 * also writes its checkpoint). 0 or an ATR_E… status. May be NULL.
	 */
	int (*flush)(atr_sink *s);

	/* Release the sink. */
	void (*free)(atr_sink *s);
};

/*
 * Start a producer on a sink of your own: as atr_producer_new(), with
 * 'cfg' (may be NULL: the defaults) for the spool directory, the log level
 * and the AGENTRAIL_LOG_* filters; its sink fields are ignored. The producer
 * takes 'sink' in every case: it is released by atr_producer_free(), or
 * before this returns when it fails.
 */
ATR_EXTERN int atr_producer_new_with_sink(atr_producer **out, const atr_producer_config *cfg,
                                          atr_sink *sink);

#ifdef __cplusplus
}
#endif
#endif
