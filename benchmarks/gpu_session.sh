#!/usr/bin/env bash
# One GPU session, as one script: the full-profile figures, the GPU benchmark (training
# throughput, FLOPs, MFU, targets, top kernels) and the timm parity test. Every step
# runs under its own timeout, so one failure or hang does not lose the others, and all
# of them within BUDGET seconds (default 540: one 10-minute call with room to spare).
#
#   OUT=<folder> benchmarks/gpu_session.sh              # on a CUDA machine
#   DRY_RUN=1 OUT=<folder> benchmarks/gpu_session.sh    # anywhere: the same steps on
#       the CPU with tiny sizes (figures --device cpu --profile test; tiny models,
#       1 warm-up + 2 timed steps, torch.compile with the "eager" backend, profiler on
#       CPU activities), no nvidia-smi; the same files come out
#       (tests/test_gpu_session.py runs it)
#
# Writes into $OUT six files (a device machine sends back at most 8), each up to date
# after every step:
#   session.txt       the machine (nvidia-smi: GPU, memory, driver, power, clock), the
#                     versions, and each step's exit status, seconds and limit
#   bench_gpu.json    every benchmark result; bench_gpu.md renders it as the Markdown
#                     tables for benchmarks/README.md (= bench.py --markdown the JSON)
#   kernels.txt       the top CUDA kernels of ours, eager and compiled, on gMLP-S/16
#   figures.tar.gz    figures/: every figure of the post POST, drawn into a copy of its
#                     figures folder (PNGs + manifest.json), to unpack over that folder
#                     (for blog-post-2: assets/img/blog2)
#   logs.tar.gz       logs/: each step's full output
# Environment: PY (default python3), POST (the post whose figures are drawn, default
# blog-post-2), BUDGET (seconds), PEAK_TFLOPS (the MFU peak when the GPU is not an
# H100/H200 SXM), COMPILE_BACKEND (default inductor; eager in a dry run), WHEELS
# (default .whl).
# The peer, g-mlp-pytorch, is timed when it imports. A GPU machine without internet
# needs its wheel carried in: `pip download --no-deps g-mlp-pytorch==0.1.5 -d .whl`
# here first (add einops where it is missing), and .whl carried along (it is
# git-ignored); without it only our model is timed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
OUT=${OUT:?set OUT to a folder for the results}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
PY=${PY:-python3}
POST=${POST:-blog-post-2}
DRY_RUN=${DRY_RUN:-0}
BUDGET=${BUDGET:-540}
WHEELS=${WHEELS:-.whl}
# the package and the engine, for a python where neither is installed
export PYTHONPATH="$PWD:$PWD/engine${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
START=$SECONDS
FAILED=0
# the work happens outside $OUT; $OUT only ever holds the six files above
W=$(mktemp -d "${TMPDIR:-/tmp}/gpu_session.XXXXXX") || exit 2
trap 'rm -rf "$W"' EXIT
LOGS=$W/logs
mkdir -p "$LOGS"
printf 'step\tstatus\tseconds\tlimit_s\n' >"$LOGS/steps.tsv"

# pack: session.txt and logs.tar.gz from what the steps wrote so far
pack() {
    cat "$LOGS/gpu.txt" "$LOGS/steps.tsv" >"$OUT/session.txt" 2>/dev/null
    tar -czf "$OUT/logs.tar.gz" -C "$W" logs
}

# limit CAP: CAP seconds, or what is left of BUDGET if that is less
limit() {
    local left=$((BUDGET - (SECONDS - START)))
    echo $(($1 < left ? $1 : left))
}

# margin LIMIT: the seconds bench.py gives its workers within a step of LIMIT seconds,
# so that it still writes down what a worker that ran out of time had measured
margin() {
    echo $(($1 > 40 ? $1 - 15 : $1 * 2 / 3))
}

# step NAME LIMIT LOG COMMAND...: COMMAND under `timeout LIMIT`, output to LOG; the
# exit status OKRC (if set) counts as success too
step() {
    local name=$1 lim=$2 log=$3 rc=0 t0=$SECONDS
    shift 3
    if ((lim < 10)); then
        printf '%s\tskipped: budget spent\t0\t%s\n' "$name" "$lim" >>"$LOGS/steps.tsv"
        echo "== $name: skipped, the budget of $BUDGET s is spent"
        FAILED=$((FAILED + 1))
        return
    fi
    timeout -k 10 "$lim" "$@" >"$log" 2>&1 || rc=$?
    [ "$rc" = "${OKRC:-0}" ] && rc=0
    local status=$rc
    ((rc == 124 || rc == 137)) && status="timed out ($rc)"
    ((rc != 0)) && FAILED=$((FAILED + 1))
    printf '%s\t%s\t%s\t%s\n' "$name" "$status" $((SECONDS - t0)) "$lim" \
        >>"$LOGS/steps.tsv"
    echo "== $name: exit $status after $((SECONDS - t0)) s (limit $lim s), logs/${log##*/}:"
    tail -n "${TAIL:-6}" "$log"
    pack
}

