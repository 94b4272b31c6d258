/*
 * Copying a log from one store to another (SQLite to PostgreSQL and back):
 * `agentrail migrate`, docs/postgres.md.
 */
#ifndef AGENTRAIL_MIGRATE_H
#define AGENTRAIL_MIGRATE_H

#include "checkpoint.h"
#include "log.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct atr_migrate_opts {
	/*
	 * Verifier keys: with any, every source checkpoint signed by one of
	 * them must verify, and at least one must be signed by one of them.
	 */
	const atr_verifier *const *keys;
	size_t nkeys;
	/* Called after each committed part of the copy (may be NULL). */
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *ctx;
} atr_migrate_opts;

typedef struct atr_migrate_result {
	uint64_t records;     /* records copied: the copy's tree size */
	uint64_t erased;      /* of them, records whose payload had been erased */
	uint64_t checkpoints; /* checkpoints copied, each matching the copy's root */
	uint64_t signed_ok;   /* of them, checkpoints whose signature a key verified */
	atr_hash root;        /* the copy's root, equal to the source's at that size */
} atr_migrate_result;

/*
 * Copy the log 'from' into the empty log 'to', record by record: each
 * record's bytes, payload and salt verbatim, the tree's tiles recomputed
 * from them, the metadata (the redaction salt) and every signed checkpoint.
 * The copy's root must equal the source's, and each checkpoint must match
 * the copy's root at its size (ATR_ETAMPER otherwise). Records appended to
 * 'from' while it runs are not copied. Refused with ATR_EEXISTS when 'to'
 * holds anything, and with ATR_EUNSUPPORTED when 'from' was pruned (its
 * first records are gone, and a copy starts at seq 0).
 */
ATR_EXTERN int atr_log_migrate(atr_log *from, atr_log *to, const atr_migrate_opts *opts,
                               atr_migrate_result *out);

#ifdef __cplusplus
}
#endif
#endif
