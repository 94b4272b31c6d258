/*
 * A fresh store path per test under $ATR_TEST_TMP, removed with its WAL
 * files afterwards: the setup and teardown the log-level unit tests share.
 */
#ifndef ATR_TEST_TMPSTORE_H
#define ATR_TEST_TMPSTORE_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char path[512];

static int tmpstore_setup(void **state)
{
	const char *tmp = getenv("ATR_TEST_TMP");
	static int n;

	(void)state;
	if (!tmp)
		tmp = "/tmp";
	mkdir(tmp, 0700);
	snprintf(path, sizeof(path), "%s/%s_%d_%d.db", tmp, ATR_TEST_NAME, (int)getpid(), n++);
	return 0;
}

static int tmpstore_teardown(void **state)
{
	static const char *const suffix[] = {"", "-wal", "-shm"};
	char p[600];

	(void)state;
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
		unlink(p);
	}
	return 0;
}

#endif
