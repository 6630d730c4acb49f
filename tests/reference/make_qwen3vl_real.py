#!/usr/bin/env python3
"""Reference data for the Qwen3-VL test at real shapes (opt-in, on in scripts/test).

Qwen3-VL-2B-Instruct's vision tower at full depth (24 blocks of width 1024, 16 heads, MLP of
4096, 16-pixel patches, 2304 learned positions, DeepStack levels from blocks 5, 11 and 17, the
mergers to 2048) and its decoder (hidden 2048, intermediate 6144, 16 heads, 8 key-value
heads, head_dim 128, q/k norms, vocabulary 151936, rope_theta 5e6, interleaved mrope_section
[24, 20, 20], tied embeddings) cut to 4 layers (the three DeepStack feeds, plus one), with
random weights stored as bfloat16 and run in float32 on both sides. The image is 320 x 224
pixels: 14 x 20 patches, 7 x 10 merged tokens.

Writes <out>/real_shapes/{model/, reference.safetensors} with pixel_values and image_grid_thw
(the processor's flat patches), features and deepstack [3, tokens, 2048] (get_image_features),
input_ids (70 image tokens between <|vision_start|> and <|vision_end|> in a short prompt),
logit_positions and logits.

It takes a minute or two and a few gigabytes, so it runs only when VQA_QWEN_REAL=1 (or
--force); otherwise it says so and exits 0, and the C++ test skips with the same advice. A
finished case is reused while its stamp matches.
Usage: python make_qwen3vl_real.py --out DIR [--fixtures DIR] [--force]
"""
import json
import os
import sys
import time

import torch

from qwen_reference import real_shapes_image, real_shapes_prompt, save_bf16
from reference_common import real_shapes_case

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
VERSION = 1
IMAGE, VIDEO, VISION_START, VISION_END = 151655, 151656, 151652, 151653


def main():
    case = real_shapes_case("make_qwen3vl_real", "VQA_QWEN_REAL", "a few GB and a minute or two", VERSION)
    if case is None:
        return 0
    case_dir, model_dir, marker, stamp = case

    from safetensors.torch import save_file
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    text = {"vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 6144, "num_hidden_layers": 4,
            "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128, "rms_norm_eps": 1e-6,
            "max_position_embeddings": 262144, "hidden_act": "silu", "attention_bias": False,
            "bos_token_id": 151643, "eos_token_id": 151645,
            "rope_parameters": {"rope_type": "default", "rope_theta": 5000000.0, "mrope_section": [24, 20, 20],
                                "mrope_interleaved": True}}
    vision = {"depth": 24, "hidden_size": 1024, "intermediate_size": 4096, "num_heads": 16, "in_channels": 3,
              "out_hidden_size": 2048, "patch_size": 16, "spatial_merge_size": 2, "temporal_patch_size": 2,
              "num_position_embeddings": 2304, "deepstack_visual_indexes": [5, 11, 17],
              "hidden_act": "gelu_pytorch_tanh"}
    config = Qwen3VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=True, image_token_id=IMAGE,
                           video_token_id=VIDEO, vision_start_token_id=VISION_START, vision_end_token_id=VISION_END)
    t0 = time.time()
    torch.manual_seed(7)
    model = Qwen3VLForConditionalGeneration(config).eval()
    save_bf16(model, model_dir)
    print(f"real_shapes: built and saved in {time.time() - t0:.1f}s")

    image = real_shapes_image(320, 224)
    # Qwen3-VL's released processor settings.
    ip = Qwen2VLImageProcessorPil(min_pixels=65536, max_pixels=16777216, patch_size=16, merge_size=2,
                                  temporal_patch_size=2, image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    ip.save_pretrained(model_dir)
    out = ip(images=[image], return_tensors="pt")
    pv, grid = out["pixel_values"].float(), out["image_grid_thw"]
    assert grid.tolist() == [[1, 14, 20]], grid
    ids, positions = real_shapes_prompt(grid, 2, IMAGE, VISION_START, VISION_END)
    t0 = time.time()
    with torch.no_grad():
        encoded = model.model.get_image_features(pv, grid, return_dict=True)
        features = torch.cat(list(encoded.pooler_output), 0)
        deepstack = torch.stack([torch.cat(list(level), 0) for level in encoded.deepstack_features])
        mm = (ids == IMAGE).int()[None]
        logits = model(input_ids=ids[None], pixel_values=pv, image_grid_thw=grid, mm_token_type_ids=mm).logits[0]
    T = ids.shape[0]
    save_file({"pixel_values": pv.contiguous(), "image_grid_thw": grid.contiguous(), "features": features.contiguous(),
               "deepstack": deepstack.contiguous(), "input_ids": ids.contiguous(), "logit_positions": positions,
               "logits": logits[positions].contiguous()},
              os.path.join(case_dir, "reference.safetensors"))
    json.dump(stamp, open(marker, "w"))
    print(f"real_shapes: vision tower and prefill of {T} tokens in {time.time() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
