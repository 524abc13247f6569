/* fuzz_auth.c — lib/auth on the receiving side, token mode: any
 * Authorization header is either refused or was made with the secret; a
 * credential made for one request is refused for any other and accepted
 * only once. (MUNGE credentials are checked by munged itself; they are
 * not fuzzed here, munged being a daemon.)
 *
 * Input: HEADER \n METHOD \n TARGET \n BODY. */
#include "auth.h"
#include "buf.h"
#include "fuzz.h"

#define SECRET "fuzz-secret-0123456789abcdef"
#define NOW 1700000000

static struct auth_server srv;
static struct auth_client cli;

static void setup(void)
{
	if (srv.mode == AUTH_TOKEN)
		return;
	srv.mode = AUTH_TOKEN;
	memcpy(srv.token, SECRET, sizeof SECRET);
	srv.token_len = strlen(SECRET);
	cli.mode = AUTH_TOKEN;
	memcpy(cli.token, SECRET, sizeof SECRET);
	cli.token_len = strlen(SECRET);
}

/* The next field of S up to '\n' (or its end), NUL-terminated in place. */
static char *field(char **s)
{
	char *f = *s, *nl = strchr(f, '\n');
	if (nl) {
		*nl = '\0';
		*s = nl + 1;
	} else {
		*s = f + strlen(f);
	}
	return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	char *all = fuzz_strndup(data, size), *p = all;
	/* The header and the request line cannot hold NUL; the body can. */
	char *header = field(&p);
	char *method = field(&p);
	char *target = field(&p);
	const char *body = p;
	size_t blen = size - (size_t)(p - all);
	struct auth_who who;
	char err[256];
	err[0] = '\0';
	enum auth_result r = auth_check(&srv, header, method, target, body, blen, NOW, &who, err,
					sizeof err);
	/* Nobody knows the secret: a forged credential never passes. */
	FUZZ_CHECK(r == AUTH_DENIED);
	FUZZ_CHECK(err[0] != '\0');
	FUZZ_CHECK(auth_check(&srv, NULL, method, target, body, blen, NOW, &who, err, sizeof err) ==
		   AUTH_DENIED);

	/* A real credential for this request passes once, and only for it. */
	struct buf h = BUF_INIT;
	FUZZ_CHECK(auth_sign(&cli, method, target, body, blen, &h, err, sizeof err) == 0);
	const char *v = h.data;
	/* The client stamps the real time; check at that time. */
	long long ts = 0;
	FUZZ_CHECK(sscanf(v, "ES-HMAC ts=%lld", &ts) == 1);
	FUZZ_CHECK(auth_check(&srv, v, method, target, body, blen, ts, &who, err, sizeof err) ==
		   AUTH_OK);
	FUZZ_CHECK(auth_check(&srv, v, method, target, body, blen, ts, &who, err, sizeof err) ==
		   AUTH_DENIED);
	buf_free(&h);

	/* Fresh credentials do not pass for another target or body. */
	if (strcmp(target, "/other") != 0) {
		FUZZ_CHECK(auth_sign(&cli, method, target, body, blen, &h, err, sizeof err) == 0);
		FUZZ_CHECK(auth_check(&srv, h.data, method, "/other", body, blen, ts, &who, err,
				      sizeof err) == AUTH_DENIED);
		buf_free(&h);
	}
	if (blen > 0) {
		FUZZ_CHECK(auth_sign(&cli, method, target, body, blen, &h, err, sizeof err) == 0);
		FUZZ_CHECK(auth_check(&srv, h.data, method, target, body, blen - 1, ts, &who, err,
				      sizeof err) == AUTH_DENIED);
		buf_free(&h);
	}
	/* The nonces of every run stay in the window: start afresh now and
	 * then so that a long run does not grow the table without end. */
	static unsigned runs;
	if (++runs % 4096 == 0)
		auth_server_free(&srv);
	free(all);
	return 0;
}
