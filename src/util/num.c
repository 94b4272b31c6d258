/*
 * Strict decimal parsing: the whole string must be a number in range, so
 * "12abc", "", " 5" and "99999999999999999999" are all errors.
 */
#include <errno.h>
#include <stdlib.h>

#include "util/util.h"

int util_parse_i64(const char *text, int64_t *out)
{
	char *end = NULL;
	long long v;

	if (!text || !*text)
		return -1;
	if (!((*text >= '0' && *text <= '9') || *text == '-' || *text == '+'))
		return -1;
	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0')
		return -1;
	*out = (int64_t)v;
	return 0;
}

int util_parse_u64(const char *text, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;

	if (!text || !(*text >= '0' && *text <= '9'))
		return -1;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0')
		return -1;
	*out = (uint64_t)v;
	return 0;
}
