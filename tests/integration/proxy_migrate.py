#!/usr/bin/env python3
"""proxy_migrate.py — stream migration through a real registry and real sims.

    proxy_migrate.py REGISTRY_URL SIM DIR PART [--model M] [-n N] [--seed S]
                     [--sims K] [--output-len L] [--itl-ms MS]

Starts K elastic-sim processes (SIM, logs and port files in DIR) registered
as ready workers of M (ids 7.nI.0) through the registry's control API, and a
reference sim that is never killed (not registered). Each request is sent
through the proxy one at a time; while a worker serves it, that worker is
killed with SIGKILL (then started again on a new port and registered again
under its id, for the next request). PART:

  kill     N streamed and N non-streamed requests (chat and completions, with
           and without max_tokens, a fixed seed each), the serving sim killed
           at a random token (streams: after a random number of the client's
           content events; others: at a random time within the generation).
           Every answer must be the reference's (the same request to the
           reference sim, uninterrupted) byte for byte in its text, with its
           finish_reason and usage, in one well-formed response: one id, no
           error event, one "data: [DONE]", HTTP 200
  refuse   streamed chat with logprobs (not migratable), killed mid-stream:
           the client's stream ends with an error event, then [DONE]
  off      a stream of M (a pool whose migration is off) killed mid-stream:
           cut as before (no error event, no [DONE])
  gone     a stream whose worker stops (SIGSTOP) and leaves the registry
           (deregistered, engine_exit): it goes on on another worker at
           once; then one whose worker is drained (deregistered, sigterm)
           and resumes (SIGCONT): it ends on that worker, not migrated

Prints one JSON line of figures; exits 1 with the failures on stderr.
"""
import argparse
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

WORDS = ("alpha beta gamma delta river stone cloud light paper window garden "
         "silver orange music winter summer bridge forest").split()


