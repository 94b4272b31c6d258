/*
 * Event ids: UUIDv7 generation (RFC 9562 §5.7) and the 36-character text
 * form. Ids made by one process are strictly increasing, so they sort in
 * the order the log assigned them even within one millisecond. Also the
 * per-thread pool of random bytes that ids and detail salts draw from.
 */
#include <pthread.h>
#include <string.h>

#include "event.h"
#include "internal.h"

/*
 * RAND_bytes costs about a microsecond a call whatever the size, which is
 * a fifth of the budget for one event; drawing 42 bytes an event from a
 * thread's 4 KiB pool costs a memcpy. The bytes come from the same DRBG.
 * A forked child must never reuse its parent's bytes: the atfork handler
 * moves the generation on and every pool made before it is refilled.
 */
#define POOL_SIZE 4096

static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static volatile unsigned long pool_generation = 1;
static _Thread_local struct {
	uint8_t bytes[POOL_SIZE];
	size_t left;
	unsigned long generation;
} pool;

static void pool_forked(void)
{
	pool_generation++;
}

static void pool_init(void)
{
	pthread_atfork(NULL, NULL, pool_forked);
}

int atr__random_pool(void *out, size_t n)
{
	int rc;

	if (n > POOL_SIZE / 4)
		return atr__random(out, n);
	pthread_once(&pool_once, pool_init);
	if (pool.generation != pool_generation || pool.left < n) {
		if ((rc = atr__random(pool.bytes, POOL_SIZE)) != 0) {
			pool.left = 0;
			return rc;
		}
		pool.left = POOL_SIZE;
		pool.generation = pool_generation;
	}
	/* Hand out from the end and wipe what was handed out. */
	pool.left -= n;
	memcpy(out, pool.bytes + pool.left, n);
	memset(pool.bytes + pool.left, 0, n);
	return 0;
}

static pthread_mutex_t last_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t last_id[16];

/* Add 1 to the 74 random bits (rand_a and rand_b); 1 if they wrapped. */
static int bump_random(uint8_t id[16])
{
	for (int i = 15; i >= 9; i--)
		if (++id[i] != 0)
			return 0;
	/* Byte 8 holds the variant in its top two bits. */
	id[8] = (uint8_t)((id[8] & 0xc0) | ((id[8] + 1) & 0x3f));
	if ((id[8] & 0x3f) != 0)
		return 0;
	id[7]++;
	if (id[7] != 0)
		return 0;
	id[6] = (uint8_t)((id[6] & 0xf0) | ((id[6] + 1) & 0x0f));
	return (id[6] & 0x0f) == 0;
}

static void set_ms(uint8_t id[16], uint64_t ms)
{
	for (int i = 5; i >= 0; i--) {
		id[i] = (uint8_t)ms;
		ms >>= 8;
	}
}

static uint64_t get_ms(const uint8_t id[16])
{
	uint64_t ms = 0;

	for (int i = 0; i < 6; i++)
		ms = ms << 8 | id[i];
	return ms;
}

int atr__uuid7(uint8_t out[16], int64_t now_us)
{
	uint8_t id[16];
	uint64_t ms = now_us > 0 ? (uint64_t)now_us / 1000 : 0;
	int rc;

	if ((rc = atr__random_pool(id + 6, 10)) != 0)
		return rc;
	set_ms(id, ms & UINT64_C(0xffffffffffff));
	id[6] = (uint8_t)(0x70 | (id[6] & 0x0f));
	id[8] = (uint8_t)(0x80 | (id[8] & 0x3f));

	/*
	 * Monotonic: an id not above the last one (same millisecond, or the
	 * clock stepped back) becomes the last one plus one, moving on to the
	 * next millisecond if the random bits run out.
	 */
	pthread_mutex_lock(&last_lock);
	if (memcmp(id, last_id, 16) <= 0) {
		memcpy(id, last_id, 16);
		if (bump_random(id))
			set_ms(id, (get_ms(id) + 1) & UINT64_C(0xffffffffffff));
	}
	memcpy(last_id, id, 16);
	pthread_mutex_unlock(&last_lock);
	memcpy(out, id, 16);
	return 0;
}

int atr__uuid_parse(uint8_t out[16], const char *text)
{
	uint8_t id[16];
	int n = 0;

	for (int i = 0; i < 36; i++) {
		int hi, lo;

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (text[i] != '-')
				return -1;
			continue;
		}
		/* Reads stop at the first bad byte, so a short string ends at its NUL. */
		if ((hi = atr__hexval(text[i])) < 0 || (lo = atr__hexval(text[i + 1])) < 0)
			return -1;
		id[n++] = (uint8_t)(hi << 4 | lo);
		i++;
	}
	if (text[36] != '\0')
		return -1;
	memcpy(out, id, 16);
	return 0;
}

void atr__uuid_format(const uint8_t id[16], char out[37])
{
	static const char hex[] = "0123456789abcdef";
	char *o = out;

	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*o++ = '-';
		*o++ = hex[id[i] >> 4];
		*o++ = hex[id[i] & 15];
	}
	*o = '\0';
}
