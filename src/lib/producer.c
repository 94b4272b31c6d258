/*
 * Producers (include/agentrail/producer.h): configuration from the
 * environment; the emit path (validate, give the event an id and a time,
 * apply the AGENTRAIL_LOG_* filters); and for network sinks the delivery
 * thread — spool, batches, sink — with back-off, permanent refusals logged
 * and skipped, and what dead producers left in the spool replayed first.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <agentrail/producer.h>
#include <agentrail/query.h>
#include <agentrail/sys/sink.h>

#include "event.h"
#include "internal.h"
#include "jscan.h"
#include "sink/sink.h"

#define BACKOFF_BASE_S  0.1  /* first retry after a failure */
#define BACKOFF_MAX_S   30.0 /* the longest wait between attempts (unless Retry-After says more) */
#define RETRY_AFTER_MAX 3600.0
#define ORPHAN_SCAN_S   10.0 /* how often to look for what dead producers left */
#define SYNC_EVERY_S    0.2  /* undelivered spooled events reach the disk within this */
#define FREE_WAIT_S     5.0  /* atr_producer_free() delivers for at most this long */

struct atr_producer {
	atr_producer_config cfg; /* its strings point at the copies below */
	char *own_store, *own_token, *own_log_file, *own_url, *own_spool, *own_key;
	atr_sink *sink;
	int builtin_http;         /* the sink is ours, over libcurl: it can be cancelled */
	struct atr__spool *spool; /* network sinks */

	pthread_mutex_t emit_mu; /* local sinks: one delivery at a time */

	/* Everything below is guarded by 'mu'. */
	pthread_mutex_t mu;
	pthread_cond_t cond; /* wakes the thread (new events, stop) and flushers (progress) */
	pthread_t thread;
	int thread_started, thread_done;
	int stop;
	double deadline;      /* once stopping: give up delivering at this monotonic time */
	unsigned wake;        /* bumped by emit and flush */
	int failing;          /* the last attempt failed */
	unsigned failures;    /* consecutive failed attempts */
	double backoff_until; /* no attempt before this monotonic time */
	double orphan_scan_at;
	int orphans_pending;
	double last_sync;
	atr_producer_stats st;
};

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wait on 'cond' (with 'mu' held) until the monotonic time 'at' at the latest. */
static void wait_until(atr_producer *p, double at)
{
	struct timespec ts;
	double whole;

	if (isinf(at)) {
		pthread_cond_wait(&p->cond, &p->mu);
		return;
	}
	ts.tv_nsec = (long)(modf(at, &whole) * 1e9);
	ts.tv_sec = (time_t)whole;
	pthread_cond_timedwait(&p->cond, &p->mu, &ts);
}

static const char *const level_names[] = {"debug", "info", "warn", "error"};

