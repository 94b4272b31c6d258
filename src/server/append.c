/*
 * What the routes that append one checked event share (route_resolve.c:
 * approval resolutions; route_policy.c: policy publishes and rollbacks):
 * a small JSON body read strictly, and the check and the append run under
 * one server-wide mutex on a submitter thread, so that two requests can
 * never both pass a check that the other's event would have failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <microhttpd.h>

#include "server/server.h"

int srv_check_json_headers(struct srv_req *req, const char *what)
{
	const char *ct =
	    MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	char msg[300];

	if (ct && *ct) {
		size_t n = strcspn(ct, "; \t");

		if (n != 16 || strncasecmp(ct, "application/json", n) != 0) {
			snprintf(msg, sizeof(msg),
			         "Content-Type '%.80s' is not supported; %s is application/json",
			         ct, what);
			srv_reply_error(req, SRV_EMEDIA, msg, "Content-Type");
			return -1;
		}
	}
	return srv_check_body_headers(req);
}

int srv_body_object(struct srv_req *req, const char *const *allowed, const char *what,
                    const char *hint, json_t **out)
{
	json_error_t jerr;
	json_t *o, *v;
	const char *key;
	char msg[300];

	*out = NULL;
	if (req->gzip) {
		snprintf(msg, sizeof(msg), "%s is not sent gzip-encoded", what);
		srv_reply_error(req, SRV_EMEDIA, msg, "Content-Encoding");
		return -1;
	}
	o = json_loadb(req->body.data ? req->body.data : "", req->body.len, JSON_REJECT_DUPLICATES,
	               &jerr);
	if (!o || !json_is_object(o)) {
		snprintf(msg, sizeof(msg), "the body must be a JSON object: %.200s",
		         o ? "got another JSON value" : jerr.text);
		json_decref(o);
		srv_reply_error(req, SRV_EBADJSON, msg, NULL);
		return -1;
	}
	json_object_foreach(o, key, v)
	{
		size_t i = 0;

		while (allowed[i] && strcmp(allowed[i], key) != 0)
			i++;
		if (!allowed[i]) {
			snprintf(msg, sizeof(msg), "unknown field '%.64s'; %s", key, hint);
			/* 'key' lives in 'o': answer before letting it go. */
			srv_reply_error(req, ATR_EINVALID, msg, key);
			json_decref(o);
			return -1;
		}
	}
	*out = o;
	return 0;
}

int srv_body_str(struct srv_req *req, json_t *o, const char *name, size_t max, int required,
                 const char **out)
{
	json_t *v = json_object_get(o, name);
	char msg[200];

	*out = NULL;
	if (!v && !required)
		return 0;
	if (!v || !json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max) {
		snprintf(msg, sizeof(msg), "field '%s' %s a string of 1 to %zu bytes", name,
		         v ? "must be" : "is required:", max);
		srv_reply_error(req, ATR_EINVALID, msg, name);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

int srv_checked_submit(struct srv_req *req, srv_build_fn build, void *ctx, atr_append_result *res,
                       char *msg, size_t size)
{
	pthread_mutex_t *mu = srv_resolve_mutex(req->srv);
	atr_log *log;
	char *event = NULL;
	int rc;

	pthread_mutex_lock(mu);
	if (!(log = srv_reader_quiet(req))) {
		rc = ATR_EBACKEND;
		snprintf(msg, size, "cannot read the log: %s", atr_errmsg());
	} else if ((rc = build(req, log, ctx, &event)) == 0 && event) {
		const char *texts[1] = {event};
		size_t lens[1] = {strlen(event)};

		if ((rc = srv_submit(req->srv, texts, lens, 1, res)) != 0)
			snprintf(msg, size, "%s", atr_errmsg());
	}
	pthread_mutex_unlock(mu);
	free(event);
	return rc;
}
