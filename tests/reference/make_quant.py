#!/usr/bin/env python3
"""Reference bytes for the weight quantization formats (models/quant/QuantFormat.h).

Writes --out/quant.safetensors with, for each case:
  input.<case>            float32 [rows, k]: the weights
  <fmt>.<case>            uint8 [rows, row bytes]: the blocks as this file's numpy reference
                          writes them (the format's definition, step for step in float32)
  dequant.<fmt>.<case>    float32 [rows, k]: those blocks dequantized by the reference
  gguf.<fmt>.<case>       uint8: the same tensor quantized by GGUF's own Python quantizer
                          (gguf.quants, the `gguf` package llama.cpp publishes), for cases whose
                          k is a multiple of 32 (GGUF has no partial blocks)
for fmt in q8_0, q4_0, q4_1. The `gguf` package is fetched with pip once into
~/.cache/vqa-studio/gguf-<version> (it is not in the project's environment); without the
network the gguf tensors are left out and the C++ test says it skipped that comparison.
"""
import argparse
import os

import numpy as np
import torch
from safetensors.torch import save_file

from reference_common import pip_fetched

GGUF = "gguf==0.19.0"
CACHE = os.path.expanduser("~/.cache/vqa-studio/" + GGUF.replace("==", "-"))
BLOCK = 32


def blocks_of(x):
    """[rows, k] -> [rows * ceil(k / 32), 32], the last block of each row padded with zeros."""
    rows, k = x.shape
    padded = np.zeros((rows, -(-k // BLOCK) * BLOCK), np.float32)
    padded[:, :k] = x
    return padded.reshape(-1, BLOCK)


def half_bytes(v):
    return v.astype(np.float16).view(np.uint8).reshape(-1, 2)


def pack_nibbles(q):
    """[n, 32] values 0..15 -> [n, 16]: q[j] in the low nibble of byte j, q[j + 16] in the high."""
    return (q[:, :16] | (q[:, 16:] << 4)).astype(np.uint8)


def round_half_away(v):
    """Rounds halves away from zero, exactly (adding 0.5 first would round 0.49999997 up)."""
    a = np.abs(v)
    whole = np.floor(a)
    return (np.sign(v) * (whole + (a - whole >= np.float32(0.5)))).astype(np.float32)


def inverse(d):
    with np.errstate(divide="ignore"):
        return np.where(d == 0, np.float32(0), np.float32(1) / d).astype(np.float32)


def quantize(fmt, x):
    b = blocks_of(x)
    if fmt == "q8_0":
        d = (np.abs(b).max(axis=1, keepdims=True) / np.float32(127)).astype(np.float32)
        q = round_half_away(b * inverse(d)).astype(np.int8).view(np.uint8)
        out = np.concatenate([half_bytes(d), q], axis=1)
    elif fmt == "q4_0":
        # The value of largest magnitude, with its sign (the first of equals), maps to -8.
        big = np.take_along_axis(b, np.abs(b).argmax(axis=1)[:, None], axis=1)
        d = (big / np.float32(-8)).astype(np.float32)
        q = np.clip(np.trunc(b * inverse(d) + np.float32(8.5)), 0, 15).astype(np.uint8)
        out = np.concatenate([half_bytes(d), pack_nibbles(q)], axis=1)
    else:  # q4_1
        lo, hi = b.min(axis=1, keepdims=True), b.max(axis=1, keepdims=True)
        d = ((hi - lo) / np.float32(15)).astype(np.float32)
        q = np.clip(np.trunc((b - lo) * inverse(d) + np.float32(0.5)), 0, 15).astype(np.uint8)
        out = np.concatenate([half_bytes(d), half_bytes(lo), pack_nibbles(q)], axis=1)
    return out.reshape(x.shape[0], -1)


def dequantize(fmt, data, k):
    rows = data.shape[0]
    width = {"q8_0": 34, "q4_0": 18, "q4_1": 20}[fmt]
    b = data.reshape(-1, width)
    d = b[:, 0:2].copy().view(np.float16).astype(np.float32)
    if fmt == "q8_0":
        w = b[:, 2:].copy().view(np.int8).astype(np.float32) * d
    else:
        qs = b[:, width - 16:]
        q = np.concatenate([qs & 15, qs >> 4], axis=1).astype(np.float32)
        if fmt == "q4_0":
            w = (q - 8) * d
        else:
            w = q * d + b[:, 2:4].copy().view(np.float16).astype(np.float32)
    return w.reshape(rows, -1)[:, :k].astype(np.float32)


def cases():
    rng = np.random.default_rng(1234)
    c = {}
    w = (rng.standard_normal((37, 256)) * 0.05).astype(np.float32)
    w[0, :32] = 0                                    # an all-zero block
    w[1, :32] = 0.25                                 # a constant block
    w[2, :32] = rng.standard_normal(32) * 0.01
    w[2, 7] = -0.5                                   # the largest magnitude is negative
    w[3, 32:64] = np.float32(0.5) * rng.integers(-4, 5, 32)  # many exact ties
    w[3, 40] = -2.0
    w[3, 41] = 2.0                                   # two of equal magnitude, either sign
    w[4, :] *= 100                                   # an outlier row
    c["mixed"] = w
    c["uniform"] = rng.uniform(-1, 1, (16, 96)).astype(np.float32)
    c["tail"] = (rng.standard_normal((5, 100)) * 0.1).astype(np.float32)   # a partial last block
    c["narrow"] = (rng.standard_normal((3, 7)) * 0.1).astype(np.float32)   # less than one block
    return c


def gguf_quants():
    """gguf.quants from the pinned package, fetched once; None when pip cannot fetch it."""
    why = pip_fetched(GGUF, "gguf", os.path.basename(CACHE))
    if why:
        print(f"make_quant: the gguf comparison is skipped: {why}")
        return None
    import gguf  # noqa: E402 (its own dependencies, numpy and PyYAML, are in the environment)
    return gguf


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--fixtures")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    gguf = gguf_quants()
    tensors = {}
    for name, x in cases().items():
        tensors[f"input.{name}"] = torch.from_numpy(x)
        for fmt in ("q8_0", "q4_0", "q4_1"):
            q = quantize(fmt, x)
            tensors[f"{fmt}.{name}"] = torch.from_numpy(q)
            tensors[f"dequant.{fmt}.{name}"] = torch.from_numpy(dequantize(fmt, q, x.shape[1]))
            if gguf is not None and x.shape[1] % BLOCK == 0:
                qtype = getattr(gguf.GGMLQuantizationType, fmt.upper())
                g = np.ascontiguousarray(gguf.quants.quantize(x, qtype)).reshape(x.shape[0], -1)
                tensors[f"gguf.{fmt}.{name}"] = torch.from_numpy(g)
    tmp = os.path.join(args.out, "quant.safetensors.part")
    save_file(tensors, tmp)
    os.replace(tmp, os.path.join(args.out, "quant.safetensors"))
    print(f"make_quant: {len(tensors)} tensors" + ("" if gguf else " (without gguf's)"))


if __name__ == "__main__":
    main()