static void plog(atr_producer *p, atr_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The producer's own messages, one line each on standard error. */
static void plog(atr_producer *p, atr_log_level lvl, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (lvl < p->cfg.log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "agentrail: %s: sink '%s' ('%s'): %s\n", level_names[lvl], p->sink->name,
	        p->sink->destination, msg);
}

/* ------------------------------------------------------------ configuration */

void atr_producer_config_init(atr_producer_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->sink = ATR_SINK_STORE;
	cfg->log_level = ATR_LOG_WARN;
	cfg->log_file_reads = 1;
	cfg->log_commands = 1;
	cfg->log_tokens = 1;
}

/* The variable's value, or NULL when unset or empty. */
static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static int env_choice(const char *name, const char *const *names, int n, const char *expected,
                      int *out)
{
	const char *v = env(name);

	if (!v)
		return 0;
	for (int i = 0; i < n; i++)
		if (strcasecmp(v, names[i]) == 0) {
			*out = i;
			return 0;
		}
	return atr__err(ATR_EINVALID, "environment variable '%s' is '%s': expected %s", name, v,
	                expected);
}

static int env_bool(const char *name, int *out)
{
	static const char *const names[] = {"false", "true"};

	return env_choice(name, names, 2, "true or false", out);
}

/* "http://" or "https://" and a host. */
static int is_http_url(const char *s)
{
	const char *rest = !strncasecmp(s, "http://", 7)    ? s + 7
	                   : !strncasecmp(s, "https://", 8) ? s + 8
	                                                    : NULL;

	return rest && *rest && *rest != '/';
}

static int check_url(const char *name, const char *v)
{
	for (const char *c = v; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f)
			return atr__err(ATR_EINVALID,
			                "environment variable '%s' is '%s': a URL has no spaces or "
			                "control characters",
			                name, v);
	if (!is_http_url(v))
		return atr__err(
		    ATR_EINVALID,
		    "environment variable '%s' is '%s': expected an http:// or https:// "
		    "URL",
		    name, v);
	return 0;
}

int atr_producer_config_from_env(atr_producer_config *cfg)
{
	static const char *const sinks[] = {"store", "file", "stdout", "webhook"};
	static const char *const levels[] = {"debug", "info", "warn", "error"};
	int v, rc;

	atr_producer_config_init(cfg);
	v = (int)cfg->sink;
	if ((rc = env_choice("AGENTRAIL_SINK", sinks, 4, "store, file, stdout or webhook", &v)) < 0)
		return rc;
	cfg->sink = (atr_sink_kind)v;
	v = (int)cfg->log_level;
	if ((rc = env_choice("AGENTRAIL_LOG_LEVEL", levels, 4, "debug, info, warn or error", &v)) <
	    0)
		return rc;
	cfg->log_level = (atr_log_level)v;
	if ((rc = env_bool("AGENTRAIL_LOG_FILE_READS", &cfg->log_file_reads)) < 0 ||
	    (rc = env_bool("AGENTRAIL_LOG_COMMANDS", &cfg->log_commands)) < 0 ||
	    (rc = env_bool("AGENTRAIL_LOG_TOKENS", &cfg->log_tokens)) < 0)
		return rc;
	cfg->store = env("AGENTRAIL_STORE");
	if (cfg->store && !strncasecmp(cfg->store, "http", 4) && strstr(cfg->store, "://") &&
	    (rc = check_url("AGENTRAIL_STORE", cfg->store)) < 0)
		return rc;
	cfg->token = env("AGENTRAIL_TOKEN");
	if (cfg->token)
		for (const char *c = cfg->token; *c; c++)
			if ((unsigned char)*c <= 0x20 || *c == 0x7f)
				return atr__err(
				    ATR_EINVALID,
				    "environment variable 'AGENTRAIL_TOKEN' holds a space "
				    "or control character");
	cfg->url = env("AGENTRAIL_URL");
	if (cfg->url && (rc = check_url("AGENTRAIL_URL", cfg->url)) < 0)
		return rc;
	cfg->log_file = env("AGENTRAIL_LOG_FILE");
	cfg->key_file = env("AGENTRAIL_KEY_FILE");
	cfg->spool_dir = env("AGENTRAIL_SPOOL_DIR");
	return 0;
}

/* $XDG_STATE_HOME/agentrail/spool, else ~/.local/state/agentrail/spool. */
static int default_spool(char **out)
{
	const char *base = getenv("XDG_STATE_HOME");
	int n;

	if (base && *base == '/') {
		n = asprintf(out, "%s/agentrail/spool", base);
	} else {
		base = getenv("HOME");
		if (!base || !*base)
			return atr__err(
			    ATR_EINVALID,
			    "cannot find a spool directory: set AGENTRAIL_SPOOL_DIR or HOME");
		n = asprintf(out, "%s/.local/state/agentrail/spool", base);
	}
	if (n < 0) {
		*out = NULL;
		return atr__err(ATR_ENOMEM, "out of memory");
	}
	return 0;
}

static int dup_str(char **dst, const char *src)
{
	*dst = NULL;
	if (src && !(*dst = strdup(src)))
		return atr__err(ATR_ENOMEM, "out of memory");
	return 0;
}

/* ------------------------------------------------------------ delivery */

/* How one step of the delivery thread went. */
enum step { STEP_DONE, STEP_RETRY, STEP_ERROR };

/* The event_id of a spooled line, for messages. */
static void line_id(const char *line, size_t len, char out[40])
{
	const char *v;
	size_t n;

	if (atr__json_member_str(line, len, "event_id", &v, &n) == 0 && n < 40) {
		memcpy(out, v, n);
		out[n] = '\0';
	} else {
		snprintf(out, 40, "(no event_id)");
	}
}

static void log_reject(atr_producer *p, const char *line, size_t len, const char *why)
{
	char id[40];

	line_id(line, len, id);
	plog(p, ATR_LOG_ERROR, "event %s refused for good, not retried: %s", id, why);
}

/*
 * Deliver the lines of 'b' (orphans: checked first, as they come from
 * disk) until each is delivered or refused for good, or a transient
 * failure; then move the segment's cursor past the finished prefix.
 */
static enum step deliver_lines(atr_producer *p, struct atr__spool_batch *b, int orphan,
                               atr_sink_report *last)
{
	size_t n = b->n, limit = n, prefix = 0;
	unsigned char *state = calloc(n, 1); /* 0 pending, 1 delivered, 2 refused */
	const char **ev = malloc(n * sizeof(*ev));
	size_t *lens = malloc(n * sizeof(*lens)), *idx = malloc(n * sizeof(*idx));
	uint64_t ok = 0, refused = 0;
	enum step res = STEP_DONE;

	if (!state || !ev || !lens || !idx) {
		snprintf(last->message, sizeof(last->message), "out of memory");
		res = STEP_ERROR;
		goto out;
	}
	if (orphan) {
		for (size_t i = 0; i < n; i++) {
			struct atr__event e;
			const char *v;
			size_t vl;

			if (b->len[i] == 0) {
				plog(p, ATR_LOG_ERROR,
				     "an unreadable line of the spool was skipped");
				state[i] = 2;
			} else if (atr__event_prepare(&e, b->ev[i], b->len[i], 0) != 0) {
				log_reject(p, b->ev[i], b->len[i], atr_errmsg());
				state[i] = 2;
			} else {
				atr__event_release(&e);
				if (atr__json_member_str(b->ev[i], b->len[i], "event_id", &v,
				                         &vl) != 0) {
					log_reject(p, b->ev[i], b->len[i], "it has no event_id");
					state[i] = 2;
				}
			}
		}
	}
	for (;;) {
		size_t np = 0, take;
		atr_sink_report rep;
		atr_sink_result r;

		for (size_t i = 0; i < n; i++)
			if (state[i] == 0)
				idx[np++] = i;
		if (np == 0)
			break;
		take = np < limit ? np : limit;
		for (size_t k = 0; k < take; k++) {
			ev[k] = b->ev[idx[k]];
			lens[k] = b->len[idx[k]];
		}
		memset(&rep, 0, sizeof(rep));
		r = p->sink->deliver(p->sink, ev, lens, take, &rep);
		if (rep.accepted > take || r == ATR_SINK_OK)
			rep.accepted = take;
		for (size_t k = 0; k < rep.accepted; k++)
			state[idx[k]] = 1;
		if (r == ATR_SINK_OK) {
			if (limit < n)
				limit *= 2;
			continue;
		}
		if (r == ATR_SINK_RETRY || (int)r < 0 || r > ATR_SINK_TOO_BIG) {
			*last = rep;
			res = STEP_RETRY;
			break;
		}
		if (r == ATR_SINK_REJECT && rep.item != ATR_SINK_ITEM_UNKNOWN && rep.item < take &&
		    rep.item >= rep.accepted) {
			log_reject(p, ev[rep.item], lens[rep.item], rep.message);
			state[idx[rep.item]] = 2;
		} else if (take - rep.accepted == 1) {
			size_t k = rep.accepted;

			log_reject(p, ev[k], lens[k],
			           r == ATR_SINK_TOO_BIG ? "too big for the far end" : rep.message);
			state[idx[k]] = 2;
		} else {
			/* Which one? Offer fewer until it is alone. */
			limit = (take - rep.accepted) / 2 ? (take - rep.accepted) / 2 : 1;
		}
	}
	while (prefix < n && state[prefix] != 0) {
		if (state[prefix] == 1)
			ok++;
		else
			refused++;
		prefix++;
	}
	/* Under 'mu' with the counters, so a flusher never sees one without the other. */
	pthread_mutex_lock(&p->mu);
	atr__spool_done(p->spool, b, prefix, refused);
	if (orphan) {
		p->st.replayed += ok;
	} else {
		p->st.delivered += ok;
		p->st.rejected += refused;
	}
	pthread_mutex_unlock(&p->mu);
out:
	free(state);
	free(ev);
	free(lens);
	free(idx);
	return res;
}

/* One batch of what dead producers left, if this producer may replay it. */
static enum step replay_step(atr_producer *p, struct atr__spool_batch *b, atr_sink_report *last)
{
	uint64_t dropped = 0;
	int rc;

	if (!atr__spool_replay_begin(p->spool)) {
		/* Another live producer is replaying: it delivers them. */
		pthread_mutex_lock(&p->mu);
		p->orphans_pending = 0;
		pthread_mutex_unlock(&p->mu);
		return STEP_DONE;
	}
	rc = atr__spool_next_orphan(p->spool, b, p->sink->max_events, p->sink->max_bytes, &dropped);
	if (dropped)
		plog(p, ATR_LOG_WARN,
		     "dropped a half-written last line (%llu bytes) of a spool segment: its "
		     "producer "
		     "died while writing it, before its emit returned",
		     (unsigned long long)dropped);
	if (rc < 0) {
		snprintf(last->message, sizeof(last->message), "%s", atr_errmsg());
		return STEP_ERROR;
	}
	if (rc == 0) {
		atr__spool_replay_end(p->spool);
		pthread_mutex_lock(&p->mu);
		p->orphans_pending = 0;
		pthread_mutex_unlock(&p->mu);
		plog(p, ATR_LOG_INFO, "the spool's earlier events are delivered");
		return STEP_DONE;
	}
	return deliver_lines(p, b, 1, last);
}

static enum step own_step(atr_producer *p, struct atr__spool_batch *b, atr_sink_report *last)
{
	int rc = atr__spool_next_own(p->spool, b, p->sink->max_events, p->sink->max_bytes);

	if (rc < 0) {
		snprintf(last->message, sizeof(last->message), "%s", atr_errmsg());
		return STEP_ERROR;
	}
	return rc == 0 ? STEP_DONE : deliver_lines(p, b, 0, last);
}

/* After a failed attempt ('mu' held): count it, say so once, and back off. */
static void failed(atr_producer *p, const atr_sink_report *rep, double now)
{
	double delay = BACKOFF_BASE_S * pow(2.0, p->failures < 16 ? p->failures : 16);
	uint64_t waiting = p->st.emitted - p->st.delivered - p->st.rejected;
	unsigned r;

	p->st.retries++;
	p->failures++;
	if (delay > BACKOFF_MAX_S)
		delay = BACKOFF_MAX_S;
	if (atr__random(&r, sizeof(r)) == 0)
		delay *=
		    0.75 + 0.5 * (r / 4294967296.0); /* apart, so producers do not retry in step */
	if (rep->retry_after_ms && rep->retry_after_ms / 1000.0 > delay)
		delay = rep->retry_after_ms / 1000.0 > RETRY_AFTER_MAX
		            ? RETRY_AFTER_MAX
		            : rep->retry_after_ms / 1000.0;
	p->backoff_until = now + delay;
	if (!p->failing)
		plog(p, ATR_LOG_WARN,
		     "cannot deliver (%s); %llu events of this producer wait in the spool '%s' and "
		     "will be retried",
		     rep->message[0] ? rep->message : "no reason given",
		     (unsigned long long)waiting, atr__spool_dir(p->spool));
	else
		plog(p, ATR_LOG_DEBUG, "attempt %u failed (%s); next in %.1f s", p->failures,
		     rep->message, delay);
	p->failing = 1;
}

static void *delivery_main(void *arg)
{
	atr_producer *p = arg;
	struct atr__spool_batch b;

	memset(&b, 0, sizeof(b));
	pthread_mutex_lock(&p->mu);
	for (;;) {
		double now = mono();
		atr_sink_report rep;
		enum step r;
		int orphans, own;

		if (p->stop && (p->failing || now >= p->deadline))
			break;
		if (now < p->backoff_until) {
			wait_until(p, p->stop && p->deadline < p->backoff_until ? p->deadline
			                                                        : p->backoff_until);
			continue;
		}
		if (now >= p->orphan_scan_at) {
			p->orphan_scan_at = now + ORPHAN_SCAN_S;
			pthread_mutex_unlock(&p->mu);
			orphans = atr__spool_has_orphans(p->spool);
			pthread_mutex_lock(&p->mu);
			p->orphans_pending |= orphans;
		}
		own = atr__spool_own_pending(p->spool) > 0;
		if (!own && !p->orphans_pending) {
			unsigned seen = p->wake;

			if (p->stop)
				break;
			pthread_cond_broadcast(&p->cond); /* flushers: nothing is left */
			while (p->wake == seen && !p->stop && mono() < p->orphan_scan_at)
				wait_until(p, p->orphan_scan_at);
			continue;
		}
		orphans = p->orphans_pending;
		pthread_mutex_unlock(&p->mu);
		memset(&rep, 0, sizeof(rep));
		r = orphans ? replay_step(p, &b, &rep) : own_step(p, &b, &rep);
		if (r != STEP_DONE)
			atr__spool_sync(p->spool); /* they wait: on disk now */
		pthread_mutex_lock(&p->mu);
		now = mono();
		if (r == STEP_DONE) {
			if (p->failing)
				plog(p, ATR_LOG_INFO, "delivering again after %u failed attempts",
				     p->failures);
			p->failing = 0;
			p->failures = 0;
			if (now - p->last_sync >= SYNC_EVERY_S) {
				p->last_sync = now;
				pthread_mutex_unlock(&p->mu);
				atr__spool_sync(p->spool);
				pthread_mutex_lock(&p->mu);
			}
		} else {
			if (r == STEP_ERROR)
				plog(p, ATR_LOG_ERROR, "%s", rep.message);
			failed(p, &rep, now);
		}
		pthread_cond_broadcast(&p->cond);
	}
	p->thread_done = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->mu);
	atr__spool_replay_end(p->spool);
	atr__spool_batch_release(&b);
	return NULL;
}

