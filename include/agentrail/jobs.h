/*
 * Answers derived from the log, never stored: a job's state, its decisions
 * joined with their approvals, and the approval queue. Each is computed from
 * the events on every call (index-backed), so it can never disagree with the
 * record. Answers are JSON text, the shape the HTTP API serves.
 */
#ifndef AGENTRAIL_JOBS_H
#define AGENTRAIL_JOBS_H

#include "log.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The state of job 'job_id' as one JSON object: job_id, submitter, status
 * (running | awaiting_approval | succeeded | partial | failed | aborted),
 * events, decisions [{event_id, seq, decision, rule_id, reason, snapshot,
 * timestamp}], approvals [{approval_id, event_id, seq, requested_by,
 * rule_id, job_hash, resolution, resolved_by, comment}], policy_snapshot,
 * output_safety {decision, rule_id} or null, context_ptr and result_ptr (ids
 * of the events holding the job's input and its result, or null) and
 * last_event {event_id, seq, type, timestamp}. ATR_ENOTFOUND when no event
 * carries that job_id. '*out' is the caller's, to release with atr_free().
 */
ATR_EXTERN int atr_job_json(atr_log *log, const char *job_id, char **out);

/*
 * Every decision of the job joined with its approval, as a JSON array of
 * flat records: run_id, workflow_step_id, job_id, trace_id, decision,
 * policy_rule_id, policy_reason, policy_snapshot, job_hash,
 * approval_required, resolution, resolved_by, resolved_comment, context_ptr,
 * result_ptr, output_safety, timestamp, event_id, seq. A decision's approval
 * is the approval_request whose parent_event_id is the decision, else the
 * first approval_request after it in the job.
 */
ATR_EXTERN int atr_job_decisions_json(atr_log *log, const char *job_id, char **out);

/*
 * The approval queue as a JSON array in request order: every
 * approval_request with approval_id, job_id, requested_by, requested_at,
 * rule_id, reason, job_hash, event_id, seq and its resolution ("pending",
 * or "approved"/"rejected" with resolved_by, comment, resolved_at,
 * resolved_seq). Only pending ones unless 'include_resolved'.
 */
ATR_EXTERN int atr_approvals_json(atr_log *log, int include_resolved, char **out);

/*
 * The same queue, kept current incrementally for a long-running reader (a
 * server): each atr_approvals_query() folds in only the approval events
 * appended since the previous call, so it costs the size of the answer.
 * Thread-safe; 'log' may differ between calls (any handle on the same log).
 * '*out' is released with atr_approvals_free().
 */
typedef struct atr_approvals atr_approvals;
ATR_EXTERN int atr_approvals_new(atr_approvals **out);
ATR_EXTERN int atr_approvals_query(atr_approvals *c, atr_log *log, int include_resolved,
                                   char **out);
ATR_EXTERN void atr_approvals_free(atr_approvals *c);

#ifdef __cplusplus
}
#endif
#endif
