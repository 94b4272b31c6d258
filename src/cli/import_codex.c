/*
 * agentrail import --format codex: Codex CLI rollout files (one, standard
 * input, or every rollout-*.jsonl under a directory such as
 * ~/.codex/sessions, in the order of their names, which start with the
 * session's start time) mapped line by line (agents.h) and appended through
 * import's batch writer. Event ids come from the session and the line, so
 * importing again appends nothing. --follow then tails the directory (or
 * file): lines appended to known files, and new files, as they complete,
 * until SIGINT or SIGTERM.
 */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include <agentrail/agents.h>

#include "cli/cli.h"
#include "util/util.h"

#define CODEX_MAX_LINE  (32u << 20) /* longer lines are refused before parsing */
#define CODEX_MAX_DEPTH 8           /* directory levels searched below the root */
#define CODEX_MAX_FILES 1000000u    /* rollout files tracked at most */
#define RESCAN_S        30.0        /* follow: a full look even when inotify says nothing */
#define POLL_S          1.0         /* follow without inotify: how often to look */
#define DORMANT_S       600         /* follow: files idle this long drop their reader */
#define WATCH_EVENTS    (IN_CREATE | IN_MOVED_TO | IN_MODIFY | IN_CLOSE_WRITE)

/* One rollout file and how far it has been read. */
struct cfile {
	char *path;
	const char *base; /* in 'path': the file id */
	dev_t dev;
	ino_t ino;
	off_t off;       /* bytes consumed: through the last complete line */
	uint64_t lineno; /* lines consumed */
	atr_codex *rd;   /* NULL before the first read, or while dormant */
	time_t changed;  /* its modification time when last read */
};

struct watch {
	int wd;
	char *dir;
};

struct cx {
	struct cli *cli;
	struct importer *im;
	atr_agent_opts opts;
	const char *root; /* the directory followed, or NULL for one file */
	struct cfile *files;
	size_t n, cap;
	struct util_map known; /* path -> index in files */
	struct watch *watches;
	size_t nw, wcap;
	struct util_buf line;
	int follow;
	uint64_t lines;
	sigset_t old_mask; /* follow: the signal mask to wait with */
};

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* ------------------------------------------------------------ the files */

static int is_rollout(const char *name)
{
	return fnmatch("rollout-*.jsonl", name, 0) == 0;
}

static int add_file(struct cx *x, const char *path)
{
	struct cfile *f;
	long idx;

	if (util_map_get(&x->known, path, &idx))
		return 0;
	if (x->n >= CODEX_MAX_FILES) {
		cli_err("more than %u rollout files; not following '%s'", CODEX_MAX_FILES, path);
		return 0;
	}
	if (x->n == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 16;
		struct cfile *nf = realloc(x->files, cap * sizeof(*nf));

		if (!nf)
			goto oom;
		x->files = nf;
		x->cap = cap;
	}
	f = &x->files[x->n];
	memset(f, 0, sizeof(*f));
	if (!(f->path = strdup(path)))
		goto oom;
	f->base = strrchr(f->path, '/') ? strrchr(f->path, '/') + 1 : f->path;
	if (util_map_put(&x->known, path, (long)x->n) != 0) {
		free(f->path);
		goto oom;
	}
	x->n++;
	return 0;
oom:
	cli_err("out of memory");
	return -1;
}

/* Every rollout-*.jsonl below 'dir' (symbolic links are not followed). */
static int scan(struct cx *x, const char *dir, int depth)
{
	DIR *d;
	struct dirent *e;
	int rc = 0;

	if (depth > CODEX_MAX_DEPTH || !(d = opendir(dir)))
		return 0; /* gone meanwhile, or unreadable: nothing to import there */
	while (rc == 0 && (e = readdir(d)) != NULL) {
		char path[PATH_MAX];
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
			continue;
		if (lstat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode))
			rc = scan(x, path, depth + 1);
		else if (S_ISREG(st.st_mode) && is_rollout(e->d_name))
			rc = add_file(x, path);
	}
	closedir(d);
	return rc;
}

/* Files in time order: their names start with the session's start time. */
static int by_name(const void *a, const void *b)
{
	const struct cfile *x = a, *y = b;
	int c = strcmp(x->base, y->base);

	return c ? c : strcmp(x->path, y->path);
}

