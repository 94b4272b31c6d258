/*
 * A test program for `agentrail exec` (built by test_exec.sh): four threads
 * each write a file and fork and exec cat on a file of their own; then, with
 * the argument "exec-from-thread", a thread other than the main one execs
 * sh -c 'exit 7', replacing the whole process.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void *work(void *arg)
{
	int i = (int)(long)arg, fd, status;
	char in[64], out[64];
	pid_t pid;

	snprintf(in, sizeof(in), "in%d.txt", i);
	snprintf(out, sizeof(out), "thread%d.out", i);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, "x\n", 2) != 2 || close(fd) != 0)
		return (void *)1;
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		execl("/bin/cat", "cat", in, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return (void *)1;
	return NULL;
}

static void *exec_sh(void *arg)
{
	(void)arg;
	execl("/bin/sh", "sh", "-c", "exit 7", (char *)NULL);
	return (void *)1;
}

int main(int argc, char **argv)
{
	pthread_t t[4];
	void *res;
	int bad = 0;

	for (long i = 0; i < 4; i++)
		if (pthread_create(&t[i], NULL, work, (void *)i) != 0)
			return 2;
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], &res);
		bad |= res != NULL;
	}
	if (bad)
		return 3;
	if (argc > 1 && strcmp(argv[1], "exec-from-thread") == 0) {
		pthread_t e;

		if (pthread_create(&e, NULL, exec_sh, NULL) != 0)
			return 4;
		pthread_join(e, NULL); /* never returns: the exec replaces us */
		return 5;
	}
	return 0;
}
