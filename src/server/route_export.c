/*
 * GET /api/v1/export: the whole log in the export format, byte for byte what
 * `agentrail export` writes for the same store (atr_log_export), so that
 * `agentrail export --store http://...` and `agentrail verify --export` work
 * against a server. The export is streamed: a producer thread runs
 * atr_log_export() on its own read-only handle into a pipe, and the
 * response's content reader hands the pipe's bytes to libmicrohttpd as the
 * client takes them. Nothing but the pipe buffers it, however big the log;
 * a slow client slows the producer. An error after the first byte can only
 * cut the stream short (no final chunk), which the client sees, as it sees
 * the missing tree_head line.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "server/server.h"

/* Exports running at once; more get 503 with Retry-After (each holds a thread and a handle). */
#define EXPORT_MAX   8
#define EXPORT_BLOCK (64u * 1024u)

static int running; /* atomic: producers alive */

struct export_job {
	atr_log *log; /* the producer's */
	FILE *w;      /* the pipe's write end, the producer's */
	int rfd;      /* the pipe's read end, the response's */
	pthread_t th;
	int joined;
	int rc;   /* what atr_log_export returned; read after the join */
	int refs; /* atomic: the producer and the response */
};

static void job_unref(struct export_job *j)
{
	if (__atomic_sub_fetch(&j->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(j);
}

static void *produce(void *arg)
{
	struct export_job *j = arg;

	/*
	 * When the client goes away the read end is closed: writes fail with
	 * EPIPE (the server ignores SIGPIPE) and the export runs out unread.
	 */
	j->rc = atr_log_export(j->log, j->w, NULL);
	if (fclose(j->w) != 0 && j->rc == 0)
		j->rc = ATR_EIO;
	atr_log_free(j->log);
	__atomic_sub_fetch(&running, 1, __ATOMIC_ACQ_REL);
	job_unref(j);
	return NULL;
}

static ssize_t read_export(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct export_job *j = cls;
	ssize_t n;

	for (;;) {
		n = read(j->rfd, buf, max);
		if (n > 0)
			return n;
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	if (n == 0) {
		/* The producer closed its end: it is done, and says whether it all went out. */
		pthread_join(j->th, NULL);
		j->joined = 1;
		if (j->rc == 0)
			return MHD_CONTENT_READER_END_OF_STREAM;
	}
	return MHD_CONTENT_READER_END_WITH_ERROR;
}

static void free_export(void *cls)
{
	struct export_job *j = cls;

	close(j->rfd);
	/* A producer still running finishes on its own: nobody waits for it here. */
	if (!j->joined)
		pthread_detach(j->th);
	job_unref(j);
}

void srv_h_export(struct srv_req *req)
{
	static const char *const allowed[] = {NULL};
	struct export_job *j;
	struct MHD_Response *resp;
	atr_log *log = NULL;
	int fds[2] = {-1, -1}, rc;

	if (srv_only_args(req, allowed))
		return;
	if (__atomic_add_fetch(&running, 1, __ATOMIC_ACQ_REL) > EXPORT_MAX) {
		__atomic_sub_fetch(&running, 1, __ATOMIC_ACQ_REL);
		srv_reply_error(req, ATR_EBUSY, "too many exports running; retry later", NULL);
		return;
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		srv_reply_error(req, ATR_ENOMEM, "out of memory", NULL);
		goto fail;
	}
	/* Its own handle: it is used on the producer thread, for as long as the export takes. */
	if ((rc = atr_log_open(&log, srv_store_uri(req->srv), ATR_OPEN_READONLY)) != 0) {
		srv_reply_error(req, rc, NULL, NULL);
		goto fail;
	}
	if (pipe2(fds, O_CLOEXEC) != 0 || !(j->w = fdopen(fds[1], "w"))) {
		srv_reply_error(req, ATR_EIO, "cannot create a pipe for the export", NULL);
		goto fail;
	}
	fds[1] = -1; /* j->w owns it */
	setvbuf(j->w, NULL, _IOFBF, EXPORT_BLOCK);
	j->log = log;
	j->rfd = fds[0];
	j->refs = 2;
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, EXPORT_BLOCK, read_export, j,
	                                         free_export);
	if (!resp) {
		srv_reply_error(req, ATR_ENOMEM, "out of memory", NULL);
		goto fail;
	}
	if (pthread_create(&j->th, NULL, produce, j) != 0) {
		/* Destroying the response runs free_export: undo what it would find. */
		j->joined = 1;
		j->refs = 1;
		fclose(j->w);
		atr_log_free(log);
		__atomic_sub_fetch(&running, 1, __ATOMIC_ACQ_REL);
		MHD_destroy_response(resp);
		srv_reply_error(req, ATR_ENOMEM, "cannot start the export thread", NULL);
		return;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-ndjson");
	MHD_queue_response(req->conn, 200, resp);
	MHD_destroy_response(resp);
	req->answered = 1;
	req->status = 200;
	return;
fail:
	if (j && j->w)
		fclose(j->w);
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	atr_log_free(log);
	free(j);
	__atomic_sub_fetch(&running, 1, __ATOMIC_ACQ_REL);
}
