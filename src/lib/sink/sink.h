/*
 * What the producer (src/lib/producer.c) and the built-in sinks share: the
 * sinks' constructors and the on-disk spool of the network sinks.
 */
#ifndef ATR_SINK_H
#define ATR_SINK_H

#include <stddef.h>
#include <stdint.h>

#include <agentrail/sys/sink.h>

/* ---- Built-in sinks; '*out' is released with (*out)->free(*out). ---- */

/* A local store (a path, sqlite:PATH; NULL: the default store), appended through the log. */
int atr__sink_store_new(atr_sink **out, const char *uri);

/*
 * A running `agentrail serve` at 'base' (http(s)://HOST:PORT[/PREFIX]):
 * NDJSON batches POSTed to /api/v1/events. With 'webhook' set, 'base' is
 * the whole URL and each batch is POSTed as a JSON array. 'token' (may be
 * NULL) goes in "Authorization: Bearer".
 */
int atr__sink_http_new(atr_sink **out, const char *base, int webhook, const char *token);

/*
 * Make a request in flight give up soon (at most about a second) and every
 * later one fail at once: the producer is stopping. Only for sinks made by
 * atr__sink_http_new(); thread-safe.
 */
void atr__sink_http_cancel(atr_sink *s);

/* The file sink: a JSONL log in the export format at 'path', signed with 'key_file' (may be NULL).
 */
int atr__sink_file_new(atr_sink **out, const char *path, const char *key_file);

/* Standard output, one event per line. */
int atr__sink_stdout_new(atr_sink **out);

/* ---- The spool ---- */

/*
 * A directory per (sink name, destination) under the spool root. Each
 * producer appends to segment files of its own (<writer>-<n>.seg, one event
 * per line), holding an flock on each until it is delivered or the producer
 * ends; a <writer>-<n>.pos file beside it says how far delivery got. A
 * segment whose lock can be taken is an orphan (its producer is gone): the
 * producer that holds the spool's 'lock' file replays orphans, oldest first.
 * Delivered segments are deleted.
 */
struct atr__spool;

/* One batch of lines read from a segment; reusable across calls, released with _batch_release. */
struct atr__spool_batch {
	const char **ev; /* the lines (no newline); an empty line marks an unreadable one */
	size_t *len;
	uint64_t *end; /* offset after each line's newline in its segment */
	size_t n;
	void *seg; /* the segment it came from (opaque) */
	char *buf; /* what was read */
	size_t buf_cap, cap;
};

void atr__spool_batch_release(struct atr__spool_batch *b);

/*
 * Open (creating it and its parents, mode 0700) the spool of sink 'name'
 * delivering to 'destination' under 'root'. Nothing is written until the
 * first append.
 */
int atr__spool_open(struct atr__spool **out, const char *root, const char *name,
                    const char *destination);

/*
 * Stop: own segments fully delivered are deleted; the others are synced and
 * their locks released, which makes them orphans for the next producer.
 */
void atr__spool_close(struct atr__spool *sp);

/* The spool's directory; borrowed for the spool's lifetime. */
const char *atr__spool_dir(const struct atr__spool *sp);

/*
 * Append one event line (no newline in it) to this producer's current
 * segment with one write(2); on failure nothing of it stays. Thread-safe.
 */
int atr__spool_append(struct atr__spool *sp, const char *line, size_t len);

/* fdatasync every own segment with unsynced lines. Thread-safe. */
int atr__spool_sync(struct atr__spool *sp);

/* Own lines not yet delivered or rejected. Thread-safe. */
uint64_t atr__spool_own_pending(struct atr__spool *sp);

/*
 * The next lines of this producer's own segments, oldest first: up to
 * 'max_events' lines and about 'max_bytes' (at least one line). 1 with a
 * batch, 0 when everything is delivered. Only the delivery thread reads.
 */
int atr__spool_next_own(struct atr__spool *sp, struct atr__spool_batch *b, size_t max_events,
                        size_t max_bytes);

/*
 * Delivery got past the first 'k' lines of 'b' ('rejected' of them refused
 * for good): move the segment's cursor (its .pos file) past them, and
 * delete the segment once it is finished.
 */
int atr__spool_done(struct atr__spool *sp, struct atr__spool_batch *b, size_t k, uint64_t rejected);

/* 1 when some other producer's segment is orphaned (its lock can be taken). */
int atr__spool_has_orphans(struct atr__spool *sp);

/*
 * Become the spool's replayer without waiting: 1 when this producer now
 * holds the spool lock (clearing leftovers of killed producers), 0 when
 * another producer holds it.
 */
int atr__spool_replay_begin(struct atr__spool *sp);
void atr__spool_replay_end(struct atr__spool *sp);

/*
 * The next lines of the orphaned segments, oldest first (with the spool
 * lock held). 1 with a batch, 0 when none is left. A last line a killed
 * producer left half written is dropped and counted in '*dropped' (bytes).
 */
int atr__spool_next_orphan(struct atr__spool *sp, struct atr__spool_batch *b, size_t max_events,
                           size_t max_bytes, uint64_t *dropped);

#endif
