/*
 * RFC 6962 / RFC 9162 hashing and proof checking, with no store: what an
 * auditor needs to check a proof handed to them.
 */
#ifndef AGENTRAIL_PROOF_H
#define AGENTRAIL_PROOF_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* SHA-256(0x00 || data): the leaf hash of a record's bytes. */
ATR_EXTERN void atr_leaf_hash(atr_hash *out, const void *data, size_t len);

/* SHA-256(0x01 || left || right). */
ATR_EXTERN void atr_node_hash(atr_hash *out, const atr_hash *left, const atr_hash *right);

/* The root of a tree over 'n' leaf hashes (n == 0: SHA-256 of the empty string). */
ATR_EXTERN void atr_root_from_leaves(atr_hash *out, const atr_hash *leaves, uint64_t n);

/*
 * Check that 'leaf' is leaf 'index' of the tree of 'size' leaves with 'root'
 * (RFC 9162 §2.1.3.2). 0 if it holds, ATR_ETAMPER if not, ATR_EINVALID for a
 * malformed proof (wrong length, index out of range).
 */
ATR_EXTERN int atr_verify_inclusion(const atr_hash *leaf, uint64_t index, uint64_t size,
                                    const atr_hash *path, size_t n, const atr_hash *root);

/*
 * Check that the tree of 'old_size' with 'old_root' is a prefix of the tree of
 * 'new_size' with 'new_root' (RFC 9162 §2.1.4.2). Same returns as above.
 */
ATR_EXTERN int atr_verify_consistency(uint64_t old_size, uint64_t new_size,
                                      const atr_hash *old_root, const atr_hash *new_root,
                                      const atr_hash *path, size_t n);

#ifdef __cplusplus
}
#endif
#endif
