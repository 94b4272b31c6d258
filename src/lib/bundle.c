/*
 * Proof bundles for one record: made from the log against a signed
 * checkpoint, and checked offline with only the verifier key (bundle.h).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <agentrail/bundle.h>
#include <agentrail/proof.h>
#include <agentrail/record.h>

#include "internal.h"
#include "jscan.h"

#define BUNDLE_VERSION 1
#define MAX_PATH       64 /* an audit path of a tree of at most 2^64 leaves */

int atr_log_proof_bundle(atr_log *log, uint64_t seq, const char *note, size_t note_len, char **json)
{
	atr_checkpoint cp;
	atr_record *rec = NULL;
	atr_hash root, leaf, *path = NULL;
	json_t *o = NULL, *arr;
	const char *bytes, *detail, *eid;
	const uint8_t *salt;
	size_t blen, dlen, n = 0;
	char hex[65], rhex[65];
	int rc;

	*json = NULL;
	if ((rc = atr_checkpoint_parse(note, note_len, &cp)) < 0)
		return rc;
	if (seq >= cp.size)
		return atr__err(ATR_EINVALID,
		                "the checkpoint covers records 0 to %llu; record %llu is not in it",
		                (unsigned long long)cp.size - (cp.size > 0),
		                (unsigned long long)seq);
	if ((rc = atr_log_root(log, cp.size, &root)) < 0)
		return rc;
	if (memcmp(root.b, cp.root.b, 32) != 0) {
		atr_hash_hex(&root, hex);
		atr_hash_hex(&cp.root, rhex);
		return atr__err(
		    ATR_ETAMPER,
		    "the log's root at size %llu is %s, not the %s the checkpoint signed",
		    (unsigned long long)cp.size, hex, rhex);
	}
	if ((rc = atr_log_get(log, seq, &rec)) < 0 ||
	    (rc = atr_log_inclusion_proof(log, seq, cp.size, &path, &n)) < 0)
		goto done;
	bytes = atr_record_bytes(rec, &blen);
	atr_leaf_hash(&leaf, bytes, blen);
	atr_hash_hex(&leaf, hex);
	eid = atr_record_str(rec, "event_id");
	o = json_pack("{s:i, s:I, s:s, s:s%, s:s, s:I, s:[], s:s%}", "agentrail_proof",
	              BUNDLE_VERSION, "seq", (json_int_t)seq, "event_id", eid ? eid : "", "record",
	              bytes, blen, "leaf_hash", hex, "tree_size", (json_int_t)cp.size, "audit_path",
	              "checkpoint", note, note_len);
	if (!o) {
		rc = atr__err(ATR_ENOMEM, "cannot build the proof bundle");
		goto done;
	}
	arr = json_object_get(o, "audit_path");
	for (size_t i = 0; i < n; i++) {
		atr_hash_hex(&path[i], hex);
		if (json_array_append_new(arr, json_string(hex)) != 0) {
			rc = atr__err(ATR_ENOMEM, "out of memory");
			goto done;
		}
	}
	detail = atr_record_detail(rec, &dlen);
	salt = atr_record_salt(rec);
	if (detail && salt) {
		atr__hex(hex, salt, 32);
		if (json_object_set_new(o, "detail", json_stringn(detail, dlen)) != 0 ||
		    json_object_set_new(o, "salt", json_string(hex)) != 0) {
			rc = atr__err(ATR_ENOMEM, "out of memory");
			goto done;
		}
	}
	if (!(*json = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII)))
		rc = atr__err(ATR_ENOMEM, "out of memory");
done:
	json_decref(o);
	atr_free(path);
	atr_record_free(rec);
	return rc;
}

/* A string member, or NULL; '*len' its length. */
static const char *member(json_t *o, const char *key, size_t *len)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v))
		return NULL;
	if (len)
		*len = json_string_length(v);
	return json_string_value(v);
}

