"""Reference data for the dual encoders (issue 21): random CLIP and SigLIP checkpoints as
transformers' CLIPModel and SiglipModel save them, with the tokenizers of dual_tokenizers.py and
the PIL-backend image processors, and what the reference computes for a generated set of
shapes and colours: pixel values, token ids, normalized image and text embeddings, logits and
the rankings they give.

Cases (each <out>/<case>/model is a folder as a user downloads it):
  clip          small CLIP, eos_token_id of the tokenizer (pooled at the first end-of-text)
  clip_legacy   small CLIP, eos_token_id 2 as the released configs say (pooled at the largest
                id), a sharded checkpoint
  siglip        small SigLIP, a text tower narrower than its projection
  siglip2       small SigLIP 2 as google/siglip2-*-patch16-224 and the other fixed-resolution
                checkpoints are (config model_type "siglip", a SiglipModel) with Gemma's tokenizer
                (dual_tokenizers.write_gemma_tokenizer: tokenizer.json with byte fallback, <eos>
                after every text, <pad> 0); the texts lower-cased before the tokenizer, as the
                model card asks (the tokenizer does not do it)
  clip_base     CLIP ViT-B/32's widths (vision 768 with 32-pixel patches at 224, text 512,
                vocabulary 49408, projection 512), two layers per tower
  siglip_base   SigLIP base's widths (768, 16-pixel patches at 224, vocabulary 32000, 64
                positions), two layers per tower
"""
import argparse
import json
import os
import shutil
import sys
import time

import numpy as np
import torch
from PIL import Image, ImageDraw

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dual_tokenizers  # noqa: E402

COLOURS = {"red": (220, 30, 30), "green": (30, 170, 60), "blue": (40, 60, 220), "yellow": (235, 215, 40)}
SHAPES = ["circle", "square", "triangle"]
SIZES = [(96, 72), (64, 64), (80, 120), (130, 70)]


