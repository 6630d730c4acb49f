#!/usr/bin/env python3
"""Speed of VQA Studio's engine against the reference (transformers) and llama.cpp.

Run it with the Python that has torch and transformers (the reference venv):

  python tests/bench/run_bench.py [--build build] [--models 256m,500m]
      [--dtypes float32,bfloat16] [--tokens 128] [--threads 2] [--skip-llama]
  python tests/bench/run_bench.py --models qwen2.5-vl-3b --dtypes bfloat16 --tokens 32 --skip-llama
  python tests/bench/run_bench.py --models qwen3-vl-2b --dtypes float32,bfloat16,int8,int4 --tokens 32
  python tests/bench/run_bench.py --models 256m,500m --dtypes float32,bfloat16,int8,int4
  python tests/bench/run_bench.py --models qwen2.5-vl-3b --dtypes bfloat16,int4,awq --tokens 32 \
      --skip-llama --skip-transformers

The dtypes int8 and int4 load the bf16 checkpoint with the decoder's weights quantized on load
(Q8_0 / Q4_0 blocks; the token embedding and lm_head in Q8_0), beside llama.cpp's GGUF of the
same weights quantized the same way with the `gguf` package (q8_0 / q4_0 linears, q8_0 token
embedding and output). transformers has no such precision and is not run for them. For every
dtype it also measures the error of each engine's logits against ours in float32 (which
equals transformers in float32, tests/models): the relative RMS error and the top-1 agreement
over 64 teacher-forced positions of one fixed token sequence (`vqa logits`, and llama.cpp with
all logits on).

The second form measures Qwen2.5-VL-3B-Instruct's shapes (the whole 36-layer decoder and
32-block vision tower, random weights, bf16: about 7.5 GB on disk and in memory per engine)
against transformers, with the project's Qwen2-like test tokenizer; its results go to a
section of their own in docs/BENCHMARKS.md. The third measures Qwen3-VL-2B-Instruct's shapes
the same way (about 4.3 GB in bf16), and llama.cpp on its text decoder (the qwen3
architecture, converted here). llama.cpp's side converts SmolLM and Qwen3 decoders. The dtype
awq (Qwen models) makes an AWQ checkpoint of the bf16 one as AutoAWQ packs it (4 bits, groups
of 128, the rest float16) and runs it as users run the published ones (--dtype auto).

It writes random-weight SmolVLM checkpoints with the real configurations (256M from the
fixture, 500M from the values below), one 512x512 image and a fixed question, and measures
for each: image preprocessing, vision encoding, prefill, time to first token, decode
tokens/second (128 forced tokens, EOS ignored) and peak resident memory, each engine in a
subprocess of its own (peak RSS from wait4). Everything runs on the same machine, in the same
run, with the same threads and dtype. llama.cpp (llama-cpp-python, built from source) runs
the text decoder alone, converted to GGUF, at the same prompt length. Results go to
docs/benchmarks-<threads>t-<cpu>.json and docs/BENCHMARKS.md: one section per model set,
thread count and kind of CPU (its name and widest instruction set, cpu_kind below), so a run
on another CPU adds its own section instead of replacing the one measured elsewhere.

For the SmolVLM shapes it also prints the targets every kind of CPU is held to (first token,
prefill and decode ratios, what attention capture costs) and the vision tower's arithmetic
rate per core against the core's peak, which tests/bench/peak_flops.cpp measures (float32 FMA,
bfloat16 dot products, float16 FMA and AMX bfloat16 tiles, compiled with the system's C++ compiler
on first use).

The llama.cpp side lives in its own venv keyed on the hash of requirements.txt, under
~/.cache/vqa-studio/, so CI never pays for building it.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from bench_report import (AWQ, BF16_ONLY, ERROR_POSITIONS, GGUF_TYPES, OURS_ONLY, QUANTIZED,  # noqa: E402
                          QUESTION, QWEN_HEADINGS, QWEN_MODELS, load_average, machine_info, markdown,
                          run_kind, slug_of, write_markdown)
CACHE = os.path.expanduser("~/.cache/vqa-studio")
FOLLOW_UP = "And what colours do you see?"

# SmolVLM-500M-Instruct: the 256M's vision tower and connector around SmolLM2-360M. Untied
# lm_head like the 256M (its config says tie_word_embeddings false at both levels).
TEXT_500M = {"hidden_size": 960, "intermediate_size": 2560, "num_hidden_layers": 32,
             "num_attention_heads": 15, "num_key_value_heads": 5, "head_dim": 64,
             "vocab_size": 49280, "max_position_embeddings": 8192, "rms_norm_eps": 1e-5,
             "tie_word_embeddings": False}
# rope_theta is 100000 in both (transformers 5 keeps it in rope_parameters), so the 256M's
# value stands.

# A 7B-class decoder: LLaVA-1.5-7B's language model (Llama-2-7B: 32 layers of 4096, 32 heads
# without grouping, 11008 in the MLP, rope theta 10000) behind the 256M's vision tower and
# connector, with SmolVLM's vocabulary so the fixture's tokenizer serves. Written in bf16 only
# (float32 would not fit this machine's memory while it is made); transformers and the error
# measurement are not run for it, only decode against llama.cpp.
TEXT_7B = {"hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
           "num_attention_heads": 32, "num_key_value_heads": 32, "head_dim": 128,
           "vocab_size": 49280, "max_position_embeddings": 4096, "rms_norm_eps": 1e-5,
           "tie_word_embeddings": False}


def log(*a):
    print("[bench]", *a, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- helpers

def run_measured(cmd, stdin_text=None, env=None):
    """Runs cmd; returns (returncode, stdout, stderr, peak RSS in MiB of that child alone).
    Files written just before (checkpoints, GGUFs: gigabytes) are flushed to disk first, so
    that their write-back cannot run beside a measurement."""
    os.sync()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.TemporaryFile() as inp:
        if stdin_text is not None:
            inp.write(stdin_text.encode())
            inp.seek(0)
        p = subprocess.Popen(cmd, stdin=inp, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return p.returncode, out.read().decode(), err.read().decode(), usage.ru_maxrss / 1024.0


def read_through(path):
    """Reads a file once, so that an engine that maps it (llama.cpp maps its GGUF) finds it in
    the page cache, as ours finds its checkpoint after its first question: a GGUF written by
    an earlier run on a fresh machine is otherwise read from disk inside the timed prefill."""
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def dir_bytes(path):
    return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path)
               if f.endswith(".safetensors"))


def write_preprocessor_config(fixtures, out):
    """preprocessor_config.json saying what processor_config.json says (one 512-pixel tile),
    so no reader can pick the fixture's 2048-pixel setting instead."""
    cfg = json.load(open(os.path.join(fixtures, "preprocessor_config.json")))
    cfg["size"] = {"longest_edge": 512}
    cfg["max_image_size"] = {"longest_edge": 512}
    path = os.path.join(out, "preprocessor_config.json")
    if os.path.exists(path):
        os.chmod(path, 0o644)
    json.dump(cfg, open(path, "w"), indent=2)