/* ------------------------------------------------------------ life cycle */

static void producer_release(atr_producer *p)
{
	if (p->sink)
		p->sink->free(p->sink);
	atr__spool_close(p->spool);
	pthread_mutex_destroy(&p->emit_mu);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cond);
	if (p->own_token)
		memset(p->own_token, 0, strlen(p->own_token));
	free(p->own_store);
	free(p->own_token);
	free(p->own_log_file);
	free(p->own_url);
	free(p->own_spool);
	free(p->own_key);
	free(p);
}

/* Take 'sink' and start; on failure 'sink' is released. */
static int start(atr_producer **out, const atr_producer_config *cfg, atr_sink *sink,
                 int builtin_http)
{
	atr_producer *p;
	pthread_condattr_t ca;
	atr_producer_config def;
	int rc;

	*out = NULL;
	if (!cfg) {
		atr_producer_config_init(&def);
		cfg = &def;
	}
	if (!sink)
		return atr__err(ATR_EINVALID, "no sink");
	if (sink->version < 1 || !sink->deliver || !sink->free || sink->max_events == 0 ||
	    !sink->name || !sink->destination) {
		if (sink->free)
			sink->free(sink);
		return atr__err(ATR_EINVALID,
		                "the sink is not a version 1 sink with deliver, free, "
		                "a name, a destination and max_events");
	}
	if (!(p = calloc(1, sizeof(*p)))) {
		sink->free(sink);
		return atr__err(ATR_ENOMEM, "out of memory");
	}
	p->sink = sink;
	p->builtin_http = builtin_http;
	pthread_mutex_init(&p->emit_mu, NULL);
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cond, &ca);
	pthread_condattr_destroy(&ca);
	p->cfg = *cfg;
	if ((rc = dup_str(&p->own_store, cfg->store)) < 0 ||
	    (rc = dup_str(&p->own_token, cfg->token)) < 0 ||
	    (rc = dup_str(&p->own_log_file, cfg->log_file)) < 0 ||
	    (rc = dup_str(&p->own_url, cfg->url)) < 0 ||
	    (rc = dup_str(&p->own_key, cfg->key_file)) < 0)
		goto fail;
	if (sink->flags & ATR_SINK_NETWORK) {
		if (cfg->spool_dir)
			rc = dup_str(&p->own_spool, cfg->spool_dir);
		else
			rc = default_spool(&p->own_spool);
		if (rc < 0 || (rc = atr__spool_open(&p->spool, p->own_spool, sink->name,
		                                    sink->destination)) < 0)
			goto fail;
	} else if ((rc = dup_str(&p->own_spool, cfg->spool_dir)) < 0) {
		goto fail;
	}
	p->cfg.store = p->own_store;
	p->cfg.token = p->own_token;
	p->cfg.log_file = p->own_log_file;
	p->cfg.url = p->own_url;
	p->cfg.key_file = p->own_key;
	p->cfg.spool_dir = p->own_spool;
	if (p->spool) {
		/* Known now, so that a flush right away waits for them too. */
		p->orphans_pending = atr__spool_has_orphans(p->spool);
		p->orphan_scan_at = mono() + ORPHAN_SCAN_S;
		if ((rc = pthread_create(&p->thread, NULL, delivery_main, p)) != 0) {
			rc = atr__err(ATR_ENOMEM, "cannot start the delivery thread: %s",
			              strerror(rc));
			goto fail;
		}
		p->thread_started = 1;
	}
	*out = p;
	return 0;
