/*
 * Fuzz target: one event in, as a producer would send it. Whatever the
 * bytes, preparing must either fail with a message or yield a record that is
 * one well-formed JSON object carrying the seq it was given.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <agentrail/common.h>

#include "event.h"
#include "fuzz.h"
#include "jscan.h"

const char *const fuzz_seeds[] = {
    "{\"type\":\"tool_call\",\"actor\":\"implementer-1\",\"target\":\"bash\",\"session_id\":\"s1\","
    "\"detail\":{\"input\":{\"command\":\"make test\"},\"lines\":[1,2,3],\"ok\":true,\"r\":1.5}}",
    "{\"type\":\"decision\",\"actor\":\"lead\",\"reason\":\"tests pass\",\"policy\":{\"rule_id\":"
    "\"r1\",\"decision\":\"ALLOW\",\"snapshot\":\"sha256:00\"},\"ts\":\"2026-04-01T14:10:32.123+02:"
    "00\"}",
    "{\"event_id\":\"0190f0e0-0000-7000-8000-000000000001\",\"type\":\"llm_call\",\"actor\":\"a\","
    "\"model\":\"m\",\"usage\":{\"input_tokens\":10,\"output_tokens\":2,\"cost_micro_usd\":7}}",
    "{\"type\":\"approval_resolved\",\"actor\":\"alice\",\"reason\":\"ok\",\"approval\":{\"id\":"
    "\"a1\","
    "\"resolution\":\"approved\",\"resolved_by\":\"alice\",\"comment\":\"\\u00e9\\ud83d\\ude00\"}}",
    "{\"type\":\"x_custom\",\"level\":\"agent\",\"actor\":\"b\",\"detail\":{\"k\":\"\\\"\\\\/"
    "\\n\"}}",
    NULL,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct atr__event ev;
	uint64_t seq = 0;
	char *rec;
	size_t len;
	json_t *obj;

	if (atr__event_prepare(&ev, (const char *)data, size, 1790000000000000) != 0) {
		FUZZ_CHECK(atr_errmsg()[0] != '\0');
		return 0;
	}
	rec = malloc(atr__event_record_cap(&ev));
	FUZZ_CHECK(rec != NULL);
	len = atr__event_record(&ev, 123456789, rec);
	FUZZ_CHECK(len <= atr__event_record_cap(&ev));
	obj = json_loadb(rec, len, JSON_REJECT_DUPLICATES, NULL);
	FUZZ_CHECK(json_is_object(obj));
	FUZZ_CHECK(atr__json_member_u64(rec, len, "seq", &seq) == 0 && seq == 123456789);
	json_decref(obj);
	obj = json_loadb(ev.detail, ev.detail_len, JSON_REJECT_DUPLICATES, NULL);
	FUZZ_CHECK(json_is_object(obj));
	json_decref(obj);
	free(rec);
	atr__event_release(&ev);
	return 0;
}
