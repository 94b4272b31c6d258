/*
 * Producers and sinks through the public API: configuration from the
 * environment (every variable, every refusal naming it), the store sink on
 * a real local store, the file sink verified as an export (signed, appended
 * across producers, refusing a tampered file), stdout, and the spool with
 * sinks of our own that fail, refuse and split on cue: ordered exactly-once
 * delivery, back-off, orphans replayed after a producer died.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <agentrail/agentrail.h>
#include <agentrail/producer.h>
#include <agentrail/sys/sink.h>

#define ATR_TEST_NAME "test_producer"
#include "tmpstore.h"

static const char *const env_vars[] = {
    "AGENTRAIL_SINK",       "AGENTRAIL_STORE",          "AGENTRAIL_TOKEN",
    "AGENTRAIL_LOG_FILE",   "AGENTRAIL_KEY_FILE",       "AGENTRAIL_URL",
    "AGENTRAIL_LOG_LEVEL",  "AGENTRAIL_LOG_FILE_READS", "AGENTRAIL_LOG_COMMANDS",
    "AGENTRAIL_LOG_TOKENS", "AGENTRAIL_SPOOL_DIR"};

static void clear_env(void)
{
	for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
		unsetenv(env_vars[i]);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A fresh scratch directory (a spool, a file sink's home). */
static void scratch_dir(char *out, size_t size, const char *what)
{
	static int n;
	char cmd[700];

	snprintf(out, size, "%s.%s%d", path, what, n++);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", out);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(mkdir(out, 0700), 0);
}

