"""What the reference scripts share: the test images, the LLaVA-1.5 and Qwen2-VL chat templates,
a Qwen2-like tokenizer, and the opt-in of the real-shapes cases."""
import argparse
import json
import os
import shutil


def real_shapes_case(script, env, size, version):
    """What an opt-in real-shapes script (make_*_real.py) does first: reads its arguments (--out,
    --fixtures, --force), honours the opt-in through the environment variable `env`, and
    reuses a case built before at this `version`. Returns (case_dir, model_dir, marker, stamp)
    with model_dir fresh and empty, or None when there is nothing to do (having said why); the
    script writes `stamp` into `marker` once the case is complete."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--fixtures", default="", help="unused")
    ap.add_argument("--force", action="store_true", help=f"build even without {env}=1")
    args = ap.parse_args()
    if not args.force and os.environ.get(env) != "1":
        print(f"{script}: skipped (opt-in: {size}); set {env}=1 to build it")
        return None
    case_dir = os.path.join(args.out, "real_shapes")
    model_dir = os.path.join(case_dir, "model")
    marker = os.path.join(case_dir, "done.json")
    stamp = {"version": version}
    if os.path.exists(marker) and json.load(open(marker)) == stamp:
        print(f"real_shapes: reusing {case_dir}")
        return None
    shutil.rmtree(case_dir, ignore_errors=True)
    os.makedirs(model_dir)
    return case_dir, model_dir, marker, stamp
# llava-hf/llava-1.5-7b-hf's chat template (chat_template.json): role prefix, images first,
# then text.
LLAVA15_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}"
    "{% endif %}{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}{# Render all text next #}{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}{% endfor %}"
    "{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{% generation %}"
    "{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)


def make_images(seed):
    """Two smooth-ish random images, non-square, larger than one tile after resizing."""
    import numpy as np  # here, so scripts that only need the template need neither package
    from PIL import Image

    rng = np.random.default_rng(seed)

    def img(h, w):
        base = rng.integers(0, 255, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
        im = Image.fromarray(base).resize((w, h), Image.BILINEAR)
        noise = rng.integers(-20, 20, (h, w, 3))
        return Image.fromarray(np.clip(np.asarray(im).astype(int) + noise, 0, 255).astype(np.uint8))
    return img(90, 150), img(140, 70)


# Qwen2-VL's chat template (Qwen/Qwen2-VL-*-Instruct chat_template.json; Qwen2.5-VL's
# chat_template.json is the same text): a default system message when the conversation
# has none, <|vision_start|><|image_pad|><|vision_end|> per image, <|im_end|> after a turn.
QWEN2VL_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: "
    "{% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Qwen2's pre-tokenizer regex (tokenizer.json's Split pattern; transformers' Qwen2Tokenizer).
QWEN2_PRETOKENIZE_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
                           r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

# The added tokens of Qwen2-VL, in the order of their ids right after the BPE vocabulary
# (151643.. in the real one); all special. Qwen2.5-VL adds the QWEN25VL_EXTRA_TOKENS after
# them, not special.
QWEN2VL_SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
]
QWEN25VL_EXTRA_TOKENS = ["<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
                         "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"]


# Qwen3-VL's templates (Instruct and Thinking), as released, without tools and video: no default
# system turn; the Thinking one opens the answer with <think> and renders an earlier answer
# without its reasoning (Qwen3's content.split('</think>')[-1].lstrip('\n')).
def qwen3vl_template(thinking):
    assistant_text = ("{% set t = content['text'] if content['text'] is defined else content %}"
                      "{% if '</think>' in t %}{{ t.split('</think>')[-1].lstrip('\n') }}{% else %}{{ t }}{% endif %}"
                      if thinking else "{{ content['text'] }}")
    assistant_string = ("{% if '</think>' in message['content'] %}"
                        "{{ message['content'].split('</think>')[-1].lstrip('\n') }}"
                        "{% else %}{{ message['content'] }}{% endif %}" if thinking else "{{ message['content'] }}")
    return (
        "{% set image_count = namespace(value=0) %}"
        "{% for message in messages %}"
        "<|im_start|>{{ message['role'] }}\n"
        "{% if message['content'] is string %}"
        "{% if message['role'] == 'assistant' %}" + assistant_string + "{% else %}{{ message['content'] }}{% endif %}"
        "{% else %}{% for content in message['content'] %}"
        "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
        "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: "
        "{% endif %}<|vision_start|><|image_pad|><|vision_end|>"
        "{% elif 'text' in content %}"
        "{% if message['role'] == 'assistant' %}" + assistant_text + "{% else %}{{ content['text'] }}{% endif %}"
        "{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n" + ("<think>\n" if thinking else "") + "{% endif %}")


QWEN3VL_EXTRA_TOKENS = QWEN25VL_EXTRA_TOKENS + ["<tool_response>", "</tool_response>", "<think>", "</think>"]


def qwen2_training_text():
    """The small, fixed corpus the test tokenizer's merges are learned from."""
    import random

    rng = random.Random(20250128)
    words = ("the a an of to in is on for with what where how many which who describe image picture photo "
             "document chart table receipt total price date name text line box label person car dog cat tree "
             "sky road left right top bottom red green blue white black small large there are this that it "
             "answer question show me find outline each point locate coordinates json bbox_2d user assistant "
             "system You are helpful").split()
    words += ["I'm", "don't", "it's", "we've", "they'll", "she'd", "you're"]
    more = ["naïve café résumé Zürich straße", "日本語のテキストです。", "中文文本测试，图片中有什么？", "한국어 텍스트",
            "Привет, мир!", "Ελληνικά", "😀 🎉 👍", '{"bbox_2d": [12, 34, 56, 78], "label": "cat"}',
            "(120,45),(380,290)", "```json\n[\n\t{}\n]\n```", "3.14 2024-06-11 1,000,000 $9.99 50%"]
    lines = []
    for _ in range(3000):
        n = rng.randint(2, 14)
        s = " ".join(rng.choice(words) for _ in range(n))
        if rng.random() < 0.3:
            s = s.capitalize()
        s += rng.choice([".", "?", "!", ",", "", "\n", ":\n", " 123", " 42%"])
        lines.append(s)
    lines += more * 20
    return lines


