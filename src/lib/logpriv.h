/*
 * What the log's modules (log.c, record.c, verify.c, ingest.c) share: the
 * log struct and the group-commit entry point.
 */
#ifndef ATR_LOGPRIV_H
#define ATR_LOGPRIV_H

#include <agentrail/log.h>
#include <agentrail/sys/store.h>

#include "merkle.h"

struct atr_log {
	atr_store *st;
	int edge_valid; /* 'edge' matches the store's tree at edge.st.size */
	atr__tree_edge edge;
};

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
