#!/usr/bin/env python3
"""Time to the first token for a user's photo, not the benchmark's one tile: a 4000x3000 JPEG
through SmolVLM's own processor settings (size.longest_edge 2048, 512-pixel tiles: 12 tiles and
the global view, 832 image tokens), ours against transformers in the same run, same threads,
for each dtype; then ours at lower image details (Settings > Image detail, --max-image-tokens),
which cut the photo into fewer tiles.

  python tests/bench/photo_ttft.py [--build build] [--models 256m,500m] [--dtypes float32,bfloat16]
      [--threads 2] [--details 256,64]

It uses run_bench.py's random-weight checkpoints (made there first if missing) with the
fixture's preprocessor_config.json in place of the benchmark's one-tile one. Each engine runs in
a subprocess of its own, twice from scratch; the second (warm) run is reported. Results go to
docs/benchmarks-photo-<threads>t-<cpu>.json and to their section of docs/BENCHMARKS.md (one per
thread count and kind of CPU, as run_bench.py's).
"""
import argparse
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_report as br  # noqa: E402
import run_bench as rb  # noqa: E402

PHOTO = (4000, 3000)


def make_photo(path):
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(1)
    small = rng.integers(0, 255, (75, 100, 3), dtype=np.uint8)
    im = Image.fromarray(small).resize(PHOTO, Image.BICUBIC)
    noise = rng.integers(-12, 12, (PHOTO[1], PHOTO[0], 3))
    im = Image.fromarray(np.clip(np.asarray(im).astype(np.int16) + noise, 0, 255).astype(np.uint8))
    im.save(path, quality=90)


def photo_model(checkpoint, fixtures):
    """The checkpoint's files, with the fixture's own preprocessor settings (2048 / 512)."""
    out = checkpoint + "-photo"
    os.makedirs(out, exist_ok=True)
    settings = ("preprocessor_config.json", "processor_config.json")
    for name in os.listdir(checkpoint):
        target = os.path.join(out, name)
        if name in settings or os.path.lexists(target):
            continue
        os.symlink(os.path.join(checkpoint, name), target)
    own = os.path.join(fixtures, "smolvlm-256m-instruct", "preprocessor_config.json")
    shutil.copy(own, os.path.join(out, "preprocessor_config.json"))
    # transformers 5 writes the image processor's settings into processor_config.json too.
    processor = json.load(open(os.path.join(checkpoint, "processor_config.json")))
    if "image_processor" in processor:
        processor["image_processor"]["size"] = json.load(open(own))["size"]
    with open(os.path.join(out, "processor_config.json"), "w") as f:
        json.dump(processor, f, indent=2)
    return out


def ours(vqa, model, image, dtype, threads, detail=0):
    cmd = [vqa, "ask", "--model", model, "--json", "--ignore-eos", "--max-new-tokens", "1", "--repeat",
           str(1 + rb.WARM_RUNS),
           "--threads", str(threads), "--device", "cpu", "--dtype", dtype, "--max-image-tokens", str(detail),
           image, rb.QUESTION]
    rc, out, err, rss = rb.run_measured(cmd)
    if rc != 0:
        rb.log(f"vqa ask failed: {err[-2000:]}")
        return {"error": err.strip()}
    runs = [json.loads(line)["timings"] for line in out.strip().splitlines() if line.startswith("{")]
    res = rb.median_timings(runs[1:])
    res["peak_rss_mib"] = rss
    return res


