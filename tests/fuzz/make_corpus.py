"""Writes the fuzzers' seed corpora into tests/fuzz/corpus/<target>/ (committed; rerun only
to change them). Tiny generated files, fixed seeds, nothing fetched:
  fuzz_image        PNG (gray, RGBA, 16-bit, EXIF-rotated), JPEG (plain, CMYK, EXIF), GIF
                    (animated, transparent), BMP, WebP (lossless, lossy), TIFF, PPM
  fuzz_tokenizer    small byte-level BPE tokenizer.json files (trained here on a few
                    sentences, with added and special tokens), each followed by text
  fuzz_safetensors  files of several dtypes, with metadata, empty tensors
  fuzz_grounding    answers naming boxes: Qwen2.5-VL JSON (fenced, one object, points,
                    nested, cut off), Qwen2-VL <|box_start|> boxes, Unicode labels
  fuzz_eval         a prediction and its references a line each: captions and short answers
                    from tests/reference/ptb_cases.txt (abbreviations, quotes, numbers, Unicode)
"""
import io
import json
import os
import sys

import numpy as np
from PIL import Image

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    os.makedirs(os.path.join(root, target), exist_ok=True)
    with open(os.path.join(root, target, name), "wb") as f:
        f.write(data)


def encode(img, fmt, **kw):
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def images():
    rng = np.random.default_rng(1)
    rgb = Image.fromarray(rng.integers(0, 256, (6, 9, 3), dtype=np.uint8), "RGB")
    rgba = Image.fromarray(rng.integers(0, 256, (5, 4, 4), dtype=np.uint8), "RGBA")
    gray = Image.fromarray(rng.integers(0, 256, (4, 7), dtype=np.uint8), "L")
    exif = Image.Exif()
    exif[0x0112] = 6
    write("fuzz_image", "rgb.png", encode(rgb, "PNG"))
    write("fuzz_image", "rgba.png", encode(rgba, "PNG"))
    write("fuzz_image", "gray.png", encode(gray, "PNG"))
    write("fuzz_image", "gray16.png", encode(Image.fromarray(rng.integers(0, 65535, (3, 5), dtype=np.uint16)), "PNG"))
    write("fuzz_image", "exif6.png", encode(rgb, "PNG", exif=exif.tobytes()))
    write("fuzz_image", "plain.jpg", encode(rgb, "JPEG", quality=80))
    write("fuzz_image", "exif6.jpg", encode(rgb, "JPEG", quality=80, exif=exif.tobytes()))
    write("fuzz_image", "cmyk.jpg", encode(rgb.convert("CMYK"), "JPEG", quality=80))
    write("fuzz_image", "gray.jpg", encode(gray, "JPEG", quality=80))
    frames = [Image.fromarray(rng.integers(0, 4, (6, 8), dtype=np.uint8), "P") for _ in range(2)]
    for f in frames:
        f.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 756)
    write("fuzz_image", "anim.gif", encode(frames[0], "GIF", save_all=True, append_images=frames[1:], transparency=2, duration=50, loop=0))
    write("fuzz_image", "interlaced.gif", encode(frames[1], "GIF", interlace=True))
    write("fuzz_image", "x.bmp", encode(rgb, "BMP"))
    write("fuzz_image", "lossless.webp", encode(rgb, "WEBP", lossless=True))
    write("fuzz_image", "lossy.webp", encode(rgb, "WEBP", quality=50))
    write("fuzz_image", "x.tiff", encode(rgb, "TIFF"))
    write("fuzz_image", "x.ppm", encode(rgb, "PPM"))


