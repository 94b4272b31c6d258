/*
 * The context of an `agentrail exec` session, for its session_start event:
 * working directory, user, host, the git commit and branch of the work tree
 * (read from .git directly, no git binary needed), and the agent rules in
 * force: every AGENTS.md and CLAUDE.md in the working directory and its
 * parents, hashed.
 */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "trace/trace.h"

#define MAX_RULES_FILE (16u << 20)
#define MAX_RULES      64

/* 'a' "/" 'b' (or 'b' alone when NULL 'a') into 'out'; -1 when it does not fit. */
static int join(char *out, size_t cap, const char *a, const char *b)
{
	size_t na = a ? strlen(a) : 0, nb = strlen(b);

	if (na + 1 + nb + 1 > cap)
		return -1;
	if (a) {
		memmove(out, a, na);
		out[na++] = '/';
	}
	memmove(out + na, b, nb + 1);
	return 0;
}

/* Read a small text file's first line (without the newline) into 'out'; 0 or -1. */
static int first_line(const char *path, char *out, size_t cap)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return -1;
	if (!fgets(out, (int)cap, f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	n = strlen(out);
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		out[--n] = '\0';
	return 0;
}

static int is_hex40(const char *s)
{
	size_t n = strspn(s, "0123456789abcdef");

	return (n == 40 || n == 64) && s[n] == '\0';
}

/* Look 'ref' up as a loose ref in 'dir', then in dir/packed-refs. */
static int read_ref(const char *dir, const char *ref, char *sha, size_t cap)
{
	char path[PATH_MAX + 300], line[PATH_MAX + 100];
	FILE *f;

	if (snprintf(path, sizeof(path), "%s/%s", dir, ref) < (int)sizeof(path) &&
	    first_line(path, sha, cap) == 0 && is_hex40(sha))
		return 0;
	if (snprintf(path, sizeof(path), "%s/packed-refs", dir) >= (int)sizeof(path))
		return -1;
	if (!(f = fopen(path, "re")))
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *sp = strchr(line, ' ');
		size_t n;

		if (line[0] == '#' || line[0] == '^' || !sp)
			continue;
		*sp = '\0';
		n = strlen(sp + 1);
		while (n > 0 && (sp[n] == '\n' || sp[n] == '\r'))
			sp[n--] = '\0';
		if (strcmp(sp + 1, ref) == 0 && is_hex40(line) && strlen(line) < cap) {
			memcpy(sha, line, strlen(line) + 1);
			fclose(f);
			return 0;
		}
	}
	fclose(f);
	return -1;
}

/* Find the git directory of the work tree holding 'cwd'; fills root and gitdir. */
static int find_git(const char *cwd, char *root, char *gitdir, size_t cap)
{
	char dir[PATH_MAX], path[PATH_MAX + 8], line[PATH_MAX + 16];
	struct stat st;

	if (strlen(cwd) >= sizeof(dir))
		return -1;
	memcpy(dir, cwd, strlen(cwd) + 1);
	for (;;) {
		char *slash;

		snprintf(path, sizeof(path), "%s/.git", strcmp(dir, "/") == 0 ? "" : dir);
		if (stat(path, &st) == 0) {
			if (strlen(dir) >= cap)
				return -1;
			memcpy(root, dir, strlen(dir) + 1);
			if (S_ISDIR(st.st_mode)) {
				if (strlen(path) >= cap)
					return -1;
				memcpy(gitdir, path, strlen(path) + 1);
				return 0;
			}
			/* A worktree or submodule: "gitdir: PATH", relative to the file. */
			if (first_line(path, line, sizeof(line)) != 0 ||
			    strncmp(line, "gitdir: ", 8) != 0)
				return -1;
			return join(gitdir, cap, line[8] == '/' ? NULL : dir, line + 8);
		}
		if (strcmp(dir, "/") == 0)
			return -1;
		slash = strrchr(dir, '/');
		if (slash == dir)
			dir[1] = '\0';
		else
			*slash = '\0';
	}
}

static void git_context(struct trace_context *c)
{
	char root[PATH_MAX], gitdir[PATH_MAX], common[PATH_MAX], head[PATH_MAX + 16];
	char path[PATH_MAX + 16], sha[80];

	if (find_git(c->cwd, root, gitdir, sizeof(gitdir)) != 0)
		return;
	snprintf(path, sizeof(path), "%s/HEAD", gitdir);
	if (first_line(path, head, sizeof(head)) != 0)
		return;
	c->git_root = strdup(root);
	/* A linked worktree keeps its refs in the common directory. */
	snprintf(path, sizeof(path), "%s/commondir", gitdir);
	if (first_line(path, common, sizeof(common)) != 0) {
		join(common, sizeof(common), NULL, gitdir);
	} else if (common[0] != '/') {
		char rel[PATH_MAX];

		join(rel, sizeof(rel), NULL, common);
		if (join(common, sizeof(common), gitdir, rel) != 0)
			join(common, sizeof(common), NULL, gitdir);
	}
	if (strncmp(head, "ref: ", 5) == 0) {
		const char *ref = head + 5;

		if (strncmp(ref, "refs/heads/", 11) == 0)
			c->git_branch = strdup(ref + 11);
		if (read_ref(gitdir, ref, sha, sizeof(sha)) == 0 ||
		    read_ref(common, ref, sha, sizeof(sha)) == 0)
			c->git_commit = strdup(sha);
	} else if (is_hex40(head)) {
		c->git_commit = strdup(head);
	}
}

