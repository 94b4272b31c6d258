/*
 * What the log's modules (log.c, record.c, verify.c) share: the log and
 * record structs and the tile reader over a store.
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

struct atr_record {
	uint64_t seq;
	char *bytes;
	size_t len;
	char *detail; /* NULL when erased */
	size_t detail_len;
	uint8_t salt[32];
	int has_salt;
	void *obj;  /* the parsed record (json_t *), made on first field access */
	size_t cap; /* bytes allocated at 'bytes' (cursors reuse it) */
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

/* atr__tile_fn over an atr_store passed as 'ctx'. */
int atr__log_tile(void *ctx, unsigned level, uint64_t index, atr_hash *hashes, unsigned *width);

/* Copy a store row into 'rec' (reusing its buffer), dropping any parsed fields. */
int atr__record_fill(struct atr_record *rec, const atr_store_row *row);
/* Release what 'rec' holds, not 'rec' itself. */
void atr__record_clear(struct atr_record *rec);

#endif
