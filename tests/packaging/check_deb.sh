#!/usr/bin/env bash
# Builds the .deb with CPack and checks it: usage check_deb.sh BUILD_DIR SCRATCH_DIR SOURCE_DIR
set -uo pipefail
build=$1 scratch=$2 source=$3
app_id=io.github.vqastudio.VQAStudio
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }
need() { command -v "$1" >/dev/null || { echo "SKIP: $1 is not installed"; exit 77; }; }
need cpack; need dpkg-deb; need dpkg; need readelf; need ldd

for f in app/vqa app/vqa-studio packaging/icons/hicolor/16x16/apps/$app_id.png; do
    [ -e "$build/$f" ] || { echo "FAIL: $build/$f is not built; build the default targets first (ninja -C $build)"; exit 1; }
done

rm -rf "$scratch" && mkdir -p "$scratch/pkg" "$scratch/home"
# --- 1. Build the package -------------------------------------------------------------------
start=$(date +%s%N)
if ! cpack --config "$build/CPackConfig.cmake" -B "$scratch/pkg" >"$scratch/cpack.log" 2>&1; then
    cat "$scratch/cpack.log"; echo "FAIL: cpack"; exit 1
fi
ms=$(( ($(date +%s%N) - start) / 1000000 ))
deb=$(ls "$scratch"/pkg/vqa-studio_*_amd64.deb 2>/dev/null | head -1)
[ -f "$deb" ] || { echo "FAIL: no .deb in $scratch/pkg"; exit 1; }
echo "built $(basename "$deb"): $(( $(stat -c %s "$deb") / 1000000 )) MB in $((ms / 1000)).$(printf %03d $((ms % 1000)))s"

# --- 2. Metadata ----------------------------------------------------------------------------
info=$(dpkg-deb --info "$deb")
depends=$(dpkg-deb --field "$deb" Depends)
[ "$(dpkg-deb --field "$deb" Package)" = vqa-studio ] && ok "package name" || fail "package name"
[ "$(dpkg-deb --field "$deb" Architecture)" = amd64 ] && ok "architecture" || fail "architecture"
for p in libqt6widgets6 libqt6gui6 libqt6core6 libqt6svg6 qt6-qpa-plugins libopencv-core406 \
         libopencv-imgproc406 libopencv-imgcodecs406 libsentencepiece0 libpcre2-8-0 libicu72 libcurl4; do
    [[ ",$depends," == *", $p"[\ ,]* || ",$depends," == *",$p"[\ ,]* ]] || fail "Depends lacks $p"
done
ok "Depends: $depends"
[[ $(dpkg-deb --ctrl-tarfile "$deb" | tar -t) == *md5sums* ]] && ok "md5sums" || fail "no md5sums in the control archive"

# --- 3. Contents ----------------------------------------------------------------------------
contents=$(dpkg-deb --contents "$deb" | awk '{print $6}')
expect=(./usr/bin/vqa ./usr/bin/vqa-studio
        ./usr/lib/vqa-studio/libtorch_cpu.so ./usr/lib/vqa-studio/libc10.so
        ./usr/share/applications/$app_id.desktop ./usr/share/metainfo/$app_id.metainfo.xml
        ./usr/share/icons/hicolor/scalable/apps/$app_id.svg ./usr/share/doc/vqa-studio/README.md
        ./usr/share/doc/vqa-studio/licenses/libtorch/LICENSE)
for size in 16 22 24 32 48 64 128 256 512; do
    expect+=(./usr/share/icons/hicolor/${size}x${size}/apps/$app_id.png)
done
for path in "${expect[@]}"; do
    grep -qxF "$path" <<<"$contents" || fail "missing $path"
done
ok "${#expect[@]} expected files present"
for bad in libtorch_cuda libc10_cuda libcublas libcudnn libnccl libcusparse libcufft 'site-packages' '\.pyc$' '/build/'; do
    if grep -qE "$bad" <<<"$contents"; then fail "the package ships something it must not: $(grep -E "$bad" <<<"$contents" | head -1)"; fi
done
ok "no CUDA compute libraries, no Python files"

