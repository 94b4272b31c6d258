/*
 * The checkpoint signer of `agentrail serve`: a thread with its own
 * read-write log handle that signs the durable tree (C2SP tlog-checkpoint,
 * atr_log_checkpoint_sign) when it has grown by --checkpoint-every events
 * or --checkpoint-interval seconds have passed, once more after the ingest
 * drained at shutdown, and hands every new checkpoint to the witnesses:
 * files in --witness directories (written atomically) and --witness-url
 * receivers (witness.c). Ingest never waits for it; SQLite's lock orders
 * its small checkpoint write with the group commits.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <agentrail/checkpoint.h>

#include "server/server.h"

struct srv_signer {
	char *uri;
	atr_log *log; /* this thread's own read-write handle */
	atr_signer *key;
	uint64_t every;
	unsigned interval;
	char *dirs[SRV_MAX_WITNESSES];
	unsigned ndirs;
	struct srv_witness *urls[SRV_MAX_WITNESSES];
	unsigned nurls;
	int curl_ready;

	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	int stop;

	/* The thread's state. */
	int have_last;
	atr_checkpoint last; /* the newest checkpoint handed to the witnesses */
	double last_sign;    /* monotonic seconds of the last successful signing */
	double retry_at;     /* after a failure: no attempt before this */
	double backoff;

	/* For /metrics (atomics). */
	uint64_t m_size, m_total, m_refused, m_errors, m_dir_writes, m_dir_failures;
};

/* ------------------------------------------------------------ paths */

/*
 * The directory of a file store's database (resolved), for the rule that
 * keys and witness copies live elsewhere. 1 when the store is not a file.
 */
static int store_dir(const char *uri, char out[PATH_MAX])
{
	const char *path = uri;
	char buf[PATH_MAX], *slash;

	if (strncmp(uri, "sqlite:", 7) == 0)
		path = uri + 7;
	else if (strncmp(uri, "file:", 5) == 0)
		path = uri + 5;
	else if (strstr(uri, "://"))
		return 1;
	if (!realpath(path, buf))
		return 1;
	slash = strrchr(buf, '/');
	if (!slash)
		return 1;
	if (slash == buf)
		slash[1] = '\0';
	else
		*slash = '\0';
	snprintf(out, PATH_MAX, "%s", buf);
	return 0;
}

/* Is the resolved directory 'dir' the store's directory 'sdir' or under it? */
static int under(const char *dir, const char *sdir)
{
	size_t n = strlen(sdir);

	if (strcmp(sdir, "/") == 0)
		return 1;
	return strncmp(dir, sdir, n) == 0 && (dir[n] == '\0' || dir[n] == '/');
}

/* Read the signer key; warn when others may read it, refuse it inside the store's directory. */
static int load_key(struct srv_signer *sg, const char *path, const char *sdir)
{
	char real[PATH_MAX], *slash, *text = NULL;
	struct stat st;
	int rc;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "agentrail: cannot read the signer key '%s': %s\n", path,
		        strerror(errno));
		return -1;
	}
	if (sdir && realpath(path, real) && (slash = strrchr(real, '/'))) {
		*slash = '\0';
		if (under(*real ? real : "/", sdir)) {
			fprintf(
			    stderr,
			    "agentrail: the signer key '%s' is inside the store's directory '%s'; "
			    "keep it elsewhere (whoever can change the store must not be able to "
			    "read the key)\n",
			    path, sdir);
			return -1;
		}
	}
	if (st.st_mode & 077)
		fprintf(
		    stderr,
		    "agentrail serve: warning: the signer key '%s' may be read by group or others "
		    "(mode %04o); chmod 600 it\n",
		    path, (unsigned)(st.st_mode & 07777));
	rc = atr_key_file_read(path, &text);
	if (rc == 0)
		rc = atr_signer_new(&sg->key, text);
	if (text)
		memset(text, 0, strlen(text));
	atr_free(text);
	if (rc != 0) {
		fprintf(stderr, "agentrail: signer key '%s': %s\n", path, atr_errmsg());
		return -1;
	}
	return 0;
}

/* Remove temporary files an earlier run killed mid-write left (".checkpoint.….tmp",
 * ".latest.….tmp"). */
