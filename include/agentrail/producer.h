/*
 * Producers: the one way every source of events (agentrail exec, hooks,
 * record, programs using the C API) hands events to a sink — a store, a
 * server, a local JSONL log, standard output or a webhook — configured the
 * same way everywhere, from the environment:
 *
 *   AGENTRAIL_SINK           store (default) | file | stdout | webhook
 *   AGENTRAIL_STORE          the store URI for the store sink: a path,
 *                            sqlite:PATH, or http(s)://HOST:PORT of a server
 *   AGENTRAIL_TOKEN          bearer token for a server or webhook
 *   AGENTRAIL_LOG_FILE       the JSONL file of the file sink
 *   AGENTRAIL_KEY_FILE       file sink: sign its checkpoint with this signer key
 *   AGENTRAIL_URL            the webhook's URL
 *   AGENTRAIL_LOG_LEVEL      debug | info | warn (default) | error: the producer's
 *                            own messages, on standard error
 *   AGENTRAIL_LOG_FILE_READS true | false: record file reads (file_read events)
 *   AGENTRAIL_LOG_COMMANDS   true | false: record commands (command events)
 *   AGENTRAIL_LOG_TOKENS     true | false: record token usage (the 'usage' field)
 *   AGENTRAIL_SPOOL_DIR      where undelivered events wait (network sinks)
 *
 * An unknown or malformed value is an error at start naming the variable
 * (an empty value counts as unset).
 *
 * Local sinks (a store file, the file sink, stdout) write each event before
 * atr_producer_emit() returns. Network sinks (a server's URL, a webhook)
 * never block the caller on the network: emit appends the event to an
 * on-disk spool (write-ahead) and returns; a background thread delivers the
 * spool in order, in batches, retrying with back-off, and the next producer
 * on the same spool replays whatever a producer that died left behind.
 * Every event carries an event_id (assigned at emit), so a re-send is never
 * a duplicate in a store. docs/sinks.md says exactly when an event is safe.
 *
 * A producer may be used from several threads at once; it must not be used
 * in a child process after fork().
 */
#ifndef AGENTRAIL_PRODUCER_H
#define AGENTRAIL_PRODUCER_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct atr_producer atr_producer;

typedef enum atr_sink_kind {
	ATR_SINK_STORE = 0,
	ATR_SINK_FILE,
	ATR_SINK_STDOUT,
	ATR_SINK_WEBHOOK
} atr_sink_kind;

typedef enum atr_log_level {
	ATR_LOG_DEBUG = 0,
	ATR_LOG_INFO,
	ATR_LOG_WARN,
	ATR_LOG_ERROR
} atr_log_level;

/* A producer's configuration; every pointer is borrowed for atr_producer_new(). */
typedef struct atr_producer_config {
	atr_sink_kind sink;
	const char *store;     /* store sink: URI (NULL: the default store) */
	const char *token;     /* bearer token for a server or webhook, or NULL */
	const char *log_file;  /* file sink: the JSONL path */
	const char *url;       /* webhook sink: the URL */
	const char *spool_dir; /* network sinks: the spool (NULL: a default under XDG_STATE_HOME) */
	const char *key_file;  /* file sink: sign its checkpoint with this key, or NULL */
	atr_log_level log_level;
	int log_file_reads; /* 1: record file reads (default 1) */
	int log_commands;   /* 1: record commands (default 1) */
	int log_tokens;     /* 1: record token usage (default 1) */
} atr_producer_config;

/* Fill 'cfg' with the defaults only (store sink, warn, everything recorded). */
ATR_EXTERN void atr_producer_config_init(atr_producer_config *cfg);

/*
 * Fill 'cfg' with the defaults, then from the environment. ATR_EINVALID names
 * the variable and the value it refused. The strings point into the
 * environment: valid while it is not changed.
 */
ATR_EXTERN int atr_producer_config_from_env(atr_producer_config *cfg);

/*
 * Start a producer; '*out' is released with atr_producer_free(). The sink is
 * opened now, so a store that cannot be opened, a file sink whose file is
 * not a log it can extend, or a spool directory that cannot be created is
 * an error here (ATR_EINVALID names the missing setting: "the file sink
 * needs AGENTRAIL_LOG_FILE"). The configuration is copied.
 */
