/*
 * agentrail hook: record what an agent's own hooks report. `hook claude-code`
 * reads one Claude Code hook payload on standard input, `hook codex` takes
 * Codex's notify payload as its last argument; the events (agents.h) go to
 * the sink chosen by AGENTRAIL_* (a spool takes them when a server is down).
 * A hook must never stand in the agent's way: it always exits 0, writes
 * nothing on standard output (Claude Code reads a hook's output as
 * instructions) and gives up after HOOK_DEADLINE_S whatever happens.
 */
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include <agentrail/agents.h>
#include <agentrail/producer.h>

#include "cli/cli.h"
#include "util/util.h"

#define HOOK_MAX_INPUT  (16u << 20) /* a payload larger than this is refused */
#define HOOK_FLUSH_MS   2000        /* waiting for a network sink; the spool keeps the rest */
#define HOOK_SLICE_MS   100         /* ... looked at this often: a failing far end ends the wait */
#define HOOK_DEADLINE_S 10          /* the whole run, whatever blocks */

enum {
	O_PRINT_SETTINGS = OPT_FIRST_CMD,
	O_COMMAND,
	O_URL,
	O_ACTOR,
	O_USER,
};

/* Every hook event Claude Code has, and whether it takes a tool matcher. */
static const struct {
	const char *name;
	int tools;
} claude_events[] = {
    {"SessionStart", 0}, {"UserPromptSubmit", 0},   {"PreToolUse", 1},   {"PermissionRequest", 1},
    {"PostToolUse", 1},  {"PostToolUseFailure", 1}, {"Notification", 0}, {"Stop", 0},
    {"SubagentStop", 0}, {"PreCompact", 0},         {"SessionEnd", 0},
};

static const char deadline_msg[] = "agentrail: the hook gave up after 10 s; what it had handed "
                                   "to the sink is kept\n";

static void on_deadline(int sig)
{
	ssize_t w;

	(void)sig;
	w = write(STDERR_FILENO, deadline_msg, sizeof(deadline_msg) - 1);
	(void)w;
	_exit(0);
}

/* The login name, for user_id: $USER, else the password database. NULL when unknown. */
static const char *login_name(void)
{
	const char *u = getenv("USER");
	struct passwd *pw;

	if (u && *u)
		return u;
	pw = getpwuid(getuid());
	return pw && pw->pw_name && *pw->pw_name ? pw->pw_name : NULL;
}

/*
 * From here on nothing reaches standard output: it becomes standard error
 * (so even the stdout sink cannot speak to the agent), and the run is
 * bounded in time.
 */
static void enter_hook_mode(void)
{
	struct sigaction sa;

	fflush(stdout);
	dup2(STDERR_FILENO, STDOUT_FILENO);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_deadline;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	alarm(HOOK_DEADLINE_S);
}

/* A hook's exit: always 0, with standard output clean for cli_finish_stdout(). */
static int hook_exit(void)
{
	fflush(stdout);
	clearerr(stdout);
	alarm(0);
	return CLI_OK;
}

/*
 * Hand the events of 'l' to the producer the environment configures (the
 * store of --store for the store sink). Problems are said once, on stderr;
 * an event the log already has under its id (a hook delivered twice) is
 * not one.
 */
