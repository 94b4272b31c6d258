/*
 * agentrail bench exec: the cost of tracing. Generates a C project (N source
 * files, shared and per-module headers, a Makefile), then builds it with
 * `make -jJ` bare and under `agentrail exec` in turn, R times each, and
 * prints the medians and their ratio as one JSON line.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/util.h"

enum { O_SOURCES = OPT_FIRST_CMD, O_JOBS, O_RUNS, O_KEEP };

#define MODULES 20

static int write_text(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;
	int bad;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return -1;
	if (!(f = fopen(path, "we"))) {
		cli_err("cannot create '%s': %s", path, strerror(errno));
		return -1;
	}
	fputs(text, f);
	bad = ferror(f);
	if (fclose(f) != 0 || bad) {
		cli_err("cannot write '%s'", path);
		return -1;
	}
	return 0;
}

/* The generated project: sources f000.c..., headers common.h and m00.h..., a Makefile. */
static int make_project(const char *dir, unsigned sources)
{
	struct util_buf b;
	char name[64], line[512];
	int rc = -1;

	util_buf_init(&b);
	if (write_text(dir, "common.h",
	               "#ifndef COMMON_H\n#define COMMON_H\n#include <stddef.h>\n"
	               "#include <stdint.h>\nstruct item { uint64_t key; double weight; "
	               "char name[32]; };\nuint64_t mix(uint64_t x);\n#endif\n") != 0)
		goto out;
	for (unsigned m = 0; m < MODULES; m++) {
		snprintf(name, sizeof(name), "m%02u.h", m);
		snprintf(line, sizeof(line),
		         "#ifndef M%02u_H\n#define M%02u_H\n#include \"common.h\"\n"
		         "static inline uint64_t m%02u_step(uint64_t x) { return mix(x + %uu); }\n"
		         "#endif\n",
		         m, m, m, m);
		if (write_text(dir, name, line) != 0)
			goto out;
	}
	for (unsigned i = 0; i < sources; i++) {
		util_buf_reset(&b);
		snprintf(line, sizeof(line),
		         "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n"
		         "#include \"common.h\"\n#include \"m%02u.h\"\n",
		         i % MODULES);
		util_buf_adds(&b, line);
		for (unsigned f = 0; f < 8; f++) {
			snprintf(
			    line, sizeof(line),
			    "uint64_t f%03u_%u(struct item *v, size_t n)\n{\n"
			    "\tuint64_t acc = %uu;\n"
			    "\tfor (size_t i = 0; i < n; i++) {\n"
			    "\t\tacc ^= m%02u_step(v[i].key + i);\n"
			    "\t\tif (v[i].weight > %u.5) snprintf(v[i].name, sizeof(v[i].name), "
			    "\"%%llu\", (unsigned long long)acc);\n"
			    "\t\telse memset(v[i].name, 0, sizeof(v[i].name));\n\t}\n"
			    "\treturn acc;\n}\n",
			    i, f, i * 8 + f, i % MODULES, f);
			util_buf_adds(&b, line);
		}
		if (i == 0)
			util_buf_adds(&b, "uint64_t mix(uint64_t x) { x ^= x >> 33; x *= "
			                  "0xff51afd7ed558ccdull; return x ^ (x >> 33); }\n"
			                  "int main(void) { struct item v[4] = {{0}}; "
			                  "printf(\"%llu\\n\", (unsigned long long)f000_0(v, 4)); "
			                  "return 0; }\n");
		snprintf(name, sizeof(name), "f%03u.c", i);
		if (!b.data || write_text(dir, name, b.data) != 0)
			goto out;
	}
	if (write_text(dir, "Makefile",
	               "SRCS := $(wildcard f*.c)\nOBJS := $(SRCS:.c=.o)\nCC ?= cc\n"
	               "CFLAGS ?= -O1\n\nprog: $(OBJS)\n\t$(CC) -o $@ $(OBJS)\n\n"
	               "%.o: %.c common.h $(wildcard m*.h)\n\t$(CC) $(CFLAGS) -c $< -o $@\n\n"
	               "clean:\n\trm -f prog $(OBJS)\n") != 0)
		goto out;
	rc = 0;
out:
	util_buf_release(&b);
	return rc;
}

/*
 * Run 'argv' with stdout on /dev/null; its exit status, or -1 when it could
 * not run. 'seconds' gets the wall time, 'cpu' the user and system time of it
 * and every descendant it waited for (the tracer included).
 */
