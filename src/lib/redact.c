/*
 * Secret masking (include/agentrail/redact.h): hand-written scanners for
 * the built-in detectors (one pass over each string, no regex), regcomp()
 * patterns and field paths for what callers add, and an iterative JSON walk
 * that rewrites only the insides of string tokens, so a document stays valid
 * JSON and deep nesting costs heap, not C stack.
 */
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <agentrail/redact.h>

#include "internal.h"
#include "redactpriv.h"

#define MAX_PATTERNS 64
#define MAX_FIELDS   64
#define MAX_SEGS     16
#define MAX_KIND     32
#define MAX_SALT     1024
#define RANDOM_SALT  32
#define MAX_DEPTH    100000 /* nesting of a document (a 10,000-event trail nests 20,000) */

/*
 * Caps on how far one detector reads from one trigger. A run of a token's
 * characters longer than its cap is not that token; the caps and the rule
 * that a token starts where its own characters start (the byte before is
 * not one of them) keep the scan linear whatever the input.
 */
#define CAP_KEY    512   /* API keys, tokens with a prefix */
#define CAP_BEARER 16384 /* bearer tokens (JWTs can be long) */
#define CAP_JWTSEG 16384 /* one JWT segment */
#define CAP_LABEL  64    /* the identifier before '=' or ':' */

/* ------------------------------------------------------------ the redactor */

static const char *const kind_names[] = {
    "aws_access_key", "aws_secret_key",
    "openai_key",     "anthropic_key",
    "github_token",   "gitlab_token",
    "slack_token",    "stripe_key",
    "google_api_key", "agentrail_token",
    "bearer_token",   "private_key",
    "url_password",   "jwt",
};

const char *atr_redact_kind(unsigned detector)
{
	for (unsigned i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++)
		if (detector == 1u << i)
			return kind_names[i];
	return NULL;
}

#define KIND(bit) kind_names[__builtin_ctz(bit)]

struct pattern {
	char kind[MAX_KIND + 1];
	regex_t re;
	int group; /* the regex has a group: mask group 1 only */
};

struct seg {
	const char *key; /* into the field's 'text' */
	size_t len;
	int star;
};

struct field {
	char *text; /* a copy of the path, its dots replaced by NULs */
	struct seg seg[MAX_SEGS];
	size_t nseg;
};

struct atr_redactor {
	unsigned on; /* ATR_REDACT_* detectors that run */
	uint8_t *salt;
	size_t salt_len;
	struct pattern *pats;
	size_t npats;
	struct field *fields;
	size_t nfields;
};

void atr_redactor_free(atr_redactor *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->npats; i++)
		regfree(&r->pats[i].re);
	for (size_t i = 0; i < r->nfields; i++)
		free(r->fields[i].text);
	free(r->pats);
	free(r->fields);
	free(r->salt);
	free(r);
}

static int valid_kind(const char *k)
{
	size_t n = k ? strlen(k) : 0;

	if (n == 0 || n > MAX_KIND)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '_'))
			return 0;
	return 1;
}

static int add_pattern(atr_redactor *r, size_t i, const atr_redact_pattern *p)
{
	struct pattern *dst = &r->pats[r->npats];
	int rc;

	if (!valid_kind(p->kind))
		return atr__err(ATR_EINVALID,
		                "pattern %zu: kind '%.40s' must be 1 to %d of [a-z0-9_]", i,
		                p->kind ? p->kind : "", MAX_KIND);
	if (!p->regex)
		return atr__err(ATR_EINVALID, "pattern %zu ('%s') has no regex", i, p->kind);
	rc = regcomp(&dst->re, p->regex, REG_EXTENDED);
	if (rc != 0) {
		char why[160];

		regerror(rc, &dst->re, why, sizeof(why));
		regfree(&dst->re);
		return atr__err(ATR_EINVALID,
		                "pattern %zu ('%s'): regex '%.100s' does not compile: %s", i,
		                p->kind, p->regex, why);
	}
	memcpy(dst->kind, p->kind, strlen(p->kind) + 1);
	dst->group = dst->re.re_nsub > 0;
	r->npats++;
	return 0;
}

static int add_field(atr_redactor *r, const char *path)
{
	struct field *f = &r->fields[r->nfields];
	size_t n = path ? strlen(path) : 0;
	char *s;

	if (n == 0 || n > 1024)
		return atr__err(ATR_EINVALID, "field path '%.100s' must be 1 to 1024 bytes",
		                path ? path : "");
	if (!(f->text = malloc(n + 1)))
		return atr__err(ATR_ENOMEM, "out of memory");
	memcpy(f->text, path, n + 1);
	f->nseg = 0;
	r->nfields++; /* owned from here: freed with the redactor */
	for (s = f->text;;) {
		char *dot = strchr(s, '.');
		size_t len = dot ? (size_t)(dot - s) : strlen(s);

		if (len == 0)
			return atr__err(ATR_EINVALID, "field path '%.100s' has an empty key", path);
		if (f->nseg == MAX_SEGS)
			return atr__err(ATR_EINVALID, "field path '%.100s' has more than %d keys",
			                path, MAX_SEGS);
		f->seg[f->nseg].key = s;
		f->seg[f->nseg].len = len;
		f->seg[f->nseg].star = len == 1 && s[0] == '*';
		f->nseg++;
		if (!dot)
			break;
		*dot = '\0';
		s = dot + 1;
	}
	return 0;
}

int atr_redactor_new(atr_redactor **out, const atr_redact_config *cfg)
{
	static const atr_redact_config none = {0};
	atr_redactor *r;
	int rc;

	*out = NULL;
	if (!cfg)
		cfg = &none;
	if (cfg->disable & ~(unsigned)ATR_REDACT_ALL)
		return atr__err(ATR_EINVALID, "unknown detector bits 0x%x in 'disable'",
		                cfg->disable & ~(unsigned)ATR_REDACT_ALL);
	if (cfg->npatterns > MAX_PATTERNS || (cfg->npatterns && !cfg->patterns))
		return atr__err(ATR_EINVALID, "at most %d patterns, and 'patterns' set for them",
		                MAX_PATTERNS);
	if (cfg->nfields > MAX_FIELDS || (cfg->nfields && !cfg->fields))
		return atr__err(ATR_EINVALID, "at most %d field paths, and 'fields' set for them",
		                MAX_FIELDS);
	if ((!cfg->salt && cfg->salt_len) || cfg->salt_len > MAX_SALT)
		return atr__err(ATR_EINVALID,
		                "the salt must be at most %d bytes, and set when "
		                "'salt_len' is",
		                MAX_SALT);
	if (!(r = calloc(1, sizeof(*r))))
		return atr__err(ATR_ENOMEM, "out of memory");
	r->on = ATR_REDACT_ALL & ~cfg->disable;
	r->salt_len = cfg->salt ? cfg->salt_len : RANDOM_SALT;
	r->salt = malloc(r->salt_len ? r->salt_len : 1);
	r->pats = calloc(cfg->npatterns ? cfg->npatterns : 1, sizeof(*r->pats));
	r->fields = calloc(cfg->nfields ? cfg->nfields : 1, sizeof(*r->fields));
	if (!r->salt || !r->pats || !r->fields) {
		rc = atr__err(ATR_ENOMEM, "out of memory");
		goto fail;
	}
	if (cfg->salt)
		memcpy(r->salt, cfg->salt, r->salt_len);
	else if ((rc = atr__random(r->salt, r->salt_len)) != 0)
		goto fail;
	for (size_t i = 0; i < cfg->npatterns; i++)
		if ((rc = add_pattern(r, i, &cfg->patterns[i])) != 0)
			goto fail;
	for (size_t i = 0; i < cfg->nfields; i++)
		if ((rc = add_field(r, cfg->fields[i])) != 0)
			goto fail;
	*out = r;
	return 0;
fail:
	atr_redactor_free(r);
	return rc;
}

