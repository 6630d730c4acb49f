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
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_common import write_qwen2_tokenizer  # noqa: E402

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
torch.set_default_dtype(torch.float32)

SEED = 20251204
VOCAB = 320
VISION_START, VISION_END, IMAGE, VIDEO = 300, 301, 302, 303
PATCH, MERGE, TEMPORAL = 16, 2, 2
MIN_PIXELS, MAX_PIXELS = 32 * 32 * 4, 128 * 192
IMAGES = {"wide": (90, 150), "tall": (200, 60), "tiny": (9, 11), "past_max": (130, 200)}


def make_image(rng, h, w):
    base = rng.integers(0, 255, (h // 8 + 2, w // 8 + 2, 3), dtype=np.uint8)
    im = Image.fromarray(base).resize((w, h), Image.BILINEAR)
    noise = rng.integers(-20, 20, (h, w, 3))
    return Image.fromarray(np.clip(np.asarray(im).astype(int) + noise, 0, 255).astype(np.uint8))


def image_processor():
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    return Qwen2VLImageProcessorPil(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS, patch_size=PATCH,
                                    merge_size=MERGE, temporal_patch_size=TEMPORAL, image_mean=[0.5, 0.5, 0.5],
                                    image_std=[0.5, 0.5, 0.5])


def unflatten(flat, grid):
    """The frame the processor cut `flat` from: its patch order undone, first temporal copy."""
    _, gh, gw = grid
    c = 3
    x = flat.reshape(gh // MERGE, gw // MERGE, MERGE, MERGE, c, TEMPORAL, PATCH, PATCH)[:, :, :, :, :, 0]
    x = x.permute(4, 0, 2, 5, 1, 3, 6)  # C, gh/m, m, P, gw/m, m, P
    return x.reshape(1, c, gh * PATCH, gw * PATCH).contiguous()


def processor_cases(out_dir):
    from safetensors.torch import save_file
    folder = os.path.join(out_dir, "processor")
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(SEED)
    ip = image_processor()
    tensors, images = {}, {}
    for name, (h, w) in IMAGES.items():
        im = make_image(rng, h, w)
        im.save(os.path.join(folder, name + ".png"))
        images[name] = im
        out = ip(images=[im], return_tensors="pt")
        flat, grid = out["pixel_values"].float(), out["image_grid_thw"]
        tensors[name + "_pixel_values"] = flat.contiguous()
        tensors[name + "_grid_thw"] = grid.contiguous()
        tensors[name + "_frames"] = unflatten(flat, grid[0].tolist())
    save_file(tensors, os.path.join(folder, "processor.safetensors"))
    json.dump({"min_pixels": MIN_PIXELS, "max_pixels": MAX_PIXELS, "images": {k: list(v) for k, v in IMAGES.items()}},
              open(os.path.join(folder, "cases.json"), "w"), indent=1)
    return ip, images, tensors


def build(tied, levels, seed, vocab=VOCAB, ids=None):
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration
    ids = ids or dict(image_token_id=IMAGE, video_token_id=VIDEO, vision_start_token_id=VISION_START,
                      vision_end_token_id=VISION_END)
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
    config = Qwen3VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=tied, **ids)
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = Qwen3VLForConditionalGeneration(config).float().eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # weights large enough that the answer depends on the image
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p[0].numel() if p.dim() > 1 else p.shape[-1]
                p.copy_(torch.randn(p.shape, generator=g) / max(1.0, fan_in ** 0.5) * 1.5)
    if tied:
        model.tie_weights()
    for c in (model.config, model.model.visual.config, model.model.language_model.config):
        c._attn_implementation = "eager"
    return model


def prompt(grids, rng):
    """Token ids: text, then per image <|vision_start|> <|image_pad|>*n <|vision_end|>, then text."""
    ids = [1] + [int(x) for x in rng.integers(3, 290, 5)]
    for t, h, w in grids:
        ids += [VISION_START] + [IMAGE] * (t * h * w // MERGE ** 2) + [VISION_END]
    ids += [int(x) for x in rng.integers(3, 290, 6)]
    return torch.tensor(ids)


def generate(model, ids, pv, grids, n, image_id=IMAGE, pad=0):
    mm = (ids == image_id).int()[None]
    with torch.no_grad():
        out = model.generate(input_ids=ids[None], pixel_values=pv, image_grid_thw=grids, mm_token_type_ids=mm,
                             attention_mask=torch.ones_like(ids)[None], do_sample=False, max_new_tokens=n,
                             min_new_tokens=n, eos_token_id=None, pad_token_id=pad)
    return out[0, ids.shape[0]:]


def encoded(model, pv, grid):
    out = model.model.get_image_features(pv, grid, return_dict=True)
    return (torch.cat(list(out.pooler_output), 0),
            torch.stack([torch.cat(list(level), 0) for level in out.deepstack_features]))


def run_case(name, tied, levels, seed, out_dir, ip, proc, prompt_images, shard=None):
    from safetensors.torch import save_file
    case_dir = os.path.join(out_dir, name)
    model_dir = os.path.join(case_dir, "model")
    shutil.rmtree(case_dir, ignore_errors=True)
    os.makedirs(model_dir)
    t0 = time.time()
    model = build(tied, levels, seed)
    model.save_pretrained(model_dir, **({"max_shard_size": shard} if shard else {}))
    ip.save_pretrained(model_dir)
    ref = {}
    with torch.no_grad():
        for img in IMAGES:
            ref[img + "_features"], ref[img + "_deepstack"] = encoded(model, proc[img + "_pixel_values"],
                                                                      proc[img + "_grid_thw"])
        pv_all = torch.cat([proc[i + "_pixel_values"] for i in IMAGES], 0)
        grid_all = torch.cat([proc[i + "_grid_thw"] for i in IMAGES], 0)
        ref["all_features"], ref["all_deepstack"] = encoded(model, pv_all, grid_all)
        ref["all_grid_thw"] = grid_all

        rng = np.random.default_rng(seed)
        text_ids = torch.tensor([1] + [int(x) for x in rng.integers(3, 290, 11)])
        ref["text_ids"] = text_ids
        ref["text_logits"] = model(input_ids=text_ids[None]).logits[0]
        grids = torch.cat([proc[i + "_grid_thw"] for i in prompt_images], 0)
        pv = torch.cat([proc[i + "_pixel_values"] for i in prompt_images], 0)
        ids = prompt(grids.tolist(), rng)
        mm = (ids == IMAGE).int()[None]
        position_ids, _ = model.model.get_rope_index(ids[None], mm_token_type_ids=mm, image_grid_thw=grids)
        out = model(input_ids=ids[None], pixel_values=pv, image_grid_thw=grids, mm_token_type_ids=mm,
                    output_attentions=True)
    image_positions = torch.nonzero(ids == IMAGE).flatten()
    T = ids.shape[0]
    positions = torch.tensor(sorted({0, int(image_positions[0]), int(image_positions[-1]),
                                     int(image_positions[-1]) + 1, T // 2, T - 2, T - 1}))
    ref.update({"input_ids": ids, "image_grid_thw": grids, "position_ids": position_ids[:, 0],
                "logit_positions": positions, "logits": out.logits[0][positions],
                "image_positions": image_positions,
                "attention_last": torch.stack([a[0, :, -1, image_positions] for a in out.attentions]).float()})
    gen = generate(model, ids, pv, grids, 12)
    ref["generated"] = gen
    # A random model may answer with a vision token; the continued prompt must not hold one.
    assert not any(int(t) in (IMAGE, VIDEO, VISION_START, VISION_END) for t in gen), (name, gen.tolist())
    ids2 = torch.cat([ids, gen, torch.tensor([VISION_END + 10, 7, 8, 9])])
    ref["input_ids_turn2"] = ids2
    ref["generated_turn2"] = generate(model, ids2, pv, grids, 12)
    save_file({k: v.contiguous() for k, v in ref.items()}, os.path.join(case_dir, "reference.safetensors"))
    print(f"{name}: {T} prompt tokens, {len(image_positions)} image tokens, done in {time.time() - t0:.1f}s")


def engine_case(out_dir, ip, images):
    """A Qwen3-VL checkpoint as users download it and a two-turn conversation about two images,
    the prompts built as Qwen3VLProcessor builds them (the template's <|image_pad|> expanded to
    one per merged patch): <out>/engine/ holds model/, image0.png, image1.png, conversation.json
    and reference.safetensors (input_ids, generated, input_ids_turn2, generated_turn2,
    attention_last). <out>/thinking/ holds the same weights with the Thinking template."""
    from safetensors.torch import save_file
    from transformers import AutoTokenizer
    case_dir = os.path.join(out_dir, "engine")
    model_dir = os.path.join(case_dir, "model")
    shutil.rmtree(case_dir, ignore_errors=True)
    os.makedirs(model_dir)
    t0 = time.time()
    added = write_qwen2_tokenizer(model_dir, "qwen3-vl")
    vocab = max(added.values()) + 1
    ids = dict(image_token_id=added["<|image_pad|>"], video_token_id=added["<|video_pad|>"],
               vision_start_token_id=added["<|vision_start|>"], vision_end_token_id=added["<|vision_end|>"])
    tok = AutoTokenizer.from_pretrained(model_dir)
    pictures = [images["wide"], images["tall"]]
    for i, im in enumerate(pictures):
        im.save(os.path.join(case_dir, f"image{i}.png"))
    out = ip(images=pictures, return_tensors="pt")
    pv, grids = out["pixel_values"].float(), out["image_grid_thw"]
    content = [{"type": "image"}, {"type": "text", "text": "Compare"}, {"type": "image"},
               {"type": "text", "text": "What differs between these two?"}]
    follow_up = [{"type": "text", "text": "And the colours?"}]

    def prompt_ids(tokenizer, conv):
        text = tokenizer.apply_chat_template(conv, tokenize=False, add_generation_prompt=True)
        parts = text.split("<|image_pad|>")
        assert len(parts) == len(pictures) + 1, text
        expanded = parts[0]
        for (t, h, w), rest in zip(grids.tolist(), parts[1:]):
            expanded += "<|image_pad|>" * (t * h * w // MERGE ** 2) + rest
        return torch.tensor(tokenizer(expanded, add_special_tokens=False)["input_ids"]), text

    def greedy(model, prompt_tokens, n=20):
        return generate(model, prompt_tokens, pv, grids, n, ids["image_token_id"], added["<|endoftext|>"])

    conv = [{"role": "user", "content": content}]
    input_ids, _ = prompt_ids(tok, conv)
    assert "You are a helpful assistant" not in tok.apply_chat_template(conv, tokenize=False)
    # A random model may answer with an added token (<|vision_start|>, ...), which the next turn's
    # text would carry as a token of its own; take the first seed whose answer has none.
    for seed in range(5, 40):
        model = build(True, [0, 1], seed, vocab, ids)
        gen = greedy(model, input_ids)
        if all(int(t) < min(added.values()) for t in gen):
            break
    else:
        raise RuntimeError("no seed gave an answer without added tokens")
    model.save_pretrained(model_dir)
    ip.save_pretrained(model_dir)
    answer = tok.decode(gen, skip_special_tokens=True)
    conv2 = conv + [{"role": "assistant", "content": [{"type": "text", "text": answer}]},
                    {"role": "user", "content": follow_up}]
    input_ids2, _ = prompt_ids(tok, conv2)
    image_positions = torch.nonzero(input_ids == ids["image_token_id"]).flatten()
    mm = (input_ids == ids["image_token_id"]).int()[None]
    with torch.no_grad():
        out = model(input_ids=input_ids[None], pixel_values=pv, image_grid_thw=grids, mm_token_type_ids=mm,
                    output_attentions=True)
    ref = {"input_ids": input_ids, "generated": gen, "input_ids_turn2": input_ids2,
           "generated_turn2": greedy(model, input_ids2),
           "attention_last": torch.stack([a[0, :, -1, image_positions] for a in out.attentions]).float()}
    save_file({k: v.contiguous() for k, v in ref.items()}, os.path.join(case_dir, "reference.safetensors"))
    json.dump({"family": "qwen3_vl", "images": 2, "turns": [content, follow_up], "answer": answer},
              open(os.path.join(case_dir, "conversation.json"), "w"), indent=1)
    print(f"engine: seed {seed}, {input_ids.shape[0]} prompt tokens, done in {time.time() - t0:.1f}s")

    # The Thinking variant: the same weights, its tokenizer and template.
    think_dir = os.path.join(out_dir, "thinking")
    shutil.rmtree(think_dir, ignore_errors=True)
    os.makedirs(os.path.join(think_dir, "model"))
    for f in os.listdir(model_dir):
        if f.endswith(".safetensors") or f in ("config.json", "generation_config.json", "preprocessor_config.json"):
            shutil.copy(os.path.join(model_dir, f), os.path.join(think_dir, "model", f))
    write_qwen2_tokenizer(os.path.join(think_dir, "model"), "qwen3-vl-thinking")
    think_tok = AutoTokenizer.from_pretrained(os.path.join(think_dir, "model"))
    earlier = "<think>\nlooking closely\n</think>\n\nTwo shapes."
    think2 = conv + [{"role": "assistant", "content": [{"type": "text", "text": earlier}]},
                     {"role": "user", "content": follow_up}]
    t_ids, t_text = prompt_ids(think_tok, conv)
    t_ids2, t_text2 = prompt_ids(think_tok, think2)
    assert t_text.endswith("<|im_start|>assistant\n<think>\n") and "looking closely" not in t_text2, t_text2
    save_file({"input_ids": t_ids, "input_ids_turn2": t_ids2}, os.path.join(think_dir, "reference.safetensors"))
    json.dump({"family": "qwen3_vl", "turns": [content, follow_up], "earlier_answer": earlier,
               "rendered": [t_text, t_text2],
               "instruct_rendered": [tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
                                     for c in (conv, think2)]},
              open(os.path.join(think_dir, "rendered.json"), "w"), indent=1)
    print("thinking: templates rendered")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--fixtures", default="", help="unused: this script needs no fixtures")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    ip, images, proc = processor_cases(args.out)
    run_case("untied", False, [0, 1], 1, args.out, ip, proc, ["wide"])
    run_case("tied", True, [0, 2], 3, args.out, ip, proc, ["past_max", "tall"], shard="100KB")
    engine_case(args.out, ip, images)
    return 0


if __name__ == "__main__":
    sys.exit(main())
