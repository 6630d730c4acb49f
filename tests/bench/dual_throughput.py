#!/usr/bin/env python3
"""Images embedded per second by a dual encoder (issue 21: indexing a photo folder), ours
against transformers in the same run, same threads: random-weight checkpoints at the real
shapes of openai/clip-vit-base-patch32 (ViT-B/32, 224 pixels) and google/siglip-base-patch16-224
(ViT-B/16, 224 pixels, attention-pooling head), over generated 640x480 JPEG photos. Both sides
decode the files, preprocess (resize, crop, normalize) and run the image tower in batches; the
models' load is not counted. Each side runs in a subprocess of its own, twice; the second (warm)
run is reported. Also the texts per second of the text tower (one query at a time, as a search
does).

  python tests/bench/dual_throughput.py [--build build] [--threads 2] [--images 32] [--batch 8]

Results go to docs/benchmarks-dual-<threads>t.json and to their section of docs/BENCHMARKS.md.
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
sys.path.insert(0, HERE)
import bench_report as br  # noqa: E402
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "vqa-studio", "bench", "dual")

MODELS = {
    "CLIP ViT-B/32": ("clip", dict(
        text=dict(vocab_size=49408, hidden_size=512, intermediate_size=2048, num_hidden_layers=12,
                  num_attention_heads=8, max_position_embeddings=77),
        vision=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                    image_size=224, patch_size=32),
        projection_dim=512)),
    "SigLIP B/16-224": ("siglip", dict(
        text=dict(vocab_size=32000, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                  num_attention_heads=12, max_position_embeddings=64),
        vision=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                    image_size=224, patch_size=16))),
}
QUERIES = ["a red bicycle leaning on a wall", "two dogs playing in the snow", "a bowl of soup", "sunset over the sea",
           "a receipt from a grocery store", "children at a birthday party", "a mountain lake", "an old car"]


def make_model(name):
    family, shape = MODELS[name]
    folder = os.path.join(CACHE, family + "-base")
    marker = os.path.join(folder, "done.json")
    if os.path.exists(marker):
        return folder
    import torch
    import dual_tokenizers
    os.makedirs(folder, exist_ok=True)
    torch.manual_seed(0)
    if family == "clip":
        from transformers import CLIPConfig, CLIPModel
        from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
        tok = dual_tokenizers.write_clip_tokenizer(folder)
        # The small tokenizer's own special ids (the real one's are 49406 and 49407).
        text = dict(shape["text"], bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                    pad_token_id=tok.pad_token_id)
        model = CLIPModel(CLIPConfig(text_config=text, vision_config=shape["vision"],
                                     projection_dim=shape["projection_dim"]))
        CLIPImageProcessorPil().save_pretrained(folder)
    else:
        from transformers import SiglipConfig, SiglipModel
        from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil
        dual_tokenizers.write_siglip_tokenizer(folder)
        model = SiglipModel(SiglipConfig(text_config=shape["text"], vision_config=shape["vision"]))
        SiglipImageProcessorPil().save_pretrained(folder)
    model.float().eval().save_pretrained(folder)
    json.dump({"shape": shape}, open(marker, "w"))
    return folder


def make_photos(n):
    import numpy as np
    from PIL import Image
    folder = os.path.join(CACHE, "photos")
    os.makedirs(folder, exist_ok=True)
    paths = []
    rng = np.random.default_rng(7)
    for i in range(n):
        path = os.path.join(folder, f"photo{i:03d}.jpg")
        if not os.path.exists(path):
            small = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)
            im = Image.fromarray(small).resize((640, 480), Image.BICUBIC)
            noise = rng.integers(-10, 10, (480, 640, 3))
            Image.fromarray(np.clip(np.asarray(im).astype(np.int16) + noise, 0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(path)
    return paths


REFERENCE = r'''
import json, sys, time, torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModel, AutoTokenizer
folder, threads, batch, paths, queries, family = json.loads(sys.argv[1])
torch.set_num_threads(threads)
model = AutoModel.from_pretrained(folder).float().eval()
proc = AutoImageProcessor.from_pretrained(folder)
tok = AutoTokenizer.from_pretrained(folder)
def pooled(o):
    return o if isinstance(o, torch.Tensor) else o.pooler_output
with torch.inference_mode():
    t0 = time.perf_counter()
    for i in range(0, len(paths), batch):
        ims = [Image.open(p).convert("RGB") for p in paths[i:i + batch]]
        pooled(model.get_image_features(**proc(images=ims, return_tensors="pt")))
    t1 = time.perf_counter()
    for q in queries:
        kw = dict(padding="max_length", max_length=64) if family == "siglip" else {}
        pooled(model.get_text_features(**tok([q], truncation=True, return_tensors="pt", **kw)))
    t2 = time.perf_counter()
print(json.dumps({"image_seconds": t1 - t0, "text_seconds": t2 - t1}))
'''


def run_reference(folder, family, threads, batch, paths):
    import dual_tokenizers
    arg = json.dumps([folder, threads, batch, paths, QUERIES, family])
    out = subprocess.run([sys.executable, "-c", REFERENCE, arg], check=True, capture_output=True, text=True,
                         env=dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                                  OMP_NUM_THREADS=str(threads), PYTHONPATH=dual_tokenizers.protobuf_site()))
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_ours(vqa, folder, threads, batch, paths):
    cmd = [vqa, "embed", "--model", folder, "--threads", str(threads), "--batch", str(batch), "--timing-only"]
    cmd += paths
    for q in QUERIES:
        cmd += ["--text", q]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         env=dict(os.environ, OMP_NUM_THREADS=str(threads)))
    return json.loads(out.stdout.strip().splitlines()[-1])


def markdown(report, json_name):
    lines = ["| model | images | ours, images/s | transformers, images/s | ours / transformers | "
             "ours, texts/s | transformers, texts/s |", "|---|---|---|---|---|---|---|"]
    for row in report["rows"]:
        o, r = row["ours"], row["reference"]
        n, q = row["images"], row["texts"]
        lines.append(f"| {row['model']} | {n} | {n / o['image_seconds']:.1f} | {n / r['image_seconds']:.1f} | "
                     f"{r['image_seconds'] / o['image_seconds']:.2f}x | {q / o['text_seconds']:.1f} | "
                     f"{q / r['text_seconds']:.1f} |")
    return ("\n".join(lines) + f"\n\n{report['threads']} threads, batches of {report['batch']}, "
            f"640x480 JPEGs, float32, warm runs; `{json_name}` has the raw times. "
            f"{report['cpu']}.\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--images", type=int, default=32)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--md-out", default=os.path.join(ROOT, "docs", "BENCHMARKS.md"))
    args = ap.parse_args()
    vqa = os.path.join(args.build, "app", "vqa")
    paths = make_photos(args.images)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "CPU")
    report = {"threads": args.threads, "batch": args.batch, "cpu": cpu, "rows": []}
    for name in args.models.split(","):
        family = MODELS[name][0]
        folder = make_model(name)
        for attempt in range(2):  # the second run is the warm one
            ref = run_reference(folder, family, args.threads, args.batch, paths)
            ours = run_ours(vqa, folder, args.threads, args.batch, paths)
        row = {"model": name, "images": len(paths), "texts": len(QUERIES), "ours": ours, "reference": ref}
        print(json.dumps(row))
        report["rows"].append(row)
    json_name = f"docs/benchmarks-dual-{args.threads}t.json"
    with open(os.path.join(ROOT, json_name), "w") as f:
        json.dump(report, f, indent=1)
    br.write_section(args.md_out, "dual_throughput.py", None,
                     f"Image search: images embedded per second (CLIP, SigLIP), {args.threads} threads",
                     markdown(report, json_name))
    print(markdown(report, json_name))


if __name__ == "__main__":
    main()