fail:
	producer_release(p);
	return rc;
}

int atr_producer_new_with_sink(atr_producer **out, const atr_producer_config *cfg, atr_sink *sink)
{
	return start(out, cfg, sink, 0);
}

int atr_producer_new(atr_producer **out, const atr_producer_config *cfg)
{
	atr_sink *sink = NULL;
	int rc, http = 0;

	*out = NULL;
	if (!cfg)
		return atr__err(ATR_EINVALID, "no configuration");
	switch (cfg->sink) {
	case ATR_SINK_STORE:
		if (cfg->store && is_http_url(cfg->store)) {
			rc = atr__sink_http_new(&sink, cfg->store, 0, cfg->token);
			http = 1;
		} else {
			rc = atr__sink_store_new(&sink, cfg->store);
		}
		break;
	case ATR_SINK_FILE:
		if (!cfg->log_file)
			return atr__err(ATR_EINVALID,
			                "the file sink needs a file: set AGENTRAIL_LOG_FILE");
		rc = atr__sink_file_new(&sink, cfg->log_file, cfg->key_file);
		break;
	case ATR_SINK_STDOUT:
		rc = atr__sink_stdout_new(&sink);
		break;
	case ATR_SINK_WEBHOOK:
		if (!cfg->url)
			return atr__err(ATR_EINVALID,
			                "the webhook sink needs a URL: set AGENTRAIL_URL");
		if (!is_http_url(cfg->url))
			return atr__err(ATR_EINVALID,
			                "webhook URL '%s' is not an http:// or https:// URL",
			                cfg->url);
		rc = atr__sink_http_new(&sink, cfg->url, 1, cfg->token);
		http = 1;
		break;
	default:
		return atr__err(ATR_EINVALID, "unknown sink kind %d", (int)cfg->sink);
	}
	if (rc < 0)
		return rc;
	return start(out, cfg, sink, http);
}

