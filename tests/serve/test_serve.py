"""`vqa serve` end to end, on the tiny SmolVLM checkpoint that tests/reference/make_idefics3.py
writes, over loopback with an API key.

--part core (standard library only): every bad input answered with a 4xx JSON error while the
server keeps serving (malformed JSON, wrong types, an image that is not one, invalid base64, a
50-megapixel image, a 20 MB body, max_tokens of 10^9, a video to a model without videos, a
question longer than the context, a missing or wrong key, an unknown model or route); greedy answers equal `vqa ask --json` on the same model; 8 concurrent clients x 25
requests, none lost and each equal to its sequential answer (p50/p99 latency and the server's
peak RSS printed, for docs/BENCHMARKS.md); Ctrl+C stops the server cleanly.

--part openai: the official `openai` package (tests/serve/requirements.txt, in the client
environment scripts/setup makes; the test skips, saying so, without it): models, a greedy
answer with an image streamed and not, equal to `vqa ask`; the attention extension through
extra_body; its errors mapped to the client's exception types.
Prints one line per check."""
import argparse
import base64
import concurrent.futures
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "cli"))
from cli_checks import Checks  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--vqa", required=True)
parser.add_argument("--reference", required=True, help="<build>/reference/idefics3")
parser.add_argument("--part", choices=["core", "openai"], default="core")
args = parser.parse_args()