# --- 4. Unpack into a scratch root ------------------------------------------------------------
root=$scratch/root
dpkg -x "$deb" "$root" || { echo "FAIL: dpkg -x"; exit 1; }
desktop=$root/usr/share/applications/$app_id.desktop
metainfo=$root/usr/share/metainfo/$app_id.metainfo.xml
if command -v desktop-file-validate >/dev/null; then
    desktop-file-validate "$desktop" && ok "desktop-file-validate" || fail "desktop-file-validate"
else
    echo "note: desktop-file-validate not installed; desktop entry checked by hand only"
fi
grep -q "^Exec=vqa-studio %F" "$desktop" && ok "desktop entry opens files" || fail "Exec line"
grep -q "^Icon=$app_id$" "$desktop" || fail "Icon= is not $app_id"
for mime in image/png image/jpeg image/webp image/tiff image/bmp; do
    grep -q "^MimeType=.*$mime;" "$desktop" || fail "MimeType lacks $mime"
done
if command -v appstreamcli >/dev/null; then
    appstreamcli validate --no-net "$metainfo" && ok "appstreamcli validate" || fail "appstreamcli validate"
else
    echo "note: appstreamcli not installed; metainfo checked by hand only"
fi
grep -q "<launchable type=\"desktop-id\">$app_id.desktop</launchable>" "$metainfo" || fail "metainfo launchable"
grep -q "<release version=\"[0-9]" "$metainfo" || fail "metainfo has no release"
for size in 16 48 512; do
    png=$root/usr/share/icons/hicolor/${size}x${size}/apps/$app_id.png
    dims=$(od -An -tu1 -j16 -N8 "$png" | awk '{printf "%d %d", $3*256+$4, $7*256+$8}')
    [ "$dims" = "$size $size" ] || fail "$png is $dims, not $size x $size"
done
ok "icons have their sizes"

# --- 5. Programs find their libraries, not the build's or the Python environment's --------
for prog in vqa vqa-studio; do
    runpath=$(readelf -d "$root/usr/bin/$prog" | sed -n 's/.*R\(UN\)\?PATH.*\[\(.*\)\]/\2/p')
    [ "$runpath" = '$ORIGIN/../lib/vqa-studio' ] && ok "$prog RUNPATH $runpath" || fail "$prog RUNPATH is '$runpath'"