int atr_producer_from_env(atr_producer **out)
{
	atr_producer_config cfg;
	int rc;

	*out = NULL;
	if ((rc = atr_producer_config_from_env(&cfg)) < 0)
		return rc;
	return atr_producer_new(out, &cfg);
}

const atr_producer_config *atr_producer_config_get(const atr_producer *p)
{
	return &p->cfg;
}

const char *atr_producer_spool_dir(const atr_producer *p)
{
	return p->spool ? atr__spool_dir(p->spool) : NULL;
}

void atr_producer_free(atr_producer *p)
{
	if (!p)
		return;
	if (p->thread_started) {
		pthread_mutex_lock(&p->mu);
		p->stop = 1;
		p->deadline = mono() + FREE_WAIT_S;
		pthread_cond_broadcast(&p->cond);
		while (!p->thread_done && mono() < p->deadline)
			wait_until(p, p->deadline);
		pthread_mutex_unlock(&p->mu);
		if (p->builtin_http)
			atr__sink_http_cancel(p->sink); /* a request still in flight gives up */
		pthread_join(p->thread, NULL);
		if (atr__spool_own_pending(p->spool) > 0)
			plog(p, ATR_LOG_INFO,
			     "%llu events wait in the spool '%s' for the next producer",
			     (unsigned long long)atr__spool_own_pending(p->spool),
			     atr__spool_dir(p->spool));
	} else if (p->sink->flush && p->sink->flush(p->sink) < 0) {
		plog(p, ATR_LOG_ERROR, "%s", atr_errmsg());
	}
	producer_release(p);
}