if args.part == "openai":
    try:
        import openai  # noqa: F401
    except ImportError:
        req = os.path.join(HERE, "requirements.txt")
        key = hashlib.sha256(open(req, "rb").read()).hexdigest()[:12]
        cache = os.environ.get("VQA_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "vqa-studio")
        client = os.path.join(cache, f"client-venv-{key}", "bin", "python")
        if not os.path.exists(os.path.join(cache, f"client-venv-{key}", ".complete")):
            print(f"SKIP: no client environment with the openai package at {os.path.dirname(os.path.dirname(client))};"
                  " run scripts/setup")
            sys.exit(77)
        os.execv(client, [client, os.path.abspath(__file__), *sys.argv[1:]])

model = os.path.join(args.reference, "tiny_untied", "model")
image_path = os.path.join(args.reference, "tiny_untied", "image0.png")
if not os.path.exists(os.path.join(model, "model.safetensors")):
    print(f"SKIP: no tiny checkpoint at {model}; run tests/reference/make_idefics3.py")
    sys.exit(77)

KEY = "sk-serve-test-5be0"
os.environ["VQA_SERVE_TEST_KEY"] = KEY
checks = Checks(args.vqa)
check = checks.check
server = subprocess.Popen([args.vqa, "serve", "--model", model, "--device", "cpu", "--port", "0",
                           "--api-key-env", "VQA_SERVE_TEST_KEY", "--max-tokens", "64", "--max-queue", "8"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
first_line = server.stdout.readline()
if "127.0.0.1:" not in first_line:
    print("FAIL the server did not start:", first_line, server.stderr.read()[-2000:])
    sys.exit(1)
port = int(first_line.split("127.0.0.1:")[1].split("/")[0])
url = f"http://127.0.0.1:{port}"
image_b64 = base64.b64encode(open(image_path, "rb").read()).decode()
IMAGE_URL = "data:image/png;base64," + image_b64


def post(body, key=KEY, path="/v1/chat/completions", raw=None):
    """(status, parsed JSON body) of a POST; raw bytes go as they are."""
    data = raw if raw is not None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url + path, data=data, headers=headers), timeout=120) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        text = e.read()
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, {"unparsed": text[:200].decode(errors="replace")}


def ask_body(question, image=True, max_tokens=8, **extra):
    content = ([{"type": "image_url", "image_url": {"url": IMAGE_URL}}] if image else []) + \
              [{"type": "text", "text": question}]
    return {"model": "model", "messages": [{"role": "user", "content": content}], "max_tokens": max_tokens,
            "temperature": 0, "ignore_eos": True, **extra}


def vqa_ask(question, max_tokens=8):
    r = checks.run("ask", "--model", model, "--device", "cpu", image_path, question, "--max-new-tokens",
                   str(max_tokens), "--ignore-eos", "--json")
    return json.loads(r.stdout)["text"] if r.returncode == 0 else None


def is_error(status, body, code, *words):
    message = body.get("error", {}).get("message", "") if isinstance(body.get("error"), dict) else ""
    return status == code and message and all(w.lower() in message.lower() for w in words)


try:
    if args.part == "core":
        with urllib.request.urlopen(url + "/health", timeout=10) as r:
            health = json.load(r)
        check("/health answers", health.get("status") == "ok" and health.get("model") == "model", str(health))

        # Bad input: 4xx JSON each, the server serving on.
        bad = [
            ("malformed JSON", post(None, raw=b"{not json"), 400, ["JSON"]),
            ("messages of the wrong type", post({"model": "model", "messages": "hi"}), 400, ["messages"]),
            ("content of the wrong type", post({"messages": [{"role": "user", "content": 5}]}), 400, ["content"]),
            ("max_tokens of the wrong type", post(ask_body("Hi", max_tokens="ten")), 400, ["max_tokens"]),
            ("an image that is not an image",
             post(ask_body("Hi") | {"messages": [{"role": "user", "content": [
                 {"type": "image_url", "image_url": {"url": "data:image/png;base64," +
                                                     base64.b64encode(b"hello, not a picture").decode()}},
                 {"type": "text", "text": "Hi"}]}]}), 400, ["image"]),
            ("invalid base64",
             post({"messages": [{"role": "user", "content": [
                 {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@not*base64@@"}}]}]}),
             400, ["base64"]),
            ("an image from another address",
             post({"messages": [{"role": "user", "content": [
                 {"type": "image_url", "image_url": {"url": "http://example.org/cat.png"}}]}]}), 400, ["data URL"]),
            ("a video as invalid base64",
             post({"messages": [{"role": "user", "content": [
                 {"type": "video_url", "video_url": {"url": "data:video/mp4;base64,@@not*base64@@"}}]}]}),
             400, ["base64"]),
            ("a video from another address",
             post({"messages": [{"role": "user", "content": [
                 {"type": "video_url", "video_url": {"url": "http://example.org/clip.mp4"}}]}]}), 400, ["data URL"]),
            # Taken apart and written for the engine, which says this model takes no videos:
            # the engine refuses what was asked (GenerationResult.refused), a 400 as vLLM's.
            ("a video to a model without videos",
             post({"messages": [{"role": "user", "content": [
                 {"type": "video_url", "video_url": {"url": "data:video/mp4;base64," +
                                                     base64.b64encode(b"a clip, as far as the server knows").decode()}},
                 {"type": "text", "text": "What happens?"}]}]}), 400, ["takes no videos"]),
            # Read, then found longer than the tiny model's context of 1024 tokens.
            ("a question longer than the context",
             post(ask_body(" ".join(f"word{i}" for i in range(1500)))), 400, ["context"]),
            ("max_tokens of 10^9", post(ask_body("Hi", max_tokens=10**9)), 400, ["max_tokens", "64"]),
            ("a missing API key", post(ask_body("Hi"), key=None), 401, ["API key"]),
            ("a wrong API key", post(ask_body("Hi"), key="sk-wrong"), 401, ["API key"]),
            ("an unknown model", post(ask_body("Hi") | {"model": "gpt-9"}), 404, ["gpt-9"]),
            ("an unknown route", post(ask_body("Hi"), path="/v1/completions"), 404, ["no route"]),
            ("an answer asked after the assistant's turn",
             post({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}),
             400, ["last message"]),
        ]
        from PIL import Image
        big = io.BytesIO()
        Image.new("RGB", (8000, 6400), (90, 140, 200)).save(big, format="PNG")
        bad.append(("a 50-megapixel image", post({"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(big.getvalue()).decode()}},
            {"type": "text", "text": "Hi"}]}]}), 400, ["pixels"]))
        huge = json.dumps(ask_body("Hi") | {"padding": "x" * (20 << 20)}).encode()
        bad.append(("a 20 MB body", post(None, raw=huge), 413, ["too large"]))
        for name, (status, body), code, words in bad:
            check(f"{name}: {code} with a JSON error", is_error(status, body, code, *words), f"{status} {body}")
        status, body = post(ask_body("Still there?"))
        check("the server still answers after all of them", status == 200 and server.poll() is None, f"{status} {body}")

        # Greedy answers equal the CLI's on the same model and image.
        for question in ["What is in the image?", "Describe the colours."]:
            status, body = post(ask_body(question))
            text = body["choices"][0]["message"]["content"] if status == 200 else None
            local = vqa_ask(question)
            check(f"'{question}' answers as vqa ask does", text is not None and text == local, f"{text!r} vs {local!r}")
            check("usage counts the tokens", status == 200 and body["usage"]["completion_tokens"] == 8, str(body)[:300])

        # Load: 8 clients x 25 requests, each answer equal to its sequential one.
        prompts = [("What is in the image?", True), ("Name one colour.", True), ("Say hello.", False),
                   ("Count to three.", False)]
        sequential = {}
        for q, img in prompts:
            status, body = post(ask_body(q, image=img))
            sequential[q] = body["choices"][0]["message"]["content"] if status == 200 else None

        def client(c):
            out = []
            for i in range(25):
                q, img = prompts[(c + i) % len(prompts)]
                t = time.monotonic()
                status, body = post(ask_body(q, image=img))
                out.append((q, status, body["choices"][0]["message"]["content"] if status == 200 else body,
                            time.monotonic() - t))
            return out

        start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            results = [r for rs in pool.map(client, range(8)) for r in rs]
        wall = time.monotonic() - start
        ok = [r for r in results if r[1] == 200]
        wrong = [r for r in ok if r[2] != sequential[r[0]]]
        latencies = sorted(r[3] for r in results)
        p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99) - 1]
        rss_kib = next((int(line.split()[1]) for line in open(f"/proc/{server.pid}/status")
                        if line.startswith("VmHWM:")), 0)
        print(f"[ load ] 8 clients x 25 requests: {len(ok)} answered in {wall:.1f} s, p50 {p50 * 1000:.0f} ms, "
              f"p99 {p99 * 1000:.0f} ms, server peak RSS {rss_kib / 1024:.0f} MiB")
        check("8 clients x 25 requests: none lost", len(results) == 200 and len(ok) == 200,
              str([r for r in results if r[1] != 200][:3]))
        check("every concurrent answer equals its sequential answer", not wrong and all(sequential.values()),
              str(wrong[:3]))

        # Ctrl+C: the server stops cleanly.
        server.send_signal(signal.SIGINT)
        try:
            out, err = server.communicate(timeout=30)
            check("Ctrl+C stops the server cleanly", server.returncode == 0 and "Stopped." in out, f"{server.returncode} {err[-500:]}")
        except subprocess.TimeoutExpired:
            check("Ctrl+C stops the server cleanly", False, "still running 30 s later")
    else:
        import openai
        client = openai.OpenAI(base_url=url + "/v1", api_key=KEY)
        ids = [m.id for m in client.models.list()]
        check("openai: models.list names the model", ids == ["model"], str(ids))
        messages = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": IMAGE_URL}},
                                                 {"type": "text", "text": "What is in the image?"}]}]
        local = vqa_ask("What is in the image?")
        r = client.chat.completions.create(model="model", messages=messages, max_tokens=8, temperature=0,
                                           extra_body={"ignore_eos": True})
        check("openai: an answer about an image equals vqa ask", r.choices[0].message.content == local and
              r.choices[0].finish_reason == "length", f"{r.choices[0].message.content!r} vs {local!r}")
        parts, grids = [], []
        for chunk in client.chat.completions.create(model="model", messages=messages, max_tokens=8, temperature=0,
                                                    stream=True, extra_body={"ignore_eos": True,
                                                                             "vqa": {"attention": True}}):
            if chunk.choices and chunk.choices[0].delta.content:
                parts.append(chunk.choices[0].delta.content)
                grids.append((chunk.model_extra or {}).get("vqa", {}).get("attention", []))
        check("openai: the streamed answer equals it too", "".join(parts) == local, f"{''.join(parts)!r}")
        check("openai: each streamed token carries its attention grids",
              len(grids) == 8 and all(g and len(g[0]["values"]) == g[0]["rows"] * g[0]["cols"] for g in grids),
              str(grids[:1])[:300])
        for name, call, error in [
            ("a wrong key", lambda: openai.OpenAI(base_url=url + "/v1", api_key="sk-wrong").models.list(),
             openai.AuthenticationError),
            ("an unknown model", lambda: client.chat.completions.create(model="gpt-9", messages=messages, max_tokens=2),
             openai.NotFoundError),
            ("max_tokens of 10^9", lambda: client.chat.completions.create(model="model", messages=messages,
                                                                          max_tokens=10**9), openai.BadRequestError),
        ]:
            try:
                call()
                check(f"openai: {name} raises {error.__name__}", False, "no error")
            except error as e:
                check(f"openai: {name} raises {error.__name__}", True)
            except Exception as e:  # noqa: BLE001
                check(f"openai: {name} raises {error.__name__}", False, repr(e))
finally:
    if server.poll() is None:
        server.kill()
        server.wait()
checks.finish()
