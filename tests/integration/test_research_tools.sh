#!/usr/bin/env bash
# test_research_tools.sh — `elastic-research tool` against the fake services
# (tests/integration/fake_research.py; no cluster needed): every tool's
# answer for a question of the fake's corpus (the page that holds the
# answer comes first, open_page shows it, find_in_page finds what a short
# page_max cut), keys from --env-file, ./.env and the environment (which
# wins), --set over both; every tool's bad-input path (no key, a wrong key
# whose echo is never shown, bad URL without a request, non-JSON, wrong
# shape, 500 after retries, 429 retried, timeout) exits 1 with a clear
# error; bad usage and a bad .env line (FILE:LINE) exit 2.
# timeout: 180
set -euo pipefail
cd "$(dirname "$0")/../.."
R=${ES_BIN:-.}/research/elastic-research
[ -x "$R" ] || R=research/elastic-research
if [ ! -x "$R" ]; then make -s research/elastic-research; fi
R=$(realpath "$R")
FAKE=$(realpath tests/integration/fake_research.py)
TMP=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

python3 "$FAKE" --port-file "$TMP/port" --log "$TMP/log" --slow 4 >"$TMP/fake.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 150); do
	[ -s "$TMP/port" ] && break
	sleep 0.1
done
[ -s "$TMP/port" ] || { cat "$TMP/fake.out"; fail "fake_research.py wrote no port"; }
P=$(cat "$TMP/port")
B=http://127.0.0.1:$P
python3 "$FAKE" --write-questions "$TMP/q"
Q1=$(head -n 1 "$TMP/q/questions.jsonl" | python3 -c 'import json, sys; print(json.load(sys.stdin)["question"])')
A1=$(head -n 1 "$TMP/q/answers.jsonl" | python3 -c 'import json, sys; print(json.load(sys.stdin)["answer"])')
[ "$(wc -l <"$TMP/q/questions.jsonl")" -eq 20 ] || fail "the default corpus is not 20 questions"

# Keys and endpoints from a .env file, in every form it takes.
cat >"$TMP/env" <<EOF
# the fake services
export SERPER_API_KEY="fake-serper-key"
JINA_API_KEY='fake-jina-key'
S2_API_KEY=fake-s2-key   # optional
NCBI_API_KEY=fake-ncbi-key
ES_SERPER_URL=$B/serper
ES_JINA_URL=$B/jina
ES_S2_URL=$B/s2
ES_NCBI_URL=$B/ncbi
ES_BACKOFF=50ms
EOF
for v in SERPER_API_KEY JINA_API_KEY S2_API_KEY NCBI_API_KEY ES_SERPER_URL ES_JINA_URL ES_S2_URL ES_NCBI_URL \
	ES_TOOL_TIMEOUT ES_WEB_SEARCH_TIMEOUT ES_OPEN_PAGE_TIMEOUT ES_PAPER_SEARCH_TIMEOUT \
	ES_PUBMED_SEARCH_TIMEOUT ES_RETRIES ES_BACKOFF ES_PAGE_MAX ES_RESULTS; do
	unset "$v"
done

# tool NAME ARGS [FLAGS...]: runs it with the .env; sets RC, OUT, ERR.
tool() {
	local name=$1 args=$2
	shift 2
	set +e
	"$R" tool --env-file "$TMP/env" "$@" "$name" "$args" >"$TMP/out" 2>"$TMP/err"
	RC=$?
	set -e
	OUT=$(cat "$TMP/out")
	ERR=$(cat "$TMP/err")
}
expect() { # expect RC TEXT-IN-OUT-OR-ERR WHAT
	[ "$RC" -eq "$1" ] || fail "$3: exit $RC, not $1; stdout: $OUT; stderr: $ERR"
	case "$OUT$ERR" in *"$2"*) ;; *) fail "$3: no \"$2\" in: $OUT $ERR" ;; esac
	ok "$3"
}
requests() { grep -c -- "$1" "$TMP/log" || true; }
qjson() { python3 -c 'import json, sys; print(json.dumps({"query": sys.argv[1]}))' "$1"; }

# ---------------------------------------------------------------- happy paths
tool web_search "$(qjson "$Q1")"
expect 0 "[1] " "web_search"
echo "$OUT" | sed -n 2,3p | grep -qF "$B/web/q01" || fail "the question's page is not the first result: $OUT"
[ -z "$ERR" ] || fail "web_search wrote on stderr: $ERR"