static int member_u64(json_t *o, const char *key, uint64_t *out)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int check_bundle(json_t *o, const atr_verifier *key, atr_bundle_info *info)
{
	const char *rec, *note, *leafhex, *detail, *salthex, *commit, *eid;
	size_t rlen, nlen, dlen = 0, clen, elen;
	uint64_t seq, size, rseq;
	atr_hash leaf, want, path[MAX_PATH];
	json_t *arr = json_object_get(o, "audit_path");
	size_t n;
	int rc;

	if (!json_is_object(o) ||
	    json_integer_value(json_object_get(o, "agentrail_proof")) != BUNDLE_VERSION)
		return atr__err(ATR_EINVALID, "not an agentrail proof bundle (version %d)",
		                BUNDLE_VERSION);
	if (!(rec = member(o, "record", &rlen)) || !(note = member(o, "checkpoint", &nlen)) ||
	    !(leafhex = member(o, "leaf_hash", NULL)) || member_u64(o, "seq", &seq) < 0 ||
	    member_u64(o, "tree_size", &size) < 0 || !json_is_array(arr))
		return atr__err(ATR_EINVALID,
		                "the bundle lacks one of record, checkpoint, leaf_hash, "
		                "seq, tree_size, audit_path");
	if ((n = json_array_size(arr)) > MAX_PATH)
		return atr__err(ATR_EINVALID, "the audit path has %zu hashes; at most %d", n,
		                MAX_PATH);
	for (size_t i = 0; i < n; i++) {
		const char *h = json_string_value(json_array_get(arr, i));

		if (!h || atr_hash_parse(&path[i], h) < 0)
			return atr__err(ATR_EINVALID,
			                "audit path entry %zu is not a 64-digit hex hash", i);
	}
	if (atr_hash_parse(&want, leafhex) < 0)
		return atr__err(ATR_EINVALID, "leaf_hash is not a 64-digit hex hash");
	/* The signature first: nothing else means anything without it. */
	if ((rc = atr_checkpoint_open(note, nlen, key, &info->checkpoint)) < 0)
		return rc == ATR_EINVALID ? rc : atr__err_prefix(ATR_ETAMPER, "checkpoint");
	if (info->checkpoint.size != size)
		return atr__err(
		    ATR_ETAMPER, "the bundle says tree size %llu but its checkpoint signs %llu",
		    (unsigned long long)size, (unsigned long long)info->checkpoint.size);
	atr_leaf_hash(&leaf, rec, rlen);
	if (memcmp(leaf.b, want.b, 32) != 0)
		return atr__err(ATR_ETAMPER,
		                "the record's bytes do not hash to the bundle's leaf_hash: "
		                "the record was changed");
	if (atr__json_member_u64(rec, rlen, "seq", &rseq) != 0 || rseq != seq)
		return atr__err(ATR_ETAMPER, "the record does not carry seq %llu",
		                (unsigned long long)seq);
	rc = atr_verify_inclusion(&leaf, seq, size, path, n, &info->checkpoint.root);
	if (rc == ATR_ETAMPER)
		return atr__err(ATR_ETAMPER,
		                "the audit path does not lead from record %llu to the "
		                "signed root of size %llu",
		                (unsigned long long)seq, (unsigned long long)size);
	if (rc < 0)
		return rc;
	info->seq = seq;
	info->payload = 0;
	if ((eid = member(o, "event_id", &elen)) && elen < sizeof(info->event_id))
		memcpy(info->event_id, eid, elen + 1);
	detail = member(o, "detail", &dlen);
	salthex = member(o, "salt", NULL);
	if (detail || salthex) {
		uint8_t salt[32], got[32];
		char hex[65];

		if (!detail || !salthex || atr__unhex(salt, 32, salthex) < 0)
			return atr__err(ATR_EINVALID,
			                "the bundle's detail needs a 64-digit hex salt");
		if (atr__json_member_str(rec, rlen, "detail_commit", &commit, &clen) != 0 ||
		    clen != 64)
			return atr__err(ATR_ETAMPER, "the record has no detail_commit");
		atr__sha256(got, salt, 32, detail, dlen, NULL, 0);
		atr__hex(hex, got, 32);
		if (memcmp(hex, commit, 64) != 0)
			return atr__err(ATR_ETAMPER, "the payload does not match the record's "
			                             "detail_commit: the payload was changed");
		info->payload = 1;
	}
	return 0;
}

int atr_proof_bundle_verify(const char *json, size_t len, const atr_verifier *key,
                            atr_bundle_info *out)
{
	atr_bundle_info info;
	json_error_t err;
	json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
	int rc;

	memset(&info, 0, sizeof(info));
	if (!o)
		return atr__err(ATR_EINVALID, "the bundle is not JSON: %s at byte %d", err.text,
		                err.position);
	rc = check_bundle(o, key, &info);
	json_decref(o);
	if (rc == 0 && out)
		*out = info;
	return rc;
}
