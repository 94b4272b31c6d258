/*
 * The recorder of an `agentrail exec` session: turns what the tracer sees
 * into events (DESIGN.md section 2: session_start, command, file_read,
 * file_write, file_delete, x_connect, session_end), keeps the per-path
 * counts behind --files first, and hands the events, in order, to a
 * producer from a thread of its own so that a traced process never waits
 * for a sink (a durable append costs an fsync).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <agentrail/agentrail.h>

#include "trace/trace.h"
#include "util/util.h"

#define QUEUE_MAX_BYTES    (64u << 20)  /* events waiting for the sink before tracing waits */
#define MAX_ENTRIES        1000000      /* distinct paths and targets kept for --files first */
#define MAX_TARGET         4000         /* bytes of a target (the log's limit is 4096) */
#define MAX_ARGV_BYTES     (128u << 10) /* argv kept in a command's detail (events are <= 1 MiB) */
#define MAX_END_PATHS      1000         /* paths listed in session_end */
#define MAX_END_PATH_BYTES (256u << 10)

struct qitem {
	struct qitem *next;
	size_t len;
	char json[];
};

/* One path (or connect target) seen in the session. */
struct entry {
	char *key;
	uint64_t ops[REC_KINDS];
	unsigned emitted; /* bit per kind: its first event went out */
};

struct recorder {
	struct trace_opts opts;
	atr_producer *producer;
	char session_id[257];
	char start_id[37];
	char *actor;
	char *user;
	char *cmdline;
	int reads, commands;
	int64_t start_us;
	double start_mono;

	/* counts for session_end */
	uint64_t ops[REC_KINDS], events[REC_KINDS], skipped, processes, ncommands;
	struct util_map index; /* key -> position in 'entries' */
	struct entry *entries;
	size_t nentries, capentries;
	uint64_t untracked;

	/* the queue to the producer thread */
	pthread_mutex_t lock;
	pthread_cond_t more, space, idle;
	struct qitem *head, *tail;
	size_t queued;
	int busy, stop, started;
	pthread_t thread;
	uint64_t emitted, failed, dropped;
	int warned;
};

