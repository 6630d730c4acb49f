#!/usr/bin/env python3
"""Reference data for the Idefics3 (SmolVLM) parity tests.

Builds small random Idefics3ForConditionalGeneration checkpoints with transformers (fixed
seeds), saves them in the Hugging Face layout (safetensors, with the fixture's tokenizer and a
scaled-down processor), and records what the reference implementation computes on them:

  <out>/<case>/model/               the checkpoint (config.json, *.safetensors, tokenizer, ...)
  <out>/<case>/reference.safetensors
      input_ids [T]                  turn 1 prompt the processor produced
      pixel_values [N,3,H,W], pixel_attention_mask [N,H,W]
      logit_positions [P], logits [P,vocab]   prefill logits at a few positions (last included)
      generated [G]                  greedy tokens of turn 1 (generate, do_sample=False)
      input_ids_turn2 [T2], generated_turn2 [G2]   the conversation continued
      input_ids_started [T3], generated_started [10]   an answer begun with "A photo of"
      image_positions [n], attention_last [layers,heads,n]   eager attention of the last
                                     prompt position over the image tokens (output_attentions)
      answer_log_probs*, occlusion_rect   the answer scored with the images, their mean colour, none,
                                     a rectangle greyed (explain/ImageReliance)
      vision_rollout [N,S,S]         attention rollout through the vision tower, real tiles
      enc_pixel_values [3,3,H,W], enc_pixel_attention_mask [3,H,W], enc_features [k,hidden]
                                     image features for a batch with a padded image and an
                                     all-padding image (which the model drops)

Cases: tiny_untied (single file), tiny_tied (tied embeddings, GQA 4:1, explicit head_dim,
biases, sharded), real_shapes (the fixture's SmolVLM-256M config with random fp32 weights,
written once and reused; prefill logits only).
"""
import argparse
import json
import os
import shutil
import sys
import time

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from transformers import AutoProcessor, Idefics3Config, Idefics3ForConditionalGeneration

from reference_common import (answer_log_probs, make_images, mean_colour_image, occluded_image,
                              occlusion_rect, vision_rollout)

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
torch.set_default_dtype(torch.float32)

CASE_VERSION = 1  # bump to rebuild cached cases (real_shapes) after changing what they hold
FIXTURE_FILES_SKIP = {"config.json", "generation_config.json", "README.md", "NOTICE"}


def build_processor(fixtures, image_seq_len, tile, longest):
    proc = AutoProcessor.from_pretrained(fixtures, image_seq_len=image_seq_len)
    proc.image_processor.size = {"longest_edge": longest}
    proc.image_processor.max_image_size = {"longest_edge": tile}
    return proc


def greedy_generate(model, inputs, n):
    with torch.no_grad():
        out = model.generate(**inputs, do_sample=False, max_new_tokens=n, min_new_tokens=n,
                             eos_token_id=None, pad_token_id=0)
    return out[0, inputs["input_ids"].shape[1]:]


