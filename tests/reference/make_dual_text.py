#!/usr/bin/env python3
"""Reference data for the dual encoders' tokenizers alone (tests/engine/test_tokenizer_dual.cpp):
the small tokenizers of dual_tokenizers.py in the layouts users download, and what transformers
gives for a wide list of texts.

Writes into --out:
  <case>/           a tokenizer folder:
                      clip                  as transformers' CLIPTokenizer saves it
                      clip_hub              as the released openai/clip-vit-* folders hold it
                                            (CLIPConverter's tokenizer.json, special tokens
                                            matched after normalization)
                      clip_hub_noregex      the same with the ByteLevel step's use_regex false
                      siglip                as transformers' SiglipTokenizer saves it (a
                                            SentencePiece model without dummy prefix)
                      siglip_hub            as the released google/siglip-* folders hold it (T5's
                                            normalizer settings, special_tokens_map.json,
                                            clean_up_tokenization_spaces)
                      siglip_hub_nonlegacy  the same with "legacy": false (transformers then turns
                                            the dummy prefix off; behind the unknown token's text
                                            SiglipTokenizer encodes first, that changes no id)
                      siglip_bare           spiece.model and a tokenizer_config.json that names
                                            only the class (every special token by default)
                      gemma_siglip2         SigLIP 2's Gemma tokenizer as google/siglip2-* folders
                                            hold it: a tokenizer.json BPE with byte fallback, an
                                            <eos> after every text (dual_tokenizers.py)
                      gemma                 the same vocabulary with Gemma's own settings (<bos>
                                            first)
                      gemma_strip           a Llama-2-style file over it (Prepend "▁", a Strip
                                            decoder): the `tokenizers` library's reading of the
                                            file is the reference, as GemmaTokenizer rebuilds
                                            Gemma's pipeline whatever the file says
                      gemma_metaspace       Llama 2 as tokenizers 0.19 converts it (a Metaspace
                                            pre-tokenizer, prepend_scheme "first", no split); raw
                      gemma_metaspace_split Metaspace with prepend_scheme "always", split; raw
  tokenizers.json   per case: its family, the special token ids the reference reports, and per
                    text the ids with and without special tokens and the decodes of the ids with
                    and without skip_special_tokens; per case also decodes of fixed id sequences
                    (special tokens inside, pieces that are parts of a character)

CLIP: CLIPTokenizerFast (`tok(text)["input_ids"]`, `tok.decode`); SigLIP: SiglipTokenizer; Gemma:
AutoTokenizer (GemmaTokenizer), or tokenizers.Tokenizer.from_file for gemma_strip. No
padding, no truncation: the caller pads and truncates. Offline and deterministic; a few seconds.
"""
import argparse
import json
import os
import random
import shutil
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dual_tokenizers  # noqa: E402

