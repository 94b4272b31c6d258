/*
 * The PostgreSQL store: several independent logs per database, each named by
 * the URI's '?log=NAME' (default 'default'), in one set of tables of schema
 * 'agentrail' keyed first by the log's name: the column a distributed
 * PostgreSQL such as Citus shards by (docs/postgres.md). Every commit waits
 * for the WAL flush (synchronous_commit=on). Writers on any number of
 * machines serialize on the log's head row (SELECT ... FOR UPDATE in
 * write_begin); each batch of records is one INSERT of arrays, one round
 * trip. Cursors read from a connection of their own inside a REPEATABLE READ
 * transaction, through a server-side cursor fetched in pages, so an open
 * cursor keeps one snapshot and a full scan streams.
 */
#include <assert.h>
#include <endian.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include <agentrail/log.h>
#include <agentrail/sys/store.h>

#include "internal.h"

/* The schema version in agentrail.schema_info; a newer one is refused. */
#define PG_SCHEMA_VERSION 1
/* How long write_begin waits for another writer's lock before ATR_EBUSY. */
#define LOCK_TIMEOUT "10s"
/* Buffered records are sent at this many, or this many bytes of records and details. */
#define FLUSH_RECORDS 4096
#define FLUSH_BYTES   (8u << 20)
/* Rows per FETCH of a cursor. */
#define FETCH_ROWS     1000
#define ATR_PG_STR_(x) #x
#define ATR_PG_STR(x)  ATR_PG_STR_(x)
/* Longest log name; names are [A-Za-z0-9_.-]. */
#define LOG_NAME_MAX 128

/* Binary type oids of the parameters and columns used here. */
#define OID_BYTEA 17
#define OID_INT8  20
#define OID_INT4  23

/*
 * The schema. Filter columns and payloads are bytea, compared byte by byte
 * (a prefix match is a range, like SQLite's BINARY collation) and never
 * checked as text: the store keeps exactly the bytes it was given. Every key
 * leads with the log.
 *
 * As in the SQLite store, the query filters are not per-row indexes: nine
 * of them cut the insert rate in half (measured: 20k against 45k events/s
 * at batches of 1000). Each batch writes instead, computed by the server
 * from the same arrays as the records, one 'postings' row per filter column
 * and distinct value holding the batch's seqs with that value (col: 1 type,
 * 2 level, 3 actor, 4 trace_id, 5 session_id, 6 run_id, 7 job_id, 8 target),
 * and one 'batches' row with its ts bounds. A query drives from one
 * filter's postings (or the event_id index, the batches, or the seq range)
 * and checks every filter on each candidate record in SQL, so a damaged
 * postings row can hide a record but never return a wrong one.
 *
 * Defence in depth (DESIGN.md §3), as in the SQLite schema: triggers refuse
 * changing or deleting records (except below the log's pruned_below, which
 * only grows), changing payloads (deleting one is erasure), and changing or
 * deleting checkpoints and metadata; the grants for agentrail_writer refuse
 * UPDATE and DELETE on records outright.
 */
static const char schema_sql[] =
    "CREATE SCHEMA IF NOT EXISTS agentrail;"
    "CREATE TABLE agentrail.schema_info (version integer NOT NULL);"
    "INSERT INTO agentrail.schema_info VALUES (1);"
    "CREATE TABLE agentrail.logs ("
    " log text COLLATE \"C\" PRIMARY KEY,"
    " size bigint NOT NULL DEFAULT 0 CHECK (size >= 0),"
    " pruned_below bigint NOT NULL DEFAULT 0 CHECK (pruned_below >= 0),"
    " created_at bigint NOT NULL,"
    " log_id text NOT NULL);"
    "CREATE TABLE agentrail.records ("
    " log text COLLATE \"C\" NOT NULL,"
    " seq bigint NOT NULL CHECK (seq >= 0),"
    " event_id bytea NOT NULL CHECK (length(event_id) = 16),"
    " content_hash bytea NOT NULL CHECK (length(content_hash) = 32),"
    " type bytea NOT NULL,"
    " level bytea NOT NULL,"
    " actor bytea NOT NULL,"
    " ts bigint NOT NULL,"
    " trace_id bytea,"
    " session_id bytea,"
    " run_id bytea,"
    " job_id bytea,"
    " target bytea,"
    " record bytea NOT NULL,"
    " PRIMARY KEY (log, seq));"
    "CREATE UNIQUE INDEX records_event ON agentrail.records (log, event_id);"
    /* Batch postings (see above): one row per batch and filter value, its seqs ascending. */
    "CREATE TABLE agentrail.postings ("
    " log text COLLATE \"C\" NOT NULL,"
    " col smallint NOT NULL,"
    " val bytea NOT NULL,"
    " first_seq bigint NOT NULL,"
    " seqs bigint[] NOT NULL,"
    " PRIMARY KEY (log, col, val, first_seq));"
    "CREATE TABLE agentrail.batches ("
    " log text COLLATE \"C\" NOT NULL,"
    " first_seq bigint NOT NULL,"
    " last_seq bigint NOT NULL,"
    " ts_min bigint NOT NULL,"
    " ts_max bigint NOT NULL,"
    " PRIMARY KEY (log, first_seq));"
    "CREATE TABLE agentrail.payloads ("
    " log text COLLATE \"C\" NOT NULL,"
    " seq bigint NOT NULL,"
    " salt bytea NOT NULL CHECK (length(salt) = 32),"
    " detail bytea NOT NULL,"
    " PRIMARY KEY (log, seq));"
    "CREATE TABLE agentrail.tiles ("
    " log text COLLATE \"C\" NOT NULL,"
    " level integer NOT NULL,"
    " idx bigint NOT NULL,"
    " hashes bytea NOT NULL,"
    " PRIMARY KEY (log, level, idx));"
    /* Hashes do not compress: store them out of line without trying. */
    "ALTER TABLE agentrail.tiles ALTER COLUMN hashes SET STORAGE EXTERNAL;"
    "CREATE TABLE agentrail.checkpoints ("
    " log text COLLATE \"C\" NOT NULL,"
    " id bigint GENERATED ALWAYS AS IDENTITY,"
    " size bigint NOT NULL,"
    " note bytea NOT NULL,"
    " PRIMARY KEY (log, id));"
    "CREATE INDEX checkpoints_by_size ON agentrail.checkpoints (log, size, id);"
    "CREATE TABLE agentrail.meta ("
    " log text COLLATE \"C\" NOT NULL,"
    " key text COLLATE \"C\" NOT NULL,"
    " value bytea NOT NULL,"
    " PRIMARY KEY (log, key));"
    "CREATE FUNCTION agentrail.refuse() RETURNS trigger LANGUAGE plpgsql AS $f$"
    " BEGIN RAISE EXCEPTION 'agentrail: %', TG_ARGV[0]; END $f$;"
    "CREATE FUNCTION agentrail.records_delete() RETURNS trigger LANGUAGE plpgsql AS $f$"
    " BEGIN"
    "  IF OLD.seq >= coalesce((SELECT pruned_below FROM agentrail.logs"
    "                          WHERE log = OLD.log), 0) THEN"
    "   RAISE EXCEPTION 'agentrail: records are append-only (only records below"
    " pruned_below may be pruned)';"
    "  END IF;"
    "  RETURN OLD;"
    " END $f$;"
    "CREATE FUNCTION agentrail.logs_update() RETURNS trigger LANGUAGE plpgsql AS $f$"
    " BEGIN"
    "  IF NEW.log <> OLD.log OR NEW.created_at <> OLD.created_at"
    "     OR NEW.log_id <> OLD.log_id OR NEW.size < OLD.size"
    "     OR NEW.pruned_below < OLD.pruned_below THEN"
    "   RAISE EXCEPTION 'agentrail: the tree size and the pruned prefix only grow';"
    "  END IF;"
    "  RETURN NEW;"
    " END $f$;"
    "CREATE TRIGGER records_no_update BEFORE UPDATE ON agentrail.records FOR EACH ROW"
    " EXECUTE FUNCTION agentrail.refuse('records are append-only');"
    "CREATE TRIGGER records_no_delete BEFORE DELETE ON agentrail.records FOR EACH ROW"
    " EXECUTE FUNCTION agentrail.records_delete();"
    "CREATE TRIGGER records_no_truncate BEFORE TRUNCATE ON agentrail.records"
    " EXECUTE FUNCTION agentrail.refuse('records are append-only');"
    "CREATE TRIGGER postings_no_change BEFORE UPDATE OR DELETE ON agentrail.postings"
    " FOR EACH ROW EXECUTE FUNCTION agentrail.refuse('postings are append-only');"
    "CREATE TRIGGER batches_no_change BEFORE UPDATE OR DELETE ON agentrail.batches"
    " FOR EACH ROW EXECUTE FUNCTION agentrail.refuse('batches are append-only');"
    "CREATE TRIGGER payloads_no_update BEFORE UPDATE ON agentrail.payloads FOR EACH ROW"
    " EXECUTE FUNCTION agentrail.refuse('payloads can be erased, not changed');"
    "CREATE TRIGGER checkpoints_no_change BEFORE UPDATE OR DELETE ON agentrail.checkpoints"
    " FOR EACH ROW EXECUTE FUNCTION agentrail.refuse('checkpoints are append-only');"
    "CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON agentrail.checkpoints"
    " EXECUTE FUNCTION agentrail.refuse('checkpoints are append-only');"
    "CREATE TRIGGER meta_no_change BEFORE UPDATE OR DELETE ON agentrail.meta FOR EACH ROW"
    " EXECUTE FUNCTION agentrail.refuse('store metadata is permanent');"
    "CREATE TRIGGER logs_only_grow BEFORE UPDATE ON agentrail.logs FOR EACH ROW"
    " EXECUTE FUNCTION agentrail.logs_update();"
    "CREATE TRIGGER logs_no_delete BEFORE DELETE ON agentrail.logs FOR EACH ROW"
    " EXECUTE FUNCTION agentrail.refuse('a log is permanent');"
    /* The writer role's grants (docs/postgres.md), when the role exists already. */
    "DO $g$ BEGIN"
    " IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'agentrail_writer') THEN"
    "  GRANT USAGE ON SCHEMA agentrail TO agentrail_writer;"
    "  GRANT SELECT ON agentrail.schema_info TO agentrail_writer;"
    "  GRANT SELECT, INSERT ON agentrail.records, agentrail.postings, agentrail.batches,"
    "   agentrail.checkpoints, agentrail.meta TO agentrail_writer;"
    "  GRANT SELECT, INSERT, DELETE ON agentrail.payloads TO agentrail_writer;"
    "  GRANT SELECT, INSERT, UPDATE ON agentrail.logs, agentrail.tiles TO agentrail_writer;"
    "  GRANT USAGE ON ALL SEQUENCES IN SCHEMA agentrail TO agentrail_writer;"
    " END IF;"
    " END $g$;";