static void hex(const unsigned char *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Hash the file at 'path' into 'one' and feed it to 'all' (may be NULL); -1 when unreadable. */
static int hash_file(const char *path, EVP_MD_CTX *all, char one[65])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char buf[65536], md[32];
	unsigned mdlen = 0;
	size_t n, total = 0;
	FILE *f;
	int rc = -1;

	if (!ctx)
		return -1;
	if (!(f = fopen(path, "re")))
		goto out;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto out;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		total += n;
		if (total > MAX_RULES_FILE)
			goto out;
		if (EVP_DigestUpdate(ctx, buf, n) != 1 ||
		    (all && EVP_DigestUpdate(all, buf, n) != 1))
			goto out;
	}
	if (ferror(f) || EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32)
		goto out;
	hex(md, 32, one);
	rc = 0;
out:
	if (f)
		fclose(f);
	EVP_MD_CTX_free(ctx);
	return rc;
}

static void rules_context(struct trace_context *c)
{
	static const char *const names[] = {"AGENTS.md", "CLAUDE.md"};
	char *found[MAX_RULES];
	int level[MAX_RULES];
	size_t n = 0, k = 0;
	int depth = 0;
	char dir[PATH_MAX];
	EVP_MD_CTX *all;
	unsigned char md[32];
	unsigned mdlen = 0;

	if (strlen(c->cwd) >= sizeof(dir))
		return;
	memcpy(dir, c->cwd, strlen(c->cwd) + 1);
	/* Found innermost directory first while walking up; hashed outermost first. */
	for (;;) {
		char *slash;

		for (size_t i = 0; i < 2 && n < MAX_RULES; i++) {
			char path[PATH_MAX + 16];
			struct stat st;

			snprintf(path, sizeof(path), "%s/%s", strcmp(dir, "/") == 0 ? "" : dir,
			         names[i]);
			if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
			    (found[n] = strdup(path)))
				level[n++] = depth;
		}
		if (strcmp(dir, "/") == 0)
			break;
		slash = strrchr(dir, '/');
		if (slash == dir)
			dir[1] = '\0';
		else
			*slash = '\0';
		depth++;
	}
	if (n == 0)
		return;
	c->rules = calloc(n + 1, sizeof(*c->rules));
	c->rules_sha = calloc(n + 1, sizeof(*c->rules_sha));
	all = EVP_MD_CTX_new();
	if (!c->rules || !c->rules_sha || !all || EVP_DigestInit_ex(all, EVP_sha256(), NULL) != 1)
		goto out;
	for (int d = depth; d >= 0; d--) {
		for (size_t i = 0; i < n; i++) {
			char one[65];

			if (level[i] != d)
				continue;
			/* Unreadable (or huge): not in force for the agent either. */
			if (hash_file(found[i], NULL, one) != 0 ||
			    hash_file(found[i], all, one) != 0)
				continue;
			c->rules_sha[k] = strdup(one);
			if (!c->rules_sha[k])
				goto out;
			c->rules[k++] = found[i];
			found[i] = NULL;
		}
	}
	if (k > 0 && EVP_DigestFinal_ex(all, md, &mdlen) == 1 && mdlen == 32) {
		char h[65];

		hex(md, 32, h);
		c->rules_hash = strdup(h);
	}
out:
	for (size_t i = 0; i < n; i++)
		free(found[i]);
	EVP_MD_CTX_free(all);
}

int trace_context_get(struct trace_context *c)
{
	char buf[PATH_MAX];
	struct passwd *pw;
	const char *user;

	memset(c, 0, sizeof(*c));
	if (!getcwd(buf, sizeof(buf)))
		snprintf(buf, sizeof(buf), "%s", "/");
	c->cwd = strdup(buf);
	pw = getpwuid(getuid());
	user = pw ? pw->pw_name : getenv("USER");
	if (user)
		c->user = strdup(user);
	else if (snprintf(buf, sizeof(buf), "%u", (unsigned)getuid()) > 0)
		c->user = strdup(buf);
	if (gethostname(buf, sizeof(buf)) == 0) {
		buf[sizeof(buf) - 1] = '\0';
		c->host = strdup(buf);
	}
	if (!c->cwd || !c->user) {
		trace_context_release(c);
		return -1;
	}
	git_context(c);
	rules_context(c);
	return 0;
}

void trace_context_release(struct trace_context *c)
{
	free(c->cwd);
	free(c->user);
	free(c->host);
	free(c->git_root);
	free(c->git_commit);
	free(c->git_branch);
	free(c->rules_hash);
	if (c->rules)
		for (size_t i = 0; c->rules[i]; i++)
			free(c->rules[i]);
	if (c->rules_sha)
		for (size_t i = 0; c->rules_sha[i]; i++)
			free(c->rules_sha[i]);
	free(c->rules);
	free(c->rules_sha);
	memset(c, 0, sizeof(*c));
}