static void warn_once(struct recorder *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void warn_once(struct recorder *r, const char *fmt, ...)
{
	va_list ap;

	if (__atomic_exchange_n(&r->warned, 1, __ATOMIC_RELAXED))
		return;
	fputs("agentrail: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("; the command goes on\n", stderr);
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void rec_new_id(char out[37])
{
	uint8_t b[16];
	uint64_t ms = (uint64_t)now_us() / 1000;

	if (util_random(b + 6, 10) != 0) {
		/* getrandom cannot fail on a kernel that has it; keep ids unique anyway */
		static uint64_t counter;
		uint64_t x = ++counter ^ (uint64_t)getpid() << 32 ^ ms;

		memcpy(b + 6, &x, 8);
		memcpy(b + 14, &counter, 2);
	}
	for (int i = 5; i >= 0; i--) {
		b[i] = (uint8_t)ms;
		ms >>= 8;
	}
	b[6] = (uint8_t)(0x70 | (b[6] & 0x0f));
	b[8] = (uint8_t)(0x80 | (b[8] & 0x3f));
	util_uuid_format(b, out);
}

/* ------------------------------------------------------------- JSON text */

/* Length of the valid UTF-8 sequence at 's' (of 'n' bytes), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/*
 * A JSON string of 'n' bytes at 's' of at most 'cap' bytes: bytes that are
 * not UTF-8 (paths and arguments are bytes) become the text "\xNN"; what
 * does not fit is cut at a character boundary.
 */
static json_t *jstrn(const char *s, size_t n, size_t cap)
{
	struct util_buf b;
	json_t *j;
	size_t i = 0;

	util_buf_init(&b);
	while (i < n) {
		size_t len = utf8_seq((const unsigned char *)s + i, n - i);
		char esc[5];
		int bad = len == 0 || (len == 1 && s[i] == '\0');

		if (bad)
			snprintf(esc, sizeof(esc), "\\x%02x", (unsigned char)s[i]);
		if (b.len + (bad ? 4 : len) > cap)
			break;
		if (util_buf_add(&b, bad ? esc : s + i, bad ? 4 : len) != 0)
			break;
		i += bad ? 1 : len;
	}
	j = json_stringn(b.data ? b.data : "", b.len);
	util_buf_release(&b);
	return j;
}

static json_t *jstr(const char *s)
{
	return jstrn(s, strlen(s), SIZE_MAX);
}

/* The argv of NUL-separated 'argv' as an array, cut after MAX_ARGV_BYTES. */
static json_t *argv_array(const char *argv, size_t len, int *cut)
{
	json_t *a = json_array();
	size_t off = 0, total = 0;

	*cut = 0;
	while (a && off < len) {
		size_t n = strnlen(argv + off, len - off);

		if (total + n > MAX_ARGV_BYTES) {
			*cut = 1;
			break;
		}
		json_array_append_new(a, jstrn(argv + off, n, SIZE_MAX));
		total += n;
		off += n + 1;
	}
	return a;
}

/* 1 when 's' needs quoting for a shell. */
static int needs_quotes(const char *s, size_t n)
{
	if (n == 0)
		return 1;
	for (size_t i = 0; i < n; i++)
		if (!strchr(
		        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%_-+=:,./",
		        s[i]) ||
		    s[i] == '\0')
			return 1;
	return 0;
}

/* A command line from NUL-separated 'argv': words joined by spaces, quoted like a shell. */
static char *command_line(const char *argv, size_t len)
{
	struct util_buf b;
	size_t off = 0;

	util_buf_init(&b);
	while (off < len && b.len < MAX_TARGET + 8) {
		size_t n = strnlen(argv + off, len - off);
		const char *w = argv + off;

		if (off > 0)
			util_buf_add(&b, " ", 1);
		if (!needs_quotes(w, n)) {
			util_buf_add(&b, w, n);
		} else {
			util_buf_add(&b, "'", 1);
			for (size_t i = 0; i < n; i++) {
				if (w[i] == '\'')
					util_buf_adds(&b, "'\\''");
				else
					util_buf_add(&b, w + i, 1);
			}
			util_buf_add(&b, "'", 1);
		}
		off += n + 1;
	}
	if (!b.data)
		util_buf_add(&b, "", 0);
	if (!b.data)
		return strdup("");
	return b.data;
}

static void set_str(json_t *o, const char *key, const char *val)
{
	if (val)
		json_object_set_new(o, key, jstr(val));
}

static void set_int(json_t *o, const char *key, int64_t v)
{
	json_object_set_new(o, key, json_integer(v));
}

static void set_ts(json_t *o, const char *key, int64_t us)
{
	char ts[28];

	atr_time_format(us, ts);
	json_object_set_new(o, key, json_string(ts));
}

/* The fields every event of the session has. */
static json_t *event_new(struct recorder *r, const char *type, int64_t ts, const char *id,
                         const char *parent)
{
	json_t *e = json_object();

	if (!e)
		return NULL;
	json_object_set_new(e, "type", json_string(type));
	if (strncmp(type, "x_", 2) == 0)
		json_object_set_new(e, "level", json_string("agent"));
	set_str(e, "actor", r->actor);
	set_str(e, "user_id", r->user);
	set_str(e, "session_id", r->session_id);
	set_ts(e, "ts", ts);
	if (id)
		json_object_set_new(e, "event_id", json_string(id));
	if (parent)
		json_object_set_new(e, "parent_event_id", json_string(parent));
	return e;
}

/* --------------------------------------------------------- the producer side */

static void *emitter(void *arg)
{
	struct recorder *r = arg;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		struct qitem *it;
		int rc;

		while (!r->head && !r->stop)
			pthread_cond_wait(&r->more, &r->lock);
		if (!r->head)
			break;
		it = r->head;
		r->head = it->next;
		if (!r->head)
			r->tail = NULL;
		r->busy = 1;
		pthread_mutex_unlock(&r->lock);

		rc = atr_producer_emit(r->producer, it->json, it->len);

		pthread_mutex_lock(&r->lock);
		if (rc == 0) {
			r->emitted++;
		} else {
			r->failed++;
			warn_once(r, "cannot record an event: %s", atr_errmsg());
		}
		r->queued -= it->len;
		r->busy = 0;
		free(it);
		pthread_cond_broadcast(&r->space);
		if (!r->head)
			pthread_cond_broadcast(&r->idle);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* Serialize 'e' (consumed) and queue it for the producer. */
static void emit(struct recorder *r, json_t *e)
{
	char *text;
	size_t len;
	struct qitem *it;

	if (!e)
		goto oom;
	text = json_dumps(e, JSON_COMPACT);
	json_decref(e);
	if (!text)
		goto oom;
	len = strlen(text);
	if (!r->producer) {
		free(text);
		r->dropped++;
		return;
	}
	it = malloc(sizeof(*it) + len + 1);
	if (!it) {
		free(text);
		goto oom;
	}
	it->next = NULL;
	it->len = len;
	memcpy(it->json, text, len + 1);
	free(text);
	pthread_mutex_lock(&r->lock);
	/* A sink far behind slows the tracer down rather than losing events. */
	while (r->queued > QUEUE_MAX_BYTES)
		pthread_cond_wait(&r->space, &r->lock);
	if (r->tail)
		r->tail->next = it;
	else
		r->head = it;
	r->tail = it;
	r->queued += len;
	pthread_cond_signal(&r->more);
	pthread_mutex_unlock(&r->lock);
	return;
oom:
	r->dropped++;
	warn_once(r, "out of memory: an event was lost");
}

void rec_drain(struct recorder *r)
{
	if (!r->started)
		return;
	pthread_mutex_lock(&r->lock);
	while (r->head || r->busy)
		pthread_cond_wait(&r->idle, &r->lock);
	pthread_mutex_unlock(&r->lock);
}

int rec_new(struct recorder **out, const struct trace_opts *o)
{
	struct recorder *r = calloc(1, sizeof(*r));
	atr_producer_config cfg;

	*out = NULL;
	if (!r)
		return -1;
	r->opts = *o;
	cfg = *o->producer;
	r->reads = cfg.log_file_reads && o->files != TRACE_FILES_NONE;
	r->commands = cfg.log_commands;
	r->start_us = now_us();
	r->start_mono = util_now_mono();
	util_map_init(&r->index);
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->more, NULL);
	pthread_cond_init(&r->space, NULL);
	pthread_cond_init(&r->idle, NULL);
	if (o->session_id)
		snprintf(r->session_id, sizeof(r->session_id), "%s", o->session_id);
	else
		rec_new_id(r->session_id);
	rec_new_id(r->start_id);
	if (atr_producer_new(&r->producer, &cfg) != 0) {
		r->producer = NULL;
		warn_once(r, "cannot start recording: %s: events are not recorded", atr_errmsg());
	} else if (pthread_create(&r->thread, NULL, emitter, r) == 0) {
		r->started = 1;
	} else {
		atr_producer_free(r->producer);
		r->producer = NULL;
		warn_once(r, "cannot start the recording thread: events are not recorded");
	}
	*out = r;
	return 0;
}

const char *rec_session_event(const struct recorder *r)
{
	return r->start_id;
}

const char *rec_session_id(const struct recorder *r)
{
	return r->session_id;
}

int rec_commands_on(const struct recorder *r)
{
	return r->commands;
}

int rec_reads_on(const struct recorder *r)
{
	return r->reads;
}

/* -------------------------------------------------------------- the events */

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash && slash[1] ? slash + 1 : path;
}

void rec_session_start(struct recorder *r, char **argv, pid_t pid)
{
	struct trace_context c;
	struct util_buf b;
	json_t *e, *d, *a;
	int have_ctx;

	util_buf_init(&b);
	for (size_t i = 0; argv[i]; i++)
		util_buf_add(&b, argv[i], strlen(argv[i]) + 1);
	r->cmdline = command_line(b.data ? b.data : "", b.len);
	free(r->actor);
	r->actor = strdup(r->opts.actor ? r->opts.actor : base_name(argv[0]));
	have_ctx = trace_context_get(&c) == 0;
	if (have_ctx)
		r->user = strdup(c.user);

	e = event_new(r, "session_start", r->start_us, r->start_id, NULL);
	d = json_object();
	if (!e || !d) {
		json_decref(d);
		emit(r, NULL);
		goto out;
	}
	json_object_set_new(e, "target", jstrn(r->cmdline, strlen(r->cmdline), MAX_TARGET));
	{
		int cut;

		json_object_set_new(d, "argv", argv_array(b.data ? b.data : "", b.len, &cut));
		if (cut)
			json_object_set_new(d, "argv_truncated", json_true());
	}
	if (have_ctx) {
		set_str(d, "cwd", c.cwd);
		set_str(d, "user", c.user);
		set_str(d, "host", c.host);
		if (c.git_root) {
			json_t *g = json_object();

			set_str(g, "root", c.git_root);
			set_str(g, "commit", c.git_commit);
			set_str(g, "branch", c.git_branch);
			json_object_set_new(d, "git", g);
		}
		if (c.rules_hash) {
			set_str(e, "rules_hash", c.rules_hash);
			a = json_array();
			for (size_t i = 0; c.rules[i]; i++) {
				json_t *f = json_object();

				set_str(f, "path", c.rules[i]);
				set_str(f, "sha256", c.rules_sha[i]);
				json_array_append_new(a, f);
			}
			json_object_set_new(d, "rules", a);
		}
	}
	set_int(d, "uid", (int64_t)getuid());
	set_int(d, "pid", (int64_t)pid);
	set_int(d, "tracer_pid", (int64_t)getpid());
	{
		json_t *opt = json_object();
		static const char *const files[] = {"first", "all", "none"};

		json_object_set_new(opt, "files", json_string(files[r->opts.files]));
		json_object_set_new(opt, "include_system", json_boolean(r->opts.include_system));
		json_object_set_new(opt, "net", json_boolean(r->opts.net));
		json_object_set_new(opt, "file_reads", json_boolean(r->reads));
		json_object_set_new(opt, "commands", json_boolean(r->commands));
		json_object_set_new(d, "options", opt);
	}
	json_object_set_new(d, "tracer", json_string("agentrail exec"));
	json_object_set_new(d, "version", json_string(atr_version()));
	json_object_set_new(e, "detail", d);
	emit(r, e);
out:
	if (have_ctx)
		trace_context_release(&c);
	util_buf_release(&b);
}

/* The entry of 'key', made when new; NULL past MAX_ENTRIES or out of memory. */
static struct entry *entry_get(struct recorder *r, const char *key)
{
	long at;

	if (util_map_get(&r->index, key, &at))
		return &r->entries[at];
	if (r->nentries >= MAX_ENTRIES)
		return NULL;
	if (r->nentries == r->capentries) {
		size_t cap = r->capentries ? r->capentries * 2 : 256;
		struct entry *e = realloc(r->entries, cap * sizeof(*e));

		if (!e)
			return NULL;
		r->entries = e;
		r->capentries = cap;
	}
	struct entry *e = &r->entries[r->nentries];
	memset(e, 0, sizeof(*e));
	if (!(e->key = strdup(key)))
		return NULL;
	if (util_map_put(&r->index, key, (long)r->nentries) != 0) {
		free(e->key);
		return NULL;
	}
	r->nentries++;
	return e;
}

/*
 * Count one operation of 'kind' on 'key'; 1 when it gets an event (always
 * with --files all, the first of its kind with first), with '*first' set.
 */
static int count_op(struct recorder *r, enum rec_kind kind, const char *key, int *first)
{
	struct entry *e = entry_get(r, key);

	r->ops[kind]++;
	*first = 0;
	if (!e) {
		r->untracked++;
		return 1;
	}
	e->ops[kind]++;
	if (!(e->emitted & (1u << kind))) {
		e->emitted |= 1u << kind;
		*first = 1;
		return 1;
	}
	return r->opts.files == TRACE_FILES_ALL;
}

static json_t *open_flags(long flags)
{
	static const struct {
		long bit;
		const char *name;
	} bits[] = {{O_CREAT, "O_CREAT"},         {O_EXCL, "O_EXCL"},
	            {O_TRUNC, "O_TRUNC"},         {O_APPEND, "O_APPEND"},
	            {O_DIRECTORY, "O_DIRECTORY"}, {O_NOFOLLOW, "O_NOFOLLOW"}};
	char buf[160];
	int acc = (int)(flags & O_ACCMODE);

	snprintf(buf, sizeof(buf), "%s",
	         acc == O_RDONLY   ? "O_RDONLY"
	         : acc == O_WRONLY ? "O_WRONLY"
	                           : "O_RDWR");
	if ((flags & O_TMPFILE) == O_TMPFILE) {
		strncat(buf, "|O_TMPFILE", sizeof(buf) - strlen(buf) - 1);
		flags &= ~(long)O_TMPFILE;
	}
	for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
		if (flags & bits[i].bit) {
			strncat(buf, "|", sizeof(buf) - strlen(buf) - 1);
			strncat(buf, bits[i].name, sizeof(buf) - strlen(buf) - 1);
		}
	return json_string(buf);
}

void rec_file(struct recorder *r, enum rec_kind kind, const char *path, const char *op,
              const char *other_key, const char *other, long flags, pid_t pid, const char *cause)
{
	static const char *const types[] = {"file_read", "file_write", "file_delete"};
	json_t *e, *d;
	int first;

	if (kind == REC_READ && !r->reads)
		return;
	if (!count_op(r, kind, path, &first))
		return;
	r->events[kind]++;
	e = event_new(r, types[kind], now_us(), NULL, cause);
	d = json_object();
	if (!e || !d) {
		json_decref(e);
		json_decref(d);
		emit(r, NULL);
		return;
	}
	json_object_set_new(e, "target", jstrn(path, strlen(path), MAX_TARGET));
	json_object_set_new(d, "op", json_string(op));
	if (flags >= 0)
		json_object_set_new(d, "flags", open_flags(flags));
	if (other && other_key)
		json_object_set_new(d, other_key, jstr(other));
	set_int(d, "pid", (int64_t)pid);
	if (r->opts.files == TRACE_FILES_FIRST && first)
		json_object_set_new(d, "first", json_true());
	json_object_set_new(e, "detail", d);
	emit(r, e);
}

void rec_connect(struct recorder *r, const char *target, const char *family, int in_progress,
                 pid_t pid, const char *cause)
{
	char key[600];
	json_t *e, *d;
	int first;

	snprintf(key, sizeof(key), "net:%s", target);
	if (!count_op(r, REC_CONNECT, key, &first))
		return;
	r->events[REC_CONNECT]++;
	e = event_new(r, "x_connect", now_us(), NULL, cause);
	d = json_object();
	if (!e || !d) {
		json_decref(e);
		json_decref(d);
		emit(r, NULL);
		return;
	}
	json_object_set_new(e, "target", jstr(target));
	json_object_set_new(d, "family", json_string(family));
	if (in_progress)
		json_object_set_new(d, "in_progress", json_true());
	set_int(d, "pid", (int64_t)pid);
	if (r->opts.files != TRACE_FILES_ALL && first)
		json_object_set_new(d, "first", json_true());
	json_object_set_new(e, "detail", d);
	emit(r, e);
}

void rec_skipped(struct recorder *r)
{
	r->skipped++;
}

void rec_process(struct recorder *r)
{
	r->processes++;
}

int trace_shell_status(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 125;
}

/* exit_code, signal and outcome of wait 'status' into event 'e' and detail 'd'. */
static void set_status(json_t *e, json_t *d, int status)
{
	int code = trace_shell_status(status);

	set_int(e, "exit_code", code);
	set_int(d, "exit_code", code);
	if (WIFSIGNALED(status)) {
		char name[32];
		const char *abbrev = sigabbrev_np(WTERMSIG(status));

		snprintf(name, sizeof(name), "SIG%s", abbrev ? abbrev : "UNKNOWN");
		json_object_set_new(d, "signal", json_string(name));
		set_int(d, "signal_number", WTERMSIG(status));
		if (WCOREDUMP(status))
			json_object_set_new(d, "core_dumped", json_true());
		json_object_set_new(e, "outcome", json_string("killed"));
	} else {
		json_object_set_new(e, "outcome", json_string(code == 0 ? "success" : "failure"));
	}
}

void rec_commands(struct recorder *r, const struct trace_cmd *chain, int status)
{
	double end = util_now_mono();
	int64_t end_us = now_us();

	for (const struct trace_cmd *c = chain; c; c = c->next) {
		double stop = c->next ? c->end_mono : end;
		json_t *e, *d;
		char *line;
		int cut;

		r->ncommands++;
		if (!r->commands)
			continue;
		e = event_new(r, "command", c->start_us, c->id, c->parent_id);
		d = json_object();
		line = command_line(c->argv ? c->argv : "", c->argv_len);
		if (!e || !d || !line) {
			json_decref(e);
			json_decref(d);
			free(line);
			emit(r, NULL);
			continue;
		}
		json_object_set_new(e, "target", jstrn(line, strlen(line), MAX_TARGET));
		free(line);
		set_status(e, d, status);
		json_object_set_new(d, "argv",
		                    argv_array(c->argv ? c->argv : "", c->argv_len, &cut));
		if (cut)
			json_object_set_new(d, "argv_truncated", json_true());
		set_str(d, "cwd", c->cwd);
		set_str(d, "exe", c->exe);
		set_int(d, "pid", (int64_t)c->pid);
		set_int(d, "ppid", (int64_t)c->ppid);
		set_ts(d, "start", c->start_us);
		set_ts(d, "end",
		       c->next ? c->start_us + (int64_t)((stop - c->start_mono) * 1e6) : end_us);
		set_int(d, "duration_ms", (int64_t)((stop - c->start_mono) * 1000.0 + 0.5));
		if (c->next)
			json_object_set_new(d, "replaced_by", json_string(c->next->id));
		json_object_set_new(e, "detail", d);
		emit(r, e);
	}
}

static json_t *kind_counts(struct recorder *r, enum rec_kind k)
{
	json_t *o = json_object();
	uint64_t paths = 0;

	for (size_t i = 0; i < r->nentries; i++)
		if (r->entries[i].ops[k])
			paths++;
	set_int(o, "ops", (int64_t)r->ops[k]);
	set_int(o, k == REC_CONNECT ? "targets" : "paths", (int64_t)paths);
	set_int(o, "events", (int64_t)r->events[k]);
	return o;
}

void rec_session_end(struct recorder *r, int exit_code, int status, const char *error,
                     const struct rec_running *running, size_t n)
{
	json_t *e, *d, *files, *paths, *targets;
	size_t listed = 0, bytes = 0;
	int cut = 0;

	/* Every earlier event reached the producer: the counts below are final. */
	rec_drain(r);
	e = event_new(r, "session_end", now_us(), NULL, r->start_id);
	d = json_object();
	files = json_object();
	paths = json_array();
	targets = json_array();
	if (!e || !d || !files || !paths || !targets) {
		json_decref(e);
		json_decref(d);
		json_decref(files);
		json_decref(paths);
		json_decref(targets);
		emit(r, NULL);
		return;
	}
	if (r->cmdline)
		json_object_set_new(e, "target", jstrn(r->cmdline, strlen(r->cmdline), MAX_TARGET));
	if (status >= 0) {
		set_status(e, d, status);
	} else {
		set_int(e, "exit_code", exit_code);
		set_int(d, "exit_code", exit_code);
		json_object_set_new(e, "outcome", json_string("error"));
		set_str(d, "error", error);
	}
	set_int(d, "duration_ms", (int64_t)((util_now_mono() - r->start_mono) * 1000.0 + 0.5));
	set_int(d, "commands", (int64_t)r->ncommands);
	set_int(d, "processes", (int64_t)r->processes);
	json_object_set_new(files, "read", kind_counts(r, REC_READ));
	json_object_set_new(files, "write", kind_counts(r, REC_WRITE));
	json_object_set_new(files, "delete", kind_counts(r, REC_DELETE));
	json_object_set_new(d, "files", files);
	set_int(d, "skipped_system_reads", (int64_t)r->skipped);
	if (r->opts.net)
		json_object_set_new(d, "connects", kind_counts(r, REC_CONNECT));
	for (size_t i = 0; i < r->nentries; i++) {
		const struct entry *en = &r->entries[i];
		json_t *p;

		if (listed >= MAX_END_PATHS || bytes > MAX_END_PATH_BYTES) {
			cut = 1;
			break;
		}
		p = json_object();
		if (en->ops[REC_CONNECT]) {
			set_str(p, "target", en->key + 4);
			set_int(p, "ops", (int64_t)en->ops[REC_CONNECT]);
			json_array_append_new(targets, p);
		} else {
			set_str(p, "path", en->key);
			for (int k = 0; k < REC_CONNECT; k++) {
				static const char *const names[] = {"read", "write", "delete"};

				if (en->ops[k])
					set_int(p, names[k], (int64_t)en->ops[k]);
			}
			json_array_append_new(paths, p);
		}
		listed++;
		bytes += strlen(en->key);
	}
	json_object_set_new(d, "paths", paths);
	if (r->opts.net)
		json_object_set_new(d, "targets", targets);
	else
		json_decref(targets);
	if (cut)
		json_object_set_new(d, "paths_truncated", json_true());
	if (r->untracked)
		set_int(d, "untracked_ops", (int64_t)r->untracked);
	{
		json_t *ev = json_object();

		set_int(ev, "recorded", (int64_t)r->emitted);
		set_int(ev, "failed", (int64_t)(r->failed + r->dropped));
		json_object_set_new(d, "events", ev);
	}
	if (n > 0) {
		json_t *a = json_array();

		for (size_t i = 0; i < n; i++) {
			json_t *p = json_object();
			int argv_cut;

			set_int(p, "pid", (int64_t)running[i].pid);
			if (running[i].argv)
				json_object_set_new(
				    p, "argv",
				    argv_array(running[i].argv, running[i].argv_len, &argv_cut));
			json_array_append_new(a, p);
		}
		json_object_set_new(d, "running", a);
	}
	json_object_set_new(e, "detail", d);
	emit(r, e);
}

void rec_free(struct recorder *r)
{
	if (!r)
		return;
	if (r->started) {
		rec_drain(r);
		pthread_mutex_lock(&r->lock);
		r->stop = 1;
		pthread_cond_signal(&r->more);
		pthread_mutex_unlock(&r->lock);
		pthread_join(r->thread, NULL);
	}
	if (r->producer) {
		if (atr_producer_flush(r->producer, 5000) != 0)
			warn_once(r, "some events are still in the spool: %s", atr_errmsg());
		atr_producer_free(r->producer);
	}
	for (size_t i = 0; i < r->nentries; i++)
		free(r->entries[i].key);
	free(r->entries);
	util_map_release(&r->index);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->more);
	pthread_cond_destroy(&r->space);
	pthread_cond_destroy(&r->idle);
	free(r->actor);
	free(r->user);
	free(r->cmdline);
	free(r);
}
