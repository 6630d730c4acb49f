#!/usr/bin/env python3
"""Reference data for the SmolVLM2 parity tests (transformers' SmolVLMForConditionalGeneration,
SmolVLMProcessor with its PIL image processor and SmolVLMVideoProcessor; model_type "smolvlm").

Builds small random SmolVLM checkpoints with transformers (fixed seeds, float32, eager attention),
saves them in the Hugging Face layout with the fixture's tokenizer and a scaled-down processor,
and records what the reference computes for a few conversations with images and with videos:

  <out>/<case>/model/                   the checkpoint as save_pretrained writes it
  <out>/tiny/model_hub_layout/          the same checkpoint with its processor files laid out as
                                        the released Hub repos have them (preprocessor_config.json
                                        with video_sampling, processor_config.json, chat_template.json)
  <out>/<case>/image<i>.png, video.mkv, video_long.mkv    the inputs (videos lossless: FFV1, RGB)
  <out>/<case>/<conversation>.json      {"turns": [[{"type": "image", "file": ...} | {"type":
                                        "video", "file": ...} | {"type": "text", "text": ...}], ...],
                                        "answer", "template_text" (the chat template's text before
                                        the processor expands <image>/<video>), "prompt_text" (after),
                                        and the same for turn 2 where there is one}
  <out>/<case>/<conversation>.safetensors
      input_ids [T]                     turn 1 prompt the processor produced
      pixel_values [N,3,H,W], pixel_attention_mask [N,H,W] (uint8)   tiles, or a video's frames
      image_positions [n]               where the <image> tokens are
      logit_positions [P], logits [P,vocab]   prefill logits (first and last image token, last, ...)
      generated [20]                    greedy tokens of turn 1 (eos disabled)
      input_ids_turn2 [T2], generated_turn2 [20]   the conversation continued with "And then?"
      frames [F,H,W,3] (uint8)          videos: the decoded frames the processor sampled
      frame_indices [F] (int64), timestamps [F] (float64, seconds)
      video_fps, video_total_frames, video_duration   the metadata transformers' loader computed

Cases: tiny (conversations two_images, three_images, video, video_long; prefill only for
video_long), real_shapes (SmolVLM2-256M-Video-Instruct's shapes with the decoder cut to 2 layers,
the released processor settings; conversations video and two_images, prefill only; --skip-real
leaves it out). Every case is reused while its done.json stamp matches.

num2words, torchvision and opencv-python-headless are not in the project's environment: they
are fetched pinned (reference_common.pip_fetched); when one cannot be, this says why and writes
nothing, so the tests that need the data skip.
"""
import argparse
import copy
import json
import os
import shutil
import sys
import time

import numpy as np
import torch

from reference_common import make_images, pip_fetched

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
torch.set_default_dtype(torch.float32)

CASE_VERSION = 1  # bump to rebuild cached cases after changing what they hold
PACKAGES = [("num2words==0.5.14", "num2words"), ("torchvision==0.29.2", "torchvision"),
            ("opencv-python-headless==4.12.0.88", "cv2")]
TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt",
                   "special_tokens_map.json", "added_tokens.json"]
LANCZOS = 1  # PIL.Image.LANCZOS, the "resample" of the released processors

# The processors. Tiny: 64-pixel tiles of 8-pixel patches, pixel shuffle 2 -> 16 tokens a tile
# or frame. Real: SmolVLM2-256M-Video-Instruct's released preprocessor_config.json, images
# resized to at most 1024 instead of 2048 so two images make 8 tiles, not 22.
TINY_PROCESSOR = {"do_image_splitting": True, "max_image_size": {"longest_edge": 64},
                  "size": {"longest_edge": 128}, "resample": LANCZOS,
                  "video_sampling": {"fps": 1, "max_frames": 6, "video_size": {"longest_edge": 128}}}
REAL_PROCESSOR = {"do_image_splitting": True, "max_image_size": {"longest_edge": 512},
                  "size": {"longest_edge": 1024}, "resample": LANCZOS,
                  "video_sampling": {"fps": 1, "max_frames": 64, "video_size": {"longest_edge": 512}}}
# The test videos: (name, width, height, fps, seconds). `video` samples 6 of its 32 frames from
# the whole clip; `video_long` (20 s at 2 fps) is long enough that the processor skips a second
# at each end (duration - 2 > max_frames * fps); it is portrait, so its first resize rounds an
# odd width up.
TINY_VIDEOS = [("video", 96, 72, 4, 8), ("video_long", 80, 112, 2, 20)]
REAL_VIDEOS = [("video", 160, 120, 4, 8)]


