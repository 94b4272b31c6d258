/*
 * Bearer tokens on every route (DESIGN.md section 5). The live tokens are
 * derived from the log's token_change events, reloaded at most once a
 * second, so a token created or revoked with `agentrail token` while the
 * server runs takes effect within a second. A reader's request is marked
 * for masking here; srv_reply() applies it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

#include "server/server.h"

#define RELOAD_US 1000000

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static size_t live(const atr_token_info *list, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += !list[i].revoked;
	return k;
}

int srv_auth_init(struct srv_auth *a, atr_log *log)
{
	memset(a, 0, sizeof(*a));
	pthread_mutex_init(&a->mu, NULL);
	if (atr_token_list(log, &a->list, &a->n) != 0)
		return -1;
	/* NULL config: every built-in detector, and a random salt for this run's markers. */
	if (atr_redactor_new(&a->redactor, NULL) != 0) {
		atr_free(a->list);
		a->list = NULL;
		return -1;
	}
	a->loaded_us = now_us();
	a->required = live(a->list, a->n) > 0;
	return 0;
}

void srv_auth_release(struct srv_auth *a)
{
	atr_free(a->list);
	atr_redactor_free(a->redactor);
	pthread_mutex_destroy(&a->mu);
}

size_t srv_auth_live(struct srv_auth *a)
{
	size_t k;

	pthread_mutex_lock(&a->mu);
	k = live(a->list, a->n);
	pthread_mutex_unlock(&a->mu);
	return k;
}

/* The role of 'bearer' (0 for none), reloading the token list when it is stale. */
static atr_role role_of(struct srv_req *req, struct srv_auth *a, const char *bearer)
{
	const atr_token_info *t;
	atr_role role = 0;

	pthread_mutex_lock(&a->mu);
	if (now_us() - a->loaded_us > RELOAD_US) {
		atr_log *log = srv_reader_quiet(req);
		atr_token_info *list;
		size_t n;

		/* On a failed reload keep the old list: failing closed would lock everyone out. */
		if (log && atr_token_list(log, &list, &n) == 0) {
			atr_free(a->list);
			a->list = list;
			a->n = n;
		}
		a->loaded_us = now_us();
	}
	t = atr_token_match(a->list, a->n, bearer);
	if (t) {
		role = t->role;
		snprintf(req->caller, sizeof(req->caller), "%s", t->name[0] ? t->name : t->id);
		req->role = role;
	}
	pthread_mutex_unlock(&a->mu);
	return role;
}

int srv_auth_check(struct srv_req *req, struct srv_auth *a, unsigned roles, const char *method,
                   const char *pattern)
{
	const char *h =
	    MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	char msg[200];
	atr_role role;

	if (!a->required || roles == SRV_ROLES_ANY)
		return 0;
	if (!h || strncmp(h, "Bearer ", 7) != 0) {
		srv_reply_error(req, SRV_EUNAUTH, "a bearer token is required", "Authorization");
		return -1;
	}
	role = role_of(req, a, h + 7);
	if (!role) {
		srv_reply_error(req, SRV_EUNAUTH, "the token is not valid or was revoked",
		                "Authorization");
		return -1;
	}
	if (!(roles & SRV_ROLE(role))) {
		snprintf(msg, sizeof(msg), "role '%s' may not %s %s", atr_role_name(role), method,
		         pattern);
		srv_reply_error(req, SRV_EFORBIDDEN, msg, NULL);
		return -1;
	}
	if (role == ATR_ROLE_READER)
		req->mask = a->redactor;
	return 0;
}
