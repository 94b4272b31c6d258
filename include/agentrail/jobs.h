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

/* The most decisions and approvals atr_job_json() lists (the first ones, in seq order). */
#define ATR_JOB_LIST_MAX 100

/*
 * The state of job 'job_id' as one JSON object: job_id, submitter, status
 * (running | awaiting_approval | succeeded | partial | failed | aborted),
 * events, decisions [{event_id, seq, decision, rule_id, reason, snapshot,
 * timestamp, snapshot_known}] and decisions_total, approvals [{approval_id,
 * event_id, seq, requested_by, rule_id, job_hash, resolution, resolved_by,
 * comment}] and approvals_total, policy_snapshot (the last a decision
 * cited) and policy_snapshot_known, output_safety {decision, rule_id} or
 * null, context_ptr and result_ptr (ids of the events holding the job's
 * input and its result, or null) and last_event {event_id, seq, type,
 * timestamp}. snapshot_known is true when some policy_publish event in the
 * log carries the snapshot cited, false when none does (the decision was
 * accepted all the same), null when no snapshot is cited; it costs one
 * query over the policy_publish type index, only when a snapshot is cited.
 * The state is folded from every event of the job, read once in
 * seq order; the two lists hold the first ATR_JOB_LIST_MAX items, the
 * totals count them all (atr_job_decisions_page() pages through every
 * decision). Memory: the answer plus one entry per approval id of the job.
 * ATR_ENOTFOUND when no event carries that job_id. '*out' is the caller's,
 * to release with atr_free().
 */
ATR_EXTERN int atr_job_json(atr_log *log, const char *job_id, char **out);

/*
 * Every decision of the job joined with its approval, as a JSON array of
 * flat records: run_id, workflow_step_id, job_id, trace_id, decision,
 * policy_rule_id, policy_reason, policy_snapshot, job_hash,
 * approval_required, resolution, resolved_by, resolved_comment, context_ptr,
 * result_ptr, output_safety, timestamp, event_id, seq, snapshot_known (as in
 * atr_job_json()). A decision's approval
 * is the approval_request whose parent_event_id is the decision, else the
 * first approval_request after it in the job.
 */
ATR_EXTERN int atr_job_decisions_json(atr_log *log, const char *job_id, char **out);

/*
 * One page of the same list: the decisions with seq >= 'from_seq', at most
 * 'limit' of them (0: no limit). '*next_seq' is where the next page starts
 * (the seq of the first decision after this page), 0 when this page is the
 * last. Every page reads the whole job once (the joins and pointers are
 * job-wide); memory is the page plus one entry per approval id of the job.
 * ATR_ENOTFOUND when no event carries that job_id; a page past the end of a
 * known job is "[]".
 */
ATR_EXTERN int atr_job_decisions_page(atr_log *log, const char *job_id, uint64_t from_seq,
                                      uint64_t limit, char **out, uint64_t *next_seq);

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
 * It keeps every approval request as its answer text (a few hundred bytes
 * each) and every approval id's resolution in memory.
 * Thread-safe; 'log' may differ between calls (any handle on the same log).
 * '*out' is released with atr_approvals_free().
 */
typedef struct atr_approvals atr_approvals;
ATR_EXTERN int atr_approvals_new(atr_approvals **out);
ATR_EXTERN int atr_approvals_query(atr_approvals *c, atr_log *log, int include_resolved,
                                   char **out);
/*
 * One page of the queue: the requests with seq >= 'from_seq', at most
 * 'limit' (0: no limit). '*next_seq' is the seq of the first request after
 * this page (pending ones only unless 'include_resolved'), 0 when this page
 * is the last.
 */
ATR_EXTERN int atr_approvals_page(atr_approvals *c, atr_log *log, int include_resolved,
                                  uint64_t from_seq, uint64_t limit, char **out,
                                  uint64_t *next_seq);
ATR_EXTERN void atr_approvals_free(atr_approvals *c);

#ifdef __cplusplus
}
#endif
#endif
