#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/CMakeLists.txt, clang, ASan + UBSan) in their
# own build folder and runs each for a bounded time from its committed seed corpus. Fails
# when a target crashes, leaks, hits undefined behaviour or times out on an input; the
# input that did it is left in <build>/artifacts/<target>/.
#
#   tests/fuzz/run.sh [seconds per target, default 60] [target ...]
#
# Environment: VQA_FUZZ_BUILD_DIR (default build-fuzz/ in the checkout), VQA_PYTHON (the
# interpreter whose torch wheel provides LibTorch; default: the one build/ was configured with).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${VQA_FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_safetensors fuzz_tokenizer fuzz_image fuzz_grounding fuzz_chat_request fuzz_eval)
say() { printf '[fuzz] %s\n' "$*"; }

python=${VQA_PYTHON:-}
if [ -z "$python" ] && [ -f "$root/build/CMakeCache.txt" ]; then
    python=$(sed -n 's/^VQA_PYTHON:FILEPATH=//p' "$root/build/CMakeCache.txt")
fi
[ -n "$python" ] || python=$(ls -d "$HOME"/.cache/vqa-studio/venv-*/bin/python 2>/dev/null | head -1)
command -v clang++ >/dev/null || { echo "[fuzz] clang++ is missing: scripts/setup installs it" >&2; exit 1; }

start=$(date +%s)
if [ ! -f "$build/build.ninja" ]; then
    launcher=()
    command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
    cmake -S "$root/tests/fuzz" -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
        -DVQA_PYTHON:FILEPATH="$python" "${launcher[@]}" >/dev/null
fi
export CCACHE_BASEDIR="$root"
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}"
say "built in $(( $(date +%s) - start )) s"

# Leaks: LibTorch keeps static allocations alive at exit, which LeakSanitizer would report
# against the safetensors target; our own code there is covered by the ASan unit tests.
failed=()
for t in "${targets[@]}"; do
    work="$build/corpus/$t"
    artifacts="$build/artifacts/$t"
    mkdir -p "$work" "$artifacts"
    leaks=1
    [ "$t" = fuzz_safetensors ] && leaks=0
    say "$t: ${seconds} s from $(ls "$root/tests/fuzz/corpus/$t" | wc -l) seeds"
    if ASAN_OPTIONS="detect_leaks=$leaks:allocator_may_return_null=1" UBSAN_OPTIONS=print_stacktrace=1 \
        "$build/$t" "$work" "$root/tests/fuzz/corpus/$t" -max_total_time="$seconds" -timeout=20 \
        -rss_limit_mb=3072 -max_len=16384 -print_final_stats=1 -artifact_prefix="$artifacts/" \
        >"$build/$t.log" 2>&1; then
        say "$t: clean ($(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$build/$t.log" | grep -o '[0-9]*$') runs)"
    else
        say "$t: FAILED; the log is $build/$t.log, the input in $artifacts/"
        tail -n 40 "$build/$t.log" >&2
        failed+=("$t")
    fi
done
say "total $(( $(date +%s) - start )) s"
[ ${#failed[@]} -eq 0 ] || { say "failed: ${failed[*]}"; exit 1; }
