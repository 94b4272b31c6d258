/*
 * Evidence bundles: "who approved this action, under which rule version?"
 * answered for one job in one document, with proof. A bundle holds every
 * record of the job and every policy text its decisions cite, each with
 * its RFC 6962 audit path to ONE signed checkpoint, and a summary that a
 * verifier re-derives from those records, so that nothing in it has to be
 * taken on the server's word:
 *
 *   {"agentrail_evidence":1,"job_id":"...","checkpoint":"<signed note>",
 *    "tree_size":S,
 *    "summary":{"events":N,"submitter":"...","status":"...",
 *      "decisions":[{"seq","event_id","decision","rule_id","reason",
 *                    "snapshot","snapshot_known","policy_text_seq"}],
 *      "approvals":[{"approval_id","requested_by","rule_id","job_hash",
 *                    "request_seq","resolution","resolved_by","comment",
 *                    "resolved_seq"}],
 *      "output_safety":{"seq","decision","rule_id","reason","outcome"}|null,
 *      "final":{"type","seq","outcome"}|null},
 *    "events":[{"seq":N,"record":"<exact bytes>","leaf_hash":"<hex>",
 *               "audit_path":["<hex>",...],"detail":"<exact bytes>",
 *               "salt":"<hex>"},...],
 *    "policies":[ entries of the same shape ]}
 *
 * "events" is every record whose job_id is the job's, in seq order;
 * "detail" and "salt" are absent when the payload was erased. "policies"
 * holds, for each distinct snapshot a decision cites, the first
 * policy_publish record carrying it (one whose payload's document hashes
 * to the snapshot when there is one), in seq order; a snapshot no
 * policy_publish carries has none ("snapshot_known": false). The summary
 * is folded the way atr_job_json() folds a job (jobs.h): submitter, status
 * (running | awaiting_approval | succeeded | partial | failed | aborted),
 * every decision (snapshot_known null when it cites no snapshot;
 * policy_text_seq the seq of its policies entry, else null), every
 * approval request with the first resolution of its id in the job
 * ("pending" and nulls without one), the last output_safety, and the last
 * task_outcome, complete or abort as "final".
 *
 * What a bundle proves: each listed record is in the log the checkpoint
 * signs, with the bytes shown; the payloads shown are the ones committed;
 * the policy texts hash to the snapshots the decisions cite; the summary
 * says what those records say. What it cannot prove by itself: that no
 * record of the job was left out (an inclusion proof shows presence, not
 * completeness); a verify of the whole log or an index the auditor trusts
 * answers that.
 */
#ifndef AGENTRAIL_EVIDENCE_H
#define AGENTRAIL_EVIDENCE_H

#include "checkpoint.h"
#include "log.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Make the evidence bundle of job 'job_id' against the signed checkpoint
 * 'note' (NULL: the newest one stored with the log), which must cover every
 * record the bundle includes. '*json' (one line, no newline) is the
 * caller's to atr_free(). Errors: ATR_ENOTFOUND when no record carries the
 * job id; ATR_ECONFLICT when no checkpoint is stored or the one used does
 * not cover every record ("no signed checkpoint covers seq N yet; ...");
 * ATR_ETAMPER when the log's root at the checkpoint's size is not the one
 * signed; ATR_EINVALID for an empty job id or a malformed note.
 */
ATR_EXTERN int atr_log_evidence(atr_log *log, const char *job_id, const char *note, size_t note_len,
                                char **json);

/* What a checked evidence bundle proves. */
typedef struct atr_evidence_info {
	uint64_t events;   /* records of the job proven */
	uint64_t policies; /* policy_publish records proven */
	uint64_t payloads; /* payloads present and matching their commitments (both lists) */
	uint64_t erased;   /* records of both lists whose payload is not in the bundle */
	atr_checkpoint checkpoint;
} atr_evidence_info;

/*
 * Check an evidence bundle with the log's verifier key, needing nothing
 * else: the checkpoint's signature; each record's leaf hash and audit path
 * to the signed root; each payload against its record's detail_commit;
 * every event record carrying the bundle's job_id, in increasing seq order;
 * each policy record being a policy_publish whose document hashes to its
 * snapshot; and the summary equal to the one re-derived from the records.
 * 0 when all of it holds ('out' filled; may be NULL), ATR_EINVALID when
 * the bundle is malformed, ATR_ETAMPER otherwise, with a message naming
 * the first thing that does not hold ("event seq 12: the payload does not
 * match ...", "summary.approvals[0].comment is ... but the records say ...").
 */
ATR_EXTERN int atr_evidence_verify(const char *json, size_t len, const atr_verifier *key,
                                   atr_evidence_info *out);

#ifdef __cplusplus
}
#endif
#endif
