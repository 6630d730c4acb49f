#!/usr/bin/env python3
"""A vision tower alone, ours against transformers in the same run, same threads: the time to
encode one image in float32, bfloat16 and "fast" (ours only; its tower is bf16, compared with
transformers' float32), and the tower's arithmetic per core against the core's peak
(tests/bench/peak_flops.cpp), as run_bench.py shows it for SmolVLM's SigLIP tower. The towers,
each at its real shape with random weights and its decoder cut to 2 layers (3 for
Qwen3-VL, whose DeepStack feeds the first three):

- llava: LLaVA-1.5-7B's CLIP ViT-L/14-336 (24 layers of hidden 1024, 577 tokens a 336-pixel
  image) to its penultimate layer, and the projector; the checkpoint of
  tests/reference/make_llava_real.py.
- qwen2.5-vl-3b: Qwen2.5-VL-3B-Instruct's 32 blocks of 1280 with windows (full attention in
  four), the merger; the benchmark's 512-pixel image resized as its processor resizes it
  (504 x 504: 1,296 patches).
- qwen3-vl-2b: Qwen3-VL-2B-Instruct's 24 blocks of 1024 and its DeepStack mergers (512 x 512:
  1,024 patches of 16 pixels).

  python tests/bench/vision_tower.py [--tower llava] [--build build] [--threads 2]

Ours is `vqa ask` (its `encode_ms`: the tower and whatever maps its output into the decoder;
the median of three runs after the first, in one process); transformers' is its model's
`get_image_features` on the pixel values its own processor makes, the median of three calls after
the first. The checkpoint is made in the benchmark's cache when missing (2-3 GB, a few minutes).
Results go to docs/benchmarks-<tower>-tower-<threads>t-<cpu>.json and to their section of
docs/BENCHMARKS.md (one per tower, thread count and kind of CPU).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_report as br  # noqa: E402
import run_bench as rb  # noqa: E402

DTYPES = ["float32", "bfloat16", "fast"]


# ---------------------------------------------------------------------- LLaVA-1.5

def llava_gflop(config, image):
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


def llava_prepare(work, fixtures, threads):
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
    return model


def llava_encoder(model_dir, dtype, image):
    """transformers' side: a function that encodes the image once."""
    from transformers import AutoProcessor, LlavaForConditionalGeneration
    model = LlavaForConditionalGeneration.from_pretrained(model_dir, dtype=dtype).eval()
    pixels = AutoProcessor.from_pretrained(model_dir).image_processor(image, return_tensors="pt")["pixel_values"]
    return lambda: model.get_image_features(pixel_values=pixels.to(dtype))


# ---------------------------------------------------------------------- Qwen2.5-VL, Qwen3-VL

