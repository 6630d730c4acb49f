"""The `vqa` command-line tool, unchanged, on the small random LLaVA-1.5 checkpoint that
tests/reference/make_llava.py writes: ask answers with the reference's greedy tokens and
names the family; explain draws heatmaps through the crop. Prints one line per check."""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_checks import Checks  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--vqa", required=True)
parser.add_argument("--reference", required=True, help="<build>/reference/llava")
parser.add_argument("--artifacts", required=True)
args = parser.parse_args()

case = os.path.join(args.reference, "tiny")
model = os.path.join(case, "model")
if not os.path.exists(os.path.join(case, "reference.safetensors")):
    print(f"SKIP: no test model at {model}; run tests/reference/make_llava.py")
    sys.exit(77)
from safetensors.numpy import load_file  # noqa: E402

ref = load_file(os.path.join(case, "reference.safetensors"))
conv = json.load(open(os.path.join(case, "conversation.json")))
question = conv["turns"][0][1]["text"]
checks = Checks(args.vqa)
run, check = checks.run, checks.check


r = run("ask", "--model", model, os.path.join(case, "image0.png"), question, "--json", "--ignore-eos",
        "--max-new-tokens", "20", "--device", "cpu")
try:
    out = json.loads(r.stdout)
except json.JSONDecodeError:
    out = {}
check("ask answers with the reference's greedy tokens",
      r.returncode == 0 and out.get("token_ids") == [int(x) for x in ref["generated"]], r.stdout + r.stderr)
check("ask's text is the reference's decode", out.get("text") == conv["answer"], repr(out.get("text")))
check("ask names the llava family", out.get("model", {}).get("family") == "llava", r.stdout)

# The plain form, as a person types it: the answer streamed to stdout.
r = run("ask", "--model", model, os.path.join(case, "image0.png"), question, "--ignore-eos",
        "--max-new-tokens", "20", "--device", "cpu")
check("plain ask prints the reference's answer", r.returncode == 0 and r.stdout == conv["answer"] + "\n",
      repr(r.stdout) + r.stderr)

out_dir = os.path.join(args.artifacts, "explain-llava")
r = run("explain", "--model", model, os.path.join(case, "image0.png"), question, "--max-new-tokens", "3",
        "--out", out_dir, "--device", "cpu")
ok = r.returncode == 0 and os.path.exists(os.path.join(out_dir, "answer.png"))
if ok:
    doc = json.load(open(os.path.join(out_dir, "explain.json")))
    grids = doc["tokens"][0]["grids"]
    ok = len(doc["tokens"]) == 3 and len(grids) == 1 and grids[0]["rows"] == 6 and grids[0]["cols"] == 6
check("explain maps attention onto the 6x6 patch grid", ok, r.stdout + r.stderr)

checks.finish()