static void remove_stale(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);

		if ((strncmp(e->d_name, ".checkpoint.", 12) == 0 ||
		     strncmp(e->d_name, ".latest.", 8) == 0) &&
		    n > 4 && strcmp(e->d_name + n - 4, ".tmp") == 0)
			unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
}

/* A witness directory: created if missing (one level), writable, outside the store's directory. */
static int add_dir(struct srv_signer *sg, const char *dir, const char *sdir)
{
	char real[PATH_MAX];
	struct stat st;

	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "agentrail: cannot create the witness directory '%s': %s\n", dir,
		        strerror(errno));
		return -1;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || !realpath(dir, real)) {
		fprintf(stderr, "agentrail: the witness directory '%s' is not a directory\n", dir);
		return -1;
	}
	if (access(real, W_OK) != 0) {
		fprintf(stderr, "agentrail: cannot write to the witness directory '%s': %s\n", dir,
		        strerror(errno));
		return -1;
	}
	if (sdir && under(real, sdir)) {
		fprintf(
		    stderr,
		    "agentrail: the witness directory '%s' is inside the store's directory '%s'; "
		    "a witness copy must live where the store's owner cannot rewrite it with "
		    "the store\n",
		    dir, sdir);
		return -1;
	}
	remove_stale(real);
	if (!(sg->dirs[sg->ndirs] = strdup(real))) {
		fprintf(stderr, "agentrail: out of memory\n");
		return -1;
	}
	sg->ndirs++;
	return 0;
}

/* ------------------------------------------------- witness directories */

/* Write 'name' in 'dfd' atomically: a temporary file, fsync, rename, fsync the directory. */
static int write_atomic(int dfd, const char *name, const char *data, size_t len)
{
	char tmp[96];
	size_t off = 0;
	int fd, ok;

	snprintf(tmp, sizeof(tmp), ".%s.%ld.tmp", name, (long)getpid());
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	ok = off == len && fsync(fd) == 0;
	if (close(fd) != 0)
		ok = 0;
	if (!ok || renameat(dfd, tmp, dfd, name) != 0) {
		int e = errno;

		unlinkat(dfd, tmp, 0);
		errno = e;
		return -1;
	}
	return fsync(dfd);
}

/*
 * Does 'dir'/'name' exist with other contents? 0 no (absent or the same
 * bytes), 1 yes, with the other's root in 'other' when it parses.
 */
static int differs(int dfd, const char *name, const char *note, size_t len, atr_checkpoint *other,
                   int *parsed)
{
	char buf[8192];
	ssize_t n;
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);

	*parsed = 0;
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n == (ssize_t)len && memcmp(buf, note, len) == 0)
		return 0;
	if (n > 0 && atr_checkpoint_parse(buf, (size_t)n, other) == 0)
		*parsed = 1;
	return 1;
}

/*
 * Keep 'note' in a witness directory as checkpoint.<20-digit size>.note (so
 * names sort by size) and as 'latest'. A different checkpoint of the same
 * size already there is never overwritten: when its root differs (a fork)
 * the new one goes beside it, named with its root, and the two are reported.
 */
static int write_witness(const char *dir, const char *note, size_t len, const atr_checkpoint *cp)
{
	char name[96], hex[65], ohex[65];
	atr_checkpoint other;
	int dfd, parsed, rc = -1;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		goto fail;
	snprintf(name, sizeof(name), "checkpoint.%020llu.note", (unsigned long long)cp->size);
	if (differs(dfd, name, note, len, &other, &parsed) &&
	    !(parsed && other.size == cp->size && memcmp(other.root.b, cp->root.b, 32) == 0)) {
		atr_hash_hex(&cp->root, hex);
		if (parsed)
			atr_hash_hex(&other.root, ohex);
		else
			snprintf(ohex, sizeof(ohex), "(unreadable)");
		fprintf(
		    stderr,
		    "agentrail serve: WITNESS CONFLICT in '%s': '%s' holds root %s at size %llu "
		    "but the log's checkpoint says %s; keeping both\n",
		    dir, name, ohex, (unsigned long long)cp->size, hex);
		snprintf(name, sizeof(name), "checkpoint.%020llu.%.16s.note",
		         (unsigned long long)cp->size, hex);
	}
	if (write_atomic(dfd, name, note, len) != 0 || write_atomic(dfd, "latest", note, len) != 0)
		goto fail;
	rc = 0;
fail:
	if (rc != 0)
		fprintf(stderr,
		        "agentrail serve: cannot write checkpoint %llu to witness directory "
		        "'%s': %s\n",
		        (unsigned long long)cp->size, dir, strerror(errno));
	if (dfd >= 0)
		close(dfd);
	return rc;
}