def worker_make_checkpoint(args):
    import torch
    from transformers import AutoProcessor, Idefics3Config, Idefics3ForConditionalGeneration

    torch.set_num_threads(args.threads)
    fixtures = os.path.join(args.fixtures, "smolvlm-256m-instruct")
    todo = []
    for dtype in args.dtypes.split(","):
        out = os.path.join(args.out, dtype)
        if os.path.exists(os.path.join(out, "done")):
            write_preprocessor_config(fixtures, out)
        else:
            todo.append(dtype)
    if not todo:
        return {}
    cfg = Idefics3Config.from_pretrained(fixtures)
    text = {"500m": TEXT_500M, "7b": TEXT_7B}.get(args.config_name, {})
    for k, v in text.items():
        setattr(cfg.text_config, k, v)
    if args.config_name == "7b":
        cfg.text_config.rope_parameters = {"rope_type": "default", "rope_theta": 10000.0}
    cfg.tie_word_embeddings = False
    cfg.text_config.tie_word_embeddings = False
    torch.manual_seed(7)
    if args.config_name in BF16_ONLY:
        if todo != ["bfloat16"]:
            raise SystemExit(f"{args.config_name} is written in bfloat16 only")
        torch.set_default_dtype(torch.bfloat16)  # made in bf16: float32 would not fit
        model = Idefics3ForConditionalGeneration(cfg).eval()
    else:
        model = Idefics3ForConditionalGeneration(cfg).float().eval()
    proc = AutoProcessor.from_pretrained(fixtures, image_seq_len=64)
    # One 512-pixel tile for a 512x512 image (SmolVLM's "N=1" setting): the default
    # longest_edge of 2048 would make it 17 tiles.
    proc.image_processor.size = {"longest_edge": 512}
    proc.image_processor.max_image_size = {"longest_edge": 512}
    # float32 first: converting the model to bfloat16 is in place.
    for dtype in sorted(todo, key=lambda d: d != "float32"):
        out = os.path.join(args.out, dtype)
        shutil.rmtree(out, ignore_errors=True)
        m = model.to(getattr(torch, dtype))
        m.config.dtype = getattr(torch, dtype)
        m.save_pretrained(out)
        proc.save_pretrained(out)
        for f in os.listdir(fixtures):
            if f not in {"config.json", "README.md", "NOTICE"} and not os.path.exists(
                    os.path.join(out, f)):
                shutil.copyfile(os.path.join(fixtures, f), os.path.join(out, f))
        write_preprocessor_config(fixtures, out)
        open(os.path.join(out, "done"), "w").write("ok")
        log(f"wrote {out} ({dir_bytes(out) / 2**20:.0f} MiB)")
    return {}


# Qwen2.5-VL-3B-Instruct's configuration (its config.json on the Hub, transformers-5 layout).
QWEN25VL_3B_TEXT = {"vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 11008,
                    "num_hidden_layers": 36, "num_attention_heads": 16, "num_key_value_heads": 2,
                    "rms_norm_eps": 1e-6, "max_position_embeddings": 128000, "hidden_act": "silu",
                    "tie_word_embeddings": True,
                    "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0,
                                        "mrope_section": [16, 24, 24]}}
QWEN25VL_3B_VISION = {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16,
                      "in_channels": 3, "out_hidden_size": 2048, "patch_size": 14, "spatial_merge_size": 2,
                      "temporal_patch_size": 2, "window_size": 112, "fullatt_block_indexes": [7, 15, 23, 31],
                      "hidden_act": "silu", "tokens_per_second": 2}
# Qwen3-VL-2B-Instruct: the 24-block vision tower with DeepStack levels from blocks 5, 11 and
# 17, the 28-layer Qwen3 decoder (q/k norms, interleaved M-RoPE), tied embeddings.
QWEN3VL_2B_TEXT = {"vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 6144, "num_hidden_layers": 28,
                   "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128, "rms_norm_eps": 1e-6,
                   "max_position_embeddings": 262144, "hidden_act": "silu", "tie_word_embeddings": True,
                   "rope_parameters": {"rope_type": "default", "rope_theta": 5000000.0,
                                       "mrope_section": [24, 20, 20], "mrope_interleaved": True}}
QWEN3VL_2B_VISION = {"depth": 24, "hidden_size": 1024, "intermediate_size": 4096, "num_heads": 16,
                     "in_channels": 3, "out_hidden_size": 2048, "patch_size": 16, "spatial_merge_size": 2,
                     "temporal_patch_size": 2, "num_position_embeddings": 2304,
                     "deepstack_visual_indexes": [5, 11, 17], "hidden_act": "gelu_pytorch_tanh"}

# Quantized precisions: run from the bf16 checkpoint; llama.cpp's GGUF type for each dtype.
# An AWQ checkpoint (4 bits, groups of 128) made from the bf16 one, as AutoAWQ stores it; it
# runs at --dtype auto (its own 4 bits as q4_1, 8-bit embeddings).
AWQ_GROUP = 128
# Precisions transformers has no counterpart of: ours alone, compared with its float32.


def stored_dtype(dtype):
    """The checkpoint a dtype runs from: quantized weights are made from the bf16 one."""
    return "bfloat16" if dtype in QUANTIZED else "float32" if dtype == "fast" else dtype


