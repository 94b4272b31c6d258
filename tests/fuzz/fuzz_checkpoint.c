/*
 * Fuzz target: signed checkpoint notes and proof bundles, the two things an
 * auditor feeds us from outside. Parsing never crashes or reads out of
 * bounds; a note that opens with the key re-parses to the same body; a
 * bundle never verifies unless its checkpoint does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agentrail/bundle.h>
#include <agentrail/checkpoint.h>

#include "fuzz.h"

/* The known-answer vector of ../shared/vectors/checkpoint.json. */
#define VKEY "example.com/agentrail-test+dcbfe2b3+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
#define NOTE                                                                                       \
	"example.com/agentrail-test\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n"          \
	"\xe2\x80\x94 example.com/agentrail-test "                                                 \
	"3L/is5AV652HyvVcZ43hB3TrnPwOIESXGIEjpEISGHbzt1SlVkPVuN6YxIMmI4+TDGvruYlk7yj/y/"           \
	"qp3z2h9oHmOgc=\n"

const char *const fuzz_seeds[] = {
    NOTE,
    "origin\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n\xe2\x80\x94 origin AAAA\n",
    "{\"agentrail_proof\":1,\"seq\":0,\"record\":\"{\\\"seq\\\":0}\",\"leaf_hash\":\""
    "0000000000000000000000000000000000000000000000000000000000000000\",\"tree_size\":8,"
    "\"audit_path\":[],\"checkpoint\":\"example.com/agentrail-test\\n8\\n"
    "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\\n\\n\"}",
    NULL,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static atr_verifier *v;
	const char *text = (const char *)data;
	atr_checkpoint a, b;
	atr_bundle_info info;

	if (!v && atr_verifier_new(&v, VKEY) != 0)
		abort();
	if (atr_checkpoint_parse(text, size, &a) == 0)
		FUZZ_CHECK(strlen(a.origin) > 0 && strlen(a.origin) <= ATR_KEY_NAME_MAX);
	if (atr_checkpoint_open(text, size, v, &b) == 0) {
		/* Only the vector's body is signed by this key. */
		FUZZ_CHECK(b.size == 8 && strcmp(b.origin, "example.com/agentrail-test") == 0);
		FUZZ_CHECK(atr_checkpoint_parse(text, size, &a) == 0 && a.size == b.size &&
		           memcmp(a.root.b, b.root.b, 32) == 0);
	}
	if (atr_proof_bundle_verify(text, size, v, &info) == 0)
		FUZZ_CHECK(info.checkpoint.size == 8 && info.seq < 8);
	return 0;
}
