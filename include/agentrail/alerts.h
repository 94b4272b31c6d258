/*
 * Alerts: rules evaluated over the log's records in seq order (a sensitive
 * path read or written, a DENY decision, a command after a DENY in the same
 * job, a token spike, a burst of failed commands, a rules_hash or
 * system_prompt_hash that changed within a session), each firing an 'alert'
 * event that points at its trigger. The engine reads record headers only
 * and keeps bounded state; `agentrail serve` runs it as the log grows,
 * `agentrail alerts scan` over a store. docs/alerts.md has every rule.
 */
#ifndef AGENTRAIL_ALERTS_H
#define AGENTRAIL_ALERTS_H

#include "log.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The actor of every alert event the engine makes. */
#define ATR_ALERTS_ACTOR "agentrail-alerts"

/* Defaults of atr_alert_rules (a zero field means its default). */
#define ATR_ALERTS_TOKEN_SPIKE_K    5u  /* a session over K times the agent's 7-day median */
#define ATR_ALERTS_TOKEN_MIN_HIST   3u  /* other sessions in the window before spikes fire */
#define ATR_ALERTS_FAIL_BURST_N     5u  /* failed commands ... */
#define ATR_ALERTS_FAIL_BURST_S     60u /* ... within this many seconds, per session */
#define ATR_ALERTS_WINDOW_S         (7 * 86400) /* the state window (token medians, DENYs) */
#define ATR_ALERTS_MAX_FAIL_BURST_N 1000u

/*
 * The rules' settings. 'sensitive' (may be NULL) holds 'nsensitive' globs
 * added to the defaults (ATR_REPORT_SENSITIVE_DEFAULT, matched as
 * atr_report_sensitive_match() does); everything is copied by
 * atr_alerts_new().
 */
typedef struct atr_alert_rules {
	const char *const *sensitive;
	size_t nsensitive;
	unsigned token_spike_k;      /* 0: ATR_ALERTS_TOKEN_SPIKE_K */
	unsigned token_min_sessions; /* 0: ATR_ALERTS_TOKEN_MIN_HIST */
	unsigned fail_burst_n;       /* 0: ATR_ALERTS_FAIL_BURST_N; at most _MAX_FAIL_BURST_N */
	unsigned fail_burst_seconds; /* 0: ATR_ALERTS_FAIL_BURST_S */
} atr_alert_rules;

/* One alert the engine fired. Every pointer is borrowed for the callback's duration. */
typedef struct atr_alert {
	const char *rule;     /* "sensitive_path", "deny", "command_after_deny", "token_spike",
	                         "command_failure_burst", "rules_changed", "system_prompt_changed" */
	const char *severity; /* "low", "medium" or "high" */
	uint64_t trigger_seq;
	const char *event_id; /* the alert event's id: derived from the trigger's id and the rule */
	const char *json;     /* the alert event, ready to append */
	size_t len;
} atr_alert;

/* Called for each alert fired: 0 to go on, anything else stops the feed with that status. */
typedef int (*atr_alert_fn)(void *ctx, const atr_alert *alert);

typedef struct atr_alerts atr_alerts;

/*
 * A new engine with 'rules' (NULL: the defaults). ATR_EINVALID for a bad
 * setting. '*out' is the caller's, to release with atr_alerts_free().
 */
ATR_EXTERN int atr_alerts_new(atr_alerts **out, const atr_alert_rules *rules);
ATR_EXTERN void atr_alerts_free(atr_alerts *a);

/*
 * Let the engine look back in 'log' (borrowed, NULL to stop) for what it
 * has not seen: the first time a session carries a rules_hash or
 * system_prompt_hash in the engine's state, its latest ones are read from
 * the session's records before the engine's first record fed (or the
 * last gap in the seqs fed, or the newest entry the state dropped): one
 * query over the session's index, none when the engine was fed every
 * record from seq 0. So a change is caught after a restart too.
 */
ATR_EXTERN void atr_alerts_set_log(atr_alerts *a, atr_log *log);

enum atr_alerts_feed_flag {
	ATR_ALERTS_WARMUP = 1 << 0 /* update the state only: fire nothing */
};

/*
 * Feed one record, in seq order. Each alert it fires goes to 'fn'. The
 * engine never fires on 'alert' events nor on its own actor's events.
 * Returns 0, 'fn''s non-zero answer, or a negative status.
 *
 * Bounds: DENYs kept per job (100,000 jobs), hashes per session (100,000),
 * token totals per agent (10,000 agents, 1,000 sessions each, 100,000
 * sessions in all), failure windows per session (100,000); entries older
 * than the window (7 days, by the newest event ts seen; failure windows:
 * their seconds) expire first, then the least recently used.
 */
ATR_EXTERN int atr_alerts_feed(atr_alerts *a, const atr_record *rec, unsigned flags,
                               atr_alert_fn fn, void *ctx);

/*
 * Feed the records of 'log' from 'from' on, at most 'max' of them (0:
 * 512); '*next' is then the seq after the last one fed. Alerts go to 'fn'
 * once the batch's read is over, so 'fn' may append to 'log'. On failure
 * (or 'fn''s non-zero answer) '*next' stays 'from', and the state has
 * taken in the batch: start over with a new engine from
 * atr_alerts_resume_seq() and atr_alerts_warm() (the alerts that did go
 * in come again with the same event_id and content: duplicates).
 */
ATR_EXTERN int atr_alerts_step(atr_alerts *a, atr_log *log, uint64_t from, uint64_t max,
                               atr_alert_fn fn, void *ctx, uint64_t *next);

/*
 * Where a restarted engine goes on: after the trigger of the newest alert
 * made by ATR_ALERTS_ACTOR, but not before the first record whose ts is
 * within the window of 'now_us' (0: the clock). Records from there on may
 * have been evaluated already: their alerts have the same event_id and
 * content, so appending one again is a duplicate (or a conflict when the
 * state differed), never a second alert.
 */
ATR_EXTERN int atr_alerts_resume_seq(atr_log *log, int64_t now_us, uint64_t *start);

/*
 * Warm the state up for a start at 'start': the llm_call, decision and
 * command records with seq < 'start' whose ts is within the window of
 * 'now_us' (0: the clock), read through the type index, fed in seq order
 * with ATR_ALERTS_WARMUP.
 */
ATR_EXTERN int atr_alerts_warm(atr_alerts *a, atr_log *log, uint64_t start, int64_t now_us);

/* What atr_alerts_list() returns; NULL strings mean any. */
typedef struct atr_alerts_filter {
	const char *rule;
	const char *session_id;
	const char *job_id;
} atr_alerts_filter;

/*
 * Alert events newest first, as a JSON array of {seq, event_id, ts, rule,
 * severity, target, job_id, session_id, trigger_seq, reason} ('target':
 * what the trigger acted on, from the payload, as are 'severity' and
 * 'trigger_seq': null when it was erased), with seq <= 'from' (UINT64_MAX:
 * from the newest), at most 'limit' (0: 100). '*more' says whether older
 * ones follow, from seq '*next'. '*out' is the caller's, to release with
 * atr_free().
 */
ATR_EXTERN int atr_alerts_list(atr_log *log, const atr_alerts_filter *f, uint64_t from,
                               uint64_t limit, char **out, int *more, uint64_t *next);

#ifdef __cplusplus
}
#endif
#endif