ATR_EXTERN int atr_producer_new(atr_producer **out, const atr_producer_config *cfg);

/* atr_producer_config_from_env() then atr_producer_new(). */
ATR_EXTERN int atr_producer_from_env(atr_producer **out);

/* The configuration in force (borrowed for the producer's lifetime). */
ATR_EXTERN const atr_producer_config *atr_producer_config_get(const atr_producer *p);

/*
 * The directory of this producer's spool (network sinks; NULL for local
 * sinks). Borrowed for the producer's lifetime.
 */
ATR_EXTERN const char *atr_producer_spool_dir(const atr_producer *p);

/*
 * Hand one event (JSON text, DESIGN.md §2; an event_id and a ts of now are
 * assigned if it has none, so that a retry can never duplicate it and a late
 * delivery keeps the time it happened) to the sink. Local sinks write it
 * before returning; network sinks append it to the spool and return at
 * once. ATR_EINVALID or ATR_ETOOBIG for an event the log would refuse (the
 * message names the field); other failures (ATR_EIO: the spool's disk is
 * full) mean it was not kept anywhere. An event that AGENTRAIL_LOG_* says
 * not to record is dropped and answered 0.
 */
ATR_EXTERN int atr_producer_emit(atr_producer *p, const char *json, size_t len);

/* What became of one emitted event. */
typedef struct atr_emit_info {
	char event_id[37]; /* its event_id (assigned when it had none) */
	int filtered;      /* 1: dropped because AGENTRAIL_LOG_* says not to record it */
	int has_seq;       /* 1: a local log placed it (the store and file sinks) */
	uint64_t seq;      /* then: its position in that log */
	int duplicate;     /* store sink: the log had it already (nothing appended) */
} atr_emit_info;

/* atr_producer_emit() that also says what became of the event ('info' may be NULL). */
ATR_EXTERN int atr_producer_emit_ex(atr_producer *p, const char *json, size_t len,
                                    atr_emit_info *info);

/*
 * Emit 'n' events in order ('lens' may be NULL for NUL-terminated texts;
 * 'infos', n entries, may be NULL and gets no seq). Every event is checked
 * before any is handed on: a bad one is refused ("event 3: ...") and none
 * kept. A local store then appends up to 1000 at a time in one transaction
 * (one fsync instead of one per event). When keeping them fails (a store
 * error, a full disk), the events before the failed transaction or write
 * are kept.
 */
ATR_EXTERN int atr_producer_emit_batch(atr_producer *p, const char *const *jsons,
                                       const size_t *lens, size_t n, atr_emit_info *infos);

/*
 * Wait up to 'timeout_ms' (-1: no limit) until everything emitted so far —
 * and what earlier producers left in the spool, when this producer replays
 * it — is delivered. Local sinks make their writes durable (fsync) and the
 * file sink writes its checkpoint. 0 when done; ATR_EBUSY when the time ran
 * out, or at once when the far end is failing and the next attempt is due
 * after it (what is left is safe in the spool and will be delivered by this
 * producer later or by the next one on the same spool); a local sink's
 * failure (ATR_EIO) as it happened.
 */
ATR_EXTERN int atr_producer_flush(atr_producer *p, int timeout_ms);

/* Delivery counters (fields are only ever appended). */
typedef struct atr_producer_stats {
	uint64_t emitted;   /* events accepted by atr_producer_emit */
	uint64_t delivered; /* of those, acknowledged by the sink */
	uint64_t spooled;   /* of those, waiting in the spool now */
	uint64_t retries;   /* failed delivery attempts (transient failures) */
	uint64_t rejected;  /* of those, refused for good by the far end (logged, not retried) */
	uint64_t filtered;  /* events dropped by AGENTRAIL_LOG_* settings */
	uint64_t replayed;  /* events earlier producers left in the spool, delivered by this one */
} atr_producer_stats;

ATR_EXTERN void atr_producer_stats_get(atr_producer *p, atr_producer_stats *out);

/*
 * Flush for at most a few seconds — not at all while the far end is failing:
 * what is left stays in the spool — stop and release. NULL is a no-op.
 */
ATR_EXTERN void atr_producer_free(atr_producer *p);

#ifdef __cplusplus
}
#endif
#endif