/* The statements prepared on the write connection. */
enum stmt_id { S_SIZE, S_FIND, S_PUT_RECORDS, S_PUT_TILES, S_GET_TILE, S_HEAD, S_COUNT };

static const char *const stmt_name[S_COUNT] = {"atr_size",      "atr_find",     "atr_put_records",
                                               "atr_put_tiles", "atr_get_tile", "atr_head"};

static const char *const stmt_sql[S_COUNT] = {
    [S_SIZE] = "SELECT size FROM agentrail.logs WHERE log = $1",
    [S_FIND] = "SELECT seq, content_hash FROM agentrail.records"
               " WHERE log = $1 AND event_id = $2",
    /*
     * One statement per batch: records, payloads, postings and the batch's
     * row from the same array arguments. Each part unnests only the arrays
     * it needs, as set-returning functions in the select list, which stream
     * (a CTE of whole rows, read eleven times, or unnest in FROM, which
     * materializes, cost a fifth of the time in copying); postings rows
     * hold at most 128 seqs, so they stay under the size PostgreSQL would
     * compress.
     */
    [S_PUT_RECORDS] =
        "WITH r AS (INSERT INTO agentrail.records (log, seq, event_id, content_hash, type,"
        " level, actor, ts, trace_id, session_id, run_id, job_id, target, record)"
        " SELECT $1, unnest($2::bigint[]), unnest($3::bytea[]), unnest($4::bytea[]),"
        " unnest($5::bytea[]), unnest($6::bytea[]), unnest($7::bytea[]),"
        " unnest($8::bigint[]), unnest($9::bytea[]), unnest($10::bytea[]),"
        " unnest($11::bytea[]), unnest($12::bytea[]), unnest($13::bytea[]),"
        " unnest($14::bytea[])),"
        " p AS (INSERT INTO agentrail.payloads (log, seq, salt, detail)"
        " SELECT $1, seq, salt, detail FROM (SELECT unnest($2::bigint[]) AS seq,"
        " unnest($15::bytea[]) AS salt, unnest($16::bytea[]) AS detail) AS u"
        " WHERE detail IS NOT NULL),"
        " g AS (INSERT INTO agentrail.postings (log, col, val, first_seq, seqs)"
        " SELECT $1, c, v, min(seq), array_agg(seq ORDER BY seq) FROM ("
        " SELECT 1::smallint, unnest($5::bytea[]), unnest($2::bigint[])"
        " UNION ALL SELECT 2, unnest($6::bytea[]), unnest($2::bigint[])"
        " UNION ALL SELECT 3, unnest($7::bytea[]), unnest($2::bigint[])"
        " UNION ALL SELECT 4, unnest($9::bytea[]), unnest($2::bigint[])"
        " UNION ALL SELECT 5, unnest($10::bytea[]), unnest($2::bigint[])"
        " UNION ALL SELECT 6, unnest($11::bytea[]), unnest($2::bigint[])"
        " UNION ALL SELECT 7, unnest($12::bytea[]), unnest($2::bigint[])"
        " UNION ALL SELECT 8, unnest($13::bytea[]), unnest($2::bigint[]))"
        " AS x(c, v, seq) WHERE v IS NOT NULL GROUP BY c, v, seq / 128)"
        " INSERT INTO agentrail.batches (log, first_seq, last_seq, ts_min, ts_max)"
        " SELECT $1, min(seq), max(seq), min(ts), max(ts)"
        " FROM (SELECT unnest($2::bigint[]) AS seq, unnest($8::bigint[]) AS ts) AS u",
    [S_PUT_TILES] = "INSERT INTO agentrail.tiles (log, level, idx, hashes)"
                    " SELECT $1, * FROM unnest($2::integer[], $3::bigint[], $4::bytea[])"
                    " ON CONFLICT (log, level, idx) DO UPDATE SET hashes = excluded.hashes",
    [S_GET_TILE] = "SELECT hashes FROM agentrail.tiles"
                   " WHERE log = $1 AND level = $2::integer AND idx = $3",
    [S_HEAD] = "SELECT size, pruned_below, created_at, log_id FROM agentrail.logs"
               " WHERE log = $1",
};

struct pg_store {
	atr_store base; /* first: the vtable the log layer sees */
	char *conninfo; /* the URI for libpq, without 'log=' */
	char *display;  /* the URI for messages, without a password */
	char log[LOG_NAME_MAX + 1];
	char *log_lit; /* the log's name as an SQL literal */
	unsigned flags;
	PGconn *conn; /* writes, sizes, tiles, checkpoints */
	int in_write;
	uint64_t next_seq;
	/* A read connection kept for cursors; one cursor uses it at a time. */
	PGconn *rconn;
	int rconn_in_use;
	/*
	 * Records put but not yet sent (pg_put_records): the statement's
	 * array arguments, their count, the first one's seq, and their event
	 * ids and content hashes in an open-addressing table (index + 1).
	 */
	struct abuf *arrays;
	size_t nbuf;
	uint64_t buf_first;
	uint8_t (*bids)[48];
	size_t bids_cap;
	uint32_t *slots;
	size_t nslots; /* a power of two, at least twice nbuf; 0 before the first use */
	/*
	 * A Bloom filter of the event ids of records [0, bloom_size), so that
	 * looking up a new event (the usual case) costs no round trip (see
	 * pg_find_event). NULL until a handle has looked up many events.
	 */
	uint64_t *bloom;
	uint64_t bloom_bits; /* a power of two */
	uint64_t bloom_size, bloom_count, lookups;
	uint64_t write_size; /* the size write_begin answered */
	int bloom_synced;    /* the filter covers write_size in this write */
	int bloom_off;       /* the log is too large for one */
};

static long buffer_find(const struct pg_store *st, const uint8_t *id);
static void buffer_clear(struct pg_store *st);
static int flush_records(struct pg_store *st);

struct pg_cursor {
	struct pg_store *st;
	PGconn *conn;
	PGresult *page;
	int row, nrows;
	int done; /* the last page has been fetched */
};

/* ---------------------------------------------------------------- errors */

/* Map a failed result (or the connection's state when 'res' is NULL) to a status. */
static int pg_fail(const struct pg_store *st, PGconn *conn, const PGresult *res, const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(conn);
	char text[512];
	size_t n;

	snprintf(text, sizeof(text), "%s", msg && *msg ? msg : "unknown error");
	n = strlen(text);
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
		text[--n] = '\0';
	if (PQstatus(conn) == CONNECTION_BAD || (state && !strncmp(state, "08", 2)))
		return atr__err(ATR_EIO, "%s on store '%s': the connection failed (%s)", what,
		                st->display, text);
	if (!state)
		return atr__err(ATR_EBACKEND, "%s on store '%s': %s", what, st->display, text);
	if (!strcmp(state, "53100"))
		return atr__err(ATR_EIO, "%s on store '%s': disk full (%s)", what, st->display,
		                text);
	if (!strcmp(state, "53200"))
		return atr__err(ATR_ENOMEM, "%s on store '%s': out of memory", what, st->display);
	if (!strcmp(state, "55P03") || !strcmp(state, "40P01") || !strcmp(state, "40001"))
		return atr__err(ATR_EBUSY, "%s on store '%s': the store stayed locked (%s)", what,
		                st->display, text);
	if (!strcmp(state, "25006"))
		return atr__err(ATR_EBACKEND, "%s on store '%s': the store is read-only (%s)", what,
		                st->display, text);
	if (!strcmp(state, "XX001") || !strcmp(state, "XX002"))
		return atr__err(ATR_ETAMPER, "%s on store '%s': the database is damaged (%s)", what,
		                st->display, text);
	return atr__err(ATR_EBACKEND, "%s on store '%s': %s", what, st->display, text);
}

/* ---------------------------------------------------------------- parameters */

/* Up to 16 parameters of one statement, all in binary format. */
#define MAX_PARAMS 24

struct params {
	const char *v[MAX_PARAMS];
	int len[MAX_PARAMS];
	int fmt[MAX_PARAMS];
	char ints[MAX_PARAMS][8];
	int n;
};

static void p_bytes(struct params *p, const void *v, size_t len)
{
	assert(p->n < MAX_PARAMS && len <= INT_MAX);
	p->v[p->n] = v ? v : "";
	p->len[p->n] = (int)len;
	p->fmt[p->n++] = 1;
}

static void p_text(struct params *p, const char *s)
{
	p_bytes(p, s, strlen(s));
}

static void p_int8(struct params *p, int64_t v)
{
	uint64_t be = htobe64((uint64_t)v);

	assert(p->n < MAX_PARAMS);
	memcpy(p->ints[p->n], &be, 8);
	p_bytes(p, p->ints[p->n], 8);
}

static void p_int4(struct params *p, int32_t v)
{
	uint32_t be = htobe32((uint32_t)v);

	assert(p->n < MAX_PARAMS);
	memcpy(p->ints[p->n], &be, 4);
	p_bytes(p, p->ints[p->n], 4);
}

