/*
 * The RFC 6962 tree kept as tiles of 256 node hashes: a reader that answers
 * node, root and proof queries with O(log n) tile reads, and the right-edge
 * appender that grows the tree one leaf at a time and reports which tiles
 * changed so they can be stored.
 */
#include <stdlib.h>
#include <string.h>

#include <agentrail/proof.h>

#include "internal.h"
#include "merkle.h"

#define TILE_HEIGHT 8
#define CACHE_TILES 16
#define MAX_PATH    (2 * 64)

/* ---------------------------------------------------------------- hashing */

/* Root of the complete subtree over the 2^'height' hashes at 'in' (height <= 8). */
static void hash_up(const atr_hash *in, unsigned height, atr_hash *out)
{
	atr_hash buf[ATR_TILE_WIDTH / 2];
	size_t n = (size_t)1 << height;

	if (height == 0) {
		*out = in[0];
		return;
	}
	for (size_t i = 0; i < n / 2; i++)
		atr_node_hash(&buf[i], &in[2 * i], &in[2 * i + 1]);
	for (n /= 2; n > 1; n /= 2)
		for (size_t i = 0; i < n / 2; i++)
			atr_node_hash(&buf[i], &buf[2 * i], &buf[2 * i + 1]);
	*out = buf[0];
}

/* Fold complete subtree roots, listed left to right, into the tree's root. */
static void fold_right(atr_hash *subs, unsigned n, atr_hash *out)
{
	atr_hash acc = subs[n - 1];

	for (unsigned i = n - 1; i-- > 0;)
		atr_node_hash(&acc, &subs[i], &acc);
	*out = acc;
}

static unsigned bit_len(uint64_t x)
{
	return x ? 64 - (unsigned)__builtin_clzll(x) : 0;
}

/* The largest power of two below 'n' (n >= 2): RFC 6962's split point k. */
static uint64_t split_point(uint64_t n)
{
	return (uint64_t)1 << (bit_len(n - 1) - 1);
}

/* ---------------------------------------------------------------- reader */

struct cached_tile {
	int valid;
	unsigned level;
	unsigned width;
	uint64_t index;
	uint64_t used; /* reader clock at the last use, for LRU */
	atr_hash h[ATR_TILE_WIDTH];
	/*
	 * The tile's inner nodes hashed so far (heights 1 to 7 above its
	 * hashes: 128 + 64 + ... + 2), so that proofs sharing a reader (an
	 * evidence bundle's, for neighbouring records) hash each node once.
	 */
	uint8_t have[ATR_TILE_WIDTH];
	atr_hash inner[ATR_TILE_WIDTH];
};

struct atr__tree_reader {
	atr__tile_fn fn;
	void *ctx;
	uint64_t clock;
	struct cached_tile cache[CACHE_TILES];
};

int atr__tree_reader_new(atr__tree_reader **out, atr__tile_fn fn, void *ctx)
{
	atr__tree_reader *r = malloc(sizeof(*r));

	*out = NULL;
	if (!r)
		return atr__err(ATR_ENOMEM, "out of memory");
	r->fn = fn;
	r->ctx = ctx;
	r->clock = 0;
	for (unsigned i = 0; i < CACHE_TILES; i++)
		r->cache[i].valid = 0;
	*out = r;
	return 0;
}

void atr__tree_reader_free(atr__tree_reader *r)
{
	free(r);
}

/* The tile (level, index) from the cache or the callback. */
static int get_tile(atr__tree_reader *r, unsigned level, uint64_t index, struct cached_tile **out)
{
	struct cached_tile *victim = &r->cache[0];
	int rc;

	r->clock++;
	for (unsigned i = 0; i < CACHE_TILES; i++) {
		struct cached_tile *t = &r->cache[i];

		if (t->valid && t->level == level && t->index == index) {
			t->used = r->clock;
			*out = t;
			return 0;
		}
		if (!t->valid || (victim->valid && t->used < victim->used))
			victim = t;
	}
	victim->valid = 0;
	victim->width = 0;
	rc = r->fn(r->ctx, level, index, victim->h, &victim->width);
	if (rc < 0)
		return atr__err_prefix(rc, "cannot read tile (level %u, index %llu)", level,
		                       (unsigned long long)index);
	if (victim->width == 0 || victim->width > ATR_TILE_WIDTH)
		return atr__err(ATR_ETAMPER, "tile (level %u, index %llu) has width %u", level,
		                (unsigned long long)index, victim->width);
	memset(victim->have, 0, sizeof(victim->have));
	victim->valid = 1;
	victim->level = level;
	victim->index = index;
	victim->used = r->clock;
	*out = victim;
	return 0;
}