def qwen_pixels(model_dir, image):
    """The processor's flat patches and [1, 3] grid (temporal, height, width in patches)."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    out = Qwen2VLImageProcessorPil.from_pretrained(model_dir)(images=[image], return_tensors="pt")
    return out["pixel_values"], out["image_grid_thw"]


def qwen_window_sizes(v, h, w):
    """Tokens in each of Qwen2.5-VL's attention windows over an h x w patch grid: windows of
    window_size pixels, whole merged units, the last row and column of windows cut short."""
    merge = v["spatial_merge_size"]
    unit = v["window_size"] // merge // v["patch_size"]  # merged units a side
    side = lambda n: [min(unit, n - i) for i in range(0, n, unit)]  # noqa: E731
    return [a * b * merge * merge for a in side(h // merge) for b in side(w // merge)]


def qwen_gflop(config, grid):
    """Multiply-adds x 2 of the tower for one image of `grid` patches: the patch embedding (a
    temporal pair of patches), per block the attention's projections, its scores and values
    (over each window or the whole image) and the MLP (gated in Qwen2.5-VL), then the merger of
    2 x 2 patches (Qwen3-VL: also one per DeepStack level)."""
    v = config["vision_config"]
    t, h, w = (int(x) for x in grid)
    n, d, inter, p = t * h * w, v["hidden_size"], v["intermediate_size"], v["patch_size"]
    embed = n * v["in_channels"] * v["temporal_patch_size"] * p * p * d
    qwen3 = "deepstack_visual_indexes" in v
    mlp = (2 if qwen3 else 3) * d * inter
    full = 2 * n * n * d
    windowed = sum(2 * s * s * d for s in qwen_window_sizes(v, h, w)) if not qwen3 else full
    full_blocks = set(v.get("fullatt_block_indexes", range(v["depth"]))) if not qwen3 else set(range(v["depth"]))
    blocks = sum(n * (4 * d * d + mlp) + (full if i in full_blocks else windowed) for i in range(v["depth"]))
    merged, wide = n // v["spatial_merge_size"] ** 2, d * v["spatial_merge_size"] ** 2
    mergers = 1 + len(v.get("deepstack_visual_indexes", []))
    merger = mergers * merged * (wide * wide + wide * v["out_hidden_size"])
    return 2 * (embed + blocks + merger) / 1e9


def qwen_prepare(name, text_layers):
    """The checkpoint with the whole tower and `text_layers` decoder layers (Qwen3-VL's DeepStack
    adds its levels after the first three)."""
    def prepare(work, fixtures, threads):
        out = os.path.join(work, f"{name}-tower")
        res = rb.run_worker(sys.executable, "make-qwen", config_name=name, out=out, fixtures=fixtures,
                            threads=threads, text_layers=text_layers)
        if "error" in res:
            raise SystemExit(f"could not write the {name} checkpoint: {res['error']}")
        return os.path.join(out, "bfloat16")
    return prepare


def qwen_encoder(name):
    def encoder(model_dir, dtype, image):
        model = rb.qwen_classes(name)[1].from_pretrained(model_dir, dtype=dtype).eval()
        pixels, grid = qwen_pixels(model_dir, image)
        return lambda: model.model.get_image_features(pixels.to(dtype), grid)
    return encoder


def qwen_gflop_of(model_dir, config, image_path):
    from PIL import Image
    _, grid = qwen_pixels(model_dir, Image.open(image_path).convert("RGB"))
    return qwen_gflop(config, grid[0].tolist())


TOWERS = {
    "llava": {"title": "LLaVA-1.5's vision tower (CLIP ViT-L/14-336)", "prepare": llava_prepare,
              "encoder": llava_encoder,
              "gflop": lambda model, config, image: llava_gflop(config, image),
              "what": "LLaVA-1.5-7B's vision tower and projector (CLIP ViT-L/14-336 to its penultimate layer)",
              "image": "one 336-pixel image"},
    "qwen2.5-vl-3b": {"title": "Qwen2.5-VL-3B's vision tower", "prepare": qwen_prepare("qwen2.5-vl-3b", 2),
                      "encoder": qwen_encoder("qwen2.5-vl-3b"), "gflop": qwen_gflop_of,
                      "what": "Qwen2.5-VL-3B-Instruct's vision tower and merger (32 blocks of 1280, windows of "
                              "112 pixels, full attention in 4)",
                      "image": "one 512-pixel image (504 x 504: 1,296 patches)"},
    "qwen3-vl-2b": {"title": "Qwen3-VL-2B's vision tower", "prepare": qwen_prepare("qwen3-vl-2b", 3),
                    "encoder": qwen_encoder("qwen3-vl-2b"), "gflop": qwen_gflop_of,
                    "what": "Qwen3-VL-2B-Instruct's vision tower and mergers (24 blocks of 1024, DeepStack "
                            "from 3 of them)",
                    "image": "one 512-pixel image (1,024 patches of 16 pixels)"},
}


# ---------------------------------------------------------------------- the engines

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
    """Transformers' side, in a process of its own: the tower once and three more times, timed."""
    import torch
    from PIL import Image
    torch.set_num_threads(args.threads)
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[args.dtype]
    encode = TOWERS[args.tower]["encoder"](args.model, dtype, Image.open(args.image).convert("RGB"))
    times = []
    with torch.inference_mode():
        for _ in range(1 + rb.WARM_RUNS):
            start = time.perf_counter()
            encode()
            times.append((time.perf_counter() - start) * 1000)
    print(json.dumps({"encode_ms": statistics.median(times[1:]), "cold_encode_ms": times[0]}))


