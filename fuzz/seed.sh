#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ from the real files in the fixtures (../shared/fixtures, or
# $DL4J_FIXTURES): model zips, their entries (coefficients.bin, updaterState.bin,
# normalizer.bin, configuration.json), loose ND4J arrays, safetensors and ONNX files. Inputs
# over 1 MB are left out (libFuzzer's default -max_len is far below; they only slow it down).
# The corpus is not committed: the fixtures are not ours to copy.
set -euo pipefail
cd "$(dirname "$0")"
FIX=${DL4J_FIXTURES:-../../shared/fixtures}
[ -d "$FIX" ] || { echo "no fixtures at $FIX (set DL4J_FIXTURES)" >&2; exit 1; }
for t in nd4j_array normalizer native_zip config_layout safetensors onnx; do
    mkdir -p "corpus/$t"
done
small() { [ "$(stat -c %s "$1")" -le 1000000 ]; }
put() { # TARGET FILE
    small "$2" || return 0
    cp "$2" "corpus/$1/$(sha1sum "$2" | cut -c1-16)"
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
while IFS= read -r -d '' z; do
    put native_zip "$z"
    rm -rf "${tmp:?}"/*
    unzip -q -o "$z" -d "$tmp" 2>/dev/null || continue
    for e in coefficients.bin updaterState.bin; do
        [ -f "$tmp/$e" ] && put nd4j_array "$tmp/$e"
    done
    [ -f "$tmp/normalizer.bin" ] && put normalizer "$tmp/normalizer.bin"
    [ -f "$tmp/configuration.json" ] && put config_layout "$tmp/configuration.json"
done < <(find "$FIX" -name '*.zip' -print0)
while IFS= read -r -d '' f; do put nd4j_array "$f"; done < <(find "$FIX" \( -name '*.bin' -o -name '*.nd4j' \) -print0)
while IFS= read -r -d '' f; do put safetensors "$f"; done < <(find "$FIX" -name '*.safetensors' -print0)
while IFS= read -r -d '' f; do put onnx "$f"; done < <(find "$FIX" -name '*.onnx' -print0)
for t in corpus/*; do echo "$t: $(find "$t" -type f | wc -l) files"; done