/* ---------------------------------------------------------- signing */

static void deliver(struct srv_signer *sg, const char *note, const atr_checkpoint *cp)
{
	size_t len = strlen(note);

	for (unsigned i = 0; i < sg->ndirs; i++) {
		if (write_witness(sg->dirs[i], note, len, cp) == 0)
			__atomic_fetch_add(&sg->m_dir_writes, 1, __ATOMIC_RELAXED);
		else
			__atomic_fetch_add(&sg->m_dir_failures, 1, __ATOMIC_RELAXED);
	}
	for (unsigned i = 0; i < sg->nurls; i++)
		srv_witness_push(sg->urls[i], note, len, cp->size);
}

/*
 * Sign the durable tree (or confirm the newest stored checkpoint when the
 * tree has not grown) and hand it to the witnesses if it is new to them.
 * A refusal (the log no longer extends its last checkpoint) stops signing
 * for the rest of the run; other failures are retried with back-off.
 */
static void sign_once(struct srv_signer *sg, double now)
{
	atr_checkpoint cp;
	char *note = NULL;
	int rc = atr_log_checkpoint_sign(sg->log, sg->key, &note, &cp);

	if (rc == ATR_ETAMPER) {
		__atomic_store_n(&sg->m_refused, 1, __ATOMIC_RELAXED);
		fprintf(
		    stderr,
		    "agentrail serve: REFUSING TO SIGN CHECKPOINTS: %s\n"
		    "agentrail serve: the log no longer extends the checkpoint it signed last: it "
		    "was changed or replaced under the server. Ingest goes on, but no checkpoint "
		    "will be signed until this is investigated ('agentrail verify') and the server "
		    "restarted.\n",
		    atr_errmsg());
		return;
	}
	if (rc != 0) {
		__atomic_fetch_add(&sg->m_errors, 1, __ATOMIC_RELAXED);
		sg->backoff = sg->backoff < 1 ? 1 : sg->backoff * 2 > 60 ? 60 : sg->backoff * 2;
		sg->retry_at = now + sg->backoff;
		fprintf(stderr,
		        "agentrail serve: cannot sign a checkpoint: %s (retrying in %.0f s)\n",
		        atr_errmsg(), sg->backoff);
		return;
	}
	sg->backoff = 0;
	sg->last_sign = now;
	if (!sg->have_last || cp.size != sg->last.size ||
	    memcmp(cp.root.b, sg->last.root.b, 32) != 0) {
		sg->last = cp;
		sg->have_last = 1;
		__atomic_store_n(&sg->m_size, cp.size, __ATOMIC_RELAXED);
		__atomic_fetch_add(&sg->m_total, 1, __ATOMIC_RELAXED);
		deliver(sg, note, &cp);
	}
	atr_free(note);
}

/* Is a signature due now for a log of 'size' records? */
static int due(struct srv_signer *sg, uint64_t size, double now)
{
	uint64_t signed_size = sg->have_last ? sg->last.size : 0;

	if (now < sg->retry_at)
		return 0;
	if (size > signed_size) {
		if (sg->every && size - signed_size >= sg->every)
			return 1;
		return !sg->have_last || now - sg->last_sign >= (double)sg->interval;
	}
	/* Idle: re-check hourly that the log still extends its newest checkpoint. */
	return sg->have_last && now - sg->last_sign >= (double)SRV_IDLE_RECHECK_S;
}

