"""A small OpenAI-compatible chat-completions server for the remote engine's tests: the
answers and the faults a real server can give (vLLM, llama-server, Ollama), on loopback, from
Python's standard library. The model named in a request picks the behaviour:

  echo        streams "You said: <last user text> (<N> images)" in chunks of 3 characters,
              after checking every image part is a PNG data URL that decodes
  whole       the same answer, but as one JSON body (a server that ignores "stream")
  length      streams the answer and ends it with finish_reason "length"
  cut         streams two chunks, then closes the connection mid-stream
  malformed   streams one chunk, then an event that is not JSON
  error-event streams one chunk, then an event {"error": {...}} (vLLM on an engine failure)
  busy        answers 429 with Retry-After: 7
  stall       streams one chunk, then sends nothing until the client goes away
  hold        streams one chunk, then holds the stream open until the client goes away
              (for Stop: the client must cancel)

GET /v1/models lists those ids. With --api-key KEY every request needs
"Authorization: Bearer KEY" (401 otherwise). Unknown models get 404. The port is printed on
the first line of standard output once the server listens. The last request body received
is kept at GET /last-request (for checking what the client sent).
"""
import argparse
import base64
import json
import struct
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODELS = ["echo", "whole", "length", "cut", "malformed", "error-event", "busy", "stall", "hold"]
LAST = {"body": None}


def png_size(data):
    """(width, height) of a PNG, checking its signature and every chunk's CRC."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, size = 8, None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(kind + body) != crc:
            raise ValueError("bad CRC")
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        pos += 12 + length
        if kind == b"IEND":
            return size
    raise ValueError("no IEND")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    api_key = None

    def log_message(self, *args):
        pass

    def send_json(self, status, obj, headers=()):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def authorized(self):
        if self.api_key and self.headers.get("Authorization") != f"Bearer {self.api_key}":
            self.send_json(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})
            return False
        return True

    def do_GET(self):
        if self.path == "/last-request":
            return self.send_json(200, LAST["body"] or {})
        if not self.authorized():
            return
        if self.path.rstrip("/") == "/v1/models":
            return self.send_json(200, {"object": "list",
                                        "data": [{"id": m, "object": "model", "owned_by": "test"} for m in MODELS]})
        self.send_json(404, {"error": {"message": f"no route {self.path}"}})

    def chunk(self, text=None, finish=None):
        delta = {} if text is None else {"content": text}
        obj = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 0, "model": "m",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        self.event(json.dumps(obj))

    def event(self, data):
        payload = f"data: {data}\n\n".encode()
        self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
        self.wfile.flush()

    def hold_until_gone(self, limit_s=60):
        """Keeps the stream open with comments (which a client ignores) until writing fails:
        the client went away."""
        end = time.monotonic() + limit_s
        while time.monotonic() < end:
            time.sleep(0.05)
            try:
                payload = b": keep-alive\n\n"
                self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
                self.wfile.flush()
            except OSError:
                return

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        if not self.authorized():
            return
        if self.path.rstrip("/") != "/v1/chat/completions":
            return self.send_json(404, {"error": {"message": f"no route {self.path}"}})
        try:
            body = json.loads(raw)
        except ValueError:
            return self.send_json(400, {"error": {"message": "malformed JSON"}})
        LAST["body"] = body
        model = body.get("model")
        if model not in MODELS:
            return self.send_json(404, {"error": {"message": f"The model `{model}` does not exist."}})
        if model == "busy":
            return self.send_json(429, {"error": {"message": "Rate limit reached"}}, [("Retry-After", "7")])
        images, text = 0, ""
        for message in body["messages"]:
            content = message["content"]
            if isinstance(content, str):
                if message["role"] == "user":
                    text = content
                continue
            for part in content:
                if part["type"] == "text" and message["role"] == "user":
                    text = part["text"]
                elif part["type"] == "image_url":
                    url = part["image_url"]["url"]
                    prefix = "data:image/png;base64,"
                    if not url.startswith(prefix):
                        return self.send_json(400, {"error": {"message": "images must be PNG data URLs"}})
                    try:
                        png_size(base64.b64decode(url[len(prefix):], validate=True))
                    except ValueError as e:
                        return self.send_json(400, {"error": {"message": f"image is not a PNG: {e}"}})
                    images += 1
        answer = f"You said: {text} ({images} images)"
        if model == "whole" or not body.get("stream"):
            return self.send_json(200, {"id": "chatcmpl-test", "object": "chat.completion", "model": model,
                                        "choices": [{"index": 0, "finish_reason": "stop",
                                                     "message": {"role": "assistant", "content": answer}}]})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.chunk("")  # the role chunk servers send first: no text
        pieces = [answer[i:i + 3] for i in range(0, len(answer), 3)]
        if model in ("echo", "length"):
            for p in pieces:
                self.chunk(p)
            self.chunk(None, "length" if model == "length" else "stop")
            self.event("[DONE]")
            self.wfile.write(b"0\r\n\r\n")
        elif model == "cut":
            self.chunk(pieces[0])
            self.chunk(pieces[1])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
        elif model == "malformed":
            self.chunk(pieces[0])
            self.event("{this is not json")
            self.hold_until_gone(10)
        elif model == "error-event":
            self.chunk(pieces[0])
            self.event(json.dumps({"error": {"message": "the engine died", "code": 500}}))
            self.hold_until_gone(10)
        elif model == "hold":
            self.chunk(pieces[0])
            self.hold_until_gone()
        elif model == "stall":
            self.chunk(pieces[0])
            time.sleep(30)  # nothing at all: the client's stall timeout ends it
        self.close_connection = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api-key")
    args = ap.parse_args()
    Handler.api_key = args.api_key
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
