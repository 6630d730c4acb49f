#!/usr/bin/env python3
"""Reference data for the Qwen2-VL / Qwen2.5-VL tokenizer and chat-format tests.

Writes into --out:
  qwen2vl_tokenizer/     write_qwen2_tokenizer's Qwen2-VL tokenizer (reference_common.py)
  qwen25vl_tokenizer/    its Qwen2.5-VL variant (eight more added tokens, not special)
  bpe_qwen2vl.json       ids, pieces and decoded text from Hugging Face `tokenizers` on a hard
                         corpus (the shared corpus of make_tokenizers.py plus Qwen2's own
                         troubles: contractions in any case, digit runs, CJK, emoji, combining
                         accents that NFC composes, \r\n runs, trailing spaces, added tokens),
                         and transformers' Qwen2Tokenizer's ids on the same strings
  chat_qwen2vl.json      conversations and the prompts apply_chat_template renders for them
                         with Qwen2-VL's real template
"""
import argparse
import json
import os
import random

from make_tokenizers import CONVERSATIONS, make_corpus, random_id_sequences
from reference_common import QWEN2VL_SPECIAL_TOKENS, QWEN25VL_EXTRA_TOKENS, QWEN2VL_TEMPLATE, write_qwen2_tokenizer

SEED = 20250128

QWEN_HARD = [
    # Contractions: Qwen2's regex matches them case-insensitively.
    "I'M here, YOU'RE there, IT'S fine; We'Ve, They'LL, She'D", "don'T", "'S'T'RE", "x's", "ſ's", "'ſ",
    # Numbers split per digit, with and without other characters around.
    "12345", "3.14159", "1,000,000", " 42", "x1y22z333", "٣٤٥", "１２３", "½ ⅓ ② Ⅻ", "0x1F 1e-9 -7",
    # CJK and other scripts.
    "日本語のテキストです。", "中文文本测试，图片中有什么？", "한국어 텍스트", "Привет, мир!", "नमस्ते दुनिया",
    # Emoji and joiners.
    "😀🎉👍🏽🇩🇪", "👨‍👩‍👧‍👦 family", "🏳️‍🌈", "a😀b", " 😀 ",
    # Combining marks that NFC composes, and some it leaves alone.
    "e\u0301", "cafe\u0301", "A\u030a", "\u212b", "\u1100\u1161\u11a8", "o\u0308\u0301", "\u0041\u0301\u0302",
    "\u0301", " \u0301x", "n\u0303o", "\u1e9b\u0323", "\u2126", "\uff21", "\ufb01", "\u0958", "\u00c5\u0327",
    "Zu\u0308rich stra\u00dfe re\u0301sume\u0301", "\u0915\u093c", "\u30ab\u3099",
    # Line breaks and whitespace runs.
    "a\r\nb", "a\r\n\r\n\r\nb", "\r\n", "\r\r\n\n", "line\n\n", "x \n y", "tabs\t\t\tend", "trailing   ",
    "  leading", "a  \n  b", "end.\r\n", "!!!\n\n", "?\r\n\r\n", "\u00a0\u00a0x", "\u3000word", "\u0085x\u0085",
    "\u2028\u2029", "a\u000bb\u000cc",
    # Punctuation runs and code.
    "...!!!???", "(120,45),(380,290)", '{"bbox_2d": [12, 34, 56, 78], "label": "cat"}',
    "```json\n[\n\t{\"bbox_2d\": [1, 2, 3, 4]}\n]\n```", "def f(x):\r\n    return x\r\n",
    # Added tokens inside and around text.
    "<|im_start|>user\nhi<|im_end|>\n", "<|vision_start|><|image_pad|><|image_pad|><|vision_end|>",
    "<|box_start|>(1,2),(3,4)<|box_end|>", "<|object_ref_start|>the cat<|object_ref_end|>", "<|im_start",
    "x<|endoftext|>y", "<tool_call>{}</tool_call>", "<|fim_prefix|>a<|fim_suffix|>", "<|image_pad|>\u0301",
]