/* ------------------------------------------------------------ characters */

static inline int is_digit(unsigned c)
{
	return c - '0' < 10;
}

static inline int is_upper(unsigned c)
{
	return c - 'A' < 26;
}

static inline int is_lower(unsigned c)
{
	return c - 'a' < 26;
}

static inline int is_alnum(unsigned c)
{
	return is_digit(c) || is_upper(c) || is_lower(c);
}

/* Character sets of tokens, as bit masks for run() and in_set(). */
enum {
	C_ALNUM = 1,  /* A-Z a-z 0-9 */
	C_DASH = 2,   /* - */
	C_UNDER = 4,  /* _ */
	C_DOT = 8,    /* . */
	C_PLUS = 16,  /* + and / */
	C_TILDE = 32, /* ~ */
	C_UPDIG = 64  /* A-Z 0-9 only */
};
#define C_B64URL (C_ALNUM | C_DASH | C_UNDER)
#define C_WORD   (C_ALNUM | C_UNDER)

static inline int in_set(unsigned c, unsigned set)
{
	if (is_alnum(c))
		return (set & C_ALNUM) || ((set & C_UPDIG) && !is_lower(c));
	switch (c) {
	case '-':
		return (set & C_DASH) != 0;
	case '_':
		return (set & C_UNDER) != 0;
	case '.':
		return (set & C_DOT) != 0;
	case '+':
	case '/':
		return (set & C_PLUS) != 0;
	case '~':
		return (set & C_TILDE) != 0;
	default:
		return 0;
	}
}

/* The end of the run of 'set' characters from s[i], reading at most cap + 1 of them. */
static size_t run(const uint8_t *s, size_t n, size_t i, unsigned set, size_t cap)
{
	size_t lim = n - i > cap ? i + cap + 1 : n;

	while (i < lim && in_set(s[i], set))
		i++;
	return i;
}

/* A token of 'set' may start at s[i]: the byte before is not one of its characters. */
static inline int starts(const uint8_t *s, size_t i, unsigned set)
{
	return i == 0 || !in_set(s[i - 1], set);
}

/* How many of the classes digit, upper case, lower case occur in s[a, b). */
static int classes(const uint8_t *s, size_t a, size_t b)
{
	int d = 0, u = 0, l = 0;

	for (size_t i = a; i < b && d + u + l < 3; i++) {
		d |= is_digit(s[i]);
		u |= is_upper(s[i]);
		l |= is_lower(s[i]);
	}
	return d + u + l;
}

static inline int has_digit(const uint8_t *s, size_t a, size_t b)
{
	for (size_t i = a; i < b; i++)
		if (is_digit(s[i]))
			return 1;
	return 0;
}

static inline int at(const uint8_t *s, size_t n, size_t i, const char *lit)
{
	size_t k = strlen(lit);

	return n - i >= k && memcmp(s + i, lit, k) == 0;
}

/* ------------------------------------------------------------ detectors */

/*
 * Each detector looks at s[i] (a trigger byte it cares about) and, on a
 * find, sets the span to mask [*ms, *me) and answers its detector bit. They
 * read only a bounded distance from 'i' (see the caps above), except the
 * private key block, whose end the scan then resumes from.
 */

/* AKIA / ASIA and 16 of [A-Z0-9]: an AWS access key id. */
static unsigned aws_key_id(const uint8_t *s, size_t n, size_t i, size_t *ms, size_t *me)
{
	size_t e;

	if (!(at(s, n, i, "AKIA") || at(s, n, i, "ASIA")) || !starts(s, i, C_WORD))
		return 0;
	e = run(s, n, i + 4, C_UPDIG, 16);
	if (e - i != 20 || (e < n && in_set(s[e], C_WORD)))
		return 0;
	*ms = i, *me = e;
	return ATR_REDACT_AWS_ACCESS_KEY;
}

/* AIza and 35 of [A-Za-z0-9_-]: a Google API key. */
static unsigned google_key(const uint8_t *s, size_t n, size_t i, size_t *ms, size_t *me)
{
	size_t e;

	if (!at(s, n, i, "AIza") || !starts(s, i, C_B64URL))
		return 0;
	e = run(s, n, i + 4, C_B64URL, 35);
	if (e - i != 39)
		return 0;
	*ms = i, *me = e;
	return ATR_REDACT_GOOGLE_API_KEY;
}

/* atr_ and 64 lower-case hex digits: an agentrail bearer token. */
static unsigned agentrail_token(const uint8_t *s, size_t n, size_t i, size_t *ms, size_t *me)
{
	size_t k;

	if (!at(s, n, i, "atr_") || !starts(s, i, C_WORD) || n - i < 68)
		return 0;
	for (k = i + 4; k < i + 68; k++)
		if (!(is_digit(s[k]) || (s[k] >= 'a' && s[k] <= 'f')))
			return 0;
	if (k < n && in_set(s[k], C_WORD))
		return 0;
	*ms = i, *me = k;
	return ATR_REDACT_AGENTRAIL_TOKEN;
}

/*
 * sk-ant-…, sk-… (OpenAI: legacy, sk-proj-, sk-svcacct-, …), sk_live_ /
 * rk_live_ (Stripe). Keys are long and random: prose and slugs such as
 * "sk-learn" or "task-sk-2024-notes" are short or lack a character class.
 */
