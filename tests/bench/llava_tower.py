#!/usr/bin/env python3
"""LLaVA-1.5's vision tower (CLIP ViT-L/14-336: 24 layers of hidden 1024, 577 tokens a 336-pixel
image) and projector, ours against transformers in the same run, same threads, on the real-shape
random-weight checkpoint of tests/reference/make_llava_real.py (the tower and projector of
LLaVA-1.5-7B and its decoder cut to 2 layers): the time to encode one image in float32,
bfloat16 and "fast" (ours only; its tower is bf16, compared with transformers' float32), and the
tower's arithmetic per core against the core's peak (tests/bench/peak_flops.cpp), as run_bench.py
shows it for SmolVLM's SigLIP tower.

  python tests/bench/llava_tower.py [--build build] [--threads 2]

Ours is `vqa ask` (its `encode_ms`: the tower, the feature layer and the projector; the median
of three runs after the first, in one process); transformers' is `get_image_features` on the
pixel values its own processor makes, the median of three calls after the first. The checkpoint is made in the benchmark's cache when
missing (about 2 GB, a few minutes). Results go to docs/benchmarks-llava-tower-<threads>t-<cpu>.json
and to their section of docs/BENCHMARKS.md (one per thread count and kind of CPU).
"""
import argparse
import json
import os
import shutil
import subprocess
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_report as br  # noqa: E402
import run_bench as rb  # noqa: E402

DTYPES = ["float32", "bfloat16", "fast"]