static void *signer_run(void *arg)
{
	struct srv_signer *sg = arg;

	pthread_mutex_lock(&sg->mu);
	while (!sg->stop) {
		struct timespec ts;
		uint64_t size;
		double now;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += SRV_SIGNER_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&sg->cond, &sg->mu, &ts);
		if (sg->stop)
			break;
		pthread_mutex_unlock(&sg->mu);
		now = util_now_mono();
		if (!__atomic_load_n(&sg->m_refused, __ATOMIC_RELAXED) &&
		    atr_log_size(sg->log, &size) == 0 && size > 0 && due(sg, size, now))
			sign_once(sg, now);
		pthread_mutex_lock(&sg->mu);
	}
	pthread_mutex_unlock(&sg->mu);
	return NULL;
}

/* ------------------------------------------------------- start, stop */

static void signer_free(struct srv_signer *sg)
{
	for (unsigned i = 0; i < sg->nurls; i++)
		srv_witness_stop(sg->urls[i], 0);
	for (unsigned i = 0; i < sg->ndirs; i++)
		free(sg->dirs[i]);
	if (sg->curl_ready)
		srv_witness_global_cleanup();
	atr_signer_free(sg->key);
	atr_log_free(sg->log);
	free(sg->uri);
	free(sg);
}

int srv_signer_start(struct srv_signer **out, const struct srv_config *cfg, const char *uri)
{
	struct srv_signer *sg;
	char sdir[PATH_MAX];
	const char *sd;
	pthread_condattr_t ca;

	*out = NULL;
	if (!cfg->key)
		return 0;
	sg = calloc(1, sizeof(*sg));
	if (!sg || !(sg->uri = strdup(uri))) {
		free(sg);
		fprintf(stderr, "agentrail: out of memory\n");
		return -1;
	}
	sg->every = cfg->checkpoint_every;
	sg->interval = cfg->checkpoint_interval;
	sd = store_dir(uri, sdir) == 0 ? sdir : NULL;
	if (load_key(sg, cfg->key, sd) != 0)
		goto fail;
	for (unsigned i = 0; i < cfg->nwitness_dirs; i++)
		if (add_dir(sg, cfg->witness_dirs[i], sd) != 0)
			goto fail;
	if (atr_log_open(&sg->log, uri, ATR_OPEN_NOCREATE) != 0) {
		fprintf(stderr, "agentrail: cannot open store '%s' for signing: %s\n", uri,
		        atr_errmsg());
		goto fail;
	}
	if (cfg->nwitness_urls) {
		if (srv_witness_global_init() != 0) {
			fprintf(stderr, "agentrail: cannot initialize libcurl\n");
			goto fail;
		}
		sg->curl_ready = 1;
	}
	for (unsigned i = 0; i < cfg->nwitness_urls; i++) {
		if (srv_witness_start(&sg->urls[i], cfg->witness_urls[i], i) != 0)
			goto fail;
		sg->nurls++;
	}
	pthread_mutex_init(&sg->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sg->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&sg->thread, NULL, signer_run, sg) != 0) {
		fprintf(stderr, "agentrail: cannot start the checkpoint signer\n");
		pthread_cond_destroy(&sg->cond);
		pthread_mutex_destroy(&sg->mu);
		goto fail;
	}
	sg->started = 1;
	*out = sg;
	return 0;
fail:
	signer_free(sg);
	return -1;
}

void srv_signer_announce(const struct srv_signer *sg, const struct srv_config *cfg)
{
	if (!sg) {
		printf(
		    "checkpoints: NOT SIGNED (no --key): nothing outside this machine vouches for "
		    "the log; restart with --key FILE (agentrail keygen)\n");
		return;
	}
	printf("checkpoints: signed as '%s' when the log grows (every %u s",
	       atr_signer_name(sg->key), sg->interval);
	if (sg->every)
		printf(" or %llu events", (unsigned long long)sg->every);
	printf(") and at shutdown");
	for (unsigned i = 0; i < sg->ndirs; i++)
		printf("; witness directory '%s'", sg->dirs[i]);
	for (unsigned i = 0; i < sg->nurls; i++)
		printf("; witness URL '%s'", srv_witness_name(sg->urls[i]));
	printf("\n");
}