/* ------------------------------------------------------------ emit */

static const char *skip_ws(const char *s, const char *end)
{
	while (s < end && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
		s++;
	return s;
}

/*
 * The span of the top-level member 'key' with one comma next to it, to cut
 * out of the object: 1 when found, 0 when absent, -1 when not an object.
 */
static int member_span(const char *json, size_t len, const char *key, size_t *from, size_t *to)
{
	const char *end = json + len, *p = skip_ws(json, end), *prev_comma = NULL;
	size_t klen = strlen(key);

	if (p >= end || *p != '{')
		return -1;
	p = skip_ws(p + 1, end);
	if (p < end && *p == '}')
		return 0;
	for (;;) {
		const char *k = p, *v_end;
		int match;

		if (p >= end || *p != '"' || !(p = atr__json_skip(p, end)))
			return -1;
		match = (size_t)(p - k - 2) == klen && memcmp(k + 1, key, klen) == 0;
		p = skip_ws(p, end);
		if (p >= end || *p != ':')
			return -1;
		p = skip_ws(p + 1, end);
		if (!(p = atr__json_skip(p, end)))
			return -1;
		v_end = p;
		p = skip_ws(p, end);
		if (p >= end || (*p != ',' && *p != '}'))
			return -1;
		if (match) {
			if (*p == ',') {
				*from = (size_t)(k - json);
				*to = (size_t)(p + 1 - json);
			} else {
				*from = (size_t)((prev_comma ? prev_comma : k) - json);
				*to = (size_t)(v_end - json);
			}
			return 1;
		}
		if (*p == '}')
			return 0;
		prev_comma = p;
		p = skip_ws(p + 1, end);
	}
}

/*
 * The line to hand on: the event with event_id and ts added when absent,
 * 'usage' cut out when token usage is not recorded, on one line. '*out' is
 * malloc'd.
 */
static int make_line(atr_producer *p, const char *json, size_t len, const struct atr__event *ev,
                     int64_t now, char **out, size_t *out_len)
{
	const char *v;
	size_t vl, cut_from = 0, cut_to = 0, w, open, body;
	char add[128], ts[28];
	size_t add_len = 0;
	char *line;

	if (!ev->id_given)
		add_len += (size_t)snprintf(add + add_len, sizeof(add) - add_len,
		                            "\"event_id\":\"%s\",", ev->id_text);
	/*
	 * A time too, so that a late delivery keeps when it happened — but
	 * only with an id of ours: a caller who chose the id may send the
	 * event again, and a different ts would make that a conflict.
	 */
	if (!ev->id_given && atr__json_member(json, len, "ts", &v, &vl) != 0) {
		atr_time_format(now, ts);
		add_len +=
		    (size_t)snprintf(add + add_len, sizeof(add) - add_len, "\"ts\":\"%s\",", ts);
	}
	if (!p->cfg.log_tokens && member_span(json, len, "usage", &cut_from, &cut_to) < 0)
		return atr__err(ATR_EINVALID, "the event is not a JSON object");
	open = (size_t)(skip_ws(json, json + len) - json) + 1; /* after '{' (validated) */
	if (!(line = malloc(len + add_len + 1)))
		return atr__err(ATR_ENOMEM, "out of memory");
	/* '{', room for what is added, then the members (less the cut) on one line. */
	memcpy(line, json, open);
	body = w = open + add_len;
	for (size_t i = open; i < len; i++) {
		if (i >= cut_from && i < cut_to)
			continue;
		line[w++] = json[i] == '\n' || json[i] == '\r' ? ' ' : json[i];
	}
	line[w] = '\0';
	if (add_len) {
		/* No members left after what is added: no comma may dangle. */
		if (*skip_ws(line + body, line + w) == '}') {
			add_len--;
			memmove(line + open + add_len, line + body, w - body);
			w--;
		}
		memcpy(line + open, add, add_len);
	}
	line[w] = '\0';
	*out = line;
	*out_len = w;
	return 0;
}

/*
 * Validate one event and make the line handed on ('*line' malloc'd): 0, 1
 * when the AGENTRAIL_LOG_* filters drop it ('*line' NULL), or a status.
 */
static int prepare_line(atr_producer *p, const char *json, size_t len, int64_t now,
                        atr_emit_info *info, char **line, size_t *line_len)
{
	struct atr__event ev, check;
	int rc;

	*line = NULL;
	memset(info, 0, sizeof(*info));
	if (!json)
		return atr__err(ATR_EINVALID, "empty input: an event is a JSON object");
	if ((rc = atr__event_prepare(&ev, json, len, now)) < 0)
		return rc;
	memcpy(info->event_id, ev.id_text, sizeof(info->event_id));
	if ((!p->cfg.log_file_reads && ev.type && !strcmp(ev.type, "file_read")) ||
	    (!p->cfg.log_commands && ev.type && !strcmp(ev.type, "command"))) {
		atr__event_release(&ev);
		info->filtered = 1;
		pthread_mutex_lock(&p->mu);
		p->st.filtered++;
		pthread_mutex_unlock(&p->mu);
		return 1;
	}
	rc = make_line(p, json, len, &ev, now, line, line_len);
	atr__event_release(&ev);
	if (rc < 0)
		return rc;
	/* What is handed on must be an event too, with the same id (a key spelled oddly, …). */
	if ((rc = atr__event_prepare(&check, *line, *line_len, now)) == 0) {
		if (strcmp(check.id_text, info->event_id) != 0)
			rc = atr__err(ATR_EINVALID, "the event's id cannot be kept");
		atr__event_release(&check);
	}
	if (rc < 0) {
		free(*line);
		*line = NULL;
	}
	return rc;
}

/* Hand 'n' prepared lines to the spool or the local sink; 'infos' (n) filled on the way. */
static int hand_on(atr_producer *p, const char *const *lines, size_t *lens, size_t n,
                   atr_emit_info *infos)
{
	size_t done = 0;
	int rc = 0;

	if (p->spool) {
		for (; done < n && rc == 0; done++)
			rc = atr__spool_append(p->spool, lines[done], lens[done]);
		if (rc < 0)
			done--;
		pthread_mutex_lock(&p->mu);
		p->st.emitted += done;
		p->wake++;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->mu);
		return rc;
	}
	pthread_mutex_lock(&p->emit_mu);
	while (done < n) {
		size_t k = n - done < p->sink->max_events ? n - done : p->sink->max_events;
		atr_sink_report rep;
		atr_sink_result r;

		memset(&rep, 0, sizeof(rep));
		r = p->sink->deliver(p->sink, lines + done, lens + done, k, &rep);
		if (r != ATR_SINK_OK) {
			rc = atr__err(rep.code < 0 ? rep.code : ATR_EBACKEND, "%s",
			              rep.message[0] ? rep.message : "the sink failed");
			break;
		}
		if (k == 1 && infos) {
			infos[done].has_seq = rep.has_seq;
			infos[done].seq = rep.seq;
			infos[done].duplicate = rep.duplicate;
		}
		pthread_mutex_lock(&p->mu);
		p->st.emitted += k;
		p->st.delivered += k;
		pthread_mutex_unlock(&p->mu);
		done += k;
	}
	pthread_mutex_unlock(&p->emit_mu);
	return rc;
}

