/*
 * The ptrace engine of `agentrail exec`. It starts the command seized with
 * PTRACE_SEIZE (so every fork, vfork, clone and exec is followed and group
 * stops stay job control's), under a seccomp filter that stops only the
 * system calls recorded; at such a stop it reads the arguments, lets the
 * call run to its exit stop when the result matters, and tells the recorder.
 * Processes are tracked per thread group: each successful exec starts a
 * command, which ends when its process exits (its status is then known) or
 * when it execs again.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "trace/trace.h"
#include "util/util.h"

#define MAX_CMDLINE (512u << 10)
#define MAX_RUNNING 100 /* processes listed in session_end */

/* A thread group: one process, one image at a time. */
struct proc {
	pid_t tgid;
	pid_t ppid;
	int nthreads;
	int main;                /* the process agentrail started */
	struct trace_cmd *chain; /* its images, first to current */
	struct trace_cmd *cmd;   /* the current one (NULL before its first exec) */
	char origin[37];         /* the command it was forked from (or session_start) */
	struct proc *prev, *next;
};

/* A traced thread and the call it is stopped in. */
struct task {
	pid_t tid;
	struct proc *proc;
	int in_call; /* resumed to the exit stop of call 'sc' */
	int sc;
	int dfd1, dfd2;
	long flags;
	int fd;
	char *p1, *p2; /* PATH_MAX each, made on first use */
	unsigned char addr[128];
	size_t addrlen;
};

/* A table of tasks by tid: open addressing, backward-shift deletion. */
struct tasks {
	struct task **slot;
	size_t cap, n;
};

struct tracer {
	const struct trace_opts *opts;
	struct recorder *rec;
	struct tasks tasks;
	struct proc *procs;
	int reads, writes;
	int main_done, main_status, background;
	int err_fd;
};

/* --------------------------------------------------------------- the tables */

static size_t slot_of(const struct tasks *t, pid_t tid)
{
	return ((size_t)(unsigned)tid * 2654435761u) & (t->cap - 1);
}

static struct task *task_get(struct tracer *tr, pid_t tid)
{
	struct tasks *t = &tr->tasks;

	if (t->cap == 0)
		return NULL;
	for (size_t i = slot_of(t, tid);; i = (i + 1) & (t->cap - 1)) {
		if (!t->slot[i])
			return NULL;
		if (t->slot[i]->tid == tid)
			return t->slot[i];
	}
}

static int task_put(struct tracer *tr, struct task *k)
{
	struct tasks *t = &tr->tasks;
	size_t i;

	if ((t->n + 1) * 2 > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct task **slot = calloc(cap, sizeof(*slot)), **old = t->slot;
		size_t oldcap = t->cap;

		if (!slot)
			return -1;
		t->slot = slot;
		t->cap = cap;
		for (size_t j = 0; j < oldcap; j++) {
			if (!old[j])
				continue;
			for (i = slot_of(t, old[j]->tid); t->slot[i]; i = (i + 1) & (cap - 1))
				;
			t->slot[i] = old[j];
		}
		free(old);
	}
	for (i = slot_of(t, k->tid); t->slot[i]; i = (i + 1) & (t->cap - 1))
		;
	t->slot[i] = k;
	t->n++;
	return 0;
}

static void task_free(struct task *k)
{
	free(k->p1);
	free(k->p2);
	free(k);
}

/* Remove 'k' from the table (the proc's thread count is the caller's) and free it. */
static void task_del(struct tracer *tr, struct task *k)
{
	struct tasks *t = &tr->tasks;
	size_t i = slot_of(t, k->tid), j;

	while (t->slot[i] != k)
		i = (i + 1) & (t->cap - 1);
	t->slot[i] = NULL;
	/* Shift back the entries that probed past the hole. */
	for (j = (i + 1) & (t->cap - 1); t->slot[j]; j = (j + 1) & (t->cap - 1)) {
		size_t home = slot_of(t, t->slot[j]->tid);

		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			t->slot[i] = t->slot[j];
			t->slot[j] = NULL;
			i = j;
		}
	}
	t->n--;
	task_free(k);
}