tool open_page "{\"url\": \"$B/web/q01\"}"
expect 0 "$A1" "open_page shows the answer"
echo "$OUT" | head -n 8 | grep -qF "$A1" || fail "the answer is not near the top: $OUT"

tool open_page,find_in_page "[{\"url\": \"$B/web/q01\"}, {\"pattern\": \"archive reference\"}]" --set ES_PAGE_MAX=200
expect 0 "[... truncated: " "open_page cuts at ES_PAGE_MAX"
case "$OUT" in *"Archive reference q01-END."*) ;; *) fail "find_in_page did not find past the cut: $OUT" ;; esac
[ "$(echo "$OUT" | grep -c 'q01-END')" -eq 1 ] || fail "the cut page showed the end: $OUT"
ok "find_in_page finds past the cut"

tool paper_search "$(qjson "$Q1")"
expect 0 "(metadata): " "paper_search metadata"
case "$OUT" in *"$A1"*) ;; *) fail "paper_search: no answer in the abstracts: $OUT" ;; esac
tool paper_search "{\"query\": $(qjson "$Q1" | python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["query"]))'), \"mode\": \"snippets\"}"
expect 0 "(snippets)" "paper_search snippets"
tool pubmed_search "$(qjson "$Q1")"
expect 0 "https://pubmed.ncbi.nlm.nih.gov/" "pubmed_search"
tool pubmed_search '{"query": "zzz nothing qqq"}'
expect 0 "no articles" "pubmed_search with no hit"

# arguments from stdin, -v
set +e
echo "{\"query\": \"Observatory\"}" | "$R" tool --env-file "$TMP/env" -v web_search - >"$TMP/out" 2>"$TMP/err"
RC=$?
set -e
OUT=$(cat "$TMP/out") ERR=$(cat "$TMP/err")
expect 0 "web_search: " "arguments from stdin"
grep -Eq '^web_search: [0-9.]+ s, 1 HTTP request$' "$TMP/err" || fail "-v: $ERR"

# ./.env by default, the environment over it, --set over both
mkdir "$TMP/cwd"
cp "$TMP/env" "$TMP/cwd/.env"
(cd "$TMP/cwd" && "$R" tool web_search '{"query": "Observatory"}' >/dev/null) || fail "./.env was not read"
ok "./.env read by default"
set +e
(cd "$TMP/cwd" && SERPER_API_KEY=wrong-from-env "$R" tool web_search '{"query": "x"}') >"$TMP/out" 2>"$TMP/err"
RC=$?
set -e
OUT=$(cat "$TMP/out") ERR=$(cat "$TMP/err")
expect 1 "error: Serper answered HTTP 403: Unauthorized." "the environment wins over .env"
(cd "$TMP/cwd" && SERPER_API_KEY=wrong-from-env "$R" tool --set SERPER_API_KEY=fake-serper-key \
	web_search '{"query": "x"}' >/dev/null) || fail "--set does not win over the environment"
ok "--set wins"

# ---------------------------------------------------------------- bad input: exit 1, clear errors
tool web_search '{"query": "x"}' --set SERPER_API_KEY=
expect 1 "error: SERPER_API_KEY is not set" "no Serper key"
tool web_search '{"q": "x"}'
expect 1 "error: web_search needs a string 'query'" "a missing argument"
tool web_search '{"query": '
expect 1 "error: the arguments of web_search are not JSON" "arguments that are not JSON"
tool find_in_page '{"pattern": "x"}'
expect 1 "error: no page is open; call open_page first" "find_in_page without a page"

n=$(requests '"service": "jina"')
for u in "ftp://example.org/x" "not a url" "http://" "javascript:alert(1)"; do
	tool open_page "{\"url\": \"$u\"}"
	expect 1 "error: " "bad URL '$u'"
done
[ "$(requests '"service": "jina"')" -eq "$n" ] || fail "a bad URL made a request"
ok "no request for a bad URL"

