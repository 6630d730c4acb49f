"""Reference data for the image side of Idefics3 / SmolVLM.

Makes a few deterministic images (PNG files the C++ tests decode themselves), runs
transformers' Idefics3Processor from the SmolVLM fixture folder on them (offline), and writes:
  images/<name>.png|.jpg      the inputs
  <name>.safetensors          pixel_values subsampled every 8th pixel ("pv_stride8"), per-frame
                              per-channel sums in float64 ("frame_sums"), the mask likewise
                              ("mask_stride8", "mask_true_count"), with the fixture's config (2048 / 512: up to 17 frames of 512x512,
                              too big to store whole)
  <name>.small.safetensors    full pixel_values and mask with a small config (size 192, tiles 64)
  <name>.smaller.safetensors  the same with size 128 (what a lower image detail asks for)
                              so every value of the same algorithm can be compared
  cases.json                  per image: size, rows/cols (both configs), prompt, expanded
                              prompt, input_ids
  pil_resize.safetensors      PIL Image.resize outputs (uint8 HWC) for every filter, "<image>_<WxH>_f<n>"
  decode/                     JPEGs (plain, EXIF-rotated rot2/rot6/rot8) and 29x13 BMP, WebP,
                              TIFF, PPM, GIF files for the decoder tests
  dtypes.safetensors          a few tensors in several dtypes for the safetensors reader test
Usage: python make_processor.py --out DIR --fixtures DIR
"""

import argparse
import json
import os
import sys

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

PROMPT = "<|im_start|>User:<image>Describe this image.<end_of_utterance>\nAssistant:"
SMALL = {"size": {"longest_edge": 192}, "max_image_size": {"longest_edge": 64}}
# The image detail's lower setting of the same: the processor called with a smaller longest edge.
SMALLER = {"size": {"longest_edge": 128}, "max_image_size": {"longest_edge": 64}}


