#!/usr/bin/env python3
"""Reference data for AWQ checkpoints (engine/io/AwqConfig.h, engine/io/AwqWeights.h).

AWQ checkpoints (Qwen/Qwen2.5-VL-3B-Instruct-AWQ, ...) store each quantized linear X as
X.qweight int32 [in, out/8], X.qzeros int32 [in/group, out/8] and X.scales float16
[in/group, out], packed as AutoAWQ packs them. What those tensors mean is taken from AutoAWQ
itself: its `awq.utils.packing_utils.dequantize_gemm`, from the autoawq wheel fetched once with
pip --no-deps into ~/.cache/vqa-studio/autoawq-<version> (the module is loaded from its file,
without the package's __init__, which needs CUDA kernels). This script only packs; AutoAWQ
says what was packed.

  <out>/tensors.safetensors       synthetic linears, for the reader alone:
      <case>.qweight, <case>.qzeros, <case>.scales   as an AWQ checkpoint holds them
      <case>.dequant                                 float32 [out, in]: dequantize_gemm's result
      cases: g32 [96, 64] groups of 32, g128 [40, 256] groups of 128, row [16, 96] group -1
      (group_size -1: one group per row of inputs)
  <out>/engine/                   the small Qwen2.5-VL engine case of make_qwen2vl.py, its
      decoder's seven linears quantized as AutoAWQ's pseudo-quantizer does (4 bits, zero
      points, groups of 32), stored as AWQ stores them, with config.json's quantization_config.
      The model transformers ran for reference.safetensors holds dequantize_gemm's weights, so
      every number in it is what the AWQ checkpoint means.
  <out>/engine/float_model/       the same model with those dequantized weights as floats
      (a float checkpoint of exactly what the AWQ one means)
Usage: python make_awq.py --out DIR [--fixtures DIR]
"""
import argparse
import importlib.util
import json
import os
import shutil
import sys

import numpy as np
import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_common import pip_fetched  # noqa: E402

AUTOAWQ = "autoawq==0.2.7.post3"
GROUP = 32
ORDER = [0, 2, 4, 6, 1, 3, 5, 7]  # AutoAWQ's WQLinear_GEMM.from_linear: nibble i holds column ORDER[i]
LINEARS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]


