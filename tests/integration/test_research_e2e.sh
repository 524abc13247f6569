#!/usr/bin/env bash
# test_research_e2e.sh — elastic-research end to end through the registry's
# proxy: two elastic-sim workers answering with tool calls (a search for
# the question, then opening the first result, then "Answer: " and the
# page's start), the tools against fake_research.py. `run` of 20 questions
# x 4 trajectories is killed with SIGKILL midway and run again: it redoes
# only the unfinished attempts (the finished files untouched) and
# completes although a worker is killed meanwhile; `eval` prints the table
# (substring accuracy high; the judge, asked for a structured verdict with
# response_format, which the sim honours, has every verdict read, its
# counts in eval.json those of the table, pass@k >= accuracy); elasticctl
# top --research shows the batch; SIGTERM lets the running attempts finish
# and says how to resume; `chat` with piped stdin answers, --verbose
# showing the tool calls; a bad questions file and an unreachable endpoint
# are clear errors; a proxy that wants an API key gets the registry's.
# timeout: 300
# shellcheck source=tests/integration/proxy_lib.sh
. "$(dirname "$0")/proxy_lib.sh"

R=${ES_BIN:-$PX_REPO}/research/elastic-research
[ -x "$R" ] || die "$R is not built (make)"
FAKE=$PX_REPO/tests/integration/fake_research.py
T=$PX_DIR

# ---------------------------------------------------------------- the services
python3 "$FAKE" --port-file "$T/fake.port" --log "$T/fake.log" >"$T/fake.out" 2>&1 &
PX_PIDS+=($!)
for _ in $(seq 150); do
	[ -s "$T/fake.port" ] && break
	sleep 0.1
done
[ -s "$T/fake.port" ] || die "fake_research.py did not start: $(cat "$T/fake.out")"
F=http://127.0.0.1:$(cat "$T/fake.port")
python3 "$FAKE" --write-questions "$T/q"
Q=$T/q/questions.jsonl
A=$T/q/answers.jsonl
[ "$(wc -l <"$Q")" -eq 20 ] || die "fake_research.py wrote $(wc -l <"$Q") questions, not 20"
cat >"$T/env" <<EOF
SERPER_API_KEY=fake-serper-key
JINA_API_KEY=fake-jina-key
ES_SERPER_URL=$F/serper
ES_JINA_URL=$F/jina
ES_S2_URL=$F/s2
ES_NCBI_URL=$F/ncbi
EOF

# Two workers with the sim's default timing (a trajectory: three model
# calls, about 2 s), behind the proxy; the endpoint is found from
# ELASTIC_REGISTRY_URL, as elasticctl finds the registry.
px_sim a --served-model-name sim --tool-rounds 2
px_sim b --served-model-name sim --tool-rounds 2
px_registry
px_register 1.n1.0 a sim
px_register 1.n2.0 b sim
export ELASTIC_REGISTRY_URL=$PX_URL
unset OPENAI_BASE_URL OPENAI_API_KEY ES_RESEARCH_MODEL
RS=("$R" --env-file "$T/env")
OUT=$T/out

# progress.json's done count (0 before it exists).
done_count() {
	python3 - "$OUT/progress.json" <<'EOF' 2>/dev/null || echo 0
import json, sys
print(json.load(open(sys.argv[1]))["trajectories"]["done"])
EOF
}

# Every attempt file is a whole trajectory of its question (never a partial
# one); prints "FILE MTIME SHA" lines, sorted.
check_files() {
	python3 - "${1:-$OUT}" <<'EOF'
import hashlib, json, os, sys
out = sys.argv[1]
for q in sorted(os.listdir(out)):
    d = os.path.join(out, q)
    if not os.path.isdir(d):
        continue
    for f in sorted(os.listdir(d)):
        p = os.path.join(d, f)
        if ".tmp." in f:
            continue
        data = open(p, "rb").read()
        t = json.loads(data)
        assert data.endswith(b"\n") and data.count(b"\n") == 1, p
        assert t["id"] == q and f == "%d.jsonl" % t["attempt"], p
        assert t["status"] == "done", (p, t["status"], t.get("error"))
        assert t["question"] and t["messages"][0]["role"] == "system", p
        print(p, os.stat(p).st_mtime_ns, hashlib.sha256(data).hexdigest())
EOF
}

