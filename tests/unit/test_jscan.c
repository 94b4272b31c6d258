/*
 * The allocation-free scanner: skipping values and finding members on
 * tricky strings, and never reading past the end. Every input is copied
 * into a heap buffer of exactly its length, so ASan catches any over-read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jscan.h"

/* A heap copy of exactly 'len' bytes: no NUL, no slack after it. */
static char *exact(const char *s, size_t len)
{
	char *p = malloc(len ? len : 1);

	assert_non_null(p);
	memcpy(p, s, len);
	return p;
}

/* Bytes skipped over the value at the start of 's', or -1 if the scanner refuses it. */
static long skip_len(const char *s)
{
	size_t len = strlen(s);
	char *p = exact(s, len);
	const char *e = atr__json_skip(p, p + len);
	long n = e ? (long)(e - p) : -1;

	free(p);
	return n;
}

static int member(const char *s, const char *key, char *out, size_t outsize)
{
	size_t len = strlen(s), vlen = 0;
	char *p = exact(s, len);
	const char *v = NULL;
	int rc = atr__json_member(p, len, key, &v, &vlen);

	if (rc == 0) {
		assert_true(v >= p && v + vlen <= p + len);
		assert_true(vlen < outsize);
		memcpy(out, v, vlen);
		out[vlen] = '\0';
	}
	free(p);
	return rc;
}

static void test_skip_values(void **state)
{
	(void)state;
	assert_int_equal(skip_len("\"abc\""), 5);
	assert_int_equal(skip_len("\"abc\",1"), 5);
	assert_int_equal(skip_len("\"a\\\"b\""), 6);   /* "a\"b" */
	assert_int_equal(skip_len("\"a\\\\\"x"), 5);   /* "a\\" then x */
	assert_int_equal(skip_len("\"\\\\\\\"\""), 6); /* "\\\"" */
	assert_int_equal(skip_len("\"\\u00e9\\n\\/\""), 12);
	assert_int_equal(skip_len("\"\xc3\xa9\""), 4);
	assert_int_equal(skip_len("0"), 1);
	assert_int_equal(skip_len("-12.5e+3]"), 8);
	assert_int_equal(skip_len("1E9"), 3);
	assert_int_equal(skip_len("true,"), 4);
	assert_int_equal(skip_len("false"), 5);
	assert_int_equal(skip_len("null}"), 4);
	assert_int_equal(skip_len("{}"), 2);
	assert_int_equal(skip_len("[]x"), 2);
	assert_int_equal(skip_len("{ \"a\" : [ 1 , { \"b\" : \"}\" } ] , \"c\":\"]\" } tail"), 41);
	assert_int_equal(skip_len("[[[[\"[\"]]]]"), 11);

	/* Refused. */
	assert_int_equal(skip_len(""), -1);
	assert_int_equal(skip_len("\"abc"), -1);
	assert_int_equal(skip_len("\"a\\\""), -1);
	assert_int_equal(skip_len("\"a\\x\""), -1);
	assert_int_equal(skip_len("\"\\u12g4\""), -1);
	assert_int_equal(skip_len("\"\\u12\""), -1);
	assert_int_equal(skip_len("\"tab\there\""), -1);
	assert_int_equal(skip_len("01"), 1); /* a value "0" followed by other text */
	assert_int_equal(skip_len("-"), -1);
	assert_int_equal(skip_len("1."), -1);
	assert_int_equal(skip_len("1e"), -1);
	assert_int_equal(skip_len("1e+"), -1);
	assert_int_equal(skip_len(".5"), -1);
	assert_int_equal(skip_len("tru"), -1);
	assert_int_equal(skip_len("nul"), -1);
	assert_int_equal(skip_len("{\"a\"}"), -1);
	assert_int_equal(skip_len("{\"a\":}"), -1);
	assert_int_equal(skip_len("{\"a\":1,}"), -1);
	assert_int_equal(skip_len("{1:2}"), -1);
	assert_int_equal(skip_len("[1,]"), -1);
	assert_int_equal(skip_len("[1}"), -1);
	assert_int_equal(skip_len("{\"a\":1]"), -1);
	assert_int_equal(skip_len("[1 2]"), -1);
	assert_int_equal(skip_len("x"), -1);
}

