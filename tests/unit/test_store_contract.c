/*
 * The store contract: every backend behind the atr_store vtable must pass
 * these tests. Add a backend to the 'backends' table; the tests that reach
 * into SQLite itself (triggers, foreign files) are in a group of their own,
 * and so are those that reach into PostgreSQL. The PostgreSQL backend runs
 * when AGENTRAIL_TEST_PG holds a database URI (scripts/pg-temp starts one;
 * ctest's unit.pg.test_store_contract does), each test on a log of its own.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include <agentrail/log.h>
#include <agentrail/sys/store.h>

struct backend {
	const char *name;
	int (*open)(atr_store **out, const char *path, unsigned flags);
	int is_file; /* the location is a file path (else a URI with '?log=') */
};

static const struct backend backends[] = {
    {"sqlite", atr_store_sqlite_open, 1},
    {"postgres", atr_store_postgres_open, 0},
};

/* AGENTRAIL_TEST_PG: the database the postgres backend runs on; NULL skips it. */
static const char *pg_uri;

/* ---------------------------------------------------------------- helpers */

static char tmpdir[512];

static void mkdirs(const char *path)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(buf, 0700);
			*p = '/';
		}
	}
	mkdir(buf, 0700);
}

/* A fresh store location for one test: no file, no WAL, no shared memory; or a new log. */
static void fresh_path(char *out, size_t cap, const struct backend *be, const char *name)
{
	char side[640];

	if (!be->is_file) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		snprintf(out, cap, "%s%slog=%s-%ld-%lx%lx", pg_uri, strchr(pg_uri, '?') ? "&" : "?",
		         name, (long)getpid(), (long)ts.tv_sec, (long)ts.tv_nsec);
		return;
	}
	snprintf(out, cap, "%s/%s-%s-%ld.db", tmpdir, be->name, name, (long)getpid());
	remove(out);
	snprintf(side, sizeof(side), "%s-wal", out);
	remove(side);
	snprintf(side, sizeof(side), "%s-shm", out);
	remove(side);
}

static atr_store *must_open(const struct backend *be, const char *path, unsigned flags)
{
	atr_store *st = NULL;
	int rc = be->open(&st, path, flags);

	if (rc != 0)
		fail_msg("open '%s': %d %s", path, rc, atr_errmsg());
	assert_non_null(st);
	return st;
}

/* One generated record with everything it points to. */
struct gen {
	uint8_t id[16];
	uint8_t hash[32];
	uint8_t salt[32];
	char record[128];
	char detail[64];
	atr_store_entry e;
};

static const char *const g_types[] = {"tool_call", "decision", "session_start", "x_custom"};
static const char *const g_levels[] = {"agent", "decision", "pipeline", "decision"};
static const char *const g_actors[] = {"alice", "bob", "agent-1"};
static const char *const g_traces[] = {"trace-A", "trace-B"};
static const char *const g_sessions[] = {"s1", "s2", "s3"};
static const char *const g_targets[] = {"src/a%b.c", "src/a_b.c", "src/a*b.c", "src/a[b].c",
                                        "src/aXb.c", "src/ab.c",  "SRC/A%B.C", "src/a",
                                        NULL,        "\xff\xff",  "src/a\xff", "src/b"};

#define NTARGETS (sizeof(g_targets) / sizeof(g_targets[0]))

static void gen_id(uint8_t id[16], uint64_t seq, unsigned salt)
{
	memset(id, 0, 16);
	id[0] = 0x01;
	id[6] = 0x70;
	for (int k = 0; k < 8; k++)
		id[8 + k] = (uint8_t)(seq >> (8 * k));
	id[7] = (uint8_t)salt;
}

static void gen_fill(struct gen *g, uint64_t seq)
{
	atr_store_entry *e = &g->e;

	memset(g, 0, sizeof(*g));
	gen_id(g->id, seq, 0);
	memset(g->hash, (int)(seq & 0xff), sizeof(g->hash));
	memset(g->salt, (int)(0x80 | (seq & 0x7f)), sizeof(g->salt));
	snprintf(g->record, sizeof(g->record), "{\"seq\":%llu,\"type\":\"%s\"}",
	         (unsigned long long)seq, g_types[seq % 4]);
	snprintf(g->detail, sizeof(g->detail), "{\"n\":%llu}", (unsigned long long)seq);
	e->seq = seq;
	e->event_id = g->id;
	e->content_hash = g->hash;
	e->record = g->record;
	e->record_len = strlen(g->record);
	e->detail = g->detail;
	e->detail_len = strlen(g->detail);
	e->salt = g->salt;
	e->type = g_types[seq % 4];
	e->level = g_levels[seq % 4];
	e->actor = g_actors[seq % 3];
	e->trace_id = seq % 2 == 0 ? g_traces[(seq / 2) % 2] : NULL;
	e->session_id = seq % 3 == 0 ? g_sessions[(seq / 3) % 3] : NULL;
	e->run_id = seq % 5 == 0 ? "run-5" : NULL;
	e->job_id = seq % 7 == 0 ? (seq % 14 == 0 ? "job-even" : "job-odd") : NULL;
	e->target = g_targets[seq % NTARGETS];
	e->ts_us = 1000000 + (int64_t)seq * 10;
}

/* Append records [from, to) in one write. */
static void append(atr_store *st, uint64_t from, uint64_t to)
{
	size_t n = (size_t)(to - from);
	struct gen *g = calloc(n ? n : 1, sizeof(*g));
	atr_store_entry *e = calloc(n ? n : 1, sizeof(*e));
	uint64_t size = 99;

	assert_non_null(g);
	assert_non_null(e);
	assert_int_equal(st->write_begin(st, &size), 0);
	assert_int_equal(size, from);
	for (size_t i = 0; i < n; i++) {
		gen_fill(&g[i], from + i);
		e[i] = g[i].e;
	}
	assert_int_equal(st->put_records(st, e, n), 0);
	assert_int_equal(st->write_commit(st, to), 0);
	free(g);
	free(e);
}

static uint64_t size_of(atr_store *st)
{
	uint64_t size = 12345;

	assert_int_equal(st->size(st, &size), 0);
	return size;
}

/* Run 'q' and collect the seqs (at most 'cap'); checks every row's bytes against the generator. */
static size_t run_query(atr_store *st, const atr_query *q, uint64_t *seqs, size_t cap)
{
	atr_store_cursor *cur = NULL;
	atr_store_row row;
	size_t n = 0;
	int rc;

	rc = st->query_open(st, q, &cur);
	if (rc != 0)
		fail_msg("query_open: %d %s", rc, atr_errmsg());
	while ((rc = st->query_next(cur, &row)) == 1) {
		struct gen g;

		gen_fill(&g, row.seq);
		assert_int_equal(row.record_len, g.e.record_len);
		assert_memory_equal(row.record, g.record, row.record_len);
		if (row.detail) {
			assert_int_equal(row.detail_len, g.e.detail_len);
			assert_memory_equal(row.detail, g.detail, row.detail_len);
			assert_non_null(row.salt);
			assert_memory_equal(row.salt, g.salt, 32);
		}
		assert_true(n < cap);
		seqs[n++] = row.seq;
	}
	assert_int_equal(rc, 0);
	st->query_close(cur);
	return n;
}

static int str_eq(const char *want, const char *have)
{
	return !want || (have && strcmp(want, have) == 0);
}

