/*
 * Proof bundles: everything an auditor needs to check, offline and with
 * only the log's public key, that one record is in the log: the record's
 * exact bytes (and its payload, when not erased), its leaf index, the RFC
 * 6962 audit path, and the signed checkpoint the path leads to.
 *
 *   {"agentrail_proof":1,"seq":N,"event_id":"...","record":"<exact bytes>",
 *    "leaf_hash":"<hex>","tree_size":S,"audit_path":["<hex>",...],
 *    "checkpoint":"<signed note>","detail":"<exact bytes>","salt":"<hex>"}
 *
 * Byte strings travel as JSON strings, which every JSON parser gives back
 * exactly, so any language can recompute the hashes.
 */
#ifndef AGENTRAIL_BUNDLE_H
#define AGENTRAIL_BUNDLE_H

#include "checkpoint.h"
#include "log.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Make the proof bundle of record 'seq' against the signed checkpoint 'note'
 * (any checkpoint of this log whose size covers 'seq'). Refused with
 * ATR_ETAMPER when the log's root at the checkpoint's size is not the one
 * signed. '*json' (one line, no newline) is the caller's to atr_free().
 */
ATR_EXTERN int atr_log_proof_bundle(atr_log *log, uint64_t seq, const char *note, size_t note_len,
                                    char **json);

/* What a checked bundle proves. */
typedef struct atr_bundle_info {
	uint64_t seq;
	char event_id[37];
	int payload; /* 1: the payload was present and matches its commitment; 0: erased */
	atr_checkpoint checkpoint;
} atr_bundle_info;

/*
 * Check a proof bundle with the log's verifier key, needing nothing else:
 * 0 when it holds ('out' filled), ATR_EINVALID when it is malformed,
 * ATR_ETAMPER (the message says what does not hold: the record's hash, the
 * path, the payload, the signature) otherwise. 'out' may be NULL.
 */
ATR_EXTERN int atr_proof_bundle_verify(const char *json, size_t len, const atr_verifier *key,
                                       atr_bundle_info *out);

#ifdef __cplusplus
}
#endif
#endif