# ---------------------------------------------------------------- run, killed
"${RS[@]}" run --questions "$Q" --answers "$A" --trajectories 4 --concurrency 8 \
	--max-tool-calls 6 --out "$OUT" 2>"$T/run1.err" &
RUN=$!
PX_PIDS+=("$RUN")
for _ in $(seq 600); do
	n=$(done_count)
	[ "$n" -ge 16 ] && break
	kill -0 "$RUN" 2>/dev/null || die "run exited early: $(cat "$T/run1.err")"
	sleep 0.1
done
kill -9 "$RUN"
wait "$RUN" 2>/dev/null || true
check_files >"$T/files1" || die "a file left by the killed run is not a whole trajectory"
n1=$(wc -l <"$T/files1")
if [ "$n1" -lt 16 ] || [ "$n1" -ge 80 ]; then die "the run killed midway left $n1 trajectories (want 16..79)"; fi
grep -q '^run: 20 questions x 4 trajectories = 80; 0 done before, 80 to run; model sim at '"$PX_URL"'/v1, 8 at a time$' \
	"$T/run1.err" || die "run's first line: $(head -n 1 "$T/run1.err")"
log "ok: run killed (SIGKILL) with $n1 of 80 trajectories written, each whole"

# top sees a run that is gone.
"$PX_CTL" top --research "$OUT" --no-cluster --once >"$T/top1" || die "top --research failed"
grep -q "running (no update for .*: the run is gone; run it again to resume)" "$T/top1" ||
	die "top does not see the killed run: $(cat "$T/top1")"

# ---------------------------------------------------------------- resumed
# Workers come and go: one of the two is killed midway; the proxy moves its
# requests to the other and no attempt fails.
"${RS[@]}" run --questions "$Q" --answers "$A" --trajectories 4 --concurrency 8 \
	--max-tool-calls 6 --out "$OUT" 2>"$T/run2.err" &
RUN=$!
for _ in $(seq 600); do
	[ "$(done_count)" -ge $((n1 + 16)) ] && break
	kill -0 "$RUN" 2>/dev/null || break
	sleep 0.1
done
kill -9 "$(px_sim_pid b)"
rc=0
wait "$RUN" || rc=$?
[ "$rc" -eq 0 ] || die "the resumed run failed (exit $rc): $(cat "$T/run2.err")"
grep -q "^run: 20 questions x 4 trajectories = 80; $n1 done before, $((80 - n1)) to run" "$T/run2.err" ||
	die "the resumed run does not redo exactly the unfinished attempts: $(head -n 2 "$T/run2.err")"
