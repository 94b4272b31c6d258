/*
 * agentrail witness check: what a witness does with the checkpoints it was
 * given (serve --witness DIR): read every *.note in the directory, check
 * each signature against a verifier key, and prove against the log that
 * each checkpoint extends the one before it and that the log extends the
 * newest. Two checkpoints of one size with different roots are a fork even
 * without the log. Exit status as verify's: 0 OK, 1 TAMPERED (a bad
 * signature), TRUNCATED or FORKED, 3 ERROR.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"

enum { O_DIR = OPT_FIRST_CMD, O_KEY };
enum { WC_OK = 0, WC_BAD = 1, WC_ERROR = 3 };

/* Largest file taken for a checkpoint note. */
#define NOTE_MAX 65536

struct held {
	char *file;
	atr_checkpoint cp;
};

struct check {
	const char *dir;
	struct held *h;
	size_t n, cap;
	const char *status; /* the first bad finding's status, else NULL */
	int errors;
	size_t findings;
};

static void bad(struct check *c, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Report a finding: a status word and one line. */
static void bad(struct check *c, const char *status, const char *fmt, ...)
{
	va_list ap;

	if (strcmp(status, "ERROR") == 0)
		c->errors++;
	else if (!c->status)
		c->status = status;
	c->findings++;
	printf("%s: ", status);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* Read 'name' in the directory into a NUL-terminated buffer; NULL after reporting why. */
static char *read_note(struct check *c, int dfd, const char *name, size_t *len)
{
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	char *buf = NULL;
	size_t got = 0;
	struct stat st;

	if (fd < 0 || fstat(fd, &st) != 0) {
		bad(c, "ERROR", "cannot read '%s': %s", name, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > NOTE_MAX) {
		bad(c, "ERROR", "'%s' is not a checkpoint (not a regular file of at most %d bytes)",
		    name, NOTE_MAX);
		goto out;
	}
	if (!(buf = malloc((size_t)st.st_size + 1))) {
		bad(c, "ERROR", "out of memory");
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (got != (size_t)st.st_size) {
		bad(c, "ERROR", "cannot read '%s': %s", name, got ? "short read" : strerror(errno));
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[got] = '\0';
	*len = got;
out:
	if (fd >= 0)
		close(fd);
	return buf;
}

/* Take one note file: parse it, check its signature when a key is given. */
static void take(struct check *c, int dfd, const char *name, const atr_verifier *v)
{
	atr_checkpoint cp;
	size_t len = 0;
	char *note = read_note(c, dfd, name, &len);
	int rc;

	if (!note)
		return;
	rc = v ? atr_checkpoint_open(note, len, v, &cp) : atr_checkpoint_parse(note, len, &cp);
	free(note);
	if (rc == ATR_EINVALID) {
		bad(c, "ERROR", "'%s' is not a checkpoint note: %s", name, atr_errmsg());
		return;
	}
	if (rc == ATR_ENOTFOUND) {
		bad(c, "TAMPERED",
		    "'%s' (size %llu) carries no signature by key '%s' for its origin", name,
		    (unsigned long long)cp.size, atr_verifier_name(v));
		return;
	}
	if (rc == ATR_ETAMPER) {
		bad(c, "TAMPERED", "'%s' (size %llu): bad signature: %s", name,
		    (unsigned long long)cp.size, atr_errmsg());
		return;
	}
	if (rc != 0) {
		bad(c, "ERROR", "'%s': %s", name, atr_errmsg());
		return;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct held *h = realloc(c->h, cap * sizeof(*h));

		if (!h) {
			bad(c, "ERROR", "out of memory");
			return;
		}
		c->h = h;
		c->cap = cap;
	}
	if (!(c->h[c->n].file = strdup(name))) {
		bad(c, "ERROR", "out of memory");
		return;
	}
	c->h[c->n++].cp = cp;
}

/* Every *.note in the directory ('latest' and dot files are copies and temporaries). */
static int load(struct check *c, const atr_verifier *v)
{
	DIR *d = opendir(c->dir);
	struct dirent *e;

	if (!d) {
		bad(c, "ERROR", "cannot open the witness directory '%s': %s", c->dir,
		    strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);

		if (e->d_name[0] == '.' || n < 6 || strcmp(e->d_name + n - 5, ".note") != 0)
			continue;
		take(c, dirfd(d), e->d_name, v);
	}
	closedir(d);
	return 0;
}

/* Origin, then size, then file name: one origin is one log. */
static int cmp_held(const void *pa, const void *pb)
{
	const struct held *a = pa, *b = pb;
	int o = strcmp(a->cp.origin, b->cp.origin);

	if (o)
		return o;
	if (a->cp.size != b->cp.size)
		return a->cp.size < b->cp.size ? -1 : 1;
	return strcmp(a->file, b->file);
}

/*
 * Prove against the log that the tree of 'a' is a prefix of the tree of
 * 'new_size' with 'new_root': 0 holds, ATR_ETAMPER not, else an error.
 */
static int prove(atr_log *log, const atr_checkpoint *a, uint64_t new_size, const atr_hash *new_root)
{
	atr_hash *path = NULL;
	size_t n = 0;
	int rc = atr_log_consistency_proof(log, a->size, new_size, &path, &n);

	if (rc == 0)
		rc = atr_verify_consistency(a->size, new_size, &a->root, new_root, path, n);
	atr_free(path);
	return rc;
}

/* Check the checkpoints of one origin, h[0..n), sorted by size. */
static void check_origin(struct check *c, struct held *h, size_t n, atr_log *log, uint64_t lsize,
                         const atr_hash *lroot)
{
	char ra[65], rb[65];
	size_t i, k;
	int rc;

	for (i = 1; i < n; i++) {
		struct held *a = &h[i - 1], *b = &h[i];

		atr_hash_hex(&a->cp.root, ra);
		atr_hash_hex(&b->cp.root, rb);
		if (a->cp.size == b->cp.size) {
			if (memcmp(a->cp.root.b, b->cp.root.b, 32) != 0)
				bad(c, "FORKED",
				    "'%s' and '%s' are two checkpoints of size %llu with "
				    "different roots (%s, %s)",
				    a->file, b->file, (unsigned long long)a->cp.size, ra, rb);
			continue;
		}
		if (!log || b->cp.size > lsize)
			continue;
		rc = prove(log, &a->cp, b->cp.size, &b->cp.root);
		if (rc == ATR_ETAMPER)
			bad(c, "FORKED",
			    "'%s' (size %llu, root %s) and '%s' (size %llu, root %s) are not "
			    "consistent: the log cannot prove the second extends the first",
			    a->file, (unsigned long long)a->cp.size, ra, b->file,
			    (unsigned long long)b->cp.size, rb);
		else if (rc != 0)
			bad(c, "ERROR", "cannot prove '%s' to '%s': %s", a->file, b->file,
			    atr_errmsg());
	}
	if (!log)
		return;
	for (k = 0; k < n && h[k].cp.size <= lsize; k++)
		;
	if (k < n)
		bad(c, "TRUNCATED", "'%s' vouches for %llu records but the log has %llu", h[k].file,
		    (unsigned long long)h[k].cp.size, (unsigned long long)lsize);
	if (k == 0)
		return;
	/* The newest checkpoint within the log: does the log's tree now extend it? */
	rc = prove(log, &h[k - 1].cp, lsize, lroot);
	if (rc == ATR_ETAMPER) {
		atr_hash_hex(&h[k - 1].cp.root, ra);
		atr_hash_hex(lroot, rb);
		bad(c, "FORKED",
		    "the log (size %llu, root %s) does not extend '%s' (size %llu, root %s)",
		    (unsigned long long)lsize, rb, h[k - 1].file,
		    (unsigned long long)h[k - 1].cp.size, ra);
	} else if (rc != 0) {
		bad(c, "ERROR", "cannot prove '%s' to the log's tree: %s", h[k - 1].file,
		    atr_errmsg());
	}
}

static int witness_check(struct cli *cli, const char *dir, const char *key)
{
	struct check c = {0};
	atr_verifier *v = NULL;
	atr_log *log = NULL;
	uint64_t lsize = 0;
	atr_hash lroot;
	char *text = NULL, hex[65];
	size_t i, j, origins = 0;
	int rc = WC_ERROR;

	c.dir = dir;
	if (key && (atr_key_file_read(key, &text) != 0 || atr_verifier_new(&v, text) != 0)) {
		cli_err("verifier key '%s': %s", key, atr_errmsg());
		goto out;
	}
	if (cli->store) {
		if (cli_open(cli, ATR_OPEN_READONLY, &log) != CLI_OK)
			goto out;
		if (atr_log_size(log, &lsize) != 0 || atr_log_root(log, lsize, &lroot) != 0) {
			cli_fail("cannot read the log's tree");
			goto out;
		}
	}
	if (load(&c, v) != 0)
		goto verdict;
	if (c.n == 0 && c.findings == 0) {
		bad(&c, "ERROR", "no checkpoint (*.note) in '%s'", dir);
		goto verdict;
	}
	if (c.n)
		qsort(c.h, c.n, sizeof(*c.h), cmp_held);
	for (i = 0; i < c.n; i = j) {
		for (j = i + 1; j < c.n && strcmp(c.h[j].cp.origin, c.h[i].cp.origin) == 0; j++)
			;
		origins++;
		check_origin(&c, c.h + i, j - i, log, lsize, &lroot);
	}
verdict:
	if (c.status) {
		printf("%s: %zu finding%s in '%s'\n", c.status, c.findings,
		       c.findings == 1 ? "" : "s", dir);
		rc = WC_BAD;
	} else if (c.errors) {
		printf("ERROR: %d checkpoint%s in '%s' could not be checked\n", c.errors,
		       c.errors == 1 ? "" : "s", dir);
		rc = WC_ERROR;
	} else {
		printf("OK: %zu checkpoint%s in '%s' (sizes %llu to %llu, %zu origin%s)", c.n,
		       c.n == 1 ? "" : "s", dir, (unsigned long long)c.h[0].cp.size,
		       (unsigned long long)c.h[c.n - 1].cp.size, origins, origins == 1 ? "" : "s");
		if (log) {
			atr_hash_hex(&lroot, hex);
			printf(
			    " are consistent with each other and with the log (%llu records, root "
			    "%s)",
			    (unsigned long long)lsize, hex);
		} else {
			printf(" agree at equal sizes; consistency across sizes not proven (no "
			       "--store)");
		}
		if (v)
			printf("; every signature is by '%s'\n", atr_verifier_name(v));
		else
			printf("; signatures not checked (no --key)\n");
		rc = WC_OK;
	}
	if (cli_stdout_failed())
		rc = WC_ERROR;
out:
	for (i = 0; i < c.n; i++)
		free(c.h[i].file);
	free(c.h);
	atr_free(text);
	atr_verifier_free(v);
	atr_log_free(log);
	return rc;
}

int cmd_witness(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"dir", required_argument, NULL, O_DIR},
	    {"key", required_argument, NULL, O_KEY},
	    {"store", required_argument, NULL, OPT_STORE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *dir = NULL, *key = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_DIR:
			dir = optarg;
			break;
		case O_KEY:
			key = optarg;
			break;
		default:
			if ((r = cli_common_opt(cli, c, argv)) >= 0)
				return r;
		}
	}
	if (optind >= argc)
		return cli_usage(cli, "missing what to do: 'check'");
	if (strcmp(argv[optind], "check") != 0)
		return cli_usage(cli, "unknown witness command '%s'; expected 'check'",
		                 argv[optind]);
	if (++optind < argc)
		return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	if (!dir)
		return cli_usage(cli, "'witness check' needs --dir DIR");
	return witness_check(cli, dir, key);
}
