#!/usr/bin/env python3
"""proxy_load.py — concurrent OpenAI requests for the proxy's integration tests.

    proxy_load.py URL MODEL -n 200 -c 16 [--stream 0.5] [--leave 0.1]
                  [--max-tokens 8] [--seed 1]

Sends N chat completions (a fraction streamed) with C at a time over keep-alive
connections, and checks each answer: status 200, a JSON body naming the
completion, or an SSE stream that ends with "data: [DONE]" and holds no error
event (a stream that failed after it began ends with one). A fraction of the
streamed requests walk away after their first event (closing the connection).
Prints one JSON line: {"ok": .., "left": .., "failed": [reasons...],
"workers": {X-Elastic-Worker: count}}.
"""
import argparse
import http.client
import json
import random
import sys
import threading
import urllib.parse


def one(conn_box, u, model, stream, leave, max_tokens, rnd):
    body = json.dumps({
        "model": model,
        "messages": [{"role": "user", "content": "request %d" % rnd.randrange(1 << 30)}],
        "max_tokens": max_tokens,
        "stream": stream,
    })
    c = conn_box[0]
    if c is None:
        c = conn_box[0] = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    try:
        c.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
        r = c.getresponse()
    except (http.client.HTTPException, OSError) as e:
        # The proxy never closes a keep-alive connection under a request.
        c.close()
        conn_box[0] = None
        return "no response: %s: %s" % (type(e).__name__, e), None
    worker = r.getheader("X-Elastic-Worker")
    if r.status != 200:
        data = r.read()
        return "status %d: %s" % (r.status, data[:200]), worker
    if not stream:
        data = r.read()
        try:
            o = json.loads(data)
        except ValueError:
            return "not JSON: %r" % data[:200], worker
        if o.get("object") != "chat.completion":
            return "bad body: %r" % data[:200], worker
        return None, worker
    buf = b""
    try:
        while True:
            d = r.read1(65536)
            if not d:
                break
            buf += d
            if leave and b"\n\n" in buf:
                c.close()
                conn_box[0] = None
                return "left", worker
    except (http.client.IncompleteRead, ConnectionResetError) as e:
        c.close()
        conn_box[0] = None
        return "stream cut: %s" % e, worker
    if not buf.endswith(b"data: [DONE]\n\n"):
        return "incomplete stream: %r" % buf[-100:], worker
    # A stream that failed after it began ends with an error event, then [DONE].
    for ev in buf.split(b"\n\n"):
        if ev.startswith(b"data: {\"error\""):
            return "stream error event: %r" % ev[:200], worker
    return None, worker


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("model")
    ap.add_argument("-n", type=int, default=100)
    ap.add_argument("-c", type=int, default=8)
    ap.add_argument("--stream", type=float, default=0.5)
    ap.add_argument("--leave", type=float, default=0.0)
    ap.add_argument("--max-tokens", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    u = urllib.parse.urlparse(a.url)
    lock = threading.Lock()
    res = {"ok": 0, "left": 0, "failed": [], "workers": {}}
    todo = list(range(a.n))

    def worker_thread(k):
        rnd = random.Random(a.seed * 1000 + k)
        box = [None]
        while True:
            with lock:
                if not todo:
                    break
                todo.pop()
            stream = rnd.random() < a.stream
            leave = stream and rnd.random() < a.leave
            try:
                err, w = one(box, u, a.model, stream, leave, a.max_tokens, rnd)
            except Exception as e:  # noqa: BLE001 - every failure is reported
                err, w = "%s: %s" % (type(e).__name__, e), None
                if box[0]:
                    box[0].close()
                box[0] = None
            with lock:
                if w:
                    res["workers"][w] = res["workers"].get(w, 0) + 1
                if err is None:
                    res["ok"] += 1
                elif err == "left":
                    res["left"] += 1
                else:
                    res["failed"].append(err)

    ts = [threading.Thread(target=worker_thread, args=(k,)) for k in range(a.c)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
