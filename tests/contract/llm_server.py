#!/usr/bin/python3
"""A tiny OpenAI-compatible chat-completions server for the summary rewrite
tests. The mode is the first path segment:
  POST /ok/v1/chat/completions       canned rewrite (no numbers) as JSON in content, in ``` fences
  POST /badnum/v1/chat/completions   a rewrite with a number that is not in the evidence
  POST /garbage/v1/chat/completions  content that is not JSON
  POST /500/v1/chat/completions      HTTP 500 with an OpenAI-style error body
  POST /hang/v1/chat/completions     never answers (the client must time out)
  GET  /__requests                   the requests received so far (path, headers, body)
Checks the request shape (model, messages with system + user, Bearer when
--token is given) and answers 400 otherwise. Prints "PORT <n>" on stdout."""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REWRITE_ES = "REESCRITO: la espera en la fila de la oficina concentra las quejas negativas."
REWRITE_EN = "REWRITTEN: waiting in the office queue concentrates the negative complaints."
TOKEN = None
LOCK = threading.Lock()
SEEN = []


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, status, obj):
        raw = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self):
        if self.path == "/__requests":
            with LOCK:
                return self.send(200, {"requests": list(SEEN)})
        self.send(404, {"error": "not found"})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        mode = self.path.split("/")[1]
        with LOCK:
            SEEN.append({"path": self.path, "authorization": self.headers.get("Authorization"),
                         "body": raw.decode("utf-8", "replace")})
        if not self.path.endswith("/v1/chat/completions"):
            return self.send(404, {"error": {"message": "unknown path", "type": "invalid_request_error"}})
        try:
            body = json.loads(raw)
            msgs = body["messages"]
            ok = (isinstance(body.get("model"), str) and body["model"] and msgs[0]["role"] == "system"
                  and msgs[-1]["role"] == "user" and "Spanish summary:" in msgs[-1]["content"])
        except (ValueError, KeyError, IndexError, TypeError):
            ok = False
        if not ok:
            return self.send(400, {"error": {"message": "bad request shape", "type": "invalid_request_error"}})
        if TOKEN and self.headers.get("Authorization") != "Bearer " + TOKEN:
            return self.send(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})
        if mode == "hang":
            time.sleep(120)
            return
        if mode == "500":
            return self.send(500, {"error": {"message": "The server had an error", "type": "server_error"}})
        if mode == "garbage":
            content = "Sure! Here is a better summary of the problem."
        elif mode == "badnum":
            content = json.dumps({"es": REWRITE_ES + " Afecta a 4321 personas.",
                                  "en": REWRITE_EN + " It affects 4321 people."})
        else:
            content = "```json\n" + json.dumps({"es": REWRITE_ES, "en": REWRITE_EN}, ensure_ascii=False) + "\n```"
        self.send(200, {"id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()),
                        "model": body["model"],
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                     "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 100, "completion_tokens": 40, "total_tokens": 140}})


def main():
    global TOKEN
    if "--token" in sys.argv:
        TOKEN = sys.argv[sys.argv.index("--token") + 1]
    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    print("PORT %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
