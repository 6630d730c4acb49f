"""The remote engine through `vqa`: --server, --remote-model, --api-key-env on ask, caption and
chat, and `vqa models --server`, against openai_test_server.py on loopback. Answers stream and
equal the server's; the request carries the conversation with its image as a PNG data URL;
every fault a server can give (refused key, unknown model, 429 with Retry-After, a stream cut
mid-way, a malformed event, an error event, a server that stops sending, nothing listening,
a name that does not resolve) is one clear line with the text so far kept; Ctrl+C stops a
stream at once. The API key never appears in any output. Prints one line per check."""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_checks import Checks  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--vqa", required=True)
args = parser.parse_args()

from PIL import Image  # noqa: E402

KEY = "sk-remote-test-4f1c9e"
MODELS = ["echo", "whole", "length", "cut", "malformed", "error-event", "busy", "stall", "hold"]

work = tempfile.mkdtemp(prefix="vqa-remote-")
image = os.path.join(work, "photo.png")
Image.new("RGB", (96, 64), (30, 120, 200)).save(image)

server = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "openai_test_server.py"),
                           "--api-key", KEY], stdout=subprocess.PIPE, text=True)
port = int(server.stdout.readline())
url = f"http://127.0.0.1:{port}"
os.environ["VQA_TEST_API_KEY"] = KEY

checks = Checks(args.vqa)
check = checks.check
outputs = []


def run(*argv, stdin=None):
    r = checks.run(*argv, stdin=stdin)
    outputs.append(r.stdout + r.stderr)
    return r


def remote(model, *extra):
    return ["--server", url, "--api-key-env", "VQA_TEST_API_KEY", "--remote-model", model, *extra]


def last_request():
    with urllib.request.urlopen(f"{url}/last-request", timeout=10) as r:
        return json.load(r)