int atr_producer_emit(atr_producer *p, const char *json, size_t len)
{
	return atr_producer_emit_ex(p, json, len, NULL);
}

int atr_producer_emit_ex(atr_producer *p, const char *json, size_t len, atr_emit_info *info)
{
	atr_emit_info dummy;
	const char *l;
	char *line;
	size_t line_len;
	int rc;

	if (!info)
		info = &dummy;
	rc = prepare_line(p, json, len, atr__now_us(), info, &line, &line_len);
	if (rc != 0)
		return rc > 0 ? 0 : rc;
	l = line;
	rc = hand_on(p, &l, &line_len, 1, info);
	free(line);
	return rc;
}

int atr_producer_emit_batch(atr_producer *p, const char *const *jsons, const size_t *lens, size_t n,
                            atr_emit_info *infos)
{
	char **lines = calloc(n ? n : 1, sizeof(*lines));
	size_t *line_lens = calloc(n ? n : 1, sizeof(*line_lens)), k = 0;
	int64_t now = atr__now_us();
	int rc = 0;

	if (!lines || !line_lens) {
		rc = atr__err(ATR_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		atr_emit_info one;
		char *line;
		size_t ll;

		rc = prepare_line(p, jsons[i], lens ? lens[i] : (jsons[i] ? strlen(jsons[i]) : 0),
		                  now, infos ? &infos[i] : &one, &line, &ll);
		if (rc < 0) {
			rc = atr__err_prefix(rc, "event %zu", i);
			goto out;
		}
		if (rc == 0) {
			lines[k] = line;
			line_lens[k++] = ll;
		}
	}
	rc = hand_on(p, (const char *const *)lines, line_lens, k, NULL);
out:
	for (size_t i = 0; lines && i < k; i++)
		free(lines[i]);
	free(lines);
	free(line_lens);
	return rc;
}

/* ------------------------------------------------------------ flush, stats */

int atr_producer_flush(atr_producer *p, int timeout_ms)
{
	double deadline = timeout_ms < 0 ? INFINITY : mono() + timeout_ms / 1000.0;
	int rc = 0;

	if (!p->spool) {
		pthread_mutex_lock(&p->emit_mu);
		rc = p->sink->flush ? p->sink->flush(p->sink) : 0;
		pthread_mutex_unlock(&p->emit_mu);
		return rc;
	}
	if ((rc = atr__spool_sync(p->spool)) < 0)
		return rc;
	pthread_mutex_lock(&p->mu);
	p->wake++;
	pthread_cond_broadcast(&p->cond);
	for (;;) {
		uint64_t left = atr__spool_own_pending(p->spool);
		double now = mono();

		if (left == 0 && !p->orphans_pending)
			break;
		/* No attempt will be made before the deadline: say so now. */
		if (p->thread_done || now >= deadline ||
		    (p->failing && p->backoff_until >= deadline)) {
			rc = atr__err(ATR_EBUSY, "%llu events%s wait in the spool '%s'%s",
			              (unsigned long long)left,
			              p->orphans_pending ? " (and earlier producers' events)" : "",
			              atr__spool_dir(p->spool),
			              p->failing ? " (the far end is failing)" : "");
			break;
		}
		wait_until(p, deadline < now + 0.5 ? deadline : now + 0.5);
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

void atr_producer_stats_get(atr_producer *p, atr_producer_stats *out)
{
	pthread_mutex_lock(&p->mu);
	*out = p->st;
	pthread_mutex_unlock(&p->mu);
	out->spooled = p->spool ? atr__spool_own_pending(p->spool) : 0;
}
