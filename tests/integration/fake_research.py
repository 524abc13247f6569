#!/usr/bin/env python3
"""fake_research.py — local fakes of the services elastic-research's tools
call, on one port, for the tests: Serper (web search), Jina Reader (page
reading), the Semantic Scholar Graph API and NCBI E-utilities. Python 3
standard library only.

Each service lives under a path prefix, so that each base URL can point at
this one server:

  ES_SERPER_URL=http://127.0.0.1:PORT/serper   POST /serper/search
  ES_JINA_URL=http://127.0.0.1:PORT/jina       GET  /jina/<URL>
  ES_S2_URL=http://127.0.0.1:PORT/s2           GET  /s2/graph/v1/paper/search, /s2/graph/v1/snippet/search
  ES_NCBI_URL=http://127.0.0.1:PORT/ncbi       GET  /ncbi/esearch.fcgi, /ncbi/esummary.fcgi
  GET /web/<ID>                                the corpus's pages as HTML (what Jina "reads")
  GET /health                                  200 ok

Answers follow the services' documented shapes:
  Serper   {"searchParameters": {...}, "organic": [{"title", "link", "snippet", "position"}], "credits": 1}
           errors {"message": "Unauthorized.", "statusCode": 403}
  Jina     Accept: application/json: {"code": 200, "status": 20000, "data": {"title",
           "description", "url", "content", "usage": {"tokens"}}}; otherwise text
           "Title: ...\\n\\nURL Source: ...\\n\\nMarkdown Content:\\n..."
           errors {"data": null, "code": 401, "name": "...", "status": 40103, "message", "readableMessage"}
  S2       paper search {"total", "offset", "next"?, "data": [{"paperId", requested fields}]},
           snippet search {"data": [{"snippet": {"text", "snippetKind", "section", ...},
           "score", "paper": {"corpusId", "title", "authors": [names], "openAccessInfo"}}],
           "retrievalVersion"}; errors {"error": "..."} (400), {"message": "Forbidden"} (403)
  NCBI     esearch {"header", "esearchresult": {"count", "retmax", "retstart", "idlist", ...}},
           esummary {"header", "result": {"uids": [...], "<uid>": {"uid", "title", "authors",
           "source", "pubdate", "articleids", ...}}}; a bad key: 400
           {"error": "API key invalid", "api-key": KEY, "type": "invalid", "status": "unknown"}

Keys are checked as the services do: Serper needs X-API-KEY (missing or
wrong: 403); Jina, S2 and NCBI work without one, but a wrong one is refused
(Jina 401 on Authorization: Bearer, S2 403 on x-api-key, NCBI 400 on
api_key=). The keys are --serper-key, --jina-key, --s2-key, --ncbi-key
(defaults fake-serper-key, fake-jina-key, fake-s2-key, fake-ncbi-key).

Faults, by what the query (or the URL for Jina, the term for PubMed) contains:
  __429__   429 with Retry-After: 1 (and the service's rate-limit body) the
            first two times for that query, then the normal answer
  __500__   500, always
  __slow__  the normal answer after --slow seconds (default 5)
  __html__  200 with an HTML page (not JSON)
  __bad__   200 with JSON of the wrong shape
  __badsummary__  (PubMed) esearch finds PMID 99999999, whose esummary is of the wrong shape

The corpus: questions with answers. Each question has a page (/web/<ID>)
whose text gives the answer in its first sentence, a paper (S2) whose
abstract gives it, and a PubMed record. A web search ranks the corpus's
pages by the words they share with the query: a question's own page comes
first for the question's text. --corpus FILE.json reads
  {"questions": [{"id": "q01", "question": "...", "answer": "...",
                  "title": "..."?, "statement": "..."?, "text": "..."?}]}
(title, statement — the sentence that gives the answer — and text — the
page — are made up when absent); without it, --questions N (default 20)
questions are generated, always the same ones.

  fake_research.py [--port P] [--port-file F] [--log F] [--corpus FILE.json]
                   [--questions N] [--slow S] [--serper-key K] ...
  fake_research.py --write-questions DIR [--corpus FILE.json] [--questions N]
      writes DIR/questions.jsonl ({"id": ..., "question": ...} a line),
      DIR/answers.jsonl ({"id": ..., "answer": ...} a line) and
      DIR/corpus.json (the corpus, for --corpus), then exits

--port-file F gets the port once the server listens (written whole, then
renamed); --log F gets one JSON line per request: {"service", "method",
"path", "query", "status", "auth"} ("auth": whether a key came with it).
"""