grep -q '^run: 80 trajectories in ' "$T/run2.err" || die "no final line: $(tail -n 3 "$T/run2.err")"
check_files >"$T/files2" || die "a trajectory of the resumed run is not whole"
[ "$(wc -l <"$T/files2")" -eq 80 ] || die "$(wc -l <"$T/files2") trajectories after the resumed run"
# The finished ones were not redone: same bytes, same mtime.
missing=$(comm -23 "$T/files1" "$T/files2")
[ -z "$missing" ] || die "the resumed run rewrote finished trajectories: $missing"
[ -z "$(find "$OUT" -name '*.tmp.*')" ] || die "temporary files left: $(find "$OUT" -name '*.tmp.*')"
python3 - "$OUT/progress.json" "$n1" <<'EOF' || die "progress.json after the resumed run: $(cat "$OUT/progress.json")"
import json, sys
p = json.load(open(sys.argv[1]))
t = p["trajectories"]
assert p["state"] == "done" and t["done"] == 80 and t["total"] == 80, p
assert t["resumed"] == int(sys.argv[2]) and t["failed"] == 0 and t["running"] == 0, t
assert p["questions"] == {"total": 20, "done": 20}, p["questions"]
tc = p["tool_calls"]
# The sim searches, then opens the first result: two tool calls each.
assert tc["total"] == 160 and tc["by_tool"] == {"web_search": 80, "open_page": 80}, tc
assert p["usage"]["llm_calls"] == 240 and p["usage"]["prompt_tokens"] > 0, p["usage"]
a = p["accuracy"]
assert a["trajectories"] == 80 and a["correct"] >= 72 and a["questions"] == 20, a
EOF
# The trajectories record what happened.
python3 - "$OUT/q01/0.jsonl" <<'EOF' || die "a trajectory's content: $(head -c 2000 "$OUT/q01/0.jsonl")"
import json, sys
t = json.load(open(sys.argv[1]))
roles = [m["role"] for m in t["messages"]]
assert roles == ["system", "user", "assistant", "tool", "assistant", "tool", "assistant"], roles
calls = t["tool_calls"]
assert [c["name"] for c in calls] == ["web_search", "open_page"], calls
assert t["messages"][2]["tool_calls"][0]["id"] == t["messages"][3]["tool_call_id"]
assert "/web/q01" in json.loads(calls[1]["arguments"])["url"], calls[1]
assert all(c["seconds"] >= 0 and not c["failed"] for c in calls), calls
assert len(t["llm_calls"]) == 3 and all(c["prompt_tokens"] > 0 for c in t["llm_calls"]), t["llm_calls"]
assert t["usage"]["tool_calls"] == 2 and t["answer"].startswith("Answer: "), t["answer"]
assert t["model"] == "sim" and t["attempt"] == 0 and t["id"] == "q01"
EOF
log "ok: resumed with a worker killed midway: $((80 - n1)) attempts run, the $n1 finished ones untouched, 80 whole trajectories"

"$PX_CTL" --registry "$PX_URL" --auth none top --research "$OUT" --once >"$T/top2" || die "top failed"
for want in " ready, 0 starting" "80/80 trajectories (100%)" "20/20 questions" \
	"Tool Calls  160 total, 2.0/traj" "web_search           80 ( 50%)" "open_page            80 ( 50%)" \
	"Accuracy  (substring match estimate)" "pass@4 (est):"; do
	grep -qF "$want" "$T/top2" || die "elasticctl top --research lacks '$want': $(cat "$T/top2")"
done
if grep -q $'\033' "$T/top2"; then die "top --once wrote escape sequences"; fi
log "ok: elasticctl top --research shows the batch (progress, tool histogram, accuracy)"

# ---------------------------------------------------------------- eval
# The judge is asked for {"verdict", "reason"} with response_format: the
# sim generates a valid verdict object, picked by a hash of the prompt, so
# every verdict is read, some correct and some not.
"${RS[@]}" eval "$OUT" --answers "$A" --per-question --concurrency 16 >"$T/eval.out" 2>"$T/eval.err" ||
	die "eval failed: $(cat "$T/eval.err" "$T/eval.out")"
cat "$T/eval.out" >&2
grep -q "^eval of $OUT against $A: 20 questions, 80 finished trajectories" "$T/eval.out" || die "eval's head"
grep -Eq '^trajectory accuracy +[0-9.]+% \([0-9]+/80\)' "$T/eval.out" || die "no accuracy row"
grep -Eq '^pass@4 ' "$T/eval.out" || die "no pass@4 row"
grep -Eq '^structured verdicts +80$' "$T/eval.out" || die "not every verdict came structured: $(cat "$T/eval.out")"
grep -Eq '^unparsable verdicts +0$' "$T/eval.out" || die "unparsable verdicts: $(cat "$T/eval.out")"
if grep -q 'refused response_format' "$T/eval.err" "$T/eval.out"; then die "the sim refused response_format"; fi
python3 - "$OUT/eval.json" "$T/eval.out" <<'EOF' || die "eval.json: $(head -c 1500 "$OUT/eval.json")"
import json, re, sys
e = json.load(open(sys.argv[1]))
table = open(sys.argv[2]).read()
assert e["questions"] == 20 and e["trajectories"] == 80, e
s, j = e["substring"], e["judge"]
# The sim quotes the page that holds the answer.
assert s["accuracy"] >= 0.9 and s["pass_at_k"]["4"] >= 0.9, s
# Every verdict read from the JSON object asked for, with its reason.
d = e["details"]
kinds = [x["verdict"] for x in d]
assert len(d) == 80 and all(k in ("correct", "incorrect") for k in kinds), kinds
assert j["unparsable"] == 0 and j["failed"] == 0 and j["structured"] == 80, j
assert j["format"] == "json" and j["format_refused"] is False, j
for x in d:
    assert x["judge_structured"] is True and x["judge_reason"], x
    r = json.loads(x["judge_reply"])
    assert r["verdict"] == x["verdict"] and r["reason"] == x["judge_reason"], x
