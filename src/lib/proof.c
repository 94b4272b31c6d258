/*
 * Checking RFC 9162 inclusion and consistency proofs against roots, with no
 * store: the algorithms of §2.1.3.2 and §2.1.4.2, after checking that the
 * proof has exactly the length the sizes call for.
 */
#include <string.h>

#include <agentrail/proof.h>

#include "internal.h"

static unsigned bit_len(uint64_t x)
{
	return x ? 64 - (unsigned)__builtin_clzll(x) : 0;
}

/*
 * Length of the inclusion path of 'index' in a tree of 'size' leaves: the
 * levels where the paths to 'index' and to the last leaf differ ('inner'),
 * plus one hash for each left sibling above that ('border').
 */
static size_t inclusion_len(uint64_t index, uint64_t size)
{
	unsigned inner = bit_len(index ^ (size - 1));

	return inner + (size_t)__builtin_popcountll(index >> inner);
}

static int hash_eq(const atr_hash *a, const atr_hash *b)
{
	return memcmp(a->b, b->b, sizeof(a->b)) == 0;
}

int atr_verify_inclusion(const atr_hash *leaf, uint64_t index, uint64_t size, const atr_hash *path,
                         size_t n, const atr_hash *root)
{
	uint64_t fn, sn;
	atr_hash r;

	if (index >= size)
		return atr__err(ATR_EINVALID, "leaf index %llu out of range for tree size %llu",
		                (unsigned long long)index, (unsigned long long)size);
	if (n != inclusion_len(index, size))
		return atr__err(ATR_EINVALID,
		                "inclusion proof has %zu hashes, leaf %llu of %llu needs %zu", n,
		                (unsigned long long)index, (unsigned long long)size,
		                inclusion_len(index, size));
	fn = index;
	sn = size - 1;
	r = *leaf;
	for (size_t i = 0; i < n; i++) {
		if (sn == 0)
			return atr__err(ATR_EINVALID, "inclusion proof too long");
		if ((fn & 1) || fn == sn) {
			atr_node_hash(&r, &path[i], &r);
			if (!(fn & 1)) {
				while (fn != 0 && !(fn & 1)) {
					fn >>= 1;
					sn >>= 1;
				}
			}
		} else {
			atr_node_hash(&r, &r, &path[i]);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return atr__err(ATR_EINVALID, "inclusion proof too short");
	if (!hash_eq(&r, root))
		return atr__err(
		    ATR_ETAMPER,
		    "inclusion proof of leaf %llu does not lead to the root of size %llu",
		    (unsigned long long)index, (unsigned long long)size);
	return 0;
}

/*
 * Length of the consistency proof from 'old_size' to 'new_size' (0 < old <
 * new): the inclusion path of the last node of the old tree's largest
 * complete right-hand subtree, plus that node itself unless it is the whole
 * old tree (old_size a power of two).
 */
static size_t consistency_len(uint64_t old_size, uint64_t new_size)
{
	unsigned level = (unsigned)__builtin_ctzll(old_size);
	uint64_t index = (old_size - 1) >> level;
	uint64_t size = ((new_size - 1) >> level) + 1;

	return inclusion_len(index, size) + (index != 0);
}

int atr_verify_consistency(uint64_t old_size, uint64_t new_size, const atr_hash *old_root,
                           const atr_hash *new_root, const atr_hash *path, size_t n)
{
	uint64_t fn, sn;
	atr_hash fr, sr, empty;
	size_t i = 0;

	if (old_size > new_size)
		return atr__err(ATR_EINVALID, "old tree size %llu is larger than new size %llu",
		                (unsigned long long)old_size, (unsigned long long)new_size);
	if (old_size == new_size || old_size == 0) {
		/* Nothing to prove: the proof is empty and only the roots are checked. */
		if (n != 0)
			return atr__err(ATR_EINVALID,
			                "consistency proof from size %llu to %llu must be empty",
			                (unsigned long long)old_size, (unsigned long long)new_size);
		if (old_size == 0) {
			atr_root_from_leaves(&empty, NULL, 0);
			if (!hash_eq(old_root, &empty))
				return atr__err(ATR_ETAMPER,
				                "old root is not the empty tree's root");
			return 0;
		}
		if (!hash_eq(old_root, new_root))
			return atr__err(ATR_ETAMPER, "roots differ at the same tree size %llu",
			                (unsigned long long)old_size);
		return 0;
	}
	if (n != consistency_len(old_size, new_size))
		return atr__err(ATR_EINVALID,
		                "consistency proof has %zu hashes, size %llu to %llu needs %zu", n,
		                (unsigned long long)old_size, (unsigned long long)new_size,
		                consistency_len(old_size, new_size));

	/* An old size that is a power of two: its root is the implicit first hash. */
	if ((old_size & (old_size - 1)) == 0) {
		fr = sr = *old_root;
	} else {
		fr = sr = path[0];
		i = 1;
	}
	fn = old_size - 1;
	sn = new_size - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	for (; i < n; i++) {
		if (sn == 0)
			return atr__err(ATR_EINVALID, "consistency proof too long");
		if ((fn & 1) || fn == sn) {
			atr_node_hash(&fr, &path[i], &fr);
			atr_node_hash(&sr, &path[i], &sr);
			while (fn != 0 && !(fn & 1)) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			atr_node_hash(&sr, &sr, &path[i]);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return atr__err(ATR_EINVALID, "consistency proof too short");
	if (!hash_eq(&fr, old_root))
		return atr__err(ATR_ETAMPER,
		                "consistency proof does not lead to the old root of size %llu",
		                (unsigned long long)old_size);
	if (!hash_eq(&sr, new_root))
		return atr__err(ATR_ETAMPER,
		                "consistency proof does not lead to the new root of size %llu",
		                (unsigned long long)new_size);
	return 0;
}