def worker_make_awq(args):
    """The bf16 checkpoint at args.model with its decoder's linears quantized and packed as
    AutoAWQ does (tests/reference/make_awq.py: 4 bits, zero points, groups of AWQ_GROUP), the
    other tensors in float16 as the released AWQ checkpoints keep them, into args.out."""
    import torch
    from safetensors.torch import load_file, save_file
    sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
    from make_awq import pack, pseudo_quantize

    torch.set_num_threads(args.threads)
    if os.path.exists(os.path.join(args.out, "done")):
        return {}
    shutil.rmtree(args.out, ignore_errors=True)
    os.makedirs(args.out)
    linear = re.compile(r"\.layers\.\d+\.(self_attn|mlp)\.\w+_proj\.weight$")
    for f in sorted(os.listdir(args.model)):
        src = os.path.join(args.model, f)
        if f.endswith(".safetensors"):
            out = {}
            for name, t in load_file(src).items():
                if linear.search(name) and "visual" not in name:
                    q, zeros, scales = pseudo_quantize(t.float(), AWQ_GROUP)
                    stem = name[: -len(".weight")]
                    out[stem + ".qweight"] = pack(q.t().contiguous().numpy())
                    out[stem + ".qzeros"] = pack(zeros.t().contiguous().numpy())
                    out[stem + ".scales"] = scales.t().contiguous()
                else:
                    out[name] = t.half() if t.is_floating_point() else t
            save_file(out, os.path.join(args.out, f), metadata={"format": "pt"})
        elif f.endswith(".index.json"):
            index = json.load(open(src))
            index["weight_map"] = {
                (k[: -len(".weight")] + tail if linear.search(k) and "visual" not in k else k): v
                for k, v in index["weight_map"].items()
                for tail in ([".qweight", ".qzeros", ".scales"] if linear.search(k) and "visual" not in k else [""])}
            json.dump(index, open(os.path.join(args.out, f), "w"))
        elif f == "config.json":
            config = json.load(open(src))
            config["dtype"] = "float16"
            config["quantization_config"] = {"quant_method": "awq", "bits": 4, "group_size": AWQ_GROUP,
                                             "version": "gemm", "zero_point": True,
                                             "modules_to_not_convert": ["visual"]}
            json.dump(config, open(os.path.join(args.out, f), "w"), indent=2)
        elif f != "done" and os.path.isfile(src):
            shutil.copy(src, os.path.join(args.out, f))
    open(os.path.join(args.out, "done"), "w").write("ok")
    log(f"wrote {args.out} ({dir_bytes(args.out) / 2**20:.0f} MiB)")
    return {}


def error_ids():
    """The fixed teacher-forced sequence of the error measurement: BOS, then random ids."""
    import random
    rng = random.Random(0)
    return [1] + [rng.randrange(100, 40000) for _ in range(ERROR_POSITIONS - 1)]


def logits_error(logits, reference):
    """Relative RMS error and top-1 agreement of [positions, vocab] logits against a reference."""
    import numpy as np
    a, r = np.asarray(logits, np.float64), np.asarray(reference, np.float64)
    return {"relative_rms": float(np.sqrt(((a - r) ** 2).mean() / (r ** 2).mean())),
            "top1_agreement": float((a.argmax(-1) == r.argmax(-1)).mean())}


def qwen_classes(name):
    """The reference's config and model classes of a Qwen benchmark model."""
    import transformers
    if name == "qwen3-vl-2b":
        return transformers.Qwen3VLConfig, transformers.Qwen3VLForConditionalGeneration
    return transformers.Qwen2_5_VLConfig, transformers.Qwen2_5_VLForConditionalGeneration


def worker_make_qwen(args):
    """A random Qwen2.5-VL-3B- or Qwen3-VL-2B-shaped checkpoint in bf16 with the project's
    Qwen-like test tokenizer and chat template (tests/reference/reference_common.py); the
    special token ids in config.json are the tokenizer's, the vocabulary keeps the real size."""
    import torch
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
    from reference_common import write_qwen2_tokenizer

    torch.set_num_threads(args.threads)
    out = os.path.join(args.out, "bfloat16")
    if os.path.exists(os.path.join(out, "done")):
        return {}
    shutil.rmtree(out, ignore_errors=True)
    qwen3 = args.config_name == "qwen3-vl-2b"
    added = write_qwen2_tokenizer(out, "qwen3-vl" if qwen3 else "qwen2.5-vl")
    ids = dict(image_token_id=added["<|image_pad|>"], video_token_id=added["<|video_pad|>"],
               vision_start_token_id=added["<|vision_start|>"], vision_end_token_id=added["<|vision_end|>"])
    text = dict(QWEN3VL_2B_TEXT if qwen3 else QWEN25VL_3B_TEXT, bos_token_id=added["<|endoftext|>"],
                eos_token_id=added["<|im_end|>"])
    vision = dict(QWEN3VL_2B_VISION if qwen3 else QWEN25VL_3B_VISION)
    if args.text_layers:  # the whole vision tower, the decoder cut (tests/bench/vision_tower.py)
        text["num_hidden_layers"] = args.text_layers
    if args.qwen_layers:  # a quick check of the script, not a measurement
        text["num_hidden_layers"] = vision["depth"] = args.qwen_layers
        if qwen3:
            vision["deepstack_visual_indexes"] = list(range(min(3, args.qwen_layers)))
        else:
            vision["fullatt_block_indexes"] = [args.qwen_layers - 1]
    config_class, model_class = qwen_classes(args.config_name)
    cfg = config_class(text_config=text, vision_config=vision, tie_word_embeddings=True, **ids)
    torch.manual_seed(7)
    torch.set_default_dtype(torch.bfloat16)
    model = model_class(cfg).eval()
    torch.set_default_dtype(torch.float32)
    model.config.dtype = torch.bfloat16
    model.save_pretrained(out, max_shard_size="2GB")
    if qwen3:  # Qwen3-VL's processor: 16-pixel patches, mean and std 0.5, its pixel bounds
        Qwen2VLImageProcessorPil(min_pixels=65536, max_pixels=16777216, patch_size=16, image_mean=[0.5] * 3,
                                 image_std=[0.5] * 3).save_pretrained(out)
    else:
        Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=28 * 28 * 1280).save_pretrained(out)
    open(os.path.join(out, "done"), "w").write("ok")
    log(f"wrote {out} ({dir_bytes(out) / 2**20:.0f} MiB)")
    return {}


def make_image(path):
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (65, 65, 3), dtype=np.uint8)
    im = Image.fromarray(base).resize((512, 512), Image.BILINEAR)
    im.save(path)


# ---------------------------------------------------------------------- transformers