def run_case(name, config, proc, fixtures, out_dir, images, shard=None, full=True, seed=0):
    case_dir = os.path.join(out_dir, name)
    model_dir = os.path.join(case_dir, "model")
    ref_path = os.path.join(case_dir, "reference.safetensors")
    marker = os.path.join(case_dir, "done.json")
    stamp = {"config": config.to_dict(), "seed": seed, "images": [list(i.size) for i in images],
             "processor": proc.image_processor.to_dict(), "version": CASE_VERSION}
    if not full and os.path.exists(marker):
        try:
            if json.load(open(marker)) == json.loads(json.dumps(stamp)):
                print(f"{name}: reusing {case_dir}")
                return
        except Exception:
            pass
    shutil.rmtree(case_dir, ignore_errors=True)
    os.makedirs(model_dir)

    torch.manual_seed(seed)
    t0 = time.time()
    model = Idefics3ForConditionalGeneration(config).float().eval()
    model.config._attn_implementation = "eager"
    model.model.vision_model.config._attn_implementation = "eager"
    model.model.text_model.config._attn_implementation = "eager"
    save_kwargs = {"max_shard_size": shard} if shard else {}
    model.save_pretrained(model_dir, **save_kwargs)
    proc.save_pretrained(model_dir)
    # The chat template of the fixture, if save_pretrained wrote none.
    for f in os.listdir(fixtures):
        if f not in FIXTURE_FILES_SKIP and not os.path.exists(os.path.join(model_dir, f)):
            shutil.copy(os.path.join(fixtures, f), model_dir)
    print(f"{name}: built and saved in {time.time() - t0:.1f}s")

    if len(images) == 2:
        content = [{"type": "image"}, {"type": "text", "text": "Compare"}, {"type": "image"},
                   {"type": "text", "text": "What differs between these two?"}]
    else:
        content = [{"type": "image"}, {"type": "text", "text": "Describe this image."}]
    conv = [{"role": "user", "content": content}]
    # The same images and conversation as files, for the engine's end-to-end tests.
    for i, im in enumerate(images):
        im.save(os.path.join(case_dir, f"image{i}.png"))
    text = proc.apply_chat_template(conv, add_generation_prompt=True)
    inputs = proc(text=text, images=[list(images)], return_tensors="pt")
    ids = inputs["input_ids"][0]
    image_token_id = config.image_token_id
    image_positions = torch.nonzero(ids == image_token_id).flatten()
    ref = {
        "input_ids": ids.clone(),
        "pixel_values": inputs["pixel_values"][0].contiguous(),
        "pixel_attention_mask": inputs["pixel_attention_mask"][0].to(torch.uint8).contiguous(),
        "image_positions": image_positions.clone(),
    }
    T = ids.shape[0]

    t0 = time.time()
    with torch.no_grad():
        out = model(**inputs, output_attentions=full)
    logits = out.logits[0]
    positions = torch.tensor(sorted({0, int(image_positions[0]), int(image_positions[-1]),
                                     int(image_positions[-1]) + 1, T // 2, T - 2, T - 1}))
    ref["logit_positions"] = positions
    ref["logits"] = logits[positions].contiguous()
    print(f"{name}: prefill of {T} tokens, {ref['pixel_values'].shape[0]} tiles in {time.time() - t0:.1f}s")

    if full:
        ref["attention_last"] = torch.stack(
            [a[0, :, -1, image_positions] for a in out.attentions]).float().contiguous()

        gen = greedy_generate(model, inputs, 20)
        ref["generated"] = gen.clone()
        answer = proc.tokenizer.decode(gen, skip_special_tokens=True)
        conv2 = conv + [{"role": "assistant", "content": [{"type": "text", "text": answer}]},
                        {"role": "user", "content": [{"type": "text", "text": "And the colours?"}]}]
        text2 = proc.apply_chat_template(conv2, add_generation_prompt=True)
        inputs2 = proc(text=text2, images=[list(images)], return_tensors="pt")
        ref["input_ids_turn2"] = inputs2["input_ids"][0].clone()
        ref["generated_turn2"] = greedy_generate(model, inputs2, 20).clone()
        # An answer begun for the model (GenerationParams::answer_start): transformers'
        # continue_final_message.
        conv3 = conv + [{"role": "assistant", "content": [{"type": "text", "text": ANSWER_START}]}]
        text3 = proc.apply_chat_template(conv3, continue_final_message=True)
        inputs3 = proc(text=text3, images=[list(images)], return_tensors="pt")
        ref["input_ids_started"] = inputs3["input_ids"][0].clone()
        ref["generated_started"] = greedy_generate(model, inputs3, 10).clone()
        # The same answer, teacher-forced, with the images, with them made their mean colour,
        # without them, and with a rectangle of the first greyed (explain/ImageReliance).
        def scored(imgs, conversation):
            text_ = proc.apply_chat_template(conversation, add_generation_prompt=True)
            kw = proc(text=text_, images=[list(imgs)], return_tensors="pt") if imgs else \
                proc(text=text_, return_tensors="pt")
            prompt_ids = kw.pop("input_ids")[0]
            full = torch.cat([prompt_ids, gen])[None]
            kw["attention_mask"] = torch.ones_like(full)
            with torch.no_grad():
                return answer_log_probs(model(input_ids=full, **kw).logits[0], len(prompt_ids), gen)
        no_image = [{"role": "user", "content": [c for c in content if c["type"] != "image"]}]
        rect = occlusion_rect(images[0])
        ref["answer_log_probs"] = scored(images, conv)
        ref["answer_log_probs_mean_colour"] = scored([mean_colour_image(i) for i in images], conv)
        ref["answer_log_probs_no_image"] = scored([], no_image)
        ref["answer_log_probs_occluded"] = scored([occluded_image(images[0], rect)] + list(images[1:]), conv)
        ref["occlusion_rect"] = torch.tensor(rect, dtype=torch.int64)
        # Attention rollout through the vision tower (Abnar & Zuidema), in numpy over the tower's
        # output_attentions, for the real tiles of the prompt's images.
        pv, pam = inputs["pixel_values"][0], inputs["pixel_attention_mask"][0]
        real = (pv != 0).flatten(1).any(1)
        pv, pam = pv[real], pam[real]
        ps = config.vision_config.patch_size
        patch_mask = pam.unfold(1, ps, ps).unfold(2, ps, ps).sum(dim=(-1, -2)) > 0
        with torch.no_grad():
            tower = model.model.vision_model(pixel_values=pv, patch_attention_mask=patch_mask, output_attentions=True)
        ref["vision_rollout"] = torch.from_numpy(vision_rollout([a.float().numpy() for a in tower.attentions]))
        json.dump({"turns": [content, [{"type": "text", "text": "And the colours?"}]], "answer": answer},
                  open(os.path.join(case_dir, "conversation.json"), "w"), indent=1)

        # Image features for a batch that needs the padding logic: a full tile, a tile padded
        # at the bottom and right (44 x 52 valid pixels: partial patches count as valid), and an
        # all-zero padding image that the model drops.
        pv = ref["pixel_values"][:3].clone()
        mask = torch.ones(3, pv.shape[-2], pv.shape[-1], dtype=torch.long)
        pv[1, :, 44:, :] = 0
        pv[1, :, :, 52:] = 0
        mask[1, 44:, :] = 0
        mask[1, :, 52:] = 0
        pv[2] = 0
        mask[2] = 0
        with torch.no_grad():
            feats = model.model.get_image_features(pv[None], mask[None], return_dict=True).pooler_output
        # And the rollout over that batch's real tiles (the padded one's padding patches masked).
        enc_patch_mask = mask[:2].unfold(1, ps, ps).unfold(2, ps, ps).sum(dim=(-1, -2)) > 0
        with torch.no_grad():
            tower = model.model.vision_model(pixel_values=pv[:2], patch_attention_mask=enc_patch_mask,
                                             output_attentions=True)
        ref["enc_vision_rollout"] = torch.from_numpy(vision_rollout([a.float().numpy() for a in tower.attentions]))
        ref["enc_pixel_values"] = pv.contiguous()
        ref["enc_pixel_attention_mask"] = mask.to(torch.uint8).contiguous()
        ref["enc_features"] = torch.cat(list(feats), 0).contiguous()

    save_file({k: v.contiguous() for k, v in ref.items()}, ref_path)
    json.dump(json.loads(json.dumps(stamp)), open(marker, "w"))


def tiny_config(fixtures, tied, head_dim=None, kv_heads=2, bias=False):
    base = json.load(open(os.path.join(fixtures, "config.json")))
    text = {
        "model_type": "llama", "vocab_size": base["vocab_size"], "hidden_size": 64,
        "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": kv_heads, "rms_norm_eps": 1e-5, "rope_theta": 100000.0,
        "max_position_embeddings": 1024, "hidden_act": "silu", "initializer_range": 0.2,
        "attention_bias": bias, "mlp_bias": bias, "pad_token_id": 2, "bos_token_id": 1,
        "eos_token_id": 2, "tie_word_embeddings": tied,
    }
    if head_dim:
        text["head_dim"] = head_dim
    vision = {
        "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_channels": 3, "image_size": 64, "patch_size": 8,
        "layer_norm_eps": 1e-6, "hidden_act": "gelu_pytorch_tanh", "initializer_range": 0.2,
    }
    return Idefics3Config(text_config=text, vision_config=vision, scale_factor=2,
                          image_token_id=base["image_token_id"], tie_word_embeddings=tied)


def real_config(fixtures):
    cfg = Idefics3Config.from_pretrained(fixtures)
    cfg.dtype = torch.float32
    cfg.text_config.dtype = torch.float32
    cfg.vision_config.dtype = torch.float32
    return cfg


ANSWER_START = "A photo of"  # tests/engine/test_engine_parity.cpp uses the same words


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--skip-real", action="store_true", help="do not build the 256M-shape case")
    args = ap.parse_args()
    fixtures = os.path.join(args.fixtures, "smolvlm-256m-instruct")
    if not os.path.isdir(fixtures):
        print(f"missing fixtures {fixtures}", file=sys.stderr)
        return 1
    os.makedirs(args.out, exist_ok=True)
    images = make_images(0)

    # Tiny vision: 64-pixel tiles of 8-pixel patches, pixel shuffle 2 -> 16 tokens a tile.
    tiny_proc = build_processor(fixtures, image_seq_len=16, tile=64, longest=128)
    run_case("tiny_untied", tiny_config(fixtures, tied=False), tiny_proc, fixtures, args.out,
             images, seed=1)
    run_case("tiny_tied", tiny_config(fixtures, tied=True, head_dim=32, kv_heads=1, bias=True),
             tiny_proc, fixtures, args.out, images, shard="5MB", seed=2)
    if not args.skip_real:
        # Real shapes: 512-pixel tiles, 64 tokens a tile; images resized to at most 1024 so the
        # prompt holds a few tiles rather than 17.
        real_proc = build_processor(fixtures, image_seq_len=64, tile=512, longest=1024)
        run_case("real_shapes", real_config(fixtures), real_proc, fixtures, args.out, images[1:],
                 full=False, seed=3)
    return 0


if __name__ == "__main__":
    sys.exit(main())