/* Node 'j' at height 's' (0 to 7) above tile 't''s hashes, all of which exist. */
static const atr_hash *tile_node(struct cached_tile *t, unsigned s, unsigned j)
{
	size_t k;

	if (s == 0)
		return &t->h[j];
	k = ATR_TILE_WIDTH - ((size_t)2 * ATR_TILE_WIDTH >> s) + j;
	if (!t->have[k]) {
		atr_node_hash(&t->inner[k], tile_node(t, s - 1, 2 * j),
		              tile_node(t, s - 1, 2 * j + 1));
		t->have[k] = 1;
	}
	return &t->inner[k];
}

int atr__tree_node(atr__tree_reader *r, unsigned height, uint64_t index, atr_hash *out)
{
	struct cached_tile *t = NULL;
	unsigned level = height / TILE_HEIGHT, sub = height % TILE_HEIGHT;
	uint64_t first;
	unsigned off;
	int rc;

	if (height >= 64 || (height > 0 && (index >> (64 - height)) != 0))
		return atr__err(ATR_EINVALID, "no tree node at height %u, index %llu", height,
		                (unsigned long long)index);
	/* The node's 2^sub descendants at height 8*level, all within one tile. */
	first = index << sub;
	off = (unsigned)(first % ATR_TILE_WIDTH);
	if ((rc = get_tile(r, level, first / ATR_TILE_WIDTH, &t)) < 0)
		return rc;
	if (t->width < off + (1u << sub))
		return atr__err(ATR_ENOTFOUND,
		                "tile (level %u, index %llu) has %u hashes, node at height %u, "
		                "index %llu needs %u",
		                level, (unsigned long long)(first / ATR_TILE_WIDTH), t->width,
		                height, (unsigned long long)index, off + (1u << sub));
	*out = *tile_node(t, sub, off >> sub);
	return 0;
}

/*
 * MTH of leaves [lo, lo + size), size >= 1, where 'lo' is a multiple of the
 * power of two at or above 'size' (always so for RFC 6962's subtrees): the
 * right fold of the complete subtrees given by the binary digits of 'size'.
 */
static int range_root(atr__tree_reader *r, uint64_t lo, uint64_t size, atr_hash *out)
{
	atr_hash subs[64];
	unsigned n = 0;
	int rc;

	for (unsigned h = bit_len(size); h-- > 0;) {
		if (!(size & ((uint64_t)1 << h)))
			continue;
		if ((rc = atr__tree_node(r, h, lo >> h, &subs[n++])) < 0)
			return rc;
		lo += (uint64_t)1 << h;
	}
	fold_right(subs, n, out);
	return 0;
}

int atr__tree_root(atr__tree_reader *r, uint64_t size, atr_hash *out)
{
	if (size == 0) {
		atr_root_from_leaves(out, NULL, 0);
		return 0;
	}
	return range_root(r, 0, size, out);
}

/* A proof's subtrees, found root-side first, hashed and handed out leaf-side first. */
struct proof_parts {
	uint64_t lo[MAX_PATH];
	uint64_t size[MAX_PATH];
	size_t n;
};

static int proof_finish(atr__tree_reader *r, const struct proof_parts *p, atr_hash **path,
                        size_t *n)
{
	atr_hash *out;
	int rc;

	*path = NULL;
	*n = 0;
	if (p->n == 0)
		return 0;
	out = malloc(p->n * sizeof(*out));
	if (!out)
		return atr__err(ATR_ENOMEM, "out of memory");
	for (size_t i = 0; i < p->n; i++) {
		size_t j = p->n - 1 - i;

		if ((rc = range_root(r, p->lo[j], p->size[j], &out[i])) < 0) {
			free(out);
			return rc;
		}
	}
	*path = out;
	*n = p->n;
	return 0;
}

static void proof_add(struct proof_parts *p, uint64_t lo, uint64_t size)
{
	p->lo[p->n] = lo;
	p->size[p->n] = size;
	p->n++;
}

