#!/usr/bin/env python3
"""Time to the first token for a 10-second clip: SmolVLM2 (model_type "smolvlm") with a user's
video, ours against transformers in the same run, same threads, for each dtype.

  python tests/bench/video_ttft.py [--build build] [--models 256m] [--dtypes float32,bfloat16]
      [--threads 2]

The clip: 640x360 at 30 fps, 300 frames of moving shapes drawn with numpy (make_smolvlm2.py's
draw_video), written as MP4 with opencv-python-headless's writer (H.264 where the writer has
it, else MPEG-4 Part 2, "mp4v"); both engines read the same file: ours with OpenCV over
Debian's FFmpeg, transformers with its own OpenCV loader (transformers.video_utils.load_video,
backend "opencv", given the video processor's sample_frames as transformers passes it when
the processor is handed a path; its default loader, torchcodec, is not installed). SmolVLM2's
released video settings sample it at 1 fps: 10 frames, each one 512x512 global view of 64
image tokens.

The checkpoints: run_bench.py's random-weight SmolVLM checkpoints at full depth (made there
first if missing; the tensor names of Idefics3ForConditionalGeneration and
SmolVLMForConditionalGeneration are the same, checked on loading), linked into a folder of
their own with a "smolvlm" config.json and the SmolVLM2 processor that transformers 5 saves
(processor_config.json with the image and video processors): SmolVLM2-256M-Video-Instruct's
released settings (video_sampling fps 1, max_frames 64, video_size.longest_edge 512,
max_image_size 512, image_seq_len 64), with size.longest_edge 512 instead of the released
2048: SmolVLMVideoProcessor replaces video_size by size when both are given, so 512 keeps the
frames at the released video_size for both engines.

Each engine runs in a subprocess of its own, twice from scratch; the second (warm) run is
reported. transformers' time splits as run_bench.py splits it: preprocess (the chat
template, reading and decoding the video, sampling, resizing, normalizing; its decoding alone
is measured too), encode (get_image_features over the 10 frames), prefill (the forward over
the prompt with the encoded frames, to the first token's logits). Both engines' prompt
lengths must be equal and their sampled frames the same, else this fails. Results go to
docs/benchmarks-video-<threads>t-<cpu>.json and to their section of docs/BENCHMARKS.md.

Needs the reference venv's Python (torch, transformers 5) and, fetched pinned like
make_smolvlm2.py does, num2words, torchvision and opencv-python-headless.
"""
import argparse
import json
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "reference"))
import bench_report as br  # noqa: E402
import run_bench as rb  # noqa: E402

QUESTION = "What happens in this clip?"
CLIP = {"width": 640, "height": 360, "fps": 30, "seconds": 10}
IMAGE_SEQ_LEN = 64
LANCZOS = 1
# SmolVLM2-256M-Video-Instruct's released processor settings, size.longest_edge 512 (see above).
SETTINGS = {"do_image_splitting": True, "max_image_size": {"longest_edge": 512},
            "size": {"longest_edge": 512}, "resample": LANCZOS,
            "video_sampling": {"fps": 1, "max_frames": 64, "video_size": {"longest_edge": 512}}}
# The checkpoint's files that the video folder links; the processor and config are its own.
LINKED = (".safetensors", ".index.json", "generation_config.json")
STAMP = {"version": 1, "settings": SETTINGS, "image_seq_len": IMAGE_SEQ_LEN}


def packages():
    """num2words, torchvision and cv2 on sys.path (before transformers is imported)."""
    import make_smolvlm2
    why = make_smolvlm2.fetch_packages()
    if why:
        raise SystemExit(f"video_ttft.py needs {why}")
    return make_smolvlm2


# --------------------------------------------------------------------------------- the clip

