/*
 * Bearer tokens and roles (DESIGN.md §5). A token is shown once, when it is
 * created; the log keeps only its SHA-256. Creating or revoking a token is
 * itself a `token_change` event, and the set of live tokens is derived from
 * those events — there is no second, mutable table to tamper with.
 */
#ifndef AGENTRAIL_TOKEN_H
#define AGENTRAIL_TOKEN_H

#include "log.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum atr_role {
	ATR_ROLE_WRITER = 1, /* append only */
	ATR_ROLE_READER,     /* read, secrets masked */
	ATR_ROLE_AUDITOR,    /* read everything, verify, export */
	ATR_ROLE_APPROVER,   /* resolve approvals */
	ATR_ROLE_ADMIN       /* tokens, keys, retention */
} atr_role;

/* "writer", "reader", ...; NULL for a value outside the enum. Static storage. */
ATR_EXTERN const char *atr_role_name(atr_role role);
/* Parse a role name; ATR_EINVALID naming the accepted ones otherwise. */
ATR_EXTERN int atr_role_parse(const char *name, atr_role *out);

/* What the log says about one token. */
typedef struct atr_token_info {
	char id[17]; /* "tok_" and 12 hex digits: how lists and revocations name it */
	atr_role role;
	char name[129];       /* free label, may be empty */
	char created_by[257]; /* the actor of the creating event */
	uint64_t created_seq;
	int revoked;
	uint64_t revoked_seq; /* when 'revoked' */
	char hash[65];        /* hex SHA-256 of the token */
} atr_token_info;

/*
 * Create a token with 'role' and an optional 'name', appending a
 * token_change event by 'actor'. '*token' (the secret, "atr_" and 64 hex
 * digits) is the caller's, to show once and release with atr_free(); 'info'
 * (may be NULL) describes it.
 */
ATR_EXTERN int atr_token_create(atr_log *log, atr_role role, const char *name, const char *actor,
                                char **token, atr_token_info *info);

/*
 * Revoke the token 'id' with a token_change event by 'actor' giving
 * 'reason' (may be NULL). ATR_ENOTFOUND for an unknown id, ATR_EEXISTS when
 * it is already revoked.
 */
ATR_EXTERN int atr_token_revoke(atr_log *log, const char *id, const char *actor,
                                const char *reason);

/*
 * Every token the log knows, in creation order, revoked ones included.
 * '*out' is the caller's, to release with atr_free() ('*n' may be 0).
 */
ATR_EXTERN int atr_token_list(atr_log *log, atr_token_info **out, size_t *n);

/*
 * Find the live token matching the presented 'bearer' among 'list': the
 * entry, or NULL when it matches none or only a revoked one. Compares hashes
 * in constant time.
 */
ATR_EXTERN const atr_token_info *atr_token_match(const atr_token_info *list, size_t n,
                                                 const char *bearer);

#ifdef __cplusplus
}
#endif
#endif
