/*
 * agentrail serve: parse the options and hand over to the HTTP server in
 * src/server/, which runs until SIGTERM or SIGINT and then drains.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "server/server.h"

enum { O_LISTEN = OPT_FIRST_CMD, O_THREADS, O_MAX_BODY, O_QUEUE_MAX };
/* Checkpoint and witness options (numbered apart from the others). */
enum { O_KEY = OPT_FIRST_CMD + 50, O_CKPT_EVERY, O_CKPT_INTERVAL, O_WITNESS, O_WITNESS_URL };
/* Masking at ingest. */
enum { O_REDACT_PATTERN = OPT_FIRST_CMD + 70, O_REDACT_FIELD, O_REDACT_DISABLE };
/* Reports (src/server/reporter.c). */
enum { O_REPORTS_DIR = OPT_FIRST_CMD + 90, O_REPORT_DELAY };
/* A replica for the read API (docs/postgres.md). */
enum { O_READ_STORE = OPT_FIRST_CMD + 130 };
/* Alerts (docs/alerts.md). */
enum {
	O_ALERTS = OPT_FIRST_CMD + 110,
	O_ALERT_WEBHOOK,
	O_ALERT_SENSITIVE,
	O_ALERT_TOKEN_SPIKE,
	O_ALERT_FAIL_BURST
};

/* A --report-delay: N seconds, or N followed by s, m or h. */
static int report_delay_opt(struct cli *cli, const char *val, unsigned *out)
{
	char num[24];
	size_t n = strlen(val);
	uint64_t v, unit = 1;

	if (n > 0 && n < sizeof(num) && strchr("smh", val[n - 1])) {
		unit = val[n - 1] == 'h' ? 3600 : val[n - 1] == 'm' ? 60 : 1;
		n--;
	}
	if (n == 0 || n >= sizeof(num))
		return cli_usage(cli, "option '--report-delay' expects N, Ns, Nm or Nh, got '%s'",
		                 val);
	memcpy(num, val, n);
	num[n] = '\0';
	if (util_parse_u64(num, &v) != 0)
		return cli_usage(cli, "option '--report-delay' expects N, Ns, Nm or Nh, got '%s'",
		                 val);
	if (v > SRV_MAX_REPORT_DELAY / unit)
		return cli_usage(cli, "option '--report-delay' must be 0 to %us (12h), got '%s'",
		                 SRV_MAX_REPORT_DELAY, val);
	*out = (unsigned)(v * unit);
	return CLI_OK;
}

/* An --alert* option into 'cfg' (its globs in 'globs'). */
static int alert_opt(struct cli *cli, int c, const char *val, struct srv_config *cfg,
                     const char **globs)
{
	atr_alert_rules *r = &cfg->alert_rules;
	uint64_t n, secs;
	char *slash;
	int rc;

	switch (c) {
	case O_ALERTS:
		if (strcmp(val, "on") != 0 && strcmp(val, "off") != 0)
			return cli_usage(cli, "option '--alerts' is 'on' or 'off', not '%s'", val);
		cfg->alerts_off = !strcmp(val, "off");
		return CLI_OK;
	case O_ALERT_WEBHOOK:
		if (strncmp(val, "http://", 7) != 0 && strncmp(val, "https://", 8) != 0)
			return cli_usage(
			    cli, "option '--alert-webhook' needs an http(s):// URL, got '%s'", val);
		cfg->alert_webhook = val;
		return CLI_OK;
	case O_ALERT_SENSITIVE:
		if (r->nsensitive == SRV_ALERT_MAX_SENSITIVE)
			return cli_usage(cli, "at most %u --alert-sensitive globs",
			                 SRV_ALERT_MAX_SENSITIVE);
		if (!*val || strlen(val) > 255)
			return cli_usage(cli,
			                 "option '--alert-sensitive' is a glob of 1 to 255 bytes");
		globs[r->nsensitive++] = val;
		r->sensitive = globs;
		return CLI_OK;
	case O_ALERT_TOKEN_SPIKE:
		if ((rc = cli_opt_u64(cli, "--alert-token-spike", val, &n)) != CLI_OK)
			return rc;
		if (n < 1 || n > 1000)
			return cli_usage(cli, "option '--alert-token-spike' must be 1 to 1000");
		r->token_spike_k = (unsigned)n;
		return CLI_OK;
	default: /* O_ALERT_FAIL_BURST: N/SECONDS */
		slash = strchr(val, '/');
		if (!slash || util_parse_u64(slash + 1, &secs) != 0 || slash == val ||
		    slash - val > 10) {
			return cli_usage(
			    cli, "option '--alert-fail-burst' is N/SECONDS (5/60), not '%s'", val);
		} else {
			char num[12];

			memcpy(num, val, (size_t)(slash - val));
			num[slash - val] = '\0';
			if (util_parse_u64(num, &n) != 0)
				return cli_usage(
				    cli,
				    "option '--alert-fail-burst' is N/SECONDS (5/60), not '%s'",
				    val);
		}
		if (n < 1 || n > ATR_ALERTS_MAX_FAIL_BURST_N || secs < 1 ||
		    secs > ATR_ALERTS_WINDOW_S)
			return cli_usage(
			    cli,
			    "option '--alert-fail-burst': N is 1 to %u and SECONDS 1 to %u, "
			    "got '%s'",
			    ATR_ALERTS_MAX_FAIL_BURST_N, (unsigned)ATR_ALERTS_WINDOW_S, val);
		r->fail_burst_n = (unsigned)n;
		r->fail_burst_seconds = (unsigned)secs;
		return CLI_OK;
	}
}

