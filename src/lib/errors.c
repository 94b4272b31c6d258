/*
 * The per-thread last error, status code names, and small helpers every
 * module uses (hex, randomness, the clock).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "internal.h"

#define ERRMSG_MAX 1024

static _Thread_local char errmsg[ERRMSG_MAX];

const char *atr_errmsg(void)
{
	return errmsg;
}

int atr__err(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errmsg, sizeof(errmsg), fmt, ap);
	va_end(ap);
	return code;
}

int atr__err_prefix(int code, const char *fmt, ...)
{
	char old[ERRMSG_MAX];
	size_t n;
	va_list ap;

	memcpy(old, errmsg, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(errmsg, sizeof(errmsg), fmt, ap);
	va_end(ap);
	n = strlen(errmsg);
	if (n + 2 < sizeof(errmsg)) {
		memcpy(errmsg + n, ": ", 2);
		n += 2;
		size_t rest = strnlen(old, sizeof(errmsg) - n - 1);
		memcpy(errmsg + n, old, rest);
		errmsg[n + rest] = '\0';
	}
	return code;
}

const char *atr_strerror(int code)
{
	switch (code) {
	case ATR_OK:
		return "ok";
	case ATR_EINVALID:
		return "invalid";
	case ATR_ENOTFOUND:
		return "not_found";
	case ATR_EEXISTS:
		return "exists";
	case ATR_ECONFLICT:
		return "conflict";
	case ATR_ETAMPER:
		return "tampered";
	case ATR_EBACKEND:
		return "backend";
	case ATR_ETOOBIG:
		return "too_big";
	case ATR_ENOMEM:
		return "no_memory";
	case ATR_EIO:
		return "io";
	case ATR_EBUSY:
		return "busy";
	case ATR_EUNSUPPORTED:
		return "unsupported";
	case ATR_EERASED:
		return "payload_erased";
	default:
		return "unknown";
	}
}

void atr_free(void *ptr)
{
	free(ptr);
}

const char *atr_version(void)
{
	return ATR_VERSION;
}

void atr__hex(char *out, const uint8_t *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int atr__hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int atr__unhex(uint8_t *out, size_t n, const char *hex)
{
	for (size_t i = 0; i < n; i++) {
		int hi, lo;

		if (!hex[2 * i] || (hi = atr__hexval(hex[2 * i])) < 0 || !hex[2 * i + 1] ||
		    (lo = atr__hexval(hex[2 * i + 1])) < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return hex[2 * n] == '\0' ? 0 : -1;
}

void atr_hash_hex(const atr_hash *h, char out[65])
{
	atr__hex(out, h->b, sizeof(h->b));
}

int atr_hash_parse(atr_hash *out, const char *hex)
{
	if (!hex || atr__unhex(out->b, sizeof(out->b), hex) != 0)
		return atr__err(ATR_EINVALID, "'%.80s' is not a 64-digit hex hash", hex ? hex : "");
	return 0;
}

int atr__random(void *out, size_t n)
{
	if (RAND_bytes(out, (int)n) != 1)
		return atr__err(ATR_EBACKEND, "the random number generator failed");
	return 0;
}

int64_t atr__now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
