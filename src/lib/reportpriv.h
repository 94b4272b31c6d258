/*
 * What report.c and report_html.c share, and the pure arithmetic the unit
 * tests check on its own: calendar days, ISO weeks, percentiles, durations.
 */
#ifndef ATR_REPORTPRIV_H
#define ATR_REPORTPRIV_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <agentrail/report.h>

#include "internal.h"

#define ATR__US_PER_DAY  (INT64_C(86400) * 1000000)
#define ATR__US_PER_HOUR (INT64_C(3600) * 1000000)

struct atr_report {
	json_t *doc; /* the whole report, as atr_report_json prints it */
	char label[16];
	int64_t start_us, end_us;
};

/* Calendar days to and from dates: atr__days_from_civil and atr__civil_from_days (internal.h). */

/* 0 for Monday .. 6 for Sunday. */
int atr__weekday(int64_t days);

/* The ISO 8601 week-numbering year and week (1..53) of a day. */
void atr__iso_week(int64_t days, int64_t *iso_year, int *week);

/*
 * The nearest-rank percentile 'p' (1..100) of 'n' sorted values: the value
 * at 1-based rank ceil(p * n / 100). 'n' must be at least 1.
 */
int64_t atr__percentile(const int64_t *sorted, size_t n, unsigned p);

/* A duration for people: "0s", "45s", "4m 12s", "2h 05m", "3d 04h". */
void atr__duration_text(int64_t us, char *out, size_t cap);

/* The approval latency histogram: bucket upper bounds in microseconds (the last is open). */
#define ATR__LATENCY_BUCKETS 7
extern const int64_t atr__latency_upper_us[ATR__LATENCY_BUCKETS - 1];
extern const char *const atr__latency_label[ATR__LATENCY_BUCKETS];

/* A growing text buffer; 'oom' is set by the first failed append, which later ones skip. */
struct atr__sbuf {
	char *p;
	size_t len, cap;
	int oom;
};

void atr__sb_add(struct atr__sbuf *b, const char *s, size_t n);
void atr__sb_puts(struct atr__sbuf *b, const char *s);
void atr__sb_printf(struct atr__sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Hand the text over as '*out' (the caller's, atr_free), or fail with ATR_ENOMEM. */
int atr__sb_finish(struct atr__sbuf *b, char **out);

/* Report document access: an integer by dotted path (0 when absent), an object member. */
int64_t atr__doc_int(const json_t *doc, const char *path);
const json_t *atr__doc_get(const json_t *doc, const char *path);

/* Micro-dollars as dollars for people: "$12.345678". */
void atr__money_text(int64_t micro_usd, char *out, size_t cap);

/*
 * Where a cost figure of a token row comes from, for people: "recorded",
 * "computed from prices", "recorded + computed", with ", N calls unpriced",
 * or "unknown" when no call had a cost.
 */
void atr__cost_source(const json_t *row, char *out, size_t cap);

#endif
