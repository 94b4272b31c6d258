/*
 * Masking secrets in event content (DESIGN.md section 5). Built-in
 * detectors find credentials that agents and their tools commonly print —
 * cloud access keys, API keys with well-known prefixes, bearer tokens,
 * private key blocks, passwords in URLs, JWTs — and callers can add POSIX
 * regular expressions and JSON field paths. Each secret found is replaced by
 *
 *     [REDACTED:<kind>:<h>]
 *
 * where <h> is the first 8 hex digits of SHA-256(salt || secret): under one
 * salt the same secret always gives the same marker, so a reader can tell
 * that two events carried the same key without learning the key.
 * docs/redaction.md describes every detector.
 */
#ifndef AGENTRAIL_REDACT_H
#define AGENTRAIL_REDACT_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The built-in detectors; the kind each writes into its markers is in quotes. */
enum atr_redact_detector {
	ATR_REDACT_AWS_ACCESS_KEY = 1 << 0, /* "aws_access_key": AKIA… / ASIA… key ids */
	ATR_REDACT_AWS_SECRET_KEY = 1 << 1, /* "aws_secret_key": 40 characters after a label */
	ATR_REDACT_OPENAI_KEY = 1 << 2,     /* "openai_key": sk-…, sk-proj-… */
	ATR_REDACT_ANTHROPIC_KEY = 1 << 3,  /* "anthropic_key": sk-ant-… */
	ATR_REDACT_GITHUB_TOKEN = 1 << 4, /* "github_token": ghp_ gho_ ghu_ ghs_ ghr_ github_pat_ */
	ATR_REDACT_GITLAB_TOKEN = 1 << 5, /* "gitlab_token": glpat- */
	ATR_REDACT_SLACK_TOKEN = 1 << 6,  /* "slack_token": xoxa- xoxb- xoxp- xoxr- xoxs- */
	ATR_REDACT_STRIPE_KEY = 1 << 7,   /* "stripe_key": sk_live_ rk_live_ */
	ATR_REDACT_GOOGLE_API_KEY = 1 << 8,  /* "google_api_key": AIza… */
	ATR_REDACT_AGENTRAIL_TOKEN = 1 << 9, /* "agentrail_token": our own atr_… bearer tokens */
	ATR_REDACT_BEARER_TOKEN = 1 << 10,   /* "bearer_token": the token after "Bearer " */
	ATR_REDACT_PRIVATE_KEY = 1 << 11, /* "private_key": -----BEGIN … PRIVATE KEY----- to END */
	ATR_REDACT_URL_PASSWORD = 1 << 12, /* "url_password": scheme://user:PASSWORD@host */
	ATR_REDACT_JWT = 1 << 13,          /* "jwt": eyJ….eyJ….signature */
	ATR_REDACT_ALL = (1 << 14) - 1
};

/* The kind name of one detector bit ("aws_access_key"), NULL for anything else. Static. */
ATR_EXTERN const char *atr_redact_kind(unsigned detector);

/* An extra pattern: what it finds is masked with 'kind' in the marker. */
typedef struct atr_redact_pattern {
	const char *kind;  /* 1 to 32 of [a-z0-9_] */
	const char *regex; /* POSIX extended (regcomp); with a group, only group 1 is masked */
} atr_redact_pattern;

/*
 * What a redactor masks. Zero-initialize it and set what you need; a NULL
 * config is the same as a zeroed one. Everything is copied by
 * atr_redactor_new(): the caller may release it afterwards.
 */
typedef struct atr_redact_config {
	/*
	 * The salt of the marker hashes. NULL (and 'salt_len' 0): a fresh
	 * random 32-byte salt, so markers compare only within this redactor.
	 * A non-NULL salt of length 0 hashes unsalted, which lets anyone
	 * confirm a guess of a short secret: avoid it.
	 */
	const void *salt;
	size_t salt_len;  /* at most 1024 */
	unsigned disable; /* ATR_REDACT_* detectors to leave out; 0: all of them run */
	const atr_redact_pattern *patterns;
	size_t npatterns; /* at most 64 */
	/*
	 * Field paths whose string values are masked whole (kind "field"):
	 * keys separated by dots, "*" for any one key ("detail.env.*",
	 * "password"). A path matches wherever its keys end the path of a
	 * value, and masks every string inside the value it names; arrays
	 * add no key (the elements of "a":[…] are at the path of "a").
	 */
	const char *const *fields;
	size_t nfields; /* at most 64, each at most 16 keys */
} atr_redact_config;

