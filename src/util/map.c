/*
 * A small string-keyed hash map (FNV-1a, linear probing) for sets of event
 * ids: the trail's parent lookup and the import's in-batch duplicate check.
 */
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

struct util_map_slot {
	char *key;
	long value;
};

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

void util_map_init(struct util_map *m)
{
	m->slots = NULL;
	m->n = 0;
	m->cap = 0;
}

void util_map_clear(struct util_map *m)
{
	for (size_t i = 0; i < m->cap; i++) {
		free(m->slots[i].key);
		m->slots[i].key = NULL;
	}
	m->n = 0;
}

void util_map_release(struct util_map *m)
{
	util_map_clear(m);
	free(m->slots);
	util_map_init(m);
}

static struct util_map_slot *find(const struct util_map *m, const char *key)
{
	size_t i;

	if (m->cap == 0)
		return NULL;
	i = (size_t)(fnv1a(key) & (m->cap - 1));
	while (m->slots[i].key) {
		if (strcmp(m->slots[i].key, key) == 0)
			return &m->slots[i];
		i = (i + 1) & (m->cap - 1);
	}
	return &m->slots[i];
}

static int rehash(struct util_map *m, size_t cap)
{
	struct util_map_slot *old = m->slots;
	size_t oldcap = m->cap;

	m->slots = calloc(cap, sizeof(*m->slots));
	if (!m->slots) {
		m->slots = old;
		return -1;
	}
	m->cap = cap;
	for (size_t i = 0; i < oldcap; i++) {
		if (old[i].key) {
			struct util_map_slot *s = find(m, old[i].key);

			*s = old[i];
		}
	}
	free(old);
	return 0;
}

int util_map_put(struct util_map *m, const char *key, long value)
{
	struct util_map_slot *s;

	if ((m->n + 1) * 2 > m->cap && rehash(m, m->cap ? m->cap * 2 : 64) != 0)
		return -1;
	s = find(m, key);
	if (!s->key) {
		s->key = strdup(key);
		if (!s->key)
			return -1;
		m->n++;
	}
	s->value = value;
	return 0;
}

int util_map_get(const struct util_map *m, const char *key, long *value)
{
	const struct util_map_slot *s = find(m, key);

	if (!s || !s->key)
		return 0;
	if (value)
		*value = s->value;
	return 1;
}
