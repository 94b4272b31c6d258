/*
 * Small helpers shared by the programs (never installed): strict number
 * parsing, a growable byte buffer with a cap, a string set/map for ids,
 * random bytes and a monotonic clock.
 */
#ifndef ATR_UTIL_H
#define ATR_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Parse all of 'text' as a decimal integer; -1 on anything else or overflow. */
int util_parse_i64(const char *text, int64_t *out);
int util_parse_u64(const char *text, uint64_t *out);

/* A growable byte buffer, always NUL-terminated once anything is added. */
struct util_buf {
	char *data;
	size_t len;
	size_t cap;
};

void util_buf_init(struct util_buf *b);
void util_buf_release(struct util_buf *b);
/* Append 'n' bytes; -1 when out of memory. */
int util_buf_add(struct util_buf *b, const void *p, size_t n);
int util_buf_adds(struct util_buf *b, const char *s);
void util_buf_reset(struct util_buf *b);

/*
 * Read all of 'f' into 'b'. Returns 0, -1 on a read error or out of memory,
 * -2 when the input exceeds 'max' bytes.
 */
int util_read_all(FILE *f, struct util_buf *b, size_t max);

/*
 * Read one line of 'f' (without its "\n" or "\r\n") into 'b'. Returns 1 with
 * a line, 0 at end of file, -1 on a read error or out of memory, -2 when the
 * line exceeds 'max' bytes (the rest of it is not consumed).
 */
int util_read_line(FILE *f, struct util_buf *b, size_t max);

/* A map from strings to integers (open addressing; keys are copied). */
struct util_map {
	struct util_map_slot *slots;
	size_t n;
	size_t cap;
};

void util_map_init(struct util_map *m);
void util_map_release(struct util_map *m);
void util_map_clear(struct util_map *m);
/* Insert or replace; -1 when out of memory. */
int util_map_put(struct util_map *m, const char *key, long value);
/* 1 and '*value' set when present, else 0. 'value' may be NULL. */
int util_map_get(const struct util_map *m, const char *key, long *value);

/* Fill 'out' with random bytes from the kernel; -1 on failure. */
int util_random(void *out, size_t n);

/* A random version 4 UUID as lower-case text. */
int util_uuid4(char out[37]);

/* Format 16 bytes as a UUID "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx". */
void util_uuid_format(const uint8_t b[16], char out[37]);

/* Seconds on CLOCK_MONOTONIC. */
double util_now_mono(void);

#endif
