#!/usr/bin/env python3
"""Reference data for the Qwen2-VL / Qwen2.5-VL processor: the image side and the prompt.

Runs transformers' Qwen2VLProcessor and Qwen2_5_VLProcessor (the slow, PIL image processor;
the Qwen2-like tokenizer of reference_common.py; the real chat template) on images of odd
sizes in multi-turn conversations, and writes into --out:
  qwen2vl/              transformers 5's layout: processor_config.json with the image processor
                        nested (size.shortest_edge / longest_edge), and the tokenizer files
  qwen25vl/             the Hub's layout: preprocessor_config.json with top-level min_pixels /
                        max_pixels, and the Qwen2.5-VL tokenizer files
  images/<name>.png     the inputs (the C++ tests decode them themselves)
  frames.safetensors    per case and image, the pixel values unflattened back into the frame
                        [3, H, W] ("case<i>_image<k>"): the processor's rows are ordered
                        (t, h / merge, w / merge, merge, merge) x (C, T, P, P); every one of the
                        T copies of a still image is checked equal here
  cases.json            per case: folder, conversation, bounds override, images, the prompt
                        apply_chat_template renders, input_ids, image_grid_thw, resized sizes;
                        and the reference's error for a 1x5000 image
"""
import argparse
import json
import os

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

from reference_common import QWEN2VL_TEMPLATE, write_qwen2_tokenizer

MIN_PIXELS = 56 * 56
MAX_PIXELS = 28 * 28 * 64  # small, so the tests stay small: at most 64 merged patches
PATCH, MERGE, TEMPORAL = 14, 2, 2


