/*
 * What the subcommands of the agentrail program share: the command table
 * entry, the global options, exit codes, and helpers for options, errors,
 * opening the store and printing records.
 */
#ifndef ATR_CLI_H
#define ATR_CLI_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include <agentrail/agentrail.h>

/* Exit codes (verify has its own, see cmd_verify.c). */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 64 };

/* Long-option codes shared by every command (beyond any short option). */
enum {
	OPT_STORE = 1000,
	OPT_FIRST_CMD = 1100 /* commands number their own long-only options from here */
};

struct cli;

struct cli_cmd {
	const char *name;
	int (*fn)(struct cli *cli, int argc, char **argv);
	const char *summary;
	const char *usage; /* the full help text after "usage: " */
};

struct cli {
	const char *store;         /* --store, else $AGENTRAIL_STORE, else NULL (the default) */
	int store_option;          /* 1 when 'store' came from --store */
	const struct cli_cmd *cmd; /* the command being run */
};

/* Print "agentrail: <message>" to stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Report an atr_* failure: "agentrail: <what>: <atr_errmsg()>" (or just the message). Returns
 * CLI_FAIL. */
int cli_fail(const char *what);

/* A usage error: print it and a hint to stderr and return CLI_USAGE. */
int cli_usage(struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print the command's usage to stdout; returns CLI_OK. */
int cli_help(struct cli *cli);

/*
 * Handle what getopt_long answered for options every command shares or
 * rejects: OPT_STORE, 'h', ':' and '?'. Returns -1 when the caller should go
 * on parsing, else the exit code to return now.
 */
int cli_common_opt(struct cli *cli, int c, char **argv);

/* Parse option values; a bad value is a usage error naming the option (returns CLI_USAGE). */
int cli_opt_u64(struct cli *cli, const char *opt, const char *val, uint64_t *out);
int cli_opt_i64(struct cli *cli, const char *opt, const char *val, int64_t *out);
/* The same for a positional argument called 'name' ("SEQ"). */
int cli_arg_u64(struct cli *cli, const char *name, const char *val, uint64_t *out);

/*
 * Open the log named by the global options; on failure report it and return
 * CLI_FAIL (CLI_USAGE when the store is a server's URL: see cli_is_remote).
 */
int cli_open(struct cli *cli, unsigned flags, atr_log **log);
/*
 * Mask at ingest as AGENTRAIL_REDACT_* say (cli_open does it for every log
 * opened for writing); a bad value is a usage error naming the variable.
 */
int cli_redaction(struct cli *cli, atr_log *log);

/*
 * 1 when the store is a server ("http://..." or "https://..."): client mode,
 * in which record, import, trail, query, export, root and prove talk to
 * `agentrail serve` (remote.h) instead of opening a store.
 */
int cli_is_remote(const struct cli *cli);

/*
 * The usage error of a command that needs a local store when given a
 * server's URL; 'hint' (may be NULL) says what to do instead. Returns CLI_USAGE.
 */
int cli_remote_unsupported(struct cli *cli, const char *hint);

/* The store URI for messages (the default spelled out); caller frees with atr_free(). */
char *cli_store_name(struct cli *cli);

/*
 * Print one record as a timeline line: time (with the date first when it
 * differs from '*last_date', which is updated; NULL: always full timestamp),
 * seq, type, actor, target, outcome, reason, usage, indented by 'depth'.
 */
void cli_print_record(FILE *out, const atr_record *rec, int depth, char last_date[11]);

/*
 * The same from any source of record fields (a stored record, or a record
 * object a server answered): 'str' and 'num' read a field by dotted name
 * with the meaning of atr_record_str() and atr_record_int().
 */
struct cli_fields {
	void *src;
	uint64_t seq;
	const char *(*str)(void *src, const char *field);
	int (*num)(void *src, const char *field, int64_t *out);
};
void cli_print_fields(FILE *out, const struct cli_fields *f, int depth, char last_date[11]);

/* Finish stdout: flush and check for write errors. Returns 'code' or CLI_FAIL. */
int cli_finish_stdout(int code);

/* Flush stdout; 1 (after saying so on stderr) when writing failed. */
int cli_stdout_failed(void);

/* A verifier's verdict line: {"status":S,"message":M} with 'json', else "S: M". */
void cli_print_status(int json, const char *status, const char *message);

/* Print 'v' as one line of compact JSON: CLI_OK, or a failure (out of memory). */
int cli_print_json(json_t *v);

/* The string member 'name' of 'o', or 'dflt' when absent or not a string. */
const char *cli_str_or(json_t *o, const char *name, const char *dflt);

/* Print verify's one-line verdict ("UNANCHORED: 10 records consistent, root ..."). */
void cli_print_verify_status(const atr_verify_result *res, int keys);

/*
 * Read a whole file ("-": standard input) of at most 'max' bytes into a
 * NUL-terminated buffer the caller frees; 'len' may be NULL. On failure the
 * reason (naming the path) is printed and CLI_FAIL returned.
 */
int cli_read_file(const char *path, size_t max, char **out, size_t *len);

/* Command entry points. */
int cmd_record(struct cli *cli, int argc, char **argv);
int cmd_import(struct cli *cli, int argc, char **argv);
int cmd_trail(struct cli *cli, int argc, char **argv);
int cmd_query(struct cli *cli, int argc, char **argv);
int cmd_export(struct cli *cli, int argc, char **argv);
int cmd_verify(struct cli *cli, int argc, char **argv);
int cmd_root(struct cli *cli, int argc, char **argv);
int cmd_prove(struct cli *cli, int argc, char **argv);
int cmd_bench(struct cli *cli, int argc, char **argv);
int cmd_demo(struct cli *cli, int argc, char **argv);
int cmd_serve(struct cli *cli, int argc, char **argv);
int cmd_token(struct cli *cli, int argc, char **argv);
int cmd_approvals(struct cli *cli, int argc, char **argv);
int cmd_alerts(struct cli *cli, int argc, char **argv);
int cmd_report(struct cli *cli, int argc, char **argv);
int cmd_policy(struct cli *cli, int argc, char **argv);
int cmd_retention(struct cli *cli, int argc, char **argv);
int cmd_prune(struct cli *cli, int argc, char **argv);
int cmd_erase(struct cli *cli, int argc, char **argv);
int cmd_keygen(struct cli *cli, int argc, char **argv);
int cmd_checkpoint(struct cli *cli, int argc, char **argv);
int cmd_verify_proof(struct cli *cli, int argc, char **argv);
int cmd_witness(struct cli *cli, int argc, char **argv);
int cmd_exec(struct cli *cli, int argc, char **argv);
int cmd_hook(struct cli *cli, int argc, char **argv);
int cmd_evidence(struct cli *cli, int argc, char **argv);
int cmd_verify_evidence(struct cli *cli, int argc, char **argv);
int cmd_migrate(struct cli *cli, int argc, char **argv);

/*
 * import --format codex (import_codex.c): Codex rollout files, a directory
 * of them, or standard input; with 'follow', then what is appended, until
 * SIGINT or SIGTERM.
 */
int cli_import_codex(struct cli *cli, const char *path, int quiet, int follow);

/*
 * The batch writer of import (cmd_import.c), for importers of other shapes:
 * events appended in atomic batches to the store, or in client mode to the
 * server. open: CLI_OK, or the exit code after saying why. add takes 'text'
 * (malloc'd) and may write a full batch; add and flush return -1 after
 * reporting which line failed and what was appended.
 */
struct importer;
int cli_import_open(struct cli *cli, struct importer **out);
int cli_import_add(struct importer *im, char *text, long line);
int cli_import_flush(struct importer *im);
void cli_import_counts(const struct importer *im, uint64_t *events, uint64_t *duplicates);
void cli_import_close(struct importer *im);

/* Shared by bench: fill a fresh store with 'n' synthetic events in batches of 'batch'. */
int cli_bench_fill(atr_log *log, uint64_t n, uint64_t batch, double *seconds);

/*
 * Shared by bench: append events [0, n), 'event' writing event i into a
 * buffer of 'max_event' bytes (its length answered), in durable batches of 1000.
 */
int cli_bench_append(atr_log *log, uint64_t n, size_t max_event,
                     int (*event)(char *buf, size_t cap, uint64_t i, void *ctx), void *ctx);

/* Shared by bench: sign a checkpoint with the key of 'origin' and 'seed'; 'fail' says why not. */
int cli_bench_sign(atr_log *log, const char *origin, const uint8_t seed[32], const char *fail);

/* Shared by bench: qsort's order of doubles, ascending. */
int cli_bench_cmp_double(const void *a, const void *b);

/* bench exec (bench_exec.c): argv[0] is "exec". */
int cli_bench_exec(struct cli *cli, int argc, char **argv);

/* bench report (bench_report.c): argv[0] is "report". */
int cli_bench_report(struct cli *cli, int argc, char **argv);

#endif