# What a search box gets, and what trips tokenizers up.
TEXTS = [
    # Plain captions and queries, mixed case.
    "a photo of a cat", "a red circle", "A photo of a DOG on the Beach", "A GREEN TRIANGLE!", "yellow",
    "two dogs playing in the snow", "MiXeD CaSe WoRdS", "CamelCaseWordsTogether", "a", "I",
    # Punctuation runs and strings of only punctuation.
    "!!!", "?!.,;:", "...", "hello... world!!! really???", "(parenthesis) [brackets] {braces}", "--", "—",
    "“quoted” «guillemets» ‘single’", "#sunset @friend $20 100% a&b a*b", "x=1+2*3/4-5", "~`^|\\",
    "a-b_c.d,e;f:g", "under_score and hy-phen", "!@#$%^&*()_+-=[]{}|;':\",./<>?",
    # Apostrophes and contractions, in any case, curly and doubled.
    "it's", "It'S", "IT'S", "they're here", "we've seen it", "I'm sure", "you'll know", "he'd say",
    "don't", "isn't", "can't won't", "RED's car isn't here, they're gone; we've seen it.", "'s 't 're 've 'm 'll 'd",
    "'S'T'RE'VE'M'LL'D", "rock'n'roll", "y'all", "it’s curly", "''", "'", "it''s", "the dogs' toys", "'tis",
    # Digits.
    "3.14159 and 2,718 and 100%", "12345678901234567890", "1st 2nd 3rd 4th", "2024-01-31 12:30", "٣٤٥ ١٢",
    "１２３", "½ ⅓ ② Ⅻ ²", "0x1F 1e-9 -7",
    # Whitespace: runs, tabs, newlines, leading and trailing, other kinds.
    "two   spaces", "tab\there", "tabs\t\t\tand\nnewlines\n", "a\r\nb", "\n\n", " ", "   ", "\t\n", "",
    "  leading and trailing  ", " leading", "trailing ", "a\u00a0non-breaking space", "ideographic\u3000space",
    "line\u2028separator", "file\x1cseparator", "\x1c", "x\x85y", "en\u2003em space", "zero\u200bwidth",
    "mongolian\u180evowel", "a\x0b\x0cb", "\x00nul", "del\x7f",
    # Accents, composed and decomposed (NFC matters), and case mappings.
    "café", "cafe\u0301", "Å Å Å", "naïve über straße", "Straße STRASSE ß", "ΣΟΦΟΣ ΛΟΓΟΣ", "ΟΔΟΣ.", "İstanbul IŞIK",
    "Ünïcödé àccents", "l'image d'un carré — été", "l'été d'un café naïf", "Zu\u0308rich re\u0301sume\u0301",
    "\u1112\u1161\u11ab\u1100\u1173\u11af", "o\u0308\u0301", "\u0301", "ﬁ ligature", "ＡＢＣ full width", "Ⅻ ℃ ㎏",
    # Other scripts, CJK and emoji.
    "東京の写真", "猫と犬", "中文文本测试，图片中有什么？", "한국어 텍스트", "Привет, мир!", "नमस्ते दुनिया", "مرحبا بالعالم",
    "สวัสดีครับ", "😀😃 emoji 🚲", "👨‍👩‍👧‍👦 family", "🇫🇷🇩🇪 flags", "👍🏽", "a😀b", "🏳️‍🌈",
    # The special tokens written out, SentencePiece's own "▁".
    "<|endoftext|>", "<|endoftext|> inside", "<|startoftext|>start", "<|ENDOFTEXT|> upper",
    "a <|startoftext|><|endoftext|> b", "</s>", "</s> eos inside", "a </s>", "a</s>b</s>", "</s></s>", "<unk>",
    "<unk> and </s>", "<pad>", "<s>", "▁", "▁meta▁symbol", "a ▁ b", "</s>▁x", "x </s> ▁y ▁ z", "▁</s>", "!!! </s> x",
    "</w>", "a</w>b",
    # Gemma's special and added tokens written out, byte tokens written out, characters the small
    # Gemma-style vocabulary lacks (byte fallback, runs of unknown characters).
    "<pad>x<eos>", "<bos> a <unk> b <mask>", "<start_of_turn>user\nhi<end_of_turn>", "<table><h1>x</h1>",
    "<0x41> <0xFF>", "ʕ•ᴥ•ʔ", "\U0001f9ec\U0001faa9 ☃ ♞", "ÿ þ ð æ œ", "x\U0010ffff", "\t\t  \n \n\n",
    # Long text (more than 77 and 64 tokens), repeated characters, a word the vocabulary lacks.
    "a very long description " + "of shapes and colours and more words " * 12, "word " * 80,
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "Pneumonoultramicroscopicsilicovolcanoconiosis",
    "email@example.com http://a.b/c?d=e&f=g#h", "GPT-4o costs $20/month (approx. €18.50)",
]


def id_sequences(size, special, seed):
    """Fixed id sequences to decode: random ids over the whole vocabulary, runs of small ids
    (pieces that are single bytes or characters, parts of a character among them), the special
    tokens at the start, inside and at the end."""
    rng = random.Random(seed)
    out = [[rng.randrange(size) for _ in range(rng.randint(1, 24))] for _ in range(12)]
    out += [[rng.randrange(0, min(size, 600)) for _ in range(rng.randint(1, 12))] for _ in range(12)]
    for s in special:
        out.append([s, rng.randrange(size), s, rng.randrange(size), rng.randrange(size), s])
        out.append([s] * 3)
    out.append([])
    return out


