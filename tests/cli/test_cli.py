"""End-to-end tests of the `vqa` command-line tool on the small random SmolVLM checkpoint
that tests/reference/make_idefics3.py writes. Run by ctest; prints one line per check and a
closing 'N passed, N failed' line."""
import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_checks import Checks  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--vqa", required=True)
parser.add_argument("--reference", required=True, help="<build>/reference/idefics3")
parser.add_argument("--fixtures", required=True)
parser.add_argument("--artifacts", required=True)
args = parser.parse_args()

case = os.path.join(args.reference, "tiny_untied")
model = os.path.join(case, "model")
image = os.path.join(case, "image0.png")
if not os.path.exists(os.path.join(model, "config.json")):
    print(f"SKIP: no test model at {model}; run tests/reference/make_idefics3.py")
    sys.exit(77)

checks = Checks(args.vqa)
run, check = checks.run, checks.check


r = run("ask", "--model", model, image, "What is in the picture?", "--json", "--ignore-eos",
        "--max-new-tokens", "6")
try:
    out = json.loads(r.stdout)
except json.JSONDecodeError:
    out = {}
check("ask --json answers with 6 tokens", r.returncode == 0 and len(out.get("token_ids", [])) == 6
      and out.get("stop") == "max_tokens" and out["timings"]["prompt_tokens"] > 16, r.stdout + r.stderr)
# SmolVLM names no boxes (no box space, no <|box_start|>): the list is there, and empty.
check("ask --json reports the answer's boxes (none for SmolVLM)", out.get("boxes") == [], r.stdout)

r = run("caption", "--model", model, image, "--max-new-tokens", "4", "--ignore-eos")
check("caption streams text", r.returncode == 0 and len(r.stdout.strip()) > 0, r.stderr)

r = run("chat", "--model", model, image, "--json", "--max-new-tokens", "3", "--ignore-eos",
        stdin="What is it?\nAnd the colours?\n")
lines = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
check("chat answers each line, reusing the prefix", r.returncode == 0 and len(lines) == 2
      and lines[1]["timings"]["cached_tokens"] > 0 and lines[1]["timings"]["encode_ms"] == 0,
      r.stdout + r.stderr)

# 8- and 4-bit decoder weights: the JSON names the precision, explain works on top.
for dtype, fmt in (("int8", "q8_0"), ("int4", "q4_0")):
    r = run("ask", "--model", model, image, "What is it?", "--json", "--ignore-eos", "--max-new-tokens", "4",
            "--dtype", dtype)
    try:
        out = json.loads(r.stdout)
    except json.JSONDecodeError:
        out = {}
    check(f"ask --dtype {dtype} answers with {fmt} weights", r.returncode == 0
          and len(out.get("token_ids", [])) == 4 and out["model"]["quantization"] == fmt
          and out["model"]["dtype"] == "float32", r.stdout + r.stderr)
r = run("explain", "--model", model, image, "What is it?", "--max-new-tokens", "3", "--dtype", "int4",
        "--out", os.path.join(args.artifacts, "explain-int4"))
check("explain --dtype int4 writes its heatmaps", r.returncode == 0
      and os.path.exists(os.path.join(args.artifacts, "explain-int4", "answer.png")), r.stdout + r.stderr)
# Teacher-forced logits, as the benchmarks compare precisions with them.
import numpy as np  # noqa: E402  (the reference environment has NumPy)

logits = {}
for dtype in ("float32", "int8"):
    path = os.path.join(args.artifacts, f"logits-{dtype}.npy")
    r = run("logits", "--model", model, "--ids", "1,5,9,20,3,7", "--dtype", dtype, "--out", path)
    logits[dtype] = np.load(path) if r.returncode == 0 and os.path.exists(path) else None
ok = all(v is not None and v.shape[0] == 6 and v.dtype == np.float32 for v in logits.values())
if ok:
    a, b = logits["float32"], logits["int8"]
    err = float(np.sqrt(((a - b) ** 2).mean() / (a ** 2).mean()))
    ok = 0 < err < 0.1