static struct proc *proc_find(struct tracer *tr, pid_t tgid)
{
	for (struct proc *p = tr->procs; p; p = p->next)
		if (p->tgid == tgid)
			return p;
	return NULL;
}

/* The id new events of 'p' point to as their cause. */
static const char *cause_of(struct tracer *tr, const struct proc *p)
{
	if (p->cmd && rec_commands_on(tr->rec))
		return p->cmd->id;
	return p->origin;
}

static struct proc *proc_new(struct tracer *tr, pid_t tgid, pid_t ppid, const char *origin)
{
	struct proc *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->tgid = tgid;
	p->ppid = ppid;
	snprintf(p->origin, sizeof(p->origin), "%s", origin);
	p->next = tr->procs;
	if (tr->procs)
		tr->procs->prev = p;
	tr->procs = p;
	rec_process(tr->rec);
	return p;
}

static void cmd_free(struct trace_cmd *c)
{
	while (c) {
		struct trace_cmd *next = c->next;

		free(c->argv);
		free(c->cwd);
		free(c->exe);
		free(c);
		c = next;
	}
}

static void proc_free(struct tracer *tr, struct proc *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		tr->procs = p->next;
	if (p->next)
		p->next->prev = p->prev;
	cmd_free(p->chain);
	free(p);
}

/* Tgid and PPid of 'tid' from /proc; -1 when it is gone. */
static int proc_status(pid_t tid, pid_t *tgid, pid_t *ppid)
{
	char path[64], line[256];
	FILE *f;
	int got = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	if (!(f = fopen(path, "re")))
		return -1;
	while (got < 2 && fgets(line, sizeof(line), f)) {
		long v;

		if (sscanf(line, "Tgid: %ld", &v) == 1) {
			*tgid = (pid_t)v;
			got++;
		} else if (sscanf(line, "PPid: %ld", &v) == 1) {
			*ppid = (pid_t)v;
			got++;
		}
	}
	fclose(f);
	return got == 2 ? 0 : -1;
}

/*
 * A task seen for the first time: from a fork event of 'parent' ('process'
 * when the event says it is a new process: fork and vfork), or (when its
 * first stop came before that event) from /proc alone.
 */
static struct task *task_new(struct tracer *tr, pid_t tid, struct task *parent, int process)
{
	struct task *k = calloc(1, sizeof(*k));
	pid_t tgid = tid, ppid = parent ? parent->proc->tgid : 0;
	struct proc *p;

	if (!k)
		return NULL;
	k->tid = tid;
	if (!(parent && process) && proc_status(tid, &tgid, &ppid) != 0 && !parent) {
		free(k);
		return NULL;
	}
	if ((p = proc_find(tr, tgid))) {
		/* a thread of a known process */
	} else {
		struct proc *from = parent ? parent->proc : proc_find(tr, ppid);

		p = proc_new(tr, tgid, ppid,
		             from ? cause_of(tr, from) : rec_session_event(tr->rec));
		if (!p) {
			free(k);
			return NULL;
		}
	}
	k->proc = p;
	p->nthreads++;
	if (task_put(tr, k) != 0) {
		p->nthreads--;
		free(k);
		return NULL;
	}
	return k;
}

/* ------------------------------------------------------------- resuming */

static void resume(struct task *k, int sig)
{
	/* ESRCH: it died meanwhile; its exit is reported next. */
	ptrace(k->in_call ? PTRACE_SYSCALL : PTRACE_CONT, k->tid, 0L, (long)sig);
}

/* ---------------------------------------------------------------- exec */

static char *read_file(const char *path, size_t max, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;

	*len = 0;
	if (!f)
		return NULL;
	buf = malloc(max + 1);
	if (!buf) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, max, f);
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static char *read_link_alloc(const char *link)
{
	char buf[PATH_MAX];
	ssize_t n = readlink(link, buf, sizeof(buf) - 1);

	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return strdup(buf);
}