/* A bad --redact-* value: the option and what is wrong with it. */
static int redact_opt(struct cli *cli, const char *opt, int rc)
{
	if (rc == ATR_EINVALID)
		return cli_usage(cli, "option '%s': %s", opt, atr_errmsg());
	return rc == 0 ? CLI_OK : cli_fail(NULL);
}

static int serve(struct cli *cli, int argc, char **argv, atr_redact_config *redact)
{
	static const struct option longopts[] = {
	    {"listen", required_argument, NULL, O_LISTEN},
	    {"threads", required_argument, NULL, O_THREADS},
	    {"max-body", required_argument, NULL, O_MAX_BODY},
	    {"queue-max", required_argument, NULL, O_QUEUE_MAX},
	    {"key", required_argument, NULL, O_KEY},
	    {"checkpoint-every", required_argument, NULL, O_CKPT_EVERY},
	    {"checkpoint-interval", required_argument, NULL, O_CKPT_INTERVAL},
	    {"witness", required_argument, NULL, O_WITNESS},
	    {"witness-url", required_argument, NULL, O_WITNESS_URL},
	    {"redact-pattern", required_argument, NULL, O_REDACT_PATTERN},
	    {"redact-field", required_argument, NULL, O_REDACT_FIELD},
	    {"redact-disable", required_argument, NULL, O_REDACT_DISABLE},
	    {"reports-dir", required_argument, NULL, O_REPORTS_DIR},
	    {"report-delay", required_argument, NULL, O_REPORT_DELAY},
	    {"read-store", required_argument, NULL, O_READ_STORE},
	    {"alerts", required_argument, NULL, O_ALERTS},
	    {"alert-webhook", required_argument, NULL, O_ALERT_WEBHOOK},
	    {"alert-sensitive", required_argument, NULL, O_ALERT_SENSITIVE},
	    {"alert-token-spike", required_argument, NULL, O_ALERT_TOKEN_SPIKE},
	    {"alert-fail-burst", required_argument, NULL, O_ALERT_FAIL_BURST},
	    {"store", required_argument, NULL, OPT_STORE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct srv_config cfg = {.listen = SRV_DEFAULT_LISTEN,
	                         .threads = SRV_DEFAULT_THREADS,
	                         .max_body = SRV_DEFAULT_MAX_BODY,
	                         .queue_max = SRV_DEFAULT_QUEUE_MAX};
	const char *alert_globs[SRV_ALERT_MAX_SENSITIVE];
	uint64_t v;
	int c, r;

	cfg.checkpoint_interval = SRV_DEFAULT_CKPT_INTERVAL;
	cfg.report_delay = SRV_DEFAULT_REPORT_DELAY;
	/* The environment first (as for every writer), then the options add to it. */
	if (atr_redact_config_add_env(redact) != 0)
		return cli_usage(cli, "%s", atr_errmsg());
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_KEY:
			cfg.key = optarg;
			break;
		case O_CKPT_EVERY:
			if ((r = cli_opt_u64(cli, "--checkpoint-every", optarg,
			                     &cfg.checkpoint_every)) != CLI_OK)
				return r;
			break;
		case O_CKPT_INTERVAL:
			if ((r = cli_opt_u64(cli, "--checkpoint-interval", optarg, &v)) != CLI_OK)
				return r;
			if (v < 1 || v > SRV_MAX_CKPT_INTERVAL)
				return cli_usage(cli,
				                 "option '--checkpoint-interval' must be 1 to %u",
				                 SRV_MAX_CKPT_INTERVAL);
			cfg.checkpoint_interval = (unsigned)v;
			break;
		case O_WITNESS:
			if (cfg.nwitness_dirs == SRV_MAX_WITNESSES)
				return cli_usage(cli, "at most %u --witness directories",
				                 SRV_MAX_WITNESSES);
			cfg.witness_dirs[cfg.nwitness_dirs++] = optarg;
			break;
		case O_WITNESS_URL:
			if (cfg.nwitness_urls == SRV_MAX_WITNESSES)
				return cli_usage(cli, "at most %u --witness-url receivers",
				                 SRV_MAX_WITNESSES);
			if (strncmp(optarg, "http://", 7) != 0 &&
			    strncmp(optarg, "https://", 8) != 0)
				return cli_usage(cli,
				                 "option '--witness-url' needs an http(s):// URL, "
				                 "got '%s'",
				                 optarg);
			cfg.witness_urls[cfg.nwitness_urls++] = optarg;
			break;
		case O_LISTEN:
			cfg.listen = optarg;
			break;
		case O_THREADS:
			if ((r = cli_opt_u64(cli, "--threads", optarg, &v)) != CLI_OK)
				return r;
			if (v < 1 || v > SRV_MAX_THREADS)
				return cli_usage(cli, "option '--threads' must be 1 to %u",
				                 SRV_MAX_THREADS);
			cfg.threads = (unsigned)v;
			break;
		case O_MAX_BODY:
			if ((r = cli_opt_u64(cli, "--max-body", optarg, &v)) != CLI_OK)
				return r;
			/* zlib counts input in 32 bits: keep bodies well below 4 GiB. */
			if (v < 1024 || v > ((uint64_t)1 << 30))
				return cli_usage(cli, "option '--max-body' must be 1024 to %llu",
				                 (unsigned long long)1 << 30);
			cfg.max_body = (size_t)v;
			break;
		case O_QUEUE_MAX:
			if ((r = cli_opt_u64(cli, "--queue-max", optarg, &v)) != CLI_OK)
				return r;
			if (v < 1 || v > SRV_MAX_QUEUE_MAX)
				return cli_usage(cli, "option '--queue-max' must be 1 to %u",
				                 SRV_MAX_QUEUE_MAX);
			cfg.queue_max = (size_t)v;
			break;
		case O_REDACT_PATTERN:
			if ((r = redact_opt(cli, "--redact-pattern",
			                    atr_redact_config_add_pattern(redact, optarg))) !=
			    CLI_OK)
				return r;
			break;
		case O_REDACT_FIELD:
			if ((r = redact_opt(cli, "--redact-field",
			                    atr_redact_config_add_field(redact, optarg))) != CLI_OK)
				return r;
			break;
		case O_REDACT_DISABLE:
			if ((r = redact_opt(cli, "--redact-disable",
			                    atr_redact_config_disable(redact, optarg))) != CLI_OK)
				return r;
			break;
		case O_REPORTS_DIR:
			if (!*optarg)
				return cli_usage(cli, "option '--reports-dir' needs a directory");
			cfg.reports_dir = optarg;
			break;
		case O_REPORT_DELAY:
			if ((r = report_delay_opt(cli, optarg, &cfg.report_delay)) != CLI_OK)
				return r;
			break;
		case O_READ_STORE:
			if (!*optarg || !strncmp(optarg, "http://", 7) ||
			    !strncmp(optarg, "https://", 8))
				return cli_usage(
				    cli, "option '--read-store' needs a store URI, not '%s'",
				    optarg);
			cfg.read_store = optarg;
			break;
		case O_ALERTS:
		case O_ALERT_WEBHOOK:
		case O_ALERT_SENSITIVE:
		case O_ALERT_TOKEN_SPIKE:
		case O_ALERT_FAIL_BURST:
			if ((r = alert_opt(cli, c, optarg, &cfg, alert_globs)) != CLI_OK)
				return r;
			break;
		default:
			if ((r = cli_common_opt(cli, c, argv)) >= 0)
				return r;
		}
	}
	if (optind < argc)
		return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	if (!cfg.key && (cfg.nwitness_dirs || cfg.nwitness_urls || cfg.checkpoint_every))
		return cli_usage(cli,
		                 "--witness, --witness-url and --checkpoint-every need --key FILE "
		                 "(only the server's own checkpoints go to witnesses)");
	if (cfg.alerts_off && (cfg.alert_webhook || cfg.alert_rules.nsensitive ||
	                       cfg.alert_rules.token_spike_k || cfg.alert_rules.fail_burst_n))
		return cli_usage(cli, "the --alert-* options need alerts on (not '--alerts off')");
	cfg.store = cli->store;
	cfg.redact = redact;
	if ((redact->disable & ATR_REDACT_ALL) == ATR_REDACT_ALL)
		fprintf(
		    stderr,
		    "agentrail serve: WARNING: every built-in secret detector is disabled "
		    "(--redact-disable / AGENTRAIL_REDACT_DISABLE): API keys, tokens, private keys "
		    "and passwords sent in events will be STORED VERBATIM, in records that can "
		    "never be deleted%s\n",
		    redact->npatterns || redact->nfields ? "; only the extra patterns and fields "
		                                           "are masked"
		                                         : "");
	return srv_run(&cfg) == 0 ? CLI_OK : CLI_FAIL;
}

int cmd_serve(struct cli *cli, int argc, char **argv)
{
	atr_redact_config *redact;
	int r;

	if (atr_redact_config_new(&redact) != 0)
		return cli_fail(NULL);
	r = serve(cli, argc, argv, redact);
	atr_redact_config_free(redact);
	return r;
}