static void record(struct cli *cli, const char *what, atr_agent_events *l)
{
	atr_producer_config cfg;
	atr_producer *p = NULL;
	const char *level = getenv("AGENTRAIL_LOG_LEVEL");
	char first[512] = "";
	int rc;

	if (atr_producer_config_from_env(&cfg) != 0) {
		cli_err("%s: %s", what, atr_errmsg());
		return;
	}
	if (cli->store_option)
		cfg.store = cli->store;
	/* The producer's own retry messages would repeat what the one line below says. */
	if (!level || !*level)
		cfg.log_level = ATR_LOG_ERROR;
	if (atr_producer_new(&p, &cfg) != 0) {
		cli_err("%s: not recorded: %s", what, atr_errmsg());
		return;
	}
	for (size_t i = 0; i < atr_agent_events_count(l); i++) {
		size_t len;
		const char *text = atr_agent_events_get(l, i, &len);

		rc = atr_producer_emit(p, text, len);
		if (rc != 0 && rc != ATR_ECONFLICT && !first[0])
			snprintf(first, sizeof(first), "%s", atr_errmsg());
	}
	/*
	 * Wait for delivery while it goes well; once an attempt has failed (the
	 * server is down) the spool has the events and the next hook, or the
	 * next producer, delivers them: the agent does not wait for that.
	 */
	for (int waited = 0;; waited += HOOK_SLICE_MS) {
		atr_producer_stats st;

		rc = atr_producer_flush(p, HOOK_SLICE_MS);
		if (rc != ATR_EBUSY || waited + HOOK_SLICE_MS >= HOOK_FLUSH_MS)
			break;
		atr_producer_stats_get(p, &st);
		if (st.retries > 0)
			break;
	}
	if (first[0])
		cli_err("%s: not recorded: %s", what, first);
	else if (rc == ATR_EBUSY)
		cli_err("%s: %s; they will be delivered later", what, atr_errmsg());
	else if (rc != 0)
		cli_err("%s: %s", what, atr_errmsg());
	atr_producer_free(p);
}

/* ------------------------------------------------------------ --print-settings */

static json_t *handler(const char *command, const char *url)
{
	static const char route[] = "/api/v1/hooks/claude-code";
	size_t n;
	char full[4096];

	if (!url)
		return json_pack("{s:s, s:s}", "type", "command", "command", command);
	/* The server's base URL, or the route's own. */
	n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		n--;
	if (n >= sizeof(route) - 1 &&
	    strncmp(url + n - (sizeof(route) - 1), route, sizeof(route) - 1) == 0)
		n -= sizeof(route) - 1;
	snprintf(full, sizeof(full), "%.*s%s", (int)n, url, route);
	return json_pack("{s:s, s:s, s:{s:s}, s:[s]}", "type", "http", "url", full, "headers",
	                 "Authorization", "Bearer $AGENTRAIL_TOKEN", "allowedEnvVars",
	                 "AGENTRAIL_TOKEN");
}

/* The .claude/settings.json block that sends every hook event to agentrail. */
static int print_settings(const char *command, const char *url)
{
	json_t *root = json_object(), *hooks = json_object();
	char *text = NULL;
	int rc = CLI_FAIL;

	if (!root || !hooks || json_object_set(root, "hooks", hooks) != 0)
		goto out;
	for (size_t i = 0; i < sizeof(claude_events) / sizeof(claude_events[0]); i++) {
		json_t *group = json_object(), *list = json_array(), *h = handler(command, url);

		if (!group || !list || !h ||
		    (claude_events[i].tools &&
		     json_object_set_new(group, "matcher", json_string("*")) != 0) ||
		    json_array_append_new(list, h) != 0 ||
		    json_object_set_new(group, "hooks", list) != 0 ||
		    json_object_set_new(hooks, claude_events[i].name, json_pack("[o]", group)) !=
		        0) {
			goto out;
		}
	}
	if (!(text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER)))
		goto out;
	printf("%s\n", text);
	rc = CLI_OK;
out:
	if (rc != CLI_OK)
		cli_err("out of memory");
	free(text);
	json_decref(hooks);
	json_decref(root);
	return rc;
}

/* ------------------------------------------------------------ the hooks */

static int parse_name(struct cli *cli, const char *opt, const char *val, const char **out)
{
	if (!*val || strlen(val) > 256)
		return cli_usage(cli, "option '%s' expects 1 to 256 bytes", opt);
	*out = val;
	return -1;
}

