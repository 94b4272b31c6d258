/*
 * The file sink: a small local log kept as a JSONL export (docs/integrity.md)
 * — its own seq and RFC 6962 tree, records made by the library's event code
 * exactly as a store makes them, a tree head as the last line after every
 * write, and, with a key, a signed checkpoint beside it (FILE.checkpoint) —
 * so `agentrail verify --export FILE` checks it. Several runs, even at the
 * same time, extend one log: each write takes an flock on the file and
 * first reads (and checks) whatever other writers appended.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <agentrail/checkpoint.h>
#include <agentrail/proof.h>

#include "event.h"
#include "internal.h"
#include "jscan.h"
#include "redactpriv.h"
#include "sink/sink.h"

#define MAX_FILE_LINE (4u << 20) /* a record and its detail are at most 1 MiB, escaped */
#define READ_CHUNK    (1u << 20)

/* The tree's right edge as complete subtree roots, left to right (RFC 6962 folding). */
struct acc {
	atr_hash sub[64];
	unsigned depth;
	uint64_t n;
};

static void acc_push(struct acc *a, const atr_hash *leaf)
{
	a->sub[a->depth++] = *leaf;
	for (uint64_t j = a->n + 1; (j & 1) == 0; j >>= 1) {
		a->depth--;
		atr_node_hash(&a->sub[a->depth - 1], &a->sub[a->depth - 1], &a->sub[a->depth]);
	}
	a->n++;
}

static void acc_root(const struct acc *a, atr_hash *out)
{
	atr_hash r;

	if (a->n == 0) {
		atr_root_from_leaves(out, NULL, 0);
		return;
	}
	r = a->sub[a->depth - 1];
	for (unsigned i = a->depth - 1; i > 0; i--)
		atr_node_hash(&r, &a->sub[i - 1], &r);
	*out = r;
}

struct file_sink {
	atr_sink base;
	char *path;
	char *cp_path; /* path + ".checkpoint" */
	int fd;
	dev_t dev;
	ino_t ino;
	struct acc acc;   /* the tree of the records read or written */
	atr_hash *leaves; /* every leaf hash, for roots at older sizes */
	size_t leaves_cap;
	uint64_t rec_end;       /* offset after the last record line */
	uint64_t rec_lines;     /* lines up to there, for messages */
	uint64_t file_end;      /* where the file ended after our last look */
	int dirty;              /* written since the last fsync */
	atr_signer *signer;     /* NULL: no checkpoint is signed */
	atr_redactor *redactor; /* masks secrets before records are made; NULL: off */
	atr_verifier *verifier;
	char *wbuf;
	size_t wcap;
};

static int leaves_room(struct file_sink *fs, uint64_t n)
{
	if (n <= fs->leaves_cap)
		return 0;
	size_t cap = fs->leaves_cap ? fs->leaves_cap : 1024;
	atr_hash *v;

	while (cap < n)
		cap *= 2;
	if (!(v = realloc(fs->leaves, cap * sizeof(*v))))
		return atr__err(ATR_ENOMEM, "out of memory");
	fs->leaves = v;
	fs->leaves_cap = cap;
	return 0;
}

static int tampered(struct file_sink *fs, uint64_t lineno, const char *why)
{
	return atr__err(
	    ATR_ETAMPER,
	    "'%s' line %llu: %s; refusing to extend it (check it with 'agentrail verify "
	    "--export')",
	    fs->path, (unsigned long long)lineno, why);
}

