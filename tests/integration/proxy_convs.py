#!/usr/bin/env python3
"""proxy_convs.py — multi-turn conversations through the proxy, for the
routing policies' integration test.

    proxy_convs.py URL MODEL POLICY [--convs 16] [--turns 6] [-c 4] [--salt S]

Each conversation has its own system prompt and grows by a user message and
an assistant reply each turn (the whole history is sent, as chat clients do),
so that a worker that served turn T holds turn T+1's prefix in its KV cache.
Turns go out turn by turn over all conversations, C at a time, with
X-Elastic-Policy: POLICY. Prints JSON: {"sent": N, "failed": [..],
"home_changes": how often a conversation moved to another worker,
"workers": {id: requests}, "homes": {conv: last worker}}.
"""
import argparse
import http.client
import json
import random
import sys
import threading
import urllib.parse

WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike "
         "november oscar papa quebec romeo sierra tango uniform victor whiskey xray").split()


def text(rnd, n):
    return " ".join(rnd.choice(WORDS) for _ in range(n))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("model")
    ap.add_argument("policy")
    ap.add_argument("--convs", type=int, default=16)
    ap.add_argument("--turns", type=int, default=6)
    ap.add_argument("-c", type=int, default=4)
    ap.add_argument("--salt", default="0")
    a = ap.parse_args()
    u = urllib.parse.urlparse(a.url)
    rnd = random.Random(a.salt)
    convs = []
    for i in range(a.convs):
        convs.append([{"role": "system",
                       "content": "Conversation %s-%d. %s" % (a.salt, i, text(rnd, 120))}])
    res = {"sent": 0, "failed": [], "home_changes": 0, "workers": {}, "homes": {}}
    lock = threading.Lock()
    local = threading.local()

    def send(i):
        msgs = convs[i]
        msgs.append({"role": "user", "content": text(rnd_for(i), 40)})
        body = json.dumps({"model": a.model, "messages": msgs, "max_tokens": 4, "seed": i})
        if not getattr(local, "c", None):
            local.c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        try:
            local.c.request("POST", "/v1/chat/completions", body,
                            {"Content-Type": "application/json", "X-Elastic-Policy": a.policy})
            r = local.c.getresponse()
            data = r.read()
        except (http.client.HTTPException, OSError) as e:
            local.c.close()
            local.c = None
            with lock:
                res["failed"].append(str(e))
            return
        w = r.getheader("X-Elastic-Worker")
        with lock:
            res["sent"] += 1
            if r.status != 200:
                res["failed"].append("%d %s" % (r.status, data[:100]))
                return
            res["workers"][w] = res["workers"].get(w, 0) + 1
            if i in res["homes"] and res["homes"][i] != w:
                res["home_changes"] += 1
            res["homes"][i] = w
        reply = json.loads(data)["choices"][0]["message"]["content"]
        msgs.append({"role": "assistant", "content": reply + " " + text(rnd_for(i), 40)})

    rnds = {}

    def rnd_for(i):
        with lock:
            return rnds.setdefault(i, random.Random("%s/%d" % (a.salt, i)))

    for _ in range(a.turns):
        todo = list(range(a.convs))
        rnd.shuffle(todo)

        def run():
            while True:
                with lock:
                    if not todo:
                        return
                    i = todo.pop()
                send(i)

        ts = [threading.Thread(target=run) for _ in range(a.c)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
