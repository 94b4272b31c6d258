/*
 * The reporter (serve --reports-dir DIR): a thread that writes the daily
 * report after midnight UTC and the weekly one after Monday's midnight, each
 * as HTML, Markdown and JSON files in DIR (written atomically), then appends
 * one x_report event naming every file with its SHA-256, so the log, not the
 * directory, says which reports exist and what they hold (route_reports.c
 * serves them from that). It has its own read-only log handle and appends
 * through the group commit like any producer: ingest never waits for it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/sha.h>

#include <agentrail/query.h>
#include <agentrail/record.h>
#include <agentrail/report.h>

#include "server/server.h"

#define DAY_US   ((int64_t)86400 * 1000000)
#define RETRY_US ((int64_t)60 * 1000000) /* after a failure, try again in a minute */

struct srv_reporter {
	struct srv *srv;
	const char *dir;
	int64_t delay_us;
	int64_t offset_us; /* AGENTRAIL_REPORT_CLOCK minus the real clock at start; 0 normally */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	int stop;
	uint64_t written; /* reports written, for the start line and tests */
};

static const char *const formats[] = {"html", "md", "json"};

static int64_t real_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* "day-2026-11-22.html", "week-2026-W47.json": the stem, a dot, a known format. */
int srv_report_name_valid(const char *name)
{
	size_t n = strlen(name), stem;
	const char *dot = strrchr(name, '.');
	int ok = 0;

	if (!dot || n > 40)
		return 0;
	stem = (size_t)(dot - name);
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (strcmp(dot + 1, formats[i]) == 0)
			ok = 1;
	if (!ok)
		return 0;
	/* day-YYYY-MM-DD or week-YYYY-Www: digits where digits go, nothing else. */
	if (stem == 14 && strncmp(name, "day-", 4) == 0)
		return strspn(name + 4, "0123456789") == 4 && name[8] == '-' &&
		       strspn(name + 9, "0123456789") == 2 && name[11] == '-' &&
		       strspn(name + 12, "0123456789") == 2;
	if (stem == 13 && strncmp(name, "week-", 5) == 0)
		return strspn(name + 5, "0123456789") == 4 && name[9] == '-' && name[10] == 'W' &&
		       strspn(name + 11, "0123456789") == 2;
	return 0;
}

/*
 * The label of the period starting at 'start_us' ("2026-11-22", or the ISO
 * week "2026-W47": the week belongs to the year of its Thursday) and its
 * first day.
 */
static int period_label(atr_report_period p, int64_t start_us, char label[16], char date[11])
{
	char text[28], jan1[32];
	int64_t thu, y0;

	atr_time_format(start_us, text);
	snprintf(date, 11, "%.10s", text);
	if (p == ATR_REPORT_DAY) {
		snprintf(label, 16, "%s", date);
		return 0;
	}
	thu = start_us + 3 * DAY_US;
	atr_time_format(thu, text);
	snprintf(jan1, sizeof(jan1), "%.4s-01-01T00:00:00Z", text);
	if (atr_time_parse(jan1, &y0) != 0)
		return -1;
	snprintf(label, 16, "%.4s-W%02d", text, (int)((thu - y0) / (7 * DAY_US)) + 1);
	return 0;
}

/*
 * 1 when the log holds the x_report event of 'stem' ("day-2026-11-22"),
 * 0 when not, negative on a read error. Only the reporter's own actor
 * counts: another producer's x_report events are not ours.
 */
int srv_report_logged(atr_log *log, const char *stem)
{
	atr_query q = {0};
	atr_cursor *cur = NULL;
	const atr_record *rec;
	const char *t, *a;
	int rc, found = 0;

	q.type = SRV_REPORT_TYPE;
	q.target_prefix = stem;
	if ((rc = atr_log_query(log, &q, &cur)) != 0)
		return rc;
	while (!found && (rc = atr_cursor_next(cur, &rec)) == 1) {
		t = atr_record_str(rec, "target");
		a = atr_record_str(rec, "actor");
		found = t && a && strcmp(t, stem) == 0 && strcmp(a, SRV_REPORT_ACTOR) == 0;
	}
	atr_cursor_free(cur);
	return rc < 0 ? rc : found;
}

