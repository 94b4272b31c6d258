/*
 * Proof bundles for one record: made from the log against a signed
 * checkpoint, and checked offline with only the verifier key (bundle.h).
 * The proven-record entry they are made of is shared with evidence
 * bundles (evidence.c) through bundlepriv.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <agentrail/bundle.h>
#include <agentrail/proof.h>
#include <agentrail/record.h>

#include "bundlepriv.h"
#include "internal.h"
#include "jscan.h"
#include "logpriv.h"
#include "merkle.h"

#define BUNDLE_VERSION 1
#define MAX_PATH       ATR__BUNDLE_MAX_PATH

/* ------------------------------------------------------------ shared entries */

int atr__bundle_checkpoint(atr_log *log, const char *note, size_t len, atr_checkpoint *cp)
{
	atr_hash root;
	char hex[65], rhex[65];
	int rc;

	if ((rc = atr_checkpoint_parse(note, len, cp)) < 0)
		return rc;
	if ((rc = atr_log_root(log, cp->size, &root)) < 0)
		return rc;
	if (memcmp(root.b, cp->root.b, 32) != 0) {
		atr_hash_hex(&root, hex);
		atr_hash_hex(&cp->root, rhex);
		return atr__err(
		    ATR_ETAMPER,
		    "the log's root at size %llu is %s, not the %s the checkpoint signed",
		    (unsigned long long)cp->size, hex, rhex);
	}
	return 0;
}

/* A tree reader over the log's tiles, kept across the entries of one bundle. */
struct atr__bundle_reader {
	atr__tree_reader *tree;
};

static int store_tile(void *ctx, unsigned level, uint64_t index, atr_hash *hashes, unsigned *width)
{
	atr_store *st = ctx;

	return st->get_tile(st, level, index, hashes, width);
}

int atr__bundle_reader_new(atr_log *log, uint64_t size, struct atr__bundle_reader **out)
{
	struct atr__bundle_reader *r;
	uint64_t have;
	int rc;

	*out = NULL;
	if ((rc = atr_log_size(log, &have)) < 0)
		return rc;
	if (size > have)
		return atr__err(ATR_EINVALID, "size %llu is beyond the log's size %llu",
		                (unsigned long long)size, (unsigned long long)have);
	if (!(r = malloc(sizeof(*r))))
		return atr__err(ATR_ENOMEM, "out of memory");
	if ((rc = atr__tree_reader_new(&r->tree, store_tile, log->st)) < 0) {
		free(r);
		return rc;
	}
	*out = r;
	return 0;
}

void atr__bundle_reader_free(struct atr__bundle_reader *r)
{
	if (!r)
		return;
	atr__tree_reader_free(r->tree);
	free(r);
}

/* ------------------------------------------------------------ text */

void atr__text_add(struct atr__text *t, const char *s, size_t n)
{
	if (t->failed || n == 0)
		return;
	if (t->cap - t->len < n + 1) {
		size_t cap = t->cap ? t->cap : 4096;
		char *p;

		while (cap - t->len < n + 1)
			cap *= 2;
		if (!(p = realloc(t->s, cap))) {
			t->failed = 1;
			return;
		}
		t->s = p;
		t->cap = cap;
	}
	memcpy(t->s + t->len, s, n);
	t->len += n;
	t->s[t->len] = '\0';
}

void atr__text_adds(struct atr__text *t, const char *s)
{
	atr__text_add(t, s, strlen(s));
}

void atr__text_u64(struct atr__text *t, uint64_t v)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);

	atr__text_add(t, buf, (size_t)n);
}

/* The code point of the UTF-8 sequence at 's' (of 'n' bytes left) and its length; 0xFFFD, 1 if bad.
 */
static uint32_t utf8_next(const unsigned char *s, size_t n, size_t *len)
{
	unsigned need = s[0] >= 0xf0 ? 3 : s[0] >= 0xe0 ? 2 : s[0] >= 0xc0 ? 1 : 0;
	uint32_t c = s[0] & (0x3f >> need);

	*len = 1;
	if (!need || need >= n)
		return 0xfffd;
	for (unsigned i = 1; i <= need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0xfffd;
		c = (c << 6) | (s[i] & 0x3f);
	}
	*len = need + 1;
	return c;
}