def fetch_packages():
    """Puts the pinned packages on sys.path (before transformers is imported: it looks for
    torchvision and cv2 once). Returns None, or why one could not be had."""
    for spec, module in PACKAGES:
        why = pip_fetched(spec, module, spec.replace("==", "-"))
        if why:
            return why
    try:
        import cv2  # noqa: F401
        import num2words  # noqa: F401  (imports without docopt, which only its command line uses)
        import torchvision  # noqa: F401
    except ImportError as e:
        return f"cannot import a fetched package ({e})"
    return None


# ---------------------------------------------------------------------------------------------
# Videos


def draw_video(width, height, n, seed):
    """n RGB frames [n,H,W,3] uint8: a background whose colour drifts, a smooth gradient, a
    rectangle and a disc moving across it, each frame different."""
    rng = np.random.default_rng(seed)
    base = rng.integers(30, 220, 3)
    rect_colour = rng.integers(0, 256, 3)
    disc_colour = rng.integers(0, 256, 3)
    yy, xx = np.mgrid[0:height, 0:width]
    frames = np.empty((n, height, width, 3), np.uint8)
    for i in range(n):
        t = i / max(1, n - 1)
        f = np.empty((height, width, 3), np.float64)
        for c in range(3):
            f[..., c] = (base[c] + 120 * t * (1 if c == i % 3 else -0.5)
                         + 40 * np.sin(xx / width * 3.1 + c + i * 0.4) * (yy / height))
        rw, rh = width // 4, height // 5
        rx = int((width - rw) * t)
        ry = int((height - rh) * (0.5 + 0.4 * np.sin(i * 0.7)))
        f[ry:ry + rh, rx:rx + rw] = rect_colour
        r = min(width, height) / 6
        cx, cy = width * (1 - t), height * (0.3 + 0.4 * t)
        f[(xx - cx) ** 2 + (yy - cy) ** 2 <= r * r] = disc_colour
        f[0, i % width] = 255  # a marker that differs in every frame
        frames[i] = np.clip(np.rint(f), 0, 255).astype(np.uint8)
    return frames


def write_video(stem, frames, fps):
    """Writes frames losslessly with OpenCV (FFV1 in .mkv, else PNG in .avi) and checks they
    decode exactly. Returns the path, or raises RuntimeError."""
    import cv2

    n, h, w, _ = frames.shape
    for fourcc, ext in (("FFV1", ".mkv"), ("png ", ".avi")):
        path = stem + ext
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), float(fps), (w, h))
        if not writer.isOpened():
            continue
        for f in frames:
            writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        writer.release()
        cap = cv2.VideoCapture(path)
        back = []
        while True:
            ok, f = cap.read()
            if not ok:
                break
            back.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
        cap.release()
        if len(back) == n and all(np.array_equal(a, b) for a, b in zip(back, frames)):
            return path
        os.remove(path)
    raise RuntimeError(f"OpenCV cannot write {stem} losslessly (FFV1 nor PNG)")


def load_video_opencv(path):
    """All frames [F,H,W,3] and the VideoMetadata, through transformers' own loader."""
    from transformers.video_utils import load_video

    frames, metadata = load_video(path, backend="opencv")
    return frames, metadata


# ---------------------------------------------------------------------------------------------
# Processors


def build_processor(fixtures, settings, image_seq_len):
    """A SmolVLMProcessor from the fixture's tokenizer: the PIL image processor (the C++ one is
    Pillow-exact) and the video processor, both from `settings` in the released layout."""
    from transformers import AutoTokenizer, SmolVLMImageProcessorPil, SmolVLMProcessor, SmolVLMVideoProcessor
    from transformers.models.smolvlm.processing_smolvlm import DEFAULT_CHAT_TEMPLATE

    tok = AutoTokenizer.from_pretrained(fixtures)
    return SmolVLMProcessor(image_processor=SmolVLMImageProcessorPil(**copy.deepcopy(settings)), tokenizer=tok,
                            video_processor=SmolVLMVideoProcessor(**copy.deepcopy(settings)),
                            image_seq_len=image_seq_len, chat_template=DEFAULT_CHAT_TEMPLATE)


