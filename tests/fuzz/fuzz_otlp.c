/*
 * Fuzz target: an OTLP/HTTP JSON body as a client would post it, read both
 * as a trace and as a logs export request. Whatever the bytes, mapping must
 * fail with a message, or yield events that are JSON objects the log
 * accepts, never more than two per item, the same ones every time, with
 * every refusal counted and described.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <agentrail/common.h>
#include <agentrail/otlp.h>

#include "event.h"
#include "fuzz.h"

const char *const fuzz_seeds[] = {
    "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{"
    "\"stringValue\":\"svc\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"s\",\"version\":\"1\"},"
    "\"spans\":[{\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":"
    "\"eee19b7ec3c1b174\",\"name\":\"invoke_agent A\",\"kind\":1,\"startTimeUnixNano\":"
    "\"1767225600000000000\",\"endTimeUnixNano\":\"1767225605250000000\",\"attributes\":[{"
    "\"key\":\"gen_ai.operation.name\",\"value\":{\"stringValue\":\"invoke_agent\"}},{\"key\":"
    "\"gen_ai.agent.name\",\"value\":{\"stringValue\":\"A\"}},{\"key\":"
    "\"gen_ai.usage.input_tokens\",\"value\":{\"intValue\":\"12\"}}],\"status\":{\"code\":2,"
    "\"message\":\"boom\"}}]}]}]}",
    "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
    "\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"aa11bb22cc33dd44\",\"parentSpanId\":"
    "\"eee19b7ec3c1b174\",\"name\":\"chat m\",\"kind\":3,\"startTimeUnixNano\":"
    "1767225600100000000,\"attributes\":[{\"key\":\"gen_ai.operation.name\",\"value\":{"
    "\"stringValue\":\"chat\"}},{\"key\":\"gen_ai.request.model\",\"value\":{\"stringValue\":"
    "\"m\"}},{\"key\":\"gen_ai.input.messages\",\"value\":{\"stringValue\":\"[{\\\"role\\\":"
    "\\\"user\\\"}]\"}},{\"key\":\"t\",\"value\":{\"doubleValue\":0.5}}],\"events\":[{\"name\":"
    "\"e\",\"timeUnixNano\":\"1\",\"attributes\":[]}]}]}]}]}",
    "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
    "\"W47/95gDgQPSabYzgT/GDA==\",\"spanId\":\"APBnqgupArc=\",\"attributes\":[{\"key\":"
    "\"gen_ai.operation.name\",\"value\":{\"stringValue\":\"execute_tool\"}},{\"key\":"
    "\"gen_ai.tool.name\",\"value\":{\"stringValue\":\"t\"}},{\"key\":"
    "\"gen_ai.tool.call.arguments\",\"value\":{\"stringValue\":\"{\\\"a\\\":1}\"}},{\"key\":"
    "\"k\",\"value\":{\"kvlistValue\":{\"values\":[{\"key\":\"a\",\"value\":{\"arrayValue\":{"
    "\"values\":[{\"intValue\":-1},{\"bytesValue\":\"AA==\"},{}]}}}]}}}],\"links\":[{"
    "\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"eee19b7ec3c1b174\"}]}]}]}]}",
    "{\"resourceLogs\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{"
    "\"stringValue\":\"svc\"}}]},\"scopeLogs\":[{\"scope\":{\"name\":\"l\"},\"logRecords\":[{"
    "\"timeUnixNano\":\"1767225601960000000\",\"severityNumber\":17,\"severityText\":\"ERROR\","
    "\"body\":{\"stringValue\":\"x\"},\"traceId\":\"5b8efff798038103d269b633813fc60c\","
    "\"spanId\":\"1234567890abcdef\",\"attributes\":[{\"key\":\"gen_ai.agent.name\",\"value\":{"
    "\"stringValue\":\"A\"}}]},{\"observedTimeUnixNano\":1,\"body\":{\"kvlistValue\":{"
    "\"values\":[{\"key\":\"m\",\"value\":{\"stringValue\":\"s\"}}]}},\"eventName\":\"e\"}]}]}]}",
    "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"xx\"},{\"traceId\":"
    "\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"0000000000000001\",\"attributes\":[{"
    "\"key\":\"gen_ai.operation.name\",\"value\":{\"stringValue\":\"create_agent\"}}]}]}]}]}",
    "{}",
    NULL,
};

static void check(atr_otlp_signal sig, const uint8_t *data, size_t size)
{
	atr_otlp_batch *b = NULL, *again = NULL;
	size_t n, items, rejected;
	int rc = atr_otlp_map(&b, sig, (const char *)data, size, 64);

	if (rc != 0) {
		FUZZ_CHECK(b == NULL);
		FUZZ_CHECK(rc == ATR_EINVALID || rc == ATR_ETOOBIG || rc == ATR_ENOMEM);
		FUZZ_CHECK(atr_errmsg()[0] != '\0');
		return;
	}
	n = atr_otlp_batch_events(b);
	items = atr_otlp_batch_items(b);
	rejected = atr_otlp_batch_rejected(b);
	FUZZ_CHECK(n <= 64 && n <= 2 * items && rejected <= items);
	FUZZ_CHECK((rejected == 0) == (atr_otlp_batch_summary(b)[0] == '\0'));
	for (size_t k = 0; k < rejected && k < 100; k++)
		FUZZ_CHECK(atr_otlp_batch_error(b, k, NULL) != NULL);
	FUZZ_CHECK(atr_otlp_map(&again, sig, (const char *)data, size, 64) == 0);
	FUZZ_CHECK(atr_otlp_batch_events(again) == n);
	for (size_t i = 0; i < n; i++) {
		size_t len, item;
		const char *text = atr_otlp_batch_event(b, i, &len, &item);
		json_t *obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
		struct atr__event ev;

		FUZZ_CHECK(json_is_object(obj));
		json_decref(obj);
		FUZZ_CHECK(item < items);
		FUZZ_CHECK(strcmp(text, atr_otlp_batch_event(again, i, NULL, NULL)) == 0);
		/* Mapping validated it: the log takes it as it is. */
		FUZZ_CHECK(atr__event_prepare(&ev, text, len, 1790000000000000) == 0);
		atr__event_release(&ev);
	}
	if (n) {
		size_t item;

		atr_otlp_batch_event(b, 0, NULL, &item);
		FUZZ_CHECK(atr_otlp_batch_reject(b, item, "refused") == 0);
		FUZZ_CHECK(atr_otlp_batch_rejected(b) == rejected + 1);
		FUZZ_CHECK(atr_otlp_batch_events(b) < n);
		FUZZ_CHECK(atr_otlp_batch_reject(b, item, "again") == ATR_ENOTFOUND);
	}
	atr_otlp_batch_free(again);
	atr_otlp_batch_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check(ATR_OTLP_TRACES, data, size);
	check(ATR_OTLP_LOGS, data, size);
	return 0;
}
