/*
 * Keys and signed checkpoints: the known-answer vector in
 * $ATR_VECTORS/checkpoint.json (computed with Go's sumdb/note) reproduced
 * byte for byte, and every way a note or key can be wrong refused with the
 * right status.
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

#include <agentrail/checkpoint.h>

#include "internal.h"

static json_t *vec;

static const char *vstr(const char *key)
{
	const char *s = json_string_value(json_object_get(vec, key));

	assert_non_null(s);
	return s;
}

static void vector_seed(uint8_t seed[32])
{
	assert_int_equal(atr__unhex(seed, 32, vstr("ed25519_seed_hex")), 0);
}

/* The 8-leaf root of merkle.json, as the vector's note carries it. */
static void vector_root(atr_hash *root)
{
	assert_int_equal(
	    atr_hash_parse(root,
	                   "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
	    0);
}

static void test_keys_match_vector(void **state)
{
	uint8_t seed[32];
	char *skey, *vkey, *vkey2;
	atr_signer *s;

	(void)state;
	vector_seed(seed);
	assert_int_equal(atr_keygen_seed(vstr("key_name"), seed, &skey, &vkey), 0);
	assert_string_equal(skey, vstr("signer_key"));
	assert_string_equal(vkey, vstr("verifier_key"));
	assert_int_equal(atr_signer_new(&s, skey), 0);
	assert_string_equal(atr_signer_name(s), vstr("key_name"));
	assert_int_equal(atr_signer_verifier_key(s, &vkey2), 0);
	assert_string_equal(vkey2, vkey);
	atr_signer_free(s);
	atr_free(skey);
	atr_free(vkey);
	atr_free(vkey2);
}

static void test_sign_matches_vector(void **state)
{
	atr_signer *s;
	atr_verifier *v;
	atr_checkpoint cp;
	atr_hash root;
	char *note;

	(void)state;
	vector_root(&root);
	assert_int_equal(atr_signer_new(&s, vstr("signer_key")), 0);
	assert_int_equal(atr_checkpoint_sign(s, 8, &root, &note), 0);
	assert_string_equal(note, vstr("signed_note"));
	assert_int_equal(strncmp(note, vstr("note_text"), strlen(vstr("note_text"))), 0);

	assert_int_equal(atr_verifier_new(&v, vstr("verifier_key")), 0);
	assert_int_equal(atr_checkpoint_open(note, strlen(note), v, &cp), 0);
	assert_string_equal(cp.origin, vstr("key_name"));
	assert_int_equal(cp.size, 8);
	assert_memory_equal(cp.root.b, root.b, 32);
	atr_verifier_free(v);
	atr_signer_free(s);
	atr_free(note);
}

static void test_open_vector_note(void **state)
{
	const char *note = vstr("signed_note");
	atr_verifier *v;
	atr_checkpoint cp;
	atr_hash root;

	(void)state;
	vector_root(&root);
	assert_int_equal(atr_verifier_new(&v, vstr("verifier_key")), 0);
	assert_int_equal(atr_checkpoint_open(note, strlen(note), v, &cp), 0);
	assert_memory_equal(cp.root.b, root.b, 32);
	assert_int_equal(atr_checkpoint_parse(note, strlen(note), &cp), 0);
	assert_int_equal(cp.size, 8);
	atr_verifier_free(v);
}

/* Every single-byte change to the signed note is refused (never accepted as valid). */
static void test_every_byte_flip_refused(void **state)
{
	const char *note = vstr("signed_note");
	size_t len = strlen(note);
	char *m = malloc(len + 1);
	atr_verifier *v;
	atr_checkpoint cp;

	(void)state;
	assert_non_null(m);
	assert_int_equal(atr_verifier_new(&v, vstr("verifier_key")), 0);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(m, note, len + 1);
			m[i] = (char)(m[i] ^ (1 << bit));
			assert_int_not_equal(atr_checkpoint_open(m, len, v, &cp), 0);
		}
	}
	atr_verifier_free(v);
	free(m);
}

static void test_bad_signature_is_tamper(void **state)
{
	char *note = strdup(vstr("signed_note"));
	atr_verifier *v;
	atr_checkpoint cp;
	char *sig;

	(void)state;
	/* Change the size but keep the signature: the signature no longer verifies. */
	note[strlen(vstr("key_name")) + 1] = '9';
	assert_int_equal(atr_verifier_new(&v, vstr("verifier_key")), 0);
	assert_int_equal(atr_checkpoint_open(note, strlen(note), v, &cp), ATR_ETAMPER);
	assert_non_null(strstr(atr_errmsg(), "bad signature"));
	/* A corrupted signature byte (still base64) is also a bad signature. */
	free(note);
	note = strdup(vstr("signed_note"));
	sig = strrchr(note, ' ') + 10;
	*sig = *sig == 'A' ? 'B' : 'A';
	assert_int_equal(atr_checkpoint_open(note, strlen(note), v, &cp), ATR_ETAMPER);
	atr_verifier_free(v);
	free(note);
}

