/*
 * Ed25519 keys in Go's sumdb/note text encoding and C2SP tlog-checkpoint
 * signed notes: signing, parsing, and checking a note against a key. The
 * cryptography is OpenSSL's; the formats are checked byte for byte against
 * ../shared/vectors/checkpoint.json.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include <agentrail/checkpoint.h>

#include "internal.h"

#define ALG_ED25519 1
#define MAX_NOTE    (64u << 10) /* a checkpoint is a few hundred bytes; notes beyond are refused */
#define MAX_SIGS    100         /* as Go's note package */

static const char em_dash[] = "\xe2\x80\x94"; /* U+2014, opens every signature line */

struct atr_signer {
	char name[ATR_KEY_NAME_MAX + 1];
	uint32_t id;
	uint8_t seed[32];
	uint8_t pub[32];
	EVP_PKEY *key;
};

struct atr_verifier {
	char name[ATR_KEY_NAME_MAX + 1];
	uint32_t id;
	uint8_t pub[32];
	EVP_PKEY *key;
};

/* A key name: non-empty, at most ATR_KEY_NAME_MAX bytes, printable ASCII or UTF-8, no '+'. */
static int check_name(const char *name, size_t len)
{
	if (len == 0)
		return atr__err(ATR_EINVALID, "a key name must not be empty");
	if (len > ATR_KEY_NAME_MAX)
		return atr__err(ATR_EINVALID, "key name is %zu bytes; the limit is %d", len,
		                ATR_KEY_NAME_MAX);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '+' || c <= ' ' || c == 0x7f)
			return atr__err(ATR_EINVALID,
			                "key name '%.*s' has a '+', a space or a control character",
			                (int)len, name);
	}
	return 0;
}

