#!/usr/bin/env python3
"""Reference data for the tokenizer, detokenizer and chat-format tests.

Writes into --out:
  corpus.json          the test strings (deterministic, >= 500), shared by all parts
  bpe_smolvlm.json     ids / decoded text from Hugging Face `tokenizers` with the real
                       SmolVLM tokenizer.json (skipped when the fixture is absent)
  sp_model/            a small SentencePiece BPE model trained here (Llama-like settings),
                       with an added <image> token and a LLaVA-1.5 style chat template
  sp_cases.json        ids / decoded text from the Python sentencepiece package and, for
                       text with <image>, from transformers' LlamaTokenizer on sp_model/
  chat.json            conversations and the prompts apply_chat_template renders for them
"""
import argparse
import io
import json
import os
import random
import sys

from reference_common import LLAVA15_TEMPLATE

SEED = 20240611


WORDS = ("the quick brown fox jumps over lazy dog image photo caption describe what where "
         "why how many people cars trees sky blue red green chart table value shows about "
         "question answer model vision language token attention heatmap layer head").split()
ACCENTED = "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿœšžÀÉÎÕÜßĳŁłŒ"
CJK = "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基"
ARABIC = "مرحبا بالعالم هذه صورة جميلة للسماء الزرقاء"
EMOJI = ["😀", "🎉", "👍🏽", "🇩🇪", "👨‍👩‍👧‍👦", "🏳️‍🌈", "❤️", "🧑🏿‍💻", "👩‍❤️‍💋‍👨", "✋🏻", "🐈‍⬛", "1️⃣"]
ODD = ["\u00a0", "\u2028", "\u2029", "\u0085", "\u200b", "\u200d", "\ufeff", "\ufffe", "\uffff",
       "\U0010ffff", "\U0001d11e", "e\u0301", "\u0301", "\u3000", "\u180e", "\u2009", "\x00", "\x7f",
       "\x1b[31m", "\u202e", "\U000e0041", "\u0d15\u0d4d\u0d37", "\u0928\u092e\u0938\u094d\u0924\u0947",
       "\u05e9\u05dc\u05d5\u05dd", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35", "\u00bd\u2153\u2460\u0663\u0b6b\u216b"]
CODE = [
    "def f(x):\n    return x ** 2  # square\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}",
    "#include <vector>\nstd::vector<int> v{1, 2, 3};",
    "SELECT id, name FROM users WHERE age >= 21 ORDER BY name;",
    "const re = /^\\s*(\\d+)\\.(\\d+)$/u; // version",
    "{\"key\": [1, 2.5, -3e10, null, true], \"s\": \"a\\\"b\"}",
    "if __name__ == '__main__':\n\tmain()\r\n",
    "<div class=\"x\">Hello &amp; <b>bye</b></div>",
    "x = lambda a, b: a if a > b else b",
    "git commit -m 'fix: don't crash'",
]
CONTRACTIONS = ["I'm", "you're", "it's", "we've", "they'll", "she'd", "don't", "IT'S", "You'RE",
                "O'Neil", "rock'n'roll", "'s", "''", "'"]


def make_corpus(specials):
    rng = random.Random(SEED)
    out = []
    fixed = [
        "", " ", "  ", "\n", "\t", "\r\n", "Hello world", " Hello world", "Hello  world ",
        "hello\n\nworld", "a\tb\t\tc", "   leading", "trailing   ", "\n\n\n", " \n \n ", "\t\n \t",
        "12345", "3.14159", "1,000,000", "2024-06-11", "0x1F", "−42", "１２３", "1st 2nd 3rd",
        "Ελληνικά κείμενα", "Привет, мир!", "naïve café résumé", "Zürich straße",
        "日本語のテキストです。", "中文文本测试", "한국어 텍스트", ARABIC, "नमस्ते दुनिया",
        "What is in this image?", "Describe the chart in detail.",
        "<image>", "<image><image>", "a<image>b", " <image> ", "<end_of_utterance>",
        "User:<image>What is this?<end_of_utterance>\nAssistant:",
        "<|im_start|>User: hi<|im_end|>", "<fake_token_around_image><global-img><image>",
        "<row_1_col_1><row_6_col_6>", "<imag", "image>", "<<image>>", "<image", "<|im_start",
    ]
    out.extend(fixed)
    out.extend(CODE)
    out.extend(CONTRACTIONS)
    out.extend(EMOJI)
    out.extend(ODD)
    for sp in specials:
        out.append(f"before {sp} after")
        out.append(f"{sp}x")
    # Runs of whitespace.
    for _ in range(30):
        parts = []
        for _ in range(rng.randint(1, 6)):
            parts.append(rng.choice(WORDS) if rng.random() < 0.6 else "")
            parts.append("".join(rng.choice([" ", "\t", "\n", "\r", "\u00a0"]) for _ in range(rng.randint(1, 5))))
        out.append("".join(parts))
    # Numbers.
    for _ in range(30):
        n = rng.choice([rng.randint(0, 9), rng.randint(10, 99999), rng.randint(10**6, 10**15)])
        out.append(rng.choice(["{}", " {}", "x{}y", "{} apples", "${}.99", "{}%", "v{}.0"]).format(n))
    # Prose.
    for _ in range(120):
        n = rng.randint(1, 25)
        words = [rng.choice(WORDS) for _ in range(n)]
        if rng.random() < 0.3:
            words[0] = words[0].capitalize()
        s = " ".join(words) + rng.choice([".", "?", "!", "", ",", "...", " :)"])
        out.append(s)
    # Mixed scripts, emoji, odd code points, specials inside text.
    pools = [WORDS, list(CJK), EMOJI, ODD, ARABIC.split(), list(ACCENTED), CONTRACTIONS, specials]
    for _ in range(260):
        n = rng.randint(1, 12)
        bits = []
        for _ in range(n):
            pool = rng.choice(pools)
            bits.append(rng.choice(pool))
            bits.append(rng.choice(["", " ", " ", "  ", "\n", "\t", ".", ",", "-"]))
        out.append("".join(bits))
    # Long strings (exercise the BPE merge loop on long words).
    out.append("a" * 300)
    out.append("ab" * 200)
    out.append("".join(rng.choice(CJK) for _ in range(200)))
    out.append("supercalifragilisticexpialidocious" * 5)
    out.append(" ".join(rng.choice(WORDS) for _ in range(400)))
    return out


def random_id_sequences(rng, vocab_size, count):
    seqs = []
    for _ in range(count):
        seqs.append([rng.randrange(vocab_size) for _ in range(rng.randint(1, 12))])
    return seqs


def bpe_reference(fixture_dir, corpus, out_dir):
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    tok = Tokenizer.from_file(os.path.join(fixture_dir, "tokenizer.json"))
    hf = AutoTokenizer.from_pretrained(fixture_dir)
    cases = []
    disagreements = []
    for text in corpus:
        enc = tok.encode(text, add_special_tokens=False)
        ids = enc.ids
        with_special = tok.encode(text, add_special_tokens=True).ids
        # transformers 5's GPT2Tokenizer replaces the file's pre-tokenizer with plain
        # ByteLevel (no Digits), so it differs around numeric characters such as "½". We
        # follow the file, as the `tokenizers` library does; the count is only reported.
        if hf(text, add_special_tokens=False)["input_ids"] != ids:
            disagreements.append(text)
        cases.append({
            "text": text,
            "ids": ids,
            "ids_add_special": with_special,
            "pieces": enc.tokens,
            "decoded": tok.decode(ids, skip_special_tokens=False),
            "decoded_skip_special": tok.decode(ids, skip_special_tokens=True),
        })
    rng = random.Random(SEED + 1)
    decode_only = []
    for ids in random_id_sequences(rng, tok.get_vocab_size(with_added_tokens=True), 80):
        decode_only.append({"ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False),
                            "decoded_skip_special": tok.decode(ids, skip_special_tokens=True)})
    print(f"note: transformers' GPT2Tokenizer differs from tokenizer.json on {len(disagreements)} "
          f"of {len(corpus)} strings (numeric characters; see comment)", file=sys.stderr)
    special = {
        "bos": hf.bos_token, "eos": hf.eos_token, "pad": hf.pad_token, "unk": hf.unk_token,
        "bos_id": hf.bos_token_id, "eos_id": hf.eos_token_id, "pad_id": hf.pad_token_id,
        "unk_id": hf.unk_token_id,
    }
    with open(os.path.join(out_dir, "bpe_smolvlm.json"), "w", encoding="utf-8") as f:
        json.dump({"vocab_size": tok.get_vocab_size(with_added_tokens=True), "special": special,
                   "cases": cases, "decode_only": decode_only,
                   "transformers_disagreements": disagreements}, f, ensure_ascii=True)
    return hf


def _varint(value):
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        out.append(b | (0x80 if value else 0))
        if not value:
            return bytes(out)


def without_dummy_prefix(proto):
    """ModelProto with normalizer_spec.add_dummy_prefix = false, by editing the protobuf
    wire format (field 3 of ModelProto; a repeated scalar field, the last value wins)."""
    out, pos = bytearray(), 0
    while pos < len(proto):
        start = pos
        key, shift = 0, 0
        while True:
            b = proto[pos]; pos += 1
            key |= (b & 0x7F) << shift; shift += 7
            if not b & 0x80:
                break
        field, wire = key >> 3, key & 7
        if wire == 0:
            while proto[pos] & 0x80:
                pos += 1
            pos += 1
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length, shift = 0, 0
            while True:
                b = proto[pos]; pos += 1
                length |= (b & 0x7F) << shift; shift += 7
                if not b & 0x80:
                    break
            if field == 3:
                payload = proto[pos:pos + length] + b"\x18\x00"
                out += _varint(key) + _varint(len(payload)) + payload
                pos += length
                continue
            pos += length
        else:
            raise SystemExit(f"unexpected wire type {wire} in tokenizer.model")
        out += proto[start:pos]
    return bytes(out)


def sp_reference(corpus, out_dir):
    import sentencepiece as spm

    model_dir = os.path.join(out_dir, "sp_model")
    os.makedirs(model_dir, exist_ok=True)
    rng = random.Random(SEED + 2)
    # ASCII training text keeps the vocabulary small; everything else goes to byte fallback.
    train = [s for s in corpus if s.strip() and s.isascii()] + CODE + [ACCENTED]
    train += [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 20))) for _ in range(2000)]
    model = io.BytesIO()
    # Llama-like settings: BPE, byte fallback, digits split, no normalization.
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(train), model_writer=model, vocab_size=600, model_type="bpe",
        byte_fallback=True, split_digits=True, normalization_rule_name="identity",
        remove_extra_whitespaces=False, add_dummy_prefix=True, num_threads=1, seed_sentencepiece_size=10000,
        character_coverage=1.0, shuffle_input_sentence=False, input_sentence_size=0,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, allow_whitespace_only_pieces=True, minloglevel=2)
    with open(os.path.join(model_dir, "tokenizer.model"), "wb") as f:
        f.write(model.getvalue())
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    image_id = sp.get_piece_size()
    with open(os.path.join(model_dir, "added_tokens.json"), "w") as f:
        json.dump({"<image>": image_id}, f)
    config = {
        "tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
        "pad_token": "<unk>", "legacy": False, "add_bos_token": True, "add_eos_token": False,
        "added_tokens_decoder": {str(image_id): {"content": "<image>", "lstrip": False, "normalized": False,
                                                  "rstrip": False, "single_word": False, "special": True}},
    }
    with open(os.path.join(model_dir, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=1)
    with open(os.path.join(model_dir, "chat_template.json"), "w") as f:
        json.dump({"chat_template": LLAVA15_TEMPLATE}, f)

    cases = []
    for text in corpus:
        if "<" in text or "\x00" in text:
            continue  # plain SentencePiece has no added tokens; those go to the LlamaTokenizer part
        ids = sp.encode(text)
        cases.append({"text": text, "ids": ids, "decoded": sp.decode(ids)})
    decode_only = [{"ids": ids, "decoded": sp.decode(ids)}
                   for ids in random_id_sequences(rng, sp.get_piece_size(), 60)]

    # Added token. transformers 5's Llama tokenizer (legacy=False) gives only the text at
    # the start of the input SentencePiece's dummy prefix; text after an added token is
    # encoded without it. (transformers cannot convert tokenizer.model here without
    # protobuf, so the same rule is applied with sentencepiece directly, using a copy of
    # the model with add_dummy_prefix=false.)
    sp_raw = spm.SentencePieceProcessor(model_proto=without_dummy_prefix(model.getvalue()))
    hf_cases = []
    for text in ["<image>", "<image>\nWhat is this?", "USER: <image>\nDescribe it. ASSISTANT:",
                 "a<image>b", " <image> ", "x <image>  y", "<image><image>", "hello <image>",
                 "<image> hello world", "USER: <image>\n日本 😀 ASSISTANT: fine", "<image>  two"]:
        ids, decoded = [], ""
        for i, part in enumerate(text.split("<image>")):
            if i > 0:
                ids.append(image_id)
                decoded += "<image>"
            if part:
                first = i == 0
                part_ids = (sp if first else sp_raw).encode(part)
                ids += part_ids
                decoded += (sp if first else sp_raw).decode(part_ids)
        hf_cases.append({"text": text, "ids": ids, "ids_add_special": [sp.bos_id()] + ids, "decoded": decoded})
    with open(os.path.join(out_dir, "sp_cases.json"), "w", encoding="utf-8") as f:
        json.dump({"vocab_size": sp.get_piece_size(), "image_id": image_id, "cases": cases,
                   "decode_only": decode_only, "added_token_cases": hf_cases}, f, ensure_ascii=True)


CONVERSATIONS = [
    [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Can you describe this image?"}]}],
    [{"role": "user", "content": [{"type": "text", "text": "Hello!"}]}],
    [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is this?"}]},
     {"role": "assistant", "content": [{"type": "text", "text": " A cat on a sofa."}]},
     {"role": "user", "content": [{"type": "text", "text": "What colour is it?"}]}],
    [{"role": "system", "content": [{"type": "text", "text": "You are a helpful assistant."}]},
     {"role": "user", "content": [{"type": "text", "text": "Compare "}, {"type": "image"}, {"type": "text", "text": " and "},
                                  {"type": "image"}, {"type": "text", "text": "."}]}],
    [{"role": "user", "content": [{"type": "text", "text": "Line one\nline two\n\n"}, {"type": "image"}]},
     {"role": "assistant", "content": [{"type": "text", "text": "Réponse: 日本 😀"}]},
     {"role": "user", "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "And these?"}]},
     {"role": "assistant", "content": [{"type": "text", "text": "Two dogs."}]}],
    [{"role": "user", "content": [{"type": "text", "text": ""}]}],
    [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
     {"role": "assistant", "content": [{"type": "text", "text": "c"}, {"type": "text", "text": "d"}]}],
]


def chat_reference(smol_hf, out_dir):
    from transformers import PreTrainedTokenizerFast
    from tokenizers import Tokenizer, models
    # A tokenizer only to host the LLaVA-1.5 template (rendering does not tokenize).
    llava_hf = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"<unk>": 0}, unk_token="<unk>")))
    prompts = []
    for i, conv in enumerate(CONVERSATIONS):
        for gen in (False, True):
            entry = {"conversation": i, "add_generation_prompt": gen}
            if smol_hf is not None:
                entry["smolvlm"] = smol_hf.apply_chat_template(conv, tokenize=False, add_generation_prompt=gen)
            entry["llava15"] = llava_hf.apply_chat_template(conv, tokenize=False, add_generation_prompt=gen,
                                                            chat_template=LLAVA15_TEMPLATE)
            prompts.append(entry)
    with open(os.path.join(out_dir, "chat.json"), "w", encoding="utf-8") as f:
        json.dump({"conversations": CONVERSATIONS, "prompts": prompts, "llava15_template": LLAVA15_TEMPLATE},
                  f, ensure_ascii=True, indent=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--fixtures", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    fixture = os.path.join(args.fixtures, "smolvlm-256m-instruct")
    have_fixture = os.path.exists(os.path.join(fixture, "tokenizer.json"))

    specials = ["<image>", "<end_of_utterance>", "<fake_token_around_image>", "<global-img>",
                "<row_2_col_3>", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|reserved_special_token_5|>"]
    if have_fixture:
        with open(os.path.join(fixture, "tokenizer.json"), encoding="utf-8") as f:
            specials = [t["content"] for t in json.load(f)["added_tokens"]]
    corpus = make_corpus(specials)
    if len(corpus) < 500:
        raise SystemExit(f"corpus has only {len(corpus)} strings")
    with open(os.path.join(args.out, "corpus.json"), "w", encoding="utf-8") as f:
        json.dump(corpus, f, ensure_ascii=True)

    smol_hf = None
    if have_fixture:
        smol_hf = bpe_reference(fixture, corpus, args.out)
    else:
        print(f"note: {fixture} absent; BPE reference not written", file=sys.stderr)
    sp_reference(corpus, args.out)
    chat_reference(smol_hf, args.out)
    print(f"wrote {len(corpus)} corpus strings to {args.out}")


if __name__ == "__main__":
    main()