static unsigned sk_key(const uint8_t *s, size_t n, size_t i, unsigned on, size_t *ms, size_t *me)
{
	size_t b, e;

	if (at(s, n, i, "sk_live_") || at(s, n, i, "rk_live_")) {
		if (!(on & ATR_REDACT_STRIPE_KEY) || !starts(s, i, C_WORD))
			return 0;
		b = i + 8;
		e = run(s, n, b, C_ALNUM, CAP_KEY);
		if (e - b < 20 || e - b > CAP_KEY || (e < n && s[e] == '_') || classes(s, b, e) < 2)
			return 0;
		*ms = i, *me = e;
		return ATR_REDACT_STRIPE_KEY;
	}
	if (s[i] != 's' || !at(s, n, i, "sk-") || !starts(s, i, C_B64URL))
		return 0;
	b = i + 3;
	e = run(s, n, b, C_B64URL, CAP_KEY);
	if (e - b > CAP_KEY)
		return 0;
	if (at(s, n, b, "ant-")) {
		if (!(on & ATR_REDACT_ANTHROPIC_KEY) || e - (b + 4) < 32 ||
		    classes(s, b + 4, e) < 3)
			return 0;
		*ms = i, *me = e;
		return ATR_REDACT_ANTHROPIC_KEY;
	}
	if (!(on & ATR_REDACT_OPENAI_KEY) || e - b < 32 || classes(s, b, e) < 3)
		return 0;
	*ms = i, *me = e;
	return ATR_REDACT_OPENAI_KEY;
}

/* ghp_ gho_ ghu_ ghs_ ghr_ (GitHub), github_pat_ (fine-grained), glpat- (GitLab). */
static unsigned g_token(const uint8_t *s, size_t n, size_t i, unsigned on, size_t *ms, size_t *me)
{
	size_t b, e;

	if (!starts(s, i, C_B64URL))
		return 0;
	if ((on & ATR_REDACT_GITHUB_TOKEN) && n - i >= 4 && s[i + 1] == 'h' && s[i + 3] == '_' &&
	    s[i + 2] && strchr("pousr", s[i + 2])) {
		b = i + 4;
		e = run(s, n, b, C_ALNUM, 255);
		if (e - b < 36 || e - b > 255 || (e < n && in_set(s[e], C_B64URL)) ||
		    classes(s, b, e) < 2)
			return 0;
		*ms = i, *me = e;
		return ATR_REDACT_GITHUB_TOKEN;
	}
	if ((on & ATR_REDACT_GITHUB_TOKEN) && at(s, n, i, "github_pat_")) {
		b = i + 11;
		e = run(s, n, b, C_WORD, 255);
		if (e - b < 40 || e - b > 255 || (e < n && s[e] == '-') || classes(s, b, e) < 2)
			return 0;
		*ms = i, *me = e;
		return ATR_REDACT_GITHUB_TOKEN;
	}
	if ((on & ATR_REDACT_GITLAB_TOKEN) && at(s, n, i, "glpat-")) {
		b = i + 6;
		e = run(s, n, b, C_B64URL, 255);
		if (e - b < 20 || e - b > 255 || classes(s, b, e) < 2)
			return 0;
		*ms = i, *me = e;
		return ATR_REDACT_GITLAB_TOKEN;
	}
	return 0;
}

/* xoxa- xoxb- xoxp- xoxr- xoxs- and digits, letters, dashes: a Slack token. */
static unsigned slack_token(const uint8_t *s, size_t n, size_t i, size_t *ms, size_t *me)
{
	size_t b, e;

	if (!at(s, n, i, "xox") || n - i < 5 || !s[i + 3] || !strchr("abprs", s[i + 3]) ||
	    s[i + 4] != '-' || !starts(s, i, C_B64URL))
		return 0;
	b = i + 5;
	e = run(s, n, b, C_ALNUM | C_DASH, CAP_KEY);
	if (e - b < 20 || e - b > CAP_KEY || (e < n && s[e] == '_') || !has_digit(s, b, e))
		return 0;
	*ms = i, *me = e;
	return ATR_REDACT_SLACK_TOKEN;
}

/* eyJ….eyJ….sig: a signed JWT (header and payload are base64url JSON objects). */
static unsigned jwt(const uint8_t *s, size_t n, size_t i, size_t *ms, size_t *me)
{
	size_t a, b, c;

	if (!at(s, n, i, "eyJ") || !starts(s, i, C_B64URL))
		return 0;
	a = run(s, n, i, C_B64URL, CAP_JWTSEG);
	if (a - i < 10 || a - i > CAP_JWTSEG || !at(s, n, a, ".eyJ"))
		return 0;
	b = run(s, n, a + 1, C_B64URL, CAP_JWTSEG);
	if (b - (a + 1) < 10 || b - (a + 1) > CAP_JWTSEG || b >= n || s[b] != '.')
		return 0;
	c = run(s, n, b + 1, C_B64URL, CAP_JWTSEG);
	if (c - (b + 1) < 16 || c - (b + 1) > CAP_JWTSEG)
		return 0;
	*ms = i, *me = c;
	return ATR_REDACT_JWT;
}

/* "Bearer <token>" in any case: the token (RFC 6750 b64token), not the word. */
static unsigned bearer(const uint8_t *s, size_t n, size_t i, size_t *ms, size_t *me)
{
	static const char word[] = "bearer";
	size_t k, b, e;

	if (n - i < 8 || !starts(s, i, C_WORD))
		return 0;
	for (k = 0; k < 6; k++)
		if ((s[i + k] | 0x20) != (unsigned char)word[k])
			return 0;
	b = i + 6;
	while (b < n && b - i < 6 + 8 && (s[b] == ' ' || s[b] == '\t'))
		b++;
	if (b == i + 6)
		return 0;
	e = run(s, n, b, C_B64URL | C_DOT | C_PLUS | C_TILDE, CAP_BEARER);
	if (e - b < 16 || e - b > CAP_BEARER || classes(s, b, e) < 2)
		return 0;
	while (e < n && s[e] == '=' && e - b < CAP_BEARER + 2)
		e++;
	if (e < n && is_alnum(s[e]))
		return 0; /* "=" inside: a key=value list ("Bearer realm=..."), not a token */
	*ms = b, *me = e;
	return ATR_REDACT_BEARER_TOKEN;
}

/* Is the block label in s[a, b) one of a private key ("RSA PRIVATE KEY", "PRIVATE KEY", ...)? */
static int private_label(const uint8_t *s, size_t a, size_t b)
{
	for (size_t i = a; i < b; i++)
		if (!(is_upper(s[i]) || is_digit(s[i]) || s[i] == ' '))
			return 0;
	for (size_t i = a; i + 11 <= b; i++)
		if (memcmp(s + i, "PRIVATE KEY", 11) == 0)
			return 1;
	return 0;
}

/*
 * Forward searches of the private key detector, remembered: the first
 * "-----END " and the first run of 40 base64 characters (key material: PEM
 * lines hold 64) at or after 'from' are at 'end' and 'mat' (n: none). No
 * match starts in [from, end), so a later search from inside that range
 * has the same answer: however many BEGIN lines there are, each byte is
 * searched once.
 */
struct pk_cache {
	size_t end_from, end, mat_from, mat;
};

static size_t first_end(const uint8_t *s, size_t n, size_t b, struct pk_cache *c)
{
	const uint8_t *e;

	if (b >= c->end_from && b <= c->end)
		return c->end;
	e = memmem(s + b, n - b, "-----END ", 9);
	c->end_from = b;
	c->end = e ? (size_t)(e - s) : n;
	return c->end;
}

