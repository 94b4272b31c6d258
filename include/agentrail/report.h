/*
 * Reports: what happened in the log over one UTC day or ISO week, computed
 * from the records alone (sessions and tasks with outcomes, tokens and cost,
 * files, commands, decisions, approvals, escalations, redactions, alerts,
 * the covering checkpoint), rendered as JSON, Markdown or one self-contained
 * HTML page. docs/reports.md defines every figure and every JSON key.
 */
#ifndef AGENTRAIL_REPORT_H
#define AGENTRAIL_REPORT_H

#include "log.h"
#include "verify.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum atr_report_period {
	ATR_REPORT_DAY = 0, /* [date 00:00Z, +24 h) */
	ATR_REPORT_WEEK     /* the ISO week (Monday 00:00Z to the next Monday) */
} atr_report_period;

/*
 * The bounds of the period of kind 'p' that holds 'date' ("YYYY-MM-DD", a
 * real calendar date, UTC). With 'date' NULL: the last completed period
 * before 'now_us' (yesterday for a day, last week for a week). '*start_us'
 * is inclusive, '*end_us' exclusive. ATR_EINVALID says precisely what is
 * wrong with 'date'.
 */
ATR_EXTERN int atr_report_period_bounds(atr_report_period p, const char *date, int64_t now_us,
                                        int64_t *start_us, int64_t *end_us);

/*
 * 1 when 'path' matches one of the 'n' sensitive-path globs: a glob ending
 * in '/' (".ssh/") matches a path with that directory as a component (the
 * part before the '/' is a glob too); any other glob is matched with
 * fnmatch(3) against the last component of the path (".env", "*.pem",
 * "id_rsa*"). 'globs' NULL means the defaults (ATR_REPORT_SENSITIVE_DEFAULT).
 */
ATR_EXTERN int atr_report_sensitive_match(const char *path, const char *const *globs, size_t n);

/* The default sensitive-path globs, comma-separated (for help texts). */
#define ATR_REPORT_SENSITIVE_DEFAULT ".env,id_rsa*,*.pem,credentials*,.aws/,.ssh/"

typedef struct atr_report_opts {
	atr_report_period period;
	const char *date; /* "YYYY-MM-DD" in the period; NULL: the last completed one */
	int64_t now_us;   /* for the default date and 'generated_at'; 0: the clock */
	/*
	 * The price table, JSON text (may be NULL: no prices):
	 * {"MODEL": {"input_per_mtok_micro_usd": N, "output_per_mtok_micro_usd": N}, ...}
	 */
	const char *prices_json;
	const char *const *sensitive; /* globs; NULL: the defaults */
	size_t nsensitive;
	size_t top; /* length of the top-N lists (paths, failing commands); 0: 20 */
	int verify; /* 1: run atr_log_verify and report its verdict (O(log size)) */
	const atr_verify_opts *verify_opts; /* trusted keys and anchors for it; may be NULL */
} atr_report_opts;

typedef struct atr_report atr_report;

/*
 * Compute the report of 'opts' from 'log'. Reads the records whose ts falls
 * in the period (bounded by the store's batch time ranges), plus the
 * approval requests and resolutions before the period's end. '*out' is the
 * caller's, to release with atr_report_free(); NULL on failure. A bad date
 * or price table is ATR_EINVALID with a message naming what is wrong.
 */
ATR_EXTERN int atr_report_build(atr_log *log, const atr_report_opts *opts, atr_report **out);

ATR_EXTERN void atr_report_free(atr_report *r);

/* The period's label ("2026-03-30" or "2026-W14"); borrowed for the report's lifetime. */
ATR_EXTERN const char *atr_report_label(const atr_report *r);

/* The period's bounds, microseconds since the epoch: [start, end). */
ATR_EXTERN void atr_report_bounds(const atr_report *r, int64_t *start_us, int64_t *end_us);

/*
 * Render the report. '*out' (NUL-terminated) is the caller's, to release
 * with atr_free(). json: one object, keys as in docs/reports.md, ending in a
 * newline. markdown: tables. html: one self-contained page (inline CSS and
 * SVG, no script, nothing fetched), every event-derived text escaped.
 */
ATR_EXTERN int atr_report_json(const atr_report *r, char **out);
ATR_EXTERN int atr_report_markdown(const atr_report *r, char **out);
ATR_EXTERN int atr_report_html(const atr_report *r, char **out);

#ifdef __cplusplus
}
#endif
#endif