def make_clip(stem):
    """The 10-second clip as MP4; returns (path, codec)."""
    ms = packages()
    import cv2
    import numpy as np
    frames = ms.draw_video(CLIP["width"], CLIP["height"], CLIP["fps"] * CLIP["seconds"], seed=11)
    for fourcc in ("avc1", "H264", "mp4v"):
        path = f"{stem}.mp4"
        part = f"{stem}.part.mp4"
        writer = cv2.VideoWriter(part, cv2.VideoWriter_fourcc(*fourcc), float(CLIP["fps"]),
                                 (CLIP["width"], CLIP["height"]))
        if not writer.isOpened():
            continue
        for f in frames:
            writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        writer.release()
        cap = cv2.VideoCapture(part)
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        ok, first = cap.read()
        cap.release()
        if ok and n == len(frames) and first.shape == (CLIP["height"], CLIP["width"], 3) and \
                float(np.abs(first.astype(int) - frames[0][..., ::-1]).mean()) < 8:
            os.replace(part, path)
            json.dump({"clip": CLIP, "fourcc": fourcc}, open(f"{stem}.json", "w"))
            return path, fourcc
        os.remove(part)
    raise SystemExit("opencv-python-headless cannot write an MP4 here (avc1, H264 nor mp4v)")


def clip(work):
    stem = os.path.join(work, "clip640x360-10s")
    if os.path.exists(f"{stem}.mp4") and os.path.exists(f"{stem}.json"):
        meta = json.load(open(f"{stem}.json"))
        if meta["clip"] == CLIP:
            return f"{stem}.mp4", meta["fourcc"]
    return make_clip(stem)


# -------------------------------------------------------------------------- the checkpoint

