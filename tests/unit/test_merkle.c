/*
 * The Merkle tree: hashing, roots, proofs and their checking against the
 * known-answer vectors in $ATR_VECTORS/merkle.json, then a differential test
 * of the tile-based tree and the right edge against a naive recursive RFC 6962
 * implementation, and a count of tile reads to hold proofs to O(log n).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include <agentrail/proof.h>

#include "internal.h"
#include "merkle.h"

/* ---------------------------------------------------------------- helpers */

static json_t *vectors;
static atr_hash *vleaves; /* leaf_hashes */
static size_t nvleaves;
static atr_hash *vroots; /* roots[n] */
static size_t nvroots;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Uniform in [lo, hi]. */
static uint64_t rnd_in(uint64_t lo, uint64_t hi)
{
	return lo + rnd() % (hi - lo + 1);
}

static int heq(const atr_hash *a, const atr_hash *b)
{
	return memcmp(a->b, b->b, 32) == 0;
}

static void parse_hashes(json_t *arr, atr_hash **out, size_t *n)
{
	size_t i;
	json_t *v;

	assert_true(json_is_array(arr));
	*n = json_array_size(arr);
	*out = calloc(*n ? *n : 1, sizeof(atr_hash));
	assert_non_null(*out);
	json_array_foreach(arr, i, v)
	{
		assert_true(json_is_string(v));
		assert_int_equal(atr_hash_parse(&(*out)[i], json_string_value(v)), 0);
	}
}

static void assert_path_eq(const atr_hash *got, size_t ngot, const atr_hash *want, size_t nwant)
{
	assert_int_equal(ngot, nwant);
	for (size_t i = 0; i < nwant; i++)
		assert_true(heq(&got[i], &want[i]));
}

/* An in-memory tile store: dense arrays of tiles per level, with a read count. */
struct mtile {
	unsigned width;
	atr_hash h[ATR_TILE_WIDTH];
};

struct mem_store {
	struct {
		struct mtile *t;
		size_t n, cap;
	} lv[ATR_TREE_LEVELS];
	unsigned long reads;
};

static void mem_put(struct mem_store *ms, const atr_store_tile *tiles, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const atr_store_tile *t = &tiles[i];

		assert_true(t->level < ATR_TREE_LEVELS);
		assert_true(t->width >= 1 && t->width <= ATR_TILE_WIDTH);
		if (t->index >= ms->lv[t->level].n) {
			size_t nn = t->index + 1, cap = ms->lv[t->level].cap;

			if (nn > cap) {
				struct mtile *p;

				cap = cap ? 2 * cap : 16;
				while (cap < nn)
					cap *= 2;
				p = realloc(ms->lv[t->level].t, cap * sizeof(*p));
				assert_non_null(p);
				ms->lv[t->level].t = p;
				ms->lv[t->level].cap = cap;
			}
			for (size_t k = ms->lv[t->level].n; k < nn; k++)
				ms->lv[t->level].t[k].width = 0;
			ms->lv[t->level].n = nn;
		}
		/* A stored tile only ever grows, keeping what it had. */
		struct mtile *m = &ms->lv[t->level].t[t->index];
		assert_true(t->width >= m->width);
		for (unsigned k = 0; k < m->width; k++)
			assert_true(heq(&m->h[k], &t->hashes[k]));
		memcpy(m->h, t->hashes, t->width * sizeof(atr_hash));
		m->width = t->width;
	}
}

static int mem_get(void *ctx, unsigned level, uint64_t index, atr_hash *hashes, unsigned *width)
{
	struct mem_store *ms = ctx;
	struct mtile *m;

	ms->reads++;
	if (level >= ATR_TREE_LEVELS || index >= ms->lv[level].n ||
	    ms->lv[level].t[index].width == 0)
		return atr__err(ATR_ENOTFOUND, "no such tile");
	m = &ms->lv[level].t[index];
	memcpy(hashes, m->h, m->width * sizeof(atr_hash));
	*width = m->width;
	return 0;
}

