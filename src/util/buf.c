/*
 * A growable byte buffer and capped readers for whole files and lines, so
 * no input can make the programs allocate without bound.
 */
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

void util_buf_init(struct util_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void util_buf_release(struct util_buf *b)
{
	free(b->data);
	util_buf_init(b);
}

void util_buf_reset(struct util_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

static int grow(struct util_buf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 256;
	char *p;

	if (need < b->len)
		return -1;
	if (need + 1 <= b->cap)
		return 0;
	while (cap < need + 1) {
		if (cap > SIZE_MAX / 2)
			return -1;
		cap *= 2;
	}
	p = realloc(b->data, cap);
	if (!p)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

int util_buf_add(struct util_buf *b, const void *p, size_t n)
{
	if (grow(b, b->len + n) != 0)
		return -1;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int util_buf_adds(struct util_buf *b, const char *s)
{
	return util_buf_add(b, s, strlen(s));
}

int util_read_all(FILE *f, struct util_buf *b, size_t max)
{
	char chunk[65536];
	size_t n;

	util_buf_reset(b);
	if (util_buf_add(b, "", 0) != 0)
		return -1;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (b->len + n > max)
			return -2;
		if (util_buf_add(b, chunk, n) != 0)
			return -1;
	}
	return ferror(f) ? -1 : 0;
}

int util_read_line(FILE *f, struct util_buf *b, size_t max)
{
	char chunk[65536];
	int any = 0;

	util_buf_reset(b);
	if (util_buf_add(b, "", 0) != 0)
		return -1;
	while (fgets(chunk, sizeof(chunk), f)) {
		size_t n = strlen(chunk);
		int end = n > 0 && chunk[n - 1] == '\n';

		any = 1;
		if (end)
			n--;
		if (b->len + n > max)
			return -2;
		if (util_buf_add(b, chunk, n) != 0)
			return -1;
		if (end)
			break;
	}
	if (ferror(f))
		return -1;
	if (!any)
		return 0;
	if (b->len > 0 && b->data[b->len - 1] == '\r')
		b->data[--b->len] = '\0';
	return 1;
}