def write_qwen2_tokenizer(folder, variant="qwen2-vl", vocab_size=1000):
    """Writes a Qwen2-like byte-level BPE into `folder`: tokenizer.json (Qwen2's NFC normalizer,
    its Split regex then ByteLevel without regex, the ByteLevel decoder, merges trained here on a
    small fixed corpus), tokenizer_config.json and chat_template.json as Qwen2-VL's (variant
    "qwen2-vl"), Qwen2.5-VL's ("qwen2.5-vl": eight more added tokens, not special) or Qwen3-VL's
    ("qwen3-vl", "qwen3-vl-thinking": four more, <think> and </think> among them, and the
    templates of qwen3vl_template).
    Deterministic. Returns {token: id} for the added tokens; the last id + 1 is the vocabulary
    size (config.json's vocab_size may be larger, as the real checkpoints' is)."""
    import json
    import os

    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    if variant not in ("qwen2-vl", "qwen2.5-vl", "qwen3-vl", "qwen3-vl-thinking"):
        raise ValueError(f"unknown variant {variant!r}")
    tok = Tokenizer(models.BPE(unk_token=None, continuing_subword_prefix="", end_of_word_suffix="",
                               fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tok.post_processor = None
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    tok.train_from_iterator(qwen2_training_text(), trainer=trainer)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in QWEN2VL_SPECIAL_TOKENS])
    extra = (QWEN3VL_EXTRA_TOKENS if variant.startswith("qwen3") else
             QWEN25VL_EXTRA_TOKENS if variant == "qwen2.5-vl" else [])
    template = qwen3vl_template(variant.endswith("thinking")) if variant.startswith("qwen3") else QWEN2VL_TEMPLATE
    if extra:
        tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in extra])
    os.makedirs(folder, exist_ok=True)
    tok.save(os.path.join(folder, "tokenizer.json"))

    ids = {t: tok.token_to_id(t) for t in QWEN2VL_SPECIAL_TOKENS + extra}
    decoder = {str(ids[t]): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                             "single_word": False, "special": t in QWEN2VL_SPECIAL_TOKENS} for t in ids}
    config = {
        "add_prefix_space": False, "added_tokens_decoder": decoder,
        "additional_special_tokens": QWEN2VL_SPECIAL_TOKENS[1:], "bos_token": None,
        "chat_template": template, "clean_up_tokenization_spaces": False, "eos_token": "<|im_end|>",
        "errors": "replace", "model_max_length": 32768, "pad_token": "<|endoftext|>",
        "split_special_tokens": False, "tokenizer_class": "Qwen2Tokenizer", "unk_token": None,
    }
    with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2, ensure_ascii=False)
    with open(os.path.join(folder, "chat_template.json"), "w", encoding="utf-8") as f:
        json.dump({"chat_template": template}, f, indent=2, ensure_ascii=False)
    return ids


