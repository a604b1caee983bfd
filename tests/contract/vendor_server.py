#!/usr/bin/python3
"""Contract test server for the escucha-actions connectors.

One local HTTP server plays every vendor under a path prefix (/jira, /github,
/gitlab, /redmine, /asana, /clickup, /monday, /trello, /webhook). For each
request it checks method, path, headers and JSON body against the vendor's
documented API and answers with the vendor's documented response shapes.
Anything that does not match is recorded as a contract violation (and
answered 400) so the C test can fail with the reason.

Test control (not vendor API):
  POST /__control {"vendor": v, "fail": [{"status": 429, "retry_after": "1", "method": "POST"}]}
      queue forced error answers (vendor-specific bodies) for the next requests
  POST /__control {"vendor": v, "set_state": {"id": ext_key, "state": "done|in_progress|open"}}
  GET  /__stats?vendor=v  -> {"created": n, "requests": n}
  GET  /__violations      -> {"violations": [...]}

Listens on 127.0.0.1 with an ephemeral port and prints "PORT <n>" on stdout.
`--seq-base N` starts every vendor's ids after N (default 0).
Credentials the connectors must present are the constants below.
"""
import base64
import hashlib
import hmac
import json
import re
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKENS = {v: "tok-%s-secret" % v for v in
          ("jira", "github", "gitlab", "redmine", "asana", "clickup", "monday", "trello", "webhook")}
JIRA_EMAIL = "bot@example.org"
TRELLO_KEY = "trello-api-key"
KEY_RE = re.compile(r"^esk-[0-9a-f]{8,64}$")

LOCK = threading.Lock()
VIOLATIONS = []
FORCED = {}      # vendor -> list of forced answers
STATE = {}       # vendor -> {"seq": n, "items": {ext_key: dict}}
STATS = {}       # vendor -> {"created": n, "requests": n}


class Violation(Exception):
    pass


def need(cond, msg):
    if not cond:
        raise Violation(msg)


SEQ_BASE = 0     # --seq-base N: first ids after N (integration runs keep ids apart)


def vstate(vendor):
    return STATE.setdefault(vendor, {"seq": SEQ_BASE, "items": {}})


def stat(vendor, field):
    s = STATS.setdefault(vendor, {"created": 0, "requests": 0})
    s[field] += 1


MARKER_LINE = re.compile(r"(?m)^escucha-key: (esk-[0-9a-f]+)(?![0-9a-z-])")


def check_body(vendor, text):
    """A ticket body carries exactly one idempotency marker, at the start of a
    line (Escucha's own): citizen text is quoted and any marker-shaped text in
    it altered, so a search by marker can only find the plan's ticket."""
    text = (text or "").replace("\r\n", "\n")
    need(len(MARKER_LINE.findall(text)) == 1 and len(re.findall(r"(?i)escucha-key", text)) == 1,
         "%s: the body must carry exactly one marker line (escucha-key: <key>)" % vendor)


def adf_text(doc):
    """Text of an ADF description as Jira Cloud accepts it: paragraphs of
    non-empty text nodes and hard breaks, blockquotes of paragraphs; quoted
    lines come back as "> " lines."""
    need(doc.get("type") == "doc" and doc.get("version") == 1 and isinstance(doc.get("content"), list),
         "jira v3: description must be an ADF document")

    def inline(p):
        need(p.get("type") == "paragraph" and isinstance(p.get("content", []), list), "jira v3: paragraph expected")
        out = ""
        for n in p.get("content", []):
            if n.get("type") == "hardBreak":
                out += "\n"
            else:
                need(n.get("type") == "text" and isinstance(n.get("text"), str) and n["text"],
                     "jira v3: text nodes need non-empty text")
                out += n["text"]
        return out

    lines = []
    for b in doc["content"]:
        if b.get("type") == "blockquote":
            need(isinstance(b.get("content"), list) and b["content"], "jira v3: blockquote needs content")
            for p in b["content"]:
                lines += [("> " + ln) if ln else ">" for ln in inline(p).split("\n")]
        else:
            lines.append(inline(b))
    return "\n".join(lines)


