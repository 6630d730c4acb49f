"""The text tokenizers of the dual encoders, small and deterministic, in the formats users
download (no network):

  write_clip_tokenizer(folder)    CLIP's byte-level BPE with "</w>" word ends, trained on a
                                  generated text, saved through transformers' CLIPTokenizer as
                                  tokenizer.json (+ vocab.json, merges.txt) the way
                                  openai/clip-vit-* folders hold it
  write_siglip_tokenizer(folder)  a SentencePiece unigram model laid out like SigLIP's
                                  spiece.model (<pad> 0, </s> 1, <unk> 2; no dummy prefix),
                                  saved through SiglipTokenizer (spiece.model,
                                  tokenizer_config.json, special_tokens_map.json)

Imported by make_dual.py, make_dual_text.py and tests/bench/dual_throughput.py."""
import json
import os
import random
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_common import bytes_to_unicode, pip_fetched  # noqa: E402

# SiglipTokenizer reads spiece.model through protobuf, which the project's environment does not
# pin; it is fetched once beside it (reference_common.pip_fetched).
PROTOBUF = "protobuf==6.33.1"

WORDS = ("a photo of the red green blue yellow circle square triangle dog cat bicycle car house tree sky sea "
         "beach mountain people person child playing running sitting on in at with and two three small big "
         "old new bright dark picture image painting drawing shapes colours colors kitchen street city night "
         "day snow rain sunset table chair window door book receipt store grocery party birthday lake river "
         "l'image d'un carré été café naïve über straße 東京 写真 猫 😀 it's they're we've I'm you'll he'd").split()


def training_lines(seed=0, n=3000):
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        k = rng.randint(3, 12)
        words = [rng.choice(WORDS) for _ in range(k)]
        if rng.random() < 0.3:
            words = [w.capitalize() for w in words]
        line = " ".join(words)
        if rng.random() < 0.3:
            line += rng.choice([".", "!", "?", ",", "...", " 123", " 4.5", " (x)", " -- ok"])
        lines.append(line)
    return lines


def write_clip_tokenizer(folder, merges_count=600):
    """CLIP's layout: the 256 byte symbols, the same with "</w>", one token per merge in merge
    order, then <|startoftext|> and <|endoftext|> (ids 49406 and 49407 in the real one)."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import CLIPTokenizer

    table = bytes_to_unicode()
    symbols = [table[b] for b in range(256)]
    tok = Tokenizer(models.BPE(unk_token="<|endoftext|>", end_of_word_suffix="</w>", continuing_subword_prefix=""))
    tok.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "),
                                           normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"),
                             behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    trainer = trainers.BpeTrainer(vocab_size=512 + merges_count, min_frequency=2, show_progress=False,
                                  initial_alphabet=symbols, end_of_word_suffix="</w>", special_tokens=[])
    tok.train_from_iterator(training_lines(), trainer=trainer)
    trained = json.loads(tok.to_str())["model"]
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in trained["merges"]]
    vocab = {}
    for s in symbols:
        vocab[s] = len(vocab)
    for s in symbols:
        vocab[s + "</w>"] = len(vocab)
    kept = []
    for a, b in merges:
        if a in vocab and b in vocab and a + b not in vocab:
            vocab[a + b] = len(vocab)
            kept.append((a, b))
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        vocab_file = os.path.join(tmp, "vocab.json")
        merges_file = os.path.join(tmp, "merges.txt")
        json.dump(vocab, open(vocab_file, "w", encoding="utf-8"), ensure_ascii=False)
        with open(merges_file, "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in kept))
        clip = CLIPTokenizer(vocab=vocab_file, merges=merges_file)
        clip.save_pretrained(folder)
    return clip


def protobuf_site():
    """The folder protobuf was fetched into (on sys.path from now on; a subprocess that loads a
    SigLIP tokenizer needs it on its PYTHONPATH)."""
    why = pip_fetched(PROTOBUF, "google.protobuf", "protobuf-6.33.1")
    if why:
        raise RuntimeError(f"SigLIP's tokenizer needs protobuf: {why}")
    return os.path.join(os.path.expanduser("~"), ".cache", "vqa-studio", "protobuf-6.33.1", "site")


def write_siglip_tokenizer(folder, vocab_size=200):
    """SigLIP's layout: <pad> 0, </s> 1, <unk> 2, no dummy prefix, no whitespace folding by
    SentencePiece (SiglipTokenizer cleans the text itself)."""
    protobuf_site()
    import sentencepiece as spm
    from transformers import SiglipTokenizer

    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        text = os.path.join(tmp, "train.txt")
        with open(text, "w", encoding="utf-8") as f:
            f.write("\n".join(line.lower() for line in training_lines(1)))
        prefix = os.path.join(tmp, "spiece")
        spm.SentencePieceTrainer.train(
            input=text, model_prefix=prefix, vocab_size=vocab_size, model_type="unigram", character_coverage=1.0,
            pad_id=0, eos_id=1, unk_id=2, bos_id=-1, pad_piece="<pad>", eos_piece="</s>", unk_piece="<unk>",
            add_dummy_prefix=False, remove_extra_whitespaces=False, normalization_rule_name="identity",
            byte_fallback=False, hard_vocab_limit=False, num_threads=1, minloglevel=2)
        siglip = SiglipTokenizer(vocab_file=prefix + ".model")
        siglip.save_pretrained(folder)
    return siglip
