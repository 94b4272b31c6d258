/*
 * agentrail bench: ingest and verify throughput on realistic events. The
 * events are generated as JSON text before the clock starts; only the
 * durable batch appends (or the verification) are timed. One JSON line out.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/util.h"

enum { O_EVENTS = OPT_FIRST_CMD, O_BATCH, O_KEEP };

static const char *const tools[] = {"bash", "read_file", "write_file", "edit_file",
                                    "grep", "list_dir",  "run_tests"};
static const char *const files[] = {"src/lib/log.c",        "src/lib/store/sqlite.c",
                                    "src/cli/main.c",       "tests/unit/test_merkle.c",
                                    "docs/ARCHITECTURE.md", "include/agentrail/log.h"};
static const char *const commands[] = {
    "cmake --build build -j 8 2>&1 | tail -n 20",
    "ctest --test-dir build --output-on-failure -R unit",
    "grep -rn \\\"atr_log_append\\\" src include",
    "git diff --stat HEAD~1",
};

/* The synthetic events, as one block of JSON texts. */
struct corpus {
	char *mem;
	const char **texts;
	size_t *lens;
	uint64_t n;
};

static void corpus_release(struct corpus *c)
{
	free(c->mem);
	free(c->texts);
	free(c->lens);
	memset(c, 0, sizeof(*c));
}

static int corpus_make(struct corpus *c, uint64_t n)
{
	enum { MAX_EVENT = 1024 };
	uint64_t x = 0x9e3779b97f4a7c15ull;
	size_t off = 0;

	memset(c, 0, sizeof(*c));
	if (n > SIZE_MAX / MAX_EVENT)
		return -1;
	c->mem = malloc((size_t)n * MAX_EVENT);
	c->texts = malloc((size_t)n * sizeof(*c->texts));
	c->lens = malloc((size_t)n * sizeof(*c->lens));
	if (!c->mem || !c->texts || !c->lens) {
		corpus_release(c);
		return -1;
	}
	for (uint64_t i = 0; i < n; i++) {
		unsigned r;
		int len;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		r = (unsigned)(x >> 32);
		len = snprintf(
		    c->mem + off, MAX_EVENT,
		    "{\"type\":\"tool_call\",\"actor\":\"implementer-%u\","
		    "\"session_id\":\"bench-session-%05llu\",\"trace_id\":\"bench-trace-%05llu\","
		    "\"run_id\":\"bench-run-%04llu\",\"job_id\":\"bench-job-%04llu\","
		    "\"target\":\"%s\",\"outcome\":\"%s\",\"detail\":{\"input\":{\"command\":\"cd "
		    "/work/main && %s\",\"path\":\"%s\"},\"lines_added\":%u,"
		    "\"lines_removed\":%u,\"latency_ms\":%u,\"output\":\"[%u/48] Building C "
		    "object CMakeFiles/agentrail_obj.dir/%s.o; 0 warnings, 0 errors; tests "
		    "passed: %u of %u\"}}",
		    r % 8, (unsigned long long)(i / 300), (unsigned long long)(i / 300),
		    (unsigned long long)(i / 900), (unsigned long long)(i / 600), tools[r % 7],
		    (r >> 3) % 17 ? "success" : "failure", commands[(r >> 5) % 4],
		    files[(r >> 7) % 6], (r >> 9) % 120, (r >> 11) % 40, 20 + (r >> 13) % 900,
		    1 + (r >> 3) % 48, files[(r >> 7) % 6], 40 + (r >> 17) % 20, 60);
		if (len < 0 || len >= MAX_EVENT) {
			corpus_release(c);
			return -1;
		}
		c->texts[i] = c->mem + off;
		c->lens[i] = (size_t)len;
		off += (size_t)len + 1;
	}
	c->n = n;
	return 0;
}

static int append_all(atr_log *log, const struct corpus *c, uint64_t batch, double *seconds)
{
	double t0 = util_now_mono();

	for (uint64_t off = 0; off < c->n; off += batch) {
		uint64_t k = c->n - off < batch ? c->n - off : batch;

		if (atr_log_append_batch(log, c->texts + off, c->lens + off, (size_t)k, NULL) != 0)
			return cli_fail("append failed");
	}
	*seconds = util_now_mono() - t0;
	return CLI_OK;
}

int cli_bench_fill(atr_log *log, uint64_t n, uint64_t batch, double *seconds)
{
	struct corpus c;
	int rc;

	if (corpus_make(&c, n) != 0) {
		cli_err("cannot generate %llu events: out of memory", (unsigned long long)n);
		return CLI_FAIL;
	}
	rc = append_all(log, &c, batch, seconds);
	corpus_release(&c);
	return rc;
}

/* A temporary store: DIR/bench.db in a fresh directory under $TMPDIR or /tmp. */
struct tmpstore {
	char dir[4096];
	char path[4200];
};