static int64_t wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void on_exec(struct tracer *tr, struct task *k)
{
	unsigned long former = 0;
	struct proc *p = k->proc;
	struct trace_cmd *c;
	char path[64];

	/* A thread other than the leader exec'd: it now has the leader's tid. */
	if (ptrace(PTRACE_GETEVENTMSG, k->tid, 0L, &former) == 0 && (pid_t)former != k->tid) {
		struct task *old = task_get(tr, (pid_t)former);

		if (old) {
			old->proc->nthreads--;
			task_del(tr, old);
		}
	}
	k->in_call = 0;
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	rec_new_id(c->id);
	snprintf(c->parent_id, sizeof(c->parent_id), "%s", cause_of(tr, p));
	c->pid = p->tgid;
	c->ppid = p->ppid;
	c->start_us = wall_us();
	c->start_mono = util_now_mono();
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)p->tgid);
	c->argv = read_file(path, MAX_CMDLINE, &c->argv_len);
	snprintf(path, sizeof(path), "/proc/%d/cwd", (int)p->tgid);
	c->cwd = read_link_alloc(path);
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)p->tgid);
	c->exe = read_link_alloc(path);
	if (p->cmd) {
		p->cmd->end_mono = c->start_mono;
		p->cmd->next = c;
	} else {
		p->chain = c;
	}
	p->cmd = c;
}

/* ------------------------------------------------------- system calls */

static int is_read(long flags)
{
	return (flags & O_ACCMODE) == O_RDONLY && !(flags & (O_CREAT | O_TRUNC));
}

static int want_path(struct task *k, int which)
{
	char **p = which == 1 ? &k->p1 : &k->p2;

	if (!*p)
		*p = malloc(PATH_MAX);
	return *p ? 0 : -1;
}

/* Read path argument 'which' (1 or 2) at 'addr'; -1 when unreadable. */
static int read_path(struct task *k, int which, uint64_t addr)
{
	if (want_path(k, which) != 0)
		return -1;
	return trace_read_str(k->tid, addr, which == 1 ? k->p1 : k->p2, PATH_MAX) == 0 ? 0 : -1;
}

/*
 * At the seccomp stop: read what the call names. Returns 1 when its exit
 * stop is needed (the result decides whether it is recorded), else 0.
 */
static int call_enter(struct tracer *tr, struct task *k, int sc, const uint64_t *a)
{
	const struct trace_opts *o = tr->opts;

	k->sc = sc;
	k->dfd1 = k->dfd2 = AT_FDCWD;
	k->flags = -1;
	switch (sc) {
	case SC_OPEN:
	case SC_OPENAT:
	case SC_OPENAT2:
	case SC_CREAT:
		if (sc == SC_OPEN) {
			k->flags = (long)(int)a[1];
			if (read_path(k, 1, a[0]) != 0)
				return 0;
		} else if (sc == SC_CREAT) {
			k->flags = O_CREAT | O_WRONLY | O_TRUNC;
			if (read_path(k, 1, a[0]) != 0)
				return 0;
		} else {
			k->dfd1 = (int)a[0];
			if (sc == SC_OPENAT) {
				k->flags = (long)(int)a[2];
			} else {
				struct open_how how;

				if (a[3] < sizeof(uint64_t) ||
				    trace_read_mem(k->tid, a[2], &how.flags, sizeof(how.flags)) !=
				        0)
					return 0;
				k->flags = (long)how.flags;
			}
			if (read_path(k, 1, a[1]) != 0)
				return 0;
		}
		if (k->flags & O_PATH)
			return 0;
		if (is_read(k->flags)) {
			if (!tr->reads)
				return 0;
			if (k->p1[0] == '/' && !o->include_system && trace_system_read(k->p1)) {
				rec_skipped(tr->rec);
				return 0;
			}
		} else {
			if (!tr->writes)
				return 0;
			if (k->p1[0] == '/' && !o->include_system && trace_device_write(k->p1))
				return 0;
		}
		return 1;
	case SC_TRUNCATE:
	case SC_UNLINK:
	case SC_RMDIR:
	case SC_MKDIR:
		return read_path(k, 1, a[0]) == 0;
	case SC_FTRUNCATE:
		k->fd = (int)a[0];
		return 1;
	case SC_UNLINKAT:
	case SC_MKDIRAT:
		k->dfd1 = (int)a[0];
		if (sc == SC_UNLINKAT)
			k->flags = (long)(int)a[2]; /* AT_REMOVEDIR */
		return read_path(k, 1, a[1]) == 0;
	case SC_RENAME:
	case SC_LINK:
		return read_path(k, 1, a[0]) == 0 && read_path(k, 2, a[1]) == 0;
	case SC_RENAMEAT:
	case SC_RENAMEAT2:
	case SC_LINKAT:
		k->dfd1 = (int)a[0];
		k->dfd2 = (int)a[2];
		k->flags = sc == SC_RENAMEAT2 ? (long)(unsigned)a[4] : 0;
		return read_path(k, 1, a[1]) == 0 && read_path(k, 2, a[3]) == 0;
	case SC_SYMLINK:
		return read_path(k, 1, a[0]) == 0 && read_path(k, 2, a[1]) == 0;
	case SC_SYMLINKAT:
		k->dfd2 = (int)a[1];
		return read_path(k, 1, a[0]) == 0 && read_path(k, 2, a[2]) == 0;
	case SC_CONNECT:
		k->fd = (int)a[0];
		k->addrlen = a[2] < sizeof(k->addr) ? (size_t)a[2] : sizeof(k->addr);
		return k->addrlen >= sizeof(sa_family_t) &&
		       trace_read_mem(k->tid, a[1], k->addr, k->addrlen) == 0;
	default:
		return 0;
	}
}