/* The reference: which of the first 'size' generated records 'q' selects, in order. */
static size_t expect_query(uint64_t size, const atr_query *q, uint64_t *seqs, size_t cap)
{
	size_t n = 0;

	for (uint64_t k = 0; k < size; k++) {
		uint64_t seq = q->descending ? size - 1 - k : k;
		struct gen g;
		const atr_store_entry *e = &g.e;

		gen_fill(&g, seq);
		if (!str_eq(q->type, e->type) || !str_eq(q->actor, e->actor) ||
		    !str_eq(q->level, e->level) || !str_eq(q->trace_id, e->trace_id) ||
		    !str_eq(q->session_id, e->session_id) || !str_eq(q->run_id, e->run_id) ||
		    !str_eq(q->job_id, e->job_id))
			continue;
		if (q->target_prefix && (!e->target || strncmp(e->target, q->target_prefix,
		                                               strlen(q->target_prefix)) != 0))
			continue;
		if (q->event_id) {
			char text[37];
			const uint8_t *b = e->event_id;

			snprintf(
			    text, sizeof(text),
			    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
			    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
			    b[11], b[12], b[13], b[14], b[15]);
			if (strcasecmp(text, q->event_id) != 0)
				continue;
		}
		if ((q->since_us && e->ts_us < q->since_us) ||
		    (q->until_us && e->ts_us >= q->until_us))
			continue;
		if (seq < q->seq_from || (q->seq_to && seq >= q->seq_to))
			continue;
		if (q->limit && n >= q->limit)
			break;
		assert_true(n < cap);
		seqs[n++] = seq;
	}
	return n;
}

#define LOG_SIZE 60

static void check_query(atr_store *st, const atr_query *q)
{
	uint64_t want[LOG_SIZE], have[LOG_SIZE];
	size_t nw = expect_query(LOG_SIZE, q, want, LOG_SIZE);
	size_t nh = run_query(st, q, have, LOG_SIZE);

	assert_int_equal(nh, nw);
	for (size_t i = 0; i < nw; i++)
		assert_int_equal(have[i], want[i]);
}