assert kinds.count("correct") == j["correct"], j
# Different questions, different picks: neither verdict for all.
assert 0 < j["correct"] < 80, j
# The table's numbers are eval.json's.
row = re.search(r"^trajectory accuracy +([0-9.]+)% \((\d+)/80\) +([0-9.]+)% \((\d+)/80\)$", table, re.M)
assert row, table
assert int(row.group(2)) == s["correct"] and int(row.group(4)) == j["correct"], (row.groups(), s, j)
assert abs(float(row.group(3)) - 100 * j["accuracy"]) < 0.051, (row.groups(), j)
for k in ("1", "4"):
    row = re.search(r"^pass@%s +([0-9.]+)%% \(20 q\) +([0-9.]+)%% \(20 q\)$" % k, table, re.M)
    assert row, (k, table)
    assert abs(float(row.group(1)) - 100 * s["pass_at_k"][k]) < 0.051, (k, row.groups(), s)
    assert abs(float(row.group(2)) - 100 * j["pass_at_k"][k]) < 0.051, (k, row.groups(), j)
per = {q["id"]: q for q in e["per_question"]}
rows = re.findall(r"^(q\d+) +(\d+) +(\d+) +(\d+) +(\d+)$", table, re.M)
assert len(rows) == 20, rows
for qid, n, sub, jc, unf in rows:
    q = per[qid]
    assert (q["n"], q["substring_correct"], q["judge_correct"], q["unfinished"], q["unparsable"]) == \
        (int(n), int(sub), int(jc), int(unf), 0), (qid, q)
    assert q["judge_correct"] == sum(1 for x in d if x["id"] == qid and x["verdict"] == "correct"), qid
# pass@k >= accuracy, and pass@1 is the accuracy.
for m in (s, j):
    assert abs(m["pass_at_k"]["1"] - m["accuracy"]) < 1e-9, m
    assert m["pass_at_k"]["4"] >= m["accuracy"] - 1e-9, m
assert e["missing_answers"] == [] and len(e["per_question"]) == 20
EOF
log "ok: eval: the table and eval.json agree (substring accuracy >= 90%, 80 structured verdicts, none unparsable, pass@4 >= accuracy)"

# --judge-format text: no response_format, the sim's words read as text.
"${RS[@]}" eval "$OUT" --answers "$A" --judge-format text --concurrency 16 --json "$T/e-text.json" \
	>"$T/eval-text.out" 2>"$T/eval-text.err" || die "eval --judge-format text failed: $(cat "$T/eval-text.err")"
grep -Eq '^structured verdicts +0 \(--judge-format text\)$' "$T/eval-text.out" ||
	die "--judge-format text: $(cat "$T/eval-text.out")"
python3 - "$T/e-text.json" <<'EOF' || die "eval --judge-format text's JSON: $(head -c 1500 "$T/e-text.json")"
import json, sys
j = json.load(open(sys.argv[1]))["judge"]
assert j["format"] == "text" and j["structured"] == 0 and j["failed"] == 0, j
EOF
rc=0
"${RS[@]}" eval "$OUT" --answers "$A" --judge-format xml 2>"$T/ef.err" >/dev/null || rc=$?
if [ "$rc" -ne 2 ] || ! grep -q "^error: --judge-format: 'xml' is not json or text$" "$T/ef.err"; then
	die "a bad --judge-format: exit $rc: $(cat "$T/ef.err")"
