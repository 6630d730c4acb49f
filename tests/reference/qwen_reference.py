"""What the Qwen-VL reference scripts share (make_qwen2vl.py, make_qwen3vl.py): test images, the
processor's frames, random weights large enough that answers depend on the image, prompts of
token ids around the images' tokens, greedy generation, and the reference tensors of a case
(prefill logits, attention, two turns) and of an engine case (a checkpoint with a Qwen-like
tokenizer and its chat template, a two-turn conversation about two images)."""
import json
import os
import shutil
import time

import numpy as np
import torch
from PIL import Image

from reference_common import (answer_log_probs, mean_colour_image, occluded_image, occlusion_rect,
                              write_qwen2_tokenizer)

# Token ids of the cases without a tokenizer (vocabulary 320).
VISION_START, VISION_END, IMAGE, VIDEO = 300, 301, 302, 303
TOKEN_IDS = dict(image_token_id=IMAGE, video_token_id=VIDEO, vision_start_token_id=VISION_START,
                 vision_end_token_id=VISION_END)
# wide, tall, tiny (below min_pixels) and one past max_pixels: (height, width).
def test_images(past_max):
    return {"wide": (90, 150), "tall": (200, 60), "tiny": (9, 11), "past_max": past_max}


def make_image(rng, h, w):
    base = rng.integers(0, 255, (h // 8 + 2, w // 8 + 2, 3), dtype=np.uint8)
    im = Image.fromarray(base).resize((w, h), Image.BILINEAR)
    noise = rng.integers(-20, 20, (h, w, 3))
    return Image.fromarray(np.clip(np.asarray(im).astype(int) + noise, 0, 255).astype(np.uint8))


def unflatten(flat, grid, patch, merge, temporal):
    """The frame the processor cut `flat` from: its patch order undone, first temporal copy."""
    _, gh, gw = grid
    c = 3
    x = flat.reshape(gh // merge, gw // merge, merge, merge, c, temporal, patch, patch)[:, :, :, :, :, 0]
    x = x.permute(4, 0, 2, 5, 1, 3, 6)  # C, gh/m, m, P, gw/m, m, P
    return x.reshape(1, c, gh * patch, gw * patch).contiguous()


def processor_cases(out_dir, ip, images_hw, seed, min_pixels, max_pixels):
    """<out>/processor/: each image as PNG, and processor.safetensors with its flat pixel values,
    grid and frame. Returns ({name: PIL image}, {tensor name: tensor})."""
    from safetensors.torch import save_file
    folder = os.path.join(out_dir, "processor")
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    tensors, images = {}, {}
    for name, (h, w) in images_hw.items():
        im = make_image(rng, h, w)
        im.save(os.path.join(folder, name + ".png"))
        images[name] = im
        out = ip(images=[im], return_tensors="pt")
        flat, grid = out["pixel_values"].float(), out["image_grid_thw"]
        tensors[name + "_pixel_values"] = flat.contiguous()
        tensors[name + "_grid_thw"] = grid.contiguous()
        tensors[name + "_frames"] = unflatten(flat, grid[0].tolist(), ip.patch_size, ip.merge_size,
                                              ip.temporal_patch_size)
    save_file(tensors, os.path.join(folder, "processor.safetensors"))
    json.dump({"min_pixels": min_pixels, "max_pixels": max_pixels,
               "images": {k: list(v) for k, v in images_hw.items()}},
              open(os.path.join(folder, "cases.json"), "w"), indent=1)
    return images, tensors


def randomize(model, seed):
    """Weights large enough that the answer depends on the image: norms near one, small biases,
    the rest normal over the square root of the fan-in, times 1.5."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or "ln_q" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p[0].numel() if p.dim() > 1 else p.shape[-1]
                p.copy_(torch.randn(p.shape, generator=g) / max(1.0, fan_in ** 0.5) * 1.5)
    if model.config.tie_word_embeddings:
        model.tie_weights()
    for c in (model.config, model.model.visual.config, model.model.language_model.config):
        c._attn_implementation = "eager"
    return model


def prompt(grids, rng, merge):
    """Token ids: text, then per image <|vision_start|> <|image_pad|>*n <|vision_end|>, then text."""
    ids = [1] + [int(x) for x in rng.integers(3, 290, 5)]
    for t, h, w in grids:
        ids += [VISION_START] + [IMAGE] * (t * h * w // merge ** 2) + [VISION_END]
    ids += [int(x) for x in rng.integers(3, 290, 6)]
    return torch.tensor(ids)


def generate(model, ids, pv, grids, n, image_id=IMAGE, pad=0):
    mm = (ids == image_id).int()[None]
    with torch.no_grad():
        out = model.generate(input_ids=ids[None], pixel_values=pv, image_grid_thw=grids, mm_token_type_ids=mm,
                             attention_mask=torch.ones_like(ids)[None], do_sample=False, max_new_tokens=n,
                             min_new_tokens=n, eos_token_id=None, pad_token_id=pad)
    return out[0, ids.shape[0]:]


def last_row_attention(model, ids, pv, grids, image_id):
    """[layers, heads, image tokens]: the last prompt position's eager attention over the image."""
    image_positions = torch.nonzero(ids == image_id).flatten()
    mm = (ids == image_id).int()[None]
    with torch.no_grad():
        out = model(input_ids=ids[None], pixel_values=pv, image_grid_thw=grids, mm_token_type_ids=mm,
                    output_attentions=True)
    return out, image_positions, torch.stack([a[0, :, -1, image_positions] for a in out.attentions]).float()


def write_case(name, model, out_dir, ip, proc, image_names, prompt_images, seed, encode, shard=None):
    """<out>/<name>/: the checkpoint and reference.safetensors (see the scripts' docstrings).
    encode(model, pixel_values, grid_thw) -> {suffix: tensor}: what each image's encoding is
    recorded as (<image>_<suffix>, all_<suffix>)."""
    from safetensors.torch import save_file
    merge = ip.merge_size
    case_dir = os.path.join(out_dir, name)
    model_dir = os.path.join(case_dir, "model")
    shutil.rmtree(case_dir, ignore_errors=True)
    os.makedirs(model_dir)
    t0 = time.time()
    model.save_pretrained(model_dir, **({"max_shard_size": shard} if shard else {}))
    ip.save_pretrained(model_dir)
    ref = {}
    with torch.no_grad():
        for img in image_names:
            for suffix, t in encode(model, proc[img + "_pixel_values"], proc[img + "_grid_thw"]).items():
                ref[f"{img}_{suffix}"] = t
        pv_all = torch.cat([proc[i + "_pixel_values"] for i in image_names], 0)
        grid_all = torch.cat([proc[i + "_grid_thw"] for i in image_names], 0)
        for suffix, t in encode(model, pv_all, grid_all).items():
            ref[f"all_{suffix}"] = t
        ref["all_grid_thw"] = grid_all

        rng = np.random.default_rng(seed)
        text_ids = torch.tensor([1] + [int(x) for x in rng.integers(3, 290, 11)])
        ref["text_ids"] = text_ids
        ref["text_logits"] = model(input_ids=text_ids[None]).logits[0]
        grids = torch.cat([proc[i + "_grid_thw"] for i in prompt_images], 0)
        pv = torch.cat([proc[i + "_pixel_values"] for i in prompt_images], 0)
        ids = prompt(grids.tolist(), rng, merge)
        mm = (ids == IMAGE).int()[None]
        position_ids, _ = model.model.get_rope_index(ids[None], mm_token_type_ids=mm, image_grid_thw=grids)
    out, image_positions, attention = last_row_attention(model, ids, pv, grids, IMAGE)
    T = ids.shape[0]
    positions = torch.tensor(sorted({0, int(image_positions[0]), int(image_positions[-1]),
                                     int(image_positions[-1]) + 1, T // 2, T - 2, T - 1}))
    ref.update({"input_ids": ids, "image_grid_thw": grids, "position_ids": position_ids[:, 0],
                "logit_positions": positions, "logits": out.logits[0][positions],
                "image_positions": image_positions, "attention_last": attention})
    gen = generate(model, ids, pv, grids, 12)
    ref["generated"] = gen
    # A random model may answer with a vision token; the continued prompt must not hold one.
    assert not any(int(t) in (IMAGE, VIDEO, VISION_START, VISION_END) for t in gen), (name, gen.tolist())
    ids2 = torch.cat([ids, gen, torch.tensor([VISION_END + 10, 7, 8, 9])])
    ref["input_ids_turn2"] = ids2
    ref["generated_turn2"] = generate(model, ids2, pv, grids, 12)
    save_file({k: v.contiguous() for k, v in ref.items()}, os.path.join(case_dir, "reference.safetensors"))
    print(f"{name}: {T} prompt tokens, {len(image_positions)} image tokens, done in {time.time() - t0:.1f}s")


class EngineCase:
    """A checkpoint as users download it (a Qwen-like tokenizer of `variant` with its chat
    template) and a two-turn conversation about two images, the prompts built as the Qwen
    processors build them (the template's <|image_pad|> expanded to one per merged patch):
    <out>/engine/ holds model/, image0.png, image1.png, conversation.json and
    reference.safetensors (input_ids, generated, input_ids_turn2, generated_turn2,
    attention_last, input_ids_started, generated_started). build(seed, vocab, token_ids) makes the model."""

    CONTENT = [{"type": "image"}, {"type": "text", "text": "Compare"}, {"type": "image"},
               {"type": "text", "text": "What differs between these two?"}]
    FOLLOW_UP = [{"type": "text", "text": "And the colours?"}]
    ANSWER_START = "A photo of"  # tests/engine/test_engine_parity.cpp uses the same words

    def __init__(self, out_dir, ip, images, variant, family, build):
        from safetensors.torch import save_file
        from transformers import AutoTokenizer
        self.dir = os.path.join(out_dir, "engine")
        self.model_dir = os.path.join(self.dir, "model")
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.model_dir)
        t0 = time.time()
        added = write_qwen2_tokenizer(self.model_dir, variant)
        vocab = max(added.values()) + 1
        ids = dict(image_token_id=added["<|image_pad|>"], video_token_id=added["<|video_pad|>"],
                   vision_start_token_id=added["<|vision_start|>"], vision_end_token_id=added["<|vision_end|>"])
        self.tok = AutoTokenizer.from_pretrained(self.model_dir)
        self.merge = ip.merge_size
        pictures = [images["wide"], images["tall"]]
        for i, im in enumerate(pictures):
            im.save(os.path.join(self.dir, f"image{i}.png"))
        out = ip(images=pictures, return_tensors="pt")
        pv, self.grids = out["pixel_values"].float(), out["image_grid_thw"]

        def greedy(model, prompt_ids, n=20):
            return generate(model, prompt_ids, pv, self.grids, n, ids["image_token_id"], added["<|endoftext|>"])

        self.conv = [{"role": "user", "content": self.CONTENT}]
        input_ids, _ = self.prompt_ids(self.tok, self.conv)
        # A random model may answer with an added token (<|vision_start|>, ...), which the next
        # turn's text would carry as a token of its own; take the first seed whose answer has none.
        for seed in range(5, 40):
            model = build(seed, vocab, ids)
            gen = greedy(model, input_ids)
            if all(int(t) < min(added.values()) for t in gen):
                break
        else:
            raise RuntimeError("no seed gave an answer without added tokens")
        model.save_pretrained(self.model_dir)
        ip.save_pretrained(self.model_dir)
        answer = self.tok.decode(gen, skip_special_tokens=True)
        conv2 = self.conv + [{"role": "assistant", "content": [{"type": "text", "text": answer}]},
                             {"role": "user", "content": self.FOLLOW_UP}]
        input_ids2, _ = self.prompt_ids(self.tok, conv2)
        _, _, attention = last_row_attention(model, input_ids, pv, self.grids, ids["image_token_id"])
        # An answer begun for the model (GenerationParams::answer_start): continue_final_message.
        started = self.conv + [{"role": "assistant", "content": [{"type": "text", "text": self.ANSWER_START}]}]
        input_ids3, _ = self.prompt_ids(self.tok, started, continue_final=True)
        ref = {"input_ids": input_ids, "generated": gen, "input_ids_turn2": input_ids2,
               "generated_turn2": greedy(model, input_ids2), "attention_last": attention,
               "input_ids_started": input_ids3, "generated_started": greedy(model, input_ids3, 10)}
        # The same answer, teacher-forced, with the images, with them made their mean colour,
        # without them, and with a rectangle of the first greyed (explain/ImageReliance).
        def scored(prompt, imgs):
            full = torch.cat([prompt, gen])
            kw = {}
            if imgs:
                kw = {"pixel_values": ip(images=imgs, return_tensors="pt")["pixel_values"].float(),
                      "image_grid_thw": self.grids}
            with torch.no_grad():
                out = model(input_ids=full[None], mm_token_type_ids=(full == ids["image_token_id"]).int()[None],
                            attention_mask=torch.ones_like(full)[None], **kw)
            return answer_log_probs(out.logits[0], len(prompt), gen)
        text_only = [{"role": "user", "content": [c for c in self.CONTENT if c["type"] != "image"]}]
        no_image_ids = torch.tensor(self.tok(self.tok.apply_chat_template(text_only, tokenize=False,
                                                                          add_generation_prompt=True),
                                             add_special_tokens=False)["input_ids"])
        rect = occlusion_rect(pictures[0])
        ref["answer_log_probs"] = scored(input_ids, pictures)
        ref["answer_log_probs_mean_colour"] = scored(input_ids, [mean_colour_image(p) for p in pictures])
        ref["answer_log_probs_no_image"] = scored(no_image_ids, [])
        ref["answer_log_probs_occluded"] = scored(input_ids, [occluded_image(pictures[0], rect)] + pictures[1:])
        ref["occlusion_rect"] = torch.tensor(rect, dtype=torch.int64)
        save_file({k: v.contiguous() for k, v in ref.items()}, os.path.join(self.dir, "reference.safetensors"))
        json.dump({"family": family, "images": 2, "turns": [self.CONTENT, self.FOLLOW_UP], "answer": answer},
                  open(os.path.join(self.dir, "conversation.json"), "w"), indent=1)
        print(f"engine: seed {seed}, {input_ids.shape[0]} prompt tokens, done in {time.time() - t0:.1f}s")

    def prompt_ids(self, tokenizer, conv, continue_final=False):
        """The prompt's token ids and the template's text (with `continue_final`, the last
        turn an answer the model goes on with)."""
        text = (tokenizer.apply_chat_template(conv, tokenize=False, continue_final_message=True) if continue_final
                else tokenizer.apply_chat_template(conv, tokenize=False, add_generation_prompt=True))
        parts = text.split("<|image_pad|>")
        assert len(parts) == len(self.grids) + 1, text
        expanded = parts[0]
        for (t, h, w), rest in zip(self.grids.tolist(), parts[1:]):
            expanded += "<|image_pad|>" * (t * h * w // self.merge ** 2) + rest
        return torch.tensor(tokenizer(expanded, add_special_tokens=False)["input_ids"]), text


def save_bf16(model, model_dir):
    """Weights rounded to bf16 and stored so, computed in fp32 (not model.to(bfloat16), which
    would round the rotary buffers too, which no checkpoint stores)."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.bfloat16().float())
    model.save_pretrained(model_dir, max_shard_size="1GB",
                          state_dict={k: v.bfloat16() for k, v in model.state_dict().items()})


def real_shapes_prompt(grid, merge, image, vision_start, vision_end):
    """Six random ids, the image's tokens between <|vision_start|> and <|vision_end|>, ten more;
    and the logit positions checked (first, image bounds, middle, last two)."""
    g = torch.Generator().manual_seed(5)
    before = torch.randint(0, 151643, (6,), generator=g)
    after = torch.randint(0, 151643, (10,), generator=g)
    n = int(grid.prod()) // merge ** 2
    ids = torch.cat([before, torch.tensor([vision_start]), torch.full((n,), image), torch.tensor([vision_end]),
                     after])
    T, first = ids.shape[0], 7
    return ids, torch.tensor([0, first, first + n - 1, first + n, T // 2, T - 2, T - 1])


def real_shapes_image(width, height):
    rng = np.random.default_rng(11)
    base = rng.integers(0, 255, (height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8)
    return Image.fromarray(base).resize((width, height), Image.BILINEAR)