/* Exact seqs, written out, for a few queries: the reference must not hide a shared mistake. */
static void check_seqs(atr_store *st, const atr_query *q, const uint64_t *want, size_t n)
{
	uint64_t have[LOG_SIZE];
	size_t nh = run_query(st, q, have, LOG_SIZE);

	assert_int_equal(nh, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(have[i], want[i]);
}

/* ---------------------------------------------------------------- contract tests */

static void t_create_reopen(void **state)
{
	const struct backend *be = *state;
	char path[600];
	atr_store *st;

	fresh_path(path, sizeof(path), be, "create");
	st = must_open(be, path, 0);
	assert_string_equal(st->name, be->name);
	assert_int_equal(st->version, ATR_STORE_VERSION);
	assert_int_equal(size_of(st), 0);
	st->free(st);
	st = must_open(be, path, ATR_OPEN_NOCREATE);
	assert_int_equal(size_of(st), 0);
	st->free(st);
	st = must_open(be, path, ATR_OPEN_READONLY);
	assert_int_equal(size_of(st), 0);
	st->free(st);
}

static void t_missing(void **state)
{
	const struct backend *be = *state;
	char path[600];
	atr_store *st = (atr_store *)1;

	fresh_path(path, sizeof(path), be, "missing");
	assert_int_equal(be->open(&st, path, ATR_OPEN_READONLY), ATR_ENOTFOUND);
	assert_null(st);
	assert_non_null(strstr(atr_errmsg(), "does not exist"));
	assert_int_equal(be->open(&st, path, ATR_OPEN_NOCREATE), ATR_ENOTFOUND);
	assert_null(st);
	assert_int_equal(access(path, F_OK), -1);
}

static void t_parent_dirs(void **state)
{
	const struct backend *be = *state;
	char path[600];
	atr_store *st;
	struct stat sb;

	if (!be->is_file)
		skip(); /* no file, no directories */
	snprintf(path, sizeof(path), "%s/nested-%ld/a/b/store.db", tmpdir, (long)getpid());
	st = must_open(be, path, 0);
	append(st, 0, 1);
	st->free(st);
	*strrchr(path, '/') = '\0';
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
}

static void t_durable(void **state)
{
	const struct backend *be = *state;
	char path[600];
	atr_store *st;
	uint64_t seqs[LOG_SIZE];
	atr_query q = {0};

	fresh_path(path, sizeof(path), be, "durable");
	st = must_open(be, path, 0);
	append(st, 0, 10);
	assert_int_equal(size_of(st), 10);
	append(st, 10, 25);
	assert_int_equal(size_of(st), 25);
	st->free(st);
	st = must_open(be, path, ATR_OPEN_NOCREATE);
	assert_int_equal(size_of(st), 25);
	assert_int_equal(run_query(st, &q, seqs, LOG_SIZE), 25);
	for (int i = 0; i < 25; i++)
		assert_int_equal(seqs[i], i);
	append(st, 25, 26);
	st->free(st);
}

static void t_abort(void **state)
{
	const struct backend *be = *state;
	char path[600];
	atr_store *st;
	struct gen g[3];
	atr_store_entry e[3];
	atr_hash h[4];
	atr_store_tile tile = {.level = 0, .index = 0, .width = 4, .hashes = h};
	uint64_t size, seq, seqs[LOG_SIZE];
	uint8_t ch[32];
	unsigned width;
	atr_query q = {0};

	fresh_path(path, sizeof(path), be, "abort");
	st = must_open(be, path, 0);
	append(st, 0, 2);
	memset(h, 0x11, sizeof(h));
	assert_int_equal(st->write_begin(st, &size), 0);
	assert_int_equal(size, 2);
	for (int i = 0; i < 3; i++) {
		gen_fill(&g[i], 2 + (uint64_t)i);
		e[i] = g[i].e;
	}
	assert_int_equal(st->put_records(st, e, 3), 0);
	assert_int_equal(st->put_tiles(st, &tile, 1), 0);
	/* Inside the write, its own records and tiles are visible. */
	assert_int_equal(st->find_event(st, g[1].id, &seq, ch), 0);
	assert_int_equal(seq, 3);
	assert_int_equal(st->get_tile(st, 0, 0, h, &width), 0);
	st->write_abort(st);
	assert_int_equal(size_of(st), 2);
	assert_int_equal(st->find_event(st, g[1].id, &seq, ch), ATR_ENOTFOUND);
	assert_int_equal(st->get_tile(st, 0, 0, h, &width), ATR_ENOTFOUND);
	assert_int_equal(run_query(st, &q, seqs, LOG_SIZE), 2);

	/* A failed put (a repeated event id) leaves nothing after the abort. */
	assert_int_equal(st->write_begin(st, &size), 0);
	assert_int_equal(size, 2);
	gen_fill(&g[0], 2);
	gen_fill(&g[1], 3);
	memcpy(g[1].id, g[0].id, 16);
	e[0] = g[0].e;
	e[1] = g[1].e;
	assert_int_equal(st->put_records(st, e, 2), ATR_ECONFLICT);
	st->write_abort(st);
	assert_int_equal(size_of(st), 2);
	assert_int_equal(st->find_event(st, g[0].id, &seq, ch), ATR_ENOTFOUND);
	assert_int_equal(run_query(st, &q, seqs, LOG_SIZE), 2);

	/* A gap in seq is refused. */
	assert_int_equal(st->write_begin(st, &size), 0);
	gen_fill(&g[0], 5);
	e[0] = g[0].e;
	assert_int_equal(st->put_records(st, e, 1), ATR_EINVALID);
	st->write_abort(st);

	append(st, 2, 4);
	assert_int_equal(size_of(st), 4);
	st->free(st);
}

static void t_find_event(void **state)
{
	const struct backend *be = *state;
	char path[600];
	atr_store *st;
	uint8_t id[16], ch[32];
	uint64_t seq = 0;
	struct gen g;

	fresh_path(path, sizeof(path), be, "find");
	st = must_open(be, path, 0);
	append(st, 0, 20);
	gen_fill(&g, 13);
	assert_int_equal(st->find_event(st, g.id, &seq, ch), 0);
	assert_int_equal(seq, 13);
	assert_memory_equal(ch, g.hash, 32);
	gen_id(id, 13, 1);
	assert_int_equal(st->find_event(st, id, &seq, ch), ATR_ENOTFOUND);
	gen_id(id, 20, 0);
	assert_int_equal(st->find_event(st, id, &seq, ch), ATR_ENOTFOUND);
	st->free(st);
}

static void t_tiles(void **state)
{
	const struct backend *be = *state;
	char path[600];
	atr_store *st;
	atr_hash *a = calloc(ATR_TILE_WIDTH, sizeof(atr_hash));
	atr_hash *b = calloc(ATR_TILE_WIDTH, sizeof(atr_hash));
	uint64_t size;
	unsigned width = 0;

	assert_non_null(a);
	assert_non_null(b);
	for (int i = 0; i < ATR_TILE_WIDTH; i++)
		for (int k = 0; k < 32; k++)
			a[i].b[k] = (uint8_t)(i * 7 + k);
	fresh_path(path, sizeof(path), be, "tiles");
	st = must_open(be, path, 0);
	assert_int_equal(st->get_tile(st, 0, 0, b, &width), ATR_ENOTFOUND);

	atr_store_tile t[3] = {
	    {.level = 0, .index = 0, .width = 3, .hashes = a},
	    {.level = 1, .index = 0, .width = 1, .hashes = a + 5},
	    {.level = 0, .index = (uint64_t)1 << 40, .width = ATR_TILE_WIDTH, .hashes = a},
	};
	assert_int_equal(st->write_begin(st, &size), 0);
	assert_int_equal(st->put_tiles(st, t, 3), 0);
	assert_int_equal(st->write_commit(st, 0), 0);
	assert_int_equal(st->get_tile(st, 0, 0, b, &width), 0);
	assert_int_equal(width, 3);
	assert_memory_equal(b, a, 3 * sizeof(atr_hash));
	assert_int_equal(st->get_tile(st, 1, 0, b, &width), 0);
	assert_int_equal(width, 1);
	assert_memory_equal(b, a + 5, sizeof(atr_hash));
	assert_int_equal(st->get_tile(st, 0, (uint64_t)1 << 40, b, &width), 0);
	assert_int_equal(width, ATR_TILE_WIDTH);
	assert_memory_equal(b, a, ATR_TILE_WIDTH * sizeof(atr_hash));
	assert_int_equal(st->get_tile(st, 0, 1, b, &width), ATR_ENOTFOUND);
	assert_int_equal(st->get_tile(st, 2, 0, b, &width), ATR_ENOTFOUND);

	/* A partial tile grows: the row is replaced. */
	t[0].width = 200;
	assert_int_equal(st->write_begin(st, &size), 0);
	assert_int_equal(st->put_tiles(st, t, 1), 0);
	assert_int_equal(st->write_commit(st, 0), 0);
	st->free(st);
	st = must_open(be, path, ATR_OPEN_READONLY);
	assert_int_equal(st->get_tile(st, 0, 0, b, &width), 0);
	assert_int_equal(width, 200);
	assert_memory_equal(b, a, 200 * sizeof(atr_hash));
	st->free(st);
	free(a);
	free(b);
}

static void t_readonly(void **state)
{
	const struct backend *be = *state;
	char path[600];
	atr_store *st;
	uint64_t size, seqs[LOG_SIZE];
	atr_query q = {0};

	fresh_path(path, sizeof(path), be, "readonly");
	st = must_open(be, path, 0);
	append(st, 0, 5);
	st->free(st);
	st = must_open(be, path, ATR_OPEN_READONLY);
	assert_int_equal(size_of(st), 5);
	assert_int_equal(run_query(st, &q, seqs, LOG_SIZE), 5);
	assert_int_not_equal(st->write_begin(st, &size), 0);
	st->free(st);
}

static atr_store *query_store(const struct backend *be, const char *name)
{
	char path[600];
	atr_store *st;

	fresh_path(path, sizeof(path), be, name);
	st = must_open(be, path, 0);
	append(st, 0, 25);
	append(st, 25, LOG_SIZE);
	return st;
}

static void t_query_single(void **state)
{
	const struct backend *be = *state;
	atr_store *st = query_store(be, "qsingle");
	static const uint64_t decisions[] = {1,  5,  9,  13, 17, 21, 25, 29,
	                                     33, 37, 41, 45, 49, 53, 57};
	static const uint64_t job_even[] = {0, 14, 28, 42, 56};
	struct gen g;
	char text[40];

	check_query(st, &(atr_query){0});
	check_seqs(st, &(atr_query){.type = "decision"}, decisions, 15);
	check_seqs(st, &(atr_query){.job_id = "job-even"}, job_even, 5);
	check_seqs(st, &(atr_query){.job_id = "job-even", .descending = 1},
	           (const uint64_t[]){56, 42, 28, 14, 0}, 5);
	check_query(st, &(atr_query){.type = "x_custom"});
	check_query(st, &(atr_query){.type = "nothing"});
	check_query(st, &(atr_query){.actor = "bob"});
	check_query(st, &(atr_query){.level = "decision"});
	check_query(st, &(atr_query){.level = "pipeline"});
	check_query(st, &(atr_query){.trace_id = "trace-B"});
	check_query(st, &(atr_query){.session_id = "s2"});
	check_query(st, &(atr_query){.run_id = "run-5"});
	check_query(st, &(atr_query){.job_id = "job-odd"});
	check_query(st, &(atr_query){.since_us = 1000000 + 300});
	check_query(st, &(atr_query){.until_us = 1000000 + 105});
	check_query(st, &(atr_query){.since_us = 1000000 + 100, .until_us = 1000000 + 200});
	check_seqs(st, &(atr_query){.since_us = 1000000 + 100, .until_us = 1000000 + 130},
	           (const uint64_t[]){10, 11, 12}, 3);
	check_seqs(st, &(atr_query){.seq_from = 57}, (const uint64_t[]){57, 58, 59}, 3);
	check_seqs(st, &(atr_query){.seq_to = 2}, (const uint64_t[]){0, 1}, 2);
	check_seqs(st, &(atr_query){.seq_from = 10, .seq_to = 13}, (const uint64_t[]){10, 11, 12},
	           3);
	check_query(st, &(atr_query){.seq_from = UINT64_MAX});
	check_seqs(st, &(atr_query){.limit = 2}, (const uint64_t[]){0, 1}, 2);
	check_seqs(st, &(atr_query){.limit = 2, .descending = 1}, (const uint64_t[]){59, 58}, 2);
	check_query(st, &(atr_query){.limit = UINT64_MAX});

	/* The event id, in lower and upper case. */
	gen_fill(&g, 42);
	snprintf(text, sizeof(text),
	         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", g.id[0],
	         g.id[1], g.id[2], g.id[3], g.id[4], g.id[5], g.id[6], g.id[7], g.id[8], g.id[9],
	         g.id[10], g.id[11], g.id[12], g.id[13], g.id[14], g.id[15]);
	check_seqs(st, &(atr_query){.event_id = text}, (const uint64_t[]){42}, 1);
	for (char *p = text; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	check_seqs(st, &(atr_query){.event_id = text}, (const uint64_t[]){42}, 1);
	check_query(st, &(atr_query){.event_id = "00000000-0000-0000-0000-000000000000"});

	static const char *const bad[] = {"",
	                                  "xyz",
	                                  "0170000000-00-0000-0000-000000000000",
	                                  "01700000-0000-0000-0000-00000000000g",
	                                  "01700000-0000-0000-0000-0000000000000",
	                                  "01700000-0000-0000-0000-00000000000"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		atr_store_cursor *cur = (atr_store_cursor *)1;

		assert_int_equal(st->query_open(st, &(atr_query){.event_id = bad[i]}, &cur),
		                 ATR_EINVALID);
		assert_null(cur);
	}
	st->free(st);
}

static void t_query_target(void **state)
{
	const struct backend *be = *state;
	atr_store *st = query_store(be, "qtarget");
	static const char *const prefixes[] = {
	    "src/a%",    "src/a_", "src/a*",   "src/a[",       "src/a", "src/", "src/a%b.c", "SRC",
	    "src/a\xff", "\xff",   "\xff\xff", "\xff\xff\xff", "",      "s",    "src/ab",    "%",
	    "_",         "*",      "["};

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		check_query(st, &(atr_query){.target_prefix = prefixes[i]});
	/* Targets: seq % 12 == 0 "src/a%b.c", 1 "src/a_b.c", 2 "src/a*b.c", 3 "src/a[b].c". */
	check_seqs(st, &(atr_query){.target_prefix = "src/a%"},
	           (const uint64_t[]){0, 12, 24, 36, 48}, 5);
	check_seqs(st, &(atr_query){.target_prefix = "src/a_"},
	           (const uint64_t[]){1, 13, 25, 37, 49}, 5);
	check_seqs(st, &(atr_query){.target_prefix = "src/a*"},
	           (const uint64_t[]){2, 14, 26, 38, 50}, 5);
	check_seqs(st, &(atr_query){.target_prefix = "src/a["},
	           (const uint64_t[]){3, 15, 27, 39, 51}, 5);
	check_seqs(st, &(atr_query){.target_prefix = "\xff"}, (const uint64_t[]){9, 21, 33, 45, 57},
	           5);
	st->free(st);
}

static void t_query_combined(void **state)
{
	const struct backend *be = *state;
	atr_store *st = query_store(be, "qcombined");

	check_query(st, &(atr_query){.type = "decision", .actor = "alice"});
	check_seqs(st, &(atr_query){.type = "decision", .actor = "alice"},
	           (const uint64_t[]){9, 21, 33, 45, 57}, 5);
	check_query(st, &(atr_query){.level = "decision", .limit = 4, .descending = 1});
	check_query(st, &(atr_query){.level = "decision", .seq_from = 10, .seq_to = 30});
	check_query(st, &(atr_query){.trace_id = "trace-A", .since_us = 1000000 + 200, .limit = 3});
	check_query(st, &(atr_query){.session_id = "s1", .actor = "alice", .descending = 1});
	check_query(st, &(atr_query){.run_id = "run-5", .type = "tool_call", .seq_to = 50});
	check_query(st, &(atr_query){.target_prefix = "src/a", .level = "agent", .limit = 5});
	check_query(st, &(atr_query){.target_prefix = "src/a",
	                             .type = "decision",
	                             .descending = 1,
	                             .seq_from = 5,
	                             .seq_to = 55,
	                             .limit = 2});
	check_query(st, &(atr_query){.job_id = "job-odd", .trace_id = "trace-A"});
	check_query(st, &(atr_query){.type = "tool_call",
	                             .actor = "agent-1",
	                             .level = "agent",
	                             .trace_id = "trace-A",
	                             .session_id = "s1",
	                             .target_prefix = "src",
	                             .since_us = 1,
	                             .until_us = 1000000 + 590,
	                             .seq_from = 1,
	                             .seq_to = 59,
	                             .limit = 10,
	                             .descending = 1});
	st->free(st);
}

/*
 * The log written in many small writes of uneven size, so that each filter
 * value is spread over many writes (a backend that indexes per write, like
 * SQLite's postings, then has many pieces to stitch together in order).
 */
static atr_store *batched_store(const struct backend *be, const char *name)
{
	static const uint64_t sizes[] = {1, 2, 3, 1, 7, 4, 1, 5, 2, 9, 1, 3, 6, 1, 2, 8, 4};
	char path[600];
	atr_store *st;
	uint64_t at = 0;

	fresh_path(path, sizeof(path), be, name);
	st = must_open(be, path, 0);
	for (size_t i = 0; at < LOG_SIZE; i++) {
		uint64_t n = sizes[i % (sizeof(sizes) / sizeof(sizes[0]))];

		if (at + n > LOG_SIZE)
			n = LOG_SIZE - at;
		append(st, at, at + n);
		at += n;
	}
	return st;
}

static void t_query_batched(void **state)
{
	const struct backend *be = *state;
	atr_store *st = batched_store(be, "qbatched");
	/* Each a driver matching many with, where set, a residual matching few. */
	static const atr_query base[] = {
	    {0},
	    {.type = "decision"},
	    {.level = "agent"},
	    {.actor = "alice"},
	    {.trace_id = "trace-A"},
	    {.session_id = "s2"},
	    {.run_id = "run-5"},
	    {.job_id = "job-odd"},
	    {.target_prefix = "src/"},
	    {.target_prefix = "\xff"},
	    {.since_us = 1000000 + 105, .until_us = 1000000 + 475},
	    {.since_us = 1000000 + 333},
	    {.until_us = 1000000 + 222},
	    {.level = "decision", .actor = "agent-1"},
	    {.type = "tool_call", .since_us = 1000000 + 200, .until_us = 1000000 + 260},
	    {.actor = "bob", .session_id = "s3"},
	    {.trace_id = "trace-B", .job_id = "job-even"},
	    {.target_prefix = "src", .type = "x_custom", .actor = "bob"},
	    {.target_prefix = "src/a", .until_us = 1000000 + 300},
	    {.level = "pipeline", .target_prefix = "src/b"},
	    {.session_id = "s1", .run_id = "run-5"},
	    {.since_us = 1000000 + 100, .until_us = 1000000 + 500, .actor = "alice"},
	    {.type = "decision", .trace_id = "nobody"},
	};
	static const uint64_t limits[] = {0, 1, 2, 3, 7};
	static const uint64_t windows[][2] = {{0, 0}, {13, 0}, {0, 41}, {9, 10}, {17, 53}};

	for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++)
		for (size_t l = 0; l < sizeof(limits) / sizeof(limits[0]); l++)
			for (size_t w = 0; w < sizeof(windows) / sizeof(windows[0]); w++)
				for (int desc = 0; desc < 2; desc++) {
					atr_query q = base[i];

					q.limit = limits[l];
					q.seq_from = windows[w][0];
					q.seq_to = windows[w][1];
					q.descending = desc;
					check_query(st, &q);
				}
	/* Written out: the matches of one value, newest first, across writes. */
	check_seqs(st, &(atr_query){.run_id = "run-5", .descending = 1, .limit = 4},
	           (const uint64_t[]){55, 50, 45, 40}, 4);
	check_seqs(st, &(atr_query){.job_id = "job-odd", .seq_from = 8},
	           (const uint64_t[]){21, 35, 49}, 3);
	check_seqs(
	    st, &(atr_query){.since_us = 1000000 + 125, .until_us = 1000000 + 165, .descending = 1},
	    (const uint64_t[]){16, 15, 14, 13}, 4);
	st->free(st);
}

/* A cursor keeps its snapshot while the same handle, and another one, append. */
static void t_snapshot(void **state)
{
	const struct backend *be = *state;
	char path[600];
	atr_store *a, *b;
	atr_store_cursor *ca, *cb;
	atr_store_row row;
	uint64_t seqs[LOG_SIZE];
	int n;

	fresh_path(path, sizeof(path), be, "snapshot");
	a = must_open(be, path, 0);
	b = must_open(be, path, 0);
	append(a, 0, 10);
	assert_int_equal(b->query_open(b, &(atr_query){0}, &cb), 0);
	assert_int_equal(a->query_open(a, &(atr_query){0}, &ca), 0);
	assert_int_equal(b->query_next(cb, &row), 1);
	assert_int_equal(row.seq, 0);
	append(a, 10, 20);
	assert_int_equal(size_of(b), 20);
	n = 1;
	while (b->query_next(cb, &row) == 1)
		assert_int_equal(row.seq, (uint64_t)n++);
	assert_int_equal(n, 10);
	b->query_close(cb);
	n = 0;
	while (a->query_next(ca, &row) == 1)
		assert_int_equal(row.seq, (uint64_t)n++);
	assert_int_equal(n, 10);
	a->query_close(ca);
	assert_int_equal(run_query(b, &(atr_query){0}, seqs, LOG_SIZE), 20);

	/* Two cursors open on one handle at once. */
	assert_int_equal(a->query_open(a, &(atr_query){.limit = 3}, &ca), 0);
	assert_int_equal(a->query_open(a, &(atr_query){.descending = 1, .limit = 3}, &cb), 0);
	assert_int_equal(a->query_next(ca, &row), 1);
	assert_int_equal(row.seq, 0);
	assert_int_equal(a->query_next(cb, &row), 1);
	assert_int_equal(row.seq, 19);
	a->query_close(cb);
	a->query_close(ca);
	a->free(a);
	b->free(b);
}

static void t_two_writers(void **state)
{
	const struct backend *be = *state;
	char path[600];
	atr_store *a, *b;

	fresh_path(path, sizeof(path), be, "writers");
	a = must_open(be, path, 0);
	b = must_open(be, path, 0);
	append(a, 0, 5);
	append(b, 5, 9);
	append(a, 9, 12);
	append(b, 12, 13);
	assert_int_equal(size_of(a), 13);
	assert_int_equal(size_of(b), 13);
	a->free(a);
	b->free(b);
}

struct holder {
	atr_store *st;
	int rc;
	uint64_t size;
};

static void *second_writer(void *arg)
{
	struct holder *h = arg;

	h->rc = h->st->write_begin(h->st, &h->size);
	if (h->rc == 0)
		h->st->write_abort(h->st);
	return NULL;
}

/* A writer waits for the other's write lock, then sees what it committed. */
static void t_writer_waits(void **state)
{
	const struct backend *be = *state;
	char path[600];
	atr_store *a, *b;
	struct gen g;
	struct holder h = {0};
	pthread_t thread;
	uint64_t size;

	fresh_path(path, sizeof(path), be, "waits");
	a = must_open(be, path, 0);
	b = must_open(be, path, 0);
	assert_int_equal(a->write_begin(a, &size), 0);
	gen_fill(&g, 0);
	assert_int_equal(a->put_records(a, &g.e, 1), 0);
	h.st = b;
	assert_int_equal(pthread_create(&thread, NULL, second_writer, &h), 0);
	usleep(200 * 1000);
	assert_int_equal(a->write_commit(a, 1), 0);
	assert_int_equal(pthread_join(thread, NULL), 0);
	assert_int_equal(h.rc, 0);
	assert_int_equal(h.size, 1);
	a->free(a);
	b->free(b);
}

/* ---------------------------------------------------------------- sqlite only */

static void t_meta_once(void **state)
{
	const struct backend *be = *state;
	char path[600], *v = NULL;
	size_t n = 0;
	atr_store *st, *st2;

	fresh_path(path, sizeof(path), be, "meta");
	st = must_open(be, path, 0);
	assert_int_equal(st->meta_once(st, "redact_salt", NULL, 0, &v, &n), ATR_ENOTFOUND);
	assert_null(v);
	assert_int_equal(st->meta_once(st, "redact_salt", "first\0x", 7, &v, &n), 0);
	assert_int_equal(n, 7);
	assert_memory_equal(v, "first\0x", 7);
	free(v);
	/* Set once: a second value is ignored and the first answered, also to another handle. */
	st2 = must_open(be, path, ATR_OPEN_NOCREATE);
	assert_int_equal(st2->meta_once(st2, "redact_salt", "second", 6, &v, &n), 0);
	assert_int_equal(n, 7);
	assert_memory_equal(v, "first\0x", 7);
	free(v);
	st2->free(st2);
	assert_int_equal(st->meta_once(st, "Bad-Key", "x", 1, &v, &n), ATR_EINVALID);
	assert_int_equal(st->meta_once(st, "", "x", 1, &v, &n), ATR_EINVALID);
	/* The tree size is not a caller's value to set. */
	append(st, 0, 3);
	assert_int_equal(st->meta_once(st, "size", "9", 1, &v, &n), 0);
	free(v);
	assert_int_equal(size_of(st), 3);
	st->free(st);
	st = must_open(be, path, ATR_OPEN_READONLY);
	assert_int_equal(st->meta_once(st, "redact_salt", NULL, 0, &v, &n), 0);
	assert_int_equal(n, 7);
	free(v);
	assert_int_equal(st->meta_once(st, "other", "x", 1, &v, &n), ATR_EINVALID);
	st->free(st);
}

/* Retention: payload deletion, records pruned below a tile-aligned prefix that only grows. */
static void t_retention(void **state)
{
	const struct backend *be = *state;
	const uint64_t del[] = {5, 7, 7, 9000, 600};
	char path[600];
	uint64_t seqs[700], n, below = 99;
	atr_query q = {0};
	atr_store *st;

	fresh_path(path, sizeof(path), be, "retention");
	st = must_open(be, path, 0);
	assert_int_equal(st->pruned_below(st, &below), 0);
	assert_int_equal(below, 0);
	append(st, 0, 700);
	/* Payloads: gone ones and seqs without a record are skipped. */
	assert_int_equal(st->delete_payloads(st, del, 5, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(st->delete_payloads(st, del, 5, &n), 0);
	assert_int_equal(n, 0);
	{
		atr_store_cursor *cur;
		atr_store_row row;
		int erased = 0;

		assert_int_equal(st->query_open(st, &q, &cur), 0);
		while (st->query_next(cur, &row) > 0)
			if (!row.detail) {
				assert_null(row.salt);
				erased++;
			}
		st->query_close(cur);
		assert_int_equal(erased, 3);
	}
	/* Records: only below a multiple of 256 within the tree. */
	assert_int_equal(st->prune_records(st, 300, &n), ATR_EINVALID);
	assert_int_equal(st->prune_records(st, 768, &n), ATR_EINVALID);
	assert_int_equal(st->prune_records(st, 512, &n), 0);
	assert_int_equal(n, 512);
	assert_int_equal(st->pruned_below(st, &below), 0);
	assert_int_equal(below, 512);
	assert_int_equal(size_of(st), 700);
	/* A smaller prefix changes nothing; the same one deletes nothing more. */
	assert_int_equal(st->prune_records(st, 256, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(st->prune_records(st, 512, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(st->pruned_below(st, &below), 0);
	assert_int_equal(below, 512);
	/* Queries start at the prefix, whatever drives them (postings, batches, seq range). */
	assert_int_equal(run_query(st, &q, seqs, 700), 188);
	assert_int_equal(seqs[0], 512);
	q.session_id = "s2";
	n = run_query(st, &q, seqs, 700);
	assert_true(n > 0);
	for (uint64_t i = 0; i < n; i++)
		assert_true(seqs[i] >= 512);
	q.session_id = NULL;
	q.since_us = 1;
	n = run_query(st, &q, seqs, 700);
	for (uint64_t i = 0; i < n; i++)
		assert_true(seqs[i] >= 512);
	/* Tiles stay; appending goes on. */
	append(st, 700, 710);
	assert_int_equal(size_of(st), 710);
	st->free(st);
	st = must_open(be, path, ATR_OPEN_READONLY);
	assert_int_equal(st->pruned_below(st, &below), 0);
	assert_int_equal(below, 512);
	assert_int_equal(st->prune_records(st, 768, &n), ATR_EINVALID);
	assert_int_equal(st->delete_payloads(st, del, 1, &n), ATR_EINVALID);
	st->free(st);
}

/*
 * Retention triggers: deleting a record at or above meta 'pruned_below',
 * or shrinking it, is refused; a version-3 store gains them when opened for
 * writing (read-only it reads as never pruned).
 */
static void t_sqlite_retention_triggers(void **state)
{
	const struct backend *be = *state;
	char path[600];
	sqlite3 *db;
	atr_store *st;
	uint64_t below = 9, n;
	sqlite3_int64 ver = 0;
	sqlite3_stmt *stmt;

	fresh_path(path, sizeof(path), be, "rettrig");
	st = must_open(be, path, 0);
	append(st, 0, 600);
	assert_int_equal(st->prune_records(st, 256, &n), 0);
	st->free(st);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DELETE FROM records WHERE seq = 100", NULL, NULL, NULL),
	                 SQLITE_OK); /* already gone: nothing to refuse */
	assert_int_not_equal(
	    sqlite3_exec(db, "DELETE FROM records WHERE seq = 256", NULL, NULL, NULL), SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(db,
	                                  "UPDATE meta SET value = 0 WHERE key = 'pruned_below'",
	                                  NULL, NULL, NULL),
	                     SQLITE_OK);
	assert_int_not_equal(
	    sqlite3_exec(db, "UPDATE meta SET value = 'x' WHERE key = 'log_id'", NULL, NULL, NULL),
	    SQLITE_OK);
	/* Back to version 3: its triggers, no prefix. */
	assert_int_equal(
	    sqlite3_exec(db,
	                 "DROP TRIGGER records_no_delete; DROP TRIGGER meta_no_shrink;"
	                 "CREATE TRIGGER records_no_delete BEFORE DELETE ON records"
	                 " BEGIN SELECT RAISE(ABORT, 'agentrail: records are append-only'); END;"
	                 "CREATE TRIGGER meta_no_shrink BEFORE UPDATE ON meta"
	                 " WHEN old.key <> 'size' OR new.key <> 'size' OR new.value < old.value"
	                 " BEGIN SELECT RAISE(ABORT, 'agentrail: the tree size only grows'); END;"
	                 "PRAGMA user_version = 3;",
	                 NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	st = must_open(be, path, ATR_OPEN_READONLY);
	assert_int_equal(st->pruned_below(st, &below), 0);
	st->free(st);
	st = must_open(be, path, 0);
	assert_int_equal(st->prune_records(st, 512, &n), 0);
	assert_int_equal(n, 256);
	st->free(st);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	ver = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	assert_int_equal(ver, 4);
	assert_int_not_equal(
	    sqlite3_exec(db, "DELETE FROM records WHERE seq = 512", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void t_sqlite_triggers(void **state)
{
	const struct backend *be = *state;
	char path[600];
	atr_store *st;
	sqlite3 *db;
	uint64_t seqs[LOG_SIZE];
	atr_store_cursor *cur;
	atr_store_row row;

	fresh_path(path, sizeof(path), be, "triggers");
	st = must_open(be, path, 0);
	append(st, 0, 6);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(db, "UPDATE records SET actor = 'mallory' WHERE seq = 2",
	                                  NULL, NULL, NULL),
	                     SQLITE_OK);
	assert_non_null(strstr(sqlite3_errmsg(db), "append-only"));
	assert_int_not_equal(
	    sqlite3_exec(db, "DELETE FROM records WHERE seq = 5", NULL, NULL, NULL), SQLITE_OK);
	assert_non_null(strstr(sqlite3_errmsg(db), "append-only"));
	assert_int_not_equal(
	    sqlite3_exec(db, "UPDATE payloads SET detail = x'00' WHERE seq = 1", NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_not_equal(
	    sqlite3_exec(db, "UPDATE meta SET value = 1 WHERE key = 'size'", NULL, NULL, NULL),
	    SQLITE_OK);
	/* The query postings and batch bounds are append-only too. */
	assert_int_not_equal(sqlite3_exec(db, "UPDATE postings SET seqs = x'' WHERE val = 'alice'",
	                                  NULL, NULL, NULL),
	                     SQLITE_OK);
	assert_non_null(strstr(sqlite3_errmsg(db), "append-only"));
	assert_int_not_equal(
	    sqlite3_exec(db, "DELETE FROM postings WHERE val = 'alice'", NULL, NULL, NULL),
	    SQLITE_OK);
	assert_non_null(strstr(sqlite3_errmsg(db), "append-only"));
	assert_int_not_equal(sqlite3_exec(db, "UPDATE batches SET ts_max = 0", NULL, NULL, NULL),
	                     SQLITE_OK);
	assert_non_null(strstr(sqlite3_errmsg(db), "append-only"));
	assert_int_not_equal(sqlite3_exec(db, "DELETE FROM batches", NULL, NULL, NULL), SQLITE_OK);
	assert_non_null(strstr(sqlite3_errmsg(db), "append-only"));
	/* Erasure: the payload goes, the record stays. */
	assert_int_equal(sqlite3_exec(db, "DELETE FROM payloads WHERE seq = 3", NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(size_of(st), 6);
	assert_int_equal(run_query(st, &(atr_query){0}, seqs, LOG_SIZE), 6);
	assert_int_equal(st->query_open(st, &(atr_query){.seq_from = 3, .limit = 2}, &cur), 0);
	assert_int_equal(st->query_next(cur, &row), 1);
	assert_int_equal(row.seq, 3);
	assert_non_null(row.record);
	assert_null(row.detail);
	assert_null(row.salt);
	assert_int_equal(st->query_next(cur, &row), 1);
	assert_int_equal(row.seq, 4);
	assert_non_null(row.detail);
	assert_int_equal(st->query_next(cur, &row), 0);
	st->query_close(cur);
	st->free(st);
}

static void t_sqlite_foreign(void **state)
{
	const struct backend *be = *state;
	char path[600];
	atr_store *st = NULL;
	sqlite3 *db;
	FILE *f;

	/* Another application's database is refused and left as it was. */
	fresh_path(path, sizeof(path), be, "foreign");
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db, "CREATE TABLE t (x); INSERT INTO t VALUES (1)", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(be->open(&st, path, 0), ATR_EINVALID);
	assert_null(st);
	assert_non_null(strstr(atr_errmsg(), "not an agentrail store"));
	assert_non_null(strstr(atr_errmsg(), path));
	assert_int_equal(be->open(&st, path, ATR_OPEN_READONLY), ATR_EINVALID);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	{
		sqlite3_stmt *stmt;

		assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, NULL),
		                 SQLITE_OK);
		assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
		assert_string_equal((const char *)sqlite3_column_text(stmt, 0), "delete");
		sqlite3_finalize(stmt);
	}
	sqlite3_close(db);

	/* Not a database at all. */
	fresh_path(path, sizeof(path), be, "garbage");
	f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < 200; i++)
		fputs("this is not a database file at all. ", f);
	fclose(f);
	assert_int_equal(be->open(&st, path, 0), ATR_EINVALID);
	assert_null(st);
	assert_non_null(strstr(atr_errmsg(), "not an agentrail store"));

	/* A newer schema than this build knows. */
	fresh_path(path, sizeof(path), be, "newer");
	st = must_open(be, path, 0);
	st->free(st);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	st = NULL;
	assert_int_equal(be->open(&st, path, 0), ATR_EUNSUPPORTED);
	assert_null(st);
}

static void t_sqlite_bad_tile(void **state)
{
	const struct backend *be = *state;
	char path[600];
	atr_store *st;
	sqlite3 *db;
	atr_hash h[ATR_TILE_WIDTH];
	unsigned width;

	fresh_path(path, sizeof(path), be, "badtile");
	st = must_open(be, path, 0);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db,
	                 "INSERT INTO tiles VALUES (0, 0, zeroblob(33)),"
	                 " (0, 1, zeroblob(0)), (0, 2, zeroblob(257 * 32)), (0, 3, 'text')",
	                 NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	for (uint64_t i = 0; i < 4; i++) {
		assert_int_equal(st->get_tile(st, 0, i, h, &width), ATR_ETAMPER);
		assert_non_null(strstr(atr_errmsg(), "malformed"));
	}
	st->free(st);
}

/*
 * Postings are a hint: one naming a record that does not match is checked
 * against the record and dropped; one that cannot be decoded is tampering.
 */
static void t_sqlite_bad_postings(void **state)
{
	const struct backend *be = *state;
	char path[600];
	atr_store *st;
	sqlite3 *db;
	atr_store_cursor *cur;
	atr_store_row row;

	fresh_path(path, sizeof(path), be, "badpost");
	st = must_open(be, path, 0);
	append(st, 0, 20);
	append(st, 20, LOG_SIZE);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	/* Col 7 is job_id: seqs 57 and 59 (57 + 2) do not have job-even. */
	assert_int_equal(sqlite3_exec(db,
	                              "INSERT INTO postings VALUES (7, 'job-even', 57, x'02'),"
	                              " (7, 'job-odd', 58, x'80')",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	check_seqs(st, &(atr_query){.job_id = "job-even"}, (const uint64_t[]){0, 14, 28, 42, 56},
	           5);
	check_seqs(st, &(atr_query){.job_id = "job-even", .descending = 1},
	           (const uint64_t[]){56, 42, 28, 14, 0}, 5);
	assert_int_equal(st->query_open(st, &(atr_query){.job_id = "job-odd"}, &cur), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(st->query_next(cur, &row), 1);
		assert_int_equal(row.seq, 7 + 14 * (uint64_t)i);
	}
	assert_int_equal(st->query_next(cur, &row), ATR_ETAMPER);
	assert_non_null(strstr(atr_errmsg(), "malformed"));
	st->query_close(cur);
	st->free(st);

	/* A store from before the postings (schema 1) is refused, not misread. */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 1", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	st = NULL;
	assert_int_equal(be->open(&st, path, 0), ATR_EUNSUPPORTED);
	assert_null(st);
}

/* ---------------------------------------------------------------- postgres only */

/* Run 'sql' (one statement, "%s" where the log's name goes) directly; 1 when it succeeded. */
static int pg_try(const char *path, const char *tmpl, char *err, size_t errcap)
{
	const char *log = strstr(path, "log=") + 4, *at = strstr(tmpl, "%s");
	PGconn *conn = PQconnectdb(pg_uri);
	char sql[512];
	PGresult *res;
	int ok;

	assert_int_equal(PQstatus(conn), CONNECTION_OK);
	assert_non_null(at);
	snprintf(sql, sizeof(sql), "%.*s%s%s", (int)(at - tmpl), tmpl, log, at + 2);
	res = PQexec(conn, sql);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
	if (err)
		snprintf(err, errcap, "%s", PQresultErrorMessage(res));
	PQclear(res);
	PQfinish(conn);
	return ok;
}

/* Several logs in one database: each its own records, tree, checkpoints and metadata. */
static void t_pg_logs(void **state)
{
	const struct backend *be = *state;
	char pa[600], pb[600], *v = NULL, *note = NULL;
	uint64_t seqs[LOG_SIZE], seq, below;
	size_t n, len;
	uint8_t ch[32];
	atr_hash h[256];
	unsigned width;
	atr_store *a, *b;
	struct gen g;

	fresh_path(pa, sizeof(pa), be, "logA");
	fresh_path(pb, sizeof(pb), be, "logB");
	a = must_open(be, pa, 0);
	b = must_open(be, pb, 0);
	append(a, 0, 30);
	/* The same event ids in another log are other events. */
	append(b, 0, 12);
	assert_int_equal(size_of(a), 30);
	assert_int_equal(size_of(b), 12);
	assert_int_equal(run_query(b, &(atr_query){0}, seqs, LOG_SIZE), 12);
	assert_int_equal(run_query(a, &(atr_query){.type = "decision"}, seqs, LOG_SIZE), 8);
	gen_fill(&g, 20);
	assert_int_equal(a->find_event(a, g.id, &seq, ch), 0);
	assert_int_equal(b->find_event(b, g.id, &seq, ch), ATR_ENOTFOUND);
	memset(h, 0x5a, sizeof(h));
	assert_int_equal(a->write_begin(a, &seq), 0);
	assert_int_equal(a->put_tiles(a, &(atr_store_tile){0, 7, 2, h}, 1), 0);
	assert_int_equal(a->write_commit(a, 30), 0);
	assert_int_equal(b->get_tile(b, 0, 7, h, &width), ATR_ENOTFOUND);
	assert_int_equal(a->put_checkpoint(a, 30, "note-a", 6), 0);
	assert_int_equal(b->get_checkpoint(b, UINT64_MAX, &note, &len), ATR_ENOTFOUND);
	assert_int_equal(a->get_checkpoint(a, 0, &note, &len), 0);
	assert_string_equal(note, "note-a");
	free(note);
	assert_int_equal(a->meta_once(a, "redact_salt", "a", 1, &v, &n), 0);
	free(v);
	assert_int_equal(b->meta_once(b, "redact_salt", "b", 1, &v, &n), 0);
	assert_memory_equal(v, "b", 1);
	free(v);
	append(a, 30, 300);
	assert_int_equal(a->prune_records(a, 256, &seq), 0);
	assert_int_equal(seq, 256);
	assert_int_equal(b->pruned_below(b, &below), 0);
	assert_int_equal(below, 0);
	assert_int_equal(run_query(b, &(atr_query){0}, seqs, LOG_SIZE), 12);
	a->free(a);
	b->free(b);
}

/* The triggers refuse changes made directly in SQL, even by the tables' owner. */
static void t_pg_triggers(void **state)
{
	const struct backend *be = *state;
	char path[600], err[512];
	atr_store *st;
	uint64_t n, seqs[LOG_SIZE];

	fresh_path(path, sizeof(path), be, "pgtrig");
	st = must_open(be, path, 0);
	append(st, 0, 300);
	assert_int_equal(st->put_checkpoint(st, 300, "cp", 2), 0);
	assert_false(pg_try(path,
	                    "UPDATE agentrail.records SET actor = 'mallory' WHERE log = '%s'"
	                    " AND seq = 2",
	                    err, sizeof(err)));
	assert_non_null(strstr(err, "append-only"));
	assert_false(pg_try(path, "DELETE FROM agentrail.records WHERE log = '%s' AND seq = 5", err,
	                    sizeof(err)));
	assert_non_null(strstr(err, "append-only"));
	assert_false(pg_try(path, "TRUNCATE agentrail.records /* %s */", err, sizeof(err)));
	assert_non_null(strstr(err, "append-only"));
	assert_false(pg_try(path,
	                    "UPDATE agentrail.payloads SET detail = '\\x00' WHERE log = '%s'"
	                    " AND seq = 1",
	                    err, sizeof(err)));
	assert_non_null(strstr(err, "erased, not changed"));
	assert_false(
	    pg_try(path, "UPDATE agentrail.logs SET size = 1 WHERE log = '%s'", err, sizeof(err)));
	assert_non_null(strstr(err, "only grow"));
	assert_false(
	    pg_try(path, "DELETE FROM agentrail.checkpoints WHERE log = '%s'", err, sizeof(err)));
	assert_non_null(strstr(err, "append-only"));
	assert_false(pg_try(path, "DELETE FROM agentrail.logs WHERE log = '%s'", err, sizeof(err)));
	/* Erasure: the payload goes, the record stays. */
	assert_true(
	    pg_try(path, "DELETE FROM agentrail.payloads WHERE log = '%s' AND seq = 3", NULL, 0));
	assert_int_equal(run_query(st, &(atr_query){.seq_to = 5}, seqs, LOG_SIZE), 5);
	/* Below the pruned prefix records may go; at or above it they may not. */
	assert_int_equal(st->prune_records(st, 256, &n), 0);
	assert_true(
	    pg_try(path, "DELETE FROM agentrail.records WHERE log = '%s' AND seq = 100", NULL, 0));
	assert_false(pg_try(path, "DELETE FROM agentrail.records WHERE log = '%s' AND seq = 256",
	                    err, sizeof(err)));
	assert_non_null(strstr(err, "pruned_below"));
	assert_false(pg_try(path, "UPDATE agentrail.logs SET pruned_below = 0 WHERE log = '%s'",
	                    err, sizeof(err)));
	assert_int_equal(size_of(st), 300);
	st->free(st);
}

/* Bad URIs and unreachable servers get precise errors, never the password. */
static void t_pg_uri(void **state)
{
	static const char *const bad[] = {"?log=", "?log=a/b", "?log=a%20b", "?log=a&log=b"};
	char uri[700];
	atr_store *st = (atr_store *)1;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(uri, sizeof(uri), "postgres://u@127.0.0.1:1/db%s", bad[i]);
		assert_int_equal(atr_store_postgres_open(&st, uri, 0), ATR_EINVALID);
		assert_null(st);
		assert_non_null(strstr(atr_errmsg(), "log"));
	}
	assert_int_equal(
	    atr_store_postgres_open(&st, "postgres://u:s3cret@127.0.0.1:1/db?log=x", 0), ATR_EIO);
	assert_null(st);
	assert_non_null(strstr(atr_errmsg(), "cannot connect"));
	assert_null(strstr(atr_errmsg(), "s3cret"));
	assert_int_equal(atr_store_postgres_open(&st, pg_uri, ATR_OPEN_READONLY) == ATR_ENOTFOUND ||
	                     st != NULL,
	                 1);
	if (st)
		st->free(st);
}

struct pg_writer {
	const struct backend *be;
	const char *path;
	int id, batches;
	uint64_t written;
};

/* Append 'batches' writes of 1..9 records each, wherever the log's end is. */
static void *pg_writer_run(void *arg)
{
	struct pg_writer *w = arg;
	atr_store *st = NULL;
	struct gen *g = calloc(9, sizeof(*g));
	atr_store_entry e[9];

	if (w->be->open(&st, w->path, ATR_OPEN_NOCREATE) != 0 || !g)
		return NULL;
	for (int b = 0; b < w->batches; b++) {
		uint64_t size;
		size_t k = 1 + (size_t)((b * 7 + w->id) % 9);

		if (st->write_begin(st, &size) != 0)
			break;
		for (size_t i = 0; i < k; i++) {
			gen_fill(&g[i], size + i);
			e[i] = g[i].e;
		}
		if (st->put_records(st, e, k) != 0 || st->write_commit(st, size + k) != 0) {
			st->write_abort(st);
			break;
		}
		w->written += k;
	}
	st->free(st);
	free(g);
	return NULL;
}

/* Writers on separate connections take turns on the log's head row: seqs stay contiguous. */
static void t_pg_many_writers(void **state)
{
	const struct backend *be = *state;
	struct pg_writer w[4];
	pthread_t th[4];
	char path[600];
	atr_store *st;
	uint64_t total = 0, seqs[1024];
	size_t n;

	fresh_path(path, sizeof(path), be, "writers4");
	st = must_open(be, path, 0);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct pg_writer){be, path, i, 40, 0};
		assert_int_equal(pthread_create(&th[i], NULL, pg_writer_run, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].written > 0, 1);
		total += w[i].written;
	}
	assert_int_equal(size_of(st), total);
	n = run_query(st, &(atr_query){0}, seqs, 1024);
	assert_int_equal(n, total);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(seqs[i], i);
	st->free(st);
}

/* ---------------------------------------------------------------- main */

static struct CMUnitTest contract_tests[] = {
    cmocka_unit_test(t_create_reopen),  cmocka_unit_test(t_missing),
    cmocka_unit_test(t_parent_dirs),    cmocka_unit_test(t_durable),
    cmocka_unit_test(t_abort),          cmocka_unit_test(t_find_event),
    cmocka_unit_test(t_tiles),          cmocka_unit_test(t_readonly),
    cmocka_unit_test(t_query_single),   cmocka_unit_test(t_query_target),
    cmocka_unit_test(t_query_combined), cmocka_unit_test(t_query_batched),
    cmocka_unit_test(t_snapshot),       cmocka_unit_test(t_two_writers),
    cmocka_unit_test(t_writer_waits),   cmocka_unit_test(t_meta_once),
    cmocka_unit_test(t_retention),
};

/*
 * Many lookups on one handle switch it to its filter of event ids: ids in
 * the log, whoever appended them, are still found, new ones are not.
 */
static void t_pg_lookups(void **state)
{
	const struct backend *be = *state;
	char path[600];
	atr_store *a, *b;
	uint64_t size, seq;
	uint8_t id[16], ch[32];
	struct gen g;

	fresh_path(path, sizeof(path), be, "lookups");
	a = must_open(be, path, 0);
	b = must_open(be, path, 0);
	append(a, 0, 1500);
	for (int round = 0; round < 3; round++) {
		assert_int_equal(a->write_begin(a, &size), 0);
		for (uint64_t k = 0; k < size; k += 1 + (uint64_t)round) {
			gen_fill(&g, k);
			assert_int_equal(a->find_event(a, g.id, &seq, ch), 0);
			assert_int_equal(seq, k);
			assert_memory_equal(ch, g.hash, 32);
			gen_id(id, k, 7);
			assert_int_equal(a->find_event(a, id, &seq, ch), ATR_ENOTFOUND);
		}
		a->write_abort(a);
		/* Another writer appends: the next write of 'a' must see those ids too. */
		append(b, size, size + 300);
	}
	assert_int_equal(a->write_begin(a, &size), 0);
	assert_int_equal(size, 2400);
	gen_fill(&g, 2399);
	assert_int_equal(a->find_event(a, g.id, &seq, ch), 0);
	assert_int_equal(seq, 2399);
	a->write_abort(a);
	a->free(a);
	b->free(b);
}

static struct CMUnitTest pg_tests[] = {
    cmocka_unit_test(t_pg_logs),    cmocka_unit_test(t_pg_triggers),
    cmocka_unit_test(t_pg_uri),     cmocka_unit_test(t_pg_many_writers),
    cmocka_unit_test(t_pg_lookups),
};

static struct CMUnitTest sqlite_tests[] = {
    cmocka_unit_test(t_sqlite_triggers),           cmocka_unit_test(t_sqlite_foreign),
    cmocka_unit_test(t_sqlite_bad_tile),           cmocka_unit_test(t_sqlite_bad_postings),
    cmocka_unit_test(t_sqlite_retention_triggers),
};

int main(void)
{
	const char *env = getenv("ATR_TEST_TMP");
	int failed = 0;

	snprintf(tmpdir, sizeof(tmpdir), "%s", env && *env ? env : "/tmp/agentrail-test");
	mkdirs(tmpdir);
	pg_uri = getenv("AGENTRAIL_TEST_PG");
	if (pg_uri && !*pg_uri)
		pg_uri = NULL;
	if (!pg_uri)
		printf("[ SKIPPED  ] store contract: postgres (set AGENTRAIL_TEST_PG to a database "
		       "URI, or run ctest's unit.pg.test_store_contract)\n");
	for (size_t b = 0; b < sizeof(backends) / sizeof(backends[0]); b++) {
		char name[64];

		if (!backends[b].is_file && !pg_uri)
			continue;

		for (size_t i = 0; i < sizeof(contract_tests) / sizeof(contract_tests[0]); i++)
			contract_tests[i].initial_state = (void *)&backends[b];
		snprintf(name, sizeof(name), "store contract: %s", backends[b].name);
		/* cmocka's default output does not name groups: say which backend runs. */
		printf("[ BACKEND  ] %s\n", name);
		fflush(stdout);
		failed += _cmocka_run_group_tests(
		    name, contract_tests, sizeof(contract_tests) / sizeof(contract_tests[0]), NULL,
		    NULL);
	}
	for (size_t i = 0; i < sizeof(sqlite_tests) / sizeof(sqlite_tests[0]); i++)
		sqlite_tests[i].initial_state = (void *)&backends[0];
	printf("[ BACKEND  ] store: sqlite only\n");
	fflush(stdout);
	failed += cmocka_run_group_tests_name("store: sqlite only", sqlite_tests, NULL, NULL);
	if (pg_uri) {
		for (size_t i = 0; i < sizeof(pg_tests) / sizeof(pg_tests[0]); i++)
			pg_tests[i].initial_state = (void *)&backends[1];
		printf("[ BACKEND  ] store: postgres only\n");
		fflush(stdout);
		failed += cmocka_run_group_tests_name("store: postgres only", pg_tests, NULL, NULL);
	}
	return failed;
}