def make_images(rng):
    def rgb(w, h):
        y, x = np.mgrid[0:h, 0:w].astype(np.float64)
        r = 127 + 120 * np.sin(x / 7.0) * np.cos(y / 11.0)
        g = 255 * x / max(w - 1, 1)
        b = 255 * ((x // 9 + y // 9) % 2)
        img = np.stack([r, g, b], axis=-1) + rng.normal(0, 12, (h, w, 3))
        return Image.fromarray(np.clip(np.round(img), 0, 255).astype(np.uint8), "RGB")

    return {
        "tall": rgb(61, 301),         # portrait, 1:5
        "wide": rgb(333, 97),         # landscape
        "tiny": rgb(9, 7),            # far below min_pixels: enlarged
        "past_max": rgb(252, 210),    # rounds to 252x224 = 56448 > max_pixels: shrunk
        "halves": rgb(98, 70),        # 3.5 and 2.5 patches of 28: Python's round-half-even
        "square": rgb(224, 224),      # exactly max_pixels, already multiples of 28
        "strip": rgb(5000, 1),        # aspect ratio 5000:1: the reference refuses it
    }


def unflatten(pixel_values, grid):
    """The processor's flat rows for one image back into frames [T, 3, H, W]."""
    t, gh, gw = grid
    x = pixel_values.reshape(t, gh // MERGE, gw // MERGE, MERGE, MERGE, 3, TEMPORAL, PATCH, PATCH)
    # -> (t, T, C, gh/m, m, P, gw/m, m, P)
    x = x.permute(0, 6, 5, 1, 3, 7, 2, 4, 8)
    return x.reshape(t * TEMPORAL, 3, gh * PATCH, gw * PATCH)


def img(t="image"):
    return {"type": t}


def txt(s):
    return {"type": "text", "text": s}


CASES = [
    # folder, conversation, images, bounds override (min, max) or None
    ("qwen2vl", [{"role": "user", "content": [img(), txt("Describe this image.")]}], ["tall"], None),
    ("qwen2vl", [{"role": "user", "content": [img(), txt("What is this?")]},
                 {"role": "assistant", "content": [txt("A chart.")]},
                 {"role": "user", "content": [txt("And this one, café?"), img()]}], ["wide", "tiny"], None),
    ("qwen2vl", [{"role": "system", "content": [txt("Answer in JSON.")]},
                 {"role": "user", "content": [img(), txt("Outline each shape.")]}], ["past_max"], None),
    ("qwen2vl", [{"role": "user", "content": [img(), img(), txt("Compare.")]}], ["halves", "square"], None),
    ("qwen2vl", [{"role": "user", "content": [img(), txt("Low detail.")]}], ["wide"], (28 * 28 * 4, 28 * 28 * 16)),
    ("qwen2vl", [{"role": "user", "content": [img(), txt("High minimum.")]}], ["tiny"], (28 * 28 * 20, 28 * 28 * 100)),
    ("qwen25vl", [{"role": "user", "content": [img(), txt("Where is the red part?")]},
                  {"role": "assistant", "content": [txt('[{"bbox_2d": [1, 2, 30, 40], "label": "red"}]')]},
                  {"role": "user", "content": [img(), txt("And here?")]}], ["tall", "past_max"], None),
    ("qwen25vl", [{"role": "user", "content": [img(), txt("Smaller.")]}], ["past_max"], (MIN_PIXELS, 28 * 28 * 9)),
]


def allow_no_video_processor():
    """The processors check each part's class; the video part's base class needs torchvision,
    which this environment lacks, and a still image never uses it: accept None for it."""
    from transformers import processing_utils

    check = processing_utils.ProcessorMixin.check_argument_for_proper_class

    def checked(self, name, arg):
        return None if name == "video_processor" and arg is None else check(self, name, arg)

    processing_utils.ProcessorMixin.check_argument_for_proper_class = checked


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--fixtures", help="unused: the Qwen tokenizer is built here")
    args = ap.parse_args()
    from transformers import AutoTokenizer, Qwen2_5_VLProcessor, Qwen2VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    allow_no_video_processor()

    out = args.out
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    images = make_images(np.random.default_rng(20250128))
    for name, im in images.items():
        im.save(os.path.join(out, "images", name + ".png"))

    # Qwen2-VL, saved as transformers 5 saves a processor.
    d2 = os.path.join(out, "qwen2vl")
    write_qwen2_tokenizer(d2, "qwen2-vl")
    ip = Qwen2VLImageProcessorPil(size={"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS})
    p2 = Qwen2VLProcessor(image_processor=ip, tokenizer=AutoTokenizer.from_pretrained(d2), chat_template=QWEN2VL_TEMPLATE)
    # What save_pretrained writes for the image part (it cannot save a processor without its
    # video part): processor_config.json with the image processor's settings nested.
    with open(os.path.join(d2, "processor_config.json"), "w") as f:
        json.dump({"image_processor": ip.to_dict(), "processor_class": "Qwen2VLProcessor"}, f, indent=2)
    # Qwen2.5-VL, as its checkpoints on the Hub lay the files out.
    d25 = os.path.join(out, "qwen25vl")
    write_qwen2_tokenizer(d25, "qwen2.5-vl")
    with open(os.path.join(d25, "preprocessor_config.json"), "w") as f:
        json.dump({"min_pixels": MIN_PIXELS, "max_pixels": MAX_PIXELS, "patch_size": PATCH,
                   "temporal_patch_size": TEMPORAL, "merge_size": MERGE,
                   "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
                   "image_processor_type": "Qwen2VLImageProcessor", "processor_class": "Qwen2_5_VLProcessor"}, f, indent=2)
    ip25 = Qwen2VLImageProcessorPil(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)
    p25 = Qwen2_5_VLProcessor(image_processor=ip25, tokenizer=AutoTokenizer.from_pretrained(d25),
                              chat_template=QWEN2VL_TEMPLATE)
    processors = {"qwen2vl": p2, "qwen25vl": p25}

    frames = {}
    cases = []
    for i, (folder, conv, names, bounds) in enumerate(CASES):
        proc = processors[folder]
        prompt = proc.apply_chat_template(conv, tokenize=False, add_generation_prompt=True)
        kwargs = {}
        if bounds:
            kwargs["size"] = {"shortest_edge": bounds[0], "longest_edge": bounds[1]}
        enc = proc(text=[prompt], images=[images[n] for n in names], return_tensors="pt", **kwargs)
        grids = enc["image_grid_thw"].tolist()
        offset = 0
        for k, grid in enumerate(grids):
            n = grid[0] * grid[1] * grid[2]
            f = unflatten(enc["pixel_values"][offset:offset + n].float(), grid)
            offset += n
            for copy in range(1, f.shape[0]):
                if not torch.equal(f[copy], f[0]):
                    raise SystemExit(f"case {i} image {k}: the temporal copies differ")
            frames[f"case{i}_image{k}"] = f[0].contiguous()
        if offset != enc["pixel_values"].shape[0]:
            raise SystemExit(f"case {i}: {enc['pixel_values'].shape[0]} patch rows, {offset} used")
        cases.append({"folder": folder, "conversation": conv, "images": names,
                      "bounds": list(bounds) if bounds else None, "prompt": prompt,
                      "input_ids": enc["input_ids"][0].tolist(), "image_grid_thw": grids,
                      "resized": [[g[2] * PATCH, g[1] * PATCH] for g in grids]})

    try:
        p2(text=["<|vision_start|><|image_pad|><|vision_end|>"], images=[images["strip"]])
        raise SystemExit("the reference accepted a 5000:1 image")
    except ValueError as e:
        strip_error = str(e)

    save_file(frames, os.path.join(out, "frames.safetensors"))
    with open(os.path.join(out, "cases.json"), "w", encoding="utf-8") as f:
        json.dump({"cases": cases, "strip_error": strip_error, "min_pixels": MIN_PIXELS, "max_pixels": MAX_PIXELS},
                  f, ensure_ascii=True, indent=1)
    print(f"wrote {len(cases)} processor cases to {out}")


if __name__ == "__main__":
    main()
