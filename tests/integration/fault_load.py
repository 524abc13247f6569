#!/usr/bin/env python3
"""fault_load.py — steady OpenAI load for the fault-injection tests.

    fault_load.py URL MODEL STOPFILE [-c 8] [--stream 0.5] [--max-tokens 24]
                  [--max-seconds 300] [--key KEY]

Sends chat completions (a fraction streamed) with C clients at a time until
STOPFILE exists, each client on its own keep-alive connection (a new one
after an error), and records what every client saw:

  ok        200 with a chat.completion body, or a stream ending in [DONE]
  cut       a stream that started (200, events) and ended without [DONE],
            or with an error event (how the proxy ends a failed stream)
  refused   no connection (the endpoint is down)
  error     a response other than 200 (status and the error's message)
  broken    a 200 that is not what OpenAI sends (not JSON, bad events)
  timeout   no answer within 30 s

Prints one JSON object: counts per outcome, the first few messages of each,
the time of the first and last failure relative to the start, and per
second of the run the outcomes ("timeline"), so that a test can say what
clients saw around its fault.
"""
import argparse
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse


def one(box, u, a, stream, rnd):
    body = json.dumps({
        "model": a.model,
        "messages": [{"role": "user", "content": "fault load %d" % rnd.randrange(1 << 30)}],
        "max_tokens": a.max_tokens,
        "stream": stream,
    })
    hdr = {"Content-Type": "application/json"}
    if a.key:
        hdr["Authorization"] = "Bearer " + a.key
    c = box[0]
    if c is None:
        c = box[0] = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        c.request("POST", "/v1/chat/completions", body, hdr)
        r = c.getresponse()
    except ConnectionRefusedError:
        return "refused", "connection refused"
    except TimeoutError:
        return "timeout", "no response head in 30 s"
    except (http.client.HTTPException, OSError) as e:
        return "refused", "%s: %s" % (type(e).__name__, e)
    if r.status != 200:
        data = r.read()
        try:
            msg = json.loads(data)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            msg = repr(data[:120])
        return "error", "%d %s" % (r.status, msg[:160])
    if not stream:
        data = r.read()
        try:
            o = json.loads(data)
        except ValueError:
            return "broken", "not JSON: %r" % data[:60]
        if not isinstance(o, dict) or o.get("object") != "chat.completion":
            return "broken", "not a chat.completion: %r" % data[:60]
        return "ok", None
    buf = b""
    try:
        while True:
            d = r.read1(65536)
            if not d:
                break
            buf += d
    except TimeoutError:
        return "cut", "stream stalled for 30 s after %d bytes" % len(buf)
    except (http.client.HTTPException, OSError) as e:
        return "cut", "stream cut after %d bytes: %s" % (len(buf), type(e).__name__)
    if not buf.endswith(b"data: [DONE]\n\n"):
        return "cut", "stream ended without [DONE] after %d bytes" % len(buf)
    for ev in buf.split(b"\n\n")[:-2]:
        if not ev.startswith(b"data: "):
            continue
        try:
            o = json.loads(ev[6:])
        except ValueError:
            return "broken", "an event is not JSON: %r" % ev[:60]
        if isinstance(o, dict) and "error" in o:
            # How the proxy ends a stream that failed after it began.
            return "cut", "stream ended by an error event after %d bytes: %.120s" % (
                len(buf), str(o["error"].get("message") if isinstance(o["error"], dict)
                              else o["error"]))
    return "ok", None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("model")
    ap.add_argument("stopfile")
    ap.add_argument("-c", type=int, default=8)
    ap.add_argument("--stream", type=float, default=0.5)
    ap.add_argument("--max-tokens", type=int, default=24)
    ap.add_argument("--max-seconds", type=float, default=300)
    ap.add_argument("--key", default=os.environ.get("FAULT_LOAD_KEY", ""))
    a = ap.parse_args()
    u = urllib.parse.urlparse(a.url)
    lock = threading.Lock()
    t0 = time.monotonic()
    res = {"counts": {}, "examples": {}, "first_failure": None, "last_failure": None,
           "timeline": {}}
    stop = threading.Event()

    def note(kind, msg):
        t = time.monotonic() - t0
        with lock:
            res["counts"][kind] = res["counts"].get(kind, 0) + 1
            sec = res["timeline"].setdefault(str(int(t)), {})
            sec[kind] = sec.get(kind, 0) + 1
            if kind != "ok":
                ex = res["examples"].setdefault(kind, [])
                if len(ex) < 5:
                    ex.append("%.1f s: %s" % (t, msg))
                if res["first_failure"] is None:
                    res["first_failure"] = round(t, 2)
                res["last_failure"] = round(t, 2)

    def client(k):
        rnd = random.Random(k)
        box = [None]
        while not stop.is_set():
            kind, msg = one(box, u, a, rnd.random() < a.stream, rnd)
            note(kind, msg)
            if kind != "ok" and box[0] is not None:
                box[0].close()
                box[0] = None
            if kind == "refused":
                time.sleep(0.1)

    ts = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(a.c)]
    for t in ts:
        t.start()
    while not os.path.exists(a.stopfile) and time.monotonic() - t0 < a.max_seconds:
        time.sleep(0.1)
    stop.set()
    for t in ts:
        t.join(35)
    res["seconds"] = round(time.monotonic() - t0, 1)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