def tokenizers():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers, AddedToken

    text = ["A cat sits on the mat.", "Ünïcödé and emoji 🙂 work too", "1234 numbers, 'quotes' and\ttabs\n",
            "User: what is in the image? Assistant: a dog"]
    for name, split_digits in (("gpt2", False), ("smollm", True)):
        tok = Tokenizer(models.BPE())
        pre = [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
        if split_digits:
            pre = [pre_tokenizers.Digits(individual_digits=True)] + pre
        tok.pre_tokenizer = pre_tokenizers.Sequence(pre)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      special_tokens=["<|endoftext|>", "<image>"], show_progress=False)
        tok.train_from_iterator(text, trainer)
        tok.add_tokens([AddedToken("<fake_token_around_image>", normalized=False)])
        spec = json.dumps(json.loads(tok.to_str()), separators=(",", ":")).encode()
        for i, sample in enumerate([text[0], text[1] + "<image>" + text[3], "\xff\xfe broken \xc3"]):
            payload = sample.encode("utf-8", "surrogateescape") if isinstance(sample, str) else sample
            if i == 2:
                payload = b"\xff\xfe broken \xc3 <|endoftext|>"
            write("fuzz_tokenizer", f"{name}-{i}", spec + b"\n@@TEXT@@\n" + payload)


def safetensors():
    import torch
    from safetensors.torch import save

    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, generator=g)
    write("fuzz_safetensors", "f32.safetensors", save({"a": x, "b": torch.arange(4, dtype=torch.float32)}))
    write("fuzz_safetensors", "mixed.safetensors",
          save({"bf16": x.to(torch.bfloat16), "f16": x.to(torch.float16), "i64": torch.arange(3),
                "u8": torch.tensor([1, 2, 3], dtype=torch.uint8), "bool": torch.tensor([True, False])},
               metadata={"format": "pt"}))
    write("fuzz_safetensors", "empty-tensor.safetensors", save({"e": torch.zeros(0, 4), "s": torch.tensor(1.5)}))
    write("fuzz_safetensors", "no-tensors.safetensors", save({}))


def grounding():
    answers = {
        "json-list": '```json\n[\n\t{"bbox_2d": [50, 25, 150, 125], "label": "dog"},\n'
                     '\t{"bbox_2d": [300, 100, 450, 240], "label": "cat"}\n]\n```',
        "json-one": '{"label": "mug", "bbox_2d": [10.5, 20, 30, 40.25], "attrs": {"color": "red"}}',
        "json-point": '[{"point_2d": [25, 12], "label": "nose"}]',
        "json-nested": '{"objects": [{"bbox_2d": ["1", "2", "3", "4"], "label": "a"}, {"bbox_2d": [5, 6, 7, 8]}]}',
        "json-cut": '```json\n[{"bbox_2d": [1, 2, 3, 4], "label": "a"}, {"bbox_2d": [5, 6, 7',
        "json-outside": '[{"bbox_2d": [-10, 20, 600, 100], "label": "wide"}, {"bbox_2d": [30, 20, 10, 5]}]',
        "json-unicode": '[{"bbox_2d": [0, 0, 10, 10], "label": "\\u732b \\ud83d\\ude00 狗"}]',
        "qwen2-boxes": "The <|object_ref_start|>red car<|object_ref_end|><|box_start|>(100,250),(500,750)"
                       "<|box_end|> <|box_start|>(0,0),(1000,1000)<|box_end|> next to <|box_start|>(9,9),(10",
    }
    for name, text in answers.items():
        write("fuzz_grounding", name, text.encode("utf-8"))


def evaluation():
    cases = os.path.join(os.path.dirname(root), "..", "reference", "ptb_cases.txt")
    with open(cases, encoding="utf-8", newline="") as f:
        lines = [line.rstrip("\n") for line in f]
    for i in range(0, 240, 6):  # a prediction and five references
        write("fuzz_eval", f"set-{i // 6:02d}", "\n".join(lines[i:i + 6]).encode("utf-8"))
    write("fuzz_eval", "vqa-numbers", "Two.\n2\n2\ntwo\n1,000\nnone\n0\n3.5 m.".encode("utf-8"))


if __name__ == "__main__":
    images()
    tokenizers()
    safetensors()
    grounding()
    evaluation()
    for target in sorted(os.listdir(root)):
        files = os.listdir(os.path.join(root, target))
        size = sum(os.path.getsize(os.path.join(root, target, f)) for f in files)
        print(f"{target}: {len(files)} files, {size} bytes", file=sys.stderr)
