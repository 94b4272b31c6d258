/*
 * Secret masking: every built-in detector finds its secret inside JSON
 * strings (at the start, the end, between other text, next to escapes) and
 * in plain text; markers carry the salted hash; extra regexes and field
 * paths; answers stay valid JSON; bad JSON is refused; and a corpus of
 * ordinary tool output (tests/data/redact) gives no match at all.
 *
 * The fake secrets below are random and assembled from pieces ("gh" "p_"
 * ...), so that secret scanners run over this repository do not flag them.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#include <agentrail/agentrail.h>

#define SALT "test-salt"

/* ------------------------------------------------------------ helpers */

/* "[REDACTED:kind:<first 8 hex of SHA-256(salt || secret)>]", computed apart from the library. */
static void marker(char out[80], const char *salt, const char *kind, const char *secret)
{
	unsigned char h[32];
	unsigned int hl = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	assert_non_null(c);
	assert_true(EVP_DigestInit_ex(c, EVP_sha256(), NULL));
	assert_true(EVP_DigestUpdate(c, salt, strlen(salt)));
	assert_true(EVP_DigestUpdate(c, secret, strlen(secret)));
	assert_true(EVP_DigestFinal_ex(c, h, &hl));
	EVP_MD_CTX_free(c);
	snprintf(out, 80, "[REDACTED:%s:%02x%02x%02x%02x]", kind, h[0], h[1], h[2], h[3]);
}

static atr_redactor *redactor(const atr_redact_config *extra)
{
	atr_redact_config cfg = {0};
	atr_redactor *r = NULL;

	if (extra)
		cfg = *extra;
	if (!cfg.salt) {
		cfg.salt = SALT;
		cfg.salt_len = strlen(SALT);
	}
	assert_int_equal(atr_redactor_new(&r, &cfg), 0);
	assert_non_null(r);
	return r;
}

/* A heap copy of exactly 'len' bytes, so ASan sees any read past the end. */
static char *exact(const char *s, size_t len)
{
	char *p = malloc(len ? len : 1);

	assert_non_null(p);
	memcpy(p, s, len);
	return p;
}

