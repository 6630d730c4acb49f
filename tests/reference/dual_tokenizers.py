"""The text tokenizers of the dual encoders, small and deterministic, in the formats users
download (no network):

  write_clip_tokenizer(folder)    CLIP's byte-level BPE with "</w>" word ends (about 2,000
                                  tokens: the 256 byte symbols, the same with "</w>", the
                                  merges, <|startoftext|> and <|endoftext|>), trained on a
                                  generated text; layout="saved": as transformers' CLIPTokenizer
                                  saves it (tokenizer.json, tokenizer_config.json);
                                  layout="hub": as the released openai/clip-vit-* folders hold it
                                  (vocab.json, merges.txt, the tokenizer.json CLIPConverter wrote,
                                  tokenizer_config.json and special_tokens_map.json of that time)
  write_siglip_tokenizer(folder)  a SentencePiece unigram model laid out like SigLIP's
                                  spiece.model (<pad> 0, </s> 1, <unk> 2); layout="saved": no
                                  dummy prefix, saved through SiglipTokenizer (spiece.model,
                                  tokenizer_config.json); layout="hub": T5's normalizer settings
                                  (nmt_nfkc, a dummy prefix, extra whitespace removed) and the
                                  tokenizer_config.json and special_tokens_map.json the released
                                  google/siglip-* folders hold

Importing this module has no side effects beyond putting its folder on sys.path. Imported by
make_dual.py, make_dual_text.py and tests/bench/dual_throughput.py."""
import io
import json
import os
import random
import shutil
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

# Made-up words from these syllables widen the training text, so BPE learns merges that real
# words only partly use (the merges of a whole-word vocabulary would never split a word).
SYLLABLES = ("ba be bi bo bu ca ce ci co cu da de di do du fa fe fi fo ga ge gi go ka ke ki ko la le li lo lu "
             "ma me mi mo mu na ne ni no nu pa pe pi po ra re ri ro ru sa se si so su ta te ti to tu va ve vi "
             "wa we za zo ch sh th st tr pr br gr an en in on un er ar or ing ed ly ion ous ent é è ü ö ñ ç").split()


