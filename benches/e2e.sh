#!/usr/bin/env bash
# End-to-end conversion benchmark against the tools a user would otherwise reach for
# (unzip / zip -6 / a hand-written Python converter), with wall time and peak RSS per step.
#
# Usage: bash benches/e2e.sh [--size 42M] [--scale] [--runs 3]
#   --size N   parameter count of the generated MLP (default 42M; with Adam state the arrays
#              are 3 x 4 bytes x N, about 503 MB for 42M)
#   --scale    also run the conversions on a 4x model and print both sizes side by side
#   --runs N   runs per step; the table shows the median time and the largest peak RSS
#              (default 3; the 4x model runs each step once)
#
# Builds the release binary, a Python venv in target/bench-venv (numpy, safetensors from PyPI)
# and the model in target/bench/. Every step runs even when an earlier one fails.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

SIZE=42M
SCALE=0
RUNS1=3
RUNS4=1
while [ $# -gt 0 ]; do
    case "$1" in
        --size) SIZE=${2:?--size needs a value}; shift 2 ;;
        --scale) SCALE=1; shift ;;
        --runs) RUNS1=${2:?--runs needs a value}; RUNS4=$RUNS1; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

BIN=$ROOT/target/release/dl4j
GEN=$ROOT/target/release/examples/make_model
VENV=$ROOT/target/bench-venv
PY=$VENV/bin/python
WORK=$ROOT/target/bench

# ---- prerequisites ----
if [ ! -x /usr/bin/time ]; then
    echo "installing GNU time (Debian package 'time')"
    SUDO=""
    if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq time >/dev/null
fi
for tool in zip unzip python3; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done

echo "building release binary and model generator"
cargo build --release --quiet --bin dl4j --example make_model

if ! "$PY" -c 'import numpy, safetensors' 2>/dev/null; then
    echo "creating $VENV (numpy, safetensors)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check numpy safetensors
fi

# ---- helpers ----
# Parameter count of a size such as 42M, 1.5M, 500k or 1000000 (the generator's syntax).
count_of() {
    awk -v s="$1" 'BEGIN {
        m = 1; u = substr(s, length(s));
        if (u == "k" || u == "K") m = 1e3; else if (u == "m" || u == "M") m = 1e6;
        else if (u == "g" || u == "G") m = 1e9;
        if (m != 1) s = substr(s, 1, length(s) - 1);
        printf "%d", s * m + 0.5 }'
}

# Seconds from GNU time's "h:mm:ss" or "m:ss.ss".
seconds_of() {
    awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0;
        for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.2f", s }' "$1"
}

rss_mb_of() {
    awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$1"
}

declare -A SECS RSS STATUS USER_S SYS_S

# timed TAG KEY OUTPUTS CMD...: runs CMD $RUNS times under /usr/bin/time -v (stdout discarded,
# stderr kept in $DIR/KEY.log), deleting the files in OUTPUTS before each run, and records the
# median wall seconds, the largest peak RSS and the exit status under TAG.KEY.
timed() {
    local tag=$1 key=$2 outputs=$3
    shift 3
    local log=$DIR/$key.log
    local rc=0 t0 t1 i secs=() users=() syss=() rss=0 s r
    for ((i = 1; i <= RUNS; i++)); do
        # shellcheck disable=SC2086 # OUTPUTS is a list of paths without spaces
        [ -z "$outputs" ] || rm -rf $outputs
        # Dirty pages left by the previous step would otherwise be flushed on this step's time.
        sync
        t0=${EPOCHREALTIME:-}
        /usr/bin/time -v -o "$log.time" "$@" >/dev/null 2>"$log" || rc=$?
        t1=${EPOCHREALTIME:-}
        # bash >= 5 gives microseconds; GNU time's own figure has only 10 ms resolution.
        if [ -n "$t0" ]; then
            s=$(awk -v a="${t0/,/.}" -v b="${t1/,/.}" 'BEGIN { printf "%.3f", b - a }')
        else
            s=$(seconds_of "$log.time")
        fi
        r=$(rss_mb_of "$log.time")
        [ "$r" -gt "$rss" ] && rss=$r
        secs+=("$s")
        users+=("$(awk -F': ' '/User time/ { print $2 }' "$log.time")")
        syss+=("$(awk -F': ' '/System time/ { print $2 }' "$log.time")")
        [ "$rc" -eq 0 ] || break
    done
    # The median run by wall time, with its user and system CPU seconds.
    local m
    m=$(for i in "${!secs[@]}"; do echo "${secs[$i]} $i"; done | sort -g |
        awk '{ v[NR] = $2 } END { print v[int((NR + 1) / 2)] }')
    SECS[$tag.$key]=${secs[$m]}
    USER_S[$tag.$key]=${users[$m]}
    SYS_S[$tag.$key]=${syss[$m]}
    RSS[$tag.$key]=$rss
    if [ "$rc" -eq 0 ]; then
        STATUS[$tag.$key]=ok
    else
        STATUS[$tag.$key]=FAIL
        echo "  $key FAILED (exit $rc): $(tail -n 3 "$log" | tr '\n' ' ')" >&2
    fi
    printf '  %-14s %8ss %8s MB  %s  (runs: %s)\n' "$key" "${SECS[$tag.$key]}" "${RSS[$tag.$key]}" \
        "${STATUS[$tag.$key]}" "${secs[*]}"
}

