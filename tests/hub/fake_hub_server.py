#!/usr/bin/env python3
"""A small stand-in for the Hugging Face Hub, for the downloader's tests.

Serves, on 127.0.0.1, the parts of the Hub's HTTP interface the downloader uses:
  GET  /api/models/<org>/<name>/revision/<rev>?blobs=true   file listing with sizes and checksums
  GET  /api/models/<org>/<name>/tree/<rev>?recursive=true    the same, as huggingface_hub asks for it
  HEAD/GET /<org>/<name>/resolve/<rev>/<path>               small files directly; LFS files by a
                                                            302 redirect to http://localhost:<port>/cdn/<sha256>
                                                            (another host, as the Hub's CDN is)
  Range requests (bytes=N- and bytes=N-M), 206 and 416, ETag / X-Linked-Etag / X-Repo-Commit.

Repositories (deterministic contents), each with a behaviour the tests need:
  test-org/tiny-vlm      plain
  test-org/cut-vlm       the first GET of model.safetensors breaks off after 1 MiB
  test-org/corrupt-vlm   model.safetensors is served with one byte changed (checksum must fail)
  test-org/slow-vlm      model.safetensors trickles (32 KiB every 10 ms) and, from the start,
                         holds after 1 MiB until the client pauses, so a test can pause it
  test-org/norange-vlm   ignores Range headers and always sends the whole file (200)
  --serve ORG/NAME=DIR   (repeatable) a real model folder as a plain repository, its
                         *.safetensors as LFS files (the UI's first-run test downloads a tiny model)
Unknown repositories get 401, as on the Hub.

Prints "PORT <n>" on its first line of output. Every request is appended to --log as one JSON
line. Stops by itself after --idle seconds without a request or --lifetime seconds in all.
"""
import argparse
import hashlib
import json
import os
import random
import select
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, unquote

MIB = 1 << 20
HOLD_SECONDS = 60  # how long slow-vlm holds a download from the start (see send_bytes)


def make_files(seed):
    rng = random.Random(seed)
    config = json.dumps({"model_type": "idefics3", "seed": seed, "note": "fake"}, indent=2).encode()
    tokenizer = json.dumps({"model": {"vocab": {f"tok{i}": i for i in range(3000)}}}).encode()
    return {
        "README.md": b"# A fake model for tests\n",
        "config.json": config,
        "model.safetensors": rng.randbytes(3 * MIB),
        "onnx/model.onnx": rng.randbytes(100 * 1024),
        "tokenizer.json": tokenizer,
    }


LFS = {"model.safetensors", "onnx/model.onnx"}
REPO_NAMES = ["tiny-vlm", "cut-vlm", "corrupt-vlm", "slow-vlm", "norange-vlm"]


