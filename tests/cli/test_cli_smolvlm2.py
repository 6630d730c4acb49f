"""The `vqa` command-line tool on the small random SmolVLM2 checkpoint that
tests/reference/make_smolvlm2.py writes: ask about two images and about a video answers with the
reference's greedy tokens and says which frames it saw; explain maps a video's answer on every
frame and gives each word's share per frame; a broken video and a model without videos are
messages, not crashes. Prints one line per check."""
import argparse
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_checks import Checks  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--vqa", required=True)
parser.add_argument("--reference", required=True, help="<build>/reference")
parser.add_argument("--artifacts", required=True)
args = parser.parse_args()

case = os.path.join(args.reference, "smolvlm2", "tiny")
model = os.path.join(case, "model")
if not os.path.exists(os.path.join(case, "done.json")):
    print(f"SKIP: no test model at {model}; run tests/reference/make_smolvlm2.py")
    sys.exit(77)
from safetensors.numpy import load_file  # noqa: E402

checks = Checks(args.vqa)
run, check = checks.run, checks.check


def conversation(name):
    ref = load_file(os.path.join(case, f"{name}.safetensors"))
    conv = json.load(open(os.path.join(case, f"{name}.json")))
    parts = conv["turns"][0]
    files = [os.path.join(case, p["file"]) for p in parts if p["type"] != "text"]
    question = next(p["text"] for p in parts if p["type"] == "text")
    return ref, conv, files, question


def ask_json(*argv):
    r = run("ask", "--model", model, *argv, "--json", "--ignore-eos", "--max-new-tokens", "20", "--device", "cpu")
    try:
        return r, json.loads(r.stdout)
    except json.JSONDecodeError:
        return r, {}


# The images come before the question in the reference's turn; the command line gives them in order.
ref, conv, files, question = conversation("two_images")
r, out = ask_json(*files, question)
check("ask about two images answers with the reference's greedy tokens",
      r.returncode == 0 and out.get("token_ids") == [int(x) for x in ref["generated"]], r.stdout + r.stderr)
check("ask names the smolvlm family", out.get("model", {}).get("family") == "smolvlm", r.stdout)

ref, conv, files, question = conversation("video")
r, out = ask_json(*files, question)
check("ask about a video answers with the reference's greedy tokens",
      r.returncode == 0 and out.get("token_ids") == [int(x) for x in ref["generated"]], r.stdout + r.stderr)
frames = (out.get("video_frames") or [{}])[0]
check("ask says which frames of the video it saw, and when",
      frames.get("frames") == [int(x) for x in ref["frame_indices"]] and
      frames.get("times_s") == [float(x) for x in ref["timestamps"]], json.dumps(out.get("video_frames")))

out_dir = os.path.join(args.artifacts, "explain-smolvlm2-video")
shutil.rmtree(out_dir, ignore_errors=True)
r = run("explain", "--model", model, files[0], question, "--max-new-tokens", "3", "--out", out_dir, "--device", "cpu")
ok = r.returncode == 0
doc = json.load(open(os.path.join(out_dir, "explain.json"))) if ok else {}
n_frames = len(ref["frame_indices"])
video = (doc.get("videos") or [{}])[0]
pngs = video.get("frame_pngs", [])
check("explain maps a video's answer on every frame it saw",
      ok and len(pngs) == n_frames and all(os.path.exists(os.path.join(out_dir, p)) for p in pngs), r.stdout + r.stderr)
shares = [s["share"] for s in (doc.get("words") or [{}])[0].get("pictures", [])]
check("explain gives a word's share of attention per frame, summing to 1",
      len(shares) == n_frames and abs(sum(shares) - 1) < 1e-4, json.dumps((doc.get("words") or [{}])[0])[:400])
grid = doc["tokens"][0]["grids"][0] if ok else {}
check("explain.json's grids name their video, frame and time",
      grid.get("video") == 0 and grid.get("frame") == 0 and grid.get("time_s") == 0.0, json.dumps(grid)[:300])

# Bad input: a text file named .mp4; a model that takes no videos. A message and exit 1, never a crash.
fake = os.path.join(args.artifacts, "not-a-video.mp4")
os.makedirs(args.artifacts, exist_ok=True)
open(fake, "w").write("this is text, not a video\n")
r = run("ask", "--model", model, fake, "What happens?", "--device", "cpu")
check("a file that is not a video is a message", r.returncode == 1 and "not-a-video.mp4" in r.stderr, r.stderr)
idefics3 = os.path.join(args.reference, "idefics3", "tiny_untied", "model")
if os.path.exists(os.path.join(idefics3, "config.json")):
    r = run("ask", "--model", idefics3, files[0], "What happens?", "--device", "cpu")
    check("a model without videos says so", r.returncode == 1 and "takes no videos" in r.stderr, r.stderr)
r = run("ask", "--model", model, "What happens?", "--device", "cpu")
check("a question without files is a usage error", r.returncode == 2 and "then the question" in r.stderr, r.stderr)

checks.finish()