static int spawn(char **argv, double *seconds, double *cpu)
{
	double t0 = util_now_mono();
	struct rusage ru;
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		if (fd >= 0)
			dup2(fd, 1);
		setenv("AGENTRAIL_SINK", "store", 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	while (wait4(pid, &status, 0, &ru) < 0)
		if (errno != EINTR)
			return -1;
	if (seconds)
		*seconds = util_now_mono() - t0;
	if (cpu)
		*cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cli_bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Remove the generated tree (files only, one level). */
static void remove_tree(const char *dir)
{
	char *argv[] = {"rm", "-rf", (char *)dir, NULL};

	spawn(argv, NULL, NULL);
}

int cli_bench_exec(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"sources", required_argument, NULL, O_SOURCES},
	    {"jobs", required_argument, NULL, O_JOBS},
	    {"runs", required_argument, NULL, O_RUNS},
	    {"keep", no_argument, NULL, O_KEEP},
	    {"store", required_argument, NULL, OPT_STORE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	uint64_t sources = 200, jobs = 2, runs = 3, events = 0;
	char self[PATH_MAX], base[PATH_MAX], proj[PATH_MAX + 8], store[PATH_MAX + 16];
	char jobs_text[24], session[64];
	double *bare = NULL, *traced = NULL, *bare_cpu = NULL, *traced_cpu = NULL;
	const char *tmp = getenv("TMPDIR");
	int c, r, keep = 0, rc = CLI_FAIL;
	ssize_t n;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_SOURCES:
			if ((r = cli_opt_u64(cli, "--sources", optarg, &sources)) != CLI_OK)
				return r;
			if (sources == 0 || sources > 100000)
				return cli_usage(cli, "option '--sources' must be 1 to 100000");
			break;
		case O_JOBS:
			if ((r = cli_opt_u64(cli, "--jobs", optarg, &jobs)) != CLI_OK)
				return r;
			if (jobs == 0 || jobs > 1024)
				return cli_usage(cli, "option '--jobs' must be 1 to 1024");
			break;
		case O_RUNS:
			if ((r = cli_opt_u64(cli, "--runs", optarg, &runs)) != CLI_OK)
				return r;
			if (runs == 0 || runs > 100)
				return cli_usage(cli, "option '--runs' must be 1 to 100");
			break;
		case O_KEEP:
			keep = 1;
			break;
		default:
			if ((r = cli_common_opt(cli, c, argv)) >= 0)
				return r;
		}
	}
	if (optind < argc)
		return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) < 0) {
		cli_err("cannot find the agentrail program: %s", strerror(errno));
		return CLI_FAIL;
	}
	self[n] = '\0';
	if (!tmp || !*tmp)
		tmp = "/tmp";
	if (snprintf(base, sizeof(base), "%s/agentrail-bench-exec-XXXXXX", tmp) >=
	        (int)sizeof(base) ||
	    !mkdtemp(base)) {
		cli_err("cannot create a directory in '%s': %s", tmp, strerror(errno));
		return CLI_FAIL;
	}
	snprintf(proj, sizeof(proj), "%s/src", base);
	snprintf(store, sizeof(store), "%s/bench.db", base);
	snprintf(jobs_text, sizeof(jobs_text), "-j%llu", (unsigned long long)jobs);
	bare = calloc(runs, sizeof(*bare));
	traced = calloc(runs, sizeof(*traced));
	bare_cpu = calloc(runs, sizeof(*bare_cpu));
	traced_cpu = calloc(runs, sizeof(*traced_cpu));
	if (!bare || !traced || !bare_cpu || !traced_cpu) {
		cli_err("out of memory");
		goto out;
	}
	if (mkdir(proj, 0755) != 0 || make_project(proj, (unsigned)sources) != 0) {
		cli_err("cannot generate the project in '%s'", proj);
		goto out;
	}
	{
		char *make[] = {"make", "-s", "-C", proj, jobs_text, NULL};
		char *clean[] = {"make", "-s", "-C", proj, "clean", NULL};
		const char *store_uri = cli->store_option ? cli->store : store;

		/* A first build warms the caches (compiler, headers) for both sides. */
		if (spawn(make, NULL, NULL) != 0 || spawn(clean, NULL, NULL) != 0) {
			cli_err("building the generated project failed (is a C compiler and make "
			        "installed?)");
			goto out;
		}
		for (uint64_t i = 0; i < runs; i++) {
			char *exec_argv[] = {self,   "--store",   (char *)store_uri,
			                     "exec", "--session", session,
			                     "--",   "make",      "-s",
			                     "-C",   proj,        jobs_text,
			                     NULL};

			snprintf(session, sizeof(session), "bench-exec-%llu",
			         (unsigned long long)i);
			if (spawn(make, &bare[i], &bare_cpu[i]) != 0 ||
			    spawn(clean, NULL, NULL) != 0 ||
			    spawn(exec_argv, &traced[i], &traced_cpu[i]) != 0 ||
			    spawn(clean, NULL, NULL) != 0) {
				cli_err("a build failed");
				goto out;
			}
		}
		if (!cli->store_option) {
			atr_log *log = NULL;

			if (atr_log_open(&log, store, ATR_OPEN_READONLY) == 0 &&
			    atr_log_size(log, &events) == 0)
				events /= runs;
			atr_log_free(log);
		}
	}
	{
		double b = median(bare, (size_t)runs), t = median(traced, (size_t)runs);
		double bc = median(bare_cpu, (size_t)runs), tc = median(traced_cpu, (size_t)runs);

		/* CPU seconds too: on a shared machine they move less than wall time. */
		printf("{\"bench\":\"exec\",\"sources\":%llu,\"jobs\":%llu,\"runs\":%llu,"
		       "\"bare_s\":%.3f,\"traced_s\":%.3f,\"ratio\":%.3f,\"bare_cpu_s\":%.3f,"
		       "\"traced_cpu_s\":%.3f,\"cpu_ratio\":%.3f",
		       (unsigned long long)sources, (unsigned long long)jobs,
		       (unsigned long long)runs, b, t, b > 0 ? t / b : 0.0, bc, tc,
		       bc > 0 ? tc / bc : 0.0);
		if (events)
			printf(",\"events_per_run\":%llu", (unsigned long long)events);
		printf("}\n");
	}
	rc = CLI_OK;
out:
	free(bare);
	free(traced);
	free(bare_cpu);
	free(traced_cpu);
	if (keep)
		fprintf(stderr, "agentrail: kept '%s'\n", base);
	else
		remove_tree(base);
	return rc;
}