static void mem_free(struct mem_store *ms)
{
	for (unsigned l = 0; l < ATR_TREE_LEVELS; l++)
		free(ms->lv[l].t);
	memset(ms, 0, sizeof(*ms));
}

static void take_into(atr__tree_edge *e, struct mem_store *ms)
{
	const atr_store_tile *tiles;
	size_t n;

	atr__edge_take(e, &tiles, &n);
	mem_put(ms, tiles, n);
}

/* ---------------------------------------------------------------- naive RFC 6962 */

static uint64_t naive_k(uint64_t n)
{
	uint64_t k = 1;

	while (k * 2 < n)
		k *= 2;
	return k;
}

static void naive_mth(const atr_hash *d, uint64_t n, atr_hash *out)
{
	atr_hash l, r;
	uint64_t k;

	if (n == 0) {
		atr__sha256(out->b, NULL, 0, NULL, 0, NULL, 0);
		return;
	}
	if (n == 1) {
		*out = d[0];
		return;
	}
	k = naive_k(n);
	naive_mth(d, k, &l);
	naive_mth(d + k, n - k, &r);
	atr_node_hash(out, &l, &r);
}

static void naive_path(uint64_t m, const atr_hash *d, uint64_t n, atr_hash *out, size_t *len)
{
	uint64_t k;

	if (n == 1)
		return;
	k = naive_k(n);
	if (m < k) {
		naive_path(m, d, k, out, len);
		naive_mth(d + k, n - k, &out[(*len)++]);
	} else {
		naive_path(m - k, d + k, n - k, out, len);
		naive_mth(d, k, &out[(*len)++]);
	}
}

static void naive_subproof(uint64_t m, const atr_hash *d, uint64_t n, int b, atr_hash *out,
                           size_t *len)
{
	uint64_t k;

	if (m == n) {
		if (!b)
			naive_mth(d, n, &out[(*len)++]);
		return;
	}
	k = naive_k(n);
	if (m <= k) {
		naive_subproof(m, d, k, b, out, len);
		naive_mth(d + k, n - k, &out[(*len)++]);
	} else {
		naive_subproof(m - k, d + k, n - k, 0, out, len);
		naive_mth(d, k, &out[(*len)++]);
	}
}

/* ---------------------------------------------------------------- setup */

