"""What the counterfactual explanations cost against the answer they explain: `vqa explain`
with --reliance (two teacher-forced passes), --occlude (two) and --occlusion-map N (N*N + 1),
each timed by the command itself (explain.json's "seconds"), in one run.

    tests/bench/explain_cost.py --build build [--model DIR] [--tokens 64] [--grid 8]
                                [--dtype bfloat16] [--threads 2]

--model defaults to the 256M-shape checkpoint run_bench.py makes (random weights at
SmolVLM-256M's real shapes and processor settings). The photo is a 640x480 JPEG made here.
Prints a Markdown table and writes docs/benchmarks-explain-cost.json."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CACHE = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "vqa-studio")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--model", default=os.path.join(CACHE, "bench", "smolvlm-256m"))
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--grid", type=int, default=8)
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json-out", default=os.path.join(ROOT, "docs", "benchmarks-explain-cost.json"))
    args = ap.parse_args()
    model = args.model
    if os.path.isdir(os.path.join(model, args.dtype)):  # run_bench.py's layout: one folder a dtype
        model = os.path.join(model, args.dtype)
    if not os.path.exists(os.path.join(model, "config.json")):
        raise SystemExit(f"no checkpoint at {model}: run tests/bench/run_bench.py --models 256m once, or give --model")

    import numpy as np
    from PIL import Image
    work = tempfile.mkdtemp(prefix="vqa-explain-cost-")
    try:
        photo = os.path.join(work, "photo.jpg")
        small = np.random.default_rng(2).integers(0, 255, (15, 20, 3), dtype=np.uint8)
        Image.fromarray(small).resize((640, 480), Image.BILINEAR).save(photo, quality=90)
        cmd = [os.path.join(args.build, "app", "vqa"), "explain", "--model", model, photo, "Describe this image.",
               "--max-new-tokens", str(args.tokens), "--ignore-eos", "--dtype", args.dtype, "--threads",
               str(args.threads), "--reliance", "mean", "--occlude", "160,120,320,240", "--occlusion-map",
               str(args.grid), "--out", os.path.join(work, "out")]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit("vqa explain failed:\n" + r.stderr[-2000:])
        seconds = json.load(open(os.path.join(work, "out", "explain.json")))["seconds"]
    finally:
        shutil.rmtree(work, ignore_errors=True)

    answer = seconds["answer"]
    rows = [("the answer itself (generation with attention capture)", answer, 1),
            ("reliance on the image (2 teacher-forced passes)", seconds["reliance"], 2),
            ("one occluded rectangle (2 passes)", seconds["occlusion"], 2),
            (f"{args.grid}x{args.grid} occlusion map ({args.grid * args.grid + 1} passes)", seconds["occlusion_map"],
             args.grid * args.grid + 1)]
    print(f"\n{args.tokens}-token answer about a 640x480 photo, {args.dtype}, {args.threads} threads, "
          f"model {os.path.basename(os.path.dirname(model))}/{os.path.basename(model)}\n")
    print("| what | seconds | against the answer |")
    print("|---|---|---|")
    for what, s, _ in rows:
        print(f"| {what} | {s:.2f} | {s / answer:.2f}x |")
    with open(args.json_out, "w") as f:
        json.dump({"tokens": args.tokens, "grid": args.grid, "dtype": args.dtype, "threads": args.threads,
                   "model": "/".join(model.rstrip("/").split("/")[-2:]),
                   "rows": [{"what": w, "seconds": s, "passes": p} for w, s, p in rows]}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
