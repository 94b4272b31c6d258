/*
 * Fuzz target: evidence bundles, which auditors receive from outside.
 * Checking never crashes or reads out of bounds, and a bundle verifies
 * only when its checkpoint is the seed's (signed by the fixed key) and it
 * proves as many records as the seed's tree holds at most.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agentrail/checkpoint.h>
#include <agentrail/evidence.h>

#include "fuzz.h"

/* Made with atr_keygen_seed() and atr_log_evidence() on a small job (tests/unit/test_evidence.c's
 * shape). */
#define VKEY "fuzz.example/evidence+8f2e7072+ASIf5faFmhpP7HkFfJ0yyNP8NW4USx2jsPkBbvbymIja"

const char *const fuzz_seeds[] = {
    "{\"agentrail_evidence\":1,\"job_id\":\"J\",\"checkpoint\":\"fuzz.example/evidence\\n3\\nDt"
    "P512VTWUTwBppNqAwBLEaMpN2mZAFe0RwC4ZtcWfg=\\n\\n\\u2014 fuzz.example/evidence jy5wcnRShLmz"
    "TnWLmTNZinszizSxKx58nw9SkekOri8xdCKjck+qYlBSpfEMLmXmsFe89dR7r4cpH+AjO0z5MDjXigE=\\n\",\"tr"
    "ee_size\":3,\"summary\":{\"events\":2,\"submitter\":\"e\",\"status\":\"running\",\"decisio"
    "ns\":[{\"seq\":1,\"event_id\":\"01a209dd-c0f1-7f0c-b51e-23c3c2586882\",\"decision\":\"REQU"
    "IRE_APPROVAL\",\"rule_id\":\"p\",\"reason\":\"r\",\"snapshot\":\"sha256:ca978112ca1bbdcafa"
    "c231b39a23dc4da786eff8147c4e72b9807785afee48bb\",\"snapshot_known\":true,\"policy_text_seq"
    "\":0}],\"approvals\":[],\"output_safety\":null,\"final\":{\"type\":\"complete\",\"seq\":2,"
    "\"outcome\":\"success\"}},\"events\":[{\"seq\":1,\"record\":\"{\\\"actor\\\":\\\"e\\\",\\"
    "\"detail_commit\\\":\\\"0694daac0689f7a8c7b56398eb7c02506291345d7f7dcf5a159c1b99f2edcf82\\"
    "\",\\\"event_id\\\":\\\"01a209dd-c0f1-7f0c-b51e-23c3c2586882\\\",\\\"job_id\\\":\\\"J\\\","
    "\\\"level\\\":\\\"decision\\\",\\\"policy\\\":{\\\"decision\\\":\\\"REQUIRE_APPROVAL\\\","
    "\\\"rule_id\\\":\\\"p\\\",\\\"snapshot\\\":\\\"sha256:ca978112ca1bbdcafac231b39a23dc4da786"
    "eff8147c4e72b9807785afee48bb\\\"},\\\"reason\\\":\\\"r\\\",\\\"received_at\\\":\\\"2026-11"
    "-23T19:24:17.521439Z\\\",\\\"seq\\\":1,\\\"ts\\\":\\\"2026-11-23T19:24:17.521439Z\\\",\\\""
    "type\\\":\\\"decision\\\"}\",\"leaf_hash\":\"75a2f129529d5e3320074396bf8a8ab1316ae79089e1e"
    "4a83e2c1001d69990cb\",\"audit_path\":[\"6bf00f238e8d2b68b2f094237f75e4c2de158589fa4b5bd6fe"
    "06a84ce54b333d\",\"ba4b81ce3ff34c8559750831e75afd668f455d1f63ac54ad26ab1101698dbc89\"],\"d"
    "etail\":\"{}\",\"salt\":\"fe177c3c92c77bbb12962afd9642ac03dd2948180485654ba93f91b34f47c3db"
    "\"},{\"seq\":2,\"record\":\"{\\\"actor\\\":\\\"u\\\",\\\"detail_commit\\\":\\\"ce2a4b4259e"
    "4060001f29514092e0e1556535cf8076a445ffe6dcc38ebcac48f\\\",\\\"event_id\\\":\\\"01a209dd-c0"
    "f6-71b0-9f5b-4995f5408687\\\",\\\"job_id\\\":\\\"J\\\",\\\"level\\\":\\\"decision\\\",\\\""
    "outcome\\\":\\\"success\\\",\\\"reason\\\":\\\"r\\\",\\\"received_at\\\":\\\"2026-11-23T19"
    ":24:17.526014Z\\\",\\\"seq\\\":2,\\\"ts\\\":\\\"2026-11-23T19:24:17.526014Z\\\",\\\"type\\"
    "\":\\\"complete\\\"}\",\"leaf_hash\":\"ba4b81ce3ff34c8559750831e75afd668f455d1f63ac54ad26a"
    "b1101698dbc89\",\"audit_path\":[\"dff35f99cc1a43fa3fab3379fa272f53a4973c43745d47d8b7b99d9a"
    "9eecb11d\"],\"detail\":\"{}\",\"salt\":\"836356254f381dc60023f96cb82d58a67bc04f5b5429336ac"
    "6d8c08d545129dc\"}],\"policies\":[{\"seq\":0,\"record\":\"{\\\"actor\\\":\\\"a\\\",\\\"det"
    "ail_commit\\\":\\\"e2bbe3aa1223f51936b63f81db2ba1935c6bd85365ab9b89794b29e699016c7e\\\",\\"
    "\"event_id\\\":\\\"01a209dd-c0e3-7055-b699-c7f4fcbd9a44\\\",\\\"level\\\":\\\"decision\\\""
    ",\\\"policy\\\":{\\\"rule_id\\\":\\\"p\\\",\\\"snapshot\\\":\\\"sha256:ca978112ca1bbdcafac"
    "231b39a23dc4da786eff8147c4e72b9807785afee48bb\\\"},\\\"reason\\\":\\\"r\\\",\\\"received_a"
    "t\\\":\\\"2026-11-23T19:24:17.507241Z\\\",\\\"seq\\\":0,\\\"target\\\":\\\"p\\\",\\\"ts\\"
    "\":\\\"2026-11-23T19:24:17.507241Z\\\",\\\"type\\\":\\\"policy_publish\\\"}\",\"leaf_hash"
    "\":\"6bf00f238e8d2b68b2f094237f75e4c2de158589fa4b5bd6fe06a84ce54b333d\",\"audit_path\":[\""
    "75a2f129529d5e3320074396bf8a8ab1316ae79089e1e4a83e2c1001d69990cb\",\"ba4b81ce3ff34c8559750"
    "831e75afd668f455d1f63ac54ad26ab1101698dbc89\"],\"detail\":\"{\\\"document\\\":\\\"a\\\",\\"
    "\"media_type\\\":\\\"text/plain\\\",\\\"name\\\":\\\"p\\\"}\",\"salt\":\"fbc37dd1d83fcc61c"
    "53165d92a0493522bbaa39b4e3ae3798bf2e6dcb2b7d704\"}]}",
    "{\"agentrail_evidence\":1,\"job_id\":\"J\",\"checkpoint\":\"x\",\"tree_size\":1,"
    "\"summary\":{},\"events\":[],\"policies\":[]}",
    NULL,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static atr_verifier *v;
	atr_evidence_info info;

	if (!v && atr_verifier_new(&v, VKEY) != 0)
		abort();
	if (atr_evidence_verify((const char *)data, size, v, &info) == 0) {
		FUZZ_CHECK(info.checkpoint.size == 3 &&
		           strcmp(info.checkpoint.origin, "fuzz.example/evidence") == 0);
		FUZZ_CHECK(info.events + info.policies <= 3 && info.policies <= 1);
	}
	return 0;
}
