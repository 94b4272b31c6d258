/*
 * POST /api/v1/hooks/claude-code: Claude Code's HTTP hooks. The body is one
 * hook payload, mapped onto events by atr_claude_hook_map() (the same
 * mapping as `agentrail hook claude-code`) and submitted through the group
 * commit like /api/v1/events, under the same queue limit. Claude Code reads
 * a 2xx JSON body as the hook's decision, so a success answers 200 with an
 * empty object: the hook records, it never blocks or steers the agent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include <agentrail/agents.h>

#include "server/server.h"

/* One hook request between its parse and its answer. */
struct srv_hook {
	struct util_buf plain; /* the inflated body of a gzip request */
	atr_agent_events *events;
	const char **texts;
	size_t *lens;
	atr_append_result *res;
	size_t n;
	size_t admitted; /* places held in the server's ingest queue */
	int rc;
	char msg[1024];
};

static int hook_headers(struct srv_req *req)
{
	return srv_check_json_headers(req, "a hook payload");
}

static void hook_release(struct srv_req *req)
{
	struct srv_hook *in = req->hook_in;

	if (!in)
		return;
	if (in->admitted)
		srv_queue_done(req->srv, in->admitted);
	atr_agent_events_free(in->events);
	free(in->texts);
	free(in->lens);
	free(in->res);
	util_buf_release(&in->plain);
	free(in);
	req->hook_in = NULL;
}

/* A name from the query string (?actor=, ?user=): 1 to 256 bytes, or absent. */
static int name_arg(struct srv_req *req, const char *name, const char **out)
{
	const char *v = srv_arg(req, name);

	*out = NULL;
	if (!v)
		return 0;
	if (!*v || strlen(v) > 256) {
		char msg[120];

		snprintf(msg, sizeof(msg), "query parameter '%s' must be 1 to 256 bytes", name);
		srv_reply_error(req, SRV_EBADREQ, msg, name);
		return -1;
	}
	*out = v;
	return 0;
}

static int hook_parse(struct srv_req *req)
{
	static const char *const allowed[] = {"actor", "user", NULL};
	struct srv_hook *in;
	const char *body = req->body.data ? req->body.data : "";
	size_t len = req->body.len;
	atr_agent_opts opts = {NULL, NULL};
	char msg[200];
	int rc;

	if (srv_only_args(req, allowed) != 0 || name_arg(req, "actor", &opts.actor) != 0 ||
	    name_arg(req, "user", &opts.user) != 0)
		return -1;
	if (!(in = calloc(1, sizeof(*in)))) {
		srv_reply_error(req, ATR_ENOMEM, "out of memory", NULL);
		return -1;
	}
	req->hook_in = in;
	util_buf_init(&in->plain);
	if (req->gzip) {
		rc = srv_gunzip(body, len, srv_max_body(req->srv), &in->plain, msg, sizeof(msg));
		if (rc != 0) {
			srv_reply_error(req, rc, msg,
			                rc == SRV_EBODYBIG ? NULL : "Content-Encoding");
			goto fail;
		}
		body = in->plain.data ? in->plain.data : "";
		len = in->plain.len;
	}
	if ((rc = atr_claude_hook_map(&in->events, body, len, &opts)) != 0) {
		/* Not JSON at all is bad_json; JSON that is no hook payload is invalid. */
		const char *m = atr_errmsg();

		srv_reply_error(req,
		                rc == ATR_EINVALID && (strncmp(m, "malformed", 9) == 0 ||
		                                       strncmp(m, "empty input", 11) == 0)
		                    ? SRV_EBADJSON
		                    : rc,
		                NULL, NULL);
		goto fail;
	}
	util_buf_release(&in->plain);
	in->n = atr_agent_events_count(in->events);
	if (srv_queue_admit(req->srv, in->n) != 0) {
		srv_reply_queue_full(req);
		goto fail;
	}
	in->admitted = in->n;
	in->texts = calloc(in->n, sizeof(*in->texts));
	in->lens = calloc(in->n, sizeof(*in->lens));
	in->res = calloc(in->n, sizeof(*in->res));
	if (!in->texts || !in->lens || !in->res) {
		srv_reply_error(req, ATR_ENOMEM, "out of memory", NULL);
		goto fail;
	}
	for (size_t i = 0; i < in->n; i++)
		in->texts[i] = atr_agent_events_get(in->events, i, &in->lens[i]);
	return 0;
fail:
	hook_release(req);
	return -1;
}

static void hook_submit(struct srv_req *req)
{
	struct srv_hook *in = req->hook_in;

	in->rc = in->n ? srv_submit(req->srv, in->texts, in->lens, in->n, in->res) : 0;
	/*
	 * A conflict is an id the log has with other content: ids are derived
	 * from the tool use or prompt, and only the time differs when Claude
	 * Code delivers the same hook again. The log keeps the first.
	 */
	if (in->rc == ATR_ECONFLICT)
		in->rc = 0;
	else if (in->rc != 0)
		snprintf(in->msg, sizeof(in->msg), "%s", atr_errmsg());
	srv_queue_done(req->srv, in->admitted);
	in->admitted = 0;
}

static void hook_answer(struct srv_req *req)
{
	struct srv_hook *in = req->hook_in;
	struct util_buf b;

	if (in->rc != 0) {
		srv_reply_error(req, in->rc, in->msg, NULL);
	} else {
		util_buf_init(&b);
		if (util_buf_adds(&b, "{}") != 0)
			srv_reply_oom(req, &b);
		else
			srv_reply_json(req, 200, &b);
		util_buf_release(&b);
	}
	hook_release(req);
}

const struct srv_ingest_ops srv_hook_claude_ops = {hook_headers, hook_parse, hook_submit,
                                                   hook_answer, hook_release};

/* All steps on the calling thread (the server suspends between them instead). */
void srv_h_hook_claude(struct srv_req *req)
{
	if (hook_headers(req) != 0 || hook_parse(req) != 0)
		return;
	hook_submit(req);
	hook_answer(req);
}
