/*
 * The process tracer behind `agentrail exec`: a ptrace engine that follows
 * every process and thread a command starts (tracer.c), a seccomp filter
 * so that only the system calls of interest stop them (seccomp.c), paths
 * read from the tracee and made absolute (path.c), the session's context
 * (context.c) and the recorder that turns what it sees into events for a
 * producer (recorder.c). Internal to the agentrail program; never installed.
 */
#ifndef ATR_TRACE_H
#define ATR_TRACE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <agentrail/producer.h>

/* --files: which file events to emit. */
enum trace_files {
	TRACE_FILES_FIRST = 0, /* one event per path and kind per session, counts at the end */
	TRACE_FILES_ALL,       /* one event per operation */
	TRACE_FILES_NONE       /* no file events (and no file system call is stopped) */
};

/* What a session records and where. Every pointer is borrowed for trace_run(). */
struct trace_opts {
	enum trace_files files;
	int include_system;                  /* 1: keep reads under system directories */
	int net;                             /* 1: record connect() targets */
	const char *actor;                   /* NULL: the command's base name */
	const char *session_id;              /* NULL: a fresh UUID */
	const atr_producer_config *producer; /* the sink (its log_file_reads and
	                                        log_commands are honoured) */
	int notify_fd; /* where trace_run() reports to `agentrail exec` (below), or -1 */
};

/*
 * Messages on 'notify_fd', each one struct trace_note written at once:
 * 'P' the command started as process 'value'; 'X' the command ended with
 * exit status 'value' and everything is recorded (the tracer returns next);
 * 'B' the same while traced descendants still run: the tracer goes on
 * recording them in the background, its standard streams on /dev/null.
 */
struct trace_note {
	char tag;
	int value;
};

/*
 * Run 'argv' (argv[0] looked up in PATH) under the tracer and record the
 * session. Returns the command's exit status the way a shell reports it
 * (128+N for a signal, 126 cannot execute, 127 not found), or 125 when the
 * tracer could not start; messages go to stderr.
 */
int trace_run(const struct trace_opts *o, char **argv);

/* ------------------------------------------------------------ shared parts */

/* What the seccomp filter stops, passed back as SECCOMP_RET_DATA. */
enum trace_sc {
	SC_NONE = 0,
	SC_OPEN,
	SC_OPENAT,
	SC_OPENAT2,
	SC_CREAT,
	SC_TRUNCATE,
	SC_FTRUNCATE,
	SC_UNLINK,
	SC_UNLINKAT,
	SC_RMDIR,
	SC_RENAME,
	SC_RENAMEAT,
	SC_RENAMEAT2,
	SC_MKDIR,
	SC_MKDIRAT,
	SC_LINK,
	SC_LINKAT,
	SC_SYMLINK,
	SC_SYMLINKAT,
	SC_CONNECT,
	SC_COUNT
};

/* Which system calls the filter stops. */
struct trace_filter_opts {
	int reads;  /* stop read-only opens too */
	int writes; /* stop opens for writing and the calls that change the tree */
	int net;    /* stop connect() */
};

/*
 * Install the filter in the calling process (the child, before exec). 0 when
 * installed or when there was nothing to stop, -1 with errno. Async-signal-
 * safe apart from the stack it uses: called between fork and exec.
 */
int trace_filter_install(const struct trace_filter_opts *f);

/* 1 when this build can trace (x86_64 Linux), else 0. */
int trace_supported(void);

/* Read 'len' bytes at 'addr' of task 'tid'; 0, or -1 when unreadable. */
int trace_read_mem(pid_t tid, uint64_t addr, void *buf, size_t len);

/*
 * Read the NUL-terminated string at 'addr' of 'tid' into 'buf' ('cap' bytes).
 * 0, 1 when it was cut to fit, -1 when unreadable.
 */
int trace_read_str(pid_t tid, uint64_t addr, char *buf, size_t cap);

/*
 * Make 'path', as task 'tid' named it relative to 'dirfd' (AT_FDCWD: its
 * working directory), absolute and lexically normal ("." and ".." folded,
 * no double slash) into 'out' ('cap' bytes). 0, or -1 when the base cannot be
 * read (the task is gone) or the result does not fit.
 */
int trace_resolve(pid_t tid, int dirfd, const char *path, char *out, size_t cap);

/* The path of open descriptor 'fd' of 'tid' into 'out'; 0 or -1. */
int trace_fd_path(pid_t tid, int fd, char *out, size_t cap);

