/*
 * Retention and erasure: how long payloads and records are kept (a policy
 * named "agentrail.retention", versioned in the log itself), pruning what is
 * older, erasing the payloads of one user or session, and the legal hold
 * that stops all of it. Every removal appends an erasure event first, saying
 * what goes and why (docs/retention.md).
 */
#ifndef AGENTRAIL_RETENTION_H
#define AGENTRAIL_RETENTION_H

#include "log.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The policy that holds the retention settings. */
#define ATR_RETENTION_POLICY "agentrail.retention"

/*
 * Parse a retention duration: a positive integer and a unit, h (hours), d
 * (days), w (weeks) or y (365 days): "90d", "7y", "36h". '*seconds' gets its
 * length. ATR_EINVALID with a message saying what is wrong.
 */
ATR_EXTERN int atr_duration_parse(const char *text, int64_t *seconds);

/* The retention settings in force. */
typedef struct atr_retention {
	char payloads[24]; /* duration payloads are kept, "" when kept forever */
	char records[24];  /* duration records are kept, "" when kept forever */
	int legal_hold;    /* 1: nothing may be pruned or erased */
	int set;           /* 0: never set (everything kept, no hold) */
	char snapshot[72]; /* "sha256:<hex>" of the settings' document, when set */
	uint64_t seq;      /* the policy_publish/policy_rollback that put them in force */
} atr_retention;

/*
 * Read the settings in force: the newest policy_publish or policy_rollback
 * event whose target is ATR_RETENTION_POLICY, and its document (for a
 * rollback, the text of the publish carrying its snapshot). Never set:
 * 'out->set' is 0. ATR_EERASED when the document's payload is gone,
 * ATR_ETAMPER when it does not hash to its snapshot, ATR_EINVALID when it
 * is not a retention document.
 */
ATR_EXTERN int atr_retention_get(atr_log *log, atr_retention *out);

/*
 * Change the settings: 'payloads' and 'records' are durations, "none" (keep
 * forever) or NULL (keep the current value); 'legal_hold' is 1, 0 or -1
 * (keep). Publishes the new document {"legal_hold":…,"payloads":…,
 * "records":…} as policy ATR_RETENTION_POLICY; nothing is appended when it
 * is the one in force ('*changed' = 0; may be NULL). 'actor' is required,
 * 'reason' may be NULL. '*out' (may be NULL) gets the settings now in force.
 */
ATR_EXTERN int atr_retention_set(atr_log *log, const char *payloads, const char *records,
                                 int legal_hold, const char *actor, const char *reason,
                                 atr_retention *out, int *changed);

/* The pruned prefix: records below '*below' were pruned (0: none). */
ATR_EXTERN int atr_log_pruned_below(atr_log *log, uint64_t *below);

enum atr_prune_flag {
	ATR_PRUNE_RECORDS = 1 << 0, /* prune whole records too, not only payloads */
	ATR_PRUNE_DRY_RUN = 1 << 1  /* plan only: delete nothing, append nothing */
};

/* What a prune or an erase did (or, on a dry run, would do). */
typedef struct atr_erasure_result {
	uint64_t payloads;    /* payloads deleted */
	uint64_t ranges;      /* seq ranges they form */
	uint64_t records;     /* records deleted (prune with ATR_PRUNE_RECORDS) */
	uint64_t below;       /* the pruned prefix afterwards */
	uint64_t events;      /* erasure events appended (0 when nothing was removed) */
	uint64_t first_event; /* the seq of the first one */
	uint64_t resumed;  /* payloads and records an interrupted earlier run left, removed now */
	uint64_t carried;  /* policies in force published again so records pruning keeps them */
	const char *limit; /* why records pruning stopped where it did ("" when not asked) */
	char limit_buf[256];
} atr_erasure_result;

/*
 * Prune by the settings in force, as of 'now_us' (microseconds since the
 * epoch; 0: now): delete the payloads of records whose ts is older than
 * the payload retention (except policy_publish, token_change and erasure
 * events, whose payloads are evidence), and with ATR_PRUNE_RECORDS whole
 * records below the largest multiple of 256 that every older record is
 * below, that a stored signed checkpoint covers, and that keeps the event
 * of every policy in force. Appends erasure events (detail kind "prune")
 * BEFORE deleting; a run first completes what the newest erasure event
 * planned, so a crash between the two steps is finished by the next run.
 * ATR_ECONFLICT under legal hold (nothing deleted, nothing appended).
 * 'actor' is required; 'reason' may be NULL.
 */
ATR_EXTERN int atr_log_prune(atr_log *log, unsigned flags, int64_t now_us, const char *actor,
                             const char *reason, atr_erasure_result *out);

/*
 * Erase the payloads of every record whose user_id (or session_id; set
 * exactly one) is the given one, appending one erasure event (detail kind
 * "erase") with the count and seq ranges before deleting. Only
 * ATR_PRUNE_DRY_RUN is a valid flag. 'reason' is required. ATR_ECONFLICT
 * under legal hold.
 */
ATR_EXTERN int atr_log_erase(atr_log *log, const char *user_id, const char *session_id,
                             unsigned flags, const char *actor, const char *reason,
                             atr_erasure_result *out);

#ifdef __cplusplus
}
#endif
#endif
