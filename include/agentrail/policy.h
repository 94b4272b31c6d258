/*
 * Policies: named, versioned documents kept in the log itself. Publishing
 * one appends a policy_publish event whose detail holds the text and whose
 * policy.snapshot is "sha256:" + the hex SHA-256 of that text, so the text
 * a decision cites is proven like any record; a rollback appends a
 * policy_rollback event. Every answer here is folded from those events
 * through the type index on each call (docs/policies.md).
 */
#ifndef AGENTRAIL_POLICY_H
#define AGENTRAIL_POLICY_H

#include "log.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The longest policy name, in bytes. */
#define ATR_POLICY_NAME_MAX 256

/* "sha256:" + 64 hex digits + NUL. */
#define ATR_POLICY_SNAPSHOT_SIZE 72

enum atr_policy_flag {
	/*
	 * The document is JSON text (an object or an array): it is stored in
	 * the log's canonical form (keys sorted, no whitespace), media type
	 * application/json. Without it the document is stored exactly as
	 * given, media type text/plain.
	 */
	ATR_POLICY_JSON = 1 << 0
};

/*
 * Check a policy name: 1 to ATR_POLICY_NAME_MAX bytes of letters, digits,
 * '.', '_' and '-' (no '/': a name is one URL path segment). 0, or
 * ATR_EINVALID with a message saying what is wrong.
 */
ATR_EXTERN int atr_policy_name_check(const char *name);

/* The snapshot of a document text: "sha256:<64 lower-case hex>" into 'out'. */
ATR_EXTERN void atr_policy_snapshot_of(const char *text, size_t len,
                                       char out[ATR_POLICY_SNAPSHOT_SIZE]);

/*
 * Publish 'document' (NUL-terminated; JSON text with ATR_POLICY_JSON) as
 * the version of policy 'name' in force, appending one policy_publish
 * event through atr_log_append(). 'actor' is who publishes (required);
 * 'reason' may be NULL ("publish policy NAME"). '*out' is the answer, JSON
 * {"name","snapshot","seq","event_id"}: the new event's. When that very
 * document is already in force for 'name' nothing is appended and the
 * answer is the event that put it in force, with "unchanged":true.
 * Errors: ATR_EINVALID (a bad name, an empty actor, a document that is not
 * valid UTF-8, not JSON with ATR_POLICY_JSON), ATR_ETOOBIG (the event
 * would pass the log's 1 MiB limit on a record and its detail; the message
 * gives both sizes), or the log's own. '*out' is the caller's, to release
 * with atr_free(); NULL on failure.
 *
 * Checking what is in force and appending are two steps: callers that may
 * race (a server) hold their own lock around atr_policy_publish_prepare()
 * and the append instead.
 */
ATR_EXTERN int atr_policy_publish(atr_log *log, const char *name, const char *document,
                                  unsigned flags, const char *actor, const char *reason,
                                  char **out);

/*
 * Roll policy 'name' back to snapshot 'to' (NULL: the version in force
 * before the current one: each rollback steps one version further back
 * through the publications), appending one policy_rollback event. The
 * answer is {"name","snapshot","from","seq","event_id"}. Errors:
 * ATR_ENOTFOUND (no policy 'name'), ATR_EINVALID ('to' was never published
 * under 'name'), ATR_ECONFLICT (nothing to roll back to, or 'to' is
 * already in force).
 */
ATR_EXTERN int atr_policy_rollback(atr_log *log, const char *name, const char *to,
                                   const char *actor, const char *reason, char **out);

/*
 * The two steps of a publish or a rollback, for callers that append
 * through their own path (the server's group commit): prepare checks the
 * change against the log and builds the event; atr_policy_change_event()
 * is its JSON text (NUL-terminated, borrowed until the change is freed),
 * or NULL when there is nothing to append (an unchanged publish);
 * atr_policy_change_answer() gives the answer once the event was appended
 * as 'res' (ignored, may be NULL, when there was nothing to append).
 */
typedef struct atr_policy_change atr_policy_change;
ATR_EXTERN int atr_policy_publish_prepare(atr_policy_change **out, atr_log *log, const char *name,
                                          const char *document, unsigned flags, const char *actor,
                                          const char *reason);
ATR_EXTERN int atr_policy_rollback_prepare(atr_policy_change **out, atr_log *log, const char *name,
                                           const char *to, const char *actor, const char *reason);
ATR_EXTERN const char *atr_policy_change_event(const atr_policy_change *c);
ATR_EXTERN int atr_policy_change_answer(const atr_policy_change *c, const atr_append_result *res,
                                        char **out);
ATR_EXTERN void atr_policy_change_free(atr_policy_change *c);

/*
 * Policy 'name' as JSON: name, snapshot (in force), seq and event_id (of
 * the event that put it in force), media_type, text (null when every
 * payload holding it was erased), versions (how many distinct snapshots
 * were published under the name), history [{seq, event_id, type,
 * snapshot, from, actor, reason, timestamp}] and history_total. The
 * history lists the events with seq >= 'from_seq', at most 'limit' (0: no
 * limit); '*next_seq' is the seq of the first event after the page, 0 when
 * the page is the last. ATR_ENOTFOUND when no event names the policy.
 * Memory: the page plus one entry per version of the policy.
 */
ATR_EXTERN int atr_policy_get(atr_log *log, const char *name, uint64_t from_seq, uint64_t limit,
                              char **out, uint64_t *next_seq);

/*
 * The text of 'snapshot' as JSON: snapshot, media_type, text and
 * published [{name, seq, event_id}] (every policy_publish carrying it).
 * ATR_ENOTFOUND when no policy_publish carries it, ATR_EERASED when every
 * payload holding the text was erased, ATR_ETAMPER when the only texts
 * left do not hash to the snapshot.
 */
ATR_EXTERN int atr_policy_snapshot_json(atr_log *log, const char *snapshot, char **out);

/*
 * Every policy as a JSON array in name order: [{name, snapshot, seq,
 * event_id, versions, updated_at}], 'snapshot' the one in force.
 */
ATR_EXTERN int atr_policy_list_json(atr_log *log, char **out);

/* '*known' = 1 when some policy_publish event carries 'snapshot', else 0. */
ATR_EXTERN int atr_policy_known(atr_log *log, const char *snapshot, int *known);

#ifdef __cplusplus
}
#endif
#endif