static void sort_files(struct cx *x, size_t from)
{
	qsort(x->files + from, x->n - from, sizeof(*x->files), by_name);
	for (size_t i = from; i < x->n; i++)
		util_map_put(&x->known, x->files[i].path, (long)i);
}

/* ------------------------------------------------------------ reading */

/*
 * One line of 'f' into 'b' (without its newline). 1: a whole line, 2: text
 * at the end of the file without a newline (it may be still being written),
 * 0: end of file, -1: read error, -2: longer than CODEX_MAX_LINE. '*used'
 * is the bytes consumed (with the newline).
 */
static int read_line(FILE *f, struct util_buf *b, size_t *used)
{
	int ch;

	util_buf_reset(b);
	*used = 0;
	while ((ch = getc_unlocked(f)) != EOF) {
		char c = (char)ch;

		(*used)++;
		if (c == '\n')
			return 1;
		if (b->len >= CODEX_MAX_LINE)
			return -2;
		if (util_buf_add(b, &c, 1) != 0)
			return -1;
	}
	if (ferror(f))
		return -1;
	return *used ? 2 : 0;
}

static int blank(const struct util_buf *b)
{
	for (size_t i = 0; i < b->len; i++)
		if (b->data[i] != ' ' && b->data[i] != '\t' && b->data[i] != '\r')
			return 0;
	return 1;
}

/* Map one line and hand its events to the writer ('keep' 0: only rebuild the reader). */
static int map_line(struct cx *x, struct cfile *cf, int keep)
{
	atr_agent_events *l;
	size_t len = x->line.len;

	if (len && x->line.data[len - 1] == '\r')
		len--;
	if (atr_codex_map_line(cf->rd, x->line.data, len, cf->lineno, &l) != 0) {
		uint64_t events, dups;

		cli_err("%s: line %llu: %s", cf->path, (unsigned long long)cf->lineno,
		        atr_errmsg());
		/* What came before the bad line is good: it is written, the rest is not. */
		if (keep && cli_import_flush(x->im) == 0) {
			cli_import_counts(x->im, &events, &dups);
			cli_err(
			    "import stopped: %llu events imported (%llu duplicates); nothing from "
			    "line %llu of '%s' on was appended",
			    (unsigned long long)events, (unsigned long long)dups,
			    (unsigned long long)cf->lineno, cf->path);
		}
		return -1;
	}
	x->lines++;
	for (size_t i = 0; keep && i < atr_agent_events_count(l); i++) {
		char *text = strdup(atr_agent_events_get(l, i, NULL));

		if (!text) {
			cli_err("out of memory");
			atr_agent_events_free(l);
			return -1;
		}
		if (cli_import_add(x->im, text, (long)cf->lineno) != 0) {
			cli_err("import of '%s' stopped", cf->path);
			atr_agent_events_free(l);
			return -1;
		}
	}
	atr_agent_events_free(l);
	return 0;
}

/*
 * Read what 'cf' has beyond what was consumed. 'final': a last line without
 * a newline is taken too when it parses (an import of a finished file);
 * otherwise it waits for its newline. A file replaced or cut short is read
 * again from its start (its events are duplicates, or new).
 */