def git_blob_id(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class Repo:
    def __init__(self, name, seed, repo_id=None, files=None):
        self.id = repo_id or "test-org/" + name
        self.name = name
        self.commit = hashlib.sha1(self.id.encode()).hexdigest()
        self.files = files if files is not None else make_files(seed)
        self.lfs = {p for p in self.files if p in LFS or p.endswith(".safetensors")}
        self.sha256 = {p: hashlib.sha256(d).hexdigest() for p, d in self.files.items()}
        self.cut_done = False

    def listing(self):
        siblings = []
        for path, data in self.files.items():
            s = {"rfilename": path, "size": len(data), "blobId": git_blob_id(data)}
            if path in self.lfs:
                s["lfs"] = {"sha256": self.sha256[path], "size": len(data), "pointerSize": 134}
                s["size"] = len(data)
            siblings.append(s)
        return {"id": self.id, "modelId": self.id, "sha": self.commit, "siblings": siblings}

    def tree(self):  # the other listing API (huggingface_hub's snapshot_download uses it)
        entries = []
        for path, data in self.files.items():
            e = {"type": "file", "oid": git_blob_id(data), "size": len(data), "path": path}
            if path in self.lfs:
                e["lfs"] = {"oid": self.sha256[path], "size": len(data), "pointerSize": 134}
            entries.append(e)
        return entries


REPOS = {r.id: r for r in (Repo(n, i + 1) for i, n in enumerate(REPO_NAMES))}
BY_SHA = {}


def index_repos():
    for repo in REPOS.values():
        for p in repo.lfs:
            BY_SHA[repo.sha256[p] + "/" + repo.name] = (repo, p)


def serve_folder(spec):
    repo_id, _, folder = spec.partition("=")
    files = {}
    for name in sorted(os.listdir(folder)):
        full = os.path.join(folder, name)
        if os.path.isfile(full):
            with open(full, "rb") as f:
                files[name] = f.read()
    repo = Repo(repo_id.split("/")[-1], 0, repo_id=repo_id, files=files)
    REPOS[repo.id] = repo


index_repos()

state = {"last": time.monotonic()}
log_lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeHub/1"

    def log_message(self, fmt, *args):  # quiet; the JSON log says what happened
        pass

    def record(self, status):
        state["last"] = time.monotonic()
        if self.server.log_path:
            line = json.dumps({"method": self.command, "path": urlsplit(self.path).path,
                               "range": self.headers.get("Range"), "status": status,
                               "auth": self.headers.get("Authorization")})
            with log_lock, open(self.server.log_path, "a") as f:
                f.write(line + "\n")

    def send_json(self, status, obj):
        body = json.dumps(obj).encode()
        self.record(status)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        try:
            self.route()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def route(self):
        parts = [unquote(p) for p in urlsplit(self.path).path.split("/")[1:]]
        if len(parts) >= 6 and parts[0] == "api" and parts[1] == "models" and parts[4] in ("revision", "tree"):
            repo = REPOS.get(parts[2] + "/" + parts[3])
            if repo is None:
                return self.send_json(401, {"error": "Repository Not Found"})
            if parts[5] not in ("main", repo.commit):
                return self.send_json(404, {"error": "Revision Not Found"})
            return self.send_json(200, repo.listing() if parts[4] == "revision" else repo.tree())
        if len(parts) >= 5 and parts[2] == "resolve":
            repo = REPOS.get(parts[0] + "/" + parts[1])
            path = "/".join(parts[4:])
            if repo is None:
                return self.send_json(401, {"error": "Repository Not Found"})
            if parts[3] not in ("main", repo.commit) or path not in repo.files:
                return self.send_json(404, {"error": "Entry not found"})
            if path in repo.lfs:
                self.record(302)
                self.send_response(302)
                # Another host name, as the Hub's CDN is: the client must not send it the token.
                port = self.server.server_address[1]
                self.send_header("Location", f"http://localhost:{port}/cdn/{repo.sha256[path]}/{repo.name}")
                self.send_header("X-Repo-Commit", repo.commit)
                self.send_header("X-Linked-Etag", f'"{repo.sha256[path]}"')
                self.send_header("X-Linked-Size", str(len(repo.files[path])))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            return self.send_bytes(repo, path, etag=git_blob_id(repo.files[path]))
        if len(parts) == 3 and parts[0] == "cdn" and (parts[1] + "/" + parts[2]) in BY_SHA:
            repo, path = BY_SHA[parts[1] + "/" + parts[2]]
            return self.send_bytes(repo, path, etag=repo.sha256[path])
        return self.send_json(404, {"error": "Not found"})

    def wait_for_close(self, seconds):
        """Waits until the client closes the connection (False) or `seconds` pass (True)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            readable, _, _ = select.select([self.connection], [], [], 0.05)
            if readable:
                try:
                    if not self.connection.recv(1, socket.MSG_PEEK):
                        return False
                except OSError:
                    return False
                time.sleep(0.05)  # bytes of a next request: not ours to read
        return True

    def send_bytes(self, repo, path, etag):
        data = repo.files[path]
        if repo.name == "corrupt-vlm" and path == "model.safetensors":
            data = data[:1000] + bytes([data[1000] ^ 0xFF]) + data[1001:]
        start, end = 0, len(data) - 1
        status = 200
        rng = self.headers.get("Range")
        if rng and repo.name != "norange-vlm":
            spec = rng.strip().removeprefix("bytes=")
            first, _, last = spec.partition("-")
            start = int(first)
            if last:
                end = min(int(last), len(data) - 1)
            if start >= len(data):
                self.record(416)
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        body = data[start:end + 1]
        self.record(status)
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"{etag}"')
        self.send_header("X-Repo-Commit", repo.commit)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.end_headers()
        if self.command == "HEAD":
            return
        if repo.name == "cut-vlm" and path == "model.safetensors" and not repo.cut_done:
            repo.cut_done = True
            self.wfile.write(body[:MIB])
            self.wfile.flush()
            self.close_connection = True  # the client sees fewer bytes than promised
            return
        if repo.name == "slow-vlm" and path == "model.safetensors":
            # A download from the start stops after its first MiB and holds there until the
            # client gives up on it (a pause), so a test that pauses mid-file is certain to
            # find it mid-file however slow the machine; after HOLD_SECONDS it goes on, so a
            # client that never pauses still finishes. A resumed download (a Range) trickles.
            held = start == 0
            for i in range(0, len(body), 32 * 1024):
                if held and i == MIB and not self.wait_for_close(HOLD_SECONDS):
                    return
                self.wfile.write(body[i:i + 32 * 1024])
                self.wfile.flush()
                time.sleep(0.01)
            return
        self.wfile.write(body)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--log", default="")
    ap.add_argument("--idle", type=float, default=60.0)
    ap.add_argument("--lifetime", type=float, default=600.0)
    ap.add_argument("--serve", action="append", default=[], metavar="ORG/NAME=DIR")
    args = ap.parse_args()
    for spec in args.serve:
        serve_folder(spec)
    index_repos()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.log_path = args.log
    print(f"PORT {server.server_address[1]}", flush=True)
    started = time.monotonic()

    def watchdog():
        while True:
            time.sleep(0.5)
            now = time.monotonic()
            if now - state["last"] > args.idle or now - started > args.lifetime:
                os._exit(0)

    threading.Thread(target=watchdog, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