def worker_transformers(args):
    if args.config_name in QWEN_MODELS:
        return worker_transformers_qwen(args)
    import torch
    from PIL import Image
    from transformers import AutoProcessor, Idefics3ForConditionalGeneration
    from transformers.cache_utils import DynamicCache

    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    device = torch.device(args.device)

    def now():  # a GPU's work is asynchronous: the clock is read once it is done
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter()

    t = now()
    model = Idefics3ForConditionalGeneration.from_pretrained(args.model, dtype=dtype).eval().to(device)
    proc = AutoProcessor.from_pretrained(args.model)
    load_s = now() - t
    image = Image.open(args.image).convert("RGB")
    conv = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]
    res = {"load_ms": load_s * 1e3}

    def first_token():
        t0 = now()
        text = proc.apply_chat_template(conv, add_generation_prompt=True)
        inputs = proc(text=text, images=[[image]], return_tensors="pt").to(device)
        t1 = now()
        encoded = model.model.get_image_features(inputs["pixel_values"].to(dtype),
                                                 inputs["pixel_attention_mask"], return_dict=True)
        t2 = now()
        cache = DynamicCache(config=model.config)
        # The encoded image goes in as generate() would pass it: not encoded again.
        out = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                    mm_encoder_outputs={"image": encoded}, past_key_values=cache,
                    use_cache=True, logits_to_keep=1)
        tok = int(out.logits[0, -1].argmax())
        t3 = now()
        return inputs, cache, tok, (t0, t1, t2, t3)

    with torch.inference_mode():
        # Like ours: the first after loading (cold), then the steady state (warm: medians).
        _, _, _, (t0, t1, t2, t3) = first_token()
        res.update(cold_preprocess_ms=(t1 - t0) * 1e3, cold_encode_ms=(t2 - t1) * 1e3,
                   cold_prefill_ms=(t3 - t2) * 1e3, cold_first_token_ms=(t3 - t0) * 1e3)
        runs = []
        for _ in range(WARM_RUNS):
            inputs, cache, tok, times = first_token()
            runs.append(times)
        t3 = runs[-1][3]
        n = inputs["input_ids"].shape[1]
        ids = torch.tensor([[tok]], device=device)
        # The decode loop generate() runs, without its logits processors: greedy, cache reused.
        for step in range(args.tokens - 1):
            out = model(input_ids=ids, past_key_values=cache, use_cache=True,
                        cache_position=torch.tensor([n + step], device=device), logits_to_keep=1)
            ids = out.logits[:, -1].argmax(-1, keepdim=True)
        t4 = now()
    preprocess, encode, prefill, first = median_phases(runs)
    res.update(preprocess_ms=preprocess, encode_ms=encode, prefill_ms=prefill, first_token_ms=first,
               decode_ms=(t4 - t3) * 1e3, prompt_tokens=n, new_tokens=args.tokens,
               decode_tokens_per_second=(args.tokens - 1) / (t4 - t3))
    return res