/* The text of a connect() target; NULL for families not recorded. */
static const char *connect_target(struct task *k, char *out, size_t cap, const char **family)
{
	sa_family_t fam;
	char host[INET6_ADDRSTRLEN];

	memcpy(&fam, k->addr, sizeof(fam));
	if (fam == AF_INET && k->addrlen >= sizeof(struct sockaddr_in)) {
		struct sockaddr_in sin;

		memcpy(&sin, k->addr, sizeof(sin));
		inet_ntop(AF_INET, &sin.sin_addr, host, sizeof(host));
		snprintf(out, cap, "%s:%u", host, (unsigned)ntohs(sin.sin_port));
		*family = "inet";
		return out;
	}
	if (fam == AF_INET6 && k->addrlen >= sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 sin6;

		memcpy(&sin6, k->addr, sizeof(sin6));
		inet_ntop(AF_INET6, &sin6.sin6_addr, host, sizeof(host));
		snprintf(out, cap, "[%s]:%u", host, (unsigned)ntohs(sin6.sin6_port));
		*family = "inet6";
		return out;
	}
	if (fam == AF_UNIX && k->addrlen > offsetof(struct sockaddr_un, sun_path)) {
		const char *p = (const char *)k->addr + offsetof(struct sockaddr_un, sun_path);
		size_t n = k->addrlen - offsetof(struct sockaddr_un, sun_path);

		*family = "unix";
		if (p[0] == '\0') /* abstract */
			snprintf(out, cap, "unix:@%.*s", (int)strnlen(p + 1, n - 1), p + 1);
		else
			snprintf(out, cap, "unix:%.*s", (int)strnlen(p, n), p);
		return out;
	}
	return NULL;
}

/* Resolve path 'which' of 'k' against 'dfd' into 'out'; falls back to the path as named. */
static void resolve(struct task *k, int dfd, const char *path, char *out, size_t cap)
{
	if (trace_resolve(k->tid, dfd, path, out, cap) != 0)
		snprintf(out, cap, "%s", path);
}