static void test_other_key_not_found(void **state)
{
	char *skey, *vkey;
	atr_verifier *other;
	atr_signer *s;
	atr_checkpoint cp;
	atr_hash root;
	char *note;

	(void)state;
	vector_root(&root);
	/* Another key with the same name: its id differs, so no signature is "by" it. */
	assert_int_equal(atr_keygen(vstr("key_name"), &skey, &vkey), 0);
	assert_int_equal(atr_verifier_new(&other, vkey), 0);
	assert_int_equal(
	    atr_checkpoint_open(vstr("signed_note"), strlen(vstr("signed_note")), other, &cp),
	    ATR_ENOTFOUND);
	/* And a note it signed does not pass the vector's key. */
	assert_int_equal(atr_signer_new(&s, skey), 0);
	assert_int_equal(atr_checkpoint_sign(s, 8, &root, &note), 0);
	atr_verifier_free(other);
	assert_int_equal(atr_verifier_new(&other, vstr("verifier_key")), 0);
	assert_int_equal(atr_checkpoint_open(note, strlen(note), other, &cp), ATR_ENOTFOUND);
	atr_verifier_free(other);
	atr_signer_free(s);
	atr_free(note);
	atr_free(skey);
	atr_free(vkey);
}

static void test_malformed_notes(void **state)
{
	static const char *bad[] = {
	    "",
	    "example\n8\n",
	    "example\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n",
	    "example\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n- example AAAA\n",
	    "example\n08\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n\xe2\x80\x94 e "
	    "AAAAAAAA\n",
	    "example\n-1\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n\xe2\x80\x94 e "
	    "AAAAAAAA\n",
	    "example\n8\nnot-base64\n\n\xe2\x80\x94 e AAAAAAAA\n",
	    "ex ample\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n\xe2\x80\x94 e "
	    "AAAAAAAA\n",
	    "example\n99999999999999999999\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n"
	    "\xe2\x80\x94 e AAAAAAAA\n",
	    "example\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n\xe2\x80\x94 e AAAAAAAA",
	};
	atr_checkpoint cp;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(atr_checkpoint_parse(bad[i], strlen(bad[i]), &cp), ATR_EINVALID);
}

static void test_bad_keys(void **state)
{
	atr_signer *s;
	atr_verifier *v;
	char *skey, *vkey;

	(void)state;
	assert_int_equal(atr_keygen("has+plus", &skey, &vkey), ATR_EINVALID);
	assert_int_equal(atr_keygen("has space", &skey, &vkey), ATR_EINVALID);
	assert_int_equal(atr_keygen("", &skey, &vkey), ATR_EINVALID);
	/* A verifier key is not a signer key, and the other way round. */
	assert_int_equal(atr_signer_new(&s, vstr("verifier_key")), ATR_EINVALID);
	assert_int_equal(atr_verifier_new(&v, vstr("signer_key")), ATR_EINVALID);
	assert_non_null(strstr(atr_errmsg(), "verifier key"));
	/* A wrong key id is caught. */
	assert_int_equal(atr_verifier_new(&v, "example.com/agentrail-test+dcbfe2b4+"
	                                      "AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"),
	                 ATR_EINVALID);
	assert_int_equal(atr_verifier_new(&v, "example.com/agentrail-test+dcbfe2b3+AQOhB7"),
	                 ATR_EINVALID);
	/* Surrounding white space (a key file's newline) is fine. */
	{
		char buf[256];

		snprintf(buf, sizeof(buf), "  %s\n", vstr("verifier_key"));
		assert_int_equal(atr_verifier_new(&v, buf), 0);
		atr_verifier_free(v);
	}
}

static void test_base64(void **state)
{
	static const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	uint8_t out[16];
	char buf[16];

	(void)state;
	for (size_t n = 0; n <= 6; n++) {
		assert_int_equal(atr__b64_encode(buf, (const uint8_t *)"foobar", n),
		                 strlen(enc[n]));
		assert_string_equal(buf, enc[n]);
		assert_int_equal(atr__b64_decode(out, sizeof(out), enc[n], strlen(enc[n])),
		                 (long)n);
		assert_memory_equal(out, "foobar", n);
	}
	assert_int_equal(atr__b64_decode(out, sizeof(out), "Zh==", 4), -1); /* non-zero pad bits */
	assert_int_equal(atr__b64_decode(out, sizeof(out), "Zg=", 3), -1);
	assert_int_equal(atr__b64_decode(out, sizeof(out), "Z=g=", 4), -1);
	assert_int_equal(atr__b64_decode(out, 2, "Zm9v", 4), -1);
}

static int setup(void **state)
{
	const char *dir = getenv("ATR_VECTORS");
	char path[4096];
	json_error_t err;

	(void)state;
	if (!dir) {
		fprintf(stderr, "ATR_VECTORS is not set\n");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/checkpoint.json", dir);
	if (!(vec = json_load_file(path, 0, &err))) {
		fprintf(stderr, "cannot load '%s': %s\n", path, err.text);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	json_decref(vec);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keys_match_vector),
	    cmocka_unit_test(test_sign_matches_vector),
	    cmocka_unit_test(test_open_vector_note),
	    cmocka_unit_test(test_every_byte_flip_refused),
	    cmocka_unit_test(test_bad_signature_is_tamper),
	    cmocka_unit_test(test_other_key_not_found),
	    cmocka_unit_test(test_malformed_notes),
	    cmocka_unit_test(test_bad_keys),
	    cmocka_unit_test(test_base64),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