def worker_transformers_qwen(args):
    """The same measurements for a Qwen2.5-VL or Qwen3-VL checkpoint: the prompt built as their
    processors build it (the chat template's <|image_pad|> expanded to one per merged patch)."""
    import torch
    from PIL import Image
    from transformers import AutoTokenizer
    from transformers.cache_utils import DynamicCache
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    qwen3 = args.config_name == "qwen3-vl-2b"
    t = time.perf_counter()
    model = qwen_classes(args.config_name)[1].from_pretrained(args.model, dtype=dtype).eval()
    tok = AutoTokenizer.from_pretrained(args.model)
    ip = Qwen2VLImageProcessorPil.from_pretrained(args.model)
    load_s = time.perf_counter() - t
    image = Image.open(args.image).convert("RGB")
    conv = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]
    image_id = model.config.image_token_id
    res = {"load_ms": load_s * 1e3}

    def first_token():
        t0 = time.perf_counter()
        text = tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=True)
        pixels = ip(images=[image], return_tensors="pt")
        grid = pixels["image_grid_thw"]
        text = text.replace("<|image_pad|>", "<|image_pad|>" * (int(grid.prod()) // 4))
        ids = torch.tensor([tok(text, add_special_tokens=False)["input_ids"]])
        t1 = time.perf_counter()
        encoded = model.model.get_image_features(pixels["pixel_values"].to(dtype), grid, return_dict=True)
        features = encoded.pooler_output
        t2 = time.perf_counter()
        if qwen3:  # DeepStack's levels go in with the features: the model's own forward places them
            mm = (ids == image_id).int()
            cache = DynamicCache(config=model.config)
            out = model(input_ids=ids, mm_token_type_ids=mm, image_grid_thw=grid, mm_encoder_outputs={"image": encoded},
                        past_key_values=cache, use_cache=True, logits_to_keep=1)
            tok0 = int(out.logits[0, -1].argmax())
            t3 = time.perf_counter()
            return ids, cache, tok0, model.model.rope_deltas, (t0, t1, t2, t3)
        embeds = model.model.get_input_embeddings()(ids)
        mask = (ids == image_id)[..., None].expand_as(embeds)
        embeds = embeds.masked_scatter(mask, torch.cat(list(features), 0).to(embeds.dtype))
        mm = (ids == image_id).int()
        positions, deltas = model.model.get_rope_index(ids, mm_token_type_ids=mm, image_grid_thw=grid)
        model.model.rope_deltas = deltas
        cache = DynamicCache(config=model.config)
        out = model(inputs_embeds=embeds, position_ids=positions, past_key_values=cache, use_cache=True,
                    logits_to_keep=1)
        tok0 = int(out.logits[0, -1].argmax())
        t3 = time.perf_counter()
        return ids, cache, tok0, deltas, (t0, t1, t2, t3)

    with torch.inference_mode():
        _, _, _, _, (t0, t1, t2, t3) = first_token()
        res.update(cold_preprocess_ms=(t1 - t0) * 1e3, cold_encode_ms=(t2 - t1) * 1e3,
                   cold_prefill_ms=(t3 - t2) * 1e3, cold_first_token_ms=(t3 - t0) * 1e3)
        runs = []
        for _ in range(WARM_RUNS):
            ids, cache, tok0, deltas, times = first_token()
            runs.append(times)
        t3 = runs[-1][3]
        n = ids.shape[1]
        next_ids = torch.tensor([[tok0]])
        # The decode loop generate() runs: one token, its position the cache length + rope_deltas.
        for step in range(args.tokens - 1):
            pos = (torch.tensor([[n + step]]) + deltas).expand(3, 1, 1)
            out = model(input_ids=next_ids, past_key_values=cache, use_cache=True, position_ids=pos,
                        cache_position=torch.tensor([n + step]), logits_to_keep=1)
            next_ids = out.logits[:, -1].argmax(-1, keepdim=True)
        t4 = time.perf_counter()
    preprocess, encode, prefill, first = median_phases(runs)
    res.update(preprocess_ms=preprocess, encode_ms=encode, prefill_ms=prefill, first_token_ms=first,
               decode_ms=(t4 - t3) * 1e3, prompt_tokens=n, new_tokens=args.tokens,
               decode_tokens_per_second=(args.tokens - 1) / (t4 - t3))
    return res


# ------------------------------------------------------------------------- llama.cpp

class LazyTensors(dict):
    """name -> float32 numpy array of the F32 or BF16 checkpoints this script writes, each
    converted when it is asked for (a 7B checkpoint in float32 would not fit in memory)."""

    def __getitem__(self, name):
        import numpy as np
        data, meta = dict.__getitem__(self, name)
        a, b = meta["data_offsets"]
        raw = data[a:b]
        if meta["dtype"] == "F32":
            return np.frombuffer(raw, dtype=np.float32).reshape(meta["shape"])
        if meta["dtype"] == "BF16":
            return (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32) \
                .reshape(meta["shape"])
        raise SystemExit(f"{name} is {meta['dtype']}, expected F32 or BF16")


def read_safetensors(path, into):
    import numpy as np
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    for name, meta in header.items():
        if name != "__metadata__":
            dict.__setitem__(into, name, (data, meta))


def worker_make_gguf(args):
    import gguf
    import numpy as np

    config = json.load(open(os.path.join(args.model, "config.json")))
    cfg = config["text_config"]
    # Qwen3-VL's text decoder converts as llama.cpp's qwen3 architecture (q/k norms, rotate-half
    # rotary, so no permutation); its multimodal positions do not matter for text positions.
    qwen3 = config.get("model_type") == "qwen3_vl"
    tensors = LazyTensors()
    for f in sorted(os.listdir(args.model)):
        if f.endswith(".safetensors"):
            read_safetensors(os.path.join(args.model, f), tensors)
    H, KV, D = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    bf16 = args.gguf_type == "bf16"
    # Quantized as VQA Studio quantizes on load: the layers' linears in the type asked for,
    # the token embedding and the output in Q8_0, norms in F32.
    linear_type = {"q8_0": gguf.GGMLQuantizationType.Q8_0,
                   "q4_0": gguf.GGMLQuantizationType.Q4_0}.get(args.gguf_type)
    w = gguf.GGUFWriter(args.out, "qwen3" if qwen3 else "llama")
    w.add_name("qwen3-vl-bench-decoder" if qwen3 else "smolvlm-bench-decoder")
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(H)
    w.add_head_count_kv(KV)
    w.add_key_length(D)
    w.add_value_length(D)
    w.add_rope_dimension_count(D)
    rope = cfg.get("rope_theta") or cfg.get("rope_parameters", {}).get("rope_theta")
    w.add_rope_freq_base(float(rope))
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_vocab_size(cfg["vocab_size"])
    w.add_file_type({"bf16": gguf.LlamaFileType.MOSTLY_BF16, "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
                     "q4_0": gguf.LlamaFileType.MOSTLY_Q4_0}.get(args.gguf_type, gguf.LlamaFileType.ALL_F32))
    # The real tokenizer (GPT-2 style BPE, SmolLM pre-tokenizer), padded to vocab_size.
    tok = json.load(open(os.path.join(args.model, "tokenizer.json")))
    vocab = tok["model"]["vocab"]
    added = {t["content"]: t["id"] for t in tok.get("added_tokens", [])}
    tokens = [f"[PAD{i}]" for i in range(cfg["vocab_size"])]
    types = [gguf.TokenType.UNUSED] * cfg["vocab_size"]
    for s, i in vocab.items():
        if i < len(tokens):
            tokens[i], types[i] = s, gguf.TokenType.NORMAL
    for s, i in added.items():
        if i < len(tokens):
            tokens[i], types[i] = s, gguf.TokenType.CONTROL
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"].get("merges", [])]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2" if qwen3 else "smollm")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(cfg.get("bos_token_id") or 1)
    w.add_eos_token_id(cfg.get("eos_token_id") or 2)

    def permute(x, heads):  # HF rotate_half layout -> llama.cpp's interleaved pairs (llama only)
        if qwen3:
            return x
        return x.reshape(heads, 2, x.shape[0] // heads // 2, *x.shape[1:]).swapaxes(1, 2) \
                .reshape(x.shape)

    def add(name, x):
        x = np.ascontiguousarray(x, dtype=np.float32)
        if linear_type is not None and x.ndim == 2:
            qtype = gguf.GGMLQuantizationType.Q8_0 if name in ("token_embd.weight", "output.weight") \
                else linear_type
            w.add_tensor(name, gguf.quants.quantize(x, qtype), raw_dtype=qtype)
        elif bf16 and x.ndim == 2:
            w.add_tensor(name, gguf.quants.quantize(x, gguf.GGMLQuantizationType.BF16),
                         raw_dtype=gguf.GGMLQuantizationType.BF16)
        else:
            w.add_tensor(name, x)

    p = "model.language_model." if qwen3 else "model.text_model."
    add("token_embd.weight", tensors[p + "embed_tokens.weight"])
    for i in range(cfg["num_hidden_layers"]):
        l = f"{p}layers.{i}."
        b = f"blk.{i}."
        add(b + "attn_norm.weight", tensors[l + "input_layernorm.weight"])
        add(b + "attn_q.weight", permute(tensors[l + "self_attn.q_proj.weight"], H))
        add(b + "attn_k.weight", permute(tensors[l + "self_attn.k_proj.weight"], KV))
        add(b + "attn_v.weight", tensors[l + "self_attn.v_proj.weight"])
        add(b + "attn_output.weight", tensors[l + "self_attn.o_proj.weight"])
        if qwen3:
            add(b + "attn_q_norm.weight", tensors[l + "self_attn.q_norm.weight"])
            add(b + "attn_k_norm.weight", tensors[l + "self_attn.k_norm.weight"])
        add(b + "ffn_norm.weight", tensors[l + "post_attention_layernorm.weight"])
        add(b + "ffn_gate.weight", tensors[l + "mlp.gate_proj.weight"])
        add(b + "ffn_up.weight", tensors[l + "mlp.up_proj.weight"])
        add(b + "ffn_down.weight", tensors[l + "mlp.down_proj.weight"])
    add("output_norm.weight", tensors[p + "norm.weight"])
    if not (qwen3 and config.get("tie_word_embeddings")):  # tied: llama.cpp reuses token_embd
        add("output.weight", tensors["lm_head.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return {"bytes": os.path.getsize(args.out)}


def worker_llamacpp_logits(args):
    import numpy as np
    import llama_cpp

    ids = [int(i) for i in args.ids.split(",")]
    llm = llama_cpp.Llama(model_path=args.gguf, n_ctx=len(ids) + 8, n_threads=args.threads,
                          n_threads_batch=args.threads, n_batch=512, n_ubatch=512, logits_all=True,
                          verbose=False)
    llm.eval(ids)
    np.save(args.out, np.asarray(llm.scores[:len(ids)], dtype=np.float32))
    return {"positions": len(ids)}


def worker_llamacpp(args):
    import numpy as np
    import llama_cpp

    t = time.perf_counter()
    llm = llama_cpp.Llama(model_path=args.gguf, n_ctx=args.prompt_len + args.tokens + 16,
                          n_threads=args.threads, n_threads_batch=args.threads, n_batch=512,
                          n_ubatch=512, logits_all=False, verbose=False)
    load_s = time.perf_counter() - t
    rng = np.random.default_rng(0)
    prompt = [1] + rng.integers(100, 40000, args.prompt_len - 1).tolist()
    t0 = time.perf_counter()
    llm.eval(prompt)
    tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
    t1 = time.perf_counter()
    for _ in range(args.tokens - 1):
        llm.eval([tok])
        tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
    t2 = time.perf_counter()
    return {"load_ms": load_s * 1e3, "prefill_ms": (t1 - t0) * 1e3,
            "decode_ms": (t2 - t1) * 1e3, "prompt_tokens": args.prompt_len,
            "new_tokens": args.tokens, "decode_tokens_per_second": (args.tokens - 1) / (t2 - t1),
            "llama_cpp_python": llama_cpp.__version__}


# --------------------------------------------------------------------------- driver

def bench_venv():
    req = os.path.join(HERE, "requirements.txt")
    key = hashlib.sha256(open(req, "rb").read()).hexdigest()[:12]
    venv = os.path.join(CACHE, f"bench-venv-{key}")
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(os.path.join(venv, "ok")):
        log(f"installing {req} into {venv} (builds llama.cpp: many minutes)")
        subprocess.check_call(["python3", "-m", "venv", venv])
        subprocess.check_call([py, "-m", "pip", "install", "-q", "-r", req])
        open(os.path.join(venv, "ok"), "w").write("ok")
    return py


def build_vqa(build):
    if build:
        exe = os.path.join(build, "app", "vqa")
        if not os.path.exists(exe):
            exe = os.path.join(build, "vqa")
        if not os.path.exists(exe):
            raise SystemExit(f"{build} has no vqa binary; build the 'vqa' target first")
        return exe
    build = os.path.join(ROOT, "build-bench")
    subprocess.check_call(["cmake", "-S", ROOT, "-B", build, "-G", "Ninja",
                           "-DCMAKE_BUILD_TYPE=Release", f"-DVQA_PYTHON={sys.executable}"])
    subprocess.check_call(["ninja", "-C", build, "vqa"])
    return build_vqa(build)


def worker_cmd(py, mode, **kw):
    cmd = [py, os.path.abspath(__file__), "--worker", mode]
    for k, v in kw.items():
        cmd += [f"--{k.replace('_', '-')}", str(v)]
    return cmd


def run_worker(py, mode, **kw):
    rc, out, err, rss = run_measured(worker_cmd(py, mode, **kw))
    if rc != 0:
        log(f"{mode} failed:\n{err[-3000:]}")
        return {"error": err.strip().splitlines()[-1] if err.strip() else f"exit {rc}"}
    res = json.loads(out.strip().splitlines()[-1])
    res["peak_rss_mib"] = rss
    return res


# Warm first tokens measured per engine and dtype (after one cold run); each phase's median is
# reported. One warm run swung +-30 ms on a 600 ms first token between identical runs.
WARM_RUNS = 3


def median_phases(runs):
    """Each phase's median in ms over (t0, t1, t2, t3) timestamps of warm runs: preprocess,
    encode, prefill, first token."""
    import statistics
    phases = list(zip(*[(t1 - t0, t2 - t1, t3 - t2, t3 - t0) for (t0, t1, t2, t3) in runs]))
    return [statistics.median(p) * 1e3 for p in phases]


def median_timings(runs):
    """Each numeric field's median over runs (dicts of `vqa ask --json` timings)."""
    import statistics
    out = dict(runs[-1])
    for key, value in runs[-1].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = statistics.median(r[key] for r in runs)
    return out


def run_ours(vqa, model, image, dtype, tokens, threads, device="cpu"):
    common = ["--model", model, "--json", "--ignore-eos", "--max-new-tokens", str(tokens),
              "--threads", str(threads), "--device", device, "--dtype", dtype]
    # Each from scratch: the first is what a user waits for after loading (cold), the others
    # the steady state (warm: each field's median). Decode speed is the warm runs'.
    rc, out, err, rss = run_measured([vqa, "ask", *common, "--repeat", str(1 + WARM_RUNS), image, QUESTION])
    if rc != 0:
        log(f"vqa ask failed: {err[-2000:]}")
        return {"error": err.strip()}
    cold, *warm = [json.loads(l)["timings"] for l in out.strip().splitlines() if l.startswith("{")]
    res = median_timings(warm)
    res.update(cold_preprocess_ms=cold["preprocess_ms"], cold_encode_ms=cold["encode_ms"],
               cold_prefill_ms=cold["prefill_ms"], cold_first_token_ms=cold["first_token_ms"])
    res["peak_rss_mib"] = rss
    # A follow-up question in the same session: the image and the first turn stay in the cache.
    rc, out, err, rss2 = run_measured([vqa, "chat", *common, image],
                                      stdin_text=f"{QUESTION}\n{FOLLOW_UP}\n")
    if rc == 0:
        turns = [json.loads(l)["timings"] for l in out.strip().splitlines() if l.startswith("{")]
        if len(turns) == 2:
            res["chat_first_token_ms"] = turns[0]["first_token_ms"]
            res["followup_first_token_ms"] = turns[1]["first_token_ms"]
            res["followup_cached_tokens"] = turns[1]["cached_tokens"]
            res["followup_prompt_tokens"] = turns[1]["prompt_tokens"]
            res["chat_peak_rss_mib"] = rss2
    else:
        log(f"vqa chat failed: {err[-2000:]}")
    # The same question with attention capture on (what `vqa explain` and the UI's heatmaps use).
    rc, out, err, rss3 = run_measured([vqa, "ask", *common, "--capture-attention", image, QUESTION])
    if rc == 0:
        cap = json.loads(out.strip().splitlines()[-1])["timings"]
        res["capture_decode_tokens_per_second"] = cap["decode_tokens_per_second"]
        res["capture_first_token_ms"] = cap["first_token_ms"]
        res["capture_peak_rss_mib"] = rss3
    else:
        log(f"vqa ask --capture-attention failed: {err[-2000:]}")
    return res


def measure_errors(vqa, bench_py, mdir, dtypes, threads, image=None):
    """For each dtype, each engine's logits over error_ids() against ours in float32; with an
    image, ours also with the sequence as the answer to a question about it (`vqa logits
    --image`), where the vision tower's precision counts ("ours_image")."""
    import numpy as np
    ids = ",".join(map(str, error_ids()))

    def ours(dtype, with_image=False):
        out = os.path.join(mdir, f"logits-{dtype}{'-image' if with_image else ''}.npy")
        rc, _, err, _ = run_measured([vqa, "logits", "--model", os.path.join(mdir, stored_dtype(dtype)),
                                      "--ids", ids, "--out", out, "--dtype", dtype, "--device", "cpu",
                                      "--threads", str(threads)] + (["--image", image] if with_image else []))
        if rc != 0:
            log(f"vqa logits --dtype {dtype}{' --image' if with_image else ''} failed: {err[-2000:]}")
            return None
        return np.load(out)

    reference = ours("float32")
    reference_image = ours("float32", True) if image else None
    errors = {}
    for dtype in dtypes:
        e = errors[dtype] = {}
        mine = reference if dtype == "float32" else ours(dtype)
        if mine is not None and reference is not None:
            e["ours"] = logits_error(mine, reference)
        if reference_image is not None:
            mine_image = reference_image if dtype == "float32" else ours(dtype, True)
            if mine_image is not None:
                e["ours_image"] = logits_error(mine_image, reference_image)
        gpath = os.path.join(mdir, f"decoder-{GGUF_TYPES.get(dtype, 'none')}.gguf")
        if bench_py and reference is not None and os.path.exists(gpath):
            out = os.path.join(mdir, f"logits-llamacpp-{dtype}.npy")
            g = run_worker(bench_py, "llamacpp-logits", gguf=gpath, ids=ids, out=out, threads=threads)
            if "error" not in g:
                e["llamacpp"] = logits_error(np.load(out), reference)
    return errors


def kept_bytes_per_token(model_dir, image_tokens):
    """What the engine keeps per answer token for re-aggregation: a float16 row over the image
    tokens for every layer and head (engine/Engine.cpp, KeptAttention)."""
    t = json.load(open(os.path.join(model_dir, "config.json")))["text_config"]
    return t["num_hidden_layers"] * t["num_attention_heads"] * image_tokens * 2


def vision_gflop(model_dir):
    """Multiply-adds x 2 of the SigLIP tower for one tile (its image_size): the patch embedding,
    then per layer q/k/v/o, the MLP, and attention's scores and weighted values."""
    v = json.load(open(os.path.join(model_dir, "config.json")))["vision_config"]
    n = (v["image_size"] // v["patch_size"]) ** 2
    h, i = v["hidden_size"], v["intermediate_size"]
    per_layer = 2 * n * 4 * h * h + 2 * n * 2 * h * i + 2 * 2 * n * n * h
    return (2 * n * 3 * v["patch_size"] ** 2 * h + v["num_hidden_layers"] * per_layer) / 1e9


def core_peak(work):
    """One core's float32 FMA, bfloat16 dot-product, float16 FMA and AMX bfloat16 tile rates in
    GFLOP/s, measured by peak_flops.cpp (compiled here on first use); None where there is no
    compiler."""
    exe = os.path.join(work, "peak_flops")
    src = os.path.join(HERE, "peak_flops.cpp")
    if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(src):
        cxx = shutil.which("c++") or shutil.which("g++")
        if not cxx or subprocess.run([cxx, "-O3", "-std=c++17", src, "-o", exe]).returncode != 0:
            return None
    try:
        return json.loads(subprocess.run([exe], capture_output=True, text=True, check=True).stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def kernel_choices(vqa, threads):
    """The CPU kernels our engine runs bfloat16 with here (`vqa tune --json`: the record, or
    measured now with `threads` threads and recorded), so a report says which ways it timed."""
    try:
        r = subprocess.run([vqa, "tune", "--json", "--threads", str(threads)], capture_output=True, text=True,
                           timeout=300)
        return json.loads(r.stdout) if r.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def add_common_args(ap):
    """The options every benchmark script takes: the build, the threads, the fixtures, the work
    folder (checkpoints, GGUFs, images) and the Markdown file its section goes to."""
    ap.add_argument("--build", help="existing build folder with the vqa binary (else builds build-bench)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fixtures", default=os.environ.get("VQA_FIXTURES",
                                                         os.path.join(ROOT, "..", "shared", "fixtures")))
    ap.add_argument("--work", default=os.path.join(CACHE, "bench"))
    ap.add_argument("--md-out", default=os.path.join(ROOT, "docs", "BENCHMARKS.md"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    add_common_args(ap)
    ap.add_argument("--models", default="256m,500m")
    ap.add_argument("--dtypes", default="float32,bfloat16")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                    help="where both engines run (cuda: SmolVLM only, without llama.cpp and the error columns; "
                         "tests/gpu/run.sh)")
    ap.add_argument("--skip-llama", action="store_true")
    ap.add_argument("--skip-transformers", action="store_true")
    ap.add_argument("--note", default="", help="what else ran on the machine")
    ap.add_argument("--json-out", help="default: docs/benchmarks-<threads>t-<cpu>.json")
    # worker arguments
    ap.add_argument("--model")
    ap.add_argument("--dtype")
    ap.add_argument("--image")
    ap.add_argument("--out")
    ap.add_argument("--config-name")
    ap.add_argument("--gguf")
    ap.add_argument("--gguf-type")
    ap.add_argument("--prompt-len", type=int)
    ap.add_argument("--ids")
    ap.add_argument("--qwen-layers", type=int, default=0,
                    help="Qwen2.5-VL: cut decoder and vision tower to N layers (a quick check of the script)")
    ap.add_argument("--text-layers", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        fn = {"make-checkpoint": worker_make_checkpoint, "make-qwen": worker_make_qwen, "make-awq": worker_make_awq,
              "transformers": worker_transformers,
              "make-gguf": worker_make_gguf, "llamacpp": worker_llamacpp,
              "llamacpp-logits": worker_llamacpp_logits}[args.worker]
        print(json.dumps(fn(args)))
        return 0

    if not os.path.isdir(os.path.join(args.fixtures, "smolvlm-256m-instruct")):
        raise SystemExit(f"no fixtures at {args.fixtures}: pass --fixtures or set VQA_FIXTURES")
    vqa = build_vqa(args.build)
    if args.device == "cuda" and any(n in QWEN_MODELS for n in args.models.split(",")):
        raise SystemExit("--device cuda measures the SmolVLM shapes (256m, 500m, 7b)")
    # On a GPU: our engine and transformers only (llama.cpp's wheel here is a CPU build).
    bench_py = None if args.skip_llama or args.device == "cuda" else bench_venv()
    os.makedirs(args.work, exist_ok=True)
    image = os.path.join(args.work, "image512.png")
    make_image(image)
    dtypes = args.dtypes.split(",")
    report = {"machine": machine_info(), "device": args.device, "threads": args.threads, "tokens": args.tokens, "warm_runs": WARM_RUNS,
              "core_peak_gflops": core_peak(args.work) if args.device == "cpu" else None,
              "kernel_choices": kernel_choices(vqa, args.threads) if args.device == "cpu" else None,
              "dtypes": dtypes, "load_before": load_average(), "note": args.note, "models": {}}
    import torch
    import transformers
    report["versions"] = {"torch": torch.__version__, "transformers": transformers.__version__}
    qwen = [n in QWEN_MODELS for n in args.models.split(",")]
    if any(qwen) and (not all(qwen) or len(qwen) > 1):
        raise SystemExit("measure a Qwen model in a run of its own (its results have a section of their own)")
    report["family"] = args.models if all(qwen) else "idefics3"
    for name in args.models.split(","):
        mdir = os.path.join(args.work, name if name in QWEN_MODELS else f"smolvlm-{name}")
        log(f"{name}: checkpoints")
        extra = {"qwen_layers": args.qwen_layers} if name in QWEN_MODELS else {}
        # Quantized dtypes run from the bf16 checkpoint; llama.cpp's GGUFs and the error's
        # reference are made from the float32 one.
        stored = {stored_dtype(d) for d in dtypes} | (set() if name in QWEN_MODELS | BF16_ONLY else {"float32"})
        res = run_worker(sys.executable, "make-qwen" if name in QWEN_MODELS else "make-checkpoint",
                         config_name=name, out=mdir, fixtures=args.fixtures, dtypes=",".join(sorted(stored)),
                         threads=args.threads, **extra)
        if "error" in res:
            raise SystemExit(f"could not write the {name} checkpoint: {res['error']}")
        r = report["models"][name] = {"checkpoint_mib": {}, "ours": {}, "transformers": {},
                                      "llamacpp": {}}
        if AWQ in dtypes:
            if name not in QWEN_MODELS:
                raise SystemExit("awq is measured on the Qwen models (their AWQ checkpoints are the ones users download)")
            res = run_worker(sys.executable, "make-awq", model=os.path.join(mdir, "bfloat16"),
                             out=os.path.join(mdir, AWQ), threads=args.threads)
            if "error" in res:
                raise SystemExit(f"could not write the {name} AWQ checkpoint: {res['error']}")
        for dtype in dtypes:
            # Qwen checkpoints are written in bf16 only; float32 runs convert them on load.
            model = os.path.join(mdir, AWQ if dtype == AWQ else "bfloat16" if name in QWEN_MODELS
                                 else stored_dtype(dtype))
            r["checkpoint_mib"][dtype] = dir_bytes(model) / 2**20
            if name not in QWEN_MODELS:
                seq = json.load(open(os.path.join(model, "processor_config.json")))["image_seq_len"]
                r["kept_bytes_per_token"] = kept_bytes_per_token(model, seq)
                r["vision_gflop"] = vision_gflop(model)
            log(f"{name} {dtype}: VQA Studio")
            r["ours"][dtype] = run_ours(vqa, model, image, "auto" if dtype == AWQ else dtype, args.tokens,
                                       args.threads, args.device)
            log(f"  {json.dumps(r['ours'][dtype])}")
            if not args.skip_transformers and dtype not in OURS_ONLY and name not in BF16_ONLY:
                log(f"{name} {dtype}: transformers")
                r["transformers"][dtype] = run_worker(sys.executable, "transformers", model=model,
                                                      dtype=dtype, image=image, tokens=args.tokens,
                                                      threads=args.threads, config_name=name,
                                                      device=args.device)
                log(f"  {json.dumps(r['transformers'][dtype])}")
            # (A bf16 GGUF of the 7B is held whole in memory while gguf writes it: not made.)
            # llama.cpp converts SmolLM's and Qwen3's text decoders (not Qwen2.5-VL's here).
            if bench_py and dtype in GGUF_TYPES and name != "qwen2.5-vl-3b" and \
                    not (name in BF16_ONLY and dtype == "bfloat16"):
                gtype = GGUF_TYPES[dtype]
                gpath = os.path.join(mdir, f"decoder-{gtype}.gguf")
                if not os.path.exists(gpath):
                    source = "bfloat16" if name in BF16_ONLY | QWEN_MODELS else "float32"
                    g = run_worker(bench_py, "make-gguf", model=os.path.join(mdir, source),
                                   gguf_type=gtype, out=gpath)
                    if "error" in g:
                        r["llamacpp"][dtype] = g
                        continue
                plen = r["ours"][dtype].get("prompt_tokens") or 90
                log(f"{name} {dtype}: llama.cpp")
                read_through(gpath)
                r["llamacpp"][dtype] = run_worker(bench_py, "llamacpp", gguf=gpath,
                                                  prompt_len=plen, tokens=args.tokens,
                                                  threads=args.threads)
                log(f"  {json.dumps(r['llamacpp'][dtype])}")
                report["versions"]["llama_cpp_python"] = r["llamacpp"][dtype].get("llama_cpp_python")
        if name not in QWEN_MODELS | BF16_ONLY and args.device == "cpu":
            log(f"{name}: logits error against float32")
            r["error"] = measure_errors(vqa, bench_py, mdir, dtypes, args.threads, image)
            log(f"  {json.dumps(r['error'])}")
        save(report, args)  # after each model, so an interrupted run keeps what it measured
    print(markdown(report, os.path.basename(save(report, args))))
    return 0


def save(report, args):
    report["load_after"] = load_average()
    seven = list(report["models"]) == ["7b"]
    family = report.get("family")
    awq = AWQ in report.get("dtypes", [])  # a section (and file) of its own
    stem = (f"benchmarks-{family}{'-awq' if awq else ''}" if family in QWEN_MODELS else
            "benchmarks-7b" if seven else "benchmarks")
    json_out = args.json_out or os.path.join(ROOT, "docs", f"{stem}-{args.threads}t-{slug_of(run_kind(report))}.json")
    os.makedirs(os.path.dirname(json_out), exist_ok=True)
    json.dump(report, open(json_out, "w"), indent=1)
    write_markdown(args.md_out, markdown(report, os.path.basename(json_out)), args.threads,
                   QWEN_HEADINGS[family] + (" against its AWQ checkpoint" if awq else "") if family in QWEN_MODELS else
                   "7B-class decoder, quantized" if seven else "", run_kind(report))
    return json_out


if __name__ == "__main__":
    sys.exit(main())
