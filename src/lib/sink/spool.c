/*
 * The spool of the network sinks: append-only segment files, one event per
 * line, written before delivery so that an event outlives its producer the
 * moment emit returns; a cursor file per segment; orphaned segments (their
 * producer died) replayed in order by whichever producer holds the lock
 * file. The layout is described in sink.h and docs/sinks.md.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "event.h"
#include "internal.h"
#include "sink/sink.h"

#define ROLL_BYTES    (64u << 20) /* start a new segment past this size */
#define RECYCLE_BYTES (1u << 20)  /* ...or past this once everything in it was delivered */
#define MAX_LINE      (ATR_MAX_EVENT_INPUT + 4096)
#define READ_CHUNK    (64u << 10)
#define POS_LEN       63 /* "%020llu %020llu %020llu\n" */
#define NAME_MAX_LEN  48

struct seg {
	char name[NAME_MAX_LEN]; /* "<writer>-<nnnnnn>" */
	int fd;                  /* holds the flock: the writer's, or the replayer's */
	int pos_fd;              /* -1 until the cursor is first written */
	uint64_t end;            /* bytes of whole lines (own), or the file's size (orphan) */
	uint64_t lines;          /* own: lines written */
	uint64_t done;           /* the cursor: bytes delivered or rejected */
	uint64_t lines_done, rejected;
	uint64_t synced; /* own: bytes known to be on disk */
	int sealed;      /* own: no longer appended to */
};

struct atr__spool {
	char *dir;
	int dir_fd;
	char writer[33]; /* this producer's id: a UUIDv7 in hex, so names sort by start time */
	unsigned next_no;
	pthread_mutex_t mu;
	struct seg **own; /* oldest first; the last is the current one unless sealed */
	size_t nown, capown;
	int lock_fd;        /* the spool lock while replaying, else -1 */
	struct seg *orphan; /* the orphan being replayed */
};

/* ------------------------------------------------------------ helpers */

static int mkdir_p(const char *path)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return atr__err(ATR_EINVALID, "bad spool directory '%s'", path);
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return atr__err(ATR_EIO, "cannot create '%s': %s", buf, strerror(errno));
		buf[i] = i < n ? '/' : '\0';
	}
	return 0;
}

static int has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names (without ".seg") of the segment files; '*out' freed with free_names. */
static int list_segments(struct atr__spool *sp, char ***out, size_t *n)
{
	int fd = fcntl(sp->dir_fd, F_DUPFD_CLOEXEC, 0);
	DIR *d;
	struct dirent *e;
	char **v = NULL;
	size_t cnt = 0, cap = 0;

	*out = NULL;
	*n = 0;
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return atr__err(ATR_EIO, "cannot read '%s': %s", sp->dir, strerror(errno));
	}
	rewinddir(d);
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);

		if (e->d_name[0] == '.' || !has_suffix(e->d_name, ".seg") ||
		    len - 4 >= NAME_MAX_LEN)
			continue;
		if (cnt == cap) {
			char **nv = realloc(v, (cap ? cap * 2 : 16) * sizeof(*v));

			if (!nv)
				goto oom;
			v = nv;
			cap = cap ? cap * 2 : 16;
		}
		if (!(v[cnt] = strndup(e->d_name, len - 4)))
			goto oom;
		cnt++;
	}
	closedir(d);
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_names);
	*out = v;
	*n = cnt;
	return 0;
oom:
	closedir(d);
	for (size_t i = 0; i < cnt; i++)
		free(v[i]);
	free(v);
	return atr__err(ATR_ENOMEM, "out of memory");
}

