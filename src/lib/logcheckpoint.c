/*
 * Checkpoints of a log: signing the durable tree (never past it, never one
 * that does not extend the last signed), storing notes signed elsewhere,
 * and reading them back. The note formats are in checkpoint.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agentrail/checkpoint.h>

#include "internal.h"
#include "logpriv.h"

/* Is the stored checkpoint 'note' a prefix of the log's tree of 'size'? */
static int check_extends(atr_log *log, const char *note, size_t len, uint64_t size,
                         atr_checkpoint *last)
{
	atr_hash root;
	char a[65], b[65];
	int rc;

	if ((rc = atr_checkpoint_parse(note, len, last)) < 0)
		return atr__err_prefix(ATR_ETAMPER, "the newest stored checkpoint is malformed");
	if (last->size > size)
		return atr__err(ATR_ETAMPER,
		                "refusing to sign: the log has %llu records but a checkpoint of "
		                "size %llu was signed (records were removed)",
		                (unsigned long long)size, (unsigned long long)last->size);
	if ((rc = atr_log_root(log, last->size, &root)) < 0)
		return rc;
	if (memcmp(root.b, last->root.b, 32) != 0) {
		atr_hash_hex(&root, a);
		atr_hash_hex(&last->root, b);
		return atr__err(
		    ATR_ETAMPER,
		    "refusing to sign: the log's root at size %llu is %s but the checkpoint "
		    "signed at that size says %s (the log was changed)",
		    (unsigned long long)last->size, a, b);
	}
	return 0;
}

/* Does 'note' carry a valid signature by the key of 's'? */
static int signed_by(const atr_signer *s, const char *note, size_t len)
{
	atr_verifier *v = NULL;
	atr_checkpoint cp;
	char *vkey = NULL;
	int ok = atr_signer_verifier_key(s, &vkey) == 0 && atr_verifier_new(&v, vkey) == 0 &&
	         atr_checkpoint_open(note, len, v, &cp) == 0;

	atr_verifier_free(v);
	free(vkey);
	return ok;
}

int atr_log_checkpoint_sign(atr_log *log, const atr_signer *s, char **note, atr_checkpoint *cp)
{
	atr_checkpoint last, mine;
	char *prev = NULL;
	size_t plen = 0;
	uint64_t size;
	int rc;

	*note = NULL;
	if ((rc = log->st->size(log->st, &size)) < 0)
		return rc;
	rc = log->st->get_checkpoint(log->st, ATR_CHECKPOINT_LATEST, &prev, &plen);
	if (rc < 0 && rc != ATR_ENOTFOUND)
		return rc;
	if (rc == 0 && (rc = check_extends(log, prev, plen, size, &last)) < 0) {
		free(prev);
		return rc;
	}
	if (prev && last.size == size && signed_by(s, prev, plen)) {
		/* Nothing new since: answer the stored one (it may carry other signatures too). */
		*note = prev;
		if (cp)
			*cp = last;
		return 0;
	}
	free(prev);
	memset(&mine, 0, sizeof(mine));
	snprintf(mine.origin, sizeof(mine.origin), "%s", atr_signer_name(s));
	mine.size = size;
	if ((rc = atr_log_root(log, size, &mine.root)) < 0 ||
	    (rc = atr_checkpoint_sign(s, size, &mine.root, note)) < 0)
		return rc;
	if ((rc = log->st->put_checkpoint(log->st, size, *note, strlen(*note))) < 0) {
		free(*note);
		*note = NULL;
		return rc;
	}
	if (cp)
		*cp = mine;
	return 0;
}

int atr_log_checkpoint_add(atr_log *log, const char *note, size_t len)
{
	atr_checkpoint cp;
	atr_hash root;
	uint64_t size;
	char a[65], b[65];
	int rc;

	if ((rc = atr_checkpoint_parse(note, len, &cp)) < 0 ||
	    (rc = log->st->size(log->st, &size)) < 0)
		return rc;
	if (cp.size > size)
		return atr__err(ATR_EINVALID,
		                "the checkpoint is of size %llu but the log has %llu records",
		                (unsigned long long)cp.size, (unsigned long long)size);
	if ((rc = atr_log_root(log, cp.size, &root)) < 0)
		return rc;
	if (memcmp(root.b, cp.root.b, 32) != 0) {
		atr_hash_hex(&root, a);
		atr_hash_hex(&cp.root, b);
		return atr__err(
		    ATR_ETAMPER,
		    "the checkpoint says root %s at size %llu but the log's root there is %s", b,
		    (unsigned long long)cp.size, a);
	}
	return log->st->put_checkpoint(log->st, cp.size, note, len);
}

int atr_log_checkpoint_get(atr_log *log, uint64_t min_size, char **note, size_t *len)
{
	size_t n;

	return log->st->get_checkpoint(log->st, min_size, note, len ? len : &n);
}

int atr_log_checkpoint_each(atr_log *log,
                            int (*fn)(void *ctx, uint64_t size, const char *note, size_t len),
                            void *ctx)
{
	return log->st->each_checkpoint(log->st, fn, ctx);
}