static uint32_t key_id(const char *name, const uint8_t pub[32])
{
	uint8_t h[32], alg_pub[33];

	alg_pub[0] = ALG_ED25519;
	memcpy(alg_pub + 1, pub, 32);
	atr__sha256(h, name, strlen(name), "\n", 1, alg_pub, sizeof(alg_pub));
	return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

/* "<prefix><name>+<id>+<base64(0x01 || key)>" */
static int key_text(char **out, const char *prefix, const char *name, uint32_t id,
                    const uint8_t key[32])
{
	uint8_t raw[33];
	char b64[64];
	size_t n;

	raw[0] = ALG_ED25519;
	memcpy(raw + 1, key, 32);
	atr__b64_encode(b64, raw, sizeof(raw));
	n = strlen(prefix) + strlen(name) + 1 + 8 + 1 + strlen(b64) + 1;
	if (!(*out = malloc(n)))
		return atr__err(ATR_ENOMEM, "out of memory");
	snprintf(*out, n, "%s%s+%08x+%s", prefix, name, (unsigned)id, b64);
	return 0;
}

/*
 * Split "name+hex8+base64" (after any prefix) into its parts, checking the
 * algorithm byte and that the id matches the key.
 */
static int key_parse(const char *text, const char *what, char name[ATR_KEY_NAME_MAX + 1],
                     uint32_t *id, uint8_t key[32])
{
	const char *p1 = strchr(text, '+'), *p2;
	uint8_t raw[40];
	char hex[9];
	long n;
	int rc;

	if (!p1 || !(p2 = strchr(p1 + 1, '+')) || p2 - p1 != 9)
		return atr__err(ATR_EINVALID, "%s is not '<name>+<8 hex digits>+<base64 key>'",
		                what);
	if ((rc = check_name(text, (size_t)(p1 - text))) < 0)
		return atr__err_prefix(rc, "%s", what);
	memcpy(name, text, (size_t)(p1 - text));
	name[p1 - text] = '\0';
	memcpy(hex, p1 + 1, 8);
	hex[8] = '\0';
	{
		uint8_t idb[4];

		if (atr__unhex(idb, 4, hex) < 0)
			return atr__err(ATR_EINVALID, "%s: key id '%s' is not 8 hex digits", what,
			                hex);
		*id = (uint32_t)idb[0] << 24 | (uint32_t)idb[1] << 16 | (uint32_t)idb[2] << 8 |
		      idb[3];
	}
	n = atr__b64_decode(raw, sizeof(raw), p2 + 1, strlen(p2 + 1));
	if (n != 33)
		return atr__err(ATR_EINVALID, "%s: the key is not base64 of 33 bytes", what);
	if (raw[0] != ALG_ED25519)
		return atr__err(ATR_EINVALID, "%s: algorithm %u is not Ed25519 (1)", what, raw[0]);
	memcpy(key, raw + 1, 32);
	return 0;
}

static int ossl_fail(const char *what)
{
	return atr__err(ATR_EBACKEND, "OpenSSL could not %s", what);
}

static int pub_from_seed(const uint8_t seed[32], uint8_t pub[32], EVP_PKEY **keyp)
{
	EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	size_t n = 32;

	if (!key)
		return ossl_fail("load an Ed25519 key");
	if (EVP_PKEY_get_raw_public_key(key, pub, &n) != 1 || n != 32) {
		EVP_PKEY_free(key);
		return ossl_fail("derive an Ed25519 public key");
	}
	if (keyp)
		*keyp = key;
	else
		EVP_PKEY_free(key);
	return 0;
}

int atr_keygen_seed(const char *name, const uint8_t seed[32], char **skey, char **vkey)
{
	uint8_t pub[32];
	uint32_t id;
	int rc;

	*skey = *vkey = NULL;
	if (!name)
		return atr__err(ATR_EINVALID, "a key needs a name");
	if ((rc = check_name(name, strlen(name))) < 0 || (rc = pub_from_seed(seed, pub, NULL)) < 0)
		return rc;
	id = key_id(name, pub);
	if ((rc = key_text(skey, "PRIVATE+KEY+", name, id, seed)) < 0 ||
	    (rc = key_text(vkey, "", name, id, pub)) < 0) {
		free(*skey);
		*skey = NULL;
		return rc;
	}
	return 0;
}

int atr_keygen(const char *name, char **skey, char **vkey)
{
	uint8_t seed[32];
	int rc;

	*skey = *vkey = NULL;
	if ((rc = atr__random(seed, sizeof(seed))) < 0)
		return rc;
	rc = atr_keygen_seed(name, seed, skey, vkey);
	OPENSSL_cleanse(seed, sizeof(seed));
	return rc;
}

/* Trim white space at both ends into a bounded copy. */
static int trimmed(const char *text, char *buf, size_t cap, const char *what)
{
	size_t len;

	while (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r')
		text++;
	len = strlen(text);
	while (len && (text[len - 1] == ' ' || text[len - 1] == '\t' || text[len - 1] == '\n' ||
	               text[len - 1] == '\r'))
		len--;
	if (len >= cap)
		return atr__err(ATR_EINVALID, "%s is too long (%zu bytes)", what, len);
	memcpy(buf, text, len);
	buf[len] = '\0';
	return 0;
}

int atr_signer_new(atr_signer **out, const char *skey)
{
	static const char prefix[] = "PRIVATE+KEY+";
	char buf[ATR_KEY_NAME_MAX + 128];
	atr_signer *s;
	int rc;

	*out = NULL;
	if (!skey)
		return atr__err(ATR_EINVALID, "no signer key");
	if ((rc = trimmed(skey, buf, sizeof(buf), "signer key")) < 0)
		return rc;
	if (strncmp(buf, prefix, sizeof(prefix) - 1) != 0)
		return atr__err(ATR_EINVALID,
		                "a signer key starts with 'PRIVATE+KEY+' (is this the "
		                "verifier key?)");
	if (!(s = calloc(1, sizeof(*s))))
		return atr__err(ATR_ENOMEM, "out of memory");
	rc = key_parse(buf + sizeof(prefix) - 1, "signer key", s->name, &s->id, s->seed);
	OPENSSL_cleanse(buf, sizeof(buf));
	if (rc == 0 && (rc = pub_from_seed(s->seed, s->pub, &s->key)) == 0 &&
	    key_id(s->name, s->pub) != s->id)
		rc = atr__err(ATR_EINVALID, "signer key: key id %08x does not match the key",
		              (unsigned)s->id);
	if (rc < 0) {
		atr_signer_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void atr_signer_free(atr_signer *s)
{
	if (!s)
		return;
	EVP_PKEY_free(s->key);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

const char *atr_signer_name(const atr_signer *s)
{
	return s->name;
}

int atr_signer_verifier_key(const atr_signer *s, char **vkey)
{
	return key_text(vkey, "", s->name, s->id, s->pub);
}

int atr_verifier_new(atr_verifier **out, const char *vkey)
{
	char buf[ATR_KEY_NAME_MAX + 128];
	atr_verifier *v;
	int rc;

	*out = NULL;
	if (!vkey)
		return atr__err(ATR_EINVALID, "no verifier key");
	if ((rc = trimmed(vkey, buf, sizeof(buf), "verifier key")) < 0)
		return rc;
	if (strncmp(buf, "PRIVATE+KEY+", 12) == 0)
		return atr__err(ATR_EINVALID, "this is a signer (private) key; verifying needs the "
		                              "verifier key (the .pub file)");
	if (!(v = calloc(1, sizeof(*v))))
		return atr__err(ATR_ENOMEM, "out of memory");
	rc = key_parse(buf, "verifier key", v->name, &v->id, v->pub);
	if (rc == 0 && key_id(v->name, v->pub) != v->id)
		rc = atr__err(ATR_EINVALID, "verifier key: key id %08x does not match the key",
		              (unsigned)v->id);
	if (rc == 0 && !(v->key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, v->pub, 32)))
		rc = atr__err(ATR_EINVALID, "verifier key: not a valid Ed25519 public key");
	if (rc < 0) {
		atr_verifier_free(v);
		return rc;
	}
	*out = v;
	return 0;
}

void atr_verifier_free(atr_verifier *v)
{
	if (!v)
		return;
	EVP_PKEY_free(v->key);
	free(v);
}

const char *atr_verifier_name(const atr_verifier *v)
{
	return v->name;
}

int atr_key_file_read(const char *path, char **text)
{
	char line[ATR_KEY_NAME_MAX + 128];
	FILE *f;
	int rc = 0;

	*text = NULL;
	if (!(f = fopen(path, "r")))
		return atr__err(errno == ENOENT ? ATR_ENOTFOUND : ATR_EIO,
		                "cannot open key file '%s': %s", path, strerror(errno));
	if (!fgets(line, sizeof(line), f))
		rc = atr__err(ferror(f) ? ATR_EIO : ATR_EINVALID, "key file '%s' is empty", path);
	else if (!strchr(line, '\n') && !feof(f))
		rc = atr__err(ATR_EINVALID, "key file '%s': the first line is too long for a key",
		              path);
	fclose(f);
	if (rc == 0) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!(*text = strdup(line)))
			rc = atr__err(ATR_ENOMEM, "out of memory");
	}
	OPENSSL_cleanse(line, sizeof(line));
	return rc;
}

/* ------------------------------------------------------------ notes */

int atr_checkpoint_sign(const atr_signer *s, uint64_t size, const atr_hash *root, char **note)
{
	char body[ATR_KEY_NAME_MAX + 128], rootb64[48], sigb64[96];
	uint8_t sig[4 + 64];
	size_t siglen = 64, blen, cap;
	EVP_MD_CTX *md;
	int ok;

	*note = NULL;
	atr__b64_encode(rootb64, root->b, 32);
	blen = (size_t)snprintf(body, sizeof(body), "%s\n%llu\n%s\n", s->name,
	                        (unsigned long long)size, rootb64);
	if (!(md = EVP_MD_CTX_new()))
		return atr__err(ATR_ENOMEM, "out of memory");
	ok = EVP_DigestSignInit(md, NULL, NULL, NULL, s->key) == 1 &&
	     EVP_DigestSign(md, sig + 4, &siglen, (const uint8_t *)body, blen) == 1 && siglen == 64;
	EVP_MD_CTX_free(md);
	if (!ok)
		return ossl_fail("sign a checkpoint");
	sig[0] = (uint8_t)(s->id >> 24);
	sig[1] = (uint8_t)(s->id >> 16);
	sig[2] = (uint8_t)(s->id >> 8);
	sig[3] = (uint8_t)s->id;
	atr__b64_encode(sigb64, sig, sizeof(sig));
	cap = blen + 1 + sizeof(em_dash) + strlen(s->name) + 1 + strlen(sigb64) + 2;
	if (!(*note = malloc(cap)))
		return atr__err(ATR_ENOMEM, "out of memory");
	snprintf(*note, cap, "%s\n%s %s %s\n", body, em_dash, s->name, sigb64);
	return 0;
}

/* Where the signature block starts: after the last "\n\n". 0 if there is none. */
static size_t split_note(const char *note, size_t len)
{
	for (size_t i = len; i >= 2; i--)
		if (note[i - 1] == '\n' && note[i - 2] == '\n')
			return i;
	return 0;
}

/* Parse "origin\nsize\nroot\n[extensions...]" (the signed text, without the blank line). */
static int parse_body(const char *text, size_t len, atr_checkpoint *out)
{
	const char *p = text, *end = text + len, *nl;
	uint8_t root[40];
	uint64_t size = 0;
	size_t n;
	int rc;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if ((c < 0x20 && c != '\n') || c == 0x7f)
			return atr__err(ATR_EINVALID,
			                "checkpoint has a control character at byte %zu", i);
	}
	if (!(nl = memchr(p, '\n', (size_t)(end - p))))
		return atr__err(ATR_EINVALID, "checkpoint has no origin line");
	if ((rc = check_name(p, (size_t)(nl - p))) < 0)
		return atr__err_prefix(rc, "checkpoint origin");
	memcpy(out->origin, p, (size_t)(nl - p));
	out->origin[nl - p] = '\0';
	p = nl + 1;
	if (!(nl = memchr(p, '\n', (size_t)(end - p))) || nl == p || nl - p > 20 ||
	    (*p == '0' && nl - p > 1))
		return atr__err(ATR_EINVALID, "checkpoint size line is not a decimal number");
	for (const char *q = p; q < nl; q++) {
		if (*q < '0' || *q > '9' || size > (UINT64_MAX - (uint64_t)(*q - '0')) / 10)
			return atr__err(ATR_EINVALID,
			                "checkpoint size line is not a decimal number");
		size = size * 10 + (uint64_t)(*q - '0');
	}
	p = nl + 1;
	if (!(nl = memchr(p, '\n', (size_t)(end - p))))
		return atr__err(ATR_EINVALID, "checkpoint has no root hash line");
	n = (size_t)(nl - p);
	if (atr__b64_decode(root, sizeof(root), p, n) != 32)
		return atr__err(ATR_EINVALID, "checkpoint root is not base64 of 32 bytes");
	out->size = size;
	memcpy(out->root.b, root, 32);
	/* Extension lines may follow; they are signed with the rest but carry nothing for us. */
	return 0;
}

/* One parsed signature line. */
struct sigline {
	char name[ATR_KEY_NAME_MAX + 1];
	uint32_t id;
	uint8_t sig[64];
};

/*
 * Split a note into its text and signature lines. 'sigs' gets up to
 * MAX_SIGS lines; unknown-algorithm signatures (not 68 bytes) are skipped
 * as Go's package does.
 */
static int parse_note(const char *note, size_t len, size_t *text_len, struct sigline *sigs,
                      size_t *nsigs)
{
	size_t start, n = 0;
	const char *p, *end = note + len;

	if (len > MAX_NOTE)
		return atr__err(ATR_ETOOBIG, "note is %zu bytes; the limit is %u", len, MAX_NOTE);
	if (memchr(note, '\0', len))
		return atr__err(ATR_EINVALID, "note contains a NUL byte");
	if (!(start = split_note(note, len)) || start == len)
		return atr__err(ATR_EINVALID, "note has no signature lines after a blank line");
	if (note[len - 1] != '\n')
		return atr__err(ATR_EINVALID, "note does not end with a newline");
	*text_len = start - 1; /* the signed text keeps its final newline, not the blank line */
	for (p = note + start; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *sp;
		uint8_t raw[128];
		long rl;

		if (n == MAX_SIGS)
			return atr__err(ATR_EINVALID, "note has more than %d signatures", MAX_SIGS);
		if ((size_t)(nl - p) < sizeof(em_dash) + 1 || memcmp(p, em_dash, 3) != 0 ||
		    p[3] != ' ')
			return atr__err(ATR_EINVALID, "signature line %zu does not start with '— '",
			                n + 1);
		p += 4;
		if (!(sp = memchr(p, ' ', (size_t)(nl - p))))
			return atr__err(ATR_EINVALID, "signature line %zu has no signature", n + 1);
		if (check_name(p, (size_t)(sp - p)) < 0)
			return atr__err(ATR_EINVALID, "signature line %zu has a bad key name",
			                n + 1);
		rl = atr__b64_decode(raw, sizeof(raw), sp + 1, (size_t)(nl - sp - 1));
		if (rl < 5)
			return atr__err(ATR_EINVALID,
			                "signature line %zu is not base64 of a signature", n + 1);
		if (rl == 68) {
			memcpy(sigs[n].name, p, (size_t)(sp - p));
			sigs[n].name[sp - p] = '\0';
			sigs[n].id = (uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 |
			             (uint32_t)raw[2] << 8 | raw[3];
			memcpy(sigs[n].sig, raw + 4, 64);
			n++;
		}
		p = nl + 1;
	}
	*nsigs = n;
	return 0;
}

int atr_checkpoint_parse(const char *note, size_t len, atr_checkpoint *out)
{
	struct sigline *sigs = malloc(MAX_SIGS * sizeof(*sigs));
	size_t tlen, n;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!sigs)
		return atr__err(ATR_ENOMEM, "out of memory");
	rc = parse_note(note, len, &tlen, sigs, &n);
	free(sigs);
	return rc < 0 ? rc : parse_body(note, tlen, out);
}

int atr_checkpoint_open(const char *note, size_t len, const atr_verifier *v, atr_checkpoint *out)
{
	struct sigline *sigs = malloc(MAX_SIGS * sizeof(*sigs));
	size_t tlen, n;
	int rc, found = 0;

	memset(out, 0, sizeof(*out));
	if (!sigs)
		return atr__err(ATR_ENOMEM, "out of memory");
	if ((rc = parse_note(note, len, &tlen, sigs, &n)) < 0 ||
	    (rc = parse_body(note, tlen, out)) < 0)
		goto done;
	for (size_t i = 0; i < n && !found; i++) {
		EVP_MD_CTX *md;
		int ok;

		if (sigs[i].id != v->id || strcmp(sigs[i].name, v->name) != 0)
			continue;
		if (!(md = EVP_MD_CTX_new())) {
			rc = atr__err(ATR_ENOMEM, "out of memory");
			goto done;
		}
		ok = EVP_DigestVerifyInit(md, NULL, NULL, NULL, v->key) == 1 &&
		     EVP_DigestVerify(md, sigs[i].sig, 64, (const uint8_t *)note, tlen) == 1;
		EVP_MD_CTX_free(md);
		if (!ok) {
			rc = atr__err(ATR_ETAMPER,
			              "bad signature: the checkpoint of size %llu is not signed by "
			              "key '%s' (%08x) as it claims",
			              (unsigned long long)out->size, v->name, (unsigned)v->id);
			goto done;
		}
		found = 1;
	}
	if (!found)
		rc = atr__err(ATR_ENOTFOUND,
		              "the checkpoint of size %llu has no signature by key "
		              "'%s' (%08x)",
		              (unsigned long long)out->size, v->name, (unsigned)v->id);
	else if (strcmp(out->origin, v->name) != 0)
		rc = atr__err(ATR_ENOTFOUND, "the checkpoint's origin '%s' is not key '%s'",
		              out->origin, v->name);
done:
	free(sigs);
	return rc;
}