static void free_names(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void file_name(char *out, size_t size, const char *name, const char *ext)
{
	snprintf(out, size, "%s.%s", name, ext);
}

static void write_pos(struct atr__spool *sp, struct seg *s)
{
	char fn[NAME_MAX_LEN + 8], text[POS_LEN + 1];

	if (s->pos_fd < 0) {
		file_name(fn, sizeof(fn), s->name, "pos");
		s->pos_fd = openat(sp->dir_fd, fn, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (s->pos_fd < 0)
			return; /* the cursor is a shortcut: without it the segment is re-sent
			           (idempotent) */
	}
	snprintf(text, sizeof(text), "%020llu %020llu %020llu\n", (unsigned long long)s->done,
	         (unsigned long long)s->lines_done, (unsigned long long)s->rejected);
	if (pwrite(s->pos_fd, text, POS_LEN, 0) != POS_LEN) {
		/* Same: a lost cursor only means re-sending what the far end has. */
	}
}

static void read_pos(struct atr__spool *sp, struct seg *s)
{
	char fn[NAME_MAX_LEN + 8], text[POS_LEN + 1];
	unsigned long long v[3];
	char *p = text, *endp;

	s->done = s->lines_done = s->rejected = 0;
	file_name(fn, sizeof(fn), s->name, "pos");
	s->pos_fd = openat(sp->dir_fd, fn, O_RDWR | O_CLOEXEC);
	if (s->pos_fd < 0 || pread(s->pos_fd, text, POS_LEN, 0) != POS_LEN)
		return;
	text[POS_LEN] = '\0';
	for (int i = 0; i < 3; i++) {
		errno = 0;
		v[i] = strtoull(p, &endp, 10);
		if (errno || endp == p || (*endp != ' ' && *endp != '\n'))
			return; /* a torn cursor: start over (re-sends are idempotent) */
		p = endp + 1;
	}
	s->done = v[0];
	s->lines_done = v[1];
	s->rejected = v[2];
}

static void seg_delete(struct atr__spool *sp, struct seg *s)
{
	char fn[NAME_MAX_LEN + 8];

	file_name(fn, sizeof(fn), s->name, "seg");
	unlinkat(sp->dir_fd, fn, 0);
	file_name(fn, sizeof(fn), s->name, "pos");
	unlinkat(sp->dir_fd, fn, 0);
	if (s->pos_fd >= 0)
		close(s->pos_fd);
	close(s->fd);
	free(s);
}

static void seg_close(struct seg *s)
{
	if (s->pos_fd >= 0)
		close(s->pos_fd);
	close(s->fd);
	free(s);
}

/* ------------------------------------------------------------ open, close */

int atr__spool_open(struct atr__spool **out, const char *root, const char *name,
                    const char *destination)
{
	struct atr__spool *sp;
	uint8_t h[32], id[16];
	char hex[65];
	size_t n;
	int rc, fd;

	*out = NULL;
	if ((rc = mkdir_p(root)) < 0)
		return rc;
	atr__sha256(h, name, strlen(name), "\n", 1, destination, strlen(destination));
	atr__hex(hex, h, 8);
	if (!(sp = calloc(1, sizeof(*sp))))
		return atr__err(ATR_ENOMEM, "out of memory");
	sp->lock_fd = -1;
	n = strlen(root) + strlen(name) + 20;
	if (!(sp->dir = malloc(n))) {
		free(sp);
		return atr__err(ATR_ENOMEM, "out of memory");
	}
	snprintf(sp->dir, n, "%s/%s-%s", root, name, hex);
	if (mkdir(sp->dir, 0700) != 0 && errno != EEXIST) {
		rc = atr__err(ATR_EIO, "cannot create '%s': %s", sp->dir, strerror(errno));
		goto fail;
	}
	sp->dir_fd = open(sp->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->dir_fd < 0) {
		rc = atr__err(ATR_EIO, "cannot open '%s': %s", sp->dir, strerror(errno));
		goto fail;
	}
	/* For people looking at the directory: what it is the spool of. */
	fd = openat(sp->dir_fd, "DESTINATION", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0) {
		dprintf(fd, "%s %s\n", name, destination);
		close(fd);
	}
	if ((rc = atr__uuid7(id, atr__now_us())) < 0) {
		close(sp->dir_fd);
		goto fail;
	}
	atr__hex(sp->writer, id, 16);
	pthread_mutex_init(&sp->mu, NULL);
	*out = sp;
	return 0;
fail:
	free(sp->dir);
	free(sp);
	return rc;
}

const char *atr__spool_dir(const struct atr__spool *sp)
{
	return sp->dir;
}

void atr__spool_close(struct atr__spool *sp)
{
	if (!sp)
		return;
	atr__spool_replay_end(sp);
	for (size_t i = 0; i < sp->nown; i++) {
		struct seg *s = sp->own[i];

		if (s->done >= s->end) {
			seg_delete(sp, s);
		} else {
			if (s->synced < s->end)
				fdatasync(s->fd);
			write_pos(sp, s);
			seg_close(s); /* releases the lock: an orphan for the next producer */
		}
	}
	free(sp->own);
	close(sp->dir_fd);
	pthread_mutex_destroy(&sp->mu);
	free(sp->dir);
	free(sp);
}

/* ------------------------------------------------------------ writing */

/* A new current segment; 'mu' held. */
static int new_segment(struct atr__spool *sp)
{
	char tmp[NAME_MAX_LEN + 8], fn[NAME_MAX_LEN + 8];
	struct seg *s;

	if (sp->nown == sp->capown) {
		size_t cap = sp->capown ? sp->capown * 2 : 4;
		struct seg **v = realloc(sp->own, cap * sizeof(*v));

		if (!v)
			return atr__err(ATR_ENOMEM, "out of memory");
		sp->own = v;
		sp->capown = cap;
	}
	if (!(s = calloc(1, sizeof(*s))))
		return atr__err(ATR_ENOMEM, "out of memory");
	s->pos_fd = -1;
	snprintf(s->name, sizeof(s->name), "%s-%06u", sp->writer, sp->next_no++);
	/*
	 * Created under a name replayers ignore and locked before it gets its
	 * real name, so nobody can take a fresh segment for an orphan.
	 */
	snprintf(tmp, sizeof(tmp), ".%s.tmp", s->name);
	file_name(fn, sizeof(fn), s->name, "seg");
	s->fd = openat(sp->dir_fd, tmp, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
	if (s->fd < 0) {
		int e = errno;

		free(s);
		return atr__err(ATR_EIO, "cannot create a spool segment in '%s': %s", sp->dir,
		                strerror(e));
	}
	if (flock(s->fd, LOCK_EX | LOCK_NB) != 0 ||
	    renameat(sp->dir_fd, tmp, sp->dir_fd, fn) != 0) {
		int e = errno;

		unlinkat(sp->dir_fd, tmp, 0);
		close(s->fd);
		free(s);
		return atr__err(ATR_EIO, "cannot create a spool segment in '%s': %s", sp->dir,
		                strerror(e));
	}
	fsync(sp->dir_fd);
	sp->own[sp->nown++] = s;
	return 0;
}

int atr__spool_append(struct atr__spool *sp, const char *line, size_t len)
{
	struct iovec iov[2] = {{(void *)line, len}, {(void *)"\n", 1}};
	struct seg *cur;
	ssize_t w;
	int rc = 0;

	pthread_mutex_lock(&sp->mu);
	cur = sp->nown ? sp->own[sp->nown - 1] : NULL;
	if (cur && !cur->sealed &&
	    (cur->end >= ROLL_BYTES || (cur->done == cur->end && cur->end >= RECYCLE_BYTES)))
		cur->sealed = 1; /* deleted by the delivery thread once delivered */
	if (!cur || cur->sealed) {
		if ((rc = new_segment(sp)) < 0)
			goto out;
		cur = sp->own[sp->nown - 1];
	}
	do
		w = writev(cur->fd, iov, 2);
	while (w < 0 && errno == EINTR);
	if (w != (ssize_t)(len + 1)) {
		int e = w < 0 ? errno : ENOSPC;

		/* Never leave half a line behind an acknowledged one. */
		if (w > 0 && ftruncate(cur->fd, (off_t)cur->end) != 0)
			cur->sealed = 1;
		rc = atr__err(ATR_EIO, "cannot write to the spool '%s': %s", sp->dir, strerror(e));
		goto out;
	}
	cur->end += len + 1;
	cur->lines++;
out:
	pthread_mutex_unlock(&sp->mu);
	return rc;
}

int atr__spool_sync(struct atr__spool *sp)
{
	int rc = 0;

	pthread_mutex_lock(&sp->mu);
	for (size_t i = 0; i < sp->nown; i++) {
		struct seg *s = sp->own[i];

		if (s->synced >= s->end)
			continue;
		if (fdatasync(s->fd) != 0)
			rc = atr__err(ATR_EIO, "cannot sync the spool '%s': %s", sp->dir,
			              strerror(errno));
		else
			s->synced = s->end;
	}
	pthread_mutex_unlock(&sp->mu);
	return rc;
}

uint64_t atr__spool_own_pending(struct atr__spool *sp)
{
	uint64_t n = 0;

	pthread_mutex_lock(&sp->mu);
	for (size_t i = 0; i < sp->nown; i++)
		n += sp->own[i]->lines - sp->own[i]->lines_done;
	pthread_mutex_unlock(&sp->mu);
	return n;
}

/* ------------------------------------------------------------ reading */

void atr__spool_batch_release(struct atr__spool_batch *b)
{
	free(b->ev);
	free(b->len);
	free(b->end);
	free(b->buf);
	memset(b, 0, sizeof(*b));
}

static int batch_room(struct atr__spool_batch *b, size_t events, size_t bytes)
{
	if (events > b->cap) {
		const char **ev = realloc(b->ev, events * sizeof(*ev));
		size_t *len;
		uint64_t *end;

		if (ev)
			b->ev = ev;
		len = ev ? realloc(b->len, events * sizeof(*len)) : NULL;
		if (len)
			b->len = len;
		end = len ? realloc(b->end, events * sizeof(*end)) : NULL;
		if (!end)
			return atr__err(ATR_ENOMEM, "out of memory");
		b->end = end;
		b->cap = events;
	}
	if (bytes + 1 > b->buf_cap) {
		char *p = realloc(b->buf, bytes + 1);

		if (!p)
			return atr__err(ATR_ENOMEM, "out of memory");
		b->buf = p;
		b->buf_cap = bytes + 1;
	}
	return 0;
}

static int read_at(struct atr__spool *sp, int fd, char *buf, size_t n, uint64_t off)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, buf + got, n - got, (off_t)(off + got));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return atr__err(ATR_EIO, "cannot read the spool '%s': %s", sp->dir,
			                r < 0 ? strerror(errno)
			                      : "the file is shorter than expected");
		got += (size_t)r;
	}
	return 0;
}

