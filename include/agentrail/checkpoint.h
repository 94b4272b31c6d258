/*
 * Signed checkpoints: Ed25519 keys in the text encoding of Go's
 * golang.org/x/mod/sumdb/note, and C2SP tlog-checkpoint signed notes over
 * the RFC 6962 root, so that tools outside this project can check them.
 *
 *   signer key    PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x01 || seed)>
 *   verifier key  <name>+<8 hex key id>+<base64(0x01 || public key)>
 *   checkpoint    <origin>\n<size>\n<base64 root>\n\n— <name> <base64(key id || signature)>\n
 *
 * The key id is the first four bytes (big-endian) of
 * SHA-256(name || "\n" || 0x01 || public key). The origin of every
 * checkpoint we sign is the signer's key name.
 */
#ifndef AGENTRAIL_CHECKPOINT_H
#define AGENTRAIL_CHECKPOINT_H

#include "common.h"
#include "log.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct atr_signer atr_signer;
typedef struct atr_verifier atr_verifier;

/* Longest key name (and so checkpoint origin) we accept, in bytes. */
#define ATR_KEY_NAME_MAX 256

/*
 * Make a new Ed25519 key pair named 'name' (no '+', no white space, at most
 * ATR_KEY_NAME_MAX bytes). '*skey' and '*vkey' are one-line texts (no
 * newline), the caller's to release with atr_free().
 */
ATR_EXTERN int atr_keygen(const char *name, char **skey, char **vkey);

/*
 * The same from a given 32-byte seed (for tests and known-answer vectors;
 * real keys come from atr_keygen).
 */
ATR_EXTERN int atr_keygen_seed(const char *name, const uint8_t seed[32], char **skey, char **vkey);

/*
 * Parse a signer key text (surrounding white space ignored). ATR_EINVALID
 * names what is wrong. '*out' is released with atr_signer_free().
 */
ATR_EXTERN int atr_signer_new(atr_signer **out, const char *skey);
ATR_EXTERN void atr_signer_free(atr_signer *s);
/* The key name; borrowed for the signer's lifetime. */
ATR_EXTERN const char *atr_signer_name(const atr_signer *s);
/* The matching verifier key text; the caller frees it with atr_free(). */
ATR_EXTERN int atr_signer_verifier_key(const atr_signer *s, char **vkey);

/* Parse a verifier key text; '*out' is released with atr_verifier_free(). */
ATR_EXTERN int atr_verifier_new(atr_verifier **out, const char *vkey);
ATR_EXTERN void atr_verifier_free(atr_verifier *v);
ATR_EXTERN const char *atr_verifier_name(const atr_verifier *v);

/*
 * Read a key file: its first line, trimmed. ATR_ENOTFOUND / ATR_EIO name the
 * path; '*text' is the caller's to atr_free().
 */
ATR_EXTERN int atr_key_file_read(const char *path, char **text);

/* The body of a checkpoint. */
typedef struct atr_checkpoint {
	char origin[ATR_KEY_NAME_MAX + 1];
	uint64_t size;
	atr_hash root;
} atr_checkpoint;

/*
 * Sign a checkpoint of the tree of 'size' leaves with 'root', origin being
 * the signer's name. '*note' (NUL-terminated, ends with a newline) is the
 * caller's to atr_free().
 */
ATR_EXTERN int atr_checkpoint_sign(const atr_signer *s, uint64_t size, const atr_hash *root,
                                   char **note);

/*
 * Parse a signed checkpoint note without checking any signature:
 * ATR_EINVALID if it is not a well-formed tlog-checkpoint signed note.
 */
ATR_EXTERN int atr_checkpoint_parse(const char *note, size_t len, atr_checkpoint *out);

/*
 * Parse a signed note and check it against 'v': 0 when it carries a valid
 * signature by that key and its origin is the key's name; ATR_EINVALID when
 * malformed; ATR_ENOTFOUND when no signature line is by that key (or the
 * origin is another log's); ATR_ETAMPER when a signature by that key does
 * not verify. 'out' is filled whenever the body parsed.
 */
ATR_EXTERN int atr_checkpoint_open(const char *note, size_t len, const atr_verifier *v,
                                   atr_checkpoint *out);

/* ---- Checkpoints of a log ---- */

/* For atr_log_checkpoint_get(): the checkpoint of the largest size. */
#define ATR_CHECKPOINT_LATEST UINT64_MAX

/*
 * Sign the log's durable tree with 's' and store the checkpoint. Refused
 * (ATR_ETAMPER, nothing signed) when the newest stored checkpoint of the
 * same origin is not a prefix of the tree now: the log was changed since.
 * When the tree has not grown since that checkpoint, it is answered again
 * rather than signed twice. '*note' is the caller's to atr_free(); 'cp' may
 * be NULL.
 */
ATR_EXTERN int atr_log_checkpoint_sign(atr_log *log, const atr_signer *s, char **note,
                                       atr_checkpoint *cp);

/*
 * Store a checkpoint signed elsewhere (a witness's copy, a migration). It
 * must parse, not exceed the log's size, and match the log's root at its
 * size (ATR_ETAMPER otherwise). Signatures are the verifier's business.
 */
ATR_EXTERN int atr_log_checkpoint_add(atr_log *log, const char *note, size_t len);

/*
 * The stored checkpoint with the smallest size at least 'min_size' (the
 * newest of equals), or with ATR_CHECKPOINT_LATEST the one of the largest
 * size. ATR_ENOTFOUND when there is none. '*note' (NUL-terminated) is the
 * caller's to atr_free(); 'len' may be NULL.
 */
ATR_EXTERN int atr_log_checkpoint_get(atr_log *log, uint64_t min_size, char **note, size_t *len);

/*
 * Call 'fn' for every stored checkpoint in size order ('note' borrowed for
 * the call); a nonzero return from 'fn' stops the walk and is returned.
 */
ATR_EXTERN int atr_log_checkpoint_each(
    atr_log *log, int (*fn)(void *ctx, uint64_t size, const char *note, size_t len), void *ctx);

#ifdef __cplusplus
}
#endif
#endif
