/*
 * GET /api/v1/alerts (docs/alerts.md): the alert events, newest first, as
 * flat items (atr_alerts_list), filtered by rule, session or job and paged
 * with 'limit' and an opaque cursor like the other lists.
 */
#include <stdio.h>
#include <string.h>

#include <agentrail/alerts.h>

#include "server/server.h"

static const char *const rules[] = {
    "sensitive_path",        "deny",          "command_after_deny",    "token_spike",
    "command_failure_burst", "rules_changed", "system_prompt_changed", NULL};

void srv_h_alerts(struct srv_req *req)
{
	static const char *const allowed[] = {"rule",  "session_id", "job_id",
	                                      "limit", "cursor",     NULL};
	atr_alerts_filter f = {srv_arg_str(req, "rule"), srv_arg_str(req, "session_id"),
	                       srv_arg_str(req, "job_id")};
	const char *v = srv_arg_str(req, "limit"), *c = srv_arg_str(req, "cursor");
	uint64_t limit = SRV_DEFAULT_LIMIT, from = UINT64_MAX, next = 0;
	char msg[300], post[48], *json = NULL;
	struct util_buf b;
	atr_log *log;
	size_t i = 0;
	int more = 0, rc;

	if (srv_only_args(req, allowed))
		return;
	while (f.rule && rules[i] && strcmp(rules[i], f.rule) != 0)
		i++;
	if (f.rule && !rules[i]) {
		snprintf(msg, sizeof(msg),
		         "parameter 'rule' must be sensitive_path, deny, command_after_deny, "
		         "token_spike, command_failure_burst, rules_changed or "
		         "system_prompt_changed, not '%.64s'",
		         f.rule);
		srv_reply_error(req, SRV_EBADREQ, msg, "rule");
		return;
	}
	if (v && (util_parse_u64(v, &limit) != 0 || limit == 0 || limit > SRV_MAX_LIMIT)) {
		snprintf(msg, sizeof(msg), "parameter 'limit' must be 1 to %u, got '%.64s'",
		         SRV_MAX_LIMIT, v);
		srv_reply_error(req, SRV_EBADREQ, msg, "limit");
		return;
	}
	if (c && srv_cursor_decode(c, &from) != 0) {
		srv_reply_error(req, SRV_EBADREQ,
		                "parameter 'cursor' is not a cursor this server made", "cursor");
		return;
	}
	if (!(log = srv_reader(req)))
		return;
	if ((rc = atr_alerts_list(log, &f, from, limit, &json, &more, &next)) != 0) {
		srv_reply_error(req, rc, NULL, NULL);
		return;
	}
	srv_next_cursor(more, next, post);
	util_buf_init(&b);
	if (util_buf_adds(&b, "{\"items\":") || util_buf_adds(&b, json) ||
	    util_buf_adds(&b, post)) {
		atr_free(json);
		srv_reply_oom(req, &b);
		return;
	}
	atr_free(json);
	srv_reply_json(req, 200, &b);
	util_buf_release(&b);
}
