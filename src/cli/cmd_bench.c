/*
 * agentrail bench: ingest and verify throughput on realistic events. The
 * events are generated as JSON text before the clock starts; only the
 * durable batch appends (or the verification) are timed. One JSON line out.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli/cli.h"
#include "util/util.h"

enum { O_EVENTS = OPT_FIRST_CMD, O_BATCH, O_KEEP, O_CONNECTIONS, O_URL, O_REQUESTS };

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
	if (atr_log_verify(log, NULL, NULL, NULL, &res) != 0) {
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

/* ------------------------------------------------------------ bench http */

/* One POST body: a single event, or a JSON array of a batch. */
struct http_body {
	const char *data;
	size_t len;
};

struct http_bench {
	const char *url; /* .../api/v1/events */
	struct http_body *bodies;
	uint64_t nreq;
	uint64_t next;     /* atomic: the next request to send */
	double *latency;   /* seconds, per request */
	uint64_t failures; /* atomic: non-201 answers and transport errors */
	char first_error[256];
	pthread_mutex_t mu; /* guards 'first_error' */
};

static size_t discard(char *p, size_t size, size_t n, void *cls)
{
	(void)p;
	(void)cls;
	return size * n;
}

static void http_fail(struct http_bench *hb, const char *msg)
{
	__atomic_fetch_add(&hb->failures, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&hb->mu);
	if (!hb->first_error[0])
		snprintf(hb->first_error, sizeof(hb->first_error), "%s", msg);
	pthread_mutex_unlock(&hb->mu);
}

/* One client connection: its own curl handle, so the connection is kept alive. */
static void *http_client(void *arg)
{
	struct http_bench *hb = arg;
	struct curl_slist *hdrs = NULL;
	CURL *h = curl_easy_init();

	if (!h) {
		http_fail(hb, "cannot start a curl handle");
		return NULL;
	}
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	/* Without this curl waits for "100 Continue" before sending bigger bodies. */
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(h, CURLOPT_URL, hb->url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
	for (;;) {
		uint64_t i = __atomic_fetch_add(&hb->next, 1, __ATOMIC_RELAXED);
		double t0;
		long code = 0;
		CURLcode cr;
		char msg[200];

		if (i >= hb->nreq)
			break;
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, hb->bodies[i].data);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)hb->bodies[i].len);
		t0 = util_now_mono();
		cr = curl_easy_perform(h);
		hb->latency[i] = util_now_mono() - t0;
		if (cr != CURLE_OK) {
			snprintf(msg, sizeof(msg), "request failed: %s", curl_easy_strerror(cr));
			http_fail(hb, msg);
			continue;
		}
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		if (code != 201) {
			snprintf(msg, sizeof(msg), "the server answered %ld", code);
			http_fail(hb, msg);
		}
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	return NULL;
}

/* GET url; the status, 0 when there was no answer. */
static long http_get_status(const char *url)
{
	CURL *h = curl_easy_init();
	long code = 0;

	if (!h)
		return 0;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 2L);
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(h);
	return code;
}

/* A loopback port nobody listens on right now (the kernel picks it). */
static int free_port(unsigned *port)
{
	struct sockaddr_in sa = {0};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(sa.sin_port);
	close(fd);
	return 0;
}

/*
 * Start `agentrail serve` on 'store' and a free loopback port, as this very
 * binary, and wait until /healthz answers. Its output goes to 'errpath'.
 */
static pid_t spawn_server(const char *store, const char *errpath, char *base, size_t basesize)
{
	char listen[64], health[600];
	unsigned port;
	pid_t pid;

	if (free_port(&port) != 0) {
		cli_err("cannot find a free loopback port: %s", strerror(errno));
		return -1;
	}
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
	snprintf(base, basesize, "http://127.0.0.1:%u", port);
	snprintf(health, sizeof(health), "%s/healthz", base);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		cli_err("cannot start the server: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		char *argv[] = {"agentrail", "--store", (char *)store, "serve",
		                "--listen",  listen,    NULL};
		int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		struct timespec ts = {0, 50 * 1000000L};
		int st;

		if (http_get_status(health) == 200)
			return pid;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			cli_err("the server exited before answering (see '%s')", errpath);
			return -1;
		}
		nanosleep(&ts, NULL);
	}
	cli_err("the server did not answer /healthz within 10 s");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

