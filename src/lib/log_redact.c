/*
 * Masking at ingest (docs/redaction.md): every log opened for writing runs
 * the redactor over each event before it is parsed, under a salt kept in
 * the store (meta_once "redact_salt", 32 random bytes drawn once for the
 * store's lifetime), so markers compare across runs and processes and the
 * salt never leaves the store. Also the owned configurations that
 * `agentrail serve` flags and the AGENTRAIL_REDACT_* variables build.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include <agentrail/log.h>
#include <agentrail/redact.h>
#include <agentrail/sys/store.h>

#include "internal.h"
#include "logpriv.h"
#include "redactpriv.h"

#define SALT_KEY   "redact_salt"
#define SALT_LEN   32
#define MAX_PATS   64
#define MAX_FIELDS 64

/* ---------------------------------------------------------------- configurations */

/* An atr_redact_config that owns its strings ('pub' first: the public pointer is its address). */
struct owned_config {
	atr_redact_config pub;
	atr_redact_pattern pats[MAX_PATS];
	const char *fields[MAX_FIELDS];
	char *strs[2 * MAX_PATS + MAX_FIELDS];
	size_t nstrs;
};

int atr_redact_config_new(atr_redact_config **out)
{
	struct owned_config *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c)
		return atr__err(ATR_ENOMEM, "out of memory");
	c->pub.patterns = c->pats;
	c->pub.fields = c->fields;
	*out = &c->pub;
	return 0;
}

void atr_redact_config_free(atr_redact_config *cfg)
{
	struct owned_config *c = (struct owned_config *)cfg;

	if (!c)
		return;
	for (size_t i = 0; i < c->nstrs; i++)
		free(c->strs[i]);
	free(c);
}

static char *keep(struct owned_config *c, const char *s, size_t n)
{
	char *d;

	if (c->nstrs == sizeof(c->strs) / sizeof(c->strs[0]) || !(d = malloc(n + 1)))
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	c->strs[c->nstrs++] = d;
	return d;
}

/* Check one pattern or one field path alone, with a message that does not number it. */
static int probe(const atr_redact_pattern *pat, const char *field)
{
	atr_redact_config one = {.salt = "", .salt_len = 0};
	atr_redactor *r;
	char m[512];
	const char *t;
	int rc;

	if (pat) {
		one.patterns = pat;
		one.npatterns = 1;
	} else {
		one.fields = &field;
		one.nfields = 1;
	}
	if ((rc = atr_redactor_new(&r, &one)) == 0) {
		atr_redactor_free(r);
		return 0;
	}
	snprintf(m, sizeof(m), "%s", atr_errmsg());
	t = m;
	if (!strncmp(t, "pattern 0: ", 11))
		t += 11;
	else if (!strncmp(t, "pattern 0 ", 10))
		t += 10;
	return atr__err(rc, "%s", t);
}

int atr_redact_config_add_pattern(atr_redact_config *cfg, const char *spec)
{
	struct owned_config *c = (struct owned_config *)cfg;
	const char *eq = spec ? strchr(spec, '=') : NULL;
	atr_redact_pattern p;
	int rc;

	if (!eq || eq == spec || !eq[1])
		return atr__err(ATR_EINVALID, "pattern '%.100s' must be KIND=REGEX",
		                spec ? spec : "");
	if (c->pub.npatterns == MAX_PATS)
		return atr__err(ATR_EINVALID, "at most %d patterns", MAX_PATS);
	if (!(p.kind = keep(c, spec, (size_t)(eq - spec))) ||
	    !(p.regex = keep(c, eq + 1, strlen(eq + 1))))
		return atr__err(ATR_ENOMEM, "out of memory");
	if ((rc = probe(&p, NULL)) != 0)
		return rc;
	c->pats[c->pub.npatterns++] = p;
	return 0;
}

int atr_redact_config_add_field(atr_redact_config *cfg, const char *path)
{
	struct owned_config *c = (struct owned_config *)cfg;
	const char *f;
	int rc;

	if (c->pub.nfields == MAX_FIELDS)
		return atr__err(ATR_EINVALID, "at most %d field paths", MAX_FIELDS);
	if (!path || (rc = probe(NULL, path)) != 0)
		return path ? rc : atr__err(ATR_EINVALID, "no field path");
	if (!(f = keep(c, path, strlen(path))))
		return atr__err(ATR_ENOMEM, "out of memory");
	c->fields[c->pub.nfields++] = f;
	return 0;
}

int atr_redact_detectors_parse(const char *list, unsigned *out)
{
	const char *s = list ? list : "";
	unsigned bits = 0;

	while (*s) {
		size_t n = strcspn(s, ",");
		const char *a = s, *e = s + n;
		unsigned bit = 0;

		while (a < e && (*a == ' ' || *a == '\t'))
			a++;
		while (e > a && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e - a == 3 && !memcmp(a, "all", 3)) {
			bit = ATR_REDACT_ALL;
		} else if (e > a) {
			for (unsigned b = 1; b & ATR_REDACT_ALL; b <<= 1) {
				const char *k = atr_redact_kind(b);

				if (strlen(k) == (size_t)(e - a) && !memcmp(k, a, (size_t)(e - a)))
					bit = b;
			}
			if (!bit)
				return atr__err(
				    ATR_EINVALID,
				    "unknown detector '%.*s' (known: aws_access_key, "
				    "aws_secret_key, "
				    "openai_key, anthropic_key, github_token, gitlab_token, "
				    "slack_token, stripe_key, google_api_key, agentrail_token, "
				    "bearer_token, private_key, url_password, jwt, or all)",
				    (int)(e - a > 64 ? 64 : e - a), a);
		}
		bits |= bit;
		s += n + (s[n] == ',');
	}
	*out = bits;
	return 0;
}