static int64_t clamp_u64(uint64_t v)
{
	return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

/* A growing byte buffer for a binary array parameter. */
struct abuf {
	char *p;
	size_t len, cap;
	uint32_t count; /* elements so far */
	int nulls;
};

static int ab_reserve(struct abuf *b, size_t more)
{
	if (b->cap - b->len >= more)
		return 0;
	size_t cap = b->cap ? b->cap : 1024;

	while (cap - b->len < more)
		cap *= 2;
	char *p = realloc(b->p, cap);

	if (!p)
		return atr__err(ATR_ENOMEM, "out of memory");
	b->p = p;
	b->cap = cap;
	return 0;
}

static void ab_u32(struct abuf *b, uint32_t v)
{
	uint32_t be = htobe32(v);

	memcpy(b->p + b->len, &be, 4);
	b->len += 4;
}

/* Start a one-dimensional array of element type 'oid': the 20-byte header, filled in by ab_end. */
static int ab_begin(struct abuf *b)
{
	int err;

	b->len = 0;
	b->count = 0;
	b->nulls = 0;
	if ((err = ab_reserve(b, 20)) != 0)
		return err;
	b->len = 20;
	return 0;
}

static void ab_end(struct abuf *b, uint32_t oid)
{
	size_t len = b->len;

	b->len = 0;
	ab_u32(b, 1);
	ab_u32(b, b->nulls ? 1u : 0u);
	ab_u32(b, oid);
	ab_u32(b, b->count);
	ab_u32(b, 1);
	b->len = len;
}

/* Add an element: 'v' of 'len' bytes, or NULL. */
static int ab_add(struct abuf *b, const void *v, size_t len)
{
	int err;

	if (len > INT32_MAX)
		return atr__err(ATR_ETOOBIG, "a value of %zu bytes is too large for the store",
		                len);
	if ((err = ab_reserve(b, 4 + (v ? len : 0))) != 0)
		return err;
	if (!v) {
		ab_u32(b, UINT32_MAX); /* -1: NULL */
		b->nulls = 1;
	} else {
		ab_u32(b, (uint32_t)len);
		memcpy(b->p + b->len, v, len);
		b->len += len;
	}
	b->count++;
	return 0;
}

static int ab_str(struct abuf *b, const char *s)
{
	return ab_add(b, s, s ? strlen(s) : 0);
}

static int ab_int8(struct abuf *b, int64_t v)
{
	uint64_t be = htobe64((uint64_t)v);

	return ab_add(b, &be, 8);
}

static int ab_int4(struct abuf *b, int32_t v)
{
	uint32_t be = htobe32((uint32_t)v);

	return ab_add(b, &be, 4);
}

static int64_t get_int8(const PGresult *res, int row, int col)
{
	uint64_t be;

	memcpy(&be, PQgetvalue(res, row, col), 8);
	return (int64_t)be64toh(be);
}

/* Run prepared statement 'id' on the write connection, binary in and out. */
static PGresult *run(struct pg_store *st, enum stmt_id id, const struct params *p)
{
	return PQexecPrepared(st->conn, stmt_name[id], p->n, p->v, p->len, p->fmt, 1);
}

/* Run one-off 'sql' on 'conn', binary in and out. */
static PGresult *run_sql(PGconn *conn, const char *sql, const struct params *p)
{
	return PQexecParams(conn, sql, p->n, NULL, p->v, p->len, p->fmt, 1);
}

/* A result that should be command-ok or tuples: 0, or the mapped failure (clears 'res'). */
static int check(struct pg_store *st, PGconn *conn, PGresult *res, const char *what)
{
	ExecStatusType s = PQresultStatus(res);
	int err = 0;

	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
		err = pg_fail(st, conn, res, what);
	if (err)
		PQclear(res);
	return err;
}

/* Run simple-protocol 'sql' (no parameters, any number of statements) and check it. */
static int exec_simple(struct pg_store *st, PGconn *conn, const char *sql, const char *what)
{
	PGresult *res = PQexec(conn, sql);
	int err = check(st, conn, res, what);

	if (!err)
		PQclear(res);
	return err;
}

/* ---------------------------------------------------------------- opening */

static void quiet_notices(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/*
 * Split 'uri' into the connection string for libpq (without our 'log='
 * parameter), the log's name, and a display form without the password.
 */
static int parse_uri(struct pg_store *st, const char *uri)
{
	const char *q = strchr(uri, '?');
	size_t base = q ? (size_t)(q - uri) : strlen(uri);
	char *conn = malloc(strlen(uri) + 1), *disp;
	size_t clen = base;
	int have_log = 0;

	if (!conn)
		return atr__err(ATR_ENOMEM, "out of memory");
	memcpy(conn, uri, base);
	snprintf(st->log, sizeof(st->log), "default");
	while (q && *q) {
		const char *p = q + 1, *end = strchr(p, '&');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n > 4 && !strncmp(p, "log=", 4)) {
			size_t k = n - 4;

			if (have_log) {
				free(conn);
				return atr__err(ATR_EINVALID,
				                "store URI '%s' names more than one log", uri);
			}
			have_log = 1;
			if (k > LOG_NAME_MAX) {
				free(conn);
				return atr__err(
				    ATR_EINVALID,
				    "store URI '%s': a log name is at most %d characters", uri,
				    LOG_NAME_MAX);
			}
			for (size_t i = 0; i < k; i++) {
				char c = p[4 + i];

				if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				      (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.')) {
					free(conn);
					return atr__err(
					    ATR_EINVALID,
					    "store URI '%s': the log name may hold only "
					    "[A-Za-z0-9_.-]",
					    uri);
				}
			}
			memcpy(st->log, p + 4, k);
			st->log[k] = '\0';
		} else if (n == 4 && !strncmp(p, "log=", 4)) {
			free(conn);
			return atr__err(ATR_EINVALID, "store URI '%s' has an empty log name", uri);
		} else if (n > 0) {
			conn[clen] = clen == base ? '?' : '&';
			clen++;
			memcpy(conn + clen, p, n);
			clen += n;
		}
		q = end;
	}
	conn[clen] = '\0';
	st->conninfo = conn;
	/* The display form: scheme://user@host..., the password left out, and the log. */
	if (!(disp = malloc(base + sizeof(st->log) + 8))) {
		return atr__err(ATR_ENOMEM, "out of memory");
	}
	{
		const char *s = strstr(uri, "://"), *at, *colon;
		size_t k = 0;

		s = s ? s + 3 : uri;
		at = memchr(s, '@', base - (size_t)(s - uri));
		colon = at ? memchr(s, ':', (size_t)(at - s)) : NULL;
		if (colon) {
			memcpy(disp, uri, (size_t)(colon - uri));
			k = (size_t)(colon - uri);
			memcpy(disp + k, at, base - (size_t)(at - uri));
			k += base - (size_t)(at - uri);
		} else {
			memcpy(disp, uri, base);
			k = base;
		}
		snprintf(disp + k, sizeof(st->log) + 8, "?log=%s", st->log);
	}
	st->display = disp;
	return 0;
}

/* Open a connection with the session settings every connection gets. */
static int connect_db(struct pg_store *st, PGconn **out)
{
	PGconn *conn = PQconnectdb(st->conninfo);
	int err;

	*out = NULL;
	if (!conn)
		return atr__err(ATR_ENOMEM, "out of memory connecting to store '%s'", st->display);
	if (PQstatus(conn) != CONNECTION_OK) {
		err = pg_fail(st, conn, NULL, "cannot connect");
		PQfinish(conn);
		return err;
	}
	PQsetNoticeProcessor(conn, quiet_notices, NULL);
	err = exec_simple(st, conn,
	                  "SET synchronous_commit = on; SET lock_timeout = '" LOCK_TIMEOUT "';"
	                  " SET client_min_messages = warning;"
	                  " SET application_name = 'agentrail'",
	                  "cannot configure the connection");
	if (!err && (st->flags & ATR_OPEN_READONLY))
		err = exec_simple(st, conn, "SET default_transaction_read_only = on",
		                  "cannot configure the connection");
	if (err) {
		PQfinish(conn);
		return err;
	}
	*out = conn;
	return 0;
}

static int prepare_all(struct pg_store *st)
{
	for (int i = 0; i < S_COUNT; i++) {
		PGresult *res = PQprepare(st->conn, stmt_name[i], stmt_sql[i], 0, NULL);
		int err = check(st, st->conn, res, "cannot prepare statements");

		if (err)
			return err;
		PQclear(res);
	}
	return 0;
}

/* The schema's version: 0 when there is no schema. */
static int schema_version(struct pg_store *st, int *version)
{
	PGresult *res = PQexec(st->conn, "SELECT CASE WHEN to_regclass('agentrail.schema_info')"
	                                 " IS NULL THEN 0 ELSE -1 END");
	int err = check(st, st->conn, res, "cannot read the schema");

	if (err)
		return err;
	*version = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (*version == 0)
		return 0;
	res = PQexec(st->conn, "SELECT max(version) FROM agentrail.schema_info");
	if ((err = check(st, st->conn, res, "cannot read the schema")) != 0)
		return err;
	*version = PQgetisnull(res, 0, 0) ? -1 : atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (*version < 1)
		return atr__err(ATR_EINVALID, "store '%s' has no schema version", st->display);
	if (*version > PG_SCHEMA_VERSION)
		return atr__err(ATR_EUNSUPPORTED,
		                "store '%s' has schema version %d; this build reads up to %d",
		                st->display, *version, PG_SCHEMA_VERSION);
	return 0;
}

/* Create the schema (once per database) and this log's head row. */
static int create_log(struct pg_store *st, int have_schema)
{
	uint8_t id[16];
	char id_hex[33], sql[512];
	int err;

	if ((err = atr__random(id, sizeof(id))) != 0)
		return err;
	atr__hex(id_hex, id, sizeof(id));
	/* One creator at a time: concurrent CREATE ... IF NOT EXISTS can still collide. */
	if ((err = exec_simple(st, st->conn,
	                       "BEGIN; SELECT pg_advisory_xact_lock(4199845737652551489)",
	                       "cannot create the schema")) != 0)
		return err;
	if (!have_schema) {
		PGresult *res = PQexec(st->conn, "SELECT to_regclass('agentrail.schema_info')"
		                                 " IS NULL");
		int missing;

		if ((err = check(st, st->conn, res, "cannot create the schema")) != 0)
			goto fail;
		missing = PQgetvalue(res, 0, 0)[0] == 't';
		PQclear(res);
		if (missing &&
		    (err = exec_simple(st, st->conn, schema_sql, "cannot create the schema")) != 0)
			goto fail;
	}
	snprintf(sql, sizeof(sql),
	         "INSERT INTO agentrail.logs (log, created_at, log_id) VALUES (%s, %lld, '%s')"
	         " ON CONFLICT (log) DO NOTHING; COMMIT",
	         st->log_lit, (long long)atr__now_us(), id_hex);
	if ((err = exec_simple(st, st->conn, sql, "cannot create the log")) != 0)
		goto fail;
	return 0;
fail:
	exec_simple(st, st->conn, "ROLLBACK", "cannot roll back");
	return err;
}

/* Does this log have its head row? */
static int log_exists(struct pg_store *st, int *exists)
{
	struct params p = {0};
	PGresult *res;
	int err;

	p_text(&p, st->log);
	res = run(st, S_SIZE, &p);
	if ((err = check(st, st->conn, res, "cannot read the log")) != 0)
		return err;
	*exists = PQntuples(res) > 0;
	PQclear(res);
	return 0;
}

/* ---------------------------------------------------------------- writing */

static int read_size(struct pg_store *st, uint64_t *size)
{
	struct params p = {0};
	PGresult *res;
	int err;
	int64_t v;

	p_text(&p, st->log);
	res = run(st, S_SIZE, &p);
	if ((err = check(st, st->conn, res, "cannot read the tree size")) != 0)
		return err;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return atr__err(ATR_ETAMPER, "store '%s' has no size", st->display);
	}
	v = get_int8(res, 0, 0);
	PQclear(res);
	if (v < 0)
		return atr__err(ATR_ETAMPER, "store '%s' has a malformed size", st->display);
	*size = (uint64_t)v;
	return 0;
}