static size_t first_material(const uint8_t *s, size_t n, size_t b, struct pk_cache *c)
{
	size_t runlen = 0, i;

	if (b >= c->mat_from && b <= c->mat)
		return c->mat;
	for (i = b; i < n; i++) {
		if (!in_set(s[i], C_ALNUM | C_PLUS))
			runlen = 0;
		else if (++runlen == 40)
			break;
	}
	c->mat_from = b;
	c->mat = i < n ? i - 39 : n;
	return c->mat;
}

/*
 * -----BEGIN <label> PRIVATE KEY----- through the matching END line; a
 * block whose END is missing (cut-off output) is masked to the end of the
 * text, since its key material is there all the same.
 */
static unsigned private_key(const uint8_t *s, size_t n, size_t i, struct pk_cache *c, size_t *ms,
                            size_t *me)
{
	size_t a = i + 11, b, end;

	if (!at(s, n, i, "-----BEGIN "))
		return 0;
	for (b = a; b < n && b - a <= 40 && s[b] != '-'; b++)
		;
	if (!at(s, n, b, "-----") || !private_label(s, a, b))
		return 0;
	b += 5;
	end = first_end(s, n, b, c);
	if (first_material(s, n, b, c) >= end)
		return 0; /* no key between the markers: code or docs naming them */
	*ms = i;
	if (end == n) {
		*me = n;
	} else {
		size_t e = end + 9, lim = e + 48 < n ? e + 48 : n;

		while (e < lim && s[e] != '-' && s[e] != '\n')
			e++;
		if (at(s, n, e, "-----"))
			e += 5;
		*me = e;
	}
	return ATR_REDACT_PRIVATE_KEY;
}

static inline int url_delim(unsigned c)
{
	return c <= ' ' || c == '/' || c == '?' || c == '#' || c == '"' || c == '\'' || c == '<' ||
	       c == '>' || c == '\\' || c == '`' || c == 0x7f;
}

/*
 * A password that docs and templates write in place of one: "password",
 * "pass", "passwd", "pwd" (any case), only asterisks, or a variable
 * ("$PASS", "${PASS}", "<password>", "{password}", "%s").
 */
static int placeholder(const uint8_t *s, size_t a, size_t b)
{
	static const char *const words[] = {"password", "pass", "passwd", "pwd"};
	size_t k;

	if (s[a] == '$' || s[a] == '<' || s[a] == '{' || s[a] == '%')
		return 1;
	for (k = a; k < b && s[k] == '*'; k++)
		;
	if (k == b)
		return 1;
	for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++)
		if (strlen(words[w]) == b - a &&
		    strncasecmp((const char *)s + a, words[w], b - a) == 0)
			return 1;
	return 0;
}

/*
 * scheme://user:password@host: only the password. The userinfo ends at the
 * last '@' before the path; a password that is already a marker or a
 * placeholder is left alone.
 */
static unsigned url_password(const uint8_t *s, size_t n, size_t i, size_t *ms, size_t *me)
{
	size_t a, k, colon = 0, last_at = 0, e;

	if (!at(s, n, i, "://") || i == 0)
		return 0;
	for (k = i; k > 0 && i - k < 32 &&
	            (is_alnum(s[k - 1]) || s[k - 1] == '+' || s[k - 1] == '.' || s[k - 1] == '-');
	     k--)
		;
	if (k == i || !(is_upper(s[k]) || is_lower(s[k])) || (k > 0 && in_set(s[k - 1], C_WORD)))
		return 0;
	a = i + 3;
	for (e = a; e < n && !url_delim(s[e]); e++) {
		if (s[e] == '@')
			last_at = e;
		else if (s[e] == ':' && !colon)
			colon = e;
	}
	if (!last_at || !colon || colon > last_at || last_at + 1 >= e || colon + 1 == last_at)
		return 0;
	if (at(s, n, colon + 1, "[REDACTED:"))
		return 0;
	if (placeholder(s, colon + 1, last_at))
		return 0;
	/* cvs://:pserver:user@host names a method, not a password. */
	if (colon == a && memchr(s + colon + 1, ':', last_at - colon - 1))
		return 0;
	*ms = colon + 1, *me = last_at;
	return ATR_REDACT_URL_PASSWORD;
}

/*
 * Does the identifier s[a, b) end with one of the labels of an AWS secret
 * key, ignoring case and the separators _ - . ("AWS_SECRET_ACCESS_KEY",
 * "aws_secret_access_key", "SecretAccessKey", "aws_secret_key")?
 */
static int aws_label(const uint8_t *s, size_t a, size_t b)
{
	static const char *const labels[] = {"secretaccesskey", "awssecretkey"};

	for (size_t l = 0; l < 2; l++) {
		const char *lab = labels[l];
		size_t k = strlen(lab), i = b;

		while (k > 0 && i > a) {
			unsigned c = s[--i];

			if (c == '_' || c == '-' || c == '.')
				continue;
			if ((is_upper(c) ? c | 0x20 : c) != (unsigned char)lab[k - 1])
				break;
			k--;
		}
		if (k == 0)
			return 1;
	}
	return 0;
}

/* 40 of [A-Za-z0-9/+] at s[i], not part of a longer run: an AWS secret access key. */
static int aws_secret_value(const uint8_t *s, size_t n, size_t i)
{
	size_t e = run(s, n, i, C_ALNUM | C_PLUS, 40);

	return e - i == 40 && (e == n || (!in_set(s[e], C_ALNUM | C_PLUS) && s[e] != '=')) &&
	       classes(s, i, e) >= 2;
}

/* label = value, label: value (quotes and spaces allowed around): the value. */
static unsigned aws_secret(const uint8_t *s, size_t n, size_t i, size_t *ms, size_t *me)
{
	size_t k = i, e, q = 0;

	while (k > 0 && q < 4 &&
	       (s[k - 1] == ' ' || s[k - 1] == '\t' || s[k - 1] == '"' || s[k - 1] == '\''))
		k--, q++;
	if (k == 0 || (s[k - 1] | 0x20) != 'y') /* every label ends in "key" */
		return 0;
	e = k;
	while (k > 0 && e - k < CAP_LABEL && in_set(s[k - 1], C_WORD | C_DASH | C_DOT))
		k--;
	if (e == k || !aws_label(s, k, e))
		return 0;
	k = i + 1;
	if (k < n && s[i] == '=' && s[k] == '>')
		k++;
	for (q = 0; k < n && q < 8 && (s[k] == ' ' || s[k] == '\t' || s[k] == '"' || s[k] == '\'');
	     q++)
		k++;
	if (!aws_secret_value(s, n, k))
		return 0;
	*ms = k, *me = k + 40;
	return ATR_REDACT_AWS_SECRET_KEY;
}

/* Bytes at which some built-in detector may begin. */
static const unsigned char trigger[256] = {
    ['A'] = 1, ['a'] = 1, ['s'] = 1, ['r'] = 1, ['g'] = 1, ['x'] = 1,
    ['e'] = 1, ['B'] = 1, ['b'] = 1, ['-'] = 1, [':'] = 1, ['='] = 1,
};

