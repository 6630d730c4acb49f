"""What the benchmark scripts write: the machine they ran on (and its kind, which names the
sections), and the Markdown of run_bench.py's results, spliced into docs/BENCHMARKS.md by
write_section (which photo_ttft.py, video_ttft.py and dual_throughput.py use too). Standard
library only: run_bench.py's workers and the other scripts import it.
"""
import os
import platform
import re
import subprocess

QUESTION = "What is in this image? Describe it in detail."
QWEN_MODELS = {"qwen2.5-vl-3b", "qwen3-vl-2b"}
QWEN_HEADINGS = {"qwen2.5-vl-3b": "Qwen2.5-VL-3B", "qwen3-vl-2b": "Qwen3-VL-2B"}
# Quantized precisions: run from the bf16 checkpoint.
QUANTIZED = {"int8", "int4"}
# An AWQ checkpoint (4 bits, groups of 128) made from the bf16 one, as AutoAWQ stores it; it
# runs at --dtype auto (its own 4 bits as q4_1, 8-bit embeddings).
AWQ = "awq"
# Precisions transformers has no counterpart of: ours alone, compared with its float32.
OURS_ONLY = QUANTIZED | {"fast", AWQ}
ERROR_POSITIONS = 64
# llama.cpp's GGUF type for each dtype.
GGUF_TYPES = {"float32": "f32", "bfloat16": "bf16", "int8": "q8_0", "int4": "q4_0"}
# Written in bf16 only (the 7B-class decoder): no float32 column.
BF16_ONLY = {"7b"}


def machine_info():
    info = {"platform": platform.platform(), "cores": os.cpu_count()}
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        flags = next(l for l in open("/proc/cpuinfo") if l.startswith("flags")).split()
        info["cpu_flags"] = [f for f in flags if f.startswith(("avx512_bf16", "amx", "avx2",
                                                                "avx512f", "avx_vnni"))]
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                info["memory_gib"] = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    try:  # the GPU, its memory and its memory bandwidth's clock, where there is one
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,clocks.max.memory,driver_version",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
        if out.returncode == 0 and out.stdout.strip():
            info["gpu"] = out.stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def cpu_kind(machine):
    """The CPU's name without trademarks and filler, and the widest of the instruction sets the
    kernels choose between: 'Intel Xeon (AVX512-BF16)', 'AMD EPYC (AVX2)'."""
    name = re.sub(r"\((R|TM)\)|\bProcessor\b|\bCPU\b|@.*$|\b\d+-Core\b", " ", machine.get("cpu") or "unknown CPU")
    name = " ".join(name.split())
    flags = machine.get("cpu_flags", [])
    isa = next((label for flag, label in [("amx", "AMX"), ("avx512_bf16", "AVX512-BF16"), ("avx512f", "AVX-512"),
                                          ("avx2", "AVX2")] if any(f.startswith(flag) for f in flags)), "no AVX2")
    return f"{name} ({isa})"


def cpu_slug(machine):
    return slug_of(cpu_kind(machine))


def slug_of(kind):
    return re.sub(r"[^a-z0-9]+", "-", kind.lower()).strip("-")


def run_kind(report):
    """What the run's section is named after: the GPU's name on a GPU run, else cpu_kind."""
    gpu = report["machine"].get("gpu")
    return gpu.split(",")[0].strip() if report.get("device") == "cuda" and gpu else cpu_kind(report["machine"])


def load_average():
    try:
        return [float(x) for x in open("/proc/loadavg").read().split()[:3]]
    except OSError:
        return None


# ----------------------------------------------------------------------- checkpoints


def fmt(v, unit=""):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.1f}{unit}" if v < 100 else f"{v:.0f}{unit}"
    return f"{v}{unit}"


def ratio(a, b):
    return a / b if a and b else None


SHORT_NAMES = {"float32": "fp32", "bfloat16": "bf16", "int8": "int8 (Q8_0)", "int4": "int4 (Q4_0)",
               "fast": "fast (bf16 vision)", AWQ: "AWQ 4-bit (as q4_1)"}


