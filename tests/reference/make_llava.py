#!/usr/bin/env python3
"""Reference data for the LLaVA-1.5 parity tests.

Trains a small SentencePiece BPE model (Llama-like settings) and turns it into transformers'
LlamaTokenizer with "<image>" (and "<pad>") as added tokens after the SentencePiece vocabulary,
as llava-hf checkpoints have them; builds small random LlavaForConditionalGeneration
checkpoints (fp32, fixed seeds), saves them in the Hugging Face layout with the tokenizer
(tokenizer.model, tokenizer.json, tokenizer_config.json), the processor (LlavaProcessor with
LlavaImageProcessor, PIL backend) and llava-hf's LLaVA-1.5 chat template, and records what
the reference computes:

  <out>/<case>/model/                 the checkpoint
  <out>/<case>/image{0,1}.png         the (non-square) input images
  <out>/<case>/conversation.json      the turns and the reference's first answer
  <out>/<case>/reference.safetensors
      input_ids [T]                    turn 1 prompt the processor produced
      pixel_values [N,3,H,W]
      image_features [N*k, hidden]     projected image features (get_image_features)
      logit_positions [P], logits [P,vocab]   prefill logits at a few positions (last included)
      generated [G]                    20 greedy tokens (generate, do_sample=False)
      input_ids_turn2 [T2], generated_turn2 [G2]   the conversation continued
      image_positions [n], attention_last [layers,heads,n]   eager attention of the last prompt
                                       position over the image tokens (output_attentions)

Cases:
  tiny      one image, center crop (shortest edge 84 -> 84x84), vision_feature_layer -2,
            strategy "default" (CLS dropped), untied lm_head, projector with bias
  tiny_pad  two images, pad to square with the mean colour, shortest edge 96 then crop 84,
            vision_feature_layer [-3, -1] (concatenated), strategy "full" (CLS kept), tied
            embeddings, GQA 4:2, no projector bias, sharded weights
Usage: python make_llava.py --out DIR [--fixtures DIR]
"""
import argparse
import io
import json
import os
import random
import shutil
import sys
import time

import numpy as np
import torch
from PIL import Image

from reference_common import LLAVA15_TEMPLATE, make_images, vision_rollout

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
torch.set_default_dtype(torch.float32)

SEED = 20241122
WORDS = ("the quick brown fox jumps over lazy dog image photo caption describe what where why how many "
         "people cars trees sky blue red green chart table value shows about question answer this is a "
         "picture of colours colour and these two differ between USER ASSISTANT").split()


def train_tokenizer(work):
    """tokenizer.model (SentencePiece BPE, byte fallback) and the transformers tokenizer on it."""
    import sentencepiece as spm
    from transformers import AddedToken, LlamaTokenizer
    from transformers.tokenization_utils_base import generate_merges

    rng = random.Random(SEED)
    train = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 16))) for _ in range(1500)]
    train += ["Describe this image.", "What differs between these two?", "And the colours?", "0123456789 .,:;!?"]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(train), model_writer=model, vocab_size=400, model_type="bpe",
        byte_fallback=True, split_digits=True, normalization_rule_name="identity",
        remove_extra_whitespaces=False, add_dummy_prefix=True, num_threads=1,
        character_coverage=1.0, shuffle_input_sentence=False, input_sentence_size=0,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, allow_whitespace_only_pieces=True, minloglevel=2)
    path = os.path.join(work, "tokenizer.model")
    with open(path, "wb") as f:
        f.write(model.getvalue())
    sp = spm.SentencePieceProcessor(model_file=path)
    # What transformers' SentencePiece converter does (without needing protobuf): the pieces
    # in id order as the BPE vocabulary, merges from it.
    vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
    merges = generate_merges(vocab)
    tok = LlamaTokenizer(vocab=vocab, merges=merges, legacy=False, add_bos_token=True, add_eos_token=False)
    # As in llava-hf: <image> right after the SentencePiece vocabulary, then <pad>.
    tok.add_tokens([AddedToken("<image>", special=True, normalized=False)], special_tokens=True)
    tok.add_special_tokens({"pad_token": AddedToken("<pad>", special=True, normalized=False)})
    return tok, path, sp.get_piece_size()


def config_for(vocab_size, image_token, tied, kv_heads, layer, strategy, projector_bias):
    from transformers import LlavaConfig
    text = {
        "model_type": "llama", "vocab_size": vocab_size, "hidden_size": 64, "intermediate_size": 96,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": kv_heads,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 1024,
        "hidden_act": "silu", "initializer_range": 0.2, "pad_token_id": image_token + 1,
        "bos_token_id": 1, "eos_token_id": 2, "tie_word_embeddings": tied,
    }
    vision = {
        "model_type": "clip_vision_model", "hidden_size": 32, "intermediate_size": 48,
        "num_hidden_layers": 3, "num_attention_heads": 4, "num_channels": 3, "image_size": 84,
        "patch_size": 14, "layer_norm_eps": 1e-5, "hidden_act": "quick_gelu", "projection_dim": 16,
        "initializer_range": 0.2, "initializer_factor": 1.0,
    }
    return LlavaConfig(text_config=text, vision_config=vision, image_token_index=image_token,
                       vision_feature_layer=layer, vision_feature_select_strategy=strategy,
                       projector_hidden_act="gelu", multimodal_projector_bias=projector_bias,
                       tie_word_embeddings=tied, image_seq_length=36 + (strategy == "full"))


