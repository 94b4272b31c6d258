/*
 * What the ingest path (event.c, log_redact.c, sink/file.c) needs from the
 * redactor beyond its public API: a JSON pass that copies nothing when
 * nothing is found.
 */
#ifndef ATR_REDACTPRIV_H
#define ATR_REDACTPRIV_H

#include <agentrail/redact.h>

/* 1 when 'r' can find nothing (every built-in off, no pattern, no field path). */
int atr__redactor_idle(const atr_redactor *r);

/*
 * atr_redact_json() without the copy when nothing is found: then '*out' is
 * NULL and '*count' 0, and the input stands as it is. Otherwise as
 * atr_redact_json() ('*out' is the caller's, to release with free()).
 */
int atr__redact_json_lazy(const atr_redactor *r, const char *json, size_t len, char **out,
                          size_t *outlen, size_t *count);

#endif