class RawTokenizer:
    """tokenizers.Tokenizer.from_file with the calls the reference makes of a transformers
    tokenizer: the file as the `tokenizers` library runs it."""

    def __init__(self, folder):
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))

    def __call__(self, text, add_special_tokens=True):
        return {"input_ids": self.tok.encode(text, add_special_tokens=add_special_tokens).ids}

    def decode(self, ids, skip_special_tokens=False):
        return self.tok.decode(ids, skip_special_tokens=skip_special_tokens)


def reference(family, folder, raw=False):
    from transformers import AutoTokenizer, CLIPTokenizerFast, SiglipTokenizer

    cls = {"clip": CLIPTokenizerFast, "siglip": SiglipTokenizer, "gemma": AutoTokenizer}[family]
    tok = cls.from_pretrained(folder)
    if family == "gemma":
        assert type(tok).__name__ == "GemmaTokenizer", type(tok)
    run = RawTokenizer(folder) if raw else tok
    rows = []
    for text in TEXTS:
        ids = run(text)["input_ids"]
        rows.append({"text": text, "ids": ids, "plain": run(text, add_special_tokens=False)["input_ids"],
                     "decoded": run.decode(ids), "decoded_skip": run.decode(ids, skip_special_tokens=True)})
    special = {name: getattr(tok, f"{name}_token_id") for name in ("bos", "eos", "pad", "unk")}
    sequences = [{"ids": ids, "decoded": run.decode(ids), "decoded_skip": run.decode(ids, skip_special_tokens=True)}
                 for ids in id_sequences(len(tok), sorted(set(tok.all_special_ids)), len(rows))]
    return {"family": family, "folder": os.path.basename(folder), "vocab_size": len(tok), "special": special,
            "all_special_ids": sorted(set(tok.all_special_ids)), "texts": rows, "sequences": sequences}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--fixtures", default="", help="unused: the tokenizers are built here")
    args = ap.parse_args()
    t0 = time.time()
    shutil.rmtree(args.out, ignore_errors=True)
    try:  # SigLIP's tokenizer needs protobuf, fetched with pip once; without it nothing is written
        dual_tokenizers.protobuf_site()
    except RuntimeError as e:
        print(f"make_dual_text: skipped (the tokenizer tests skip too): {e}")
        return
    os.makedirs(args.out)
    warnings.simplefilter("ignore")  # SiglipTokenizer warns when a text already ends with </s>
    from transformers.utils import logging
    logging.set_verbosity_error()

    def at(name):
        return os.path.join(args.out, name)

    dual_tokenizers.write_clip_tokenizer(at("clip"))
    dual_tokenizers.write_clip_tokenizer(at("clip_hub"), layout="hub")
    dual_tokenizers.write_clip_tokenizer(at("clip_hub_noregex"), layout="hub", use_regex=False)
    dual_tokenizers.write_siglip_tokenizer(at("siglip"))
    dual_tokenizers.write_siglip_tokenizer(at("siglip_hub"), layout="hub")
    dual_tokenizers.write_siglip_tokenizer(at("siglip_hub_nonlegacy"), layout="hub", config_extra={"legacy": False})
    os.makedirs(at("siglip_bare"))
    shutil.copyfile(os.path.join(at("siglip_hub"), "spiece.model"), os.path.join(at("siglip_bare"), "spiece.model"))
    with open(os.path.join(at("siglip_bare"), "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "SiglipTokenizer"}, f)
    dual_tokenizers.write_gemma_tokenizer(at("gemma_siglip2"))
    dual_tokenizers.write_gemma_tokenizer(at("gemma"), layout="gemma")
    for pipeline in ("strip", "metaspace", "metaspace_split"):
        dual_tokenizers.write_gemma_tokenizer(at(f"gemma_{pipeline}"), layout="gemma", pipeline=pipeline)

    cases = {}
    for name in ("clip", "clip_hub", "clip_hub_noregex", "siglip", "siglip_hub", "siglip_hub_nonlegacy", "siglip_bare",
                 "gemma_siglip2", "gemma", "gemma_strip", "gemma_metaspace", "gemma_metaspace_split"):
        cases[name] = reference(name.split("_")[0], at(name), raw=name.startswith(("gemma_strip", "gemma_metaspace")))
    with open(at("tokenizers.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, indent=1, ensure_ascii=False)
    print(f"dual_text: {len(cases)} tokenizers, {len(TEXTS)} texts each, {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