# A field of `dl4j inspect --json`; empty when the file cannot be inspected.
inspect_field() {
    "$BIN" inspect --json "$1" 2>/dev/null | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
f = sys.argv[1]
if f == "check":
    u = d.get("updater") or {}
    print("ok" if d.get("layout_error") is None and u.get("error") is None else "layout error")
else:
    print(d.get(f))' "$2" || true
}

# Tensor names and shapes of a safetensors file, one per line, sorted.
tensor_shapes() {
    "$PY" -c '
import sys
from safetensors import safe_open
with safe_open(sys.argv[1], framework="numpy") as f:
    for k in sorted(f.keys()):
        print(k, f.get_slice(k).get_shape())' "$1"
}

declare -A CHECK
check() { # TAG NAME RESULT
    CHECK[$1.$2]=$3
    echo "  check $2: $3"
}

file_mb() {
    local total=0 f
    for f in "$@"; do
        [ -f "$f" ] && total=$((total + $(stat -c %s "$f")))
    done
    awk -v b="$total" 'BEGIN { printf "%.0f", b / 1e6 }'
}

# bench TAG PARAMS [KEEP]: generates the model and times every step; without KEEP the large
# outputs are deleted once checked (the 4x run would need ~14 GB otherwise).
bench() {
    local tag=$1 params=$2 keep=${3:-0}
    DIR=$WORK/$tag
    mkdir -p "$DIR"
    local model=$DIR/model.zip
    if [ ! -f "$model" ] || [ "$(cat "$DIR/params" 2>/dev/null)" != "$params" ]; then
        echo "generating $model ($params params, MLP + Adam)"
        rm -f "$model"
        "$GEN" --arch mlp --params "$params" --seed 7 "$model"
        echo "$params" >"$DIR/params"
    fi
    local n
    n=$(inspect_field "$model" num_params)
    echo "model $model: $n params, $(file_mb "$model") MB zip"
    check "$tag" model-layout "$(inspect_field "$model" check)"
    cat "$model" >/dev/null # warm the page cache so every step reads from memory

    timed "$tag" unzip "" unzip -p "$model"
    timed "$tag" st-export "$DIR/model.safetensors" "$BIN" convert "$model" "$DIR/model.safetensors" --force --quiet
    timed "$tag" python "$DIR/peer.safetensors" "$PY" "$ROOT/benches/python_peer.py" "$model" "$DIR/peer.safetensors"
    if [ "${STATUS[$tag.st-export]}" = ok ] && [ "${STATUS[$tag.python]}" = ok ]; then
        if [ "$(tensor_shapes "$DIR/model.safetensors")" = "$(tensor_shapes "$DIR/peer.safetensors")" ]; then
            check "$tag" peer-tensors same
        else
            check "$tag" peer-tensors DIFFERENT
        fi
    fi
    # Large outputs go as soon as they are checked: the 4x run then peaks near 3x its zip.
    [ "$keep" = 1 ] || rm -f "$DIR/peer.safetensors"

    timed "$tag" st-import "$DIR/back.zip" "$BIN" convert "$DIR/model.safetensors" "$DIR/back.zip" --force --quiet
    if [ "${STATUS[$tag.st-import]}" = ok ]; then
        local m
        m=$(inspect_field "$DIR/back.zip" num_params)
        [ "$m" = "$n" ] && check "$tag" back-params "same ($m)" || check "$tag" back-params "DIFFERENT ($m vs $n)"
        SIZE_BACK[$tag]=$(file_mb "$DIR/back.zip")
    fi
    [ "$keep" = 1 ] || rm -f "$DIR/back.zip" "$DIR/model.safetensors"

    (cd "$DIR" && rm -rf entries zip6.zip && mkdir entries && cd entries && unzip -q ../model.zip)
    timed "$tag" zip6 "$DIR/zip6.zip" sh -c 'cd "$1/entries" && zip -6 -q -X ../zip6.zip configuration.json coefficients.bin updaterState.bin' sh "$DIR"
    SIZE_ZIP6[$tag]=$(file_mb "$DIR/zip6.zip")
    [ "$keep" = 1 ] || rm -rf "$DIR/zip6.zip" "$DIR/entries"

    local onnx_flags=()
    [ "$tag" = 4x ] && onnx_flags=(--external-data)
    rm -f "$DIR/model.onnx" "$DIR/model.onnx.data" "$DIR/model.data"
    timed "$tag" onnx-export "$DIR/model.onnx $DIR/model.onnx.data $DIR/model.data" "$BIN" convert "$model" "$DIR/model.onnx" --force --quiet "${onnx_flags[@]}"
    ONNX_MB[$tag]=$(file_mb "$DIR/model.onnx" "$DIR/model.onnx.data" "$DIR/model.data")
    timed "$tag" onnx-import "$DIR/back2.zip" "$BIN" convert "$DIR/model.onnx" "$DIR/back2.zip" --force --quiet
    if [ "${STATUS[$tag.onnx-import]}" = ok ]; then
        local m
        m=$(inspect_field "$DIR/back2.zip" num_params)
        [ "$m" = "$n" ] && check "$tag" onnx-params "same ($m)" || check "$tag" onnx-params "DIFFERENT ($m vs $n)"
    fi
    [ "$keep" = 1 ] || rm -f "$DIR/model.onnx" "$DIR/model.onnx.data" "$DIR/model.data" "$DIR/back2.zip"

    timed "$tag" inspect "" "$BIN" inspect "$model"
    PARAMS_OF[$tag]=$n
    MODEL_MB[$tag]=$(file_mb "$model")
}