/* ------------------------------------------------------------ one job */

struct span {
	size_t s, e;
	const char *kind;
};

struct buf {
	char *data;
	size_t len, cap;
};

struct frame {
	unsigned char obj;    /* an object (else an array) */
	unsigned char masked; /* a field path names it: every string inside is masked */
	size_t arena_base;    /* arena length when it opened */
};

/* The current key of an open object: in the input, or decoded into the arena. */
struct key {
	size_t off, len;
	int in_arena;
};

struct job {
	const atr_redactor *r;
	const char *in;
	size_t len;
	struct buf out;
	size_t copied; /* input bytes before this offset are in 'out' */
	size_t count;
	struct span *spans;
	size_t nspans, spancap;
	struct buf dec; /* the decoded text of a string with escapes */
	uint32_t
	    *map; /* for each decoded byte, the offset of the raw byte or escape it came from */
	size_t mapcap;
	struct frame *frames;
	size_t depth, framecap;
	struct key *keys;
	size_t nkeys, keycap;
	struct buf arena; /* keys with escapes, decoded */
	struct buf text;  /* a string for the patterns, NUL-terminated */
};

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t c = *cap ? *cap : 16;
	void *np;

	if (need <= *cap)
		return 0;
	while (c < need) {
		if (c > SIZE_MAX / 2 / size)
			return atr__err(ATR_ENOMEM, "out of memory");
		c *= 2;
	}
	if (!(np = realloc(*p, c * size)))
		return atr__err(ATR_ENOMEM, "out of memory");
	*p = np;
	*cap = c;
	return 0;
}

static int buf_add(struct buf *b, const void *p, size_t n)
{
	int rc;

	if (n > SIZE_MAX - b->len - 1)
		return atr__err(ATR_ENOMEM, "out of memory");
	if ((rc = grow((void **)&b->data, &b->cap, b->len + n + 1, 1)) != 0)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

static int add_span(struct job *j, size_t s, size_t e, const char *kind)
{
	int rc;

	if (j->nspans == j->spancap &&
	    (rc = grow((void **)&j->spans, &j->spancap, j->nspans + 1, sizeof(*j->spans))) != 0)
		return rc;
	j->spans[j->nspans].s = s;
	j->spans[j->nspans].e = e;
	j->spans[j->nspans].kind = kind;
	j->nspans++;
	return 0;
}

/* Run the built-in detectors over s[0, n), adding a span for each find. */
static int builtins(struct job *j, const uint8_t *s, size_t n)
{
	unsigned on = j->r->on;
	size_t i = 0, ms, me;
	struct pk_cache pk = {1, 0, 1, 0}; /* nothing searched yet */
	int rc;

	while (i < n) {
		unsigned c = s[i], c1, hit = 0;

		if (!trigger[c]) {
			i++;
			continue;
		}
		/* Every detector that starts at a letter wants a word start. */
		if (c != '-' && c != ':' && c != '=' && i > 0 && is_alnum(s[i - 1])) {
			i++;
			continue;
		}
		/* The second byte rules most triggers out before any call. */
		c1 = i + 1 < n ? s[i + 1] : 0;
		switch (c) {
		case 'A':
			if ((c1 == 'K' || c1 == 'S') && (on & ATR_REDACT_AWS_ACCESS_KEY))
				hit = aws_key_id(s, n, i, &ms, &me);
			else if (c1 == 'I' && (on & ATR_REDACT_GOOGLE_API_KEY))
				hit = google_key(s, n, i, &ms, &me);
			break;
		case 'a':
			if (c1 == 't' && (on & ATR_REDACT_AGENTRAIL_TOKEN))
				hit = agentrail_token(s, n, i, &ms, &me);
			break;
		case 's':
		case 'r':
			if (c1 == 'k' && (on & (ATR_REDACT_OPENAI_KEY | ATR_REDACT_ANTHROPIC_KEY |
			                        ATR_REDACT_STRIPE_KEY)))
				hit = sk_key(s, n, i, on, &ms, &me);
			break;
		case 'g':
			if (c1 == 'h' || c1 == 'i' || c1 == 'l')
				hit = g_token(s, n, i, on, &ms, &me);
			break;
		case 'x':
			if (c1 == 'o' && (on & ATR_REDACT_SLACK_TOKEN))
				hit = slack_token(s, n, i, &ms, &me);
			break;
		case 'e':
			if (c1 == 'y' && (on & ATR_REDACT_JWT))
				hit = jwt(s, n, i, &ms, &me);
			break;
		case 'B':
		case 'b':
			if ((c1 | 0x20) == 'e' && (on & ATR_REDACT_BEARER_TOKEN))
				hit = bearer(s, n, i, &ms, &me);
			break;
		case '-':
			if (c1 == '-' && (on & ATR_REDACT_PRIVATE_KEY))
				hit = private_key(s, n, i, &pk, &ms, &me);
			break;
		case ':':
			if (c1 == '/' && (on & ATR_REDACT_URL_PASSWORD))
				hit = url_password(s, n, i, &ms, &me);
			if (!hit && (on & ATR_REDACT_AWS_SECRET_KEY))
				hit = aws_secret(s, n, i, &ms, &me); /* "label: value" */
			break;
		case '=':
			if (on & ATR_REDACT_AWS_SECRET_KEY)
				hit = aws_secret(s, n, i, &ms, &me);
			break;
		}
		if (!hit) {
			i++;
			continue;
		}
		if ((rc = add_span(j, ms, me, KIND(hit))) != 0)
			return rc;
		i = me > i ? me : i + 1;
	}
	return 0;
}

/* Add the matches of every extra pattern in s[0, n). */
static int patterns(struct job *j, const uint8_t *s, size_t n)
{
	int rc;

	if (!j->r->npats)
		return 0;
	if (n > 0x7fffffff) /* regoff_t is an int */
		return atr__err(ATR_ETOOBIG, "a string of %zu bytes is too long for the patterns",
		                n);
	/*
	 * REG_STARTEND bounds the search, but sanitizers' regexec wrappers
	 * still run strlen() over the text: give it a terminated copy.
	 */
	j->text.len = 0;
	if ((rc = buf_add(&j->text, s, n)) != 0)
		return rc;
	j->text.data[n] = '\0';
	s = (const uint8_t *)j->text.data;
	for (size_t p = 0; p < j->r->npats; p++) {
		const struct pattern *pat = &j->r->pats[p];
		size_t off = 0;

		while (off <= n) {
			regmatch_t m[2];
			size_t so, eo;

			m[0].rm_so = (regoff_t)off;
			m[0].rm_eo = (regoff_t)n;
			if (regexec(&pat->re, (const char *)s, 2, m, REG_STARTEND) != 0)
				break;
			so = (size_t)m[0].rm_so;
			eo = (size_t)m[0].rm_eo;
			if (pat->group && m[1].rm_so >= 0) {
				if (m[1].rm_eo > m[1].rm_so &&
				    (rc = add_span(j, (size_t)m[1].rm_so, (size_t)m[1].rm_eo,
				                   pat->kind)) != 0)
					return rc;
			} else if (eo > so && (rc = add_span(j, so, eo, pat->kind)) != 0) {
				return rc;
			}
			off = eo > off ? eo : off + 1;
		}
	}
	return 0;
}

static int span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	if (x->s != y->s)
		return x->s < y->s ? -1 : 1;
	return x->e > y->e ? -1 : x->e < y->e;
}