def tower_gflop(config):
    """Multiply-adds x 2 of the tower up to the feature layer LLaVA takes, and the projector, for
    one image: patch embedding, per layer q/k/v/o and the MLP over every token, attention."""
    v, t = config["vision_config"], config["text_config"]
    p, size, d, inter = v["patch_size"], v["image_size"], v["hidden_size"], v["intermediate_size"]
    tokens = (size // p) ** 2 + 1
    layer_index = config.get("vision_feature_layer", -2)
    layers = v["num_hidden_layers"] + 1 + layer_index if layer_index < 0 else layer_index
    per_layer = tokens * (4 * d * d + 2 * d * inter) + 2 * tokens * tokens * d
    embed = (tokens - 1) * 3 * p * p * d
    projector = (tokens - 1) * (d * t["hidden_size"] + t["hidden_size"] * t["hidden_size"])
    return 2 * (embed + layers * per_layer + projector) / 1e9


def prepare(work, fixtures):
    """The real-shape checkpoint with a tokenizer and a 336-pixel processor, so `vqa ask` runs it:
    the tiny LLaVA case's tokenizer (its <image> id written into the config) and processor."""
    ref = os.path.join(work, "llava-reference")
    real = os.path.join(ref, "llava_real", "real_shapes", "model")
    tiny = os.path.join(ref, "llava", "tiny", "model")
    env = dict(os.environ, VQA_LLAVA_REAL="1")
    scripts = os.path.join(rb.ROOT, "tests", "reference")
    for script, out, where in [("make_llava_real.py", "llava_real", real), ("make_llava.py", "llava", tiny)]:
        if not os.path.exists(os.path.join(where, "config.json")):
            rb.log(f"making {out} (once)")
            subprocess.run([sys.executable, os.path.join(scripts, script), "--out", os.path.join(ref, out),
                            "--fixtures", fixtures], check=True, env=env)
    model = os.path.join(work, "llava-tower")
    os.makedirs(model, exist_ok=True)
    for name in os.listdir(real):
        if name.endswith(".safetensors") or name.endswith(".json") and name != "config.json":
            target = os.path.join(model, name)
            if not os.path.lexists(target):
                os.symlink(os.path.join(real, name), target)
    for name in ["tokenizer.json", "tokenizer.model", "tokenizer_config.json", "chat_template.jinja"]:
        shutil.copy(os.path.join(tiny, name), model)
    config = json.load(open(os.path.join(real, "config.json")))
    small = json.load(open(os.path.join(tiny, "config.json")))
    config["image_token_index"] = small["image_token_index"]
    config["text_config"]["pad_token_id"] = small["text_config"].get("pad_token_id")
    json.dump(config, open(os.path.join(model, "config.json"), "w"), indent=2)
    processor = json.load(open(os.path.join(tiny, "processor_config.json")))
    size = config["vision_config"]["image_size"]
    processor["image_processor"]["crop_size"] = {"height": size, "width": size}
    processor["image_processor"]["size"] = {"shortest_edge": size}
    json.dump(processor, open(os.path.join(model, "processor_config.json"), "w"), indent=2)
    return model, config


def run_ours(vqa, model, image, dtype, threads):
    cmd = [vqa, "ask", "--model", model, "--json", "--ignore-eos", "--max-new-tokens", "1", "--threads",
           str(threads), "--device", "cpu", "--dtype", dtype, "--repeat", str(1 + rb.WARM_RUNS), image,
           "Describe this image."]
    rc, out, err, rss = rb.run_measured(cmd)
    if rc != 0:
        rb.log(f"vqa ask --dtype {dtype} failed: {err[-2000:]}")
        return {"error": err.strip()[-500:]}
    runs = [json.loads(line)["timings"] for line in out.splitlines() if line.startswith("{")]
    return {"encode_ms": statistics.median(r["encode_ms"] for r in runs[1:]), "cold_encode_ms": runs[0]["encode_ms"],
            "peak_rss_mib": rss}


def worker(args):
    """Transformers' side, in a process of its own: get_image_features twice, the second timed."""
    import torch
    from PIL import Image
    from transformers import AutoProcessor, LlavaForConditionalGeneration
    torch.set_num_threads(args.threads)
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[args.dtype]
    model = LlavaForConditionalGeneration.from_pretrained(args.model, dtype=dtype).eval()
    processor = AutoProcessor.from_pretrained(args.model)
    pixels = processor.image_processor(Image.open(args.image).convert("RGB"), return_tensors="pt")["pixel_values"]
    times = []
    with torch.inference_mode():
        for _ in range(1 + rb.WARM_RUNS):
            start = time.perf_counter()
            model.get_image_features(pixel_values=pixels.to(dtype))
            times.append((time.perf_counter() - start) * 1000)
    print(json.dumps({"encode_ms": statistics.median(times[1:]), "cold_encode_ms": times[0]}))


def run_transformers(model, image, dtype, threads):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--model", model, "--image", image, "--dtype", dtype,
           "--threads", str(threads)]
    rc, out, err, rss = rb.run_measured(cmd, env=dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1"))
    if rc != 0:
        rb.log(f"transformers --dtype {dtype} failed: {err[-2000:]}")
        return {"error": err.strip()[-500:]}
    res = json.loads(out.strip().splitlines()[-1])
    res["peak_rss_mib"] = rss
    return res


def markdown(report, json_name):
    peak, gflop, threads = report.get("core_peak_gflops") or {}, report["gflop"], report["threads"]
    m = report["machine"]
    lines = [f"Made by `tests/bench/llava_tower.py`; the raw numbers are in `docs/{json_name}`.", "",
             f"- Machine: {m['cpu']}, {m['cores']} cores ({', '.join(m['cpu_flags'])}); {threads} threads for "
             "both engines.",
             f"- LLaVA-1.5-7B's vision tower and projector (CLIP ViT-L/14-336 to its penultimate layer, "
             f"{gflop:.0f} GFLOP an image), random weights; one 336-pixel image; the median of "
             f"{rb.WARM_RUNS} encodings after the first, in one process. Peak per core (tests/bench/peak_flops.cpp): float32 FMA "
             f"{peak.get('fp32_fma') or 0:.0f}, float16 FMA {peak.get('fp16_fma') or 0:.0f} GFLOP/s.", "",
             "| dtype | ours (ms) | transformers (ms) | ours ÷ transformers | ours, GFLOP/s per core | "
             "share of the core's peak |", "|---|---|---|---|---|---|"]
    for dtype in DTYPES:
        ours = report["ours"].get(dtype, {}).get("encode_ms")
        theirs_dtype = "float32" if dtype == "fast" else dtype
        theirs = report["transformers"].get(theirs_dtype, {}).get("encode_ms")
        if not ours:
            continue
        rate = gflop / (ours / 1000) / threads
        top = (peak.get("fp32_fma") if dtype == "float32" else
               max(peak.get("bf16_dot") or 0, peak.get("fp32_fma") or 0, peak.get("fp16_fma") or 0)) or 0
        share = f"{100 * rate / top:.0f} %" if top else "–"
        ratio = f"{ours / theirs:.2f}" + (" (÷ float32)" if dtype == "fast" else "") if theirs else "–"
        lines.append(f"| {dtype} | {ours:.0f} | {br.fmt(theirs) if theirs else '–'} | {ratio} | {rate:.0f} | "
                     f"{share} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model")
    ap.add_argument("--image")
    ap.add_argument("--dtype")
    rb.add_common_args(ap)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    vqa = rb.build_vqa(args.build)
    os.makedirs(args.work, exist_ok=True)
    model, config = prepare(args.work, args.fixtures)
    image = os.path.join(args.work, "image512.png")
    if not os.path.exists(image):
        rb.make_image(image)
    report = {"machine": br.machine_info(), "threads": args.threads, "load_before": br.load_average(),
              "gflop": tower_gflop(config), "core_peak_gflops": rb.core_peak(args.work), "ours": {},
              "transformers": {}}
    for dtype in DTYPES:
        rb.log(f"{dtype}: VQA Studio")
        report["ours"][dtype] = run_ours(vqa, model, image, dtype, args.threads)
        rb.log(f"  {json.dumps(report['ours'][dtype])}")
        if dtype != "fast":
            rb.log(f"{dtype}: transformers")
            report["transformers"][dtype] = run_transformers(model, image, dtype, args.threads)
            rb.log(f"  {json.dumps(report['transformers'][dtype])}")
    report["load_after"] = br.load_average()
    json_name = f"benchmarks-llava-tower-{args.threads}t-{br.cpu_slug(report['machine'])}.json"
    with open(os.path.join(rb.ROOT, "docs", json_name), "w") as f:
        json.dump(report, f, indent=1)
    cpu = br.cpu_kind(report["machine"])
    body = markdown(report, json_name)
    br.write_section(args.md_out, "llava_tower.py", f"{args.threads} threads, {cpu}",
                     f"LLaVA-1.5's vision tower (CLIP ViT-L/14-336), {args.threads} threads, {cpu}", body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