static void test_skip_depth(void **state)
{
	char buf[300];
	int n = 0;

	(void)state;
	for (int i = 0; i < 64; i++)
		buf[n++] = '[';
	for (int i = 0; i < 64; i++)
		buf[n++] = ']';
	buf[n] = '\0';
	assert_int_equal(skip_len(buf), 128);
	n = 0;
	for (int i = 0; i < 65; i++)
		buf[n++] = '[';
	for (int i = 0; i < 65; i++)
		buf[n++] = ']';
	buf[n] = '\0';
	assert_int_equal(skip_len(buf), -1);
}

/* Strings long enough for the block paths, with a special byte at every position. */
static void test_skip_long_strings(void **state)
{
	char buf[80];

	(void)state;
	for (int at = 1; at < 60; at++) {
		memset(buf, 'a', sizeof(buf));
		buf[0] = '"';
		buf[at] = '"';
		buf[at + 1] = '\0';
		assert_int_equal(skip_len(buf), at + 1);

		/* An escaped quote at 'at' does not end the string. */
		memset(buf, 'b', sizeof(buf));
		buf[0] = '"';
		buf[at] = '\\';
		buf[at + 1] = '"';
		buf[70] = '"';
		buf[71] = '\0';
		assert_int_equal(skip_len(buf), 71);

		/* A control character anywhere is refused. */
		memset(buf, 'c', sizeof(buf));
		buf[0] = '"';
		buf[at] = '\n';
		buf[70] = '"';
		buf[71] = '\0';
		assert_int_equal(skip_len(buf), -1);

		/* Bytes >= 0x80 are plain text here (UTF-8 is not checked). */
		memset(buf, 'd', sizeof(buf));
		buf[0] = '"';
		buf[at] = (char)0xe9;
		buf[70] = '"';
		buf[71] = '\0';
		assert_int_equal(skip_len(buf), 71);
	}
}

static void test_member(void **state)
{
	char out[128];

	(void)state;
	assert_int_equal(member("{\"a\":1,\"seq\":42}", "seq", out, sizeof(out)), 0);
	assert_string_equal(out, "42");
	/* The same name deeper down, and inside a string, is not the member. */
	assert_int_equal(member("{\"x\":{\"seq\":1,\"y\":[{\"seq\":2}]},\"s\":\"\\\"seq\\\":3\","
	                        "\"seq\":7}",
	                        "seq", out, sizeof(out)),
	                 0);
	assert_string_equal(out, "7");
	assert_int_equal(member("{\"x\":{\"seq\":1}}", "seq", out, sizeof(out)), 1);
	assert_int_equal(member(" { \"k\" : { \"a\" : [ 1 ] } } ", "k", out, sizeof(out)), 0);
	assert_string_equal(out, "{ \"a\" : [ 1 ] }");
	assert_int_equal(member("{\"a\\\\\":\"v\\\\\",\"b\":\"w\"}", "b", out, sizeof(out)), 0);
	assert_string_equal(out, "\"w\"");
	/* Prefixes of the key are other keys. */
	assert_int_equal(member("{\"se\":1,\"seqq\":2}", "seq", out, sizeof(out)), 1);
	assert_int_equal(member("{}", "seq", out, sizeof(out)), 1);
	assert_int_equal(member("{ }", "seq", out, sizeof(out)), 1);
	/* Not an object, or broken before the key is found. */
	assert_int_equal(member("[1]", "a", out, sizeof(out)), -1);
	assert_int_equal(member("", "a", out, sizeof(out)), -1);
	assert_int_equal(member("{\"a\":1", "b", out, sizeof(out)), -1);
	assert_int_equal(member("{\"a\":1,", "b", out, sizeof(out)), -1);
	assert_int_equal(member("{\"a\" 1}", "a", out, sizeof(out)), -1);
	assert_int_equal(member("{\"a\":1} x", "b", out, sizeof(out)), -1);
	assert_int_equal(member("{\"a\":1,}", "b", out, sizeof(out)), -1);
}