tool pubmed_search '{"query": "x"}' --set NCBI_API_KEY=wrong-ncbi-key-123
expect 1 "error: PubMed (E-utilities) answered HTTP 400: API key invalid" "a wrong NCBI key"
grep -q "wrong-ncbi-key-123" "$TMP/out" "$TMP/err" && fail "the key was printed: $OUT $ERR"
tool open_page "{\"url\": \"$B/web/q01\"}" --set JINA_API_KEY=wrong
expect 1 "error: Jina Reader answered HTTP 401: AuthenticationFailedError" "a wrong Jina key"
tool paper_search '{"query": "x"}' --set S2_API_KEY=wrong
expect 1 "error: Semantic Scholar answered HTTP 403: Forbidden" "a wrong S2 key"

for t in web_search paper_search pubmed_search open_page; do
	if [ "$t" = open_page ]; then arg() { echo "{\"url\": \"$B/web/$1\"}"; }; else arg() { echo "{\"query\": \"$t $1\"}"; }; fi
	tool "$t" "$(arg __html__)"
	expect 1 "answered with something that is not JSON" "$t: an HTML answer"
	tool "$t" "$(arg __bad__)"
	expect 1 "answered with JSON of an unexpected shape" "$t: JSON of another shape"
	tool "$t" "$(arg __500__)" --set ES_RETRIES=1
	expect 1 "answered HTTP 500 after 2 attempts" "$t: 500 after retries"
	[ "$(requests "$t __500__\|web/__500__")" -ge 2 ] || fail "$t: 500 not retried"
	tool "$t" "$(arg "__429__$t")"
	expect 0 "" "$t: 429 retried, then the answer"
	[ "$(requests "__429__$t")" -eq 3 ] || fail "$t: $(requests "__429__$t") requests for 429, not 3"
	tool "$t" "$(arg __slow__)" --set ES_TOOL_TIMEOUT=1s --set ES_RETRIES=0
	expect 1 "did not answer: timed out after 1000 ms" "$t: a timeout"
done
tool pubmed_search '{"query": "__badsummary__"}'
expect 1 "answered with JSON of an unexpected shape: no \"result\" object" "an esummary of another shape"
FREE=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
tool web_search '{"query": "x"}' --set "ES_SERPER_URL=http://127.0.0.1:$FREE" --set ES_RETRIES=1
expect 1 "error: Serper did not answer: cannot connect to http://127.0.0.1:$FREE/search" "nothing listening"

# ---------------------------------------------------------------- usage: exit 2
printf 'SERPER_API_KEY=x\n# fine\nES_RETRIES=many\n' >"$TMP/bad.env"
tool web_search '{"query": "x"}' --env-file "$TMP/bad.env"
expect 2 "error: $TMP/bad.env:3: ES_RETRIES: 'many' is not a number from 0 to 10" "a bad .env value"
printf 'OK=1\nnot a line\n' >"$TMP/bad.env"
tool web_search '{"query": "x"}' --env-file "$TMP/bad.env"
expect 2 "error: $TMP/bad.env:2: expected KEY=value" "a bad .env line"
tool web_search '{"query": "x"}' --env-file "$TMP/none.env"
expect 2 "error: cannot open $TMP/none.env" "a missing .env"
tool web_search '{"query": "x"}' --set ES_NOPE=1
expect 2 "error: --set unknown setting 'ES_NOPE'" "an unknown --set"
tool web_search '{"query": "x"}' --set ES_RESULTS
expect 2 "--set takes NAME=VALUE" "--set without ="
tool no_such_tool '{}'
expect 2 "error: unknown tool 'no_such_tool'" "an unknown tool"
tool web_search '{}' --bogus
expect 2 "unknown or incomplete option '--bogus'" "an unknown option"
set +e
"$R" tool >/dev/null 2>&1; [ $? -eq 2 ] || fail "tool without a name does not exit 2"
"$R" nope >/dev/null 2>&1; [ $? -eq 2 ] || fail "an unknown subcommand does not exit 2"
set -e
"$R" tool --help | grep -q "pubmed_search" || fail "tool --help"
"$R" --version | grep -q "^elastic-research " || fail "--version"
"$R" tool --schema | python3 -c '
import json, sys
s = json.load(sys.stdin)
names = [t["function"]["name"] for t in s]
assert names == ["web_search", "open_page", "find_in_page", "paper_search", "pubmed_search"], names
' || fail "tool --schema"
ok "usage errors exit 2, --help, --version, --schema"
echo "PASS"