/* Check one record line: seq, leaf hash, payload commitment. */
static int check_record_line(struct file_sink *fs, const char *line, size_t len, uint64_t lineno,
                             atr_hash *leaf)
{
	const char *rec, *lh, *detail, *salt, *commit;
	size_t rlen, lhl, dlen, sl, cl;
	atr_hash want;
	uint64_t seq;
	char hex[65];

	if (atr__json_member(line, len, "record", &rec, &rlen) != 0 ||
	    atr__json_member_str(line, len, "leaf_hash", &lh, &lhl) != 0 || lhl != 64)
		return tampered(fs, lineno, "not an export record line");
	memcpy(hex, lh, 64);
	hex[64] = '\0';
	if (atr__unhex(want.b, 32, hex) != 0)
		return tampered(fs, lineno, "a bad leaf_hash");
	if (atr__json_member_u64(rec, rlen, "seq", &seq) != 0 || seq != fs->acc.n)
		return tampered(fs, lineno, "the record's seq is not its position");
	atr_leaf_hash(leaf, rec, rlen);
	if (memcmp(leaf->b, want.b, 32) != 0)
		return tampered(fs, lineno, "the record does not hash to its leaf_hash");
	if (atr__json_member(line, len, "detail", &detail, &dlen) == 0) {
		uint8_t s[32], h[32], c[32];

		if (atr__json_member_str(line, len, "salt", &salt, &sl) != 0 || sl != 64 ||
		    atr__json_member_str(rec, rlen, "detail_commit", &commit, &cl) != 0 || cl != 64)
			return tampered(fs, lineno, "a payload without its salt or commitment");
		memcpy(hex, salt, 64);
		if (atr__unhex(s, 32, hex) != 0)
			return tampered(fs, lineno, "a bad salt");
		memcpy(hex, commit, 64);
		if (atr__unhex(c, 32, hex) != 0)
			return tampered(fs, lineno, "a bad detail_commit");
		atr__sha256(h, s, 32, detail, dlen, NULL, 0);
		if (memcmp(h, c, 32) != 0)
			return tampered(fs, lineno, "the payload does not match its detail_commit");
	}
	return 0;
}

/* The tree head line for the current tree into 'out' (at least 128 bytes); its length. */
static size_t head_line(const struct file_sink *fs, char *out, size_t size)
{
	atr_hash root;
	char hex[65];

	acc_root(&fs->acc, &root);
	atr_hash_hex(&root, hex);
	return (size_t)snprintf(out, size, "{\"tree_head\":{\"root_hash\":\"%s\",\"size\":%llu}}\n",
	                        hex, (unsigned long long)fs->acc.n);
}

static int check_head(struct file_sink *fs, const char *line, size_t len, uint64_t lineno)
{
	const char *th, *rh;
	size_t thl, rhl;
	uint64_t size;
	char mine[160];
	size_t ml = head_line(fs, mine, sizeof(mine));

	if (atr__json_member(line, len, "tree_head", &th, &thl) != 0 ||
	    atr__json_member_u64(th, thl, "size", &size) != 0 ||
	    atr__json_member_str(th, thl, "root_hash", &rh, &rhl) != 0)
		return tampered(fs, lineno, "a malformed tree head");
	if (size != fs->acc.n || ml - 1 != len || memcmp(mine, line, len) != 0)
		return tampered(fs, lineno, "the tree head does not match the records before it");
	return 0;
}

static int write_all(int fd, const char *buf, size_t n, uint64_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t w = pwrite(fd, buf + done, n - done, (off_t)(off + done));

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		done += (size_t)w;
	}
	return 0;
}

/*
 * Read the file from 'from' (the start of a line after the last record we
 * know) to 'size', checking and adding every record. A half-written last
 * line (no newline: a write that never returned) is cut off; anything else
 * out of place is tampering, and the log is not extended.
 */
