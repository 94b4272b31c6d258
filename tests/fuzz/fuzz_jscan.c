/*
 * Fuzz target: the allocation-free scanner that verification runs over
 * stored records and export lines. It must never read past the end, and a
 * value it finds must lie inside the input and be a value itself.
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"
#include "jscan.h"

const char *const fuzz_seeds[] = {
    "{\"actor\":\"a\",\"detail_commit\":\"00ff\",\"nested\":{\"seq\":9},\"seq\":42,\"t\":"
    "\"x\\\"y\"}",
    "{\"record\":{\"seq\":1,\"s\":\"\\\\\"},\"leaf_hash\":\"ab\",\"detail\":{},\"salt\":\"cd\"}",
    "[1,2.5e-3,true,false,null,\"\\u0041\",{\"a\":[]}]",
    NULL,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *v;
	static const char *const keys[] = {"seq", "detail_commit", "record", "salt", "t"};
	size_t vlen;
	uint64_t u;

	v = atr__json_skip(p, end);
	FUZZ_CHECK(v == NULL || (v > p && v <= end));
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		if (atr__json_member(p, size, keys[k], &v, &vlen) == 0) {
			FUZZ_CHECK(v >= p && v + vlen <= end);
			FUZZ_CHECK(atr__json_skip(v, v + vlen) == v + vlen);
		}
		if (atr__json_member_str(p, size, keys[k], &v, &vlen) == 0)
			FUZZ_CHECK(v >= p && v + vlen <= end);
		(void)atr__json_member_u64(p, size, keys[k], &u);
	}
	return 0;
}