/* After the server went away: reconnect once, outside any transaction. */
static int revive(struct pg_store *st)
{
	if (PQstatus(st->conn) == CONNECTION_OK)
		return 0;
	PQreset(st->conn);
	if (PQstatus(st->conn) != CONNECTION_OK)
		return pg_fail(st, st->conn, NULL, "cannot reconnect");
	PQsetNoticeProcessor(st->conn, quiet_notices, NULL);
	int err = exec_simple(st, st->conn,
	                      "SET synchronous_commit = on; SET lock_timeout = '" LOCK_TIMEOUT "';"
	                      " SET client_min_messages = warning",
	                      "cannot configure the connection");

	return err ? err : prepare_all(st);
}

static void rollback(struct pg_store *st)
{
	if (PQtransactionStatus(st->conn) != PQTRANS_IDLE) {
		PGresult *res = PQexec(st->conn, "ROLLBACK");

		PQclear(res);
	}
}

static int pg_write_begin(atr_store *base, uint64_t *size)
{
	struct pg_store *st = (struct pg_store *)base;
	char sql[LOG_NAME_MAX * 2 + 160];
	PGresult *res;
	int err;

	assert(!st->in_write);
	if (st->flags & ATR_OPEN_READONLY)
		return atr__err(ATR_EINVALID, "store '%s' is open read-only", st->display);
	if ((err = revive(st)) != 0)
		return err;
	/* One round trip: the transaction and the lock on the log's head row. */
	snprintf(sql, sizeof(sql),
	         "BEGIN; SELECT size FROM agentrail.logs WHERE log = %s FOR UPDATE", st->log_lit);
	res = PQexec(st->conn, sql);
	/* The server restarted since the last use: nothing had begun, so once more. */
	if (PQresultStatus(res) != PGRES_TUPLES_OK && PQstatus(st->conn) == CONNECTION_BAD) {
		PQclear(res);
		if ((err = revive(st)) != 0)
			return err;
		res = PQexec(st->conn, sql);
	}
	if ((err = check(st, st->conn, res, "cannot begin a write")) != 0) {
		rollback(st);
		return err;
	}
	if (PQntuples(res) != 1) {
		PQclear(res);
		rollback(st);
		return atr__err(ATR_ETAMPER, "store '%s' has no size", st->display);
	}
	long long v = atoll(PQgetvalue(res, 0, 0));

	PQclear(res);
	if (v < 0) {
		rollback(st);
		return atr__err(ATR_ETAMPER, "store '%s' has a malformed size", st->display);
	}
	*size = (uint64_t)v;
	st->in_write = 1;
	st->next_seq = *size;
	st->write_size = *size;
	st->bloom_synced = 0;
	return 0;
}

/* ---------------------------------------------------------------- event id filter */

/*
 * Looking up a submitted event id (re-send detection) is one round trip,
 * paid for every event that carries its own id: most of the time of an
 * HTTP ingest of such events. A handle that has looked up many keeps a
 * Bloom filter of the log's ids instead, brought up to date under the
 * write lock (the records appended since, by any writer, are read once per
 * write), so an id it has never seen is answered without asking the
 * database; a possible match is still looked up. Logs above BLOOM_MAX_LOG
 * records keep asking: loading their ids would cost more than it saves.
 */
#define BLOOM_AFTER   1024
#define BLOOM_MAX_LOG (32u << 20)
#define BLOOM_K       6

static void bloom_hash(const uint8_t *id, uint64_t *h1, uint64_t *h2)
{
	uint64_t a, b;

	memcpy(&a, id, 8);
	memcpy(&b, id + 8, 8);
	a ^= b * 0x9e3779b97f4a7c15ull;
	a ^= a >> 31;
	a *= 0xbf58476d1ce4e5b9ull;
	a ^= a >> 27;
	a *= 0x94d049bb133111ebull;
	a ^= a >> 31;
	*h1 = a;
	*h2 = (b ^ (a >> 17)) * 0xff51afd7ed558ccdull | 1;
}

static void bloom_add(struct pg_store *st, const uint8_t *id)
{
	uint64_t h1, h2, m = st->bloom_bits - 1;

	bloom_hash(id, &h1, &h2);
	for (int i = 0; i < BLOOM_K; i++, h1 += h2)
		st->bloom[(h1 & m) >> 6] |= 1ull << (h1 & 63);
	st->bloom_count++;
}

static int bloom_may_have(const struct pg_store *st, const uint8_t *id)
{
	uint64_t h1, h2, m = st->bloom_bits - 1;

	bloom_hash(id, &h1, &h2);
	for (int i = 0; i < BLOOM_K; i++, h1 += h2)
		if (!(st->bloom[(h1 & m) >> 6] & (1ull << (h1 & 63))))
			return 0;
	return 1;
}

/* Add the ids of records [bloom_size, write_size), rebuilding a fuller filter from 0. */
static int bloom_sync(struct pg_store *st)
{
	struct params p = {0};
	uint64_t from = st->bloom_size, want = st->write_size;
	PGresult *res;
	int err;

	if (!st->bloom || 10 * want > st->bloom_bits) {
		uint64_t bits = 1u << 16;

		while (bits < 20 * (want + 1024))
			bits *= 2;
		free(st->bloom);
		if (!(st->bloom = calloc(bits / 64, sizeof(uint64_t)))) {
			st->bloom_off = 1;
			return 0; /* keep asking the database */
		}
		st->bloom_bits = bits;
		st->bloom_size = st->bloom_count = from = 0;
	}
	if (from < want) {
		p_text(&p, st->log);
		p_int8(&p, (int64_t)from);
		p_int8(&p, (int64_t)want);
		res = run_sql(st->conn,
		              "SELECT event_id FROM agentrail.records WHERE log = $1"
		              " AND seq >= $2 AND seq < $3",
		              &p);
		if ((err = check(st, st->conn, res, "cannot read event ids")) != 0)
			return err;
		for (int r = 0; r < PQntuples(res); r++)
			if (PQgetlength(res, r, 0) == 16)
				bloom_add(st, (const uint8_t *)PQgetvalue(res, r, 0));
		PQclear(res);
	}
	st->bloom_size = want;
	st->bloom_synced = 1;
	return 0;
}

/* Is 'id' surely not in the log (1), or does the database have to say (0)? */
static int surely_new(struct pg_store *st, const uint8_t *id, int *err)
{
	*err = 0;
	if (!st->in_write || st->bloom_off)
		return 0;
	if (!st->bloom && ++st->lookups < BLOOM_AFTER)
		return 0;
	if (!st->bloom_synced) {
		if (st->write_size > BLOOM_MAX_LOG) {
			free(st->bloom);
			st->bloom = NULL;
			st->bloom_off = 1;
			return 0;
		}
		if ((*err = bloom_sync(st)) != 0 || !st->bloom)
			return 0;
	}
	return !bloom_may_have(st, id);
}

static int pg_find_event(atr_store *base, const uint8_t *event_id, uint64_t *seq,
                         uint8_t content_hash[32])
{
	struct pg_store *st = (struct pg_store *)base;
	struct params p = {0};
	PGresult *res;
	long k;
	int err;

	/* Records of this write not sent yet are found here. */
	if (st->in_write && (k = buffer_find(st, event_id)) >= 0) {
		*seq = st->buf_first + (uint64_t)k;
		memcpy(content_hash, st->bids[k] + 16, 32);
		return 0;
	}
	if (surely_new(st, event_id, &err) || err) {
		char hex[33];

		if (err)
			return err;
		atr__hex(hex, event_id, 16);
		return atr__err(ATR_ENOTFOUND, "event '%s' is not in store '%s'", hex, st->display);
	}
	p_text(&p, st->log);
	p_bytes(&p, event_id, 16);
	res = run(st, S_FIND, &p);
	if ((err = check(st, st->conn, res, "cannot look up an event")) != 0)
		return err;
	if (PQntuples(res) == 0) {
		char hex[33];

		PQclear(res);
		atr__hex(hex, event_id, 16);
		return atr__err(ATR_ENOTFOUND, "event '%s' is not in store '%s'", hex, st->display);
	}
	if (PQgetlength(res, 0, 1) != 32) {
		err = atr__err(ATR_ETAMPER, "store '%s': record %lld has a malformed hash",
		               st->display, (long long)get_int8(res, 0, 0));
	} else {
		*seq = (uint64_t)get_int8(res, 0, 0);
		memcpy(content_hash, PQgetvalue(res, 0, 1), 32);
	}
	PQclear(res);
	return err;
}

/* The 15 array arguments of S_PUT_RECORDS, in its order. */
enum {
	A_SEQ,
	A_ID,
	A_HASH,
	A_TYPE,
	A_LEVEL,
	A_ACTOR,
	A_TS,
	A_TRACE,
	A_SESSION,
	A_RUN,
	A_JOB,
	A_TARGET,
	A_RECORD,
	A_SALT,
	A_DETAIL,
	A_COUNT
};

/* Forget the buffered records (sent, or dropped with the write). */
static void buffer_clear(struct pg_store *st)
{
	st->nbuf = 0;
	if (st->nslots)
		memset(st->slots, 0, st->nslots * sizeof(*st->slots));
}

/* Send the buffered records: one statement, one round trip. */
static int flush_records(struct pg_store *st)
{
	static const uint32_t oids[A_COUNT] = {
	    [A_SEQ] = OID_INT8,     [A_TS] = OID_INT8,     [A_ID] = OID_BYTEA,
	    [A_HASH] = OID_BYTEA,   [A_TYPE] = OID_BYTEA,  [A_LEVEL] = OID_BYTEA,
	    [A_ACTOR] = OID_BYTEA,  [A_TRACE] = OID_BYTEA, [A_SESSION] = OID_BYTEA,
	    [A_RUN] = OID_BYTEA,    [A_JOB] = OID_BYTEA,   [A_TARGET] = OID_BYTEA,
	    [A_RECORD] = OID_BYTEA, [A_SALT] = OID_BYTEA,  [A_DETAIL] = OID_BYTEA,
	};
	struct abuf *a = st->arrays;
	struct params p = {0};
	PGresult *res;
	int err = 0;

	if (st->nbuf == 0)
		return 0;
	p_text(&p, st->log);
	for (int k = 0; k < A_COUNT; k++) {
		ab_end(&a[k], oids[k]);
		p_bytes(&p, a[k].p, a[k].len);
	}
	res = run(st, S_PUT_RECORDS, &p);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		const char *cons = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);

		if (state && !strcmp(state, "23505") && cons && !strcmp(cons, "records_event")) {
			const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);

			err = atr__err(ATR_ECONFLICT, "an event is already in store '%s' (%s)",
			               st->display, detail ? detail : "duplicate event_id");
		} else {
			err = pg_fail(st, st->conn, res, "cannot add records");
		}
	}
	PQclear(res);
	buffer_clear(st);
	return err;
}

