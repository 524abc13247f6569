/* check_rs_tools.c — elastic-research's tool layer: .env and settings,
 * URL escaping, text cutting, the renderers of each service's answer
 * (tests/data/research), find_in_page, argument checks, and every tool
 * against tests/integration/fake_research.py (started per test on an
 * ephemeral port; those tests pass with a note when python3 is missing):
 * happy paths, keys, bad URLs, non-JSON and wrong-shape answers, 429
 * retried, 500 after retries, timeouts.
 */
#include <check.h>
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "../research/rs_http.h"
#include "../research/rs_tools.h"
#include "../research/rs_tools_impl.h"
#include "buf.h"

#define FAKE_PY "tests/integration/fake_research.py"
#define DATA "tests/data/research/"

static const char *const all_settings[] = {
	"SERPER_API_KEY", "JINA_API_KEY", "S2_API_KEY", "NCBI_API_KEY", "ES_SERPER_URL",
	"ES_JINA_URL", "ES_S2_URL", "ES_NCBI_URL", "ES_TOOL_TIMEOUT", "ES_WEB_SEARCH_TIMEOUT",
	"ES_OPEN_PAGE_TIMEOUT", "ES_PAPER_SEARCH_TIMEOUT", "ES_PUBMED_SEARCH_TIMEOUT",
	"ES_RETRIES", "ES_BACKOFF", "ES_PAGE_MAX", "ES_RESULTS", NULL,
};

static void clear_env(void)
{
	for (int i = 0; all_settings[i]; i++)
		unsetenv(all_settings[i]);
}