/* At the exit stop of a call that succeeded: record it. */
static void call_done(struct tracer *tr, struct task *k, int64_t rval)
{
	const struct trace_opts *o = tr->opts;
	const char *cause = cause_of(tr, k->proc);
	pid_t pid = k->proc->tgid;
	char path[PATH_MAX], other[PATH_MAX];

	switch (k->sc) {
	case SC_OPEN:
	case SC_OPENAT:
	case SC_OPENAT2:
	case SC_CREAT:
		resolve(k, k->dfd1, k->p1, path, sizeof(path));
		if (is_read(k->flags)) {
			if (!o->include_system && trace_system_read(path))
				rec_skipped(tr->rec);
			else
				rec_file(tr->rec, REC_READ, path, "open", NULL, NULL, k->flags, pid,
				         cause);
		} else if (o->include_system || !trace_device_write(path)) {
			rec_file(tr->rec, REC_WRITE, path, k->sc == SC_CREAT ? "creat" : "open",
			         NULL, NULL, k->flags, pid, cause);
		}
		break;
	case SC_TRUNCATE:
		resolve(k, AT_FDCWD, k->p1, path, sizeof(path));
		rec_file(tr->rec, REC_WRITE, path, "truncate", NULL, NULL, -1, pid, cause);
		break;
	case SC_FTRUNCATE:
		if (trace_fd_path(k->tid, k->fd, path, sizeof(path)) == 0 && path[0] == '/' &&
		    (o->include_system || !trace_device_write(path)))
			rec_file(tr->rec, REC_WRITE, path, "truncate", NULL, NULL, -1, pid, cause);
		break;
	case SC_UNLINK:
	case SC_UNLINKAT:
	case SC_RMDIR:
		resolve(k, k->dfd1, k->p1, path, sizeof(path));
		rec_file(tr->rec, REC_DELETE, path,
		         k->sc == SC_RMDIR || (k->sc == SC_UNLINKAT && (k->flags & AT_REMOVEDIR))
		             ? "rmdir"
		             : "unlink",
		         NULL, NULL, -1, pid, cause);
		break;
	case SC_MKDIR:
	case SC_MKDIRAT:
		resolve(k, k->dfd1, k->p1, path, sizeof(path));
		rec_file(tr->rec, REC_WRITE, path, "mkdir", NULL, NULL, -1, pid, cause);
		break;
	case SC_RENAME:
	case SC_RENAMEAT:
	case SC_RENAMEAT2:
		resolve(k, k->dfd1, k->p1, path, sizeof(path));
		resolve(k, k->dfd2, k->p2, other, sizeof(other));
		if (k->sc == SC_RENAMEAT2 && (k->flags & RENAME_EXCHANGE)) {
			rec_file(tr->rec, REC_WRITE, path, "exchange", "with", other, -1, pid,
			         cause);
			rec_file(tr->rec, REC_WRITE, other, "exchange", "with", path, -1, pid,
			         cause);
		} else {
			rec_file(tr->rec, REC_DELETE, path, "rename", "to", other, -1, pid, cause);
			rec_file(tr->rec, REC_WRITE, other, "rename", "from", path, -1, pid, cause);
		}
		break;
	case SC_LINK:
	case SC_LINKAT:
		resolve(k, k->dfd1, k->p1, path, sizeof(path));
		resolve(k, k->dfd2, k->p2, other, sizeof(other));
		rec_file(tr->rec, REC_WRITE, other, "link", "from", path, -1, pid, cause);
		break;
	case SC_SYMLINK:
	case SC_SYMLINKAT:
		resolve(k, k->dfd2, k->p2, other, sizeof(other));
		rec_file(tr->rec, REC_WRITE, other, "symlink", "symlink_to", k->p1, -1, pid, cause);
		break;
	case SC_CONNECT: {
		const char *family = NULL;
		const char *target = connect_target(k, path, sizeof(path), &family);

		if (target)
			rec_connect(tr->rec, target, family, rval == -EINPROGRESS, pid, cause);
		break;
	}
	default:
		break;
	}
}

static void on_seccomp(struct tracer *tr, struct task *k)
{
	struct __ptrace_syscall_info info;

	memset(&info, 0, sizeof(info));
	if (ptrace(PTRACE_GET_SYSCALL_INFO, k->tid, (void *)sizeof(info), &info) <= 0 ||
	    info.op != PTRACE_SYSCALL_INFO_SECCOMP) {
		resume(k, 0);
		return;
	}
	k->in_call = call_enter(tr, k, (int)info.seccomp.ret_data, info.seccomp.args);
	resume(k, 0);
}

