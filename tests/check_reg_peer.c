/* check_reg_peer.c — the rule that a worker's URL names the machine that
 * registers it (registry/reg_peer.h), as a table over callers near and far,
 * and the asynchronous resolver behind it. */
#include <check.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "../registry/reg_peer.h"

static struct reg_addr A(const char *s)
{
	struct reg_addr a;
	ck_assert_msg(reg_addr_parse(s, &a) == 0, "%s", s);
	return a;
}

START_TEST(test_addr)
{
	struct reg_addr a;
	char t[64];
	ck_assert_int_eq(reg_addr_parse("10.1.2.3", &a), 0);
	ck_assert_int_eq(a.family, AF_INET);
	/* An IPv4-mapped IPv6 address is the IPv4 address. */
	struct reg_addr m = A("::ffff:10.1.2.3");
	ck_assert(reg_addr_eq(&a, &m));
	reg_addr_str(&m, t, sizeof t);
	ck_assert_str_eq(t, "10.1.2.3");
	ck_assert_int_eq(reg_addr_parse("n1", &a), -1);
	ck_assert_int_eq(reg_addr_parse("10.1.2", &a), -1);
	ck_assert_int_eq(reg_addr_parse("", &a), -1);
	struct reg_addr lo4 = A("127.0.0.1"), lo42 = A("127.9.9.9"), lo6 = A("::1"), g6 = A("2001:db8::1");
	ck_assert(reg_addr_is_loopback(&lo4) && reg_addr_is_loopback(&lo42) && reg_addr_is_loopback(&lo6));
	ck_assert(!reg_addr_is_loopback(&g6));
	ck_assert(!reg_addr_eq(&lo4, &lo42));
}
END_TEST

START_TEST(test_rule)
{
	/* The registry's machine: loopback, 10.0.0.1 and 2001:db8::1. */
	struct reg_addr local[] = {A("127.0.0.1"), A("::1"), A("10.0.0.1"), A("2001:db8::1")};
	size_t nl = 4;
	static const struct {
		const char *peer;
		const char *addrs[3];
		bool ok;
	} c[] = {
		/* (1) the caller's own address */
		{"10.0.0.7", {"10.0.0.7"}, true},
		{"10.0.0.7", {"10.0.5.5", "10.0.0.7"}, true}, /* one of its names' addresses */
		{"::ffff:10.0.0.7", {"10.0.0.7"}, true},
		{"2001:db8::7", {"2001:db8::7"}, true},
		/* a remote caller naming another machine */
		{"10.0.0.7", {"10.0.0.8"}, false},
		{"10.0.0.7", {"192.0.2.1"}, false},
		/* a remote caller naming the login node's loopback or interfaces */
		{"10.0.0.7", {"127.0.0.1"}, false},
		{"10.0.0.7", {"::1"}, false},
		{"10.0.0.7", {"10.0.0.1"}, false},
		{"10.0.0.7", {"127.0.0.1", "10.0.0.7"}, true}, /* its own is among them */
		/* (2) a caller on the registry's machine, naming that machine */
		{"127.0.0.1", {"127.0.0.1"}, true},
		{"127.0.0.1", {"127.0.1.1"}, true},
		{"127.0.0.1", {"::1"}, true},
		{"127.0.0.1", {"10.0.0.1"}, true},
		{"10.0.0.1", {"127.0.0.1"}, true},
		{"::1", {"2001:db8::1", "127.0.0.1"}, true},
		/* ... or naming another machine */
		{"127.0.0.1", {"10.0.0.7"}, false},
		{"127.0.0.1", {"127.0.0.1", "10.0.0.7"}, false},
		{"127.0.0.1", {NULL}, false}, /* nothing resolved */
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		struct reg_addr peer = A(c[i].peer), addrs[3];
		size_t n = 0;
		while (n < 3 && c[i].addrs[n]) {
			addrs[n] = A(c[i].addrs[n]);
			n++;
		}
		ck_assert_msg(reg_peer_allowed(&peer, addrs, n, local, nl) == c[i].ok,
			      "case %zu: peer %s", i, c[i].peer);
	}
	/* This machine's own list has loopback. */
	struct reg_addr mine[64];
	size_t nm = reg_peer_local_addrs(mine, 64);
	bool lo = false;
	for (size_t i = 0; i < nm; i++)
		lo = lo || reg_addr_is_loopback(&mine[i]);
	ck_assert(nm > 0 && lo);
}
END_TEST

struct answer {
	int calls, err;
	size_t n;
	struct reg_addr a[REG_PEER_MAX_ADDRS];
	struct event_base *base;
};

static void on_resolved(int err, const struct reg_addr *addrs, size_t n, void *arg)
{
	struct answer *x = arg;
	x->calls++;
	x->err = err;
	x->n = n;
	memcpy(x->a, addrs, n * sizeof *addrs);
	event_base_loopbreak(x->base);
}

START_TEST(test_resolver)
{
	struct event_base *base = event_base_new();
	struct reg_resolver *rs = reg_resolver_new(base, 60000);
	ck_assert_ptr_nonnull(rs);
	struct answer x = {.base = base};
	/* Numeric: answered from the loop, never inside the call. */
	reg_resolve(rs, "10.1.2.3", on_resolved, &x);
	ck_assert_int_eq(x.calls, 0);
	event_base_dispatch(base);
	ck_assert_int_eq(x.calls, 1);
	ck_assert_int_eq(x.err, 0);
	ck_assert_uint_eq(x.n, 1);
	/* A name from /etc/hosts, on a thread; then from the cache. */
	for (int round = 0; round < 2; round++) {
		memset(&x, 0, sizeof x);
		x.base = base;
		reg_resolve(rs, "localhost", on_resolved, &x);
		ck_assert_int_eq(x.calls, 0);
		event_base_dispatch(base);
		ck_assert_int_eq(x.calls, 1);
		ck_assert_int_eq(x.err, 0);
		ck_assert_uint_ge(x.n, 1);
		for (size_t i = 0; i < x.n; i++)
			ck_assert(reg_addr_is_loopback(&x.a[i]));
	}
	/* A cancelled lookup never calls back; freeing with one in flight. */
	memset(&x, 0, sizeof x);
	x.base = base;
	struct reg_lookup *l = reg_resolve(rs, "10.9.9.9", on_resolved, &x);
	reg_resolve_cancel(l);
	reg_resolve(rs, "ip6-localhost", on_resolved, &x);
	reg_resolver_free(rs);
	event_base_loop(base, EVLOOP_NONBLOCK);
	ck_assert_int_eq(x.calls, 0);
	event_base_free(base);
}
END_TEST

Suite *suite_reg_peer(void)
{
	Suite *s = suite_create("reg_peer");
	TCase *tc = tcase_create("reg_peer");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_addr);
	tcase_add_test(tc, test_rule);
	tcase_add_test(tc, test_resolver);
	suite_add_tcase(s, tc);
	return s;
}
