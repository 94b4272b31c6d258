/*
 * A producer configured from the environment (AGENTRAIL_SINK, …), for the
 * sink tests: emits N numbered events (detail.k, step), optionally writing
 * each acknowledged event_id to a file, then flushes, and prints one JSON
 * line of timings and delivery counters. Exit 0 delivered, 2 not all
 * delivered within --flush-ms (safe in the spool), 1 on an error.
 *
 *   producer_emit [--events N] [--start I] [--session ID] [--actor NAME]
 *                 [--flush-ms MS] [--ids FILE] [--sleep-us US] [--batch B]
 *                 [--json-file FILE]
 *
 * With --batch, events go through atr_producer_emit_batch() B at a time;
 * --json-file emits each line of FILE as it is, before the numbered events.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <agentrail/producer.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int num(const char *opt, const char *v, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(v, &end, 10);
	if (errno || end == v || *end) {
		fprintf(stderr, "producer_emit: option '%s' expects an integer, got '%s'\n", opt,
		        v);
		return -1;
	}
	return 0;
}

/* --batch: the same events through atr_producer_emit_batch(). */
static int emit_batches(atr_producer *p, long long events, long long start, long long batch,
                        const char *actor, const char *session)
{
	char **texts = calloc((size_t)batch, sizeof(*texts));
	int rc = 0;

	if (!texts)
		return 1;
	for (long long i = 0; i < batch; i++)
		if (!(texts[i] = malloc(512)))
			rc = 1;
	for (long long k = 0; rc == 0 && k < events; k += batch) {
		long long n = events - k < batch ? events - k : batch;

		for (long long i = 0; i < n; i++)
			snprintf(texts[i], 512,
			         "{\"type\":\"output\",\"actor\":\"%s\",\"session_id\":\"%s\","
			         "\"step\":%lld,\"detail\":{\"k\":%lld}}",
			         actor, session, start + k + i, start + k + i);
		if (atr_producer_emit_batch(p, (const char *const *)texts, NULL, (size_t)n, NULL) !=
		    0) {
			fprintf(stderr, "producer_emit: batch at %lld: %s\n", start + k,
			        atr_errmsg());
			rc = 1;
		}
	}
	for (long long i = 0; i < batch; i++)
		free(texts[i]);
	free(texts);
	return rc;
}

int main(int argc, char **argv)
{
	long long events = 0, start = 0, flush_ms = 60000, sleep_us = 0, batch = 0;
	const char *session = "S", *actor = "emitter", *ids = NULL, *json_file = NULL;
	atr_producer *p;
	atr_producer_stats st;
	atr_emit_info info;
	double t1, t2;
	int ids_fd = -1, rc = 0, frc;

	for (int i = 1; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v) {
			fprintf(stderr, "producer_emit: option '%s' needs a value\n", o);
			return 1;
		}
		i++;
		if ((!strcmp(o, "--events") && num(o, v, &events) < 0) ||
		    (!strcmp(o, "--start") && num(o, v, &start) < 0) ||
		    (!strcmp(o, "--flush-ms") && num(o, v, &flush_ms) < 0) ||
		    (!strcmp(o, "--sleep-us") && num(o, v, &sleep_us) < 0) ||
		    (!strcmp(o, "--batch") && num(o, v, &batch) < 0))
			return 1;
		if (!strcmp(o, "--session"))
			session = v;
		else if (!strcmp(o, "--actor"))
			actor = v;
		else if (!strcmp(o, "--ids"))
			ids = v;
		else if (!strcmp(o, "--json-file"))
			json_file = v;
		else if (strcmp(o, "--events") && strcmp(o, "--start") && strcmp(o, "--flush-ms") &&
		         strcmp(o, "--sleep-us") && strcmp(o, "--batch") &&
		         strcmp(o, "--json-file")) {
			fprintf(stderr, "producer_emit: unknown option '%s'\n", o);
			return 1;
		}
	}
	if (ids && (ids_fd = open(ids, O_WRONLY | O_CREAT | O_APPEND, 0600)) < 0) {
		fprintf(stderr, "producer_emit: cannot open '%s': %s\n", ids, strerror(errno));
		return 1;
	}
	if (atr_producer_from_env(&p) != 0) {
		fprintf(stderr, "producer_emit: %s\n", atr_errmsg());
		return 1;
	}
	t1 = now_s();
	if (json_file) {
		FILE *f = fopen(json_file, "r");
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;

		if (!f) {
			fprintf(stderr, "producer_emit: cannot open '%s': %s\n", json_file,
			        strerror(errno));
			atr_producer_free(p);
			return 1;
		}
		while ((n = getline(&line, &cap, f)) > 0) {
			while (n > 0 && line[n - 1] == '\n')
				n--;
			if (n > 0 && atr_producer_emit(p, line, (size_t)n) != 0) {
				fprintf(stderr, "producer_emit: %s\n", atr_errmsg());
				rc = 1;
			}
		}
		free(line);
		fclose(f);
	}
	if (batch > 0 && (rc = emit_batches(p, events, start, batch, actor, session)) != 0)
		events = 0;
	for (long long k = 0; batch <= 0 && k < events; k++) {
		char json[512], line[40];
		int n = snprintf(json, sizeof(json),
		                 "{\"type\":\"output\",\"actor\":\"%s\",\"session_id\":\"%s\","
		                 "\"step\":%lld,\"detail\":{\"k\":%lld}}",
		                 actor, session, start + k, start + k);

		if (atr_producer_emit_ex(p, json, (size_t)n, &info) != 0) {
			fprintf(stderr, "producer_emit: event %lld: %s\n", start + k, atr_errmsg());
			rc = 1;
			break;
		}
		if (ids_fd >= 0) {
			n = snprintf(line, sizeof(line), "%s\n", info.event_id);
			if (write(ids_fd, line, (size_t)n) != n) {
				rc = 1;
				break;
			}
		}
		if (sleep_us > 0)
			usleep((useconds_t)sleep_us);
	}
	t2 = now_s();
	frc = atr_producer_flush(p, (int)flush_ms);
	if (frc != 0)
		fprintf(stderr, "producer_emit: flush: %s\n", atr_errmsg());
	atr_producer_stats_get(p, &st);
	printf("{\"emitted\":%llu,\"emit_s\":%.6f,\"flush_s\":%.6f,\"flush\":\"%s\","
	       "\"delivered\":%llu,\"replayed\":%llu,\"spooled\":%llu,\"retries\":%llu,"
	       "\"rejected\":%llu}\n",
	       (unsigned long long)st.emitted, t2 - t1, now_s() - t2,
	       frc == 0           ? "ok"
	       : frc == ATR_EBUSY ? "busy"
	                          : "error",
	       (unsigned long long)st.delivered, (unsigned long long)st.replayed,
	       (unsigned long long)st.spooled, (unsigned long long)st.retries,
	       (unsigned long long)st.rejected);
	fflush(stdout);
	atr_producer_free(p);
	if (ids_fd >= 0)
		close(ids_fd);
	if (rc)
		return rc;
	return frc == 0 ? 0 : frc == ATR_EBUSY ? 2 : 1;
}
