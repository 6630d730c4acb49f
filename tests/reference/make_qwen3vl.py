#!/usr/bin/env python3
"""Reference data for the Qwen3-VL parity tests.

Builds small random Qwen3VLForConditionalGeneration checkpoints (fp32, fixed seeds, eager
attention), saves each as the folder a user downloads (config.json, preprocessor_config.json,
safetensors) and records what transformers computes:

  <out>/processor/<image>.png, processor.safetensors, cases.json
      <image>_pixel_values [patches, C*T*P*P]   the slow (PIL) image processor's flat patches
                                                 (Qwen3-VL's settings: 16-pixel patches, mean
                                                 and std 0.5)
      <image>_grid_thw [1, 3]                    image_grid_thw
      <image>_frames [1, C, H, W]                the resized, normalized frame those patches were
                                                 cut from (the flattening undone)
  <out>/<case>/model/                            the checkpoint
  <out>/<case>/reference.safetensors
      <image>_features [tokens, hidden]          get_image_features(...).pooler_output, each image alone
      <image>_deepstack [levels, tokens, hidden] the same call's deepstack_features, one per level
      all_features, all_deepstack, all_grid_thw  the four images in one call
      text_ids [T], text_logits [T, vocab]       a prompt without images
      input_ids [T], image_grid_thw [n, 3]       a prompt built from token ids (images in order)
      position_ids [3, T]                        get_rope_index
      logit_positions [P], logits [P, vocab]     prefill logits at a few positions (last included)
      image_positions [n], attention_last [layers, heads, n]   eager attention of the last prompt
                                                 position over the image tokens
      generated [G]                              greedy tokens (generate, do_sample=False)
      input_ids_turn2 [T2], generated_turn2 [G2] the conversation continued: turn 1's prompt and
                                                 answer, then more text

Images: wide (90x150), tall (200x60), tiny (9x11, below min_pixels) and one past max_pixels
(130x200 against 128*192). The decoder has 3 layers, head_dim 24 (not hidden / heads) and
mrope_section [4, 4, 4], so the interleaved axes take frequencies 1, 4, 7, 10 (height) and 2,
5, 8, 11 (width). Cases:
  untied    untied lm_head, DeepStack levels from vision blocks 0 and 1; one image
  tied      tied embeddings, levels from blocks 0 and 2, sharded weights; two images
  engine    a checkpoint with a Qwen3-like tokenizer and Qwen3-VL's chat template, two images and
            a two-turn conversation through the template, for the engine's end-to-end tests
  thinking  the engine's weights with the Thinking variant's tokenizer and template; rendered.json
            holds the template's text of two conversations (the second with an earlier answer
            whose reasoning the template drops), for the chat-format test
Usage: python make_qwen3vl.py --out DIR [--fixtures DIR]
"""
import argparse
import json
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qwen_reference import TOKEN_IDS, EngineCase, processor_cases, randomize, test_images, write_case  # noqa: E402
from reference_common import write_qwen2_tokenizer  # noqa: E402

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
torch.set_default_dtype(torch.float32)

SEED = 20251204
VOCAB = 320
PATCH, MERGE, TEMPORAL = 16, 2, 2
MIN_PIXELS, MAX_PIXELS = 32 * 32 * 4, 128 * 192
IMAGES = test_images(past_max=(130, 200))


def image_processor():
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    return Qwen2VLImageProcessorPil(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS, patch_size=PATCH,
                                    merge_size=MERGE, temporal_patch_size=TEMPORAL, image_mean=[0.5, 0.5, 0.5],
                                    image_std=[0.5, 0.5, 0.5])