/* Redact the JSON text 'in'; the answer must be valid JSON. */
static char *redact_json(const atr_redactor *r, const char *in, size_t *count)
{
	size_t len = strlen(in), outlen = 0;
	char *copy = exact(in, len), *out = NULL;
	json_error_t err;
	json_t *doc;

	assert_int_equal(atr_redact_json(r, copy, len, &out, &outlen, count), 0);
	free(copy);
	assert_non_null(out);
	assert_int_equal(strlen(out), outlen);
	doc = json_loadb(out, outlen, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
	if (!doc)
		fail_msg("not JSON (%s) after redaction: %s", err.text, out);
	json_decref(doc);
	return out;
}

static char *redact_text(const atr_redactor *r, const char *in, size_t *count)
{
	size_t len = strlen(in), outlen = 0;
	char *copy = exact(in, len), *out = NULL;

	assert_int_equal(atr_redact_text(r, copy, len, &out, &outlen, count), 0);
	free(copy);
	assert_int_equal(strlen(out), outlen);
	return out;
}

/* The text as one JSON string (jansson escapes quotes, controls; UTF-8 stays). */
static char *as_json_string(const char *text)
{
	json_t *s = json_string(text);
	char *dump;

	assert_non_null(s);
	dump = json_dumps(s, JSON_ENCODE_ANY);
	json_decref(s);
	assert_non_null(dump);
	return dump;
}

/* The decoded value of a JSON string document. */
static char *json_string_value_of(const char *doc)
{
	json_t *s = json_loads(doc, JSON_DECODE_ANY, NULL);
	char *v;

	assert_true(json_is_string(s));
	v = strdup(json_string_value(s));
	json_decref(s);
	return v;
}

static char *cat(const char *a, const char *b, const char *c, const char *d, const char *e)
{
	size_t n = strlen(a) + strlen(b) + strlen(c) + strlen(d) + strlen(e) + 1;
	char *s = malloc(n);

	assert_non_null(s);
	snprintf(s, n, "%s%s%s%s%s", a, b, c, d, e);
	return s;
}

/* ------------------------------------------------------------ the secrets */

#define PEM_BODY                                                                                   \
	"PVK35XewPmY9g9zZUGsKfT+YL3AwxB2WeZdhe4cEf/I3YroIh3fII0s93IVQRMRu\n"                       \
	"3byUBlqa3oUq9IcfkF7ON5YTjSt1Z84czRvO/Wpm+QE+Mg1DwMwrhkTpXxVBKu/p\n"                       \
	"CTe016HNto8d5nKMqglb9eH69rF31/ODoe8I9O7m2/cwpqb4ewxKFyumEEc0AUme\n"                       \
	"pQt47EIS4rO6iyqMooSVijx+0Q2KWjqJZHYWPggDaWKOFnCs\n"
#define JWT_TOKEN                                                                                  \
	"ey"                                                                                       \
	"JhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.ey"                                                    \
	"JzdWIiOiJhZ2VudC03IiwiaWF0IjoxNzczMjIwMzIzLCJzY29wZSI6ImV2ZW50czp3cml0ZSJ9."              \
	"nsCT6WgPGk77SmJLekfi5nX69ctOrdnYlvGcfjpQtN8"

/* One find: 'secret' masked when it stands between 'before' and 'after'. */
struct secret_case {
	const char *kind;
	const char *before, *secret, *after;
};

static const struct secret_case cases[] = {
    {"aws_access_key", "key id ",
     "AK"
     "IA7UVXLELQYGNB5PN3",
     ""},
    {"aws_access_key", "",
     "AS"
     "IAINR7IUXZMJJJIDCR",
     ""},
    {"aws_secret_key", "aws_secret_access_key = ", "MwrITq6vxgxt0/dMCUl70tPsf8ahmTGQduyl23zv", ""},
    {"aws_secret_key", "export AWS_SECRET_ACCESS_KEY=", "MwrITq6vxgxt0/dMCUl70tPsf8ahmTGQduyl23zv",
     ""},
    {"aws_secret_key", "{\"SecretAccessKey\": \"", "MwrITq6vxgxt0/dMCUl70tPsf8ahmTGQduyl23zv",
     "\"}"},
    {"openai_key", "OPENAI_API_KEY=",
     "sk"
     "-huG8GP38g4o5MNJAYKJ1UXXFWXLCpaNfhs0gCa05RFRunzqw",
     ""},
    {"openai_key", "",
     "sk"
     "-proj-TWjRlLK6sNdVU72lZ-o2_YH19dCqgn28s9Dp68GZN9Z3zLIbet6_UzH_7-3eLO6m4H5x29iI-Vmy0s5bl"
     "a5kzFpfITtaO_rC8qLk",
     ""},
    {"anthropic_key", "x-api-key: ",
     "sk"
     "-ant-api03-1urN0XtzWbnXjgSTdd8PM5Pp-7vtA3R6DiZezwfg5y9cqBruxXI21kXNxSwH7-1K7wP94pJmBDal6Q0"
     "xdTuTBoJBLIqmHAA",
     ""},
    {"github_token", "token ",
     "gh"
     "p_g9BkgRdWwUZlPOgGurL1es7ukqqeaA355XqA",
     ""},
    {"github_token", "",
     "gh"
     "o_9adgpbthgRJK72wuXDMOPTNc7zuMnMDBR4hR",
     ""},
    {"github_token", "",
     "gh"
     "u_x3GR7qys80wdVTB4bsSvsU9XZ6htXAuL5bI9",
     ""},
    {"github_token", "",
     "gh"
     "s_QT7IRJz4qYjobbrIEAq9ui8OLf1lJcP390G0",
     ""},
    {"github_token", "",
     "gh"
     "r_qvOHWVudQ1aOpEdoRG3j7V53zTx8YoJ1rv3m",
     ""},
    {"github_token", "GH_TOKEN=",
     "git"
     "hub_pat_xwDODJZE5YRLtmkOAjF5a8_w091HSAYcOlftxIUqiTVg5bIn22SLtKc9zyI9HZPQk9GgfjUyvJqtcVLQYm",
     ""},
    {"gitlab_token", "PRIVATE-TOKEN: ",
     "gl"
     "pat-uLLKTrXyb92TvdwOsudo",
     ""},
    {"slack_token", "",
     "xo"
     "xb-805154382993-2157116494157-6FhJHp1wR0D6LwfeXfZFXtqW",
     ""},
    {"slack_token", "",
     "xo"
     "xp-805154382993-2157116494157-6FhJHp1wR0D6LwfeXfZFXtqW",
     ""},
    {"stripe_key", "Stripe.api_key = '",
     "sk"
     "_live_QokuBGJvu65UQ2FzulmZDo3S",
     "'"},
    {"stripe_key", "",
     "rk"
     "_live_6wWYwA1ZLynjCVKQViBrv1hu",
     ""},
    {"google_api_key", "?key=",
     "AI"
     "zaI4HsIDQspIL6ZZcQ0Rm-A2TQhZwbIGqQ189",
     "&alt=json"},
    {"agentrail_token", "AGENTRAIL_TOKEN=",
     "at"
     "r_a01738a06e8b26034a7e6592d4308d157faabaf8fa81f40fb8e6b8c961d29f2a",
     ""},
    {"bearer_token", "Authorization: Bearer ", "EC.BVu226UAN49lBzokTuowA3y2dsIKUYb96IT-r", ""},
    {"bearer_token", "-H 'authorization: bearer ", "EC.BVu226UAN49lBzokTuowA3y2dsIKUYb96IT-r", "'"},
    {"bearer_token", "Authorization: Bearer ", JWT_TOKEN, ""},
    {"jwt", "id_token=", JWT_TOKEN, ""},
    {"private_key", "",
     "-----BEGIN RSA PRIV"
     "ATE KEY-----\n" PEM_BODY "-----END RSA PRIV"
     "ATE KEY-----",
     ""},
    {"private_key", "key:\n",
     "-----BEGIN OPENSSH PRIV"
     "ATE KEY-----\n" PEM_BODY "-----END OPENSSH PRIV"
     "ATE KEY-----",
     "\n"},
    {"private_key", "",
     "-----BEGIN PRIV"
     "ATE KEY-----\\n" PEM_BODY "-----END PRIV"
     "ATE KEY-----",
     ""},
    {"private_key", "gpg --export-secret-keys:\n",
     "-----BEGIN PGP PRIV"
     "ATE KEY BLOCK-----\n\n" PEM_BODY "=QW1c\n-----END PGP PRIV"
     "ATE KEY BLOCK-----",
     ""},
    {"url_password", "postgres://bob:", "s3cr3t-pw", "@db.internal:5432/app"},
    {"url_password", "redis://:", "Zq7!kD2", "@cache:6379/0"},
    {"url_password", "https://deploy:", "p@ss:word", "@git.example.org/repo.git"},
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* Texts around each case: none, spaces, quotes (escaped in JSON), newlines, punctuation, UTF-8. */
static const char *const around[][2] = {
    {"", ""},
    {"x ", " y"},
    {"\"", "\""},
    {"\n", "\n"},
    {"=", ";"},
    {"\t(", ")\t"},
    {"caf\xc3\xa9 ", " \xc3\xbc"},
    {"\\", "\\"},
};

static void test_each_detector(void **state)
{
	for (size_t i = 0; i < NCASES; i++) {
		const struct secret_case *c = &cases[i];
		char m[80];

		marker(m, SALT, c->kind, c->secret);
		for (size_t a = 0; a < sizeof(around) / sizeof(around[0]); a++) {
			char *text =
			    cat(around[a][0], c->before, c->secret, c->after, around[a][1]);
			char *want = cat(around[a][0], c->before, m, c->after, around[a][1]);
			char *doc = as_json_string(text), *out, *got;
			size_t count = 99;

			/* As a JSON string: escapes resolved, the marker in place of the secret. */
			out = redact_json(*state, doc, &count);
			got = json_string_value_of(out);
			if (strcmp(got, want) != 0 || count != 1)
				fail_msg(
				    "case %zu (%s) around %zu: %zu found\n  in:   %s\n  got:  %s\n"
				    "  want: %s",
				    i, c->kind, a, count, doc, got, want);
			free(got);
			free(out);
			/* As plain text. */
			out = redact_text(*state, text, &count);
			if (strcmp(out, want) != 0 || count != 1)
				fail_msg("text case %zu (%s) around %zu: got '%s'", i, c->kind, a,
				         out);
			free(out);
			free(doc);
			free(text);
			free(want);
		}
	}
}

static int setup(void **state)
{
	*state = redactor(NULL);
	return 0;
}

static int teardown(void **state)
{
	atr_redactor_free(*state);
	return 0;
}

/* ------------------------------------------------------------ markers and counts */

static void test_marker_format(void **state)
{
	const char *key = "AK"
	                  "IA7UVXLELQYGNB5PN3";
	char m[80], doc[200], *out, *out2;
	atr_redactor *r1, *r2, *other;
	atr_redact_config cfg = {.salt = "pepper", .salt_len = 6};
	size_t n;

	(void)state;
	other = redactor(&cfg);
	marker(m, "pepper", "aws_access_key", key);
	snprintf(doc, sizeof(doc), "{\"a\":\"%s\",\"b\":[\"%s\"]}", key, key);
	out = redact_json(other, doc, &n);
	snprintf(doc, sizeof(doc), "{\"a\":\"%s\",\"b\":[\"%s\"]}", m, m);
	assert_string_equal(out, doc); /* the same secret, the same marker */
	assert_int_equal(n, 2);
	assert_int_equal(strlen(m), strlen("[REDACTED:aws_access_key:") + 8 + 1);
	free(out);
	atr_redactor_free(other);

	/* Without a salt each redactor draws its own: markers differ between them. */
	assert_int_equal(atr_redactor_new(&r1, NULL), 0);
	assert_int_equal(atr_redactor_new(&r2, NULL), 0);
	snprintf(doc, sizeof(doc), "\"%s\"", key);
	out = redact_json(r1, doc, &n);
	out2 = redact_json(r2, doc, &n);
	assert_memory_equal(out, "\"[REDACTED:aws_access_key:", 26);
	assert_string_not_equal(out, out2);
	free(out);
	free(out2);
	atr_redactor_free(r1);
	atr_redactor_free(r2);
}

static void test_counts_and_untouched(void **state)
{
	const char *doc =
	    "{\"events\":[{\"detail\":{\"out\":\"AK"
	    "IA7UVXLELQYGNB5PN3 and gh"
	    "p_g9BkgRdWwUZlPOgGurL1es7ukqqeaA355XqA\"},\"n\":1.5e3,\"ok\":true},"
	    "{\"detail\":null,\"t\":\"Bearer EC.BVu226UAN49lBzokTuowA3y2dsIKUYb96IT-r\"}"
	    "],\"plain\":\"nothing here\",\"x\":[false,null,-0.25]}";
	const char *clean =
	    " {\"a\" : [1, 2.5, \"caf\\u00e9\", {\"b\": \"\\\"q\\\"\"}], \"c\":{}} \n";
	size_t n;
	char *out;

	out = redact_json(*state, doc, &n);
	assert_int_equal(n, 3);
	assert_non_null(
	    strstr(out, "\"n\":1.5e3,\"ok\":true},{\"detail\":null,\"t\":\"Bearer [REDACTED:"));
	assert_non_null(strstr(out, "\"plain\":\"nothing here\",\"x\":[false,null,-0.25]}"));
	free(out);
	/* Nothing found: the very same bytes, whitespace and escapes included. */
	out = redact_json(*state, clean, &n);
	assert_int_equal(n, 0);
	assert_string_equal(out, clean);
	free(out);
	/* Running it again over its own answer finds nothing new. */
	out = redact_json(*state, doc, &n);
	{
		char *again = redact_json(*state, out, &n);

		assert_int_equal(n, 0);
		assert_string_equal(again, out);
		free(again);
	}
	free(out);
	/* A count pointer is optional. */
	{
		char *o = NULL;
		size_t ol;

		assert_int_equal(atr_redact_json(*state, "[]", 2, &o, &ol, NULL), 0);
		assert_string_equal(o, "[]");
		atr_free(o);
	}
}

/* ------------------------------------------------------------ escapes */

static void test_escapes(void **state)
{
	const char *key = "AK"
	                  "IA7UVXLELQYGNB5PN3";
	char m[80], want[300], *out;
	size_t n;

	marker(m, SALT, "aws_access_key", key);
	/* An escape inside the secret is masked with it; the hash is of the decoded secret. */
	out = redact_json(*state, "[\"id \\u0041KIA7UVXLELQYGNB5PN\\u0033 \\n\"]", &n);
	snprintf(want, sizeof(want), "[\"id %s \\n\"]", m);
	assert_string_equal(out, want);
	free(out);
	/* Escaped quotes and slashes right next to it stay as they were. */
	out = redact_json(*state,
	                  "\"\\\"AK"
	                  "IA7UVXLELQYGNB5PN3\\\"\\/\"",
	                  &n);
	snprintf(want, sizeof(want), "\"\\\"%s\\\"\\/\"", m);
	assert_string_equal(out, want);
	free(out);
	/* A bearer token written with JSON's optional "\/". */
	out = redact_json(*state, "\"Bearer abcDEF123\\/456ghiJKL789\"", &n);
	marker(m, SALT, "bearer_token", "abcDEF123/456ghiJKL789");
	snprintf(want, sizeof(want), "\"Bearer %s\"", m);
	assert_string_equal(out, want);
	free(out);
	/* A member name holding a secret is masked too (names of paths are kept). */
	out = redact_json(*state,
	                  "{\"gh"
	                  "p_g9BkgRdWwUZlPOgGurL1es7ukqqeaA355XqA\":1}",
	                  &n);
	marker(m, SALT, "github_token",
	       "gh"
	       "p_g9BkgRdWwUZlPOgGurL1es7ukqqeaA355XqA");
	snprintf(want, sizeof(want), "{\"%s\":1}", m);
	assert_string_equal(out, want);
	free(out);
	/* A key with escaped newlines, one level down (JSON text inside a JSON string). */
	out = redact_json(*state,
	                  "{\"stdout\":\"{\\\"key\\\":\\\"-----BEGIN EC PRIV"
	                  "ATE KEY-----\\\\n"
	                  "MHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oJ4RPOKZ2iKsoAoGCCqGSM49\\\\n"
	                  "-----END EC PRIV"
	                  "ATE KEY-----\\\\n\\\"}\"}",
	                  &n);
	assert_int_equal(n, 1);
	assert_non_null(strstr(out, "{\"stdout\":\"{\\\"key\\\":\\\"[REDACTED:private_key:"));
	assert_non_null(strstr(out, "]\\\\n\\\"}\"}"));
	free(out);
	/* A surrogate pair and a lone surrogate (which jansson refuses) around a secret. */
	{
		static const char in[] = "\"\\ud83d\\ude00AK"
		                         "IA7UVXLELQYGNB5PN3\\udc00\"";
		size_t outlen;

		assert_int_equal(atr_redact_json(*state, in, sizeof(in) - 1, &out, &outlen, &n), 0);
		marker(m, SALT, "aws_access_key", key);
		snprintf(want, sizeof(want), "\"\\ud83d\\ude00%s\\udc00\"", m);
		assert_string_equal(out, want);
		atr_free(out);
	}
}

/* A private key whose END line is missing (cut-off output) is masked to the end. */
static void test_private_key_cut(void **state)
{
	size_t n;
	char *out = redact_json(*state,
	                        "{\"log\":\"loading\\n-----BEGIN RSA PRIV"
	                        "ATE KEY-----\\nMIIEowIBAAKCA"
	                        "QEAvRKXmC4cV9sZ3m0bZtq7y1lTq8u1nSdQ2p1vKxRz8b9n\\nqL0\"}",
	                        &n);

	assert_int_equal(n, 1);
	assert_memory_equal(out, "{\"log\":\"loading\\n[REDACTED:private_key:", 38);
	assert_string_equal(out + strlen(out) - 3, "]\"}");
	free(out);
}

/* ------------------------------------------------------------ what must not match */

static void test_near_misses(void **state)
{
	static const char *const texts[] = {
	    "AK"
	    "IA7UVXLELQYGNB5PN3X", /* 21 characters */
	    "xAK"
	    "IA7UVXLELQYGNB5PN3", /* inside a word */
	    "AK"
	    "IA7UVXLELQYGNB5PN", /* 19 */
	    "AK"
	    "IA7uvxlelqygnb5pn3", /* lower case */
	    "sk-learn",
	    "task-sk-huG8GP38g4o5MNJAYKJ1UXXFWXLCpaNfhs0gCa05RFRunzqw",
	    "sk-this-is-a-very-long-hyphenated-slug-of-plain-words",
	    "sk-2024-release-notes-for-the-agentrail-product-line",
	    "gh"
	    "p_g9BkgRdWwUZlPOgGurL1es7ukqqeaA355Xq", /* 35 */
	    "gh"
	    "x_g9BkgRdWwUZlPOgGurL1es7ukqqeaA355XqA",
	    "ghp_abcdefghijklmnopqrstuvwxyzabcdefghij", /* one class only */
	    "xo"
	    "xb-short-1",
	    "xo"
	    "xz-805154382993-2157116494157-6FhJHp1wR0D6LwfeXfZFXtqW",
	    "sk"
	    "_test_QokuBGJvu65UQ2FzulmZDo3S",
	    "AIzaShort",
	    "at"
	    "r_a01738a06e8b26034a7e6592d4308d157faabaf8fa81f40fb8e6b8c961d29f2",
	    "WWW-Authenticate: Bearer realm=\"agentrail\"",
	    "Authorization: Bearer ${API_TOKEN}",
	    "Authorization: Bearer <token>",
	    "the bearer of this letter",
	    "Bearer abcdefghijklmnopqrstuvwxyz",
	    "Bearer realm=abcdefghijklmnopq12345",
	    "-----BEGIN CERTIFICATE-----\n" PEM_BODY "-----END CERTIFICATE-----",
	    "-----BEGIN PUBLIC KEY-----\n" PEM_BODY "-----END PUBLIC KEY-----",
	    "KEY_START = \"-----BEGIN OPENSSH PRIV"
	    "ATE KEY-----\"\nKEY_END = \"-----END OPENSSH "
	    "PRIV"
	    "ATE KEY-----\"",
	    "https://user@example.org/x",
	    "ssh://git@github.com:22/a/b.git",
	    "http://[::1]:8081/",
	    "postgres://db:5432/app?user=a:b@c",
	    "scheme://user:password@host",
	    "redis://:${REDIS_PASSWORD}@cache:6379",
	    "https://u:****@host/",
	    "cvs://:pserver:anon@host:/cvs",
	    "https://alice:[REDACTED:url_password:0badf00d]@host/",
	    "eyJhbGciOiJIUzI1NiJ9",
	    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.", /* unsigned */
	    "eyJhbGciOiJIUzI1NiJ9.notapayload.c2lnbmF0dXJlc2lnbmF0dXJl",
	    "aws_secret_access_key = <from the vault>",
	    "aws_secret_access_key = MwrITq6vxgxt0/dMCUl70tPsf8ahmTGQduyl23zvX", /* 41 */
	    "not_a_label = MwrITq6vxgxt0/dMCUl70tPsf8ahmTGQduyl23zv",
	    "sha512-3JvMfF+9LJfe16l7AbSmU555PaTl2tPyQsVInqm3id16pdDfvZ8TTZ/"
	    "pyzmkbDYjMJ4k+F9UoEiXXiu==",
	};
	size_t n;

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		char *doc = as_json_string(texts[i]), *out = redact_json(*state, doc, &n);

		if (n != 0)
			fail_msg("near miss %zu matched: %s", i, out);
		assert_string_equal(out, doc);
		free(out);
		free(doc);
	}
	/* The JSON-member rule wants the value to be exactly a secret key. */
	{
		char *out = redact_json(*state,
		                        "{\"SecretAccessKey\":\"not one\",\"x\":\"MwrITq6vxgxt0/"
		                        "dMCUl70tPsf8ahmTGQduyl23zv\"}",
		                        &n);

		assert_int_equal(n, 0);
		free(out);
	}
}

/* Every file of tests/data/redact: ordinary tool output, no match at all. */
static void test_corpus(void **state)
{
	char dir[4096], path[4096 + 512];
	const char *slash;
	struct dirent *de;
	DIR *d;
	size_t files = 0, bytes = 0;

	/* This file is tests/unit/test_redact.c; the corpus is tests/data/redact. */
	slash = strrchr(__FILE__, '/');
	assert_non_null(slash);
	snprintf(dir, sizeof(dir), "%.*s/../data/redact", (int)(slash - __FILE__), __FILE__);
	assert_non_null(d = opendir(dir));
	while ((de = readdir(d))) {
		FILE *f;
		char *buf, *out, *doc;
		size_t len, n, outlen;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		assert_non_null(f = fopen(path, "rb"));
		buf = malloc(1 << 20);
		len = fread(buf, 1, (1 << 20) - 1, f);
		fclose(f);
		buf[len] = '\0';
		files++;
		bytes += len;
		/* As text. */
		assert_int_equal(atr_redact_text(*state, buf, len, &out, &outlen, &n), 0);
		if (n)
			fail_msg("%s: %zu false positives: %s", de->d_name, n,
			         strstr(out, "[REDACTED:"));
		atr_free(out);
		/* As one JSON string, escapes and all. */
		doc = as_json_string(buf);
		out = redact_json(*state, doc, &n);
		if (n)
			fail_msg("%s as JSON: %zu false positives", de->d_name, n);
		assert_string_equal(out, doc);
		free(out);
		free(doc);
		/* JSON files as documents. */
		if (strstr(de->d_name, ".json")) {
			out = redact_json(*state, buf, &n);
			assert_int_equal(n, 0);
			assert_string_equal(out, buf);
			free(out);
		}
		free(buf);
	}
	closedir(d);
	assert_true(files >= 6);
	print_message("corpus: %zu files, %zu bytes, no match\n", files, bytes);
}

/* ------------------------------------------------------------ configuration */

static void test_patterns(void **state)
{
	atr_redact_pattern pats[] = {
	    {"internal_token", "itk_[0-9a-f]{16}"}, /* whole match */
	    {"passwd", "passwd=([^& ]+)"},          /* group 1 only */
	    {"empty_ok", "z*"},                     /* empty matches are skipped */
	};
	atr_redact_config cfg = {.patterns = pats, .npatterns = 3};
	atr_redactor *r = redactor(&cfg);
	char m1[80], m2[80], m3[80], want[400], *out;
	size_t n;

	(void)state;
	marker(m1, SALT, "internal_token", "itk_0123456789abcdef");
	marker(m2, SALT, "passwd", "hunter2");
	marker(m3, SALT, "empty_ok", "zz");
	out = redact_json(
	    r, "{\"u\":\"itk_0123456789abcdef at /login?user=a&passwd=hunter2&x=1 zz\"}", &n);
	snprintf(want, sizeof(want), "{\"u\":\"%s at /login?user=a&passwd=%s&x=1 %s\"}", m1, m2,
	         m3);
	assert_string_equal(out, want);
	assert_int_equal(n, 3);
	free(out);
	/* Overlapping finds (a pattern and a built-in) become one marker. */
	atr_redactor_free(r);
	pats[0] = (atr_redact_pattern){"wide", "key AK"
	                                       "IA[A-Z0-9]+ here"};
	cfg.npatterns = 1;
	r = redactor(&cfg);
	out = redact_json(r,
	                  "\"the key AK"
	                  "IA7UVXLELQYGNB5PN3 here\"",
	                  &n);
	marker(m1, SALT, "wide",
	       "key AK"
	       "IA7UVXLELQYGNB5PN3 here");
	snprintf(want, sizeof(want), "\"the %s\"", m1);
	assert_string_equal(out, want);
	assert_int_equal(n, 1);
	free(out);
	/* '^' and '$' are the start and end of the string, also when the search resumes. */
	atr_redactor_free(r);
	pats[0] = (atr_redact_pattern){"anchored", "^x|y$"};
	r = redactor(&cfg);
	out = redact_json(r, "[\"xxyy\",\"x\"]", &n);
	marker(m1, SALT, "anchored", "x");
	marker(m2, SALT, "anchored", "y");
	snprintf(want, sizeof(want), "[\"%sxy%s\",\"%s\"]", m1, m2, m1);
	assert_string_equal(out, want);
	free(out);
	/* A pattern over UTF-8 never splits a character: the marker takes all of it. */
	atr_redactor_free(r);
	pats[0] = (atr_redact_pattern){"byte", "x."};
	r = redactor(&cfg);
	out = redact_json(r,
	                  "\"ax\xc3\xa9"
	                  "b\"",
	                  &n);
	marker(m1, SALT, "byte", "x\xc3\xa9");
	snprintf(want, sizeof(want), "\"a%sb\"", m1);
	assert_string_equal(out, want);
	free(out);
	atr_redactor_free(r);
}

static void test_fields(void **state)
{
	const char *fields[] = {"detail.env.*", "password", "detail.args", "headers.value"};
	atr_redact_config cfg = {.fields = fields, .nfields = 4};
	atr_redactor *r = redactor(&cfg);
	char m1[80], m2[80], m3[80], m4[80], want[800], *out;
	size_t n;

	(void)state;
	marker(m1, SALT, "field", "/usr/bin");
	marker(m2, SALT, "field", "hunter2");
	marker(m3, SALT, "field", "--user=bob");
	marker(m4, SALT, "field", "s3cret");
	out = redact_json(
	    r,
	    "{\"events\":[{\"detail\":{\"env\":{\"PATH\":\"/usr/bin\",\"N\":3,"
	    "\"O\":{\"deep\":\"hunter2\"}},\"args\":[\"--user=bob\",7,[\"hunter2\"]],"
	    "\"pass\\u0077ord\":\"hunter2\",\"password2\":\"keep\",\"xdetail\":{\"env\":"
	    "{\"A\":\"keep\"}},\"headers\":[{\"value\":\"s3cret\"}],\"empty\":{\"password\":\"\"}}}"
	    "]}",
	    &n);
	snprintf(
	    want, sizeof(want),
	    "{\"events\":[{\"detail\":{\"env\":{\"PATH\":\"%s\",\"N\":3,\"O\":{\"deep\":\"%s\"}},"
	    "\"args\":[\"%s\",7,[\"%s\"]],\"pass\\u0077ord\":\"%s\",\"password2\":\"keep\","
	    "\"xdetail\":{\"env\":{\"A\":\"keep\"}},\"headers\":[{\"value\":\"%s\"}],\"empty\":{"
	    "\"password\":\"\"}}}]}",
	    m1, m2, m3, m2, m2, m4);
	assert_string_equal(out, want);
	assert_int_equal(n, 6);
	free(out);
	/* Field paths do not apply to plain text. */
	out = redact_text(r, "password: hunter2", &n);
	assert_int_equal(n, 0);
	free(out);
	atr_redactor_free(r);
}

static void test_disable(void **state)
{
	atr_redact_config cfg = {.disable = ATR_REDACT_AWS_ACCESS_KEY | ATR_REDACT_JWT};
	atr_redactor *r = redactor(&cfg);
	size_t n;
	char *out;

	(void)state;
	out = redact_json(r,
	                  "[\"AK"
	                  "IA7UVXLELQYGNB5PN3\",\"" JWT_TOKEN "\",\"gh"
	                  "p_g9BkgRdWwUZlPOgGurL1es7ukqqeaA355XqA\"]",
	                  &n);
	assert_int_equal(n, 1);
	assert_non_null(strstr(out, "[REDACTED:github_token:"));
	free(out);
	atr_redactor_free(r);
	cfg.disable = ATR_REDACT_ALL;
	r = redactor(&cfg);
	out = redact_text(r,
	                  "AK"
	                  "IA7UVXLELQYGNB5PN3",
	                  &n);
	assert_int_equal(n, 0);
	free(out);
	atr_redactor_free(r);
	assert_string_equal(atr_redact_kind(ATR_REDACT_URL_PASSWORD), "url_password");
	assert_string_equal(atr_redact_kind(ATR_REDACT_JWT), "jwt");
	assert_null(atr_redact_kind(ATR_REDACT_JWT | ATR_REDACT_URL_PASSWORD));
	assert_null(atr_redact_kind(0));
}

static void test_config_errors(void **state)
{
	atr_redact_pattern bad_kind[] = {{"Bad-Kind", "x"}};
	atr_redact_pattern bad_re[] = {{"ok", "a(b"}};
	const char *bad_field[] = {"a..b"};
	const char *long_field[] = {"a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q"};
	atr_redact_config cfg;
	atr_redactor *r = (atr_redactor *)1;

	(void)state;
	cfg = (atr_redact_config){.patterns = bad_kind, .npatterns = 1};
	assert_int_equal(atr_redactor_new(&r, &cfg), ATR_EINVALID);
	assert_null(r);
	assert_non_null(strstr(atr_errmsg(), "kind 'Bad-Kind'"));
	cfg = (atr_redact_config){.patterns = bad_re, .npatterns = 1};
	assert_int_equal(atr_redactor_new(&r, &cfg), ATR_EINVALID);
	assert_non_null(strstr(atr_errmsg(), "does not compile"));
	cfg = (atr_redact_config){.fields = bad_field, .nfields = 1};
	assert_int_equal(atr_redactor_new(&r, &cfg), ATR_EINVALID);
	assert_non_null(strstr(atr_errmsg(), "empty key"));
	cfg = (atr_redact_config){.fields = long_field, .nfields = 1};
	assert_int_equal(atr_redactor_new(&r, &cfg), ATR_EINVALID);
	cfg = (atr_redact_config){.salt_len = 4};
	assert_int_equal(atr_redactor_new(&r, &cfg), ATR_EINVALID);
	cfg = (atr_redact_config){.disable = 1u << 20};
	assert_int_equal(atr_redactor_new(&r, &cfg), ATR_EINVALID);
	cfg = (atr_redact_config){.npatterns = 65, .patterns = bad_re};
	assert_int_equal(atr_redactor_new(&r, &cfg), ATR_EINVALID);
	assert_null(r);
}

/* ------------------------------------------------------------ bad JSON, depth */

static void test_bad_json(void **state)
{
	static const struct {
		const char *text;
		size_t at;
	} bad[] = {
	    {"", 0},      {"{\"a\":}", 5},   {"[1,]", 3},      {"\"abc", 4},    {"{\"a\" 1}", 5},
	    {"tru", 0},   {"01", 1},         {"\"\\x\"", 1},   {"\"a\nb\"", 2}, {"{} x", 3},
	    {"[1 2]", 3}, {"{\"a\":1,}", 7}, {"\"\\u12\"", 1}, {"-", 1},        {"1.", 2},
	    {"{1:2}", 1}, {"[", 1},          {"\"\\", 2},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = strlen(bad[i].text), outlen = 7, n = 7;
		char *copy = exact(bad[i].text, len), *out = (char *)1, want[40];

		assert_int_equal(atr_redact_json(*state, copy, len, &out, &outlen, &n),
		                 ATR_EINVALID);
		assert_null(out);
		snprintf(want, sizeof(want), "at byte %zu:", bad[i].at);
		if (!strstr(atr_errmsg(), want))
			fail_msg("'%s': %s (wanted '%s')", bad[i].text, atr_errmsg(), want);
		free(copy);
	}
}

static void test_deep_nesting(void **state)
{
	size_t depth = 45000, k = 0, n, outlen;
	char *doc = malloc(8 * depth + 100), *out;

	/* {"a":[{"a":[ … "secret" … ]}]}: no recursion, so depth costs heap only. */
	for (size_t i = 0; i < depth; i++) {
		memcpy(doc + k, "{\"a\":[", 6);
		k += 6;
	}
	memcpy(doc + k,
	       "\"AK"
	       "IA7UVXLELQYGNB5PN3\"",
	       22);
	k += 22;
	for (size_t i = 0; i < depth; i++) {
		memcpy(doc + k, "]}", 2);
		k += 2;
	}
	assert_int_equal(atr_redact_json(*state, doc, k, &out, &outlen, &n), 0);
	assert_int_equal(n, 1);
	atr_free(out);
	/* Past 100,000 levels it is refused, not a crash. */
	free(doc);
	k = 100001;
	doc = malloc(k);
	memset(doc, '[', k);
	assert_int_equal(atr_redact_json(*state, doc, k, &out, &outlen, &n), ATR_ETOOBIG);
	assert_null(out);
	free(doc);
}

/* ------------------------------------------------------------ speed (printed, not asserted) */

static double seconds(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void test_speed(void **state)
{
	static const char unit[] =
	    "make[2]: Building C object src/lib/redact.c.o; sha256 "
	    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 "
	    "ok https://example.org/a?b=c task-sk-12 \\n";
	size_t len = 1 << 20, k = 1, n, outlen;
	char *doc = malloc(len + sizeof(unit) + 2), *out;
	double best = 1e9;

	doc[0] = '"';
	while (k + sizeof(unit) < len) {
		memcpy(doc + k, unit, sizeof(unit) - 1);
		k += sizeof(unit) - 1;
	}
	doc[k++] = '"';
	for (int i = 0; i < 5; i++) {
		double t0 = seconds();

		assert_int_equal(atr_redact_json(*state, doc, k, &out, &outlen, &n), 0);
		if (seconds() - t0 < best)
			best = seconds() - t0;
		assert_int_equal(n, 0);
		atr_free(out);
	}
	print_message("one %zu-byte string: %.2f ms (%.0f MB/s)\n", k, best * 1e3,
	              (double)k / best / 1e6);
	free(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_each_detector, setup, teardown),
	    cmocka_unit_test(test_marker_format),
	    cmocka_unit_test_setup_teardown(test_counts_and_untouched, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_escapes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_private_key_cut, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_near_misses, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_corpus, setup, teardown),
	    cmocka_unit_test(test_patterns),
	    cmocka_unit_test(test_fields),
	    cmocka_unit_test(test_disable),
	    cmocka_unit_test(test_config_errors),
	    cmocka_unit_test_setup_teardown(test_bad_json, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deep_nesting, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_speed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