def load_processor(folder):
    """The processor of a saved folder as transformers 5 loads it, with the PIL image processor
    chosen (AutoImageProcessor's backend="pil"; AutoProcessor would pick the torchvision one now
    that torchvision is importable, and backend= given to AutoProcessor reaches the video
    processor too, which has no PIL backend)."""
    from transformers import AutoImageProcessor, AutoProcessor

    proc = AutoProcessor.from_pretrained(folder)
    proc.image_processor = AutoImageProcessor.from_pretrained(folder, backend="pil")
    return proc


def processor_settings(proc):
    """What a processor does, for comparing two of them: class names and settings."""
    drop = {"image_processor_type", "video_processor_type", "processor_class", "_processor_class"}
    return {"processor": type(proc).__name__, "image_processor": type(proc.image_processor).__name__,
            "video_processor": type(proc.video_processor).__name__, "image_seq_len": proc.image_seq_len,
            "chat_template": proc.chat_template,
            "image": {k: v for k, v in proc.image_processor.to_dict().items() if k not in drop},
            "video": {k: v for k, v in proc.video_processor.to_dict().items() if k not in drop},
            "video_fps": proc.video_processor.fps, "video_num_frames": proc.video_processor.num_frames,
            "video_size": dict(proc.video_processor.size)}


def write_hub_layout(model_dir, hub_dir, fixtures, settings, image_seq_len):
    """The checkpoint of model_dir with its processor files as the released SmolVLM2 repos lay
    them out: one preprocessor_config.json (image settings and video_sampling), a
    processor_config.json with image_seq_len, chat_template.json, and the tokenizer's files.
    Weights linked, not copied."""
    from transformers.models.smolvlm.processing_smolvlm import DEFAULT_CHAT_TEMPLATE

    os.makedirs(hub_dir)
    for f in os.listdir(model_dir):
        src = os.path.join(model_dir, f)
        if f.endswith(".safetensors") or f.endswith(".index.json"):
            try:
                os.symlink(os.path.join("..", "model", f), os.path.join(hub_dir, f))
            except OSError:
                shutil.copy(src, hub_dir)
        elif f in ("config.json", "generation_config.json") or f in TOKENIZER_FILES:
            shutil.copy(src, hub_dir)
    for f in TOKENIZER_FILES:  # the released repos have the slow tokenizer's files too
        if not os.path.exists(os.path.join(hub_dir, f)) and os.path.exists(os.path.join(fixtures, f)):
            shutil.copy(os.path.join(fixtures, f), hub_dir)
    pre = {"do_convert_rgb": True, "do_image_splitting": settings["do_image_splitting"], "do_normalize": True,
           "do_pad": True, "do_rescale": True, "do_resize": True, "image_mean": [0.5, 0.5, 0.5],
           "image_processor_type": "SmolVLMImageProcessor", "image_std": [0.5, 0.5, 0.5],
           "max_image_size": settings["max_image_size"], "processor_class": "SmolVLMProcessor",
           "resample": settings["resample"], "rescale_factor": 1 / 255, "size": settings["size"],
           "video_sampling": settings["video_sampling"]}
    json.dump(pre, open(os.path.join(hub_dir, "preprocessor_config.json"), "w"), indent=2)
    json.dump({"image_seq_len": image_seq_len, "processor_class": "SmolVLMProcessor"},
              open(os.path.join(hub_dir, "processor_config.json"), "w"), indent=2)
    json.dump({"chat_template": DEFAULT_CHAT_TEMPLATE},
              open(os.path.join(hub_dir, "chat_template.json"), "w"), indent=2)


def backend_difference(fixtures, settings, images):
    """Max |pixel_values(torchvision backend) - pixel_values(PIL backend)| over the images."""
    from transformers import SmolVLMImageProcessor, SmolVLMImageProcessorPil

    pil = SmolVLMImageProcessorPil(**copy.deepcopy(settings))
    tv = SmolVLMImageProcessor(**copy.deepcopy(settings))
    worst = 0.0
    for im in images:
        a = pil(images=[[im]], return_tensors="pt")["pixel_values"]
        b = tv(images=[[im]], return_tensors="pt")["pixel_values"]
        if a.shape != b.shape:
            return float("inf")
        worst = max(worst, float((a - b).abs().max()))
    return worst


# ---------------------------------------------------------------------------------------------
# Model runs