try:
    # The server's models, and its refusal without the key.
    r = run("models", "--server", url, "--api-key-env", "VQA_TEST_API_KEY", "--json")
    listed = json.loads(r.stdout)["models"] if r.returncode == 0 else None
    check("models --server lists the server's models", listed == MODELS, r.stdout + r.stderr)
    r = run("models", "--server", url)
    check("a server that needs a key says so", r.returncode == 1 and "API key" in r.stderr and "401" in r.stderr,
          r.stderr)

    # A streamed answer, as text and as JSON; what was sent.
    r = run("ask", *remote("echo"), image, "What is this?")
    check("ask streams the server's answer", r.returncode == 0 and r.stdout == "You said: What is this? (1 images)\n",
          repr(r.stdout) + r.stderr)
    sent = last_request()
    user = sent["messages"][-1]
    parts = user["content"] if isinstance(user["content"], list) else []
    check("the request carries the image as a PNG data URL, then the question",
          sent["stream"] is True and sent["model"] == "echo" and user["role"] == "user" and
          [p["type"] for p in parts] == ["image_url", "text"] and
          parts[0]["image_url"]["url"].startswith("data:image/png;base64,") and parts[1]["text"] == "What is this?",
          json.dumps(sent)[:400])
    r = run("ask", *remote("echo"), image, "What is this?", "--json", "--max-new-tokens", "17")
    out = json.loads(r.stdout) if r.returncode == 0 else {}
    check("--json names the remote model and how the answer ended",
          out.get("text") == "You said: What is this? (1 images)" and out.get("stop") == "end_of_turn" and
          out.get("model", {}).get("remote") is True and out["model"].get("name") == "echo" and
          last_request()["max_tokens"] == 17, r.stdout + r.stderr)
    r = run("caption", *remote("whole"), image, "--json")
    out = json.loads(r.stdout) if r.returncode == 0 else {}
    check("a server that answers in one body (no stream) is read too",
          out.get("text") == "You said: Can you describe this image? (1 images)", r.stdout + r.stderr)
    r = run("ask", *remote("length"), image, "Hi", "--json")
    out = json.loads(r.stdout) if r.returncode == 0 else {}
    check("finish_reason length is max_tokens", out.get("stop") == "max_tokens", r.stdout + r.stderr)

    # A conversation: the earlier turns go along, the image once.
    r = run("chat", *remote("echo"), image, stdin="First question\nSecond question\n")
    sent = last_request()
    roles = [m["role"] for m in sent["messages"]]
    check("chat sends the whole conversation each turn",
          r.returncode == 0 and r.stdout.splitlines() == ["You said: First question (1 images)",
                                                          "You said: Second question (1 images)"] and
          roles == ["user", "assistant", "user"] and
          sent["messages"][1]["content"] == "You said: First question (1 images)" and
          sent["messages"][2]["content"] == "Second question", r.stdout + r.stderr + json.dumps(roles))

    r = run("chat", *remote("echo"), stdin="Just text\n")
    sent = last_request()
    check("chat without an image sends text alone",
          r.returncode == 0 and r.stdout == "You said: Just text (0 images)\n" and
          sent["messages"] == [{"role": "user", "content": "Just text"}], r.stdout + r.stderr + json.dumps(sent)[:300])

    # Choosing the model.
    r = run("ask", "--server", url, "--api-key-env", "VQA_TEST_API_KEY", image, "Hi")
    check("without --remote-model, a server with several models asks for one",
          r.returncode == 1 and "offers 9 models" in r.stderr and "echo" in r.stderr, r.stderr)
    r = run("ask", *remote("no-such-model"), image, "Hi")
    check("an unknown model is refused with the server's list",
          r.returncode == 1 and "no model 'no-such-model'" in r.stderr and "echo, whole" in r.stderr, r.stderr)

    # Faults: one line each, the text so far kept.
    r = run("ask", *remote("busy"), image, "Hi")
    check("429 says when to try again", r.returncode == 1 and "429" in r.stderr and "7 seconds" in r.stderr, r.stderr)
    r = run("ask", *remote("cut"), image, "Hi")
    check("a stream cut mid-way is an error, the text so far kept",
          r.returncode == 1 and r.stdout.startswith("You sa") and "broke off" in r.stderr and "kept" in r.stderr,
          repr(r.stdout) + r.stderr)
    r = run("ask", *remote("malformed"), image, "Hi")
    check("a malformed event is named", r.returncode == 1 and "malformed event" in r.stderr and
          r.stdout.startswith("You"), repr(r.stdout) + r.stderr)
    r = run("ask", *remote("error-event"), image, "Hi")
    check("an error event carries the server's words", r.returncode == 1 and "the engine died" in r.stderr, r.stderr)
    start = time.monotonic()
    r = run("ask", *remote("stall", "--server-timeout", "1"), image, "Hi")
    took = time.monotonic() - start
    check("a server that stops sending is given up after the timeout",
          r.returncode == 1 and "sent nothing for 1 seconds" in r.stderr and took < 20, f"{took:.1f} s: {r.stderr}")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    r = run("ask", "--server", f"http://127.0.0.1:{closed_port}", image, "Hi")
    check("connection refused says the server cannot be reached",
          r.returncode == 1 and "cannot reach the server" in r.stderr, r.stderr)
    r = run("ask", "--server", "http://no-such-host.invalid", image, "Hi")
    check("a name that does not resolve says the server cannot be reached",
          r.returncode == 1 and "cannot reach the server" in r.stderr, r.stderr)
    r = run("ask", "--server", "ftp://example.org", image, "Hi")
    check("an address that is not http(s) is refused", r.returncode == 1 and "not a server address" in r.stderr,
          r.stderr)
    r = run("ask", "--server", url, "--api-key-env", "VQA_UNSET_VARIABLE_FOR_TEST", image, "Hi")
    check("--api-key-env naming an unset variable says so",
          r.returncode == 1 and "VQA_UNSET_VARIABLE_FOR_TEST" in r.stderr, r.stderr)
    r = run("ask", "--server", url, "--model", work, image, "Hi")
    check("--model and --server together are refused", r.returncode == 1 and "not both" in r.stderr, r.stderr)

    # Ctrl+C while the server holds the stream open: the answer stops, what came is kept.
    p = subprocess.Popen([args.vqa, "ask", *remote("hold"), image, "Hi"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    first = os.read(p.stdout.fileno(), 3)  # the first chunk has arrived: the stream is running
    p.send_signal(signal.SIGINT)
    try:
        rest, err = p.communicate(timeout=20)
        code = p.returncode
    except subprocess.TimeoutExpired:
        p.kill()
        rest, err, code = b"", b"did not stop", None
    outputs.append((first + rest + err).decode(errors="replace"))
    check("Ctrl+C stops a streaming answer and keeps its text",
          first == b"You" and code == 130 and b"stopped after 1 tokens" in err, f"{first!r} {code} {err!r}")

    check("the API key appears in no output", all(KEY not in o for o in outputs))
finally:
    server.kill()
    server.wait()
    shutil.rmtree(work, ignore_errors=True)
checks.finish()
