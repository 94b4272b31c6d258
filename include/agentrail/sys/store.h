/*
 * The store interface, for people writing a storage backend. A backend keeps
 * records, their payloads and the tree's node hashes (in tiles); the log
 * layer above it validates, sequences and hashes. One contract test suite
 * (tests/unit/test_store_contract.c) runs against every backend.
 */
#ifndef AGENTRAIL_SYS_STORE_H
#define AGENTRAIL_SYS_STORE_H

#include "../common.h"
#include "../query.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ATR_STORE_VERSION 3

/* Hashes per tile row: tile (level L, index i) holds tree nodes at height 8*L, i*256 .. i*256+255.
 */
#define ATR_TILE_WIDTH 256

/* One record to append; every pointer is borrowed for the call. */
typedef struct atr_store_entry {
	uint64_t seq;
	const uint8_t *event_id;     /* 16 bytes, the UUID */
	const uint8_t *content_hash; /* 32 bytes: SHA-256 of the event as submitted (idempotency) */
	const char *record;          /* canonical record bytes: the Merkle leaf */
	size_t record_len;
	const char *detail; /* canonical detail JSON */
	size_t detail_len;
	const uint8_t *salt; /* 32 bytes */
	/* Index columns, copied out of the record; NULL when absent. */
	const char *type;
	const char *level;
	const char *actor;
	const char *trace_id;
	const char *session_id;
	const char *run_id;
	const char *job_id;
	const char *target;
	int64_t ts_us;
} atr_store_entry;

/* A tile row: 'width' (1..256) hashes of tree height 8*level, starting at node index*256. */
typedef struct atr_store_tile {
	unsigned level;
	uint64_t index;
	unsigned width;
	const atr_hash *hashes;
} atr_store_tile;

/* A record as read back; every pointer is borrowed until the next call on the same cursor. */
typedef struct atr_store_row {
	uint64_t seq;
	const char *record;
	size_t record_len;
	const char *detail; /* NULL when the payload row is gone (erased) */
	size_t detail_len;
	const uint8_t *salt; /* NULL when erased */
} atr_store_row;

typedef struct atr_store atr_store;
typedef struct atr_store_cursor atr_store_cursor;

struct atr_store {
	unsigned version; /* ATR_STORE_VERSION; fields are only ever appended */
	const char *name; /* "sqlite", ... */

	/*
	 * Start a write: take the store's write lock (waiting for other
	 * writers) and answer the current tree size. Everything until
	 * write_commit or write_abort is one atomic transaction.
	 */
	int (*write_begin)(atr_store *st, uint64_t *size);

	/* Find an event id (16 bytes) inside the write; ATR_ENOTFOUND if absent. */
	int (*find_event)(atr_store *st, const uint8_t *event_id, uint64_t *seq,
	                  uint8_t content_hash[32]);

	/* Add records; entries[0].seq equals the size write_begin answered, and seqs are
	 * contiguous. */
	int (*put_records)(atr_store *st, const atr_store_entry *entries, size_t n);

	/* Insert or replace tile rows (a partial tile grows until it is full). */
	int (*put_tiles)(atr_store *st, const atr_store_tile *tiles, size_t n);

	/* Record the new tree size and make everything durable (fsync) before returning. */
	int (*write_commit)(atr_store *st, uint64_t new_size);

	/* Drop everything since write_begin. */
	void (*write_abort)(atr_store *st);

	/* The committed tree size. */
	int (*size)(atr_store *st, uint64_t *size);

	/*
	 * Read a tile row into 'hashes' (room for 256); '*width' is how many it
	 * holds. ATR_ENOTFOUND if there is no such row.
	 */
	int (*get_tile)(atr_store *st, unsigned level, uint64_t index, atr_hash *hashes,
	                unsigned *width);

	/*
	 * Iterate records matching 'q' (every field of atr_query, including
	 * limit and descending) in seq order, from one read snapshot.
	 */
	int (*query_open)(atr_store *st, const atr_query *q, atr_store_cursor **out);
	/* 1 with '*row' filled, 0 at the end, or a negative status. */
	int (*query_next)(atr_store_cursor *cur, atr_store_row *row);
	void (*query_close)(atr_store_cursor *cur);

