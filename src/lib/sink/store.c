/*
 * The store sink on a local store: each event is appended through the log
 * (atr_log_append_batch), durable before emit returns. A server's URL is
 * the network sink in http.c instead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agentrail/log.h>

#include "internal.h"
#include "logpriv.h"
#include "sink/sink.h"

struct store_sink {
	atr_sink base;
	atr_log *log;
	char *uri;
};

static atr_sink_result store_deliver(atr_sink *s, const char *const *ev, const size_t *lens,
                                     size_t n, atr_sink_report *rep)
{
	struct store_sink *ss = (struct store_sink *)s;
	atr_append_result one, *res = n == 1 ? &one : calloc(n, sizeof(*res));
	int rc;

	if (!res) {
		rep->code = ATR_ENOMEM;
		snprintf(rep->message, sizeof(rep->message), "out of memory");
		return ATR_SINK_RETRY;
	}
	rc = atr_log_append_batch(ss->log, ev, lens, n, res);
	if (rc == 0) {
		rep->has_seq = 1;
		rep->seq = res[0].seq;
		rep->duplicate = res[0].duplicate;
	} else {
		rep->code = rc;
		snprintf(rep->message, sizeof(rep->message), "%s", atr_errmsg());
	}
	if (res != &one)
		free(res);
	if (rc == 0)
		return ATR_SINK_OK;
	if (rc == ATR_EINVALID || rc == ATR_ETOOBIG || rc == ATR_ECONFLICT) {
		rep->item = n == 1 ? 0 : ATR_SINK_ITEM_UNKNOWN;
		return ATR_SINK_REJECT;
	}
	return ATR_SINK_RETRY;
}

static void store_free(atr_sink *s)
{
	struct store_sink *ss = (struct store_sink *)s;

	if (!ss)
		return;
	atr_log_free(ss->log);
	free(ss->uri);
	free(ss);
}

int atr__sink_store_new(atr_sink **out, const char *uri)
{
	struct store_sink *ss;
	char *def = NULL;
	int rc;

	*out = NULL;
	if (!uri) {
		if ((rc = atr_store_default_uri(&def)) < 0)
			return rc;
		uri = def;
	}
	if (!(ss = calloc(1, sizeof(*ss))) || !(ss->uri = strdup(uri))) {
		free(ss);
		atr_free(def);
		return atr__err(ATR_ENOMEM, "out of memory");
	}
	atr_free(def);
	if ((rc = atr_log_open(&ss->log, ss->uri, 0)) < 0) {
		free(ss->uri);
		free(ss);
		return rc;
	}
	/* Make the log's redactor now: a bad AGENTRAIL_REDACT_* fails here, not per event. */
	{
		const atr_redactor *r;

		if ((rc = atr__log_redactor(ss->log, &r)) < 0) {
			atr_log_free(ss->log);
			free(ss->uri);
			free(ss);
			return rc;
		}
	}
	ss->base.version = ATR_SINK_VERSION;
	ss->base.name = "store";
	ss->base.destination = ss->uri;
	ss->base.flags = 0;
	ss->base.max_events = 1000;
	ss->base.max_bytes = 16u << 20;
	ss->base.deliver = store_deliver;
	ss->base.flush = NULL;
	ss->base.free = store_free;
	*out = &ss->base;
	return 0;
}