/*
 * Write the input up to the string s[0, n) with its spans masked. The
 * string's raw text (escapes unresolved) is in[base, base + rawlen); 'map'
 * (NULL when it has no escapes) leads from decoded to raw offsets. Spans
 * are first widened to whole characters and whole escapes, then sorted
 * and merged, so no marker splits a character or an escape.
 */
static int emit(struct job *j, size_t base, size_t rawlen, const uint8_t *s, size_t n,
                const uint32_t *map)
{
	struct span *sp = j->spans;
	size_t m = 0;
	int rc;

	for (size_t i = 0; i < j->nspans; i++) {
		for (int k = 0; k < 3 && sp[i].s > 0 && (s[sp[i].s] & 0xc0) == 0x80; k++)
			sp[i].s--;
		for (int k = 0; k < 3 && sp[i].e < n && (s[sp[i].e] & 0xc0) == 0x80; k++)
			sp[i].e++;
		if (map) {
			while (sp[i].s > 0 && map[sp[i].s - 1] == map[sp[i].s])
				sp[i].s--;
			while (sp[i].e < n && map[sp[i].e] == map[sp[i].e - 1])
				sp[i].e++;
		}
	}
	/* A lazy job's output starts at its first find: about as long as the input. */
	if (!j->out.cap && (rc = grow((void **)&j->out.data, &j->out.cap, j->len + 256, 1)) != 0)
		return rc;
	if (j->nspans > 1)
		qsort(sp, j->nspans, sizeof(*sp), span_cmp);
	for (size_t i = 0; i < j->nspans; i++) {
		if (m && sp[i].s < sp[m - 1].e) {
			if (sp[i].e > sp[m - 1].e)
				sp[m - 1].e = sp[i].e;
			continue;
		}
		sp[m++] = sp[i];
	}
	for (size_t i = 0; i < m; i++) {
		size_t rs = map ? map[sp[i].s] : sp[i].s;
		size_t re = sp[i].e == n ? rawlen : map ? map[sp[i].e] : sp[i].e;
		size_t klen = strlen(sp[i].kind);
		char marker[MAX_KIND + 32];
		uint8_t h[32];

		/* "[REDACTED:" kind ":" 8 hex "]" */
		atr__sha256(h, j->r->salt, j->r->salt_len, s + sp[i].s, sp[i].e - sp[i].s, NULL, 0);
		memcpy(marker, "[REDACTED:", 10);
		memcpy(marker + 10, sp[i].kind, klen);
		marker[10 + klen] = ':';
		atr__hex(marker + 11 + klen, h, 4);
		marker[19 + klen] = ']';
		if ((rc = buf_add(&j->out, j->in + j->copied, base + rs - j->copied)) != 0 ||
		    (rc = buf_add(&j->out, marker, 20 + klen)) != 0)
			return rc;
		j->copied = base + re;
		j->count++;
	}
	return 0;
}

/* ------------------------------------------------------------ JSON */

static int bad(const struct job *j, size_t off, const char *what)
{
	return atr__err(ATR_EINVALID, "not JSON at byte %zu: %s", off, what);
}

static inline size_t ws(const char *p, size_t n, size_t i)
{
	while (i < n && (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t'))
		i++;
	return i;
}

#define ONES 0x0101010101010101ull
#define HIGH 0x8080808080808080ull

/* Has the word a byte below 'c' (at most 0x80)? A byte equal to 'b'? */
static inline uint64_t has_below(uint64_t w, unsigned c)
{
	return (w - ONES * c) & ~w & HIGH;
}

static inline uint64_t has_byte(uint64_t w, unsigned b)
{
	return has_below(w ^ (ONES * b), 1);
}

static inline int hexval(unsigned c)
{
	if (is_digit(c))
		return (int)(c - '0');
	c |= 0x20;
	return c - 'a' < 6 ? (int)(c - 'a' + 10) : -1;
}

static unsigned hex4(const char *p)
{
	unsigned v = 0;

	for (int k = 0; k < 4; k++)
		v = v << 4 | (unsigned)hexval((unsigned char)p[k]);
	return v;
}

static int hex4_ok(const char *p)
{
	for (int k = 0; k < 4; k++)
		if (hexval((unsigned char)p[k]) < 0)
			return 0;
	return 1;
}

/*
 * The body of the string whose opening quote is at in[i]: '*end' is the
 * offset of the closing quote, '*esc' set when the body has escapes.
 */
static int string_end(const struct job *j, size_t i, size_t *end, int *esc)
{
	const unsigned char *p = (const unsigned char *)j->in;
	size_t n = j->len;

	*esc = 0;
	for (i++; i < n;) {
		unsigned c;

		/*
		 * Eight bytes at a time to the next quote, backslash or control
		 * byte. The lowest bit of the mask marks the first of them exactly
		 * (borrows only spill upwards), so on little-endian machines the
		 * scan jumps right to it.
		 */
		while (n - i >= 8) {
			uint64_t w, hit;

			memcpy(&w, p + i, 8);
			hit = has_below(w, 0x20) | has_byte(w, '"') | has_byte(w, '\\');
			if (hit) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
				i += (size_t)__builtin_ctzll(hit) / 8;
#endif
				break;
			}
			i += 8;
		}
		if (i >= n)
			break;
		c = p[i];

		if (c == '"') {
			*end = i;
			return 0;
		}
		if (c < 0x20)
			return bad(j, i, "a control character in a string");
		if (c != '\\') {
			i++;
			continue;
		}
		*esc = 1;
		if (i + 1 >= n)
			break;
		c = p[i + 1];
		if (c == 'u') {
			if (n - i < 6 || !hex4_ok(j->in + i + 2))
				return bad(j, i, "a bad \\u escape");
			i += 6;
		} else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' ||
		           c == 'r' || c == 't') {
			i += 2;
		} else {
			return bad(j, i, "a bad escape");
		}
	}
	return bad(j, n, "an unterminated string");
}