static void test_member_str(void **state)
{
	const char *text = "{\"id\":\"0190a5d2\",\"esc\":\"a\\nb\",\"n\":5,\"e\":\"\"}";
	size_t len = strlen(text), vlen;
	char *p = exact(text, len);
	const char *v;

	(void)state;
	assert_int_equal(atr__json_member_str(p, len, "id", &v, &vlen), 0);
	assert_int_equal(vlen, 8);
	assert_memory_equal(v, "0190a5d2", 8);
	assert_int_equal(atr__json_member_str(p, len, "e", &v, &vlen), 0);
	assert_int_equal(vlen, 0);
	assert_int_equal(atr__json_member_str(p, len, "esc", &v, &vlen), -1);
	assert_int_equal(atr__json_member_str(p, len, "n", &v, &vlen), -1);
	assert_int_equal(atr__json_member_str(p, len, "absent", &v, &vlen), 1);
	free(p);
}

static void test_member_u64(void **state)
{
	static const struct {
		const char *text;
		int rc;
		uint64_t want;
	} cases[] = {
	    {"{\"seq\":0}", 0, 0},
	    {"{\"seq\":1234567890}", 0, 1234567890},
	    {"{\"seq\":18446744073709551615}", 0, UINT64_MAX},
	    {"{\"seq\":18446744073709551616}", -1, 0},
	    {"{\"seq\":99999999999999999999}", -1, 0},
	    {"{\"seq\":-1}", -1, 0},
	    {"{\"seq\":1.5}", -1, 0},
	    {"{\"seq\":1e3}", -1, 0},
	    {"{\"seq\":\"1\"}", -1, 0},
	    {"{\"seq\":00}", -1, 0},
	    {"{\"seq\":01}", -1, 0},
	    {"{\"other\":1}", 1, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].text);
		char *p = exact(cases[i].text, len);
		uint64_t got = 7;
		int rc = atr__json_member_u64(p, len, "seq", &got);

		if (rc != cases[i].rc || (rc == 0 && got != cases[i].want))
			fail_msg("%s: rc %d", cases[i].text, rc);
		free(p);
	}
}

/*
 * Every strict prefix of a record is refused (or, for member lookups,
 * answered without reading past its end); ASan checks each buffer's edge.
 */
static void test_truncated(void **state)
{
	static const char rec[] =
	    "{\"actor\":\"a\\\"b\\\\\",\"detail_commit\":\"9d49de79\",\"event_id\":"
	    "\"019d4961-b03b-7adc-ac2f-4350e382aeb1\",\"level\":\"agent\",\"n\":-12.5e-3,"
	    "\"o\":{\"k\":[true,false,null,{}],\"u\":\"\\u00e9\\ud83d\\ude00\"},"
	    "\"seq\":12345,\"ts\":\"2026-04-01T14:10:32.123456Z\",\"type\":\"tool_call\"}";
	size_t len = sizeof(rec) - 1;

	(void)state;
	assert_true(atr__json_skip(rec, rec + len) == rec + len);
	for (size_t n = 0; n <= len; n++) {
		char *p = exact(rec, n);
		const char *v;
		size_t vlen;
		uint64_t seq;
		int rc;

		if (n < len)
			assert_null(atr__json_skip(p, p + n));
		rc = atr__json_member(p, n, "type", &v, &vlen);
		assert_int_equal(rc, n == len ? 0 : -1);
		rc = atr__json_member_u64(p, n, "seq", &seq);
		/* The seq is found once its digits are complete and followed by a delimiter. */
		if (rc == 0)
			assert_true(seq == 12345);
		rc = atr__json_member_str(p, n, "event_id", &v, &vlen);
		if (rc == 0)
			assert_true(vlen == 36 && v + vlen < p + n);
		free(p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_skip_values),       cmocka_unit_test(test_skip_depth),
	    cmocka_unit_test(test_skip_long_strings), cmocka_unit_test(test_member),
	    cmocka_unit_test(test_member_str),        cmocka_unit_test(test_member_u64),
	    cmocka_unit_test(test_truncated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
