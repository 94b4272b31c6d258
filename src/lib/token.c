/*
 * Tokens as events: create and revoke append token_change events; the list
 * of tokens is a fold over those events. Only a token's SHA-256 is ever
 * written; the secret goes to the caller once.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include <agentrail/query.h>
#include <agentrail/record.h>
#include <agentrail/token.h>

#include "internal.h"

static const char *const roles[] = {NULL, "writer", "reader", "auditor", "approver", "admin"};

const char *atr_role_name(atr_role role)
{
	return role >= ATR_ROLE_WRITER && role <= ATR_ROLE_ADMIN ? roles[role] : NULL;
}

int atr_role_parse(const char *name, atr_role *out)
{
	for (int r = ATR_ROLE_WRITER; r <= ATR_ROLE_ADMIN; r++)
		if (name && !strcmp(name, roles[r])) {
			*out = (atr_role)r;
			return 0;
		}
	return atr__err(ATR_EINVALID,
	                "unknown role '%s'; roles are writer, reader, auditor, approver, admin",
	                name ? name : "");
}

static void token_hash(const char *token, char hex[65])
{
	uint8_t h[32];

	atr__sha256(h, token, strlen(token), NULL, 0, NULL, 0);
	atr__hex(hex, h, 32);
}

/* Append one token_change event; 'detail' is stolen. */
static int append_change(atr_log *log, const char *actor, const char *id, const char *reason,
                         json_t *detail)
{
	json_t *ev =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "type", "token_change", "actor", actor,
	              "target", id, "reason", reason, "outcome", "success", "detail", detail);
	char *text;
	int rc;

	if (!ev)
		return atr__err(ATR_EINVALID, "cannot build the token event (actor '%s')",
		                actor ? actor : "");
	text = json_dumps(ev, JSON_COMPACT);
	json_decref(ev);
	if (!text)
		return atr__err(ATR_ENOMEM, "out of memory");
	rc = atr_log_append(log, text, strlen(text), NULL);
	free(text);
	return rc;
}

int atr_token_create(atr_log *log, atr_role role, const char *name, const char *actor, char **token,
                     atr_token_info *info)
{
	uint8_t secret[32];
	char hex[65], hash[65], id[17], reason[300];
	char *t;
	int rc;

	*token = NULL;
	if (!atr_role_name(role))
		return atr__err(ATR_EINVALID, "unknown role %d", (int)role);
	if (!name)
		name = "";
	if (strlen(name) > 128)
		return atr__err(ATR_ETOOBIG, "token name is %zu bytes; the limit is 128",
		                strlen(name));
	if ((rc = atr__random(secret, sizeof(secret))) < 0)
		return rc;
	atr__hex(hex, secret, sizeof(secret));
	OPENSSL_cleanse(secret, sizeof(secret));
	if (!(t = malloc(4 + 64 + 1)))
		return atr__err(ATR_ENOMEM, "out of memory");
	memcpy(t, "atr_", 4);
	memcpy(t + 4, hex, 65);
	OPENSSL_cleanse(hex, sizeof(hex));
	token_hash(t, hash);
	snprintf(id, sizeof(id), "tok_%.12s", hash);
	snprintf(reason, sizeof(reason), "created %s token%s%s%s", roles[role], *name ? " '" : "",
	         name, *name ? "'" : "");
	rc = append_change(log, actor, id, reason,
	                   json_pack("{s:s, s:s, s:s, s:s, s:s}", "action", "create", "token_id",
	                             id, "role", roles[role], "name", name, "token_hash", hash));
	if (rc < 0) {
		OPENSSL_cleanse(t, 4 + 64);
		free(t);
		return rc;
	}
	if (info) {
		memset(info, 0, sizeof(*info));
		memcpy(info->id, id, sizeof(info->id));
		info->role = role;
		snprintf(info->name, sizeof(info->name), "%s", name);
		snprintf(info->created_by, sizeof(info->created_by), "%s", actor);
		memcpy(info->hash, hash, sizeof(info->hash));
	}
	*token = t;
	return 0;
}

