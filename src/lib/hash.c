/*
 * SHA-256 through OpenSSL 3 libcrypto, and the RFC 6962 leaf and node hashes
 * built on it. The digest is fetched once per process and each thread keeps
 * an initialised template context that it copies for every hash, so a hash
 * costs the compression rounds and little else.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include <agentrail/proof.h>

#include "internal.h"

static pthread_once_t sha_once = PTHREAD_ONCE_INIT;
static pthread_key_t ctx_key;
static EVP_MD *sha_md;

/* Per thread: 'fresh' is initialised once; 'work' is overwritten from it. */
struct sha_ctx {
	EVP_MD_CTX *fresh;
	EVP_MD_CTX *work;
};

static _Thread_local struct sha_ctx *tls_ctx;

static void ctx_destroy(void *p)
{
	struct sha_ctx *c = p;

	EVP_MD_CTX_free(c->fresh);
	EVP_MD_CTX_free(c->work);
	free(c);
}

static void sha_init(void)
{
	sha_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (pthread_key_create(&ctx_key, ctx_destroy) != 0)
		sha_md = NULL;
}

/*
 * Hashing has no error return: the only failures are a libcrypto without
 * SHA-256 or no memory for a 200-byte context, and a wrong hash would be far
 * worse than stopping.
 */
static _Noreturn void sha_fatal(const char *what)
{
	fprintf(stderr, "agentrail: sha-256 unavailable: %s\n", what);
	abort();
}

/*
 * Copying an initialised context measured about 10% faster for node hashes
 * than EVP_DigestInit_ex2 on OpenSSL 3.0, which frees and reallocates the
 * provider context on every init.
 */
static EVP_MD_CTX *thread_ctx(void)
{
	struct sha_ctx *c = tls_ctx;

	if (c)
		return c->work;
	pthread_once(&sha_once, sha_init);
	if (!sha_md)
		sha_fatal("cannot fetch 'SHA256'");
	c = calloc(1, sizeof(*c));
	if (!c)
		sha_fatal("out of memory");
	c->fresh = EVP_MD_CTX_new();
	c->work = EVP_MD_CTX_new();
	if (!c->fresh || !c->work || !EVP_DigestInit_ex2(c->fresh, sha_md, NULL)) {
		ctx_destroy(c);
		sha_fatal("cannot create a digest context");
	}
	/* The key's destructor frees the contexts when the thread exits. */
	if (pthread_setspecific(ctx_key, c) != 0) {
		ctx_destroy(c);
		sha_fatal("cannot register the thread's context");
	}
	tls_ctx = c;
	return c->work;
}

void atr__sha256(uint8_t out[32], const void *a, size_t alen, const void *b, size_t blen,
                 const void *c, size_t clen)
{
	EVP_MD_CTX *ctx = thread_ctx();
	int ok;

	ok = EVP_MD_CTX_copy_ex(ctx, tls_ctx->fresh);
	if (ok && alen)
		ok = EVP_DigestUpdate(ctx, a, alen);
	if (ok && blen)
		ok = EVP_DigestUpdate(ctx, b, blen);
	if (ok && clen)
		ok = EVP_DigestUpdate(ctx, c, clen);
	if (ok)
		ok = EVP_DigestFinal_ex(ctx, out, NULL);
	if (!ok)
		sha_fatal("digest failed");
}

void atr_leaf_hash(atr_hash *out, const void *data, size_t len)
{
	static const uint8_t prefix = 0x00;

	atr__sha256(out->b, &prefix, 1, data, len, NULL, 0);
}

void atr_node_hash(atr_hash *out, const atr_hash *left, const atr_hash *right)
{
	uint8_t buf[65];

	/* One update over a contiguous buffer is cheaper than three. */
	buf[0] = 0x01;
	memcpy(buf + 1, left->b, 32);
	memcpy(buf + 33, right->b, 32);
	atr__sha256(out->b, buf, sizeof(buf), NULL, 0, NULL, 0);
}

void atr_root_from_leaves(atr_hash *out, const atr_hash *leaves, uint64_t n)
{
	/*
	 * Fold leaves into a stack of complete subtrees whose sizes are the
	 * binary digits of the count so far; at the end, merge right to left.
	 */
	atr_hash stack[64];
	unsigned depth = 0;

	if (n == 0) {
		atr__sha256(out->b, NULL, 0, NULL, 0, NULL, 0);
		return;
	}
	for (uint64_t i = 0; i < n; i++) {
		stack[depth++] = leaves[i];
		for (uint64_t j = i + 1; (j & 1) == 0; j >>= 1) {
			depth--;
			atr_node_hash(&stack[depth - 1], &stack[depth - 1], &stack[depth]);
		}
	}
	while (depth > 1) {
		depth--;
		atr_node_hash(&stack[depth - 1], &stack[depth - 1], &stack[depth]);
	}
	*out = stack[0];
}
