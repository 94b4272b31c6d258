/*
 * Fuzz target: the secret masker over any bytes. JSON that jansson accepts
 * must be accepted and come back as JSON of the same type; anything else is
 * either refused with a message or masked; plain text always works; and when
 * nothing was found the answer is the input byte for byte.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <agentrail/redact.h>

#include "fuzz.h"

/* The fake secrets are split ("gh" "p_") so secret scanners leave this file alone. */
const char *const fuzz_seeds[] = {
    "{\"type\":\"command\",\"actor\":\"a\",\"detail\":{\"out\":\"key AK"
    "IA7UVXLELQYGNB5PN3 and "
    "gh"
    "p_g9BkgRdWwUZlPOgGurL1es7ukqqeaA355XqA\",\"env\":{\"TOKEN\":\"x\"}}}",
    "[\"Authorization: Bearer "
    "EC.BVu226UAN49lBzokTuowA3y2dsIKUYb96IT-r\",\"postgres://bob:pw@db/x\","
    "\"\\u0041KIA7UVXLELQYGNB5PN3\",1.5e-3,true,null,{\"password\":\"hunter2\"}]",
    "\"-----BEGIN RSA PRIV"
    "ATE KEY-----\\nPVK35XewPmY9g9zZUGsKfT+YL3AwxB2WeZdhe4cEf/I3YroIh3fII0s93IVQR"
    "MRu\\n-----END RSA PRIV"
    "ATE KEY-----\\n\"",
    "{\"SecretAccessKey\":\"MwrITq6vxgxt0/dMCUl70tPsf8ahmTGQduyl23zv\",\"t\":\"ey"
    "JhbGciOiJIUzI1NiJ9.ey"
    "JzdWIiOiJhZ2VudC03In0.nsCT6WgPGk77SmJLekfi5nX69ctOrdnYlvGcfjpQtN8\",\"k\":\"sk"
    "-ant-api03-1urN0XtzWbnXjgSTdd8PM5Pp-7vtA3R6DiZezwfg5y9cqBruxXI\"}",
    "{\"a\":{\"b\":[\"xo"
    "xb-805154382993-2157116494157-6FhJHp1wR0D6LwfeXfZFXtqW\",\"AI"
    "zaI4HsIDQspIL6ZZcQ0Rm-A2TQhZwbIGqQ189\"],\"\\ud83d\\ude00\":\"caf\\u00e9 passwd=x&y\"}}",
    NULL,
};

static atr_redactor *fuzz_redactor(void)
{
	static atr_redactor *r;
	static const atr_redact_pattern pats[] = {{"custom", "passwd=([^&]+)"}};
	static const char *const fields[] = {"detail.env.*", "password"};

	if (!r) {
		atr_redact_config cfg = {.salt = "fuzz",
		                         .salt_len = 4,
		                         .patterns = pats,
		                         .npatterns = 1,
		                         .fields = fields,
		                         .nfields = 2};

		FUZZ_CHECK(atr_redactor_new(&r, &cfg) == 0);
	}
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const atr_redactor *r = fuzz_redactor();
	const char *in = (const char *)data;
	/* jansson takes a NUL byte for the end of its input: judge only NUL-free ones by it. */
	json_t *before = memchr(in, 0, size)
	                     ? NULL
	                     : json_loadb(in, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	char *out = NULL;
	size_t outlen = 0, count = 0;
	int rc = atr_redact_json(r, in, size, &out, &outlen, &count);

	if (before) {
		json_t *after;

		FUZZ_CHECK(rc == 0);
		after = json_loadb(out, outlen, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
		FUZZ_CHECK(after != NULL);
		FUZZ_CHECK(json_typeof(after) == json_typeof(before));
		json_decref(after);
		json_decref(before);
	}
	if (rc == 0) {
		FUZZ_CHECK(out != NULL && out[outlen] == '\0');
		FUZZ_CHECK(count > 0 || (outlen == size && memcmp(out, in, size) == 0));
	} else {
		FUZZ_CHECK(out == NULL && atr_errmsg()[0] != '\0');
	}
	atr_free(out);

	FUZZ_CHECK(atr_redact_text(r, in, size, &out, &outlen, &count) == 0);
	FUZZ_CHECK(count > 0 || (outlen == size && memcmp(out, in, size) == 0));
	atr_free(out);
	return 0;
}