static int scan(struct file_sink *fs, uint64_t from, uint64_t size)
{
	char *buf = NULL;
	size_t have = 0, pos = 0, cap = 0;
	uint64_t off = from, line_off = from, lineno = from ? fs->rec_lines : 0;
	int rc = 0, head_seen = 0;

	for (;;) {
		char *nl = have > pos ? memchr(buf + pos, '\n', have - pos) : NULL;
		size_t len;
		atr_hash leaf;

		if (!nl) {
			size_t k;

			if (off >= size)
				break;
			if (have - pos >= MAX_FILE_LINE) {
				rc = tampered(fs, lineno + 1, "a line over 4 MiB");
				goto out;
			}
			/* Keep the unfinished line, read the next chunk after it. */
			if (pos > 0) {
				memmove(buf, buf + pos, have - pos);
				have -= pos;
				pos = 0;
			}
			k = size - off < READ_CHUNK ? (size_t)(size - off) : READ_CHUNK;
			if (have + k > cap) {
				char *p = realloc(buf, have + k);

				if (!p) {
					rc = atr__err(ATR_ENOMEM, "out of memory");
					goto out;
				}
				buf = p;
				cap = have + k;
			}
			if (pread(fs->fd, buf + have, k, (off_t)off) != (ssize_t)k) {
				rc = atr__err(ATR_EIO, "cannot read '%s': %s", fs->path,
				              strerror(errno));
				goto out;
			}
			have += k;
			off += k;
			continue;
		}
		len = (size_t)(nl - (buf + pos));
		lineno++;
		if (head_seen && len > 0) {
			rc = tampered(fs, lineno, "a line after the tree head");
			goto out;
		}
		if (len == 0) {
			/* blank lines are allowed by the format */
		} else if (len >= 12 && !memcmp(buf + pos, "{\"tree_head\"", 12)) {
			if ((rc = check_head(fs, buf + pos, len, lineno)) < 0)
				goto out;
			head_seen = 1;
		} else if (len >= 13 && !memcmp(buf + pos, "{\"checkpoint\"", 13)) {
			/* A file sink keeps its checkpoint beside the log: this is a store's
			 * export. */
			rc = tampered(fs, lineno,
			              "a checkpoint line, which a file sink never writes");
			goto out;
		} else {
			if ((rc = check_record_line(fs, buf + pos, len, lineno, &leaf)) < 0 ||
			    (rc = leaves_room(fs, fs->acc.n + 1)) < 0)
				goto out;
			fs->leaves[fs->acc.n] = leaf;
			acc_push(&fs->acc, &leaf);
			fs->rec_end = line_off + len + 1;
			fs->rec_lines = lineno;
		}
		line_off += len + 1;
		pos += len + 1;
	}
	if (have > pos) {
		/* The end without a newline: a write cut short, never acknowledged. */
		if (ftruncate(fs->fd, (off_t)line_off) != 0) {
			rc = atr__err(ATR_EIO, "cannot truncate '%s': %s", fs->path,
			              strerror(errno));
			goto out;
		}
		size = line_off;
	}
	if (!head_seen) {
		fs->rec_end = line_off; /* the head goes after everything that is there */
		fs->rec_lines = lineno;
	}
	fs->file_end = size;
out:
	free(buf);
	return rc;
}

/* Look at the file again (the flock held): take in what other writers appended. */
static int resync(struct file_sink *fs)
{
	struct stat st;

	if (fstat(fs->fd, &st) != 0)
		return atr__err(ATR_EIO, "cannot stat '%s': %s", fs->path, strerror(errno));
	if (st.st_dev != fs->dev || st.st_ino != fs->ino)
		return atr__err(ATR_EIO, "'%s' was replaced", fs->path);
	if ((uint64_t)st.st_size == fs->file_end)
		return 0;
	if ((uint64_t)st.st_size < fs->rec_end)
		return atr__err(ATR_ETAMPER, "'%s' was cut short under this writer", fs->path);
	return scan(fs, fs->rec_end, (uint64_t)st.st_size);
}

/* Write the tree head at the end of the records (the flock held). */
static int put_head(struct file_sink *fs)
{
	char line[160];
	size_t n = head_line(fs, line, sizeof(line));

	/* Whatever lay beyond (a longer head, a write that failed half way) goes. */
	if (write_all(fs->fd, line, n, fs->rec_end) != 0 ||
	    ftruncate(fs->fd, (off_t)(fs->rec_end + n)) != 0)
		return atr__err(ATR_EIO, "cannot write '%s': %s", fs->path, strerror(errno));
	fs->file_end = fs->rec_end + n;
	fs->dirty = 1;
	return 0;
}

static int room(struct file_sink *fs, size_t need)
{
	if (need <= fs->wcap)
		return 0;
	char *p = realloc(fs->wbuf, need);

	if (!p)
		return atr__err(ATR_ENOMEM, "out of memory");
	fs->wbuf = p;
	fs->wcap = need;
	return 0;
}

