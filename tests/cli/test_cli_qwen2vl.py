"""The `vqa` command-line tool on the small random Qwen2.5-VL checkpoint that
tests/reference/make_qwen2vl.py writes (its "engine" case, with tokenizer and chat template), and
on make_qwen3vl.py's Qwen3-VL one (--family qwen3_vl):
ask names the family and honours --max-image-tokens; explain maps attention onto the merged
patch grid, and draws a heatmap over a document-like page into the artifacts; an image past the 200:1 aspect ratio is refused with a clear message. Prints one
line per check."""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_checks import Checks  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--vqa", required=True)
parser.add_argument("--reference", required=True, help="<build>/reference/qwen2vl")
parser.add_argument("--artifacts", required=True)
parser.add_argument("--family", default="qwen2_5_vl", help="the family the checkpoint is (qwen2_5_vl, qwen3_vl)")
args = parser.parse_args()
script = "make_" + os.path.basename(os.path.normpath(args.reference)) + ".py"
tag = args.family.replace("_", "")

case = os.path.join(args.reference, "engine")
model = os.path.join(case, "model")
if not os.path.exists(os.path.join(case, "reference.safetensors")):
    print(f"SKIP: no test model at {model}; run tests/reference/{script}")
    sys.exit(77)
from PIL import Image, ImageDraw  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402

grid = load_file(os.path.join(args.reference, "processor", "processor.safetensors"))["wide_grid_thw"][0]
image = os.path.join(case, "image0.png")  # the processor's "wide" image
checks = Checks(args.vqa)
run, check = checks.run, checks.check


def ask(*extra):
    r = run("ask", "--model", model, image, "Where is the red square?", "--json", "--max-new-tokens", "4",
            "--device", "cpu", *extra)
    try:
        return r, json.loads(r.stdout)
    except json.JSONDecodeError:
        return r, {}


r, out = ask()
check(f"ask names the {args.family} family", out.get("model", {}).get("family") == args.family, r.stdout + r.stderr)
check("ask reports boxes (none from a random model)", out.get("boxes") == [], r.stdout)
full_tokens = out.get("timings", {}).get("prompt_tokens", 0)
image_tokens = int(grid[1] * grid[2]) // 4
r, low = ask("--max-image-tokens", "2")
low_tokens = low.get("timings", {}).get("prompt_tokens", 0)
check("--max-image-tokens 2 leaves at most 2 image tokens",
      r.returncode == 0 and 0 < low_tokens <= full_tokens - image_tokens + 2, f"{full_tokens} -> {low_tokens}")

out_dir = os.path.join(args.artifacts, f"explain-{tag}")
r = run("explain", "--model", model, image, "Describe it.", "--max-new-tokens", "3", "--out", out_dir,
        "--device", "cpu")
ok = r.returncode == 0 and os.path.exists(os.path.join(out_dir, "answer.png"))
if ok:
    doc = json.load(open(os.path.join(out_dir, "explain.json")))
    grids = doc["tokens"][0]["grids"]
    ok = len(grids) == 1 and grids[0]["rows"] == grid[1] // 2 and grids[0]["cols"] == grid[2] // 2
check(f"explain maps attention onto the {grid[1] // 2}x{grid[2] // 2} merged patch grid", ok, r.stdout + r.stderr)

# A document-like page (lines of text on white): the merged-patch heatmap lands in the artifacts.
page = Image.new("RGB", (420, 300), "white")
draw = ImageDraw.Draw(page)
draw.text((20, 16), "INVOICE  No. 2026-117", fill="black")
for i, row in enumerate(["Paper, A4, 500 sheets    4.50", "Toner, black              38.00",
                         "Stapler                    9.90", "TOTAL                     52.40"]):
    draw.text((20, 60 + 40 * i), row, fill="black")
page_path = os.path.join(args.artifacts, f"document-page-{tag}.png")
os.makedirs(args.artifacts, exist_ok=True)
page.save(page_path)
doc_dir = os.path.join(args.artifacts, f"explain-{tag}-document")
r = run("explain", "--model", model, page_path, "What is the total?", "--max-new-tokens", "2", "--out", doc_dir,
        "--device", "cpu")
check("explain draws a merged-patch heatmap over a document page",
      r.returncode == 0 and os.path.exists(os.path.join(doc_dir, "answer.png")), r.stdout + r.stderr)

line = os.path.join(args.artifacts, f"line-5000x1-{tag}.png")
Image.new("RGB", (5000, 1), (200, 20, 20)).save(line)
r = run("ask", "--model", model, line, "What is this?", "--device", "cpu")
check("a 5000x1 image is refused with the aspect ratio", r.returncode == 1 and "200:1" in r.stderr,
      f"rc {r.returncode}: {r.stderr}")

checks.finish()