void atr__text_str(struct atr__text *t, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0;

	atr__text_add(t, "\"", 1);
	while (i < n) {
		unsigned char c = p[i];
		char esc[12];
		size_t elen = 0, used = 1;

		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			i++;
			run++;
			continue;
		}
		atr__text_add(t, s + i - run, run);
		run = 0;
		if (c == '"' || c == '\\' || c == '\n' || c == '\t' || c == '\r') {
			esc[0] = '\\';
			esc[1] = c == '\n' ? 'n' : c == '\t' ? 't' : c == '\r' ? 'r' : (char)c;
			elen = 2;
		} else {
			uint32_t cp = c < 0x80 ? c : utf8_next(p + i, n - i, &used);
			uint32_t units[2] = {cp, 0};
			int nu = 1;

			if (cp >= 0x10000) {
				units[0] = 0xd800 + ((cp - 0x10000) >> 10);
				units[1] = 0xdc00 + ((cp - 0x10000) & 0x3ff);
				nu = 2;
			}
			for (int u = 0; u < nu; u++) {
				esc[elen++] = '\\';
				esc[elen++] = 'u';
				for (int k = 12; k >= 0; k -= 4)
					esc[elen++] = hex[(units[u] >> k) & 0xf];
			}
		}
		atr__text_add(t, esc, elen);
		i += used;
	}
	atr__text_add(t, s + i - run, run);
	atr__text_add(t, "\"", 1);
}

int atr__bundle_put_entry(atr_log *log, struct atr__bundle_reader *reader, const atr_record *rec,
                          uint64_t size, struct atr__text *t)
{
	uint64_t seq = atr_record_seq(rec);
	atr_hash leaf, *path = NULL;
	const char *bytes, *detail;
	const uint8_t *salt;
	size_t blen, dlen, n = 0;
	char hex[65];
	int rc;

	rc = reader ? atr__tree_inclusion(reader->tree, seq, size, &path, &n)
	            : atr_log_inclusion_proof(log, seq, size, &path, &n);
	if (rc < 0)
		return rc;
	bytes = atr_record_bytes(rec, &blen);
	atr_leaf_hash(&leaf, bytes, blen);
	atr_hash_hex(&leaf, hex);
	atr__text_adds(t, "\"record\":");
	atr__text_str(t, bytes, blen);
	atr__text_adds(t, ",\"leaf_hash\":\"");
	atr__text_add(t, hex, 64);
	atr__text_adds(t, "\",\"audit_path\":[");
	for (size_t i = 0; i < n; i++) {
		atr_hash_hex(&path[i], hex);
		atr__text_add(t, i ? ",\"" : "\"", i ? 2 : 1);
		atr__text_add(t, hex, 64);
		atr__text_add(t, "\"", 1);
	}
	atr__text_add(t, "]", 1);
	detail = atr_record_detail(rec, &dlen);
	salt = atr_record_salt(rec);
	if (detail && salt) {
		atr__hex(hex, salt, 32);
		atr__text_adds(t, ",\"detail\":");
		atr__text_str(t, detail, dlen);
		atr__text_adds(t, ",\"salt\":\"");
		atr__text_add(t, hex, 64);
		atr__text_add(t, "\"", 1);
	}
	atr_free(path);
	return t->failed ? atr__err(ATR_ENOMEM, "out of memory") : 0;
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

int atr__bundle_check_entry(json_t *o, uint64_t seq, const atr_checkpoint *cp, int *payload)
{
	const char *rec, *leafhex, *detail, *salthex, *commit;
	size_t rlen, dlen = 0, clen;
	uint64_t rseq;
	atr_hash leaf, want, path[MAX_PATH];
	json_t *arr = json_object_get(o, "audit_path");
	size_t n;
	int rc;

	*payload = 0;
	if (!(rec = member(o, "record", &rlen)) || !(leafhex = member(o, "leaf_hash", NULL)) ||
	    !json_is_array(arr))
		return atr__err(ATR_EINVALID, "it lacks one of record, leaf_hash, audit_path");
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
	atr_leaf_hash(&leaf, rec, rlen);
	if (memcmp(leaf.b, want.b, 32) != 0)
		return atr__err(ATR_ETAMPER,
		                "the record's bytes do not hash to the bundle's leaf_hash: "
		                "the record was changed");
	if (atr__json_member_u64(rec, rlen, "seq", &rseq) != 0 || rseq != seq)
		return atr__err(ATR_ETAMPER, "the record does not carry seq %llu",
		                (unsigned long long)seq);
	rc = atr_verify_inclusion(&leaf, seq, cp->size, path, n, &cp->root);
	if (rc == ATR_ETAMPER)
		return atr__err(ATR_ETAMPER,
		                "the audit path does not lead from record %llu to the "
		                "signed root of size %llu",
		                (unsigned long long)seq, (unsigned long long)cp->size);
	if (rc < 0)
		return rc;
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
		*payload = 1;
	}
	return 0;
}