static size_t put_utf8(uint8_t *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (uint8_t)(0xc0 | cp >> 6);
		o[1] = (uint8_t)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (uint8_t)(0xe0 | cp >> 12);
		o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (uint8_t)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (uint8_t)(0xf0 | cp >> 18);
	o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (uint8_t)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * Resolve the escapes of the checked string body raw[0, n) onto the end of
 * 'dst' (which has room for n more bytes: escapes only shrink). With a
 * 'map', each decoded byte records the offset of the raw byte or escape it
 * came from. A lone surrogate becomes U+FFFD.
 */
static void decode(const char *raw, size_t n, struct buf *dst, uint32_t *map)
{
	uint8_t *o = (uint8_t *)dst->data + dst->len, *o0 = o;
	size_t i = 0;

	while (i < n) {
		size_t from = i, k;
		unsigned cp;

		if (raw[i] != '\\') {
			const char *bs = memchr(raw + i, '\\', n - i);
			size_t len = (bs ? (size_t)(bs - raw) : n) - i;

			memcpy(o, raw + i, len);
			if (map)
				for (size_t q = 0; q < len; q++)
					map[o - o0 + q] = (uint32_t)(i + q);
			o += len;
			i += len;
			continue;
		}
		switch (raw[i + 1]) {
		case 'b':
			cp = '\b';
			break;
		case 'f':
			cp = '\f';
			break;
		case 'n':
			cp = '\n';
			break;
		case 'r':
			cp = '\r';
			break;
		case 't':
			cp = '\t';
			break;
		case 'u':
			cp = hex4(raw + i + 2);
			if (cp >= 0xd800 && cp <= 0xdbff && n - i >= 12 && raw[i + 6] == '\\' &&
			    raw[i + 7] == 'u') {
				unsigned lo = hex4(raw + i + 8);

				if (lo >= 0xdc00 && lo <= 0xdfff) {
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					i += 6;
				}
			}
			if (cp >= 0xd800 && cp <= 0xdfff)
				cp = 0xfffd;
			i += 4;
			break;
		default: /* " \ / */
			cp = (unsigned char)raw[i + 1];
			break;
		}
		i += 2;
		k = put_utf8(o, cp);
		if (map)
			for (size_t q = 0; q < k; q++)
				map[o - o0 + q] = (uint32_t)from;
		o += k;
	}
	dst->len += (size_t)(o - o0);
}

static int is_aws_key_name(const char *k, size_t n)
{
	static const char *const names[] = {"secretaccesskey", "awssecretaccesskey",
	                                    "awssecretkey"};
	char norm[24];
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned c = (unsigned char)k[i];

		if (c == '_' || c == '-' || c == '.')
			continue;
		if (m == sizeof(norm) - 1)
			return 0;
		norm[m++] = (char)(is_upper(c) ? c | 0x20 : c);
	}
	norm[m] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(norm, names[i]) == 0)
			return 1;
	return 0;
}

static const char *key_ptr(const struct job *j, const struct key *k)
{
	return k->in_arena ? j->arena.data + k->off : j->in + k->off;
}

/*
 * Mask what is in the string token whose body is in[a, b). 'masked': a
 * field path names it. 'key' (may be NULL): the member name of a value.
 */
static int string_token(struct job *j, size_t a, size_t b, int esc, int masked,
                        const struct key *key)
{
	const uint8_t *s = (const uint8_t *)j->in + a;
	const uint32_t *map = NULL;
	size_t n = b - a;
	int rc;

	if (esc) {
		if (n > UINT32_MAX)
			return atr__err(ATR_ETOOBIG, "a string of %zu bytes is over 4 GiB", n);
		j->dec.len = 0;
		if ((rc = grow((void **)&j->dec.data, &j->dec.cap, n + 1, 1)) != 0)
			return rc;
		decode(j->in + a, n, &j->dec, NULL);
		s = (const uint8_t *)j->dec.data;
		n = j->dec.len;
	}
	if (n == 0)
		return 0;
	j->nspans = 0;
	if (masked) {
		if ((rc = add_span(j, 0, n, "field")) != 0)
			return rc;
	} else {
		if ((rc = builtins(j, s, n)) != 0 || (rc = patterns(j, s, n)) != 0)
			return rc;
		if (key && (j->r->on & ATR_REDACT_AWS_SECRET_KEY) && n == 40 &&
		    aws_secret_value(s, n, 0) && is_aws_key_name(key_ptr(j, key), key->len) &&
		    (rc = add_span(j, 0, n, KIND(ATR_REDACT_AWS_SECRET_KEY))) != 0)
			return rc;
	}
	if (!j->nspans)
		return 0;
	if (esc) {
		/* Only now, with something to mask, is the way back to the raw text needed. */
		if ((rc = grow((void **)&j->map, &j->mapcap, b - a + 1, sizeof(*j->map))) != 0)
			return rc;
		j->dec.len = 0;
		decode(j->in + a, b - a, &j->dec, j->map);
		map = j->map;
	}
	return emit(j, a, b - a, s, n, map);
}

/* Does a field path end the key path of the value now being read? */
static int field_match(const struct job *j)
{
	for (size_t f = 0; f < j->r->nfields; f++) {
		const struct field *fp = &j->r->fields[f];
		size_t k;

		if (fp->nseg > j->nkeys)
			continue;
		for (k = 0; k < fp->nseg; k++) {
			const struct seg *sg = &fp->seg[fp->nseg - 1 - k];
			const struct key *ky = &j->keys[j->nkeys - 1 - k];

			if (!sg->star &&
			    (sg->len != ky->len || memcmp(sg->key, key_ptr(j, ky), ky->len) != 0))
				break;
		}
		if (k == fp->nseg)
			return 1;
	}
	return 0;
}

static int push(struct job *j, int obj, int masked)
{
	int rc;

	if (j->depth == MAX_DEPTH)
		return atr__err(ATR_ETOOBIG, "a document nested deeper than %d", MAX_DEPTH);
	if ((rc = grow((void **)&j->frames, &j->framecap, j->depth + 1, sizeof(*j->frames))) != 0)
		return rc;
	if (obj && (rc = grow((void **)&j->keys, &j->keycap, j->nkeys + 1, sizeof(*j->keys))) != 0)
		return rc;
	j->frames[j->depth].obj = (unsigned char)obj;
	j->frames[j->depth].masked = (unsigned char)masked;
	j->frames[j->depth].arena_base = j->arena.len;
	j->depth++;
	if (obj)
		j->keys[j->nkeys++] = (struct key){0, 0, 0};
	return 0;
}

static void pop(struct job *j)
{
	struct frame *f = &j->frames[--j->depth];

	if (f->obj)
		j->nkeys--;
	j->arena.len = f->arena_base;
}

/* A member name at in[i]: mask what is in it, keep it decoded for the field paths. */
static int key_token(struct job *j, size_t i, size_t *next)
{
	struct frame *f = &j->frames[j->depth - 1];
	struct key *k = &j->keys[j->nkeys - 1];
	size_t end;
	int esc, rc;

	if ((rc = string_end(j, i, &end, &esc)) != 0 ||
	    (rc = string_token(j, i + 1, end, esc, 0, NULL)) != 0)
		return rc;
	j->arena.len = f->arena_base;
	if (esc) {
		if ((rc = grow((void **)&j->arena.data, &j->arena.cap, j->arena.len + end - i,
		               1)) != 0)
			return rc;
		*k = (struct key){j->arena.len, 0, 1};
		decode(j->in + i + 1, end - i - 1, &j->arena, NULL);
		k->len = j->arena.len - k->off;
	} else {
		*k = (struct key){i + 1, end - i - 1, 0};
	}
	*next = end + 1;
	return 0;
}

