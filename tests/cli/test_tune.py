#!/usr/bin/env python3
"""`vqa tune` end to end, in a cache folder of its own: the environment's override (nothing
measured, nothing written), a first run that measures, a record read back as it is written
(a record made by hand, so what is read is certain), and --again measuring in its place.

  python test_tune.py --vqa build/app/vqa
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_checks import Checks  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vqa", required=True)
    args = ap.parse_args()
    c = Checks(args.vqa)
    with tempfile.TemporaryDirectory() as cache:
        env = {k: v for k, v in os.environ.items() if k not in ("VQA_BF16_KERNELS", "VQA_BF16_ATTENTION", "VQA_F32_ROWS")}
        env["XDG_CACHE_HOME"] = cache
        record_file = os.path.join(cache, "vqa-studio", "cpu-tuning.json")

        def tune(*argv, extra=None):
            r = subprocess.run([args.vqa, "tune", *argv], capture_output=True, text=True, timeout=300,
                               env=dict(env, **(extra or {})))
            return r, (json.loads(r.stdout) if r.returncode == 0 and "--json" in argv else None)

        # The environment decides: nothing is measured or recorded.
        forced = {"VQA_BF16_KERNELS": "widened", "VQA_BF16_ATTENTION": "native", "VQA_F32_ROWS": "native"}
        r, out = tune("--json", extra=forced)
        c.check("forced: exit 0", r.returncode == 0, r.stderr)
        c.check("forced: the environment's choices", out and out["bf16_kernels"] == "widened" and
                out["source"] == "environment" and out["bf16_attention"] == "native" and
                out["attention_source"] == "environment" and out["f32_rows"] == "native" and
                out["f32_rows_source"] == "environment", out)
        c.check("forced: nothing measured", out and out["native_ms"] == 0 and out["threads"] == 0, out)
        c.check("forced: nothing recorded", not os.path.exists(record_file), os.listdir(cache))
        r, _ = tune(extra=forced)
        c.check("forced: the text says so", r.returncode == 0 and "widened (environment)" in r.stdout and
                "native (environment)" in r.stdout, r.stdout + r.stderr)

        # The first run measures (and records unless the machine was busy while it did).
        r, first = tune("--json", "--threads", "1")
        c.check("first: exit 0", r.returncode == 0, r.stderr)
        c.check("first: measured with the threads asked for", first and first["source"] == "measured" and
                first["threads"] == 1 and first["native_ms"] > 0 and first["widened_ms"] > 0 and
                first["f32_rows_source"] == "measured" and first["f32_native_ms"] > 0, first)
        c.check("first: the record's file and key", first and first["file"] == record_file and
                first["cpu"] in first["key"], first)
        if first and not first["busy"]:
            c.check("first: recorded", first["key"] in json.load(open(record_file)))

        # A record says what to run (this one made by hand: native products, widened attention,
        # LibTorch's float32 rows).
        made = {"bf16_kernels": "native", "bf16_attention": "widened", "threads": 7, "native_ms": 1.5,
                "widened_ms": 2.5, "half_ms": 0, "attention_native_ms": 3.5, "attention_widened_ms": 0.5,
                "attention_ours_ms": 0, "f32_rows": "native", "f32_native_ms": 4.5, "f32_ours_ms": 5.5}
        os.makedirs(os.path.dirname(record_file), exist_ok=True)
        json.dump({first["key"]: made} if first else {}, open(record_file, "w"))
        r, out = tune("--json")
        c.check("recorded: read back", out and out["source"] == "recorded" and out["bf16_kernels"] == "native" and
                out["attention_source"] == "recorded" and out["bf16_attention"] == "widened" and
                out["native_ms"] == 1.5 and out["threads"] == 7 and out["f32_rows"] == "native" and
                out["f32_rows_source"] == "recorded", out)
        r, _ = tune()
        c.check("recorded: the text says where", r.returncode == 0 and "As recorded in " + record_file in r.stdout and
                "native (recorded: native 1.5 ms, widened 2.5 ms)" in r.stdout and
                "native (recorded: native 4.5 ms, ours 5.5 ms)" in r.stdout, r.stdout + r.stderr)

        # --again measures in its place.
        r, again = tune("--json", "--again", "--threads", "1")
        c.check("again: measured", again and again["source"] == "measured" and again["native_ms"] > 0 and
                again["native_ms"] != 1.5 and again["threads"] == 1, again)
        record = json.load(open(record_file))
        if again and not again["busy"]:
            c.check("again: recorded in place of the one before",
                    record[first["key"]]["threads"] == 1 and record[first["key"]]["native_ms"] == again["native_ms"],
                    record)
        else:
            c.check("again, busy: the record before stays", record.get(first["key"] if first else "") == made, record)

        r, _ = tune("--threads", "-1")
        c.check("a negative thread count is refused", r.returncode != 0 and "threads" in r.stderr, r.stderr)
    c.finish()


if __name__ == "__main__":
    main()