static void on_syscall_stop(struct tracer *tr, struct task *k)
{
	struct __ptrace_syscall_info info;

	memset(&info, 0, sizeof(info));
	if (!k->in_call) {
		resume(k, 0);
		return;
	}
	if (ptrace(PTRACE_GET_SYSCALL_INFO, k->tid, (void *)sizeof(info), &info) <= 0 ||
	    info.op != PTRACE_SYSCALL_INFO_EXIT) {
		/* Not the exit stop (cannot happen after a seccomp stop): give up on it. */
		k->in_call = 0;
		resume(k, 0);
		return;
	}
	k->in_call = 0;
	if (!info.exit.is_error || (k->sc == SC_CONNECT && info.exit.rval == -EINPROGRESS))
		call_done(tr, k, info.exit.rval);
	resume(k, 0);
}

/* ------------------------------------------------------------------ the loop */

/* The process 'p' is gone with wait 'status': its commands end. */
static void proc_end(struct tracer *tr, struct proc *p, int status)
{
	if (p->chain)
		rec_commands(tr->rec, p->chain, status);
	if (p->main) {
		tr->main_done = 1;
		tr->main_status = status;
	}
	/* Threads whose exit was never reported (it cannot be now). */
	if (p->nthreads > 0) {
		for (size_t i = 0; i < tr->tasks.cap;) {
			struct task *k = tr->tasks.slot[i];

			if (k && k->proc == p) {
				task_del(tr, k); /* may shift another entry into slot i */
				continue;
			}
			i++;
		}
	}
	proc_free(tr, p);
}

static void on_stop(struct tracer *tr, pid_t tid, int status)
{
	struct task *k = task_get(tr, tid);
	int sig = WSTOPSIG(status);
	unsigned event = (unsigned)status >> 16;
	unsigned long msg = 0;

	if (!k && !(k = task_new(tr, tid, NULL, 0))) {
		/* Unknown and unreadable: let it go on. */
		ptrace(PTRACE_CONT, tid, 0L, 0L);
		return;
	}
	switch (event) {
	case PTRACE_EVENT_SECCOMP:
		on_seccomp(tr, k);
		return;
	case PTRACE_EVENT_FORK:
	case PTRACE_EVENT_VFORK:
	case PTRACE_EVENT_CLONE:
		if (ptrace(PTRACE_GETEVENTMSG, tid, 0L, &msg) == 0 && !task_get(tr, (pid_t)msg))
			task_new(tr, (pid_t)msg, k, event != PTRACE_EVENT_CLONE);
		resume(k, 0);
		return;
	case PTRACE_EVENT_EXEC:
		on_exec(tr, k);
		resume(k, 0);
		return;
	case PTRACE_EVENT_STOP:
		/* A group stop (job control): stay stopped, yet see the SIGCONT. */
		if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
			ptrace(PTRACE_LISTEN, tid, 0L, 0L);
		else
			resume(k, 0); /* a new task's first stop, or the end of a listen */
		return;
	case 0:
		break;
	default:
		resume(k, 0);
		return;
	}
	if (sig == (SIGTRAP | 0x80)) {
		on_syscall_stop(tr, k);
		return;
	}
	/* A signal for the tracee: deliver it. */
	resume(k, sig);
}

static void note(struct tracer *tr, char tag, int value)
{
	struct trace_note n = {tag, value};
	ssize_t w;

	if (tr->opts->notify_fd < 0)
		return;
	do
		w = write(tr->opts->notify_fd, &n, sizeof(n));
	while (w < 0 && errno == EINTR);
}

/*
 * The processes still traced, for session_end, with their argv as /proc says
 * now; '*out' is the caller's, to release with running_free().
 */
static size_t running_list(struct tracer *tr, struct rec_running **out)
{
	size_t n = 0;

	for (struct proc *p = tr->procs; p && n < MAX_RUNNING; p = p->next)
		n++;
	*out = n ? calloc(n, sizeof(**out)) : NULL;
	if (!*out)
		return 0;
	n = 0;
	for (struct proc *p = tr->procs; p && n < MAX_RUNNING; p = p->next) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)p->tgid);
		(*out)[n].pid = p->tgid;
		(*out)[n].argv = read_file(path, 4096, &(*out)[n].argv_len);
		n++;
	}
	return n;
}

