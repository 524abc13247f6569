/* proxy_config.h — the OpenAI proxy's settings in the registry's config
 * file (read through lib/tcfg, every problem as FILE:LINE:COL: message):
 *
 *   [proxy]
 *   api_keys = "auto"            # auto: required unless listening on
 *                                # loopback; required; off
 *   keys_file = "/etc/elastic-serve/api-keys"  # more keys, one a line (0600)
 *   max_body = "32MiB"           # request bodies (bytes, or KiB/MiB/GiB)
 *   header_timeout = "10s"       # the request head must arrive within
 *   body_timeout = "60s"         # the request body must arrive within
 *   idle_timeout = "75s"         # idle keep-alive client connections
 *   write_timeout = "60s"        # a client that reads nothing for this long
 *   max_connections = 10000      # client connections; beyond, accept waits
 *   connect_timeout = "3s"       # TCP connect to a worker
 *   response_timeout = "5m"      # request sent -> response head (for a
 *                                # non-streamed request, the whole generation)
 *   stream_idle_timeout = "2m"   # longest silence inside a response body
 *   wait_for_worker = "30s"      # no ready worker: wait this long, then 503
 *   attempts = 3                 # tries on different workers before the first byte
 *   eject_after = 3              # failures in a row that eject a worker (0: never)
 *   eject_time = "5s"            # first ejection, doubled each time in a row
 *   eject_max = "2m"
 *   upstream_idle = 256          # idle keep-alive connections kept per worker
 *   max_migrations = 2           # times one generation may move to another worker
 *                                # after its worker failed (0: never; see proxy_migrate.h)
 *
 *   [routing]                    # besides policy (registry/reg_config.h)
 *   migrate = true               # stream migration, for pools without a model.toml
 *                                # (a pool's own [routing] migrate wins)
 *   imbalance_abs = 16           # cache_aware falls back to least_load when its
 *   imbalance_rel = 1.5          # worker's load - min > min(abs, mean) and > rel * min
 *   cache_threshold = 0.5        # a cached prefix must cover this much of the prompt
 *   prefix_block = 64            # bytes of prompt per hashed block
 *   prefix_max_blocks = 2048     # blocks hashed per prompt (64 * 2048 = 128 KiB)
 *   prefix_entries = 262144      # prefixes remembered (32 bytes each)
 *
 * There is no total timeout on a generation: streams are bounded by
 * stream_idle_timeout, slow clients by write_timeout.
 */
#ifndef ES_PROXY_CONFIG_H
#define ES_PROXY_CONFIG_H

#include <stdint.h>

#include "proxy_route.h"

struct tcfg;
struct toml_value;

enum proxy_keys_mode {
	PROXY_KEYS_AUTO,     /* required unless every listen address is loopback */
	PROXY_KEYS_REQUIRED,
	PROXY_KEYS_OFF,
};

struct proxy_config {
	enum proxy_keys_mode api_keys;  /* api_keys (auto) */
	char *keys_file;                /* keys_file; NULL: none */
	int64_t max_body;               /* max_body, bytes (32 MiB) */
	int64_t header_timeout_ms;      /* header_timeout (10 s) */
	int64_t body_timeout_ms;        /* body_timeout (60 s) */
	int64_t idle_timeout_ms;        /* idle_timeout (75 s) */
	int64_t write_timeout_ms;       /* write_timeout (60 s) */
	int max_connections;            /* max_connections (10000) */
	int64_t connect_timeout_ms;     /* connect_timeout (3 s) */
	int64_t response_timeout_ms;    /* response_timeout (5 min) */
	int64_t stream_idle_timeout_ms; /* stream_idle_timeout (2 min) */
	int64_t wait_for_worker_ms;     /* wait_for_worker (30 s) */
	int attempts;                   /* attempts (3) */
	int eject_after;                /* eject_after (3; 0: never) */
	int64_t eject_time_ms;          /* eject_time (5 s) */
	int64_t eject_max_ms;           /* eject_max (2 min) */
	int upstream_idle;              /* upstream_idle (256) */
	int max_migrations;             /* max_migrations (2; 0: none) */
	/* [routing] */
	bool migrate;                   /* migrate (true) */
	struct proxy_route_params route;/* imbalance_abs, imbalance_rel, cache_threshold */
	int prefix_block;               /* prefix_block, bytes (64) */
	int prefix_max_blocks;          /* prefix_max_blocks (2048) */
	int prefix_entries;             /* prefix_entries (262144) */
};

/* Keys of [routing] that this module reads, for the registry's check of
 * unknown keys (policy is the registry's). */
#define PROXY_CONFIG_ROUTING_KEYS                                              \
	"imbalance_abs", "imbalance_rel", "cache_threshold", "prefix_block",   \
		"prefix_max_blocks", "prefix_entries", "migrate"

void proxy_config_init(struct proxy_config *pc);
void proxy_config_free(struct proxy_config *pc);

/* Reads the [proxy] table of ROOT (absent: defaults stay), reporting
 * unknown keys and bad values through C. */
void proxy_config_parse(struct tcfg *c, const struct toml_value *root, struct proxy_config *pc);
/* Reads this module's keys of the [routing] table ROUTING (may be NULL). */
void proxy_config_parse_routing(struct tcfg *c, const struct toml_value *routing,
				struct proxy_config *pc);

/* Parses "auto", "required" or "off"; returns 0, or -1. */
int proxy_keys_mode_parse(const char *s, enum proxy_keys_mode *out);

/* Parses a size: digits with an optional unit (B, KiB, MiB, GiB, k, M, G
 * as powers of 1024). Returns 0, or -1. */
int proxy_parse_size(const char *s, int64_t *out);

#endif
