/*
 * Fuzz target: a file the file sink is asked to extend (AGENTRAIL_LOG_FILE),
 * which anyone may have edited. Whatever the bytes, opening it must end in
 * a refusal or a log it can extend; and a file it accepts and extends must
 * then verify as consistent with `agentrail verify --export`: the sink never
 * adopts (and would never sign) a file the verifier calls tampered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <agentrail/verify.h>

#include "fuzz.h"
#include "sink/sink.h"

/* A real two-record log written by the file sink. */
static const char PRISTINE[] =
    "{\"record\":{\"actor\":\"a\",\"detail_commit\":\"34016903fd0ce225e79e77402cbd2ba23e90a16"
    "577af2c8771bedce87c4b89ab\",\"event_id\":\"01a20977-cdb4-7033-8500-63dbfa1fe740\",\"leve"
    "l\":\"agent\",\"received_at\":\"2026-11-23T17:32:56.125394Z\",\"seq\":0,\"target\":\"bas"
    "h\",\"ts\":\"2026-11-23T17:32:56.116529Z\",\"type\":\"tool_call\"},\"leaf_hash\":\"5f3a3"
    "968d799f5cf034a23a8e1f15f329c161afcbd14ed9ebfee5e8c7d6aa4f5\",\"detail\":{\"x\":1},\"sal"
    "t\":\"2d2e870c2e4f06583d02ce62da95664742673fb232d45cea5ca4c6595dd811eb\"}\n"
    "{\"record\":{\"actor\":\"b\",\"detail_commit\":\"dc70ca5f699ee0ae58232622ecbc8cbbfbb5178"
    "5189e9024995afcee3edbae54\",\"event_id\":\"01a20977-cddd-7272-8457-89af9cf50ca9\",\"leve"
    "l\":\"agent\",\"received_at\":\"2026-11-23T17:32:56.158310Z\",\"seq\":1,\"ts\":\"2026-11"
    "-23T17:32:56.157412Z\",\"type\":\"output\"},\"leaf_hash\":\"02a0ef5eba16a85087c5674f2f88"
    "48aa88119cd3daabb7a44ffbc49f9949279b\",\"detail\":{},\"salt\":\"216b7cf79ebcea698a85cca4"
    "80f30b4a4c0159e87d95d21803c47c578673a976\"}\n"
    "{\"tree_head\":{\"root_hash\":\"8da9b9dd45899b97929994548b5e15112b6193cbcd908b62d37e71b8"
    "22c58011\",\"size\":2}}\n";

const char *const fuzz_seeds[] = {
    PRISTINE,
    "",
    NULL,
};

static const char EVENT[] = "{\"type\":\"output\",\"actor\":\"fuzz\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/atr-fuzz-filesink-XXXXXX";
	int fd = mkstemp(path);
	atr_verify_result res;
	atr_sink *s = NULL;
	int rc;

	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(write(fd, data, size) == (ssize_t)size);
	close(fd);
	rc = atr__sink_file_new(&s, path, NULL);
	if (size == strlen(PRISTINE) && memcmp(data, PRISTINE, size) == 0)
		FUZZ_CHECK(rc == 0);
	if (rc == 0) {
		const char *ev = EVENT;
		size_t len = sizeof(EVENT) - 1;
		atr_sink_report rep;

		memset(&rep, 0, sizeof(rep));
		FUZZ_CHECK(s->deliver(s, &ev, &len, 1, &rep) == ATR_SINK_OK);
		s->free(s);
		FUZZ_CHECK(atr_export_verify(path, NULL, NULL, NULL, &res) == 0);
		FUZZ_CHECK(res.status == ATR_VERIFY_UNANCHORED);
		FUZZ_CHECK(res.records == rep.seq + 1);
	} else {
		FUZZ_CHECK(s == NULL);
	}
	unlink(path);
	return 0;
}