int atr__tree_inclusion(atr__tree_reader *r, uint64_t index, uint64_t size, atr_hash **path,
                        size_t *n)
{
	struct proof_parts p = {.n = 0};
	uint64_t lo = 0, m = index;

	*path = NULL;
	*n = 0;
	if (index >= size)
		return atr__err(ATR_EINVALID, "leaf index %llu out of range for tree size %llu",
		                (unsigned long long)index, (unsigned long long)size);
	/* PATH(m, D[lo:lo+size]) of RFC 6962 §2.1.1, unrolled. */
	while (size > 1) {
		uint64_t k = split_point(size);

		if (m < k) {
			proof_add(&p, lo + k, size - k);
			size = k;
		} else {
			proof_add(&p, lo, k);
			m -= k;
			lo += k;
			size -= k;
		}
	}
	return proof_finish(r, &p, path, n);
}

int atr__tree_consistency(atr__tree_reader *r, uint64_t old_size, uint64_t new_size,
                          atr_hash **path, size_t *n)
{
	struct proof_parts p = {.n = 0};
	uint64_t lo = 0, m = old_size, size = new_size;
	int whole = 1;

	*path = NULL;
	*n = 0;
	if (old_size > new_size)
		return atr__err(ATR_EINVALID, "old tree size %llu is larger than new size %llu",
		                (unsigned long long)old_size, (unsigned long long)new_size);
	if (old_size == 0)
		return atr__err(ATR_EINVALID, "no consistency proof from the empty tree");
	/* SUBPROOF(m, D[lo:lo+size], whole) of RFC 6962 §2.1.2, unrolled. */
	while (m != size) {
		uint64_t k = split_point(size);

		if (m <= k) {
			proof_add(&p, lo + k, size - k);
			size = k;
		} else {
			proof_add(&p, lo, k);
			m -= k;
			lo += k;
			size -= k;
			whole = 0;
		}
	}
	if (!whole)
		proof_add(&p, lo, size);
	return proof_finish(r, &p, path, n);
}

/* ---------------------------------------------------------------- edge */

/* Done tiles plus one slot per level for take's partial tiles. */
static int reserve_done(atr__tree_edge *e)
{
	size_t need = e->ndone + 2 * ATR_TREE_LEVELS, cap;
	atr_store_tile *d;
	atr_hash *h;

	if (need <= e->done_cap)
		return 0;
	cap = e->done_cap ? 2 * e->done_cap : 4 * ATR_TREE_LEVELS;
	while (cap < need)
		cap *= 2;
	d = realloc(e->done, cap * sizeof(*d));
	if (!d)
		return atr__err(ATR_ENOMEM, "out of memory");
	e->done = d;
	h = realloc(e->done_hashes, cap * ATR_TILE_WIDTH * sizeof(*h));
	if (!h)
		return atr__err(ATR_ENOMEM, "out of memory");
	e->done_hashes = h;
	e->done_cap = cap;
	return 0;
}

void atr__edge_init(atr__tree_edge *e)
{
	e->st.size = 0;
	memset(e->st.width, 0, sizeof(e->st.width));
	e->done = NULL;
	e->done_hashes = NULL;
	e->ndone = 0;
	e->done_cap = 0;
	e->dirty = 0;
}

void atr__edge_release(atr__tree_edge *e)
{
	free(e->done);
	free(e->done_hashes);
	atr__edge_init(e);
}

int atr__edge_load(atr__tree_edge *e, atr__tile_fn fn, void *ctx, uint64_t size)
{
	atr_hash *buf;
	int rc = 0;

	e->ndone = 0;
	e->dirty = 0;
	e->st.size = 0;
	memset(e->st.width, 0, sizeof(e->st.width));
	buf = malloc(ATR_TILE_WIDTH * sizeof(*buf));
	if (!buf)
		return atr__err(ATR_ENOMEM, "out of memory");
	/* Level L holds size >> 8L nodes; its last tile is the partial one. */
	for (unsigned level = 0; level < ATR_TREE_LEVELS; level++) {
		uint64_t count = size >> (TILE_HEIGHT * level);
		uint64_t index = count / ATR_TILE_WIDTH;
		unsigned want = (unsigned)(count % ATR_TILE_WIDTH), width = 0;

		if (count == 0)
			break;
		if (want == 0)
			continue;
		rc = fn(ctx, level, index, buf, &width);
		if (rc < 0) {
			rc = atr__err_prefix(rc, "cannot read tile (level %u, index %llu)", level,
			                     (unsigned long long)index);
			goto fail;
		}
		if (width < want || width > ATR_TILE_WIDTH) {
			rc = atr__err(ATR_ENOTFOUND,
			              "tile (level %u, index %llu) has %u hashes, a tree of %llu "
			              "leaves needs %u",
			              level, (unsigned long long)index, width,
			              (unsigned long long)size, want);
			goto fail;
		}
		memcpy(e->st.tile[level], buf, want * sizeof(*buf));
		e->st.width[level] = want;
	}
	e->st.size = size;
	free(buf);
	return 0;
fail:
	memset(e->st.width, 0, sizeof(e->st.width));
	free(buf);
	return rc;
}