static atr_sink_result file_deliver(atr_sink *s, const char *const *ev, const size_t *lens,
                                    size_t n, atr_sink_report *rep)
{
	struct file_sink *fs = (struct file_sink *)s;
	struct acc saved;
	size_t w = 0, i, recs, hl;
	uint64_t first;
	int64_t now = atr__now_us();
	int rc = 0;
	atr_sink_result r = ATR_SINK_OK;

	if (flock(fs->fd, LOCK_EX) != 0) {
		rep->code = ATR_EIO;
		snprintf(rep->message, sizeof(rep->message), "cannot lock '%s': %s", fs->path,
		         strerror(errno));
		return ATR_SINK_RETRY;
	}
	if ((rc = resync(fs)) < 0 || (rc = leaves_room(fs, fs->acc.n + n)) < 0)
		goto fail;
	saved = fs->acc;
	first = fs->acc.n;
	for (i = 0; i < n; i++) {
		struct atr__event e;
		size_t need;
		atr_hash leaf;
		char hex[65];

		if ((rc = atr__event_prepare_redacted(&e, fs->redactor, ev[i], lens[i], now)) < 0) {
			fs->acc = saved;
			rep->item = i;
			r = ATR_SINK_REJECT;
			goto fail;
		}
		need = w + atr__event_record_cap(&e) + e.detail_len + 256;
		if ((rc = room(fs, need + 160)) < 0) {
			atr__event_release(&e);
			fs->acc = saved;
			goto fail;
		}
		memcpy(fs->wbuf + w, "{\"record\":", 10);
		{
			char *rec = fs->wbuf + w + 10;
			size_t rl = atr__event_record(&e, fs->acc.n, rec);

			atr_leaf_hash(&leaf, rec, rl);
			w += 10 + rl;
		}
		atr_hash_hex(&leaf, hex);
		w += (size_t)snprintf(fs->wbuf + w, fs->wcap - w,
		                      ",\"leaf_hash\":\"%s\",\"detail\":", hex);
		memcpy(fs->wbuf + w, e.detail, e.detail_len);
		w += e.detail_len;
		atr__hex(hex, e.salt, 32);
		w += (size_t)snprintf(fs->wbuf + w, fs->wcap - w, ",\"salt\":\"%s\"}\n", hex);
		atr__event_release(&e);
		fs->leaves[fs->acc.n] = leaf;
		acc_push(&fs->acc, &leaf);
	}
	recs = w;
	hl = head_line(fs, fs->wbuf + w, 160);
	w += hl;
	if (write_all(fs->fd, fs->wbuf, w, fs->rec_end) != 0) {
		rc = atr__err(ATR_EIO, "cannot write '%s': %s", fs->path, strerror(errno));
		fs->acc = saved;
		put_head(fs); /* the previous head again, over what may have been written */
		goto fail;
	}
	fs->rec_end += recs;
	fs->rec_lines += n;
	if (fs->file_end > fs->rec_end + hl && ftruncate(fs->fd, (off_t)(fs->rec_end + hl)) != 0) {
		rc = atr__err(ATR_EIO, "cannot truncate '%s': %s", fs->path, strerror(errno));
		goto fail;
	}
	fs->file_end = fs->rec_end + hl;
	fs->dirty = 1;
	flock(fs->fd, LOCK_UN);
	rep->has_seq = 1;
	rep->seq = first;
	return ATR_SINK_OK;
fail:
	flock(fs->fd, LOCK_UN);
	rep->code = rc;
	snprintf(rep->message, sizeof(rep->message), "%s", atr_errmsg());
	return r == ATR_SINK_REJECT ? r : ATR_SINK_RETRY;
}

/* Replace 'path' with 'text' atomically (temporary file, fsync, rename, fsync of the directory). */
static int write_atomic(const char *path, const char *text, size_t len)
{
	size_t n = strlen(path) + 32;
	char *tmp = malloc(n), *dir, *slash;
	int fd, rc = 0;

	if (!tmp)
		return atr__err(ATR_ENOMEM, "out of memory");
	snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write_all(fd, text, len, 0) != 0 || fsync(fd) != 0) {
		rc = atr__err(ATR_EIO, "cannot write '%s': %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		free(tmp);
		return rc;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		rc = atr__err(ATR_EIO, "cannot rename '%s': %s", tmp, strerror(errno));
		unlink(tmp);
		free(tmp);
		return rc;
	}
	free(tmp);
	if ((dir = strdup(path))) {
		slash = strrchr(dir, '/');
		if (slash)
			*(slash == dir ? slash + 1 : slash) = '\0';
		fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			fsync(fd);
			close(fd);
		}
		free(dir);
	}
	return 0;
}

/*
 * The redaction salt of the log at 'path', kept beside it in PATH.salt
 * (mode 0600, 64 hex digits): drawn by the first writer, under the log's
 * flock, so every run masks alike. It is not part of the log: verifying
 * does not need it, and it must not travel with the file.
 */
