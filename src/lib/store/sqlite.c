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
/* PRAGMA user_version: the schema this file holds. */
#define SCHEMA_VERSION 1

#define BUSY_TIMEOUT_MS 10000
/* Page cache per connection, in KiB (negative cache_size): 64 MiB for writes, 16 for cursors. */
#define WRITE_CACHE_KIB 65536
#define READ_CACHE_KIB  16384
/*
 * Checkpoint the WAL into the database every 8192 pages (32 MiB): large
 * enough that a busy ingest does not stop every few batches for a checkpoint
 * (each one fsyncs the database file), small enough that readers do not walk
 * a long WAL. journal_size_limit truncates the WAL back afterwards.
 */
#define WAL_AUTOCHECKPOINT 8192
#define JOURNAL_SIZE_LIMIT (64 << 20)
/* Readers map the database file: a full scan then copies nothing. */
#define MMAP_SIZE ((sqlite3_int64)1 << 30)

/*
 * The schema. Every column that atr_query filters on has an index, and each
 * index key ends, implicitly, with the rowid (seq): an equality lookup on
 * (col) therefore yields rows in seq order in either direction and a query
 * with ORDER BY seq LIMIT n needs no sort. Optional columns have partial
 * indexes (an absent value costs nothing); a comparison on the column implies
 * IS NOT NULL, so the planner uses them.
 *
 * 'level' has its own index although it is derived from 'type' for known
 * types: custom x_ types carry any level, so a rewrite to type IN (...) would
 * need a second table kept in step and would lose seq order (one run per
 * type, then a sort of every match). Its keys are one of three words, each
 * appended at the end of its run: the cheapest of the ten indexes (dropping
 * it did not change the insert rate beyond the noise of the benchmark).
 *
 * Cost: each secondary index adds about 1.5-2 us per record on the 2-core
 * build machine; records + payloads alone insert at about 120k/s
 * (synchronous=FULL), the full schema at about 35-45k/s.
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
    "CREATE TABLE tiles ("
    " level INTEGER NOT NULL,"
    " idx INTEGER NOT NULL,"
    " hashes BLOB NOT NULL,"
    " PRIMARY KEY (level, idx)) WITHOUT ROWID;"
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX records_type ON records (type);"
    "CREATE INDEX records_level ON records (level);"
    "CREATE INDEX records_actor ON records (actor);"
    "CREATE INDEX records_ts ON records (ts);"
    "CREATE INDEX records_trace ON records (trace_id) WHERE trace_id IS NOT NULL;"
    "CREATE INDEX records_session ON records (session_id) WHERE session_id IS NOT NULL;"
    "CREATE INDEX records_run ON records (run_id) WHERE run_id IS NOT NULL;"
    "CREATE INDEX records_job ON records (job_id) WHERE job_id IS NOT NULL;"
    "CREATE INDEX records_target ON records (target) WHERE target IS NOT NULL;"
    /*
     * Defence in depth (DESIGN.md §3): the Merkle tree detects any change;
     * these stop an honest mistake. Deleting a payload row is erasure and
     * is allowed; changing one is not.
     */
    "CREATE TRIGGER records_no_update BEFORE UPDATE ON records"
    " BEGIN SELECT RAISE(ABORT, 'agentrail: records are append-only'); END;"
    "CREATE TRIGGER records_no_delete BEFORE DELETE ON records"
    " BEGIN SELECT RAISE(ABORT, 'agentrail: records are append-only'); END;"
    "CREATE TRIGGER payloads_no_update BEFORE UPDATE ON payloads"
    " BEGIN SELECT RAISE(ABORT, 'agentrail: payloads can be erased, not changed'); END;"
    "CREATE TRIGGER meta_no_shrink BEFORE UPDATE ON meta"
    " WHEN old.key <> 'size' OR new.key <> 'size' OR new.value < old.value"
    " BEGIN SELECT RAISE(ABORT, 'agentrail: the tree size only grows'); END;"
    "CREATE TRIGGER meta_no_delete BEFORE DELETE ON meta"
    " BEGIN SELECT RAISE(ABORT, 'agentrail: store metadata is permanent'); END;";

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
	/* A read connection kept for cursors; one cursor uses it at a time. */
	sqlite3 *rdb;
	int rdb_in_use;
};

