/*
 * Records as read back, and the cursor that iterates them. Field access
 * parses the canonical bytes lazily: iterating for export or verification
 * never pays for a JSON tree.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <agentrail/query.h>
#include <agentrail/record.h>

#include "internal.h"
#include "logpriv.h"

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

struct atr_cursor {
	atr_store *st;
	atr_store_cursor *cur;
	struct atr_record rec;
};

/* Copy a store row into 'rec' (reusing its buffer), dropping any parsed fields. */
static int record_fill(struct atr_record *rec, const atr_store_row *row)
{
	size_t need = row->record_len + 1 + (row->detail ? row->detail_len + 1 : 0);

	if (rec->obj) {
		json_decref(rec->obj);
		rec->obj = NULL;
	}
	if (need > rec->cap) {
		char *p = realloc(rec->bytes, need);

		if (!p)
			return atr__err(ATR_ENOMEM, "out of memory");
		rec->bytes = p;
		rec->cap = need;
	}
	rec->seq = row->seq;
	rec->len = row->record_len;
	memcpy(rec->bytes, row->record, row->record_len);
	rec->bytes[rec->len] = '\0';
	rec->detail = NULL;
	rec->detail_len = 0;
	rec->has_salt = 0;
	if (row->detail) {
		rec->detail = rec->bytes + rec->len + 1;
		rec->detail_len = row->detail_len;
		memcpy(rec->detail, row->detail, row->detail_len);
		rec->detail[rec->detail_len] = '\0';
	}
	if (row->salt) {
		memcpy(rec->salt, row->salt, sizeof(rec->salt));
		rec->has_salt = 1;
	}
	return 0;
}

/* Release what 'rec' holds, not 'rec' itself. */
static void record_clear(struct atr_record *rec)
{
	if (rec->obj)
		json_decref(rec->obj);
	free(rec->bytes);
	memset(rec, 0, sizeof(*rec));
}

void atr_record_free(atr_record *rec)
{
	if (!rec)
		return;
	record_clear(rec);
	free(rec);
}

uint64_t atr_record_seq(const atr_record *rec)
{
	return rec->seq;
}

const char *atr_record_bytes(const atr_record *rec, size_t *len)
{
	if (len)
		*len = rec->len;
	return rec->bytes;
}

const char *atr_record_detail(const atr_record *rec, size_t *len)
{
	if (len)
		*len = rec->detail_len;
	return rec->detail;
}

const uint8_t *atr_record_salt(const atr_record *rec)
{
	return rec->has_salt ? rec->salt : NULL;
}

/* The parsed record; the cache is not part of the record's observable state. */
static json_t *parsed(const atr_record *rec)
{
	struct atr_record *r = (struct atr_record *)rec;

	if (!r->obj)
		r->obj = json_loadb(r->bytes, r->len, 0, NULL);
	return r->obj;
}

static json_t *field(const atr_record *rec, const char *name)
{
	json_t *v = parsed(rec);
	const char *p = name;

	while (v && *p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);

		v = json_is_object(v) ? json_object_getn(v, p, n) : NULL;
		p += n + (dot ? 1 : 0);
	}
	return v;
}

const char *atr_record_str(const atr_record *rec, const char *name)
{
	return json_string_value(field(rec, name));
}

int atr_record_int(const atr_record *rec, const char *name, int64_t *out)
{
	json_t *v = field(rec, name);

	if (!json_is_integer(v))
		return atr__err(ATR_ENOTFOUND, "record %llu has no integer '%s'",
		                (unsigned long long)rec->seq, name);
	*out = json_integer_value(v);
	return 0;
}