def made_up_words(rng, n=700):
    return ["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 4))) for _ in range(n)]


def training_lines(seed=0, n=3000):
    """A fixed text of `n` lines: the words above, made-up words, capitals, punctuation and
    numbers; the same for the same seed."""
    rng = random.Random(seed)
    vocabulary = WORDS + made_up_words(random.Random(seed + 1000))
    lines = []
    for _ in range(n):
        k = rng.randint(3, 12)
        words = [rng.choice(vocabulary) for _ in range(k)]
        if rng.random() < 0.3:
            words = [w.capitalize() for w in words]
        line = " ".join(words)
        if rng.random() < 0.3:
            line += rng.choice([".", "!", "?", ",", "...", " 123", " 4.5", " (x)", " -- ok"])
        lines.append(line)
    return lines


def clip_vocab_and_merges(merges_count=1500):
    """CLIP's vocabulary layout: the 256 byte symbols, the same with "</w>", one token per merge
    in merge order, then <|startoftext|> and <|endoftext|> (ids 49406 and 49407 in the real
    one). Returns (vocab, merges)."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

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
    return vocab, kept


# The released openai/clip-vit-base-patch32 folder's tokenizer files beside tokenizer.json
# (written by transformers 4 from the slow CLIPTokenizer: its special tokens as normalized
# AddedTokens, model_max_length 77).
def _clip_hub_token(content):
    return {"content": content, "single_word": False, "lstrip": False, "rstrip": False, "normalized": True}


CLIP_HUB_SPECIAL_TOKENS_MAP = {"bos_token": _clip_hub_token("<|startoftext|>"),
                               "eos_token": _clip_hub_token("<|endoftext|>"),
                               "unk_token": _clip_hub_token("<|endoftext|>"), "pad_token": "<|endoftext|>"}
CLIP_HUB_CONFIG = {
    "unk_token": dict(_clip_hub_token("<|endoftext|>"), __type="AddedToken"),
    "bos_token": dict(_clip_hub_token("<|startoftext|>"), __type="AddedToken"),
    "eos_token": dict(_clip_hub_token("<|endoftext|>"), __type="AddedToken"),
    "pad_token": "<|endoftext|>", "add_prefix_space": False, "errors": "replace", "do_lower_case": True,
    "name_or_path": "openai/clip-vit-base-patch32", "model_max_length": 77,
    "special_tokens_map_file": "./special_tokens_map.json", "tokenizer_class": "CLIPTokenizer",
}


def _clip_converter_json(vocab, merges, use_regex):
    """tokenizer.json as transformers 4's CLIPConverter wrote it from the slow tokenizer (its
    pre-tokenizer has no special-token alternatives, unlike what CLIPTokenizer saves now); the
    ByteLevel steps without use_regex (the files of that time predate the field, which then
    means true), or with use_regex false when asked."""
    from types import SimpleNamespace

    from transformers.convert_slow_tokenizer import CLIPConverter

    # What CLIPConverter reads of the slow tokenizer.
    slow = SimpleNamespace(encoder=vocab, bpe_ranks={m: i for i, m in enumerate(merges)},
                           unk_token="<|endoftext|>", eos_token="<|endoftext|>", bos_token="<|startoftext|>",
                           eos_token_id=vocab["<|endoftext|>"], bos_token_id=vocab["<|startoftext|>"])
    spec = json.loads(CLIPConverter(slow).converted().to_str())
    for step in spec["pre_tokenizer"]["pretokenizers"] + [spec["decoder"]]:
        if step["type"] == "ByteLevel":
            if use_regex:
                step.pop("use_regex", None)
            elif step is not spec["decoder"]:
                step["use_regex"] = False
    spec["added_tokens"] = [dict(id=vocab[t], special=True, **_clip_hub_token(t))
                            for t in ("<|startoftext|>", "<|endoftext|>")]
    return spec


def write_clip_tokenizer(folder, merges_count=1500, layout="saved", use_regex=True):
    """Writes CLIP's tokenizer into `folder` (layout "saved" or "hub", see the module's text;
    use_regex only for "hub"). Returns the CLIPTokenizer (fast) loaded from it."""
    from transformers import CLIPTokenizer

    if layout not in ("saved", "hub"):
        raise ValueError(f"unknown layout {layout!r}")
    vocab, merges = clip_vocab_and_merges(merges_count)
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        where = folder if layout == "hub" else tmp
        vocab_file = os.path.join(where, "vocab.json")
        merges_file = os.path.join(where, "merges.txt")
        with open(vocab_file, "w", encoding="utf-8") as f:
            json.dump(vocab, f, ensure_ascii=False)
        with open(merges_file, "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
        if layout == "saved":
            CLIPTokenizer(vocab=vocab_file, merges=merges_file).save_pretrained(folder)
        else:
            for name, content in (("tokenizer.json", _clip_converter_json(vocab, merges, use_regex)),
                                  ("tokenizer_config.json", CLIP_HUB_CONFIG),
                                  ("special_tokens_map.json", CLIP_HUB_SPECIAL_TOKENS_MAP)):
                with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
                    json.dump(content, f, ensure_ascii=False, indent=2 if name != "tokenizer.json" else None)
    return CLIPTokenizer.from_pretrained(folder)


def protobuf_site():
    """The folder protobuf was fetched into (on sys.path from now on; a subprocess that loads a
    SigLIP tokenizer needs it on its PYTHONPATH)."""
    why = pip_fetched(PROTOBUF, "google.protobuf", "protobuf-6.33.1")
    if why:
        raise RuntimeError(f"SigLIP's tokenizer needs protobuf: {why}")
    # With "legacy": false SiglipTokenizer edits the model's protobuf (the dummy prefix off)
    # through sentencepiece's generated module, which asks for a newer protobuf than the pinned
    # one; transformers' own copy of the same schema has no such check.
    try:
        from sentencepiece import sentencepiece_model_pb2  # noqa: F401
    except Exception:
        import transformers.tokenization_utils_sentencepiece as backend
        from transformers.utils import sentencepiece_model_pb2_new

        backend.import_protobuf = lambda error_message="": sentencepiece_model_pb2_new
    return os.path.join(os.path.expanduser("~"), ".cache", "vqa-studio", "protobuf-6.33.1", "site")


# The released google/siglip-base-patch16-224 folder's tokenizer files beside spiece.model
# (written by transformers 4.37: the special tokens as SiglipTokenizer makes them, stripping the
# spaces around them; clean_up_tokenization_spaces on).
def _siglip_hub_token(content):
    return {"content": content, "lstrip": True, "normalized": False, "rstrip": True, "single_word": False}


SIGLIP_HUB_SPECIAL_TOKENS_MAP = {"eos_token": _siglip_hub_token("</s>"), "pad_token": _siglip_hub_token("</s>"),
                                 "unk_token": _siglip_hub_token("<unk>")}
SIGLIP_HUB_CONFIG = {
    "added_tokens_decoder": {"1": dict(_siglip_hub_token("</s>"), special=True),
                             "2": dict(_siglip_hub_token("<unk>"), special=True)},
    "additional_special_tokens": [], "clean_up_tokenization_spaces": True, "do_lower_case": True,
    "eos_token": "</s>", "model_input_names": ["input_ids"], "model_max_length": 64, "pad_token": "</s>",
    "processor_class": "SiglipProcessor", "sp_model_kwargs": {}, "tokenizer_class": "SiglipTokenizer",
    "unk_token": "<unk>",
}


def write_siglip_tokenizer(folder, vocab_size=1000, layout="saved", config_extra=None):
    """Writes SigLIP's tokenizer into `folder` (layout "saved" or "hub", see the module's text;
    `config_extra` is merged into a "hub" tokenizer_config.json). Returns the SiglipTokenizer
    loaded from it. Both layouts: <pad> 0, </s> 1, <unk> 2, no <s>, no byte fallback, trained on
    lower-cased text (SiglipTokenizer lower-cases before SentencePiece sees it)."""
    protobuf_site()
    import sentencepiece as spm
    from transformers import SiglipTokenizer

    if layout not in ("saved", "hub"):
        raise ValueError(f"unknown layout {layout!r}")
    hub = layout == "hub"
    os.makedirs(folder, exist_ok=True)
    # Trained from memory, so the model holds no temporary path and is the same bytes every run.
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter([line.lower() for line in training_lines(1)]), model_writer=model,
        vocab_size=vocab_size, model_type="unigram", character_coverage=1.0,
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, pad_piece="<pad>", eos_piece="</s>", unk_piece="<unk>",
        add_dummy_prefix=hub, remove_extra_whitespaces=hub, normalization_rule_name="nmt_nfkc" if hub else "identity",
        byte_fallback=False, hard_vocab_limit=False, num_threads=1, minloglevel=2)
    with tempfile.TemporaryDirectory() as tmp:
        model_file = os.path.join(tmp, "spiece.model")
        with open(model_file, "wb") as f:
            f.write(model.getvalue())
        if hub:
            shutil.copyfile(model_file, os.path.join(folder, "spiece.model"))
            for name, content in (("tokenizer_config.json", dict(SIGLIP_HUB_CONFIG, **(config_extra or {}))),
                                  ("special_tokens_map.json", SIGLIP_HUB_SPECIAL_TOKENS_MAP)):
                with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
                    json.dump(content, f, ensure_ascii=False, indent=2)
        else:
            SiglipTokenizer(vocab_file=model_file).save_pretrained(folder)
    return SiglipTokenizer.from_pretrained(folder)


# SigLIP 2's tokenizer (google/siglip2-*, fixed resolution: config model_type "siglip") is
# Gemma's: a tokenizer.json BPE over characters with byte fallback, its ids laid out as Gemma's
# (<pad> 0, <eos> 1, <bos> 2, <unk> 3, <mask> 4, added tokens, the 256 byte tokens <0x00>..<0xFF>,
# then the pieces), saved by the conversion script (transformers' convert_siglip2_to_hf.py) as
# GemmaTokenizerFast with add_bos_token=False, add_eos_token=True, padding_side "right" and
# do_lower_case=True, which the tokenizer itself does not apply (the model card asks for
# lower-cased texts).
GEMMA_SPECIAL = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]
# Gemma's added tokens past the first five: two special ones of its chat format and two that are
# not special (Gemma's tokenizer adds HTML tags and whitespace runs the same way).
GEMMA_ADDED = [("<start_of_turn>", True), ("<end_of_turn>", True), ("<table>", False), ("<h1>", False)]


def _gemma_token(content, special=True):
    return {"content": content, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False,
            "special": special}


def gemma_vocab_and_merges(vocab_size=1200, seed=2):
    """Gemma's vocabulary layout over a BPE trained on the generated text (pieces never cross a
    "▁" word start, as SentencePiece's BPE learns them). Characters the text lacks (most of
    CJK, other scripts, most emoji, some accents) are not in it: they fall back to byte tokens.
    Returns (vocab, merges)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never", split=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False, special_tokens=[])
    lines = training_lines(seed)
    tok.train_from_iterator(lines + [" " + line for line in lines[:500]], trainer=trainer)
    trained = json.loads(tok.to_str())["model"]
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in trained["merges"]]
    vocab = {}
    for t in GEMMA_SPECIAL + [t for t, _ in GEMMA_ADDED]:
        vocab[t] = len(vocab)
    for extra in ["\n", "\n\n", "▁▁", "\t"]:  # Gemma has whitespace runs as pieces of their own
        vocab[extra] = len(vocab)
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for piece, _ in sorted(trained["vocab"].items(), key=lambda kv: kv[1]):
        if piece not in vocab:
            vocab[piece] = len(vocab)
    kept = [(a, b) for a, b in merges if a in vocab and b in vocab and a + b in vocab]
    # The merges that build "▁▁" from "▁" (as Gemma's has them), after the trained ones.
    if ("▁", "▁") not in kept:
        kept.append(("▁", "▁"))
    return vocab, kept


