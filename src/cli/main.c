/*
 * The agentrail program: global options, then a git-style table of
 * subcommands, each in its own cmd_*.c. Exit codes: 0 ok, 1 failure,
 * 64 usage error; verify answers 0 OK, 1 tampered, 2 unanchored, 3 error.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define STORE_HELP                                                                                 \
	"  --store URI            the log: a path, sqlite:PATH, or http(s)://HOST:PORT for the\n"  \
	"                         commands with a client mode (default: $AGENTRAIL_STORE, else\n"  \
	"                         $XDG_DATA_HOME/agentrail/agentrail.db)\n"                        \
	"  -h, --help             show this help\n"

static const struct cli_cmd commands[] = {
    {"record", cmd_record, "append one event to the log",
     "agentrail record [--store URI] --type TYPE --actor ACTOR [FIELD OPTIONS] "
     "[--quiet|--print-json]\n"
     "   or: agentrail record [--store URI] --json TEXT|- [--quiet|--print-json]\n"
     "\n"
     "Append one event (DESIGN.md section 2) and print its seq and event id once it is durable.\n"
     "Re-sending an event with the same event_id and content answers the original seq.\n"
     "With AGENTRAIL_SINK=file, stdout or webhook (docs/sinks.md) the event goes to that sink\n"
     "instead: the file sink prints its seq in that file's log; stdout prints the event and\n"
     "nothing else; a webhook prints its event id once delivered or safe in the spool (said on\n"
     "stderr), and exit status 1 when the webhook refused it.\n"
     "\n"
     "  --json TEXT|-          the whole event as JSON text ('-' reads standard input);\n"
     "                         cannot be combined with field options\n"
     "  --type TYPE            event type (task_submit, llm_call, tool_call, command, decision, "
     "x_...)\n"
     "  --actor NAME           the user or agent that acted\n"
     "  --target TEXT          what it acted on: a path, tool name, command line\n"
     "  --reason TEXT          why (required for decision-level events)\n"
     "  --outcome TEXT         success, partial, failure, error, ...\n"
     "  --exit-code N          the exit code of a command\n"
     "  --session ID           session_id\n"
     "  --trace ID             trace_id\n"
     "  --run ID               run_id\n"
     "  --job ID               job_id\n"
     "  --step N               step number\n"
     "  --model NAME           model\n"
     "  --user ID              user_id: who initiated the task\n"
     "  --agent ID             agent_id\n"
     "  --parent EVENT_ID      parent_event_id\n"
     "  --ts TIME              when it happened, RFC 3339 (default: now)\n"
     "  --event-id UUID        idempotency key (default: a fresh UUIDv7)\n"
     "  --input-tokens N       usage.input_tokens\n"
     "  --output-tokens N      usage.output_tokens\n"
     "  --cost-micro-usd N     usage.cost_micro_usd\n"
     "  --policy-rule ID       policy.rule_id\n"
     "  --policy-snapshot ID   policy.snapshot\n"
     "  --policy-decision D    policy.decision: ALLOW, DENY or REQUIRE_APPROVAL\n"
     "  --approval-id ID       approval.id\n"
     "  --approval-resolution R approval.resolution: pending, approved or rejected\n"
     "  --approval-by NAME     approval.resolved_by\n"
     "  --detail JSON          the detail object (free-form JSON)\n"
     "  -q, --quiet            print nothing on success\n"
     "  --print-json           print "
     "{\"seq\":N,\"event_id\":\"...\",\"duplicate\":false}\n" STORE_HELP},
    {"import", cmd_import, "append events from a JSONL file",
     "agentrail import [--store URI] [--format auto|agentrail|trail|steps] [--quiet] FILE|-\n"
     "   or: agentrail import [--store URI] --format codex [--follow] [--quiet] FILE|DIR|-\n"
     "\n"
     "Append one event per line, in atomic batches of 1000. Each line is an agentrail event\n"
     "or one of two foreign shapes, detected per line unless --format says:\n"
     "  trail: {timestamp, trace_id, level, actor, action, target, detail}\n"
     "  steps: {event_id, session_id, agent_id, timestamp, event_type, content, step_number,\n"
     "          model_id, system_prompt_hash}\n"
     "Lines without an event_id get one derived from SHA-256 of the line, so importing the\n"
     "same file again appends nothing (the events are reported as duplicates). The first bad\n"
     "line stops the import; nothing from its batch is appended.\n"
     "codex: Codex CLI rollout files ({timestamp, type, payload} lines); DIR: every\n"
     "rollout-*.jsonl below it (~/.codex/sessions), in the order of their names (the session\n"
     "start times). Sessions, model, tool calls and outputs, commands with exit codes, patched\n"
     "files and token usage become events (docs/agents.md) whose ids derive from the session\n"
     "and the line, so importing again appends nothing.\n"
     "\n"
     "  --format F             auto (default), agentrail, trail, steps or codex\n"
     "  --follow               codex: after the import, go on appending the lines Codex adds to\n"
     "                         its files and the files it creates, until SIGINT or SIGTERM\n"
     "  -q, --quiet            no summary line\n" STORE_HELP},
    {"trail", cmd_trail, "show the timeline of a session, trace, run or job",
     "agentrail trail [--store URI] (--session ID | --trace ID | --run ID | --job ID) [--json]\n"
     "\n"
     "One line per record in seq order: time, seq, type, actor, target, outcome, reason,\n"
     "token usage; a record is indented under its parent when the parent is in the trail.\n"
     "\n"
     "  --session ID           records with this session_id\n"
     "  --trace ID             records with this trace_id\n"
     "  --run ID               records with this run_id\n"
     "  --job ID               records with this job_id\n"
     "  --json                 one JSON array of records\n" STORE_HELP},
    {"query", cmd_query, "find records by type, actor, time, id, ...",
     "agentrail query [--store URI] [FILTERS] [--limit N] [--desc] [--json|--count]\n"
     "\n"
     "All filters must hold. Output: one line per record, JSONL with --json, or the count.\n"
     "\n"
     "  --type TYPE            exact event type\n"
     "  --actor NAME           exact actor\n"
     "  --level LEVEL          pipeline, agent or decision\n"
     "  --trace ID             trace_id\n"
     "  --session ID           session_id\n"
     "  --run ID               run_id\n"
     "  --job ID               job_id\n"
     "  --event-id UUID        one event\n"
     "  --target-prefix TEXT   target starts with TEXT\n"
     "  --since TIME           ts >= TIME (RFC 3339)\n"
     "  --until TIME           ts < TIME (RFC 3339)\n"
     "  --from-seq N           seq >= N\n"
     "  --to-seq N             seq < N\n"
     "  --limit N              at most N records\n"
     "  --desc                 newest first\n"
     "  --json                 one JSON object per line\n"
     "  --count                print only the number of matching records\n" STORE_HELP},
    {"export", cmd_export, "write the whole log as a verifiable JSONL file",
     "agentrail export [--store URI] [--out FILE]\n"
     "\n"
     "One line per record ({\"record\":...,\"leaf_hash\":...,\"detail\":...,\"salt\":...}) and a\n"
     "last tree_head line. The file verifies on its own: agentrail verify --export FILE.\n"
     "\n"
     "  -o, --out FILE         write to FILE (atomically: FILE.tmp, fsync, rename) instead of\n"
     "                         standard output\n" STORE_HELP},
    {"verify", cmd_verify, "check every record, payload, tree hash and signed checkpoint",
     "agentrail verify [--store URI | --export FILE|-] [--key VKEY]... [--checkpoint FILE]...\n"
     "                        [--json]\n"
     "\n"
     "Stream the whole log (or an export file, needing no database) and report every finding,\n"
     "then the status: every record's leaf, every payload against its commitment, every\n"
     "256-record block and the root against the stored tree, every stored checkpoint's\n"
     "signature (with --key) and root, and every anchor: a checkpoint the auditor kept, which\n"
     "the log must still contain exactly. Findings name the seq (or range) and the kind:\n"
     "record_changed, payload_changed, payload_erased, missing, reordered, malformed,\n"
     "tree_mismatch, truncated, checkpoint_mismatch, bad_signature, fork, unanchored, pruned.\n"
     "Erased payloads (one finding per range) and records pruned by retention are reported,\n"
     "not tampering (docs/retention.md).\n"
     "Exit status: 0 OK (every record covered by a checkpoint signed with a trusted key),\n"
     "1 TAMPERED/TRUNCATED/FORKED, 2 UNANCHORED (consistent, but not, or not all, vouched for\n"
     "by a trusted signature), 3 ERROR, 64 usage error.\n"
     "\n"
     "  --export FILE|-        verify an export file instead of the store\n"
     "  --key VKEY             a trusted verifier key (from agentrail keygen); repeatable\n"
     "  --checkpoint FILE      an anchor: a signed checkpoint kept outside the log; repeatable,\n"
     "                         needs --key\n"
     "  --json                 one JSON object: status, records, size, root_hash, erased,\n"
     "                         erased_ranges, pruned ({below, count} or null), checkpoints,\n"
     "                         anchored_size, first_bad_seq, findings (kind, seq, seq_last,\n"
     "                         checkpoint_size, message)\n" STORE_HELP},
    {"root", cmd_root, "print the Merkle root of the log",
     "agentrail root [--store URI] [--size N] [--json]\n"
     "\n"
     "  --size N               the root of the first N records (default: all)\n"
     "  --json                 {\"size\":N,\"root_hash\":\"...\"}\n" STORE_HELP},
    {"prove", cmd_prove, "print an inclusion or consistency proof",
     "agentrail prove [--store URI] SEQ [--size N] [--json]\n"
     "   or: agentrail prove [--store URI] --consistency OLD NEW [--json]\n"
     "   or: agentrail prove [--store URI] EVENT_ID [--checkpoint FILE]\n"
     "\n"
     "Inclusion: the leaf hash of record SEQ, the root of the tree of size N and the audit\n"
     "path, one hash per line. Consistency: the roots of both sizes and the path proving the\n"
     "smaller tree is a prefix of the larger. Each proof is checked before it is printed.\n"
     "Given an EVENT_ID, print a proof bundle (one JSON line): the record's exact bytes and\n"
     "payload, its leaf index and audit path, and the signed checkpoint they lead to, which\n"
     "'agentrail verify-proof BUNDLE --key VKEY' checks offline.\n"
     "\n"
     "  --size N               tree size for an inclusion proof (default: the log size)\n"
     "  --consistency          prove that size OLD is a prefix of size NEW\n"
     "  --checkpoint FILE      the signed checkpoint to prove against (default: the newest\n"
     "                         one stored with the log)\n"
     "  --json                 one JSON object\n" STORE_HELP},
    {"verify-proof", cmd_verify_proof, "check a proof bundle offline with the verifier key",
     "agentrail verify-proof --key VKEY [--json] BUNDLE|-\n"
     "\n"
     "Check a proof bundle made by 'agentrail prove EVENT_ID' with nothing but the log's\n"
     "verifier key: the checkpoint's signature, the record's leaf hash, the audit path to the\n"
     "signed root, and the payload against the record's commitment. Exit 0 when it holds, 1\n"
     "when it does not (the message says what), 3 when the check could not run.\n"
     "\n"
     "  --key VKEY             the log's verifier key (the .pub file from agentrail keygen)\n"
     "  --json                 print the result as JSON\n"
     "  -h, --help             show this help\n"},
    {"evidence", cmd_evidence, "a job's records, approvals and policies, proven",
     "agentrail evidence [--store URI] JOB_ID [--out FILE] [--checkpoint FILE]\n"
     "\n"
     "Make the evidence bundle of job JOB_ID (docs/evidence.md): every record of the job and\n"
     "the text of every policy snapshot its decisions cite, each with its audit path to one\n"
     "signed checkpoint, and a summary (submitter, decisions with rule and snapshot, approvals\n"
     "with approver and comment, output safety, final state) that 'agentrail verify-evidence'\n"
     "re-derives from the records offline. Without --out the bundle is printed (one JSON\n"
     "line); with it, the bundle is written to FILE and the summary printed. From a server\n"
     "(GET /api/v1/jobs/JOB_ID/evidence) it needs an auditor's or admin's token.\n"
     "Fails when no signed checkpoint covers the job yet ('agentrail checkpoint --key').\n"
     "\n"
     "  --out FILE             write the bundle to FILE and print its summary\n"
     "  --checkpoint FILE      the signed checkpoint to prove against (default: the newest\n"
     "                         one stored with the log; local stores only)\n" STORE_HELP},
    {"verify-evidence", cmd_verify_evidence, "check an evidence bundle offline with a key",
     "agentrail verify-evidence --key VKEY [--json] FILE|-\n"
     "\n"
     "Check an evidence bundle made by 'agentrail evidence' with nothing but the log's verifier\n"
     "key: the checkpoint's signature, every record's leaf hash and audit path to the signed\n"
     "root, every payload against its commitment, every record belonging to the job, each\n"
     "policy text against its snapshot, and the summary against the one re-derived from the\n"
     "records. Then print the job as an auditor reads it: submitter, each decision with its\n"
     "rule, snapshot and policy text, each approval with its approver and comment, output\n"
     "safety, final state. Exit 0 when it holds, 1 when it does not (the message names the\n"
     "first thing that fails), 2 when the bundle is malformed or the check cannot run.\n"
     "\n"
     "  --key VKEY             the log's verifier key (the .pub file from agentrail keygen)\n"
     "  --json                 print the result and the summary as JSON\n"
     "  -h, --help             show this help\n"},
    {"keygen", cmd_keygen, "make an Ed25519 key pair for signing checkpoints",
     "agentrail keygen --name ORIGIN --out PREFIX [--force]\n"
     "\n"
     "Write PREFIX.key (the signer key, mode 0600) and PREFIX.pub (the verifier key), one line\n"
     "each in the text encoding of Go's golang.org/x/mod/sumdb/note. ORIGIN names the log in\n"
     "every checkpoint signed with the key (e.g. example.com/agentrail/prod). Keep the .key\n"
     "file outside the store's directory; give the .pub file to auditors.\n"
     "\n"
     "  --name ORIGIN          the key name and checkpoint origin (no '+', no spaces)\n"
     "  --out PREFIX           where to write PREFIX.key and PREFIX.pub\n"
     "  --force                replace existing files\n"
     "  -h, --help             show this help\n"},
    {"checkpoint", cmd_checkpoint, "sign the log's tree, or print a stored checkpoint",
     "agentrail checkpoint [--store URI] [--key FILE | --size N]\n"
     "\n"
     "With --key, sign the log's durable tree as a C2SP tlog-checkpoint note, store it beside\n"
     "the log and print it. Refused when the log no longer extends the newest stored\n"
     "checkpoint. Without --key, print the newest stored checkpoint, or with --size N the\n"
     "smallest one that covers the first N records.\n"
     "\n"
     "  --key FILE             the signer key (from agentrail keygen)\n"
     "  --size N               print the stored checkpoint covering N records\n" STORE_HELP},
    {"witness", cmd_witness, "check a witness's checkpoints against each other and the log",
     "agentrail witness check --dir DIR [--store URI] [--key VKEY]\n"
     "\n"
     "Read every *.note checkpoint in DIR (as written by serve --witness DIR), check each\n"
     "signature with --key, report two checkpoints of one size with different roots, and with\n"
     "--store prove that each checkpoint extends the one before it (in size order) and that\n"
     "the log's tree extends the newest. Findings name the files, sizes and roots.\n"
     "Exit status: 0 OK, 1 TAMPERED (bad signature), TRUNCATED (a checkpoint beyond the log)\n"
     "or FORKED, 3 ERROR, 64 usage error.\n"
     "\n"
     "  --dir DIR              the witness directory\n"
     "  --key VKEY             the verifier key (PREFIX.pub from agentrail keygen)\n"
     "  --store URI            the log to prove consistency against (default: none, only\n"
     "                         $AGENTRAIL_STORE if set)\n"
     "  -h, --help             show this help\n"},
    {"token", cmd_token, "create, list or revoke bearer tokens",
     "agentrail token create --role ROLE [--name NAME] [--actor WHO] [--store URI]\n"
     "   or: agentrail token list [--json] [--store URI]\n"
     "   or: agentrail token revoke ID [--reason TEXT] [--actor WHO] [--store URI]\n"
     "\n"
     "Roles: writer (append only), reader (read, secrets masked), auditor (read everything,\n"
     "verify, export), approver (resolve approvals), admin (tokens, keys, retention).\n"
     "Creating or revoking a token appends a token_change event; the log keeps only the\n"
     "token's SHA-256. 'create' prints the token once, alone on the last line of stdout.\n"
     "\n"
     "  --role ROLE            writer, reader, auditor, approver or admin\n"
     "  --name NAME            a label for lists (at most 128 bytes)\n"
     "  --actor WHO            who makes the change (default: $USER)\n"
     "  --reason TEXT          why a token is revoked\n"
     "  --json                 list as JSON lines\n" STORE_HELP},
    {"alerts", cmd_alerts, "list alerts, or scan a store for them",
     "agentrail alerts list [--rule R] [--session ID] [--job ID] [--limit N] [--json]\n"
     "                      [--store URI]\n"
     "   or: agentrail alerts scan [--store URI]\n"
     "\n"
     "'list' prints the alert events newest first, from a store or a server\n"
     "(GET /api/v1/alerts): seq, time, severity, rule, the seq of the event that fired it and\n"
     "why. 'scan' runs the alert rules over a local store from where its alerts left off (the\n"
     "newest alert's trigger, at most 7 days back) and appends an alert event for each that\n"
     "fires, as 'agentrail serve' does while it runs (docs/alerts.md); evaluating an event\n"
     "twice appends nothing twice.\n"
     "\n"
     "  --rule R               only this rule: sensitive_path, deny, command_after_deny,\n"
     "                         token_spike, command_failure_burst, rules_changed,\n"
     "                         system_prompt_changed\n"
     "  --session ID           only alerts about this session\n"
     "  --job ID               only alerts about this job\n"
     "  --limit N              at most N alerts (default: all)\n"
     "  --json                 list as one JSON array of the API's items\n" STORE_HELP},
    {"approvals", cmd_approvals, "list the approval queue, or approve or reject a request",
     "agentrail approvals list [--all] [--json] [--store URI]\n"
     "   or: agentrail approvals resolve ID --approve|--reject --job-hash HEX [--comment TEXT]\n"
     "                                      --store http://HOST:PORT\n"
     "\n"
     "'list' prints the pending approval requests in request order (every request with\n"
     "--all), from a store or a server. 'resolve' approves or rejects request ID through a\n"
     "server (POST /api/v1/approvals/ID/resolve) with an approver's token in\n"
     "$AGENTRAIL_TOKEN: the server appends an approval_resolved event whose resolver is the\n"
     "token's name. It is refused for an unknown ID, a resolved request, a job hash that is\n"
     "not the request's, or a request the token's name raised or whose job it submitted.\n"
     "\n"
     "  --all                  list resolved requests too\n"
     "  --json                 list as one JSON array\n"
     "  --approve, --reject    the resolution\n"
     "  --job-hash HEX         the job hash the request carries (what is being approved)\n"
     "  --comment TEXT         why (at most 16384 bytes)\n" STORE_HELP},
    {"report", cmd_report, "summarize a day or a week of the log as Markdown, HTML or JSON",
     "agentrail report --period day|week [--date YYYY-MM-DD] [--format md|html|json]\n"
     "                        [--out FILE] [--prices FILE] [--sensitive GLOB]... [--top N]\n"
     "                        [--verify [--key VKEY]...] [--store URI]\n"
     "\n"
     "Compute a report from the log alone (docs/reports.md): sessions and tasks with their\n"
     "outcomes, tokens and cost per model and per agent, files read and modified (top paths,\n"
     "sensitive paths), commands and failures, policy decisions by rule and outcome,\n"
     "approvals opened, resolved and pending with time to resolve, escalations, retries,\n"
     "aborts, redactions, alerts, and the signed checkpoint that covers the period. Periods\n"
     "are UTC: a day is [DATE 00:00, +24 h), a week the ISO week (Monday to Sunday) holding\n"
     "DATE. HTML is one self-contained page with inline SVG charts that prints to PDF.\n"
     "\n"
     "  --period day|week      the period to report on\n"
     "  --date YYYY-MM-DD      a day in the period (default: yesterday, or last week)\n"
     "  --format F             md (default), html or json\n"
     "  -o, --out FILE         write to FILE (atomically) instead of standard output\n"
     "  --prices FILE          JSON prices per model: {\"MODEL\": {\"input_per_mtok_micro_usd\":\n"
     "                         N, \"output_per_mtok_micro_usd\": N}}; a cost is shown only\n"
     "                         where recorded in usage.cost_micro_usd or priced here\n"
     "  --sensitive GLOB       a sensitive-path glob, repeatable; replaces the defaults\n"
     "                         (" ATR_REPORT_SENSITIVE_DEFAULT ")\n"
     "  --top N                length of the top paths and failing commands lists (default\n"
     "                         20)\n"
     "  --verify               also verify the whole log and report the verdict (a full\n"
     "                         pass: about 2 s per million records); else 'not run'\n"
     "  --key VKEY             a trusted verifier key for --verify; repeatable\n" STORE_HELP},
    {"policy", cmd_policy, "publish, roll back, show or list policy documents",
     "agentrail policy publish NAME FILE|- [--json-document] [--reason TEXT] [--actor WHO]\n"
     "   or: agentrail policy rollback NAME [--to SNAPSHOT] [--reason TEXT] [--actor WHO]\n"
     "   or: agentrail policy show NAME|SNAPSHOT [--json | --text]\n"
     "   or: agentrail policy list [--json]\n"
     "\n"
     "A policy is a named, versioned document kept in the log (docs/policies.md).\n"
     "'publish' appends a policy_publish event holding the document (the file as it is,\n"
     "or with --json-document its JSON in canonical form); its snapshot is\n"
     "sha256:<hex of the text>, what decisions cite in policy.snapshot. Publishing the\n"
     "version already in force appends nothing. 'rollback' appends policy_rollback: back\n"
     "to SNAPSHOT, or by default one version further back each time. 'show' prints a\n"
     "policy (the version in force, its history and text) or a snapshot's text; 'list'\n"
     "every policy. On a server (--store http://HOST:PORT) publish and rollback need an\n"
     "admin's token in $AGENTRAIL_TOKEN, and the actor is the token's name.\n"
     "\n"
     "  --json-document        the document is JSON (an object or an array)\n"
     "  --reason TEXT          why (default: \"publish policy NAME\", \"roll back ...\")\n"
     "  --actor WHO            who publishes, on a local store (default: $USER)\n"
     "  --to SNAPSHOT          the snapshot to roll back to\n"
     "  --json                 show or list as JSON\n"
     "  --text                 show only the document's text, exactly\n" STORE_HELP},
    {"retention", cmd_retention, "set or show how long payloads and records are kept",
     "agentrail retention set [--payloads DUR|none] [--records DUR|none] [--legal-hold on|off]\n"
     "                        [--reason TEXT] [--actor WHO] [--json]\n"
     "   or: agentrail retention show [--json]\n"
     "\n"
     "The settings are the policy 'agentrail.retention' (docs/retention.md): 'set' publishes\n"
     "{\"legal_hold\":...,\"payloads\":...,\"records\":...} as a policy_publish event, so every\n"
     "change is versioned and audited in the log; options left out keep their value, and\n"
     "setting what is in force appends nothing. DUR is N and a unit: h (hours), d (days),\n"
     "w (weeks), y (365 days), e.g. 90d or 7y; 'none' keeps forever. A legal hold stops\n"
     "prune and erase until it is set off.\n"
     "\n"
     "  --payloads DUR|none    delete payloads (detail) of records older than DUR on prune\n"
     "  --records DUR|none     delete whole records older than DUR on prune --records\n"
     "  --legal-hold on|off    on: refuse every prune and erase\n"
     "  --reason TEXT          why (default: \"publish policy agentrail.retention\")\n"
     "  --actor WHO            who changes them (default: $USER)\n"
     "  --json                 print the settings as JSON\n" STORE_HELP},
    {"prune", cmd_prune, "delete payloads and records older than the retention settings",
     "agentrail prune [--records] [--dry-run] [--now TIME] [--reason TEXT] [--actor WHO]\n"
     "                [--json]\n"
     "\n"
     "Delete the payloads of records whose ts is older than the payload retention, except\n"
     "those of policy_publish, token_change and erasure events, which are evidence. With\n"
     "--records also delete whole records below B, the largest multiple of 256 such that\n"
     "every record below it is older than the records retention and a signed checkpoint\n"
     "stored with the log covers it; tree hashes and checkpoints stay, so every remaining\n"
     "record's proofs still verify. Policies in force whose events lie below B are\n"
     "published again, unchanged, first. An erasure event saying what goes and why is\n"
     "appended BEFORE anything is deleted; a run first finishes what an interrupted one\n"
     "planned. Refused (exit 1) under legal hold; nothing removed: nothing appended.\n"
     "\n"
     "  --records              prune whole records too (needs a records retention)\n"
     "  --dry-run              say what would go; delete nothing, append nothing\n"
     "  --now TIME             judge ages as of TIME (RFC 3339; default: now)\n"
     "  --reason TEXT          why (default: the retention policy and its durations)\n"
     "  --actor WHO            who prunes (default: $USER)\n"
     "  --json                 print the result as one JSON object\n" STORE_HELP},
    {"erase", cmd_erase, "delete the payloads of one user's or one session's events",
     "agentrail erase (--user ID | --session ID) --reason TEXT [--dry-run] [--actor WHO]\n"
     "                [--json]\n"
     "\n"
     "Delete the payload (detail) of every record whose user_id (or session_id) is ID, after\n"
     "appending one erasure event with the count and the seq ranges. The records stay, so\n"
     "who, what, when and why remain provable. Refused (exit 1) under legal hold.\n"
     "\n"
     "  --user ID              the user_id whose payloads go\n"
     "  --session ID           the session_id whose payloads go\n"
     "  --reason TEXT          why (required), e.g. a request's reference\n"
     "  --dry-run              say what would go; delete nothing, append nothing\n"
     "  --actor WHO            who erases (default: $USER)\n"
     "  --json                 print the result as one JSON object\n" STORE_HELP},
    {"migrate", cmd_migrate, "copy a log into a new store (SQLite to PostgreSQL and back)",
     "agentrail migrate --from URI --to URI [--key FILE]... [--quiet|--json]\n"
     "\n"
     "Copy the log at --from into the empty log at --to, record by record: each record with\n"
     "its payload and salt verbatim, the tree recomputed from them, the redaction salt and\n"
     "every signed checkpoint. The copy's root must equal the source's, and every checkpoint\n"
     "must match the copy's root at its size. A URI is a path, sqlite:PATH or\n"
     "postgres://USER@HOST/DB?log=NAME (docs/postgres.md). Refused (exit 1) when --to holds\n"
     "anything, or when --from was pruned (its first records are gone). Records appended to\n"
     "--from meanwhile are not copied.\n"
     "\n"
     "  --from URI             the log to copy (opened read-only)\n"
     "  --to URI               the new log (created when missing; must be empty)\n"
     "  --key FILE             a verifier key (repeatable): every source checkpoint signed by\n"
     "                         it must verify, and at least one must be signed by it\n"
     "  -q, --quiet            print nothing on success\n"
     "  --json                 print the result as one JSON object\n"
     "  -h, --help             show this help\n"},
    {"serve", cmd_serve, "run the HTTP ingest and evidence API",
     "agentrail serve [--store URI] [--listen HOST:PORT] [--threads N] [--max-body BYTES]\n"
     "                [--queue-max N]\n"
     "                [--key FILE [--checkpoint-every N] [--checkpoint-interval S]\n"
     "                 [--witness DIR]... [--witness-url URL]...]\n"
     "                [--redact-pattern KIND=REGEX]... [--redact-field PATH]...\n"
     "                [--redact-disable KIND[,KIND]...]\n"
     "                [--reports-dir DIR [--report-delay DURATION]]\n"
     "                [--alerts on|off] [--alert-webhook URL] [--alert-sensitive GLOB]...\n"
     "                [--alert-token-spike K] [--alert-fail-burst N/SECONDS]\n"
     "                [--read-store URI]\n"
     "\n"
     "Serve POST /api/v1/events and the read API (docs/server.md) until SIGTERM or SIGINT,\n"
     "then answer what is in flight, commit everything submitted and exit 0. With at least one\n"
     "live token ('agentrail token') every route but /healthz needs a bearer token and any\n"
     "address may be bound; without, only loopback clients are served and bound.\n"
     "\n"
     "  --listen HOST:PORT     address to bind (default 127.0.0.1:8081; [::1]:PORT for IPv6;\n"
     "                         port 0 picks a free one)\n"
     "  --threads N            HTTP worker threads (default 4)\n"
     "  --max-body BYTES       largest request body, also after gzip inflation\n"
     "                         (default 16777216)\n"
     "  --queue-max N          events accepted and not yet written (default 100000); past it\n"
     "                         a request gets 429 with Retry-After\n"
     "  --key FILE             sign checkpoints with this signer key (agentrail keygen; kept\n"
     "                         outside the store's directory): when the log has grown, every\n"
     "                         --checkpoint-interval seconds or --checkpoint-every events, and\n"
     "                         at shutdown. Without it nothing is signed.\n"
     "  --checkpoint-every N   also sign as soon as N events arrived since the last checkpoint\n"
     "                         (default 0: by time only)\n"
     "  --checkpoint-interval S\n"
     "                         seconds between checkpoints while the log grows (1 to 3600,\n"
     "                         default 1)\n"
     "  --witness DIR          also write each new checkpoint into DIR (outside the store's\n"
     "                         directory) as checkpoint.<size>.note and latest; repeatable\n"
     "  --witness-url URL      also POST each new checkpoint (text/plain) to URL, retried with\n"
     "                         back-off from a background queue; repeatable\n"
     "  --redact-pattern KIND=REGEX\n"
     "                         also mask what this POSIX extended regex finds in every\n"
     "                         string of an event, as [REDACTED:KIND:<hash>] (with a group,\n"
     "                         group 1 only); repeatable, adds to AGENTRAIL_REDACT_PATTERNS\n"
     "  --redact-field PATH    also mask every string value at this field path\n"
     "                         (detail.env.*, target); repeatable\n"
     "  --redact-disable KIND[,KIND]\n"
     "                         switch built-in detectors off (jwt, url_password, ...; all);\n"
     "                         secrets are masked at ingest and never stored\n"
     "                         (docs/redaction.md)\n"
     "  --reports-dir DIR      write each UTC day's report after midnight and each ISO week's\n"
     "                         after Monday's, as HTML, Markdown and JSON files in DIR, each\n"
     "                         logged by an x_report event with its SHA-256; served at\n"
     "                         GET /api/v1/reports (docs/reports.md)\n"
     "  --report-delay DURATION\n"
     "                         wait this long after midnight UTC, so late events land\n"
     "                         (N, Ns, Nm or Nh; 0 to 12h, default 300s)\n"
     "  --read-store URI       answer the read API's GET routes from this store, a replica\n"
     "                         of --store such as a PostgreSQL hot standby (may lag behind\n"
     "                         it; docs/postgres.md); ingest, tokens, signing, export,\n"
     "                         verify and alerts stay on --store\n"
     "  --alerts on|off        evaluate the alert rules as the log grows and append an alert\n"
     "                         event for each that fires (default on; docs/alerts.md);\n"
     "                         listed at GET /api/v1/alerts\n"
     "  --alert-webhook URL    also POST each new alert event (JSON, with its seq) to URL,\n"
     "                         retried with back-off from a background queue\n"
     "  --alert-sensitive GLOB also alert on reads and writes of paths matching GLOB (a file\n"
     "                         name glob, or DIR/ for a directory); repeatable, adds to\n"
     "                         .env,id_rsa*,*.pem,credentials*,.aws/,.ssh/\n"
     "  --alert-token-spike K  a session's tokens over K times its agent's 7-day median per\n"
     "                         session (after 3 sessions) is a spike (default 5)\n"
     "  --alert-fail-burst N/SECONDS\n"
     "                         N failed commands within SECONDS in one session are a burst\n"
     "                         (default 5/60)\n" STORE_HELP},
    {"exec", cmd_exec, "run a command under a tracer and record what it did",
     "agentrail exec [--session ID] [--actor NAME] [--store URI] [--files all|first|none]\n"
     "                      [--include-system] [--net] -- CMD [ARGS...]\n"
     "\n"
     "Run CMD under a ptrace tracer (x86_64 Linux) and record, from the operating system, what\n"
     "it and every process it started did: session_start (argv, cwd, user, host, git commit\n"
     "and branch, rules_hash of the AGENTS.md/CLAUDE.md files in force), one command event per\n"
     "program run (argv, cwd, pid, ppid, start, duration, exit code or signal), file_read,\n"
     "file_write and file_delete with absolute paths, x_connect with --net, and session_end\n"
     "(exit status, duration, counts). Standard streams stay the command's; the signals sent\n"
     "to agentrail exec go to it. Exit status: the command's (128+N when signal N killed it),\n"
     "125 when agentrail could not run it, 126 not executable, 127 not found. When CMD ends\n"
     "while processes it started still run, exec returns at once and a tracer goes on\n"
     "recording them in the background. Events go to the sink chosen by AGENTRAIL_SINK and\n"
     "the other AGENTRAIL_* variables (README); a sink that fails is reported once and never\n"
     "stops the command. See docs/exec.md.\n"
     "\n"
     "  --session ID           session_id of every event (default: a fresh UUID, also given to\n"
     "                         the command as $AGENTRAIL_SESSION_ID)\n"
     "  --actor NAME           actor of every event (default: the command's name)\n"
     "  --files MODE           first (default): one event per path and kind per session, with\n"
     "                         counts in session_end; all: one event per operation; none: no\n"
     "                         file events\n"
     "  --include-system       also record reads under /usr, /lib*, /bin, /sbin, /proc, /sys\n"
     "                         and /dev and of the loader's files, and writes to devices\n"
     "  --net                  record the targets of connect() as x_connect events\n"
     "  --store URI            the store of the store sink (default: $AGENTRAIL_STORE, else\n"
     "                         $XDG_DATA_HOME/agentrail/agentrail.db)\n"
     "  -h, --help             show this help\n"},
    {"hook", cmd_hook, "record what Claude Code's hooks and Codex's notify report",
     "agentrail hook claude-code [--actor NAME] [--user NAME] [--store URI]\n"
     "   or: agentrail hook claude-code --print-settings [--command CMD | --url URL]\n"
     "   or: agentrail hook codex [--actor NAME] [--user NAME] [--store URI] [JSON]\n"
     "\n"
     "claude-code: read one Claude Code hook payload on standard input and record it: sessions,\n"
     "prompts, tool calls and results, commands, file writes and reads, permission requests,\n"
     "notifications, stops (docs/agents.md). codex: record Codex's notify payload, the last\n"
     "argument (else standard input). Events go to the sink chosen by AGENTRAIL_SINK and the\n"
     "other AGENTRAIL_* variables (a spool keeps them while a server is down). A hook never\n"
     "stands in the agent's way: it always exits 0, prints nothing on standard output, says\n"
     "what went wrong once on standard error, and gives up after 10 seconds.\n"
     "--print-settings prints the .claude/settings.json block that runs this hook for every\n"
     "Claude Code hook event (with --url, one that posts them to a server's\n"
     "/api/v1/hooks/claude-code instead).\n"
     "\n"
     "  --actor NAME           actor of the agent's events (default: claude-code or codex)\n"
     "  --user NAME            user_id of every event and actor of prompts (default: $USER)\n"
     "  --store URI            the store of the store sink (default: $AGENTRAIL_STORE, else\n"
     "                         $XDG_DATA_HOME/agentrail/agentrail.db)\n"
     "  --print-settings       print the settings block instead of recording\n"
     "  --command CMD          the hook's command line (default: agentrail hook claude-code)\n"
     "  --url URL              a server's http(s)://HOST:PORT: wire HTTP hooks to it, with\n"
     "                         Authorization: Bearer $AGENTRAIL_TOKEN\n"
     "  -h, --help             show this help\n"},
    {"bench", cmd_bench, "measure ingest, verify, HTTP ingest, query latency, exec overhead",
     "agentrail bench ingest [--events N] [--batch B] [--store URI] [--keep]\n"
     "   or: agentrail bench verify [--store URI] [--events N]\n"
     "   or: agentrail bench http [--events N] [--batch B] [--connections C]\n"
     "                            [--url http://HOST:PORT | --store URI] [--keep]\n"
     "   or: agentrail bench query [--events N] [--requests R] [--store URI] [--keep]\n"
     "   or: agentrail bench exec [--sources N] [--jobs J] [--runs R] [--store URI] [--keep]\n"
     "   or: agentrail bench report [--events N] [--runs R] [--store URI] [--keep]\n"
     "\n"
     "ingest: append N synthetic tool_call events in durable batches of B, timing only the\n"
     "appends. verify: time a full verification (of a fresh store of N events unless --store).\n"
     "http: POST N events to a server from C keep-alive connections, B per request (a JSON\n"
     "array, or one object when B is 1), and report events/s and request latency; without\n"
     "--url it starts `agentrail serve` on a free loopback port and stops it at the end.\n"
     "Any answer but 201 is counted and makes the exit status 1.\n"
     "query: fill a store with N events of jobs (50 events each), workflow runs (300) and\n"
     "approvals (one job in 10; one in 200 left pending), sign a checkpoint of it with a\n"
     "fixed bench key, serve it, and time R sequential GETs over one keep-alive connection\n"
     "of each of /api/v1/jobs/{id}, the workflow-run timeline (limit=200),\n"
     "/api/v1/approvals and /api/v1/jobs/{id}/evidence; one JSON line per endpoint, and any\n"
     "answer but 200 makes the exit status 1.\n"
     "exec: generate a C project of N sources (default 200), build it with make -jJ (default\n"
     "2) bare and under 'agentrail exec', R times each (default 3), and print the median wall\n"
     "and CPU times and their ratios; a failed build makes the exit status 1. --keep keeps\n"
     "the directory.\n"
     "report: fill a store with N events (default 1000000) of agent sessions spread over ISO\n"
     "week 2026-W14 (an existing --store is used as it is), sign a checkpoint, and time the\n"
     "week report R times (default 3): open, build, and render JSON, HTML and Markdown.\n"
     "Prints one JSON line (query: one per endpoint). Without --store a temporary store is\n"
     "used and removed.\n"
     "\n"
     "  --events N             events to send (ingest and http default 10000, verify 200000,\n"
     "                         query 1000000)\n"
     "  --requests R           query: requests per endpoint (default 1000)\n"
     "  --batch B              events per batch or request (default 1000; http default 1)\n"
     "  --connections C        http: client connections, one thread each (default 8)\n"
     "  --url URL              http: the server to load (default: start one)\n"
     "  --keep                 keep the temporary store and print its path on stderr\n" STORE_HELP},
    {"demo", cmd_demo, "record a small example pipeline and show its trail",
     "agentrail demo [--store URI]\n"
     "\n"
     "Record a realistic pipeline with fresh ids (task, session, model call, tools, a policy\n"
     "decision, an approval, the outcome), then print its trail and the verify "
     "status.\n" STORE_HELP},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void main_help(FILE *out)
{
	fputs("usage: agentrail [--store URI] COMMAND [OPTIONS]\n"
	      "       agentrail COMMAND --help\n"
	      "\n"
	      "A tamper-evident audit log for AI agents.\n"
	      "\n"
	      "commands:\n",
	      out);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
	fputs("\n"
	      "global options (also accepted after the command name):\n"
	      "  --store URI   the log: a path, sqlite:PATH, or a server's http(s)://HOST:PORT\n"
	      "                (client mode; default: $AGENTRAIL_STORE, else\n"
	      "                $XDG_DATA_HOME/agentrail/agentrail.db)\n"
	      "  -h, --help    show this help\n"
	      "  -V, --version print the version\n"
	      "\n"
	      "exit status: 0 ok, 1 failure, 64 usage error (verify: 0 OK, 1 TAMPERED,\n"
	      "TRUNCATED or FORKED, 2 UNANCHORED, 3 ERROR)\n",
	      out);
}

static const struct cli_cmd *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	struct cli cli = {0};
	const struct cli_cmd *cmd;
	int i;

	cli.store = getenv("AGENTRAIL_STORE");
	if (cli.store && !*cli.store)
		cli.store = NULL;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			main_help(stdout);
			return cli_finish_stdout(CLI_OK);
		} else if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
			printf("agentrail %s\n", atr_version());
			return cli_finish_stdout(CLI_OK);
		} else if (strcmp(a, "--store") == 0) {
			if (i + 1 >= argc)
				return cli_usage(&cli, "option '--store' requires an argument");
			cli.store = argv[++i];
			cli.store_option = 1;
		} else if (strncmp(a, "--store=", 8) == 0) {
			cli.store = a + 8;
			cli.store_option = 1;
		} else {
			return cli_usage(&cli, "unknown option '%s'", a);
		}
	}
	if (i >= argc) {
		main_help(stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[i], "help") == 0) {
		if (i + 1 < argc) {
			cmd = find_command(argv[i + 1]);
			if (!cmd)
				return cli_usage(&cli, "unknown command '%s'", argv[i + 1]);
			cli.cmd = cmd;
			return cli_help(&cli);
		}
		main_help(stdout);
		return cli_finish_stdout(CLI_OK);
	}
	cmd = find_command(argv[i]);
	if (!cmd)
		return cli_usage(&cli, "unknown command '%s'", argv[i]);
	cli.cmd = cmd;
	optind = 0; /* glibc: full re-initialization */
	opterr = 0;
	return cli_finish_stdout(cmd->fn(&cli, argc - i, argv + i));
}