def greedy_generate(model, inputs, n):
    with torch.no_grad():
        out = model.generate(**inputs, do_sample=False, max_new_tokens=n, min_new_tokens=n,
                             eos_token_id=None, pad_token_id=0)
    return out[0, inputs["input_ids"].shape[1]:]


class Recorder:
    """Calls the processor and keeps what it made on the way: the expanded prompt text and the
    metadata of the videos after sampling."""

    def __init__(self, proc):
        self.proc = proc
        self.texts, self.metadata = [], []
        inner_text, inner_video = proc.get_text_with_replacements, proc.replace_video_token

        def text_with_replacements(*a, **k):
            text, offsets = inner_text(*a, **k)
            self.texts.append(text)
            return text, offsets

        def replace_video_token(video_inputs, video_idx, **k):
            self.metadata.append(copy.deepcopy(video_inputs["video_metadata"][video_idx]))
            return inner_video(video_inputs, video_idx, **k)

        proc.get_text_with_replacements = text_with_replacements
        proc.replace_video_token = replace_video_token

    def __call__(self, conv, images, video):
        """(template text, expanded text, inputs, sampled metadata or None) for a conversation."""
        self.texts, self.metadata = [], []
        text = self.proc.apply_chat_template(conv, add_generation_prompt=True)
        kw = {}
        if images:
            kw["images"] = [list(images)]
        if video is not None:
            frames, metadata = video
            kw.update(videos=[frames], video_metadata=[copy.deepcopy(metadata)], do_sample_frames=True)
        inputs = self.proc(text=text, return_tensors="pt", **kw)
        expanded = self.texts[-1]
        expanded = expanded[0] if isinstance(expanded, list) else expanded
        return text, expanded, inputs, (self.metadata[-1] if self.metadata else None)


