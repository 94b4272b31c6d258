/*
 * agentrail record: append one event, built from options or given whole as
 * JSON text, and say where it landed (seq and event id, or that the log had
 * it already). With a server's URL as the store, the event is POSTed to it;
 * with AGENTRAIL_SINK=file|stdout|webhook it goes through that sink.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/remote.h"
#include "util/util.h"

#define MAX_STDIN_EVENT (64u << 20)

enum {
	O_JSON = OPT_FIRST_CMD,
	O_TYPE,
	O_ACTOR,
	O_TARGET,
	O_REASON,
	O_OUTCOME,
	O_EXIT_CODE,
	O_SESSION,
	O_TRACE,
	O_RUN,
	O_JOB,
	O_STEP,
	O_MODEL,
	O_USER,
	O_AGENT,
	O_PARENT,
	O_TS,
	O_EVENT_ID,
	O_INPUT_TOKENS,
	O_OUTPUT_TOKENS,
	O_COST,
	O_POLICY_RULE,
	O_POLICY_SNAPSHOT,
	O_POLICY_DECISION,
	O_APPROVAL_ID,
	O_APPROVAL_RESOLUTION,
	O_APPROVAL_BY,
	O_DETAIL,
	O_PRINT_JSON
};

/* Where a field option goes: 'obj' NULL for top level, 'is_int' for integers. */
struct field_opt {
	int code;
	const char *obj;
	const char *key;
	int is_int;
};

static const struct field_opt field_opts[] = {
    {O_TYPE, NULL, "type", 0},
    {O_ACTOR, NULL, "actor", 0},
    {O_TARGET, NULL, "target", 0},
    {O_REASON, NULL, "reason", 0},
    {O_OUTCOME, NULL, "outcome", 0},
    {O_EXIT_CODE, NULL, "exit_code", 1},
    {O_SESSION, NULL, "session_id", 0},
    {O_TRACE, NULL, "trace_id", 0},
    {O_RUN, NULL, "run_id", 0},
    {O_JOB, NULL, "job_id", 0},
    {O_STEP, NULL, "step", 1},
    {O_MODEL, NULL, "model", 0},
    {O_USER, NULL, "user_id", 0},
    {O_AGENT, NULL, "agent_id", 0},
    {O_PARENT, NULL, "parent_event_id", 0},
    {O_TS, NULL, "ts", 0},
    {O_EVENT_ID, NULL, "event_id", 0},
    {O_INPUT_TOKENS, "usage", "input_tokens", 1},
    {O_OUTPUT_TOKENS, "usage", "output_tokens", 1},
    {O_COST, "usage", "cost_micro_usd", 1},
    {O_POLICY_RULE, "policy", "rule_id", 0},
    {O_POLICY_SNAPSHOT, "policy", "snapshot", 0},
    {O_POLICY_DECISION, "policy", "decision", 0},
    {O_APPROVAL_ID, "approval", "id", 0},
    {O_APPROVAL_RESOLUTION, "approval", "resolution", 0},
    {O_APPROVAL_BY, "approval", "resolved_by", 0},
};