def draw(shape, colour, size, seed):
    """A shape of a colour on a light, slightly noisy background, placed off centre."""
    rng = np.random.default_rng(seed)
    w, h = size
    bg = rng.integers(200, 245, 3)
    arr = np.clip(np.ones((h, w, 3)) * bg + rng.normal(0, 6, (h, w, 3)), 0, 255).astype(np.uint8)
    im = Image.fromarray(arr)
    d = ImageDraw.Draw(im)
    s = int(min(w, h) * rng.uniform(0.45, 0.7))
    x0 = int(rng.integers(0, w - s + 1))
    y0 = int(rng.integers(0, h - s + 1))
    box = [x0, y0, x0 + s - 1, y0 + s - 1]
    if shape == "circle":
        d.ellipse(box, fill=colour)
    elif shape == "square":
        d.rectangle(box, fill=colour)
    else:
        d.polygon([(x0 + s // 2, y0), (x0, y0 + s - 1), (x0 + s - 1, y0 + s - 1)], fill=colour)
    return im


def make_set(folder):
    """The generated set: every colour and shape once, sizes varied; returns [(file, label)]."""
    os.makedirs(folder, exist_ok=True)
    items = []
    k = 0
    for colour, rgb in COLOURS.items():
        for shape in SHAPES:
            name = f"{k:02d}_{colour}_{shape}.png"
            draw(shape, rgb, SIZES[k % len(SIZES)], 1000 + k).save(os.path.join(folder, name))
            items.append((name, f"a {colour} {shape}"))
            k += 1
    return items


QUERIES = [
    "a red circle", "a photo of a blue square", "A GREEN TRIANGLE!", "yellow", "something round and bright",
    "two   spaces,\ttabs and\nnewlines", "l'image d'un carré — été", "",
    "a very long description " + "of shapes and colours and more words " * 12,
]


# The tokenizers on text a search box gets, and on what trips tokenizers up: case and Unicode
# case mappings (final sigma, dotted capital I), NFC against NFD, whitespace of every kind,
# punctuation runs, contractions, digits, scripts and emoji outside the training text, the
# special tokens written out, SentencePiece's own "▁", long text.
TOKENIZER_TEXTS = QUERIES + [
    "RED's car isn't here, they're gone; we've seen it. I'm sure you'll know, he'd say",
    "ΣΟΦΟΣ ΛΟΓΟΣ", "İstanbul IŞIK", "Straße STRASSE ß", "café", "cafe\u0301", "Å Å",
    "tab\there", "a\u00a0non-breaking space", "ideographic\u3000space", "line\u2028separator",
    "file\x1cseparator", "  leading and trailing  ", "\n\n", "!!!", "?!.,;:", "(parenthesis) [brackets] {braces}",
    "3.14159 and 2,718 and 100%", "12345678901234567890", "x=1+2*3/4-5", "email@example.com http://a.b/c?d=e",
    "東京の写真", "猫と犬", "😀😃 emoji 🚲", "Ünïcödé àccents", "l'été d'un café naïf", "<|endoftext|> inside",
    "<|startoftext|>start", "</s> eos inside", "<unk>", "▁meta▁symbol", "under_score and hy-phen",
    "MiXeD CaSe WoRdS", "a", " ", "word " * 80,
]


def tokenizer_cases(out_dir, case_dirs):
    """The ids each family's tokenizer gives TOKENIZER_TEXTS (the fast CLIP tokenizer,
    SiglipTokenizer, SigLIP 2's GemmaTokenizer; special tokens added, no padding or truncation,
    no lower-casing), and its decodes."""
    from transformers import AutoTokenizer, CLIPTokenizerFast, SiglipTokenizer
    cases = {}
    for family, folder in case_dirs.items():
        cls = {"clip": CLIPTokenizerFast, "siglip": SiglipTokenizer, "siglip2": AutoTokenizer}[family]
        tok = cls.from_pretrained(folder)
        rows = []
        for text in TOKENIZER_TEXTS:
            ids = tok(text)["input_ids"]
            plain = tok(text, add_special_tokens=False)["input_ids"]
            rows.append({"text": text, "ids": ids, "plain": plain,
                         "decoded": tok.decode(ids, skip_special_tokens=True)})
        cases[family] = {"folder": os.path.relpath(folder, out_dir), "texts": rows}
    json.dump(cases, open(os.path.join(out_dir, "tokenizers.json"), "w"), indent=1, ensure_ascii=False)
    print(f"tokenizers: {len(TOKENIZER_TEXTS)} texts per family")


def randomize(model, seed):
    """Weights large enough that the embeddings depend on the input (the reference's init
    leaves norms at 1 and biases at 0, which would hide mistakes there)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in ("logit_scale", "logit_bias"):
                p.copy_(torch.tensor([2.3 if name == "logit_scale" else -4.0]).reshape(p.shape))
            elif "norm" in name or "layrnorm" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / max(1.0, p.shape[-1] ** 0.5) * 1.5)


def pooled(out):
    return out if isinstance(out, torch.Tensor) else out.pooler_output


def run_case(name, family, text_cfg, vision_cfg, out_dir, images, seed, projection_dim=None, shard=None,
             tokenizer="spiece"):
    from safetensors.torch import save_file
    from transformers import CLIPConfig, CLIPModel, SiglipConfig, SiglipModel

    t0 = time.time()
    case_dir = os.path.join(out_dir, name)
    model_dir = os.path.join(case_dir, "model")
    shutil.rmtree(case_dir, ignore_errors=True)
    os.makedirs(model_dir)
    torch.manual_seed(seed)
    if family == "clip":
        from transformers import CLIPTokenizerFast
        dual_tokenizers.write_clip_tokenizer(model_dir)
        tok = CLIPTokenizerFast.from_pretrained(model_dir)
        text_cfg = dict(text_cfg, bos_token_id=tok.bos_token_id, pad_token_id=tok.pad_token_id,
                        vocab_size=max(text_cfg.get("vocab_size", 0), len(tok)))
        if text_cfg.get("eos_token_id") != 2:
            text_cfg["eos_token_id"] = tok.eos_token_id
        from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
        side = vision_cfg["image_size"]
        proc = CLIPImageProcessorPil(size={"shortest_edge": side}, crop_size={"height": side, "width": side})
        cfg = CLIPConfig(text_config=text_cfg, vision_config=vision_cfg, projection_dim=projection_dim)
        model = CLIPModel(cfg)
        max_len = cfg.text_config.max_position_embeddings
        ids = [tok(q, truncation=True, max_length=max_len)["input_ids"] for q in QUERIES]
    else:
        if tokenizer == "gemma":
            tok = dual_tokenizers.write_gemma_tokenizer(model_dir)
            assert type(tok).__name__ == "GemmaTokenizer", type(tok)
        else:
            from transformers import SiglipTokenizer
            dual_tokenizers.write_siglip_tokenizer(model_dir)
            tok = SiglipTokenizer.from_pretrained(model_dir)
        text_cfg = dict(text_cfg, vocab_size=max(text_cfg.get("vocab_size", 0), len(tok)))
        if tokenizer == "gemma":
            text_cfg.update(pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
        from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil
        side = vision_cfg["image_size"]
        proc = SiglipImageProcessorPil(size={"height": side, "width": side})
        cfg = SiglipConfig(text_config=text_cfg, vision_config=vision_cfg)
        model = SiglipModel(cfg)
        max_len = cfg.text_config.max_position_embeddings
        # SigLIP 2: lower-cased by the caller, as its model card says.
        texts = [q.lower() for q in QUERIES] if tokenizer == "gemma" else QUERIES
        ids = [tok(q, padding="max_length", truncation=True, max_length=max_len)["input_ids"] for q in texts]
    model = model.float().eval()
    randomize(model, seed)
    model.config._attn_implementation = "eager"
    model.save_pretrained(model_dir, **({"max_shard_size": shard} if shard else {}))
    proc.save_pretrained(model_dir)

    pil = [Image.open(os.path.join(out_dir, "images", f)).convert("RGB") for f, _ in images]
    pixel_values = proc(images=pil, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        image_raw = pooled(model.get_image_features(pixel_values=pixel_values))
        text_raw = torch.cat([pooled(model.get_text_features(input_ids=torch.tensor([row]))) for row in ids])
        # The model's own forward for the logits: CLIP with its padded batch and attention mask,
        # SigLIP with every text padded to max_length.
        width = max(len(r) for r in ids)
        pad = tok.pad_token_id
        batch = torch.tensor([r + [pad] * (width - len(r)) for r in ids])
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in ids])
        kwargs = {"attention_mask": mask} if family == "clip" else {}
        out = model(input_ids=batch, pixel_values=pixel_values, **kwargs)
    image_embeds = out.image_embeds
    text_embeds = out.text_embeds
    assert torch.allclose(image_embeds, image_raw / image_raw.norm(dim=-1, keepdim=True), atol=1e-6)
    logits = out.logits_per_text  # [texts, images]
    image_sim = image_embeds @ image_embeds.t()
    ref = {
        "pixel_values": pixel_values.contiguous(),
        "image_embeds": image_embeds.contiguous(),
        "text_embeds": text_embeds.contiguous(),
        "logits_per_text": logits.contiguous(),
        "text_ranking": torch.argsort(logits, dim=1, descending=True, stable=True).contiguous(),
        "image_ranking": torch.argsort(image_sim, dim=1, descending=True, stable=True).contiguous(),
    }
    scale = float(model.logit_scale.exp())
    bias = float(model.logit_bias) if family == "siglip" else 0.0
    if family == "clip":
        label_scores = torch.softmax(out.logits_per_image, dim=1)
    else:
        label_scores = torch.sigmoid(out.logits_per_image)
    ref["label_scores"] = label_scores.contiguous()  # [images, texts]
    save_file(ref, os.path.join(case_dir, "reference.safetensors"))
    json.dump({"family": family, "tokenizer": tokenizer, "images": [f for f, _ in images], "labels": [l for _, l in images],
               "queries": QUERIES, "input_ids": ids, "logit_scale": scale, "logit_bias": bias,
               "dim": int(image_embeds.shape[1])},
              open(os.path.join(case_dir, "case.json"), "w"), indent=1)
    print(f"{name}: {len(images)} images, {len(QUERIES)} texts, dim {image_embeds.shape[1]}, {time.time() - t0:.1f}s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--fixtures", default="", help="unused")
    args = ap.parse_args()
    try:  # SigLIP's tokenizer needs protobuf, fetched with pip once; without it nothing is written
        dual_tokenizers.protobuf_site()
    except RuntimeError as e:
        print(f"make_dual: skipped (the dual-encoder tests skip too): {e}")
        return
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    images = make_set(os.path.join(args.out, "images"))
    small_vision = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                        image_size=64, patch_size=16)
    # vocab_size 0: the tokenizer's own size (run_case); eos_token_id None: the tokenizer's.
    clip_text = dict(vocab_size=0, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                     num_attention_heads=4, max_position_embeddings=77, eos_token_id=None)
    run_case("clip", "clip", clip_text, small_vision, args.out, images, 11, projection_dim=40)
    run_case("clip_legacy", "clip", dict(clip_text, eos_token_id=2), dict(small_vision, image_size=48),
             args.out, images, 12, projection_dim=32, shard="200KB")
    siglip_text = dict(vocab_size=0, hidden_size=48, intermediate_size=96,
                       num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=64, projection_size=64)
    run_case("siglip", "siglip", siglip_text, small_vision, args.out, images, 13)
    run_case("siglip2", "siglip", siglip_text, small_vision, args.out, images, 16, tokenizer="gemma")
    base_vision = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=2, num_attention_heads=12,
                       image_size=224)
    run_case("clip_base", "clip",
             dict(clip_text, vocab_size=49408, hidden_size=512, intermediate_size=2048, num_attention_heads=8),
             dict(base_vision, patch_size=32), args.out, images, 14, projection_dim=512)
    run_case("siglip_base", "siglip",
             dict(vocab_size=32000, hidden_size=768, intermediate_size=3072, num_hidden_layers=2,
                  num_attention_heads=12, max_position_embeddings=64),
             dict(base_vision, patch_size=16), args.out, images, 15)
    tokenizer_cases(args.out, {"clip": os.path.join(args.out, "clip", "model"),
                               "siglip": os.path.join(args.out, "siglip", "model"),
                               "siglip2": os.path.join(args.out, "siglip2", "model")})


if __name__ == "__main__":
    main()