static int read_new(struct cx *x, struct cfile *cf, int final)
{
	FILE *f = fopen(cf->path, "rb");
	struct stat st;
	off_t pos = 0;
	int rc = -1, r;

	if (!f) {
		if (errno == ENOENT)
			return 0; /* gone meanwhile */
		cli_err("cannot open '%s': %s", cf->path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) != 0) {
		cli_err("cannot read '%s': %s", cf->path, strerror(errno));
		goto out;
	}
	if (cf->rd && (st.st_dev != cf->dev || st.st_ino != cf->ino || st.st_size < cf->off)) {
		atr_codex_free(cf->rd);
		cf->rd = NULL;
		cf->off = 0;
		cf->lineno = 0;
	}
	cf->changed = st.st_mtime;
	if (st.st_size == cf->off && st.st_dev == cf->dev && st.st_ino == cf->ino &&
	    (cf->rd || cf->off > 0)) {
		rc = 0; /* nothing new (a dormant file stays dormant) */
		goto out;
	}
	cf->dev = st.st_dev;
	cf->ino = st.st_ino;
	if (!cf->rd) {
		/* A dormant file that grew: replay what was read to rebuild the reader. */
		uint64_t upto = cf->lineno;

		if (atr_codex_new(&cf->rd, cf->base, &x->opts) != 0) {
			cli_err("%s", atr_errmsg());
			goto out;
		}
		cf->lineno = 0;
		while (cf->lineno < upto) {
			size_t used;

			if ((r = read_line(f, &x->line, &used)) != 1)
				break;
			pos += (off_t)used;
			cf->lineno++;
			if (!blank(&x->line) && map_line(x, cf, 0) != 0)
				goto out;
		}
		if (pos != cf->off) {
			/* Not the file it was: start over. */
			atr_codex_free(cf->rd);
			cf->rd = NULL;
			cf->off = 0;
			cf->lineno = 0;
			if (atr_codex_new(&cf->rd, cf->base, &x->opts) != 0 ||
			    fseeko(f, 0, SEEK_SET) != 0) {
				cli_err("cannot read '%s'", cf->path);
				goto out;
			}
			pos = 0;
		}
	} else if (fseeko(f, cf->off, SEEK_SET) != 0) {
		cli_err("cannot read '%s': %s", cf->path, strerror(errno));
		goto out;
	} else {
		pos = cf->off;
	}
	for (;;) {
		size_t used;

		r = read_line(f, &x->line, &used);
		if (r == 0)
			break;
		if (r == -2) {
			cli_err("%s: line %llu: longer than %u bytes", cf->path,
			        (unsigned long long)cf->lineno + 1, CODEX_MAX_LINE);
			goto out;
		}
		if (r < 0) {
			cli_err("cannot read '%s': %s", cf->path, strerror(errno ? errno : EIO));
			goto out;
		}
		if (r == 2) {
			json_error_t jerr;
			json_t *probe;

			/* No newline yet: Codex may be writing it. Only a finished file has
			 * a last line without one. */
			if (!final || blank(&x->line))
				break;
			probe = json_loadb(x->line.data, x->line.len, 0, &jerr);
			json_decref(probe);
			if (!probe) {
				cli_err(
				    "%s: line %llu is incomplete (no newline and not JSON); not "
				    "imported",
				    cf->path, (unsigned long long)cf->lineno + 1);
				break;
			}
		}
		cf->lineno++;
		if (!blank(&x->line) && map_line(x, cf, 1) != 0)
			goto out;
		pos += (off_t)used;
		cf->off = pos;
	}
	rc = 0;
out:
	fclose(f);
	return rc;
}

static int import_stdin(struct cx *x)
{
	struct cfile cf;
	int r, rc = -1;

	memset(&cf, 0, sizeof(cf));
	cf.path = "standard input";
	if (atr_codex_new(&cf.rd, NULL, &x->opts) != 0) {
		cli_err("%s", atr_errmsg());
		return -1;
	}
	for (;;) {
		size_t used;

		r = read_line(stdin, &x->line, &used);
		if (r == 0)
			break;
		if (r < 0) {
			cli_err(r == -2 ? "standard input: line %llu: too long"
			                : "standard input: line %llu: cannot read",
			        (unsigned long long)cf.lineno + 1);
			goto out;
		}
		cf.lineno++;
		if (!blank(&x->line) && map_line(x, &cf, 1) != 0)
			goto out;
	}
	rc = cli_import_flush(x->im);
out:
	atr_codex_free(cf.rd);
	return rc;
}

/* ------------------------------------------------------------ following */

static int add_watch(struct cx *x, int fd, const char *dir)
{
	int wd = inotify_add_watch(fd, dir, WATCH_EVENTS | IN_ONLYDIR);

	if (wd < 0)
		return -1;
	for (size_t i = 0; i < x->nw; i++)
		if (x->watches[i].wd == wd)
			return 0;
	if (x->nw == x->wcap) {
		size_t cap = x->wcap ? 2 * x->wcap : 16;
		struct watch *w = realloc(x->watches, cap * sizeof(*w));

		if (!w)
			return -1;
		x->watches = w;
		x->wcap = cap;
	}
	if (!(x->watches[x->nw].dir = strdup(dir)))
		return -1;
	x->watches[x->nw++].wd = wd;
	return 0;
}