def run_transformers(tower, model, image, dtype, threads):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--tower", tower, "--model", model, "--image", image,
           "--dtype", dtype, "--threads", str(threads)]
    rc, out, err, rss = rb.run_measured(cmd, env=dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1"))
    if rc != 0:
        rb.log(f"transformers --dtype {dtype} failed: {err[-2000:]}")
        return {"error": err.strip()[-500:]}
    res = json.loads(out.strip().splitlines()[-1])
    res["peak_rss_mib"] = rss
    return res


def markdown(report, json_name):
    peak, gflop, threads = report.get("core_peak_gflops") or {}, report["gflop"], report["threads"]
    m, tower = report["machine"], TOWERS[report["tower"]]
    lines = [f"Made by `tests/bench/vision_tower.py --tower {report['tower']}`; the raw numbers are in "
             f"`docs/{json_name}`.", "",
             f"- Machine: {m['cpu']}, {m['cores']} cores ({', '.join(m['cpu_flags'])}); {threads} threads for "
             "both engines.",
             f"- {tower['what']}, {gflop:.0f} GFLOP an image, random weights; {tower['image']}; the median of "
             f"{rb.WARM_RUNS} encodings after the first, in one process. Peak per core (tests/bench/peak_flops.cpp): float32 FMA "
             f"{peak.get('fp32_fma') or 0:.0f}, float16 FMA {peak.get('fp16_fma') or 0:.0f}, AMX bfloat16 tiles "
             f"{peak.get('amx_bf16') or 0:.0f} GFLOP/s (0: the CPU has none).",
             *br.kernel_lines(report.get("kernel_choices")), "",
             "| dtype | ours (ms) | transformers (ms) | ours ÷ transformers | ours, GFLOP/s per core | "
             "share of the core's peak |", "|---|---|---|---|---|---|"]
    for dtype in DTYPES:
        ours = report["ours"].get(dtype, {}).get("encode_ms")
        theirs_dtype = "float32" if dtype == "fast" else dtype
        theirs = report["transformers"].get(theirs_dtype, {}).get("encode_ms")
        if not ours:
            continue
        rate = gflop / (ours / 1000) / threads
        top = br.peak_for(peak, dtype)
        share = f"{100 * rate / top:.0f} %" if top else "–"
        ratio = f"{ours / theirs:.2f}" + (" (÷ float32)" if dtype == "fast" else "") if theirs else "–"
        lines.append(f"| {dtype} | {ours:.0f} | {br.fmt(theirs) if theirs else '–'} | {ratio} | {rate:.0f} | "
                     f"{share} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tower", default="llava", choices=sorted(TOWERS))
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--image", help=argparse.SUPPRESS)
    ap.add_argument("--dtype", help=argparse.SUPPRESS)
    rb.add_common_args(ap)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    tower = TOWERS[args.tower]
    vqa = rb.build_vqa(args.build)
    os.makedirs(args.work, exist_ok=True)
    model = tower["prepare"](args.work, args.fixtures, args.threads)
    config = json.load(open(os.path.join(model, "config.json")))
    image = os.path.join(args.work, "image512.png")
    if not os.path.exists(image):
        rb.make_image(image)
    report = {"machine": br.machine_info(), "tower": args.tower, "threads": args.threads,
              "load_before": br.load_average(), "gflop": tower["gflop"](model, config, image),
              "core_peak_gflops": rb.core_peak(args.work), "kernel_choices": rb.kernel_choices(vqa, args.threads),
              "ours": {}, "transformers": {}}
    for dtype in DTYPES:
        rb.log(f"{dtype}: VQA Studio")
        report["ours"][dtype] = run_ours(vqa, model, image, dtype, args.threads)
        rb.log(f"  {json.dumps(report['ours'][dtype])}")
        if dtype != "fast":
            rb.log(f"{dtype}: transformers")
            report["transformers"][dtype] = run_transformers(args.tower, model, image, dtype, args.threads)
            rb.log(f"  {json.dumps(report['transformers'][dtype])}")
    report["load_after"] = br.load_average()
    json_name = f"benchmarks-{args.tower}-tower-{args.threads}t-{br.cpu_slug(report['machine'])}.json"
    with open(os.path.join(rb.ROOT, "docs", json_name), "w") as f:
        json.dump(report, f, indent=1)
    cpu = br.cpu_kind(report["machine"])
    body = markdown(report, json_name)
    br.write_section(args.md_out, "vision_tower.py", f"{args.tower}, {args.threads} threads, {cpu}",
                     f"{tower['title']}, {args.threads} threads, {cpu}", body,
                     after="<!-- vision_tower.py: results end")  # a new one beside the others
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
