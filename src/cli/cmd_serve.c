/*
 * agentrail serve: parse the options and hand over to the HTTP server in
 * src/server/, which runs until SIGTERM or SIGINT and then drains.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "server/server.h"

enum { O_LISTEN = OPT_FIRST_CMD, O_THREADS, O_MAX_BODY, O_QUEUE_MAX };
/* Checkpoint and witness options (numbered apart from the others). */
enum { O_KEY = OPT_FIRST_CMD + 50, O_CKPT_EVERY, O_CKPT_INTERVAL, O_WITNESS, O_WITNESS_URL };

int cmd_serve(struct cli *cli, int argc, char **argv)
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
	    {"store", required_argument, NULL, OPT_STORE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct srv_config cfg = {.listen = SRV_DEFAULT_LISTEN,
	                         .threads = SRV_DEFAULT_THREADS,
	                         .max_body = SRV_DEFAULT_MAX_BODY,
	                         .queue_max = SRV_DEFAULT_QUEUE_MAX};
	uint64_t v;
	int c, r;

	cfg.checkpoint_interval = SRV_DEFAULT_CKPT_INTERVAL;
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
	cfg.store = cli->store;
	return srv_run(&cfg) == 0 ? CLI_OK : CLI_FAIL;
}