# What explanations compare an answer with (engine/explain/ImageReliance): the image made its
# mean colour, or a rectangle of it greyed, scored by teacher forcing.
OCCLUSION_GREY = 128


def mean_colour_image(im):
    """Every pixel the image's mean colour, per channel, rounded half up."""
    import numpy as np
    from PIL import Image

    a = np.asarray(im.convert("RGB"), dtype=np.float64).reshape(-1, 3)
    mean = np.floor(a.mean(0) + 0.5).astype(np.uint8)
    return Image.new("RGB", im.size, tuple(int(v) for v in mean))


def occluded_image(im, rect):
    """The image with rect = (x, y, w, h) filled with mid grey."""
    import numpy as np
    from PIL import Image

    a = np.array(im.convert("RGB"))
    x, y, w, h = rect
    a[y:y + h, x:x + w] = OCCLUSION_GREY
    return Image.fromarray(a)


def occlusion_rect(im):
    """The rectangle the reference occludes: the middle of the image, a third of each side."""
    w, h = im.size
    return (w // 3, h // 3, max(1, w // 3), max(1, h // 3))


def answer_log_probs(logits, prompt_len, answer):
    """log p(answer[i] | prompt, answer[:i]) from the logits [T + n, vocab] of one pass over the
    prompt and the answer."""
    import torch

    rows = logits[prompt_len - 1:prompt_len - 1 + len(answer)].float()
    return torch.log_softmax(rows, -1).gather(1, answer.long()[:, None])[:, 0].contiguous()


def vision_rollout(attentions):
    """Attention rollout (Abnar & Zuidema 2020) over a ViT's per-layer attentions [N, H, S, S]:
    heads averaged, 0.5 A + 0.5 I, rows renormalised, multiplied from the first layer up."""
    import numpy as np

    rollout = None
    for a in attentions:
        a = a.astype(np.float64).mean(1)
        a = 0.5 * a + 0.5 * np.eye(a.shape[-1])
        a = a / a.sum(-1, keepdims=True)
        rollout = a if rollout is None else a @ rollout
    return rollout.astype(np.float32)


def pip_fetched(spec, module, name):
    """A pinned package the project's environment does not hold (pip `spec`, importable as
    `module`), fetched once with pip --no-deps into ~/.cache/vqa-studio/<name>/site and put on
    sys.path, so the environment (and its hash) stays as it is. Returns None when it is there,
    else the reason it could not be fetched (the caller skips what needs it, saying so)."""
    import subprocess
    import sys
    site = os.path.join(os.path.expanduser("~"), ".cache", "vqa-studio", name, "site")
    if not os.path.exists(os.path.join(site, module.split(".")[0])):
        part = f"{site}.part-{os.getpid()}"
        try:
            os.makedirs(os.path.dirname(site), exist_ok=True)
            shutil.rmtree(part, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "pip", "-q", "--disable-pip-version-check", "install",
                            "--no-deps", "--target", part, spec], check=True, timeout=600, stdout=sys.stderr)
            shutil.rmtree(site, ignore_errors=True)  # a broken earlier copy
            os.replace(part, site)
        except (subprocess.SubprocessError, OSError) as e:
            shutil.rmtree(part, ignore_errors=True)
            if not os.path.exists(os.path.join(site, module.split(".")[0])):  # another run may have made it
                return f"could not fetch {spec} with pip ({e})"
    if site not in sys.path:
        sys.path.insert(0, site)
    return None


def bytes_to_unicode():
    """GPT-2's byte -> printable character table, which byte-level BPE files are written in."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))