/* 1 when a read of absolute 'path' is a system read skipped by default. */
int trace_system_read(const char *path);

/* 1 when a write to absolute 'path' is to a device (/dev/null, a tty), skipped by default. */
int trace_device_write(const char *path);

/* ----------------------------------------------------------------- recorder */

struct recorder;

/* What an event is about. */
enum rec_kind { REC_READ = 0, REC_WRITE, REC_DELETE, REC_CONNECT, REC_KINDS };

/* One process image: what one successful execve started. */
struct trace_cmd {
	char id[37];        /* the event id of its command event */
	char parent_id[37]; /* the command, or session_start, it came from */
	char *argv;         /* NUL-separated, as in /proc/PID/cmdline */
	size_t argv_len;
	char *cwd;
	char *exe;
	pid_t pid;
	pid_t ppid;
	int64_t start_us;       /* wall clock */
	double start_mono;      /* monotonic seconds */
	double end_mono;        /* when it was replaced by another exec (next != NULL) */
	struct trace_cmd *next; /* the image that replaced it, in the same process */
};

/* A running process, for the list of those still running at session end. */
struct rec_running {
	pid_t pid;
	const char *argv; /* NUL-separated, or NULL when it never exec'd */
	size_t argv_len;
};

/*
 * Start a recorder: a producer from 'o->producer' and a thread that hands it
 * events in order, so that the traced processes never wait for a sink. A
 * producer that cannot start is reported once on stderr and the session goes
 * on unrecorded (the agent is never blocked by its audit). -1 when out of
 * memory.
 */
int rec_new(struct recorder **out, const struct trace_opts *o);

/* Event ids are UUIDv7 made here, so that links can point forward. */
void rec_new_id(char out[37]);

/* The session_start event id and the session id. Borrowed. */
const char *rec_session_event(const struct recorder *r);
const char *rec_session_id(const struct recorder *r);

/* 1 when commands (file reads) are recorded. */
int rec_commands_on(const struct recorder *r);
int rec_reads_on(const struct recorder *r);

/* session_start for 'argv' run as 'pid'. */
void rec_session_start(struct recorder *r, char **argv, pid_t pid);

/*
 * A file event: 'path' absolute, 'op' the operation ("open", "rename", ...),
 * 'other_key' and 'other' a second path for detail ("from" of a rename's
 * destination, "to" of its source, "symlink_to", or NULL), 'flags' the open
 * flags (or -1), by process 'pid' whose current command is 'cause'.
 */
void rec_file(struct recorder *r, enum rec_kind kind, const char *path, const char *op,
              const char *other_key, const char *other, long flags, pid_t pid, const char *cause);

/* A connect() to 'target' (text) of address family 'family'. */
void rec_connect(struct recorder *r, const char *target, const char *family, int in_progress,
                 pid_t pid, const char *cause);

/* A system read skipped (counted for session_end). */
void rec_skipped(struct recorder *r);

/* A process started (counted). */
void rec_process(struct recorder *r);

/* The command events of a process that ended with wait status 'status'. */
void rec_commands(struct recorder *r, const struct trace_cmd *chain, int status);

/*
 * session_end: 'exit_code' is the session's status as a shell reports it,
 * 'status' the main command's wait status (-1 when it never ran, 'error'
 * then says why), 'running' the 'n' traced processes still running.
 */
void rec_session_end(struct recorder *r, int exit_code, int status, const char *error,
                     const struct rec_running *running, size_t n);

/* Wait until every event so far reached the producer. */
void rec_drain(struct recorder *r);

/* Drain, stop the thread, free the producer and the recorder. NULL is a no-op. */
void rec_free(struct recorder *r);

/* Convert a wait status to a shell exit status (128+N for a signal). */
int trace_shell_status(int status);

/* ------------------------------------------------------------------ context */

/* Where and by whom a session runs, for session_start. */
struct trace_context {
	char *cwd;
	char *user;
	char *host;
	char *git_root; /* NULL when not in a git work tree */
	char *git_commit;
	char *git_branch; /* NULL on a detached HEAD */
	char
	    *rules_hash; /* hex SHA-256 of the rules files' contents, outermost first; NULL: none */
	char **rules;    /* their paths, outermost first, NULL-terminated */
	char **rules_sha; /* each file's own hex SHA-256 */
};

/* Fill 'c' for the current process. -1 when out of memory. */
int trace_context_get(struct trace_context *c);
void trace_context_release(struct trace_context *c);

#endif
