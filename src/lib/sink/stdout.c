/*
 * The stdout sink: each event as one JSON line on standard output, flushed
 * at once, for CI systems that keep a job's log.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sink/sink.h"

static atr_sink_result stdout_deliver(atr_sink *s, const char *const *ev, const size_t *lens,
                                      size_t n, atr_sink_report *rep)
{
	int failed = 0;

	flockfile(stdout);
	for (size_t i = 0; i < n && !failed; i++)
		failed = fwrite_unlocked(ev[i], 1, lens[i], stdout) != lens[i] ||
		         fputc_unlocked('\n', stdout) == EOF;
	if (fflush_unlocked(stdout) != 0 || ferror_unlocked(stdout))
		failed = 1;
	funlockfile(stdout);
	if (!failed)
		return ATR_SINK_OK;
	rep->code = ATR_EIO;
	snprintf(rep->message, sizeof(rep->message), "cannot write to standard output: %s",
	         strerror(errno));
	return ATR_SINK_RETRY;
}

static void stdout_free(atr_sink *s)
{
	free(s);
}

int atr__sink_stdout_new(atr_sink **out)
{
	atr_sink *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return atr__err(ATR_ENOMEM, "out of memory");
	s->version = ATR_SINK_VERSION;
	s->name = "stdout";
	s->destination = "standard output";
	s->max_events = 1000;
	s->max_bytes = 16u << 20;
	s->deliver = stdout_deliver;
	s->free = stdout_free;
	*out = s;
	return 0;
}
