/*
 * A stored record: the canonical bytes that are the Merkle leaf, the detail
 * payload kept beside it (unless erased) and typed access to its fields.
 */
#ifndef AGENTRAIL_RECORD_H
#define AGENTRAIL_RECORD_H

#include "log.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Release a record from atr_log_get*(). NULL is a no-op. */
ATR_EXTERN void atr_record_free(atr_record *rec);

ATR_EXTERN uint64_t atr_record_seq(const atr_record *rec);

/* The canonical record bytes (the Merkle leaf), not NUL-terminated. Borrowed: valid while 'rec'
 * lives. */
ATR_EXTERN const char *atr_record_bytes(const atr_record *rec, size_t *len);

/* The canonical detail JSON, or NULL when the payload was erased. Borrowed. */
ATR_EXTERN const char *atr_record_detail(const atr_record *rec, size_t *len);

/* The 32-byte detail salt, or NULL when erased. Borrowed. */
ATR_EXTERN const uint8_t *atr_record_salt(const atr_record *rec);

/*
 * A string field of the record by dotted name ("actor", "type",
 * "policy.rule_id"), or NULL when absent or not a string. Borrowed: valid while
 * 'rec' lives.
 */
ATR_EXTERN const char *atr_record_str(const atr_record *rec, const char *field);

/* An integer field by dotted name ("exit_code", "usage.input_tokens"); ATR_ENOTFOUND if absent. */
ATR_EXTERN int atr_record_int(const atr_record *rec, const char *field, int64_t *out);

/*
 * The record as one JSON object: the record fields plus "detail" (absent when
 * erased). '*out' is the caller's, to release with atr_free().
 */
ATR_EXTERN int atr_record_to_json(const atr_record *rec, char **out);

#ifdef __cplusplus
}
#endif
#endif