class Sims:
    """The sims of one model: started, registered, killed, started again."""

    def __init__(self, a, model, job):
        self.a, self.model, self.job = a, model, job
        self.procs = {}  # id -> Popen
        self.ports = {}
        self.serial = 0

    def start(self, wid, register=True):
        self.serial += 1
        pf = os.path.join(self.a.dir, "sim-%s-%d.port" % (wid, self.serial))
        if os.path.exists(pf):
            os.unlink(pf)  # an earlier part's
        log = open(os.path.join(self.a.dir, "sim-%s-%d.log" % (wid, self.serial)), "w")
        p = subprocess.Popen([self.a.sim, "--host", "127.0.0.1", "--port", "0", "--port-file", pf,
                              "--served-model-name", self.model, "--log-level", "warn"]
                             + sim_flags(self.a), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        for _ in range(400):
            if os.path.exists(pf) and os.path.getsize(pf) > 0:
                break
            if p.poll() is not None:
                sys.exit("sim %s exited at start" % wid)
            time.sleep(0.025)
        else:
            sys.exit("sim %s did not start" % wid)
        self.procs[wid] = p
        self.ports[wid] = int(open(pf).read())
        if register:
            self.register(wid)
        return p

    def register(self, wid):
        port = self.ports[wid]
        node = wid.split(".")[1]
        r = api(self.a, "POST", "/api/v1/workers", {
            "id": wid, "model": self.model, "url": "http://127.0.0.1:%d" % port,
            "host": "127.0.0.1", "port": port, "job_id": self.job, "node": node, "slice": 0,
            "gpus": "0", "tp": 1, "job_end": 0, "state": "ready"})
        if '"state":"ready"' not in r.replace(" ", ""):
            sys.exit("cannot register %s: %s" % (wid, r))

    def kill(self, wid):
        p = self.procs.pop(wid)
        p.send_signal(signal.SIGKILL)
        p.wait()

    def restart(self, wid):
        if wid in self.procs:
            self.kill(wid)
        self.start(wid)

    def stop_all(self, deregister=True):
        if deregister and self.ports:
            # Out of the registry, so that the next part meets none of them.
            api(self.a, "POST", "/api/v1/deregister",
                {"job_id": self.job, "ids": sorted(self.ports), "reason": "shutdown"})
        for p in self.procs.values():
            try:
                p.send_signal(signal.SIGCONT)
                p.send_signal(signal.SIGKILL)
                p.wait()
            except OSError:
                pass
        self.procs = {}


def sim_flags(a):
    return ["--output-len", str(a.output_len), "--itl-ms", str(a.itl_ms), "--ttft-ms", "10",
            "--itl-us-per-seq", "0", "--prefill-us-per-token", "0"]


def api(a, method, path, body=None):
    u = urllib.parse.urlparse(a.url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    c.request(method, path, json.dumps(body) if body is not None else None,
              {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read().decode()
    c.close()
    return data


def serving(a, model):
    """The id of the worker of MODEL with a request in flight, or None."""
    ws = json.loads(api(a, "GET", "/api/v1/workers"))["workers"]
    for w in ws:
        if w["model"] == model and w.get("inflight", 0) > 0:
            return w["id"]
    return None


def make_request(rnd, chat, stream, seed, output_len, logprobs=False):
    prompt = " ".join(rnd.choice(WORDS) for _ in range(rnd.randrange(3, 12)))
    body = {"seed": seed}
    if chat:
        body["messages"] = [{"role": "system", "content": "Answer at length."},
                            {"role": "user", "content": prompt}]
    else:
        # Ending in a separator: the engine's tokenizer does not merge the
        # prompt's last word with the first generated one, so that the
        # continuation's prompt is the original's tokens plus the text's
        # (the usage figures depend on it; see elastic-registry(8)).
        body["prompt"] = prompt + "\nAnswer:"
    r = rnd.random()
    if r < 0.4:
        body["max_tokens"] = rnd.randrange(6, output_len)  # ends by "length"
    elif r < 0.6:
        body["max_tokens"] = output_len + 10  # ends by "stop" first
    if stream:
        body["stream"] = True
        if rnd.random() < 0.8:
            body["stream_options"] = {"include_usage": True}
    if logprobs:
        body["logprobs"] = True
    return body


def post(host, port, path, body, timeout=60):
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    return c, c.getresponse()


def reference(a, ref_port, path, body):
    b = dict(body)
    b.pop("stream", None)
    b.pop("stream_options", None)
    c, r = post("127.0.0.1", ref_port, path, b)
    data = r.read()
    c.close()
    if r.status != 200:
        sys.exit("reference: %d %s" % (r.status, data[:300]))
    o = json.loads(data)
    ch = o["choices"][0]
    text = ch["message"]["content"] if "message" in ch else ch["text"]
    u = o["usage"]
    return {"text": text, "finish": ch["finish_reason"], "prompt_tokens": u["prompt_tokens"],
            "completion_tokens": u["completion_tokens"], "total_tokens": u["total_tokens"]}


def content_event(ev):
    """1 if the event EV (bytes) carries generated text, else 0."""
    if not ev.startswith(b"data: {"):
        return 0
    try:
        o = json.loads(ev[6:])
    except ValueError:
        return 0
    for ch in o.get("choices") or []:
        if (ch.get("delta") or {}).get("content") or ch.get("text"):
            return 1
    return 0


def metric(a, series):
    """The value of one series of the registry's /metrics (0 when absent)."""
    for line in api(a, "GET", "/metrics").splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0


class Client(threading.Thread):
    """One request through the proxy; for streams, counts content events and
    sets `reached` once `kill_at` of them came."""

    def __init__(self, a, path, body, kill_at=None):
        super().__init__(daemon=True)
        self.a, self.path, self.body, self.kill_at = a, path, body, kill_at
        self.reached = threading.Event()
        self.status = None
        self.raw = b""
        self.error = None
        self.complete = False  # the response body ended properly
        self.headers = {}
        self.events_before_kill = None

    def run(self):
        u = urllib.parse.urlparse(self.a.url)
        try:
            c, r = post(u.hostname, u.port, self.path, self.body)
            self.status = r.status
            self.headers = {k.lower(): v for k, v in r.getheaders()}
            if not self.body.get("stream"):
                self.raw = r.read()
                self.complete = True
                self.reached.set()
                return
            n, buf = 0, b""
            while True:
                d = r.read1(65536)
                if not d:
                    break
                buf += d
                while b"\n\n" in buf:
                    ev, buf = buf.split(b"\n\n", 1)
                    self.raw += ev + b"\n\n"
                    n += content_event(ev)
                    if self.kill_at is not None and n >= self.kill_at and not self.reached.is_set():
                        self.events_before_kill = n
                        self.reached.set()
            self.raw += buf
            self.complete = True
        except (http.client.HTTPException, OSError) as e:
            self.error = "%s: %s" % (type(e).__name__, e)
        finally:
            self.reached.set()


def parse_stream(raw):
    """(events as JSON objects or "[DONE]", problems)."""
    evs, bad = [], []
    for ev in raw.decode().split("\n\n"):
        if not ev.strip():
            continue
        if not ev.startswith("data: "):
            bad.append("not a data event: %r" % ev[:80])
            continue
        d = ev[6:]
        if d == "[DONE]":
            evs.append("[DONE]")
            continue
        try:
            evs.append(json.loads(d))
        except ValueError:
            bad.append("not JSON: %r" % d[:80])
    return evs, bad


def check_answer(a, chat, body, ref, cl):
    """Problems with the client's answer, compared with the reference."""
    probs = []
    if cl.error or not cl.complete:
        return ["%s (incomplete response)" % cl.error]
    if cl.status != 200:
        return ["status %d: %r" % (cl.status, cl.raw[:300])]
    want_usage = not body.get("stream") or body.get("stream_options", {}).get("include_usage")
    if not body.get("stream"):
        try:
            o = json.loads(cl.raw)
        except ValueError:
            return ["not JSON: %r" % cl.raw[:200]]
        ch = o["choices"][0]
        text = ch["message"]["content"] if chat else ch["text"]
        finish, usage = ch["finish_reason"], o.get("usage")
        if o.get("object") != ("chat.completion" if chat else "text_completion"):
            probs.append("object %r" % o.get("object"))
        if not str(o.get("id", "")).startswith("chatcmpl-" if chat else "cmpl-"):
            probs.append("id %r" % o.get("id"))
    else:
        evs, probs = parse_stream(cl.raw)
        if evs.count("[DONE]") != 1 or evs[-1] != "[DONE]":
            probs.append("%d [DONE] events, last %r" % (evs.count("[DONE]"), evs[-1:]))
        objs = [e for e in evs if e != "[DONE]"]
        errs = [e for e in objs if "error" in e]
        if errs:
            probs.append("error event: %r" % errs[0])
        ids = {(e.get("id"), e.get("created"), e.get("model")) for e in objs}
        if len(ids) != 1:
            probs.append("several ids: %r" % ids)
        text, finish, usage, roles = "", None, None, 0
        for e in objs:
            if e.get("usage"):
                usage = e["usage"]
            for ch in e.get("choices", []):
                if chat:
                    d = ch.get("delta", {})
                    text += d.get("content") or ""
                    roles += "role" in d
                else:
                    text += ch.get("text") or ""
                if ch.get("finish_reason"):
                    if finish:
                        probs.append("two finish reasons")
                    finish = ch["finish_reason"]
        if chat and roles != 1:
            probs.append("%d role chunks" % roles)
    if text != ref["text"]:
        probs.append("text %r != reference %r" % (text, ref["text"]))
    if finish != ref["finish"]:
        probs.append("finish %r != reference %r" % (finish, ref["finish"]))
    if want_usage:
        got = usage and {k: usage.get(k) for k in ("prompt_tokens", "completion_tokens",
                                                   "total_tokens")}
        want = {k: ref[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
        if got != want:
            probs.append("usage %r != reference %r" % (got, want))
    elif usage:
        probs.append("usage the client did not ask for: %r" % usage)
    return probs


def part_kill(a, sims, ref_port, rnd):
    figures = {"stream": {"n": 0, "killed_mid": 0}, "plain": {"n": 0, "migrated": 0}}
    failed = []
    kinds = ["stream"] * a.n + ["plain"] * a.n
    rnd.shuffle(kinds)
    for i, kind in enumerate(kinds):
        chat = rnd.random() < 0.5
        path = "/v1/chat/completions" if chat else "/v1/completions"
        body = make_request(rnd, chat, kind == "stream", a.seed * 1000 + i, a.output_len)
        body["model"] = a.model
        ref = reference(a, ref_port, path, body)
        n_tokens = ref["completion_tokens"]
        kill_at = rnd.randrange(1, max(2, n_tokens)) if kind == "stream" else None
        cl = Client(a, path, body, kill_at)
        cl.start()
        # The worker serving it.
        wid = None
        t0 = time.monotonic()
        while wid is None and cl.is_alive() and time.monotonic() - t0 < 10:
            wid = serving(a, a.model)
            if wid is None:
                time.sleep(0.005)
        if wid is None:
            failed.append("request %d: no worker was seen serving it" % i)
            cl.join(30)
            continue
        if kind == "stream":
            cl.reached.wait(20)
            done_before = b"[DONE]" in cl.raw
        else:
            # A random time within the generation (TTFT 10 ms, then ITL).
            time.sleep(0.01 + rnd.uniform(0.05, 0.9) * n_tokens * a.itl_ms / 1000)
            done_before = not cl.is_alive()
        sims.restart(wid)
        cl.join(60)
        if cl.is_alive():
            failed.append("request %d (%s): no answer in 60 s" % (i, kind))
            continue
        figures[kind]["n"] += 1
        if kind == "stream" and not done_before:
            figures["stream"]["killed_mid"] += 1
        if kind == "plain" and cl.headers.get("x-elastic-migrations"):
            figures["plain"]["migrated"] += 1
        for p in check_answer(a, chat, body, ref, cl):
            failed.append("request %d (%s %s, killed %s at %s, seed %d): %s" % (
                i, kind, "chat" if chat else "completions", wid,
                "event %s" % kill_at if kind == "stream" else "a random time",
                body["seed"], p))
    return figures, failed


def stream_until(a, sims, path, body, k):
    """Starts a stream, waits for K content events; returns (client, worker id)."""
    cl = Client(a, path, body, k)
    cl.start()
    cl.reached.wait(20)
    wid = cl.headers.get("x-elastic-worker")
    if not wid or not cl.is_alive():
        print("the stream to kill: status %s, %s, %r; workers: %s; ports %s" % (
            cl.status, cl.error, cl.raw[-300:], api(a, "GET", "/api/v1/workers"), sims.ports),
              file=sys.stderr)
        return cl, None
    return cl, wid


def part_refuse(a, sims, ref_port, rnd):
    body = make_request(rnd, True, True, a.seed, a.output_len, logprobs=True)
    body.pop("max_tokens", None)
    body["model"] = a.model
    cl, wid = stream_until(a, sims, "/v1/chat/completions", body, 3)
    if not wid:
        return {}, ["refuse: no worker serving the stream"]
    sims.restart(wid)
    cl.join(30)
    probs = []
    if cl.error or not cl.complete or cl.status != 200:
        probs.append("refuse: the stream did not end properly: %s %s" % (cl.status, cl.error))
    evs, bad = parse_stream(cl.raw)
    probs += ["refuse: " + b for b in bad]
    if len(evs) < 3 or evs[-1] != "[DONE]" or not isinstance(evs[-2], dict) \
            or "error" not in evs[-2]:
        probs.append("refuse: no error event then [DONE] at the end: %r" % cl.raw[-400:])
    else:
        e = evs[-2]["error"]
        if e.get("code") != 502 or "logprobs" not in e.get("message", ""):
            probs.append("refuse: error event %r" % e)
    return {"error_event": evs[-2] if len(evs) > 1 else None}, probs


def part_off(a, sims, ref_port, rnd):
    body = make_request(rnd, True, True, a.seed, a.output_len)
    body.pop("max_tokens", None)
    body["model"] = a.model
    cl, wid = stream_until(a, sims, "/v1/chat/completions", body, 3)
    if not wid:
        return {}, ["off: no worker serving the stream"]
    sims.restart(wid)
    cl.join(30)
    probs = []
    if cl.complete and b"[DONE]" in cl.raw:
        probs.append("off: the stream was not cut: %r" % cl.raw[-300:])
    if b'"error"' in cl.raw:
        probs.append("off: an error event with migration off")
    return {"cut": not (cl.complete and b"[DONE]" in cl.raw), "client_error": cl.error}, probs


def part_gone(a, sims, ref_port, rnd):
    probs, fig = [], {}
    for how in ("engine_exit", "sigterm"):
        body = make_request(rnd, True, True, a.seed + (how == "sigterm"), a.output_len)
        body.pop("max_tokens", None)
        body["model"] = a.model
        ref = reference(a, ref_port, "/v1/chat/completions", body)
        cl, wid = stream_until(a, sims, "/v1/chat/completions", body, 3)
        if not wid:
            probs.append("gone %s: no worker serving the stream" % how)
            continue
        ok0 = metric(a, 'elastic_proxy_migrations_total{pool="%s",outcome="ok"}' % a.model)
        sims.procs[wid].send_signal(signal.SIGSTOP)
        t0 = time.monotonic()
        api(a, "POST", "/api/v1/deregister", {"job_id": sims.job, "ids": [wid], "reason": how})
        if how == "sigterm":
            time.sleep(0.5)
            sims.procs[wid].send_signal(signal.SIGCONT)
        cl.join(30)
        fig[how] = round(time.monotonic() - t0, 3)
        moved = metric(a, 'elastic_proxy_migrations_total{pool="%s",outcome="ok"}' % a.model) - ok0
        if moved != (1 if how == "engine_exit" else 0):
            probs.append("gone %s: %d migrations" % (how, moved))
        if how == "engine_exit" and fig[how] > 10:
            probs.append("gone %s: the stream took %.1f s more (not moved at once)" % (how, fig[how]))
        for p in check_answer(a, True, body, ref, cl):
            probs.append("gone %s: %s" % (how, p))
        served = cl.headers.get("x-elastic-worker")
        if served != wid:
            probs.append("gone %s: served by %s, not %s" % (how, served, wid))
        sims.restart(wid)
    return fig, probs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("sim")
    ap.add_argument("dir")
    ap.add_argument("part", choices=("kill", "refuse", "off", "gone"))
    ap.add_argument("--model", default="m")
    ap.add_argument("--job", default="7")
    ap.add_argument("-n", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sims", type=int, default=2)
    ap.add_argument("--output-len", type=int, default=24)
    ap.add_argument("--itl-ms", type=int, default=20)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    sims = Sims(a, a.model, a.job)
    ref = Sims(a, a.model, a.job)
    try:
        ref.start("ref.r.0", register=False)
        for k in range(a.sims):
            sims.start("%s.n%d.0" % (a.job, k + 1))
        part = {"kill": part_kill, "refuse": part_refuse, "off": part_off, "gone": part_gone}
        fig, failed = part[a.part](a, sims, ref.ports["ref.r.0"], rnd)
    finally:
        sims.stop_all()
        ref.stop_all(deregister=False)
    print(json.dumps({"part": a.part, "figures": fig, "failed": len(failed)}))
    for f in failed[:20]:
        print("  " + f, file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