/* ------------------------------------------------------------ proof bundles */

int atr_log_proof_bundle(atr_log *log, uint64_t seq, const char *note, size_t note_len, char **json)
{
	struct atr__text t = {0};
	atr_checkpoint cp;
	atr_record *rec = NULL;
	const char *eid;
	int rc;

	*json = NULL;
	if ((rc = atr_checkpoint_parse(note, note_len, &cp)) < 0)
		return rc;
	if (seq >= cp.size)
		return atr__err(ATR_EINVALID,
		                "the checkpoint covers records 0 to %llu; record %llu is not in it",
		                (unsigned long long)cp.size - (cp.size > 0),
		                (unsigned long long)seq);
	if ((rc = atr__bundle_checkpoint(log, note, note_len, &cp)) < 0 ||
	    (rc = atr_log_get(log, seq, &rec)) < 0)
		goto done;
	eid = atr_record_str(rec, "event_id");
	atr__text_adds(&t, "{\"agentrail_proof\":1,\"seq\":");
	atr__text_u64(&t, seq);
	atr__text_adds(&t, ",\"event_id\":");
	atr__text_str(&t, eid ? eid : "", eid ? strlen(eid) : 0);
	atr__text_add(&t, ",", 1);
	if ((rc = atr__bundle_put_entry(log, NULL, rec, cp.size, &t)) < 0)
		goto done;
	atr__text_adds(&t, ",\"tree_size\":");
	atr__text_u64(&t, cp.size);
	atr__text_adds(&t, ",\"checkpoint\":");
	atr__text_str(&t, note, note_len);
	atr__text_add(&t, "}", 1);
	if (t.failed) {
		rc = atr__err(ATR_ENOMEM, "out of memory");
		goto done;
	}
	*json = t.s;
	t.s = NULL;
done:
	free(t.s);
	atr_record_free(rec);
	return rc;
}

static int check_bundle(json_t *o, const atr_verifier *key, atr_bundle_info *info)
{
	const char *note, *eid;
	size_t nlen, elen;
	uint64_t seq, size;
	int rc;

	if (!json_is_object(o) ||
	    json_integer_value(json_object_get(o, "agentrail_proof")) != BUNDLE_VERSION)
		return atr__err(ATR_EINVALID, "not an agentrail proof bundle (version %d)",
		                BUNDLE_VERSION);
	if (!member(o, "record", NULL) || !(note = member(o, "checkpoint", &nlen)) ||
	    !member(o, "leaf_hash", NULL) || member_u64(o, "seq", &seq) < 0 ||
	    member_u64(o, "tree_size", &size) < 0 ||
	    !json_is_array(json_object_get(o, "audit_path")))
		return atr__err(ATR_EINVALID,
		                "the bundle lacks one of record, checkpoint, leaf_hash, "
		                "seq, tree_size, audit_path");
	/* The signature first: nothing else means anything without it. */
	if ((rc = atr_checkpoint_open(note, nlen, key, &info->checkpoint)) < 0)
		return rc == ATR_EINVALID ? rc : atr__err_prefix(ATR_ETAMPER, "checkpoint");
	if (info->checkpoint.size != size)
		return atr__err(
		    ATR_ETAMPER, "the bundle says tree size %llu but its checkpoint signs %llu",
		    (unsigned long long)size, (unsigned long long)info->checkpoint.size);
	if ((rc = atr__bundle_check_entry(o, seq, &info->checkpoint, &info->payload)) < 0)
		return rc;
	info->seq = seq;
	if ((eid = member(o, "event_id", &elen)) && elen < sizeof(info->event_id))
		memcpy(info->event_id, eid, elen + 1);
	return 0;
}

int atr__bundle_parse(const char *json, size_t len, json_t **out)
{
	json_error_t err;

	if (!(*out = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err)))
		return atr__err(ATR_EINVALID, "the bundle is not JSON: %s at byte %d", err.text,
		                err.position);
	return 0;
}

int atr_proof_bundle_verify(const char *json, size_t len, const atr_verifier *key,
                            atr_bundle_info *out)
{
	atr_bundle_info info;
	json_t *o;
	int rc;

	memset(&info, 0, sizeof(info));
	if ((rc = atr__bundle_parse(json, len, &o)) != 0)
		return rc;
	rc = check_bundle(o, key, &info);
	json_decref(o);
	if (rc == 0 && out)
		*out = info;
	return rc;
}
