#!/usr/bin/env python3
"""Reference data for the Qwen2.5-VL test at real shapes (opt-in, on in scripts/test).

Qwen2.5-VL-3B-Instruct's vision tower at full depth (32 blocks of width 1280, 16 heads, gated
MLP of 3420, windows of 112 pixels with full attention in blocks 7, 15, 23 and 31, the merger
to 2048) and its decoder (hidden 2048, intermediate 11008, 16 heads, 2 key-value heads,
vocabulary 151936, rope_theta 1e6, mrope_section [16, 24, 24], tied embeddings) cut to 2
layers, with random weights stored as bfloat16 (about 2.3 GB) and run in float32 on both
sides. The image is 336 x 224 pixels: 24 x 16 patches, 12 x 8 merged tokens, 3 x 2 windows.

Writes <out>/real_shapes/{model/, reference.safetensors} with pixel_values and image_grid_thw
(the processor's flat patches), features (get_image_features), input_ids (96 image tokens
between <|vision_start|> and <|vision_end|> in a short prompt), logit_positions and logits.

It takes about a minute and several gigabytes, so it runs only when VQA_QWEN_REAL=1 (or
--force); otherwise it says so and exits 0, and the C++ test skips with the same advice. A
finished case is reused while its stamp matches.
Usage: python make_qwen2vl_real.py --out DIR [--fixtures DIR] [--force]
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
    case = real_shapes_case("make_qwen2vl_real", "VQA_QWEN_REAL", "about 2.3 GB and a minute", VERSION)
    if case is None:
        return 0
    case_dir, model_dir, marker, stamp = case

    from safetensors.torch import save_file
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    text = {"vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 11008, "num_hidden_layers": 2,
            "num_attention_heads": 16, "num_key_value_heads": 2, "rms_norm_eps": 1e-6,
            "max_position_embeddings": 128000, "hidden_act": "silu", "tie_word_embeddings": True,
            "bos_token_id": 151643, "eos_token_id": 151645,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]}}
    vision = {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16, "in_channels": 3,
              "out_hidden_size": 2048, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
              "window_size": 112, "fullatt_block_indexes": [7, 15, 23, 31], "hidden_act": "silu",
              "tokens_per_second": 2}
    config = Qwen2_5_VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=True,
                              image_token_id=IMAGE, video_token_id=VIDEO, vision_start_token_id=VISION_START,
                              vision_end_token_id=VISION_END)
    t0 = time.time()
    torch.manual_seed(7)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    save_bf16(model, model_dir)
    print(f"real_shapes: built and saved in {time.time() - t0:.1f}s")

    image = real_shapes_image(336, 224)
    ip = Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=28 * 28 * 1280, patch_size=14, merge_size=2,
                                  temporal_patch_size=2)
    ip.save_pretrained(model_dir)
    out = ip(images=[image], return_tensors="pt")
    pv, grid = out["pixel_values"].float(), out["image_grid_thw"]
    assert grid.tolist() == [[1, 16, 24]], grid
    ids, positions = real_shapes_prompt(grid, 2, IMAGE, VISION_START, VISION_END)
    t0 = time.time()
    with torch.no_grad():
        features = torch.cat(list(model.model.get_image_features(pv, grid, return_dict=True).pooler_output), 0)
        mm = (ids == IMAGE).int()[None]
        logits = model(input_ids=ids[None], pixel_values=pv, image_grid_thw=grid, mm_token_type_ids=mm).logits[0]
    T = ids.shape[0]
    save_file({"pixel_values": pv.contiguous(), "image_grid_thw": grid.contiguous(), "features": features.contiguous(),
               "input_ids": ids.contiguous(), "logit_positions": positions,
               "logits": logits[positions].contiguous()},
              os.path.join(case_dir, "reference.safetensors"))
    json.dump(stamp, open(marker, "w"))
    print(f"real_shapes: vision tower and prefill of {T} tokens in {time.time() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