def markdown(report, json_name):
    m = report["machine"]
    family = report.get("family")
    qwen = family in QWEN_MODELS
    conditions = (
        "one 512x512 image (resized to 504x504: 324 image tokens), the question "
        f"\"{QUESTION}\", {report['tokens']} forced new tokens (EOS ignored), random weights at "
        "Qwen2.5-VL-3B-Instruct's configuration (the 32-block vision tower with windows, the "
        "36-layer decoder, tied embeddings) and the project's Qwen2-like test tokenizer"
        if family == "qwen2.5-vl-3b" else
        "one 512x512 image (32 x 32 patches of 16 pixels: 256 image tokens), the question "
        f"\"{QUESTION}\", {report['tokens']} forced new tokens (EOS ignored), random weights at "
        "Qwen3-VL-2B-Instruct's configuration (the 24-block vision tower with three DeepStack "
        "levels, the 28-layer Qwen3 decoder, tied embeddings) and the project's Qwen-like test tokenizer"
        if qwen else
        f"one 512x512 image (one 512-pixel tile, 64 image tokens), the question \"{QUESTION}\", "
        f"{report['tokens']} forced new tokens (EOS ignored), random weights with the real "
        "configurations (SmolVLM-256M-Instruct from the fixture; SmolVLM-500M-Instruct = "
        "the same vision tower with SmolLM2-360M, untied lm_head; the 7B-class decoder = the same "
        "vision tower with LLaVA-1.5-7B's language model, bf16 checkpoint)")
    lines = ["Made by `tests/bench/run_bench.py` (see its header for how to run it); the raw "
             f"numbers are in `docs/{json_name}`.", "",
             f"- Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gib')} GiB "
             f"memory ({', '.join(m.get('cpu_flags', []))}); {m.get('platform')}",
             f"- Conditions: {report['threads']} thread{'s' if report['threads'] > 1 else ''} for every "
             f"engine, {conditions}. Each engine runs in a subprocess of its own; peak RSS is that "
             "process's. Each engine answers once after loading (\"first question after loading\") "
             f"and {report.get('warm_runs', 1)} time{'s' if report.get('warm_runs', 1) > 1 else ''} more; "
             "the other timings are those runs' medians.",
             f"- Load average before / after: {report['load_before']} / {report['load_after']} "
             f"({report.get('note', '')})",
             f"- Versions: {report.get('versions')}", *kernel_lines(report.get("kernel_choices")), ""]
    for name, r in report["models"].items():
        heading = (QWEN_HEADINGS[name] + " shapes" if qwen else "7B-class decoder (LLaVA-1.5-7B's language model)"
                   if name in BF16_ONLY else "SmolVLM-" + name.upper())
        lines += [f"### {heading}", "",
                  f"Checkpoint bytes: fp32 {r.get('checkpoint_mib', {}).get('float32', 0):.0f} MiB, "
                  f"bf16 {r.get('checkpoint_mib', {}).get('bfloat16', 0):.0f} MiB.", ""]
        cols = []
        for dtype in report["dtypes"]:
            short = SHORT_NAMES.get(dtype, dtype)
            cols.append((f"VQA Studio {short}", r.get("ours", {}).get(dtype, {})))
            if dtype not in OURS_ONLY:
                cols.append((f"transformers {short}", r.get("transformers", {}).get(dtype, {})))
            if dtype in GGUF_TYPES:
                cols.append((f"llama.cpp {short}", r.get("llamacpp", {}).get(dtype, {})))
        lines.append("| | " + " | ".join(c[0] for c in cols) + " |")
        lines.append("|---|" + "---|" * len(cols))
        for key, label in [("preprocess_ms", "image preprocessing (ms)"),
                           ("encode_ms", "vision encoding (ms)"),
                           ("prefill_ms", "prefill (ms)"),
                           ("first_token_ms", "time to first token (ms)"),
                           ("cold_first_token_ms", "time to first token, first question after "
                            "loading (ms)"),
                           ("followup_first_token_ms", "follow-up time to first token (ms)"),
                           ("decode_tokens_per_second", "decode (tokens/s)"),
                           ("peak_rss_mib", "peak RSS (MiB)")]:
            lines.append(f"| {label} | " + " | ".join(fmt(c[1].get(key)) for c in cols) + " |")
        lines += ["", "Ratios (ours ÷ theirs) and targets:", "",
                  "| dtype | decode ÷ transformers (≥ 1.5) | decode ÷ llama.cpp (≥ 1) | "
                  "TTFT ÷ transformers (≤ 0.7) | cold TTFT ÷ transformers | "
                  "follow-up TTFT ÷ first (≤ 0.2) | "
                  "peak RSS − checkpoint (≤ 400 MiB) |", "|---|---|---|---|---|---|---|"]
        for dtype in [d for d in report["dtypes"] if d not in OURS_ONLY]:
            o = r.get("ours", {}).get(dtype, {})
            t = r.get("transformers", {}).get(dtype, {})
            l = r.get("llamacpp", {}).get(dtype, {})
            ck = r.get("checkpoint_mib", {}).get(dtype)
            over = o.get("peak_rss_mib") - ck if o.get("peak_rss_mib") and ck else None
            vals = [ratio(o.get("decode_tokens_per_second"), t.get("decode_tokens_per_second")),
                    ratio(o.get("decode_tokens_per_second"), l.get("decode_tokens_per_second")),
                    ratio(o.get("first_token_ms"), t.get("first_token_ms")),
                    ratio(o.get("cold_first_token_ms"), t.get("cold_first_token_ms")),
                    ratio(o.get("followup_first_token_ms"), o.get("chat_first_token_ms")),
                    over]
            lines.append(f"| {dtype} | " + " | ".join(
                fmt(v) if i == 5 else ("–" if v is None else f"{v:.2f}")
                for i, v in enumerate(vals)) + " |")
        lines += quantized_lines(r, report["dtypes"])
        lines += cpu_target_lines(r, report["dtypes"])
        lines += vision_rate_lines(r, report)
        lines += ["", "Attention capture (the explain path: every layer's row of the new token "
                  "over the image tokens, kept for re-aggregation):", "",
                  "| dtype | decode tokens/s, off | on | on ÷ off | kept per token | "
                  "peak RSS on (MiB) |", "|---|---|---|---|---|---|"]
        for dtype in report["dtypes"]:
            o = r.get("ours", {}).get(dtype, {})
            on, off = o.get("capture_decode_tokens_per_second"), o.get("decode_tokens_per_second")
            kb = r.get("kept_bytes_per_token")
            lines.append(f"| {dtype} | {fmt(off)} | {fmt(on)} | "
                         f"{'–' if not ratio(on, off) else f'{ratio(on, off):.2f}'} | "
                         f"{'–' if not kb else f'{kb / 1024:.1f} KiB'} | "
                         f"{fmt(o.get('capture_peak_rss_mib'))} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def quantized_lines(r, dtypes):
    """The quantized precisions against llama.cpp at the same bits and against our bf16, and the
    error of the logits of both engines against float32."""
    lines = []
    bf16 = r.get("ours", {}).get("bfloat16", {})
    if any(d in QUANTIZED or d == AWQ for d in dtypes):
        lines += ["", "Quantized weights (ours ÷ llama.cpp at the same bits, and ÷ our bf16) and targets:", "",
                  "| dtype | decode ÷ llama.cpp (≥ 1) | decode ÷ our bf16 (int8 ≥ 1.7) | "
                  "TTFT ÷ our bf16 (≤ 1.2) | peak RSS (MiB), ours / llama.cpp |", "|---|---|---|---|---|"]
        for dtype in [d for d in dtypes if d in QUANTIZED or d == AWQ]:
            o = r.get("ours", {}).get(dtype, {})
            l = r.get("llamacpp", {}).get(dtype, {})
            vals = [ratio(o.get("decode_tokens_per_second"), l.get("decode_tokens_per_second")),
                    ratio(o.get("decode_tokens_per_second"), bf16.get("decode_tokens_per_second")),
                    ratio(o.get("first_token_ms"), bf16.get("first_token_ms"))]
            lines.append(f"| {SHORT_NAMES[dtype]} | " + " | ".join("–" if v is None else f"{v:.2f}" for v in vals)
                         + f" | {fmt(o.get('peak_rss_mib'))} / {fmt(l.get('peak_rss_mib'))} |")
    errors = r.get("error")
    if errors:
        # Runs since the float16 GEMM also score the sequence as an answer about the image
        # (vqa logits --image), where the vision tower's precision counts: "fast" differs from
        # float32 only there.
        with_image = any("ours_image" in errors.get(d, {}) for d in dtypes)
        lines += ["", f"Error of the logits against ours in float32 ({ERROR_POSITIONS} teacher-forced positions "
                  "of one random token sequence; llama.cpp's F32 row checks its conversion"
                  + ("; \"with the image\": the same sequence as the answer to a question about the benchmark's "
                     "image, so the vision tower's precision counts too" if with_image else "") + "):", "",
                  "| dtype | relative RMS, ours | llama.cpp | top-1 agreement, ours | llama.cpp |"
                  + (" relative RMS with the image, ours | top-1 with the image, ours |" if with_image else ""),
                  "|---|---|---|---|---|" + ("---|---|" if with_image else "")]
        for dtype in dtypes:
            e = errors.get(dtype, {})
            o, l, i = e.get("ours", {}), e.get("llamacpp", {}), e.get("ours_image", {})
            cell = lambda v, f: "–" if v is None else f.format(v)  # noqa: E731
            lines.append(f"| {SHORT_NAMES.get(dtype, dtype)} | {cell(o.get('relative_rms'), '{:.2e}')} | "
                         f"{cell(l.get('relative_rms'), '{:.2e}')} | {cell(o.get('top1_agreement'), '{:.3f}')} | "
                         f"{cell(l.get('top1_agreement'), '{:.3f}')} |"
                         + (f" {cell(i.get('relative_rms'), '{:.2e}')} | {cell(i.get('top1_agreement'), '{:.3f}')} |"
                            if with_image else ""))
    return lines


def cpu_target_lines(r, dtypes):
    """The float precisions against the targets every CPU kind is held to: first token and
    prefill against transformers in the same dtype ("fast" against transformers' float32, the
    precision it stands in for), decode against llama.cpp, and what attention capture costs."""
    shown = [d for d in ("float32", "bfloat16", "fast") if d in dtypes]
    if not shown:
        return []
    ours, theirs, llama = r.get("ours", {}), r.get("transformers", {}), r.get("llamacpp", {})
    ref = lambda d: theirs.get("float32" if d == "fast" else d, {})  # noqa: E731
    cell = lambda v, f="{:.2f}": "–" if v is None else f.format(v)  # noqa: E731

    def capture_cost(d):
        on, off = ours.get(d, {}).get("capture_decode_tokens_per_second"), ours.get(d, {}).get("decode_tokens_per_second")
        return None if not on or not off else 100 * (1 - on / off)

    rows = [("time to first token ÷ transformers", "bf16 ≤ 0.5, fast ≤ 0.6 (÷ fp32)",
             lambda d: ratio(ours.get(d, {}).get("first_token_ms"), ref(d).get("first_token_ms")), "{:.2f}"),
            ("prefill ÷ transformers", "≤ 0.8",
             lambda d: ratio(ours.get(d, {}).get("prefill_ms"), ref(d).get("prefill_ms")), "{:.2f}"),
            ("decode ÷ llama.cpp", "bf16 ≥ 1.2",
             lambda d: ratio(ours.get(d, {}).get("decode_tokens_per_second"),
                             llama.get(d, {}).get("decode_tokens_per_second")), "{:.2f}"),
            ("attention capture's cost of decode", "≤ 5 %", capture_cost, "{:.0f} %")]
    lines = ["", "Against the targets every kind of CPU is held to (same run):", "",
             "| | target | " + " | ".join(SHORT_NAMES[d] for d in shown) + " |",
             "|---|---|" + "---|" * len(shown)]
    for label, target, value, f in rows:
        lines.append(f"| {label} | {target} | " + " | ".join(cell(value(d), f) for d in shown) + " |")
    return lines


def peak_for(peak, dtype):
    """The core's peak a tower in `dtype` is held to: float32 its FMA rate; bfloat16 (and fast)
    the fastest of the bf16 dot products, the float32 FMA, the float16 FMA and AMX's bf16 tiles,
    since its products may run on any of them (CpuGemv.h's bf16Kernels). 0 when unknown."""
    if dtype == "float32":
        return peak.get("fp32_fma") or 0
    return max(peak.get(k) or 0 for k in ("bf16_dot", "fp32_fma", "fp16_fma", "amx_bf16"))


def vision_rate_lines(r, report):
    """The vision tower's arithmetic rate per core against the core's measured peak (peak_for)."""
    peak, gflop = report.get("core_peak_gflops"), r.get("vision_gflop")
    if not peak or not gflop or not peak.get("fp32_fma"):
        return []
    threads = report["threads"]

    def rate_text(key):
        return "–" if not peak.get(key) else format(peak[key], ".0f")

    lines = ["", f"The vision tower's arithmetic ({gflop:.0f} GFLOP a tile) per core against the core's peak, "
             f"measured by tests/bench/peak_flops.cpp: float32 FMA {peak['fp32_fma']:.0f} GFLOP/s, bfloat16 dot "
             f"products {rate_text('bf16_dot')} GFLOP/s, float16 FMA {rate_text('fp16_fma')} GFLOP/s, AMX bfloat16 "
             f"tiles {rate_text('amx_bf16')} GFLOP/s (bfloat16 rows against the fastest: its products may run on any "
             "of them):", "",
             "| | vision encoding (ms) | GFLOP/s per core | share of the core's peak |", "|---|---|---|---|"]
    for engine, label in [("ours", "VQA Studio"), ("transformers", "transformers")]:
        for dtype in [d for d in ("float32", "bfloat16", "fast") if d in report["dtypes"]]:
            ms = r.get(engine, {}).get(dtype, {}).get("encode_ms")
            if not ms:
                continue
            rate = gflop / (ms / 1000) / threads
            top = peak_for(peak, dtype)
            lines.append(f"| {label} {SHORT_NAMES[dtype]} | {ms:.0f} | {rate:.0f} | {100 * rate / top:.0f} % |")
    return lines


def kernel_lines(choices):
    """The report's line on the CPU kernels ours ran with (`vqa tune --json`), if known."""
    if not choices:
        return []

    def ways(names, prefix):
        return ", ".join(f"{n} {choices[prefix + n + '_ms']:.1f}" for n in names if choices.get(prefix + n + "_ms"))
    products, attention = ways(["native", "widened", "half"], ""), ways(["native", "widened", "ours"], "attention_")
    rows = ways(["native", "ours"], "f32_")
    return [f"- Kernels (`vqa tune`, {choices['source']}): bfloat16 products of many rows "
            f"{choices['bf16_kernels']}" + (f" ({products} ms)" if products else "") +
            f", an image's attention {choices['bf16_attention']}" + (f" ({attention} ms)" if attention else "") +
            (f", float32 products of a few rows {choices['f32_rows']}" + (f" ({rows} ms)" if rows else "")
             if choices.get("f32_rows") else "")]


def write_section(path, script, key, heading, body, after=None):
    """Puts `body` under `heading` between the markers of `script` and `key` in the Markdown
    file at `path`, replacing what a run before wrote there and keeping what people wrote around
    it and the results of other runs; a new section goes after the `after` marker where there is
    one, else at the end. Every benchmark script writes its sections through this."""
    tag = f" ({key})" if key else ""
    begin, end = f"<!-- {script}: results begin{tag} -->", f"<!-- {script}: results end{tag} -->"
    section = f"{begin}\n## {heading}\n\n{body}{end}"
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    if begin in text and end in text:
        text = text[:text.index(begin)] + section + text[text.index(end) + len(end):]
    elif after and after in text:
        at = text.index(after) + len(after)
        text = text[:at] + "\n\n" + section + text[at:]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    open(path, "w").write(text)


def write_markdown(path, results, threads, title, kind):
    """The section of this model set (`title`), thread count and kind of machine (run_kind)."""
    key = f"{title + ', ' if title else ''}{threads} threads, {kind}"
    write_section(path, "run_bench.py", key,
                  f"{title + ', ' if title else ''}{threads} thread{'s' if threads > 1 else ''}, {kind}", results)