/* The buffered record with event id 'id': its index, or -1. */
static long buffer_find(const struct pg_store *st, const uint8_t *id)
{
	uint64_t h;

	if (!st->nslots)
		return -1;
	memcpy(&h, id + 8, sizeof(h));
	for (size_t i = h & (st->nslots - 1); st->slots[i]; i = (i + 1) & (st->nslots - 1))
		if (!memcmp(st->bids[st->slots[i] - 1], id, 16))
			return (long)st->slots[i] - 1;
	return -1;
}

/* Remember buffered record 'k' (its id and content hash) for find_event. */
static int buffer_add_id(struct pg_store *st, const uint8_t *id, const uint8_t *hash)
{
	uint64_t h;
	size_t k = st->nbuf;

	if (k + 1 > st->bids_cap) {
		size_t cap = st->bids_cap ? 2 * st->bids_cap : 512;
		uint8_t(*b)[48] = realloc(st->bids, cap * sizeof(*b));

		if (!b)
			return atr__err(ATR_ENOMEM, "out of memory");
		st->bids = b;
		st->bids_cap = cap;
	}
	if (2 * (k + 1) > st->nslots) {
		size_t n = st->nslots ? 2 * st->nslots : 1024;
		uint32_t *slots = calloc(n, sizeof(*slots));

		if (!slots)
			return atr__err(ATR_ENOMEM, "out of memory");
		for (size_t j = 0; j < k; j++) {
			memcpy(&h, st->bids[j] + 8, sizeof(h));
			size_t i = h & (n - 1);

			while (slots[i])
				i = (i + 1) & (n - 1);
			slots[i] = (uint32_t)(j + 1);
		}
		free(st->slots);
		st->slots = slots;
		st->nslots = n;
	}
	memcpy(st->bids[k], id, 16);
	memcpy(st->bids[k] + 16, hash, 32);
	memcpy(&h, id + 8, sizeof(h));
	size_t i = h & (st->nslots - 1);

	while (st->slots[i])
		i = (i + 1) & (st->nslots - 1);
	st->slots[i] = (uint32_t)(k + 1);
	return 0;
}

/*
 * Records are buffered as the statement's array arguments and sent in one
 * statement when the buffer is large, or before tiles, a commit or a tile
 * read: a batch of 1000 events is one INSERT (the log layer hands them over
 * 256 at a time), so each filter value gets one postings row per batch, not
 * one per call. A repeated event id within the buffer is refused here; one
 * already in the database, which the log layer has looked up first, fails
 * the flush.
 */
static int pg_put_records(atr_store *base, const atr_store_entry *entries, size_t n)
{
	struct pg_store *st = (struct pg_store *)base;
	struct abuf *a;
	int err = 0;

	assert(st->in_write);
	if (n == 0)
		return 0;
	if (!st->arrays && !(st->arrays = calloc(A_COUNT, sizeof(*st->arrays))))
		return atr__err(ATR_ENOMEM, "out of memory");
	a = st->arrays;
	if (st->nbuf == 0) {
		for (int k = 0; k < A_COUNT && !err; k++)
			err = ab_begin(&a[k]);
		if (err)
			return err;
		st->buf_first = st->next_seq;
	}
	for (size_t i = 0; i < n; i++) {
		const atr_store_entry *e = &entries[i];

		assert(e->event_id && e->content_hash && e->record && e->type && e->level &&
		       e->actor && (!e->detail || e->salt));
		/* The seq is the Merkle leaf index: a gap or a repeat would break the tree. */
		if (e->seq != st->next_seq || e->seq > INT64_MAX)
			return atr__err(ATR_EINVALID,
			                "store '%s': record seq %llu where %llu was expected",
			                st->display, (unsigned long long)e->seq,
			                (unsigned long long)st->next_seq);
		if (buffer_find(st, e->event_id) >= 0) {
			char hex[33];

			atr__hex(hex, e->event_id, 16);
			return atr__err(ATR_ECONFLICT, "event '%s' is already in store '%s'", hex,
			                st->display);
		}
		if ((err = ab_int8(&a[A_SEQ], (int64_t)e->seq)) ||
		    (err = ab_add(&a[A_ID], e->event_id, 16)) ||
		    (err = ab_add(&a[A_HASH], e->content_hash, 32)) ||
		    (err = ab_str(&a[A_TYPE], e->type)) || (err = ab_str(&a[A_LEVEL], e->level)) ||
		    (err = ab_str(&a[A_ACTOR], e->actor)) || (err = ab_int8(&a[A_TS], e->ts_us)) ||
		    (err =
		         ab_add(&a[A_TRACE], e->trace_id, e->trace_id ? strlen(e->trace_id) : 0)) ||
		    (err = ab_add(&a[A_SESSION], e->session_id,
		                  e->session_id ? strlen(e->session_id) : 0)) ||
		    (err = ab_add(&a[A_RUN], e->run_id, e->run_id ? strlen(e->run_id) : 0)) ||
		    (err = ab_add(&a[A_JOB], e->job_id, e->job_id ? strlen(e->job_id) : 0)) ||
		    (err = ab_add(&a[A_TARGET], e->target, e->target ? strlen(e->target) : 0)) ||
		    (err = ab_add(&a[A_RECORD], e->record, e->record_len)) ||
		    (err = ab_add(&a[A_SALT], e->detail ? (const void *)e->salt : NULL, 32)) ||
		    (err = ab_add(&a[A_DETAIL], e->detail ? (e->detail_len ? e->detail : "") : NULL,
		                  e->detail_len)) ||
		    (err = buffer_add_id(st, e->event_id, e->content_hash)))
			return err;
		st->nbuf++;
		st->next_seq++;
	}
	if (a[A_RECORD].len + a[A_DETAIL].len > FLUSH_BYTES || st->nbuf >= FLUSH_RECORDS)
		return flush_records(st);
	return 0;
}

static int pg_put_tiles(atr_store *base, const atr_store_tile *tiles, size_t n)
{
	struct pg_store *st = (struct pg_store *)base;
	struct abuf a[3] = {{0}};
	struct params p = {0};
	PGresult *res;
	int err = 0;

	assert(st->in_write);
	if ((err = flush_records(st)) != 0)
		return err;
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		const atr_store_tile *t = &tiles[i];

		if (t->width < 1 || t->width > ATR_TILE_WIDTH || t->index > INT64_MAX ||
		    t->level > INT32_MAX)
			return atr__err(ATR_EINVALID, "store '%s': tile %u/%llu has width %u",
			                st->display, t->level, (unsigned long long)t->index,
			                t->width);
	}
	for (int k = 0; k < 3 && !err; k++)
		err = ab_begin(&a[k]);
	for (size_t i = 0; i < n && !err; i++) {
		const atr_store_tile *t = &tiles[i];
		size_t later = i + 1;

		/* One row may be inserted once per statement: the last version of a tile wins. */
		while (later < n &&
		       !(tiles[later].level == t->level && tiles[later].index == t->index))
			later++;
		if (later < n)
			continue;
		if (!(err = ab_int4(&a[0], (int32_t)t->level)) &&
		    !(err = ab_int8(&a[1], (int64_t)t->index)))
			err = ab_add(&a[2], t->hashes, t->width * sizeof(atr_hash));
	}
	if (!err) {
		p_text(&p, st->log);
		ab_end(&a[0], OID_INT4);
		ab_end(&a[1], OID_INT8);
		ab_end(&a[2], OID_BYTEA);
		for (int k = 0; k < 3; k++)
			p_bytes(&p, a[k].p, a[k].len);
		res = run(st, S_PUT_TILES, &p);
		if ((err = check(st, st->conn, res, "cannot store tiles")) == 0)
			PQclear(res);
	}
	for (int k = 0; k < 3; k++)
		free(a[k].p);
	return err;
}