/*
 * Read whole lines of the segment 'fd' from 'off' to 'end' into 'b'. A line
 * longer than MAX_LINE comes back empty (unreadable). Bytes at the end that
 * no newline closes go to '*tail' (with no line read); 0 lines and no tail
 * means off == end.
 */
static int read_lines(struct atr__spool *sp, struct atr__spool_batch *b, int fd, uint64_t off,
                      uint64_t end, size_t max_events, size_t max_bytes, uint64_t *tail)
{
	size_t want, got, used = 0;
	char *p, *nl;
	int rc;

	b->n = 0;
	*tail = 0;
	if (off >= end)
		return 0;
	want = max_bytes > READ_CHUNK ? max_bytes : READ_CHUNK;
	for (;;) {
		if (want > end - off)
			want = (size_t)(end - off);
		if ((rc = batch_room(b, max_events, want)) < 0 ||
		    (rc = read_at(sp, fd, b->buf, want, off)) < 0)
			return rc;
		got = want;
		if (memchr(b->buf, '\n', got) || got == end - off || got >= MAX_LINE)
			break;
		want = got * 2 > MAX_LINE ? MAX_LINE : got * 2; /* the first line is longer */
	}
	p = b->buf;
	while (b->n < max_events && (nl = memchr(p, '\n', got - (size_t)(p - b->buf)))) {
		b->ev[b->n] = p;
		b->len[b->n] = (size_t)(nl - p);
		b->end[b->n] = off + (uint64_t)(nl + 1 - b->buf);
		b->n++;
		used += (size_t)(nl + 1 - p);
		p = nl + 1;
		if (used >= max_bytes)
			break;
	}
	if (b->n > 0)
		return 0;
	if (got < MAX_LINE) {
		*tail = end - off; /* no newline up to the end: a half-written line */
		return 0;
	}
	/* A line over the limit: find its end and hand it back as unreadable. */
	for (uint64_t at = off + got; at < end;) {
		size_t k = end - at < READ_CHUNK ? (size_t)(end - at) : READ_CHUNK;

		if ((rc = read_at(sp, fd, b->buf, k, at)) < 0)
			return rc;
		if ((nl = memchr(b->buf, '\n', k))) {
			b->ev[0] = b->buf;
			b->len[0] = 0;
			b->end[0] = at + (uint64_t)(nl + 1 - b->buf);
			b->n = 1;
			return 0;
		}
		at += k;
	}
	*tail = end - off;
	return 0;
}