/* SIGTERM: the server drains and exits 0. */
static int stop_server(pid_t pid)
{
	int st = 0;

	if (kill(pid, SIGTERM) != 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int cli_bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The 'p'th percentile of sorted 'v' (nearest rank). */
static double percentile(const double *v, uint64_t n, double p)
{
	uint64_t k = (uint64_t)(p / 100.0 * (double)n + 0.999999);

	if (k == 0)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

/* The request bodies: texts of single events as they are, batches as JSON arrays. */
static int make_bodies(const struct corpus *c, uint64_t batch, struct http_body *bodies, char **mem)
{
	size_t total = 0, off = 0;
	uint64_t r = 0;

	*mem = NULL;
	if (batch == 1) {
		for (uint64_t i = 0; i < c->n; i++) {
			bodies[i].data = c->texts[i];
			bodies[i].len = c->lens[i];
		}
		return 0;
	}
	for (uint64_t i = 0; i < c->n; i++)
		total += c->lens[i] + 1;
	total += 2 * (c->n / batch + 1);
	*mem = malloc(total);
	if (!*mem)
		return -1;
	for (uint64_t i = 0; i < c->n; i += batch, r++) {
		uint64_t k = c->n - i < batch ? c->n - i : batch;

		bodies[r].data = *mem + off;
		(*mem)[off++] = '[';
		for (uint64_t j = 0; j < k; j++) {
			if (j)
				(*mem)[off++] = ',';
			memcpy(*mem + off, c->texts[i + j], c->lens[i + j]);
			off += c->lens[i + j];
		}
		(*mem)[off++] = ']';
		bodies[r].len = (size_t)(*mem + off - bodies[r].data);
	}
	return 0;
}

static int bench_http(struct cli *cli, uint64_t events, uint64_t batch, uint64_t conns,
                      const char *url, int store_given, int keep)
{
	struct http_bench hb;
	struct corpus c;
	struct tmpstore tmp;
	pthread_t *th = NULL;
	char base[512], target[600], errpath[4300] = "", *mem = NULL;
	uint64_t started = 0;
	pid_t pid = -1;
	double t0, seconds;
	int rc = CLI_FAIL, have_tmp = 0;

	memset(&hb, 0, sizeof(hb));
	pthread_mutex_init(&hb.mu, NULL);
	if (corpus_make(&c, events) != 0) {
		cli_err("cannot generate %llu events: out of memory", (unsigned long long)events);
		return CLI_FAIL;
	}
	hb.nreq = (events + batch - 1) / batch;
	hb.bodies = calloc((size_t)hb.nreq, sizeof(*hb.bodies));
	hb.latency = calloc((size_t)hb.nreq, sizeof(*hb.latency));
	th = calloc((size_t)conns, sizeof(*th));
	if (!hb.bodies || !hb.latency || !th || make_bodies(&c, batch, hb.bodies, &mem) != 0) {
		cli_err("out of memory");
		goto out;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		cli_err("cannot initialize libcurl");
		goto out;
	}
	if (url) {
		size_t n = strlen(url);

		while (n && url[n - 1] == '/')
			n--;
		if (n >= sizeof(base)) {
			cli_err("--url is too long");
			goto out;
		}
		snprintf(base, sizeof(base), "%.*s", (int)n, url);
	} else {
		const char *store = cli->store;

		if (!store_given) {
			if (tmpstore_make(&tmp) != 0)
				goto out;
			have_tmp = 1;
			store = tmp.path;
			snprintf(errpath, sizeof(errpath), "%s/serve.log", tmp.dir);
		} else {
			snprintf(errpath, sizeof(errpath), "/dev/null");
		}
		pid = spawn_server(store, errpath, base, sizeof(base));
		if (pid < 0)
			goto out;
	}
	snprintf(target, sizeof(target), "%s/api/v1/events", base);
	hb.url = target;

	t0 = util_now_mono();
	for (; started < conns; started++)
		if (pthread_create(&th[started], NULL, http_client, &hb) != 0) {
			cli_err("cannot start client thread %llu", (unsigned long long)started);
			break;
		}
	for (uint64_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	seconds = util_now_mono() - t0;
	if (started == 0)
		goto out;

	qsort(hb.latency, (size_t)hb.nreq, sizeof(*hb.latency), cli_bench_cmp_double);
	printf("{\"bench\":\"http\",\"events\":%llu,\"batch\":%llu,\"connections\":%llu,"
	       "\"seconds\":%.6f,\"events_per_s\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
	       "\"failures\":%llu}\n",
	       (unsigned long long)events, (unsigned long long)batch, (unsigned long long)conns,
	       seconds, seconds > 0 ? (double)events / seconds : 0.0,
	       1000.0 * percentile(hb.latency, hb.nreq, 50),
	       1000.0 * percentile(hb.latency, hb.nreq, 99), (unsigned long long)hb.failures);
	fflush(stdout);
	rc = CLI_OK;
	if (hb.failures) {
		cli_err("%llu of %llu requests failed; the first: %s",
		        (unsigned long long)hb.failures, (unsigned long long)hb.nreq,
		        hb.first_error);
		rc = CLI_FAIL;
	}
out:
	if (pid > 0 && stop_server(pid) != 0) {
		cli_err("the server did not stop cleanly (see '%s')", errpath);
		rc = CLI_FAIL;
	}
	if (have_tmp) {
		if (keep) {
			fprintf(stderr, "agentrail: kept the store '%s'\n", tmp.path);
		} else {
			unlink(errpath);
			tmpstore_remove(&tmp);
		}
	}
	curl_global_cleanup();
	free(th);
	free(mem);
	free(hb.bodies);
	free(hb.latency);
	corpus_release(&c);
	pthread_mutex_destroy(&hb.mu);
	return rc;
}

/* ----------------------------------------------------------- bench query */

/*
 * The query corpus: jobs of QJOB events, QRUN jobs to a workflow run, an
 * approval request in every 10th job (parented on its decision), resolved
 * except in every 200th job. Event 'i' is generated from 'i' alone, so the
 * fill needs one batch of memory, not the whole corpus.
 */
enum { QJOB = 50, QRUN = 6, QMAX_EVENT = 1024 };

/* A deterministic UUID for event 'i' of the corpus. */
static void q_uuid(char out[37], uint64_t i)
{
	snprintf(out, 37, "0195f3a0-0000-4000-8000-%012llx",
	         (unsigned long long)(i & 0xffffffffffffull));
}

static int q_event(char *buf, size_t cap, uint64_t i)
{
	uint64_t job = i / QJOB, k = i % QJOB, base = job * QJOB;
	unsigned r = (unsigned)((i * 0x9e3779b97f4a7c15ull) >> 40);
	int approval = job % 10 == 0, pending = job % 200 == 0;
	char id[37], parent[37], ids[200];
	int len;

	q_uuid(id, i);
	snprintf(ids, sizeof(ids),
	         "\"job_id\":\"bq-job-%06llu\",\"run_id\":\"bq-run-%05llu\","
	         "\"session_id\":\"bq-session-%06llu\",\"trace_id\":\"bq-trace-%06llu\"",
	         (unsigned long long)job, (unsigned long long)(job / QRUN), (unsigned long long)job,
	         (unsigned long long)job);
	if (k == 0)
		return snprintf(
		    buf, cap,
		    "{\"type\":\"task_submit\",\"actor\":\"user-%u\",\"event_id\":\"%s\","
		    "%s,\"detail\":{\"prompt\":\"fix the failing test in %s and "
		    "keep the build free of warnings\"}}",
		    r % 20, id, ids, files[r % 6]);
	q_uuid(parent, k == 1 ? base : i - 1);
	if (k == 40)
		return snprintf(
		    buf, cap,
		    "{\"type\":\"decision\",\"actor\":\"policy-engine\",\"event_id\":\"%s\","
		    "\"parent_event_id\":\"%s\",%s,\"workflow_step_id\":\"step-4\","
		    "\"reason\":\"%s\",\"policy\":{\"decision\":\"%s\",\"rule_id\":"
		    "\"R-%u\",\"snapshot\":\"snap-3\"}}",
		    id, parent, ids, approval ? "pushing to main needs a human" : "within policy",
		    approval ? "REQUIRE_APPROVAL" : "ALLOW", r % 12);
	if (k == 41 && approval)
		return snprintf(
		    buf, cap,
		    "{\"type\":\"approval_request\",\"actor\":\"implementer-%u\","
		    "\"event_id\":\"%s\",\"parent_event_id\":\"%s\",%s,\"reason\":"
		    "\"push the fix to main\",\"approval\":{\"id\":\"bq-approval-%06llu\","
		    "\"required\":true,\"job_hash\":\"jh-%08x\"},\"policy\":{\"rule_id\":"
		    "\"R-7\"}}",
		    r % 8, id, parent, ids, (unsigned long long)job, r);
	if (k == 42 && approval && !pending)
		return snprintf(buf, cap,
		                "{\"type\":\"approval_resolved\",\"actor\":\"reviewer-%u\","
		                "\"event_id\":\"%s\",\"parent_event_id\":\"%s\",%s,\"reason\":"
		                "\"checked the diff\",\"approval\":{\"id\":\"bq-approval-%06llu\","
		                "\"resolution\":\"%s\",\"resolved_by\":\"reviewer-%u\",\"comment\":"
		                "\"looks right\"}}",
		                r % 4, id, parent, ids, (unsigned long long)job,
		                r % 9 ? "approved" : "rejected", r % 4);
	if (k == QJOB - 1)
		return snprintf(
		    buf, cap,
		    "{\"type\":\"task_outcome\",\"actor\":\"implementer-%u\","
		    "\"event_id\":\"%s\",\"parent_event_id\":\"%s\",%s,\"outcome\":\"%s\","
		    "\"detail\":{\"summary\":\"the test passes; 3 files changed\"}}",
		    r % 8, id, parent, ids, r % 11 ? "success" : "partial");
	switch (k % 4) {
	case 1:
		len = snprintf(buf, cap,
		               "{\"type\":\"llm_call\",\"actor\":\"implementer-%u\",\"model\":"
		               "\"m-large\",\"event_id\":\"%s\",\"parent_event_id\":\"%s\",%s,"
		               "\"usage\":{\"input_tokens\":%u,\"output_tokens\":%u},\"detail\":"
		               "{\"prompt\":\"read %s and propose the smallest change\"}}",
		               r % 8, id, parent, ids, 1000 + r % 9000, 50 + r % 900, files[r % 6]);
		break;
	case 2:
		len = snprintf(
		    buf, cap,
		    "{\"type\":\"tool_call\",\"actor\":\"implementer-%u\",\"target\":\"%s\","
		    "\"event_id\":\"%s\",\"parent_event_id\":\"%s\",%s,\"outcome\":"
		    "\"success\",\"detail\":{\"input\":{\"path\":\"%s\"},\"latency_ms\":%u}}",
		    r % 8, tools[r % 7], id, parent, ids, files[(r >> 3) % 6], 20 + r % 900);
		break;
	case 3:
		len =
		    snprintf(buf, cap,
		             "{\"type\":\"command\",\"actor\":\"implementer-%u\",\"target\":\"%s\","
		             "\"exit_code\":%u,\"event_id\":\"%s\",\"parent_event_id\":\"%s\",%s,"
		             "\"detail\":{\"output\":\"[%u/48] Building C object; 0 warnings\"}}",
		             r % 8, commands[r % 4], r % 13 ? 0u : 1u, id, parent, ids, 1 + r % 48);
		break;
	default:
		len =
		    snprintf(buf, cap,
		             "{\"type\":\"tool_result\",\"actor\":\"implementer-%u\",\"event_id\":"
		             "\"%s\",\"parent_event_id\":\"%s\",%s,\"detail\":{\"lines\":%u}}",
		             r % 8, id, parent, ids, r % 400);
	}
	return len;
}

int cli_bench_append(atr_log *log, uint64_t n, size_t max_event,
                     int (*event)(char *buf, size_t cap, uint64_t i, void *ctx), void *ctx)
{
	enum { B = 1000 };
	char *mem = malloc((size_t)B * max_event);
	const char *texts[B];
	size_t lens[B];
	int rc = CLI_OK;

	if (!mem)
		return cli_fail("out of memory");
	for (uint64_t off = 0; off < n && rc == CLI_OK; off += B) {
		size_t k = n - off < B ? (size_t)(n - off) : B;

		for (size_t j = 0; j < k; j++) {
			int len = event(mem + j * max_event, max_event, off + j, ctx);

			if (len < 0 || (size_t)len >= max_event) {
				cli_err("event %llu does not fit", (unsigned long long)(off + j));
				rc = CLI_FAIL;
				break;
			}
			texts[j] = mem + j * max_event;
			lens[j] = (size_t)len;
		}
		if (rc == CLI_OK && atr_log_append_batch(log, texts, lens, k, NULL) != 0)
			rc = cli_fail("append failed");
	}
	free(mem);
	return rc;
}

int cli_bench_sign(atr_log *log, const char *origin, const uint8_t seed[32], const char *fail)
{
	atr_signer *s = NULL;
	char *skey = NULL, *vkey = NULL, *note = NULL;
	int rc = CLI_OK;

	if (atr_keygen_seed(origin, seed, &skey, &vkey) != 0 || atr_signer_new(&s, skey) != 0 ||
	    atr_log_checkpoint_sign(log, s, &note, NULL) != 0)
		rc = cli_fail(fail);
	atr_free(note);
	atr_free(skey);
	atr_free(vkey);
	atr_signer_free(s);
	return rc;
}

static const uint8_t q_seed[32] = {'a', 'g', 'e', 'n', 't', 'r', 'a', 'i', 'l'};

static int q_event_at(char *buf, size_t cap, uint64_t i, void *ctx)
{
	(void)ctx;
	return q_event(buf, cap, i);
}

/* R sequential GETs of one endpoint over one keep-alive connection. */
static int q_endpoint(const char *base, const char *name, uint64_t events, uint64_t nreq,
                      uint64_t *seed)
{
	uint64_t njobs = (events + QJOB - 1) / QJOB, nruns = (njobs + QRUN - 1) / QRUN;
	uint64_t failures = 0;
	double *lat = calloc((size_t)nreq, sizeof(*lat));
	char url[700], first[1024] = "";
	CURL *h = curl_easy_init();

	if (!lat || !h) {
		free(lat);
		if (h)
			curl_easy_cleanup(h);
		return cli_fail("out of memory");
	}
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
	for (uint64_t i = 0; i < nreq; i++) {
		long code = 0;
		CURLcode cr;
		double t0;

		*seed ^= *seed << 13;
		*seed ^= *seed >> 7;
		*seed ^= *seed << 17;
		if (name[0] == 'j')
			snprintf(url, sizeof(url), "%s/api/v1/jobs/bq-job-%06llu", base,
			         (unsigned long long)(*seed % njobs));
		else if (name[0] == 't')
			snprintf(url, sizeof(url),
			         "%s/api/v1/workflow-runs/bq-run-%05llu/timeline?limit=200", base,
			         (unsigned long long)(*seed % nruns));
		else if (name[0] == 'e')
			snprintf(url, sizeof(url), "%s/api/v1/jobs/bq-job-%06llu/evidence", base,
			         (unsigned long long)(*seed % njobs));
		else
			snprintf(url, sizeof(url), "%s/api/v1/approvals", base);
		curl_easy_setopt(h, CURLOPT_URL, url);
		t0 = util_now_mono();
		cr = curl_easy_perform(h);
		lat[i] = util_now_mono() - t0;
		if (cr == CURLE_OK)
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		if (code != 200) {
			failures++;
			if (!first[0] && cr != CURLE_OK)
				snprintf(first, sizeof(first), "%s: %s", url,
				         curl_easy_strerror(cr));
			else if (!first[0])
				snprintf(first, sizeof(first), "%s: the server answered %ld", url,
				         code);
		}
	}
	curl_easy_cleanup(h);
	qsort(lat, (size_t)nreq, sizeof(*lat), cli_bench_cmp_double);
	printf("{\"bench\":\"query\",\"endpoint\":\"%s\",\"events\":%llu,\"requests\":%llu,"
	       "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"failures\":%llu}\n",
	       name, (unsigned long long)events, (unsigned long long)nreq,
	       1000.0 * percentile(lat, nreq, 50), 1000.0 * percentile(lat, nreq, 99),
	       (unsigned long long)failures);
	fflush(stdout);
	free(lat);
	if (failures) {
		cli_err("%s: %llu of %llu requests failed; the first: %s", name,
		        (unsigned long long)failures, (unsigned long long)nreq, first);
		return CLI_FAIL;
	}
	return CLI_OK;
}

/*
 * Fill the store (a fresh temporary one unless --store; the corpus has fixed
 * event ids, so filling a store again adds nothing), serve it, time each endpoint.
 */
static int bench_query(struct cli *cli, uint64_t events, uint64_t nreq, int store_given, int keep)
{
	static const char *const endpoints[] = {"jobs", "timeline", "approvals", "evidence"};
	struct tmpstore tmp;
	atr_log *log = NULL;
	char base[512], errpath[4300];
	uint64_t seed = 0x2545f4914f6cdd1dull;
	pid_t pid;
	int rc;

	if (!store_given) {
		if (tmpstore_make(&tmp) != 0)
			return CLI_FAIL;
		snprintf(errpath, sizeof(errpath), "%s/serve.log", tmp.dir);
		cli->store = tmp.path;
	} else {
		snprintf(errpath, sizeof(errpath), "/dev/null");
	}
	rc = cli_open(cli, 0, &log);
	if (rc == CLI_OK)
		rc = cli_bench_append(log, events, QMAX_EVENT, q_event_at, NULL);
	/*
	 * Sign with a fixed bench key, so that evidence bundles have a checkpoint
	 * to be proven against (signing the same tree again with the same key
	 * answers the stored checkpoint).
	 */
	if (rc == CLI_OK)
		rc = cli_bench_sign(log, "bench.agentrail.invalid/query", q_seed,
		                    "cannot sign a checkpoint of the bench store");
	atr_log_free(log);
	if (rc != CLI_OK)
		goto out;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		rc = cli_fail("cannot initialize libcurl");
		goto out;
	}
	pid = spawn_server(cli->store, errpath, base, sizeof(base));
	if (pid < 0) {
		rc = CLI_FAIL;
	} else {
		for (size_t i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++)
			if (q_endpoint(base, endpoints[i], events, nreq, &seed) != CLI_OK)
				rc = CLI_FAIL;
		if (stop_server(pid) != 0) {
			cli_err("the server did not stop cleanly (see '%s')", errpath);
			rc = CLI_FAIL;
		}
	}
	curl_global_cleanup();
out:
	if (store_given) {
		/* the caller's store stays */
	} else if (keep) {
		fprintf(stderr, "agentrail: kept the store '%s'\n", tmp.path);
	} else {
		unlink(errpath);
		tmpstore_remove(&tmp);
	}
	return rc;
}

int cmd_bench(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"events", required_argument, NULL, O_EVENTS},
	    {"batch", required_argument, NULL, O_BATCH},
	    {"keep", no_argument, NULL, O_KEEP},
	    {"connections", required_argument, NULL, O_CONNECTIONS},
	    {"url", required_argument, NULL, O_URL},
	    {"requests", required_argument, NULL, O_REQUESTS},
	    {"store", required_argument, NULL, OPT_STORE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	uint64_t events = 0, batch = 1000, conns = 8, requests = 1000;
	int has_requests = 0, has_events = 0, has_batch = 0, keep = 0, store_given, c, r, rc,
	    ingest;
	const char *url = NULL;
	struct tmpstore tmp;

	if (argc > 1 && strcmp(argv[1], "exec") == 0)
		return cli_bench_exec(cli, argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "report") == 0)
		return cli_bench_report(cli, argc - 1, argv + 1);
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
			has_batch = 1;
			break;
		case O_CONNECTIONS:
			if ((r = cli_opt_u64(cli, "--connections", optarg, &conns)) != CLI_OK)
				return r;
			if (conns == 0 || conns > 1024)
				return cli_usage(cli, "option '--connections' must be 1 to 1024");
			break;
		case O_URL:
			if (strncmp(optarg, "http://", 7) != 0)
				return cli_usage(cli, "option '--url' expects http://HOST:PORT");
			url = optarg;
			break;
		case O_REQUESTS:
			if ((r = cli_opt_u64(cli, "--requests", optarg, &requests)) != CLI_OK)
				return r;
			if (requests == 0)
				return cli_usage(cli, "option '--requests' must be at least 1");
			has_requests = 1;
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
		return cli_usage(cli,
		                 "missing what to measure: 'ingest', 'verify', 'http' or 'query'");
	if (optind + 1 < argc)
		return cli_usage(cli, "unexpected argument '%s'", argv[optind + 1]);
	if (strcmp(argv[optind], "query") == 0) {
		if (!has_events)
			events = 1000000;
		if (events == 0)
			return cli_usage(cli, "option '--events' must be at least 1");
		if (url || conns != 8 || has_batch)
			return cli_usage(cli,
			                 "options '--url', '--connections' and '--batch' do not "
			                 "apply to 'query'");
		return bench_query(cli, events, requests, store_given, keep);
	}
	if (has_requests)
		return cli_usage(cli, "option '--requests' only applies to 'query'");
	if (strcmp(argv[optind], "http") == 0) {
		if (!has_events)
			events = 10000;
		if (!has_batch)
			batch = 1;
		if (events == 0)
			return cli_usage(cli, "option '--events' must be at least 1");
		if (url && store_given)
			return cli_usage(cli, "options '--url' and '--store' exclude each other");
		return bench_http(cli, events, batch, conns, url, store_given, keep);
	}
	if (url || conns != 8)
		return cli_usage(cli, "options '--url' and '--connections' only apply to 'http'");
	if (strcmp(argv[optind], "ingest") == 0)
		ingest = 1;
	else if (strcmp(argv[optind], "verify") == 0)
		ingest = 0;
	else
		return cli_usage(
		    cli, "unknown benchmark '%s': use 'ingest', 'verify', 'http' or 'query'",
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