static int pg_write_commit(atr_store *base, uint64_t new_size)
{
	struct pg_store *st = (struct pg_store *)base;
	char sql[LOG_NAME_MAX * 2 + 160];
	PGresult *res;
	int err = 0;

	assert(st->in_write);
	if (new_size != st->next_seq)
		return atr__err(
		    ATR_EINVALID, "store '%s': commit of size %llu after records up to %llu",
		    st->display, (unsigned long long)new_size, (unsigned long long)st->next_seq);
	if ((err = flush_records(st)) != 0)
		return err;
	/* One round trip: the head row and the commit, which waits for the WAL flush. */
	snprintf(sql, sizeof(sql), "UPDATE agentrail.logs SET size = %llu WHERE log = %s; COMMIT",
	         (unsigned long long)new_size, st->log_lit);
	res = PQexec(st->conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		err = pg_fail(st, st->conn, res, "cannot commit");
	else if (strcmp(PQcmdStatus(res), "COMMIT") != 0)
		err = atr__err(ATR_EBACKEND, "cannot commit on store '%s': the transaction was %s",
		               st->display, PQcmdStatus(res));
	PQclear(res);
	/* A failed COMMIT may leave the transaction open: end it, nothing was made durable. */
	if (err)
		rollback(st);
	st->in_write = 0;
	return err;
}

static void pg_write_abort(atr_store *base)
{
	struct pg_store *st = (struct pg_store *)base;

	buffer_clear(st);
	rollback(st);
	st->in_write = 0;
}

/* ---------------------------------------------------------------- reading */

static int pg_size(atr_store *base, uint64_t *size)
{
	struct pg_store *st = (struct pg_store *)base;
	int err;

	if (!st->in_write && (err = revive(st)) != 0)
		return err;
	return read_size(st, size);
}

static int pg_get_tile(atr_store *base, unsigned level, uint64_t index, atr_hash *hashes,
                       unsigned *width)
{
	struct pg_store *st = (struct pg_store *)base;
	struct params p = {0};
	PGresult *res;
	int err = 0, len;

	if (!st->in_write && (err = revive(st)) != 0)
		return err;
	if (index > INT64_MAX || level > INT32_MAX)
		return atr__err(ATR_ENOTFOUND, "store '%s' has no tile %u/%llu", st->display, level,
		                (unsigned long long)index);
	p_text(&p, st->log);
	p_int4(&p, (int32_t)level);
	p_int8(&p, (int64_t)index);
	res = run(st, S_GET_TILE, &p);
	if ((err = check(st, st->conn, res, "cannot read a tile")) != 0)
		return err;
	if (PQntuples(res) == 0) {
		err = atr__err(ATR_ENOTFOUND, "store '%s' has no tile %u/%llu", st->display, level,
		               (unsigned long long)index);
	} else {
		len = PQgetlength(res, 0, 0);
		if (len <= 0 || len % 32 != 0 || len > ATR_TILE_WIDTH * 32) {
			err = atr__err(ATR_ETAMPER, "store '%s': tile %u/%llu is malformed",
			               st->display, level, (unsigned long long)index);
		} else {
			memcpy(hashes, PQgetvalue(res, 0, 0), (size_t)len);
			*width = (unsigned)len / 32;
		}
	}
	PQclear(res);
	return err;
}

/* ---------------------------------------------------------------- queries */

/*
 * A prefix match as a range of bytes: val >= prefix AND val < successor, the
 * successor being the prefix without its trailing 0xff bytes and its last
 * byte one higher. A prefix of only 0xff bytes has none ('*succ_len' -1).
 */
static void prefix_successor(const char *prefix, char *succ, int *succ_len)
{
	size_t n = strlen(prefix);

	while (n > 0 && (unsigned char)prefix[n - 1] == 0xff)
		n--;
	if (n == 0) {
		*succ_len = -1;
		return;
	}
	memcpy(succ, prefix, n);
	succ[n - 1] = (char)((unsigned char)succ[n - 1] + 1);
	*succ_len = (int)n;
}

/* postings.col of the target, the one range driver. */
#define C_TARGET 8

struct sqlbuf {
	char s[3072];
	size_t len;
	int where;
};

static void sql_add(struct sqlbuf *b, const char *text)
{
	size_t n = strlen(text);

	assert(b->len + n < sizeof(b->s));
	memcpy(b->s + b->len, text, n + 1);
	b->len += n;
}

/* Add " AND <col> <op> $k" for the next parameter. */
static void add_cond(struct sqlbuf *b, const struct params *p, const char *cond)
{
	char t[96];

	snprintf(t, sizeof(t), " AND %s $%d", cond, p->n);
	sql_add(b, t);
}

static void cursor_free(struct pg_cursor *cur);

/* A read connection: the store's own when free, else a private one for this cursor. */
static int take_reader(struct pg_store *st, PGconn **out)
{
	PGconn *conn;
	int err;

	if (st->rconn && !st->rconn_in_use && PQstatus(st->rconn) == CONNECTION_OK) {
		st->rconn_in_use = 1;
		*out = st->rconn;
		return 0;
	}
	if ((err = connect_db(st, &conn)) != 0)
		return err;
	if (!st->rconn_in_use) {
		PQfinish(st->rconn);
		st->rconn = conn;
		st->rconn_in_use = 1;
	}
	*out = conn;
	return 0;
}

static void give_reader(struct pg_store *st, PGconn *conn)
{
	/* End the cursor's transaction (and with it the cursor and its snapshot). */
	if (PQtransactionStatus(conn) != PQTRANS_IDLE)
		PQclear(PQexec(conn, "ROLLBACK"));
	if (conn == st->rconn)
		st->rconn_in_use = 0;
	else
		PQfinish(conn);
}

static int pg_query_open(atr_store *base, const atr_query *q, atr_store_cursor **out)
{
	static const struct {
		size_t off;
		const char *col;
	} eq[] = {
	    {offsetof(atr_query, type), "r.type ="},
	    {offsetof(atr_query, actor), "r.actor ="},
	    {offsetof(atr_query, level), "r.level ="},
	    {offsetof(atr_query, trace_id), "r.trace_id ="},
	    {offsetof(atr_query, session_id), "r.session_id ="},
	    {offsetof(atr_query, run_id), "r.run_id ="},
	    {offsetof(atr_query, job_id), "r.job_id ="},
	};
	/* The equality drivers, most selective first (by what the columns usually hold). */
	static const struct {
		size_t off;
		unsigned col;
	} drivers[] = {
	    {offsetof(atr_query, job_id), 7},
	    {offsetof(atr_query, run_id), 6},
	    {offsetof(atr_query, session_id), 5},
	    {offsetof(atr_query, trace_id), 4},
	    {0, C_TARGET}, /* target_prefix: a range, in its place in this order */
	    {offsetof(atr_query, actor), 3},
	    {offsetof(atr_query, type), 1},
	    {offsetof(atr_query, level), 2},
	};
	struct pg_store *st = (struct pg_store *)base;
	struct pg_cursor *cur = NULL;
	struct sqlbuf b = {0};
	struct params p = {0};
	uint8_t id[16];
	char *succ = NULL;
	const char *val = NULL, *order;
	unsigned col = 0;
	int succ_len = -1, err;
	PGresult *res;

	*out = NULL;
	if (q->event_id && atr__uuid_parse(id, q->event_id) != 0)
		return atr__err(ATR_EINVALID, "'%.80s' is not a UUID", q->event_id);
	if (q->target_prefix) {
		size_t n = strlen(q->target_prefix);

		if (n > INT_MAX)
			return atr__err(ATR_ETOOBIG, "target prefix is too long");
		if (!(succ = malloc(n + 1)))
			return atr__err(ATR_ENOMEM, "out of memory");
		prefix_successor(q->target_prefix, succ, &succ_len);
	}
	/* The driver: the most selective equality filter's postings, as in the SQLite store. */
	if (!q->event_id) {
		for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]) && !col; i++) {
			if (drivers[i].col == C_TARGET) {
				if (q->target_prefix)
					col = C_TARGET;
			} else if ((val = *(const char *const *)((const char *)q +
			                                         drivers[i].off)) != NULL) {
				col = drivers[i].col;
			}
		}
	}
	sql_add(&b, "DECLARE atr_cursor NO SCROLL CURSOR FOR"
	            " SELECT r.seq, r.record, p.detail, p.salt FROM ");
	p_text(&p, st->log);
	if (col == C_TARGET) {
		/* Many values, each with its postings in seq order: all candidates, sorted. */
		sql_add(&b, "agentrail.postings po CROSS JOIN LATERAL unnest(po.seqs) AS s(seq)"
		            " JOIN agentrail.records r ON r.log = po.log AND r.seq = s.seq"
		            " LEFT JOIN agentrail.payloads p ON p.log = r.log AND p.seq = r.seq"
		            " WHERE po.log = $1 AND po.col = 8");
		p_text(&p, q->target_prefix);
		add_cond(&b, &p, "po.val >=");
		if (succ_len >= 0) {
			p_bytes(&p, succ, (size_t)succ_len);
			add_cond(&b, &p, "po.val <");
		}
		if (q->seq_to) {
			p_int8(&p, clamp_u64(q->seq_to));
			add_cond(&b, &p, "po.first_seq <");
		}
		order = q->descending ? " ORDER BY s.seq DESC" : " ORDER BY s.seq ASC";
	} else if (col) {
		/*
		 * One value: its postings rows in first_seq order never overlap, so
		 * (first_seq, position in the row) is seq order. Rows starting at or
		 * after seq_to cannot hold a candidate; nor can those before the
		 * last one starting at or before seq_from.
		 */
		char t[400];

		p_text(&p, val);
		snprintf(
		    t, sizeof(t),
		    "agentrail.postings po CROSS JOIN LATERAL unnest(po.seqs) WITH ORDINALITY"
		    " AS s(seq, ord) JOIN agentrail.records r ON r.log = po.log AND r.seq = s.seq"
		    " LEFT JOIN agentrail.payloads p ON p.log = r.log AND p.seq = r.seq"
		    " WHERE po.log = $1 AND po.col = %u AND po.val = $%d",
		    col, p.n);
		sql_add(&b, t);
		if (q->seq_from) {
			p_int8(&p, clamp_u64(q->seq_from));
			snprintf(t, sizeof(t),
			         " AND po.first_seq >= coalesce((SELECT max(first_seq) FROM"
			         " agentrail.postings WHERE log = $1 AND col = %u AND val = $%d"
			         " AND first_seq <= $%d), 0)",
			         col, p.n - 1, p.n);
			sql_add(&b, t);
		}
		if (q->seq_to) {
			p_int8(&p, clamp_u64(q->seq_to));
			add_cond(&b, &p, "po.first_seq <");
		}
		order = q->descending ? " ORDER BY po.first_seq DESC, s.ord DESC"
		                      : " ORDER BY po.first_seq ASC, s.ord ASC";
	} else if (!q->event_id && (q->since_us || q->until_us)) {
		/* The batches overlapping the ts range, each a seq range of records. */
		sql_add(&b, "agentrail.batches b JOIN agentrail.records r ON r.log = b.log"
		            " AND r.seq >= b.first_seq AND r.seq <= b.last_seq"
		            " LEFT JOIN agentrail.payloads p ON p.log = r.log AND p.seq = r.seq"
		            " WHERE b.log = $1");
		if (q->since_us) {
			p_int8(&p, q->since_us);
			add_cond(&b, &p, "b.ts_max >=");
		}
		if (q->until_us) {
			p_int8(&p, q->until_us);
			add_cond(&b, &p, "b.ts_min <");
		}
		if (q->seq_from) {
			char t[200];

			p_int8(&p, clamp_u64(q->seq_from));
			snprintf(t, sizeof(t),
			         " AND b.first_seq >= coalesce((SELECT max(first_seq) FROM"
			         " agentrail.batches WHERE log = $1 AND first_seq <= $%d), 0)",
			         p.n);
			sql_add(&b, t);
		}
		if (q->seq_to) {
			p_int8(&p, clamp_u64(q->seq_to));
			add_cond(&b, &p, "b.first_seq <");
		}
		order = q->descending ? " ORDER BY b.first_seq DESC, r.seq DESC"
		                      : " ORDER BY b.first_seq ASC, r.seq ASC";
	} else {
		/* A seq range of records (the event_id index when that is set). */
		sql_add(&b, "agentrail.records r"
		            " LEFT JOIN agentrail.payloads p ON p.log = r.log AND p.seq = r.seq"
		            " WHERE r.log = $1");
		order = q->descending ? " ORDER BY r.seq DESC" : " ORDER BY r.seq ASC";
	}
	/* Every filter is checked on the record itself, whatever drives the query. */
	if (q->event_id) {
		p_bytes(&p, id, 16);
		add_cond(&b, &p, "r.event_id =");
	}
	for (size_t i = 0; i < sizeof(eq) / sizeof(eq[0]); i++) {
		const char *v = *(const char *const *)((const char *)q + eq[i].off);

		if (v) {
			p_text(&p, v);
			add_cond(&b, &p, eq[i].col);
		}
	}
	if (q->target_prefix) {
		p_text(&p, q->target_prefix);
		add_cond(&b, &p, "r.target >=");
		if (succ_len >= 0) {
			p_bytes(&p, succ, (size_t)succ_len);
			add_cond(&b, &p, "r.target <");
		}
	}
	if (q->since_us) {
		p_int8(&p, q->since_us);
		add_cond(&b, &p, "r.ts >=");
	}
	if (q->until_us) {
		p_int8(&p, q->until_us);
		add_cond(&b, &p, "r.ts <");
	}
	if (q->seq_from) {
		p_int8(&p, clamp_u64(q->seq_from));
		add_cond(&b, &p, "r.seq >=");
	}
	if (q->seq_to) {
		p_int8(&p, clamp_u64(q->seq_to));
		add_cond(&b, &p, "r.seq <");
	}
	sql_add(&b, order);
	if (q->limit) {
		char t[32];

		p_int8(&p, clamp_u64(q->limit));
		snprintf(t, sizeof(t), " LIMIT $%d", p.n);
		sql_add(&b, t);
	}
	if (!(cur = calloc(1, sizeof(*cur)))) {
		err = atr__err(ATR_ENOMEM, "out of memory");
		goto cleanup;
	}
	cur->st = st;
	if ((err = take_reader(st, &cur->conn)) != 0)
		goto cleanup;
	/* The snapshot is the log as committed now: the DECLARE takes it. */
	if ((err = exec_simple(st, cur->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
	                       "cannot start a query")) != 0)
		goto cleanup;
	res = run_sql(cur->conn, b.s, &p);
	if ((err = check(st, cur->conn, res, "cannot start a query")) != 0)
		goto cleanup;
	PQclear(res);
	*out = (atr_store_cursor *)cur;
	cur = NULL;
