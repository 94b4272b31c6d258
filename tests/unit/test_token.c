/*
 * Tokens derived from the log: a created token matches, its secret is
 * never stored, revocation is an event and ends it, and a token whose
 * creating payload was erased grants nothing.
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
#include <sqlite3.h>

#include <agentrail/agentrail.h>

#define ATR_TEST_NAME "test_token"
#include "tmpstore.h"

static void test_create_match_revoke(void **state)
{
	atr_log *log;
	atr_token_info info, *list;
	char *w, *r;
	size_t n;
	uint64_t size;

	assert_int_equal(atr_log_open(&log, path, 0), 0);
	assert_int_equal(atr_token_create(log, ATR_ROLE_WRITER, "ci", "alice", &w, &info), 0);
	assert_int_equal(strlen(w), 68);
	assert_memory_equal(w, "atr_", 4);
	assert_memory_equal(info.id, "tok_", 4);
	assert_int_equal(atr_token_create(log, ATR_ROLE_READER, NULL, "alice", &r, NULL), 0);
	assert_string_not_equal(w, r);

	assert_int_equal(atr_token_list(log, &list, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].id, info.id);
	assert_int_equal(list[0].role, ATR_ROLE_WRITER);
	assert_string_equal(list[0].name, "ci");
	assert_string_equal(list[0].created_by, "alice");
	assert_int_equal(list[0].created_seq, 0);
	assert_ptr_equal(atr_token_match(list, n, w), &list[0]);
	assert_ptr_equal(atr_token_match(list, n, r), &list[1]);
	w[10] ^= 1;
	assert_null(atr_token_match(list, n, w));
	w[10] ^= 1;
	assert_null(atr_token_match(list, n, "atr_short"));
	assert_null(atr_token_match(list, n, NULL));
	atr_free(list);

	/* The secret is nowhere in the log: only its hash. */
	atr_record *rec;
	size_t len;
	assert_int_equal(atr_log_get(log, 0, &rec), 0);
	assert_string_equal(atr_record_str(rec, "type"), "token_change");
	assert_non_null(strstr(atr_record_str(rec, "reason"), "writer"));
	assert_null(strstr(atr_record_bytes(rec, &len), w + 4));
	assert_null(strstr(atr_record_detail(rec, NULL), w + 4));
	assert_non_null(strstr(atr_record_detail(rec, NULL), info.hash));
	atr_record_free(rec);

	assert_int_equal(atr_token_revoke(log, info.id, "bob", "leaked in a log"), 0);
	assert_int_equal(atr_token_revoke(log, info.id, "bob", NULL), ATR_EEXISTS);
	assert_int_equal(atr_token_revoke(log, "tok_000000000000", "bob", NULL), ATR_ENOTFOUND);
	assert_int_equal(atr_token_list(log, &list, &n), 0);
	assert_int_equal(list[0].revoked, 1);
	assert_int_equal(list[0].revoked_seq, 2);
	assert_null(atr_token_match(list, n, w));
	assert_non_null(atr_token_match(list, n, r));
	atr_free(list);
	assert_int_equal(atr_log_size(log, &size), 0);
	assert_int_equal(size, 3);
	atr_free(w);
	atr_free(r);
	atr_log_free(log);
}

static void test_erased_payload_grants_nothing(void **state)
{
	atr_log *log;
	atr_token_info *list;
	sqlite3 *db;
	char *t;
	size_t n;

	assert_int_equal(atr_log_open(&log, path, 0), 0);
	assert_int_equal(atr_token_create(log, ATR_ROLE_ADMIN, "root", "ops", &t, NULL), 0);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DELETE FROM payloads WHERE seq = 0", NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(atr_token_list(log, &list, &n), 0);
	assert_int_equal(n, 0);
	assert_null(atr_token_match(list, n, t));
	atr_free(list);
	atr_free(t);
	atr_log_free(log);
}

static void test_roles(void **state)
{
	atr_role r;

	assert_int_equal(atr_role_parse("approver", &r), 0);
	assert_int_equal(r, ATR_ROLE_APPROVER);
	assert_string_equal(atr_role_name(ATR_ROLE_AUDITOR), "auditor");
	assert_null(atr_role_name((atr_role)0));
	assert_int_equal(atr_role_parse("root", &r), ATR_EINVALID);
	assert_non_null(strstr(atr_errmsg(), "'root'"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_create_match_revoke, tmpstore_setup,
	                                    tmpstore_teardown),
	    cmocka_unit_test_setup_teardown(test_erased_payload_grants_nothing, tmpstore_setup,
	                                    tmpstore_teardown),
	    cmocka_unit_test(test_roles),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