def build(tied, levels, seed, vocab=VOCAB, ids=None):
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration
    text = {"vocab_size": vocab, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 3,
            "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 24, "rms_norm_eps": 1e-6,
            "max_position_embeddings": 512, "hidden_act": "silu", "attention_bias": False,
            "initializer_range": 0.2, "bos_token_id": 1, "eos_token_id": 2,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [4, 4, 4],
                                "mrope_interleaved": True}}
    vision = {"depth": 3, "hidden_size": 32, "intermediate_size": 48, "num_heads": 2, "in_channels": 3,
              "out_hidden_size": 64, "patch_size": PATCH, "spatial_merge_size": MERGE,
              "temporal_patch_size": TEMPORAL, "num_position_embeddings": 36, "hidden_act": "gelu_pytorch_tanh",
              "deepstack_visual_indexes": levels}
    config = Qwen3VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=tied, **(ids or TOKEN_IDS))
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    return randomize(Qwen3VLForConditionalGeneration(config).float().eval(), seed)


def encoded(model, pv, grid):
    out = model.model.get_image_features(pv, grid, return_dict=True)
    return {"features": torch.cat(list(out.pooler_output), 0),
            "deepstack": torch.stack([torch.cat(list(level), 0) for level in out.deepstack_features])}


def thinking_case(out_dir, engine):
    """<out>/thinking/: the engine's weights with the Thinking variant's tokenizer and template,
    reference.safetensors (input_ids of both turns) and rendered.json (the template's text)."""
    from safetensors.torch import save_file
    from transformers import AutoTokenizer
    think_dir = os.path.join(out_dir, "thinking")
    shutil.rmtree(think_dir, ignore_errors=True)
    os.makedirs(os.path.join(think_dir, "model"))
    for f in os.listdir(engine.model_dir):
        if f.endswith(".safetensors") or f in ("config.json", "generation_config.json", "preprocessor_config.json"):
            shutil.copy(os.path.join(engine.model_dir, f), os.path.join(think_dir, "model", f))
    write_qwen2_tokenizer(os.path.join(think_dir, "model"), "qwen3-vl-thinking")
    tok = AutoTokenizer.from_pretrained(os.path.join(think_dir, "model"))
    earlier = "<think>\nlooking closely\n</think>\n\nTwo shapes."
    second = engine.conv + [{"role": "assistant", "content": [{"type": "text", "text": earlier}]},
                            {"role": "user", "content": engine.FOLLOW_UP}]
    ids1, text1 = engine.prompt_ids(tok, engine.conv)
    ids2, text2 = engine.prompt_ids(tok, second)
    assert text1.endswith("<|im_start|>assistant\n<think>\n") and "looking closely" not in text2, text2
    save_file({"input_ids": ids1, "input_ids_turn2": ids2}, os.path.join(think_dir, "reference.safetensors"))
    json.dump({"family": "qwen3_vl", "turns": [engine.CONTENT, engine.FOLLOW_UP], "earlier_answer": earlier,
               "rendered": [text1, text2],
               "instruct_rendered": [engine.tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
                                     for c in (engine.conv, second)]},
              open(os.path.join(think_dir, "rendered.json"), "w"), indent=1)
    instruct = engine.tok.apply_chat_template(engine.conv, tokenize=False)
    assert "You are a helpful assistant" not in instruct and "<|vision_start|><|image_pad|><|vision_end|>" in instruct
    print("thinking: templates rendered")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--fixtures", default="", help="unused: this script needs no fixtures")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    ip = image_processor()
    images, proc = processor_cases(args.out, ip, IMAGES, SEED, MIN_PIXELS, MAX_PIXELS)
    write_case("untied", build(False, [0, 1], 1), args.out, ip, proc, IMAGES, ["wide"], 1, encoded)
    write_case("tied", build(True, [0, 2], 3), args.out, ip, proc, IMAGES, ["past_max", "tall"], 3, encoded,
               shard="100KB")
    engine = EngineCase(args.out, ip, images, "qwen3-vl", "qwen3_vl",
                        lambda seed, vocab, ids: build(True, [0, 1], seed, vocab, ids))
    thinking_case(args.out, engine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