/* Delete own segments that are sealed and delivered; 'mu' held. */
static void own_housekeeping(struct atr__spool *sp)
{
	size_t j = 0;

	for (size_t i = 0; i < sp->nown; i++) {
		struct seg *s = sp->own[i];

		if (s->sealed && s->done >= s->end)
			seg_delete(sp, s);
		else
			sp->own[j++] = s;
	}
	sp->nown = j;
}

int atr__spool_next_own(struct atr__spool *sp, struct atr__spool_batch *b, size_t max_events,
                        size_t max_bytes)
{
	struct seg *s = NULL;
	uint64_t off = 0, end = 0, tail;
	int rc;

	pthread_mutex_lock(&sp->mu);
	own_housekeeping(sp);
	for (size_t i = 0; i < sp->nown && !s; i++)
		if (sp->own[i]->done < sp->own[i]->end) {
			s = sp->own[i];
			off = s->done;
			end = s->end;
		}
	pthread_mutex_unlock(&sp->mu);
	b->n = 0;
	if (!s)
		return 0;
	/* Only this thread deletes segments, so 's' stays while it is read unlocked. */
	if ((rc = read_lines(sp, b, s->fd, off, end, max_events, max_bytes, &tail)) < 0)
		return rc;
	b->seg = s;
	return b->n > 0;
}

