/*
 * agentrail exec: run a command under the tracer (src/trace) and record what
 * it did. This process stays in the foreground as the command's stand-in:
 * it forwards the signals sent to it, and exits with the command's status
 * as soon as the command ends, while the tracer, a child of its own, may go
 * on recording descendants that outlive it (docs/exec.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <agentrail/producer.h>

#include "cli/cli.h"
#include "trace/trace.h"

enum { O_SESSION = OPT_FIRST_CMD, O_ACTOR, O_FILES, O_INCLUDE_SYSTEM, O_NET };

/* Exit status when agentrail itself fails, as env(1) and timeout(1) do. */
#define EXEC_FAIL 125

/* Signals passed on to the command. */
static const int forwarded[] = {SIGINT,  SIGTERM, SIGHUP,   SIGQUIT,
                                SIGUSR1, SIGUSR2, SIGWINCH, SIGALRM};
#define NFORWARDED (sizeof(forwarded) / sizeof(forwarded[0]))

static volatile sig_atomic_t child_pid;

static void forward(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;

	(void)uc;
	/*
	 * Sent by the kernel (a terminal's ^C, ^\, a hangup, a window size
	 * change): the command is in our process group and had it too.
	 */
	if (si && si->si_code > 0) {
		errno = saved;
		return;
	}
	if (child_pid > 0)
		kill((pid_t)child_pid, sig);
	errno = saved;
}

/* Read one note from the tracer; 1, 0 at end of file. */
static int read_note(int fd, struct trace_note *n)
{
	size_t got = 0;

	while (got < sizeof(*n)) {
		ssize_t r = read(fd, (char *)n + got, sizeof(*n) - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return 0;
		got += (size_t)r;
	}
	return 1;
}

static int run(const struct trace_opts *opts, char **cmd)
{
	struct trace_opts o = *opts;
	struct sigaction sa;
	struct trace_note n;
	sigset_t fw, old;
	int fds[2], status;
	pid_t tracer;

	sigemptyset(&fw);
	for (size_t i = 0; i < NFORWARDED; i++)
		sigaddset(&fw, forwarded[i]);
	if (pipe2(fds, O_CLOEXEC) != 0) {
		cli_err("cannot make a pipe: %s", strerror(errno));
		return EXEC_FAIL;
	}
	/* Until the command's pid is known, signals wait. */
	sigprocmask(SIG_BLOCK, &fw, &old);
	fflush(NULL);
	tracer = fork();
	if (tracer < 0) {
		cli_err("cannot fork: %s", strerror(errno));
		sigprocmask(SIG_SETMASK, &old, NULL);
		close(fds[0]);
		close(fds[1]);
		return EXEC_FAIL;
	}
	if (tracer == 0) {
		int rc;

		close(fds[0]);
		sigprocmask(SIG_SETMASK, &old, NULL);
		o.notify_fd = fds[1];
		rc = trace_run(&o, cmd);
		fflush(NULL);
		_exit(rc);
	}
	close(fds[1]);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = forward;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigfillset(&sa.sa_mask);
	for (size_t i = 0; i < NFORWARDED; i++)
		sigaction(forwarded[i], &sa, NULL);
	for (;;) {
		if (!read_note(fds[0], &n)) {
			/* The tracer ended without a word: it said why on stderr, or crashed. */
			close(fds[0]);
			while (waitpid(tracer, &status, 0) < 0 && errno == EINTR)
				;
			if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
				return WEXITSTATUS(status);
			cli_err("the tracer stopped unexpectedly");
			return EXEC_FAIL;
		}
		switch (n.tag) {
		case 'P':
			child_pid = n.value;
			sigprocmask(SIG_SETMASK, &old, NULL);
			break;
		case 'X':
			close(fds[0]);
			while (waitpid(tracer, NULL, 0) < 0 && errno == EINTR)
				;
			return n.value;
		case 'B':
			/* The tracer goes on with the command's descendants. */
			close(fds[0]);
			return n.value;
		default:
			break;
		}
	}
}

int cmd_exec(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"session", required_argument, NULL, O_SESSION},
	    {"actor", required_argument, NULL, O_ACTOR},
	    {"files", required_argument, NULL, O_FILES},
	    {"include-system", no_argument, NULL, O_INCLUDE_SYSTEM},
	    {"net", no_argument, NULL, O_NET},
	    {"store", required_argument, NULL, OPT_STORE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct trace_opts opts;
	atr_producer_config cfg;
	int c, r;

	memset(&opts, 0, sizeof(opts));
	opts.files = TRACE_FILES_FIRST;
	opts.notify_fd = -1;
	/* '+': the command's own options are not ours. */
	while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		switch (c) {
		case O_SESSION:
			if (!*optarg || strlen(optarg) > 256)
				return cli_usage(cli, "option '--session' expects 1 to 256 bytes");
			opts.session_id = optarg;
			break;
		case O_ACTOR:
			if (!*optarg || strlen(optarg) > 256)
				return cli_usage(cli, "option '--actor' expects 1 to 256 bytes");
			opts.actor = optarg;
			break;
		case O_FILES:
			if (strcmp(optarg, "first") == 0)
				opts.files = TRACE_FILES_FIRST;
			else if (strcmp(optarg, "all") == 0)
				opts.files = TRACE_FILES_ALL;
			else if (strcmp(optarg, "none") == 0)
				opts.files = TRACE_FILES_NONE;
			else
				return cli_usage(
				    cli, "option '--files' expects all, first or none, got '%s'",
				    optarg);
			break;
		case O_INCLUDE_SYSTEM:
			opts.include_system = 1;
			break;
		case O_NET:
			opts.net = 1;
			break;
		default:
			if ((r = cli_common_opt(cli, c, argv)) >= 0)
				return r;
		}
	}
	if (optind >= argc)
		return cli_usage(cli, "missing the command to run (after '--')");
	if (atr_producer_config_from_env(&cfg) != 0) {
		cli_fail(NULL);
		return EXEC_FAIL;
	}
	if (cli->store_option)
		cfg.store = cli->store;
	opts.producer = &cfg;
	return run(&opts, argv + optind);
}
