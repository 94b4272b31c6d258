/*
 * The embedded SQLite store: records, their payloads and the tree's tiles in
 * one WAL-mode database file, every commit fsynced (synchronous=FULL). Several
 * processes may open the same file; BEGIN IMMEDIATE serializes their writes.
 * Cursors read from a connection of their own, so an open cursor keeps one
 * snapshot whatever is written meanwhile, through this handle or another.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <sqlite3.h>

#include <agentrail/log.h>
#include <agentrail/sys/store.h>

#include "internal.h"

/* 'ATRL' in PRAGMA application_id marks a file as an agentrail store. */
#define APPLICATION_ID 0x4154524c
/*
 * PRAGMA user_version: the schema this file holds. 2: batch postings
 * instead of per-row secondary indexes (version 1 is not read). 3: signed
 * checkpoints (a version-2 store gains the table when opened for writing;
 * read-only, it reads as having none). 4: retention: records below meta
 * 'pruned_below' may be deleted, and 'pruned_below' only grows (a version-2
 * or 3 store gains the triggers when opened for writing; read-only, it reads
 * as never pruned).
 */
#define SCHEMA_VERSION 4

#define ATR_STR_(x) #x
#define ATR_STR(x)  ATR_STR_(x)

#define BUSY_TIMEOUT_MS 10000
/* Page cache per connection, in KiB (negative cache_size): 64 MiB for writes, 16 for cursors. */
#define WRITE_CACHE_KIB 65536
#define READ_CACHE_KIB  16384
/*
 * Pages are 8 KiB: a batch commit writes fewer, fuller WAL frames than with
 * 4 KiB (measured: ~100k events/s at batches of 1000 against ~75k), while a
 * single-event commit still stays small (16 KiB pages halved batch-1 rates).
 */
#define PAGE_SIZE 8192
/*
 * Checkpoint the WAL into the database every 8192 pages (64 MiB): large
 * enough that a busy ingest does not stop every few batches for a checkpoint
 * (each one fsyncs the database file), small enough that readers do not walk
 * a long WAL. journal_size_limit truncates the WAL back afterwards. (A
 * checkpointer thread was measured slower: PASSIVE checkpoints beside a
 * steady writer never let the WAL restart.)
 */
#define WAL_AUTOCHECKPOINT 8192
#define JOURNAL_SIZE_LIMIT (64 << 20)
/* Readers map the database file: a full scan then copies nothing. */
#define MMAP_SIZE ((sqlite3_int64)1 << 30)

/*
 * The schema. Records are appended in seq order (the rowid), so records,
 * payloads and the event_id index (UUIDv7: time-ordered, so its keys land at
 * the right edge too) only ever fill their last pages.
 *
 * The query filters are not per-row indexes: a secondary index on a column
 * takes one key per record in the middle of the B-tree, and each commit
 * rewrote every partially filled index page it touched into the WAL (about
 * 3 KB per event with nine of them; the insert rate was a third of that of
 * records alone). Instead each put_records call writes batch-level postings:
 * for each of the eight text columns, one 'postings' row per distinct value
 * in the batch, holding the batch's seqs with that value as a varint-delta
 * list. A batch of 1000 typical events makes 10-50 rows, not 9000 index
 * keys. Rows of one (col, val) never overlap (batches are disjoint and
 * ascending), so reading them by first_seq, in either direction, yields seqs
 * in order without a sort. 'batches' holds each batch's ts bounds for the
 * since/until filter (ts is the event's own clock, so not monotonic in seq).
 *
 * The filter columns stay in 'records', unindexed: a query drives from one
 * filter's postings (or the event_id index, or the batches) and checks every
 * filter, the driver's own included, on each candidate row in SQL, so a
 * damaged postings row can hide a record but never return a wrong one.
 *
 * postings.col is on disk: 1 type, 2 level, 3 actor, 4 trace_id,
 * 5 session_id, 6 run_id, 7 job_id, 8 target (enum post_col). postings.seqs
 * is the group's seqs after first_seq, each as the LEB128 varint of its
 * difference from the one before (at least 1); empty for a single seq.
 */
static const char schema_sql[] =
    "CREATE TABLE records ("
    " seq INTEGER PRIMARY KEY,"
    " event_id BLOB NOT NULL UNIQUE CHECK (length(event_id) = 16),"
    " content_hash BLOB NOT NULL CHECK (length(content_hash) = 32),"
    " type TEXT NOT NULL,"
    " level TEXT NOT NULL,"
    " actor TEXT NOT NULL,"
    " ts INTEGER NOT NULL,"
    " trace_id TEXT,"
    " session_id TEXT,"
    " run_id TEXT,"
    " job_id TEXT,"
    " target TEXT,"
    " record BLOB NOT NULL);"
    "CREATE TABLE payloads ("
    " seq INTEGER PRIMARY KEY,"
    " salt BLOB NOT NULL CHECK (length(salt) = 32),"
    " detail BLOB NOT NULL);"
    "CREATE TABLE postings ("
    " col INTEGER NOT NULL,"
    " val TEXT NOT NULL,"
    " first_seq INTEGER NOT NULL,"
    " seqs BLOB NOT NULL,"
    " PRIMARY KEY (col, val, first_seq)) WITHOUT ROWID;"
    "CREATE TABLE batches ("
    " first_seq INTEGER PRIMARY KEY,"
    " last_seq INTEGER NOT NULL,"
    " ts_min INTEGER NOT NULL,"
    " ts_max INTEGER NOT NULL);"
    "CREATE TABLE tiles ("
    " level INTEGER NOT NULL,"
    " idx INTEGER NOT NULL,"
    " hashes BLOB NOT NULL,"
    " PRIMARY KEY (level, idx)) WITHOUT ROWID;"
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value NOT NULL) WITHOUT ROWID;"
    /*
     * Defence in depth (DESIGN.md §3): the Merkle tree detects any change;
     * these stop an honest mistake. Deleting a payload row is erasure and
     * is allowed; changing one is not.
     */
    "CREATE TRIGGER records_no_update BEFORE UPDATE ON records"
    " BEGIN SELECT RAISE(ABORT, 'agentrail: records are append-only'); END;"
    "CREATE TRIGGER payloads_no_update BEFORE UPDATE ON payloads"
    " BEGIN SELECT RAISE(ABORT, 'agentrail: payloads can be erased, not changed'); END;"
    "CREATE TRIGGER postings_no_update BEFORE UPDATE ON postings"
    " BEGIN SELECT RAISE(ABORT, 'agentrail: postings are append-only'); END;"
    "CREATE TRIGGER postings_no_delete BEFORE DELETE ON postings"
    " BEGIN SELECT RAISE(ABORT, 'agentrail: postings are append-only'); END;"
    "CREATE TRIGGER batches_no_update BEFORE UPDATE ON batches"
    " BEGIN SELECT RAISE(ABORT, 'agentrail: batches are append-only'); END;"
    "CREATE TRIGGER batches_no_delete BEFORE DELETE ON batches"
    " BEGIN SELECT RAISE(ABORT, 'agentrail: batches are append-only'); END;"
    "CREATE TRIGGER meta_no_delete BEFORE DELETE ON meta"
    " BEGIN SELECT RAISE(ABORT, 'agentrail: store metadata is permanent'); END;";

/* Signed checkpoint notes, any number per size, append-only (schema version 3). */
static const char checkpoints_sql[] =
    "CREATE TABLE checkpoints ("
    " id INTEGER PRIMARY KEY,"
    " size INTEGER NOT NULL,"
    " note BLOB NOT NULL);"
    "CREATE INDEX checkpoints_by_size ON checkpoints (size, id);"
    "CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints"
    " BEGIN SELECT RAISE(ABORT, 'agentrail: checkpoints are append-only'); END;"
    "CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints"
    " BEGIN SELECT RAISE(ABORT, 'agentrail: checkpoints are append-only'); END;";

/*
 * Retention (schema version 4): a record may be deleted only below meta
 * 'pruned_below', which only grows, like the tree size; the other metadata
 * never changes.
 */
static const char retention_sql[] =
    "CREATE TRIGGER records_no_delete BEFORE DELETE ON records"
    " WHEN old.seq >= coalesce((SELECT value FROM meta WHERE key = 'pruned_below'), 0)"
    " BEGIN SELECT RAISE(ABORT, 'agentrail: records are append-only (only records below"
    " pruned_below may be pruned)'); END;"
    "CREATE TRIGGER meta_no_shrink BEFORE UPDATE ON meta"
    " WHEN old.key <> new.key OR old.key NOT IN ('size', 'pruned_below')"
    " OR new.value < old.value"
    " BEGIN SELECT RAISE(ABORT, 'agentrail: the tree size and the pruned prefix only grow');"
    " END;";

/* The filter columns with postings; the numbers are stored in postings.col. */
enum post_col {
	C_TYPE = 1,
	C_LEVEL,
	C_ACTOR,
	C_TRACE,
	C_SESSION,
	C_RUN,
	C_JOB,
	C_TARGET,
	C_LAST = C_TARGET
};

/* The statements a store prepares once and reuses. */
enum stmt_id {
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	S_GET_SIZE,
	S_SET_SIZE,
	S_FIND,
	S_PUT_RECORD,
	S_PUT_PAYLOAD,
	S_PUT_POSTING,
	S_PUT_BATCH,
	S_PUT_TILE,
	S_GET_TILE,
	S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_GET_SIZE] = "SELECT value FROM meta WHERE key = 'size'",
    [S_SET_SIZE] = "UPDATE meta SET value = ?1 WHERE key = 'size'",
    [S_FIND] = "SELECT seq, content_hash FROM records WHERE event_id = ?1",
    [S_PUT_RECORD] = "INSERT INTO records (seq, event_id, content_hash, type, level, actor, ts,"
                     " trace_id, session_id, run_id, job_id, target, record)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    [S_PUT_PAYLOAD] = "INSERT INTO payloads (seq, salt, detail) VALUES (?1, ?2, ?3)",
    [S_PUT_POSTING] = "INSERT INTO postings (col, val, first_seq, seqs) VALUES (?1, ?2, ?3, ?4)",
    [S_PUT_BATCH] = "INSERT INTO batches (first_seq, last_seq, ts_min, ts_max)"
                    " VALUES (?1, ?2, ?3, ?4)",
    [S_PUT_TILE] = "INSERT OR REPLACE INTO tiles (level, idx, hashes) VALUES (?1, ?2, ?3)",
    [S_GET_TILE] = "SELECT hashes FROM tiles WHERE level = ?1 AND idx = ?2",
};

