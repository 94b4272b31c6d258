/*
 * What proof bundles (bundle.c) and evidence bundles (evidence.c) share:
 * checking a checkpoint against the log, and making and checking one
 * proven record entry {"seq","record","leaf_hash","audit_path","detail",
 * "salt"} against a signed checkpoint.
 */
#ifndef ATR_BUNDLEPRIV_H
#define ATR_BUNDLEPRIV_H

#include <jansson.h>

#include <agentrail/checkpoint.h>
#include <agentrail/log.h>

#define ATR__BUNDLE_MAX_PATH 64 /* an audit path of a tree of at most 2^64 leaves */

/*
 * Parse 'note' into 'cp' and check that the log's root at its size is the
 * one signed (ATR_ETAMPER otherwise): a bundle we hand out must verify.
 */
int atr__bundle_checkpoint(atr_log *log, const char *note, size_t len, atr_checkpoint *cp);

/*
 * A growing JSON text. Bundles are written as text rather than dumped from
 * a jansson tree: an evidence bundle holds every record of a job, and
 * building and dumping that tree cost most of the time of a request.
 * 'failed' is set (and further adds ignored) when memory runs out. The
 * approvals list (jobs.c) writes its answer with it too.
 */
struct atr__text {
	char *s;
	size_t len, cap;
	int failed;
};
void atr__text_add(struct atr__text *t, const char *s, size_t n);
void atr__text_adds(struct atr__text *t, const char *s);
void atr__text_u64(struct atr__text *t, uint64_t v);
/* 'n' bytes of UTF-8 as a JSON string, every non-ASCII character \u-escaped. */
void atr__text_str(struct atr__text *t, const char *s, size_t n);

/*
 * Write record 'rec''s proof against the tree of 'size' leaves as object
 * members (no braces, no leading comma): "record" (its exact bytes),
 * "leaf_hash", "audit_path" and, unless erased, "detail" and "salt".
 * 'reader' (may be NULL) is a proof reader from atr__bundle_reader_new(),
 * shared by the entries of one bundle so that the tiles and nodes they have
 * in common are read and hashed once.
 */
struct atr__bundle_reader;
int atr__bundle_reader_new(atr_log *log, uint64_t size, struct atr__bundle_reader **out);
void atr__bundle_reader_free(struct atr__bundle_reader *r);
int atr__bundle_put_entry(atr_log *log, struct atr__bundle_reader *reader, const atr_record *rec,
                          uint64_t size, struct atr__text *t);

/* Parse a bundle's text into '*out' (the caller's); ATR_EINVALID, saying where, if not JSON. */
int atr__bundle_parse(const char *json, size_t len, json_t **out);

/*
 * Check entry 'o' against the signed checkpoint 'cp': the record's bytes
 * hash to its leaf_hash, it carries seq 'seq', the audit path leads to the
 * signed root, and the payload (when present) matches detail_commit.
 * '*payload' says whether a payload was present. ATR_EINVALID when the entry
 * is malformed, ATR_ETAMPER (the message says what) when a check fails.
 */
int atr__bundle_check_entry(json_t *o, uint64_t seq, const atr_checkpoint *cp, int *payload);

#endif
