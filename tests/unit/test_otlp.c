/*
 * OTLP JSON to events (atr_otlp_map): GenAI spans and log records written
 * by hand from the published field names (tests/data/otlp) map field by
 * field as docs/otel.md says; ids in hex or base64 and 64-bit integers as
 * numbers or strings mean the same; unknown members are ignored; malformed
 * requests fail with the path of the bad member; items the log would refuse
 * are refused alone; and the events append to a real log, idempotently.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include <agentrail/agentrail.h>

#define ATR_TEST_NAME "test_otlp"
#include "tmpstore.h"

#define TRACE_ID "5b8efff798038103d269b633813fc60c"
#define CONV     "conv_5j66UpCpwteGg4YSxUnt7lPY"

/* ------------------------------------------------------------ helpers */

/* A file of tests/data/otlp, NUL-terminated; free() it. */
static char *fixture(const char *name, size_t *len)
{
	const char *slash = strrchr(__FILE__, '/');
	char p[1024];
	FILE *f;
	char *buf;
	long n;

	/* This file is tests/unit/test_otlp.c; the fixtures are in tests/data/otlp. */
	snprintf(p, sizeof(p), "%.*s/../data/otlp/%s", (int)(slash - __FILE__), __FILE__, name);
	f = fopen(p, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static atr_otlp_batch *map_text(atr_otlp_signal sig, const char *text)
{
	atr_otlp_batch *b = NULL;
	int rc = atr_otlp_map(&b, sig, text, strlen(text), 0);

	if (rc != 0)
		fail_msg("atr_otlp_map: %d %s", rc, atr_errmsg());
	return b;
}

static atr_otlp_batch *map_fixture(atr_otlp_signal sig, const char *name)
{
	size_t len;
	char *text = fixture(name, &len);
	atr_otlp_batch *b = NULL;

	assert_int_equal(atr_otlp_map(&b, sig, text, len, 0), 0);
	free(text);
	return b;
}

/* Event 'i' of 'b' parsed. */
static json_t *event(const atr_otlp_batch *b, size_t i)
{
	size_t len;
	const char *t = atr_otlp_batch_event(b, i, &len, NULL);
	json_t *j;

	assert_non_null(t);
	j = json_loadb(t, len, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(j);
	return j;
}

/* The value at a dotted path; numbers index arrays; "[...]" quotes a key with dots. */
static json_t *at(json_t *o, const char *dotted)
{
	char buf[256], *p = buf;
	json_t *v = o;

	snprintf(buf, sizeof(buf), "%s", dotted);
	while (v && *p) {
		char *k = p, *end;

		if (*p == '[') {
			k = p + 1;
			end = strchr(k, ']');
			assert_non_null(end);
			*end = '\0';
			p = end + 1;
		} else {
			end = p + strcspn(p, ".");
			p = *end ? end + 1 : end;
			*end = '\0';
		}
		if (*p == '.')
			p++;
		v = json_is_array(v) ? json_array_get(v, strtoul(k, NULL, 10))
		                     : json_object_get(v, k);
	}
	return v;
}

static const char *str(json_t *o, const char *dotted)
{
	json_t *v = at(o, dotted);

	return json_is_string(v) ? json_string_value(v) : v ? "(not a string)" : "(absent)";
}

static long long num(json_t *o, const char *dotted)
{
	json_t *v = at(o, dotted);

	if (!json_is_integer(v))
		fail_msg("'%s' is not an integer", dotted);
	return json_integer_value(v);
}

static void absent(json_t *o, const char *dotted)
{
	if (at(o, dotted))
		fail_msg("'%s' should be absent", dotted);
}

/* ------------------------------------------------------------ traces */

static void test_genai_spans(void **state)
{
	atr_otlp_batch *b = map_fixture(ATR_OTLP_TRACES, "genai_traces.json");
	json_t *e[8];
	const char *root;

	(void)state;
	assert_int_equal(atr_otlp_batch_items(b), 7);
	assert_int_equal(atr_otlp_batch_rejected(b), 0);
	assert_string_equal(atr_otlp_batch_summary(b), "");
	assert_int_equal(atr_otlp_batch_events(b), 8);
	for (size_t i = 0; i < 8; i++)
		e[i] = event(b, i);

	/* invoke_agent: session_start at the start, with the span as detail. */
	root = str(e[0], "event_id");
	assert_int_equal(strlen(root), 36);
	assert_int_equal(root[14], '8'); /* a version 8 UUID: derived, not random */
	assert_string_equal(str(e[0], "type"), "session_start");
	absent(e[0], "level");
	assert_string_equal(str(e[0], "actor"), "Researcher");
	assert_string_equal(str(e[0], "agent_id"), "asst_5j66UpCpwteGg4YSxUnt7lPY");
	assert_string_equal(str(e[0], "agent_version"), "2.1.0");
	assert_string_equal(str(e[0], "model"), "gpt-4o");
	assert_string_equal(str(e[0], "session_id"), CONV);
	assert_string_equal(str(e[0], "user_id"), "alice");
	assert_string_equal(str(e[0], "trace_id"), TRACE_ID); /* sent upper case */
	assert_string_equal(str(e[0], "ts"), "2026-01-01T00:00:00.000000Z");
	absent(e[0], "parent_event_id");
	absent(e[0], "outcome");
	absent(e[0], "usage"); /* on session_end: known when the span ends */
	assert_string_equal(str(e[0], "detail.provider"), "openai");
	assert_string_equal(str(e[0], "detail.otel.span_id"), "eee19b7ec3c1b174");
	assert_string_equal(str(e[0], "detail.otel.name"), "invoke_agent Researcher");
	assert_string_equal(str(e[0], "detail.otel.kind"), "internal");
	assert_string_equal(str(e[0], "detail.otel.status.code"), "ok");
	assert_string_equal(str(e[0], "detail.otel.start_time_unix_nano"), "1767225600000000000");
	assert_string_equal(str(e[0], "detail.otel.end_time_unix_nano"), "1767225605250000000");
	assert_int_equal(num(e[0], "detail.duration_ns"), 5250000000LL);
	assert_int_equal(num(e[0], "detail.latency_ms"), 5250);
	assert_string_equal(str(e[0], "detail.otel.attributes.[gen_ai.agent.name]"), "Researcher");
	assert_int_equal(num(e[0], "detail.otel.attributes.[gen_ai.usage.input_tokens]"), 1200);
	assert_string_equal(str(e[0], "detail.otel.resource.[service.name]"), "research-svc");
	assert_string_equal(str(e[0], "detail.otel.resource.[service.version]"), "0.4.1");
	assert_string_equal(str(e[0], "detail.otel.scope.name"), "agent-framework");
	assert_string_equal(str(e[0], "detail.otel.scope.version"), "1.8.0");
	assert_string_equal(str(e[0], "detail.otel.schema_url"),
	                    "https://opentelemetry.io/schemas/1.37.0");
	absent(e[0], "detail.otel.futureSpanField");

	/* ... and session_end when it ended, under session_start, with outcome and usage. */
	assert_string_equal(str(e[1], "type"), "session_end");
	assert_string_equal(str(e[1], "actor"), "Researcher");
	assert_string_equal(str(e[1], "parent_event_id"), root);
	assert_string_not_equal(str(e[1], "event_id"), root);
	assert_string_equal(str(e[1], "ts"), "2026-01-01T00:00:05.250000Z");
	assert_string_equal(str(e[1], "outcome"), "success");
	assert_int_equal(num(e[1], "usage.input_tokens"), 1200);
	assert_int_equal(num(e[1], "usage.output_tokens"), 340);
	assert_string_equal(str(e[1], "session_id"), CONV);
	assert_string_equal(str(e[1], "agent_id"), "asst_5j66UpCpwteGg4YSxUnt7lPY");
	assert_string_equal(str(e[1], "detail.otel.status.code"), "ok");
	assert_string_equal(str(e[1], "detail.otel.span_id"), "eee19b7ec3c1b174");
	assert_int_equal(num(e[1], "detail.duration_ns"), 5250000000LL);

	/* chat: llm_call under the agent, the model that answered, tokens, content parsed. */
	assert_string_equal(str(e[2], "type"), "llm_call");
	assert_string_equal(str(e[2], "actor"), "research-svc"); /* no agent name on the span */
	assert_string_equal(str(e[2], "model"), "gpt-4o-2024-08-06");
	assert_string_equal(str(e[2], "parent_event_id"), root);
	assert_string_equal(str(e[2], "session_id"), CONV);
	assert_string_equal(str(e[2], "ts"), "2026-01-01T00:00:00.100000Z");
	assert_int_equal(num(e[2], "usage.input_tokens"), 1000);
	assert_int_equal(num(e[2], "usage.output_tokens"), 40);
	absent(e[2], "outcome"); /* status unset */
	absent(e[2], "target");
	assert_string_equal(str(e[2], "detail.provider"), "openai");
	assert_string_equal(str(e[2], "detail.otel.kind"), "client");
	assert_string_equal(str(e[2], "detail.input_messages.0.role"), "user");
	assert_string_equal(str(e[2], "detail.input_messages.0.parts.0.content"),
	                    "Weather in Paris?");
	assert_string_equal(str(e[2], "detail.output_messages.0.parts.0.name"), "get_weather");
	absent(e[2], "detail.otel.attributes.[gen_ai.input.messages]"); /* moved, not copied */
	absent(e[2], "detail.otel.attributes.[gen_ai.output.messages]");
	assert_string_equal(str(e[2], "detail.otel.attributes.[gen_ai.request.model]"), "gpt-4o");
	assert_true(json_real_value(
	                at(e[2], "detail.otel.attributes.[gen_ai.request.temperature]")) == 0.5);
	assert_int_equal(num(e[2], "detail.otel.attributes.[gen_ai.request.max_tokens]"), 200);
	assert_string_equal(str(e[2], "detail.otel.attributes.[gen_ai.response.finish_reasons].0"),
	                    "tool_calls");
	assert_int_equal(num(e[2], "detail.otel.attributes.[server.port]"), 443);
	assert_string_equal(str(e[2], "detail.otel.events.0.name"), "first_token");
	assert_string_equal(str(e[2], "detail.otel.events.0.time_unix_nano"),
	                    "1767225600900000000");
	assert_int_equal(num(e[2], "detail.otel.events.0.attributes.latency_ms"), 800);
	assert_int_equal(num(e[2], "detail.latency_ms"), 1500);

	/* execute_tool: tool_call with the tool as target, failed. */
	assert_string_equal(str(e[3], "type"), "tool_call");
	assert_string_equal(str(e[3], "target"), "get_weather");
	assert_string_equal(str(e[3], "outcome"), "error");
	assert_string_equal(str(e[3], "parent_event_id"), root);
	assert_string_equal(str(e[3], "detail.tool_call_id"), "call_VSPygqKTWdrhaFErNvMV18Yl");
	assert_string_equal(str(e[3], "detail.arguments.location"), "Paris");
	assert_string_equal(str(e[3], "detail.result"), "upstream weather service timed out");
	assert_string_equal(str(e[3], "detail.otel.status.code"), "error");
	assert_string_equal(str(e[3], "detail.otel.status.message"), "upstream timed out");
	assert_string_equal(str(e[3], "detail.otel.span_id"), "1234567890abcdef");
	assert_string_equal(str(e[3], "detail.otel.attributes.[gen_ai.tool.type]"), "function");
	assert_string_equal(str(e[3], "detail.otel.attributes.[error.type]"), "TimeoutError");
	assert_string_equal(str(e[3], "detail.otel.events.0.name"), "exception");
	assert_string_equal(str(e[3], "detail.otel.events.0.attributes.[exception.message]"),
	                    "weather API did not answer in 250 ms");
	assert_int_equal(num(e[3], "detail.latency_ms"), 250);

	/* Base64 ids, the older gen_ai.system and token names, status {}. */
	assert_string_equal(str(e[4], "type"), "llm_call");
	assert_string_equal(str(e[4], "trace_id"), TRACE_ID);
	assert_string_equal(str(e[4], "parent_event_id"), root);
	assert_string_equal(str(e[4], "model"), "claude-3-haiku");
	assert_string_equal(str(e[4], "detail.provider"), "anthropic");
	assert_int_equal(num(e[4], "usage.input_tokens"), 50);
	assert_int_equal(num(e[4], "usage.output_tokens"), 7);
	assert_string_equal(str(e[4], "detail.otel.span_id"), "00f067aa0ba902b7");
	assert_string_equal(str(e[4], "detail.otel.parent_span_id"), "eee19b7ec3c1b174");
	absent(e[4], "outcome");
	absent(e[4], "detail.otel.status");

	/* A GenAI operation with no event type of its own: the generic span event. */
	assert_string_equal(str(e[5], "type"), "x_otel_span");
	assert_string_equal(str(e[5], "level"), "agent");
	assert_string_equal(str(e[5], "target"), "embeddings text-embedding-3-small");
	assert_string_equal(str(e[5], "model"), "text-embedding-3-small");
	assert_int_equal(num(e[5], "usage.input_tokens"), 12);
	absent(e[5], "usage.output_tokens");

	/* create_agent: the service made the agent. */
	assert_string_equal(str(e[6], "type"), "x_agent_create");
	assert_string_equal(str(e[6], "level"), "pipeline");
	assert_string_equal(str(e[6], "actor"), "agent-admin");
	assert_string_equal(str(e[6], "target"), "Researcher");
	assert_string_equal(str(e[6], "model"), "gpt-4o");
	assert_string_equal(str(e[6], "outcome"), "success");
	assert_string_equal(str(e[6], "trace_id"), "0af7651916cd43dd8448eb211c80319c");
	absent(e[6], "agent_id");
	assert_string_equal(str(e[6], "detail.otel.attributes.[gen_ai.agent.id]"),
	                    "asst_5j66UpCpwteGg4YSxUnt7lPY");
	assert_string_equal(str(e[6], "detail.system_instructions.0.content"),
	                    "You answer weather questions.");
	assert_string_equal(str(e[6], "detail.otel.scope.attributes.[scope.owner]"), "ops");
	assert_string_equal(str(e[6], "detail.otel.resource.[service.name]"), "agent-admin");
	absent(e[6], "detail.otel.schema_url");

	/* A plain span: nothing is dropped. */
	assert_string_equal(str(e[7], "type"), "x_otel_span");
	assert_string_equal(str(e[7], "target"), "GET /weather");
	assert_string_equal(str(e[7], "actor"), "agent-admin");
	absent(e[7], "parent_event_id"); /* parentSpanId "" */
	absent(e[7], "outcome");
	assert_string_equal(str(e[7], "detail.otel.trace_state"), "rojo=00f067aa0ba902b7");
	assert_int_equal(num(e[7], "detail.otel.flags"), 1);
	assert_int_equal(num(e[7], "detail.otel.attributes.[http.response.status_code]"), 200);
	assert_true(json_is_false(at(e[7], "detail.otel.attributes.retry")));
	assert_string_equal(str(e[7], "detail.otel.attributes.headers.accept"), "application/json");
	assert_int_equal(num(e[7], "detail.otel.attributes.headers.sizes.0"), -1);
	assert_string_equal(str(e[7], "detail.otel.attributes.headers.sizes.1"), "NaN");
	assert_string_equal(str(e[7], "detail.otel.attributes.headers.sizes.2"), "AAEC");
	assert_true(json_is_null(at(e[7], "detail.otel.attributes.headers.sizes.3")));
	assert_int_equal(num(e[7], "detail.otel.dropped_attributes_count"), 2);
	assert_int_equal(num(e[7], "detail.otel.dropped_links_count"), 1);
	absent(e[7], "detail.otel.dropped_events_count");
	assert_string_equal(str(e[7], "detail.otel.links.0.trace_id"), TRACE_ID);
	assert_string_equal(str(e[7], "detail.otel.links.0.span_id"), "eee19b7ec3c1b174");
	assert_string_equal(str(e[7], "detail.otel.links.0.attributes.[link.kind]"), "caused_by");
	assert_int_equal(num(e[7], "detail.duration_ns"), 12345678);
	assert_int_equal(num(e[7], "detail.latency_ms"), 12);

	for (size_t i = 0; i < 8; i++)
		json_decref(e[i]);
	atr_otlp_batch_free(b);
}

/* The same span sent again, or as base64, or in upper-case hex, is the same event. */
static void test_ids_are_derived(void **state)
{
	atr_otlp_batch *a = map_fixture(ATR_OTLP_TRACES, "genai_traces.json");
	atr_otlp_batch *b = map_fixture(ATR_OTLP_TRACES, "genai_traces.json");
	const char *hex = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
	                  "\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"eee19b7ec3c1b174\","
	                  "\"name\":\"n\"}]}]}]}";
	const char *b64 = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
	                  "\"W47_95gDgQPSabYzgT_GDA\",\"spanId\":\"7uGbfsPBsXQ=\","
	                  "\"name\":\"n\"}]}]}]}";
	atr_otlp_batch *h, *s;
	json_t *eh, *es, *root;
	size_t item;

	(void)state;
	assert_int_equal(atr_otlp_batch_events(a), atr_otlp_batch_events(b));
	for (size_t i = 0; i < atr_otlp_batch_events(a); i++) {
		assert_string_equal(atr_otlp_batch_event(a, i, NULL, &item),
		                    atr_otlp_batch_event(b, i, NULL, NULL));
		assert_int_equal(item, i < 2 ? 0 : i - 1); /* invoke_agent makes two */
	}
	h = map_text(ATR_OTLP_TRACES, hex);
	s = map_text(ATR_OTLP_TRACES, b64);
	eh = event(h, 0);
	es = event(s, 0);
	root = event(a, 0);
	assert_string_equal(atr_otlp_batch_event(h, 0, NULL, NULL),
	                    atr_otlp_batch_event(s, 0, NULL, NULL));
	assert_string_equal(str(eh, "event_id"), str(root, "event_id"));
	assert_string_equal(str(es, "type"), "x_otel_span");
	json_decref(eh);
	json_decref(es);
	json_decref(root);
	atr_otlp_batch_free(h);
	atr_otlp_batch_free(s);
	atr_otlp_batch_free(a);
	atr_otlp_batch_free(b);
}

/* What decides an event type when a convention's key member is missing, and outcomes. */
static void test_fallbacks_and_outcomes(void **state)
{
	char big[5000];
	char *text;
	atr_otlp_batch *b;
	json_t *e[5];
	size_t n;

	(void)state;
	memset(big, 'n', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	n = strlen(big) + 2048;
	text = malloc(n);
	assert_non_null(text);
	snprintf(
	    text, n,
	    "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
	    /* chat without a model: llm_call needs one, so the generic event */
	    "{\"traceId\":\"" TRACE_ID "\",\"spanId\":\"0000000000000001\",\"name\":\"chat\","
	    "\"attributes\":[{\"key\":\"gen_ai.operation.name\",\"value\":{\"stringValue\":"
	    "\"chat\"}}],\"status\":{\"code\":2}},"
	    /* execute_tool without a tool name */
	    "{\"traceId\":\"" TRACE_ID "\",\"spanId\":\"0000000000000002\",\"name\":\"tool\","
	    "\"attributes\":[{\"key\":\"gen_ai.operation.name\",\"value\":{\"stringValue\":"
	    "\"execute_tool\"}}],\"status\":{\"code\":\"1\"}},"
	    /* a name too long for a target */
	    "{\"traceId\":\"" TRACE_ID "\",\"spanId\":\"0000000000000003\",\"name\":\"%s\"},"
	    /* invoke_workflow is an agent session too; no times: no ts, no duration */
	    "{\"traceId\":\"" TRACE_ID "\",\"spanId\":\"0000000000000004\",\"kind\":9,"
	    "\"status\":{\"code\":7,\"message\":\"odd\"},"
	    "\"attributes\":[{\"key\":\"gen_ai.operation.name\",\"value\":{\"stringValue\":"
	    "\"invoke_workflow\"}},{\"key\":\"session.id\",\"value\":{\"stringValue\":\"s-9\"}},"
	    "{\"key\":\"enduser.id\",\"value\":{\"stringValue\":\"bob\"}}]}"
	    "]}]}]}",
	    big);
	b = map_text(ATR_OTLP_TRACES, text);
	free(text);
	assert_int_equal(atr_otlp_batch_rejected(b), 0);
	assert_int_equal(atr_otlp_batch_events(b), 5);
	for (size_t i = 0; i < 5; i++)
		e[i] = event(b, i);
	assert_string_equal(str(e[0], "type"), "x_otel_span");
	assert_string_equal(str(e[0], "target"), "chat");
	assert_string_equal(str(e[0], "outcome"), "error");
	assert_string_equal(str(e[0], "actor"), "unknown_service"); /* no resource at all */
	assert_string_equal(str(e[1], "type"), "x_otel_span");
	assert_string_equal(str(e[1], "outcome"), "success");
	assert_string_equal(str(e[2], "type"), "x_otel_span");
	absent(e[2], "target");
	assert_int_equal(strlen(str(e[2], "detail.otel.name")), sizeof(big) - 1);
	assert_string_equal(str(e[3], "type"), "session_start");
	assert_string_equal(str(e[3], "session_id"), "s-9");
	assert_string_equal(str(e[3], "user_id"), "bob");
	absent(e[3], "ts");
	absent(e[3], "detail.duration_ns");
	assert_int_equal(num(e[3], "detail.otel.kind"), 9);
	assert_int_equal(num(e[3], "detail.otel.status.code"), 7);
	assert_string_equal(str(e[4], "type"), "session_end");
	absent(e[4], "outcome");
	absent(e[4], "ts");
	assert_string_equal(str(e[4], "detail.otel.status.message"), "odd");
	for (size_t i = 0; i < 5; i++)
		json_decref(e[i]);
	atr_otlp_batch_free(b);
}

/* Tool arguments and results: JSON text of an object or array is parsed, else kept. */
static void test_content(void **state)
{
	char deep[200] = "";
	char text[2048];
	atr_otlp_batch *b;
	json_t *e;

	(void)state;
	for (int i = 0; i < 30; i++)
		strcat(deep, "[");
	for (int i = 0; i < 30; i++)
		strcat(deep, "]");
	snprintf(
	    text, sizeof(text),
	    "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"" TRACE_ID
	    "\",\"spanId\":\"0000000000000001\",\"attributes\":["
	    "{\"key\":\"gen_ai.operation.name\",\"value\":{\"stringValue\":\"execute_tool\"}},"
	    "{\"key\":\"gen_ai.tool.name\",\"value\":{\"stringValue\":\"t\"}},"
	    "{\"key\":\"gen_ai.tool.call.arguments\",\"value\":{\"stringValue\":\"{\\\"a\\\":\"}},"
	    "{\"key\":\"gen_ai.tool.call.result\",\"value\":{\"stringValue\":\"  [1,2]\"}},"
	    "{\"key\":\"gen_ai.input.messages\",\"value\":{\"stringValue\":\"%s\"}},"
	    "{\"key\":\"gen_ai.output.messages\",\"value\":{\"intValue\":3}}]}]}]}]}",
	    deep);
	b = map_text(ATR_OTLP_TRACES, text);
	e = event(b, 0);
	assert_string_equal(str(e, "detail.arguments"), "{\"a\":");
	assert_int_equal(num(e, "detail.result.1"), 2);
	assert_string_equal(str(e, "detail.input_messages"), deep);
	assert_int_equal(num(e, "detail.output_messages"), 3);
	json_decref(e);
	atr_otlp_batch_free(b);
}

/* 64-bit integers as numbers or strings; null members are defaults; empty requests. */
static void test_numbers_and_empty(void **state)
{
	const char *empties[] = {
	    "{}",
	    "{\"resourceSpans\":null}",
	    "{\"resourceSpans\":[]}",
	    "{\"resourceSpans\":[{}]}",
	    "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[]}],\"resource\":null}]}",
	    "{\"resourceLogs\":[{\"scopeLogs\":[{}]}]}",
	};
	atr_otlp_batch *b;
	json_t *e;

	(void)state;
	for (size_t i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
		b = map_text(ATR_OTLP_TRACES, empties[i]);
		assert_int_equal(atr_otlp_batch_items(b), 0);
		assert_int_equal(atr_otlp_batch_events(b), 0);
		assert_string_equal(atr_otlp_batch_summary(b), "");
		atr_otlp_batch_free(b);
	}
	b = map_text(ATR_OTLP_TRACES,
	             "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"" TRACE_ID
	             "\",\"spanId\":\"0000000000000001\",\"startTimeUnixNano\":1.7672256e18,"
	             "\"endTimeUnixNano\":null,\"kind\":\"3\",\"name\":null,\"attributes\":["
	             "{\"key\":\"min\",\"value\":{\"intValue\":\"-9223372036854775808\"}},"
	             "{\"key\":\"max\",\"value\":{\"intValue\":9223372036854775807}},"
	             "{\"key\":\"d\",\"value\":{\"doubleValue\":\"2.5\"}},"
	             "{\"key\":\"i\",\"value\":{\"doubleValue\":3}},"
	             "{\"key\":\"inf\",\"value\":{\"doubleValue\":\"-Infinity\"}},"
	             "{\"key\":\"dup\",\"value\":{\"stringValue\":\"first\"}},"
	             "{\"key\":\"dup\",\"value\":{\"stringValue\":\"last\"}},"
	             "{\"value\":{\"stringValue\":\"no key\"}}]}]}]}]}");
	e = event(b, 0);
	assert_string_equal(str(e, "ts"), "2026-01-01T00:00:00.000000Z");
	assert_string_equal(str(e, "detail.otel.kind"), "client");
	assert_string_equal(str(e, "detail.otel.name"), "");
	absent(e, "target");
	assert_true(json_integer_value(at(e, "detail.otel.attributes.min")) == INT64_MIN);
	assert_true(json_integer_value(at(e, "detail.otel.attributes.max")) == INT64_MAX);
	assert_true(json_real_value(at(e, "detail.otel.attributes.d")) == 2.5);
	assert_true(json_real_value(at(e, "detail.otel.attributes.i")) == 3.0);
	assert_string_equal(str(e, "detail.otel.attributes.inf"), "-Infinity");
	assert_string_equal(str(e, "detail.otel.attributes.dup"), "last");
	assert_string_equal(str(e, "detail.otel.attributes.[]"), "no key");
	json_decref(e);
	atr_otlp_batch_free(b);
}

/* A request that is not an export request at all: ATR_EINVALID naming the member. */
static void test_decode_errors(void **state)
{
#define SPAN(x)                                                                                    \
	"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"" TRACE_ID                \
	"\",\"spanId\":\"0000000000000001\"," x "}]}]}]}"
#define ATTR(v) SPAN("\"attributes\":[{\"key\":\"k\",\"value\":" v "}]")
	static const struct {
		atr_otlp_signal sig;
		const char *body, *path, *msg;
	} cases[] = {
	    {ATR_OTLP_TRACES, "not json", "", "malformed JSON at line 1"},
	    {ATR_OTLP_TRACES, "{\"resourceSpans\":[]", "", "malformed JSON"},
	    {ATR_OTLP_TRACES, "[]", "", "must be a JSON object (an ExportTraceServiceRequest)"},
	    {ATR_OTLP_LOGS, "7", "", "(an ExportLogsServiceRequest)"},
	    {ATR_OTLP_TRACES, "{\"resourceSpans\":{}}", "resourceSpans", "must be an array"},
	    {ATR_OTLP_TRACES, "{\"resourceSpans\":[1]}", "resourceSpans[0]", "ResourceSpans"},
	    {ATR_OTLP_TRACES, "{\"resourceSpans\":[{\"resource\":[]}]}",
	     "resourceSpans[0].resource", "must be an object"},
	    {ATR_OTLP_TRACES, "{\"resourceSpans\":[{\"scopeSpans\":[{\"scope\":{\"name\":1}}]}]}",
	     "resourceSpans[0].scopeSpans[0].scope.name", "must be a string"},
	    {ATR_OTLP_TRACES, "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[\"x\"]}]}]}",
	     "resourceSpans[0].scopeSpans[0].spans[0]", "a Span"},
	    {ATR_OTLP_TRACES, SPAN("\"name\":5"), "resourceSpans[0].scopeSpans[0].spans[0].name",
	     "must be a string"},
	    {ATR_OTLP_TRACES, SPAN("\"kind\":\"SPAN_KIND_CLIENT\""),
	     "resourceSpans[0].scopeSpans[0].spans[0].kind", "decimal string"},
	    {ATR_OTLP_TRACES, SPAN("\"startTimeUnixNano\":-5"),
	     "resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano", "must not be negative"},
	    {ATR_OTLP_TRACES, SPAN("\"endTimeUnixNano\":\"18446744073709551616\""),
	     "resourceSpans[0].scopeSpans[0].spans[0].endTimeUnixNano", "decimal string"},
	    {ATR_OTLP_TRACES, SPAN("\"flags\":4294967296"),
	     "resourceSpans[0].scopeSpans[0].spans[0].flags", "out of range"},
	    {ATR_OTLP_TRACES, SPAN("\"status\":\"x\""),
	     "resourceSpans[0].scopeSpans[0].spans[0].status", "must be an object"},
	    {ATR_OTLP_TRACES, SPAN("\"status\":{\"code\":1.5}"),
	     "resourceSpans[0].scopeSpans[0].spans[0].status.code", "non-negative integer"},
	    {ATR_OTLP_TRACES, SPAN("\"events\":[{},7]"),
	     "resourceSpans[0].scopeSpans[0].spans[0].events[1]", "Span.Event"},
	    {ATR_OTLP_TRACES, SPAN("\"links\":[{\"traceId\":1}]"),
	     "resourceSpans[0].scopeSpans[0].spans[0].links[0].traceId", "must be a string"},
	    {ATR_OTLP_TRACES, SPAN("\"attributes\":{}"),
	     "resourceSpans[0].scopeSpans[0].spans[0].attributes", "must be an array"},
	    {ATR_OTLP_TRACES, SPAN("\"attributes\":[3]"),
	     "resourceSpans[0].scopeSpans[0].spans[0].attributes[0]", "KeyValue"},
	    {ATR_OTLP_TRACES, ATTR("{\"intValue\":\"1.5\"}"),
	     "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.intValue", "64-bit"},
	    {ATR_OTLP_TRACES, ATTR("{\"intValue\":\"9223372036854775808\"}"),
	     "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.intValue", "64-bit"},
	    {ATR_OTLP_TRACES, ATTR("{\"stringValue\":1}"),
	     "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.stringValue", "string"},
	    {ATR_OTLP_TRACES, ATTR("\"plain\""),
	     "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value", "AnyValue"},
	    {ATR_OTLP_TRACES,
	     ATTR("{\"kvlistValue\":{\"values\":[{\"key\":\"a\",\"value\":{\"boolValue\":\"y\"}}]}"
	          "}"),
	     "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.kvlistValue.values[0]."
	     "value.boolValue",
	     "true or false"},
	    {ATR_OTLP_TRACES,
	     ATTR("{\"arrayValue\":{\"values\":[{\"doubleValue\":1},{\"doubleValue\":\"abc\"}]}}"),
	     "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.arrayValue.values[1]."
	     "doubleValue",
	     "must be a number"},
	    {ATR_OTLP_TRACES, ATTR("{\"arrayValue\":[]}"),
	     "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.arrayValue",
	     "must be an object"},
	    {ATR_OTLP_LOGS,
	     "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{"
	     "\"severityNumber\":\"ERROR\"}]}]}]}",
	     "resourceLogs[0].scopeLogs[0].logRecords[0].severityNumber", "decimal string"},
	    {ATR_OTLP_LOGS,
	     "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{"
	     "\"body\":{\"bytesValue\":0}}]}]}]}",
	     "resourceLogs[0].scopeLogs[0].logRecords[0].body.bytesValue", "base64"},
	    {ATR_OTLP_LOGS, "{\"resourceLogs\":[{\"scopeLogs\":{}}]}", "resourceLogs[0].scopeLogs",
	     "must be an array"},
	};
#undef SPAN
#undef ATTR
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		atr_otlp_batch *b = (atr_otlp_batch *)1;
		int rc = atr_otlp_map(&b, cases[i].sig, cases[i].body, strlen(cases[i].body), 0);

		if (rc != ATR_EINVALID || b != NULL ||
		    strcmp(atr_otlp_error_path(), cases[i].path) ||
		    !strstr(atr_errmsg(), cases[i].msg))
			fail_msg("case %zu: rc %d path '%s' message '%s'", i, rc,
			         atr_otlp_error_path(), atr_errmsg());
	}
}

/* Items the log would refuse are refused alone, with where and why. */
static void test_item_refusals(void **state)
{
	char name[400];
	char text[4096];
	atr_otlp_batch *b;
	json_t *e;
	size_t item;

	(void)state;
	memset(name, 'a', 300);
	name[300] = '\0';
	snprintf(text, sizeof(text),
	         "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
	         "{\"traceId\":\"xx\",\"spanId\":\"0000000000000001\"},"
	         "{\"traceId\":\"" TRACE_ID "\",\"spanId\":\"0000000000000000\"},"
	         "{\"traceId\":\"" TRACE_ID "\",\"spanId\":\"0000000000000003\",\"name\":\"ok\"},"
	         "{\"traceId\":\"" TRACE_ID "\",\"spanId\":\"0000000000000004\","
	         "\"parentSpanId\":\"12\"},"
	         "{\"traceId\":\"" TRACE_ID "\",\"spanId\":\"0000000000000005\",\"attributes\":["
	         "{\"key\":\"gen_ai.operation.name\",\"value\":{\"stringValue\":\"invoke_agent\"}},"
	         "{\"key\":\"gen_ai.agent.name\",\"value\":{\"stringValue\":\"%s\"}}]}"
	         "]}]}]}",
	         name);
	b = map_text(ATR_OTLP_TRACES, text);
	assert_int_equal(atr_otlp_batch_items(b), 5);
	assert_int_equal(atr_otlp_batch_rejected(b), 4);
	assert_int_equal(atr_otlp_batch_events(b), 1);
	e = event(b, 0);
	assert_string_equal(str(e, "target"), "ok");
	json_decref(e);
	atr_otlp_batch_event(b, 0, NULL, &item);
	assert_int_equal(item, 2);

	assert_string_equal(atr_otlp_batch_error(b, 0, &item),
	                    "resourceSpans[0].scopeSpans[0].spans[0]: 'traceId' must be 32 hex "
	                    "digits (or base64 of 16 bytes)");
	assert_int_equal(item, 0);
	assert_string_equal(atr_otlp_batch_error(b, 1, &item),
	                    "resourceSpans[0].scopeSpans[0].spans[1]: 'spanId' is missing or all "
	                    "zero");
	assert_int_equal(item, 1);
	assert_non_null(strstr(atr_otlp_batch_error(b, 2, &item), "spans[3]: 'parentSpanId'"));
	assert_int_equal(item, 3);
	assert_non_null(strstr(atr_otlp_batch_error(b, 3, &item),
	                       "spans[4]: session_start event: field 'actor' is 300 bytes"));
	assert_int_equal(item, 4);
	assert_null(atr_otlp_batch_error(b, 4, NULL));
	assert_non_null(strstr(atr_otlp_batch_summary(b), "4 of 5 spans refused: "));
	assert_non_null(strstr(atr_otlp_batch_summary(b), "; and 1 more"));
	atr_otlp_batch_free(b);
}

/* atr_otlp_batch_reject: an item refused after mapping; the event cap. */
static void test_reject_and_cap(void **state)
{
	atr_otlp_batch *b = map_fixture(ATR_OTLP_TRACES, "genai_traces.json");
	size_t len, item;
	char *text;

	(void)state;
	assert_int_equal(atr_otlp_batch_reject(b, 0, "already logged"), 0);
	assert_int_equal(atr_otlp_batch_events(b), 6);
	atr_otlp_batch_event(b, 0, NULL, &item);
	assert_int_equal(item, 1);
	assert_int_equal(atr_otlp_batch_rejected(b), 1);
	assert_string_equal(atr_otlp_batch_error(b, 0, &item),
	                    "resourceSpans[0].scopeSpans[0].spans[0]: already logged");
	assert_int_equal(item, 0);
	assert_string_equal(atr_otlp_batch_summary(b), "1 of 7 spans refused: "
	                                               "resourceSpans[0].scopeSpans[0].spans[0]: "
	                                               "already logged");
	assert_int_equal(atr_otlp_batch_reject(b, 6, "too"), 0);
	assert_string_equal(atr_otlp_batch_error(b, 1, NULL),
	                    "resourceSpans[1].scopeSpans[0].spans[1]: too");
	assert_int_equal(atr_otlp_batch_reject(b, 0, "again"), ATR_ENOTFOUND);
	assert_int_equal(atr_otlp_batch_reject(b, 99, "none"), ATR_ENOTFOUND);
	assert_int_equal(atr_otlp_batch_rejected(b), 2);
	atr_otlp_batch_free(b);

	text = fixture("genai_traces.json", &len);
	b = (atr_otlp_batch *)1;
	assert_int_equal(atr_otlp_map(&b, ATR_OTLP_TRACES, text, len, 7), ATR_ETOOBIG);
	assert_null(b);
	assert_string_equal(atr_errmsg(), "more than 7 events in one request");
	assert_int_equal(atr_otlp_map(&b, ATR_OTLP_TRACES, text, len, 8), 0);
	assert_int_equal(atr_otlp_batch_events(b), 8);
	atr_otlp_batch_free(b);
	assert_int_equal(atr_otlp_map(&b, (atr_otlp_signal)3, text, len, 0), ATR_EINVALID);
	free(text);
	atr_otlp_batch_free(NULL);
}

/* ------------------------------------------------------------ logs */

static void test_log_records(void **state)
{
	atr_otlp_batch *b = map_fixture(ATR_OTLP_LOGS, "genai_logs.json");
	atr_otlp_batch *t = map_fixture(ATR_OTLP_TRACES, "genai_traces.json");
	atr_otlp_batch *again = map_fixture(ATR_OTLP_LOGS, "genai_logs.json");
	json_t *e[3], *tool = event(t, 3);
	size_t item;

	(void)state;
	assert_int_equal(atr_otlp_batch_items(b), 4);
	assert_int_equal(atr_otlp_batch_rejected(b), 1);
	assert_int_equal(atr_otlp_batch_events(b), 3);
	for (size_t i = 0; i < 3; i++) {
		e[i] = event(b, i);
		/* No id of their own: derived from the content, the same every time. */
		assert_string_equal(atr_otlp_batch_event(b, i, NULL, NULL),
		                    atr_otlp_batch_event(again, i, NULL, NULL));
		assert_int_equal(str(e[i], "event_id")[14], '8');
	}
	assert_string_not_equal(str(e[1], "event_id"), str(e[2], "event_id"));

	/* An ERROR record is an error event, under the span it was logged in. */
	assert_string_equal(str(e[0], "type"), "error");
	absent(e[0], "level");
	assert_string_equal(str(e[0], "actor"), "Researcher");
	assert_string_equal(str(e[0], "outcome"), "error");
	assert_string_equal(str(e[0], "ts"), "2026-01-01T00:00:01.960000Z");
	assert_string_equal(str(e[0], "trace_id"), TRACE_ID);
	assert_string_equal(str(e[0], "parent_event_id"), str(tool, "event_id"));
	assert_string_equal(str(e[0], "session_id"), CONV);
	assert_string_equal(str(e[0], "detail.body"), "tool get_weather timed out");
	assert_int_equal(num(e[0], "detail.otel.severity_number"), 17);
	assert_string_equal(str(e[0], "detail.otel.severity_text"), "ERROR");
	assert_string_equal(str(e[0], "detail.otel.span_id"), "1234567890abcdef");
	assert_int_equal(num(e[0], "detail.otel.flags"), 1);
	assert_string_equal(str(e[0], "detail.otel.observed_time_unix_nano"),
	                    "1767225601961000000");
	assert_string_equal(str(e[0], "detail.otel.attributes.[exception.type]"), "TimeoutError");
	assert_string_equal(str(e[0], "detail.otel.resource.[service.name]"), "research-svc");
	assert_string_equal(str(e[0], "detail.otel.scope.name"), "agent.logger");

	/* Below ERROR: the generic log event; the observed time when there is no time. */
	assert_string_equal(str(e[1], "type"), "x_otel_log");
	assert_string_equal(str(e[1], "level"), "agent");
	assert_string_equal(str(e[1], "actor"), "research-svc");
	assert_string_equal(str(e[1], "ts"), "2026-01-01T00:00:00.050000Z");
	absent(e[1], "trace_id");
	absent(e[1], "outcome");
	assert_string_equal(str(e[1], "detail.body.msg"), "starting");
	assert_int_equal(num(e[1], "detail.body.step"), 1);
	assert_string_equal(str(e[1], "detail.otel.event_name"), "agent.start");
	absent(e[1], "detail.otel.futureLogField");

	/* No time at all: the log's receive time; a trace without a span: no parent. */
	absent(e[2], "ts");
	assert_string_equal(str(e[2], "trace_id"), TRACE_ID);
	absent(e[2], "parent_event_id");
	assert_string_equal(str(e[2], "detail.body.0"), "a");
	assert_true(json_is_true(at(e[2], "detail.body.1")));

	assert_non_null(strstr(atr_otlp_batch_error(b, 0, &item),
	                       "resourceLogs[0].scopeLogs[0].logRecords[3]: 'spanId'"));
	assert_int_equal(item, 3);
	assert_non_null(strstr(atr_otlp_batch_summary(b), "1 of 4 log records refused"));
	for (size_t i = 0; i < 3; i++)
		json_decref(e[i]);
	json_decref(tool);
	atr_otlp_batch_free(b);
	atr_otlp_batch_free(t);
	atr_otlp_batch_free(again);
}

/* ------------------------------------------------------------ into a log */

static void append_all(atr_log *log, const atr_otlp_batch *b, int want_duplicate)
{
	size_t n = atr_otlp_batch_events(b);
	const char **texts = calloc(n, sizeof(*texts));
	size_t *lens = calloc(n, sizeof(*lens));
	atr_append_result *res = calloc(n, sizeof(*res));

	assert_true(texts && lens && res);
	for (size_t i = 0; i < n; i++)
		texts[i] = atr_otlp_batch_event(b, i, &lens[i], NULL);
	if (atr_log_append_batch(log, texts, lens, n, res) != 0)
		fail_msg("append: %s", atr_errmsg());
	for (size_t i = 0; i < n; i++)
		assert_int_equal(res[i].duplicate, want_duplicate);
	free(texts);
	free(lens);
	free(res);
}

/* The events go into a real log; sent again, every one is a duplicate; parents resolve. */
static void test_into_the_log(void **state)
{
	atr_otlp_batch *t = map_fixture(ATR_OTLP_TRACES, "genai_traces.json");
	atr_otlp_batch *l = map_fixture(ATR_OTLP_LOGS, "genai_logs.json");
	atr_query q = {0};
	atr_cursor *cur;
	const atr_record *rec;
	atr_log *log;
	uint64_t size;
	int parents = 0, rc;

	(void)state;
	assert_int_equal(atr_log_open(&log, path, 0), 0);
	append_all(log, t, 0);
	append_all(log, l, 0);
	append_all(log, t, 1);
	append_all(log, l, 1);
	assert_int_equal(atr_log_size(log, &size), 0);
	assert_int_equal(size, 11);

	/* Every parent_event_id in the trace names an event of the log. */
	q.trace_id = TRACE_ID;
	assert_int_equal(atr_log_query(log, &q, &cur), 0);
	while ((rc = atr_cursor_next(cur, &rec)) == 1) {
		atr_record *parent = NULL;
		size_t len;
		const char *bytes = atr_record_bytes(rec, &len);
		json_t *j = json_loadb(bytes, len, 0, NULL);
		const char *pid;

		assert_non_null(j);
		pid = json_string_value(json_object_get(j, "parent_event_id"));
		if (pid) {
			assert_int_equal(atr_log_get_by_id(log, pid, &parent), 0);
			atr_record_free(parent);
			parents++;
		}
		json_decref(j);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(parents,
	                 6); /* session_end, chat, tool, completion, embeddings, error log */
	atr_cursor_free(cur);
	atr_log_free(log);
	atr_otlp_batch_free(t);
	atr_otlp_batch_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_genai_spans),
	    cmocka_unit_test(test_ids_are_derived),
	    cmocka_unit_test(test_fallbacks_and_outcomes),
	    cmocka_unit_test(test_content),
	    cmocka_unit_test(test_numbers_and_empty),
	    cmocka_unit_test(test_decode_errors),
	    cmocka_unit_test(test_item_refusals),
	    cmocka_unit_test(test_reject_and_cap),
	    cmocka_unit_test(test_log_records),
	    cmocka_unit_test_setup_teardown(test_into_the_log, tmpstore_setup, tmpstore_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
