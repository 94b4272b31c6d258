/*
 * Verification and export: stream the whole log (or an export file), check
 * every record against the tree and every payload against its commitment,
 * and report each finding.
 */
#ifndef AGENTRAIL_VERIFY_H
#define AGENTRAIL_VERIFY_H

#include <stdio.h>

#include "checkpoint.h"
#include "log.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Overall results, in DESIGN.md §3 terms. */
typedef enum atr_verify_status {
	ATR_VERIFY_OK = 0,     /* consistent and anchored by a trusted checkpoint */
	ATR_VERIFY_TAMPERED,   /* a record or payload changed, missing, inserted or reordered */
	ATR_VERIFY_TRUNCATED,  /* fewer records than a checkpoint vouches for */
	ATR_VERIFY_FORKED,     /* two incompatible trees */
	ATR_VERIFY_UNANCHORED, /* consistent, but nothing outside the operator vouches for it */
	ATR_VERIFY_ERROR       /* the check itself could not run */
} atr_verify_status;

/* What one finding is about. */
typedef enum atr_finding_kind {
	ATR_FINDING_RECORD_CHANGED = 1,  /* record bytes do not hash to the stored leaf */
	ATR_FINDING_PAYLOAD_CHANGED,     /* detail does not match the record's detail_commit */
	ATR_FINDING_PAYLOAD_ERASED,      /* payload deleted: reported, not tampering */
	ATR_FINDING_MISSING,             /* a seq with no record */
	ATR_FINDING_REORDERED,           /* a record stored at another position than its seq */
	ATR_FINDING_MALFORMED,           /* record bytes are not a well-formed record */
	ATR_FINDING_TREE_MISMATCH,       /* stored tree hashes disagree with the records */
	ATR_FINDING_TRUNCATED,           /* the log ends before its recorded or signed size */
	ATR_FINDING_CHECKPOINT_MISMATCH, /* records changed under a signed checkpoint */
	ATR_FINDING_BAD_SIGNATURE,       /* a checkpoint not validly signed by a trusted key */
	ATR_FINDING_FORK,                /* two signed checkpoints that cannot both hold */
	ATR_FINDING_UNANCHORED,          /* records after the newest trusted checkpoint */
	ATR_FINDING_PRUNED /* records below the pruned prefix were removed by retention: reported,
	                      not tampering (also: a checkpoint inside it an export cannot check) */
} atr_finding_kind;

typedef struct atr_finding {
	atr_finding_kind kind;
	int has_seq; /* 1 when 'seq' names the (first) record concerned */
	uint64_t seq;
	const char *message; /* one line, borrowed for the callback's duration */
	uint64_t seq_last;   /* with has_seq: the last record concerned (== seq for one record) */
	uint64_t size;       /* checkpoint findings: the checkpoint's tree size, else 0 */
} atr_finding;

/*
 * What to check beyond the log's own consistency. Trusted keys check the
 * signature of every checkpoint (stored with the log or in the export, and
 * every anchor); anchors are checkpoint notes the auditor kept, which the
 * log must still contain exactly.
 */
typedef struct atr_verify_opts {
	const atr_verifier *const *keys; /* trusted verifier keys */
	size_t nkeys;
	const char *const *anchors; /* signed checkpoint notes, NUL-terminated */
	size_t nanchors;
	/*
	 * Called from the verifying thread every 65,536 records read, with
	 * the count so far (for a progress display); NULL: not called.
	 */
	void (*progress)(void *ctx, uint64_t records);
	void *progress_ctx;
} atr_verify_opts;

typedef void (*atr_finding_fn)(void *ctx, const atr_finding *f);

typedef struct atr_verify_result {
	atr_verify_status status;
	uint64_t records; /* records read */
	uint64_t bytes;   /* record and payload bytes hashed */
	uint64_t erased;  /* payloads found erased */
	uint64_t size;    /* tree size that was checked */
	atr_hash root;    /* root recomputed from the records */
	int has_bad_seq;
	uint64_t first_bad_seq; /* the first record found tampered */
	uint64_t findings;      /* findings reported (erasures included) */
	uint64_t checkpoints;   /* signed checkpoints checked (stored and anchors) */
	uint64_t anchored_size; /* records covered by a trusted checkpoint that holds */
	uint64_t pruned;        /* records 0 .. pruned-1 were pruned (retention); 0: none */
	uint64_t erased_ranges; /* the seq ranges the erased payloads form (one finding each) */
} atr_verify_result;

/*
 * Verify the whole log: contiguous seq, every leaf against the stored tree,
 * every payload against its commitment, the stored tree hashes and root
 * against the records, and every stored checkpoint and anchor in 'opts'
 * (may be NULL) against the records' root at its size. O(n) hashing, O(log n)
 * memory plus 64 bytes per checkpoint. A pruned prefix (docs/retention.md)
 * is checked from the stored leaf hashes, which stay, and reported once
 * (ATR_FINDING_PRUNED); erased payloads are reported as one finding per
 * range of consecutive seqs. 'fn' (may be NULL) is called for each
 * finding. Returns 0 when the check ran (the verdict is in 'out->status'), or
 * a negative status when it could not (a malformed anchor is ATR_EINVALID).
 *
 * The verdict: TAMPERED (a record, payload, tree hash or signature is
 * wrong), FORKED (two signed checkpoints disagree), TRUNCATED (fewer records
 * than signed), OK (every record is covered by a checkpoint signed by a
 * trusted key), else UNANCHORED.
 */
ATR_EXTERN int atr_log_verify(atr_log *log, const atr_verify_opts *opts, atr_finding_fn fn,
                              void *ctx, atr_verify_result *out);

/*
 * Write the whole log to 'out' as JSONL in the export format: for a pruned
 * log first {"pruned":{"below":B,"edge":[[HEIGHT,"<hex>"],...]}}, the
 * complete subtrees left of B, left to right, that every root from B on
 * needs; then one line {"checkpoint":"<signed note>"} per stored checkpoint
 * (of size at least B), then one line per
 * record, {"record":<bytes verbatim>,"leaf_hash":"<hex>","detail":{...},"salt":"<hex>"}
 * (detail and salt absent when erased), then one last line
 * {"tree_head":{"size":N,"root_hash":"<hex>"}}. Checks fflush/ferror: a full
 * disk is an error, never a short export reported as success.
 */
ATR_EXTERN int atr_log_export(atr_log *log, FILE *out, uint64_t *records);

/* Verify an export file (path, or "-" for stdin) on its own, with no store; as atr_log_verify. */
ATR_EXTERN int atr_export_verify(const char *path, const atr_verify_opts *opts, atr_finding_fn fn,
                                 void *ctx, atr_verify_result *out);

/* "OK", "TAMPERED", ... */
ATR_EXTERN const char *atr_verify_status_name(atr_verify_status s);

/* "record_changed", "payload_erased", "pruned", ...; "unknown" for anything else. */
ATR_EXTERN const char *atr_finding_kind_name(atr_finding_kind k);

#ifdef __cplusplus
}
#endif
#endif