fi
log "ok: eval --judge-format text asks for text; a bad --judge-format is a usage error"

# An answers file that lacks some questions: they are reported.
head -n 18 "$A" >"$T/some-answers.jsonl"
"${RS[@]}" eval "$OUT" --answers "$T/some-answers.jsonl" --no-judge --json "$T/e2.json" >"$T/eval2.out" ||
	die "eval with answers missing failed: $(cat "$T/eval2.out")"
grep -q "questions without an answer in $T/some-answers.jsonl: 2 (q19, q20)" "$T/eval2.out" ||
	die "questions without an answer not reported: $(cat "$T/eval2.out")"
grep -q "judge (not run)" "$T/eval2.out" || die "--no-judge: $(cat "$T/eval2.out")"
log "ok: eval --no-judge; questions without an answer are named"

# ---------------------------------------------------------------- chat
q1=$(head -n 1 "$Q" | python3 -c 'import json, sys; print(json.load(sys.stdin)["question"])')
a1=$(head -n 1 "$A" | python3 -c 'import json, sys; print(json.load(sys.stdin)["answer"])')
printf '%s\n/reset\n\n%s\n' "$q1" "What is the answer to everything?" |
	"${RS[@]}" chat --verbose >"$T/chat.out" 2>"$T/chat.err" || die "chat failed: $(cat "$T/chat.err")"
[ "$(grep -c '^Answer: ' "$T/chat.out")" -eq 2 ] || die "chat did not answer twice: $(cat "$T/chat.out")"
head -n 1 "$T/chat.out" | grep -qF "$a1" || die "chat's first answer lacks '$a1': $(cat "$T/chat.out")"
grep -qF "[tool] web_search {\"query\": \"$q1\"}" "$T/chat.err" || die "no web_search line: $(cat "$T/chat.err")"
grep -Eq '^\[tool\] open_page \{"url": "http://127.0.0.1:[0-9]+/web/q01"\}$' "$T/chat.err" || die "no open_page line"
grep -Eq '^\[tool\] open_page: [0-9.]+ s, 1 HTTP call, [0-9]+ bytes$' "$T/chat.err" || die "no tool timing line"
grep -Eq '^\[model\] [0-9.]+ s, [0-9]+ prompt \+ [0-9]+ completion tokens, 1 tool call$' "$T/chat.err" ||
	die "no model line with tokens: $(cat "$T/chat.err")"
[ "$(grep -c '^\[turn\] ' "$T/chat.err")" -eq 2 ] || die "no turn summaries"
grep -q '^(a new conversation)$' "$T/chat.err" || die "/reset said nothing"
log "ok: chat with piped stdin: two answers, --verbose tool and model lines, /reset"

# ---------------------------------------------------------------- SIGTERM
# Stops launching, lets the running attempts finish (written whole), exits 1
# saying how to resume.
O2=$T/out-term
"${RS[@]}" run --questions "$Q" --trajectories 4 --concurrency 4 --limit 4 --out "$O2" 2>"$T/term.err" &
RUN=$!
for _ in $(seq 300); do
	python3 -c 'import json, sys; sys.exit(json.load(open(sys.argv[1]))["trajectories"]["running"] < 4)' \
		"$O2/progress.json" 2>/dev/null && break
	sleep 0.1
done
kill -TERM "$RUN"
rc=0
wait "$RUN" || rc=$?
[ "$rc" -eq 1 ] || die "run after SIGTERM: exit $rc, want 1: $(cat "$T/term.err")"
grep -q '^run: interrupted: waiting for 4 running attempts (once more abandons them)$' "$T/term.err" ||
	die "SIGTERM: $(cat "$T/term.err")"
grep -q '^run: interrupted: 4 of 16 trajectories done; run the same command again to resume$' "$T/term.err" ||
	die "SIGTERM's last word: $(cat "$T/term.err")"
[ "$(check_files "$O2" | wc -l)" -eq 4 ] || die "SIGTERM: the running attempts were not finished"
grep -q '"state": "interrupted"' "$O2/progress.json" || die "progress.json after SIGTERM: $(cat "$O2/progress.json")"
log "ok: SIGTERM lets the running attempts finish and says how to resume"