/* Watch 'dir' and every directory below it. */
static void watch_tree(struct cx *x, int fd, const char *dir, int depth)
{
	DIR *d;
	struct dirent *e;

	if (depth > CODEX_MAX_DEPTH || add_watch(x, fd, dir) != 0 || !(d = opendir(dir)))
		return;
	while ((e = readdir(d)) != NULL) {
		char path[PATH_MAX];
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
			continue;
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
			watch_tree(x, fd, path, depth + 1);
	}
	closedir(d);
}

static const char *watch_dir(const struct cx *x, int wd)
{
	for (size_t i = 0; i < x->nw; i++)
		if (x->watches[i].wd == wd)
			return x->watches[i].dir;
	return NULL;
}

/* Depth of 'dir' below the root, for the CODEX_MAX_DEPTH bound. */
static int depth_of(const struct cx *x, const char *dir)
{
	int d = 0;

	for (const char *p = dir + strlen(x->root); *p; p++)
		d += *p == '/';
	return d;
}

/* Look at everything: new files under the root, and every known file's new lines. */
static int catch_up(struct cx *x)
{
	size_t before = x->n;
	time_t now = time(NULL);

	if (x->root && scan(x, x->root, 0) != 0)
		return -1;
	if (x->n > before)
		sort_files(x, before);
	for (size_t i = 0; i < x->n; i++) {
		struct cfile *cf = &x->files[i];
		struct stat st;

		if (stat(cf->path, &st) != 0)
			continue;
		if (cf->rd || st.st_size != cf->off || st.st_ino != cf->ino)
			if (read_new(x, cf, 0) != 0)
				return -1;
		/* Idle long enough: keep the position, drop what the reader holds. */
		if (cf->rd && now - cf->changed > DORMANT_S) {
			atr_codex_free(cf->rd);
			cf->rd = NULL;
		}
	}
	return cli_import_flush(x->im);
}

/* What inotify reported: new directories to watch, and the files that changed. */
static int drain(struct cx *x, int fd)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	int changed = 0;

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n <= 0)
			break;
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)(void *)p;
			const char *dir = watch_dir(x, ev->wd);
			char path[PATH_MAX];

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				changed = 2; /* something was missed: look at everything */
				continue;
			}
			if (!dir || !ev->len ||
			    snprintf(path, sizeof(path), "%s/%s", dir, ev->name) >=
			        (int)sizeof(path))
				continue;
			if (ev->mask & IN_ISDIR) {
				if (x->root && (ev->mask & (IN_CREATE | IN_MOVED_TO)) &&
				    depth_of(x, path) <= CODEX_MAX_DEPTH) {
					watch_tree(x, fd, path, depth_of(x, path));
					changed = 2;
				}
				continue;
			}
			if (!x->root) {
				/* Following one file: whatever changed in its directory, look at
				 * it. */
				if (!changed)
					changed = 1;
				if (read_new(x, &x->files[0], 0) != 0)
					return -1;
			} else if (is_rollout(ev->name)) {
				long idx;

				if (!util_map_get(&x->known, path, &idx)) {
					changed = 2;
					continue;
				}
				if (!changed)
					changed = 1;
				if (read_new(x, &x->files[idx], 0) != 0)
					return -1;
			}
		}
	}
	if (changed == 2)
		return catch_up(x);
	return changed ? cli_import_flush(x->im) : 0;
}

/*
 * SIGINT and SIGTERM only ask to stop: they are blocked except while
 * waiting for changes, so whatever was being read is finished and written.
 */