import argparse
import hashlib
import html
import json
import os
import re
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# ---------------------------------------------------------------- the corpus

NAMES = ["Veltrium", "Oskaran", "Lumbrecht", "Quessa", "Marrowind", "Tavelle",
         "Driscombe", "Halvardine", "Pyrenoch", "Sundermere", "Ketterby",
         "Ambrosine", "Wexhollow", "Corvantis", "Elmsgrave", "Brimwater",
         "Ostravel", "Fenwicke", "Gallowmere", "Istrelle"]
FIRST = ["Ada", "Bruno", "Clara", "Dmitri", "Elif", "Farid", "Greta", "Hugo",
         "Ines", "Jonas", "Kaori", "Lior", "Mira", "Nils", "Odile", "Pavel"]
LAST = ["Kessler", "Marchetti", "Okafor", "Lindqvist", "Haddad", "Novak",
        "Castellanos", "Brandt", "Yamamoto", "Ferreira", "Duval", "Sorensen"]
RIVERS = ["Amberlin", "Corrow", "Duskwater", "Elvane", "Farrow", "Glimmer",
          "Harrowdale", "Isenmoor"]


def person(i):
    return "%s %s" % (FIRST[(i * 5) % len(FIRST)], LAST[(i * 7) % len(LAST)])


def generate(n):
    """N questions, the same ones every time."""
    out = []
    for i in range(n):
        name = NAMES[i % len(NAMES)]
        if i >= len(NAMES):
            name = "%s %d" % (name, i // len(NAMES) + 1)
        kind = i % 5
        if kind == 0:
            year = str(1800 + (i * 37) % 200)
            q = "In which year was the %s Observatory founded?" % name
            title = "%s Observatory" % name
            st = "The %s Observatory was founded in %s." % (name, year)
            a = year
        elif kind == 1:
            k = str(900 + (i * 113) % 1500)
            q = "What is the melting point of the alloy %s-7, in kelvin?" % name
            title = "%s-7 (alloy)" % name
            st = "The alloy %s-7 melts at %s kelvin." % (name, k)
            a = "%s kelvin" % k
        elif kind == 2:
            who = person(i)
            q = "Who designed the %s Bridge?" % name
            title = "%s Bridge" % name
            st = "The %s Bridge was designed by %s." % (name, who)
            a = who
        elif kind == 3:
            pop = str(1000 + (i * 7919) % 90000)
            q = "What was the population of the town of %s at its last census?" % name
            title = "%s (town)" % name
            st = "At its last census the town of %s had a population of %s." % (name, pop)
            a = pop
        else:
            river = "the %s River" % RIVERS[i % len(RIVERS)]
            q = "Which river flows through the valley of %s?" % name
            title = "Valley of %s" % name
            st = "The valley of %s is crossed by %s." % (name, river)
            a = river
        out.append({"id": "q%02d" % (i + 1), "question": q, "answer": a,
                    "title": title, "statement": st})
    return out


FILLER = [
    "Records from the period are scattered across several regional archives, "
    "and historians still disagree about the order of some early events.",
    "Visitors often remark on the surroundings: terraces, old stone walls and "
    "a café that serves crème brûlée, naïve paintings on its walls.",
    "A survey published decades later measured 4,211 items in the collection, "
    "of which 318 were catalogued twice under different names.",
    "Local accounts in several languages (Ångström's notes, a letter from "
    "東京, a Greek inscription: Ελληνικά) mention it only in passing.",
    "Maintenance work in the following years replaced most of the original "
    "fittings; the few that remain are kept in a small museum nearby.",
]


def complete(entry, i):
    """Fills the parts of a corpus entry that may be absent."""
    e = dict(entry)
    e.setdefault("title", e["question"].rstrip("?"))
    e.setdefault("statement", "The answer to the question \"%s\" is %s." % (e["question"], e["answer"]))
    if "text" not in e:
        paras = ["# %s" % e["title"], e["statement"]]
        for k in range(8):
            paras.append(FILLER[(i + k) % len(FILLER)])
        paras.append("In summary: %s" % e["statement"])
        paras.append("Archive reference %s-END." % e["id"])
        e["text"] = "\n\n".join(paras) + "\n"
    e["pmid"] = str(31000000 + i)
    e["paperId"] = hashlib.sha1(e["id"].encode()).hexdigest()
    e["corpusId"] = 90000000 + i
    e["author"] = person(i + 3)
    return e


STOP = set("a an the of in on at to for and or is was were what which who whom "
           "when where why how did does do its it by from with as be this that "
           "at last".split())


def words(s):
    return [w for w in re.findall(r"[a-z0-9]+", s.lower()) if w not in STOP]


def rank(corpus, query):
    """The corpus entries that share words with QUERY, best first."""
    q = set(words(query))
    scored = []
    for i, e in enumerate(corpus):
        ew = set(words(e["question"] + " " + e["title"]))
        s = len(q & ew)
        if s:
            scored.append((-s, i, e))
    scored.sort(key=lambda t: (t[0], t[1]))
    return [e for _, _, e in scored]


# ---------------------------------------------------------------- the server

class Fake:
    def __init__(self, args, corpus):
        self.args = args
        self.corpus = corpus
        self.by_id = {e["id"]: e for e in corpus}
        self.by_pmid = {e["pmid"]: e for e in corpus}
        self.lock = threading.Lock()
        self.counts = {}
        self.log = open(args.log, "a", buffering=1) if args.log else None

    def count(self, key):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1
            return self.counts[key]

    def write_log(self, rec):
        if self.log:
            with self.lock:
                self.log.write(json.dumps(rec) + "\n")


HTML_PAGE = ("<!DOCTYPE html><html><head><title>Just a moment...</title></head>"
             "<body><p>Checking your browser before accessing the site.</p></body></html>")
BAD_SHAPE = {"unexpected": True, "results": "none"}


class Handler(BaseHTTPRequestHandler):
    server_version = "fake-research/1"
    fake = None  # set in main

    def log_message(self, fmt, *a):  # quiet
        pass

    # -------------------------------------------------- replies
    def reply(self, status, body, ctype="application/json", headers=None):
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        self.status = status
        # logged before the answer goes out: a client that counts requests
        # in the log once it has its answer finds this one there
        self.write_log()
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    def base(self):
        host = self.headers.get("Host") or "127.0.0.1:%d" % self.server.server_address[1]
        return "http://" + host

    # -------------------------------------------------- faults
    ERRORS = {
        "serper": {
            429: {"message": "Too many requests", "statusCode": 429},
            500: {"message": "Internal server error", "statusCode": 500},
        },
        "jina": {
            429: {"data": None, "code": 429, "name": "RateLimitTriggeredError", "status": 42903,
                  "message": "Per IP rate limit exceeded",
                  "readableMessage": "RateLimitTriggeredError: Per IP rate limit exceeded"},
            500: {"data": None, "code": 500, "name": "InternalServerError", "status": 50000,
                  "message": "Internal server error",
                  "readableMessage": "InternalServerError: Internal server error"},
        },
        "s2": {
            429: {"message": "Too Many Requests. Please wait and try again or apply for a key "
                             "for higher rate limits. https://www.semanticscholar.org/product/api#api-key-form",
                  "code": "429"},
            500: {"message": "Internal Server Error"},
        },
        "ncbi": {
            429: {"error": "API rate limit exceeded", "api-key": "127.0.0.1", "count": "11", "limit": "10"},
            500: {"error": "Internal Server Error"},
        },
    }

    def fault(self, service, text):
        """Answers a fault named in TEXT; True when it did. __slow__ only waits."""
        if "__429__" in text and self.fake.count((service, text)) <= 2:
            self.reply(429, self.ERRORS[service][429], headers={"Retry-After": "1"})
            return True
        if "__500__" in text:
            self.reply(500, self.ERRORS[service][500])
            return True
        if "__slow__" in text:
            time.sleep(self.fake.args.slow)
        if "__html__" in text:
            self.reply(200, HTML_PAGE, "text/html; charset=utf-8")
            return True
        if "__bad__" in text:
            self.reply(200, BAD_SHAPE)
            return True
        return False

    # -------------------------------------------------- dispatch
    def handle_any(self, method):
        self.status = 0
        self.service = "-"
        self.query_text = ""
        self.auth = False
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        try:
            if path == "/health":
                self.reply(200, "ok\n", "text/plain")
            elif path.startswith("/serper/"):
                self.service = "serper"
                self.serper(method, path[len("/serper"):])
            elif self.path.startswith("/jina/"):
                self.service = "jina"
                self.jina(method, self.path[len("/jina/"):])
            elif path.startswith("/s2/"):
                self.service = "s2"
                self.s2(method, path[len("/s2"):], urllib.parse.parse_qs(url.query))
            elif path.startswith("/ncbi/"):
                self.service = "ncbi"
                self.ncbi(method, path[len("/ncbi"):], urllib.parse.parse_qs(url.query))
            elif path.startswith("/web/") and method == "GET":
                self.web(path[len("/web/"):])
            else:
                self.reply(404, {"message": "no such path: %s" % path})
        finally:
            if not self.status:
                self.write_log()

    def write_log(self):
        self.fake.write_log({"service": self.service, "method": self.command,
                             "path": urllib.parse.urlsplit(self.path).path,
                             "query": self.query_text, "status": self.status, "auth": self.auth})

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    # -------------------------------------------------- Serper
    def serper(self, method, path):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n > 0 else b""
        key = self.headers.get("X-API-KEY")
        self.auth = key is not None
        if key != self.fake.args.serper_key:
            return self.reply(403, {"message": "Unauthorized.", "statusCode": 403})
        if method != "POST" or path != "/search":
            return self.reply(404, {"message": "Not found", "statusCode": 404})
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("q"), str) or not body["q"].strip():
            return self.reply(400, {"message": "Missing query parameter", "statusCode": 400})
        q = body["q"]
        self.query_text = q
        num = body.get("num", 10)
        if not isinstance(num, int) or num < 1:
            num = 10
        if self.fault("serper", q):
            return
        hits = rank(self.fake.corpus, q)[:num]
        organic = []
        for pos, e in enumerate(hits, 1):
            organic.append({
                "title": e["title"],
                "link": "%s/web/%s" % (self.base(), e["id"]),
                "snippet": "%s: an overview of its history, people and records." % e["title"],
                "position": pos,
            })
        self.reply(200, {"searchParameters": {"q": q, "type": "search", "num": num, "engine": "google"},
                         "organic": organic, "credits": 1})

    # -------------------------------------------------- Jina Reader
    def jina(self, method, target):
        auth = self.headers.get("Authorization")
        self.auth = auth is not None
        self.query_text = target
        if auth is not None and auth != "Bearer " + self.fake.args.jina_key:
            msg = "Invalid API key, please get a new one from https://jina.ai"
            return self.reply(401, {"data": None, "code": 401, "name": "AuthenticationFailedError",
                                    "status": 40103, "message": msg,
                                    "readableMessage": "AuthenticationFailedError: " + msg})
        if method != "GET":
            return self.reply(405, {"data": None, "code": 405, "name": "MethodNotAllowed",
                                    "status": 40500, "message": "use GET",
                                    "readableMessage": "MethodNotAllowed: use GET"})
        if self.fault("jina", target):
            return
        u = urllib.parse.urlsplit(target)
        if u.scheme not in ("http", "https") or not u.netloc:
            msg = "Invalid URL: %s" % target
            return self.reply(422, {"data": None, "code": 422, "name": "ParamValidationError",
                                    "status": 42206, "message": msg,
                                    "readableMessage": "ParamValidationError: " + msg})
        m = re.match(r"^/web/([A-Za-z0-9_-]+)$", u.path)
        if not m:
            msg = "Failed to goto %s: net::ERR_NAME_NOT_RESOLVED" % target
            return self.reply(422, {"data": None, "code": 422, "name": "AssertionFailureError",
                                    "status": 42206, "message": msg,
                                    "readableMessage": "AssertionFailureError: " + msg})
        e = self.fake.by_id.get(m.group(1))
        warning = None
        if e:
            title, text = e["title"], e["text"]
        else:
            title, text, warning = "404 Not Found", "Not Found", "Target URL returned error 404: Not Found"
        if "application/json" in (self.headers.get("Accept") or ""):
            data = {"title": title, "description": "", "url": target, "content": text,
                    "usage": {"tokens": len(text) // 4}}
            if warning:
                data["warning"] = warning
            self.reply(200, {"code": 200, "status": 20000, "data": data,
                             "meta": {"usage": {"tokens": len(text) // 4}}})
        else:
            head = "Title: %s\n\nURL Source: %s\n\n" % (title, target)
            if warning:
                head += "Warning: %s\n\n" % warning
            self.reply(200, head + "Markdown Content:\n" + text, "text/plain; charset=utf-8")

    def web(self, ident):
        e = self.fake.by_id.get(ident)
        if not e:
            return self.reply(404, "<html><body>Not Found</body></html>", "text/html")
        body = "".join("<p>%s</p>\n" % html.escape(p) for p in e["text"].split("\n\n") if p)
        self.reply(200, "<!DOCTYPE html><html><head><title>%s</title></head><body>\n%s</body></html>"
                   % (html.escape(e["title"]), body), "text/html; charset=utf-8")

    # -------------------------------------------------- Semantic Scholar
    def s2(self, method, path, qs):
        key = self.headers.get("x-api-key")
        self.auth = key is not None
        if key is not None and key != self.fake.args.s2_key:
            return self.reply(403, {"message": "Forbidden"})
        query = (qs.get("query") or [""])[0]
        self.query_text = query
        if method != "GET" or path not in ("/graph/v1/paper/search", "/graph/v1/snippet/search"):
            return self.reply(404, {"error": "Not found: %s" % path})
        if not query.strip():
            return self.reply(400, {"error": "Unacceptable query params: query must be provided"})
        try:
            limit = int((qs.get("limit") or ["10"])[0])
        except ValueError:
            return self.reply(400, {"error": "Unacceptable query params: [limit=%s]" % qs["limit"][0]})
        if self.fault("s2", query):
            return
        hits = rank(self.fake.corpus, query)
        if path == "/graph/v1/snippet/search":
            data = []
            for k, e in enumerate(hits[:limit]):
                text = "%s %s" % (e["statement"], FILLER[k % len(FILLER)])
                data.append({
                    "snippet": {"text": text, "snippetKind": "body", "section": "Results",
                                "snippetOffset": {"start": 1000, "end": 1000 + len(text)},
                                "annotations": {"sentences": [{"start": 0, "end": len(e["statement"])}],
                                                "refMentions": []}},
                    "score": round(0.9 - 0.05 * k, 3),
                    "paper": {"corpusId": str(e["corpusId"]), "title": "On the " + e["title"],
                              "authors": [e["author"], person(k + 11)],
                              "openAccessInfo": {"license": "CCBY", "status": "GREEN",
                                                 "disclaimer": "Notice: a fake open-access paper."}},
                })
            return self.reply(200, {"data": data, "retrievalVersion": "fake-1"})
        fields = set(((qs.get("fields") or [""])[0]).split(",")) - {""}
        data = []
        for k, e in enumerate(hits[:limit]):
            full = {
                "title": "On the " + e["title"],
                "year": 1990 + int(e["corpusId"]) % 30,
                "venue": "Journal of Imaginary Studies",
                "authors": [{"authorId": str(1000 + k), "name": e["author"]},
                            {"authorId": str(2000 + k), "name": person(k + 11)}],
                "abstract": "We report that %s We discuss the records." % e["statement"],
                "externalIds": {"DOI": "10.5555/fake.%s" % e["id"], "CorpusId": e["corpusId"],
                                "PubMed": e["pmid"]},
                "url": "https://www.semanticscholar.org/paper/%s" % e["paperId"],
                "citationCount": (int(e["corpusId"]) * 7) % 100,
            }
            p = {"paperId": e["paperId"]}
            p.update({f: full[f] for f in fields if f in full})
            if not fields:
                p["title"] = full["title"]
            data.append(p)
        out = {"total": len(hits), "offset": 0, "data": data}
        if len(hits) > limit:
            out["next"] = limit
        self.reply(200, out)

    # -------------------------------------------------- E-utilities
    def ncbi(self, method, path, qs):
        key = (qs.get("api_key") or [None])[0]
        self.auth = key is not None
        if key is not None and key != self.fake.args.ncbi_key:
            return self.reply(400, {"error": "API key invalid", "api-key": key, "type": "invalid",
                                    "status": "unknown"})
        if method != "GET" or path not in ("/esearch.fcgi", "/esummary.fcgi"):
            return self.reply(404, "<html><body>Not Found</body></html>", "text/html")
        db = (qs.get("db") or [""])[0]
        if (qs.get("retmode") or [""])[0] != "json":
            return self.reply(200, '<?xml version="1.0" encoding="UTF-8" ?>\n<eSearchResult></eSearchResult>\n',
                              "text/xml; charset=UTF-8")
        if path == "/esearch.fcgi":
            term = (qs.get("term") or [""])[0]
            self.query_text = term
            head = {"type": "esearch", "version": "0.3"}
            if db != "pubmed":
                return self.reply(200, {"header": head, "esearchresult": {
                    "ERROR": "Invalid db name specified: %s" % db}})
            if not term.strip():
                return self.reply(200, {"header": head, "esearchresult": {
                    "count": "0", "retmax": "0", "retstart": "0", "idlist": [],
                    "translationset": [], "ERROR": "Empty term and query_key - nothing todo"}})
            if self.fault("ncbi", term):
                return
            retmax = int((qs.get("retmax") or ["20"])[0])
            hits = rank(self.fake.corpus, term)
            ids = [e["pmid"] for e in hits[:retmax]]
            count = len(hits)
            if "__badsummary__" in term:
                ids, count = ["99999999"], 1
            return self.reply(200, {"header": head, "esearchresult": {
                "count": str(count), "retmax": str(len(ids)), "retstart": "0", "idlist": ids,
                "translationset": [], "querytranslation": term}})
        ids = [i for i in ((qs.get("id") or [""])[0]).split(",") if i]
        self.query_text = ",".join(ids)
        head = {"type": "esummary", "version": "0.3"}
        if "99999999" in ids:
            return self.reply(200, {"header": head, "result": "unexpected"})
        result = {"uids": ids}
        for i in ids:
            e = self.fake.by_pmid.get(i)
            if not e:
                result[i] = {"uid": i, "error": "cannot get document summary"}
                continue
            result[i] = {
                "uid": i, "pubdate": "2019 Mar 4", "epubdate": "", "source": "J Imag Stud",
                "authors": [{"name": "%s %s" % (e["author"].split()[1], e["author"][0]),
                             "authtype": "Author", "clusterid": ""}],
                "lastauthor": e["author"], "title": "On the %s." % e["title"],
                "sorttitle": e["title"].lower(), "volume": "12", "issue": "3", "pages": "101-9",
                "lang": ["eng"], "issn": "0000-0000", "pubtype": ["Journal Article"],
                "articleids": [{"idtype": "pubmed", "idtypen": 1, "value": i},
                               {"idtype": "doi", "idtypen": 3, "value": "10.5555/fake.%s" % e["id"]}],
                "fulljournalname": "Journal of Imaginary Studies", "sortpubdate": "2019/03/04 00:00",
            }
        self.reply(200, {"header": head, "result": result})


def load_corpus(args):
    if args.corpus:
        try:
            with open(args.corpus) as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            sys.exit("fake_research: cannot read %s: %s" % (args.corpus, e))
        items = doc.get("questions") if isinstance(doc, dict) else doc
        if not isinstance(items, list):
            sys.exit("fake_research: %s: no list of questions" % args.corpus)
        seen = set()
        for k, e in enumerate(items):
            for field in ("id", "question", "answer"):
                if not isinstance(e, dict) or not isinstance(e.get(field), str) or not e[field]:
                    sys.exit("fake_research: %s: question %d has no string '%s'" % (args.corpus, k + 1, field))
            if not re.match(r"^[A-Za-z0-9_-]+$", e["id"]) or e["id"] in seen:
                sys.exit("fake_research: %s: question %d: id '%s' is not unique letters, digits, - and _"
                         % (args.corpus, k + 1, e["id"]))
            seen.add(e["id"])
    else:
        items = generate(args.questions)
    return [complete(e, i) for i, e in enumerate(items)]


def main():
    ap = argparse.ArgumentParser(description="local fakes of Serper, Jina Reader, Semantic Scholar and E-utilities")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port-file")
    ap.add_argument("--log")
    ap.add_argument("--corpus")
    ap.add_argument("--questions", type=int, default=20)
    ap.add_argument("--slow", type=float, default=5.0)
    ap.add_argument("--serper-key", default="fake-serper-key")
    ap.add_argument("--jina-key", default="fake-jina-key")
    ap.add_argument("--s2-key", default="fake-s2-key")
    ap.add_argument("--ncbi-key", default="fake-ncbi-key")
    ap.add_argument("--write-questions", metavar="DIR")
    args = ap.parse_args()
    corpus = load_corpus(args)

    if args.write_questions:
        os.makedirs(args.write_questions, exist_ok=True)
        with open(os.path.join(args.write_questions, "questions.jsonl"), "w") as f:
            for e in corpus:
                f.write(json.dumps({"id": e["id"], "question": e["question"]}) + "\n")
        with open(os.path.join(args.write_questions, "answers.jsonl"), "w") as f:
            for e in corpus:
                f.write(json.dumps({"id": e["id"], "answer": e["answer"]}) + "\n")
        keep = ("id", "question", "answer", "title", "statement", "text")
        with open(os.path.join(args.write_questions, "corpus.json"), "w") as f:
            json.dump({"questions": [{k: e[k] for k in keep} for e in corpus]}, f, indent=1)
        return

    Handler.fake = Fake(args, corpus)
    srv = ThreadingHTTPServer((args.host, args.port), Handler)
    srv.daemon_threads = True
    port = srv.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
