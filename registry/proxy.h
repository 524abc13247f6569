/* proxy.h — elastic-registry's OpenAI-compatible proxy.
 *
 * On the registry's event loop and HTTP server: POST /v1/chat/completions,
 * /v1/completions and /v1/embeddings are routed by their "model" to a
 * ready worker of that model; GET /v1/models lists the models with a ready
 * worker; other /v1/ paths go to a worker of the model named in the JSON
 * body (or ?model=, or the only model served). Every error is OpenAI's
 * error JSON (lib/oai).
 *
 * A request's life (struct proxy_req, in proxy.c, holds both sides):
 *
 *   arrive  the head and body are read (lib/httpd: max_body, header and
 *           body timeouts); the API key is checked; proxy_json scans the
 *           body for model, stream, user and the prompt, whose blocks are
 *           hashed (proxy_prefix) on the way
 *   route   the pool's ready workers, less the ejected ones and those this
 *           request tried, go to the policy (proxy_route): the pool's
 *           [routing] policy, or X-Elastic-Policy. No ready worker: the
 *           request waits (wait_for_worker), then gets 503 + Retry-After
 *   attempt lib/httpc sends it to the worker (keep-alive pool); the
 *           worker's in-flight count goes up
 *   answer  a text/event-stream response is passed on chunk by chunk as it
 *           arrives (a slow client pauses the upstream read); any other is
 *           collected and sent whole, with its Content-Length. Either way
 *           with X-Elastic-Worker naming the worker
 *   retry   connect failure, reset, timeout or a 500/502/503/504 before the
 *           response was accepted: the attempt counts against the worker
 *           (outlier ejection) and the request goes to another worker, up
 *           to `attempts` in all. Never once a byte reached the client
 *   migrate a failure after that (stream migration, proxy_migrate.h): in a
 *           pool with migration on ([routing] migrate, the default),
 *           chat and completions answers are taken event by event (a
 *           non-streamed request migration can serve is sent upstream as a
 *           stream and its answer assembled), so the proxy knows the text
 *           and tokens so far. When the worker fails mid-answer (reset or
 *           closed before "data: [DONE]", stream_idle_timeout, an event
 *           that is not JSON or an error event, or the worker leaving the
 *           registry for any reason but a drain), a continuation (the text
 *           so far sent back, max_tokens less what was generated) goes to a
 *           worker that has not failed this request, and its events are
 *           spliced into the same response, up to [proxy] max_migrations
 *           times. A request that cannot migrate (n > 1, logprobs, tool
 *           calls in progress, the limit reached, no other worker within
 *           wait_for_worker) ends: a stream with an error event in
 *           OpenAI's error JSON and "data: [DONE]", as vLLM ends one, other
 *           requests with 502. In a pool with migration off, answers are
 *           passed on as they come and a stream that fails after its first
 *           byte is cut (the client sees an incomplete chunked response)
 *   end     exactly one reply; the attempt's in-flight count comes down on
 *           every path (done, failed, retried, migrated, client gone, shutdown)
 *
 * A client that disconnects cancels its upstream request (the engine sees
 * the connection close and aborts the generation).
 */
#ifndef ES_PROXY_H
#define ES_PROXY_H

#include "buf.h"
#include "proxy_config.h"
#include "reg_workers.h"

struct httpd_config;
struct httpd_req;
struct reg;
struct proxy;

/* Applies the proxy's client-side limits (body size, timeouts,
 * connections) to the registry's HTTP server configuration. */
void proxy_httpd_config(const struct proxy_config *pc, struct httpd_config *hc);

/* Creates the proxy of R (after R's HTTP server listens: it reads the
 * listen address, the generated API key and R->cfg->proxy). Returns NULL
 * with ERR (e.g. an unreadable keys file). */
struct proxy *proxy_new(struct reg *r, char *err, size_t errlen);

/* Stops taking requests that would wait for a worker: those waiting get
 * 503 now. Requests in flight go on. */
void proxy_stop(struct proxy *p);

/* Ends every request now (streams cut, others 503) and frees the proxy.
 * Before the HTTP server and the worker table are freed. */
void proxy_free(struct proxy *p);

/* Handles a request whose path is /v1 or starts with /v1/. */
void proxy_handle(struct proxy *p, struct httpd_req *req);

/* The worker table's hook: W changed state (from FROM). */
void proxy_worker_changed(struct proxy *p, struct reg_worker *w, enum reg_wstate from);

/* Appends the proxy's metrics (Prometheus text) to OUT. */
void proxy_render_metrics(struct proxy *p, struct buf *out);

/* Whether the OpenAI side asks for API keys. */
bool proxy_keys_required(const struct proxy *p);

#endif