def make_images(rng):
    """name -> (PIL image, file name). Smooth structure plus noise, so resampling errors show."""
    def rgb(w, h):
        y, x = np.mgrid[0:h, 0:w].astype(np.float64)
        r = 127 + 120 * np.sin(x / 17.0) * np.cos(y / 23.0)
        g = 255 * x / max(w - 1, 1)
        b = 255 * ((x // 24 + y // 24) % 2)
        img = np.stack([r, g, b], axis=-1) + rng.normal(0, 12, (h, w, 3))
        return np.clip(np.round(img), 0, 255).astype(np.uint8)

    images = {
        "wide": (Image.fromarray(rgb(1000, 600), "RGB"), "wide.png"),
        "tall": (Image.fromarray(rgb(300, 700), "RGB"), "tall.png"),
        "small": (Image.fromarray(rgb(40, 30), "RGB"), "small.png"),
        "strip": (Image.fromarray(rgb(900, 40), "RGB"), "strip.png"),
        "gray": (Image.fromarray(rgb(257, 129)[:, :, 0], "L"), "gray.png"),
    }
    rgba = np.concatenate([rgb(200, 120), np.zeros((120, 200, 1), np.uint8)], axis=-1)
    yy, xx = np.mgrid[0:120, 0:200]
    rgba[:, :, 3] = np.clip(xx * 255 // 199 + (yy % 7) * 3, 0, 255)  # every alpha level
    rgba[:10, :, 3] = 0  # fully transparent band
    images["rgba"] = (Image.fromarray(rgba, "RGBA"), "rgba.png")
    return images


def write_decode_samples(folder, rng):
    """Files for the C++ decoder tests that need an encoder we don't have in C++: JPEGs (plain
    and with EXIF orientation) and the other formats' headers."""
    os.makedirs(folder, exist_ok=True)
    noise = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise, "RGB").save(os.path.join(folder, "plain.jpg"), quality=90)
    red_blue = np.zeros((20, 40, 3), np.uint8)
    red_blue[:, :20] = (255, 0, 0)
    red_blue[:, 20:] = (0, 0, 255)
    for orientation in (2, 6, 8):
        exif = Image.Exif()
        exif[0x0112] = orientation
        Image.fromarray(red_blue, "RGB").save(
            os.path.join(folder, f"rot{orientation}.jpg"), quality=95, exif=exif)
    small = Image.fromarray(np.full((13, 29, 3), (3, 2, 1), np.uint8), "RGB")
    for ext in ("bmp", "tiff", "ppm", "gif"):
        small.save(os.path.join(folder, f"x.{ext}"))
    small.save(os.path.join(folder, "x.webp"), lossless=True)  # VP8L header
    # Animated GIFs, interlaced or not, with a transparent colour in the first frame; the
    # expected first frame is what transformers' convert_to_rgb makes of PIL's decoding.
    from transformers.image_transforms import convert_to_rgb
    expected = {}
    yy, xx = np.mgrid[0:23, 0:37]
    frames = []
    for k in range(3):
        idx = ((xx * 7 + yy * 3 + k * 11) % 50).astype(np.uint8)
        frame = Image.fromarray(idx, "P")
        palette = rng.integers(0, 256, 50 * 3, dtype=np.uint8).tolist()
        frame.putpalette(palette)
        frames.append(frame)
    for interlace in (True, False):
        name = "anim_interlaced" if interlace else "anim"
        path = os.path.join(folder, f"{name}.gif")
        frames[0].save(path, save_all=True, append_images=frames[1:], transparency=5,
                       interlace=interlace, duration=100, loop=0)
        expected[name] = torch.from_numpy(
            np.asarray(convert_to_rgb(Image.open(path), return_numpy=True)).copy())
    save_file(expected, os.path.join(folder, "gif_expected.safetensors"))
    small.save(os.path.join(folder, "lossy.webp"), quality=80)  # VP8 header


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--fixtures", required=True)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers import AutoProcessor

    model_dir = os.path.join(args.fixtures, "smolvlm-256m-instruct")
    if not os.path.isdir(model_dir):
        print(f"missing fixture folder {model_dir}", file=sys.stderr)
        return 1
    out = args.out
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    processor = AutoProcessor.from_pretrained(model_dir)
    rng = np.random.default_rng(1234)

    cases = {}
    for name, (img, fname) in make_images(rng).items():
        path = os.path.join(out, "images", fname)
        img.save(path)
        # What a user of transformers does: open the file, hand the PIL image to the processor.
        loaded = Image.open(path)
        loaded.load()
        enc = processor(text=PROMPT, images=[loaded])
        rc = processor.image_processor(loaded, return_row_col_info=True)
        rows, cols = int(rc["rows"][0][0]), int(rc["cols"][0][0])
        pv = torch.from_numpy(np.asarray(enc["pixel_values"][0], dtype=np.float32))  # [N,3,H,W]
        mask = torch.from_numpy(np.asarray(enc["pixel_attention_mask"][0])).to(torch.bool)
        expanded = PROMPT.replace(
            "<image>", processor.replace_image_token({"rows": [[rows]], "cols": [[cols]]}, 0))
        save_file({
            "pv_stride8": pv[:, :, ::8, ::8].contiguous(),
            "frame_sums": pv.double().sum(dim=(2, 3)).contiguous(),
            "mask_stride8": mask[:, ::8, ::8].to(torch.uint8).contiguous(),
            "mask_true_count": mask.sum(dim=(1, 2)).to(torch.int64).contiguous(),
        }, os.path.join(out, f"{name}.safetensors"))

        small = processor.image_processor(loaded, return_row_col_info=True, **SMALL)
        spv = torch.from_numpy(np.asarray(small["pixel_values"][0], dtype=np.float32))
        smask = torch.from_numpy(np.asarray(small["pixel_attention_mask"][0])).to(torch.uint8)
        save_file({"pixel_values": spv.contiguous(), "pixel_attention_mask": smask.contiguous()},
                  os.path.join(out, f"{name}.small.safetensors"))

        smaller = processor.image_processor(loaded, return_row_col_info=True, **SMALLER)
        save_file({"pixel_values": torch.from_numpy(np.asarray(smaller["pixel_values"][0], dtype=np.float32)),
                   "pixel_attention_mask": torch.from_numpy(
                       np.asarray(smaller["pixel_attention_mask"][0])).to(torch.uint8).contiguous()},
                  os.path.join(out, f"{name}.smaller.safetensors"))

        cases[name] = {
            "file": os.path.join("images", fname),
            "width": img.width,
            "height": img.height,
            "rows": rows,
            "cols": cols,
            "frames": int(pv.shape[0]),
            "small_rows": int(small["rows"][0][0]),
            "small_cols": int(small["cols"][0][0]),
            "smaller_rows": int(smaller["rows"][0][0]),
            "smaller_cols": int(smaller["cols"][0][0]),
            "prompt": PROMPT,
            "expanded_prompt": expanded,
            "input_ids": [int(i) for i in enc["input_ids"][0]],
        }
        if int(pv.shape[0]) != (rows * cols + 1):
            print(f"{name}: {pv.shape[0]} frames for {rows}x{cols}", file=sys.stderr)
            return 1

    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump({"image_seq_len": processor.image_seq_len, "small": SMALL, "smaller": SMALLER, "cases": cases}, f,
                  indent=1)

    # Plain PIL resizes with every filter, down and up, for the resampler on its own.
    resized = {}
    for fname, size in (("wide.png", (333, 211)), ("small.png", (97, 61)), ("tall.png", (300, 123)),
                         ("tall.png", (300, 333)), ("tall.png", (451, 700)), ("tall.png", (82, 192))):
        src = Image.open(os.path.join(out, "images", fname)).convert("RGB")
        for f in (1, 2, 3, 4, 5):
            arr = np.asarray(src.resize(size, resample=f))
            resized[f"{fname[:-4]}_{size[0]}x{size[1]}_f{f}"] = torch.from_numpy(arr.copy())
    save_file(resized, os.path.join(out, "pil_resize.safetensors"))

    write_decode_samples(os.path.join(out, "decode"), rng)

    x = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 4
    save_file({"f32": x, "bf16": x.to(torch.bfloat16), "f16": x.to(torch.float16),
               "i64": torch.arange(-3, 3, dtype=torch.int64)},
              os.path.join(out, "dtypes.safetensors"), metadata={"written_by": "make_processor.py"})
    print(f"wrote {len(cases)} cases to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
