/*
 * The RFC 6962 tree over stored tiles. A tile (level L, index i) holds up to
 * 256 node hashes of height 8L: nodes i*256 .. i*256+255. Level-0 tiles are
 * the leaf hashes. Any complete subtree hash is one tile read plus at most 255
 * hash operations, so roots and proofs cost O(log n) reads.
 */
#ifndef ATR_MERKLE_H
#define ATR_MERKLE_H

#include <agentrail/common.h>
#include <agentrail/sys/store.h>

#define ATR_TREE_LEVELS 8 /* 8 levels of 8 heights: 2^64 leaves */

/*
 * Reads a stored tile: fills 'hashes' (room for 256) and '*width'.
 * ATR_ENOTFOUND if the tile does not exist.
 */
typedef int (*atr__tile_fn)(void *ctx, unsigned level, uint64_t index, atr_hash *hashes,
                            unsigned *width);

/* A reader with a small tile cache, for one operation (root, proof). */
typedef struct atr__tree_reader atr__tree_reader;
int atr__tree_reader_new(atr__tree_reader **out, atr__tile_fn fn, void *ctx);
void atr__tree_reader_free(atr__tree_reader *r);

/* Hash of the complete subtree of height 'height' at node index 'index'. */
int atr__tree_node(atr__tree_reader *r, unsigned height, uint64_t index, atr_hash *out);
/* MTH of leaves [0, size). ATR_ENOTFOUND-ish errors if tiles are missing. */
int atr__tree_root(atr__tree_reader *r, uint64_t size, atr_hash *out);
/*
 * Inclusion / consistency proofs (RFC 6962 §2.1.1 / §2.1.2); '*path' malloc'd
 * (NULL when '*n' is 0), leaf-side first. ATR_EINVALID for an index not below
 * the size, an old size of 0 or above the new size.
 */
int atr__tree_inclusion(atr__tree_reader *r, uint64_t index, uint64_t size, atr_hash **path,
                        size_t *n);
int atr__tree_consistency(atr__tree_reader *r, uint64_t old_size, uint64_t new_size,
                          atr_hash **path, size_t *n);

/*
 * The right edge of a growing tree: the last (partial) tile of each level,
 * which is all that appending needs. 'st' is plain data (64 KiB): copy it to
 * snapshot, assign it back and clear pending changes to roll back.
 */
typedef struct atr__edge_state {
	uint64_t size;                   /* leaves so far */
	unsigned width[ATR_TREE_LEVELS]; /* entries in the last tile of each level */
	atr_hash tile[ATR_TREE_LEVELS][ATR_TILE_WIDTH];
} atr__edge_state;

typedef struct atr__tree_edge {
	atr__edge_state st;
	/*
	 * Tiles completed since the last atr__edge_take(), copied out: 256
	 * hashes each in 'done_hashes'. Each append keeps room for one more
	 * tile per level in both arrays, which take uses for the partial tiles.
	 * Callers that never take (a verifier) must clear pending changes
	 * now and then, or these grow by 8 KiB every 256 leaves.
	 */
	atr_store_tile *done;
	atr_hash *done_hashes;
	size_t ndone, done_cap;
	unsigned dirty;      /* bit L: level L's last tile changed */
	atr_hash last_block; /* the height-8 node of the level-0 tile completed last */
} atr__tree_edge;

/* An empty edge (size 0). */
void atr__edge_init(atr__tree_edge *e);
void atr__edge_release(atr__tree_edge *e);
/* Load the edge of a stored tree of 'size' leaves from its tiles. */
int atr__edge_load(atr__tree_edge *e, atr__tile_fn fn, void *ctx, uint64_t size);
/* Append one leaf hash. ATR_ENOMEM only. */
int atr__edge_append(atr__tree_edge *e, const atr_hash *leaf);
/* The root of the tree of e->st.size leaves. */
void atr__edge_root(const atr__tree_edge *e, atr_hash *out);
/*
 * Every tile row changed since the last take: tiles completed along the way
 * and the current partial tiles that changed. '*tiles' borrowed until the next
 * append or take; the change set is then cleared.
 */
void atr__edge_take(atr__tree_edge *e, const atr_store_tile **tiles, size_t *n);
/* Forget pending changes without returning them (after a rollback). */
void atr__edge_clear_pending(atr__tree_edge *e);

#endif
