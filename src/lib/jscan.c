/*
 * The allocation-free JSON scanner behind verification and export: skip a
 * value, find a top-level member. Every read is bounds-checked against
 * 'end', so hostile or truncated text fails cleanly instead of over-reading.
 */
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "jscan.h"

#define ONES  UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

static inline const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	return p;
}

static int is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/*
 * The first quote, backslash or control character at or after 's', or
 * 'end'. Record strings are long runs of plain text and this is where
 * verification spends its time: 16 bytes a step with SSE2, else 8 with
 * word tricks (whose lowest flagged byte is always a true match).
 */
static inline const char *scan_special(const char *s, const char *end)
{
#ifdef __SSE2__
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
	const __m128i ctl = _mm_set1_epi8(0x1f);

	while (end - s >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)s);
		__m128i m =
		    _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
		                 _mm_cmpeq_epi8(_mm_min_epu8(v, ctl), v));
		unsigned mask = (unsigned)_mm_movemask_epi8(m);

		if (mask)
			return s + __builtin_ctz(mask);
		s += 16;
	}
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	while (end - s >= 8) {
		uint64_t v, q, b, m;

		memcpy(&v, s, 8);
		q = v ^ (ONES * '"');
		b = v ^ (ONES * '\\');
		m = (((q - ONES) & ~q) | ((b - ONES) & ~b) | ((v - ONES * 0x20) & ~v)) & HIGHS;
		if (m)
			return s + (__builtin_ctzll(m) >> 3);
		s += 8;
	}
#endif
	while (s < end && *s != '"' && *s != '\\' && (unsigned char)*s >= 0x20)
		s++;
	return s;
}

/* 'p' is at the opening quote; returns the byte after the closing one, or NULL. */
static const char *skip_string(const char *p, const char *end)
{
	p++;
	for (;;) {
		unsigned char c;

		p = scan_special(p, end);
		if (p >= end)
			return NULL;
		c = (unsigned char)*p;
		if (c == '"')
			return p + 1;
		if (c < 0x20)
			return NULL;
		/* A backslash. */
		if (++p >= end)
			return NULL;
		switch (*p) {
		case '"':
		case '\\':
		case '/':
		case 'b':
		case 'f':
		case 'n':
		case 'r':
		case 't':
			break;
		case 'u':
			if (end - p < 5 || !is_hex(p[1]) || !is_hex(p[2]) || !is_hex(p[3]) ||
			    !is_hex(p[4]))
				return NULL;
			p += 4;
			break;
		default:
			return NULL;
		}
		p++;
	}
}

static const char *skip_digits(const char *p, const char *end)
{
	const char *start = p;

	while (p < end && *p >= '0' && *p <= '9')
		p++;
	return p == start ? NULL : p;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static const char *skip_number(const char *p, const char *end)
{
	if (p < end && *p == '-')
		p++;
	if (p >= end)
		return NULL;
	if (*p == '0')
		p++;
	else if (!(p = skip_digits(p, end)))
		return NULL;
	if (p < end && *p == '.' && !(p = skip_digits(p + 1, end)))
		return NULL;
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (!(p = skip_digits(p, end)))
			return NULL;
	}
	return p;
}

static const char *skip_literal(const char *p, const char *end, const char *lit, size_t n)
{
	if ((size_t)(end - p) < n || memcmp(p, lit, n) != 0)
		return NULL;
	return p + n;
}

const char *atr__json_skip(const char *p, const char *end)
{
	/* One bit per open container, 1 for an object: no recursion, no allocation. */
	uint64_t stack = 0;
	int depth = 0;

value:
	if (p >= end)
		return NULL;
	switch (*p) {
	case '"':
		p = skip_string(p, end);
		break;
	case '{':
	case '[':
		if (depth == 64)
			return NULL;
		stack = stack << 1 | (*p == '{');
		depth++;
		p = skip_ws(p + 1, end);
		if (p < end && *p == ((stack & 1) ? '}' : ']')) {
			p++;
			stack >>= 1;
			depth--;
			break;
		}
		if (stack & 1)
			goto key;
		goto value;
	case 't':
		p = skip_literal(p, end, "true", 4);
		break;
	case 'f':
		p = skip_literal(p, end, "false", 5);
		break;
	case 'n':
		p = skip_literal(p, end, "null", 4);
		break;
	default:
		p = skip_number(p, end);
		break;
	}
	if (!p)
		return NULL;
	for (;;) {
		if (depth == 0)
			return p;
		p = skip_ws(p, end);
		if (p >= end)
			return NULL;
		if (*p == ',') {
			p = skip_ws(p + 1, end);
			if (stack & 1)
				goto key;
			goto value;
		}
		if (*p != ((stack & 1) ? '}' : ']'))
			return NULL;
		p++;
		stack >>= 1;
		depth--;
	}

key:
	if (p >= end || *p != '"' || !(p = skip_string(p, end)))
		return NULL;
	p = skip_ws(p, end);
	if (p >= end || *p != ':')
		return NULL;
	p = skip_ws(p + 1, end);
	goto value;
}

int atr__json_member(const char *buf, size_t len, const char *key, const char **val, size_t *vlen)
{
	const char *p = buf, *end = buf + len;
	size_t klen = strlen(key);

	p = skip_ws(p, end);
	if (p >= end || *p != '{')
		return -1;
	p = skip_ws(p + 1, end);
	if (p < end && *p == '}')
		return skip_ws(p + 1, end) == end ? 1 : -1;
	for (;;) {
		const char *k, *v, *vend;
		int match;

		if (p >= end || *p != '"')
			return -1;
		k = p + 1;
		if (!(p = skip_string(p, end)))
			return -1;
		/* Raw comparison: a key spelled with escapes is not the key we look for. */
		match = (size_t)(p - 1 - k) == klen && memcmp(k, key, klen) == 0;
		p = skip_ws(p, end);
		if (p >= end || *p != ':')
			return -1;
		v = p = skip_ws(p + 1, end);
		if (!(p = atr__json_skip(p, end)))
			return -1;
		vend = p;
		p = skip_ws(p, end);
		if (p >= end || (*p != ',' && *p != '}'))
			return -1;
		if (match) {
			/*
			 * Found, and properly followed (so a number cut short by
			 * truncation is never taken for the whole): the rest of
			 * the object is not checked.
			 */
			*val = v;
			*vlen = (size_t)(vend - v);
			return 0;
		}
		if (*p == '}')
			return skip_ws(p + 1, end) == end ? 1 : -1;
		p = skip_ws(p + 1, end);
	}
}

int atr__json_member_str(const char *buf, size_t len, const char *key, const char **val,
                         size_t *vlen)
{
	const char *v;
	size_t n;
	int rc = atr__json_member(buf, len, key, &v, &n);

	if (rc != 0)
		return rc;
	if (n < 2 || v[0] != '"' || memchr(v + 1, '\\', n - 2))
		return -1;
	*val = v + 1;
	*vlen = n - 2;
	return 0;
}

int atr__json_member_u64(const char *buf, size_t len, const char *key, uint64_t *out)
{
	const char *v;
	size_t n;
	uint64_t x = 0;
	int rc = atr__json_member(buf, len, key, &v, &n);

	if (rc != 0)
		return rc;
	if (n == 0 || (v[0] == '0' && n > 1))
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(v[i] - '0');

		if (d > 9 || x > (UINT64_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	*out = x;
	return 0;
}
