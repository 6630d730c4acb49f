"""Images captioned per minute: `vqa caption` over a folder against transformers, one image
after the other and with batched `generate`, in the same run, on the same checkpoint and the
same photos. Every run writes the same number of tokens per image (end of turn ignored), greedy.

    tests/bench/caption_throughput.py --build build [--model DIR] [--images 16] [--tokens 32]
                                      [--dtype bfloat16] [--threads 2] [--batch 4,8]

--model defaults to the 256M-shape checkpoint that run_bench.py makes (random weights at
SmolVLM-256M's real shapes, the real processor settings), so tokens per image and image tiles
are what the real model does. The photos are made here: 640x480 and 480x640 JPEGs, which
SmolVLM's processor turns into its tiles plus the global view. Prints a Markdown table and
writes docs/benchmarks-caption-throughput.json."""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CACHE = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "vqa-studio")
PROMPT = "Can you describe this image?"


def make_photos(folder, count):
    import numpy as np
    from PIL import Image
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(1)
    paths = []
    for i in range(count):
        w, h = (640, 480) if i % 2 == 0 else (480, 640)
        small = rng.integers(0, 255, (h // 32, w // 32, 3), dtype=np.uint8)
        p = os.path.join(folder, f"photo{i:03d}.jpg")
        Image.fromarray(small).resize((w, h), Image.BILINEAR).save(p, quality=90)
        paths.append(p)
    return paths


def worker(args):
    """transformers: one by one (--batch 1) or in batches, greedy, --tokens new tokens each."""
    import torch
    from PIL import Image
    from transformers import AutoProcessor, Idefics3ForConditionalGeneration
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    model = Idefics3ForConditionalGeneration.from_pretrained(args.model, dtype=dtype).eval()
    proc = AutoProcessor.from_pretrained(args.model)
    proc.tokenizer.padding_side = "left"
    paths = sorted(os.path.join(args.images_dir, n) for n in os.listdir(args.images_dir))
    conv = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": PROMPT}]}]
    text = proc.apply_chat_template(conv, add_generation_prompt=True)
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(paths), args.batch):
            chunk = [Image.open(p).convert("RGB") for p in paths[i:i + args.batch]]
            inputs = proc(text=[text] * len(chunk), images=[[im] for im in chunk], return_tensors="pt",
                          padding=True)
            inputs["pixel_values"] = inputs["pixel_values"].to(dtype)
            out = model.generate(**inputs, max_new_tokens=args.tokens, min_new_tokens=args.tokens,
                                 do_sample=False)
            assert out.shape[1] - inputs["input_ids"].shape[1] == args.tokens
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "images": len(paths), "images_per_minute": len(paths) * 60 / seconds}))


def ours(vqa, model, folder, args, batch):
    work = tempfile.mkdtemp(prefix="vqa-throughput-")
    try:
        cmd = [vqa, "caption", "--model", model, folder, "--out", os.path.join(work, "c.jsonl"), "--library",
               os.path.join(work, "library.db"), "--max-new-tokens", str(args.tokens), "--ignore-eos",
               "--dtype", args.dtype, "--threads", str(args.threads), "--prompt", PROMPT, "--batch", str(batch)]
        start = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if r.returncode != 0:
            raise SystemExit("vqa caption failed:\n" + r.stderr[-2000:])
        # The run's own clock, from the first image to the last (the model's load excluded).
        m = re.search(r"of (\d+) images in ([\d.]+) s", r.stderr)
        seconds = float(m.group(2)) if m else wall
        images = int(m.group(1)) if m else args.images
        return {"seconds": seconds, "wall_with_load_s": wall, "images": images,
                "images_per_minute": images * 60 / max(seconds, 1e-9)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--model", default=os.path.join(CACHE, "bench", "smolvlm-256m"))
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--images-dir")
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", default="4,8")
    ap.add_argument("--json-out", default=os.path.join(ROOT, "docs", "benchmarks-caption-throughput.json"))
    args = ap.parse_args()
    if args.worker:
        args.batch = int(args.batch)
        return worker(args)

    model = args.model
    if os.path.isdir(os.path.join(model, args.dtype)):  # run_bench.py's layout: one folder a dtype
        model = os.path.join(model, args.dtype)
    if not os.path.exists(os.path.join(model, "config.json")):
        raise SystemExit(f"no checkpoint at {model}: run tests/bench/run_bench.py --models 256m once, or give --model")
    vqa = os.path.join(args.build, "app", "vqa")
    folder = tempfile.mkdtemp(prefix="vqa-photos-")
    try:
        make_photos(folder, args.images)
        rows = []
        for batch in [1] + [int(b) for b in args.batch.split(",") if b]:
            r = ours(vqa, model, folder, args, batch)
            rows.append({"what": "vqa caption, one by one" if batch == 1 else f"vqa caption, batches of {batch}", **r})
            print(f"ours batch {batch}: {r['images_per_minute']:.1f} images/min", file=sys.stderr)
        for batch in [1] + [int(b) for b in args.batch.split(",") if b]:
            cmd = [sys.executable, __file__, "--worker", "--model", model, "--images-dir", folder, "--tokens",
                   str(args.tokens), "--dtype", args.dtype, "--threads", str(args.threads), "--batch", str(batch)]
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                rows.append({"what": f"transformers batch {batch}", "error": p.stderr.strip().splitlines()[-1]})
                continue
            res = json.loads(p.stdout.strip().splitlines()[-1])
            rows.append({"what": "transformers generate, one by one" if batch == 1 else
                         f"transformers generate, batches of {batch}", **res})
            print(f"transformers batch {batch}: {res['images_per_minute']:.1f} images/min", file=sys.stderr)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    ours_rows = [r for r in rows if r["what"].startswith("vqa") and "error" not in r]
    best = max(ours_rows, key=lambda r: r["images_per_minute"])
    base = best["images_per_minute"]
    print(f"\n{args.images} photos (640x480 and 480x640 JPEG), {args.tokens} new tokens each, {args.dtype}, "
          f"{args.threads} threads, model {os.path.basename(os.path.dirname(model))}/{os.path.basename(model)}\n")
    print(f"| run | images a minute | ours ({best['what'].replace('vqa caption, ', '')}) against it |")
    print("|---|---|---|")
    for row in rows:
        if "error" in row:
            print(f"| {row['what']} | failed: {row['error']} | |")
            continue
        print(f"| {row['what']} | {row['images_per_minute']:.1f} | {base / row['images_per_minute']:.2f}x |")
    with open(args.json_out, "w") as f:
        json.dump({"images": args.images, "tokens": args.tokens, "dtype": args.dtype, "threads": args.threads,
                   "model": "/".join(model.rstrip("/").split("/")[-2:]), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