int atr_record_to_json(const atr_record *rec, char **out)
{
	size_t n = rec->len + (rec->detail ? rec->detail_len + 11 : 0) + 1;
	char *s;

	/*
	 * Splice the stored canonical bytes instead of parsing and
	 * re-serializing them: an API that lists records pays this per record.
	 */
	*out = NULL;
	if (rec->len < 2 || rec->bytes[0] != '{' || rec->bytes[rec->len - 1] != '}')
		return atr__err(ATR_ETAMPER, "record %llu is not a JSON object",
		                (unsigned long long)rec->seq);
	if (!(s = malloc(n)))
		return atr__err(ATR_ENOMEM, "out of memory");
	memcpy(s, rec->bytes, rec->len);
	if (rec->detail) {
		size_t off = rec->len - 1;

		memcpy(s + off, ",\"detail\":", 10);
		memcpy(s + off + 10, rec->detail, rec->detail_len);
		s[off + 10 + rec->detail_len] = '}';
		s[off + 11 + rec->detail_len] = '\0';
	} else {
		s[rec->len] = '\0';
	}
	*out = s;
	return 0;
}

/* ---------------------------------------------------------------- reads */

static int read_one(atr_log *log, const atr_query *q, atr_record **out, const char *what)
{
	atr_cursor *cur;
	const atr_record *r;
	atr_record *copy;
	int rc;

	*out = NULL;
	if ((rc = atr_log_query(log, q, &cur)) < 0)
		return rc;
	rc = atr_cursor_next(cur, &r);
	if (rc == 0) {
		rc = atr__err(ATR_ENOTFOUND, "no record with %s", what);
	} else if (rc > 0) {
		copy = calloc(1, sizeof(*copy));
		if (!copy) {
			rc = atr__err(ATR_ENOMEM, "out of memory");
		} else {
			*copy = cur->rec;
			memset(&cur->rec, 0, sizeof(cur->rec));
			*out = copy;
			rc = 0;
		}
	}
	atr_cursor_free(cur);
	return rc;
}

int atr_log_get(atr_log *log, uint64_t seq, atr_record **out)
{
	atr_query q = {.seq_from = seq, .seq_to = seq + 1};
	char what[48];

	uint64_t below = 0;
	int rc;

	snprintf(what, sizeof(what), "seq %llu", (unsigned long long)seq);
	rc = read_one(log, &q, out, what);
	/* A pruned record is gone on purpose: say so (docs/retention.md). */
	if (rc == ATR_ENOTFOUND && log->st->version >= 3 && log->st->pruned_below &&
	    log->st->pruned_below(log->st, &below) == 0 && seq < below)
		rc = atr__err(ATR_ENOTFOUND,
		              "record %llu was pruned (records below %llu are pruned)",
		              (unsigned long long)seq, (unsigned long long)below);
	return rc;
}

int atr_log_get_by_id(atr_log *log, const char *event_id, atr_record **out)
{
	atr_query q = {.event_id = event_id};
	char what[300];

	snprintf(what, sizeof(what), "event_id '%.256s'", event_id);
	return read_one(log, &q, out, what);
}

int atr_log_query(atr_log *log, const atr_query *q, atr_cursor **out)
{
	atr_cursor *cur;
	int rc;

	*out = NULL;
	cur = calloc(1, sizeof(*cur));
	if (!cur)
		return atr__err(ATR_ENOMEM, "out of memory");
	cur->st = log->st;
	if ((rc = log->st->query_open(log->st, q, &cur->cur)) < 0) {
		free(cur);
		return rc;
	}
	*out = cur;
	return 0;
}

int atr_cursor_next(atr_cursor *cur, const atr_record **rec)
{
	atr_store_row row;
	int rc;

	*rec = NULL;
	rc = cur->st->query_next(cur->cur, &row);
	if (rc <= 0)
		return rc;
	if ((rc = record_fill(&cur->rec, &row)) < 0)
		return rc;
	*rec = &cur->rec;
	return 1;
}

void atr_cursor_free(atr_cursor *cur)
{
	if (!cur)
		return;
	cur->st->query_close(cur->cur);
	record_clear(&cur->rec);
	free(cur);
}
