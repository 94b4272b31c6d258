/*
 * Redaction at ingest (docs/redaction.md): every built-in detector through
 * the log's append path on a real SQLite store (the record and the detail
 * hold the marker, "redactions" counts, and no byte of any secret is in the
 * database or its WAL), idempotency over masked content, markers stable
 * across reopen under the store's salt, configuration (extra pattern, field
 * path, disabled detectors, the AGENTRAIL_REDACT_* variables), the file
 * sink, and no finding at all on the corpus of ordinary tool output.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include <agentrail/agentrail.h>

#include "sink/sink.h"

#define ATR_TEST_NAME "redact_ingest"
#include "tmpstore.h"

#define PEM_BODY                                                                                   \
	"PVK35XewPmY9g9zZUGsKfT+YL3AwxB2WeZdhe4cEf/I3YroIh3fII0s93IVQRMRu\n"                       \
	"3byUBlqa3oUq9IcfkF7ON5YTjSt1Z84czRvO/Wpm+QE+Mg1DwMwrhkTpXxVBKu/p\n"                       \
	"CTe016HNto8d5nKMqglb9eH69rF31/ODoe8I9O7m2/cwpqb4ewxKFyumEEc0AUme\n"
#define JWT_TOKEN                                                                                  \
	"ey"                                                                                       \
	"JhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.ey"                                                    \
	"JzdWIiOiJhZ2VudC03IiwiaWF0IjoxNzczMjIwMzIzLCJzY29wZSI6ImV2ZW50czp3cml0ZSJ9."              \
	"nsCT6WgPGk77SmJLekfi5nX69ctOrdnYlvGcfjpQtN8"

/* One secret per built-in detector, with the text around it; the secret is what must vanish. */
static const struct {
	const char *kind, *before, *secret, *after;
} cases[] = {
    {"aws_access_key", "key id ",
     "AK"
     "IA7UVXLELQYGNB5PN3",
     ""},
    {"aws_secret_key", "aws_secret_access_key = ", "MwrITq6vxgxt0/dMCUl70tPsf8ahmTGQduyl23zv", ""},
    {"openai_key", "OPENAI_API_KEY=",
     "sk"
     "-huG8GP38g4o5MNJAYKJ1UXXFWXLCpaNfhs0gCa05RFRunzqw",
     ""},
    {"anthropic_key", "x-api-key: ",
     "sk"
     "-ant-api03-1urN0XtzWbnXjgSTdd8PM5Pp-7vtA3R6DiZezwfg5y9cqBruxXI21kXNxSwH7-1K7wP9",
     ""},
    {"github_token", "token ",
     "gh"
     "p_g9BkgRdWwUZlPOgGurL1es7ukqqeaA355XqA",
     ""},
    {"gitlab_token", "PRIVATE-TOKEN: ",
     "gl"
     "pat-uLLKTrXyb92TvdwOsudo",
     ""},
    {"slack_token", "",
     "xo"
     "xb-805154382993-2157116494157-6FhJHp1wR0D6LwfeXfZFXtqW",
     ""},
    {"stripe_key", "Stripe.api_key = '",
     "sk"
     "_live_QokuBGJvu65UQ2FzulmZDo3S",
     "'"},
    {"google_api_key", "?key=",
     "AI"
     "zaI4HsIDQspIL6ZZcQ0Rm-A2TQhZwbIGqQ189",
     "&alt=json"},
    {"agentrail_token", "AGENTRAIL_TOKEN=",
     "at"
     "r_a01738a06e8b26034a7e6592d4308d157faabaf8fa81f40fb8e6b8c961d29f2a",
     ""},
    {"bearer_token", "Authorization: Bearer ", "EC.BVu226UAN49lBzokTuowA3y2dsIKUYb96IT-r", ""},
    {"private_key", "key:\n",
     "-----BEGIN RSA PRIV"
     "ATE KEY-----\n" PEM_BODY "-----END RSA PRIV"
     "ATE KEY-----",
     "\n"},
    {"url_password", "postgres://bob:", "s3cr3t-pw-9183", "@db.internal:5432/app"},
    {"jwt", "id_token=", JWT_TOKEN, ""},
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* An event (JSON text, the caller's to free()) with 'text' in detail.out and optionally in target.
 */
static char *event_with(const char *id, const char *text, int in_target)
{
	json_t *e = json_pack("{s:s, s:s, s:s, s:{s:s}}", "type", "x_tool_output", "level", "agent",
	                      "actor", "agent-1", "detail", "out", text);
	char *s;

	if (id)
		json_object_set_new(e, "event_id", json_string(id));
	if (in_target)
		json_object_set_new(e, "target", json_string(text));
	s = json_dumps(e, JSON_COMPACT);
	json_decref(e);
	return s;
}

/* Occurrences of 'needle' in the file 'p' (0 when it does not exist). */
static size_t count_in_file(const char *p, const char *needle)
{
	FILE *f = fopen(p, "rb");
	size_t n = 0, len = strlen(needle), cap = 0, have = 0, got;
	char *buf = NULL;

	if (!f)
		return 0;
	for (;;) {
		if (have + 65536 > cap) {
			cap = (have + 65536) * 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		if ((got = fread(buf + have, 1, 65536, f)) == 0)
			break;
		have += got;
	}
	fclose(f);
	for (size_t i = 0; i + len <= have; i++)
		if (!memcmp(buf + i, needle, len))
			n++;
	free(buf);
	return n;
}

/* Occurrences in the store's database, WAL and shared-memory files together. */
static size_t count_in_store(const char *needle)
{
	static const char *const suffix[] = {"", "-wal", "-shm"};
	char p[600];
	size_t n = 0;

	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
		n += count_in_file(p, needle);
	}
	return n;
}

static int64_t redactions_of(atr_log *log, uint64_t seq)
{
	atr_record *rec;
	int64_t n = 0;

	assert_int_equal(atr_log_get(log, seq, &rec), 0);
	if (atr_record_int(rec, "redactions", &n) != 0)
		n = 0;
	atr_record_free(rec);
	return n;
}

/* The record bytes and the detail of 'seq', joined (the caller's to free()). */
static char *stored(atr_log *log, uint64_t seq)
{
	atr_record *rec;
	const char *r, *d;
	size_t rl, dl;
	char *s;

	assert_int_equal(atr_log_get(log, seq, &rec), 0);
	r = atr_record_bytes(rec, &rl);
	d = atr_record_detail(rec, &dl);
	s = malloc(rl + dl + 2);
	assert_non_null(s);
	memcpy(s, r, rl);
	s[rl] = '\n';
	memcpy(s + rl + 1, d ? d : "", d ? dl : 0);
	s[rl + 1 + (d ? dl : 0)] = '\0';
	atr_record_free(rec);
	return s;
}

static void test_each_detector(void **state)
{
	atr_log *log;

	(void)state;
	assert_int_equal(atr_log_open(&log, path, 0), 0);
	for (size_t i = 0; i < NCASES; i++) {
		char text[2048], marker[64], *ev, *s;
		atr_append_result res;

		snprintf(text, sizeof(text), "%s%s%s", cases[i].before, cases[i].secret,
		         cases[i].after);
		ev = event_with(NULL, text, 0);
		assert_int_equal(atr_log_append(log, ev, strlen(ev), &res), 0);
		free(ev);
		s = stored(log, res.seq);
		snprintf(marker, sizeof(marker), "[REDACTED:%s:", cases[i].kind);
		if (!strstr(s, marker) || strstr(s, cases[i].secret))
			fail_msg("%s: not masked in %s", cases[i].kind, s);
		free(s);
		assert_int_equal(redactions_of(log, res.seq), 1);
	}
	/* Two in the header, one in the detail: counted together. */
	{
		char *ev =
		    event_with(NULL, "Authorization: Bearer EC.BVu226UAN49lBzokTuowA3y2dsIK", 1);
		atr_append_result res;
		char *s;

		assert_int_equal(atr_log_append(log, ev, strlen(ev), &res), 0);
		free(ev);
		assert_int_equal(redactions_of(log, res.seq), 2);
		s = stored(log, res.seq);
		assert_non_null(
		    strstr(s, "\"target\":\"Authorization: Bearer [REDACTED:bearer_token:"));
		assert_null(strstr(s, "EC.BVu226UAN49lBzokTuowA3y2dsIK"));
		free(s);
	}
	atr_log_free(log);
	/* Not a byte of any secret anywhere in the database or its WAL. */
	for (size_t i = 0; i < NCASES; i++)
		if (count_in_store(cases[i].secret) != 0)
			fail_msg("%s: the secret is in the store's files", cases[i].kind);
	assert_int_equal(count_in_store("EC.BVu226UAN49lBzokTuowA3y2dsIK"), 0);
	/* The check can fail: the marker text itself is there. */
	assert_true(count_in_store("[REDACTED:jwt:") > 0);
}

#define ID1 "0190f0a0-0000-7000-8000-00000000aa01"
#define ID2 "0190f0a0-0000-7000-8000-00000000aa02"
#define GH1                                                                                        \
	"gh"                                                                                       \
	"p_g9BkgRdWwUZlPOgGurL1es7ukqqeaA355XqA"
#define GH2                                                                                        \
	"gh"                                                                                       \
	"p_Q9BkgRdWwUZlPOgGurL1es7ukqqeaA355XqB"

/* The marker of the first find in record 'seq' (8 hex digits after "[REDACTED:kind:"). */
static void marker_of(atr_log *log, uint64_t seq, char out[9])
{
	char *s = stored(log, seq), *m = strstr(s, "[REDACTED:github_token:");

	assert_non_null(m);
	memcpy(out, m + strlen("[REDACTED:github_token:"), 8);
	out[8] = '\0';
	free(s);
}

static void test_idempotent_and_stable(void **state)
{
	char *a = event_with(ID1, "push with " GH1, 0), *b = event_with(ID1, "push with " GH2, 0);
	char *c = event_with(ID2, "again " GH1, 0), m1[9], m2[9];
	atr_append_result res;
	atr_log *log;

	(void)state;
	assert_int_equal(atr_log_open(&log, path, 0), 0);
	assert_int_equal(atr_log_append(log, a, strlen(a), &res), 0);
	assert_int_equal(res.seq, 0);
	assert_int_equal(res.duplicate, 0);
	/* The same event again: the same masked text, a duplicate. */
	assert_int_equal(atr_log_append(log, a, strlen(a), &res), 0);
	assert_int_equal(res.duplicate, 1);
	/* The same id with another secret: other markers, a conflict. */
	assert_int_equal(atr_log_append(log, b, strlen(b), &res), ATR_ECONFLICT);
	/* In one batch too. */
	{
		const char *both[] = {a, b};

		assert_int_equal(atr_log_append_batch(log, both, NULL, 2, NULL), ATR_ECONFLICT);
	}
	marker_of(log, 0, m1);
	atr_log_free(log);

	/* Reopened: the store's salt gives the same markers, so a re-send still dedupes. */
	assert_int_equal(atr_log_open(&log, path, 0), 0);
	assert_int_equal(atr_log_append(log, a, strlen(a), &res), 0);
	assert_int_equal(res.duplicate, 1);
	assert_int_equal(res.seq, 0);
	assert_int_equal(atr_log_append(log, c, strlen(c), &res), 0);
	assert_int_equal(res.seq, 1);
	marker_of(log, 1, m2);
	assert_string_equal(m1, m2);
	atr_log_free(log);
	free(a);
	free(b);
	free(c);
}

/* A marker is not a secret: the redactor (reader masking) passes it through unchanged. */
static void test_marker_passthrough(void **state)
{
	atr_redactor *r;
	atr_record *rec;
	const char *bytes;
	char *ev = event_with(NULL, "k=" GH1 " url=https://u:pw-77331x@h/x " JWT_TOKEN, 1), *out;
	size_t len, outlen, count = 9;
	atr_log *log;

	(void)state;
	assert_int_equal(atr_log_open(&log, path, 0), 0);
	assert_int_equal(atr_log_append(log, ev, strlen(ev), NULL), 0);
	assert_int_equal(redactions_of(log, 0), 6);
	assert_int_equal(atr_log_get(log, 0, &rec), 0);
	bytes = atr_record_bytes(rec, &len);
	assert_int_equal(atr_redactor_new(&r, NULL), 0);
	assert_int_equal(atr_redact_json(r, bytes, len, &out, &outlen, &count), 0);
	assert_int_equal(count, 0);
	assert_int_equal(outlen, len);
	assert_memory_equal(out, bytes, len);
	atr_free(out);
	atr_redactor_free(r);
	atr_record_free(rec);
	atr_log_free(log);
	free(ev);
}

static void test_refused_field(void **state)
{
	const char *ev = "{\"type\":\"x_a\",\"level\":\"agent\",\"actor\":\"a\",\"redactions\":1}";
	atr_log *log;

	(void)state;
	assert_int_equal(atr_log_open(&log, path, 0), 0);
	assert_int_equal(atr_log_append(log, ev, strlen(ev), NULL), ATR_EINVALID);
	assert_string_equal(atr_errmsg(),
	                    "field 'redactions' is set by the log and cannot be given");
	/* Malformed JSON: still the event parser's precise message. */
	assert_int_equal(atr_log_append(log, "{\"type\":", 8, NULL), ATR_EINVALID);
	assert_non_null(strstr(atr_errmsg(), "malformed JSON"));
	atr_log_free(log);
}

static void test_config(void **state)
{
	static const atr_redact_pattern pats[] = {{"internal_token", "itk_[0-9a-f]{16}"}};
	static const char *const fields[] = {"detail.env.*"};
	atr_redact_config cfg = {.patterns = pats,
	                         .npatterns = 1,
	                         .fields = fields,
	                         .nfields = 1,
	                         .disable = ATR_REDACT_JWT};
	const char *ev = "{\"type\":\"x_a\",\"level\":\"agent\",\"actor\":\"a\",\"target\":\"itk_"
	                 "0123456789abcdef\",\"detail\":{\"env\":{\"PGPASSWORD\":\"hunter2x\"},"
	                 "\"tok\":\"" JWT_TOKEN "\"}}";
	atr_redact_config off = {.disable = ATR_REDACT_ALL};
	atr_log *log;
	char *s;

	(void)state;
	assert_int_equal(atr_log_open(&log, path, 0), 0);
	assert_int_equal(atr_log_set_redaction(log, &cfg), 0);
	assert_int_equal(atr_log_append(log, ev, strlen(ev), NULL), 0);
	s = stored(log, 0);
	assert_non_null(strstr(s, "\"target\":\"[REDACTED:internal_token:"));
	assert_non_null(strstr(s, "\"PGPASSWORD\":\"[REDACTED:field:"));
	assert_non_null(strstr(s, JWT_TOKEN)); /* jwt disabled */
	assert_null(strstr(s, "hunter2x"));
	free(s);
	assert_int_equal(redactions_of(log, 0), 2);

	/* Everything off: stored as sent, no "redactions". */
	assert_int_equal(atr_log_set_redaction(log, &off), 0);
	assert_int_equal(atr_log_append(log, ev, strlen(ev), NULL), 0);
	s = stored(log, 1);
	assert_non_null(strstr(s, "itk_0123456789abcdef"));
	assert_null(strstr(s, "redactions"));
	free(s);

	/* A bad pattern is refused with why. */
	{
		static const atr_redact_pattern bad[] = {{"x", "a(b"}};
		atr_redact_config b = {.patterns = bad, .npatterns = 1};

		assert_int_equal(atr_log_set_redaction(log, &b), ATR_EINVALID);
		assert_non_null(strstr(atr_errmsg(), "does not compile"));
	}
	atr_log_free(log);
}

static void test_env(void **state)
{
	const char *ev = "{\"type\":\"x_a\",\"level\":\"agent\",\"actor\":\"a\",\"target\":\"run "
	                 "itk_0123456789abcdef\",\"detail\":{\"password\":\"hunter2x\",\"url\":"
	                 "\"https://u:pw-77331x@h/x\"}}";
	atr_redact_config *cfg;
	atr_log *log;
	char *s;

	(void)state;
	setenv("AGENTRAIL_REDACT_PATTERNS", "internal_token=itk_[0-9a-f]{16}\n\nother=zz[0-9]+zz\n",
	       1);
	setenv("AGENTRAIL_REDACT_FIELDS", "password, detail.none", 1);
	setenv("AGENTRAIL_REDACT_DISABLE", "url_password", 1);
	assert_int_equal(atr_log_open(&log, path, 0), 0);
	assert_int_equal(atr_log_append(log, ev, strlen(ev), NULL), 0);
	s = stored(log, 0);
	assert_non_null(strstr(s, "run [REDACTED:internal_token:"));
	assert_non_null(strstr(s, "\"password\":\"[REDACTED:field:"));
	assert_non_null(strstr(s, "pw-77331x")); /* url_password disabled */
	free(s);
	atr_log_free(log);

	/* Bad values: precise errors naming the variable. */
	setenv("AGENTRAIL_REDACT_PATTERNS", "Bad-Kind=x", 1);
	assert_int_equal(atr_redact_config_new(&cfg), 0);
	assert_int_equal(atr_redact_config_add_env(cfg), ATR_EINVALID);
	assert_non_null(strstr(atr_errmsg(), "AGENTRAIL_REDACT_PATTERNS: "));
	assert_non_null(strstr(atr_errmsg(), "Bad-Kind"));
	setenv("AGENTRAIL_REDACT_PATTERNS", "k=(unclosed", 1);
	assert_int_equal(atr_redact_config_add_env(cfg), ATR_EINVALID);
	assert_non_null(strstr(atr_errmsg(), "does not compile"));
	setenv("AGENTRAIL_REDACT_PATTERNS", "no equals sign", 1);
	assert_int_equal(atr_redact_config_add_env(cfg), ATR_EINVALID);
	assert_non_null(strstr(atr_errmsg(), "must be KIND=REGEX"));
	unsetenv("AGENTRAIL_REDACT_PATTERNS");
	setenv("AGENTRAIL_REDACT_DISABLE", "jwt,nope", 1);
	assert_int_equal(atr_redact_config_add_env(cfg), ATR_EINVALID);
	assert_non_null(strstr(atr_errmsg(), "AGENTRAIL_REDACT_DISABLE: unknown detector 'nope'"));
	setenv("AGENTRAIL_REDACT_DISABLE", "all", 1);
	unsetenv("AGENTRAIL_REDACT_FIELDS");
	atr_redact_config_free(cfg);
	/* The lazy redactor of an append reports a bad variable too. */
	setenv("AGENTRAIL_REDACT_FIELDS", "a..b", 1);
	tmpstore_teardown(NULL);
	assert_int_equal(atr_log_open(&log, path, 0), 0);
	assert_int_equal(atr_log_append(log, ev, strlen(ev), NULL), ATR_EINVALID);
	assert_non_null(strstr(atr_errmsg(), "AGENTRAIL_REDACT_FIELDS: field path 'a..b'"));
	atr_log_free(log);
	unsetenv("AGENTRAIL_REDACT_FIELDS");
	unsetenv("AGENTRAIL_REDACT_DISABLE");
}

/* The file sink makes its own records: they are masked too, under PATH.salt. */
static void test_file_sink(void **state)
{
	char fpath[600], spath[620], *ev = event_with(NULL, "token " GH1, 1);
	size_t len = strlen(ev);
	const char *evs[] = {ev};
	atr_sink_report rep;
	atr_sink *s;
	struct stat st;

	(void)state;
	snprintf(fpath, sizeof(fpath), "%s.jsonl", path);
	snprintf(spath, sizeof(spath), "%s.salt", fpath);
	for (int round = 0; round < 2; round++) {
		memset(&rep, 0, sizeof(rep));
		assert_int_equal(atr__sink_file_new(&s, fpath, NULL), 0);
		assert_int_equal(s->deliver(s, evs, &len, 1, &rep), ATR_SINK_OK);
		s->free(s);
	}
	assert_int_equal(count_in_file(fpath, GH1), 0);
	assert_int_equal(count_in_file(fpath, "\"redactions\":2"), 2);
	assert_int_equal(stat(spath, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	{
		/* Both runs masked alike: one marker, four times (target and detail, twice). */
		FILE *f = fopen(fpath, "r");
		char line[8192], first[40] = "";
		int n = 0;

		assert_non_null(f);
		while (fgets(line, sizeof(line), f)) {
			char *m = line;

			while ((m = strstr(m, "[REDACTED:github_token:"))) {
				if (!*first)
					memcpy(first, m, 32);
				assert_memory_equal(first, m, 32);
				n++;
				m++;
			}
		}
		fclose(f);
		assert_int_equal(n, 4);
	}
	unlink(fpath);
	unlink(spath);
	snprintf(spath, sizeof(spath), "%s.checkpoint", fpath);
	unlink(spath);
	free(ev);
}

/* Ordinary tool output through ingest: nothing masked, no "redactions". */
static void test_corpus(void **state)
{
	char dir[1024];
	const char *slash = strrchr(__FILE__, '/');
	struct dirent *de;
	atr_log *log;
	DIR *d;
	uint64_t seq = 0;
	int files = 0;

	(void)state;
	assert_non_null(slash);
	snprintf(dir, sizeof(dir), "%.*s/../data/redact", (int)(slash - __FILE__), __FILE__);
	assert_non_null(d = opendir(dir));
	assert_int_equal(atr_log_open(&log, path, 0), 0);
	while ((de = readdir(d))) {
		char p[1400], *text, *ev;
		FILE *f;
		long n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		assert_non_null(f = fopen(p, "rb"));
		fseek(f, 0, SEEK_END);
		n = ftell(f);
		rewind(f);
		text = malloc((size_t)n + 1);
		assert_non_null(text);
		assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
		text[n] = '\0';
		fclose(f);
		/* As a string in detail and in target (cut to the target's limit). */
		ev = event_with(NULL, text, 0);
		assert_int_equal(atr_log_append(log, ev, strlen(ev), NULL), 0);
		if (redactions_of(log, seq++) != 0)
			fail_msg("%s: a false positive through ingest", de->d_name);
		free(ev);
		if (n > 4000)
			text[4000] = '\0';
		ev = event_with(NULL, text, 1);
		if (atr_log_append(log, ev, strlen(ev), NULL) == 0 &&
		    redactions_of(log, seq++) != 0)
			fail_msg("%s: a false positive in target", de->d_name);
		free(ev);
		/* A JSON file also as the detail object itself. */
		if (strstr(de->d_name, ".json")) {
			json_t *e = json_pack("{s:s, s:s, s:s}", "type", "x_api", "level", "agent",
			                      "actor", "a");
			json_t *doc = json_loads(text, 0, NULL);

			if (doc && json_is_object(doc)) {
				json_object_set_new(e, "detail", doc);
				ev = json_dumps(e, JSON_COMPACT);
				assert_int_equal(atr_log_append(log, ev, strlen(ev), NULL), 0);
				assert_int_equal(redactions_of(log, seq++), 0);
				free(ev);
			} else {
				json_decref(doc);
			}
			json_decref(e);
		}
		free(text);
		files++;
	}
	closedir(d);
	atr_log_free(log);
	assert_true(files >= 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_each_detector, tmpstore_setup, tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_idempotent_and_stable, tmpstore_setup,
	                                    tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_marker_passthrough, tmpstore_setup,
	                                    tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_refused_field, tmpstore_setup, tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_config, tmpstore_setup, tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_env, tmpstore_setup, tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_file_sink, tmpstore_setup, tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_corpus, tmpstore_setup, tmpstore_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
