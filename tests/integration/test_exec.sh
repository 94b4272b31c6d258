#!/usr/bin/env bash
# agentrail exec traces real programs and records exactly what they did:
# the must-show shell line, cp, make on a tiny tree, a program that forks and
# execs from several threads (and execs from a thread other than main),
# signals forwarded and deaths by signal, --files all|first|none,
# --include-system, --net, paths resolved against a changed cwd and dirfds,
# rename/unlink/mkdir, descendants that outlive the command, the session's
# git and rules context, and the producer's AGENTRAIL_LOG_* switches.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

unset AGENTRAIL_SINK AGENTRAIL_LOG_FILE_READS AGENTRAIL_LOG_COMMANDS
W=$(cd "$T" && pwd -P)/work # the traced programs' working directory
PY=$(python3 -c 'import sys; print(sys.executable)') # the interpreter itself, not a shim
mkdir -p "$W"
cd "$W"

# Background runs are stopped at the end whatever happens (TERM reaches the command).
BG=()
cleanup() {
	for p in "${BG[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

# events SESSION: one line per event, "type|target|exit_code", in log order.
events() {
	ar query --session "$1" --json | python3 -c '
import json, sys
for l in sys.stdin:
    r = json.loads(l)
    print("%s|%s|%s" % (r["type"], r.get("target", ""), r.get("exit_code", "")))'
}
# jq_session SESSION EXPR: a python expression over the session's records ("rs").
jq_session() {
	ar query --session "$1" --json | python3 -c '
import json, sys
rs = [json.loads(l) for l in sys.stdin if l.strip()]
by = lambda t: [r for r in rs if r["type"] == t]
one = lambda t, target=None: [r for r in rs if r["type"] == t and (target is None or r.get("target") == target)][0]
v = eval(sys.argv[1])
print(v if isinstance(v, (str, bool)) else json.dumps(v))' "$2"
}
# no_tracer SESSION: wait (up to 30 s) until no agentrail process of SESSION is left.
no_tracer() {
	for _ in $(seq 300); do
		pgrep -f -- "--session $1 " >/dev/null || return 0
		sleep 0.1
	done
	return 1
}

# ------------------------------------------------------------ the must-show
expect_exit 1 ar exec --session must -- sh -c 'cat /etc/hostname >/dev/null; echo x > out.txt; false'
assert_eq "x" "$(cat out.txt)" "out.txt written by the traced shell"
want="session_start|sh -c 'cat /etc/hostname >/dev/null; echo x > out.txt; false'|
file_read|/etc/hostname|
command|cat /etc/hostname|0
file_write|$W/out.txt|
command|sh -c 'cat /etc/hostname >/dev/null; echo x > out.txt; false'|1
session_end|sh -c 'cat /etc/hostname >/dev/null; echo x > out.txt; false'|1"
assert_eq "$want" "$(events must)" "must-show events"
# Links: cat under sh under session_start; the read under cat; the end under the start.
assert_eq "True" "$(jq_session must 'one("command", "cat /etc/hostname")["parent_event_id"] == one("command", "sh -c '"'"'cat /etc/hostname >/dev/null; echo x > out.txt; false'"'"'")["event_id"]')" "cat's parent is sh"
assert_eq "True" "$(jq_session must 'by("command")[1]["parent_event_id"] == one("session_start")["event_id"]')" "sh's parent is session_start"
assert_eq "True" "$(jq_session must 'one("file_read")["parent_event_id"] == one("command", "cat /etc/hostname")["event_id"]')" "the read's parent is cat"
assert_eq "True" "$(jq_session must 'one("file_write")["parent_event_id"] == by("command")[1]["event_id"]')" "the write's parent is sh"
assert_eq "True" "$(jq_session must 'one("session_end")["parent_event_id"] == one("session_start")["event_id"]')" "session_end's parent"
# Details: argv, cwd, pid/ppid, durations, exit codes, the open flags, counts.
assert_eq '["cat", "/etc/hostname"]' "$(jq_session must 'one("command", "cat /etc/hostname")["detail"]["argv"]')" "cat argv"
assert_eq "$W" "$(jq_session must 'one("command", "cat /etc/hostname")["detail"]["cwd"]')" "cat cwd"
assert_eq "True" "$(jq_session must 'one("command", "cat /etc/hostname")["detail"]["ppid"] == by("command")[1]["detail"]["pid"] == one("session_start")["detail"]["pid"]')" "pid and ppid"
assert_eq "True" "$(jq_session must 'all(isinstance(c["detail"]["duration_ms"], int) and c["detail"]["start"] == c["ts"] for c in by("command"))')" "start and duration"
assert_eq "success failure" "$(jq_session must '" ".join(c["outcome"] for c in by("command"))')" "outcomes"
assert_eq "O_WRONLY|O_CREAT|O_TRUNC" "$(jq_session must 'one("file_write")["detail"]["flags"]')" "open flags"
assert_eq '{"events": 1, "ops": 1, "paths": 1}' "$(jq_session must 'one("session_end")["detail"]["files"]["read"]')" "read counts"
assert_eq "2 1 1" "$(jq_session must '"%d %d %d" % (one("session_end")["detail"]["commands"], one("session_end")["detail"]["exit_code"], one("session_end")["detail"]["files"]["write"]["paths"])')" "session_end counts"
assert_eq "sh" "$(jq_session must 'one("session_start")["actor"]')" "default actor"
assert_eq "$W" "$(jq_session must 'one("session_start")["detail"]["cwd"]')" "session cwd"
assert_eq "$(id -un)" "$(jq_session must 'one("session_start")["user_id"]')" "user_id"
assert_eq "$(hostname)" "$(jq_session must 'one("session_start")["detail"]["host"]')" "host"

# -------------------------------------------------------------- usage, errors
expect_exit 64 ar exec
assert_contains "$ERR" "missing the command to run"
expect_exit 64 ar exec --files some -- true
assert_contains "$ERR" "option '--files' expects all, first or none, got 'some'"
expect_exit 0 "$AGENTRAIL" exec --help
assert_match "$OUT" "^usage: agentrail exec " "exec --help"
expect_exit 127 ar exec --session nf -- ./no-such-program
assert_contains "$ERR" "cannot run './no-such-program': No such file or directory"
assert_eq "session_start|./no-such-program|
session_end|./no-such-program|127" "$(events nf)" "not found: start and end only"
assert_contains "$(jq_session nf 'one("session_end")["detail"]["error"]')" "No such file"
printf 'x' >not-exec.sh
expect_exit 126 ar exec --session nx -- ./not-exec.sh
assert_contains "$ERR" "Permission denied"
# Options after the command are the command's; exit codes pass through.
expect_exit 3 ar exec --session opts --actor agent-7 -- sh -c 'exit 3' --files all
assert_eq "agent-7" "$(jq_session opts '" ".join(sorted(set(r["actor"] for r in rs)))')" "--actor on every event"
# Standard streams stay the command's.
expect_exit 0 bash -c "echo from-stdin | '$AGENTRAIL' --store '$STORE' exec --session io -- sh -c 'cat; echo to-stderr >&2'"
assert_eq "from-stdin" "$OUT" "stdin and stdout are the command's"
assert_eq "to-stderr" "$ERR" "stderr is the command's"
# The command sees its session id.
expect_exit 0 ar exec --session envid -- sh -c 'test "$AGENTRAIL_SESSION_ID" = envid'

# ------------------------------------------------------------------------ cp
echo hello >a.txt
mkdir -p sub
expect_exit 0 ar exec --session cp -- cp a.txt sub/b.txt
assert_eq "session_start|cp a.txt sub/b.txt|
file_read|$W/a.txt|
file_write|$W/sub/b.txt|
command|cp a.txt sub/b.txt|0
session_end|cp a.txt sub/b.txt|0" "$(events cp)" "cp events"
assert_eq "hello" "$(cat sub/b.txt)" "cp copied"

# ---------------------------------------------------------- make, tiny tree
mkdir -p mk
cat >mk/Makefile <<'EOF'
all: out.txt copy.txt
out.txt: in.txt
	cat in.txt > out.txt
copy.txt: out.txt
	cp out.txt copy.txt
EOF
echo data >mk/in.txt
expect_exit 0 ar exec --session make -- make -s -C mk
assert_eq "data" "$(cat mk/copy.txt)" "make built"
got=$(events make)
assert_line "$got" "^file_read\|$W/mk/Makefile\|$" "make reads the Makefile"
assert_line "$got" "^command\|/bin/sh -c 'cat in.txt > out.txt'\|0$" "recipe through the shell"
assert_line "$got" "^command\|cat in.txt\|0$" "cat under the recipe shell"
assert_line "$got" "^command\|cp out.txt copy.txt\|0$" "recipe run directly"
assert_line "$got" "^file_read\|$W/mk/in.txt\|$" "cat reads in.txt"
assert_line "$got" "^file_write\|$W/mk/out.txt\|$" "the shell writes out.txt"
assert_line "$got" "^file_write\|$W/mk/copy.txt\|$" "cp writes copy.txt"
assert_line "$got" "^command\|make -s -C mk\|0$" "make itself"
assert_eq "True" "$(jq_session make 'one("command", "cp out.txt copy.txt")["parent_event_id"] == one("command", "make -s -C mk")["event_id"]')" "make's recipes hang under make"
assert_eq "$W/mk" "$(jq_session make 'one("command", "cp out.txt copy.txt")["detail"]["cwd"]')" "recipe cwd after make -C"

# ------------------------------------------- threads that fork, exec, and exec
CC=${CC:-cc}
if "$CC" -O1 -pthread -o "$T/threads" "$ATR_SRC/tests/integration/exec_threads.c" 2>"$T/cc.err"; then
	for i in 0 1 2 3; do echo "$i" >"in$i.txt"; done
	expect_exit 7 ar exec --session thr -- "$T/threads" exec-from-thread
	got=$(events thr)
	for i in 0 1 2 3; do
		assert_line "$got" "^command\|cat in$i.txt\|0$" "thread $i's cat"
		assert_line "$got" "^file_read\|$W/in$i.txt\|$" "thread $i's cat read"
		assert_line "$got" "^file_write\|$W/thread$i.out\|$" "thread $i's write"
	done
	assert_eq 6 "$(grep -c '^command|' <<<"$got")" "six commands"
	assert_line "$got" "^command\|$T/threads exec-from-thread\|7$" "the program (replaced, final status)"
	assert_line "$got" "^command\|sh -c 'exit 7'\|7$" "the exec from a thread"
	assert_line "$got" "^session_end\|.*\|7$" "session_end 7"
	assert_eq "True" "$(jq_session thr 'one("command", "sh -c '"'"'exit 7'"'"'")["parent_event_id"] == one("command", "'"$T"'/threads exec-from-thread")["event_id"] and one("command", "'"$T"'/threads exec-from-thread")["detail"]["replaced_by"] == one("command", "sh -c '"'"'exit 7'"'"'")["event_id"]')" "exec chain links"
	assert_eq "True" "$(jq_session thr 'all(c["parent_event_id"] == one("command", "'"$T"'/threads exec-from-thread")["event_id"] for c in by("command") if c["target"].startswith("cat "))')" "the cats hang under the program"
	assert_eq "True" "$(jq_session thr 'len(set(c["detail"]["pid"] for c in by("command") if c["target"].startswith("cat "))) == 4')" "four cat processes"
	expect_exit 0 ar exec --session thr0 -- "$T/threads"
	assert_eq 5 "$(events thr0 | grep -c '^command|')" "without the exec: five commands"
else
	fail "cannot build exec_threads.c: $(cat "$T/cc.err")"
fi

# ----------------------------------------------------------------- signals
rm -f ready
# The program that gets the signal says it is ready itself (sh execs it).
"$AGENTRAIL" --store "$STORE" exec --session term -- sh -c 'exec "$0" -c "import time; open(\"ready\", \"w\").close(); time.sleep(30)"' "$PY" >/dev/null 2>&1 &
pid=$!
BG+=("$pid")
for _ in $(seq 400); do [ -e ready ] && break; sleep 0.05; done
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
assert_eq 143 "$rc" "SIGTERM forwarded: exit 143"
assert_eq "2 143 143 SIGTERM killed" "$(jq_session term '"%d %d %d %s %s" % (len(by("command")), by("command")[0]["exit_code"], by("command")[1]["exit_code"], by("command")[0]["detail"]["signal"], by("command")[0]["outcome"])')" "python (replacing sh) killed by SIGTERM"
assert_eq "True" "$(jq_session term 'by("command")[0]["detail"]["replaced_by"] == by("command")[1]["event_id"] and by("command")[1]["detail"]["exe"] == "'"$(readlink -f "$PY")"'"')" "sh replaced by python"
assert_eq "SIGTERM" "$(jq_session term 'one("session_end")["detail"]["signal"]')" "session_end signal"

rm -f ready usr1.txt
"$AGENTRAIL" --store "$STORE" exec --session usr1 -- sh -c 'trap "echo got > usr1.txt; exit 3" USR1; touch ready; while :; do sleep 0.05; done' >/dev/null 2>&1 &
pid=$!
BG+=("$pid")
for _ in $(seq 400); do [ -e ready ] && break; sleep 0.05; done
kill -USR1 "$pid"
rc=0
wait "$pid" || rc=$?
assert_eq 3 "$rc" "SIGUSR1 forwarded to the shell's trap"
assert_eq "got" "$(cat usr1.txt 2>/dev/null || true)" "the trap ran"

rm -f ready
# (A script's background job starts with SIGINT ignored; the command resets it.)
"$AGENTRAIL" --store "$STORE" exec --session int -- "$PY" -c 'import signal, time; signal.signal(signal.SIGINT, signal.SIG_DFL); open("ready", "w").close(); time.sleep(30)' >/dev/null 2>&1 &
pid=$!
BG+=("$pid")
for _ in $(seq 400); do [ -e ready ] && break; sleep 0.05; done
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
assert_eq 130 "$rc" "SIGINT forwarded: exit 130"
assert_line "$(events int)" "^session_end\|.*\|130$" "session_end 130"

expect_exit 137 ar exec --session kill9 -- sh -c 'kill -KILL $$'
assert_line "$(events kill9)" "^session_end\|.*\|137$" "death by SIGKILL: 137"
assert_eq "SIGKILL 9" "$(jq_session kill9 'one("session_end")["detail"]["signal"] + " " + str(one("session_end")["detail"]["signal_number"])')" "SIGKILL recorded"

# ------------------------------------------------------- --files and system
echo f >f.txt
for mode in first all none; do
	expect_exit 0 ar exec --session "files-$mode" --files "$mode" -- sh -c 'cat f.txt f.txt >/dev/null; cat f.txt >/dev/null; echo y >> f.txt'
done
assert_eq 1 "$(events files-first | grep -c "^file_read|$W/f.txt|")" "first: one read event"
assert_eq 3 "$(jq_session files-first '[p for p in one("session_end")["detail"]["paths"] if p["path"] == "'"$W"'/f.txt"][0]["read"]')" "first: three reads counted"
assert_eq "True" "$(jq_session files-first 'one("file_read", "'"$W"'/f.txt")["detail"]["first"]')" "first: marked first"
assert_eq 3 "$(events files-all | grep -c "^file_read|$W/f.txt|")" "all: three read events"
assert_eq 1 "$(events files-all | grep -c "^file_write|$W/f.txt|")" "all: one write event"
assert_eq 0 "$(events files-none | grep -c '^file_')" "none: no file events"
assert_eq 3 "$(events files-none | grep -c '^command|')" "none: commands still recorded"
assert_eq "O_WRONLY|O_CREAT|O_APPEND" "$(jq_session files-first 'one("file_write")["detail"]["flags"]')" "append flags"

expect_exit 0 ar exec --session nosys -- cat /etc/hostname
expect_exit 0 ar exec --session sys --include-system -- cat /etc/hostname
sysre='^file_read\|(/usr/|/lib|/etc/ld\.so\.cache)'
assert_eq 0 "$(events nosys | grep -cE "$sysre")" "system reads skipped by default"
assert_eq "True" "$(jq_session nosys 'one("session_end")["detail"]["skipped_system_reads"] > 0')" "skipped reads counted"
if [ "$(events sys | grep -cE "$sysre")" -gt 0 ]; then pass; else fail "--include-system keeps the loader's reads: $(events sys)"; fi
assert_eq 1 "$(events nosys | grep -c "^file_read|/etc/hostname|")" "/etc is not a system directory"
expect_exit 0 ar exec --session devnull -- sh -c 'echo > /dev/null'
assert_eq 0 "$(events devnull | grep -c '^file_')" "writes to devices skipped"

# ------------------------------------------------------------------- --net
port_file="$T/port"
rm -f "$port_file"
python3 -c '
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(4)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
s.settimeout(20)
for _ in range(2):
    try:
        c, _ = s.accept(); c.close()
    except OSError:
        break
' "$port_file" &
lpid=$!
BG+=("$lpid")
for _ in $(seq 400); do [ -s "$port_file" ] && break; sleep 0.05; done
port=$(cat "$port_file")
expect_exit 0 ar exec --session net --net -- bash -c "exec 3<>/dev/tcp/127.0.0.1/$port"
assert_line "$(events net)" "^x_connect\|127\.0\.0\.1:$port\|$" "--net records the connect"
assert_eq "inet" "$(jq_session net 'one("x_connect")["detail"]["family"]')" "address family"
assert_eq "True" "$(jq_session net 'one("x_connect")["parent_event_id"] == one("command")["event_id"] and one("x_connect")["level"] == "agent"')" "connect links to bash"
expect_exit 0 ar exec --session nonet -- bash -c "exec 3<>/dev/tcp/127.0.0.1/$port"
assert_eq 0 "$(events nonet | grep -c '^x_connect')" "no connect events without --net"
kill "$lpid" 2>/dev/null || true
wait "$lpid" 2>/dev/null || true

# ------------------------------------------ relative paths, cwd and dirfds
mkdir -p rel/deep tree/x
echo r >rel/r.txt
touch tree/x/y.txt tree/z.txt
expect_exit 0 ar exec --session rel -- sh -c 'cd rel/deep && cat ../r.txt >/dev/null && echo w > ./../../rel/./w.txt && rm -r ../../tree'
got=$(events rel)
assert_line "$got" "^file_read\|$W/rel/r.txt\|$" "read relative to a changed cwd"
assert_line "$got" "^file_write\|$W/rel/w.txt\|$" "dot segments folded"
assert_line "$got" "^file_delete\|$W/tree/x/y.txt\|$" "unlinkat through a directory fd"
assert_line "$got" "^file_delete\|$W/tree/x\|$" "rmdir through a directory fd"
assert_line "$got" "^file_delete\|$W/tree\|$" "rmdir of the top"
expect_exit 0 ar exec --session dirfd -- "$PY" -c '
import os
d = os.open("rel", os.O_RDONLY | os.O_DIRECTORY)
os.chdir("/")
os.close(os.open("made.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=d))
os.mkdir("newdir", dir_fd=d)
os.rename("made.txt", "newdir/moved.txt", src_dir_fd=d, dst_dir_fd=d)
'
got=$(events dirfd)
assert_line "$got" "^file_write\|$W/rel/made.txt\|$" "openat with a dirfd"
assert_line "$got" "^file_write\|$W/rel/newdir\|$" "mkdirat with a dirfd"
assert_line "$got" "^file_delete\|$W/rel/made.txt\|$" "renameat source"
assert_line "$got" "^file_write\|$W/rel/newdir/moved.txt\|$" "renameat destination"
assert_eq "$W/rel/made.txt" "$(jq_session dirfd 'one("file_write", "'"$W"'/rel/newdir/moved.txt")["detail"]["from"]')" "rename from"

# ------------------------------------------------- rename, unlink, mkdir, ln
expect_exit 0 ar exec --session tree --files all -- sh -c 'mkdir d1 && echo a > d1/a && mv d1/a d1/b && ln d1/b d1/c && ln -s b d1/s && truncate -s 0 d1/c && rm d1/b d1/c d1/s && rmdir d1'
got=$(events tree)
assert_line "$got" "^file_write\|$W/d1\|$" "mkdir is a write"
assert_line "$got" "^file_delete\|$W/d1/a\|$" "rename deletes the source"
assert_line "$got" "^file_write\|$W/d1/b\|$" "rename writes the destination"
assert_line "$got" "^file_write\|$W/d1/c\|$" "link writes"
assert_line "$got" "^file_write\|$W/d1/s\|$" "symlink writes"
assert_line "$got" "^file_delete\|$W/d1/s\|$" "unlink deletes"
assert_line "$got" "^file_delete\|$W/d1\|$" "rmdir deletes"
assert_eq "mkdir rename rmdir symlink truncate" "$(jq_session tree '" ".join(sorted(set(r["detail"]["op"] for r in rs if r["type"].startswith("file_") and r["detail"]["op"] in ("rename", "mkdir", "rmdir", "symlink", "truncate"))))')" "operations named"
assert_eq "b" "$(jq_session tree 'one("file_write", "'"$W"'/d1/s")["detail"]["symlink_to"]')" "symlink target"

# ------------------------------------------- descendants outliving the command
rm -f late.txt
start=$(date +%s%N)
expect_exit 4 ar exec --session bg -- sh -c '(sleep 3; echo late > late.txt) >/dev/null 2>&1 & exit 4'
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
if [ "$elapsed_ms" -lt 2500 ]; then pass; else fail "exec waited for a background descendant (${elapsed_ms} ms)"; fi
assert_eq "" "$(cat late.txt 2>/dev/null || true)" "exec returned before the descendant wrote"
assert_eq "True" "$(jq_session bg 'len(one("session_end")["detail"]["running"]) >= 1')" "session_end lists the running descendants"
if no_tracer bg; then pass; else fail "the background tracer did not finish"; fi
assert_eq "late" "$(cat late.txt 2>/dev/null || true)" "the descendant ran unharmed"
got=$(events bg)
assert_line "$got" "^file_write\|$W/late.txt\|$" "the descendant is still recorded after exec returned"
assert_line "$got" "^command\|sleep 3\|0$" "its commands too"

# ------------------------------------------------------ context: git, rules
mkdir -p ctx/sub
(cd ctx && git init -q -b trunk . && git -c user.email=t@e -c user.name=t commit -q --allow-empty -m init)
printf 'be careful\n' >ctx/AGENTS.md
printf 'sub rules\n' >ctx/sub/CLAUDE.md
(cd ctx/sub && expect_exit 0 ar exec --session ctx -- true)
commit=$(git -C ctx rev-parse HEAD)
assert_eq "$commit trunk $W/ctx" "$(jq_session ctx '" ".join(one("session_start")["detail"]["git"][k] for k in ("commit", "branch", "root"))')" "git commit, branch and root"
want_hash=$(cat ctx/AGENTS.md ctx/sub/CLAUDE.md | sha256sum | cut -d' ' -f1)
assert_eq "$want_hash" "$(jq_session ctx 'one("session_start")["rules_hash"]')" "rules_hash over AGENTS.md then CLAUDE.md"
assert_eq "$W/ctx/AGENTS.md $W/ctx/sub/CLAUDE.md" "$(jq_session ctx '" ".join(f["path"] for f in one("session_start")["detail"]["rules"])')" "rules paths, outermost first"

# --------------------------------------------------- the producer's switches
expect_exit 0 env AGENTRAIL_LOG_COMMANDS=false "$AGENTRAIL" --store "$STORE" exec --session nocmd -- cp a.txt c.txt
assert_eq "session_start file_read file_write session_end" "$(jq_session nocmd '" ".join(r["type"] for r in rs)')" "no command events"
assert_eq "True" "$(jq_session nocmd 'one("file_read")["parent_event_id"] == one("session_start")["event_id"]')" "file events then hang under session_start"
expect_exit 0 env AGENTRAIL_LOG_FILE_READS=false "$AGENTRAIL" --store "$STORE" exec --session noread -- cp a.txt d.txt
assert_eq "session_start file_write command session_end" "$(jq_session noread '" ".join(r["type"] for r in rs)')" "no file_read events"

# ------------------------------------------------ a sink that fails
touch "$T/a-file"
expect_exit 0 "$AGENTRAIL" --store "$T/a-file/s.db" exec --session nosink -- sh -c 'echo still-runs'
assert_eq "still-runs" "$OUT" "the command runs when events cannot be recorded"
assert_contains "$ERR" "agentrail: cannot"
assert_eq 1 "$(grep -c 'agentrail:' <<<"$ERR")" "said once"

# The store still verifies (no key: unanchored, nothing tampered).
expect_exit 2 ar verify
finish