static int load_salt(const char *path, uint8_t salt[32])
{
	size_t n = strlen(path) + 40;
	char *sp = malloc(n), *tmp = malloc(n), text[66];
	ssize_t got;
	int fd, rc = 0;

	if (!sp || !tmp) {
		rc = atr__err(ATR_ENOMEM, "out of memory");
		goto out;
	}
	snprintf(sp, n, "%s.salt", path);
	snprintf(tmp, n, "%s.salt.tmp.%ld", path, (long)getpid());
	if ((fd = open(sp, O_RDONLY | O_CLOEXEC)) < 0 && errno == ENOENT) {
		if ((rc = atr__random(salt, 32)) != 0)
			goto out;
		atr__hex(text, salt, 32);
		text[64] = '\n';
		unlink(tmp);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 || write_all(fd, text, 65, 0) != 0 || fsync(fd) != 0 ||
		    (link(tmp, sp) != 0 && errno != EEXIST)) {
			rc = atr__err(ATR_EIO, "cannot write '%s': %s", sp, strerror(errno));
			if (fd >= 0)
				close(fd);
			unlink(tmp);
			goto out;
		}
		close(fd);
		unlink(tmp);
		fd = open(sp, O_RDONLY | O_CLOEXEC); /* whoever linked first wins */
	}
	if (fd < 0) {
		rc = atr__err(ATR_EIO, "cannot open '%s': %s", sp, strerror(errno));
		goto out;
	}
	got = read(fd, text, sizeof(text));
	close(fd);
	for (int i = 0; got >= 64 && i < 32; i++) {
		int hi = atr__hexval(text[2 * i]), lo = atr__hexval(text[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			got = -1;
			break;
		}
		salt[i] = (uint8_t)(hi << 4 | lo);
	}
	if (got < 64 || got > 65)
		rc = atr__err(ATR_EINVALID, "'%s' is not a redaction salt (64 hex digits)", sp);
out:
	OPENSSL_cleanse(text, sizeof(text));
	free(sp);
	free(tmp);
	return rc;
}

/* Built-in detectors plus AGENTRAIL_REDACT_*, under the salt beside the log. */
static int make_redactor(struct file_sink *fs)
{
	atr_redact_config *cfg = NULL;
	uint8_t salt[32];
	int rc;

	if ((rc = atr_redact_config_new(&cfg)) != 0 || (rc = atr_redact_config_add_env(cfg)) != 0)
		goto out;
	if ((cfg->disable & ATR_REDACT_ALL) == ATR_REDACT_ALL && !cfg->npatterns && !cfg->nfields)
		goto out; /* off */
	if ((rc = load_salt(fs->path, salt)) != 0)
		goto out;
	cfg->salt = salt;
	cfg->salt_len = sizeof(salt);
	rc = atr_redactor_new(&fs->redactor, cfg);
	OPENSSL_cleanse(salt, sizeof(salt));
out:
	atr_redact_config_free(cfg);
	return rc;
}

/*
 * The checkpoint beside the log must describe a prefix of it: a log that
 * no longer extends what was signed is never signed again. 1 when the
 * stored checkpoint is ours and covers the whole log already.
 */
static int check_checkpoint(struct file_sink *fs)
{
	char buf[16384];
	atr_checkpoint cp;
	atr_hash root;
	size_t len;
	FILE *f;

	f = fopen(fs->cp_path, "r");
	if (!f) {
		if (errno == ENOENT)
			return 0;
		return atr__err(ATR_EIO, "cannot open '%s': %s", fs->cp_path, strerror(errno));
	}
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	if (atr_checkpoint_parse(buf, len, &cp) != 0)
		return atr__err(ATR_ETAMPER, "'%s' is not a checkpoint note; refusing to sign",
		                fs->cp_path);
	if (cp.size > fs->acc.n)
		return atr__err(
		    ATR_ETAMPER,
		    "'%s' vouches for %llu records but '%s' holds %llu: the log was cut; "
		    "refusing to extend it",
		    fs->cp_path, (unsigned long long)cp.size, fs->path,
		    (unsigned long long)fs->acc.n);
	atr_root_from_leaves(&root, fs->leaves, cp.size);
	if (memcmp(root.b, cp.root.b, 32) != 0)
		return atr__err(
		    ATR_ETAMPER,
		    "'%s' no longer matches the first %llu records of '%s': the log was "
		    "changed; refusing to extend it",
		    fs->cp_path, (unsigned long long)cp.size, fs->path);
	return cp.size == fs->acc.n && fs->verifier &&
	       atr_checkpoint_open(buf, len, fs->verifier, &cp) == 0;
}

