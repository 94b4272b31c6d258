/*
 * Library-internal helpers shared by every module: error reporting and
 * SHA-256. Never installed; programs use the public headers.
 */
#ifndef ATR_INTERNAL_H
#define ATR_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <agentrail/common.h>

/*
 * Set this thread's error message (printf-style) and return 'code', so a
 * failure reads:  return atr__err(ATR_EINVALID, "field '%s' must be a string", k);
 * Messages are lower case, no full stop, the subject in quotes.
 */
int atr__err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefix this thread's current message with "prefix: " and return 'code'. */
int atr__err_prefix(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* SHA-256 over up to three byte ranges concatenated (NULL/0 ranges skipped). */
void atr__sha256(uint8_t out[32], const void *a, size_t alen, const void *b, size_t blen,
                 const void *c, size_t clen);

/* Lower-case hex of 'n' bytes into 'out' (2n+1 bytes with the NUL). */
void atr__hex(char *out, const uint8_t *in, size_t n);

/* The value of one hex digit (either case), or -1. */
int atr__hexval(char c);

/* Parse exactly 2n hex digits from 'hex' (NUL-terminated) into 'out'; -1 if not. */
int atr__unhex(uint8_t *out, size_t n, const char *hex);
/* Parse "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (either case) into 16 bytes; -1 if malformed. */
int atr__uuid_parse(uint8_t out[16], const char *text);

/* Base64 (standard alphabet, padded) of 'n' bytes into 'out' (4*ceil(n/3)+1 bytes); answers
 * the length. */
size_t atr__b64_encode(char *out, const uint8_t *in, size_t n);

/* Strict base64 decode of 'len' characters into at most 'cap' bytes; the byte count or -1. */
long atr__b64_decode(uint8_t *out, size_t cap, const char *in, size_t len);

/* Fill 'out' with cryptographically random bytes; ATR_EBACKEND if the RNG fails. */
int atr__random(void *out, size_t n);

/* Wall clock in microseconds since the epoch. */
int64_t atr__now_us(void);

/* Proleptic Gregorian calendar (timefmt.c): days since 1970-01-01 of a date, and back. */
int64_t atr__days_from_civil(int64_t y, int m, int d);
void atr__civil_from_days(int64_t days, int64_t *y, int *m, int *d);
/* The days of month 'm' (1..12) of year 'y'. */
int atr__days_in_month(int64_t y, int m);

#endif