/* ------------------------------------------------------------ files */

/* Write 'text' to DIR/NAME atomically: DIR/.NAME.tmp, fsync, rename (the caller fsyncs DIR). */
static int write_atomic(int dirfd, const char *dir, const char *name, const char *text, size_t n,
                        char *msg, size_t size)
{
	char tmp[64];
	size_t off = 0;
	int fd;

	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	if ((fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644)) <
	    0) {
		snprintf(msg, size, "cannot create '%s/%s': %s", dir, tmp, strerror(errno));
		return -1;
	}
	while (off < n) {
		ssize_t w = write(fd, text + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(msg, size, "cannot write '%s/%s': %s", dir, tmp,
			         strerror(w < 0 ? errno : EIO));
			close(fd);
			unlinkat(dirfd, tmp, 0);
			return -1;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		snprintf(msg, size, "cannot write '%s/%s': %s", dir, tmp, strerror(errno));
		unlinkat(dirfd, tmp, 0);
		return -1;
	}
	if (renameat(dirfd, tmp, dirfd, name) != 0) {
		snprintf(msg, size, "cannot rename '%s/%s' to '%s': %s", dir, tmp, name,
		         strerror(errno));
		unlinkat(dirfd, tmp, 0);
		return -1;
	}
	return 0;
}

void srv_report_sha256(const char *data, size_t len, char hex[65])
{
	unsigned char h[SHA256_DIGEST_LENGTH];
	atr_hash ah;

	SHA256((const unsigned char *)data, len, h);
	memcpy(ah.b, h, sizeof(ah.b));
	atr_hash_hex(&ah, hex);
}

/* ------------------------------------------------------------ one report */

/* What the checked append needs: the event, built once the files are durable. */
struct pending {
	const char *stem;
	char *event;
	int already; /* the event was found under the lock: nothing appended */
};

/* Under the server's append mutex: append only if no x_report of this stem exists yet. */
static int build_event(struct srv_req *req, atr_log *log, void *ctx, char **event)
{
	struct pending *p = ctx;
	int rc = srv_report_logged(log, p->stem);

	(void)req;
	*event = NULL;
	if (rc < 0)
		return rc;
	if (rc == 1) {
		p->already = 1;
		return 0;
	}
	*event = p->event;
	p->event = NULL; /* srv_checked_submit frees it */
	return 0;
}

/* The event's detail.checkpoint: {size, root} of the report's checkpoint, or null. */
static json_t *checkpoint_of(const char *report_json)
{
	json_t *doc = json_loads(report_json, 0, NULL), *cp, *out;

	cp = json_object_get(doc, "checkpoint");
	if (!json_is_object(cp)) {
		json_decref(doc);
		return json_null();
	}
	out = json_pack("{s:O, s:O}", "size", json_object_get(cp, "size"), "root",
	                json_object_get(cp, "root_hash"));
	json_decref(doc);
	return out ? out : json_null();
}

/*
 * Write the report of kind 'p' whose period starts at 'start_us', unless
 * the log already has it. 0 (written or already there), -1 with 'msg'.
 */