static int group_setup(void **state)
{
	const char *dir = getenv("ATR_VECTORS");
	char path[4096];
	json_error_t err;
	json_t *lh, *lx;
	size_t i;
	json_t *v;

	if (!dir) {
		fprintf(stderr, "ATR_VECTORS is not set\n");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/merkle.json", dir);
	vectors = json_load_file(path, 0, &err);
	if (!vectors) {
		fprintf(stderr, "cannot load '%s': %s\n", path, err.text);
		return -1;
	}
	lh = json_object_get(vectors, "leaf_hashes");
	lx = json_object_get(vectors, "leaves_hex");
	if (!json_is_array(lh) || !json_is_array(lx) || json_array_size(lh) != json_array_size(lx))
		return -1;
	nvleaves = json_array_size(lh);
	vleaves = calloc(nvleaves, sizeof(*vleaves));
	json_array_foreach(lh, i, v)
	{
		if (!json_is_string(v) || atr_hash_parse(&vleaves[i], json_string_value(v)) != 0)
			return -1;
	}
	v = json_object_get(vectors, "roots");
	if (!json_is_array(v) || json_array_size(v) != nvleaves + 1)
		return -1;
	nvroots = json_array_size(v);
	vroots = calloc(nvroots, sizeof(*vroots));
	for (i = 0; i < nvroots; i++)
		if (atr_hash_parse(&vroots[i], json_string_value(json_array_get(v, i))) != 0)
			return -1;
	return 0;
}

static int group_teardown(void **state)
{
	json_decref(vectors);
	free(vleaves);
	free(vroots);
	return 0;
}

/* ---------------------------------------------------------------- vectors */

static void test_leaf_hashes(void **state)
{
	json_t *lx = json_object_get(vectors, "leaves_hex");
	size_t i;
	json_t *v;

	json_array_foreach(lx, i, v)
	{
		const char *hex = json_string_value(v);
		size_t len = strlen(hex) / 2;
		uint8_t *buf = malloc(len ? len : 1);
		atr_hash h;

		assert_non_null(buf);
		assert_int_equal(atr__unhex(buf, len, hex), 0);
		atr_leaf_hash(&h, buf, len);
		assert_true(heq(&h, &vleaves[i]));
		free(buf);
	}
}

static void test_roots(void **state)
{
	struct mem_store ms = {0};
	atr__tree_reader *r;
	atr__tree_edge e;
	atr_hash h;

	atr__edge_init(&e);
	for (size_t n = 0; n < nvroots; n++) {
		atr_root_from_leaves(&h, vleaves, n);
		assert_true(heq(&h, &vroots[n]));
		atr__edge_root(&e, &h);
		assert_true(heq(&h, &vroots[n]));
		/* The store holds exactly n leaves: partial tiles of exact width. */
		assert_int_equal(atr__tree_reader_new(&r, mem_get, &ms), 0);
		assert_int_equal(atr__tree_root(r, n, &h), 0);
		assert_true(heq(&h, &vroots[n]));
		atr__tree_reader_free(r);
		if (n < nvleaves) {
			assert_int_equal(atr__edge_append(&e, &vleaves[n]), 0);
			take_into(&e, &ms);
		}
	}
	/* Every smaller root from the final store as well. */
	assert_int_equal(atr__tree_reader_new(&r, mem_get, &ms), 0);
	for (size_t n = 0; n < nvroots; n++) {
		assert_int_equal(atr__tree_root(r, n, &h), 0);
		assert_true(heq(&h, &vroots[n]));
	}
	atr__tree_reader_free(r);
	atr__edge_release(&e);
	mem_free(&ms);
}

/* A store and reader over all the vector leaves. */
static void vector_store(struct mem_store *ms)
{
	atr__tree_edge e;

	atr__edge_init(&e);
	for (size_t i = 0; i < nvleaves; i++)
		assert_int_equal(atr__edge_append(&e, &vleaves[i]), 0);
	take_into(&e, ms);
	atr__edge_release(&e);
}

static void test_inclusion_vectors(void **state)
{
	json_t *arr = json_object_get(vectors, "inclusion");
	struct mem_store ms = {0};
	atr__tree_reader *r;
	size_t i, checked = 0;
	json_t *v;

	vector_store(&ms);
	assert_int_equal(atr__tree_reader_new(&r, mem_get, &ms), 0);
	assert_true(json_array_size(arr) > 0);
	json_array_foreach(arr, i, v)
	{
		uint64_t index = json_integer_value(json_object_get(v, "index"));
		uint64_t size = json_integer_value(json_object_get(v, "size"));
		const atr_hash *leaf = &vleaves[index], *root = &vroots[size];
		atr_hash *want, *got, bad;
		size_t nwant, ngot;

		assert_true(size < nvroots && index < size);
		parse_hashes(json_object_get(v, "path"), &want, &nwant);
		assert_int_equal(atr__tree_inclusion(r, index, size, &got, &ngot), 0);
		assert_path_eq(got, ngot, want, nwant);
		assert_int_equal(atr_verify_inclusion(leaf, index, size, want, nwant, root), 0);

		/* Negative: a flipped byte anywhere, the wrong leaf, index, size, length. */
		for (size_t k = 0; k < nwant; k++) {
			want[k].b[k % 32] ^= 0x40;
			assert_int_equal(atr_verify_inclusion(leaf, index, size, want, nwant, root),
			                 ATR_ETAMPER);
			want[k].b[k % 32] ^= 0x40;
		}
		bad = *leaf;
		bad.b[31] ^= 1;
		assert_int_equal(atr_verify_inclusion(&bad, index, size, want, nwant, root),
		                 ATR_ETAMPER);
		bad = *root;
		bad.b[0] ^= 1;
		assert_int_equal(atr_verify_inclusion(leaf, index, size, want, nwant, &bad),
		                 ATR_ETAMPER);
		if (index + 1 < size)
			assert_int_not_equal(
			    atr_verify_inclusion(leaf, index + 1, size, want, nwant, root), 0);
		if (index > 0)
			assert_int_not_equal(
			    atr_verify_inclusion(leaf, index - 1, size, want, nwant, root), 0);
		/*
		 * A path can fit more than one size (leaf 0 of 3 and of 4), so a
		 * wrong size is checked with that size's own root.
		 */
		if (size + 1 < nvroots)
			assert_int_not_equal(atr_verify_inclusion(leaf, index, size + 1, want,
			                                          nwant, &vroots[size + 1]),
			                     0);
		if (size - 1 > index)
			assert_int_not_equal(atr_verify_inclusion(leaf, index, size - 1, want,
			                                          nwant, &vroots[size - 1]),
			                     0);
		if (nwant > 0)
			assert_int_equal(
			    atr_verify_inclusion(leaf, index, size, want, nwant - 1, root),
			    ATR_EINVALID);
		assert_int_equal(atr_verify_inclusion(leaf, size, size, want, nwant, root),
		                 ATR_EINVALID);
		free(want);
		free(got);
		checked++;
	}
	assert_int_equal(checked, json_array_size(arr));
	atr__tree_reader_free(r);
	mem_free(&ms);
}

static void test_consistency_vectors(void **state)
{
	json_t *arr = json_object_get(vectors, "consistency");
	struct mem_store ms = {0};
	atr__tree_reader *r;
	size_t i;
	json_t *v;

	vector_store(&ms);
	assert_int_equal(atr__tree_reader_new(&r, mem_get, &ms), 0);
	assert_true(json_array_size(arr) > 0);
	json_array_foreach(arr, i, v)
	{
		uint64_t m = json_integer_value(json_object_get(v, "old_size"));
		uint64_t n = json_integer_value(json_object_get(v, "new_size"));
		const atr_hash *r1 = &vroots[m], *r2 = &vroots[n];
		atr_hash *want, *got, *longer, bad;
		size_t nwant, ngot;

		assert_true(m >= 1 && m <= n && n < nvroots);
		parse_hashes(json_object_get(v, "proof"), &want, &nwant);
		assert_int_equal(atr__tree_consistency(r, m, n, &got, &ngot), 0);
		assert_path_eq(got, ngot, want, nwant);
		assert_int_equal(atr_verify_consistency(m, n, r1, r2, want, nwant), 0);

		for (size_t k = 0; k < nwant; k++) {
			want[k].b[(k * 7) % 32] ^= 0x01;
			assert_int_equal(atr_verify_consistency(m, n, r1, r2, want, nwant),
			                 ATR_ETAMPER);
			want[k].b[(k * 7) % 32] ^= 0x01;
		}
		bad = *r1;
		bad.b[5] ^= 0x80;
		assert_int_equal(atr_verify_consistency(m, n, &bad, r2, want, nwant), ATR_ETAMPER);
		bad = *r2;
		bad.b[5] ^= 0x80;
		assert_int_equal(atr_verify_consistency(m, n, r1, &bad, want, nwant), ATR_ETAMPER);
		if (nwant > 0)
			assert_int_equal(atr_verify_consistency(m, n, r1, r2, want, nwant - 1),
			                 ATR_EINVALID);
		longer = calloc(nwant + 1, sizeof(*longer));
		assert_non_null(longer);
		if (nwant)
			memcpy(longer, want, nwant * sizeof(*want));
		assert_int_equal(atr_verify_consistency(m, n, r1, r2, longer, nwant + 1),
		                 ATR_EINVALID);
		free(longer);
		if (n + 1 < nvroots)
			assert_int_not_equal(
			    atr_verify_consistency(m, n + 1, r1, &vroots[n + 1], want, nwant), 0);
		if (m > 1)
			assert_int_not_equal(
			    atr_verify_consistency(m - 1, n, &vroots[m - 1], r2, want, nwant), 0);
		assert_int_equal(atr_verify_consistency(n + 1, n, r2, r2, want, nwant),
		                 ATR_EINVALID);
		free(want);
		free(got);
	}
	atr__tree_reader_free(r);
	mem_free(&ms);
}

/* ---------------------------------------------------------------- errors */

static void test_errors(void **state)
{
	struct mem_store ms = {0};
	atr__tree_reader *r;
	atr_hash h, *path = (atr_hash *)1;
	size_t n = 99;

	assert_int_equal(atr__tree_reader_new(&r, mem_get, &ms), 0);
	/* Nothing stored: the root of size 0 needs no tile, anything else does. */
	assert_int_equal(atr__tree_root(r, 0, &h), 0);
	assert_true(heq(&h, &vroots[0]));
	assert_int_equal(atr__tree_root(r, 5, &h), ATR_ENOTFOUND);
	assert_non_null(strstr(atr_errmsg(), "tile (level 0, index 0)"));
	assert_int_equal(atr__tree_inclusion(r, 5, 5, &path, &n), ATR_EINVALID);
	assert_null(path);
	assert_int_equal(n, 0);
	assert_non_null(strstr(atr_errmsg(), "out of range"));
	assert_int_equal(atr__tree_consistency(r, 0, 5, &path, &n), ATR_EINVALID);
	assert_int_equal(atr__tree_consistency(r, 6, 5, &path, &n), ATR_EINVALID);
	assert_int_equal(atr__tree_node(r, 64, 0, &h), ATR_EINVALID);
	assert_int_equal(atr__tree_node(r, 10, (uint64_t)1 << 60, &h), ATR_EINVALID);
	/* Equal sizes: an empty proof, no reads. */
	ms.reads = 0;
	assert_int_equal(atr__tree_consistency(r, 7, 7, &path, &n), 0);
	assert_int_equal(n, 0);
	assert_null(path);
	assert_int_equal(ms.reads, 0);
	atr__tree_reader_free(r);

	/* Three leaves stored: level 0 tile of width 3; a fourth is missing. */
	vector_store(&ms);
	assert_int_equal(atr__tree_reader_new(&r, mem_get, &ms), 0);
	ms.lv[0].t[0].width = 3;
	assert_int_equal(atr__tree_root(r, 3, &h), 0);
	assert_true(heq(&h, &vroots[3]));
	assert_int_equal(atr__tree_root(r, 4, &h), ATR_ENOTFOUND);
	assert_int_equal(atr__tree_inclusion(r, 0, 4, &path, &n), ATR_ENOTFOUND);
	assert_null(path);
	atr__tree_reader_free(r);
	mem_free(&ms);

	/* Verifier edge cases: the empty tree, equal sizes. */
	assert_int_equal(atr_verify_consistency(0, 5, &vroots[0], &vroots[5], NULL, 0), 0);
	assert_int_equal(atr_verify_consistency(0, 5, &vroots[1], &vroots[5], NULL, 0),
	                 ATR_ETAMPER);
	assert_int_equal(atr_verify_consistency(0, 5, &vroots[0], &vroots[5], &vroots[1], 1),
	                 ATR_EINVALID);
	assert_int_equal(atr_verify_consistency(5, 5, &vroots[5], &vroots[5], NULL, 0), 0);
	assert_int_equal(atr_verify_consistency(5, 5, &vroots[5], &vroots[4], NULL, 0),
	                 ATR_ETAMPER);
	assert_int_equal(atr_verify_inclusion(&vleaves[0], 0, 0, NULL, 0, &vroots[0]),
	                 ATR_EINVALID);
}

/* ---------------------------------------------------------------- edge */

static void synth_leaf(uint64_t i, atr_hash *out)
{
	atr_leaf_hash(out, &i, sizeof(i));
}

static void test_edge_take(void **state)
{
	const atr_store_tile *t;
	atr__tree_edge e;
	atr_hash leaf;
	size_t n;

	atr__edge_init(&e);
	atr__edge_take(&e, &t, &n);
	assert_int_equal(n, 0);
	for (uint64_t i = 0; i < 256; i++) {
		synth_leaf(i, &leaf);
		assert_int_equal(atr__edge_append(&e, &leaf), 0);
	}
	atr__edge_take(&e, &t, &n);
	assert_int_equal(n, 2);
	assert_int_equal(t[0].level, 0);
	assert_int_equal(t[0].index, 0);
	assert_int_equal(t[0].width, 256);
	synth_leaf(255, &leaf);
	assert_true(heq(&t[0].hashes[255], &leaf));
	assert_int_equal(t[1].level, 1);
	assert_int_equal(t[1].index, 0);
	assert_int_equal(t[1].width, 1);
	atr_root_from_leaves(&leaf, t[0].hashes, 256);
	assert_true(heq(&t[1].hashes[0], &leaf));

	synth_leaf(256, &leaf);
	assert_int_equal(atr__edge_append(&e, &leaf), 0);
	atr__edge_take(&e, &t, &n);
	assert_int_equal(n, 1);
	assert_int_equal(t[0].level, 0);
	assert_int_equal(t[0].index, 1);
	assert_int_equal(t[0].width, 1);
	atr__edge_take(&e, &t, &n);
	assert_int_equal(n, 0);

	/* Roll back: restore a snapshot and forget pending changes. */
	atr__edge_state snap = e.st;
	for (uint64_t i = 257; i < 600; i++) {
		synth_leaf(i, &leaf);
		assert_int_equal(atr__edge_append(&e, &leaf), 0);
	}
	e.st = snap;
	atr__edge_clear_pending(&e);
	atr__edge_take(&e, &t, &n);
	assert_int_equal(n, 0);
	assert_int_equal(e.st.size, 257);
	atr__edge_release(&e);
}

static void assert_edge_same(const atr__tree_edge *a, const atr__tree_edge *b)
{
	atr_hash ra, rb;

	assert_int_equal(a->st.size, b->st.size);
	for (unsigned l = 0; l < ATR_TREE_LEVELS; l++) {
		assert_int_equal(a->st.width[l], b->st.width[l]);
		for (unsigned k = 0; k < a->st.width[l]; k++)
			assert_true(heq(&a->st.tile[l][k], &b->st.tile[l][k]));
	}
	atr__edge_root(a, &ra);
	atr__edge_root(b, &rb);
	assert_true(heq(&ra, &rb));
}

/* ---------------------------------------------------------------- differential */

#define DIFF_SIZES 300
#define DIFF_MAX   70000

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sizes log-uniform up to DIFF_MAX, plus the tile boundaries. */
static size_t diff_sizes(uint64_t *sizes)
{
	static const uint64_t fixed[] = {1,     2,     3,     255,   256,   257,   511,
	                                 512,   513,   767,   768,   1024,  65535, 65536,
	                                 65537, 65791, 65792, 65793, 69999, 70000};
	size_t n = 0, k = 0;

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		sizes[n++] = fixed[i];
	while (n < DIFF_SIZES) {
		unsigned bits = (unsigned)rnd_in(1, 17);
		uint64_t s = rnd_in((uint64_t)1 << (bits - 1), ((uint64_t)1 << bits) - 1);

		if (s <= DIFF_MAX)
			sizes[n++] = s;
	}
	qsort(sizes, n, sizeof(*sizes), cmp_u64);
	for (size_t i = 0; i < n; i++)
		if (k == 0 || sizes[k - 1] != sizes[i])
			sizes[k++] = sizes[i];
	return k;
}

static void check_proofs_at(atr__tree_reader *r, const atr_hash *leaves, uint64_t size,
                            const atr_hash *root)
{
	atr_hash want[130], *got, old_root;
	size_t nwant, ngot;

	for (int round = 0; round < 2; round++) {
		uint64_t m = round == 0 ? size - 1 : rnd_in(0, size - 1);

		nwant = 0;
		naive_path(m, leaves, size, want, &nwant);
		assert_int_equal(atr__tree_inclusion(r, m, size, &got, &ngot), 0);
		assert_path_eq(got, ngot, want, nwant);
		assert_int_equal(atr_verify_inclusion(&leaves[m], m, size, got, ngot, root), 0);
		free(got);
	}
	for (int round = 0; round < 2; round++) {
		uint64_t o = round == 0 ? rnd_in(1, size) : size - rnd_in(0, size - 1) / 7;

		nwant = 0;
		naive_subproof(o, leaves, size, 1, want, &nwant);
		assert_int_equal(atr__tree_consistency(r, o, size, &got, &ngot), 0);
		assert_path_eq(got, ngot, want, nwant);
		atr_root_from_leaves(&old_root, leaves, o);
		assert_int_equal(atr_verify_consistency(o, size, &old_root, root, got, ngot), 0);
		free(got);
	}
}

static void test_differential(void **state)
{
	uint64_t sizes[DIFF_SIZES];
	size_t nsizes = diff_sizes(sizes);
	uint64_t max = sizes[nsizes - 1] + 300, done = 0;
	atr_hash *leaves = malloc(max * sizeof(*leaves));
	struct mem_store ms = {0};
	atr__tree_edge e, e2;

	assert_non_null(leaves);
	for (uint64_t i = 0; i < max; i++)
		synth_leaf(i, &leaves[i]);
	atr__edge_init(&e);
	atr__edge_init(&e2);
	for (size_t si = 0; si < nsizes; si++) {
		uint64_t size = sizes[si];
		atr_hash want, got;
		atr__tree_reader *r;

		/* Grow to 'size', storing tiles at random points and at the end. */
		while (done < size) {
			assert_int_equal(atr__edge_append(&e, &leaves[done++]), 0);
			if (rnd() % 512 == 0)
				take_into(&e, &ms);
		}
		take_into(&e, &ms);

		naive_mth(leaves, size, &want);
		atr_root_from_leaves(&got, leaves, size);
		assert_true(heq(&got, &want));
		atr__edge_root(&e, &got);
		assert_true(heq(&got, &want));

		assert_int_equal(atr__tree_reader_new(&r, mem_get, &ms), 0);
		assert_int_equal(atr__tree_root(r, size, &got), 0);
		assert_true(heq(&got, &want));
		/* The store holds exactly 'size' leaves: one more is missing. */
		assert_int_equal(atr__tree_root(r, size + 1, &got), ATR_ENOTFOUND);
		check_proofs_at(r, leaves, size, &want);
		atr__tree_reader_free(r);

		assert_int_equal(atr__edge_load(&e2, mem_get, &ms, size), 0);
		assert_edge_same(&e, &e2);
	}

	/* From the final, larger store: load at earlier sizes and grow again. */
	for (int round = 0; round < 40; round++) {
		uint64_t size =
		    round < 4 ? (uint64_t)65536 * (round / 2) + 255 + round % 2 : rnd_in(0, done);
		uint64_t extra = rnd_in(0, 300);
		atr_hash want, got;

		if (size + extra > max)
			extra = max - size;
		assert_int_equal(atr__edge_load(&e2, mem_get, &ms, size), 0);
		for (uint64_t i = 0; i < extra; i++)
			assert_int_equal(atr__edge_append(&e2, &leaves[size + i]), 0);
		atr__edge_clear_pending(&e2);
		atr__edge_root(&e2, &got);
		atr_root_from_leaves(&want, leaves, size + extra);
		assert_true(heq(&got, &want));
	}
	/* Beyond the store: a tile is missing or too short. */
	assert_int_equal(atr__edge_load(&e2, mem_get, &ms, done + 1), ATR_ENOTFOUND);
	assert_int_equal(atr__edge_load(&e2, mem_get, &ms, done + 256 * 256), ATR_ENOTFOUND);

	atr__edge_release(&e);
	atr__edge_release(&e2);
	mem_free(&ms);
	free(leaves);
}

/* ---------------------------------------------------------------- O(log n) */

static void test_read_count(void **state)
{
	const uint64_t size = 1000003;
	const unsigned levels = 3; /* 256^2 < size <= 256^3 */
	struct mem_store ms = {0};
	atr__tree_reader *r;
	atr__tree_edge e;
	atr_hash leaf, root, got, *path;
	unsigned long most[4] = {0};
	size_t n;

	/* Synthetic leaves: any 32 bytes do for counting reads. */
	atr__edge_init(&e);
	for (uint64_t i = 0; i < size; i++) {
		memset(&leaf, 0, sizeof(leaf));
		memcpy(leaf.b, &i, sizeof(i));
		assert_int_equal(atr__edge_append(&e, &leaf), 0);
		if (i % 4096 == 0)
			take_into(&e, &ms);
	}
	take_into(&e, &ms);
	atr__edge_root(&e, &root);

	/* A fresh reader (empty cache) for every operation. */
	for (int round = 0; round < 8; round++) {
		uint64_t index = round == 0 ? 0 : round == 1 ? size - 1 : rnd_in(0, size - 1);
		uint64_t old = round == 0 ? 1 : round == 1 ? size - 1 : rnd_in(1, size);

		assert_int_equal(atr__tree_reader_new(&r, mem_get, &ms), 0);
		ms.reads = 0;
		assert_int_equal(atr__tree_inclusion(r, index, size, &path, &n), 0);
		assert_true(ms.reads <= 3 * levels + 3);
		most[0] = ms.reads > most[0] ? ms.reads : most[0];
		memset(&leaf, 0, sizeof(leaf));
		memcpy(leaf.b, &index, sizeof(index));
		assert_int_equal(atr_verify_inclusion(&leaf, index, size, path, n, &root), 0);
		free(path);
		atr__tree_reader_free(r);

		assert_int_equal(atr__tree_reader_new(&r, mem_get, &ms), 0);
		ms.reads = 0;
		assert_int_equal(atr__tree_consistency(r, old, size, &path, &n), 0);
		assert_true(ms.reads <= 3 * levels + 3);
		most[1] = ms.reads > most[1] ? ms.reads : most[1];
		free(path);
		atr__tree_reader_free(r);

		assert_int_equal(atr__tree_reader_new(&r, mem_get, &ms), 0);
		ms.reads = 0;
		assert_int_equal(atr__tree_root(r, size, &got), 0);
		assert_true(heq(&got, &root));
		assert_true(ms.reads <= 2 * levels);
		most[2] = ms.reads > most[2] ? ms.reads : most[2];
		atr__tree_reader_free(r);
	}

	ms.reads = 0;
	assert_int_equal(atr__edge_load(&e, mem_get, &ms, size), 0);
	assert_true(ms.reads <= levels);
	most[3] = ms.reads;
	print_message("tile reads at %llu leaves: inclusion %lu, consistency %lu, root %lu, "
	              "edge load %lu\n",
	              (unsigned long long)size, most[0], most[1], most[2], most[3]);
	atr__edge_root(&e, &got);
	assert_true(heq(&got, &root));
	atr__edge_release(&e);
	mem_free(&ms);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_leaf_hashes),
	    cmocka_unit_test(test_roots),
	    cmocka_unit_test(test_inclusion_vectors),
	    cmocka_unit_test(test_consistency_vectors),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_edge_take),
	    cmocka_unit_test(test_differential),
	    cmocka_unit_test(test_read_count),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