# ---------------------------------------------------------------- errors
printf '{"id": "a", "question": "x"}\n\n{"id": "b", "question": }\n' >"$T/bad.jsonl"
rc=0
"${RS[@]}" run --questions "$T/bad.jsonl" --out "$T/bad-out" 2>"$T/bad.err" || rc=$?
[ "$rc" -eq 2 ] || die "a bad questions file: exit $rc, want 2"
grep -q "^error: $T/bad.jsonl:3: not JSON: " "$T/bad.err" || die "bad questions file: $(cat "$T/bad.err")"
[ ! -e "$T/bad-out" ] || die "a bad questions file still created the output folder"
port=$(_px_free_port)
rc=0
"${RS[@]}" --endpoint "http://127.0.0.1:$port/v1" --retries 1 run --questions "$Q" --out "$T/down" \
	2>"$T/down.err" || rc=$?
[ "$rc" -eq 1 ] || die "an unreachable endpoint: exit $rc, want 1"
grep -q "^error: cannot reach the endpoint http://127.0.0.1:$port/v1: " "$T/down.err" ||
	die "unreachable endpoint: $(cat "$T/down.err")"
rc=0
echo hi | "${RS[@]}" --endpoint "http://127.0.0.1:$port" --retries 0 chat 2>"$T/down2.err" || rc=$?
if [ "$rc" -ne 1 ] || ! grep -q "^error: cannot reach the endpoint" "$T/down2.err"; then
	die "chat with an unreachable endpoint: exit $rc: $(cat "$T/down2.err")"
fi
rc=0
"${RS[@]}" eval "$T/nothing" --answers "$A" --no-judge 2>"$T/ev.err" >/dev/null || rc=$?
if [ "$rc" -ne 1 ] || ! grep -q "^error: cannot read $T/nothing: No such file or directory" "$T/ev.err"; then
	die "eval of a missing folder: exit $rc: $(cat "$T/ev.err")"
fi
log "ok: a bad questions file (exit 2, FILE:LINE), an unreachable endpoint (exit 1), eval of no folder"

# ---------------------------------------------------------------- the registry's API key
# A registry whose proxy wants a key: with none given, elastic-research asks
# the registry for it (as `elasticctl key` does) and goes on; with an
# explicit --endpoint (no registry to ask) the 401 is a clear error.
px_registry '[proxy]' 'api_keys = "required"'
px_register 2.n1.0 a sim
st=$(curl -s -o /dev/null -w '%{http_code}' "$PX_URL/v1/models")
[ "$st" = 401 ] || die "the second registry's proxy does not want a key (status $st)"
printf '%s\n' "$q1" | ELASTIC_REGISTRY_URL=$PX_URL ELASTIC_AUTH=none "${RS[@]}" chat >"$T/key.out" 2>"$T/key.err" ||
	die "chat through a proxy that wants a key: $(cat "$T/key.err")"
grep -qF "$a1" "$T/key.out" || die "no answer through the keyed proxy: $(cat "$T/key.out")"
rc=0
echo hi | "${RS[@]}" --endpoint "$PX_URL/v1" --retries 0 chat >/dev/null 2>"$T/key2.err" || rc=$?
if [ "$rc" -ne 1 ] || ! grep -q "refused the API key (none given: --api-key or OPENAI_API_KEY) (401)" "$T/key2.err"; then
	die "no key for an explicit endpoint: exit $rc: $(cat "$T/key2.err")"
fi
key=$(curl -sS "$PX_URL/api/v1/key" | python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])')
printf '%s\n' "$q1" | OPENAI_API_KEY=$key "${RS[@]}" --endpoint "$PX_URL" chat --no-stream >"$T/key3.out" ||
	die "chat with OPENAI_API_KEY failed"
grep -qF "$a1" "$T/key3.out" || die "no answer with OPENAI_API_KEY: $(cat "$T/key3.out")"
log "ok: the registry's key asked for when the proxy wants one; OPENAI_API_KEY; a clear 401 otherwise"