static void running_free(struct rec_running *run, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free((char *)run[i].argv);
	free(run);
}

/* Why the command never ran, from the child's error pipe. */
struct start_error {
	int stage; /* 1: the filter, 2: exec */
	int err;
};

static int never_ran(struct tracer *tr, char **argv, char *msg, size_t cap)
{
	struct start_error se = {0, 0};

	if (read(tr->err_fd, &se, sizeof(se)) != (ssize_t)sizeof(se))
		se.stage = 0;
	if (se.stage == 1) {
		snprintf(msg, cap, "cannot install the seccomp filter: %s", strerror(se.err));
		return 125;
	}
	if (se.stage == 2) {
		snprintf(msg, cap, "cannot run '%s': %s", argv[0], strerror(se.err));
		return se.err == ENOENT ? 127 : 126;
	}
	snprintf(msg, cap, "'%s' ended before it started", argv[0]);
	return 125;
}

/* Go on in the background: `agentrail exec` returns, we keep recording. */
static void go_background(struct tracer *tr, int status)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	note(tr, 'B', status);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	tr->background = 1;
}

static int loop(struct tracer *tr, char **argv)
{
	int exit_code = 125;

	for (;;) {
		int status;
		pid_t tid;

		if (tr->tasks.n == 0)
			break;
		tid = waitpid(-1, &status, __WALL);
		if (tid < 0) {
			if (errno == EINTR)
				continue;
			break; /* ECHILD: nothing left to wait for */
		}
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			struct task *k = task_get(tr, tid);
			struct proc *p;
			int was_main, was_main_exec;

			if (!k)
				continue;
			p = k->proc;
			p->nthreads--;
			task_del(tr, k);
			if (tid != p->tgid)
				continue;
			was_main = p->main;
			was_main_exec = p->main && p->chain != NULL;
			proc_end(tr, p, status);
			if (!was_main)
				continue;
			if (!was_main_exec) {
				char msg[PATH_MAX + 128];

				exit_code = never_ran(tr, argv, msg, sizeof(msg));
				fprintf(stderr, "agentrail: %s\n", msg);
				rec_session_end(tr->rec, exit_code, -1, msg, NULL, 0);
			} else {
				exit_code = trace_shell_status(status);
				if (tr->tasks.n > 0) {
					struct rec_running *run;
					size_t n = running_list(tr, &run);

					rec_session_end(tr->rec, exit_code, status, NULL, run, n);
					running_free(run, n);
					rec_drain(tr->rec);
					go_background(tr, exit_code);
				} else {
					rec_session_end(tr->rec, exit_code, status, NULL, NULL, 0);
				}
			}
			continue;
		}
		if (WIFSTOPPED(status))
			on_stop(tr, tid, status);
	}
	return exit_code;
}

/* ---------------------------------------------------------------- start */

/* Signals the tracer ignores (they are the command's); the child gets them back. */
static const int ignored[] = {SIGINT,  SIGQUIT, SIGHUP,  SIGTERM, SIGPIPE, SIGTSTP,
                              SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2, SIGALRM};
#define NIGNORED (sizeof(ignored) / sizeof(ignored[0]))

static void child(const struct tracer *tr, char **argv, int go_fd, int err_fd,
                  const struct sigaction *old, const char *session)
{
	struct trace_filter_opts f = {tr->reads, tr->writes, tr->opts->net};
	struct start_error se;
	char c;

	for (size_t i = 0; i < NIGNORED; i++)
		sigaction(ignored[i], &old[i], NULL);
	/* Wait until the tracer holds us: a filter without a tracer fails calls. */
	if (read(go_fd, &c, 1) != 1)
		_exit(125);
	setenv("AGENTRAIL_SESSION_ID", session, 1);
	if (trace_filter_install(&f) != 0) {
		se.stage = 1;
		se.err = errno;
		(void)!write(err_fd, &se, sizeof(se));
		_exit(125);
	}
	execvp(argv[0], argv);
	se.stage = 2;
	se.err = errno;
	(void)!write(err_fd, &se, sizeof(se));
	_exit(errno == ENOENT ? 127 : 126);
}