def packing_utils():
    why = pip_fetched(AUTOAWQ, "awq", AUTOAWQ.replace("==", "-"))
    if why:
        return None, why
    path = next(os.path.join(p, "awq", "utils", "packing_utils.py") for p in sys.path
                if os.path.exists(os.path.join(p, "awq", "utils", "packing_utils.py")))
    spec = importlib.util.spec_from_file_location("awq_packing_utils", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, None


def pack(values):
    """[rows, cols] ints 0..15 -> int32 [rows, cols / 8], column 8c + ORDER[i] in nibble i."""
    v = values.astype(np.uint32).reshape(values.shape[0], -1, 8)
    packed = np.zeros(v.shape[:2], np.uint32)
    for i, col in enumerate(ORDER):
        packed |= v[:, :, col] << np.uint32(4 * i)
    return torch.from_numpy(packed.view(np.int32).copy())


def pseudo_quantize(w, group):
    """AutoAWQ's pseudo_quantize_tensor with zero points (4 bits), on w [out, in]:
    -> q [out, in] ints, zeros [out, in/group] ints, scales [out, in/group] float16."""
    out, n = w.shape
    g = n if group == -1 else group
    wg = w.reshape(out, n // g, g)
    max_val, min_val = wg.amax(dim=2), wg.amin(dim=2)
    scales = ((max_val - min_val).clamp(min=1e-5) / 15).half()
    zeros = (-torch.round(min_val / scales.float())).clamp(0, 15)
    q = torch.clamp(torch.round(wg / scales.float()[:, :, None]) + zeros[:, :, None], 0, 15)
    return q.reshape(out, n).to(torch.int64), zeros.to(torch.int64), scales


def awq_tensors(w, group, awq):
    """w [out, in] float -> (qweight, qzeros, scales) as AWQ stores them, and what AutoAWQ reads
    back from them (float32 [out, in])."""
    q, zeros, scales = pseudo_quantize(w, group)
    qweight = pack(q.t().contiguous().numpy())
    qzeros = pack(zeros.t().contiguous().numpy())
    scales_t = scales.t().contiguous()
    g = w.shape[1] if group == -1 else group
    dequant = awq.dequantize_gemm(qweight, qzeros, scales_t, 4, g)  # float16 [in, out]
    # What AWQ means, written out: s (q - z) rounded to float16.
    mine = ((q - zeros.repeat_interleave(g, 1)).half() * scales.repeat_interleave(g, 1)).t()
    assert torch.equal(dequant, mine), "the packing disagrees with AutoAWQ's reading"
    return qweight, qzeros, scales_t, dequant.float().t().contiguous()


def synthetic(out_dir, awq):
    g = torch.Generator().manual_seed(20261205)
    tensors = {}
    for name, (rows, cols, group) in {"g32": (96, 64, 32), "g128": (40, 256, 128), "row": (16, 96, -1)}.items():
        w = torch.randn(rows, cols, generator=g) * 0.05
        w[0, :] *= 20  # a row of large weights: large scales and zero points
        qweight, qzeros, scales, dequant = awq_tensors(w, group, awq)
        tensors.update({f"{name}.qweight": qweight, f"{name}.qzeros": qzeros, f"{name}.scales": scales,
                        f"{name}.dequant": dequant})
    save_file(tensors, os.path.join(out_dir, "tensors.safetensors"))


class Quantized:
    """make_qwen2vl's build with the decoder's linears replaced by what their AWQ tensors mean;
    the last model built keeps those tensors (EngineCase keeps the last model it builds)."""

    def __init__(self, build, awq):
        self.build, self.awq, self.tensors = build, awq, {}

    def __call__(self, seed, vocab, ids):
        model = self.build("qwen2_5_vl", seed, vocab, ids)
        self.tensors = {}
        with torch.no_grad():
            for i, layer in enumerate(model.model.language_model.layers):
                for name in LINEARS:
                    linear = layer.get_submodule(name)
                    qweight, qzeros, scales, dequant = awq_tensors(linear.weight.detach(), GROUP, self.awq)
                    linear.weight.copy_(dequant)
                    # Saved as the released checkpoints name them (save_pretrained's own layout).
                    self.tensors[f"model.layers.{i}.{name}"] = (qweight, qzeros, scales)
        return model


def engine_case(out_dir, awq):
    from make_qwen2vl import IMAGES, MAX_PIXELS, MIN_PIXELS, SEED, build, image_processor
    from qwen_reference import EngineCase, processor_cases
    ip = image_processor()
    images, _ = processor_cases(out_dir, ip, IMAGES, SEED, MIN_PIXELS, MAX_PIXELS)
    shutil.rmtree(os.path.join(out_dir, "processor"), ignore_errors=True)  # make_qwen2vl's to check
    quantized = Quantized(build, awq)
    case = EngineCase(out_dir, ip, images, "qwen2.5-vl", "qwen2_5_vl", quantized)
    model_dir = case.model_dir
    shutil.copytree(model_dir, os.path.join(case.dir, "float_model"))
    path = os.path.join(model_dir, "model.safetensors")
    state = load_file(path)
    for stem, (qweight, qzeros, scales) in quantized.tensors.items():
        del state[stem + ".weight"]
        state.update({stem + ".qweight": qweight, stem + ".qzeros": qzeros, stem + ".scales": scales})
    save_file(state, path, metadata={"format": "pt"})
    config_path = os.path.join(model_dir, "config.json")
    config = json.load(open(config_path))
    config["quantization_config"] = {"quant_method": "awq", "bits": 4, "group_size": GROUP, "version": "gemm",
                                     "zero_point": True, "modules_to_not_convert": ["visual"]}
    json.dump(config, open(config_path, "w"), indent=2)
    print(f"engine: {len(quantized.tensors)} AWQ linears in groups of {GROUP}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--fixtures", default="", help="unused: this script needs no fixtures")
    args = ap.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    awq, why = packing_utils()
    shutil.rmtree(args.out, ignore_errors=True)
    if awq is None:
        # The C++ tests find no data and skip, saying to run this script.
        print(f"skipped: {why}")
        return 0
    os.makedirs(args.out)
    synthetic(args.out, awq)
    engine_case(args.out, awq)
    return 0


if __name__ == "__main__":
    sys.exit(main())