def worker_make_video_model(args):
    """<checkpoint>-video: the weights linked, a SmolVLM config, SmolVLM2's processor saved by
    transformers 5; checked by loading both back."""
    ms = packages()
    import torch
    from transformers import SmolVLMConfig, SmolVLMForConditionalGeneration

    torch.set_num_threads(args.threads)
    out = args.out
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    for name in os.listdir(args.model):
        if name.endswith(LINKED):
            os.symlink(os.path.join(args.model, name), os.path.join(out, name))
    base = json.load(open(os.path.join(args.model, "config.json")))
    base["model_type"] = "smolvlm"
    base["architectures"] = ["SmolVLMForConditionalGeneration"]
    base["vision_config"].pop("model_type", None)
    base["text_config"].pop("model_type", None)
    base["text_config"]["model_type"] = "llama"
    cfg = SmolVLMConfig.from_dict(base)
    cfg.save_pretrained(out)
    fixtures = os.path.join(args.fixtures, "smolvlm-256m-instruct")
    built = ms.build_processor(fixtures, SETTINGS, IMAGE_SEQ_LEN)
    built.save_pretrained(out)
    for f in ms.TOKENIZER_FILES:  # the tokenizer's other files, as the released repos have them
        if not os.path.exists(os.path.join(out, f)) and os.path.exists(os.path.join(fixtures, f)):
            shutil.copyfile(os.path.join(fixtures, f), os.path.join(out, f))
    proc = ms.load_processor(out)
    if ms.processor_settings(proc) != ms.processor_settings(built):
        raise SystemExit("the saved SmolVLM2 processor loads back different")
    if dict(proc.video_processor.size) != {"longest_edge": 512} or proc.video_processor.fps != 1:
        raise SystemExit(f"the video processor loads as {proc.video_processor.to_dict()}")
    model, info = SmolVLMForConditionalGeneration.from_pretrained(out, output_loading_info=True)
    bad = {k: v for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    if bad:
        raise SystemExit(f"the Idefics3 weights do not load as SmolVLM: {bad}")
    json.dump(STAMP, open(os.path.join(out, "done.json"), "w"))
    return {"text_layers": cfg.text_config.num_hidden_layers, "vision_layers": cfg.vision_config.num_hidden_layers}


def video_model(checkpoint, fixtures, threads):
    out = checkpoint + "-video"
    try:
        if json.load(open(os.path.join(out, "done.json"))) == json.loads(json.dumps(STAMP)):
            return out
    except (OSError, ValueError):
        pass
    rb.log(f"writing {out}")
    res = run_worker("make-video-model", model=checkpoint, out=out, fixtures=fixtures, threads=threads)
    if "error" in res:
        raise SystemExit(f"could not write {out}: {res['error']}")
    return out


# --------------------------------------------------------------------------------- engines

def worker_transformers(args):
    ms = packages()
    import torch
    from transformers import SmolVLMForConditionalGeneration
    from transformers.cache_utils import DynamicCache
    from transformers.video_utils import load_video

    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    t = time.perf_counter()
    model = SmolVLMForConditionalGeneration.from_pretrained(args.model, dtype=dtype).eval()
    proc = ms.load_processor(args.model)
    res = {"load_ms": (time.perf_counter() - t) * 1e3}
    decoding = {"ms": 0.0, "indices": None}

    # What fetch_videos does with a path, with the OpenCV loader instead of torchcodec.
    def fetch_videos(video, sample_indices_fn=None):
        if isinstance(video, list):
            return list(zip(*[fetch_videos(v, sample_indices_fn) for v in video]))
        t0 = time.perf_counter()
        frames, metadata = load_video(video, backend="opencv", sample_indices_fn=sample_indices_fn)
        decoding["ms"] += (time.perf_counter() - t0) * 1e3
        decoding["indices"] = [int(i) for i in metadata.frames_indices]
        return frames, metadata

    proc.video_processor.fetch_videos = fetch_videos
    conv = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": QUESTION}]}]

    def first_token():
        decoding["ms"] = 0.0
        t0 = time.perf_counter()
        text = proc.apply_chat_template(conv, add_generation_prompt=True)
        inputs = proc(text=text, videos=[args.video], do_sample_frames=True, return_tensors="pt")
        t1 = time.perf_counter()
        encoded = model.model.get_image_features(inputs["pixel_values"].to(dtype), inputs["pixel_attention_mask"],
                                                 return_dict=True)
        t2 = time.perf_counter()
        cache = DynamicCache(config=model.config)
        out = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                    mm_encoder_outputs={"image": encoded}, past_key_values=cache, use_cache=True, logits_to_keep=1)
        int(out.logits[0, -1].argmax())
        t3 = time.perf_counter()
        return inputs, (t0, t1, t2, t3)

    with torch.inference_mode():
        _, (t0, t1, t2, t3) = first_token()
        res.update(cold_preprocess_ms=(t1 - t0) * 1e3, cold_encode_ms=(t2 - t1) * 1e3,
                   cold_prefill_ms=(t3 - t2) * 1e3, cold_first_token_ms=(t3 - t0) * 1e3)
        inputs, (t0, t1, t2, t3) = first_token()
    ids = inputs["input_ids"][0]
    res.update(preprocess_ms=(t1 - t0) * 1e3, video_decode_ms=decoding["ms"], encode_ms=(t2 - t1) * 1e3,
               prefill_ms=(t3 - t2) * 1e3, first_token_ms=(t3 - t0) * 1e3, prompt_tokens=int(ids.shape[0]),
               image_tokens=int((ids == model.config.image_token_id).sum()),
               frames=int(inputs["pixel_values"].shape[1]), frame_indices=decoding["indices"],
               versions={"torch": torch.__version__, "transformers": __import__("transformers").__version__,
                         "cv2": __import__("cv2").__version__})
    return res


def ours(vqa, model, video, dtype, threads):
    common = ["--model", model, "--json", "--ignore-eos", "--max-new-tokens", "1", "--repeat", "2",
              "--threads", str(threads), "--device", "cpu", "--dtype", dtype]
    rc, out, err, rss = rb.run_measured([vqa, "ask", *common, video, QUESTION])
    command = "ask"
    if rc != 0:
        rb.log(f"vqa ask failed: {err[-2000:]}")
        return {"error": err.strip()}
    runs = [json.loads(line) for line in out.strip().splitlines() if line.startswith("{")]
    cold, warm = runs[0]["timings"], runs[-1]["timings"]
    res = dict(warm)
    res.update(cold_preprocess_ms=cold["preprocess_ms"], cold_encode_ms=cold["encode_ms"],
               cold_prefill_ms=cold["prefill_ms"], cold_first_token_ms=cold["first_token_ms"])
    frames = runs[-1].get("video_frames") or [{}]
    res["frames"] = len(frames[0].get("frames", []))
    res["frame_indices"] = frames[0].get("frames")
    res["peak_rss_mib"] = rss
    res["command"] = f"vqa {command}"
    return res