static int write_report(struct srv_reporter *r, atr_log *log, atr_report_period p, int64_t start_us,
                        int64_t now_us, char *msg, size_t size)
{
	const char *kind = p == ATR_REPORT_DAY ? "day" : "week";
	char label[16], date[11], stem[24], name[32], hex[65], reason[80];
	char *text[3] = {NULL, NULL, NULL};
	atr_report_opts opts = {0};
	atr_report *rep = NULL;
	json_t *files = NULL, *ev = NULL;
	struct pending pend = {0};
	struct srv_req fake;
	atr_append_result res;
	int64_t s, e;
	int dirfd = -1, rc = -1, have;

	if (period_label(p, start_us, label, date) != 0) {
		snprintf(msg, size, "cannot name the %s starting %lld", kind, (long long)start_us);
		return -1;
	}
	snprintf(stem, sizeof(stem), "%s-%s", kind, label);
	if ((have = srv_report_logged(log, stem)) != 0) {
		if (have < 0)
			snprintf(msg, size, "cannot read the log: %s", atr_errmsg());
		return have < 0 ? -1 : 0;
	}
	opts.period = p;
	opts.date = date;
	opts.now_us = now_us;
	if (atr_report_build(log, &opts, &rep) != 0 || atr_report_html(rep, &text[0]) != 0 ||
	    atr_report_markdown(rep, &text[1]) != 0 || atr_report_json(rep, &text[2]) != 0) {
		snprintf(msg, size, "cannot build the %s report %s: %s", kind, label, atr_errmsg());
		goto out;
	}
	atr_report_bounds(rep, &s, &e);
	if ((dirfd = open(r->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		snprintf(msg, size, "cannot open the reports directory '%s': %s", r->dir,
		         strerror(errno));
		goto out;
	}
	if (!(files = json_array()))
		goto oom;
	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(text[i]);

		snprintf(name, sizeof(name), "%s.%s", stem, formats[i]);
		if (write_atomic(dirfd, r->dir, name, text[i], n, msg, size) != 0)
			goto out;
		srv_report_sha256(text[i], n, hex);
		if (json_array_append_new(files, json_pack("{s:s, s:s, s:s, s:I}", "name", name,
		                                           "format", formats[i], "sha256", hex,
		                                           "size", (json_int_t)n)))
			goto oom;
	}
	/* The renames are durable before the log says the files exist. */
	if (fsync(dirfd) != 0) {
		snprintf(msg, size, "cannot sync the reports directory '%s': %s", r->dir,
		         strerror(errno));
		goto out;
	}
	{
		char st[28], en[28];

		atr_time_format(s, st);
		atr_time_format(e, en);
		snprintf(reason, sizeof(reason), "%s report for %s",
		         p == ATR_REPORT_DAY ? "daily" : "weekly", label);
		ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:O, s:o}}",
		               "type", SRV_REPORT_TYPE, "level", "pipeline", "actor",
		               SRV_REPORT_ACTOR, "target", stem, "reason", reason, "detail",
		               "period", kind, "label", label, "date", date, "start", st, "end", en,
		               "files", files, "checkpoint", checkpoint_of(text[2]));
	}
	if (!ev || !(pend.event = json_dumps(ev, JSON_COMPACT)))
		goto oom;
	pend.stem = stem;
	memset(&fake, 0, sizeof(fake));
	fake.srv = r->srv;
	fake.route = -1;
	if (srv_checked_submit(&fake, build_event, &pend, &res, msg, size) != 0) {
		if (!msg[0])
			snprintf(msg, size, "cannot append the x_report event: %s", atr_errmsg());
		goto out;
	}
	if (!pend.already) {
		pthread_mutex_lock(&r->mu);
		r->written++;
		pthread_mutex_unlock(&r->mu);
		fprintf(stderr, "agentrail serve: wrote the %s report %s into '%s' (seq %llu)\n",
		        kind, label, r->dir, (unsigned long long)res.seq);
	}
	rc = 0;
	goto out;
oom:
	snprintf(msg, size, "out of memory");
out:
	if (dirfd >= 0)
		close(dirfd);
	free(pend.event);
	json_decref(ev);
	json_decref(files);
	for (size_t i = 0; i < 3; i++)
		atr_free(text[i]);
	atr_report_free(rep);
	return rc;
}

/*
 * The reports due at 'now_us': the last completed day and week before
 * 'now_us' minus the delay (late events land first). 0, or -1 when one
 * failed (said on stderr).
 */