static int hook_claude(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"print-settings", no_argument, NULL, O_PRINT_SETTINGS},
	    {"command", required_argument, NULL, O_COMMAND},
	    {"url", required_argument, NULL, O_URL},
	    {"actor", required_argument, NULL, O_ACTOR},
	    {"user", required_argument, NULL, O_USER},
	    {"store", required_argument, NULL, OPT_STORE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *command = "agentrail hook claude-code", *url = NULL;
	atr_agent_opts opts = {NULL, NULL};
	atr_agent_events *l = NULL;
	struct util_buf in;
	int settings = 0, c, r;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_PRINT_SETTINGS:
			settings = 1;
			break;
		case O_COMMAND:
			if (!*optarg)
				return cli_usage(cli, "option '--command' expects a command line");
			command = optarg;
			break;
		case O_URL:
			if (strncmp(optarg, "http://", 7) != 0 &&
			    strncmp(optarg, "https://", 8) != 0)
				return cli_usage(cli,
				                 "option '--url' expects http://HOST:PORT or "
				                 "https://…, got '%s'",
				                 optarg);
			url = optarg;
			break;
		case O_ACTOR:
			if ((r = parse_name(cli, "--actor", optarg, &opts.actor)) >= 0)
				return settings ? r : hook_exit();
			break;
		case O_USER:
			if ((r = parse_name(cli, "--user", optarg, &opts.user)) >= 0)
				return settings ? r : hook_exit();
			break;
		default:
			if ((r = cli_common_opt(cli, c, argv)) >= 0)
				return c == 'h' || settings ? r : hook_exit();
		}
	}
	if (settings) {
		if (optind < argc)
			return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
		return print_settings(command, url);
	}
	if (url)
		return cli_usage(cli, "option '--url' goes with '--print-settings'");
	enter_hook_mode();
	if (optind < argc) {
		cli_usage(cli, "unexpected argument '%s' (the payload comes on standard input)",
		          argv[optind]);
		return hook_exit();
	}
	if (!opts.user)
		opts.user = login_name();
	util_buf_init(&in);
	r = util_read_all(stdin, &in, HOOK_MAX_INPUT);
	if (r == -2)
		cli_err("hook claude-code: the payload is larger than %u bytes; not recorded",
		        HOOK_MAX_INPUT);
	else if (r != 0)
		cli_err("hook claude-code: cannot read standard input: %s", strerror(errno));
	else if (atr_claude_hook_map(&l, in.data ? in.data : "", in.len, &opts) != 0)
		cli_err("hook claude-code: not recorded: %s", atr_errmsg());
	else
		record(cli, "hook claude-code", l);
	atr_agent_events_free(l);
	util_buf_release(&in);
	return hook_exit();
}

static int hook_codex(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"actor", required_argument, NULL, O_ACTOR},
	    {"user", required_argument, NULL, O_USER},
	    {"store", required_argument, NULL, OPT_STORE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	atr_agent_opts opts = {NULL, NULL};
	atr_agent_events *l = NULL;
	struct util_buf in;
	const char *json;
	size_t len;
	int c, r;

	/* '+': the payload is the last argument and may look like anything. */
	while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		switch (c) {
		case O_ACTOR:
			if ((r = parse_name(cli, "--actor", optarg, &opts.actor)) >= 0)
				return hook_exit();
			break;
		case O_USER:
			if ((r = parse_name(cli, "--user", optarg, &opts.user)) >= 0)
				return hook_exit();
			break;
		default:
			if ((r = cli_common_opt(cli, c, argv)) >= 0)
				return c == 'h' ? r : hook_exit();
		}
	}
	enter_hook_mode();
	if (!opts.user)
		opts.user = login_name();
	util_buf_init(&in);
	if (optind < argc) {
		/* Codex appends the payload after the configured arguments: it is the last. */
		json = argv[argc - 1];
		len = strlen(json);
	} else {
		r = util_read_all(stdin, &in, HOOK_MAX_INPUT);
		if (r != 0) {
			cli_err("hook codex: %s", r == -2 ? "the payload is too large; not recorded"
			                                  : "cannot read standard input");
			util_buf_release(&in);
			return hook_exit();
		}
		json = in.data ? in.data : "";
		len = in.len;
	}
	if (atr_codex_notify_map(&l, json, len, &opts) != 0)
		cli_err("hook codex: not recorded: %s", atr_errmsg());
	else
		record(cli, "hook codex", l);
	atr_agent_events_free(l);
	util_buf_release(&in);
	return hook_exit();
}

int cmd_hook(struct cli *cli, int argc, char **argv)
{
	if (argc < 2)
		return cli_usage(cli, "missing the agent: claude-code or codex");
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
		return cli_help(cli);
	if (strcmp(argv[1], "claude-code") == 0)
		return hook_claude(cli, argc - 1, argv + 1);
	if (strcmp(argv[1], "codex") == 0)
		return hook_codex(cli, argc - 1, argv + 1);
	return cli_usage(cli, "unknown agent '%s': claude-code or codex", argv[1]);
}