declare -A SIZE_BACK SIZE_ZIP6 ONNX_MB PARAMS_OF MODEL_MB

# ---- machine ----
CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
CORES=$(nproc)
RAM_GB=$(awk '/^MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
# Other load skews the figures; it is printed so a noisy run can be recognised.
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "machine: ${CPU:-unknown CPU}, $CORES cores, $RAM_GB GiB RAM, load average $LOAD0"

N1=$(count_of "$SIZE")
echo "== 1x: $SIZE"
RUNS=$RUNS1
bench 1x "$N1" $((1 - SCALE)) # keep the 1x outputs unless disk is needed for 4x
if [ "$SCALE" = 1 ]; then
    echo "== 4x: $((N1 * 4)) params"
    RUNS=$RUNS4
    bench 4x $((N1 * 4)) 0
fi

# ---- report ----
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
# verdict OK-EXPR: PASS/MISS from an awk condition on the values given after it.
verdict() { awk "BEGIN { print ($1) ? \"PASS\" : \"MISS\" }"; }
# A step's column: "FAIL" when it failed, else seconds and MB.
cell() {
    if [ "${STATUS[$1.$2]:-}" = ok ]; then
        printf '%8s %6s %6s %7s' "${SECS[$1.$2]}" "${USER_S[$1.$2]}" "${SYS_S[$1.$2]}" "${RSS[$1.$2]}"
    elif [ -n "${STATUS[$1.$2]:-}" ]; then printf '%8s %6s %6s %7s' FAIL - - -
    else printf '%8s %6s %6s %7s' - - - -; fi
}

STEPS="unzip st-export python st-import zip6 onnx-export onnx-import inspect"
declare -A LABEL=(
    [unzip]="unzip -p (inflate floor)"
    [st-export]="dl4j -> safetensors"
    [python]="python peer -> safetensors"
    [st-import]="safetensors -> dl4j"
    [zip6]="zip -6 of the entries"
    [onnx-export]="dl4j -> onnx"
    [onnx-import]="onnx -> dl4j"
    [inspect]="dl4j inspect"
)

echo
echo "machine: ${CPU:-unknown CPU}, $CORES cores, $RAM_GB GiB RAM"
echo "load average: $LOAD0 at start, $(cut -d' ' -f1-3 /proc/loadavg) at end"
echo "times: median of $RUNS1 run(s) per step for 1x$([ "$SCALE" = 1 ] && echo ", $RUNS4 for 4x"); memory: largest peak RSS"
TAGS="1x"
[ "$SCALE" = 1 ] && TAGS="1x 4x"
for t in $TAGS; do
    echo "model $t: ${PARAMS_OF[$t]} params; files: model.zip ${MODEL_MB[$t]} MB, back.zip ${SIZE_BACK[$t]:-?} MB, zip -6 ${SIZE_ZIP6[$t]:-?} MB, onnx ${ONNX_MB[$t]:-?} MB"
done
echo
printf '%-28s' step
for t in $TAGS; do printf ' %8s %6s %6s %7s' "$t wall" user sys "peak MB"; done
[ "$SCALE" = 1 ] && printf ' %8s %8s' "4x/1x wall" "user"
echo
for s in $STEPS; do
    printf '%-28s' "${LABEL[$s]}"
    for t in $TAGS; do printf ' %s' "$(cell "$t" "$s")"; done
    if [ "$SCALE" = 1 ] && [ "${STATUS[1x.$s]:-}" = ok ] && [ "${STATUS[4x.$s]:-}" = ok ]; then
        printf ' %10s %8s' "$(ratio "${SECS[4x.$s]}" "${SECS[1x.$s]}")" \
            "$(ratio "${USER_S[4x.$s]}" "${USER_S[1x.$s]}")"
    fi
    echo
done

echo
printf '%-44s %10s %-22s %s\n' "target" value goal result
for t in $TAGS; do
    ok() { [ "${STATUS[$t.$1]:-}" = ok ]; }
    row() { printf '%-44s %10s %-22s %s\n' "$t $1" "$2" "$3" "$4"; }
    if ok st-export && ok unzip; then
        r=$(ratio "${SECS[$t.st-export]}" "${SECS[$t.unzip]}")
        row "safetensors export / unzip" "${r}x" "<= 0.75x" "$(verdict "$r <= 0.75")"
    else row "safetensors export / unzip" - "<= 0.75x" FAIL; fi
    if ok st-export && ok python; then
        r=$(ratio "${SECS[$t.python]}" "${SECS[$t.st-export]}")
        row "python / dl4j (safetensors export)" "${r}x" ">= 3x" "$(verdict "$r >= 3")"
    else row "python / dl4j (safetensors export)" - ">= 3x" FAIL; fi
    if ok st-export; then
        row "safetensors export peak RSS" "${RSS[$t.st-export]} MB" "<= 400 MB" \
            "$(verdict "${RSS[$t.st-export]} <= 400")"
    else row "safetensors export peak RSS" - "<= 400 MB" FAIL; fi
    if ok st-import && ok zip6; then
        r=$(ratio "${SECS[$t.st-import]}" "${SECS[$t.zip6]}")
        row "safetensors import / zip -6" "${r}x" "<= 0.6x" "$(verdict "$r <= 0.6")"
    else row "safetensors import / zip -6" - "<= 0.6x" FAIL; fi
    if ok onnx-export && ok unzip; then
        r=$(ratio "${SECS[$t.onnx-export]}" "${SECS[$t.unzip]}")
        row "onnx export / unzip" "${r}x" "<= 1.0x" "$(verdict "$r <= 1.0")"
        lim=$(awk -v m="${ONNX_MB[$t]}" 'BEGIN { printf "%.0f", 1.5 * m }')
        row "onnx export peak RSS" "${RSS[$t.onnx-export]} MB" "<= $lim MB (1.5x file)" \
            "$(verdict "${RSS[$t.onnx-export]} <= $lim")"
    else
        row "onnx export / unzip" - "<= 1.0x" FAIL
        row "onnx export peak RSS" - "<= 1.5x onnx file" FAIL
    fi
    if ok inspect; then
        row "inspect seconds" "${SECS[$t.inspect]} s" "< 0.1 s" "$(verdict "${SECS[$t.inspect]} < 0.1")"
    else row "inspect seconds" - "< 0.1 s" FAIL; fi
done

echo
echo "checks:"
for k in $(printf '%s\n' "${!CHECK[@]}" | sort); do echo "  $k: ${CHECK[$k]}"; done
echo "logs and outputs: ${WORK#"$ROOT"/}/"