done
clean_env=(env -i HOME="$scratch/home" PATH=/usr/bin:/bin LANG=C.UTF-8 HF_HUB_CACHE="$scratch/home/hub")
# The CUDA graph plugin is loaded only after LibTorch's CUDA library (from a GPU user's torch),
# which the package does not ship: those are the only libraries it may lack.
plugin=$root/usr/lib/vqa-studio/libvqa_cuda_graphs.so
libs=()
for f in "$root"/usr/lib/vqa-studio/*.so*; do [ "$f" = "$plugin" ] || libs+=("$f"); done
if [ -f "$plugin" ]; then
    missing=$("${clean_env[@]}" ldd "$plugin" | awk '/not found/ {print $1}' | sort -u | tr '\n' ' ')
    if grep -qvE '^(libtorch_cuda\.so|libc10_cuda\.so)$' <(tr ' ' '\n' <<<"$missing" | sed '/^$/d'); then
        fail "the CUDA graph plugin lacks more than LibTorch's CUDA libraries: $missing"
    else
        ok "CUDA graph plugin shipped; it needs only LibTorch's CUDA libraries from elsewhere (${missing% })"
    fi
fi
ldd_out=$("${clean_env[@]}" ldd "$root/usr/bin/vqa-studio" "$root/usr/bin/vqa" "${libs[@]}")
if grep -q "not found" <<<"$ldd_out"; then fail "unresolved libraries: $(grep 'not found' <<<"$ldd_out" | sort -u | tr '\n' ' ')"; fi
while read -r lib path; do
    [[ $(readlink -f "$path") == "$root/usr/lib/vqa-studio/"* ]] || fail "$lib resolves outside the package, to $path"
done < <(awk '$2 == "=>" && $1 ~ /^lib(torch|c10|cudart|cupti|gomp)/ {print $1, $3}' <<<"$ldd_out" | sort -u)
grep -qE "site-packages|venv" <<<"$ldd_out" && fail "a library comes from a Python environment"
ok "ldd: everything resolves, LibTorch from usr/lib/vqa-studio"

# Every system library the package's files NEED (directly) belongs to a package it depends on.
declare -A dep_names=()
for d in $(tr ',|' '\n\n' <<<"$depends" | sed 's/(.*)//; s/ //g'); do dep_names[$d]=1; done
declare -A owners=()
for f in "$root/usr/bin/vqa" "$root/usr/bin/vqa-studio" "${libs[@]}"; do
    resolved=$("${clean_env[@]}" ldd "$f")
    for lib in $(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
        path=$(awk -v l="$lib" '$1 == l && $2 == "=>" {print $3}' <<<"$resolved")
        [[ -z $path || $path == "$root"* ]] && continue
        real=$(readlink -f "$path")
        pkg=$(dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null || dpkg -S "/usr$real" 2>/dev/null)
        pkg=${pkg%%:*}
        [ -n "$pkg" ] && owners[$pkg]+="$lib "
    done
done
for pkg in "${!owners[@]}"; do
    [ -n "${dep_names[$pkg]:-}" ] || fail "needs ${owners[$pkg]}from $pkg, which Depends does not name"
done
ok "Depends covers the libraries the files need: ${!owners[*]}"

# --- 6. Run them with a clean environment -------------------------------------------------
if out=$("${clean_env[@]}" "$root/usr/bin/vqa" --help 2>&1) && grep -q download <<<"$out" && grep -q models <<<"$out"; then
    ok "vqa --help"
else
    fail "vqa --help: $out"
fi
out=$("${clean_env[@]}" "$root/usr/bin/vqa" models 2>&1)
grep -q "HuggingFaceTB/SmolVLM-256M-Instruct" <<<"$out" && ok "vqa models" || fail "vqa models: $out"
out=$("${clean_env[@]}" QT_QPA_PLATFORM=offscreen "$root/usr/bin/vqa-studio" --help 2>&1)
[ $? -eq 0 ] && grep -qi "usage" <<<"$out" && ok "vqa-studio --help" || fail "vqa-studio --help: $out"

# The installed vqa downloads a model from a Hub (the tests' stand-in on 127.0.0.1).
server_out=$scratch/server.out
python3 "$source/tests/hub/fake_hub_server.py" --idle 60 --lifetime 300 >"$server_out" 2>&1 &
server=$!
for _ in $(seq 100); do grep -q '^PORT ' "$server_out" && break; sleep 0.1; done
port=$(awk '/^PORT/ {print $2}' "$server_out")
if [ -n "$port" ]; then
    snap=$("${clean_env[@]}" VQA_HUB_ENDPOINT="http://127.0.0.1:$port" "$root/usr/bin/vqa" download -q test-org/tiny-vlm)
    [ -f "$snap/config.json" ] && [ -f "$snap/model.safetensors" ] && ok "vqa download into $snap" ||
        fail "vqa download printed '$snap'"
    out=$("${clean_env[@]}" "$root/usr/bin/vqa" models 2>&1)
    grep -q "test-org/tiny-vlm" <<<"$out" && ok "vqa models lists the download" || fail "vqa models after download: $out"
    out=$("${clean_env[@]}" VQA_HUB_ENDPOINT="http://127.0.0.1:$port" "$root/usr/bin/vqa" download test-org/corrupt-vlm 2>&1)
    [ $? -ne 0 ] && grep -q checksum <<<"$out" && ok "vqa download refuses a damaged file" || fail "corrupt download: $out"
else
    fail "the fake Hub server did not start: $(cat "$server_out")"
fi
kill "$server" 2>/dev/null; wait "$server" 2>/dev/null

# --- 7. cmake --install puts the same files in place ------------------------------------------
if cmake --install "$build" --prefix "$scratch/inst" >"$scratch/install.log" 2>&1; then
    diff <(cd "$root/usr" && find . -type f -o -type l | sort) <(cd "$scratch/inst" && find . -type f -o -type l | sort) \
        >"$scratch/install.diff" && ok "cmake --install installs the package's files" ||
        fail "cmake --install differs from the package: $(head -5 "$scratch/install.diff")"
    cmp -s "$scratch/inst/bin/vqa" "$root/usr/bin/vqa" || fail "cmake --install's vqa differs from the package's"
else
    fail "cmake --install: $(tail -3 "$scratch/install.log")"
fi

rm -rf "$scratch/pkg" "$scratch/root" "$scratch/inst"  # ~1 GB
if [ $failures -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all package checks passed"