void srv_signer_stop(struct srv_signer *sg, int final)
{
	uint64_t size;

	if (!sg)
		return;
	if (sg->started) {
		pthread_mutex_lock(&sg->mu);
		sg->stop = 1;
		pthread_cond_signal(&sg->cond);
		pthread_mutex_unlock(&sg->mu);
		pthread_join(sg->thread, NULL);
		pthread_cond_destroy(&sg->cond);
		pthread_mutex_destroy(&sg->mu);
		sg->started = 0;
	}
	/* The final checkpoint: the ingest has drained, so it covers every acknowledged event. */
	if (!final) {
		/* The server did not run: nothing to conclude. */
	} else if (__atomic_load_n(&sg->m_refused, __ATOMIC_RELAXED)) {
		fprintf(stderr, "agentrail serve: no final checkpoint: signing was refused\n");
	} else if (atr_log_size(sg->log, &size) != 0) {
		fprintf(stderr, "agentrail serve: no final checkpoint: %s\n", atr_errmsg());
	} else if (size > 0) {
		sg->retry_at = 0;
		sign_once(sg, util_now_mono());
		if (sg->have_last && sg->last.size == size)
			fprintf(stderr, "agentrail serve: final checkpoint: size %llu\n",
			        (unsigned long long)size);
		else
			fprintf(stderr, "agentrail serve: no final checkpoint of size %llu\n",
			        (unsigned long long)size);
	}
	for (unsigned i = 0; i < sg->nurls; i++) {
		srv_witness_stop(sg->urls[i], final ? SRV_WITNESS_SHUTDOWN_S : 0);
		sg->urls[i] = NULL;
	}
	sg->nurls = 0;
	signer_free(sg);
}

int srv_signer_metrics(struct srv_signer *sg, struct util_buf *b)
{
	if (srv_bufprintf(b,
	                  "# HELP agentrail_checkpoint_signing 1 when the server signs checkpoints "
	                  "(--key).\n# TYPE agentrail_checkpoint_signing gauge\n"
	                  "agentrail_checkpoint_signing %d\n",
	                  sg != NULL))
		return -1;
	if (!sg)
		return 0;
	if (srv_bufprintf(
	        b,
	        "# HELP agentrail_checkpoint_size Tree size of the newest checkpoint signed or "
	        "confirmed.\n# TYPE agentrail_checkpoint_size gauge\nagentrail_checkpoint_size "
	        "%llu\n"
	        "# HELP agentrail_checkpoints_total Checkpoints signed (or confirmed at start) and "
	        "handed to the witnesses.\n# TYPE agentrail_checkpoints_total counter\n"
	        "agentrail_checkpoints_total %llu\n"
	        "# HELP agentrail_checkpoint_signing_refused 1 once signing was refused: the log "
	        "no "
	        "longer extends its last checkpoint.\n"
	        "# TYPE agentrail_checkpoint_signing_refused gauge\n"
	        "agentrail_checkpoint_signing_refused %llu\n"
	        "# HELP agentrail_checkpoint_errors_total Signing attempts that failed (retried).\n"
	        "# TYPE agentrail_checkpoint_errors_total counter\n"
	        "agentrail_checkpoint_errors_total %llu\n"
	        "# HELP agentrail_witness_dir_writes_total Checkpoints written to witness "
	        "directories.\n# TYPE agentrail_witness_dir_writes_total counter\n"
	        "agentrail_witness_dir_writes_total %llu\n"
	        "# HELP agentrail_witness_dir_failures_total Witness directory writes that "
	        "failed.\n"
	        "# TYPE agentrail_witness_dir_failures_total counter\n"
	        "agentrail_witness_dir_failures_total %llu\n",
	        (unsigned long long)__atomic_load_n(&sg->m_size, __ATOMIC_RELAXED),
	        (unsigned long long)__atomic_load_n(&sg->m_total, __ATOMIC_RELAXED),
	        (unsigned long long)__atomic_load_n(&sg->m_refused, __ATOMIC_RELAXED),
	        (unsigned long long)__atomic_load_n(&sg->m_errors, __ATOMIC_RELAXED),
	        (unsigned long long)__atomic_load_n(&sg->m_dir_writes, __ATOMIC_RELAXED),
	        (unsigned long long)__atomic_load_n(&sg->m_dir_failures, __ATOMIC_RELAXED)))
		return -1;
	return srv_witness_metrics(sg->urls, sg->nurls, b);
}
