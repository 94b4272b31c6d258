/*
 * Fuzz target: an export file handed to `agentrail verify --export`, which
 * comes from outside. Whatever the bytes, verification must finish with a
 * verdict (never crash); the pristine export is consistent, and a verdict of
 * consistent never comes with a bad seq.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <agentrail/verify.h>

#include "fuzz.h"

/* A real two-record export made by agentrail: the first seed. */
#define PRISTINE                                                                                   \
	"{\"record\":{\"actor\":\"a\",\"detail_commit\":"                                          \
	"\"13635246d74253debbc5491d835170abf2d2b42f2e8cf1895eb2be781a86b6c2\",\"event_id\":"       \
	"\"01a208ee-0829-7d01-9218-67b3d8defa2e\",\"level\":\"agent\",\"received_at\":\"2026-11-"  \
	"23T15:02:27.113332Z\",\"seq\":0,\"target\":\"bash\",\"ts\":\"2026-11-23T15:02:27."        \
	"113332Z\",\"type\":\"tool_call\"},\"leaf_hash\":"                                         \
	"\"74a0afd5ff55b4378fcc05f88b1f0e65718a0920310b41fab05c781029af92d0\",\"detail\":{\"x\":"  \
	"1},\"salt\":\"588a258c4489d234b7617d1f574d65165f7e9e289c0a63c5f08788b3a0160a68\"}\n"      \
	"{\"record\":{\"actor\":\"b\",\"detail_commit\":"                                          \
	"\"b38570ed97305e494916a8f1ceabea75193eb372e9159942f32b23ae9bd0903e\",\"event_id\":"       \
	"\"01a208ee-082f-74a7-a66a-76a2cfdedb3a\",\"level\":\"agent\",\"received_at\":\"2026-11-"  \
	"23T15:02:27.119250Z\",\"seq\":1,\"ts\":\"2026-11-23T15:02:27.119250Z\",\"type\":"         \
	"\"output\"},\"leaf_hash\":"                                                               \
	"\"41888abcb0cffd1af4df740d4f2577f53f52178d7d7a55acacb1175d014574b3\",\"detail\":{},"      \
	"\"salt\":\"b1b7c148734155ea095ba9760ed1ac507c8c545f48ed0c742b14cada72b25f15\"}\n"         \
	"{\"tree_head\":{\"root_hash\":"                                                           \
	"\"2ffea08cfd88efa70a4e946402cba074b359143bfc7366c870c13149818b0b38\",\"size\":2}}\n"

const char *const fuzz_seeds[] = {
    PRISTINE,
    "{\"tree_head\":{\"root_hash\":"
    "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\",\"size\":0}}\n",
    NULL,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/atr-fuzz-export-XXXXXX";
	int fd = mkstemp(path);
	atr_verify_result res;
	int rc;

	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(write(fd, data, size) == (ssize_t)size);
	close(fd);
	rc = atr_export_verify(path, NULL, NULL, NULL, &res);
	unlink(path);
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(res.status != ATR_VERIFY_OK); /* nothing anchors an export yet */
	if (size == strlen(PRISTINE) && memcmp(data, PRISTINE, size) == 0)
		FUZZ_CHECK(res.status == ATR_VERIFY_UNANCHORED && res.records == 2);
	if (res.status == ATR_VERIFY_UNANCHORED)
		FUZZ_CHECK(!res.has_bad_seq);
	return 0;
}