cleanup:
	if (cur)
		cursor_free(cur);
	free(succ);
	return err;
}

static void cursor_free(struct pg_cursor *cur)
{
	PQclear(cur->page);
	if (cur->conn)
		give_reader(cur->st, cur->conn);
	free(cur);
}

static int pg_query_next(atr_store_cursor *c, atr_store_row *row)
{
	struct pg_cursor *cur = (struct pg_cursor *)c;
	const PGresult *res;
	int r;

	if (!cur->page || cur->row >= cur->nrows) {
		struct params p = {0};
		int err;

		PQclear(cur->page);
		cur->page = NULL;
		cur->row = cur->nrows = 0;
		if (cur->done)
			return 0;
		cur->page =
		    run_sql(cur->conn, "FETCH " ATR_PG_STR(FETCH_ROWS) " FROM atr_cursor", &p);
		if ((err = check(cur->st, cur->conn, cur->page, "cannot read the next record")) !=
		    0) {
			cur->page = NULL;
			return err;
		}
		cur->nrows = PQntuples(cur->page);
		if (cur->nrows < FETCH_ROWS)
			cur->done = 1;
		if (cur->nrows == 0)
			return 0;
	}
	res = cur->page;
	r = cur->row++;
	memset(row, 0, sizeof(*row));
	row->seq = (uint64_t)get_int8(res, r, 0);
	row->record = PQgetvalue(res, r, 1);
	row->record_len = (size_t)PQgetlength(res, r, 1);
	if (!PQgetisnull(res, r, 2)) {
		if (PQgetisnull(res, r, 3) || PQgetlength(res, r, 3) != 32)
			return atr__err(ATR_ETAMPER,
			                "store '%s': payload %llu has a malformed salt",
			                cur->st->display, (unsigned long long)row->seq);
		row->detail = PQgetvalue(res, r, 2);
		row->detail_len = (size_t)PQgetlength(res, r, 2);
		row->salt = (const uint8_t *)PQgetvalue(res, r, 3);
	}
	return 1;
}

static void pg_query_close(atr_store_cursor *c)
{
	if (c)
		cursor_free((struct pg_cursor *)c);
}

/* ---------------------------------------------------------------- own transactions */

/* Begin a transaction of its own on the write connection (not inside a write). */
static int begin_own(struct pg_store *st)
{
	int err;

	assert(!st->in_write);
	if (st->flags & ATR_OPEN_READONLY)
		return atr__err(ATR_EINVALID, "store '%s' is open read-only", st->display);
	if ((err = revive(st)) != 0)
		return err;
	return exec_simple(st, st->conn, "BEGIN", "cannot begin a write");
}

/* Commit what begin_own started, or roll it back when 'err' says it failed. */
static int end_own(struct pg_store *st, int err, const char *what)
{
	if (err == 0) {
		PGresult *res = PQexec(st->conn, "COMMIT");

		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			err = pg_fail(st, st->conn, res, what);
		else if (strcmp(PQcmdStatus(res), "COMMIT") != 0)
			err = atr__err(ATR_EBACKEND, "%s on store '%s': the transaction was %s",
			               what, st->display, PQcmdStatus(res));
		PQclear(res);
	}
	if (err)
		rollback(st);
	return err;
}

/* Lock the log's head row inside an own transaction and read it. */
static int lock_head(struct pg_store *st, uint64_t *size, uint64_t *pruned)
{
	struct params p = {0};
	PGresult *res;
	int err;

	p_text(&p, st->log);
	res =
	    run_sql(st->conn,
	            "SELECT size, pruned_below FROM agentrail.logs WHERE log = $1 FOR UPDATE", &p);
	if ((err = check(st, st->conn, res, "cannot read the log")) != 0)
		return err;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return atr__err(ATR_ETAMPER, "store '%s' has no size", st->display);
	}
	*size = (uint64_t)get_int8(res, 0, 0);
	*pruned = (uint64_t)get_int8(res, 0, 1);
	PQclear(res);
	return 0;
}

/* ---------------------------------------------------------------- checkpoints */

static int pg_put_checkpoint(atr_store *base, uint64_t size, const char *note, size_t len)
{
	struct pg_store *st = (struct pg_store *)base;
	struct params p = {0};
	PGresult *res;
	uint64_t cur = 0;
	int err;

	assert(!st->in_write);
	if (st->flags & ATR_OPEN_READONLY)
		return atr__err(ATR_EINVALID, "store '%s' is open read-only", st->display);
	if (size > INT64_MAX || len > INT32_MAX)
		return atr__err(ATR_EINVALID, "checkpoint too large");
	if ((err = begin_own(st)) != 0)
		return err;
	/* Serialize checkpoint writers of this log, so the same note is kept once. */
	p_text(&p, st->log);
	res = run_sql(st->conn,
	              "SELECT pg_advisory_xact_lock(hashtextextended('agentrail.checkpoints/'"
	              " || $1::text, 0)), size FROM agentrail.logs WHERE log = $1",
	              &p);
	if ((err = check(st, st->conn, res, "cannot store the checkpoint")) == 0) {
		if (PQntuples(res) != 1)
			err = atr__err(ATR_ETAMPER, "store '%s' has no size", st->display);
		else
			cur = (uint64_t)get_int8(res, 0, 1);
		PQclear(res);
	}
	if (err == 0 && size > cur)
		err = atr__err(ATR_EINVALID,
		               "a checkpoint of size %llu is beyond the log's %llu records",
		               (unsigned long long)size, (unsigned long long)cur);
	if (err == 0) {
		p_int8(&p, (int64_t)size);
		p_bytes(&p, note, len);
		res =
		    run_sql(st->conn,
		            "INSERT INTO agentrail.checkpoints (log, size, note) SELECT $1, $2, $3"
		            " WHERE NOT EXISTS (SELECT 1 FROM agentrail.checkpoints"
		            " WHERE log = $1 AND size = $2 AND note = $3)",
		            &p);
		if ((err = check(st, st->conn, res, "cannot store the checkpoint")) == 0)
			PQclear(res);
	}
	return end_own(st, err, "cannot commit the checkpoint");
}

/* Copy column 1 (the note) of row 'r'. */
static int take_note(const PGresult *res, int r, char **note, size_t *len)
{
	int n = PQgetlength(res, r, 1);

	if (!(*note = malloc((size_t)n + 1)))
		return atr__err(ATR_ENOMEM, "out of memory");
	if (n)
		memcpy(*note, PQgetvalue(res, r, 1), (size_t)n);
	(*note)[n] = '\0';
	*len = (size_t)n;
	return 0;
}

static int pg_get_checkpoint(atr_store *base, uint64_t min_size, char **note, size_t *len)
{
	struct pg_store *st = (struct pg_store *)base;
	struct params p = {0};
	PGresult *res;
	int err;

	if (!st->in_write && (err = revive(st)) != 0)
		return err;
	*note = NULL;
	*len = 0;
	p_text(&p, st->log);
	if (min_size == UINT64_MAX) {
		res = run_sql(st->conn,
		              "SELECT size, note FROM agentrail.checkpoints WHERE log = $1"
		              " ORDER BY size DESC, id DESC LIMIT 1",
		              &p);
	} else {
		p_int8(&p, clamp_u64(min_size));
		res = run_sql(st->conn,
		              "SELECT size, note FROM agentrail.checkpoints WHERE log = $1"
		              " AND size >= $2 ORDER BY size, id DESC LIMIT 1",
		              &p);
	}
	if ((err = check(st, st->conn, res, "cannot read checkpoints")) != 0)
		return err;
	if (PQntuples(res) == 1)
		err = take_note(res, 0, note, len);
	else if (min_size == UINT64_MAX)
		err = atr__err(ATR_ENOTFOUND, "store '%s' has no checkpoint", st->display);
	else
		err = atr__err(ATR_ENOTFOUND, "store '%s' has no checkpoint of size %llu or more",
		               st->display, (unsigned long long)min_size);
	PQclear(res);
	return err;
}

static int pg_each_checkpoint(atr_store *base,
                              int (*fn)(void *ctx, uint64_t size, const char *note, size_t len),
                              void *ctx)
{
	struct pg_store *st = (struct pg_store *)base;
	struct params p = {0};
	PGresult *res;
	int err;

	if (!st->in_write && (err = revive(st)) != 0)
		return err;
	p_text(&p, st->log);
	res = run_sql(st->conn,
	              "SELECT size, note FROM agentrail.checkpoints WHERE log = $1"
	              " ORDER BY size, id",
	              &p);
	if ((err = check(st, st->conn, res, "cannot read checkpoints")) != 0)
		return err;
	for (int r = 0; r < PQntuples(res) && !err; r++) {
		int64_t size = get_int8(res, r, 0);

		if (size < 0)
			err = atr__err(ATR_ETAMPER, "store '%s' has a checkpoint of negative size",
			               st->display);
		else
			err = fn(ctx, (uint64_t)size, PQgetvalue(res, r, 1),
			         (size_t)PQgetlength(res, r, 1));
	}
	PQclear(res);
	return err;
}

/* ---------------------------------------------------------------- metadata */

/* A key of store metadata that callers may set: 1..64 bytes of [a-z0-9_]. */
static int meta_key_ok(const char *key)
{
	size_t n = 0;

	for (; key[n]; n++)
		if (n == 64 || !((key[n] >= 'a' && key[n] <= 'z') ||
		                 (key[n] >= '0' && key[n] <= '9') || key[n] == '_'))
			return 0;
	return n > 0;
}

