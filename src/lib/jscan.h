/*
 * A fast, allocation-free scanner over JSON text we wrote ourselves
 * (canonical records, export lines). It never builds a tree: verification
 * reads hundreds of MB/s and must not parse every record into objects.
 */
#ifndef ATR_JSCAN_H
#define ATR_JSCAN_H

#include <stddef.h>
#include <stdint.h>

/*
 * Given 'p' at the first byte of a JSON value, return the byte after its end,
 * or NULL if the text is not a well-formed value before 'end'. Strings are
 * checked for escapes, not for UTF-8. Nesting deeper than 64 is refused.
 */
const char *atr__json_skip(const char *p, const char *end);

/*
 * Find the member 'key' of the top-level object in [buf, buf+len) and answer
 * the raw span of its value. 0 if found, 1 if the object has no such key,
 * -1 if the text is not an object.
 */
int atr__json_member(const char *buf, size_t len, const char *key, const char **val, size_t *vlen);

/* A member that is a plain string without escapes (ids, hex); answers the text between the quotes.
 */
int atr__json_member_str(const char *buf, size_t len, const char *key, const char **val,
                         size_t *vlen);

/* A member that is a non-negative integer. */
int atr__json_member_u64(const char *buf, size_t len, const char *key, uint64_t *out);

#endif