int atr__spool_done(struct atr__spool *sp, struct atr__spool_batch *b, size_t k, uint64_t rejected)
{
	struct seg *s = b->seg;

	if (k == 0)
		return 0;
	pthread_mutex_lock(&sp->mu);
	s->done = b->end[k - 1];
	s->lines_done += k;
	s->rejected += rejected;
	write_pos(sp, s);
	if (s != sp->orphan)
		own_housekeeping(sp);
	pthread_mutex_unlock(&sp->mu);
	return 0;
}

/* ------------------------------------------------------------ orphans */

static int is_own(const struct atr__spool *sp, const char *name)
{
	return strncmp(name, sp->writer, 32) == 0;
}

/* Open segment 'name' and take its lock without waiting; NULL when it is someone's. */
static struct seg *try_take(struct atr__spool *sp, const char *name)
{
	char fn[NAME_MAX_LEN + 8];
	struct seg *s;
	struct stat st;
	int fd;

	file_name(fn, sizeof(fn), name, "seg");
	fd = openat(sp->dir_fd, fn, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0 || fstat(fd, &st) != 0 ||
	    !(s = calloc(1, sizeof(*s)))) {
		close(fd);
		return NULL;
	}
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->fd = fd;
	s->pos_fd = -1;
	s->end = (uint64_t)st.st_size;
	return s;
}