/*
 * Read meta 'key' into a fresh buffer; ATR_ENOTFOUND when unset. The log's
 * own values (size, pruned_below once set, created_at, log_id) live in its
 * head row and read as their decimal text, as in the SQLite store.
 */
static int meta_read(struct pg_store *st, const char *key, char **out, size_t *out_len)
{
	struct params p = {0};
	PGresult *res;
	int err;

	p_text(&p, st->log);
	p_text(&p, key);
	res = run_sql(st->conn,
	              "SELECT CASE $2::text WHEN 'size' THEN convert_to(size::text, 'UTF8')"
	              " WHEN 'pruned_below' THEN CASE WHEN pruned_below > 0"
	              " THEN convert_to(pruned_below::text, 'UTF8') END"
	              " WHEN 'created_at' THEN convert_to(created_at::text, 'UTF8')"
	              " WHEN 'log_id' THEN convert_to(log_id, 'UTF8')"
	              " ELSE (SELECT value FROM agentrail.meta m WHERE m.log = $1 AND m.key = $2)"
	              " END FROM agentrail.logs WHERE log = $1",
	              &p);
	if ((err = check(st, st->conn, res, "cannot read store metadata")) != 0)
		return err;
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
		int n = PQgetlength(res, 0, 0);

		if (!(*out = malloc((size_t)n + 1))) {
			err = atr__err(ATR_ENOMEM, "out of memory");
		} else {
			if (n)
				memcpy(*out, PQgetvalue(res, 0, 0), (size_t)n);
			(*out)[n] = '\0';
			*out_len = (size_t)n;
		}
	} else {
		err = atr__err(ATR_ENOTFOUND, "store '%s' has no value for '%s'", st->display, key);
	}
	PQclear(res);
	return err;
}

static int pg_meta_once(atr_store *base, const char *key, const void *value, size_t len, char **out,
                        size_t *out_len)
{
	struct pg_store *st = (struct pg_store *)base;
	struct params p = {0};
	PGresult *res;
	int err;

	assert(!st->in_write);
	*out = NULL;
	*out_len = 0;
	if (!meta_key_ok(key))
		return atr__err(ATR_EINVALID, "store metadata key '%s' is not 1..64 of [a-z0-9_]",
		                key);
	if ((err = revive(st)) != 0)
		return err;
	err = meta_read(st, key, out, out_len);
	if (err != ATR_ENOTFOUND || !value)
		return err;
	if (st->flags & ATR_OPEN_READONLY)
		return atr__err(ATR_EINVALID, "store '%s' is open read-only", st->display);
	if (len > INT32_MAX)
		return atr__err(ATR_EINVALID, "store metadata value too large");
	if (!strcmp(key, "pruned_below"))
		return atr__err(ATR_EINVALID, "store metadata key '%s' is the store's own", key);
	p_text(&p, st->log);
	p_text(&p, key);
	p_bytes(&p, value, len);
	/* Its own transaction (autocommit); racing writers: the first insert wins. */
	res = run_sql(st->conn,
	              "INSERT INTO agentrail.meta (log, key, value) VALUES ($1, $2, $3)"
	              " ON CONFLICT (log, key) DO NOTHING",
	              &p);
	if ((err = check(st, st->conn, res, "cannot store metadata")) != 0)
		return err;
	PQclear(res);
	return meta_read(st, key, out, out_len);
}

/* ---------------------------------------------------------------- retention */

static int pg_delete_payloads(atr_store *base, const uint64_t *seqs, size_t n, uint64_t *deleted)
{
	struct pg_store *st = (struct pg_store *)base;
	struct params p = {0};
	struct abuf a = {0};
	PGresult *res;
	uint64_t count = 0;
	int err = 0;

	if (deleted)
		*deleted = 0;
	if (n == 0)
		return 0;
	if (st->flags & ATR_OPEN_READONLY)
		return atr__err(ATR_EINVALID, "store '%s' is open read-only", st->display);
	if ((err = ab_begin(&a)) != 0)
		return err;
	for (size_t i = 0; i < n && !err; i++)
		if (seqs[i] <= INT64_MAX)
			err = ab_int8(&a, (int64_t)seqs[i]);
	if (!err && (err = revive(st)) == 0) {
		ab_end(&a, OID_INT8);
		p_text(&p, st->log);
		p_bytes(&p, a.p, a.len);
		/* One statement: its own transaction. */
		res = run_sql(st->conn,
		              "DELETE FROM agentrail.payloads WHERE log = $1"
		              " AND seq = ANY($2::bigint[])",
		              &p);
		if ((err = check(st, st->conn, res, "cannot delete payloads")) == 0) {
			count = strtoull(PQcmdTuples(res), NULL, 10);
			PQclear(res);
		}
	}
	free(a.p);
	if (err == 0 && deleted)
		*deleted = count;
	return err;
}

static int pg_pruned_below(atr_store *base, uint64_t *below)
{
	struct pg_store *st = (struct pg_store *)base;
	struct params p = {0};
	PGresult *res;
	int err;

	if (!st->in_write && (err = revive(st)) != 0)
		return err;
	*below = 0;
	p_text(&p, st->log);
	res = run(st, S_HEAD, &p);
	if ((err = check(st, st->conn, res, "cannot read the log")) != 0)
		return err;
	if (PQntuples(res) != 1) {
		err = atr__err(ATR_ETAMPER, "store '%s' has no size", st->display);
	} else {
		int64_t v = get_int8(res, 0, 1);

		if (v < 0 || v % ATR_TILE_WIDTH)
			err =
			    atr__err(ATR_ETAMPER, "store '%s' has a malformed pruned_below '%lld'",
			             st->display, (long long)v);
		else
			*below = (uint64_t)v;
	}
	PQclear(res);
	return err;
}

static int pg_prune_records(atr_store *base, uint64_t below, uint64_t *deleted)
{
	struct pg_store *st = (struct pg_store *)base;
	struct params p = {0};
	PGresult *res;
	uint64_t size = 0, cur = 0, count = 0;
	int err;

	if (deleted)
		*deleted = 0;
	if (below % ATR_TILE_WIDTH != 0 || below > INT64_MAX)
		return atr__err(ATR_EINVALID,
		                "records can be pruned only below a multiple of %d, not %llu",
		                ATR_TILE_WIDTH, (unsigned long long)below);
	if ((err = begin_own(st)) != 0)
		return err;
	if ((err = lock_head(st, &size, &cur)) == 0 && below > size)
		err = atr__err(ATR_EINVALID,
		               "cannot prune records below %llu: the log has %llu records",
		               (unsigned long long)below, (unsigned long long)size);
	if (err == 0 && below > cur) {
		p_text(&p, st->log);
		p_int8(&p, (int64_t)below);
		res = run_sql(st->conn,
		              "UPDATE agentrail.logs SET pruned_below = $2 WHERE log = $1", &p);
		if ((err = check(st, st->conn, res, "cannot prune records")) == 0) {
			PQclear(res);
			res = run_sql(st->conn,
			              "DELETE FROM agentrail.payloads WHERE log = $1 AND seq < $2",
			              &p);
			err = check(st, st->conn, res, "cannot prune records");
		}
		if (err == 0) {
			PQclear(res);
			res = run_sql(st->conn,
			              "DELETE FROM agentrail.records WHERE log = $1 AND seq < $2",
			              &p);
			if ((err = check(st, st->conn, res, "cannot prune records")) == 0) {
				count = strtoull(PQcmdTuples(res), NULL, 10);
				PQclear(res);
			}
		}
	}
	err = end_own(st, err, "cannot commit the pruning");
	if (err == 0 && deleted)
		*deleted = count;
	return err;
}

/* ---------------------------------------------------------------- lifetime */

static void pg_free(atr_store *base)
{
	struct pg_store *st = (struct pg_store *)base;

	if (!st)
		return;
	assert(!st->rconn_in_use); /* every cursor is closed before its store */
	if (st->conn) {
		rollback(st);
		PQfinish(st->conn);
	}
	if (st->rconn)
		PQfinish(st->rconn);
	if (st->arrays)
		for (int k = 0; k < A_COUNT; k++)
			free(st->arrays[k].p);
	free(st->arrays);
	free(st->bids);
	free(st->slots);
	free(st->bloom);
	if (st->log_lit)
		PQfreemem(st->log_lit);
	free(st->conninfo);
	free(st->display);
	free(st);
}

static const atr_store pg_vtable = {
    .version = ATR_STORE_VERSION,
    .name = "postgres",
    .write_begin = pg_write_begin,
    .find_event = pg_find_event,
    .put_records = pg_put_records,
    .put_tiles = pg_put_tiles,
    .write_commit = pg_write_commit,
    .write_abort = pg_write_abort,
    .size = pg_size,
    .get_tile = pg_get_tile,
    .query_open = pg_query_open,
    .query_next = pg_query_next,
    .query_close = pg_query_close,
    .free = pg_free,
    .put_checkpoint = pg_put_checkpoint,
    .get_checkpoint = pg_get_checkpoint,
    .each_checkpoint = pg_each_checkpoint,
    .meta_once = pg_meta_once,
    .delete_payloads = pg_delete_payloads,
    .prune_records = pg_prune_records,
    .pruned_below = pg_pruned_below,
};

int atr_store_postgres_open(atr_store **out, const char *uri, unsigned flags)
{
	struct pg_store *st;
	int version = 0, exists = 0, err;

	*out = NULL;
	if (!uri || !*uri)
		return atr__err(ATR_EINVALID, "the store URI is empty");
	if (!(st = calloc(1, sizeof(*st))))
		return atr__err(ATR_ENOMEM, "out of memory");
	st->base = pg_vtable;
	st->flags = flags;
	if ((err = parse_uri(st, uri)) != 0)
		goto fail;
	if ((err = connect_db(st, &st->conn)) != 0)
		goto fail;
	if (!(st->log_lit = PQescapeLiteral(st->conn, st->log, strlen(st->log)))) {
		err = atr__err(ATR_ENOMEM, "out of memory");
		goto fail;
	}
	if ((err = schema_version(st, &version)) != 0)
		goto fail;
	if (version > 0) {
		if ((err = prepare_all(st)) != 0 || (err = log_exists(st, &exists)) != 0)
			goto fail;
	}
	if (!exists) {
		if (flags & (ATR_OPEN_READONLY | ATR_OPEN_NOCREATE)) {
			err = atr__err(ATR_ENOTFOUND, "store '%s' does not exist", st->display);
			goto fail;
		}
		if ((err = create_log(st, version > 0)) != 0)
			goto fail;
		if (version == 0 && (err = prepare_all(st)) != 0)
			goto fail;
	}
	*out = &st->base;
	return 0;
fail:
	pg_free(&st->base);
	return err;
}