static int write_due(struct srv_reporter *r, int64_t now_us)
{
	static const atr_report_period periods[] = {ATR_REPORT_DAY, ATR_REPORT_WEEK};
	struct srv_req fake;
	atr_log *log;
	char msg[600];
	int failed = 0;

	memset(&fake, 0, sizeof(fake));
	fake.srv = r->srv;
	if (!(log = srv_reader_quiet(&fake))) {
		fprintf(stderr, "agentrail serve: reports: cannot read the log: %s\n",
		        atr_errmsg());
		return -1;
	}
	for (size_t i = 0; i < 2; i++) {
		int64_t s, e;

		msg[0] = '\0';
		if (atr_report_period_bounds(periods[i], NULL, now_us - r->delay_us, &s, &e) != 0 ||
		    write_report(r, log, periods[i], s, now_us, msg, sizeof(msg)) != 0) {
			fprintf(stderr, "agentrail serve: reports: %s; retrying in a minute\n",
			        msg[0] ? msg : atr_errmsg());
			failed = 1;
		}
	}
	return failed ? -1 : 0;
}

/* ------------------------------------------------------------ the thread */

static void *reporter_run(void *arg)
{
	struct srv_reporter *r = arg;

	pthread_mutex_lock(&r->mu);
	while (!r->stop) {
		int64_t now, wake, due;
		struct timespec ts;
		int failed;

		pthread_mutex_unlock(&r->mu);
		now = real_now_us() + r->offset_us;
		failed = write_due(r, now);
		/* Next: the first midnight after 'now - delay', plus the delay. */
		due = now - r->delay_us;
		wake = failed ? now + RETRY_US : (due / DAY_US + 1) * DAY_US + r->delay_us;
		wake -= r->offset_us;
		ts.tv_sec = (time_t)(wake / 1000000);
		ts.tv_nsec = (long)(wake % 1000000) * 1000;
		pthread_mutex_lock(&r->mu);
		while (!r->stop && real_now_us() < wake)
			if (pthread_cond_timedwait(&r->cond, &r->mu, &ts) == ETIMEDOUT)
				break;
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

int srv_reporter_start(struct srv_reporter **out, struct srv *s, const struct srv_config *cfg)
{
	struct srv_reporter *r;
	const char *clock = getenv("AGENTRAIL_REPORT_CLOCK");
	struct stat st;
	int64_t fake = 0;

	*out = NULL;
	if (!cfg->reports_dir)
		return 0;
	if (clock && *clock && atr_time_parse(clock, &fake) != 0) {
		fprintf(stderr,
		        "agentrail: AGENTRAIL_REPORT_CLOCK '%s' is not an RFC 3339 time: %s\n",
		        clock, atr_errmsg());
		return -1;
	}
	if (mkdir(cfg->reports_dir, 0750) != 0 && errno != EEXIST) {
		fprintf(stderr, "agentrail: cannot create the reports directory '%s': %s\n",
		        cfg->reports_dir, strerror(errno));
		return -1;
	}
	if (stat(cfg->reports_dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
	    access(cfg->reports_dir, W_OK | X_OK) != 0) {
		fprintf(stderr, "agentrail: --reports-dir '%s' is not a writable directory\n",
		        cfg->reports_dir);
		return -1;
	}
	if (!(r = calloc(1, sizeof(*r)))) {
		fprintf(stderr, "agentrail: out of memory\n");
		return -1;
	}
	r->srv = s;
	r->dir = cfg->reports_dir;
	r->delay_us = (int64_t)cfg->report_delay * 1000000;
	r->offset_us = clock && *clock ? fake - real_now_us() : 0;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cond, NULL);
	if (pthread_create(&r->thread, NULL, reporter_run, r) != 0) {
		fprintf(stderr, "agentrail: cannot start the reporter thread\n");
		pthread_cond_destroy(&r->cond);
		pthread_mutex_destroy(&r->mu);
		free(r);
		return -1;
	}
	*out = r;
	return 0;
}

void srv_reporter_announce(const struct srv_reporter *r)
{
	if (!r)
		return;
	printf("reports: daily and weekly into '%s', %lld s after midnight UTC%s\n", r->dir,
	       (long long)(r->delay_us / 1000000),
	       r->offset_us ? " (AGENTRAIL_REPORT_CLOCK: a test clock)" : "");
}

void srv_reporter_stop(struct srv_reporter *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	r->stop = 1;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->mu);
	/* A report being built finishes first: its files and event stay consistent. */
	pthread_join(r->thread, NULL);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->mu);
	free(r);
}