static int tmpstore_make(struct tmpstore *t)
{
	const char *base = getenv("TMPDIR");

	if (!base || !*base)
		base = "/tmp";
	if (snprintf(t->dir, sizeof(t->dir), "%s/agentrail-bench-XXXXXX", base) >=
	    (int)sizeof(t->dir)) {
		cli_err("TMPDIR is too long");
		return -1;
	}
	if (!mkdtemp(t->dir)) {
		cli_err("cannot create a directory in '%s': %s", base, strerror(errno));
		return -1;
	}
	snprintf(t->path, sizeof(t->path), "%s/bench.db", t->dir);
	return 0;
}

static void tmpstore_remove(struct tmpstore *t)
{
	static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
	char p[4300];

	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", t->path, suffix[i]);
		unlink(p);
	}
	rmdir(t->dir);
}

static int bench_ingest(struct cli *cli, uint64_t events, uint64_t batch)
{
	struct corpus c;
	atr_log *log = NULL;
	double seconds = 0;
	int rc;

	if (corpus_make(&c, events) != 0) {
		cli_err("cannot generate %llu events: out of memory", (unsigned long long)events);
		return CLI_FAIL;
	}
	rc = cli_open(cli, 0, &log);
	if (rc == CLI_OK)
		rc = append_all(log, &c, batch, &seconds);
	atr_log_free(log);
	corpus_release(&c);
	if (rc != CLI_OK)
		return rc;
	printf("{\"bench\":\"ingest\",\"events\":%llu,\"batch\":%llu,\"seconds\":%.6f,"
	       "\"events_per_s\":%.1f}\n",
	       (unsigned long long)events, (unsigned long long)batch, seconds,
	       seconds > 0 ? (double)events / seconds : 0.0);
	return CLI_OK;
}

static int bench_verify(struct cli *cli, uint64_t events, int fill)
{
	atr_verify_result res;
	atr_log *log = NULL;
	double t0, seconds, fill_seconds;
	int rc;

	rc = cli_open(cli, fill ? 0 : ATR_OPEN_READONLY, &log);
	if (rc == CLI_OK && fill)
		rc = cli_bench_fill(log, events, 1000, &fill_seconds);
	if (rc != CLI_OK)
		goto out;
	t0 = util_now_mono();
	if (atr_log_verify(log, NULL, NULL, &res) != 0) {
		rc = cli_fail("verify failed");
		goto out;
	}
	seconds = util_now_mono() - t0;
	if (res.status != ATR_VERIFY_OK && res.status != ATR_VERIFY_UNANCHORED)
		cli_err("warning: the log verifies as %s", atr_verify_status_name(res.status));
	printf("{\"bench\":\"verify\",\"records\":%llu,\"bytes\":%llu,\"mb_per_s\":%.1f,"
	       "\"seconds\":%.6f}\n",
	       (unsigned long long)res.records, (unsigned long long)res.bytes,
	       seconds > 0 ? (double)res.bytes / 1e6 / seconds : 0.0, seconds);
out:
	atr_log_free(log);
	return rc;
}

int cmd_bench(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"events", required_argument, NULL, O_EVENTS},
	    {"batch", required_argument, NULL, O_BATCH},
	    {"keep", no_argument, NULL, O_KEEP},
	    {"store", required_argument, NULL, OPT_STORE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	uint64_t events = 0, batch = 1000;
	int has_events = 0, keep = 0, store_given, c, r, rc, ingest;
	struct tmpstore tmp;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_EVENTS:
			if ((r = cli_opt_u64(cli, "--events", optarg, &events)) != CLI_OK)
				return r;
			has_events = 1;
			break;
		case O_BATCH:
			if ((r = cli_opt_u64(cli, "--batch", optarg, &batch)) != CLI_OK)
				return r;
			if (batch == 0)
				return cli_usage(cli, "option '--batch' must be at least 1");
			break;
		case O_KEEP:
			keep = 1;
			break;
		default:
			if ((r = cli_common_opt(cli, c, argv)) >= 0)
				return r;
		}
	}
	/* Only an explicit --store names a store to use; $AGENTRAIL_STORE is not benchmarked. */
	store_given = cli->store_option;
	if (optind >= argc)
		return cli_usage(cli, "missing what to measure: 'ingest' or 'verify'");
	if (optind + 1 < argc)
		return cli_usage(cli, "unexpected argument '%s'", argv[optind + 1]);
	if (strcmp(argv[optind], "ingest") == 0)
		ingest = 1;
	else if (strcmp(argv[optind], "verify") == 0)
		ingest = 0;
	else
		return cli_usage(cli, "unknown benchmark '%s': use 'ingest' or 'verify'",
		                 argv[optind]);
	if (!has_events)
		events = ingest ? 10000 : 200000;
	if (ingest && events == 0)
		return cli_usage(cli, "option '--events' must be at least 1");
	if (!ingest && store_given && has_events)
		return cli_usage(cli, "option '--events' only applies without '--store'");

	if (!store_given) {
		if (tmpstore_make(&tmp) != 0)
			return CLI_FAIL;
		cli->store = tmp.path;
	}
	rc = ingest ? bench_ingest(cli, events, batch) : bench_verify(cli, events, !store_given);
	if (!store_given) {
		if (keep)
			fprintf(stderr, "agentrail: kept the store '%s'\n", tmp.path);
		else
			tmpstore_remove(&tmp);
	}
	return rc;
}