def markdown(report, json_name):
    m = report["machine"]
    lines = [
        f"Made by `tests/bench/photo_ttft.py`; the raw numbers are in `docs/{json_name}`.", "",
        f"- Machine: {m['cpu']}, {m['cores']} cores ({', '.join(m.get('cpu_flags', []))}); "
        f"{report['threads']} threads for every engine.",
        f"- A {PHOTO[0]}x{PHOTO[1]} JPEG with SmolVLM's own processor settings (longest edge 2048, "
        "512-pixel tiles), the benchmark's question, one new token; each engine answers once after "
        f"loading (its page faults), then {rb.WARM_RUNS} times more: those runs' medians.",
        *br.kernel_lines(report.get("kernel_choices")), "",
        "| model | dtype | engine | detail | prompt tokens | preprocess ms | encode ms | "
        "prefill ms | first token ms | ours ÷ transformers |",
        "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in report["models"].items():
        for dtype, row in r.items():
            ref = row.get("transformers", {})
            own = [("transformers", ref)]
            if dtype == "fast":  # stands in for float32, so it is held to transformers' float32
                own, ref = [], r.get("float32", {}).get("transformers", {})
            for label, res in own + [(f"ours", v) for v in row.get("ours", [])]:
                if not res or "error" in res:
                    continue
                detail = res.get("detail", 0)
                share = (f"{res['first_token_ms'] / ref['first_token_ms']:.2f}x"
                         + (" (÷ float32)" if dtype == "fast" else "")
                         if label == "ours" and ref and "error" not in ref else "")
                lines.append(
                    f"| {name} | {dtype} | {label} | {detail or 'model'} | "
                    f"{res.get('prompt_tokens', '')} | {res.get('preprocess_ms', 0):.0f} | "
                    f"{res.get('encode_ms', 0):.0f} | {res.get('prefill_ms', 0):.0f} | "
                    f"{res['first_token_ms']:.0f} | {share} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    rb.add_common_args(ap)
    ap.add_argument("--models", default="256m,500m")
    ap.add_argument("--dtypes", default="float32,bfloat16")
    ap.add_argument("--details", default="256,64", help="lower image details to run ours at (token budgets)")
    args = ap.parse_args()

    vqa = rb.build_vqa(args.build)
    os.makedirs(args.work, exist_ok=True)
    image = os.path.join(args.work, "photo4000x3000.jpg")
    if not os.path.exists(image):
        make_photo(image)
    report = {"machine": br.machine_info(), "threads": args.threads, "load_before": br.load_average(),
              "kernel_choices": rb.kernel_choices(vqa, args.threads), "models": {}}
    for name in args.models.split(","):
        mdir = os.path.join(args.work, f"smolvlm-{name}")
        dtypes = args.dtypes.split(",")
        stored = sorted({rb.stored_dtype(d) for d in dtypes})
        if not all(os.path.isdir(os.path.join(mdir, s)) for s in stored):
            rb.log(f"{name}: checkpoints")
            res = rb.run_worker(sys.executable, "make-checkpoint", config_name=name, out=mdir,
                                fixtures=args.fixtures, dtypes=",".join(stored), threads=args.threads)
            if "error" in res:
                raise SystemExit(f"could not write the {name} checkpoint: {res['error']}")
        rows = report["models"][name] = {}
        for dtype in dtypes:
            model = photo_model(os.path.join(mdir, rb.stored_dtype(dtype)), args.fixtures)
            row = rows[dtype] = {"ours": []}
            if dtype == "fast":  # no such precision there: compared with its float32 (run that dtype too)
                row["transformers"] = {}
            else:
                rb.log(f"{name} {dtype}: transformers")
                row["transformers"] = rb.run_worker(sys.executable, "transformers", model=model, image=image,
                                                    dtype=dtype, tokens=2, threads=args.threads,
                                                    config_name=name, device="cpu")
                rb.log(f"  {json.dumps(row['transformers'])}")
            for detail in [0] + [int(d) for d in args.details.split(",") if d]:
                rb.log(f"{name} {dtype}: VQA Studio, detail {detail or 'the model' + chr(39) + 's'}")
                res = ours(vqa, model, image, dtype, args.threads, detail)
                res["detail"] = detail
                row["ours"].append(res)
                rb.log(f"  {json.dumps(res)}")
    report["load_after"] = br.load_average()
    json_name = f"benchmarks-photo-{args.threads}t-{br.cpu_slug(report['machine'])}.json"
    with open(os.path.join(rb.ROOT, "docs", json_name), "w") as f:
        json.dump(report, f, indent=1)
    write_section(report, json_name, args.threads, args.md_out)


def write_section(report, json_name, threads, md_out):
    cpu = br.cpu_kind(report["machine"])
    br.write_section(md_out, "photo_ttft.py", f"{threads} threads, {cpu}",
                     f"A user's photo: {PHOTO[0]}x{PHOTO[1]}, SmolVLM's own tiles, {threads} threads, {cpu}",
                     markdown(report, json_name))
    print(markdown(report, json_name))


if __name__ == "__main__":
    main()