check("logits writes [tokens, vocab] float32 for each precision, int8 near float32", ok, r.stdout + r.stderr)
r = run("logits", "--model", model, "--ids", "1,99999999", "--out", os.path.join(args.artifacts, "bad.npy"))
check("logits refuses an id outside the vocabulary", r.returncode == 1 and "vocabulary" in r.stderr, r.stderr)
# With --image the ids are an answer about the image: teacher-forcing the greedy answer gives
# back its tokens as each row's largest logit, and "fast" (the vision tower in bfloat16) differs
# from float32 there; on a text of fewer than 16 tokens (below the rows its prefill's float16
# products start at) it does not.
r = run("ask", "--model", model, image, "Describe this image.", "--json", "--ignore-eos", "--max-new-tokens", "4")
try:
    greedy = json.loads(r.stdout)["token_ids"]
except (json.JSONDecodeError, KeyError):
    greedy = []
image_logits = {}
for dtype in ("float32", "fast"):
    path = os.path.join(args.artifacts, f"logits-image-{dtype}.npy")
    r = run("logits", "--model", model, "--ids", ",".join(map(str, greedy or [1])), "--dtype", dtype,
            "--image", image, "--out", path)
    image_logits[dtype] = np.load(path) if r.returncode == 0 and os.path.exists(path) else None
a = image_logits["float32"]
check("logits --image: the greedy answer's tokens are each row's largest logit", len(greedy) == 4 and a is not None
      and a.shape[0] == 4 and [int(i) for i in a.argmax(axis=1)] == greedy, f"{greedy} {r.stderr}")
b = image_logits["fast"]
text_fast = os.path.join(args.artifacts, "logits-fast.npy")
r = run("logits", "--model", model, "--ids", "1,5,9,20,3,7", "--dtype", "fast", "--out", text_fast)
same_text = r.returncode == 0 and logits["float32"] is not None and np.array_equal(np.load(text_fast), logits["float32"])
err = float(np.sqrt(((a - b) ** 2).mean() / (a ** 2).mean())) if a is not None and b is not None else -1
check("logits: fast equals float32 on a short text, and differs only a little with the image", same_text and 0 < err < 0.1,
      f"text equal {same_text}, error with the image {err}")
r = run("logits", "--model", model, "--ids", "1,5", "--image", os.path.join(case, "no-such.png"),
        "--out", os.path.join(args.artifacts, "bad-image.npy"))
check("logits --image with a missing image fails cleanly", r.returncode == 1 and "no-such.png" in r.stderr, r.stderr)

r = run("ask", "--model", model, image, "x", "--dtype", "int3")
check("an unknown --dtype is refused, naming the choices", r.returncode != 0 and "int4" in r.stderr, r.stderr)

r = run("ask", "--model", os.path.join(case, "no-such-model"), image, "x")
check("missing model folder fails cleanly", r.returncode == 1 and "does not exist" in r.stderr, r.stderr)

with tempfile.NamedTemporaryFile(suffix=".png", delete=False) as f:
    f.write(b"not a png at all")
r = run("ask", "--model", model, f.name, "x")
check("broken image fails cleanly", r.returncode == 1 and "vqa:" in r.stderr, r.stderr)
os.unlink(f.name)

out_dir = os.path.join(args.artifacts, "explain")
r = run("explain", "--model", model, os.path.join(case, "image1.png"), "What is this?",
        "--max-new-tokens", "5", "--out", out_dir)
ok = r.returncode == 0 and os.path.exists(os.path.join(out_dir, "answer.png"))
if ok:
    doc = json.load(open(os.path.join(out_dir, "explain.json")))
    ok = len(doc["tokens"]) == 5 and all(os.path.exists(os.path.join(out_dir, w["png"])) for w in doc["words"])
    ok = ok and all(len(t["grids"]) > 1 for t in doc["tokens"]) and doc["boxes"] == []
check("explain writes word and answer heatmaps and the grids", ok, r.stdout + r.stderr)