static int file_flush(atr_sink *s)
{
	struct file_sink *fs = (struct file_sink *)s;
	char *note = NULL;
	atr_hash root;
	int rc;

	if (flock(fs->fd, LOCK_EX) != 0)
		return atr__err(ATR_EIO, "cannot lock '%s': %s", fs->path, strerror(errno));
	if ((rc = resync(fs)) < 0)
		goto out;
	if (fs->dirty) {
		if (fdatasync(fs->fd) != 0) {
			rc = atr__err(ATR_EIO, "cannot sync '%s': %s", fs->path, strerror(errno));
			goto out;
		}
		fs->dirty = 0;
	}
	if (!fs->signer || fs->acc.n == 0)
		goto out;
	if ((rc = check_checkpoint(fs)) != 0) {
		if (rc > 0)
			rc = 0; /* signed already */
		goto out;
	}
	acc_root(&fs->acc, &root);
	if ((rc = atr_checkpoint_sign(fs->signer, fs->acc.n, &root, &note)) < 0)
		goto out;
	rc = write_atomic(fs->cp_path, note, strlen(note));
	atr_free(note);
out:
	flock(fs->fd, LOCK_UN);
	return rc;
}

static void file_free(atr_sink *s)
{
	struct file_sink *fs = (struct file_sink *)s;

	if (!fs)
		return;
	if (fs->fd >= 0)
		close(fs->fd);
	atr_signer_free(fs->signer);
	atr_verifier_free(fs->verifier);
	atr_redactor_free(fs->redactor);
	free(fs->leaves);
	free(fs->wbuf);
	free(fs->cp_path);
	free(fs->path);
	free(fs);
}

int atr__sink_file_new(atr_sink **out, const char *path, const char *key_file)
{
	struct file_sink *fs;
	struct stat st;
	size_t n = strlen(path) + sizeof(".checkpoint");
	int rc;

	*out = NULL;
	if (!(fs = calloc(1, sizeof(*fs))))
		return atr__err(ATR_ENOMEM, "out of memory");
	fs->fd = -1;
	fs->base.version = ATR_SINK_VERSION;
	fs->base.name = "file";
	fs->base.max_events = 1000;
	fs->base.max_bytes = 16u << 20;
	fs->base.deliver = file_deliver;
	fs->base.flush = file_flush;
	fs->base.free = file_free;
	if (!(fs->path = strdup(path)) || !(fs->cp_path = malloc(n))) {
		rc = atr__err(ATR_ENOMEM, "out of memory");
		goto fail;
	}
	snprintf(fs->cp_path, n, "%s.checkpoint", path);
	fs->base.destination = fs->path;
	if (key_file) {
		char *skey = NULL, *vkey = NULL;

		if ((rc = atr_key_file_read(key_file, &skey)) < 0)
			goto fail;
		rc = atr_signer_new(&fs->signer, skey);
		atr_free(skey);
		if (rc < 0) {
			rc = atr__err_prefix(rc, "key file '%s'", key_file);
			goto fail;
		}
		if ((rc = atr_signer_verifier_key(fs->signer, &vkey)) < 0)
			goto fail;
		rc = atr_verifier_new(&fs->verifier, vkey);
		atr_free(vkey);
		if (rc < 0)
			goto fail;
	}
	fs->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fs->fd < 0) {
		rc = atr__err(errno == ENOENT ? ATR_ENOTFOUND : ATR_EIO, "cannot open '%s': %s",
		              path, strerror(errno));
		goto fail;
	}
	if (flock(fs->fd, LOCK_EX) != 0 || fstat(fs->fd, &st) != 0) {
		rc = atr__err(ATR_EIO, "cannot lock '%s': %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = atr__err(ATR_EINVALID, "'%s' is not a regular file", path);
		goto fail_locked;
	}
	fs->dev = st.st_dev;
	fs->ino = st.st_ino;
	if ((rc = scan(fs, 0, (uint64_t)st.st_size)) < 0 || (rc = check_checkpoint(fs)) < 0 ||
	    (rc = make_redactor(fs)) < 0)
		goto fail_locked;
	/* A file cut after its last record (or new and empty) gets its head back now. */
	if (fs->acc.n > 0 && fs->file_end == fs->rec_end && (rc = put_head(fs)) < 0)
		goto fail_locked;
	flock(fs->fd, LOCK_UN);
	*out = &fs->base;
	return 0;
fail_locked:
	flock(fs->fd, LOCK_UN);
fail:
	file_free(&fs->base);
	return rc;
}
