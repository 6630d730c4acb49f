#!/usr/bin/env bash
# `vqa-studio --help`, `--version` and a mistyped option are answered without a display:
# the command line is read before the GUI starts (QApplication aborts when there is none).
set -euo pipefail
studio=$1
run() { env -u DISPLAY -u WAYLAND_DISPLAY -u QT_QPA_PLATFORM "$studio" "$@"; }

out=$(run --help)
grep -q -- "--model" <<<"$out" || { echo "--help did not list --model:"; echo "$out"; exit 1; }
echo "ok: --help"

out=$(run --version)
grep -Eq "^VQA Studio [0-9]+\.[0-9]+" <<<"$out" || { echo "--version said: $out"; exit 1; }
echo "ok: --version ($out)"

set +e
err=$(run --no-such-option 2>&1 >/dev/null)
rc=$?
set -e
[ "$rc" -ne 0 ] || { echo "a mistyped option exited 0"; exit 1; }
grep -q "no-such-option" <<<"$err" || { echo "a mistyped option said: $err"; exit 1; }
echo "ok: a mistyped option exits $rc and names it"
