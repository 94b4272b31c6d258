/*
 * GET /api/v1/jobs/{job_id}/evidence: the job's evidence bundle
 * (include/agentrail/evidence.h) against the newest stored signed
 * checkpoint, for auditors and admins only, since a bundle carries every
 * payload unmasked (readers' masking would break its commitments).
 */
#include <agentrail/evidence.h>

#include "server/server.h"

void srv_h_job_evidence(struct srv_req *req)
{
	static const char *const allowed[] = {NULL};
	char *json = NULL;
	atr_log *log;
	int rc;

	if (srv_only_args(req, allowed) || !(log = srv_reader(req)))
		return;
	rc = atr_log_evidence(log, req->captures[0], NULL, 0, &json);
	/* "Not covered yet" is the server's to fix (it signs), not the caller's conflict. */
	if (rc == ATR_ECONFLICT) {
		srv_reply_error(req, SRV_ENOCHECKPOINT, NULL, "job_id");
		return;
	}
	srv_reply_wrapped(req, rc, "job_id", "", json, "");
}
