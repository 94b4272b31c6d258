/*
 * agentrail serve: parse the options and hand over to the HTTP server in
 * src/server/, which runs until SIGTERM or SIGINT and then drains.
 */
#include <stdlib.h>

#include "cli/cli.h"
#include "server/server.h"

enum { O_LISTEN = OPT_FIRST_CMD, O_THREADS, O_MAX_BODY };

int cmd_serve(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"listen", required_argument, NULL, O_LISTEN},
	    {"threads", required_argument, NULL, O_THREADS},
	    {"max-body", required_argument, NULL, O_MAX_BODY},
	    {"store", required_argument, NULL, OPT_STORE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct srv_config cfg = {SRV_DEFAULT_LISTEN, NULL, SRV_DEFAULT_THREADS,
	                         SRV_DEFAULT_MAX_BODY};
	uint64_t v;
	int c, r;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
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
		default:
			if ((r = cli_common_opt(cli, c, argv)) >= 0)
				return r;
		}
	}
	if (optind < argc)
		return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	cfg.store = cli->store;
	return srv_run(&cfg) == 0 ? CLI_OK : CLI_FAIL;
}