/* A temporary file holding TEXT; its path in PATH (PATH_MAX-sized). */
static void write_tmp(char *path, size_t len, const char *text)
{
	snprintf(path, len, "/tmp/check_rs_tools.XXXXXX");
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static char *read_file(const char *path)
{
	FILE *fp = fopen(path, "r");
	ck_assert_msg(fp != NULL, "cannot open %s", path);
	struct buf b = BUF_INIT;
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
		buf_append(&b, chunk, n);
	fclose(fp);
	return buf_steal(&b);
}

static struct json_object *read_json(const char *name)
{
	char path[256], err[128];
	snprintf(path, sizeof path, DATA "%s", name);
	char *text = read_file(path);
	struct json_object *j = rs_json_parse(text, strlen(text), err, sizeof err);
	ck_assert_msg(j != NULL, "%s: %s", path, err);
	free(text);
	return j;
}

#define ck_assert_has(hay, needle) \
	ck_assert_msg(strstr((hay), (needle)) != NULL, "expected \"%s\" in:\n%s", (needle), (hay))
#define ck_assert_lacks(hay, needle) \
	ck_assert_msg(strstr((hay), (needle)) == NULL, "did not expect \"%s\" in:\n%s", (needle), (hay))

/* ---------------------------------------------------------------- settings and .env */

START_TEST(test_conf_defaults)
{
	char path[64], err[256];
	struct rs_conf c;
	clear_env();
	write_tmp(path, sizeof path, "");
	ck_assert_int_eq(rs_conf_load(&c, path, err, sizeof err), 0);
	ck_assert_ptr_null(c.key[RS_WEB_SEARCH]);
	ck_assert_str_eq(c.base_url[RS_WEB_SEARCH], "https://google.serper.dev");
	ck_assert_str_eq(c.base_url[RS_OPEN_PAGE], "https://r.jina.ai");
	ck_assert_str_eq(c.base_url[RS_PAPER_SEARCH], "https://api.semanticscholar.org");
	ck_assert_str_eq(c.base_url[RS_PUBMED_SEARCH], "https://eutils.ncbi.nlm.nih.gov/entrez/eutils");
	ck_assert_ptr_null(c.base_url[RS_FIND_IN_PAGE]);
	ck_assert_int_eq(c.timeout_ms[RS_WEB_SEARCH], 30000);
	ck_assert_int_eq(c.timeout_ms[RS_OPEN_PAGE], 60000);
	ck_assert_int_eq(c.retries, 3);
	ck_assert_int_eq(c.backoff_ms, 1000);
	ck_assert_uint_eq(c.page_max, 40000);
	ck_assert_int_eq(c.results, 10);
	rs_conf_free(&c);
	rs_conf_free(&c); /* harmless twice */
	unlink(path);
}
END_TEST

START_TEST(test_conf_dotenv)
{
	char path[64], err[256];
	struct rs_conf c;
	clear_env();
	write_tmp(path, sizeof path,
		  "# keys for the tools\n"
		  "\n"
		  "SERPER_API_KEY=abc123   # the Serper key\n"
		  "export JINA_API_KEY='jina #not a comment'\n"
		  "  S2_API_KEY = \"s2 \\\"quoted\\\"\\tkey\"  # trailing comment\n"
		  "NCBI_API_KEY=\r\n"
		  "ES_SERPER_URL=http://127.0.0.1:9/serper//\n"
		  "ES_TOOL_TIMEOUT=2m\n"
		  "ES_OPEN_PAGE_TIMEOUT=1.5s\n"
		  "ES_RETRIES=0\n"
		  "ES_BACKOFF=250ms\n"
		  "ES_PAGE_MAX=1000\n"
		  "ES_RESULTS=5\n"
		  "OPENAI_API_KEY=sk-other#kept\n"
		  "OPENAI_API_KEY=sk-later\n"
		  "EMPTY=\n");
	ck_assert_msg(rs_conf_load(&c, path, err, sizeof err) == 0, "%s", err);
	ck_assert_str_eq(c.key[RS_WEB_SEARCH], "abc123");
	ck_assert_str_eq(c.key[RS_OPEN_PAGE], "jina #not a comment");
	ck_assert_str_eq(c.key[RS_PAPER_SEARCH], "s2 \"quoted\"\tkey");
	ck_assert_ptr_null(c.key[RS_PUBMED_SEARCH]);
	ck_assert_str_eq(c.base_url[RS_WEB_SEARCH], "http://127.0.0.1:9/serper");
	ck_assert_int_eq(c.timeout_ms[RS_WEB_SEARCH], 120000);
	ck_assert_int_eq(c.timeout_ms[RS_PUBMED_SEARCH], 120000);
	ck_assert_int_eq(c.timeout_ms[RS_OPEN_PAGE], 1500);
	ck_assert_int_eq(c.retries, 0);
	ck_assert_int_eq(c.backoff_ms, 250);
	ck_assert_uint_eq(c.page_max, 1000);
	ck_assert_int_eq(c.results, 5);
	/* other variables are kept, later lines win */
	ck_assert_str_eq(rs_conf_env(&c, "OPENAI_API_KEY"), "sk-later");
	ck_assert_str_eq(rs_conf_env(&c, "EMPTY"), "");
	ck_assert_ptr_null(rs_conf_env(&c, "OPENAI"));
	setenv("OPENAI_API_KEY", "from-env", 1);
	ck_assert_str_eq(rs_conf_env(&c, "OPENAI_API_KEY"), "from-env");
	rs_conf_free(&c);
	unlink(path);
}
END_TEST

START_TEST(test_conf_env_wins)
{
	char path[64], err[256];
	struct rs_conf c;
	clear_env();
	setenv("SERPER_API_KEY", "from-env", 1);
	setenv("ES_WEB_SEARCH_TIMEOUT", "7s", 1);
	setenv("ES_JINA_URL", "https://jina.example/", 1);
	setenv("S2_API_KEY", "", 1); /* empty: not set */
	write_tmp(path, sizeof path,
		  "SERPER_API_KEY=from-file\nES_TOOL_TIMEOUT=3s\nS2_API_KEY=s2-file\n");
	ck_assert_msg(rs_conf_load(&c, path, err, sizeof err) == 0, "%s", err);
	ck_assert_str_eq(c.key[RS_WEB_SEARCH], "from-env");
	ck_assert_str_eq(c.key[RS_PAPER_SEARCH], "s2-file");
	ck_assert_str_eq(c.base_url[RS_OPEN_PAGE], "https://jina.example");
	ck_assert_int_eq(c.timeout_ms[RS_WEB_SEARCH], 7000);
	ck_assert_int_eq(c.timeout_ms[RS_OPEN_PAGE], 3000);
	/* flags win over both */
	ck_assert_int_eq(rs_conf_set(&c, "SERPER_API_KEY", "from-flag", err, sizeof err), 0);
	ck_assert_str_eq(c.key[RS_WEB_SEARCH], "from-flag");
	ck_assert_int_eq(rs_conf_set(&c, "SERPER_API_KEY", "", err, sizeof err), 0);
	ck_assert_ptr_null(c.key[RS_WEB_SEARCH]);
	rs_conf_free(&c);

	/* a bad value in the environment is named */
	setenv("ES_RESULTS", "0", 1);
	ck_assert_int_eq(rs_conf_load(&c, path, err, sizeof err), -1);
	ck_assert_str_eq(err, "environment variable ES_RESULTS: '0' is not a number from 1 to 100");
	unlink(path);
}
END_TEST

/* Each bad .env and the message it must give (after "FILE:"). */
static const struct {
	const char *text;
	const char *msg;
} bad_env[] = {
	{"SERPER_API_KEY\n", "1: expected KEY=value"},
	{"# ok\n\n1BAD=x\n", "3: '1BAD' is not a variable name"},
	{"A-B=x\n", "1: 'A-B' is not a variable name"},
	{"export =x\n", "1: '' is not a variable name"},
	{"OK=1\nA='x\n", "2: A: no closing ' quote"},
	{"A=\"x\n", "1: A: no closing \" quote"},
	{"A=\"x\" y\n", "1: A: text after the closing quote"},
	{"ES_RETRIES=abc\n", "1: ES_RETRIES: 'abc' is not a number from 0 to 10"},
	{"ES_RETRIES=11\n", "1: ES_RETRIES: '11' is not a number from 0 to 10"},
	{"\n\n\nES_SERPER_URL=ftp://x\n", "4: ES_SERPER_URL: 'ftp://x' is not an http:// or https:// URL"},
	{"ES_S2_URL=http://\n", "1: ES_S2_URL: 'http://' is not an http:// or https:// URL"},
	{"ES_WEB_SEARCH_TIMEOUT=5 parsecs\n", "1: ES_WEB_SEARCH_TIMEOUT: '5 parsecs' is not a duration (500ms, 30s, 2m)"},
	{"ES_TOOL_TIMEOUT=0\n", "1: ES_TOOL_TIMEOUT: '0' is not a duration (500ms, 30s, 2m)"},
	{"ES_PAGE_MAX=10\n", "1: ES_PAGE_MAX: '10' is not a number of bytes from 200 to 16777216"},
	{"ES_RESULTS=\n", "1: ES_RESULTS: '' is not a number from 1 to 100"},
};

START_TEST(test_conf_bad_lines)
{
	char path[64], err[256], want[512];
	struct rs_conf c;
	clear_env();
	write_tmp(path, sizeof path, bad_env[_i].text);
	ck_assert_int_eq(rs_conf_load(&c, path, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s:%s", path, bad_env[_i].msg);
	ck_assert_str_eq(err, want);
	/* C is empty after a failure */
	ck_assert_ptr_null(c.base_url[RS_WEB_SEARCH]);
	rs_conf_free(&c);
	unlink(path);
}
END_TEST

START_TEST(test_conf_files_and_set)
{
	char err[256];
	struct rs_conf c;
	clear_env();
	ck_assert_int_eq(rs_conf_load(&c, "/nonexistent/.env", err, sizeof err), -1);
	ck_assert_str_eq(err, "cannot open /nonexistent/.env: No such file or directory");

	char path[64];
	write_tmp(path, sizeof path, "");
	FILE *fp = fopen(path, "w"); /* with a NUL, which write_tmp cannot write */
	fwrite("A=1\nB=x\0y\n", 1, 10, fp);
	fclose(fp);
	ck_assert_int_eq(rs_conf_load(&c, path, err, sizeof err), -1);
	ck_assert_has(err, ":2: a NUL byte");
	unlink(path);

	write_tmp(path, sizeof path, "");
	ck_assert_int_eq(rs_conf_load(&c, path, err, sizeof err), 0);
	ck_assert_int_eq(rs_conf_set(&c, "ES_RETRY", "1", err, sizeof err), -1);
	ck_assert_str_eq(err, "unknown setting 'ES_RETRY'");
	ck_assert(rs_conf_known("ES_RETRIES"));
	ck_assert(!rs_conf_known("OPENAI_API_KEY"));
	ck_assert_int_eq(rs_conf_set(&c, "ES_TOOL_TIMEOUT", "45", err, sizeof err), 0);
	ck_assert_int_eq(c.timeout_ms[RS_PAPER_SEARCH], 45000);
	ck_assert_int_eq(rs_conf_set(&c, "ES_TOOL_TIMEOUT", "500ms", err, sizeof err), 0);
	ck_assert_int_eq(c.timeout_ms[RS_OPEN_PAGE], 500);
	ck_assert_int_eq(rs_conf_set(&c, "ES_BACKOFF", "1h", err, sizeof err), 0);
	ck_assert_int_eq(c.backoff_ms, 3600000);
	ck_assert_int_eq(rs_conf_set(&c, "ES_BACKOFF", "-1s", err, sizeof err), -1);
	ck_assert_int_eq(rs_conf_set(&c, "ES_NCBI_URL", "https://ncbi.example/e utils", err, sizeof err), -1);
	rs_conf_free(&c);
	unlink(path);
}
END_TEST

/* ---------------------------------------------------------------- HTTP helpers */

START_TEST(test_http_escape_and_redact)
{
	struct buf b = BUF_INIT;
	rs_http_escape(&b, "a b&c=d/\xC3\xA9~-_.?#+%");
	ck_assert_str_eq(b.data, "a%20b%26c%3Dd%2F%C3%A9~-_.%3F%23%2B%25");
	buf_reset(&b);
	rs_http_escape(&b, "");
	ck_assert_uint_eq(b.len, 0);

	buf_reset(&b);
	rs_http_redact_url(&b, "https://e.example/esearch.fcgi?db=pubmed&api_key=SECRET&term=a%20b");
	ck_assert_str_eq(b.data, "https://e.example/esearch.fcgi?db=pubmed&api_key=***&term=a%20b");
	buf_reset(&b);
	rs_http_redact_url(&b, "http://x/p?KEY=1&monkey=2&key#frag");
	ck_assert_str_eq(b.data, "http://x/p?KEY=***&monkey=***&key#frag");
	buf_reset(&b);
	rs_http_redact_url(&b, "http://x/p");
	ck_assert_str_eq(b.data, "http://x/p");
	buf_free(&b);
}
END_TEST

/* A port on loopback that refuses connections: bound by a socket of this
 * process that never listens (so nothing else can take it), kept open
 * until the test's process exits. */
static int closed_port(void)
{
	static int port;
	if (port)
		return port;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	return port;
}

START_TEST(test_http_failures)
{
	struct buf resp = BUF_INIT;
	char err[512], url[128];
	long status = 0;
	int attempts = 0;
	struct rs_http_opts o = {.timeout_ms = 2000, .retries = 2, .backoff_ms = 10, .attempts = &attempts};

	snprintf(url, sizeof url, "http://127.0.0.1:%d/x?api_key=SECRET", closed_port());
	ck_assert_int_eq(rs_http("GET", url, NULL, &o, &status, &resp, err, sizeof err), -1);
	ck_assert_int_eq(attempts, 3);
	char want[128];
	snprintf(want, sizeof want, "cannot connect to http://127.0.0.1:%d/x?api_key=***", closed_port());
	ck_assert_has(err, want);
	ck_assert_has(err, "(3 attempts)");
	ck_assert_lacks(err, "SECRET");
	ck_assert_uint_eq(resp.len, 0);

	/* not retried: not http */
	ck_assert_int_eq(rs_http("GET", "ftp://127.0.0.1/x", NULL, &o, &status, &resp, err, sizeof err), -1);
	ck_assert_int_eq(attempts, 1);
	ck_assert_has(err, "ftp://127.0.0.1/x");
	ck_assert_int_eq(rs_http("DELETE", "http://127.0.0.1/x", NULL, &o, &status, &resp, err, sizeof err), -1);
	ck_assert_str_eq(err, "cannot send DELETE to http://127.0.0.1/x: only GET and POST");
	buf_free(&resp);
}
END_TEST

/* ---------------------------------------------------------------- text */

START_TEST(test_utf8_cut)
{
	/* a, é (2 bytes), 東 (3), 😀 (4), b */
	const char s[] = "a\xC3\xA9\xE6\x9D\xB1\xF0\x9F\x98\x80" "b";
	size_t len = sizeof s - 1;
	static const size_t want[] = {0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10, 11, 11};
	for (size_t max = 0; max <= len + 1; max++)
		ck_assert_msg(rs_utf8_cut(s, len, max) == want[max], "max %zu: %zu", max, rs_utf8_cut(s, len, max));

	struct buf b = BUF_INIT;
	rs_put_utf8(&b, "ok\xFF\xC3(\xE6\x9D\xB1\x00z\xED\xA0\x80!", 14);
	ck_assert_str_eq(b.data, "ok\xEF\xBF\xBD\xEF\xBF\xBD(\xE6\x9D\xB1z\xEF\xBF\xBD!");
	ck_assert(buf_utf8_valid(b.data, b.len, NULL));

	buf_reset(&b);
	rs_put_line(&b, "  one\n\ttwo   three \r\n", 100);
	ck_assert_str_eq(b.data, "one two three");
	buf_reset(&b);
	rs_put_line(&b, "abc\xE6\x9D\xB1\xE6\x9D\xB1", 5);
	ck_assert_str_eq(b.data, "abc...");
	buf_reset(&b);
	rs_put_line(&b, "abc def", 4);
	ck_assert_str_eq(b.data, "abc...");
	buf_reset(&b);
	rs_put_line(&b, NULL, 4);
	ck_assert_uint_eq(b.len, 0);
	buf_free(&b);
}
END_TEST

/* A session whose page is TEXT. */
static struct rs_session *page_session(const struct rs_conf *c, const char *text, const char *title)
{
	struct rs_session *s = rs_session_new(c);
	s->page = strdup(text);
	s->page_len = strlen(text);
	s->page_url = strdup("https://example.org/page");
	s->page_title = strdup(title);
	return s;
}

START_TEST(test_page_truncation)
{
	struct rs_conf c = {0};
	struct buf page = BUF_INIT, out = BUF_INIT;
	for (int i = 0; i < 40; i++)
		buf_puts(&page, "na\xC3\xAFve \xE6\x9D\xB1\xE4\xBA\xAC \xF0\x9F\x98\x80 ");
	struct rs_session *s = page_session(&c, page.data, "Title");
	for (size_t max = 200; max < page.len + 5; max++) {
		buf_reset(&out);
		rs_render_page(s, max, &out);
		ck_assert(buf_utf8_valid(out.data, out.len, NULL));
		ck_assert_has(out.data, "Title: Title\nURL: https://example.org/page\n\n");
		const char *mark = strstr(out.data, "[... truncated: ");
		if (max >= page.len) {
			ck_assert_ptr_null(mark);
			continue;
		}
		ck_assert_ptr_nonnull(mark);
		size_t shown, total;
		ck_assert_int_eq(sscanf(mark, "[... truncated: %zu of %zu bytes shown; use find_in_page]",
					&shown, &total), 2);
		ck_assert_uint_eq(total, page.len);
		ck_assert(shown <= max && shown + 3 >= max);
		ck_assert_has(mark, "bytes shown; use find_in_page]");
	}
	rs_session_free(s);
	s = page_session(&c, "", "");
	buf_reset(&out);
	rs_render_page(s, 1000, &out);
	ck_assert_str_eq(out.data, "Title: (none)\nURL: https://example.org/page\n\n(the page has no text)");
	rs_session_free(s);
	buf_free(&page);
	buf_free(&out);
}
END_TEST

/* ---------------------------------------------------------------- find_in_page */

START_TEST(test_find_in_page)
{
	struct rs_conf c = {0};
	struct buf out = BUF_INIT, page = BUF_INIT;
	buf_puts(&page, "# Heading\nfirst line\nThe ANSWER is 42.\r\nnothing here\n");
	for (int i = 0; i < 50; i++)
		buf_puts(&page, "x");
	buf_puts(&page, " long line with the answer in the middle ");
	for (int i = 0; i < 400; i++)
		buf_puts(&page, "\xC3\xA9");
	buf_puts(&page, "\nlast answer\n");
	struct rs_session *s = page_session(&c, page.data, "A page");

	ck_assert_int_eq(rs_find_in_page(s, "answer", false, &out), 0);
	ck_assert_has(out.data, "find_in_page \"answer\": 3 matching lines of 6 in \"A page\"");
	ck_assert_has(out.data, "\n[L3 @");
	ck_assert_has(out.data, "The ANSWER is 42.");
	ck_assert_has(out.data, "\n[L6 @");
	ck_assert_has(out.data, "last answer");
	/* the long line: around the match, cut on both sides */
	const char *l5 = strstr(out.data, "[L5 @");
	ck_assert_ptr_nonnull(l5);
	ck_assert_has(l5, "long line with the answer in the middle");
	ck_assert(strlen(l5) < 600);
	ck_assert(buf_utf8_valid(out.data, out.len, NULL));
	size_t at;
	ck_assert_int_eq(sscanf(strstr(out.data, "[L3 @"), "[L3 @%zu]", &at), 0 + 1);
	ck_assert_int_eq(strncasecmp(page.data + at, "answer", 6), 0);

	buf_reset(&out);
	ck_assert_int_eq(rs_find_in_page(s, "answer is [0-9]+", true, &out), 0);
	ck_assert_has(out.data, ": 1 matching line of 6");
	buf_reset(&out);
	ck_assert_int_eq(rs_find_in_page(s, "zebra", false, &out), 0);
	ck_assert_has(out.data, "find_in_page \"zebra\": no match of 6 in \"A page\"");
	buf_reset(&out);
	ck_assert_int_eq(rs_find_in_page(s, "(", true, &out), -1);
	ck_assert_has(out.data, "error: find_in_page: bad regular expression: ");
	rs_session_free(s);

	/* many matches: the first 20, then a count */
	buf_reset(&page);
	for (int i = 0; i < 30; i++)
		buf_printf(&page, "match %d\n", i);
	s = page_session(&c, page.data, "");
	buf_reset(&out);
	ck_assert_int_eq(rs_find_in_page(s, "MATCH", false, &out), 0);
	ck_assert_has(out.data, ": 30 matching lines of 30 in \"https://example.org/page\"");
	ck_assert_has(out.data, "[L20 @");
	ck_assert_lacks(out.data, "[L21 @");
	ck_assert_has(out.data, "... and 10 more matching lines");
	rs_session_free(s);

	/* no page */
	s = rs_session_new(&c);
	buf_reset(&out);
	ck_assert_int_eq(rs_find_in_page(s, "x", false, &out), -1);
	ck_assert_str_eq(out.data, "error: no page is open; call open_page first");
	/* through rs_tool_run: argument checks */
	struct rs_tool_stat st;
	buf_reset(&out);
	ck_assert_int_eq(rs_tool_run(s, "find_in_page", "{\"pattern\": 5}", &out, &st), -1);
	ck_assert_str_eq(out.data, "error: find_in_page needs a string 'pattern'");
	ck_assert(st.failed);
	buf_reset(&out);
	ck_assert_int_eq(rs_tool_run(s, "find_in_page", "{\"pattern\": \"x\", \"regex\": \"yes\"}", &out, &st), -1);
	ck_assert_str_eq(out.data, "error: find_in_page's 'regex' must be true or false");
	rs_session_free(s);
	buf_free(&out);
	buf_free(&page);
}
END_TEST

/* ---------------------------------------------------------------- renderers */

START_TEST(test_render_serper)
{
	struct buf out = BUF_INIT;
	struct json_object *j = read_json("serper.json");
	ck_assert_int_eq(rs_render_serper(j, "apple inc", 10, &out), 0);
	ck_assert_has(out.data, "web_search \"apple inc\"\n");
	ck_assert_has(out.data, "Answer box: Cupertino, California (https://example.org/apple-hq)");
	ck_assert_has(out.data, "Knowledge graph: Apple (Technology company): Apple Inc. is an American");
	ck_assert_has(out.data, "[1] Apple\n    https://www.apple.com/\n    Discover the innovative world of Apple and shop everything iPhone, iPad.");
	ck_assert_has(out.data, "[2] Apple Inc. - Wikipedia\n    https://en.wikipedia.org/wiki/Apple_Inc.\n");
	ck_assert_has(out.data, "technology company. (3 days ago)");
	/* the result without a link is left out */
	ck_assert_lacks(out.data, "without a link");
	ck_assert_has(out.data, "[3] Apple Newsroom");
	buf_reset(&out);
	ck_assert_int_eq(rs_render_serper(j, "apple inc", 2, &out), 0);
	ck_assert_lacks(out.data, "[3]");
	json_object_put(j);

	j = read_json("serper-empty.json");
	buf_reset(&out);
	ck_assert_int_eq(rs_render_serper(j, "zz", 10, &out), 0);
	ck_assert_str_eq(out.data, "web_search \"zz\": no results");
	json_object_put(j);

	static const char *const bad[] = {"{\"organic\": 5}", "[]", "{\"credits\": 1}", NULL};
	for (int i = 0; bad[i]; i++) {
		char err[64];
		j = rs_json_parse(bad[i], strlen(bad[i]), err, sizeof err);
		buf_reset(&out);
		ck_assert_int_eq(rs_render_serper(j, "q", 10, &out), -1);
		ck_assert_has(out.data, "error: Serper answered with JSON of an unexpected shape: ");
		json_object_put(j);
	}
	buf_free(&out);
}
END_TEST

START_TEST(test_render_jina)
{
	struct buf out = BUF_INIT;
	struct rs_page p;
	struct json_object *j = read_json("jina.json");
	ck_assert_int_eq(rs_jina_page(j, NULL, 0, &p, &out), 0);
	ck_assert_str_eq(p.title, "Example Domain");
	ck_assert_str_eq(p.url, "https://example.com/");
	ck_assert_str_eq(p.warning, "Target URL returned error 404: Not Found");
	ck_assert_uint_eq(p.text_len, strlen(p.text));
	ck_assert(strncmp(p.text, "This domain is for use", 22) == 0);
	rs_page_free(&p);
	json_object_put(j);

	char *text = read_file(DATA "jina.txt");
	ck_assert_int_eq(rs_jina_page(NULL, text, strlen(text), &p, &out), 0);
	ck_assert_str_eq(p.title, "Example Domain");
	ck_assert_str_eq(p.url, "https://example.com/");
	ck_assert_ptr_null(p.warning);
	ck_assert_str_eq(p.text, "This domain is for use in illustrative examples in documents.\n\n"
				 "You may use this domain in literature.\n");
	rs_page_free(&p);
	free(text);
	ck_assert_uint_eq(out.len, 0);

	const char html[] = "<html><body>hello</body></html>";
	ck_assert_int_eq(rs_jina_page(NULL, html, sizeof html - 1, &p, &out), -1);
	ck_assert_str_eq(out.data, "error: Jina Reader answered with something that is not JSON");
	static const char *const bad[] = {"{\"data\": null, \"code\": 200}", "{\"data\": {\"title\": \"x\"}}",
					  "[1]", NULL};
	for (int i = 0; bad[i]; i++) {
		char err[64];
		j = rs_json_parse(bad[i], strlen(bad[i]), err, sizeof err);
		buf_reset(&out);
		ck_assert_int_eq(rs_jina_page(j, NULL, 0, &p, &out), -1);
		ck_assert_has(out.data, "error: Jina Reader answered with JSON of an unexpected shape: ");
		json_object_put(j);
	}
	buf_free(&out);
}
END_TEST

START_TEST(test_render_s2)
{
	struct buf out = BUF_INIT;
	struct json_object *j = read_json("s2-papers.json");
	ck_assert_int_eq(rs_render_s2_papers(j, "literature graph", 10, &out), 0);
	ck_assert_has(out.data, "paper_search \"literature graph\" (metadata): 2 of 1234 papers\n");
	ck_assert_has(out.data, "[1] Construction of the Literature Graph in Semantic Scholar (2018, North "
				"American Chapter of the Association for Computational Linguistics) - 299 citations\n"
				"    Waleed Ammar, Dirk Groeneveld, Chandra Bhagavatula et al."
				"\n    DOI 10.18653/v1/N18-3011 | arXiv 1805.02262 | S2 649def34f8be52c8b66281af98ae884c09aef38b"
				"\n    https://www.semanticscholar.org/paper/649def34f8be52c8b66281af98ae884c09aef38b"
				"\n    Abstract: We describe a deployed scalable system");
	ck_assert_has(out.data, "[2] A paper with little metadata - 0 citations\n    (authors unknown)\n    PMID 12345678 | S2 ");
	ck_assert_lacks(out.data, "Abstract: null");
	buf_reset(&out);
	ck_assert_int_eq(rs_render_s2_papers(j, "q", 1, &out), 0);
	ck_assert_has(out.data, ": 1 of 1234 papers");
	ck_assert_lacks(out.data, "[2]");
	json_object_put(j);

	j = read_json("s2-snippets.json");
	buf_reset(&out);
	ck_assert_int_eq(rs_render_s2_snippets(j, "literature graph", 10, &out), 0);
	ck_assert_has(out.data, "paper_search \"literature graph\" (snippets)\n"
				"[1] Construction of the Literature Graph in Semantic Scholar (S2 corpus 19170988)\n"
				"    Bridger Waleed Ammar, Dirk Groeneveld, Chandra Bhagavatula et al.\n"
				"    body, section \"Conclusion and Future Work\", score 0.56\n"
				"    \"In this paper, we discuss the construction of a graph");
	json_object_put(j);

	static const char *const empty[] = {"{\"total\": 0, \"offset\": 0}", "{\"total\": 0, \"data\": []}", NULL};
	for (int i = 0; empty[i]; i++) {
		char err[64];
		j = rs_json_parse(empty[i], strlen(empty[i]), err, sizeof err);
		buf_reset(&out);
		ck_assert_int_eq(rs_render_s2_papers(j, "q", 10, &out), 0);
		ck_assert_has(out.data, "no papers");
		json_object_put(j);
	}
	static const char *const bad[] = {"{\"data\": {}}", "{\"unexpected\": true}", "\"text\"", NULL};
	for (int i = 0; bad[i]; i++) {
		char err[64];
		j = rs_json_parse(bad[i], strlen(bad[i]), err, sizeof err);
		buf_reset(&out);
		ck_assert_int_eq(rs_render_s2_papers(j, "q", 10, &out), -1);
		ck_assert_has(out.data, "error: Semantic Scholar answered with JSON of an unexpected shape: ");
		buf_reset(&out);
		ck_assert_int_eq(rs_render_s2_snippets(j, "q", 10, &out), -1);
		ck_assert_has(out.data, "error: Semantic Scholar answered with JSON of an unexpected shape: ");
		json_object_put(j);
	}
	buf_free(&out);
}
END_TEST

START_TEST(test_render_pubmed)
{
	struct buf out = BUF_INIT, ids = BUF_INIT;
	long count = 0;
	struct json_object *j = read_json("esearch.json");
	ck_assert_int_eq(rs_parse_esearch(j, &ids, &count, &out), 0);
	ck_assert_str_eq(ids.data, "40000003,40000002,40000001");
	ck_assert_int_eq(count, 2417);
	json_object_put(j);

	j = read_json("esummary.json");
	ck_assert_int_eq(rs_render_esummary(j, "example", count, &out), 0);
	ck_assert_has(out.data, "pubmed_search \"example\": 3 of 2417 articles\n"
				"[1] An example article about examples.\n"
				"    Doe J, Roe R, Poe E et al. | Example J | 2024 Feb 12\n"
				"    PMID 40000003 | DOI 10.0000/example.3 | PMC PMC9000003\n"
				"    https://pubmed.ncbi.nlm.nih.gov/40000003/\n");
	ck_assert_has(out.data, "[2] (no title)\n    (authors unknown) | Another example journal | 2023\n"
				"    PMID 40000002\n");
	ck_assert_has(out.data, "[3] PMID 40000001: cannot get document summary");
	json_object_put(j);

	static const struct {
		const char *json, *msg;
	} bad[] = {
		{"{\"esearchresult\": {\"ERROR\": \"Invalid db name specified: x\"}}",
		 "error: PubMed (E-utilities): Invalid db name specified: x"},
		{"{\"error\": \"API rate limit exceeded\"}", "error: PubMed (E-utilities): API rate limit exceeded"},
		{"{\"esearchresult\": {\"count\": \"1\"}}", "unexpected shape: no \"esearchresult.idlist\" list"},
		{"{\"esearchresult\": {\"idlist\": [\"1\", \"x&y\"]}}", "unexpected shape: an id in \"idlist\" is not a number"},
		{"[]", "unexpected shape: no \"esearchresult\" object"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char err[64];
		j = rs_json_parse(bad[i].json, strlen(bad[i].json), err, sizeof err);
		buf_reset(&out);
		buf_reset(&ids);
		ck_assert_int_eq(rs_parse_esearch(j, &ids, &count, &out), -1);
		ck_assert_has(out.data, bad[i].msg);
		json_object_put(j);
	}
	static const char *const badsum[] = {"{\"result\": \"x\"}", "{\"result\": {}}", "{}", NULL};
	for (int i = 0; badsum[i]; i++) {
		char err[64];
		j = rs_json_parse(badsum[i], strlen(badsum[i]), err, sizeof err);
		buf_reset(&out);
		ck_assert_int_eq(rs_render_esummary(j, "q", 1, &out), -1);
		ck_assert_has(out.data, "error: PubMed (E-utilities) answered with JSON of an unexpected shape: ");
		json_object_put(j);
	}
	buf_free(&out);
	buf_free(&ids);
}
END_TEST

START_TEST(test_service_message)
{
	struct buf out = BUF_INIT;
	static const struct {
		const char *body, *key, *want;
	} cases[] = {
		{"{\"message\": \"Unauthorized.\", \"statusCode\": 403}", NULL, "Unauthorized."},
		{"{\"data\": null, \"code\": 401, \"message\": \"m\", \"readableMessage\": \"AuthError: m\"}", NULL, "AuthError: m"},
		{"{\"error\": \"API key invalid\", \"api-key\": \"sekrit-key\"}", "sekrit-key", "API key invalid"},
		{"{\"error\": \"bad key sekrit-key here\"}", "sekrit-key", "bad key *** here"},
		{"{\"error\": {\"message\": \"nested\"}}", NULL, "nested"},
		{"{\"esearchresult\": {\"ERROR\": \"Empty term\"}}", NULL, "Empty term"},
		{"Too many   requests\nsecond line", NULL, "Too many requests"},
		{"<html><body>502 Bad Gateway</body></html>", NULL, ""},
		{"{\"other\": 1}", NULL, ""},
		{"", NULL, ""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		buf_reset(&out);
		buf_puts(&out, "");
		rs_service_message(&out, cases[i].body, strlen(cases[i].body), cases[i].key);
		ck_assert_str_eq(out.data, cases[i].want);
	}
	buf_free(&out);
}
END_TEST

START_TEST(test_schema)
{
	struct json_object *s = rs_tools_schema(), *fn, *v, *params, *req;
	ck_assert(json_object_is_type(s, json_type_array));
	ck_assert_uint_eq(json_object_array_length(s), RS_NTOOLS);
	for (int i = 0; i < RS_NTOOLS; i++) {
		struct json_object *t = json_object_array_get_idx(s, (size_t)i);
		ck_assert_str_eq(rs_jstr(t, "type"), "function");
		ck_assert(json_object_object_get_ex(t, "function", &fn));
		ck_assert_str_eq(rs_jstr(fn, "name"), rs_tool_name((enum rs_tool_id)i));
		ck_assert_int_eq(rs_tool_find(rs_jstr(fn, "name")), i);
		ck_assert(strlen(rs_jstr(fn, "description")) > 40);
		ck_assert(json_object_object_get_ex(fn, "parameters", &params));
		ck_assert(json_object_object_get_ex(params, "required", &req));
		ck_assert_uint_eq(json_object_array_length(req), 1);
		ck_assert(json_object_object_get_ex(params, "properties", &v));
		ck_assert(json_object_object_get_ex(v, json_object_get_string(json_object_array_get_idx(req, 0)), NULL));
	}
	json_object_put(s);
	ck_assert_int_eq(rs_tool_find("nope"), -1);
	ck_assert_int_eq(rs_tool_find(NULL), -1);
	ck_assert_ptr_null(rs_tool_name(RS_NTOOLS));
}
END_TEST

/* ---------------------------------------------------------------- argument checks (no request) */

START_TEST(test_arguments)
{
	char path[64], err[256], url[128];
	struct rs_conf c;
	struct rs_tool_stat st;
	struct buf out = BUF_INIT;
	clear_env();
	write_tmp(path, sizeof path, "");
	ck_assert_int_eq(rs_conf_load(&c, path, err, sizeof err), 0);
	/* a request, were one made, would fail fast and count */
	snprintf(url, sizeof url, "http://127.0.0.1:%d", closed_port());
	for (const char *const *n = (const char *const[]){"ES_SERPER_URL", "ES_JINA_URL", "ES_S2_URL", "ES_NCBI_URL", NULL}; *n; n++)
		ck_assert_int_eq(rs_conf_set(&c, *n, url, err, sizeof err), 0);
	struct rs_session *s = rs_session_new(&c);
	static const struct {
		const char *tool, *args, *want;
	} cases[] = {
		{"nope", "{}", "error: unknown tool 'nope'; the tools are web_search, open_page, find_in_page, paper_search, pubmed_search"},
		{"web_search", "{", "error: the arguments of web_search are not JSON ("},
		{"web_search", "[1]", "error: the arguments of web_search must be a JSON object"},
		{"web_search", "{\"query\": \"x\"} trailing", "error: the arguments of web_search are not JSON (trailing data at byte 15)"},
		{"web_search", "", "error: web_search needs a string 'query'"},
		{"web_search", "{}", "error: web_search needs a string 'query'"},
		{"web_search", "{\"query\": 3}", "error: web_search needs a string 'query'"},
		{"web_search", "{\"query\": \"  \\n\"}", "error: web_search needs a string 'query'"},
		{"web_search", "{\"query\": \"x\"}", "error: SERPER_API_KEY is not set"},
		{"open_page", "{\"link\": \"https://x\"}", "error: open_page needs a string 'url'"},
		{"open_page", "{\"url\": \"ftp://example.org/f\"}", "error: open_page reads http:// and https:// URLs only, not 'ftp://example.org/f'"},
		{"open_page", "{\"url\": \"javascript:alert(1)\"}", "error: open_page reads http:// and https:// URLs only"},
		{"open_page", "{\"url\": \"not a url\"}", "error: 'not a url' is not a URL (it has spaces or control characters)"},
		{"open_page", "{\"url\": \"http://\"}", "error: 'http://' is not a URL ("},
		{"open_page", "{\"url\": \"http://exa mple.org\"}", "is not a URL (it has spaces"},
		{"open_page", "{\"url\": \"::::\"}", "error: '::::' is not a URL ("},
		{"paper_search", "{\"query\": \"x\", \"mode\": \"full\"}", "error: paper_search's 'mode' must be \"metadata\" or \"snippets\""},
		{"paper_search", "{\"query\": \"x\", \"mode\": 1}", "error: paper_search's 'mode' must be"},
		{"paper_search", "{\"mode\": \"snippets\"}", "error: paper_search needs a string 'query'"},
		{"pubmed_search", "{\"term\": \"x\"}", "error: pubmed_search needs a string 'query'"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		buf_reset(&out);
		ck_assert_int_eq(rs_tool_run(s, cases[i].tool, cases[i].args, &out, &st), -1);
		ck_assert_msg(strncmp(out.data, cases[i].want, strlen(cases[i].want)) == 0 ||
				      strstr(out.data, cases[i].want),
			      "%s %s: got \"%s\", want \"%s\"", cases[i].tool, cases[i].args, out.data, cases[i].want);
		ck_assert(st.failed);
		ck_assert_int_eq(st.http_calls, 0);
		ck_assert(st.seconds >= 0 && st.seconds < 5);
	}
	/* OUT is appended to, the stat may be NULL */
	buf_reset(&out);
	buf_puts(&out, "before|");
	ck_assert_int_eq(rs_tool_run(s, "web_search", "{}", &out, NULL), -1);
	ck_assert_str_eq(out.data, "before|error: web_search needs a string 'query'");
	rs_session_free(s);
	rs_conf_free(&c);
	buf_free(&out);
	unlink(path);
}
END_TEST

/* ---------------------------------------------------------------- against the fake services */

static pid_t fake_pid;
static int fake_port;
static char fake_dir[64];
static int fake_ok; /* python3 found and the fake started */

static int have_python3(void)
{
	return system("command -v python3 >/dev/null 2>&1") == 0;
}

static void fake_start(void)
{
	char portfile[128], log[128];
	fake_ok = 0;
	if (!have_python3()) {
		fprintf(stderr, "check_rs_tools: python3 is missing: the tests against the fake services pass without running\n");
		return;
	}
	snprintf(fake_dir, sizeof fake_dir, "/tmp/check_rs_fake.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(fake_dir));
	snprintf(portfile, sizeof portfile, "%s/port", fake_dir);
	snprintf(log, sizeof log, "%s/log", fake_dir);
	fake_pid = fork();
	ck_assert_int_ge(fake_pid, 0);
	if (fake_pid == 0) {
		execlp("python3", "python3", FAKE_PY, "--port-file", portfile, "--log", log,
		       "--slow", "4", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 300; i++) { /* up to 30 s on a slow machine */
		FILE *fp = fopen(portfile, "r");
		if (fp) {
			int ok = fscanf(fp, "%d", &fake_port) == 1;
			fclose(fp);
			if (ok) {
				fake_ok = 1;
				return;
			}
		}
		int st;
		ck_assert_msg(waitpid(fake_pid, &st, WNOHANG) == 0, FAKE_PY " exited");
		usleep(100000);
	}
	ck_abort_msg(FAKE_PY " did not write its port");
}

static void fake_stop(void)
{
	if (fake_pid > 0) {
		kill(fake_pid, SIGTERM);
		waitpid(fake_pid, NULL, 0);
		fake_pid = 0;
	}
	if (fake_dir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", fake_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", fake_dir);
		fake_dir[0] = 0;
	}
}

/* A configuration pointing every tool at the fake, with its keys. */
static void fake_conf(struct rs_conf *c)
{
	char path[64], err[256], v[128];
	clear_env();
	write_tmp(path, sizeof path, "SERPER_API_KEY=fake-serper-key\nES_BACKOFF=50ms\nES_RETRIES=3\n"
				     "ES_TOOL_TIMEOUT=10s\n");
	ck_assert_msg(rs_conf_load(c, path, err, sizeof err) == 0, "%s", err);
	unlink(path);
	static const char *const names[] = {"ES_SERPER_URL", "ES_JINA_URL", "ES_S2_URL", "ES_NCBI_URL"};
	static const char *const prefix[] = {"serper", "jina", "s2", "ncbi"};
	for (int i = 0; i < 4; i++) {
		snprintf(v, sizeof v, "http://127.0.0.1:%d/%s", fake_port, prefix[i]);
		ck_assert_int_eq(rs_conf_set(c, names[i], v, err, sizeof err), 0);
	}
}

/* How many requests the fake logged whose query contains S. */
static int fake_count(const char *s)
{
	char path[128], line[4096];
	int n = 0;
	snprintf(path, sizeof path, "%s/log", fake_dir);
	FILE *fp = fopen(path, "r");
	if (!fp)
		return 0;
	while (fgets(line, sizeof line, fp))
		n += strstr(line, s) != NULL;
	fclose(fp);
	return n;
}

/* The answer the fake's corpus gives to question ID (read through
 * --write-questions, so that the test holds no answer of its own). */
static char *fake_answer(const char *id)
{
	char cmd[256], path[128], line[1024];
	char *ans = NULL;
	snprintf(cmd, sizeof cmd, "python3 " FAKE_PY " --write-questions '%s/q'", fake_dir);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(path, sizeof path, "%s/q/answers.jsonl", fake_dir);
	FILE *fp = fopen(path, "r");
	ck_assert_ptr_nonnull(fp);
	while (!ans && fgets(line, sizeof line, fp)) {
		struct json_object *j = json_tokener_parse(line);
		if (rs_jstr(j, "id") && strcmp(rs_jstr(j, "id"), id) == 0)
			ans = strdup(rs_jstr(j, "answer"));
		json_object_put(j);
	}
	fclose(fp);
	ck_assert_ptr_nonnull(ans);
	return ans;
}

/* Runs TOOL with ARGS; returns rs_tool_run's result, the text in OUT. */
static int run(struct rs_session *s, const char *tool, const char *args, struct buf *out, struct rs_tool_stat *st)
{
	buf_reset(out);
	int rc = rs_tool_run(s, tool, args, out, st);
	ck_assert_ptr_nonnull(out->data);
	ck_assert(buf_utf8_valid(out->data, out->len, NULL));
	ck_assert_int_eq(rc == 0, strncmp(out->data, "error: ", 7) != 0);
	ck_assert_int_eq(st->failed, rc < 0);
	return rc;
}

START_TEST(test_fake_happy)
{
	if (!fake_ok)
		return;
	struct rs_conf c;
	struct rs_tool_stat st;
	struct buf out = BUF_INIT, args = BUF_INIT, qargs = BUF_INIT;
	char first[256], *answer = fake_answer("q01");
	char question[512];
	fake_conf(&c);
	struct rs_session *s = rs_session_new(&c);

	/* the question's own page comes first */
	FILE *fp;
	snprintf(first, sizeof first, "%s/q/questions.jsonl", fake_dir);
	fp = fopen(first, "r");
	ck_assert_ptr_nonnull(fp);
	ck_assert_ptr_nonnull(fgets(question, sizeof question, fp));
	fclose(fp);
	struct json_object *qj = json_tokener_parse(question);
	buf_puts(&qargs, "{\"query\": ");
	buf_json_str(&qargs, rs_jstr(qj, "question"), strlen(rs_jstr(qj, "question")));
	buf_puts(&qargs, "}");
	json_object_put(qj);
	ck_assert_int_eq(run(s, "web_search", qargs.data, &out, &st), 0);
	snprintf(first, sizeof first, "\n    http://127.0.0.1:%d/web/q01\n", fake_port);
	ck_assert_has(out.data, first);
	ck_assert_int_eq(st.http_calls, 1);

	/* open it: the answer near the top */
	buf_reset(&args);
	buf_printf(&args, "{\"url\": \"http://127.0.0.1:%d/web/q01\"}", fake_port);
	ck_assert_int_eq(run(s, "open_page", args.data, &out, &st), 0);
	ck_assert_has(out.data, "Title: ");
	char *at = strstr(out.data, answer);
	ck_assert_msg(at && at - out.data < 400, "no \"%s\" near the top of:\n%s", answer, out.data);
	ck_assert_lacks(out.data, "truncated");
	ck_assert_int_eq(fake_count("\"service\": \"jina\""), 1);

	/* a short page_max: cut, and find_in_page finds what was cut */
	c.page_max = 200;
	ck_assert_int_eq(run(s, "open_page", args.data, &out, &st), 0);
	ck_assert_has(out.data, "[... truncated: ");
	ck_assert_lacks(out.data, "q01-END");
	ck_assert_int_eq(run(s, "find_in_page", "{\"pattern\": \"q01-end\"}", &out, &st), 0);
	ck_assert_has(out.data, ": 1 matching line of ");
	ck_assert_has(out.data, "Archive reference q01-END.");
	ck_assert_int_eq(st.http_calls, 0);

	/* a Jina key is sent when set */
	rs_conf_set(&c, "JINA_API_KEY", "fake-jina-key", first, sizeof first);
	ck_assert_int_eq(run(s, "open_page", args.data, &out, &st), 0);
	ck_assert_int_eq(fake_count("\"auth\": true"), 2); /* serper's, this one */

	/* papers and PubMed */
	ck_assert_int_eq(run(s, "paper_search", qargs.data, &out, &st), 0);
	ck_assert_has(out.data, "(metadata): ");
	ck_assert_has(out.data, "[1] ");
	ck_assert_has(out.data, "DOI 10.5555/fake.q01");
	ck_assert_has(out.data, answer);
	buf_reset(&args);
	buf_append(&args, qargs.data, qargs.len - 1);
	buf_puts(&args, ", \"mode\": \"snippets\"}");
	ck_assert_int_eq(run(s, "paper_search", args.data, &out, &st), 0);
	ck_assert_has(out.data, "(snippets)\n[1] ");
	ck_assert_has(out.data, answer);
	rs_conf_set(&c, "S2_API_KEY", "fake-s2-key", first, sizeof first);
	ck_assert_int_eq(run(s, "paper_search", "{\"query\": \"Observatory\", \"mode\": null}", &out, &st), 0);
	ck_assert_has(out.data, "[1] ");
	ck_assert_int_eq(run(s, "pubmed_search", "{\"query\": \"Observatory\"}", &out, &st), 0);
	ck_assert_has(out.data, "pubmed_search \"Observatory\": ");
	ck_assert_has(out.data, "https://pubmed.ncbi.nlm.nih.gov/");
	ck_assert_int_eq(st.http_calls, 2);
	rs_conf_set(&c, "NCBI_API_KEY", "fake-ncbi-key", first, sizeof first);
	ck_assert_int_eq(run(s, "pubmed_search", qargs.data, &out, &st), 0);
	ck_assert_has(out.data, "PMID ");
	ck_assert_int_eq(run(s, "pubmed_search", "{\"query\": \"zzz nothing qqq\"}", &out, &st), 0);
	ck_assert_str_eq(out.data, "pubmed_search \"zzz nothing qqq\": no articles");
	ck_assert_int_eq(st.http_calls, 1);
	ck_assert_int_eq(run(s, "web_search", "{\"query\": \"zzz nothing qqq\"}", &out, &st), 0);
	ck_assert_has(out.data, "no results");

	rs_session_free(s);
	rs_conf_free(&c);
	buf_free(&out);
	buf_free(&args);
	buf_free(&qargs);
	free(answer);
}
END_TEST

START_TEST(test_fake_keys)
{
	if (!fake_ok)
		return;
	struct rs_conf c;
	struct rs_tool_stat st;
	struct buf out = BUF_INIT;
	char err[128];
	fake_conf(&c);
	struct rs_session *s = rs_session_new(&c);
	rs_conf_set(&c, "SERPER_API_KEY", "wrong-serper-key", err, sizeof err);
	rs_conf_set(&c, "JINA_API_KEY", "wrong-jina-key", err, sizeof err);
	rs_conf_set(&c, "S2_API_KEY", "wrong-s2-key", err, sizeof err);
	rs_conf_set(&c, "NCBI_API_KEY", "wrong-ncbi-key", err, sizeof err);
	ck_assert_int_eq(run(s, "web_search", "{\"query\": \"x\"}", &out, &st), -1);
	ck_assert_str_eq(out.data, "error: Serper answered HTTP 403: Unauthorized. (is the API key right?)");
	ck_assert_int_eq(st.http_calls, 1); /* not retried */
	ck_assert_int_eq(run(s, "open_page", "{\"url\": \"http://127.0.0.1/web/q01\"}", &out, &st), -1);
	ck_assert_has(out.data, "error: Jina Reader answered HTTP 401: AuthenticationFailedError: Invalid API key");
	ck_assert_int_eq(run(s, "paper_search", "{\"query\": \"x\"}", &out, &st), -1);
	ck_assert_str_eq(out.data, "error: Semantic Scholar answered HTTP 403: Forbidden (is the API key right?)");
	ck_assert_int_eq(run(s, "pubmed_search", "{\"query\": \"x\"}", &out, &st), -1);
	ck_assert_str_eq(out.data, "error: PubMed (E-utilities) answered HTTP 400: API key invalid");
	/* the fake quotes the key back in its body, as NCBI does; it is never shown */
	ck_assert_lacks(out.data, "wrong-ncbi-key");
	rs_session_free(s);
	rs_conf_free(&c);
	buf_free(&out);
}
END_TEST

/* Each tool with a query (or URL) carrying a fault trigger. */
static void fault_args(struct buf *b, int tool, const char *trigger)
{
	buf_reset(b);
	switch (tool) {
	case 0: case 2: case 3: case 4:
		buf_printf(b, "{\"query\": \"Veltrium %s\"%s}", trigger, tool == 3 ? ", \"mode\": \"snippets\"" : "");
		break;
	case 1:
		buf_printf(b, "{\"url\": \"http://127.0.0.1:%d/web/%s\"}", fake_port, trigger);
		break;
	}
}
static const char *const fault_tools[] = {"web_search", "open_page", "paper_search", "paper_search", "pubmed_search"};
static const char *const fault_service[] = {"Serper", "Jina Reader", "Semantic Scholar", "Semantic Scholar",
					    "PubMed (E-utilities)"};

START_TEST(test_fake_faults)
{
	if (!fake_ok)
		return;
	struct rs_conf c;
	struct rs_tool_stat st;
	struct buf out = BUF_INIT, args = BUF_INIT, want = BUF_INIT;
	fake_conf(&c);
	struct rs_session *s = rs_session_new(&c);
	for (int t = 0; t < 5; t++) {
		/* 500: retried, then the status and the service's message */
		fault_args(&args, t, "__500__");
		ck_assert_int_eq(run(s, fault_tools[t], args.data, &out, &st), -1);
		buf_reset(&want);
		buf_printf(&want, "error: %s answered HTTP 500 after 4 attempts", fault_service[t]);
		ck_assert_has(out.data, want.data);
		ck_assert_int_eq(st.http_calls, 4);

		/* a web page where JSON was asked for */
		fault_args(&args, t, "__html__");
		ck_assert_int_eq(run(s, fault_tools[t], args.data, &out, &st), -1);
		buf_reset(&want);
		buf_printf(&want, "error: %s answered with something that is not JSON", fault_service[t]);
		ck_assert_has(out.data, want.data);
		ck_assert_int_eq(st.http_calls, 1);

		/* JSON of another shape */
		fault_args(&args, t, "__bad__");
		ck_assert_int_eq(run(s, fault_tools[t], args.data, &out, &st), -1);
		buf_reset(&want);
		buf_printf(&want, "error: %s answered with JSON of an unexpected shape: ", fault_service[t]);
		ck_assert_has(out.data, want.data);
	}
	ck_assert_int_eq(fake_count("__500__"), 5 * 4);
	/* esummary of another shape, after a good esearch */
	ck_assert_int_eq(run(s, "pubmed_search", "{\"query\": \"__badsummary__\"}", &out, &st), -1);
	ck_assert_str_eq(out.data, "error: PubMed (E-utilities) answered with JSON of an unexpected shape: no \"result\" object");
	ck_assert_int_eq(st.http_calls, 2);

	/* nothing listening */
	char url[64], err[128];
	snprintf(url, sizeof url, "http://127.0.0.1:%d", closed_port());
	rs_conf_set(&c, "ES_SERPER_URL", url, err, sizeof err);
	c.retries = 1;
	ck_assert_int_eq(run(s, "web_search", "{\"query\": \"x\"}", &out, &st), -1);
	char want2[128];
	snprintf(want2, sizeof want2, "error: Serper did not answer: cannot connect to %s/search", url);
	ck_assert_has(out.data, want2);
	ck_assert_has(out.data, "(2 attempts)");
	ck_assert_int_eq(st.http_calls, 2);
	rs_session_free(s);
	rs_conf_free(&c);
	buf_free(&out);
	buf_free(&args);
	buf_free(&want);
}
END_TEST

START_TEST(test_fake_rate_limit)
{
	if (!fake_ok)
		return;
	struct rs_conf c;
	struct rs_tool_stat st;
	struct buf out = BUF_INIT, args = BUF_INIT, q = BUF_INIT;
	fake_conf(&c);
	struct rs_session *s = rs_session_new(&c);
	for (int t = 0; t < 5; t++) {
		/* 429 with Retry-After: 1 twice, then the answer: retried after
		 * waits of at least the Retry-After (the backoff is 50 ms) */
		char trig[32];
		snprintf(trig, sizeof trig, "__429__%d", t);
		fault_args(&args, t, trig);
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		ck_assert_int_eq(run(s, fault_tools[t], args.data, &out, &st), 0);
		clock_gettime(CLOCK_MONOTONIC, &b);
		double secs = (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
		ck_assert_msg(secs >= 1.9, "%s: retried after %.2f s", fault_tools[t], secs);
		/* PubMed: and its esummary, which the trigger does not reach */
		ck_assert_int_eq(st.http_calls, 3 + (t == 4));
		ck_assert_int_eq(fake_count(trig), 3);
	}
	/* with fewer retries than the service refuses: its 429 and message */
	c.retries = 1;
	ck_assert_int_eq(run(s, "paper_search", "{\"query\": \"again __429__\"}", &out, &st), -1);
	ck_assert_has(out.data, "error: Semantic Scholar answered HTTP 429 after 2 attempts: Too Many Requests.");
	ck_assert_int_eq(fake_count("again __429__"), 2);
	rs_session_free(s);
	rs_conf_free(&c);
	buf_free(&out);
	buf_free(&args);
	buf_free(&q);
}
END_TEST

START_TEST(test_fake_timeout)
{
	if (!fake_ok)
		return;
	struct rs_conf c;
	struct rs_tool_stat st;
	struct buf out = BUF_INIT, args = BUF_INIT, want = BUF_INIT;
	char err[128];
	fake_conf(&c);
	rs_conf_set(&c, "ES_TOOL_TIMEOUT", "1s", err, sizeof err);
	c.retries = 1;
	struct rs_session *s = rs_session_new(&c);
	for (int t = 0; t < 5; t += 1 + (t == 2)) {
		fault_args(&args, t, "__slow__");
		ck_assert_int_eq(run(s, fault_tools[t], args.data, &out, &st), -1);
		buf_reset(&want);
		buf_printf(&want, "error: %s did not answer: timed out after 1000 ms waiting for http://127.0.0.1:%d/",
			   fault_service[t], fake_port);
		ck_assert_has(out.data, want.data);
		ck_assert_has(out.data, "(2 attempts)");
		ck_assert_int_eq(st.http_calls, 2);
		ck_assert(st.seconds >= 1.9 && st.seconds < 30);
	}
	rs_session_free(s);
	rs_conf_free(&c);
	buf_free(&out);
	buf_free(&args);
	buf_free(&want);
}
END_TEST

/* Sessions in threads: each opens its own page and finds in it. */
struct thread_arg {
	const struct rs_conf *c;
	int n;
	int ok;
};

static void *thread_main(void *p)
{
	struct thread_arg *a = p;
	struct rs_session *s = rs_session_new(a->c);
	struct buf out = BUF_INIT, args = BUF_INIT, want = BUF_INIT;
	struct rs_tool_stat st;
	a->ok = 1;
	for (int round = 0; round < 3; round++) {
		buf_reset(&args);
		buf_printf(&args, "{\"url\": \"http://127.0.0.1:%d/web/q%02d\"}", fake_port, a->n);
		buf_reset(&out);
		a->ok &= rs_tool_run(s, "open_page", args.data, &out, &st) == 0;
		buf_reset(&out);
		a->ok &= rs_tool_run(s, "find_in_page", "{\"pattern\": \"-END\"}", &out, &st) == 0;
		buf_reset(&want);
		buf_printf(&want, "Archive reference q%02d-END.", a->n);
		a->ok &= strstr(out.data, want.data) != NULL;
		buf_reset(&out);
		a->ok &= rs_tool_run(s, "web_search", "{\"query\": \"Observatory\"}", &out, &st) == 0;
	}
	rs_session_free(s);
	buf_free(&out);
	buf_free(&args);
	buf_free(&want);
	return NULL;
}

START_TEST(test_fake_threads)
{
	if (!fake_ok)
		return;
	struct rs_conf c;
	fake_conf(&c);
	curl_global_init(CURL_GLOBAL_DEFAULT); /* as main() does, before any thread */
	pthread_t th[4];
	struct thread_arg a[4];
	for (int i = 0; i < 4; i++) {
		a[i] = (struct thread_arg){.c = &c, .n = i + 1};
		ck_assert_int_eq(pthread_create(&th[i], NULL, thread_main, &a[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ck_assert_msg(a[i].ok, "thread %d", i);
	}
	curl_global_cleanup();
	rs_conf_free(&c);
}
END_TEST

Suite *suite_rs_tools(void)
{
	Suite *s = suite_create("rs_tools");
	TCase *tc = tcase_create("offline");
	tcase_add_test(tc, test_conf_defaults);
	tcase_add_test(tc, test_conf_dotenv);
	tcase_add_test(tc, test_conf_env_wins);
	tcase_add_loop_test(tc, test_conf_bad_lines, 0, (int)(sizeof bad_env / sizeof bad_env[0]));
	tcase_add_test(tc, test_conf_files_and_set);
	tcase_add_test(tc, test_http_escape_and_redact);
	tcase_add_test(tc, test_http_failures);
	tcase_add_test(tc, test_utf8_cut);
	tcase_add_test(tc, test_page_truncation);
	tcase_add_test(tc, test_find_in_page);
	tcase_add_test(tc, test_render_serper);
	tcase_add_test(tc, test_render_jina);
	tcase_add_test(tc, test_render_s2);
	tcase_add_test(tc, test_render_pubmed);
	tcase_add_test(tc, test_service_message);
	tcase_add_test(tc, test_schema);
	tcase_add_test(tc, test_arguments);
	suite_add_tcase(s, tc);

	tc = tcase_create("fake_services");
	tcase_set_timeout(tc, 90);
	tcase_add_checked_fixture(tc, fake_start, fake_stop);
	tcase_add_test(tc, test_fake_happy);
	tcase_add_test(tc, test_fake_keys);
	tcase_add_test(tc, test_fake_faults);
	tcase_add_test(tc, test_fake_rate_limit);
	tcase_add_test(tc, test_fake_timeout);
	tcase_add_test(tc, test_fake_threads);
	suite_add_tcase(s, tc);
	return s;
}
