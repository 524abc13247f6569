/* reg_peer.h — a worker's URL must name the machine that registers it.
 *
 * The proxy sends clients' requests (prompts, API keys forwarded as the
 * engines' own) to the URL a worker registered with. A credential proves
 * who the caller is, not where the URL points: without this check any
 * job of an allowed user could point a pool at an arbitrary host:port, a
 * service on the login node's loopback included. So the registry accepts
 * a registration only when the URL's host is the caller:
 *
 *   Let P be the address the registration came from (an IPv4-mapped IPv6
 *   address counts as IPv4) and A the addresses of the URL's host (itself
 *   when numeric; else every address getaddrinfo(3) gives, /etc/hosts,
 *   DNS and the other NSS sources). The registration is accepted when
 *     (1) P is not loopback and is in A: the agent registers its own
 *         address or name (on a multi-homed node, one of them); or
 *     (2) P is an address of the registry's own machine (loopback, or
 *         assigned to one of its interfaces) and so is every address in
 *         A: an agent on the login node itself (the one-host test
 *         cluster, where everything is loopback).
 *   Otherwise it is refused with 403; a name that does not resolve is a
 *   403 too, a resolver that fails for now (EAI_AGAIN) a 503.
 *
 * Rule (2) never lets a remote caller name a loopback or local address,
 * and a local caller only local ones. `check_worker_host = false` in the
 * registry's config turns the check off (agents behind NAT, or compute
 * nodes that reach the login node from an address their name does not
 * resolve to).
 *
 * Names are resolved on short-lived threads, never on the event loop; the
 * answers (and failures) are cached for a while.
 */
#ifndef ES_REG_PEER_H
#define ES_REG_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

/* An IPv4 or IPv6 address. */
struct reg_addr {
	int family;          /* AF_INET or AF_INET6 */
	unsigned char a[16]; /* IPv4: the first 4 bytes */
};

/* Parses a numeric address ("10.1.2.3", "::1", "::ffff:10.1.2.3": IPv4).
 * Returns 0, or -1 when TEXT is not one. */
int reg_addr_parse(const char *text, struct reg_addr *out);
/* Writes A as text into OUT (at least 46 bytes). */
void reg_addr_str(const struct reg_addr *a, char *out, size_t len);
bool reg_addr_eq(const struct reg_addr *x, const struct reg_addr *y);
bool reg_addr_is_loopback(const struct reg_addr *a);

/* The addresses of this machine's interfaces (loopback included), at most
 * MAX. Returns how many. */
size_t reg_peer_local_addrs(struct reg_addr *out, size_t max);

/* The rule above: may PEER register a URL whose host has the N addresses
 * ADDRS, on a machine whose own addresses are the NLOCAL of LOCAL? */
bool reg_peer_allowed(const struct reg_addr *peer, const struct reg_addr *addrs, size_t n,
		      const struct reg_addr *local, size_t nlocal);

/* ---------------------------------------------------------------- resolver */

#define REG_PEER_MAX_ADDRS 16

/* Receives the addresses of a host: ERR 0 and N >= 1 addresses, or ERR an
 * EAI_* code (EAI_NONAME: no such host; EAI_AGAIN: try later). */
typedef void (*reg_peer_resolved_fn)(int err, const struct reg_addr *addrs, size_t n, void *arg);

struct reg_resolver;
struct reg_lookup;

/* A resolver on BASE; answers are cached TTL_MS (failures a tenth of
 * that, at least a second). */
struct reg_resolver *reg_resolver_new(struct event_base *base, int64_t ttl_ms);
/* Frees it; lookups in flight end without their callbacks. */
void reg_resolver_free(struct reg_resolver *rs);

/* Resolves HOST (a name or a numeric address) and calls CB from the event
 * loop, never inside this call. Returns the lookup, to cancel it. */
struct reg_lookup *reg_resolve(struct reg_resolver *rs, const char *host, reg_peer_resolved_fn cb,
			       void *arg);
/* Abandons L: its callback never runs. */
void reg_resolve_cancel(struct reg_lookup *l);

#endif