# Ctrl+C during an answer stops that answer, keeps what came and exits 130. The model at the
# real SmolVLM-256M shapes decodes slowly enough to be interrupted mid-answer for sure.
real_model = os.path.join(args.reference, "real_shapes", "model")
if os.path.exists(os.path.join(real_model, "config.json")):
    import signal  # noqa: E402
    import time  # noqa: E402

    p = subprocess.Popen([args.vqa, "ask", "--model", real_model, image, "Describe it.", "--ignore-eos",
                          "--max-new-tokens", "300", "--threads", "1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = p.stdout.read(1)  # the answer has begun
    os.kill(p.pid, signal.SIGINT)
    start = time.monotonic()
    try:
        out, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    waited = time.monotonic() - start
    check("Ctrl+C stops an answer mid-way, keeps its text, exits 130",
          first and p.returncode == 130 and b"stopped after" in err and waited < 10,
          f"rc={p.returncode} waited={waited:.1f}s stderr={err.decode(errors='replace')}")
else:
    print(f"SKIP Ctrl+C check: no model at {real_model}")

# A larger, non-square scene, the per-word relevancy maps and a chosen layer and head: the
# PNGs under <build>/artifacts/explain-scene are there to be looked at.
from PIL import Image, ImageDraw  # noqa: E402  (the reference environment has Pillow)

scene = Image.new("RGB", (640, 400), (120, 170, 230))
draw = ImageDraw.Draw(scene)
draw.rectangle([0, 260, 640, 400], fill=(70, 140, 60))
draw.rectangle([120, 150, 260, 300], fill=(190, 40, 40))
draw.polygon([(100, 150), (190, 80), (280, 150)], fill=(110, 30, 30))
draw.ellipse([480, 40, 560, 120], fill=(250, 210, 60))
scene_dir = os.path.join(args.artifacts, "explain-scene")
scene_path = os.path.join(args.artifacts, "scene.png")
os.makedirs(args.artifacts, exist_ok=True)
scene.save(scene_path)
r = run("explain", "--model", model, scene_path, "What is in the picture?", "--max-new-tokens", "4",
        "--relevancy", "--layers", "1:1", "--head", "2", "--out", scene_dir)
ok = r.returncode == 0
if ok:
    doc = json.load(open(os.path.join(scene_dir, "explain.json")))
    words = doc["words"]
    ok = bool(words) and all(os.path.exists(os.path.join(scene_dir, w["relevancy_png"])) for w in words)
    ok = ok and doc["reduction"] == "head 2 of layers 1 to 1"
    ok = ok and Image.open(os.path.join(scene_dir, "answer.png")).size[0] > 640  # image + legend
    # Relevancy is not the attention map again.
    att = doc["tokens"][words[0]["tokens"][0]]["grids"][0]["values"]
    rel = words[0]["relevancy_grids"][0]["values"]
    norm = lambda v: [x / (sum(v) or 1) for x in v]
    ok = ok and len(att) == len(rel) and sum(abs(a - b) for a, b in zip(norm(att), norm(rel))) > 0.02
check("explain with relevancy, a layer range and one head", ok, r.stdout + r.stderr)
r = run("explain", "--model", model, scene_path, "x", "--layers", "5:9", "--out", scene_dir + "-bad")
check("explain refuses a layer range outside the model", r.returncode == 1 and "outside" in r.stderr,
      r.stdout + r.stderr)

# What the answer depended on: reliance on the image, an occluded rectangle, an occlusion map
# (the numbers themselves are checked against transformers in test_engine_parity.cpp).
cf_dir = os.path.join(args.artifacts, "explain-counterfactual")
r = run("explain", "--model", model, scene_path, "What is in the picture?", "--max-new-tokens", "4",
        "--reliance", "mean", "--occlude", "120,150,140,150", "--occlusion-map", "3", "--out", cf_dir)
ok = r.returncode == 0
if ok:
    doc = json.load(open(os.path.join(cf_dir, "explain.json")))
    ok = all(os.path.exists(os.path.join(cf_dir, f)) for f in
             ("reliance.png", "occlusion.png", "occluded-image.png", "occlusion-map.png"))
    ok = ok and len(doc["reliance"]["tokens"]) == 4 and "mean colour" in doc["reliance"]["method"]
    ok = ok and all("reliance" in w and "occlusion_drop" in w for w in doc["words"])
    ok = ok and doc["occlusion"]["rect"] == [120, 150, 140, 150] and len(doc["occlusion_map"]["drop"]) == 9
    t = doc["reliance"]["tokens"][0]
    ok = ok and abs(t["log_prob"] - t["log_prob_changed"] - t["difference"]) < 1e-5
    ok = ok and "lowered most" in r.stderr
check("explain --reliance, --occlude and --occlusion-map write their scores and pictures", ok, r.stdout + r.stderr)
r = run("explain", "--model", model, scene_path, "x", "--max-new-tokens", "2", "--occlude", "700,10,20,20",
        "--out", cf_dir + "-bad")
check("explain refuses a rectangle outside the image", r.returncode == 1 and "outside" in r.stderr,
      r.stdout + r.stderr)
r = run("explain", "--model", model, scene_path, "x", "--occlusion-map", "40", "--out", cf_dir + "-bad")
check("explain refuses an occlusion grid over 16 cells a side", r.returncode != 0 and "16" in r.stderr,
      r.stdout + r.stderr)

# Attention rollout through the vision tower (its numbers: test_idefics3_parity.cpp and
# test_engine_parity.cpp).
ro_dir = os.path.join(args.artifacts, "explain-rollout")
r = run("explain", "--model", model, scene_path, "What is in the picture?", "--max-new-tokens", "3", "--rollout",
        "--out", ro_dir)
ok = r.returncode == 0
if ok:
    doc = json.load(open(os.path.join(ro_dir, "explain.json")))
    ok = os.path.exists(os.path.join(ro_dir, "rollout-answer.png")) and "Abnar" in doc["rollout"]["method"]
    ok = ok and all(os.path.exists(os.path.join(ro_dir, w["rollout_png"])) for w in doc["words"])
check("explain --rollout writes the rollout maps per word and for the answer", ok, r.stdout + r.stderr)

# --avoid: a word of the answer, made one token, is never produced again.
r = run("ask", "--model", model, image, "What is it?", "--json", "--ignore-eos", "--max-new-tokens", "8")
before = json.loads(r.stdout) if r.returncode == 0 else {"token_ids": []}
word, word_id = None, None
for tid in before["token_ids"]:
    piece = run("detokenize", "--model", model, str(tid)).stdout.strip()
    if piece.isalpha() and len(piece) >= 3:
        t = run("tokenize", "--model", model, " " + piece).stdout.split()
        if len(t) == 1 and int(t[0]) == tid:
            word, word_id = piece, tid
            break
if word is None:
    check("--avoid keeps a word out of the answer", False, f"no one-token word in {before}")
else:
    r = run("ask", "--model", model, image, "What is it?", "--json", "--ignore-eos", "--max-new-tokens", "8",
            "--avoid", f"{word},zebra")
    after = json.loads(r.stdout) if r.returncode == 0 else {"token_ids": [word_id]}
    check(f"--avoid keeps a word out of the answer ({word!r})", word_id not in after["token_ids"] and
          after["token_ids"] != before["token_ids"], f"{before['token_ids']} -> {after['token_ids']}: {r.stderr}")

tok_dir = os.path.join(args.fixtures, "smolvlm-256m-instruct")
if os.path.exists(os.path.join(tok_dir, "tokenizer.json")):
    r = run("tokenize", "--model", tok_dir, "Hello <image> world")
    ids = r.stdout.split()
    r2 = run("detokenize", "--model", tok_dir, *ids)
    check("tokenize and detokenize round trip", r.returncode == 0 and "49190" in ids
          and r2.stdout.rstrip("\n") == "Hello <image> world", r.stdout + r2.stdout + r2.stderr)

checks.finish()
