"""Reference data for the image robustness tests: what the reference implementation
(transformers' load_image: PIL, then convert("RGB")) makes of image files our decoder must
read the same way. Writes into --out:
  cmyk.jpg                      a CMYK JPEG (PIL writes Adobe's inverted convention, with an
                                APP14 marker, as Photoshop does)
  one_gray.jpg                  a 1x1 greyscale JPEG
  expected.safetensors          uint8 HWC RGB of each, as PIL + convert("RGB") gives it
Usage: python make_robustness.py --out DIR --fixtures DIR (fixtures unused)
"""
import argparse
import os

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--fixtures", required=False)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    h, w = 24, 32
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([x * 255 // (w - 1), y * 255 // (h - 1), (x + y) * 255 // (w + h - 2)], -1).astype(np.uint8)
    image = Image.fromarray(rgb, "RGB")
    expected = {}

    cmyk = image.convert("CMYK")
    path = os.path.join(args.out, "cmyk.jpg")
    cmyk.save(path, quality=95)
    expected["cmyk"] = np.asarray(Image.open(path).convert("RGB"))

    # One pixel, greyscale: the smallest JPEG a person may drop.
    path = os.path.join(args.out, "one_gray.jpg")
    Image.new("L", (1, 1), 77).save(path, quality=95)
    expected["one_gray"] = np.asarray(Image.open(path).convert("RGB"))

    save_file({k: torch.from_numpy(np.array(v)) for k, v in expected.items()},
              os.path.join(args.out, "expected.safetensors"))


if __name__ == "__main__":
    main()