def write_gemma_tokenizer(folder, vocab_size=1200, layout="siglip2", pipeline="gemma"):
    """Writes a Gemma-style tokenizer into `folder` and returns the transformers tokenizer
    loaded from it (AutoTokenizer: GemmaTokenizer).

    layout "siglip2": as google/siglip2-* folders hold it: tokenizer.json (Replace " " -> "▁"
        normalizer, no pre-tokenizer, BPE with byte_fallback and fuse_unk, decoder Replace "▁"
        -> " ", ByteFallback, Fuse; post-processor "$A <eos>"), tokenizer_config.json in the
        layout transformers 4 saved (added_tokens_decoder, add_bos_token false, add_eos_token
        true, do_lower_case true, tokenizer_class GemmaTokenizer) and special_tokens_map.json.
    layout "gemma": Gemma's own settings (<bos> first, no <eos>), the same tokenizer.json
        otherwise.
    `pipeline` other than "gemma": a Llama-2-style file over the same vocabulary, which only the
        `tokenizers` library reads as written (GemmaTokenizer rebuilds Gemma's pipeline); for
        make_dual_text.py's raw cases: "strip" (Prepend "▁" before Replace, a Strip decoder, as
        Llama 2's converted files), "metaspace" (no normalizer, a Metaspace pre-tokenizer with
        prepend_scheme "first" and no split, as tokenizers 0.19 converts Llama 2),
        "metaspace_split" (Metaspace with prepend_scheme "always", split on "▁")."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, processors
    from transformers import AutoTokenizer

    if layout not in ("siglip2", "gemma"):
        raise ValueError(f"unknown layout {layout!r}")
    vocab, merges = gemma_vocab_and_merges(vocab_size)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    from tokenizers import pre_tokenizers

    strip = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                               decoders.Strip(" ", 1, 0)])
    if pipeline == "strip":
        tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
        tok.decoder = strip
    elif pipeline in ("metaspace", "metaspace_split"):
        split = pipeline == "metaspace_split"
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always" if split else "first",
                                                     split=split)
        tok.decoder = strip
    elif pipeline == "gemma":
        tok.normalizer = normalizers.Replace(" ", "▁")
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    else:
        raise ValueError(f"unknown pipeline {pipeline!r}")
    added = [(t, True) for t in GEMMA_SPECIAL] + GEMMA_ADDED
    tok.add_tokens([AddedToken(t, special=s, normalized=False) for t, s in added])
    siglip2 = layout == "siglip2"
    if siglip2:
        tok.post_processor = processors.TemplateProcessing(
            single="$A:0 <eos>:0", pair="$A:0 <eos>:0 $B:1 <eos>:1", special_tokens=[("<eos>", vocab["<eos>"])])
    else:
        tok.post_processor = processors.TemplateProcessing(
            single="<bos>:0 $A:0", pair="<bos>:0 $A:0 <bos>:1 $B:1", special_tokens=[("<bos>", vocab["<bos>"])])
    os.makedirs(folder, exist_ok=True)
    tok.save(os.path.join(folder, "tokenizer.json"))
    config = {
        "add_bos_token": not siglip2, "add_eos_token": siglip2,
        "added_tokens_decoder": {str(vocab[t]): _gemma_token(t, s) for t, s in added},
        "additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"],
        "bos_token": "<bos>", "clean_up_tokenization_spaces": False, "eos_token": "<eos>",
        "model_max_length": 1000000000000000019884624838656, "pad_token": "<pad>",
        "sp_model_kwargs": {}, "spaces_between_special_tokens": False, "tokenizer_class": "GemmaTokenizer",
        "unk_token": "<unk>", "use_default_system_prompt": False,
    }
    if siglip2:
        config.update({"do_lower_case": True, "model_input_names": ["input_ids"], "padding_side": "right"})
    special_map = {"additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"],
                   **{f"{k}_token": _gemma_token(f"<{k}>" if k != "eos" else "<eos>") for k in ("bos", "eos", "pad", "unk")}}
    for k in special_map:
        if isinstance(special_map[k], dict):
            special_map[k].pop("special")
    for name, content in (("tokenizer_config.json", config), ("special_tokens_map.json", special_map)):
        with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
            json.dump(content, f, ensure_ascii=False, indent=2)
    return AutoTokenizer.from_pretrained(folder)
