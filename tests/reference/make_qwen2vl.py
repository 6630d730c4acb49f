#!/usr/bin/env python3
"""Reference data for the Qwen2-VL / Qwen2.5-VL parity tests.

Builds small random Qwen2VLForConditionalGeneration and Qwen2_5_VLForConditionalGeneration
checkpoints (fp32, fixed seeds, eager attention), saves each as the folder a user downloads
(config.json, preprocessor_config.json, safetensors) and records what transformers computes:

  <out>/processor/<image>.png, processor.safetensors
      <image>_pixel_values [patches, C*T*P*P]   the slow (PIL) image processor's flat patches
      <image>_grid_thw [1, 3]                    image_grid_thw
      <image>_frames [1, C, H, W]                the resized, normalized frame those patches were
                                                 cut from (the flattening undone), for flattenPatches
  <out>/<case>/model/                            the checkpoint
  <out>/<case>/reference.safetensors
      <image>_features [tokens, hidden]          get_image_features of each image alone
      all_features, all_grid_thw                 the four images in one call
      input_ids [T], image_grid_thw [n, 3]       a prompt built from token ids (images in order)
      position_ids [3, T]                        get_rope_index
      logit_positions [P], logits [P, vocab]     prefill logits at a few positions (last included)
      image_positions [n], attention_last [layers, heads, n]   eager attention of the last prompt
                                                 position over the image tokens
      text_ids [T'], text_logits [T', vocab]     a prompt without images (plain positions)
      generated [G]                              greedy tokens (generate, do_sample=False)
      input_ids_turn2 [T2], generated_turn2 [G2] the conversation continued: turn 1's prompt and
                                                 answer, then more text

Images: wide (90x150), tall (200x60), tiny (9x11, below min_pixels) and one past max_pixels
(113x168 against 112*168). Cases:
  qwen2_vl    Qwen2-VL: LayerNorm blocks, fc1/quick_gelu/fc2, full attention; untied lm_head;
              one image in the prompt
  qwen2_5_vl  Qwen2.5-VL: RMSNorm blocks, gated MLP, windows of 2 x 2 merged patches (several
              per image) with full attention in block 1; tied embeddings; sharded weights; two
              images in the prompt
  engine      a Qwen2.5-VL checkpoint with tokenizer and chat template, two images and a two-turn
              conversation through the chat template, for the engine's end-to-end tests
Usage: python make_qwen2vl.py --out DIR [--fixtures DIR]
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qwen_reference import TOKEN_IDS, EngineCase, processor_cases, randomize, test_images, write_case  # noqa: E402

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
torch.set_default_dtype(torch.float32)

SEED = 20251203
VOCAB = 320
PATCH, MERGE, TEMPORAL = 14, 2, 2
MIN_PIXELS, MAX_PIXELS = 28 * 28 * 4, 112 * 168
IMAGES = test_images(past_max=(113, 168))


def image_processor():
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    return Qwen2VLImageProcessorPil(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS, patch_size=PATCH,
                                    merge_size=MERGE, temporal_patch_size=TEMPORAL)


def text_config(tied, vocab=VOCAB):
    return {"vocab_size": vocab, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-6, "max_position_embeddings": 512,
            "hidden_act": "silu", "initializer_range": 0.2, "tie_word_embeddings": tied, "bos_token_id": 1,
            "eos_token_id": 2, "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                                                  "mrope_section": [2, 3, 3]}}


def build(kind, seed, vocab=VOCAB, ids=None):
    from transformers import (Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2VLConfig,
                              Qwen2VLForConditionalGeneration)
    ids = ids or TOKEN_IDS
    if kind == "qwen2_vl":
        vision = {"depth": 2, "embed_dim": 32, "hidden_size": 64, "mlp_ratio": 2, "num_heads": 2,
                  "in_channels": 3, "patch_size": PATCH, "spatial_merge_size": MERGE,
                  "temporal_patch_size": TEMPORAL, "hidden_act": "quick_gelu"}
        config = Qwen2VLConfig(text_config=text_config(False, vocab), vision_config=vision, tie_word_embeddings=False,
                               **ids)
        cls = Qwen2VLForConditionalGeneration
    else:
        vision = {"depth": 3, "hidden_size": 32, "intermediate_size": 48, "num_heads": 2, "in_channels": 3,
                  "out_hidden_size": 64, "patch_size": PATCH, "spatial_merge_size": MERGE,
                  "temporal_patch_size": TEMPORAL, "window_size": 56, "fullatt_block_indexes": [1],
                  "hidden_act": "silu", "tokens_per_second": 2}
        config = Qwen2_5_VLConfig(text_config=text_config(True, vocab), vision_config=vision, tie_word_embeddings=True,
                                  **ids)
        cls = Qwen2_5_VLForConditionalGeneration
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    return randomize(cls(config).float().eval(), seed)


def features(model, pv, grid):
    return {"features": torch.cat(list(model.model.get_image_features(pv, grid, return_dict=True).pooler_output), 0)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--fixtures", default="", help="unused: this script needs no fixtures")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    ip = image_processor()
    images, proc = processor_cases(args.out, ip, IMAGES, SEED, MIN_PIXELS, MAX_PIXELS)
    write_case("qwen2_vl", build("qwen2_vl", 1), args.out, ip, proc, IMAGES, ["wide"], 1, features)
    write_case("qwen2_5_vl", build("qwen2_5_vl", 3), args.out, ip, proc, IMAGES, ["past_max", "tall"], 3, features,
               shard="100KB")
    EngineCase(args.out, ip, images, "qwen2.5-vl", "qwen2_5_vl",
               lambda seed, vocab, ids: build("qwen2_5_vl", seed, vocab, ids))
    return 0


if __name__ == "__main__":
    sys.exit(main())