struct sqlite_store {
	atr_store base; /* first: the vtable the log layer sees */
	char *path;
	unsigned flags;
	sqlite3 *db; /* writes, sizes, tiles */
	sqlite3_stmt *stmt[S_COUNT];
	/* Write state between write_begin and write_commit / write_abort. */
	int in_write;
	uint64_t next_seq;
	/*
	 * Grouping for postings, kept between calls so a steady ingest does not
	 * allocate: groups[0..ngroups) with their delta buffers (capacity kept
	 * when reused), and an open-addressing table of group index + 1.
	 */
	struct pgroup *groups;
	size_t ngroups, groups_cap;
	uint32_t *slots;
	size_t nslots; /* a power of two, at least twice ngroups; 0 before the first use */
	/* A read connection kept for cursors; one cursor uses it at a time. */
	sqlite3 *rdb;
	int rdb_in_use;
	int has_checkpoints; /* the schema has the checkpoints table */
};

/*
 * How a cursor finds its records: one SQL statement (the event_id index, the
 * batches for a ts range, or a plain seq range), or candidate seqs from
 * postings, each looked up by seq with every filter checked in SQL.
 */
enum driver {
	D_SQL,      /* 'stmt' yields the rows */
	D_POSTINGS, /* 'drv' streams the postings rows of one (col, val) in seq order */
	D_SORTED,   /* every candidate is in 'seqs', sorted (target prefix) */
};

struct sqlite_cursor {
	struct sqlite_store *st;
	sqlite3 *db; /* st->rdb, or a private connection when that was taken */
	enum driver kind;
	sqlite3_stmt *stmt; /* D_SQL: the query; else the lookup of one seq (?1) */
	sqlite3_stmt *drv;  /* D_POSTINGS: the postings rows; NULL once they are done */
	int desc;
	uint64_t lo, hi; /* candidates outside [lo, hi) are skipped */
	uint64_t left;   /* rows the limit still allows (lookup drivers) */
	uint64_t *seqs;  /* candidates: one postings row (D_POSTINGS) or all (D_SORTED) */
	size_t nseqs, cap, pos;
	int done; /* the end was answered: a later step would start the statement over */
};

/* ---------------------------------------------------------------- errors */

/* Map a SQLite failure on 'db' to a status and a message naming the store. */
static int db_fail(const struct sqlite_store *st, sqlite3 *db, int rc, const char *what)
{
	const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);

	switch (rc & 0xff) {
	case SQLITE_FULL:
		return atr__err(ATR_EIO, "%s on store '%s': disk full (%s)", what, st->path, msg);
	case SQLITE_IOERR:
		return atr__err(ATR_EIO, "%s on store '%s': i/o error (%s)", what, st->path, msg);
	case SQLITE_NOMEM:
		return atr__err(ATR_ENOMEM, "%s on store '%s': out of memory", what, st->path);
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return atr__err(ATR_EBUSY, "%s on store '%s': the store stayed locked (%s)", what,
		                st->path, msg);
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return atr__err(ATR_ETAMPER, "%s on store '%s': the database is damaged (%s)", what,
		                st->path, msg);
	case SQLITE_READONLY:
		return atr__err(ATR_EBACKEND, "%s on store '%s': the store is read-only (%s)", what,
		                st->path, msg);
	default:
		return atr__err(ATR_EBACKEND, "%s on store '%s': %s", what, st->path, msg);
	}
}

/* ---------------------------------------------------------------- opening */

/* Create the missing directories above 'path' (mode 0700). */
static int make_parent_dirs(const char *path)
{
	char *dir = strdup(path);
	int rc = 0;

	if (!dir)
		return atr__err(ATR_ENOMEM, "out of memory");
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		goto cleanup;
	*slash = '\0';
	for (char *p = dir + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			rc = atr__err(ATR_EIO, "cannot create directory '%s': %s", dir,
			              strerror(errno));
			goto cleanup;
		}
		*p = c;
		if (c == '\0')
			break;
	}
cleanup:
	free(dir);
	return rc;
}

/* Run one SQL statement that answers a single integer (a PRAGMA, a count). */
static int query_int(sqlite3 *db, const char *sql, sqlite3_int64 *out)
{
	sqlite3_stmt *stmt;
	int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);

	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(stmt, 0);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		*out = 0;
		rc = SQLITE_OK;
	}
	sqlite3_finalize(stmt);
	return rc;
}

/*
 * The settings every connection gets (they are per connection, not per file).
 * recursive_triggers makes INSERT OR REPLACE on records fire the delete
 * trigger; secure_delete zeroes an erased payload's bytes in the file (rows
 * are only ever deleted by erasure, so it costs the append path nothing).
 */
static int configure(struct sqlite_store *st, sqlite3 *db, int cache_kib)
{
	char sql[512];
	int rc;

	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	sqlite3_extended_result_codes(db, 1);
	snprintf(sql, sizeof(sql),
	         "PRAGMA synchronous = FULL;"
	         "PRAGMA foreign_keys = OFF;"
	         "PRAGMA recursive_triggers = ON;"
	         "PRAGMA secure_delete = ON;"
	         "PRAGMA temp_store = MEMORY;"
	         "PRAGMA cache_size = -%d;"
	         "PRAGMA mmap_size = %lld;"
	         "PRAGMA wal_autocheckpoint = %d;"
	         "PRAGMA journal_size_limit = %d;",
	         cache_kib, (long long)MMAP_SIZE, WAL_AUTOCHECKPOINT, JOURNAL_SIZE_LIMIT);
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return db_fail(st, db, rc, "cannot configure the connection");
	return 0;
}

static int open_db(struct sqlite_store *st, sqlite3 **out, int create)
{
	int oflags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
	int rc;

	if (st->flags & ATR_OPEN_READONLY)
		oflags |= SQLITE_OPEN_READONLY;
	else
		oflags |= SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
	rc = sqlite3_open_v2(st->path, out, oflags, NULL);
	if (rc != SQLITE_OK) {
		int err;

		if (!*out)
			return atr__err(ATR_ENOMEM, "out of memory opening store '%s'", st->path);
		err = atr__err((rc & 0xff) == SQLITE_CANTOPEN ? ATR_EIO : ATR_EBACKEND,
		               "cannot open store '%s': %s", st->path, sqlite3_errmsg(*out));
		sqlite3_close_v2(*out);
		*out = NULL;
		return err;
	}
	return 0;
}

