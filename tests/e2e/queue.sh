#!/bin/bash
# e2e: `mailwarden queue` on the saved postqueue -j / mailq captures of the corpus
# (tests/data/queue; /work/shared/corpus/README.md), with a fake postqueue for the spawn path.
. "$(dirname "$0")/../lib.sh"
Q=$DATA/queue
P1="--now 2026-11-22T21:14:34"
FINAL="--now 2026-11-22T21:20:30"

jget() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {"d": d}))' "$@"; }

# --- text report of phase 1 (postqueue -j) ---
"$MW" queue $P1 --from-file "$Q/postqueue-j-phase1.jsonl" >"$TMP/p1.txt" 2>"$TMP/p1.err"
check_eq text-exit 0 $?
check_grep text-total '^Total: 12 messages, 15 recipients, 100247 bytes$' "$TMP/p1.txt"
check_grep text-deferred '^  deferred +10 +97754$' "$TMP/p1.txt"
check_grep text-hold '^  hold +2 +2493$' "$TMP/p1.txt"
check_grep text-refused-merged '^ +2 +3 +6210  connect to \*\[\*\]:\*: Connection refused$' "$TMP/p1.txt"
check_grep text-refused-postsuper 'delete: postsuper -d AA5D01045AC 1140D1045AD$' "$TMP/p1.txt"
check_grep text-flaky-domain '^ +5 +7 +47648  remote-flaky\.test$' "$TMP/p1.txt"
check_grep text-defer-reason '^ +3 +3 +43896  host \*\[\*\] said: 451 4\.7\.1 ' "$TMP/p1.txt"
check_grep text-oldest '^  84D35104599 +hold +2026-11-22 21:12:53 +1m41s +1240  news@partner\.test$' "$TMP/p1.txt"
check_eq text-no-warnings "" "$(cat "$TMP/p1.err")"

# --- the same queue as mailq text and postqueue -p gives the same report ---
for phase in phase1 phase2 final; do
    "$MW" queue $FINAL --from-file "$Q/postqueue-j-$phase.jsonl" | tail -n +2 >"$TMP/j.txt"
    "$MW" queue $FINAL --from-file "$Q/mailq-$phase.txt" | tail -n +2 >"$TMP/m.txt"
    if cmp -s "$TMP/j.txt" "$TMP/m.txt" && [ -s "$TMP/j.txt" ]; then pass "mailq-equals-json-$phase"
    else fail "mailq-equals-json-$phase" "$(diff "$TMP/j.txt" "$TMP/m.txt" | head -5)"; fi
done
"$MW" queue $P1 --from-file "$Q/postqueue-p-phase1.txt" | tail -n +2 >"$TMP/pp.txt"
"$MW" queue $P1 --from-file "$Q/postqueue-j-phase1.jsonl" | tail -n +2 >"$TMP/pj.txt"
check_cmd postqueue-p-equals-json cmp "$TMP/pp.txt" "$TMP/pj.txt"

# --- JSON document ---
"$MW" queue $FINAL --json --from-file "$Q/postqueue-j-final.jsonl" >"$TMP/f.json"
check_eq json-exit 0 $?
check_eq json-total "7 39975" "$(jget "$TMP/f.json" '"%d %d" % (d["total"]["messages"], d["total"]["bytes"])')"
check_eq json-by-queue "5 2 0" "$(jget "$TMP/f.json" '"%d %d %d" % (d["by_queue"]["deferred"]["messages"], d["by_queue"]["hold"]["messages"], d["by_queue"]["active"]["messages"])')"
# held at 21:15:30 -> exactly 5 minutes old at 21:20:30
check_eq json-by-age "5 2" "$(jget "$TMP/f.json" '"%d %d" % (d["by_age"][0]["messages"], d["by_age"][1]["messages"])')"
check_eq json-by-age-label "0-5m 1280m+" "$(jget "$TMP/f.json" 'd["by_age"][0]["bucket"] + " " + d["by_age"][9]["bucket"]')"
check_eq json-reason-top "host *[*] said: 451 4.7.1 Service temporarily unavailable, try again later (in reply to RCPT TO command) 3" \
    "$(jget "$TMP/f.json" 'd["by_reason"][0]["reason"] + " " + str(d["by_reason"][0]["messages"])')"
check_eq json-refused-ids "4jXhgw1gCcz821p 4jXhgw6DWZz821q" \
    "$(jget "$TMP/f.json" '" ".join([g for g in d["by_reason"] if g["reason"].startswith("connect to")][0]["deletable_ids"])')"
check_eq json-domain-postsuper "postsuper -d 4jXhgw1gCcz821p 4jXhgw6DWZz821q" \
    "$(jget "$TMP/f.json" '[g for g in d["by_domain"] if g["domain"] == "remote-down.test"][0]["postsuper"]')"
check_eq json-oldest "4jXhgQ5Ft5z821W hold 2026-11-22T21:15:30+00:00 300" \
    "$(jget "$TMP/f.json" '" ".join(str(d["oldest"][0][k]) for k in ("queue_id", "queue", "arrival", "age_seconds"))')"