typedef struct atr_redactor atr_redactor;

/*
 * A redactor for 'cfg' (may be NULL). '*out' is the caller's, to release
 * with atr_redactor_free(); NULL on failure. ATR_EINVALID for a bad kind,
 * a regex that does not compile (the message says why) or a bad field path.
 * A redactor is never changed after this: any number of threads may use
 * one at the same time.
 */
ATR_EXTERN int atr_redactor_new(atr_redactor **out, const atr_redact_config *cfg);

/* Release 'r'. NULL is a no-op. */
ATR_EXTERN void atr_redactor_free(atr_redactor *r);

/*
 * Mask the secrets in one JSON document ('json', 'len' bytes, one value
 * with optional whitespace around it). Only the insides of string tokens
 * (member names too) change, so the answer is valid JSON whenever the
 * input was; a string's escapes are resolved before the detectors look at
 * it ("-----BEGIN…\n…" is seen with real newlines) and any escape a secret
 * touches is masked with it. Field paths match the member names as they
 * were in the input. '*out' (NUL-terminated, '*outlen' bytes
 * without the NUL) is the caller's, to release with atr_free(); it is a copy
 * of the input when nothing was found. '*count' (may be NULL) is the number
 * of markers written. ATR_EINVALID (with the byte offset) when the input is
 * not JSON, ATR_ETOOBIG for a string over 4 GiB (2 GiB with patterns) or
 * nesting deeper than 100,000, ATR_ENOMEM.
 */
ATR_EXTERN int atr_redact_json(const atr_redactor *r, const char *json, size_t len, char **out,
                               size_t *outlen, size_t *count);

/*
 * The same over plain text ('len' bytes, any content): field paths do not
 * apply. Ownership as for atr_redact_json().
 */
ATR_EXTERN int atr_redact_text(const atr_redactor *r, const char *text, size_t len, char **out,
                               size_t *outlen, size_t *count);

/*
 * Configurations built from text, as `agentrail serve --redact-*` and the
 * AGENTRAIL_REDACT_* variables give them: they own their strings.
 * atr_redact_config_new() makes an empty one ('*out' the caller's, to
 * release with atr_redact_config_free()); each add checks what it adds
 * at once (ATR_EINVALID with a message saying what is wrong, the
 * configuration unchanged).
 */
ATR_EXTERN int atr_redact_config_new(atr_redact_config **out);
ATR_EXTERN void atr_redact_config_free(atr_redact_config *cfg);
/* An extra pattern "KIND=REGEX" (split at the first '='). */
ATR_EXTERN int atr_redact_config_add_pattern(atr_redact_config *cfg, const char *spec);
/* A field path ("detail.env.*"). */
ATR_EXTERN int atr_redact_config_add_field(atr_redact_config *cfg, const char *path);
/* Switch off the detectors named in 'list' ("jwt,bearer_token"; "all" for every one). */
ATR_EXTERN int atr_redact_config_disable(atr_redact_config *cfg, const char *list);
/* Parse such a list into ATR_REDACT_* bits. */
ATR_EXTERN int atr_redact_detectors_parse(const char *list, unsigned *out);
/*
 * Add what the environment says: AGENTRAIL_REDACT_PATTERNS (KIND=REGEX
 * lines), AGENTRAIL_REDACT_FIELDS (paths separated by commas) and
 * AGENTRAIL_REDACT_DISABLE (detector kinds separated by commas, or "all").
 * A bad value is ATR_EINVALID and the message starts with the variable.
 */
ATR_EXTERN int atr_redact_config_add_env(atr_redact_config *cfg);

#ifdef __cplusplus
}
#endif
#endif