/* Create the schema in a new file; a concurrent opener may have done it already. */
static int create_schema(struct sqlite_store *st)
{
	sqlite3 *db = st->db;
	sqlite3_int64 app = 0, now = atr__now_us();
	uint8_t id[16];
	char id_hex[33], sql[256];
	int rc, err;

	if ((err = atr__random(id, sizeof(id))) != 0)
		return err;
	atr__hex(id_hex, id, sizeof(id));
	/* The page size of a file is fixed once its first table exists. */
	rc = sqlite3_exec(db,
	                  "PRAGMA page_size = " ATR_STR(PAGE_SIZE) "; PRAGMA journal_mode = WAL;",
	                  NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return db_fail(st, db, rc, "cannot switch to WAL mode");
	rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return db_fail(st, db, rc, "cannot create the schema");
	if ((rc = query_int(db, "PRAGMA application_id", &app)) != SQLITE_OK)
		goto fail;
	if (app != APPLICATION_ID) {
		if ((rc = sqlite3_exec(db, schema_sql, NULL, NULL, NULL)) != SQLITE_OK ||
		    (rc = sqlite3_exec(db, checkpoints_sql, NULL, NULL, NULL)) != SQLITE_OK ||
		    (rc = sqlite3_exec(db, retention_sql, NULL, NULL, NULL)) != SQLITE_OK)
			goto fail;
		snprintf(sql, sizeof(sql),
		         "INSERT INTO meta (key, value) VALUES ('size', 0), ('created_at', %lld),"
		         " ('log_id', '%s'), ('schema', %d);"
		         "PRAGMA application_id = %d; PRAGMA user_version = %d;",
		         (long long)now, id_hex, SCHEMA_VERSION, APPLICATION_ID, SCHEMA_VERSION);
		if ((rc = sqlite3_exec(db, sql, NULL, NULL, NULL)) != SQLITE_OK)
			goto fail;
	} /* else a concurrent opener created it between our look and our lock */
	if ((rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
		goto fail;
	st->has_checkpoints = 1;
	return 0;
fail:
	err = db_fail(st, db, rc, "cannot create the schema");
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return err;
}

/*
 * Version 2 or 3 to 4: add the checkpoints table (from 2) and the retention
 * triggers (read-only: read as having no checkpoints, never pruned).
 */
static int upgrade(struct sqlite_store *st, sqlite3_int64 from)
{
	sqlite3_int64 version = 0;
	int rc;

	if (st->flags & ATR_OPEN_READONLY) {
		st->has_checkpoints = from >= 3;
		return 0;
	}
	if ((rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) != SQLITE_OK)
		return db_fail(st, st->db, rc, "cannot upgrade the schema");
	/* Another opener may have upgraded it between our look and our lock. */
	if ((rc = query_int(st->db, "PRAGMA user_version", &version)) == SQLITE_OK && version == 2)
		rc = sqlite3_exec(st->db, checkpoints_sql, NULL, NULL, NULL);
	if (rc == SQLITE_OK && (version == 2 || version == 3))
		rc = sqlite3_exec(st->db,
		                  "DROP TRIGGER records_no_delete; DROP TRIGGER meta_no_shrink;",
		                  NULL, NULL, NULL);
	if (rc == SQLITE_OK && (version == 2 || version == 3))
		rc = sqlite3_exec(st->db, retention_sql, NULL, NULL, NULL);
	if (rc == SQLITE_OK && (version == 2 || version == 3))
		rc = sqlite3_exec(st->db, "PRAGMA user_version = " ATR_STR(SCHEMA_VERSION), NULL,
		                  NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		int err = db_fail(st, st->db, rc, "cannot upgrade the schema");

		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		return err;
	}
	st->has_checkpoints = 1;
	return 0;
}

/*
 * Look at what the file is before changing anything in it: a file that is
 * not ours (another application's database, not SQLite at all, a newer
 * schema) is refused untouched. An empty database becomes a new store.
 */
static int check_or_create(struct sqlite_store *st)
{
	sqlite3 *db = st->db;
	sqlite3_int64 app = 0, version = 0, tables = 0;
	int rc;

	rc = query_int(db, "PRAGMA application_id", &app);
	if (rc == SQLITE_OK)
		rc = query_int(db, "PRAGMA user_version", &version);
	if (rc == SQLITE_OK)
		rc = query_int(db, "SELECT count(*) FROM sqlite_schema", &tables);
	if ((rc & 0xff) == SQLITE_NOTADB)
		return atr__err(ATR_EINVALID,
		                "'%s' is not an agentrail store (not a SQLite database)", st->path);
	if (rc != SQLITE_OK)
		return db_fail(st, db, rc, "cannot read the header");
	if (app == 0 && tables == 0 && version == 0) {
		if (st->flags & ATR_OPEN_READONLY)
			return atr__err(ATR_ENOTFOUND, "store '%s' does not exist (empty file)",
			                st->path);
		return create_schema(st);
	}
	if (app != APPLICATION_ID)
		return atr__err(
		    ATR_EINVALID,
		    "'%s' is not an agentrail store (a SQLite database with application_id "
		    "%lld)",
		    st->path, (long long)app);
	if (version > SCHEMA_VERSION)
		return atr__err(ATR_EUNSUPPORTED,
		                "store '%s' has schema version %lld; this build reads up to %d",
		                st->path, (long long)version, SCHEMA_VERSION);
	if (version < 1)
		return atr__err(ATR_EINVALID, "store '%s' has no schema version", st->path);
	/* Version 1 had per-row indexes and no postings: its queries cannot be answered. */
	if (version < 2)
		return atr__err(ATR_EUNSUPPORTED,
		                "store '%s' has schema version %lld, which this build does not "
		                "read (it needs version %d)",
		                st->path, (long long)version, SCHEMA_VERSION);
	if (version == 2 || version == 3)
		return upgrade(st, version);
	st->has_checkpoints = 1;
	return 0;
}

/* ---------------------------------------------------------------- writing */

static int step_done(struct sqlite_store *st, sqlite3_stmt *stmt, const char *what)
{
	int rc = sqlite3_step(stmt);
	int err = 0;

	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		err = db_fail(st, st->db, rc, what);
	sqlite3_reset(stmt);
	return err;
}

static int read_size(struct sqlite_store *st, uint64_t *size)
{
	sqlite3_stmt *stmt = st->stmt[S_GET_SIZE];
	int rc = sqlite3_step(stmt);
	int err = 0;

	if (rc == SQLITE_ROW) {
		sqlite3_int64 v = sqlite3_column_int64(stmt, 0);

		if (sqlite3_column_type(stmt, 0) != SQLITE_INTEGER || v < 0)
			err = atr__err(ATR_ETAMPER, "store '%s' has a malformed size", st->path);
		else
			*size = (uint64_t)v;
	} else if (rc == SQLITE_DONE) {
		err = atr__err(ATR_ETAMPER, "store '%s' has no size", st->path);
	} else {
		err = db_fail(st, st->db, rc, "cannot read the tree size");
	}
	sqlite3_reset(stmt);
	return err;
}

static int sq_write_begin(atr_store *base, uint64_t *size)
{
	struct sqlite_store *st = (struct sqlite_store *)base;
	int rc, err;

	assert(!st->in_write);
	if (st->flags & ATR_OPEN_READONLY)
		return atr__err(ATR_EINVALID, "store '%s' is open read-only", st->path);
	rc = sqlite3_step(st->stmt[S_BEGIN]);
	sqlite3_reset(st->stmt[S_BEGIN]);
	if ((rc & 0xff) == SQLITE_BUSY)
		return atr__err(ATR_EBUSY, "store '%s' is locked by another writer", st->path);
	if (rc != SQLITE_DONE)
		return db_fail(st, st->db, rc, "cannot begin a write");
	if ((err = read_size(st, size)) != 0) {
		sqlite3_step(st->stmt[S_ROLLBACK]);
		sqlite3_reset(st->stmt[S_ROLLBACK]);
		return err;
	}
	st->in_write = 1;
	st->next_seq = *size;
	return 0;
}

static int sq_find_event(atr_store *base, const uint8_t *event_id, uint64_t *seq,
                         uint8_t content_hash[32])
{
	struct sqlite_store *st = (struct sqlite_store *)base;
	sqlite3_stmt *stmt = st->stmt[S_FIND];
	int rc, err = 0;

	sqlite3_bind_blob(stmt, 1, event_id, 16, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		const void *h = sqlite3_column_blob(stmt, 1);

		if (sqlite3_column_bytes(stmt, 1) != 32 || !h) {
			err = atr__err(ATR_ETAMPER, "store '%s': record %lld has a malformed hash",
			               st->path, (long long)sqlite3_column_int64(stmt, 0));
		} else {
			*seq = (uint64_t)sqlite3_column_int64(stmt, 0);
			memcpy(content_hash, h, 32);
		}
	} else if (rc == SQLITE_DONE) {
		char hex[33];

		atr__hex(hex, event_id, 16);
		err = atr__err(ATR_ENOTFOUND, "event '%s' is not in store '%s'", hex, st->path);
	} else {
		err = db_fail(st, st->db, rc, "cannot look up an event");
	}
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	return err;
}

static void bind_opt_text(sqlite3_stmt *stmt, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(stmt, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(stmt, i);
}

static int put_one(struct sqlite_store *st, const atr_store_entry *e)
{
	sqlite3_stmt *rec = st->stmt[S_PUT_RECORD], *pay = st->stmt[S_PUT_PAYLOAD];
	sqlite3_int64 seq = (sqlite3_int64)e->seq;
	int rc;

	sqlite3_bind_int64(rec, 1, seq);
	sqlite3_bind_blob(rec, 2, e->event_id, 16, SQLITE_STATIC);
	sqlite3_bind_blob(rec, 3, e->content_hash, 32, SQLITE_STATIC);
	sqlite3_bind_text(rec, 4, e->type, -1, SQLITE_STATIC);
	sqlite3_bind_text(rec, 5, e->level, -1, SQLITE_STATIC);
	sqlite3_bind_text(rec, 6, e->actor, -1, SQLITE_STATIC);
	sqlite3_bind_int64(rec, 7, e->ts_us);
	bind_opt_text(rec, 8, e->trace_id);
	bind_opt_text(rec, 9, e->session_id);
	bind_opt_text(rec, 10, e->run_id);
	bind_opt_text(rec, 11, e->job_id);
	bind_opt_text(rec, 12, e->target);
	sqlite3_bind_blob64(rec, 13, e->record, e->record_len, SQLITE_STATIC);
	rc = sqlite3_step(rec);
	sqlite3_reset(rec);
	if (rc == SQLITE_CONSTRAINT_UNIQUE) {
		char hex[33];

		atr__hex(hex, e->event_id, 16);
		return atr__err(ATR_ECONFLICT, "event '%s' is already in store '%s'", hex,
		                st->path);
	}
	if (rc != SQLITE_DONE)
		return db_fail(st, st->db, rc, "cannot add a record");
	if (!e->detail)
		return 0; /* no payload: as if erased */
	sqlite3_bind_int64(pay, 1, seq);
	sqlite3_bind_blob(pay, 2, e->salt, 32, SQLITE_STATIC);
	/* A zero-length blob would read back as NULL: store it as an empty one, not as no value. */
	sqlite3_bind_blob64(pay, 3, e->detail_len ? e->detail : "", e->detail_len, SQLITE_STATIC);
	rc = sqlite3_step(pay);
	sqlite3_reset(pay);
	if (rc != SQLITE_DONE)
		return db_fail(st, st->db, rc, "cannot add a payload");
	return 0;
}

/* One (column, value) of a batch: its seqs, ascending, as varint deltas after the first. */
struct pgroup {
	const char *val; /* borrowed from the entries for the put_records call */
	size_t len;
	uint32_t hash;
	unsigned col;
	uint64_t first, last;
	uint8_t *buf;
	size_t blen, bcap;
};

/* FNV-1a over the column number and the value's bytes. */
static uint32_t group_hash(unsigned col, const char *v, size_t len)
{
	uint32_t h = 2166136261u ^ col;

	h *= 16777619u;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)v[i];
		h *= 16777619u;
	}
	return h;
}

/* Size the slot table for 'want' groups (load at most 1/2) and put the current groups in. */
static int slots_resize(struct sqlite_store *st, size_t want)
{
	size_t n = 64;
	uint32_t *slots;

	while (n < 2 * want)
		n *= 2;
	if (n <= st->nslots)
		return 0;
	if (n > UINT32_MAX || !(slots = calloc(n, sizeof(*slots))))
		return atr__err(ATR_ENOMEM, "out of memory");
	for (size_t g = 0; g < st->ngroups; g++) {
		size_t i = st->groups[g].hash & (n - 1);

		while (slots[i])
			i = (i + 1) & (n - 1);
		slots[i] = (uint32_t)(g + 1);
	}
	free(st->slots);
	st->slots = slots;
	st->nslots = n;
	return 0;
}

static void put_varint(uint8_t *p, size_t *len, uint64_t v)
{
	while (v >= 0x80) {
		p[(*len)++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[(*len)++] = (uint8_t)v;
}

/* Add 'seq' to the group of (col, val), making the group if it is new. */
static int group_add(struct sqlite_store *st, unsigned col, const char *val, uint64_t seq)
{
	size_t len = strlen(val);
	uint32_t h = group_hash(col, val, len);
	size_t i = h & (st->nslots - 1);
	struct pgroup *g;

	for (; st->slots[i]; i = (i + 1) & (st->nslots - 1)) {
		g = &st->groups[st->slots[i] - 1];
		if (g->hash == h && g->col == col && g->len == len && memcmp(g->val, val, len) == 0)
			goto found;
	}
	if (st->ngroups == st->groups_cap) {
		size_t cap = st->groups_cap ? 2 * st->groups_cap : 64;
		struct pgroup *groups = realloc(st->groups, cap * sizeof(*groups));

		if (!groups)
			return atr__err(ATR_ENOMEM, "out of memory");
		memset(groups + st->groups_cap, 0, (cap - st->groups_cap) * sizeof(*groups));
		st->groups = groups;
		st->groups_cap = cap;
	}
	g = &st->groups[st->ngroups++];
	g->val = val;
	g->len = len;
	g->hash = h;
	g->col = col;
	g->first = g->last = seq;
	g->blen = 0; /* the buffer, if any, is kept from an earlier call */
	st->slots[i] = (uint32_t)st->ngroups;
	if (2 * st->ngroups > st->nslots)
		return slots_resize(st, st->ngroups);
	return 0;
found:
	if (g->bcap - g->blen < 10) {
		size_t cap = g->bcap ? 2 * g->bcap : 64;
		uint8_t *buf = realloc(g->buf, cap);

		if (!buf)
			return atr__err(ATR_ENOMEM, "out of memory");
		g->buf = buf;
		g->bcap = cap;
	}
	put_varint(g->buf, &g->blen, seq - g->last);
	g->last = seq;
	return 0;
}

static int group_cmp(const void *a, const void *b)
{
	const struct pgroup *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c;

	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	if ((c = memcmp(x->val, y->val, n)) != 0)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

/*
 * The postings and the batches row of entries[0..n): group by (column,
 * value) in a hash table, then write the groups in key order, so that
 * consecutive inserts go to neighbouring pages of the postings tree.
 */
static int put_postings(struct sqlite_store *st, const atr_store_entry *entries, size_t n)
{
	sqlite3_stmt *post = st->stmt[S_PUT_POSTING], *bat = st->stmt[S_PUT_BATCH];
	int64_t ts_min = INT64_MAX, ts_max = INT64_MIN;
	int err;

	st->ngroups = 0;
	if (st->nslots)
		memset(st->slots, 0, st->nslots * sizeof(*st->slots));
	else if ((err = slots_resize(st, 32)) != 0)
		return err;
	for (size_t i = 0; i < n; i++) {
		const atr_store_entry *e = &entries[i];
		const char *vals[C_LAST + 1] = {
		    [C_TYPE] = e->type,      [C_LEVEL] = e->level,        [C_ACTOR] = e->actor,
		    [C_TRACE] = e->trace_id, [C_SESSION] = e->session_id, [C_RUN] = e->run_id,
		    [C_JOB] = e->job_id,     [C_TARGET] = e->target,
		};

		for (unsigned c = 1; c <= C_LAST; c++)
			if (vals[c] && (err = group_add(st, c, vals[c], e->seq)) != 0)
				return err;
		if (e->ts_us < ts_min)
			ts_min = e->ts_us;
		if (e->ts_us > ts_max)
			ts_max = e->ts_us;
	}
	qsort(st->groups, st->ngroups, sizeof(*st->groups), group_cmp);
	err = 0;
	for (size_t g = 0; g < st->ngroups && !err; g++) {
		const struct pgroup *gr = &st->groups[g];

		if (gr->len > INT_MAX || gr->blen > INT_MAX)
			return atr__err(ATR_ETOOBIG, "store '%s': an index value is too long",
			                st->path);
		sqlite3_bind_int(post, 1, (int)gr->col);
		sqlite3_bind_text(post, 2, gr->val, (int)gr->len, SQLITE_STATIC);
		sqlite3_bind_int64(post, 3, (sqlite3_int64)gr->first);
		/* Not NULL for a single seq: an empty blob, as the column is NOT NULL. */
		sqlite3_bind_blob(post, 4, gr->blen ? (const void *)gr->buf : "", (int)gr->blen,
		                  SQLITE_STATIC);
		err = step_done(st, post, "cannot add a posting");
	}
	sqlite3_clear_bindings(post);
	if (err)
		return err;
	sqlite3_bind_int64(bat, 1, (sqlite3_int64)entries[0].seq);
	sqlite3_bind_int64(bat, 2, (sqlite3_int64)entries[n - 1].seq);
	sqlite3_bind_int64(bat, 3, ts_min);
	sqlite3_bind_int64(bat, 4, ts_max);
	return step_done(st, bat, "cannot add a batch");
}

static int sq_put_records(atr_store *base, const atr_store_entry *entries, size_t n)
{
	struct sqlite_store *st = (struct sqlite_store *)base;
	int err = 0;

	assert(st->in_write);
	for (size_t i = 0; i < n && !err; i++) {
		const atr_store_entry *e = &entries[i];

		assert(e->event_id && e->content_hash && e->record && e->type && e->level &&
		       e->actor && (!e->detail || e->salt));
		/* The seq is the Merkle leaf index: a gap or a repeat would break the tree. */
		if (e->seq != st->next_seq || e->seq > INT64_MAX)
			return atr__err(
			    ATR_EINVALID, "store '%s': record seq %llu where %llu was expected",
			    st->path, (unsigned long long)e->seq, (unsigned long long)st->next_seq);
		if ((err = put_one(st, e)) == 0)
			st->next_seq++;
	}
	/* Drop the borrowed pointers so a stray step cannot read them later. */
	sqlite3_clear_bindings(st->stmt[S_PUT_RECORD]);
	sqlite3_clear_bindings(st->stmt[S_PUT_PAYLOAD]);
	if (!err && n > 0)
		err = put_postings(st, entries, n);
	return err;
}

static int sq_put_tiles(atr_store *base, const atr_store_tile *tiles, size_t n)
{
	struct sqlite_store *st = (struct sqlite_store *)base;
	sqlite3_stmt *stmt = st->stmt[S_PUT_TILE];
	int err = 0;

	assert(st->in_write);
	for (size_t i = 0; i < n && !err; i++) {
		const atr_store_tile *t = &tiles[i];

		if (t->width < 1 || t->width > ATR_TILE_WIDTH || t->index > INT64_MAX)
			return atr__err(ATR_EINVALID, "store '%s': tile %u/%llu has width %u",
			                st->path, t->level, (unsigned long long)t->index, t->width);
		sqlite3_bind_int(stmt, 1, (int)t->level);
		sqlite3_bind_int64(stmt, 2, (sqlite3_int64)t->index);
		sqlite3_bind_blob(stmt, 3, t->hashes, (int)(t->width * sizeof(atr_hash)),
		                  SQLITE_STATIC);
		err = step_done(st, stmt, "cannot store a tile");
	}
	sqlite3_clear_bindings(stmt);
	return err;
}

static int sq_write_commit(atr_store *base, uint64_t new_size)
{
	struct sqlite_store *st = (struct sqlite_store *)base;
	sqlite3_stmt *set = st->stmt[S_SET_SIZE];
	int rc, err;

	assert(st->in_write);
	if (new_size != st->next_seq)
		return atr__err(
		    ATR_EINVALID, "store '%s': commit of size %llu after records up to %llu",
		    st->path, (unsigned long long)new_size, (unsigned long long)st->next_seq);
	sqlite3_bind_int64(set, 1, (sqlite3_int64)new_size);
	if ((err = step_done(st, set, "cannot record the tree size")) != 0)
		return err;
	rc = sqlite3_step(st->stmt[S_COMMIT]);
	sqlite3_reset(st->stmt[S_COMMIT]);
	if (rc != SQLITE_DONE) {
		err = db_fail(st, st->db, rc, "cannot commit");
		/* A failed COMMIT may leave the transaction open: end it, nothing was made durable.
		 */
		if (!sqlite3_get_autocommit(st->db)) {
			sqlite3_step(st->stmt[S_ROLLBACK]);
			sqlite3_reset(st->stmt[S_ROLLBACK]);
		}
		st->in_write = 0;
		return err;
	}
	st->in_write = 0;
	return 0;
}

static void sq_write_abort(atr_store *base)
{
	struct sqlite_store *st = (struct sqlite_store *)base;

	if (!sqlite3_get_autocommit(st->db)) {
		sqlite3_step(st->stmt[S_ROLLBACK]);
		sqlite3_reset(st->stmt[S_ROLLBACK]);
	}
	st->in_write = 0;
}

/* ---------------------------------------------------------------- reading */

static int sq_size(atr_store *base, uint64_t *size)
{
	return read_size((struct sqlite_store *)base, size);
}

static int sq_get_tile(atr_store *base, unsigned level, uint64_t index, atr_hash *hashes,
                       unsigned *width)
{
	struct sqlite_store *st = (struct sqlite_store *)base;
	sqlite3_stmt *stmt = st->stmt[S_GET_TILE];
	int rc, err = 0;

	if (index > INT64_MAX)
		return atr__err(ATR_ENOTFOUND, "store '%s' has no tile %u/%llu", st->path, level,
		                (unsigned long long)index);
	sqlite3_bind_int(stmt, 1, (int)level);
	sqlite3_bind_int64(stmt, 2, (sqlite3_int64)index);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		int type = sqlite3_column_type(stmt, 0);
		const void *b = sqlite3_column_blob(stmt, 0);
		int len = sqlite3_column_bytes(stmt, 0);

		if (type != SQLITE_BLOB || !b || len <= 0 || len % 32 != 0 ||
		    len > ATR_TILE_WIDTH * 32) {
			err = atr__err(ATR_ETAMPER, "store '%s': tile %u/%llu is malformed",
			               st->path, level, (unsigned long long)index);
		} else {
			memcpy(hashes, b, (size_t)len);
			*width = (unsigned)len / 32;
		}
	} else if (rc == SQLITE_DONE) {
		err = atr__err(ATR_ENOTFOUND, "store '%s' has no tile %u/%llu", st->path, level,
		               (unsigned long long)index);
	} else {
		err = db_fail(st, st->db, rc, "cannot read a tile");
	}
	sqlite3_reset(stmt);
	return err;
}

/* ---------------------------------------------------------------- queries */

/* A growing SQL text with a fixed cap: the query shape is bounded, so overflow is a bug. */
struct sqlbuf {
	char s[2048];
	size_t len;
};

static void sql_add(struct sqlbuf *b, const char *text)
{
	size_t n = strlen(text);

	assert(b->len + n < sizeof(b->s));
	memcpy(b->s + b->len, text, n + 1);
	b->len += n;
}

/* One bound value of a query, in the order its '?' appears. */
struct param {
	enum { P_TEXT, P_INT, P_BLOB } kind;
	const void *p;
	int n;
	sqlite3_int64 i;
};

#define MAX_PARAMS 24

struct qbuild {
	struct sqlbuf sql;
	struct param params[MAX_PARAMS];
	int nparams;
	int where; /* a WHERE has been written */
};

static void add_cond(struct qbuild *b, const char *cond)
{
	sql_add(&b->sql, b->where ? " AND " : " WHERE ");
	sql_add(&b->sql, cond);
	b->where = 1;
}

static void add_text(struct qbuild *b, const char *cond, const char *value, int len)
{
	assert(b->nparams < MAX_PARAMS);
	add_cond(b, cond);
	b->params[b->nparams++] = (struct param){.kind = P_TEXT, .p = value, .n = len};
}

static void add_int(struct qbuild *b, const char *cond, sqlite3_int64 v)
{
	assert(b->nparams < MAX_PARAMS);
	add_cond(b, cond);
	b->params[b->nparams++] = (struct param){.kind = P_INT, .i = v};
}

static sqlite3_int64 clamp_u64(uint64_t v)
{
	return v > INT64_MAX ? INT64_MAX : (sqlite3_int64)v;
}

/*
 * A prefix match as a range, so every byte is literal (LIKE folds case and
 * treats % and _ specially; GLOB needs escaping): val >= prefix AND val <
 * successor, where the successor is the prefix without its trailing 0xff
 * bytes and with its last byte one higher. A prefix of only 0xff bytes has
 * no successor ('*succ_out' stays NULL): everything from it up starts with
 * it. Text compares as bytes (BINARY collation).
 */
static int prefix_successor(const char *prefix, char **succ_out, int *len_out)
{
	size_t n = strlen(prefix);
	char *succ;

	*succ_out = NULL;
	*len_out = 0;
	if (n > INT_MAX)
		return atr__err(ATR_ETOOBIG, "target prefix is too long");
	while (n > 0 && (unsigned char)prefix[n - 1] == 0xff)
		n--;
	if (n == 0)
		return 0;
	if (!(succ = malloc(n + 1)))
		return atr__err(ATR_ENOMEM, "out of memory");
	memcpy(succ, prefix, n);
	succ[n - 1] = (char)((unsigned char)succ[n - 1] + 1);
	succ[n] = '\0';
	*succ_out = succ;
	*len_out = (int)n;
	return 0;
}

/* The shapes of query build_query writes. */
enum qshape {
	Q_SCAN,   /* records in a seq range (the event_id index when that is set) */
	Q_BATCH,  /* the batches overlapping the ts range, each a seq range of records */
	Q_LOOKUP, /* one record by seq (?1), if it passes the filters */
};

/*
 * The SQL for 'q': every filter is a condition on the record's own columns,
 * whatever drives the query. 'succ' is the target prefix's successor.
 */
static void build_query(struct qbuild *b, const atr_query *q, enum qshape shape, const uint8_t *id,
                        const char *succ, int succ_len)
{
	static const struct {
		size_t off;
		const char *cond;
	} eq[] = {
	    {offsetof(atr_query, type), "r.type = ?"},
	    {offsetof(atr_query, actor), "r.actor = ?"},
	    {offsetof(atr_query, level), "r.level = ?"},
	    {offsetof(atr_query, trace_id), "r.trace_id = ?"},
	    {offsetof(atr_query, session_id), "r.session_id = ?"},
	    {offsetof(atr_query, run_id), "r.run_id = ?"},
	    {offsetof(atr_query, job_id), "r.job_id = ?"},
	};

	if (shape == Q_BATCH) {
		/*
		 * CROSS JOIN keeps batches outside: each batch is a rowid range of
		 * records, and ORDER BY b.first_seq, r.seq is then the order the
		 * loops already produce (no sort). Batches have no ts index: the
		 * table has one row per write, and ts is not monotonic in seq.
		 */
		sql_add(&b->sql, "SELECT r.seq, r.record, p.detail, p.salt FROM batches b"
		                 " CROSS JOIN records r LEFT JOIN payloads p ON p.seq = r.seq"
		                 " WHERE r.seq >= b.first_seq AND r.seq <= b.last_seq");
		b->where = 1;
		if (q->since_us)
			add_int(b, "b.ts_max >= ?", q->since_us);
		if (q->until_us)
			add_int(b, "b.ts_min < ?", q->until_us);
		if (q->seq_from)
			add_int(b,
			        "b.first_seq >= coalesce((SELECT max(first_seq) FROM batches"
			        " WHERE first_seq <= ?), 0)",
			        clamp_u64(q->seq_from));
		if (q->seq_to)
			add_int(b, "b.first_seq < ?", clamp_u64(q->seq_to));
	} else {
		sql_add(&b->sql, "SELECT r.seq, r.record, p.detail, p.salt"
		                 " FROM records r LEFT JOIN payloads p ON p.seq = r.seq");
		if (shape == Q_LOOKUP)
			add_int(b, "r.seq = ?", 0);
	}
	if (q->event_id) {
		assert(b->nparams < MAX_PARAMS);
		add_cond(b, "r.event_id = ?");
		b->params[b->nparams++] = (struct param){.kind = P_BLOB, .p = id, .n = 16};
	}
	for (size_t i = 0; i < sizeof(eq) / sizeof(eq[0]); i++) {
		const char *v = *(const char *const *)((const char *)q + eq[i].off);

		if (v)
			add_text(b, eq[i].cond, v, -1);
	}
	if (q->target_prefix) {
		add_text(b, "r.target >= ?", q->target_prefix, -1);
		if (succ)
			add_text(b, "r.target < ?", succ, succ_len);
	}
	if (q->since_us)
		add_int(b, "r.ts >= ?", q->since_us);
	if (q->until_us)
		add_int(b, "r.ts < ?", q->until_us);
	if (q->seq_from)
		add_int(b, "r.seq >= ?", clamp_u64(q->seq_from));
	if (q->seq_to)
		add_int(b, "r.seq < ?", clamp_u64(q->seq_to));
	if (shape == Q_LOOKUP)
		return;
	if (shape == Q_BATCH)
		sql_add(&b->sql, q->descending ? " ORDER BY b.first_seq DESC, r.seq DESC"
		                               : " ORDER BY b.first_seq ASC, r.seq ASC");
	else
		sql_add(&b->sql, q->descending ? " ORDER BY r.seq DESC" : " ORDER BY r.seq ASC");
	if (q->limit) {
		assert(b->nparams < MAX_PARAMS);
		sql_add(&b->sql, " LIMIT ?");
		b->params[b->nparams++] = (struct param){.kind = P_INT, .i = clamp_u64(q->limit)};
	}
}

static int prepare_bound(struct sqlite_cursor *cur, const struct qbuild *b, sqlite3_stmt **out)
{
	int rc = sqlite3_prepare_v2(cur->db, b->sql.s, (int)b->sql.len + 1, out, NULL);

	if (rc != SQLITE_OK)
		return db_fail(cur->st, cur->db, rc, "cannot prepare a query");
	for (int i = 0; i < b->nparams; i++) {
		const struct param *p = &b->params[i];

		/* The caller's strings need not outlive this call: SQLite copies them. */
		if (p->kind == P_TEXT)
			rc = sqlite3_bind_text(*out, i + 1, p->p, p->n, SQLITE_TRANSIENT);
		else if (p->kind == P_BLOB)
			rc = sqlite3_bind_blob(*out, i + 1, p->p, p->n, SQLITE_TRANSIENT);
		else
			rc = sqlite3_bind_int64(*out, i + 1, p->i);
		if (rc != SQLITE_OK)
			return db_fail(cur->st, cur->db, rc, "cannot bind a query value");
	}
	return 0;
}

/* A read connection: the store's own when free, else a private one for this cursor. */
static int take_reader(struct sqlite_store *st, sqlite3 **out)
{
	sqlite3 *db;
	int err;

	if (st->rdb && !st->rdb_in_use) {
		st->rdb_in_use = 1;
		*out = st->rdb;
		return 0;
	}
	if ((err = open_db(st, &db, 0)) != 0)
		return err;
	if ((err = configure(st, db, READ_CACHE_KIB)) != 0) {
		sqlite3_close_v2(db);
		return err;
	}
	if (!st->rdb) {
		st->rdb = db;
		st->rdb_in_use = 1;
	}
	*out = db;
	return 0;
}

static void give_reader(struct sqlite_store *st, sqlite3 *db)
{
	/* End the cursor's read transaction, so the connection holds no snapshot. */
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	if (db == st->rdb)
		st->rdb_in_use = 0;
	else
		sqlite3_close_v2(db);
}

static uint64_t get_varint(const uint8_t *p, size_t len, size_t *pos, int *bad)
{
	uint64_t v = 0;

	for (unsigned shift = 0; *pos < len; shift += 7) {
		uint8_t byte = p[(*pos)++];

		if (shift == 63 && byte > 1)
			break;
		v |= (uint64_t)(byte & 0x7f) << shift;
		if (!(byte & 0x80))
			return v;
		if (shift == 63)
			break;
	}
	*bad = 1;
	return 0;
}

/*
 * Decode the postings row under 'drv' into cur->seqs: appended when
 * 'append', else in place of the previous row. Seqs outside [lo, hi) are
 * dropped here.
 */
static int decode_postings(struct sqlite_cursor *cur, sqlite3_stmt *drv, int append)
{
	sqlite3_int64 first = sqlite3_column_int64(drv, 0);
	const uint8_t *p = sqlite3_column_blob(drv, 1);
	size_t len = (size_t)sqlite3_column_bytes(drv, 1), pos = 0;
	uint64_t seq;
	int bad = 0;

	if (!append)
		cur->nseqs = 0;
	if (sqlite3_column_type(drv, 0) != SQLITE_INTEGER || first < 0 ||
	    sqlite3_column_type(drv, 1) != SQLITE_BLOB)
		goto tamper;
	/* At most one seq per byte, plus the first. */
	if (cur->cap - cur->nseqs < len + 1) {
		size_t cap = cur->cap ? cur->cap : 256;
		uint64_t *seqs;

		while (cap - cur->nseqs < len + 1)
			cap *= 2;
		if (!(seqs = realloc(cur->seqs, cap * sizeof(*seqs))))
			return atr__err(ATR_ENOMEM, "out of memory");
		cur->seqs = seqs;
		cur->cap = cap;
	}
	seq = (uint64_t)first;
	for (;;) {
		uint64_t d;

		if (seq >= cur->lo && seq < cur->hi)
			cur->seqs[cur->nseqs++] = seq;
		if (pos == len)
			break;
		d = get_varint(p, len, &pos, &bad);
		if (bad || d == 0 || d > (uint64_t)INT64_MAX - seq)
			goto tamper;
		seq += d;
	}
	return 0;
tamper:
	return atr__err(ATR_ETAMPER, "store '%s': the postings row at seq %lld is malformed",
	                cur->st->path, (long long)first);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * A target prefix covers many values, each with its own postings rows in
 * seq order: collect every matching seq in the seq range and sort them.
 * This holds all the matches in memory (8 bytes each), whatever the limit.
 */
static int collect_prefix(struct sqlite_cursor *cur, const char *prefix, const char *succ,
                          int succ_len)
{
	sqlite3_stmt *s;
	int rc, err = 0;

	rc = sqlite3_prepare_v2(cur->db,
	                        succ ? "SELECT first_seq, seqs FROM postings WHERE col = ?1"
	                               " AND val >= ?2 AND val < ?3 AND first_seq < ?4"
	                             : "SELECT first_seq, seqs FROM postings WHERE col = ?1"
	                               " AND val >= ?2 AND first_seq < ?4",
	                        -1, &s, NULL);
	if (rc != SQLITE_OK)
		return db_fail(cur->st, cur->db, rc, "cannot prepare a query");
	sqlite3_bind_int(s, 1, C_TARGET);
	sqlite3_bind_text(s, 2, prefix, -1, SQLITE_STATIC);
	if (succ)
		sqlite3_bind_text(s, 3, succ, succ_len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, clamp_u64(cur->hi));
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if ((err = decode_postings(cur, s, 1)) != 0)
			break;
	if (!err && rc != SQLITE_DONE)
		err = db_fail(cur->st, cur->db, rc, "cannot read postings");
	sqlite3_finalize(s);
	if (err)
		return err;
	/* One target per record, so no repeats unless the postings are damaged. */
	if (cur->nseqs > 1) {
		qsort(cur->seqs, cur->nseqs, sizeof(*cur->seqs), cmp_u64);
		size_t k = 1;

		for (size_t i = 1; i < cur->nseqs; i++)
			if (cur->seqs[i] != cur->seqs[k - 1])
				cur->seqs[k++] = cur->seqs[i];
		cur->nseqs = k;
	}
	return 0;
}

/*
 * Stream the postings rows of one (col, val) in first_seq order. Rows
 * starting at or after hi cannot hold a candidate; nor can those before the
 * last row starting at or before lo (rows of one value never overlap).
 */
static int open_postings(struct sqlite_cursor *cur, unsigned col, const char *val)
{
	int rc = sqlite3_prepare_v2(
	    cur->db,
	    cur->desc ? "SELECT first_seq, seqs FROM postings WHERE col = ?1 AND val = ?2"
	                " AND first_seq < ?3 AND first_seq >= coalesce((SELECT max(first_seq)"
	                " FROM postings WHERE col = ?1 AND val = ?2 AND first_seq <= ?4), 0)"
	                " ORDER BY first_seq DESC"
	              : "SELECT first_seq, seqs FROM postings WHERE col = ?1 AND val = ?2"
	                " AND first_seq < ?3 AND first_seq >= coalesce((SELECT max(first_seq)"
	                " FROM postings WHERE col = ?1 AND val = ?2 AND first_seq <= ?4), 0)"
	                " ORDER BY first_seq ASC",
	    -1, &cur->drv, NULL);

	if (rc != SQLITE_OK)
		return db_fail(cur->st, cur->db, rc, "cannot prepare a query");
	sqlite3_bind_int(cur->drv, 1, (int)col);
	sqlite3_bind_text(cur->drv, 2, val, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(cur->drv, 3, clamp_u64(cur->hi));
	sqlite3_bind_int64(cur->drv, 4, clamp_u64(cur->lo));
	return 0;
}

static void cursor_free(struct sqlite_cursor *cur)
{
	sqlite3_finalize(cur->stmt);
	sqlite3_finalize(cur->drv);
	if (cur->db)
		give_reader(cur->st, cur->db);
	free(cur->seqs);
	free(cur);
}

static int sq_query_open(atr_store *base, const atr_query *q, atr_store_cursor **out)
{
	/* The equality drivers, most selective first (by what the columns usually hold). */
	static const struct {
		size_t off;
		unsigned col;
	} drivers[] = {
	    {offsetof(atr_query, job_id), C_JOB},
	    {offsetof(atr_query, run_id), C_RUN},
	    {offsetof(atr_query, session_id), C_SESSION},
	    {offsetof(atr_query, trace_id), C_TRACE},
	    {0, C_TARGET}, /* target_prefix: a range, in its place in this order */
	    {offsetof(atr_query, actor), C_ACTOR},
	    {offsetof(atr_query, type), C_TYPE},
	    {offsetof(atr_query, level), C_LEVEL},
	};
	struct sqlite_store *st = (struct sqlite_store *)base;
	struct sqlite_cursor *cur = NULL;
	struct qbuild b = {0};
	enum qshape shape = Q_SCAN;
	sqlite3_int64 ignored;
	uint8_t id[16];
	char *succ = NULL;
	const char *val = NULL;
	unsigned col = 0;
	int succ_len = 0, rc, err;

	*out = NULL;
	if (q->event_id && atr__uuid_parse(id, q->event_id) != 0)
		return atr__err(ATR_EINVALID, "'%.80s' is not a UUID", q->event_id);
	if (q->target_prefix && (err = prefix_successor(q->target_prefix, &succ, &succ_len)) != 0)
		return err;
	if (!(cur = calloc(1, sizeof(*cur)))) {
		err = atr__err(ATR_ENOMEM, "out of memory");
		goto cleanup;
	}
	cur->st = st;
	cur->desc = q->descending;
	cur->lo = q->seq_from;
	cur->hi = q->seq_to ? q->seq_to : UINT64_MAX;
	cur->left = q->limit ? q->limit : UINT64_MAX;
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
	if (col)
		shape = Q_LOOKUP;
	else if (!q->event_id && (q->since_us || q->until_us))
		shape = Q_BATCH;
	cur->kind = !col ? D_SQL : col == C_TARGET ? D_SORTED : D_POSTINGS;
	build_query(&b, q, shape, id, succ, succ_len);

	if ((err = take_reader(st, &cur->db)) != 0)
		goto cleanup;
	/*
	 * One read transaction for the cursor's statements: the snapshot is
	 * the log as committed now (the first read starts it), not when the
	 * caller first reads, and postings and records come from the same one.
	 */
	rc = sqlite3_exec(cur->db, "BEGIN", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = query_int(cur->db, "SELECT count(*) FROM meta", &ignored);
	if (rc != SQLITE_OK) {
		err = db_fail(st, cur->db, rc, "cannot start a query");
		goto cleanup;
	}
	if ((err = prepare_bound(cur, &b, &cur->stmt)) != 0)
		goto cleanup;
	if (cur->kind == D_SORTED)
		err = collect_prefix(cur, q->target_prefix, succ, succ_len);
	else if (cur->kind == D_POSTINGS)
		err = open_postings(cur, col, val);
	if (err)
		goto cleanup;
	*out = (atr_store_cursor *)cur;
	cur = NULL;
cleanup:
	if (cur)
		cursor_free(cur);
	free(succ);
	return err;
}

/* Fill 'row' from the current row of 'stmt' (seq, record, detail, salt). */
static int fill_row(struct sqlite_cursor *cur, sqlite3_stmt *stmt, atr_store_row *row)
{
	memset(row, 0, sizeof(*row));
	row->seq = (uint64_t)sqlite3_column_int64(stmt, 0);
	row->record = sqlite3_column_blob(stmt, 1);
	row->record_len = (size_t)sqlite3_column_bytes(stmt, 1);
	if (!row->record)
		return atr__err(ATR_ETAMPER, "store '%s': record %llu is empty", cur->st->path,
		                (unsigned long long)row->seq);
	if (sqlite3_column_type(stmt, 2) != SQLITE_NULL) {
		const void *salt = sqlite3_column_blob(stmt, 3);

		if (!salt || sqlite3_column_bytes(stmt, 3) != 32)
			return atr__err(ATR_ETAMPER,
			                "store '%s': payload %llu has a malformed salt",
			                cur->st->path, (unsigned long long)row->seq);
		row->detail = sqlite3_column_blob(stmt, 2);
		row->detail_len = (size_t)sqlite3_column_bytes(stmt, 2);
		if (!row->detail)
			row->detail = "";
		row->salt = salt;
	}
	return 1;
}

/* The next candidate seq of a lookup driver: 1, 0 when there are no more, or an error. */
static int next_candidate(struct sqlite_cursor *cur, uint64_t *seq)
{
	while (cur->pos >= cur->nseqs) {
		int rc, err;

		if (!cur->drv)
			return 0;
		rc = sqlite3_step(cur->drv);
		if (rc == SQLITE_DONE) {
			/* Finalize, or a later step would start the statement over. */
			sqlite3_finalize(cur->drv);
			cur->drv = NULL;
			return 0;
		}
		if (rc != SQLITE_ROW)
			return db_fail(cur->st, cur->db, rc, "cannot read postings");
		if ((err = decode_postings(cur, cur->drv, 0)) != 0)
			return err;
		cur->pos = 0;
	}
	*seq = cur->desc ? cur->seqs[cur->nseqs - 1 - cur->pos] : cur->seqs[cur->pos];
	cur->pos++;
	return 1;
}

static int sq_query_next(atr_store_cursor *c, atr_store_row *row)
{
	struct sqlite_cursor *cur = (struct sqlite_cursor *)c;
	sqlite3_stmt *stmt = cur->stmt;
	uint64_t seq = 0;
	int rc;

	if (cur->done)
		return 0;
	if (cur->kind == D_SQL) {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_DONE) {
			cur->done = 1;
			return 0;
		}
		if (rc != SQLITE_ROW)
			return db_fail(cur->st, cur->db, rc, "cannot read the next record");
		return fill_row(cur, stmt, row);
	}
	while (cur->left > 0) {
		/* The previous row, borrowed until now, goes with the reset. */
		sqlite3_reset(stmt);
		if ((rc = next_candidate(cur, &seq)) <= 0) {
			cur->done = rc == 0;
			return rc;
		}
		sqlite3_bind_int64(stmt, 1, (sqlite3_int64)seq);
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_DONE)
			continue; /* a residual filter fails */
		if (rc != SQLITE_ROW)
			return db_fail(cur->st, cur->db, rc, "cannot read the next record");
		cur->left--;
		return fill_row(cur, stmt, row);
	}
	return 0;
}

static void sq_query_close(atr_store_cursor *c)
{
	struct sqlite_cursor *cur = (struct sqlite_cursor *)c;

	if (cur)
		cursor_free(cur);
}

/* ---------------------------------------------------------------- lifetime */

/* ---------------------------------------------------------------- checkpoints */

/* Prepare a one-off statement on the write connection. */
static int prepare(struct sqlite_store *st, const char *sql, sqlite3_stmt **out)
{
	int rc = sqlite3_prepare_v2(st->db, sql, -1, out, NULL);

	return rc == SQLITE_OK ? 0 : db_fail(st, st->db, rc, "cannot prepare a statement");
}

static int sq_put_checkpoint(atr_store *base, uint64_t size, const char *note, size_t len)
{
	struct sqlite_store *st = (struct sqlite_store *)base;
	sqlite3_stmt *ins = NULL;
	uint64_t cur;
	int rc, err;

	assert(!st->in_write);
	if (st->flags & ATR_OPEN_READONLY)
		return atr__err(ATR_EINVALID, "store '%s' is open read-only", st->path);
	if (size > INT64_MAX || len > INT32_MAX)
		return atr__err(ATR_EINVALID, "checkpoint too large");
	if ((err = prepare(st,
	                   "INSERT INTO checkpoints (size, note) SELECT ?1, ?2 WHERE NOT EXISTS"
	                   " (SELECT 1 FROM checkpoints WHERE size = ?1 AND note = ?2)",
	                   &ins)) != 0)
		return err;
	rc = sqlite3_step(st->stmt[S_BEGIN]);
	sqlite3_reset(st->stmt[S_BEGIN]);
	if (rc != SQLITE_DONE) {
		err = (rc & 0xff) == SQLITE_BUSY
		          ? atr__err(ATR_EBUSY, "store '%s' is locked by another writer", st->path)
		          : db_fail(st, st->db, rc, "cannot begin a write");
		sqlite3_finalize(ins);
		return err;
	}
	if ((err = read_size(st, &cur)) == 0 && size > cur)
		err = atr__err(ATR_EINVALID,
		               "a checkpoint of size %llu is beyond the log's %llu records",
		               (unsigned long long)size, (unsigned long long)cur);
	if (err == 0) {
		sqlite3_bind_int64(ins, 1, (sqlite3_int64)size);
		sqlite3_bind_blob(ins, 2, note, (int)len, SQLITE_STATIC);
		err = step_done(st, ins, "cannot store the checkpoint");
	}
	if (err == 0) {
		rc = sqlite3_step(st->stmt[S_COMMIT]);
		sqlite3_reset(st->stmt[S_COMMIT]);
		if (rc != SQLITE_DONE)
			err = db_fail(st, st->db, rc, "cannot commit the checkpoint");
	}
	if (err != 0 && !sqlite3_get_autocommit(st->db)) {
		sqlite3_step(st->stmt[S_ROLLBACK]);
		sqlite3_reset(st->stmt[S_ROLLBACK]);
	}
	sqlite3_finalize(ins);
	return err;
}

/* Copy column 1 (the note) of the current row; column 0 is the size. */
static int take_note(sqlite3_stmt *stmt, char **note, size_t *len)
{
	const void *b = sqlite3_column_blob(stmt, 1);
	int n = sqlite3_column_bytes(stmt, 1);

	if (!(*note = malloc((size_t)n + 1)))
		return atr__err(ATR_ENOMEM, "out of memory");
	if (n)
		memcpy(*note, b, (size_t)n);
	(*note)[n] = '\0';
	*len = (size_t)n;
	return 0;
}

static int sq_get_checkpoint(atr_store *base, uint64_t min_size, char **note, size_t *len)
{
	struct sqlite_store *st = (struct sqlite_store *)base;
	sqlite3_stmt *stmt = NULL;
	int rc, err;

	*note = NULL;
	*len = 0;
	if (!st->has_checkpoints)
		return atr__err(ATR_ENOTFOUND, "store '%s' has no checkpoint", st->path);
	err = prepare(st,
	              min_size == UINT64_MAX
	                  ? "SELECT size, note FROM checkpoints ORDER BY size DESC, id DESC LIMIT 1"
	                  : "SELECT size, note FROM checkpoints WHERE size >= ?1"
	                    " ORDER BY size, id DESC LIMIT 1",
	              &stmt);
	if (err)
		return err;
	if (min_size != UINT64_MAX)
		sqlite3_bind_int64(stmt, 1,
		                   min_size > INT64_MAX ? INT64_MAX : (sqlite3_int64)min_size);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		err = take_note(stmt, note, len);
	else if (rc == SQLITE_DONE)
		err = min_size == UINT64_MAX
		          ? atr__err(ATR_ENOTFOUND, "store '%s' has no checkpoint", st->path)
		          : atr__err(ATR_ENOTFOUND,
		                     "store '%s' has no checkpoint of size %llu or more", st->path,
		                     (unsigned long long)min_size);
	else
		err = db_fail(st, st->db, rc, "cannot read checkpoints");
	sqlite3_finalize(stmt);
	return err;
}

static int sq_each_checkpoint(atr_store *base,
                              int (*fn)(void *ctx, uint64_t size, const char *note, size_t len),
                              void *ctx)
{
	struct sqlite_store *st = (struct sqlite_store *)base;
	sqlite3_stmt *stmt = NULL;
	int rc, err = 0;

	if (!st->has_checkpoints)
		return 0;
	if ((err = prepare(st, "SELECT size, note FROM checkpoints ORDER BY size, id", &stmt)) != 0)
		return err;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		sqlite3_int64 size = sqlite3_column_int64(stmt, 0);

		if (size < 0) {
			err = atr__err(ATR_ETAMPER, "store '%s' has a checkpoint of negative size",
			               st->path);
			break;
		}
		if ((err = fn(ctx, (uint64_t)size, sqlite3_column_blob(stmt, 1),
		              (size_t)sqlite3_column_bytes(stmt, 1))) != 0)
			break;
	}
	if (err == 0 && rc != SQLITE_DONE)
		err = db_fail(st, st->db, rc, "cannot read checkpoints");
	sqlite3_finalize(stmt);
	return err;
}

static void sq_free(atr_store *base)
{
	struct sqlite_store *st = (struct sqlite_store *)base;

	if (!st)
		return;
	assert(!st->rdb_in_use); /* every cursor is closed before its store */
	if (st->db && !sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	sqlite3_close_v2(st->rdb);
	sqlite3_close_v2(st->db);
	for (size_t g = 0; g < st->groups_cap; g++)
		free(st->groups[g].buf);
	free(st->groups);
	free(st->slots);
	free(st->path);
	free(st);
}

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

/* Read meta 'key' into a fresh buffer; ATR_ENOTFOUND when unset. */
static int meta_read(struct sqlite_store *st, const char *key, char **out, size_t *out_len)
{
	sqlite3_stmt *sel = NULL;
	const void *b;
	int rc, n, err;

	if ((err = prepare(st, "SELECT value FROM meta WHERE key = ?1", &sel)) != 0)
		return err;
	sqlite3_bind_text(sel, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(sel);
	if (rc == SQLITE_ROW) {
		b = sqlite3_column_blob(sel, 0);
		n = sqlite3_column_bytes(sel, 0);
		if (!(*out = malloc((size_t)n + 1))) {
			err = atr__err(ATR_ENOMEM, "out of memory");
		} else {
			if (n)
				memcpy(*out, b, (size_t)n);
			(*out)[n] = '\0';
			*out_len = (size_t)n;
		}
	} else if (rc == SQLITE_DONE) {
		err = atr__err(ATR_ENOTFOUND, "store '%s' has no value for '%s'", st->path, key);
	} else {
		err = db_fail(st, st->db, rc, "cannot read store metadata");
	}
	sqlite3_finalize(sel);
	return err;
}

static int sq_meta_once(atr_store *base, const char *key, const void *value, size_t len, char **out,
                        size_t *out_len)
{
	struct sqlite_store *st = (struct sqlite_store *)base;
	sqlite3_stmt *ins = NULL;
	int rc, err;

	assert(!st->in_write);
	*out = NULL;
	*out_len = 0;
	if (!meta_key_ok(key))
		return atr__err(ATR_EINVALID, "store metadata key '%s' is not 1..64 of [a-z0-9_]",
		                key);
	err = meta_read(st, key, out, out_len);
	if (err != ATR_ENOTFOUND || !value)
		return err;
	if (st->flags & ATR_OPEN_READONLY)
		return atr__err(ATR_EINVALID, "store '%s' is open read-only", st->path);
	if (len > INT32_MAX)
		return atr__err(ATR_EINVALID, "store metadata value too large");
	if ((err = prepare(st, "INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)", &ins)) !=
	    0)
		return err;
	rc = sqlite3_step(st->stmt[S_BEGIN]);
	sqlite3_reset(st->stmt[S_BEGIN]);
	if (rc != SQLITE_DONE) {
		err = (rc & 0xff) == SQLITE_BUSY
		          ? atr__err(ATR_EBUSY, "store '%s' is locked by another writer", st->path)
		          : db_fail(st, st->db, rc, "cannot begin a write");
		sqlite3_finalize(ins);
		return err;
	}
	sqlite3_bind_text(ins, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_blob(ins, 2, len ? value : "", (int)len, SQLITE_STATIC);
	err = step_done(st, ins, "cannot store metadata");
	if (err == 0) {
		rc = sqlite3_step(st->stmt[S_COMMIT]);
		sqlite3_reset(st->stmt[S_COMMIT]);
		if (rc != SQLITE_DONE)
			err = db_fail(st, st->db, rc, "cannot commit store metadata");
	}
	if (err != 0 && !sqlite3_get_autocommit(st->db)) {
		sqlite3_step(st->stmt[S_ROLLBACK]);
		sqlite3_reset(st->stmt[S_ROLLBACK]);
	}
	sqlite3_finalize(ins);
	return err ? err : meta_read(st, key, out, out_len);
}

/* ---------------------------------------------------------------- retention */

/* Begin a transaction of its own on the write connection (not inside a write). */
static int begin_own(struct sqlite_store *st)
{
	int rc;

	assert(!st->in_write);
	if (st->flags & ATR_OPEN_READONLY)
		return atr__err(ATR_EINVALID, "store '%s' is open read-only", st->path);
	rc = sqlite3_step(st->stmt[S_BEGIN]);
	sqlite3_reset(st->stmt[S_BEGIN]);
	if (rc == SQLITE_DONE)
		return 0;
	return (rc & 0xff) == SQLITE_BUSY
	           ? atr__err(ATR_EBUSY, "store '%s' is locked by another writer", st->path)
	           : db_fail(st, st->db, rc, "cannot begin a write");
}

/* Commit what begin_own started, or roll it back when 'err' says it failed. */
static int end_own(struct sqlite_store *st, int err, const char *what)
{
	int rc;

	if (err == 0) {
		rc = sqlite3_step(st->stmt[S_COMMIT]);
		sqlite3_reset(st->stmt[S_COMMIT]);
		if (rc != SQLITE_DONE)
			err = db_fail(st, st->db, rc, what);
	}
	if (err != 0 && !sqlite3_get_autocommit(st->db)) {
		sqlite3_step(st->stmt[S_ROLLBACK]);
		sqlite3_reset(st->stmt[S_ROLLBACK]);
	}
	return err;
}

static int sq_delete_payloads(atr_store *base, const uint64_t *seqs, size_t n, uint64_t *deleted)
{
	struct sqlite_store *st = (struct sqlite_store *)base;
	sqlite3_stmt *del = NULL;
	uint64_t count = 0;
	int err;

	if (deleted)
		*deleted = 0;
	if (n == 0)
		return 0;
	if ((err = prepare(st, "DELETE FROM payloads WHERE seq = ?1", &del)) != 0)
		return err;
	if ((err = begin_own(st)) != 0) {
		sqlite3_finalize(del);
		return err;
	}
	for (size_t i = 0; i < n && err == 0; i++) {
		if (seqs[i] > INT64_MAX)
			continue;
		sqlite3_bind_int64(del, 1, (sqlite3_int64)seqs[i]);
		if ((err = step_done(st, del, "cannot delete a payload")) == 0)
			count += (uint64_t)sqlite3_changes(st->db);
	}
	err = end_own(st, err, "cannot commit the payload deletion");
	sqlite3_finalize(del);
	if (err == 0 && deleted)
		*deleted = count;
	return err;
}

/* Meta 'pruned_below' on the write connection: 0 when unset. */
static int read_pruned(struct sqlite_store *st, uint64_t *below)
{
	char *v = NULL, *end;
	size_t len = 0;
	unsigned long long x;
	int err = meta_read(st, "pruned_below", &v, &len);

	*below = 0;
	if (err == ATR_ENOTFOUND)
		return 0;
	if (err)
		return err;
	/* An integer value reads back as its decimal text. */
	errno = 0;
	x = strtoull(v, &end, 10);
	if (len == 0 || *end || errno || x % ATR_TILE_WIDTH)
		err = atr__err(ATR_ETAMPER, "store '%s' has a malformed pruned_below '%s'",
		               st->path, v);
	else
		*below = (uint64_t)x;
	free(v);
	return err;
}

static int sq_pruned_below(atr_store *base, uint64_t *below)
{
	return read_pruned((struct sqlite_store *)base, below);
}

static int sq_prune_records(atr_store *base, uint64_t below, uint64_t *deleted)
{
	struct sqlite_store *st = (struct sqlite_store *)base;
	static const char *const sql[] = {
	    "INSERT OR IGNORE INTO meta (key, value) VALUES ('pruned_below', 0)",
	    "UPDATE meta SET value = ?1 WHERE key = 'pruned_below'",
	    "DELETE FROM payloads WHERE seq < ?1",
	    "DELETE FROM records WHERE seq < ?1",
	};
	uint64_t size, cur, count = 0;
	int err;

	if (deleted)
		*deleted = 0;
	if (below % ATR_TILE_WIDTH != 0 || below > INT64_MAX)
		return atr__err(ATR_EINVALID,
		                "records can be pruned only below a multiple of %d, not %llu",
		                ATR_TILE_WIDTH, (unsigned long long)below);
	if ((err = begin_own(st)) != 0)
		return err;
	if ((err = read_size(st, &size)) == 0 && (err = read_pruned(st, &cur)) == 0 && below > size)
		err = atr__err(ATR_EINVALID,
		               "cannot prune records below %llu: the log has %llu records",
		               (unsigned long long)below, (unsigned long long)size);
	for (size_t i = 0; err == 0 && below > cur && i < sizeof(sql) / sizeof(sql[0]); i++) {
		sqlite3_stmt *stmt = NULL;

		if ((err = prepare(st, sql[i], &stmt)) != 0)
			break;
		if (i > 0)
			sqlite3_bind_int64(stmt, 1, (sqlite3_int64)below);
		if ((err = step_done(st, stmt, "cannot prune records")) == 0 && i == 3)
			count = (uint64_t)sqlite3_changes(st->db);
		sqlite3_finalize(stmt);
	}
	err = end_own(st, err, "cannot commit the pruning");
	if (err == 0 && deleted)
		*deleted = count;
	return err;
}

static const atr_store sqlite_vtable = {
    .version = ATR_STORE_VERSION,
    .name = "sqlite",
    .write_begin = sq_write_begin,
    .find_event = sq_find_event,
    .put_records = sq_put_records,
    .put_tiles = sq_put_tiles,
    .write_commit = sq_write_commit,
    .write_abort = sq_write_abort,
    .size = sq_size,
    .get_tile = sq_get_tile,
    .query_open = sq_query_open,
    .query_next = sq_query_next,
    .query_close = sq_query_close,
    .free = sq_free,
    .put_checkpoint = sq_put_checkpoint,
    .get_checkpoint = sq_get_checkpoint,
    .each_checkpoint = sq_each_checkpoint,
    .meta_once = sq_meta_once,
    .delete_payloads = sq_delete_payloads,
    .prune_records = sq_prune_records,
    .pruned_below = sq_pruned_below,
};

/*
 * Process-wide SQLite settings, made once before SQLite initializes: memory
 * statistics cost a global mutex on every allocation, which ingest feels.
 * If the application initialized SQLite first, this is a harmless no-op.
 */
static void sqlite_setup(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int atr_store_sqlite_open(atr_store **out, const char *path, unsigned flags)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, sqlite_setup);
	struct sqlite_store *st;
	struct stat sb;
	int create, err;

	*out = NULL;
	if (!path || !*path)
		return atr__err(ATR_EINVALID, "the store path is empty");
	if (!(st = calloc(1, sizeof(*st))) || !(st->path = strdup(path))) {
		free(st);
		return atr__err(ATR_ENOMEM, "out of memory");
	}
	st->base = sqlite_vtable;
	st->flags = flags;
	create = !(flags & (ATR_OPEN_READONLY | ATR_OPEN_NOCREATE));
	if (stat(path, &sb) != 0) {
		if (errno != ENOENT) {
			err =
			    atr__err(ATR_EIO, "cannot open store '%s': %s", path, strerror(errno));
			goto fail;
		}
		if (!create) {
			err = atr__err(ATR_ENOTFOUND, "store '%s' does not exist", path);
			goto fail;
		}
		if ((err = make_parent_dirs(path)) != 0)
			goto fail;
	} else if (S_ISDIR(sb.st_mode)) {
		err = atr__err(ATR_EINVALID, "store '%s' is a directory", path);
		goto fail;
	}
	if ((err = open_db(st, &st->db, create)) != 0)
		goto fail;
	sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
	if ((err = check_or_create(st)) != 0)
		goto fail;
	if ((err = configure(st, st->db, WRITE_CACHE_KIB)) != 0)
		goto fail;
	for (int i = 0; i < S_COUNT; i++) {
		int rc = sqlite3_prepare_v3(st->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
		                            &st->stmt[i], NULL);

		if (rc != SQLITE_OK) {
			err = db_fail(st, st->db, rc, "cannot prepare statements");
			goto fail;
		}
	}
	*out = &st->base;
	return 0;
fail:
	sq_free(&st->base);
	return err;
}