def run_conversation(name, case_dir, model, proc, record, config, conv_spec, images, video, full):
    """One conversation: writes <name>.safetensors and <name>.json into case_dir."""
    from safetensors.torch import save_file

    t0 = time.time()
    content_t = []  # the conversation with the files, for the C++ test
    content = []    # as transformers' chat template takes it
    for part in conv_spec:
        if part == "image":
            content_t.append({"type": "image", "file": f"image{len([c for c in content if c['type'] == 'image'])}.png"})
            content.append({"type": "image"})
        elif part == "video":
            content_t.append({"type": "video", "file": os.path.basename(video[2])})
            content.append({"type": "video"})
        else:
            content_t.append({"type": "text", "text": part})
            content.append({"type": "text", "text": part})
    vid = (video[0], video[1]) if video else None
    conv = [{"role": "user", "content": content}]
    template_text, prompt_text, inputs, meta = record(conv, images, vid)
    ids = inputs["input_ids"][0]
    image_positions = torch.nonzero(ids == config.image_token_id).flatten()
    pv = inputs["pixel_values"][0]
    ref = {
        "input_ids": ids.clone(),
        "pixel_values": pv.contiguous(),
        "pixel_attention_mask": inputs["pixel_attention_mask"][0].to(torch.uint8).contiguous(),
        "image_positions": image_positions.clone(),
    }
    info = {"turns": [content_t], "template_text": template_text, "prompt_text": prompt_text}
    if meta is not None:
        indices = np.asarray(meta.frames_indices, dtype=np.int64)
        ref["frames"] = torch.from_numpy(np.ascontiguousarray(video[0][indices]))
        ref["frame_indices"] = torch.from_numpy(indices.copy())
        ref["timestamps"] = torch.tensor(meta.timestamps, dtype=torch.float64)
        ref["video_fps"] = torch.tensor([meta.fps], dtype=torch.float64)
        ref["video_total_frames"] = torch.tensor([meta.total_num_frames], dtype=torch.int64)
        ref["video_duration"] = torch.tensor([meta.duration], dtype=torch.float64)
        info["video"] = {"fps": meta.fps, "total_num_frames": meta.total_num_frames, "duration": meta.duration,
                         "frame_indices": indices.tolist(), "timestamps": list(map(float, meta.timestamps))}
    T = ids.shape[0]
    with torch.no_grad():
        logits = model(**inputs).logits[0]
    positions = torch.tensor(sorted({0, int(image_positions[0]), int(image_positions[-1]),
                                     int(image_positions[-1]) + 1, T // 2, T - 2, T - 1}))
    ref["logit_positions"] = positions
    ref["logits"] = logits[positions].contiguous()
    if full:
        gen = greedy_generate(model, inputs, 20)
        ref["generated"] = gen.clone()
        answer = proc.tokenizer.decode(gen, skip_special_tokens=True)
        conv2 = conv + [{"role": "assistant", "content": [{"type": "text", "text": answer}]},
                        {"role": "user", "content": [{"type": "text", "text": "And then?"}]}]
        template2, prompt2, inputs2, _ = record(conv2, images, vid)
        ref["input_ids_turn2"] = inputs2["input_ids"][0].clone()
        ref["generated_turn2"] = greedy_generate(model, inputs2, 20).clone()
        info["turns"].append([{"type": "text", "text": "And then?"}])
        info["answer"] = answer
        info["template_text_turn2"] = template2
        info["prompt_text_turn2"] = prompt2
    save_file({k: v.contiguous() for k, v in ref.items()}, os.path.join(case_dir, f"{name}.safetensors"))
    json.dump(info, open(os.path.join(case_dir, f"{name}.json"), "w"), indent=1, ensure_ascii=False)
    extra = ""
    if meta is not None:
        extra = f" (frames {ref['frame_indices'].tolist()})"
    return f"{name} {T} tokens {pv.shape[0]} tiles{extra} {time.time() - t0:.1f}s"


def run_case(name, config, settings, image_seq_len, fixtures, out_dir, images, videos, conversations,
             seed, hub_layout=False):
    from safetensors.torch import load_file
    from transformers import SmolVLMForConditionalGeneration
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    case_dir = os.path.join(out_dir, name)
    model_dir = os.path.join(case_dir, "model")
    marker = os.path.join(case_dir, "done.json")
    stamp = {"config": config.to_dict(), "seed": seed, "images": [list(i.size) for i in images],
             "processor": settings, "image_seq_len": image_seq_len, "videos": videos,
             "conversations": conversations, "version": CASE_VERSION}
    stamp = json.loads(json.dumps(stamp))
    if os.path.exists(marker):
        try:
            if json.load(open(marker)) == stamp:
                print(f"{name}: reusing {case_dir}")
                return
        except Exception:  # noqa: BLE001 (a broken marker: build again)
            pass
    shutil.rmtree(case_dir, ignore_errors=True)
    os.makedirs(model_dir)
    t_case = time.time()

    torch.manual_seed(seed)
    model = SmolVLMForConditionalGeneration(config).float().eval()
    model.config._attn_implementation = "eager"
    model.model.vision_model.config._attn_implementation = "eager"
    model.model.text_model.config._attn_implementation = "eager"
    model.save_pretrained(model_dir)
    built = build_processor(fixtures, settings, image_seq_len)
    built.save_pretrained(model_dir)
    # The processor the references use is the one transformers loads back from the folder.
    proc = load_processor(model_dir)
    if processor_settings(proc) != processor_settings(built):
        raise RuntimeError(f"{name}: the saved processor loads back different")
    if hub_layout:
        hub_dir = os.path.join(case_dir, "model_hub_layout")
        write_hub_layout(model_dir, hub_dir, fixtures, settings, image_seq_len)
        hub = load_processor(hub_dir)
        a, b = processor_settings(hub), processor_settings(proc)
        diff = {k: (a[k], b[k]) for k in a if a[k] != b[k]}
        if diff:
            raise RuntimeError(f"{name}: the Hub layout loads to other settings: {diff}")

    for i, im in enumerate(images):
        im.save(os.path.join(case_dir, f"image{i}.png"))
    loaded = {}
    for vname, w, h, fps, secs in videos:
        path = write_video(os.path.join(case_dir, vname), draw_video(w, h, fps * secs, seed=len(loaded) + 7), fps)
        frames, metadata = load_video_opencv(path)
        loaded[vname] = (frames, metadata, path)
    record = Recorder(proc)
    hub_record = Recorder(hub) if hub_layout else None
    summaries = []
    for conv_name, spec, full in conversations:
        n_images = spec.count("image")
        vname = (conv_name if conv_name in loaded else "video") if "video" in spec else None
        summaries.append(run_conversation(conv_name, case_dir, model, proc, record, config, spec,
                                          images[:n_images], loaded[vname] if vname else None, full))
        # The same conversation through the Hub-layout processor must give the same inputs.
        if hub_layout:
            _, text_hub, inputs_hub, _ = hub_record(
                [{"role": "user", "content": [{"type": p} if p in ("image", "video") else {"type": "text", "text": p}
                                              for p in spec]}],
                images[:n_images], loaded[vname][:2] if vname else None)
            ref = load_file(os.path.join(case_dir, f"{conv_name}.safetensors"))
            if (text_hub != json.load(open(os.path.join(case_dir, f"{conv_name}.json")))["prompt_text"]
                    or not torch.equal(inputs_hub["input_ids"][0], ref["input_ids"])
                    or not torch.equal(inputs_hub["pixel_values"][0], ref["pixel_values"])):
                raise RuntimeError(f"{name}/{conv_name}: the Hub-layout processor makes other inputs")
    json.dump(stamp, open(marker, "w"))
    hub_note = "; the Hub layout loads the same" if hub_layout else ""
    print(f"{name}: {'; '.join(summaries)}{hub_note}; {time.time() - t_case:.1f}s in all")


def tiny_config(fixtures):
    from transformers import SmolVLMConfig

    base = json.load(open(os.path.join(fixtures, "config.json")))
    text = {
        "model_type": "llama", "vocab_size": base["vocab_size"], "hidden_size": 64,
        "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "rms_norm_eps": 1e-5, "rope_theta": 100000.0,
        "max_position_embeddings": 2048, "hidden_act": "silu", "initializer_range": 0.2,
        "pad_token_id": 2, "bos_token_id": 1, "eos_token_id": 2, "tie_word_embeddings": False,
    }
    vision = {
        "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_channels": 3, "image_size": 64, "patch_size": 8,
        "layer_norm_eps": 1e-6, "hidden_act": "gelu_pytorch_tanh", "initializer_range": 0.2,
    }
    return SmolVLMConfig(text_config=text, vision_config=vision, scale_factor=2,
                         image_token_id=base["image_token_id"], tie_word_embeddings=False)


def real_config(fixtures):
    """SmolVLM-256M-Instruct's shapes (those of SmolVLM2-256M-Video-Instruct) as a "smolvlm"
    config, the decoder cut to 2 layers."""
    from transformers import SmolVLMConfig

    base = json.load(open(os.path.join(fixtures, "config.json")))
    base["model_type"] = "smolvlm"
    base["architectures"] = ["SmolVLMForConditionalGeneration"]
    base["text_config"]["num_hidden_layers"] = 2
    base["vision_config"].pop("model_type", None)
    cfg = SmolVLMConfig.from_dict(base)
    cfg.dtype = torch.float32
    cfg.text_config.dtype = torch.float32
    cfg.vision_config.dtype = torch.float32
    return cfg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--skip-real", action="store_true", help="do not build the 256M-shape case")
    args = ap.parse_args()
    fixtures = os.path.join(args.fixtures, "smolvlm-256m-instruct")
    if not os.path.isdir(fixtures):
        print(f"missing fixtures {fixtures}", file=sys.stderr)
        return 1
    t_all = time.time()
    why = fetch_packages()
    if why:
        print(f"make_smolvlm2.py: skipped, writing nothing: {why}")
        return 0
    os.makedirs(args.out, exist_ok=True)
    images = list(make_images(0)) + [make_images(1)[0]]

    # What the PIL image processor the references use saves over the torchvision one, which
    # AutoProcessor picks when torchvision is importable.
    print("image backends: max |pixel_values(torchvision) - pixel_values(PIL)| " + ", ".join(
        f"{label} {backend_difference(fixtures, settings, images):.6g}"
        for settings, label in ((TINY_PROCESSOR, "tiny"), (REAL_PROCESSOR, "real_shapes"))))

    tiny_conversations = [
        ("two_images", ["image", "image", "What differs between these two?"], True),
        ("three_images", ["Which of these three is brightest?", "image", "image", "image"], True),
        ("video", ["video", "What happens in this clip?"], True),
        ("video_long", ["video", "What happens in this clip?"], False),
    ]
    run_case("tiny", tiny_config(fixtures), TINY_PROCESSOR, 16, fixtures, args.out, images, TINY_VIDEOS,
             tiny_conversations, seed=1, hub_layout=True)
    if not args.skip_real:
        real_conversations = [
            ("video", ["video", "What happens in this clip?"], False),
            ("two_images", ["image", "image", "What differs between these two?"], False),
        ]
        run_case("real_shapes", real_config(fixtures), REAL_PROCESSOR, 64, fixtures, args.out, images[:2],
                 REAL_VIDEOS, real_conversations, seed=3)
    print(f"make_smolvlm2.py: {time.time() - t_all:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