# ---- vendor-specific error bodies (as documented by each vendor) ----
def error_answer(vendor, status, retry_after=None):
    headers = {}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    text = None
    if vendor == "jira":
        msgs = {401: ([], {}), 404: (["Issue does not exist or you do not have permission to see it."], {}),
                400: ([], {"summary": "You must specify a summary of the issue."}),
                422: ([], {"summary": "You must specify a summary of the issue."}),
                429: (["Rate limit exceeded."], {}), 500: (["Internal server error"], {})}
        em, errs = msgs.get(status, (["Error %d" % status], {}))
        if status == 422:  # Jira answers field validation with 400
            status = 400
        body = {"errorMessages": em, "errors": errs}
        if status == 401:  # Jira answers 401 with a plain-text page
            body, text = None, "Client must be authenticated to access this resource."
    elif vendor == "github":
        doc = "https://docs.github.com/rest/issues/issues#create-an-issue"
        body = {401: {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"},
                404: {"message": "Not Found", "documentation_url": doc},
                422: {"message": "Validation Failed", "errors": [
                    {"resource": "Issue", "code": "missing_field", "field": "title"}], "documentation_url": doc},
                429: {"message": "API rate limit exceeded for installation.", "documentation_url": doc},
                }.get(status, {"message": "Server Error"})
    elif vendor == "gitlab":
        body = {401: {"message": "401 Unauthorized"}, 404: {"message": "404 Project Not Found"},
                422: {"message": {"title": ["can't be blank"]}}, 400: {"error": "title is missing"},
                429: {"message": "Retry later"}}.get(status, {"message": "500 Internal Server Error"})
    elif vendor == "redmine":
        if status == 422:
            body = {"errors": ["Subject cannot be blank", "Tracker is not included in the list"]}
        else:  # Redmine answers 401/404/5xx with an empty body
            body = None
            text = ""
    elif vendor == "asana":
        body = {"errors": [{"message": {401: "Not Authorized", 404: "task: Unknown object: 123",
                                        400: "project: Not a recognized ID: 999",
                                        422: "project: Not a recognized ID: 999",
                                        429: "You have made too many requests recently. Please, be chill.",
                                        }.get(status, "Server Error"),
                            "help": "For more information on API status codes and how to handle them, "
                                    "read the docs on errors: https://developers.asana.com/docs/errors"}]}
        if status == 422:
            status = 400
    elif vendor == "clickup":
        body = {401: {"err": "Token invalid", "ECODE": "OAUTH_025"},
                404: {"err": "Task not found, deleted", "ECODE": "ITEM_013"},
                422: {"err": "Task name invalid", "ECODE": "INPUT_005"},
                429: {"err": "Rate limit reached", "ECODE": "APP_002"}}.get(
                    status, {"err": "Internal error", "ECODE": "APP_001"})
        if status == 422:
            status = 400
    elif vendor == "monday":
        if status == 422:  # GraphQL validation errors come back with HTTP 200
            status = 200
            body = {"errors": [{"message": "Board not found", "locations": [{"line": 1, "column": 40}],
                                "extensions": {"code": "InvalidBoardIdException", "status_code": 200}}],
                    "account_id": 42}
        elif status == 401:
            body = {"errors": [{"message": "Not Authenticated",
                                "extensions": {"code": "UNAUTHENTICATED", "status_code": 401}}]}
        elif status == 429:
            body = {"errors": [{"message": "Rate limit exceeded",
                                "extensions": {"code": "RATE_LIMIT_EXCEEDED", "status_code": 429}}]}
        else:
            body = {"error_message": "Internal server error", "status_code": status}
    elif vendor == "trello":  # Trello answers errors in plain text
        body = None
        text = {401: "invalid token", 404: "The requested resource was not found.",
                422: "invalid value for idList", 400: "invalid value for idList",
                429: "API_TOKEN_LIMIT_EXCEEDED"}.get(status, "Internal Server Error")
        if status == 422:
            status = 400
    else:
        body = {"error": "status %d" % status}
    return status, headers, body, text


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, status, body=None, headers=None, text=None):
        raw = (json.dumps(body) if body is not None else (text or "")).encode()
        self.send_response(status)
        ctype = "application/json; charset=utf-8" if body is not None else "text/plain; charset=utf-8"
        self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def dispatch(self, method):
        raw = self.read_body()
        url = urllib.parse.urlsplit(self.path)
        if url.path.startswith("/__"):
            return self.control(method, url, raw)
        parts = url.path.split("/", 2)
        vendor = parts[1] if len(parts) > 1 else ""
        rest = "/" + (parts[2] if len(parts) > 2 else "")
        handler = getattr(self, "v_" + vendor, None)
        if not handler:
            return self.send(404, {"error": "unknown vendor"})
        with LOCK:
            stat(vendor, "requests")
        try:
            body = None
            if raw:
                need(self.headers.get("Content-Type", "").startswith("application/json"),
                     "%s: Content-Type must be application/json" % vendor)
                body = json.loads(raw)
            self.auth(vendor)
            # forced answers come after the contract checks so bad requests still fail
            with LOCK:
                q = FORCED.get(vendor, [])
                forced = None
                for i, f in enumerate(q):
                    if f.get("method") in (None, method):
                        forced = q.pop(i)
                        break
            if forced:
                status, hdrs, b, text = error_answer(vendor, forced["status"], forced.get("retry_after"))
                return self.send(status, b, hdrs, text)
            q = urllib.parse.parse_qs(url.query, keep_blank_values=True)
            with LOCK:
                return handler(method, rest, url.query, q, body, raw)
        except Violation as e:
            with LOCK:
                VIOLATIONS.append(str(e))
            return self.send(400, {"contract_violation": str(e)})
        except (ValueError, KeyError, TypeError) as e:
            with LOCK:
                VIOLATIONS.append("%s: bad request: %r" % (vendor, e))
            return self.send(400, {"contract_violation": repr(e)})

    def control(self, method, url, raw):
        with LOCK:
            if url.path == "/__violations":
                v = list(VIOLATIONS)
                del VIOLATIONS[:]  # each test reads (and clears) its own
                return self.send(200, {"violations": v})
            if url.path == "/__stats":
                v = urllib.parse.parse_qs(url.query).get("vendor", [""])[0]
                return self.send(200, STATS.get(v, {"created": 0, "requests": 0}))
            if url.path == "/__control" and method == "POST":
                c = json.loads(raw)
                v = c["vendor"]
                FORCED.setdefault(v, []).extend(c.get("fail", []))
                if "set_state" in c:
                    s = c["set_state"]
                    item = vstate(v)["items"].get(s["id"])
                    if item is None:
                        return self.send(404, {"error": "no such item"})
                    item["_state"] = s["state"]
                return self.send(200, {"ok": True})
        return self.send(404, {"error": "unknown control"})

    # ---- auth checks (exact header names and schemes) ----
    def auth(self, vendor):
        h = self.headers
        tok = TOKENS.get(vendor)
        if vendor == "jira":
            want = "Basic " + base64.b64encode(("%s:%s" % (JIRA_EMAIL, tok)).encode()).decode()
            need(h.get("Authorization") == want, "jira: Authorization must be Basic base64(email:api_token)")
            need("application/json" in h.get("Accept", ""), "jira: Accept: application/json expected")
        elif vendor == "github":
            need(h.get("Authorization") == "Bearer " + tok, "github: Authorization: Bearer <token> expected")
            need(h.get("Accept") == "application/vnd.github+json", "github: Accept must be application/vnd.github+json")
            need(h.get("X-GitHub-Api-Version") == "2022-11-28", "github: X-GitHub-Api-Version header missing")
            need(bool(h.get("User-Agent")), "github: User-Agent is required")
        elif vendor == "gitlab":
            need(h.get("PRIVATE-TOKEN") == tok, "gitlab: PRIVATE-TOKEN header expected")
        elif vendor == "redmine":
            need(h.get("X-Redmine-API-Key") == tok, "redmine: X-Redmine-API-Key header expected")
        elif vendor == "asana":
            need(h.get("Authorization") == "Bearer " + tok, "asana: Authorization: Bearer <PAT> expected")
        elif vendor == "clickup":
            need(h.get("Authorization") == tok, "clickup: Authorization: <token> (no scheme) expected")
        elif vendor == "monday":
            need(h.get("Authorization") == tok, "monday: Authorization: <token> expected")
            need(bool(re.match(r"^\d{4}-\d{2}$", h.get("API-Version", ""))), "monday: API-Version header expected")
        elif vendor == "trello":
            want = 'OAuth oauth_consumer_key="%s", oauth_token="%s"' % (TRELLO_KEY, tok)
            need(h.get("Authorization") == want, "trello: OAuth Authorization header expected")

    def err(self, vendor, status):
        status, hdrs, b, text = error_answer(vendor, status)
        return self.send(status, b, hdrs, text)

    def next_id(self, vendor):
        st = vstate(vendor)
        st["seq"] += 1
        return st["seq"]

    def base(self, vendor):
        return "http://%s:%d/%s" % (self.server.server_address[0], self.server.server_address[1], vendor)

    # ---- Jira ----
    def jira_issue(self, it):
        cat = {"open": ("new", "To Do"), "in_progress": ("indeterminate", "In Progress"),
               "done": ("done", "Done")}[it["_state"]]
        return {"id": it["id"], "key": it["key"], "self": it["self"],
                "fields": {"status": {"name": cat[1], "statusCategory": {"key": cat[0], "name": cat[1]}}}}

    def v_jira(self, method, path, query, q, body, raw):
        if method == "POST" and path == "/rest/api/3/issue":
            f = body["fields"]
            need(isinstance(f["project"]["key"], str) and f["project"]["key"], "jira: fields.project.key")
            need(isinstance(f["summary"], str) and f["summary"], "jira: fields.summary")
            need(f["issuetype"].get("name") or f["issuetype"].get("id"), "jira: fields.issuetype")
            need(isinstance(f["labels"], list) and all(" " not in l for l in f["labels"]),
                 "jira: labels must be a list without spaces")
            text = adf_text(f["description"])
            check_body("jira", text)
            n = self.next_id("jira")
            it = {"id": str(10000 + n), "key": "%s-%d" % (f["project"]["key"], n),
                  "self": self.base("jira") + "/rest/api/3/issue/%d" % (10000 + n),
                  "labels": f["labels"], "_state": "open", "text": text}
            vstate("jira")["items"][it["key"]] = it
            stat("jira", "created")
            return self.send(201, {"id": it["id"], "key": it["key"], "self": it["self"]})
        if method == "GET" and path == "/rest/api/3/search/jql":
            jql = q["jql"][0]
            m = re.search(r'labels\s*=\s*"([^"]+)"', jql)
            need(m is not None, "jira: JQL must filter on labels")
            need("status" in q.get("fields", [""])[0], "jira: ask for fields=status")
            found = [self.jira_issue(i) for i in vstate("jira")["items"].values() if m.group(1) in i["labels"]]
            return self.send(200, {"issues": found[:1], "isLast": True})
        m = re.match(r"^/rest/api/3/issue/([A-Z][A-Z0-9]*-\d+)$", path)
        if method == "GET" and m:
            it = vstate("jira")["items"].get(m.group(1))
            if not it:
                return self.err("jira", 404)
            return self.send(200, self.jira_issue(it))
        raise Violation("jira: unexpected %s %s" % (method, path))

    # ---- GitHub ----
    def gh_issue(self, it):
        return {"id": it["id"], "number": it["number"], "state": "closed" if it["_state"] == "done" else "open",
                "state_reason": "completed" if it["_state"] == "done" else None,
                "title": it["title"], "body": it["body"], "html_url": it["html_url"],
                "labels": [{"name": l} for l in it["labels"]],
                "assignee": {"login": "octocat"} if it["_state"] == "in_progress" else None,
                "assignees": [{"login": "octocat"}] if it["_state"] == "in_progress" else []}

    def v_github(self, method, path, query, q, body, raw):
        m = re.match(r"^/repos/([\w.-]+)/([\w.-]+)/issues$", path)
        if method == "POST" and m:
            need(isinstance(body.get("title"), str) and body["title"], "github: title is required")
            need(isinstance(body.get("body"), str), "github: body must be a string")
            need(isinstance(body.get("labels"), list), "github: labels must be a list")
            check_body("github", body["body"])
            n = self.next_id("github")
            it = {"id": 1000 + n, "number": n, "title": body["title"], "body": body["body"],
                  "labels": body["labels"], "_state": "open",
                  "html_url": "https://github.com/%s/%s/issues/%d" % (m.group(1), m.group(2), n)}
            vstate("github")["items"][str(n)] = it
            stat("github", "created")
            return self.send(201, self.gh_issue(it))
        if method == "GET" and m:
            need(q.get("state") == ["all"], "github: list with state=all to see closed issues")
            labels = q["labels"][0].split(",")
            found = [self.gh_issue(i) for i in vstate("github")["items"].values()
                     if all(l in i["labels"] for l in labels)]
            return self.send(200, found)
        m = re.match(r"^/repos/[\w.-]+/[\w.-]+/issues/(\d+)$", path)
        if method == "GET" and m:
            it = vstate("github")["items"].get(m.group(1))
            if not it:
                return self.err("github", 404)
            return self.send(200, self.gh_issue(it))
        raise Violation("github: unexpected %s %s" % (method, path))

    # ---- GitLab ----
    def gl_issue(self, it):
        return {"id": it["id"], "iid": it["iid"], "project_id": 7, "title": it["title"],
                "description": it["description"], "state": "closed" if it["_state"] == "done" else "opened",
                "labels": it["labels"], "web_url": it["web_url"],
                "assignees": [{"username": "ana"}] if it["_state"] == "in_progress" else []}

    def v_gitlab(self, method, path, query, q, body, raw):
        # the raw path keeps %2F: GitLab needs namespaced paths URL-encoded
        m = re.match(r"^/api/v4/projects/([^/]+)/issues$", path)
        if m:
            need("/" not in urllib.parse.unquote(m.group(1)) or "%2F" in m.group(1),
                 "gitlab: namespaced project path must be URL-encoded")
        if method == "POST" and m:
            need(isinstance(body.get("title"), str) and body["title"], "gitlab: title is required")
            need(isinstance(body.get("labels"), str), "gitlab: labels is a comma-separated string")
            check_body("gitlab", body.get("description"))
            n = self.next_id("gitlab")
            it = {"id": 500 + n, "iid": n, "title": body["title"], "description": body.get("description"),
                  "labels": body["labels"].split(","), "_state": "open",
                  "web_url": "https://gitlab.example.org/%s/-/issues/%d" % (urllib.parse.unquote(m.group(1)), n)}
            vstate("gitlab")["items"][str(n)] = it
            stat("gitlab", "created")
            return self.send(201, self.gl_issue(it))
        if method == "GET" and m:
            need(q.get("state") in (None, ["all"]), "gitlab: state=all expected")
            labels = q["labels"][0].split(",")
            return self.send(200, [self.gl_issue(i) for i in vstate("gitlab")["items"].values()
                                   if all(l in i["labels"] for l in labels)])
        m = re.match(r"^/api/v4/projects/[^/]+/issues/(\d+)$", path)
        if method == "GET" and m:
            it = vstate("gitlab")["items"].get(m.group(1))
            if not it:
                return self.err("gitlab", 404)
            return self.send(200, self.gl_issue(it))
        raise Violation("gitlab: unexpected %s %s" % (method, path))

    # ---- Redmine ----
    def rm_issue(self, it):
        st = {"open": (1, "New", False), "in_progress": (2, "In Progress", False), "done": (5, "Closed", True)}
        sid, name, closed = st[it["_state"]]
        return {"id": it["id"], "project": {"id": 1, "name": "Escucha"}, "tracker": {"id": 1, "name": "Bug"},
                "status": {"id": sid, "name": name, "is_closed": closed}, "subject": it["subject"],
                "description": it["description"], "custom_fields": it.get("custom_fields", []),
                "journals": [{"id": i + 1, "notes": n} for i, n in enumerate(it.get("notes", []))]}

    def v_redmine(self, method, path, query, q, body, raw):
        if method == "POST" and path == "/issues.json":
            i = body["issue"]
            need(i.get("project_id"), "redmine: issue.project_id is required")
            need(isinstance(i.get("subject"), str) and i["subject"], "redmine: issue.subject is required")
            check_body("redmine", i.get("description"))
            n = self.next_id("redmine")
            it = {"id": n, "subject": i["subject"], "description": i.get("description", ""), "_state": "open",
                  "custom_fields": i.get("custom_fields", [])}
            vstate("redmine")["items"][str(n)] = it
            stat("redmine", "created")
            return self.send(201, {"issue": self.rm_issue(it)})
        if method == "GET" and path == "/issues.json":
            need(q.get("status_id") == ["*"], "redmine: status_id=* to include closed issues")
            found = []
            for it in vstate("redmine")["items"].values():
                sub = q.get("subject", [""])[0]
                if sub.startswith("~") and sub[1:] in it["subject"]:
                    found.append(self.rm_issue(it))
            return self.send(200, {"issues": found, "total_count": len(found), "offset": 0, "limit": 25})
        m = re.match(r"^/issues/(\d+)\.json$", path)
        if method == "GET" and m:
            it = vstate("redmine")["items"].get(m.group(1))
            if not it:
                return self.send(404, None, None, "")
            return self.send(200, {"issue": self.rm_issue(it)})
        if method == "PUT" and m:  # a journal note (escucha-actions: plans that follow the problem)
            it = vstate("redmine")["items"].get(m.group(1))
            if not it:
                return self.send(404, None, None, "")
            notes = ((body or {}).get("issue") or {}).get("notes")
            need(isinstance(notes, str) and notes.strip(), "redmine: issue.notes must be a non-empty string")
            need(not MARKER_LINE.search(notes), "redmine: a note must not carry the marker line")
            it.setdefault("notes", []).append(notes)
            return self.send(204, None, None, "")
        raise Violation("redmine: unexpected %s %s" % (method, path))

    # ---- Asana ----
    def as_task(self, it):
        return {"gid": it["gid"], "resource_type": "task", "name": it["name"], "notes": it["notes"],
                "completed": it["_state"] == "done", "permalink_url": it["permalink_url"],
                "assignee": {"gid": "42", "resource_type": "user"} if it["_state"] == "in_progress" else None}

    def v_asana(self, method, path, query, q, body, raw):
        if method == "POST" and path == "/tasks":
            d = body["data"]
            need(isinstance(d.get("name"), str) and d["name"], "asana: data.name is required")
            need(isinstance(d.get("projects"), list) and d["projects"], "asana: data.projects (or workspace)")
            check_body("asana", d.get("notes"))
            n = self.next_id("asana")
            gid = str(1200000000000000 + n)
            it = {"gid": gid, "name": d["name"], "notes": d.get("notes", ""), "_state": "open",
                  "permalink_url": "https://app.asana.com/0/%s/%s" % (d["projects"][0], gid)}
            vstate("asana")["items"][gid] = it
            stat("asana", "created")
            return self.send(201, {"data": self.as_task(it)})
        m = re.match(r"^/projects/(\d+)/tasks$", path)
        if method == "GET" and m:
            need("notes" in q.get("opt_fields", [""])[0], "asana: opt_fields must include notes")
            items = list(vstate("asana")["items"].values())
            page = 2  # small pages so clients must follow next_page
            off = int(q.get("offset", ["0"])[0])
            chunk = items[off:off + page]
            nxt = None
            if off + page < len(items):
                nxt = {"offset": str(off + page), "path": "/projects/%s/tasks?offset=%d" % (m.group(1), off + page),
                       "uri": self.base("asana") + "/projects/%s/tasks?offset=%d" % (m.group(1), off + page)}
            return self.send(200, {"data": [self.as_task(i) for i in chunk], "next_page": nxt})
        m = re.match(r"^/tasks/(\d+)$", path)
        if method == "GET" and m:
            it = vstate("asana")["items"].get(m.group(1))
            if not it:
                return self.err("asana", 404)
            return self.send(200, {"data": self.as_task(it)})
        raise Violation("asana: unexpected %s %s" % (method, path))

    # ---- ClickUp ----
    def cu_task(self, it):
        st = {"open": ("to do", "open"), "in_progress": ("in progress", "custom"), "done": ("complete", "closed")}
        s, t = st[it["_state"]]
        return {"id": it["id"], "name": it["name"], "description": it["description"],
                "status": {"status": s, "type": t, "orderindex": 0, "color": "#d3d3d3"},
                "tags": [{"name": x} for x in it["tags"]], "url": "https://app.clickup.com/t/" + it["id"]}

    def v_clickup(self, method, path, query, q, body, raw):
        m = re.match(r"^/list/(\d+)/task$", path)
        if method == "POST" and m:
            need(isinstance(body.get("name"), str) and body["name"], "clickup: name is required")
            need(isinstance(body.get("tags", []), list), "clickup: tags must be a list")
            check_body("clickup", body.get("description"))
            n = self.next_id("clickup")
            it = {"id": "86a%04d" % n, "name": body["name"], "description": body.get("description", ""),
                  "tags": body.get("tags", []), "_state": "open"}
            vstate("clickup")["items"][it["id"]] = it
            stat("clickup", "created")
            return self.send(200, self.cu_task(it))
        if method == "GET" and m:
            need(q.get("include_closed") == ["true"], "clickup: include_closed=true expected")
            tags = q.get("tags[]", [])
            need(tags, "clickup: filter with tags[]")
            found = [self.cu_task(i) for i in vstate("clickup")["items"].values() if all(t in i["tags"] for t in tags)]
            return self.send(200, {"tasks": found, "last_page": True})
        m = re.match(r"^/task/(\w+)$", path)
        if method == "GET" and m:
            it = vstate("clickup")["items"].get(m.group(1))
            if not it:
                return self.err("clickup", 404)
            return self.send(200, self.cu_task(it))
        raise Violation("clickup: unexpected %s %s" % (method, path))

    # ---- monday.com (GraphQL) ----
    def mo_item(self, it):
        label = {"open": "", "in_progress": "Working on it", "done": "Done"}[it["_state"]]
        return {"id": it["id"], "url": it["url"], "state": "active",
                "column_values": [{"id": "status", "text": label}]}

    def v_monday(self, method, path, query, q, body, raw):
        need(method == "POST" and path in ("/", "/v2"), "monday: POST to the /v2 endpoint")
        gq, var = body["query"], body.get("variables", {})
        need(isinstance(gq, str) and isinstance(var, dict), "monday: {query, variables}")
        if "create_item" in gq:
            need(gq.strip().startswith("mutation"), "monday: create_item is a mutation")
            need(var.get("board") and var.get("name"), "monday: board_id and item_name variables")
            cols = json.loads(var.get("cols") or "{}")  # column_values is a JSON string
            n = self.next_id("monday")
            it = {"id": str(9000000000 + n), "name": var["name"], "cols": cols, "_state": "open",
                  "url": "https://escucha.monday.com/boards/%s/pulses/%d" % (var["board"], 9000000000 + n)}
            vstate("monday")["items"][it["id"]] = it
            stat("monday", "created")
            return self.send(200, {"data": {"create_item": {"id": it["id"], "url": it["url"]}}, "account_id": 42})
        if "create_update" in gq:
            need(var.get("item") in vstate("monday")["items"], "monday: create_update on a known item")
            check_body("monday", var.get("body"))
            return self.send(200, {"data": {"create_update": {"id": "1"}}, "account_id": 42})
        if "items_page_by_column_values" in gq:
            found = [self.mo_item(i) for i in vstate("monday")["items"].values()
                     if i["cols"].get(var.get("col")) == var.get("key")]
            return self.send(200, {"data": {"items_page_by_column_values": {"cursor": None, "items": found[:1]}},
                                   "account_id": 42})
        if re.search(r"items\s*\(\s*ids", gq):
            ids = var.get("ids") or []
            found = [self.mo_item(vstate("monday")["items"][i]) for i in ids if i in vstate("monday")["items"]]
            return self.send(200, {"data": {"items": found}, "account_id": 42})
        raise Violation("monday: unexpected query %s" % gq[:60])

    # ---- Trello ----
    def tr_card(self, it):
        lst = {"open": "list-todo", "in_progress": "list-doing", "done": "list-done"}[it["_state"]]
        return {"id": it["id"], "idShort": it["idShort"], "name": it["name"], "desc": it["desc"],
                "closed": False, "idList": lst, "idBoard": "board-1",
                "url": "https://trello.com/c/%s/%d-card" % (it["short"], it["idShort"]),
                "shortUrl": "https://trello.com/c/%s" % it["short"]}

    def v_trello(self, method, path, query, q, body, raw):
        need("token=" not in query and "key=" not in query, "trello: credentials must not be in the URL")
        if method == "POST" and path == "/cards":
            need(body.get("idList"), "trello: idList is required")
            need(isinstance(body.get("name"), str), "trello: name")
            check_body("trello", body.get("desc"))
            n = self.next_id("trello")
            it = {"id": "%024x" % (0x5f0000 + n), "idShort": n, "short": "Ab%04d" % n, "name": body["name"],
                  "desc": body.get("desc", ""), "_state": "open"}
            vstate("trello")["items"][it["id"]] = it
            stat("trello", "created")
            return self.send(200, self.tr_card(it))
        if method == "GET" and re.match(r"^/boards/[\w-]+/cards/all$", path):
            need("desc" in q.get("fields", [""])[0], "trello: fields must include desc")
            return self.send(200, [self.tr_card(i) for i in vstate("trello")["items"].values()])
        m = re.match(r"^/cards/(\w+)$", path)
        if method == "GET" and m:
            it = vstate("trello")["items"].get(m.group(1))
            if not it:
                return self.err("trello", 404)
            return self.send(200, self.tr_card(it))
        raise Violation("trello: unexpected %s %s" % (method, path))

    # ---- generic signed webhook ----
    def v_webhook(self, method, path, query, q, body, raw):
        if method == "POST" and path == "/hook":
            sig = self.headers.get("X-Escucha-Signature", "")
            want = "sha256=" + hmac.new(TOKENS["webhook"].encode(), raw, hashlib.sha256).hexdigest()
            need(hmac.compare_digest(sig, want), "webhook: bad X-Escucha-Signature")
            key = self.headers.get("Idempotency-Key")
            need(key and key == body.get("idempotency_key"), "webhook: Idempotency-Key header = body key")
            need(isinstance(body.get("sent_at"), int), "webhook: sent_at (ms) in body")
            check_body("webhook", body.get("body"))
            items = vstate("webhook")["items"]
            if key in items:  # receivers dedupe on Idempotency-Key
                return self.send(200, {"id": items[key]["id"], "url": items[key]["url"]})
            n = self.next_id("webhook")
            items[key] = {"id": "wh-%d" % n, "url": "https://hooks.example.org/t/%d" % n, "_state": "open"}
            items["wh-%d" % n] = items[key]
            stat("webhook", "created")
            return self.send(201, {"id": "wh-%d" % n, "url": items[key]["url"]})
        m = re.match(r"^/status/([\w-]+)$", path)
        if method == "GET" and m:
            it = vstate("webhook")["items"].get(m.group(1))
            if not it:
                return self.send(404, {"error": "not found"})
            return self.send(200, {"status": it["_state"], "url": it["url"]})
        raise Violation("webhook: unexpected %s %s" % (method, path))


def main():
    global SEQ_BASE
    if "--seq-base" in sys.argv:
        SEQ_BASE = int(sys.argv[sys.argv.index("--seq-base") + 1])
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    print("PORT %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