struct sqlite_cursor {
	struct sqlite_store *st;
	sqlite3 *db; /* st->rdb, or a private connection when that was taken */
	sqlite3_stmt *stmt;
	int pending; /* result of the first step, taken in query_open; -1 once consumed */
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
	rc = sqlite3_exec(db, "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL;", NULL, NULL,
	                  NULL);
	if (rc != SQLITE_OK)
		return db_fail(st, db, rc, "cannot switch to WAL mode");
	rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return db_fail(st, db, rc, "cannot create the schema");
	if ((rc = query_int(db, "PRAGMA application_id", &app)) != SQLITE_OK)
		goto fail;
	if (app != APPLICATION_ID) {
		if ((rc = sqlite3_exec(db, schema_sql, NULL, NULL, NULL)) != SQLITE_OK)
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
	return 0;
fail:
	err = db_fail(st, db, rc, "cannot create the schema");
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return err;
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

/* Parse a text UUID, 8-4-4-4-12 hex digits in either case, into 16 bytes. */
static int parse_uuid(uint8_t out[16], const char *s)
{
	char hex[33];
	size_t k = 0;

	for (size_t i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return -1;
		} else if (!s[i] || s[i] == '-') {
			return -1;
		} else {
			hex[k++] = s[i];
		}
	}
	if (s[36] != '\0')
		return -1;
	hex[32] = '\0';
	return atr__unhex(out, 16, hex);
}

/* A growing SQL text with a fixed cap: the query shape is bounded, so overflow is a bug. */
struct sqlbuf {
	char s[1024];
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

#define MAX_PARAMS 20

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
 * Range filters (target prefix, ts) do not yield rows in seq order, so their
 * matches must be sorted: they select seqs in a subquery (from the covering
 * index), which SQLite keeps as a sorted set of integers and walks in either
 * direction, instead of sorting whole rows with their records and payloads.
 *
 * A prefix match as a range, so the target index serves it and every byte
 * is literal (LIKE folds case and treats % and _ specially; GLOB needs
 * escaping): target >= prefix AND target < successor, where the successor
 * is the prefix without its trailing 0xff bytes and with its last byte one
 * higher. A prefix of only 0xff bytes has no successor: everything from it up
 * starts with it. Text compares as bytes (BINARY collation).
 */
static int add_prefix(struct qbuild *b, const char *prefix, char **succ_out)
{
	size_t n = strlen(prefix);
	char *succ;

	if (n > INT_MAX)
		return atr__err(ATR_ETOOBIG, "target prefix is too long");
	while (n > 0 && (unsigned char)prefix[n - 1] == 0xff)
		n--;
	if (n == 0) {
		add_text(b, "r.seq IN (SELECT seq FROM records WHERE target >= ?)", prefix, -1);
		return 0;
	}
	if (!(succ = malloc(n + 1)))
		return atr__err(ATR_ENOMEM, "out of memory");
	memcpy(succ, prefix, n);
	succ[n - 1] = (char)((unsigned char)succ[n - 1] + 1);
	succ[n] = '\0';
	add_text(b, "r.seq IN (SELECT seq FROM records WHERE target >= ?", prefix, -1);
	add_text(b, "target < ?)", succ, (int)n);
	*succ_out = succ;
	return 0;
}

static int build_query(struct qbuild *b, const atr_query *q, uint8_t id[16], char **succ)
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

