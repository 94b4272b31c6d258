/*
 * The log: open a store by URI, append events, read them back by position
 * or id, and ask the Merkle tree for roots and proofs.
 */
#ifndef AGENTRAIL_LOG_H
#define AGENTRAIL_LOG_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct atr_log atr_log;
typedef struct atr_record atr_record;

enum atr_open_flag {
	ATR_OPEN_READONLY = 1 << 0, /* never write; fail if the store does not exist */
	ATR_OPEN_NOCREATE = 1 << 1  /* fail with ATR_ENOTFOUND instead of creating a new store */
};

/*
 * The default store URI: $AGENTRAIL_STORE if set, else
 * $XDG_DATA_HOME/agentrail/agentrail.db, else ~/.local/share/agentrail/agentrail.db.
 * '*out' is the caller's, to release with atr_free().
 */
ATR_EXTERN int atr_store_default_uri(char **out);

/*
 * Open the log at 'uri': a path, "sqlite:PATH" or "file:PATH". NULL means
 * atr_store_default_uri(). A new store (and its parent directory) is created
 * unless 'flags' says otherwise. On success '*out' is the caller's, to release
 * with atr_log_free(); on failure it is NULL.
 * Several processes may open the same store; appends are serialized by the
 * store's write lock and each sees the others' records.
 */
ATR_EXTERN int atr_log_open(atr_log **out, const char *uri, unsigned flags);

/* Close the log and release it. NULL is a no-op. */
ATR_EXTERN void atr_log_free(atr_log *log);

/*
 * Mask secrets at ingest (docs/redaction.md). Every log opened for writing
 * masks them: unless this is called, its first append makes a redactor of
 * the built-in detectors plus what AGENTRAIL_REDACT_PATTERNS, _FIELDS and
 * _DISABLE say. This replaces that with 'cfg' (NULL: the built-ins alone);
 * its salt is ignored, the store's own is used (32 random bytes kept in the
 * store on first use, never exported), so markers compare across runs.
 * Every built-in disabled and no pattern nor field: redaction is off.
 * 'cfg' is copied. ATR_EINVALID for a bad configuration; a read-only log
 * cannot keep the salt. Not to be called while appends run on 'log'.
 */
struct atr_redact_config;
ATR_EXTERN int atr_log_set_redaction(atr_log *log, const struct atr_redact_config *cfg);

/* What an append did with one event. */
typedef struct atr_append_result {
	uint64_t seq;      /* the record's position (its Merkle leaf index) */
	int duplicate;     /* 1: the same event was already in the log at 'seq'; nothing appended */
	char event_id[37]; /* the event's id, assigned if the input had none */
	atr_hash leaf_hash; /* the record's Merkle leaf hash (of the original, for a re-send) */
} atr_append_result;

/*
 * Append one event given as JSON text (DESIGN.md §2). Returns once the record
 * is durable. Re-sending an event whose event_id is already in the log with
 * identical content answers the original seq with 'duplicate' set; the same id
 * with different content is ATR_ECONFLICT. Validation failures are
 * ATR_EINVALID or ATR_ETOOBIG with a message naming the field.
 * 'out' may be NULL.
 */
ATR_EXTERN int atr_log_append(atr_log *log, const char *json, size_t len, atr_append_result *out);

/*
 * Append 'n' events atomically: all are durable together, or none is appended
 * and the message names the first bad item ("event 3: ..."). 'lens' may be
 * NULL when every text is NUL-terminated. 'results' (n entries) may be NULL.
 */
ATR_EXTERN int atr_log_append_batch(atr_log *log, const char *const *jsons, const size_t *lens,
                                    size_t n, atr_append_result *results);

/* The number of records (the tree size) as of now. */
ATR_EXTERN int atr_log_size(atr_log *log, uint64_t *size);

/* Read one record. '*out' is the caller's, to release with atr_record_free(). */
ATR_EXTERN int atr_log_get(atr_log *log, uint64_t seq, atr_record **out);
ATR_EXTERN int atr_log_get_by_id(atr_log *log, const char *event_id, atr_record **out);

/* The RFC 6962 root of the first 'size' records (size <= atr_log_size). */
ATR_EXTERN int atr_log_root(atr_log *log, uint64_t size, atr_hash *root);

/* The leaf hash of record 'seq', as stored in the tree. */
ATR_EXTERN int atr_log_leaf_hash(atr_log *log, uint64_t seq, atr_hash *out);

/*
 * RFC 6962 proofs, hashes leaf-side first. '*path' is the caller's, to release
 * with atr_free(); '*n' is its length (possibly 0, with '*path' NULL).
 * Each costs O(log size) store reads.
 */
ATR_EXTERN int atr_log_inclusion_proof(atr_log *log, uint64_t seq, uint64_t size, atr_hash **path,
                                       size_t *n);
ATR_EXTERN int atr_log_consistency_proof(atr_log *log, uint64_t old_size, uint64_t new_size,
                                         atr_hash **path, size_t *n);

#ifdef __cplusplus
}
#endif
#endif