int trace_run(const struct trace_opts *o, char **argv)
{
	struct tracer tr;
	struct sigaction ign, old[NIGNORED];
	struct trace_opts opts = *o;
	char session[257];
	int go[2] = {-1, -1}, errp[2] = {-1, -1};
	int rc = 125;
	pid_t pid;
	struct task *k;

	memset(&tr, 0, sizeof(tr));
	if (!trace_supported()) {
		fprintf(stderr, "agentrail: exec traces x86_64 Linux only in this build\n");
		return 125;
	}
	if (o->session_id)
		snprintf(session, sizeof(session), "%s", o->session_id);
	else
		rec_new_id(session);
	opts.session_id = session;
	tr.opts = &opts;
	tr.reads = o->files != TRACE_FILES_NONE && o->producer->log_file_reads;
	tr.writes = o->files != TRACE_FILES_NONE;
	tr.err_fd = -1;

	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	for (size_t i = 0; i < NIGNORED; i++)
		sigaction(ignored[i], &ign, &old[i]);
	if (pipe2(go, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0) {
		fprintf(stderr, "agentrail: cannot make a pipe: %s\n", strerror(errno));
		goto out;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "agentrail: cannot fork: %s\n", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		close(go[1]);
		close(errp[0]);
		child(&tr, argv, go[0], errp[1], old, session);
	}
	close(go[0]);
	close(errp[1]);
	go[0] = errp[1] = -1;
	tr.err_fd = errp[0];
	if (ptrace(PTRACE_SEIZE, pid, 0L,
	           (long)(PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE |
	                  PTRACE_O_TRACEEXEC | PTRACE_O_TRACESECCOMP | PTRACE_O_TRACESYSGOOD |
	                  PTRACE_O_EXITKILL)) != 0) {
		fprintf(stderr, "agentrail: cannot trace the command: %s\n", strerror(errno));
		close(go[1]); /* the child exits 125 */
		go[1] = -1;
		waitpid(pid, NULL, 0);
		goto out;
	}
	if (rec_new(&tr.rec, &opts) != 0) {
		fprintf(stderr, "agentrail: out of memory\n");
		kill(pid, SIGKILL);
		waitpid(pid, NULL, __WALL);
		goto out;
	}
	rec_session_start(tr.rec, argv, pid);
	k = task_new(&tr, pid, NULL, 0);
	if (!k) {
		fprintf(stderr, "agentrail: out of memory\n");
		kill(pid, SIGKILL);
		waitpid(pid, NULL, __WALL);
		goto out;
	}
	k->proc->main = 1;
	snprintf(k->proc->origin, sizeof(k->proc->origin), "%s", rec_session_event(tr.rec));
	note(&tr, 'P', (int)pid);
	if (write(go[1], "g", 1) != 1) {
		fprintf(stderr, "agentrail: cannot start the command: %s\n", strerror(errno));
		kill(pid, SIGKILL);
	}
	close(go[1]);
	go[1] = -1;

	rc = loop(&tr, argv);
	if (!tr.main_done) {
		/* waitpid had nothing more to say before the command ended (cannot happen) */
		fprintf(stderr, "agentrail: lost track of the command\n");
		rec_session_end(tr.rec, 125, -1, "lost track of the command", NULL, 0);
	}
	/* Anything left: forget it. */
	for (size_t i = 0; i < tr.tasks.cap; i++)
		if (tr.tasks.slot[i])
			task_free(tr.tasks.slot[i]);
	while (tr.procs)
		proc_free(&tr, tr.procs);
	rec_free(tr.rec);
	tr.rec = NULL;
	if (!tr.background)
		note(&tr, 'X', rc);
out:
	if (tr.rec)
		rec_free(tr.rec);
	for (int i = 0; i < 2; i++) {
		if (go[i] >= 0)
			close(go[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	free(tr.tasks.slot);
	for (size_t i = 0; i < NIGNORED; i++)
		sigaction(ignored[i], &old[i], NULL);
	return rc;
}