int atr__edge_append(atr__tree_edge *e, const atr_hash *leaf)
{
	atr__edge_state *st = &e->st;
	uint64_t size;
	atr_hash h = *leaf;
	int rc;

	if (st->size == UINT64_MAX)
		return atr__err(ATR_ETOOBIG, "the tree is full");
	if ((rc = reserve_done(e)) < 0)
		return rc;
	size = st->size + 1;
	/* Push into level 0; each tile that fills sends its root one level up. */
	for (unsigned level = 0; level < ATR_TREE_LEVELS; level++) {
		atr_store_tile *d;
		atr_hash *copy;

		st->tile[level][st->width[level]++] = h;
		e->dirty |= 1u << level;
		if (st->width[level] < ATR_TILE_WIDTH)
			break;
		copy = e->done_hashes + e->ndone * ATR_TILE_WIDTH;
		memcpy(copy, st->tile[level], ATR_TILE_WIDTH * sizeof(*copy));
		d = &e->done[e->ndone++];
		d->level = level;
		d->index = (size >> (TILE_HEIGHT * level)) / ATR_TILE_WIDTH - 1;
		d->width = ATR_TILE_WIDTH;
		d->hashes = NULL; /* set by take: done_hashes may move */
		hash_up(copy, TILE_HEIGHT, &h);
		if (level == 0)
			e->last_block = h;
		st->width[level] = 0;
	}
	st->size = size;
	return 0;
}

void atr__edge_root(const atr__tree_edge *e, atr_hash *out)
{
	const atr__edge_state *st = &e->st;
	atr_hash subs[64];
	unsigned n = 0;

	if (st->size == 0) {
		atr_root_from_leaves(out, NULL, 0);
		return;
	}
	/*
	 * Bit 8L+j of the size is a complete subtree of height 8L+j: 2^j
	 * consecutive entries of level L's partial tile.
	 */
	for (unsigned level = ATR_TREE_LEVELS; level-- > 0;) {
		unsigned w = st->width[level], off = 0;

		for (unsigned j = TILE_HEIGHT; j-- > 0;) {
			if (!(w & (1u << j)))
				continue;
			hash_up(&st->tile[level][off], j, &subs[n++]);
			off += 1u << j;
		}
	}
	fold_right(subs, n, out);
}

void atr__edge_take(atr__tree_edge *e, const atr_store_tile **tiles, size_t *n)
{
	size_t k;

	*tiles = NULL;
	*n = 0;
	if (e->ndone == 0 && e->dirty == 0)
		return;
	/* reserve_done() in the append that set 'dirty' left room for these. */
	for (k = 0; k < e->ndone; k++)
		e->done[k].hashes = e->done_hashes + k * ATR_TILE_WIDTH;
	for (unsigned level = 0; level < ATR_TREE_LEVELS; level++) {
		atr_store_tile *t;

		if (!(e->dirty & (1u << level)) || e->st.width[level] == 0)
			continue;
		t = &e->done[k++];
		t->level = level;
		t->index = (e->st.size >> (TILE_HEIGHT * level)) / ATR_TILE_WIDTH;
		t->width = e->st.width[level];
		t->hashes = e->st.tile[level];
	}
	*tiles = e->done;
	*n = k;
	e->ndone = 0;
	e->dirty = 0;
}

void atr__edge_clear_pending(atr__tree_edge *e)
{
	e->ndone = 0;
	e->dirty = 0;
}
