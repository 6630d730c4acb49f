#!/usr/bin/env bash
# The GPU check, in one go, for a machine lent with an NVIDIA GPU for a few minutes: with only
# this repository (and ../shared beside it) it sets up and builds (scripts/setup), runs the
# tests that need CUDA (the CUDA bf16 path against the general path and the reference's
# numbers, CUDA graph replay, device detection and fallback, 8- and 4-bit and AWQ weights
# dequantized on the GPU), then a short benchmark of our
# engine against transformers on the same GPU (SmolVLM-256M, and -500M without --quick; bf16),
# and writes build/gpu/summary.json and build/gpu/summary.md.
#
#   tests/gpu/run.sh [--quick]      # --quick: 256M only, 32 tokens: under 4 minutes once built
#
# Without a GPU every part says "skipped: no CUDA device" and the script exits 0, so it can be
# checked end to end on any machine. Exit status: 1 when a GPU test fails.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build_dir=${VQA_BUILD_DIR:-$root/build}
out="$build_dir/gpu"
quick=0
[ "${1:-}" = "--quick" ] && quick=1
mkdir -p "$out"
say() { printf '[gpu] %s\n' "$*"; }
start=$(date +%s)

gpu=""
if command -v nvidia-smi >/dev/null 2>&1; then
    gpu=$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -1 || true)
fi

summary() { # status of the tests, status of the benchmark
    local tests="$1" bench="$2"
    python3 - "$out" "$gpu" "$tests" "$bench" "$quick" "$(( $(date +%s) - start ))" <<'EOF'
import json, os, sys
out, gpu, tests, bench, quick, seconds = sys.argv[1:]
summary = {"gpu": gpu or None, "quick": quick == "1", "seconds": int(seconds),
           "tests": tests, "benchmark": bench}
bench_json = os.path.join(out, "bench.json")
if bench == "ran" and os.path.exists(bench_json):
    summary["bench"] = json.load(open(bench_json))
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=1)
lines = ["# GPU check", "", f"- GPU: {gpu or 'none'}", f"- mode: {'quick' if quick == '1' else 'full'}",
         f"- took: {seconds} s", f"- GPU tests: {tests}", f"- benchmark: {bench}"]
if os.path.exists(os.path.join(out, "bench.md")):
    lines += ["", open(os.path.join(out, "bench.md")).read()]
open(os.path.join(out, "summary.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
}

if [ -z "$gpu" ]; then
    say "GPU tests (CUDA bf16 path, CUDA graphs, device fallback): skipped: no CUDA device"
    say "benchmark (SmolVLM on CUDA against transformers): skipped: no CUDA device"
    summary "skipped: no CUDA device" "skipped: no CUDA device"
    exit 0
fi

say "GPU: $gpu"
"$root/scripts/setup"
python=$(grep -oP '^VQA_PYTHON:FILEPATH=\K.*' "$build_dir/CMakeCache.txt")

say "GPU tests"
tests_status="passed"
if ! ctest --test-dir "$build_dir" --output-on-failure -R 'Cuda|Gpu|OnAGpu|Device\.' \
        > "$out/tests.log" 2>&1; then
    tests_status="FAILED (see $out/tests.log)"
fi
tail -5 "$out/tests.log"

say "benchmark"
bench_status="ran"
models="256m,500m"
tokens=128
if [ "$quick" = 1 ]; then
    models="256m"
    tokens=32
fi
if ! "$python" "$root/tests/bench/run_bench.py" --build "$build_dir" --device cuda --models "$models" \
        --dtypes bfloat16 --tokens "$tokens" --threads "$(nproc)" --work "$out/work" \
        --json-out "$out/bench.json" --md-out "$out/bench.md" > "$out/bench.log" 2>&1; then
    bench_status="FAILED (see $out/bench.log)"
fi
summary "$tests_status" "$bench_status"
[ "$tests_status" = "passed" ]