int atr__spool_has_orphans(struct atr__spool *sp)
{
	char **names;
	size_t n;
	int found = 0;

	if (list_segments(sp, &names, &n) < 0)
		return 0;
	for (size_t i = 0; i < n && !found; i++) {
		struct seg *s;

		if (is_own(sp, names[i]) || !(s = try_take(sp, names[i])))
			continue;
		found = 1;
		seg_close(s);
	}
	free_names(names, n);
	return found;
}

/* With the spool lock: remove what killed producers left besides segments. */
static void clear_leftovers(struct atr__spool *sp)
{
	int fd = fcntl(sp->dir_fd, F_DUPFD_CLOEXEC, 0);
	DIR *d;
	struct dirent *e;

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	rewinddir(d);
	while ((e = readdir(d))) {
		char fn[300];
		struct stat st;

		if (e->d_name[0] == '.' && has_suffix(e->d_name, ".tmp")) {
			/* A segment whose creator died before naming it: it holds nothing. */
			int tfd = openat(sp->dir_fd, e->d_name, O_RDONLY | O_CLOEXEC);

			if (tfd >= 0 && flock(tfd, LOCK_EX | LOCK_NB) == 0)
				unlinkat(sp->dir_fd, e->d_name, 0);
			if (tfd >= 0)
				close(tfd);
		} else if (has_suffix(e->d_name, ".pos") && strlen(e->d_name) < sizeof(fn)) {
			/* A cursor whose segment is gone (deleted, then killed). */
			snprintf(fn, sizeof(fn), "%.*s.seg", (int)strlen(e->d_name) - 4, e->d_name);
			if (fstatat(sp->dir_fd, fn, &st, 0) != 0 && errno == ENOENT)
				unlinkat(sp->dir_fd, e->d_name, 0);
		}
	}
	closedir(d);
}

int atr__spool_replay_begin(struct atr__spool *sp)
{
	int fd;

	if (sp->lock_fd >= 0)
		return 1;
	fd = openat(sp->dir_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		close(fd);
		return 0;
	}
	sp->lock_fd = fd;
	clear_leftovers(sp);
	return 1;
}

void atr__spool_replay_end(struct atr__spool *sp)
{
	if (sp->orphan) {
		pthread_mutex_lock(&sp->mu);
		seg_close(sp->orphan);
		sp->orphan = NULL;
		pthread_mutex_unlock(&sp->mu);
	}
	if (sp->lock_fd >= 0) {
		close(sp->lock_fd);
		sp->lock_fd = -1;
	}
}

int atr__spool_next_orphan(struct atr__spool *sp, struct atr__spool_batch *b, size_t max_events,
                           size_t max_bytes, uint64_t *dropped)
{
	int rc;

	b->n = 0;
	for (;;) {
		struct seg *s = sp->orphan;
		uint64_t tail;

		if (!s) {
			char **names;
			size_t n;

			if ((rc = list_segments(sp, &names, &n)) < 0)
				return rc;
			for (size_t i = 0; i < n && !s; i++)
				if (!is_own(sp, names[i]))
					s = try_take(sp, names[i]);
			free_names(names, n);
			if (!s)
				return 0;
			read_pos(sp, s);
			if (s->done > s->end)
				s->done = s->lines_done = s->rejected = 0;
			sp->orphan = s;
		}
		if ((rc = read_lines(sp, b, s->fd, s->done, s->end, max_events, max_bytes, &tail)) <
		    0)
			return rc;
		if (b->n > 0) {
			b->seg = s;
			return 1;
		}
		/* Finished (a half-written last line is dropped: its emit never returned). */
		*dropped += tail;
		pthread_mutex_lock(&sp->mu);
		seg_delete(sp, s);
		sp->orphan = NULL;
		pthread_mutex_unlock(&sp->mu);
	}
}