int atr_redact_config_disable(atr_redact_config *cfg, const char *list)
{
	unsigned bits;
	int rc;

	if ((rc = atr_redact_detectors_parse(list, &bits)) != 0)
		return rc;
	cfg->disable |= bits;
	return 0;
}

/* Apply each piece of 'text' cut at 'sep' (blank pieces skipped) with 'fn'; errors name 'var'. */
static int each_piece(atr_redact_config *cfg, const char *var, const char *text, char sep,
                      int (*fn)(atr_redact_config *, const char *))
{
	const char *s = text;

	while (*s) {
		size_t n = strcspn(s, sep == '\n' ? "\n" : ",");
		size_t a = 0, e = n;
		char *piece;
		int rc;

		/* Trim blanks (and a CR) around the piece; a regex keeps its inner spaces. */
		while (a < e && (s[a] == ' ' || s[a] == '\t' || s[a] == '\r'))
			a++;
		while (e > a && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r'))
			e--;
		if (e > a) {
			if (!(piece = malloc(e - a + 1)))
				return atr__err(ATR_ENOMEM, "out of memory");
			memcpy(piece, s + a, e - a);
			piece[e - a] = '\0';
			rc = fn(cfg, piece);
			free(piece);
			if (rc != 0)
				return atr__err_prefix(rc, "%s", var);
		}
		s += n + (s[n] != '\0');
	}
	return 0;
}

int atr_redact_config_add_env(atr_redact_config *cfg)
{
	const char *v;
	int rc;

	if ((v = getenv("AGENTRAIL_REDACT_PATTERNS")) &&
	    (rc = each_piece(cfg, "AGENTRAIL_REDACT_PATTERNS", v, '\n',
	                     atr_redact_config_add_pattern)) != 0)
		return rc;
	if ((v = getenv("AGENTRAIL_REDACT_FIELDS")) &&
	    (rc = each_piece(cfg, "AGENTRAIL_REDACT_FIELDS", v, ',',
	                     atr_redact_config_add_field)) != 0)
		return rc;
	if ((v = getenv("AGENTRAIL_REDACT_DISABLE")) &&
	    (rc = atr_redact_config_disable(cfg, v)) != 0)
		return atr__err_prefix(rc, "AGENTRAIL_REDACT_DISABLE");
	return 0;
}

/* ---------------------------------------------------------------- the log's redactor */

/* The store's redaction salt, drawn and kept on first use. '*out' is the caller's (free()). */
static int load_salt(atr_store *st, char **out)
{
	uint8_t fresh[SALT_LEN];
	size_t len = 0;
	int rc;

	*out = NULL;
	if (st->version < 3 || !st->meta_once)
		return atr__err(ATR_EUNSUPPORTED,
		                "this store (interface version %u) cannot keep a redaction salt",
		                st->version);
	if ((rc = atr__random(fresh, sizeof(fresh))) != 0)
		return rc;
	rc = st->meta_once(st, SALT_KEY, fresh, sizeof(fresh), out, &len);
	OPENSSL_cleanse(fresh, sizeof(fresh));
	if (rc != 0)
		return rc;
	if (len != SALT_LEN) {
		free(*out);
		*out = NULL;
		return atr__err(ATR_ETAMPER, "the store's redaction salt is %zu bytes, not %d", len,
		                SALT_LEN);
	}
	return 0;
}

/* Make the redactor for 'cfg' under the store's salt; *out NULL when it would find nothing. */
static int make(atr_log *log, const atr_redact_config *cfg, atr_redactor **out)
{
	atr_redact_config c = {0};
	char *salt;
	int rc;

	*out = NULL;
	if (cfg)
		c = *cfg;
	if (c.disable & ~(unsigned)ATR_REDACT_ALL)
		return atr__err(ATR_EINVALID, "unknown detector bits 0x%x in 'disable'",
		                c.disable & ~(unsigned)ATR_REDACT_ALL);
	if ((c.disable & ATR_REDACT_ALL) == ATR_REDACT_ALL && !c.npatterns && !c.nfields)
		return 0; /* off: not even the salt is needed */
	if ((rc = load_salt(log->st, &salt)) != 0)
		return rc;
	c.salt = salt;
	c.salt_len = SALT_LEN;
	rc = atr_redactor_new(out, &c);
	OPENSSL_cleanse(salt, SALT_LEN);
	free(salt);
	return rc;
}

int atr_log_set_redaction(atr_log *log, const atr_redact_config *cfg)
{
	atr_redactor *r;
	int rc;

	if ((rc = make(log, cfg, &r)) != 0)
		return rc;
	pthread_mutex_lock(&log->redact_mu);
	atr_redactor_free(log->redactor);
	log->redactor = r;
	log->redact_set = 1;
	pthread_mutex_unlock(&log->redact_mu);
	return 0;
}

int atr__log_redactor(atr_log *log, const atr_redactor **out)
{
	atr_redact_config *cfg = NULL;
	int rc = 0;

	pthread_mutex_lock(&log->redact_mu);
	if (!log->redact_set) {
		atr_redactor *r = NULL;

		if ((rc = atr_redact_config_new(&cfg)) == 0 &&
		    (rc = atr_redact_config_add_env(cfg)) == 0 && (rc = make(log, cfg, &r)) == 0) {
			log->redactor = r;
			log->redact_set = 1;
		}
		atr_redact_config_free(cfg);
	}
	*out = log->redactor;
	pthread_mutex_unlock(&log->redact_mu);
	return rc;
}

void atr__log_redaction_free(atr_log *log)
{
	atr_redactor_free(log->redactor);
	log->redactor = NULL;
	log->redact_set = 0;
	pthread_mutex_destroy(&log->redact_mu);
}
