/*
 * Shared definitions for the agentrail public API: the export macro, status
 * codes and the per-thread error message that every failing call leaves.
 */
#ifndef AGENTRAIL_COMMON_H
#define AGENTRAIL_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define ATR_EXTERN __attribute__((visibility("default")))
#else
#define ATR_EXTERN
#endif

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Status codes. Every function that can fail returns 0 or one of these
 * negative codes and leaves a one-line message for the calling thread,
 * readable with atr_errmsg(). Codes are stable; messages are for people.
 */
enum atr_status {
	ATR_OK = 0,
	ATR_EINVALID =
	    -1, /* bad input: malformed JSON, a field that fails validation, bad argument */
	ATR_ENOTFOUND = -2,     /* no such record, event id, file */
	ATR_EEXISTS = -3,       /* the thing to create exists already */
	ATR_ECONFLICT = -4,     /* same event_id with different content; log moved under us */
	ATR_ETAMPER = -5,       /* stored data fails an integrity check */
	ATR_EBACKEND = -6,      /* the store failed (SQLite error, disk full, ...) */
	ATR_ETOOBIG = -7,       /* input exceeds a size, length or depth limit */
	ATR_ENOMEM = -8,        /* out of memory */
	ATR_EIO = -9,           /* reading or writing a file failed */
	ATR_EBUSY = -10,        /* the store stayed locked by another writer too long */
	ATR_EUNSUPPORTED = -11, /* a store URI scheme or feature this build does not have */
	ATR_EERASED = -12       /* the payload holding what was asked for was erased */
};

/*
 * The message of the last failure on this thread ("" when none). The
 * pointer is valid until the next agentrail call on the same thread.
 */
ATR_EXTERN const char *atr_errmsg(void);

/* A stable lower-case name for a status code ("invalid", "not_found", ...). */
ATR_EXTERN const char *atr_strerror(int code);

/* Release memory that an agentrail function handed to the caller. NULL is a no-op. */
ATR_EXTERN void atr_free(void *ptr);

/* The library version string, e.g. "0.1.0". Static storage. */
ATR_EXTERN const char *atr_version(void);

/* A SHA-256 hash: a record's leaf hash, a tree node, a root. */
typedef struct atr_hash {
	uint8_t b[32];
} atr_hash;

/* Lower-case hex of 'h' into 'out' (65 bytes: 64 digits and a NUL). */
ATR_EXTERN void atr_hash_hex(const atr_hash *h, char out[65]);

/* Parse 64 hex digits; ATR_EINVALID if 'hex' is anything else. */
ATR_EXTERN int atr_hash_parse(atr_hash *out, const char *hex);

#ifdef __cplusplus
}
#endif
#endif