static int scalar_end(const struct job *j, size_t i, size_t *next)
{
	const char *p = j->in;
	size_t n = j->len;

	if (p[i] == 't' || p[i] == 'f' || p[i] == 'n') {
		const char *lit = p[i] == 't' ? "true" : p[i] == 'f' ? "false" : "null";
		size_t k = strlen(lit);

		if (n - i < k || memcmp(p + i, lit, k) != 0)
			return bad(j, i, "a bad literal");
		*next = i + k;
		return 0;
	}
	if (p[i] == '-')
		i++;
	if (i < n && p[i] == '0')
		i++;
	else if (i < n && is_digit((unsigned char)p[i]))
		while (i < n && is_digit((unsigned char)p[i]))
			i++;
	else
		return bad(j, i, "a value was expected");
	if (i < n && p[i] == '.') {
		if (++i >= n || !is_digit((unsigned char)p[i]))
			return bad(j, i, "a digit was expected");
		while (i < n && is_digit((unsigned char)p[i]))
			i++;
	}
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		if (++i < n && (p[i] == '+' || p[i] == '-'))
			i++;
		if (i >= n || !is_digit((unsigned char)p[i]))
			return bad(j, i, "a digit was expected");
		while (i < n && is_digit((unsigned char)p[i]))
			i++;
	}
	*next = i;
	return 0;
}

/* Walk the document without recursion, masking strings as they pass. */
static int walk(struct job *j)
{
	enum { VALUE, KEY, AFTER } st = VALUE;
	const char *p = j->in;
	size_t n = j->len, i = ws(p, n, 0), end;
	int masked = 0, esc, rc;

	for (;;) {
		if (st == VALUE) {
			char c;

			if (i >= n)
				return bad(j, i, "a value was expected");
			c = p[i];
			if (c == '{' || c == '[') {
				if ((rc = push(j, c == '{', masked)) != 0)
					return rc;
				i = ws(p, n, i + 1);
				if (i < n && p[i] == (c == '{' ? '}' : ']')) {
					pop(j);
					i++;
					st = AFTER;
				} else {
					st = c == '{' ? KEY : VALUE;
				}
				continue;
			}
			if (c == '"') {
				const struct frame *f = j->depth ? &j->frames[j->depth - 1] : NULL;

				if ((rc = string_end(j, i, &end, &esc)) != 0 ||
				    (rc = string_token(j, i + 1, end, esc, masked,
				                       f && f->obj ? &j->keys[j->nkeys - 1]
				                                   : NULL)) != 0)
					return rc;
				i = end + 1;
			} else if ((rc = scalar_end(j, i, &i)) != 0) {
				return rc;
			}
			st = AFTER;
		} else if (st == KEY) {
			if (i >= n || p[i] != '"')
				return bad(j, i, "a member name was expected");
			if ((rc = key_token(j, i, &i)) != 0)
				return rc;
			i = ws(p, n, i);
			if (i >= n || p[i] != ':')
				return bad(j, i, "':' was expected");
			i = ws(p, n, i + 1);
			masked = j->frames[j->depth - 1].masked || field_match(j);
			st = VALUE;
		} else {
			const struct frame *f;

			i = ws(p, n, i);
			if (j->depth == 0)
				return i == n ? 0 : bad(j, i, "text after the value");
			f = &j->frames[j->depth - 1];
			if (i < n && p[i] == ',') {
				i = ws(p, n, i + 1);
				masked = f->masked;
				st = f->obj ? KEY : VALUE;
			} else if (i < n && p[i] == (f->obj ? '}' : ']')) {
				pop(j);
				i++;
			} else {
				return bad(j, i,
				           f->obj ? "',' or '}' was expected"
				                  : "',' or ']' was expected");
			}
		}
	}
}

/* ------------------------------------------------------------ entry points */

static void job_release(struct job *j)
{
	free(j->out.data);
	free(j->spans);
	free(j->dec.data);
	free(j->map);
	free(j->frames);
	free(j->keys);
	free(j->arena.data);
	free(j->text.data);
}

static int finish(struct job *j, int rc, char **out, size_t *outlen, size_t *count)
{
	if (rc == 0)
		rc = buf_add(&j->out, j->in + j->copied, j->len - j->copied);
	if (rc != 0) {
		job_release(j);
		return rc;
	}
	j->out.data[j->out.len] = '\0';
	*out = j->out.data;
	*outlen = j->out.len;
	if (count)
		*count = j->count;
	j->out.data = NULL;
	job_release(j);
	return 0;
}

static int start(struct job *j, const atr_redactor *r, const char *in, size_t len, char **out,
                 size_t *outlen, size_t *count)
{
	memset(j, 0, sizeof(*j));
	*out = NULL;
	*outlen = 0;
	if (count)
		*count = 0;
	if (!r || (!in && len))
		return atr__err(ATR_EINVALID, "no redactor or no input");
	j->r = r;
	j->in = in ? in : "";
	j->len = len;
	/* Most documents come out as long as they went in. */
	return grow((void **)&j->out.data, &j->out.cap, len + 1, 1);
}

int atr_redact_json(const atr_redactor *r, const char *json, size_t len, char **out, size_t *outlen,
                    size_t *count)
{
	struct job j;
	int rc = start(&j, r, json, len, out, outlen, count);

	if (rc == 0)
		rc = walk(&j);
	return finish(&j, rc, out, outlen, count);
}

int atr__redactor_idle(const atr_redactor *r)
{
	return !r || (r->on == 0 && r->npats == 0 && r->nfields == 0);
}

int atr__redact_json_lazy(const atr_redactor *r, const char *json, size_t len, char **out,
                          size_t *outlen, size_t *count)
{
	struct job j;
	int rc;

	memset(&j, 0, sizeof(j));
	*out = NULL;
	*outlen = 0;
	*count = 0;
	if (!r || (!json && len))
		return atr__err(ATR_EINVALID, "no redactor or no input");
	j.r = r;
	j.in = json ? json : "";
	j.len = len;
	/* 'out' grows from the first find only: most events have none. */
	rc = walk(&j);
	if (rc == 0 && j.count == 0) {
		job_release(&j);
		return 0;
	}
	return finish(&j, rc, out, outlen, count);
}

int atr_redact_text(const atr_redactor *r, const char *text, size_t len, char **out, size_t *outlen,
                    size_t *count)
{
	struct job j;
	int rc = start(&j, r, text, len, out, outlen, count);

	if (rc == 0 && len) {
		const uint8_t *s = (const uint8_t *)j.in;

		if ((rc = builtins(&j, s, len)) == 0 && (rc = patterns(&j, s, len)) == 0 &&
		    j.nspans)
			rc = emit(&j, 0, len, s, len, NULL);
	}
	return finish(&j, rc, out, outlen, count);
}