# 0. the machine, the versions and the peer
if [ "$DRY_RUN" = 1 ]; then
    echo "DRY RUN on the CPU ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 |
        sed 's/^ //')), no nvidia-smi" | tee "$LOGS/gpu.txt"
    NOTE="dry run"
    FIGURES=(--device cpu --profile test)
    BENCH=(--dry-run --device cpu -v)
else
    timeout 20 nvidia-smi --format=csv,noheader \
        --query-gpu=name,memory.total,driver_version,power.limit,clocks.max.sm \
        | tee "$LOGS/gpu.txt"
    NOTE="nvidia-smi: $(head -n1 "$LOGS/gpu.txt")"
    FIGURES=(--device cuda --profile full)
    BENCH=(--device cuda -v)
fi
[ -n "${PEAK_TFLOPS:-}" ] && BENCH+=(--peak-tflops "$PEAK_TFLOPS")
[ -n "${COMPILE_BACKEND:-}" ] && BENCH+=(--compile-backend "$COMPILE_BACKEND")
if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    if ! $PY -m pip install -q --no-index --no-deps --target "$W/peer" \
        "$WHEELS"/*.whl >"$LOGS/peer_install.log" 2>&1; then
        # no pip: a pure-Python wheel imports from the zip file itself
        for wheel in "$(cd "$WHEELS" && pwd)"/*.whl; do
            PYTHONPATH="$PYTHONPATH:$wheel"
        done
    fi
    export PYTHONPATH="$PYTHONPATH:$W/peer"
fi
timeout 30 $PY - <<'EOF' | tee -a "$LOGS/gpu.txt"
import importlib.metadata as m
import importlib.util
import sys

names = ["torch", "triton", "numpy", "matplotlib", "einops", "g-mlp-pytorch", "timm"]
versions = []
for name in names:
    try:
        versions.append(f"{name} {m.version(name)}")
    except m.PackageNotFoundError:
        found = importlib.util.find_spec(name.replace("-", "_")) is not None
        versions.append(f"{name} {'(version unknown)' if found else '-'}")
print("python", sys.version.split()[0] + ";", ", ".join(versions))
peer = all(importlib.util.find_spec(n) for n in ("g_mlp_pytorch", "einops"))
print("peer:", "g-mlp-pytorch is timed" if peer else "missing, only ours is timed")
EOF
pack

# 1. every figure of the post, starting from the committed ones (their manifest is
# updated); its figures folder is the post's FigureSet's
FOLDER=$($PY -c 'import sys; from explainer.figures import find
print(next(s.out for s in find("posts", ".") if s.matches(sys.argv[1])))' "$POST")
cp -r "$FOLDER" "$W/figures"
step figures "$(limit 200)" "$LOGS/figures.log" \
    $PY -m explainer.figures --post "$POST" "${FIGURES[@]}" --force -q --out "$W/figures"
tar -czf "$OUT/figures.tar.gz" -C "$W" --exclude='.*.lock' figures

# 2. gMLP-S/16 at batch 128 and 256: the peer eager, ours eager and compiled (bf16
# autocast, forward + backward + AdamW), FLOPs, MFU, targets; and the top kernels of
# ours eager and compiled at batch 128, each right after its timing
lim=$(limit 270)
step bench-vision "$lim" "$LOGS/bench_vision.log" \
    $PY benchmarks/bench.py "${BENCH[@]}" --case vision --kernels \
    --json "$OUT/bench_gpu.json" --note "$NOTE" --budget-s "$(margin "$lim")"

# 3. the causal LM (d=512, f=2048, L=6, n=256, V=20000), batch 128: tokens/s, MFU
lim=$(limit 90)
step bench-lm "$lim" "$LOGS/bench_lm.log" \
    $PY benchmarks/bench.py "${BENCH[@]}" --case clm \
    --json "$OUT/bench_gpu.json" --note "$NOTE" --budget-s "$(margin "$lim")"

# 4. our models vs timm's own gmlp_*16_224 (the test skips itself, exit status 5,
# where timm does not import; not run at all where timm is not installed)
if $PY -c "import importlib.util as u, sys; sys.exit(u.find_spec('timm') is None)"; then
    OKRC=5 step timm-parity "$(limit 90)" "$LOGS/timm_parity.log" \
        $PY -m pytest -q -p no:cacheprovider tests/test_timm_parity.py
else
    echo "timm is not installed: tests/test_timm_parity.py not run" \
        | tee "$LOGS/timm_parity.log"
    printf 'timm-parity\tskipped: no timm\t0\t0\n' >>"$LOGS/steps.tsv"
fi

echo "all steps: $((SECONDS - START)) s, budget $BUDGET s" >>"$LOGS/steps.tsv"
pack
echo "== session.txt"
cat "$OUT/session.txt"
echo "== bench_gpu.md"
cat "$OUT/bench_gpu.md" 2>/dev/null || echo "(no bench_gpu.md)"
echo "== files in $OUT"
ls -l "$OUT"
exit $((FAILED > 0))
