/*
 * What the log's modules (log.c, record.c, verify.c, ingest.c) share: the
 * log struct and the group-commit entry point.
 */
#ifndef ATR_LOGPRIV_H
#define ATR_LOGPRIV_H

#include <pthread.h>

#include <agentrail/log.h>
#include <agentrail/redact.h>
#include <agentrail/sys/store.h>

#include "merkle.h"

struct atr_log {
	atr_store *st;
	int edge_valid; /* 'edge' matches the store's tree at edge.st.size */
	atr__tree_edge edge;
	/*
	 * Masking at ingest (log_redact.c): built on the first append, or by
	 * atr_log_set_redaction(), with the store's own salt. 'redact_set':
	 * 'redactor' was made (NULL: redaction is off).
	 */
	pthread_mutex_t redact_mu;
	int redact_set;
	atr_redactor *redactor;
};

/*
 * The redactor of 'log' for an append, made on first use (built-in
 * detectors and AGENTRAIL_REDACT_* unless atr_log_set_redaction() said
 * otherwise). '*out' is borrowed until atr_log_free(); NULL when off.
 */
int atr__log_redactor(atr_log *log, const atr_redactor **out);

/* Release what atr__log_redactor() made (for atr_log_free). */
void atr__log_redaction_free(atr_log *log);

/*
 * One request of a group commit: an atomic batch whose fate is its own.
 * 'rc' and 'msg' say why it was refused (0 when it was appended).
 */
struct atr__group {
	const char *const *jsons;
	const size_t *lens; /* NULL: NUL-terminated texts */
	size_t n;
	atr_append_result *results; /* n entries, or NULL */
	size_t appended;            /* events appended (re-sends are not) */
	int rc;
	char msg[512];
};

/*
 * Append several requests in one transaction and one fsync. A request with
 * a bad event or a conflicting id is refused alone; the others commit.
 * Returns 0, or the status of a failure that refused them all (store error),
 * which is then also every group's 'rc'.
 */
int atr__log_append_groups(atr_log *log, struct atr__group *groups, size_t ng);

#endif