def run_worker(mode, **kw):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", mode]
    for k, v in kw.items():
        cmd += [f"--{k.replace('_', '-')}", str(v)]
    rc, out, err, rss = rb.run_measured(cmd)
    if rc != 0:
        rb.log(f"{mode} failed:\n{err[-3000:]}")
        return {"error": err.strip().splitlines()[-1] if err.strip() else f"exit {rc}"}
    res = json.loads(out.strip().splitlines()[-1])
    res["peak_rss_mib"] = rss
    return res


# ---------------------------------------------------------------------------------- report

def markdown(report, json_name):
    m = report["machine"]
    c = report["clip"]
    lines = [
        f"Made by `tests/bench/video_ttft.py`; the raw numbers are in `docs/{json_name}`.", "",
        f"- Machine: {m.get('cpu')}, {m.get('cores')} cores ({', '.join(m.get('cpu_flags', []))}); "
        f"{report['threads']} threads for every engine; load average before / after: "
        f"{report['load_before']} / {report['load_after']}.",
        f"- The clip: {c['width']}x{c['height']}, {c['fps']} fps, {c['seconds']} s "
        f"({c['fps'] * c['seconds']} frames, moving shapes), MP4 ({report['fourcc']}), one file for both "
        "engines (ours: OpenCV over Debian's FFmpeg; transformers: its OpenCV loader). Random weights at "
        "SmolVLM2-256M-Video-Instruct's shapes (full depth), its released video settings (1 fps, at most "
        "64 frames, frames 512x512, 64 tokens each; `size.longest_edge` 512, since transformers' video "
        "processor takes `size` over `video_size`), the question "
        f"\"{QUESTION}\", one new token; the second of two runs from scratch.",
        f"- Versions: {report.get('versions')}.",
        "",
        "| model | dtype | engine | frames | prompt tokens | preprocess ms (video decoding) | encode ms | "
        "prefill ms | first token ms | ours ÷ transformers |",
        "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in report["models"].items():
        for dtype, row in r.items():
            ref, mine = row.get("transformers", {}), row.get("ours", {})
            for label, res in (("transformers", ref), ("ours", mine)):
                if not res or "error" in res:
                    lines.append(f"| {name} | {dtype} | {label} | failed: {res.get('error', '')[-120:]} "
                                 "| | | | | | |")
                    continue
                share = (f"{res['first_token_ms'] / ref['first_token_ms']:.2f}x"
                         if label == "ours" and ref and "error" not in ref else "")
                dec = f" ({res['video_decode_ms']:.0f})" if "video_decode_ms" in res else ""
                lines.append(
                    f"| {name} | {dtype} | {label} | {res.get('frames', '')} | {res.get('prompt_tokens', '')} | "
                    f"{res.get('preprocess_ms', 0):.0f}{dec} | {res.get('encode_ms', 0):.0f} | "
                    f"{res.get('prefill_ms', 0):.0f} | {res['first_token_ms']:.0f} | {share} |")
    return "\n".join(lines) + "\n"


def write_section(report, json_name, threads, md_out):
    cpu = br.cpu_kind(report["machine"])
    br.write_section(md_out, "video_ttft.py", f"{threads} threads, {cpu}",
                     f"A 10-second clip: SmolVLM2, {threads} threads, {cpu}", markdown(report, json_name),
                     after="<!-- photo_ttft.py: results end")
    print(markdown(report, json_name))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    rb.add_common_args(ap)
    ap.add_argument("--models", default="256m", help="256m and/or 500m (run_bench.py's checkpoints)")
    ap.add_argument("--dtypes", default="float32,bfloat16")
    ap.add_argument("--json-out", help="default: docs/benchmarks-video-<threads>t-<cpu>.json")
    # worker arguments
    ap.add_argument("--model")
    ap.add_argument("--out")
    ap.add_argument("--dtype")
    ap.add_argument("--video")
    args = ap.parse_args()

    if args.worker:
        fn = {"make-video-model": worker_make_video_model, "transformers": worker_transformers}[args.worker]
        print(json.dumps(fn(args)))
        return 0

    vqa = rb.build_vqa(args.build)
    os.makedirs(args.work, exist_ok=True)
    packages()
    video, fourcc = clip(args.work)
    report = {"machine": br.machine_info(), "threads": args.threads, "clip": CLIP, "fourcc": fourcc,
              "settings": SETTINGS, "image_seq_len": IMAGE_SEQ_LEN, "question": QUESTION,
              "load_before": br.load_average(), "models": {}}
    mismatches = []
    for name in args.models.split(","):
        mdir = os.path.join(args.work, f"smolvlm-{name}")
        dtypes = args.dtypes.split(",")
        stored = sorted({rb.stored_dtype(d) for d in dtypes})
        if not all(os.path.exists(os.path.join(mdir, s, "done")) for s in stored):
            rb.log(f"{name}: checkpoints")
            res = rb.run_worker(sys.executable, "make-checkpoint", config_name=name, out=mdir,
                                fixtures=args.fixtures, dtypes=",".join(stored), threads=args.threads)
            if "error" in res:
                raise SystemExit(f"could not write the {name} checkpoint: {res['error']}")
        rows = report["models"][name] = {}
        for dtype in dtypes:
            model = video_model(os.path.join(mdir, rb.stored_dtype(dtype)), args.fixtures, args.threads)
            row = rows[dtype] = {}
            rb.log(f"{name} {dtype}: transformers")
            row["transformers"] = run_worker("transformers", model=model, video=video, dtype=dtype,
                                             threads=args.threads)
            rb.log(f"  {json.dumps(row['transformers'])}")
            report.setdefault("versions", row["transformers"].pop("versions", None))
            row["transformers"].pop("versions", None)
            rb.log(f"{name} {dtype}: VQA Studio")
            row["ours"] = ours(vqa, model, video, dtype, args.threads)
            rb.log(f"  {json.dumps(row['ours'])}")
            t, o = row["transformers"], row["ours"]
            if "error" not in t and "error" not in o:
                print(f"{name} {dtype}: prompt tokens: ours {o['prompt_tokens']}, transformers {t['prompt_tokens']}; "
                      f"frames: ours {o['frame_indices']}, transformers {t['frame_indices']}", flush=True)
                if o["prompt_tokens"] != t["prompt_tokens"] or o["frame_indices"] != t["frame_indices"]:
                    mismatches.append(f"{name} {dtype}: ours {o['prompt_tokens']} tokens, frames {o['frame_indices']}; "
                                      f"transformers {t['prompt_tokens']} tokens, frames {t['frame_indices']}")
    report["load_after"] = br.load_average()
    json_name = f"benchmarks-video-{args.threads}t-{br.cpu_slug(report['machine'])}.json"
    json_out = args.json_out or os.path.join(rb.ROOT, "docs", json_name)
    with open(json_out, "w") as f:
        json.dump(report, f, indent=1)
    if mismatches:
        raise SystemExit("the engines saw different prompts (not written to BENCHMARKS.md):\n  " +
                         "\n  ".join(mismatches))
    failed = [f"{n} {d} {e}" for n, r in report["models"].items() for d, row in r.items()
              for e, res in row.items() if "error" in res]
    write_section(report, os.path.basename(json_out), args.threads, args.md_out)
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
