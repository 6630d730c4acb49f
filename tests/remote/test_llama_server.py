"""The remote engine against a real third-party OpenAI-compatible server: llama-cpp-python's
server (uvicorn + FastAPI, llama.cpp underneath), started here on loopback, serving a GGUF
converted from the tiny random SmolVLM checkpoint that tests/reference/make_idefics3.py writes
(its text decoder and tokenizer; the converter is the benchmark's). With an API key, as a
shared server would have.

Checks: `vqa models --server` lists the server's model; a streamed answer through the remote
engine (`vqa chat --server`, greedy) equals the server's own non-streamed answer to the same
request, for a first turn and for a second turn that carries the first; a wrong key is refused
with a clear line. Needs the server's environment (tests/remote/setup-venv); skips, saying so,
without it. Prints one line per check."""
import argparse
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "cli"))
from cli_checks import Checks  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--vqa", required=True)
parser.add_argument("--reference", required=True, help="<build>/reference/idefics3")
args = parser.parse_args()

req = os.path.join(HERE, "requirements.txt")
key = hashlib.sha256(open(req, "rb").read()).hexdigest()[:12]
cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
venv = os.path.join(cache, "vqa-studio", f"remote-venv-{key}")
python = os.path.join(venv, "bin", "python")
if not os.path.exists(os.path.join(venv, "ok")):
    print(f"SKIP: no llama-cpp-python server environment at {venv}; run tests/remote/setup-venv "
          "(builds llama.cpp the first time)")
    sys.exit(77)
model = os.path.join(args.reference, "tiny_untied", "model")
if not os.path.exists(os.path.join(model, "model.safetensors")):
    print(f"SKIP: no tiny checkpoint at {model}; run tests/reference/make_idefics3.py")
    sys.exit(77)

API_KEY = "sk-llama-server-test-77a1"
ALIAS = "tiny-smolvlm"
work = tempfile.mkdtemp(prefix="vqa-llama-server-")
gguf = os.path.join(work, "tiny.gguf")
subprocess.run([python, os.path.join(HERE, "..", "bench", "run_bench.py"), "--worker", "make-gguf",
                "--model", model, "--gguf-type", "f32", "--out", gguf], check=True, capture_output=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, path, key=API_KEY, body=None):
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(urllib.request.Request(url + path, data=data, headers=headers), timeout=60) as r:
        return json.load(r)


def start_server():
    """The server on a free port, once it answers /v1/models. Another process can take the
    port between choosing and binding it: then the server exits, and another port is tried."""
    for _ in range(5):
        port = free_port()
        log = open(os.path.join(work, "server.log"), "w")
        proc = subprocess.Popen([python, "-m", "llama_cpp.server", "--model", gguf, "--host", "127.0.0.1",
                                 "--port", str(port), "--n_ctx", "512", "--n_threads", "2",
                                 "--model_alias", ALIAS, "--api_key", API_KEY, "--verbose", "False"],
                                stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                get(url, "/v1/models")
                return proc, url
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.2)
        proc.kill()
        proc.wait()
    log_tail = open(os.path.join(work, "server.log")).read()[-2000:]
    shutil.rmtree(work, ignore_errors=True)
    raise SystemExit("llama-cpp-python's server did not start: " + log_tail)


server, url = start_server()
os.environ["VQA_TEST_API_KEY"] = API_KEY
checks = Checks(args.vqa)
check = checks.check
try:
    r = checks.run("models", "--server", url, "--api-key-env", "VQA_TEST_API_KEY", "--json")
    listed = json.loads(r.stdout)["models"] if r.returncode == 0 else None
    check("vqa models --server lists the server's model", listed == [ALIAS], r.stdout + r.stderr)

    def server_answer(messages):
        out = get(url, "/v1/chat/completions", body={"model": ALIAS, "messages": messages, "max_tokens": 12,
                                                     "temperature": 0, "stream": False})
        return out["choices"][0]["message"]["content"]

    first = server_answer([{"role": "user", "content": "Hello there"}])
    r = checks.run("chat", "--server", url, "--api-key-env", "VQA_TEST_API_KEY", "--max-new-tokens", "12",
                   stdin="Hello there\n")
    check("the streamed answer equals the server's non-streamed one", r.returncode == 0 and first and
          r.stdout == first + "\n", f"{r.stdout!r} vs {first!r}: {r.stderr}")

    second = server_answer([{"role": "user", "content": "Hello there"}, {"role": "assistant", "content": first},
                            {"role": "user", "content": "And then?"}])
    r = checks.run("chat", "--server", url, "--api-key-env", "VQA_TEST_API_KEY", "--max-new-tokens", "12",
                   stdin="Hello there\nAnd then?\n")
    lines = r.stdout.split("\n")
    check("a second turn carries the first, as the server answers it",
          r.returncode == 0 and len(lines) >= 2 and lines[1] == second, f"{r.stdout!r} vs {second!r}: {r.stderr}")

    os.environ["VQA_WRONG_KEY"] = "not-the-key"
    r = checks.run("chat", "--server", url, "--api-key-env", "VQA_WRONG_KEY", stdin="Hello\n")
    check("a wrong key is refused in one clear line", r.returncode == 1 and "API key" in r.stderr and
          API_KEY not in r.stdout + r.stderr, r.stderr)
finally:
    server.kill()
    server.wait()
    shutil.rmtree(work, ignore_errors=True)
checks.finish()
