#!/usr/bin/env python3
"""Reference data for the LLaVA test at real shapes (opt-in).

The vision tower and projector of LLaVA-1.5-7B (CLIP ViT-L/14-336: hidden 1024, 24 layers,
16 heads, intermediate 4096, 336-pixel images of 14-pixel patches, projection_dim 768; the
projector 1024 -> 4096 -> 4096) and a decoder of the Vicuna-7B shape cut to 2 layers (hidden
4096, intermediate 11008, 32 heads, vocab 32064 as in llava-hf), with random weights stored
as bfloat16 (about 2 GB) and run in float32 on both sides. The whole 7B model would not fit a
24 GiB machine in fp32.

Writes <out>/real_shapes/{model/, reference.safetensors} with input_ids (576 image tokens at
the <image> position of a short prompt), pixel_values, logit_positions and logits.

It takes minutes and gigabytes, so it only runs when VQA_LLAVA_REAL=1 (or --force); otherwise
it says so and exits 0, and the C++ test skips with the same advice. A finished case is
reused while its stamp matches.
Usage: python make_llava_real.py --out DIR [--fixtures DIR] [--force]
"""
import json
import os
import sys
import time

import numpy as np
import torch
from PIL import Image

from reference_common import real_shapes_case

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
VERSION = 2


def main():
    case = real_shapes_case("make_llava_real", "VQA_LLAVA_REAL", "about 2 GB and a few minutes", VERSION)
    if case is None:
        return 0
    case_dir, model_dir, marker, stamp = case

    from safetensors.torch import save_file
    from transformers import LlavaConfig, LlavaForConditionalGeneration
    from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil

    text = {"model_type": "llama", "vocab_size": 32064, "hidden_size": 4096, "intermediate_size": 11008,
            "num_hidden_layers": 2, "num_attention_heads": 32, "num_key_value_heads": 32,
            "rms_norm_eps": 1e-5, "max_position_embeddings": 4096, "hidden_act": "silu",
            "pad_token_id": 32001, "bos_token_id": 1, "eos_token_id": 2, "tie_word_embeddings": False}
    vision = {"model_type": "clip_vision_model", "hidden_size": 1024, "intermediate_size": 4096,
              "num_hidden_layers": 24, "num_attention_heads": 16, "image_size": 336, "patch_size": 14,
              "projection_dim": 768, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5, "vocab_size": 32000}
    config = LlavaConfig(text_config=text, vision_config=vision, image_token_index=32000,
                         vision_feature_layer=-2, vision_feature_select_strategy="default",
                         projector_hidden_act="gelu", image_seq_length=576)
    t0 = time.time()
    torch.manual_seed(7)
    model = LlavaForConditionalGeneration(config).eval()
    # Weights rounded to bf16 and stored so, computed in fp32. Not model.to(bfloat16): that
    # would round the rotary inv_freq buffer too, which no checkpoint stores.
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.bfloat16().float())
    model.save_pretrained(model_dir, max_shard_size="1GB",
                          state_dict={k: v.bfloat16() for k, v in model.state_dict().items()})
    print(f"real_shapes: built and saved in {time.time() - t0:.1f}s")

    rng = np.random.default_rng(11)
    base = rng.integers(0, 255, (60 // 8 + 1, 100 // 8 + 1, 3), dtype=np.uint8)
    image = Image.fromarray(base).resize((500, 300), Image.BILINEAR)
    ip = LlavaImageProcessorPil(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336}, resample=3)
    pixel_values = ip(images=[image], return_tensors="pt")["pixel_values"]
    g = torch.Generator().manual_seed(5)
    before = torch.randint(3, 32000, (6,), generator=g)
    after = torch.randint(3, 32000, (10,), generator=g)
    ids = torch.cat([torch.tensor([1]), before, torch.full((576,), 32000), after])
    t0 = time.time()
    with torch.no_grad():
        logits = model(input_ids=ids[None], pixel_values=pixel_values).logits[0]
    T = ids.shape[0]
    positions = torch.tensor([0, 7, 7 + 575, 7 + 576, T // 2, T - 2, T - 1])
    save_file({"input_ids": ids.contiguous(), "pixel_values": pixel_values.contiguous(),
               "logit_positions": positions, "logits": logits[positions].contiguous()},
              os.path.join(case_dir, "reference.safetensors"))
    json.dump(stamp, open(marker, "w"))
    print(f"real_shapes: prefill of {T} tokens in {time.time() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