	sql_add(&b->sql, "SELECT r.seq, r.record, p.detail, p.salt"
	                 " FROM records r LEFT JOIN payloads p ON p.seq = r.seq");
	if (q->event_id) {
		if (parse_uuid(id, q->event_id) != 0)
			return atr__err(ATR_EINVALID, "'%.80s' is not a UUID", q->event_id);
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
		int err = add_prefix(b, q->target_prefix, succ);

		if (err)
			return err;
	}
	if (q->since_us && q->until_us) {
		add_int(b, "r.seq IN (SELECT seq FROM records WHERE ts >= ?", q->since_us);
		add_int(b, "ts < ?)", q->until_us);
	} else if (q->since_us) {
		add_int(b, "r.seq IN (SELECT seq FROM records WHERE ts >= ?)", q->since_us);
	} else if (q->until_us) {
		add_int(b, "r.seq IN (SELECT seq FROM records WHERE ts < ?)", q->until_us);
	}
	if (q->seq_from)
		add_int(b, "r.seq >= ?", clamp_u64(q->seq_from));
	if (q->seq_to)
		add_int(b, "r.seq < ?", clamp_u64(q->seq_to));
	sql_add(&b->sql, q->descending ? " ORDER BY r.seq DESC" : " ORDER BY r.seq ASC");
	if (q->limit) {
		assert(b->nparams < MAX_PARAMS);
		sql_add(&b->sql, " LIMIT ?");
		b->params[b->nparams++] = (struct param){.kind = P_INT, .i = clamp_u64(q->limit)};
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
	if (db == st->rdb)
		st->rdb_in_use = 0;
	else
		sqlite3_close_v2(db);
}

static int sq_query_open(atr_store *base, const atr_query *q, atr_store_cursor **out)
{
	struct sqlite_store *st = (struct sqlite_store *)base;
	struct sqlite_cursor *cur = NULL;
	struct qbuild b = {0};
	uint8_t id[16];
	char *succ = NULL;
	int rc, err;

	*out = NULL;
	if ((err = build_query(&b, q, id, &succ)) != 0)
		goto cleanup;
	if (!(cur = calloc(1, sizeof(*cur)))) {
		err = atr__err(ATR_ENOMEM, "out of memory");
		goto cleanup;
	}
	cur->st = st;
	if ((err = take_reader(st, &cur->db)) != 0)
		goto cleanup;
	rc = sqlite3_prepare_v2(cur->db, b.sql.s, (int)b.sql.len + 1, &cur->stmt, NULL);
	if (rc != SQLITE_OK) {
		err = db_fail(st, cur->db, rc, "cannot prepare a query");
		goto cleanup;
	}
	for (int i = 0; i < b.nparams; i++) {
		const struct param *p = &b.params[i];

		/* The caller's strings need not outlive this call: SQLite copies them. */
		if (p->kind == P_TEXT)
			rc = sqlite3_bind_text(cur->stmt, i + 1, p->p, p->n, SQLITE_TRANSIENT);
		else if (p->kind == P_BLOB)
			rc = sqlite3_bind_blob(cur->stmt, i + 1, p->p, p->n, SQLITE_TRANSIENT);
		else
			rc = sqlite3_bind_int64(cur->stmt, i + 1, p->i);
		if (rc != SQLITE_OK) {
			err = db_fail(st, cur->db, rc, "cannot bind a query value");
			goto cleanup;
		}
	}
	/*
	 * The first step starts the read transaction: the cursor's snapshot
	 * is the log as committed now, not when the caller first reads.
	 */
	cur->pending = sqlite3_step(cur->stmt);
	if (cur->pending != SQLITE_ROW && cur->pending != SQLITE_DONE) {
		err = db_fail(st, cur->db, cur->pending, "cannot run a query");
		goto cleanup;
	}
	*out = (atr_store_cursor *)cur;
	cur = NULL;
cleanup:
	if (cur) {
		sqlite3_finalize(cur->stmt);
		if (cur->db)
			give_reader(st, cur->db);
		free(cur);
	}
	free(succ);
	return err;
}

static int sq_query_next(atr_store_cursor *c, atr_store_row *row)
{
	struct sqlite_cursor *cur = (struct sqlite_cursor *)c;
	sqlite3_stmt *stmt = cur->stmt;
	int rc;

	if (cur->pending >= 0) {
		rc = cur->pending;
		cur->pending = -1;
	} else {
		rc = sqlite3_step(stmt);
	}
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return db_fail(cur->st, cur->db, rc, "cannot read the next record");
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

static void sq_query_close(atr_store_cursor *c)
{
	struct sqlite_cursor *cur = (struct sqlite_cursor *)c;

	if (!cur)
		return;
	sqlite3_finalize(cur->stmt);
	give_reader(cur->st, cur->db);
	free(cur);
}

/* ---------------------------------------------------------------- lifetime */

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
	free(st->path);
	free(st);
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
};

int atr_store_sqlite_open(atr_store **out, const char *path, unsigned flags)
{
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