def tokenizer_cases(folder, corpus, name, out_dir):
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    tok = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    hf = AutoTokenizer.from_pretrained(folder)
    cases = []
    for text in corpus:
        ids = tok.encode(text, add_special_tokens=False).ids
        hf_ids = hf(text, add_special_tokens=False)["input_ids"]
        if hf_ids != ids:
            raise SystemExit(f"transformers' Qwen2Tokenizer and tokenizers differ on {text!r}: {hf_ids} vs {ids}")
        cases.append({
            "text": text, "ids": ids, "pieces": tok.encode(text, add_special_tokens=False).tokens,
            "decoded": tok.decode(ids, skip_special_tokens=False),
            "decoded_skip_special": tok.decode(ids, skip_special_tokens=True),
        })
    rng = random.Random(SEED)
    decode_only = [{"ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False),
                    "decoded_skip_special": tok.decode(ids, skip_special_tokens=True)}
                   for ids in random_id_sequences(rng, tok.get_vocab_size(with_added_tokens=True), 80)]
    special = {"eos": hf.eos_token, "eos_id": hf.eos_token_id, "pad": hf.pad_token, "pad_id": hf.pad_token_id,
               "bos": hf.bos_token, "unk": hf.unk_token}
    added = {t.content: {"id": i, "special": t.special} for i, t in tok.get_added_tokens_decoder().items()}
    with open(os.path.join(out_dir, f"bpe_{name}.json"), "w", encoding="utf-8") as f:
        json.dump({"vocab_size": tok.get_vocab_size(with_added_tokens=True), "special": special, "added": added,
                   "cases": cases, "decode_only": decode_only}, f, ensure_ascii=True)
    return hf


# Conversations beyond make_tokenizers.py's: a system turn first, one in the middle, a
# string content, images in several turns.
QWEN_CONVERSATIONS = CONVERSATIONS + [
    [{"role": "system", "content": [{"type": "text", "text": "Answer in JSON."}]},
     {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Outline each cat."}]},
     {"role": "assistant", "content": [{"type": "text", "text": '[{"bbox_2d": [1, 2, 30, 40], "label": "cat"}]'}]},
     {"role": "user", "content": [{"type": "text", "text": "And the dog?"}]}],
    [{"role": "user", "content": [{"type": "text", "text": "Hi"}]},
     {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
     {"role": "user", "content": [{"type": "image"}, {"type": "image"}]}],
]


def chat_cases(hf, out_dir):
    prompts = []
    for i, conv in enumerate(QWEN_CONVERSATIONS):
        for gen in (False, True):
            prompts.append({"conversation": i, "add_generation_prompt": gen,
                            "prompt": hf.apply_chat_template(conv, tokenize=False, add_generation_prompt=gen,
                                                             chat_template=QWEN2VL_TEMPLATE)})
    with open(os.path.join(out_dir, "chat_qwen2vl.json"), "w", encoding="utf-8") as f:
        json.dump({"conversations": QWEN_CONVERSATIONS, "prompts": prompts, "template": QWEN2VL_TEMPLATE}, f,
                  ensure_ascii=True, indent=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--fixtures", help="unused: the Qwen tokenizer is built here")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    corpus = QWEN_HARD + make_corpus(QWEN2VL_SPECIAL_TOKENS + QWEN25VL_EXTRA_TOKENS)
    folder = os.path.join(args.out, "qwen2vl_tokenizer")
    write_qwen2_tokenizer(folder, "qwen2-vl")
    hf = tokenizer_cases(folder, corpus, "qwen2vl", args.out)
    folder25 = os.path.join(args.out, "qwen25vl_tokenizer")
    write_qwen2_tokenizer(folder25, "qwen2.5-vl")
    tokenizer_cases(folder25, corpus, "qwen25vl", args.out)
    chat_cases(hf, args.out)
    print(f"wrote {len(corpus)} tokenizer cases and {len(QWEN_CONVERSATIONS)} conversations to {args.out}")


if __name__ == "__main__":
    main()