/* Fold one token_change record into the list. */
static int fold(const atr_record *rec, atr_token_info **list, size_t *n, size_t *cap)
{
	const char *detail = atr_record_detail(rec, NULL);
	json_t *d = detail ? json_loads(detail, 0, NULL) : NULL;
	const char *action = json_string_value(json_object_get(d, "action"));
	const char *id = json_string_value(json_object_get(d, "token_id"));
	int rc = 0;

	if (!action || !id || strlen(id) != 16)
		goto done; /* erased or foreign: it grants nothing */
	if (!strcmp(action, "create")) {
		const char *hash = json_string_value(json_object_get(d, "token_hash"));
		const char *name = json_string_value(json_object_get(d, "name"));
		const char *by = atr_record_str(rec, "actor");
		atr_role role;
		atr_token_info *t;

		if (!hash || strlen(hash) != 64 ||
		    atr_role_parse(json_string_value(json_object_get(d, "role")), &role) < 0)
			goto done;
		if (*n == *cap) {
			size_t nc = *cap ? 2 * *cap : 8;
			atr_token_info *p = realloc(*list, nc * sizeof(*p));

			if (!p) {
				rc = atr__err(ATR_ENOMEM, "out of memory");
				goto done;
			}
			*list = p;
			*cap = nc;
		}
		t = &(*list)[(*n)++];
		memset(t, 0, sizeof(*t));
		memcpy(t->id, id, sizeof(t->id));
		t->role = role;
		snprintf(t->name, sizeof(t->name), "%s", name ? name : "");
		snprintf(t->created_by, sizeof(t->created_by), "%s", by ? by : "");
		t->created_seq = atr_record_seq(rec);
		memcpy(t->hash, hash, sizeof(t->hash));
	} else if (!strcmp(action, "revoke")) {
		for (size_t i = 0; i < *n; i++)
			if (!strcmp((*list)[i].id, id) && !(*list)[i].revoked) {
				(*list)[i].revoked = 1;
				(*list)[i].revoked_seq = atr_record_seq(rec);
			}
	}
done:
	json_decref(d);
	return rc;
}

int atr_token_list(atr_log *log, atr_token_info **out, size_t *n)
{
	atr_query q = {.type = "token_change"};
	atr_token_info *list = NULL;
	const atr_record *rec;
	atr_cursor *cur;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = atr_log_query(log, &q, &cur)) < 0)
		return rc;
	while ((rc = atr_cursor_next(cur, &rec)) > 0)
		if ((rc = fold(rec, &list, n, &cap)) < 0)
			break;
	atr_cursor_free(cur);
	if (rc < 0) {
		free(list);
		*n = 0;
		return rc;
	}
	*out = list;
	return 0;
}

int atr_token_revoke(atr_log *log, const char *id, const char *actor, const char *reason)
{
	atr_token_info *list;
	char why[400];
	size_t n, i;
	int rc;

	if ((rc = atr_token_list(log, &list, &n)) < 0)
		return rc;
	for (i = 0; i < n && strcmp(list[i].id, id); i++)
		;
	if (i == n)
		rc = atr__err(ATR_ENOTFOUND, "no token '%s'", id);
	else if (list[i].revoked)
		rc = atr__err(ATR_EEXISTS, "token '%s' was already revoked at seq %llu", id,
		              (unsigned long long)list[i].revoked_seq);
	free(list);
	if (rc < 0)
		return rc;
	snprintf(why, sizeof(why), "revoked token '%s'%s%.300s", id, reason && *reason ? ": " : "",
	         reason ? reason : "");
	return append_change(log, actor, id, why,
	                     json_pack("{s:s, s:s}", "action", "revoke", "token_id", id));
}

const atr_token_info *atr_token_match(const atr_token_info *list, size_t n, const char *bearer)
{
	const atr_token_info *hit = NULL;
	char hash[65];

	if (!bearer || strncmp(bearer, "atr_", 4) || strlen(bearer) != 68)
		return NULL;
	token_hash(bearer, hash);
	/* Look at every entry, so the time taken does not tell where a match is. */
	for (size_t i = 0; i < n; i++)
		if (CRYPTO_memcmp(list[i].hash, hash, 64) == 0 && !list[i].revoked)
			hit = &list[i];
	return hit;
}
