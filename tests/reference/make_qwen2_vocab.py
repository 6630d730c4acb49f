#!/usr/bin/env python3
"""The real Qwen2 vocabulary, assembled from public material on PyPI, and what the original
tokenizer makes of a hard corpus with it.

Qwen2's byte-level BPE has the 151643 ranks of Qwen's tiktoken vocabulary (qwen.tiktoken, which
the `dashscope` wheel on PyPI ships), its pre-tokenizer regex and NFC normalizer, and the added
tokens of Qwen2-VL from id 151643 on. This script fetches the pinned wheel and `tiktoken` with pip
(once, into ~/.cache/vqa-studio/qwen2-vocab) and writes into --out:
  tokenizer/tokenizer.json   that tokenizer in tokenizer.json's form: the vocabulary in byte-level
                             characters, the merges recovered from the ranks (a token's merge is
                             the last step of ranking-BPE over its own bytes, as transformers'
                             tiktoken converter recovers them), NFC, the Split regex, ByteLevel
  cases.json                 for each string of make_qwen2vl_text.py's hard corpus: tiktoken's
                             ids for its NFC form (the original implementation, added tokens
                             allowed) — which `tokenizers` must agree with on the written file,
                             or the script fails — and the NFC text
Nothing of it is committed. Without the network (pip cannot fetch) it says so and exits 0, and
the C++ test skips saying why.
"""
import argparse
import base64
import json
import os
import subprocess
import sys
import unicodedata
import zipfile

from make_qwen2vl_text import QWEN_HARD
from make_tokenizers import make_corpus
from reference_common import QWEN2_PRETOKENIZE_REGEX, QWEN2VL_SPECIAL_TOKENS, QWEN25VL_EXTRA_TOKENS
from reference_common import bytes_to_unicode, pip_fetched

DASHSCOPE = "dashscope==2.0.2"
TIKTOKEN = "tiktoken==0.14.0"
CACHE = os.path.expanduser("~/.cache/vqa-studio/qwen2-vocab")
FIRST_ADDED = 151643


def fetch():
    """qwen.tiktoken's path and a folder with tiktoken, fetched once; None when pip cannot."""
    vocab = os.path.join(CACHE, "qwen.tiktoken")
    site = os.path.join(CACHE, "site")
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    try:
        if not os.path.exists(vocab):
            os.makedirs(CACHE, exist_ok=True)
            subprocess.run(pip + ["download", "--no-deps", "-d", CACHE, DASHSCOPE], check=True, timeout=300)
            wheel = next(f for f in os.listdir(CACHE) if f.startswith("dashscope") and f.endswith(".whl"))
            with zipfile.ZipFile(os.path.join(CACHE, wheel)) as z:
                data = z.read("dashscope/resources/qwen.tiktoken")
            with open(vocab + ".part", "wb") as f:
                f.write(data)
            os.replace(vocab + ".part", vocab)
    except (subprocess.SubprocessError, OSError, StopIteration, KeyError) as e:
        print(f"make_qwen2_vocab: skipped: could not fetch {DASHSCOPE} with pip ({e})")
        return None, None
    why = pip_fetched(TIKTOKEN, "tiktoken", os.path.basename(CACHE))
    if why:
        print(f"make_qwen2_vocab: skipped: {why}")
        return None, None
    return vocab, site


def recover_merges(ranks):
    """(left, right) byte strings per multi-byte token, in rank order: the last merge that
    ranking-BPE over the token's bytes makes, stopping below the token's own rank."""
    merges = []
    for token, rank in ranks.items():
        if len(token) < 2:
            continue
        parts = [bytes([b]) for b in token]
        while len(parts) > 2:
            best, best_rank = None, None
            for i in range(len(parts) - 1):
                r = ranks.get(parts[i] + parts[i + 1])
                if r is not None and r < rank and (best_rank is None or r < best_rank):
                    best, best_rank = i, r
            if best is None:
                break
            parts[best:best + 2] = [parts[best] + parts[best + 1]]
        if len(parts) != 2:
            raise RuntimeError(f"token {token!r} (rank {rank}) is not a merge of two ranked parts")
        merges.append((rank, parts[0], parts[1]))
    merges.sort()
    return [(a, b) for _, a, b in merges]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--fixtures", help="unused")
    args = ap.parse_args()
    vocab_path, site = fetch()
    if not vocab_path:
        return 0
    sys.path.insert(0, site)
    import tiktoken
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

    ranks = {}
    for line in open(vocab_path, "rb"):
        if line.strip():
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    if len(ranks) != FIRST_ADDED:
        raise RuntimeError(f"qwen.tiktoken has {len(ranks)} tokens, not {FIRST_ADDED}")
    added = QWEN2VL_SPECIAL_TOKENS
    assert added[:3] == ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], added

    table = bytes_to_unicode()
    text_of = lambda b: "".join(table[x] for x in b)  # noqa: E731
    vocab = {text_of(t): r for t, r in ranks.items()}
    merges = [(text_of(a), text_of(b)) for a, b in recover_merges(ranks)]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token=None, continuing_subword_prefix="",
                               end_of_word_suffix="", fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in added])
    folder = os.path.join(args.out, "tokenizer")
    os.makedirs(folder, exist_ok=True)
    tok.save(os.path.join(folder, "tokenizer.json"))
    for i, t in enumerate(added):
        assert tok.token_to_id(t) == FIRST_ADDED + i, (t, tok.token_to_id(t))

    enc = tiktoken.Encoding("qwen2", pat_str=QWEN2_PRETOKENIZE_REGEX, mergeable_ranks=ranks,
                            special_tokens={t: FIRST_ADDED + i for i, t in enumerate(added)})
    corpus = QWEN_HARD + make_corpus(added + QWEN25VL_EXTRA_TOKENS)
    cases, disagree = [], []
    for text in corpus:
        nfc = unicodedata.normalize("NFC", text)
        ids = enc.encode(nfc, allowed_special="all")
        if tok.encode(text, add_special_tokens=False).ids != ids:
            disagree.append(text)
        cases.append({"text": text, "nfc": nfc, "ids": ids})
    if disagree:
        raise RuntimeError(f"tokenizers and tiktoken disagree on {len(disagree)} strings, e.g. {disagree[:3]!r}")
    json.dump({"source": f"{DASHSCOPE}: dashscope/resources/qwen.tiktoken", "vocab_size": len(ranks),
               "merges": len(merges), "cases": cases},
              open(os.path.join(args.out, "cases.json"), "w", encoding="utf-8"), ensure_ascii=False)
    print(f"make_qwen2_vocab: {len(ranks)} ranks, {len(merges)} merges, {len(cases)} cases agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