check_eq json-oldest-rcpt "ops39@remote-defer.test" \
    "$(jget "$TMP/f.json" '[m for m in d["oldest"] if m["queue_id"] == "4jXhgr4zzjz821f"][0]["recipients"][0]["address"]')"

# --- stdin, --top ---
"$MW" queue $P1 --top 2 --from-file - <"$Q/mailq-phase1.txt" >"$TMP/stdin.txt"
check_grep stdin-source '^Mail queue \(\(stdin\), mailq\)' "$TMP/stdin.txt"
check_grep top-2 '^Oldest 2 messages$' "$TMP/stdin.txt"
check_eq top-2-rows 2 "$(grep -cE '^  [0-9A-Za-z]{11} +(hold|deferred) +2026' "$TMP/stdin.txt")"

# --- hostile input: bad lines are warned about with file:line, the rest is reported ---
{
    head -n 3 "$Q/postqueue-j-phase1.jsonl"
    echo '{"queue_name": "deferred", "queue_id": "ABC", "arrival_time": "soon"}'
    echo '{"queue_name": "deferred", "queue_id": "; rm -rf ~", "arrival_time": 1, "message_size": 1, "sender": "", "recipients": []}'
    echo 'garbage {'
    tail -n +4 "$Q/postqueue-j-phase1.jsonl"
} >"$TMP/bad.jsonl"
"$MW" queue $P1 --from-file "$TMP/bad.jsonl" >"$TMP/bad.txt" 2>"$TMP/bad.err"
check_eq bad-json-exit 0 $?
check_grep bad-json-warn-line4 'bad\.jsonl:4: arrival_time' "$TMP/bad.err"
check_grep bad-json-warn-line5 'bad\.jsonl:5: missing or invalid queue_id' "$TMP/bad.err"
check_grep bad-json-warn-line6 'bad\.jsonl:6: not JSON' "$TMP/bad.err"
check_grep bad-json-rest-counted '^Total: 12 messages' "$TMP/bad.txt"
check_nogrep bad-json-no-injection 'rm -rf' "$TMP/bad.txt"

head -n 12 "$Q/mailq-phase1.txt" >"$TMP/cut.txt"
"$MW" queue $P1 --from-file "$TMP/cut.txt" >"$TMP/cut.out" 2>"$TMP/cut.err"
check_eq truncated-exit 0 $?
check_grep truncated-warn 'truncated' "$TMP/cut.err"
check_grep truncated-partial '^Total: 3 messages' "$TMP/cut.out"

# --- running postqueue: argv (no shell), failure, absence; the queue is never touched ---
mkdir -p "$TMP/bin" "$TMP/empty"
cat >"$TMP/bin/postqueue" <<EOF
#!/bin/sh
[ "\$#" -eq 1 ] && [ "\$1" = "-j" ] || { echo "fake postqueue: bad args: \$*" >&2; exit 64; }
cat "$Q/postqueue-j-phase1.jsonl"
EOF
for t in postsuper postdrop sendmail; do printf '#!/bin/sh\ntouch "%s/touched"\n' "$TMP" >"$TMP/bin/$t"; done
chmod +x "$TMP/bin/"*
PATH="$TMP/bin:$PATH" "$MW" queue $P1 >"$TMP/spawn.txt" 2>"$TMP/spawn.err"
check_eq spawn-exit 0 $?
check_grep spawn-source '^Mail queue \(postqueue -j, postqueue-json\)' "$TMP/spawn.txt"
check_grep spawn-total '^Total: 12 messages' "$TMP/spawn.txt"
if [ -e "$TMP/touched" ]; then fail spawn-never-modifies "a queue-changing command was run"; else pass spawn-never-modifies; fi

printf '#!/bin/sh\necho "postqueue: fatal: Queue report unavailable - mail system is down" >&2\nexit 75\n' >"$TMP/bin/postqueue"
PATH="$TMP/bin:$PATH" "$MW" queue >"$TMP/down.txt" 2>"$TMP/down.err"
check_eq postqueue-fails-exit 1 $?
check_grep postqueue-fails-msg 'postqueue -j failed \(exit status 75\)' "$TMP/down.err"
check_eq postqueue-fails-no-report "" "$(cat "$TMP/down.txt")"

if [ -x /usr/sbin/postqueue ]; then
    skip postqueue-missing "/usr/sbin/postqueue exists here"
else
    PATH="$TMP/empty" "$MW" queue >/dev/null 2>"$TMP/missing.err"
    check_eq postqueue-missing-exit 1 $?
    check_grep postqueue-missing-msg 'cannot run postqueue -j: .*--from-file' "$TMP/missing.err"
fi

# --- usage ---
"$MW" queue --top many --from-file "$Q/mailq-final.txt" >/dev/null 2>&1
check_eq usage-top 2 $?
"$MW" queue "$Q/mailq-final.txt" >/dev/null 2>&1
check_eq usage-positional 2 $?
"$MW" queue --from-file "$TMP/nonexistent" >/dev/null 2>"$TMP/nofile.err"
check_eq missing-file-exit 1 $?
"$MW" queue --help >"$TMP/help.txt"
check_grep help 'usage: mailwarden queue' "$TMP/help.txt"

finish