static char *read_file(const char *p, size_t *len)
{
	FILE *f = fopen(p, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

/* Segment files left in the spool directories under 'root'. */
static int count_segments(const char *root)
{
	char cmd[700], line[64];
	FILE *f;
	int n = 0;

	snprintf(cmd, sizeof(cmd), "find '%s' -name '*.seg' | wc -l", root);
	f = popen(cmd, "r");
	assert_non_null(f);
	if (fgets(line, sizeof(line), f))
		n = (int)strtol(line, NULL, 10);
	pclose(f);
	return n;
}

/* ---------------------------------------------------------------- environment */

static void test_env_defaults(void **state)
{
	atr_producer_config cfg;

	clear_env();
	assert_int_equal(atr_producer_config_from_env(&cfg), 0);
	assert_int_equal(cfg.sink, ATR_SINK_STORE);
	assert_null(cfg.store);
	assert_null(cfg.token);
	assert_null(cfg.log_file);
	assert_null(cfg.url);
	assert_null(cfg.spool_dir);
	assert_null(cfg.key_file);
	assert_int_equal(cfg.log_level, ATR_LOG_WARN);
	assert_int_equal(cfg.log_file_reads, 1);
	assert_int_equal(cfg.log_commands, 1);
	assert_int_equal(cfg.log_tokens, 1);
	/* Empty counts as unset. */
	setenv("AGENTRAIL_SINK", "", 1);
	setenv("AGENTRAIL_LOG_TOKENS", "", 1);
	assert_int_equal(atr_producer_config_from_env(&cfg), 0);
	assert_int_equal(cfg.sink, ATR_SINK_STORE);
	assert_int_equal(cfg.log_tokens, 1);
	clear_env();
}

static void test_env_values(void **state)
{
	atr_producer_config cfg;

	clear_env();
	setenv("AGENTRAIL_SINK", "webhook", 1);
	setenv("AGENTRAIL_STORE", "https://audit.example.org:8443", 1);
	setenv("AGENTRAIL_TOKEN", "atr_abc123", 1);
	setenv("AGENTRAIL_LOG_FILE", "/tmp/x.jsonl", 1);
	setenv("AGENTRAIL_KEY_FILE", "/tmp/k.key", 1);
	setenv("AGENTRAIL_URL", "http://127.0.0.1:9/hook", 1);
	setenv("AGENTRAIL_LOG_LEVEL", "debug", 1);
	setenv("AGENTRAIL_LOG_FILE_READS", "false", 1);
	setenv("AGENTRAIL_LOG_COMMANDS", "FALSE", 1);
	setenv("AGENTRAIL_LOG_TOKENS", "true", 1);
	setenv("AGENTRAIL_SPOOL_DIR", "/tmp/spool", 1);
	assert_int_equal(atr_producer_config_from_env(&cfg), 0);
	assert_int_equal(cfg.sink, ATR_SINK_WEBHOOK);
	assert_string_equal(cfg.store, "https://audit.example.org:8443");
	assert_string_equal(cfg.token, "atr_abc123");
	assert_string_equal(cfg.log_file, "/tmp/x.jsonl");
	assert_string_equal(cfg.key_file, "/tmp/k.key");
	assert_string_equal(cfg.url, "http://127.0.0.1:9/hook");
	assert_string_equal(cfg.spool_dir, "/tmp/spool");
	assert_int_equal(cfg.log_level, ATR_LOG_DEBUG);
	assert_int_equal(cfg.log_file_reads, 0);
	assert_int_equal(cfg.log_commands, 0);
	assert_int_equal(cfg.log_tokens, 1);
	setenv("AGENTRAIL_SINK", "file", 1);
	assert_int_equal(atr_producer_config_from_env(&cfg), 0);
	assert_int_equal(cfg.sink, ATR_SINK_FILE);
	setenv("AGENTRAIL_SINK", "stdout", 1);
	assert_int_equal(atr_producer_config_from_env(&cfg), 0);
	assert_int_equal(cfg.sink, ATR_SINK_STDOUT);
	clear_env();
}

/* Each malformed value is refused with a message naming its variable. */
static void test_env_errors(void **state)
{
	static const struct {
		const char *name, *value;
	} bad[] = {
	    {"AGENTRAIL_SINK", "kafka"},
	    {"AGENTRAIL_SINK", "store "},
	    {"AGENTRAIL_LOG_LEVEL", "loud"},
	    {"AGENTRAIL_LOG_FILE_READS", "yes"},
	    {"AGENTRAIL_LOG_COMMANDS", "1"},
	    {"AGENTRAIL_LOG_TOKENS", "maybe"},
	    {"AGENTRAIL_TOKEN", "atr_a b"},
	    {"AGENTRAIL_TOKEN", "atr_a\r\nX-Evil: 1"},
	    {"AGENTRAIL_URL", "ftp://example.org/hook"},
	    {"AGENTRAIL_URL", "http://"},
	    {"AGENTRAIL_URL", "http://host/a b"},
	    {"AGENTRAIL_STORE", "http:///nohost"},
	};
	atr_producer_config cfg;
	atr_producer *p;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		clear_env();
		setenv(bad[i].name, bad[i].value, 1);
		assert_int_equal(atr_producer_config_from_env(&cfg), ATR_EINVALID);
		if (!strstr(atr_errmsg(), bad[i].name))
			fail_msg("message for %s='%s' does not name it: %s", bad[i].name,
			         bad[i].value, atr_errmsg());
		assert_int_equal(atr_producer_from_env(&p), ATR_EINVALID);
		assert_null(p);
		assert_non_null(strstr(atr_errmsg(), bad[i].name));
	}
	/* A sink without what it needs. */
	clear_env();
	setenv("AGENTRAIL_SINK", "file", 1);
	assert_int_equal(atr_producer_from_env(&p), ATR_EINVALID);
	assert_non_null(strstr(atr_errmsg(), "AGENTRAIL_LOG_FILE"));
	setenv("AGENTRAIL_SINK", "webhook", 1);
	assert_int_equal(atr_producer_from_env(&p), ATR_EINVALID);
	assert_non_null(strstr(atr_errmsg(), "AGENTRAIL_URL"));
	clear_env();
}

/* ---------------------------------------------------------------- store sink */

static void test_store_sink(void **state)
{
	atr_producer_config cfg;
	atr_producer *p;
	atr_emit_info info;
	atr_producer_stats st;
	atr_log *log;
	atr_record *rec;
	atr_verify_result vr;
	uint64_t size;
	const char *given = "{\"type\":\"tool_call\",\"actor\":\"a\",\"target\":\"ls\","
	                    "\"event_id\":\"01890a5d-ac96-774b-bcce-b30209000001\"}";
	const char *pretty = "{\n  \"type\": \"output\",\n  \"actor\": \"b\"\n}\n";
	const char *ts = "{\"type\":\"output\",\"actor\":\"c\",\"ts\":\"2026-01-02T03:04:05Z\"}";

	atr_producer_config_init(&cfg);
	cfg.store = path;
	assert_int_equal(atr_producer_new(&p, &cfg), 0);
	assert_null(atr_producer_spool_dir(p));
	assert_string_equal(atr_producer_config_get(p)->store, path);
	assert_int_equal(atr_producer_emit_ex(p, given, strlen(given), &info), 0);
	assert_string_equal(info.event_id, "01890a5d-ac96-774b-bcce-b30209000001");
	assert_int_equal(info.has_seq, 1);
	assert_int_equal(info.seq, 0);
	assert_int_equal(info.duplicate, 0);
	assert_int_equal(atr_producer_emit_ex(p, pretty, strlen(pretty), &info), 0);
	assert_int_equal(info.seq, 1);
	assert_int_equal(atr_producer_emit(p, ts, strlen(ts)), 0);
	/* A re-send is a duplicate, not a new record. */
	assert_int_equal(atr_producer_emit_ex(p, given, strlen(given), &info), 0);
	assert_int_equal(info.duplicate, 1);
	assert_int_equal(info.seq, 0);
	/* Refused before anything is kept, naming the field. */
	assert_int_equal(atr_producer_emit(p, "{\"type\":\"output\"}", 17), ATR_EINVALID);
	assert_non_null(strstr(atr_errmsg(), "actor"));
	assert_int_equal(
	    atr_producer_emit(p, "{\"type\":\"output\",\"actor\":\"a\",\"nope\":1}", 38),
	    ATR_EINVALID);
	assert_non_null(strstr(atr_errmsg(), "nope"));
	assert_int_equal(atr_producer_flush(p, 1000), 0);
	atr_producer_stats_get(p, &st);
	assert_int_equal(st.emitted, 4);
	assert_int_equal(st.delivered, 4);
	assert_int_equal(st.spooled, 0);
	atr_producer_free(p);

	assert_int_equal(atr_log_open(&log, path, ATR_OPEN_READONLY), 0);
	assert_int_equal(atr_log_size(log, &size), 0);
	assert_int_equal(size, 3);
	assert_int_equal(atr_log_get(log, 2, &rec), 0);
	assert_string_equal(atr_record_str(rec, "ts"), "2026-01-02T03:04:05.000000Z");
	atr_record_free(rec);
	assert_int_equal(atr_log_get(log, 1, &rec), 0);
	assert_string_equal(atr_record_str(rec, "actor"), "b");
	atr_record_free(rec);
	assert_int_equal(atr_log_verify(log, NULL, NULL, NULL, &vr), 0);
	assert_int_equal(vr.status, ATR_VERIFY_UNANCHORED);
	atr_log_free(log);
}

/* AGENTRAIL_LOG_*: commands and file reads dropped, token usage cut out. */
static void test_filters(void **state)
{
	atr_producer_config cfg;
	atr_producer *p;
	atr_emit_info info;
	atr_producer_stats st;
	atr_log *log;
	atr_record *rec;
	uint64_t size;
	const char *cmd =
	    "{\"type\":\"command\",\"actor\":\"a\",\"target\":\"make\",\"exit_code\":0}";
	const char *rd = "{\"type\":\"file_read\",\"actor\":\"a\",\"target\":\"/etc/hosts\"}";
	const char *llm =
	    "{\"usage\":{\"input_tokens\":5,\"output_tokens\":7},\"type\":\"llm_call\","
	    "\"actor\":\"a\",\"model\":\"m\"}";
	const char *llm2 = "{\"type\":\"llm_call\",\"actor\":\"a\",\"model\":\"m\",\"usage\":"
	                   "{\"input_tokens\":5}}";

	atr_producer_config_init(&cfg);
	cfg.store = path;
	cfg.log_commands = 0;
	cfg.log_file_reads = 0;
	cfg.log_tokens = 0;
	assert_int_equal(atr_producer_new(&p, &cfg), 0);
	assert_int_equal(atr_producer_emit_ex(p, cmd, strlen(cmd), &info), 0);
	assert_int_equal(info.filtered, 1);
	assert_int_equal(atr_producer_emit_ex(p, rd, strlen(rd), &info), 0);
	assert_int_equal(info.filtered, 1);
	assert_int_equal(atr_producer_emit_ex(p, llm, strlen(llm), &info), 0);
	assert_int_equal(info.filtered, 0);
	assert_int_equal(atr_producer_emit_ex(p, llm2, strlen(llm2), &info), 0);
	atr_producer_stats_get(p, &st);
	assert_int_equal(st.filtered, 2);
	assert_int_equal(st.emitted, 2);
	atr_producer_free(p);

	assert_int_equal(atr_log_open(&log, path, ATR_OPEN_READONLY), 0);
	assert_int_equal(atr_log_size(log, &size), 0);
	assert_int_equal(size, 2);
	for (uint64_t i = 0; i < 2; i++) {
		int64_t v;

		assert_int_equal(atr_log_get(log, i, &rec), 0);
		assert_string_equal(atr_record_str(rec, "type"), "llm_call");
		assert_int_not_equal(atr_record_int(rec, "usage.input_tokens", &v), 0);
		atr_record_free(rec);
	}
	atr_log_free(log);
}

/* ---------------------------------------------------------------- file sink */

struct findings {
	int n;
	char first[512];
};

static void on_finding(void *ctx, const atr_finding *f)
{
	struct findings *fd = ctx;

	if (fd->n++ == 0)
		snprintf(fd->first, sizeof(fd->first), "%s", f->message);
}

static atr_verify_status verify_export(const char *file, const char *vkey, const char *anchor,
                                       uint64_t *records)
{
	atr_verifier *v = NULL;
	atr_verify_opts o = {0};
	atr_verify_result res;
	struct findings fd = {0};
	const atr_verifier *keys[1];
	const char *anchors[1];
	char *note = NULL;

	if (vkey) {
		assert_int_equal(atr_verifier_new(&v, vkey), 0);
		keys[0] = v;
		o.keys = keys;
		o.nkeys = 1;
	}
	if (anchor) {
		note = read_file(anchor, NULL);
		anchors[0] = note;
		o.anchors = anchors;
		o.nanchors = 1;
	}
	assert_int_equal(atr_export_verify(file, &o, on_finding, &fd, &res), 0);
	if (res.status != ATR_VERIFY_OK && res.status != ATR_VERIFY_UNANCHORED)
		print_message("verify: %s: %s\n", atr_verify_status_name(res.status), fd.first);
	atr_verifier_free(v);
	free(note);
	if (records)
		*records = res.records;
	return res.status;
}

static void emit_n(atr_producer *p, int from, int n)
{
	char json[256];

	for (int i = from; i < from + n; i++) {
		int len = snprintf(json, sizeof(json),
		                   "{\"type\":\"output\",\"actor\":\"t\",\"step\":%d,"
		                   "\"detail\":{\"i\":%d,\"s\":\"caf\\u00e9 %d\",\"f\":1.5}}",
		                   i, i, i);

		assert_int_equal(atr_producer_emit(p, json, (size_t)len), 0);
	}
}

static void test_file_sink(void **state)
{
	char dir[600], file[700], cpfile[720], keyfile[700], cmd[1600];
	const char *one = "{\"type\":\"output\",\"actor\":\"x\"}";
	char *skey, *vkey;
	atr_producer_config cfg;
	atr_producer *p;
	atr_emit_info info;
	uint64_t records;
	FILE *f;

	scratch_dir(dir, sizeof(dir), "file");
	snprintf(file, sizeof(file), "%s/audit.jsonl", dir);
	snprintf(cpfile, sizeof(cpfile), "%s.checkpoint", file);
	snprintf(keyfile, sizeof(keyfile), "%s/ci.key", dir);
	atr_producer_config_init(&cfg);
	cfg.sink = ATR_SINK_FILE;
	cfg.log_file = file;

	/* Without a key: a verifiable export, no checkpoint. */
	assert_int_equal(atr_producer_new(&p, &cfg), 0);
	emit_n(p, 0, 5);
	assert_int_equal(atr_producer_emit_ex(p, one, strlen(one), &info), 0);
	assert_int_equal(info.has_seq, 1);
	assert_int_equal(info.seq, 5);
	/* Already a whole export before any flush: the tree head is rewritten each time. */
	assert_int_equal(verify_export(file, NULL, NULL, &records), ATR_VERIFY_UNANCHORED);
	assert_int_equal(records, 6);
	atr_producer_free(p);
	assert_int_equal(access(cpfile, F_OK), -1);

	/* A second run with a key extends the same log and signs it. */
	assert_int_equal(atr_keygen("ci.example/agentrail", &skey, &vkey), 0);
	f = fopen(keyfile, "w");
	assert_non_null(f);
	fprintf(f, "%s\n", skey);
	fclose(f);
	cfg.key_file = keyfile;
	assert_int_equal(atr_producer_new(&p, &cfg), 0);
	emit_n(p, 6, 100);
	assert_int_equal(atr_producer_flush(p, -1), 0);
	atr_producer_free(p);
	assert_int_equal(verify_export(file, vkey, cpfile, &records), ATR_VERIFY_OK);
	assert_int_equal(records, 106);

	/* A third run: more records after the checkpoint are unanchored until it is re-signed. */
	assert_int_equal(atr_producer_new(&p, &cfg), 0);
	emit_n(p, 106, 3);
	assert_int_equal(verify_export(file, vkey, cpfile, NULL), ATR_VERIFY_UNANCHORED);
	atr_producer_free(p);
	assert_int_equal(verify_export(file, vkey, cpfile, &records), ATR_VERIFY_OK);
	assert_int_equal(records, 109);

	/* A half-written last line (a killed writer) is cut; the log goes on. */
	f = fopen(file, "a");
	assert_non_null(f);
	fputs("{\"record\":{\"actor\":\"t\",\"det", f);
	fclose(f);
	assert_int_equal(atr_producer_new(&p, &cfg), 0);
	emit_n(p, 109, 1);
	atr_producer_free(p);
	assert_int_equal(verify_export(file, vkey, cpfile, &records), ATR_VERIFY_OK);
	assert_int_equal(records, 110);

	/* Tampering: a producer refuses to extend (and re-sign) a changed log. */
	snprintf(cmd, sizeof(cmd), "sed -i '3s/\"actor\":\"t\"/\"actor\":\"u\"/' '%s'", file);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(verify_export(file, vkey, cpfile, NULL), ATR_VERIFY_TAMPERED);
	assert_int_equal(atr_producer_new(&p, &cfg), ATR_ETAMPER);
	assert_null(p);
	assert_non_null(strstr(atr_errmsg(), "line 3"));
	atr_free(skey);
	atr_free(vkey);
}

/* Two producers writing one file sink at once keep one log. */
struct writer {
	const char *file;
	int from;
};

static void *write_many(void *arg)
{
	struct writer *w = arg;
	atr_producer_config cfg;
	atr_producer *p;

	atr_producer_config_init(&cfg);
	cfg.sink = ATR_SINK_FILE;
	cfg.log_file = w->file;
	if (atr_producer_new(&p, &cfg) != 0)
		return (void *)1;
	emit_n(p, w->from, 200);
	atr_producer_free(p);
	return NULL;
}

static void test_file_sink_concurrent(void **state)
{
	char dir[600], file[700];
	struct writer w[3];
	pthread_t th[3];
	uint64_t records;

	scratch_dir(dir, sizeof(dir), "fconc");
	snprintf(file, sizeof(file), "%s/shared.jsonl", dir);
	for (int i = 0; i < 3; i++) {
		w[i] = (struct writer){file, i * 1000};
		assert_int_equal(pthread_create(&th[i], NULL, write_many, &w[i]), 0);
	}
	for (int i = 0; i < 3; i++) {
		void *r;

		pthread_join(th[i], &r);
		assert_null(r);
	}
	assert_int_equal(verify_export(file, NULL, NULL, &records), ATR_VERIFY_UNANCHORED);
	assert_int_equal(records, 600);
}

/* ---------------------------------------------------------------- stdout sink */

static void test_stdout_sink(void **state)
{
	char out[600];
	atr_producer_config cfg;
	atr_producer *p;
	const char *e1 = "{ \"type\" : \"output\",\n \"actor\":\"a\" }";
	const char *e2 = "{\"type\":\"output\",\"actor\":\"b\","
	                 "\"event_id\":\"01890a5d-ac96-774b-bcce-b30209000002\"}";
	int saved, fd;
	char *text, *line2;

	snprintf(out, sizeof(out), "%s.stdout", path);
	fflush(stdout);
	saved = dup(1);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	dup2(fd, 1);
	close(fd);
	atr_producer_config_init(&cfg);
	cfg.sink = ATR_SINK_STDOUT;
	assert_int_equal(atr_producer_new(&p, &cfg), 0);
	assert_int_equal(atr_producer_emit(p, e1, strlen(e1)), 0);
	assert_int_equal(atr_producer_emit(p, e2, strlen(e2)), 0);
	atr_producer_free(p);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	text = read_file(out, NULL);
	line2 = strchr(text, '\n');
	assert_non_null(line2);
	*line2++ = '\0';
	/* One line each, with an event_id and a ts added when absent. */
	assert_non_null(strstr(text, "\"event_id\":\""));
	assert_non_null(strstr(text, "\"ts\":\""));
	assert_non_null(strstr(text, "\"actor\":\"a\""));
	assert_non_null(strstr(line2, "\"event_id\":\"01890a5d-ac96-774b-bcce-b30209000002\""));
	assert_null(strstr(line2, "\"ts\":\"")); /* the caller chose the id: no ts of ours */
	assert_ptr_equal(strchr(line2, '\n'), line2 + strlen(line2) - 1); /* two lines in all */
	free(text);
	unlink(out);
}

/* ---------------------------------------------------------------- network sinks of our own */

/*
 * A sink that records what it receives and misbehaves on cue: fails the
 * first 'fail_first' calls, refuses events of actor "bad" (naming them or
 * not), and calls batches above 'max_ok' too big.
 */
struct mem_sink {
	atr_sink base;
	pthread_mutex_t mu;
	int calls, fail_first, always_fail, name_item;
	size_t max_ok, largest;
	char **got;
	size_t ngot, cap;
};

static atr_sink_result mem_deliver(atr_sink *s, const char *const *ev, const size_t *lens, size_t n,
                                   atr_sink_report *rep)
{
	struct mem_sink *m = (struct mem_sink *)s;
	atr_sink_result r = ATR_SINK_OK;

	pthread_mutex_lock(&m->mu);
	m->calls++;
	if (m->always_fail || m->calls <= m->fail_first) {
		snprintf(rep->message, sizeof(rep->message), "down (call %d)", m->calls);
		r = ATR_SINK_RETRY;
		goto out;
	}
	if (m->max_ok && n > m->max_ok) {
		r = ATR_SINK_TOO_BIG;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (memmem(ev[i], lens[i], "\"actor\":\"bad\"", 13)) {
			snprintf(rep->message, sizeof(rep->message), "no bad events");
			rep->item = m->name_item ? i : ATR_SINK_ITEM_UNKNOWN;
			r = ATR_SINK_REJECT;
			goto out;
		}
	if (n > m->largest)
		m->largest = n;
	for (size_t i = 0; i < n; i++) {
		if (m->ngot == m->cap) {
			m->cap = m->cap ? m->cap * 2 : 64;
			m->got = realloc(m->got, m->cap * sizeof(*m->got));
		}
		m->got[m->ngot++] = strndup(ev[i], lens[i]);
	}
out:
	pthread_mutex_unlock(&m->mu);
	return r;
}

static void mem_free(atr_sink *s)
{
	(void)s; /* owned by the test, which reads it after the producer is gone */
}

static void mem_init(struct mem_sink *m)
{
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->mu, NULL);
	m->base.version = ATR_SINK_VERSION;
	m->base.name = "mem";
	m->base.destination = "mem://test";
	m->base.flags = ATR_SINK_NETWORK;
	m->base.max_events = 64;
	m->base.max_bytes = 1u << 20;
	m->base.deliver = mem_deliver;
	m->base.free = mem_free;
}

static void mem_release(struct mem_sink *m)
{
	for (size_t i = 0; i < m->ngot; i++)
		free(m->got[i]);
	free(m->got);
	pthread_mutex_destroy(&m->mu);
}

static long step_of(const char *line)
{
	const char *s = strstr(line, "\"step\":");

	assert_non_null(s);
	return strtol(s + 7, NULL, 10);
}

/* The step numbers received must be exactly from..from+n-1, in order, each once. */
static void assert_steps(struct mem_sink *m, long from, long n)
{
	long want = from;

	for (size_t i = 0; i < m->ngot; i++, want++)
		if (step_of(m->got[i]) != want)
			fail_msg("event %zu has step %ld, expected %ld", i, step_of(m->got[i]),
			         want);
	assert_int_equal(want, from + n);
}

static void net_config(atr_producer_config *cfg, const char *spool)
{
	atr_producer_config_init(cfg);
	cfg->spool_dir = spool;
	cfg->log_level = ATR_LOG_ERROR;
}

static void test_retry_in_order(void **state)
{
	char spool[600];
	struct mem_sink m;
	atr_producer_config cfg;
	atr_producer *p;
	atr_producer_stats st;

	scratch_dir(spool, sizeof(spool), "spool");
	mem_init(&m);
	m.fail_first = 3;
	net_config(&cfg, spool);
	assert_int_equal(atr_producer_new_with_sink(&p, &cfg, &m.base), 0);
	assert_non_null(strstr(atr_producer_spool_dir(p), spool));
	emit_n(p, 0, 500);
	assert_int_equal(atr_producer_flush(p, 30000), 0);
	atr_producer_stats_get(p, &st);
	assert_int_equal(st.emitted, 500);
	assert_int_equal(st.delivered, 500);
	assert_int_equal(st.spooled, 0);
	assert_int_equal(st.retries, 3);
	atr_producer_free(p);
	assert_int_equal(m.ngot, 500);
	assert_steps(&m, 0, 500);
	assert_true(m.largest <= 64);
	assert_int_equal(count_segments(spool), 0);
	/* Every event got an id and a time before it was spooled. */
	for (size_t i = 0; i < m.ngot; i++) {
		assert_non_null(strstr(m.got[i], "\"event_id\":\""));
		assert_non_null(strstr(m.got[i], "\"ts\":\""));
	}
	mem_release(&m);
}

static void test_reject_and_split(void **state)
{
	char spool[600], json[128];
	struct mem_sink m;
	atr_producer_config cfg;
	atr_producer *p;
	atr_producer_stats st;

	for (int named = 0; named < 2; named++) {
		scratch_dir(spool, sizeof(spool), "spool");
		mem_init(&m);
		m.name_item = named;
		m.max_ok = 5;
		net_config(&cfg, spool);
		cfg.log_level = ATR_LOG_ERROR + 1; /* quiet: the refusals are expected */
		assert_int_equal(atr_producer_new_with_sink(&p, &cfg, &m.base), 0);
		for (int i = 0; i < 40; i++) {
			int len = snprintf(json, sizeof(json),
			                   "{\"type\":\"output\",\"actor\":\"%s\",\"step\":%d}",
			                   i == 7 || i == 23 ? "bad" : "good", i);

			assert_int_equal(atr_producer_emit(p, json, (size_t)len), 0);
		}
		assert_int_equal(atr_producer_flush(p, 10000), 0);
		atr_producer_stats_get(p, &st);
		assert_int_equal(st.delivered, 38);
		assert_int_equal(st.rejected, 2);
		atr_producer_free(p);
		assert_int_equal(m.ngot, 38);
		assert_true(m.largest <= 5);
		for (size_t i = 0, want = 0; i < m.ngot; i++, want++) {
			if (want == 7 || want == 23)
				want++;
			assert_int_equal(step_of(m.got[i]), (long)want);
		}
		assert_int_equal(count_segments(spool), 0);
		mem_release(&m);
	}
}

/* A producer whose far end is down: flush times out, free does not wait. */
static void test_outage_then_replay(void **state)
{
	char spool[600];
	struct mem_sink down, up;
	atr_producer_config cfg;
	atr_producer *p;
	atr_producer_stats st;
	double t;

	scratch_dir(spool, sizeof(spool), "spool");
	mem_init(&down);
	down.always_fail = 1;
	net_config(&cfg, spool);
	cfg.log_level = ATR_LOG_ERROR + 1;
	assert_int_equal(atr_producer_new_with_sink(&p, &cfg, &down.base), 0);
	emit_n(p, 0, 300);
	assert_int_equal(atr_producer_flush(p, 300), ATR_EBUSY);
	assert_non_null(strstr(atr_errmsg(), "300 events"));
	atr_producer_stats_get(p, &st);
	assert_int_equal(st.spooled, 300);
	assert_true(st.retries >= 1);
	t = now_s();
	atr_producer_free(p);
	assert_true(now_s() - t < 1.0);
	assert_true(count_segments(spool) >= 1);
	mem_release(&down);

	/* The next producer on the spool replays them first, then its own. */
	mem_init(&up);
	net_config(&cfg, spool);
	assert_int_equal(atr_producer_new_with_sink(&p, &cfg, &up.base), 0);
	emit_n(p, 300, 10);
	assert_int_equal(atr_producer_flush(p, 10000), 0);
	atr_producer_stats_get(p, &st);
	assert_int_equal(st.replayed, 300);
	assert_int_equal(st.delivered, 10);
	atr_producer_free(p);
	assert_int_equal(up.ngot, 310);
	assert_steps(&up, 0, 310);
	assert_int_equal(count_segments(spool), 0);
	mem_release(&up);
}

/* A producer killed mid-way (SIGKILL): everything its emit acknowledged is replayed once. */
static void test_killed_producer(void **state)
{
	char spool[600], segdir[700], cmd[800];
	struct mem_sink m;
	atr_producer_config cfg;
	atr_producer *p;
	pid_t pid;
	int status;
	FILE *f;

	scratch_dir(spool, sizeof(spool), "spool");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct mem_sink slow;

		mem_init(&slow);
		slow.fail_first = 1000000; /* never delivers */
		net_config(&cfg, spool);
		cfg.log_level = ATR_LOG_ERROR + 1;
		if (atr_producer_new_with_sink(&p, &cfg, &slow.base) != 0)
			_exit(1);
		emit_n(p, 0, 250);
		raise(SIGKILL);
		_exit(2);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* And a half-written line after the last acknowledged one, as a crash mid-write leaves. */
	snprintf(cmd, sizeof(cmd), "ls -d '%s'/mem-*", spool);
	f = popen(cmd, "r");
	assert_non_null(f);
	assert_non_null(fgets(segdir, sizeof(segdir), f));
	pclose(f);
	segdir[strcspn(segdir, "\n")] = '\0';
	snprintf(cmd, sizeof(cmd), "printf '{\"type\":\"outp' >> \"$(ls '%s'/*.seg | tail -1)\"",
	         segdir);
	assert_int_equal(system(cmd), 0);

	mem_init(&m);
	net_config(&cfg, spool);
	cfg.log_level = ATR_LOG_ERROR + 1;
	assert_int_equal(atr_producer_new_with_sink(&p, &cfg, &m.base), 0);
	assert_int_equal(atr_producer_flush(p, 10000), 0);
	atr_producer_free(p);
	assert_int_equal(m.ngot, 250);
	assert_steps(&m, 0, 250);
	assert_int_equal(count_segments(spool), 0);
	mem_release(&m);
}

/* A batch: checked whole first, then one transaction per 1000 events in a local store. */
static void test_emit_batch(void **state)
{
	char spool[600];
	atr_producer_config cfg;
	atr_producer *p;
	atr_log *log;
	uint64_t size;
	struct mem_sink m;
	char **texts = calloc(2500, sizeof(*texts));
	atr_emit_info *infos = calloc(2500, sizeof(*infos));

	assert_non_null(texts);
	assert_non_null(infos);
	for (int i = 0; i < 2500; i++) {
		texts[i] = malloc(128);
		snprintf(texts[i], 128, "{\"type\":\"%s\",\"actor\":\"b\",\"step\":%d}",
		         i == 3 ? "nope" : "output", i);
	}
	atr_producer_config_init(&cfg);
	cfg.store = path;
	assert_int_equal(atr_producer_new(&p, &cfg), 0);
	assert_int_equal(atr_producer_emit_batch(p, (const char *const *)texts, NULL, 10, infos),
	                 ATR_EINVALID);
	assert_non_null(strstr(atr_errmsg(), "event 3"));
	snprintf(texts[3], 128, "{\"type\":\"output\",\"actor\":\"b\",\"step\":3}");
	assert_int_equal(atr_producer_emit_batch(p, (const char *const *)texts, NULL, 2500, infos),
	                 0);
	assert_int_equal(strlen(infos[2499].event_id), 36);
	atr_producer_free(p);
	assert_int_equal(atr_log_open(&log, path, ATR_OPEN_READONLY), 0);
	assert_int_equal(atr_log_size(log, &size), 0);
	assert_int_equal(size, 2500);
	atr_log_free(log);

	scratch_dir(spool, sizeof(spool), "spool");
	mem_init(&m);
	net_config(&cfg, spool);
	assert_int_equal(atr_producer_new_with_sink(&p, &cfg, &m.base), 0);
	assert_int_equal(atr_producer_emit_batch(p, (const char *const *)texts, NULL, 2500, NULL),
	                 0);
	assert_int_equal(atr_producer_flush(p, 10000), 0);
	atr_producer_free(p);
	assert_steps(&m, 0, 2500);
	mem_release(&m);
	for (int i = 0; i < 2500; i++)
		free(texts[i]);
	free(texts);
	free(infos);
}

/* The default spool lives under XDG_STATE_HOME; a spool that cannot be made is an error. */
static void test_spool_location(void **state)
{
	char dir[600], blocker[700];
	struct mem_sink m;
	atr_producer_config cfg;
	atr_producer *p;
	FILE *f;

	scratch_dir(dir, sizeof(dir), "xdg");
	setenv("XDG_STATE_HOME", dir, 1);
	mem_init(&m);
	net_config(&cfg, NULL);
	assert_int_equal(atr_producer_new_with_sink(&p, &cfg, &m.base), 0);
	assert_memory_equal(atr_producer_spool_dir(p), dir, strlen(dir));
	assert_non_null(strstr(atr_producer_spool_dir(p), "/agentrail/spool/mem-"));
	atr_producer_free(p);
	unsetenv("XDG_STATE_HOME");
	mem_release(&m);

	snprintf(blocker, sizeof(blocker), "%s/file", dir);
	f = fopen(blocker, "w");
	assert_non_null(f);
	fclose(f);
	strncat(blocker, "/spool", sizeof(blocker) - strlen(blocker) - 1);
	mem_init(&m);
	net_config(&cfg, blocker);
	assert_int_equal(atr_producer_new_with_sink(&p, &cfg, &m.base), ATR_EIO);
	assert_null(p);
	mem_release(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_env_defaults),
	    cmocka_unit_test(test_env_values),
	    cmocka_unit_test(test_env_errors),
	    cmocka_unit_test_setup_teardown(test_store_sink, tmpstore_setup, tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_filters, tmpstore_setup, tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_file_sink, tmpstore_setup, tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_file_sink_concurrent, tmpstore_setup,
	                                    tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_stdout_sink, tmpstore_setup, tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_retry_in_order, tmpstore_setup, tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_reject_and_split, tmpstore_setup,
	                                    tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_outage_then_replay, tmpstore_setup,
	                                    tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_killed_producer, tmpstore_setup,
	                                    tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_emit_batch, tmpstore_setup, tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_spool_location, tmpstore_setup, tmpstore_teardown),
	};

	clear_env();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