	/* Close the store and release 'st'. */
	void (*free)(atr_store *st);

	/* ---- Version 2: signed checkpoints, kept beside the log ---- */

	/*
	 * Keep a signed checkpoint note of the tree of 'size' leaves (at most
	 * the committed size, else ATR_EINVALID) durably, in a transaction of
	 * its own (never between write_begin and write_commit). The same note
	 * stored twice is kept once; other notes of the same size are kept.
	 */
	int (*put_checkpoint)(atr_store *st, uint64_t size, const char *note, size_t len);

	/*
	 * The checkpoint with the smallest size at least 'min_size' (the newest
	 * of equals), or with UINT64_MAX the one of the largest size. '*note'
	 * (NUL-terminated, '*len' bytes) is the caller's to free().
	 * ATR_ENOTFOUND when there is none.
	 */
	int (*get_checkpoint)(atr_store *st, uint64_t min_size, char **note, size_t *len);

	/*
	 * Call 'fn' for every stored checkpoint in (size, arrival) order; 'note'
	 * is borrowed for the call. A nonzero return from 'fn' stops and is
	 * returned.
	 */
	int (*each_checkpoint)(atr_store *st,
	                       int (*fn)(void *ctx, uint64_t size, const char *note, size_t len),
	                       void *ctx);

	/* ---- Version 3: named values kept with the store ---- */

	/*
	 * The value of 'key' (1..64 bytes of [a-z0-9_]), set once for the
	 * store's lifetime: when 'key' has no value yet and 'value' is not
	 * NULL, store 'value' ('len' bytes) durably in a transaction of its own
	 * (never between write_begin and write_commit); either way answer the
	 * stored value in '*out' (NUL-terminated, '*out_len' bytes, the
	 * caller's to free()). With 'value' NULL only read: ATR_ENOTFOUND when
	 * unset. Two writers racing on one key both answer the first value.
	 */
	int (*meta_once)(atr_store *st, const char *key, const void *value, size_t len, char **out,
	                 size_t *out_len);

	/*
	 * Retention (docs/retention.md). Each runs in a transaction of its own
	 * (never between write_begin and write_commit).
	 *
	 * delete_payloads: delete the payloads (detail and salt) of the 'n'
	 * records 'seqs' (any order); a seq whose payload is already gone, or
	 * that has no record, is skipped. '*deleted' (may be NULL) is how many
	 * payload rows went.
	 */
	int (*delete_payloads)(atr_store *st, const uint64_t *seqs, size_t n, uint64_t *deleted);

	/*
	 * Delete every record (and payload) below 'below', a multiple of
	 * ATR_TILE_WIDTH at most the tree size, and remember 'below' as the
	 * pruned prefix, which only grows (a smaller 'below' than the current
	 * one changes nothing). Tiles, checkpoints and the query indexes stay:
	 * queries skip seqs that have no record. '*deleted' (may be NULL) is
	 * how many records went. ATR_EINVALID for a 'below' that is not
	 * aligned or beyond the tree.
	 */
	int (*prune_records)(atr_store *st, uint64_t below, uint64_t *deleted);

	/* The pruned prefix: records below '*below' were pruned (0: none). */
	int (*pruned_below)(atr_store *st, uint64_t *below);
};

/*
 * Open the SQLite backend on 'path'. 'flags' are atr_open_flag values.
 * '*out' is released with (*out)->free(*out).
 */
ATR_EXTERN int atr_store_sqlite_open(atr_store **out, const char *path, unsigned flags);

/*
 * Open the PostgreSQL backend on 'uri', a libpq connection URI
 * (postgres://... or postgresql://...) with an optional '?log=NAME'
 * ([A-Za-z0-9_.-], default 'default'): one of several independent logs in
 * the database (docs/postgres.md).
 */
ATR_EXTERN int atr_store_postgres_open(atr_store **out, const char *uri, unsigned flags);

#ifdef __cplusplus
}
#endif
#endif