static const struct option longopts[] = {
    {"json", required_argument, NULL, O_JSON},
    {"type", required_argument, NULL, O_TYPE},
    {"actor", required_argument, NULL, O_ACTOR},
    {"target", required_argument, NULL, O_TARGET},
    {"reason", required_argument, NULL, O_REASON},
    {"outcome", required_argument, NULL, O_OUTCOME},
    {"exit-code", required_argument, NULL, O_EXIT_CODE},
    {"session", required_argument, NULL, O_SESSION},
    {"trace", required_argument, NULL, O_TRACE},
    {"run", required_argument, NULL, O_RUN},
    {"job", required_argument, NULL, O_JOB},
    {"step", required_argument, NULL, O_STEP},
    {"model", required_argument, NULL, O_MODEL},
    {"user", required_argument, NULL, O_USER},
    {"agent", required_argument, NULL, O_AGENT},
    {"parent", required_argument, NULL, O_PARENT},
    {"ts", required_argument, NULL, O_TS},
    {"event-id", required_argument, NULL, O_EVENT_ID},
    {"input-tokens", required_argument, NULL, O_INPUT_TOKENS},
    {"output-tokens", required_argument, NULL, O_OUTPUT_TOKENS},
    {"cost-micro-usd", required_argument, NULL, O_COST},
    {"policy-rule", required_argument, NULL, O_POLICY_RULE},
    {"policy-snapshot", required_argument, NULL, O_POLICY_SNAPSHOT},
    {"policy-decision", required_argument, NULL, O_POLICY_DECISION},
    {"approval-id", required_argument, NULL, O_APPROVAL_ID},
    {"approval-resolution", required_argument, NULL, O_APPROVAL_RESOLUTION},
    {"approval-by", required_argument, NULL, O_APPROVAL_BY},
    {"detail", required_argument, NULL, O_DETAIL},
    {"quiet", no_argument, NULL, 'q'},
    {"print-json", no_argument, NULL, O_PRINT_JSON},
    {"store", required_argument, NULL, OPT_STORE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const char *opt_name(int code)
{
	for (const struct option *o = longopts; o->name; o++)
		if (o->val == code)
			return o->name;
	return "?";
}

/* Set obj[.sub].key = value in 'ev'. Returns CLI_OK or CLI_USAGE. */
static int set_field(struct cli *cli, json_t *ev, const struct field_opt *f, const char *val)
{
	json_t *target = ev, *v;

	if (f->obj) {
		target = json_object_get(ev, f->obj);
		if (!target) {
			target = json_object();
			if (!target || json_object_set_new(ev, f->obj, target) != 0)
				return cli_usage(cli, "out of memory");
		}
	}
	if (f->is_int) {
		int64_t n;

		if (util_parse_i64(val, &n) != 0)
			return cli_usage(cli, "option '--%s' expects an integer, got '%s'",
			                 opt_name(f->code), val);
		v = json_integer((json_int_t)n);
	} else {
		v = json_string(val);
		if (!v) {
			cli_err("option '--%s': value is not valid UTF-8", opt_name(f->code));
			return CLI_FAIL;
		}
	}
	if (!v || json_object_set_new(target, f->key, v) != 0)
		return CLI_FAIL;
	return CLI_OK;
}

/* The event text to append, built from options; '*out' is malloc'd. */
static int build_event(struct cli *cli, json_t *ev, const char *detail, char **out, size_t *len)
{
	if (detail) {
		json_error_t jerr;
		json_t *d = json_loads(detail, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);

		if (!d) {
			cli_err("option '--detail': invalid JSON: %s", jerr.text);
			return CLI_FAIL;
		}
		json_object_set_new(ev, "detail", d);
	}
	*out = json_dumps(ev, JSON_COMPACT);
	if (!*out) {
		cli_err("cannot encode the event as JSON");
		return CLI_FAIL;
	}
	*len = strlen(*out);
	return CLI_OK;
}

/*
 * Client mode: POST the event to the server. It takes a JSON array as a
 * batch, so an array (or nothing) is refused here with the message the
 * library gives locally: one record command appends one event.
 */
static int record_remote(struct cli *cli, const char *text, size_t len, atr_append_result *res)
{
	struct cli_remote *r = NULL;
	struct cli_answer ans;
	json_t *first;
	const char *id;
	size_t i = 0;
	int rc;

	while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
		i++;
	if (i == len) {
		cli_err("empty input: an event is a JSON object");
		return CLI_FAIL;
	}
	if (text[i] == '[') {
		cli_err("an event must be a JSON object, not an array");
		return CLI_FAIL;
	}
	if ((rc = cli_remote_open(cli, &r)) != CLI_OK)
		return rc;
	rc = CLI_FAIL;
	if (cli_remote_request(r, "POST", "/api/v1/events", "application/json", text, len, &ans) !=
	    0)
		goto out;
	if (ans.status != 201) {
		cli_remote_fail(r, &ans, NULL);
		goto out_ans;
	}
	first = json_array_get(json_object_get(ans.json, "results"), 0);
	id = json_string_value(json_object_get(first, "event_id"));
	if (cli_json_u64(first, "seq", &res->seq) != 0 || !id ||
	    strlen(id) >= sizeof(res->event_id) ||
	    !json_is_boolean(json_object_get(first, "duplicate"))) {
		cli_err("the answer of %s to POST /api/v1/events has no result",
		        cli_remote_base(r));
		goto out_ans;
	}
	snprintf(res->event_id, sizeof(res->event_id), "%s", id);
	res->duplicate = json_is_true(json_object_get(first, "duplicate"));
	rc = CLI_OK;
out_ans:
	cli_answer_release(&ans);
out:
	cli_remote_free(r);
	return rc;
}

/*
 * With AGENTRAIL_SINK set to another sink than the store, the event goes
 * through a producer (docs/sinks.md): the file sink places it in its own
 * log (seq and event id printed as for a store), stdout prints it (and
 * nothing else), a webhook gets it (or it waits in the spool, which is
 * said on stderr). Returns -1 for the store sink: the caller appends.
 */
static int record_to_sink(struct cli *cli, const char *text, size_t len, int quiet, int print_json)
{
	atr_producer_config cfg;
	atr_producer *p;
	atr_producer_stats st;
	atr_emit_info info;
	int rc;

	if (atr_producer_config_from_env(&cfg) != 0)
		return cli_fail(NULL);
	if (cfg.sink == ATR_SINK_STORE)
		return -1;
	if (cli->store_option)
		return cli_usage(cli, "option '--store' is for the store sink, and AGENTRAIL_SINK "
		                      "chooses another");
	if (atr_producer_new(&p, &cfg) != 0)
		return cli_fail(NULL);
	if (atr_producer_emit_ex(p, text, len, &info) != 0) {
		rc = cli_fail(NULL);
		atr_producer_free(p);
		return rc;
	}
	rc = atr_producer_flush(p, 5000);
	if (rc == ATR_EBUSY)
		cli_err("not delivered yet: %s; it will be delivered later", atr_errmsg());
	else if (rc != 0)
		cli_fail(NULL);
	atr_producer_stats_get(p, &st);
	atr_producer_free(p);
	if (rc == 0 && st.rejected > 0) {
		cli_err("the sink refused event %s (see the message above)", info.event_id);
		return CLI_FAIL;
	}
	if (rc != 0 && rc != ATR_EBUSY)
		return CLI_FAIL;
	if (cfg.sink == ATR_SINK_STDOUT || quiet)
		return CLI_OK;
	if (print_json && info.has_seq)
		printf("{\"seq\":%llu,\"event_id\":\"%s\",\"duplicate\":false}\n",
		       (unsigned long long)info.seq, info.event_id);
	else if (print_json)
		printf("{\"seq\":null,\"event_id\":\"%s\",\"duplicate\":false%s}\n", info.event_id,
		       info.filtered ? ",\"filtered\":true" : "");
	else if (info.has_seq)
		printf("seq %llu  event_id %s\n", (unsigned long long)info.seq, info.event_id);
	else
		printf("event_id %s%s\n", info.event_id,
		       info.filtered ? "  (not recorded: AGENTRAIL_LOG_* filters it out)" : "");
	return CLI_OK;
}

int cmd_record(struct cli *cli, int argc, char **argv)
{
	const char *json_arg = NULL, *detail = NULL;
	int quiet = 0, print_json = 0, nfields = 0, rc = CLI_FAIL, c;
	json_t *ev = json_object();
	struct util_buf in;
	char *text = NULL;
	size_t len = 0;
	atr_log *log = NULL;
	atr_append_result res;

	util_buf_init(&in);
	if (!ev)
		return cli_fail("out of memory");
	while ((c = getopt_long(argc, argv, ":hq", longopts, NULL)) != -1) {
		const struct field_opt *f = NULL;
		int r;

		for (size_t i = 0; i < sizeof(field_opts) / sizeof(field_opts[0]); i++)
			if (field_opts[i].code == c)
				f = &field_opts[i];
		if (f) {
			if ((rc = set_field(cli, ev, f, optarg)) != CLI_OK)
				goto out;
			nfields++;
			continue;
		}
		switch (c) {
		case O_JSON:
			json_arg = optarg;
			break;
		case O_DETAIL:
			detail = optarg;
			nfields++;
			break;
		case 'q':
			quiet = 1;
			break;
		case O_PRINT_JSON:
			print_json = 1;
			break;
		default:
			if ((r = cli_common_opt(cli, c, argv)) >= 0) {
				rc = r;
				goto out;
			}
		}
	}
	rc = CLI_USAGE;
	if (optind < argc) {
		cli_usage(cli, "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (json_arg && nfields > 0) {
		cli_usage(cli, "option '--json' cannot be combined with field options");
		goto out;
	}
	if (!json_arg && nfields == 0) {
		cli_usage(cli,
		          "nothing to record: give '--json' or at least '--type' and '--actor'");
		goto out;
	}
	if (quiet && print_json) {
		cli_usage(cli, "options '--quiet' and '--print-json' exclude each other");
		goto out;
	}
	rc = CLI_FAIL;
	if (json_arg && strcmp(json_arg, "-") == 0) {
		int r = util_read_all(stdin, &in, MAX_STDIN_EVENT);

		if (r == -2) {
			cli_err("standard input exceeds %u bytes", MAX_STDIN_EVENT);
			goto out;
		} else if (r != 0) {
			cli_err("cannot read standard input");
			goto out;
		}
		text = in.data;
		len = in.len;
		/* One trailing newline is how shells end text, not part of the event. */
		while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
			len--;
	} else if (json_arg) {
		text = (char *)json_arg;
		len = strlen(json_arg);
	} else {
		if (build_event(cli, ev, detail, &text, &len) != CLI_OK)
			goto out;
	}
	if ((rc = record_to_sink(cli, text, len, quiet, print_json)) != -1)
		goto out;
	if (cli_is_remote(cli)) {
		if ((rc = record_remote(cli, text, len, &res)) != CLI_OK)
			goto out;
	} else {
		if ((rc = cli_open(cli, 0, &log)) != CLI_OK)
			goto out;
		if (atr_log_append(log, text, len, &res) != 0) {
			rc = cli_fail(NULL);
			goto out;
		}
	}
	if (print_json)
		printf("{\"seq\":%llu,\"event_id\":\"%s\",\"duplicate\":%s}\n",
		       (unsigned long long)res.seq, res.event_id, res.duplicate ? "true" : "false");
	else if (!quiet)
		printf("seq %llu  event_id %s%s\n", (unsigned long long)res.seq, res.event_id,
		       res.duplicate ? "  (duplicate)" : "");
	rc = CLI_OK;
out:
	if (!json_arg && text)
		free(text);
	util_buf_release(&in);
	json_decref(ev);
	atr_log_free(log);
	return rc;
}