static void catch_signals(struct cx *x)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &x->old_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static int follow(struct cx *x)
{
	int fd, rc = 0;
	double last = util_now_mono();

	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd >= 0) {
		if (x->root) {
			watch_tree(x, fd, x->root, 0);
		} else {
			char dir[PATH_MAX];
			const char *slash = strrchr(x->files[0].path, '/');

			snprintf(dir, sizeof(dir), "%.*s",
			         slash ? (int)(slash - x->files[0].path) : 1,
			         slash ? x->files[0].path : ".");
			if (add_watch(x, fd, dir[0] ? dir : "/") != 0) {
				close(fd);
				fd = -1;
			}
		}
	}
	while (!stop_requested && rc == 0) {
		struct pollfd pfd = {fd, POLLIN, 0};
		double wait = fd >= 0 ? RESCAN_S : POLL_S;
		struct timespec ts;
		int n;

		ts.tv_sec = (time_t)wait;
		ts.tv_nsec = (long)((wait - (double)ts.tv_sec) * 1e9);
		/* Signals are let in only while waiting, so none is missed between checks. */
		n = ppoll(fd >= 0 ? &pfd : NULL, fd >= 0 ? 1 : 0, &ts, &x->old_mask);
		if (stop_requested)
			break;
		if (n < 0 && errno != EINTR) {
			cli_err("cannot wait for changes: %s", strerror(errno));
			rc = -1;
			break;
		}
		if (n > 0) {
			rc = drain(x, fd);
		} else if (n == 0 || util_now_mono() - last >= wait) {
			rc = catch_up(x);
			last = util_now_mono();
		}
	}
	/* Whatever complete lines arrived before the signal are written. */
	if (rc == 0)
		rc = cli_import_flush(x->im);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ------------------------------------------------------------ the command */

int cli_import_codex(struct cli *cli, const char *path, int quiet, int follow_flag)
{
	struct cx x;
	struct stat st;
	uint64_t events = 0, duplicates = 0;
	int rc = CLI_FAIL;

	memset(&x, 0, sizeof(x));
	x.cli = cli;
	x.follow = follow_flag;
	util_map_init(&x.known);
	util_buf_init(&x.line);
	if (strcmp(path, "-") == 0) {
		if (follow_flag)
			return cli_usage(cli, "option '--follow' needs a FILE or DIR, not standard "
			                      "input");
	} else if (stat(path, &st) != 0) {
		cli_err("cannot open '%s': %s", path, strerror(errno));
		return CLI_FAIL;
	} else if (S_ISDIR(st.st_mode)) {
		x.root = path;
	} else if (add_file(&x, path) != 0) {
		goto out;
	}
	if ((rc = cli_import_open(cli, &x.im)) != CLI_OK)
		goto out;
	rc = CLI_FAIL;
	if (follow_flag)
		catch_signals(&x);
	if (strcmp(path, "-") == 0) {
		if (import_stdin(&x) != 0)
			goto out;
	} else {
		if (x.root) {
			if (scan(&x, x.root, 0) != 0)
				goto out;
			sort_files(&x, 0);
		}
		for (size_t i = 0; i < x.n; i++) {
			if (read_new(&x, &x.files[i], !follow_flag) != 0 ||
			    cli_import_flush(x.im) != 0)
				goto out;
			if (follow_flag && time(NULL) - x.files[i].changed > DORMANT_S) {
				/* An old session: keep the position, not the reader's memory. */
				atr_codex_free(x.files[i].rd);
				x.files[i].rd = NULL;
			}
		}
		if (follow_flag && follow(&x) != 0)
			goto out;
	}
	cli_import_counts(x.im, &events, &duplicates);
	if (!quiet) {
		if (x.root)
			printf("imported %llu events (%llu duplicates) from %zu codex rollout "
			       "files in "
			       "%s\n",
			       (unsigned long long)events, (unsigned long long)duplicates, x.n,
			       path);
		else
			printf("imported %llu events (%llu duplicates) from %s\n",
			       (unsigned long long)events, (unsigned long long)duplicates,
			       strcmp(path, "-") == 0 ? "standard input" : path);
	}
	rc = CLI_OK;
out:
	if (follow_flag)
		sigprocmask(SIG_SETMASK, &x.old_mask, NULL);
	cli_import_close(x.im);
	for (size_t i = 0; i < x.n; i++) {
		atr_codex_free(x.files[i].rd);
		free(x.files[i].path);
	}
	free(x.files);
	for (size_t i = 0; i < x.nw; i++)
		free(x.watches[i].dir);
	free(x.watches);
	util_map_release(&x.known);
	util_buf_release(&x.line);
	return rc;
}