def build_processor(tok, do_pad, shortest, crop, strategy):
    from transformers import LlavaProcessor
    from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil
    ip = LlavaImageProcessorPil(size={"shortest_edge": shortest}, crop_size={"height": crop, "width": crop},
                                do_pad=do_pad, resample=3)
    return LlavaProcessor(image_processor=ip, tokenizer=tok, patch_size=14,
                          vision_feature_select_strategy=strategy, num_additional_image_tokens=1,
                          chat_template=LLAVA15_TEMPLATE)


def greedy_generate(model, inputs, n):
    with torch.no_grad():
        out = model.generate(**inputs, do_sample=False, max_new_tokens=n, min_new_tokens=n,
                             eos_token_id=None, pad_token_id=0)
    return out[0, inputs["input_ids"].shape[1]:]


def randomize(model, seed):
    """Random weights large enough that the answer depends on the image (the reference's init
    leaves norms at 1 and biases at 0, which would hide mistakes there)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or "layrnorm" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / max(1.0, p.shape[-1] ** 0.5) * 1.5)


def run_case(name, config, proc, tok_model, out_dir, images, seed, shard=None):
    from safetensors.torch import save_file
    from transformers import LlavaForConditionalGeneration

    case_dir = os.path.join(out_dir, name)
    model_dir = os.path.join(case_dir, "model")
    shutil.rmtree(case_dir, ignore_errors=True)
    os.makedirs(model_dir)
    torch.manual_seed(seed)
    t0 = time.time()
    model = LlavaForConditionalGeneration(config).float().eval()
    randomize(model, seed)
    if config.tie_word_embeddings:
        model.tie_weights()
    model.config._attn_implementation = "eager"
    model.model.vision_tower.config._attn_implementation = "eager"
    model.model.language_model.config._attn_implementation = "eager"
    model.save_pretrained(model_dir, **({"max_shard_size": shard} if shard else {}))
    proc.save_pretrained(model_dir)
    shutil.copy(tok_model, os.path.join(model_dir, "tokenizer.model"))
    print(f"{name}: built and saved in {time.time() - t0:.1f}s")

    if len(images) == 2:
        content = [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "What differs between these two?"}]
    else:
        content = [{"type": "image"}, {"type": "text", "text": "Describe this image."}]
    conv = [{"role": "user", "content": content}]
    for i, im in enumerate(images):
        im.save(os.path.join(case_dir, f"image{i}.png"))
    text = proc.apply_chat_template(conv, add_generation_prompt=True)
    inputs = proc(text=text, images=list(images), return_tensors="pt")
    ids = inputs["input_ids"][0]
    image_positions = torch.nonzero(ids == config.image_token_id).flatten()
    ref = {"input_ids": ids.clone(), "pixel_values": inputs["pixel_values"].contiguous(),
           "image_positions": image_positions.clone()}
    T = ids.shape[0]
    with torch.no_grad():
        feats = model.model.get_image_features(inputs["pixel_values"], return_dict=True).pooler_output
        ref["image_features"] = torch.cat(list(feats), 0).contiguous()
        # Attention rollout through the tower's layers the features come from, in numpy over its
        # output_attentions (explain: rollout).
        tower = model.model.vision_tower(inputs["pixel_values"], output_attentions=True)
        layers = len(tower.attentions)
        wanted = config.vision_feature_layer if isinstance(config.vision_feature_layer, list) \
            else [config.vision_feature_layer]
        deepest = max(i if i >= 0 else layers + 1 + i for i in wanted)
        ref["vision_rollout"] = torch.from_numpy(
            vision_rollout([a.float().numpy() for a in tower.attentions[:deepest]]))
        out = model(**inputs, output_attentions=True)
    positions = torch.tensor(sorted({0, int(image_positions[0]), int(image_positions[-1]),
                                     int(image_positions[-1]) + 1, T // 2, T - 2, T - 1}))
    ref["logit_positions"] = positions
    ref["logits"] = out.logits[0][positions].contiguous()
    ref["attention_last"] = torch.stack([a[0, :, -1, image_positions] for a in out.attentions]).float().contiguous()

    gen = greedy_generate(model, inputs, 20)
    ref["generated"] = gen.clone()
    answer = proc.tokenizer.decode(gen, skip_special_tokens=True)
    follow = [{"type": "text", "text": "And the colours?"}]
    conv2 = conv + [{"role": "assistant", "content": [{"type": "text", "text": answer}]},
                    {"role": "user", "content": follow}]
    text2 = proc.apply_chat_template(conv2, add_generation_prompt=True)
    inputs2 = proc(text=text2, images=list(images), return_tensors="pt")
    ref["input_ids_turn2"] = inputs2["input_ids"][0].clone()
    ref["generated_turn2"] = greedy_generate(model, inputs2, 20).clone()
    json.dump({"turns": [content, follow], "answer": answer, "prompt": text, "prompt_turn2": text2},
              open(os.path.join(case_dir, "conversation.json"), "w"), indent=1)
    save_file({k: v.contiguous() for k, v in ref.items()}, os.path.join(case_dir, "reference.safetensors"))
    print(f"{name}: {T} prompt tokens, {len(image_positions)} image tokens, done in {time.time() - t0:.1f}s")


# Image-processor-only cases: edge shapes under each configuration, pixel values only.
PROCESSOR_CONFIGS = {
    "crop": dict(size={"shortest_edge": 84}, crop_size={"height": 84, "width": 84}, do_pad=False),
    "pad": dict(size={"shortest_edge": 96}, crop_size={"height": 84, "width": 84}, do_pad=True),
    # A fixed resize smaller than the crop: the crop pads with zeros before normalizing.
    "fixed_small": dict(size={"height": 50, "width": 70}, crop_size={"height": 64, "width": 64}, do_pad=False),
}


def processor_cases(out_dir):
    from safetensors.torch import save_file
    from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil
    rng = np.random.default_rng(SEED + 1)
    shapes = {"strip": (20, 300), "tall": (201, 33), "speck": (3, 5), "odd": (89, 151), "square": (64, 64)}
    folder = os.path.join(out_dir, "processor")
    os.makedirs(folder, exist_ok=True)
    tensors, cases = {}, []
    for name, (h, w) in shapes.items():
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(os.path.join(folder, name + ".png"))
        for cname, kwargs in PROCESSOR_CONFIGS.items():
            ip = LlavaImageProcessorPil(resample=3, **kwargs)
            pv = ip(images=[Image.open(os.path.join(folder, name + ".png")).convert("RGB")],
                    return_tensors="pt")["pixel_values"]
            tensors[f"{name}_{cname}"] = pv.contiguous()
            cases.append({"image": name + ".png", "config": cname, "key": f"{name}_{cname}"})
    save_file(tensors, os.path.join(folder, "pixel_values.safetensors"))
    json.dump({"configs": PROCESSOR_CONFIGS, "cases": cases}, open(os.path.join(folder, "cases.json"), "w"), indent=1)


def decode_cases(tok, out_dir):
    """transformers' decode of id sequences full of byte-fallback tokens: runs that are whole
    characters, runs with a valid start and a bad end, lone continuation bytes, runs split by
    a skipped special token, and random mixes."""
    byte = {tok.convert_tokens_to_ids(f"<0x{b:02X}>"): b for b in range(256)}
    tid = {b: i for i, b in byte.items()}
    image = tok.convert_tokens_to_ids("<image>")
    words = tok.encode("the sky is blue", add_special_tokens=False)
    run = lambda bs: [tid[b] for b in bs]
    seqs = [run(b"\xc3\xa9") + words, run("日本".encode()) + words + run(b"\xe6\x97"),
            words + run("日".encode() + b"\xff") + words, run(b"\xa9\xa9") + words,
            words + run(b"\xe6\x97") + [image] + run(b"\xa5") + words, run(b"\xe6\x97") + words + run(b"\xa5"),
            [1] + words + [2] + run(b"ok"), [0] + words + [0], words + run(b"\xc3") + [2] + run(b"\xa9")]
    rng = random.Random(SEED + 2)
    pool = list(byte) + words + [image, 1, 2] + list(range(259, 300))
    seqs += [[rng.choice(pool) for _ in range(rng.randint(1, 24))] for _ in range(40)]
    cases = [{"ids": ids, "decoded": tok.decode(ids, skip_special_tokens=True),
              "decoded_with_special": tok.decode(ids, skip_special_tokens=False)} for ids in seqs]
    json.dump(cases, open(os.path.join(out_dir, "decode_cases.json"), "w"), indent=0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--fixtures", default="", help="unused: this script needs no fixtures")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    work = os.path.join(args.out, "_tokenizer")
    os.makedirs(work, exist_ok=True)
    processor_cases(args.out)
    tok, tok_model, sp_size = train_tokenizer(work)
    image_token = tok.convert_tokens_to_ids("<image>")
    assert image_token == sp_size, (image_token, sp_size)
    decode_cases(tok, args.out)
    vocab = sp_size + 12  # padded like llava-hf's 32064, with rows no token uses
    images = make_images(SEED)

    cfg = config_for(vocab, image_token, tied=False, kv_heads=4, layer=-2, strategy="default", projector_bias=True)
    run_case("tiny", cfg, build_processor(tok, False, 84, 84, "default"), tok_model, args.out, images[:1], seed=1)
    cfg = config_for(vocab, image_token, tied=True, kv_heads=2, layer=[-3, -1], strategy="full", projector_bias=False)
    run_case("tiny_pad", cfg, build_processor(tok, True, 96, 84, "full"), tok_model, args.out, images, seed=2,
             shard="60KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
