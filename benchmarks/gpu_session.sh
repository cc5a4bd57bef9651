#!/usr/bin/env bash
# One GPU session, as one script: the full-profile figures, timm parity, and the GPU benchmark.
# Usage (on a machine with CUDA, from the repository root): OUT=<folder> benchmarks/gpu_session.sh
# Writes into $OUT: figures/ (PNGs + manifest.json), *.log, and the GPU's description.
# A GPU machine without internet needs the peer carried in: `pip download --no-deps g-mlp-pytorch==0.1.5 -d .whl`
# here first (einops must be there already); without it only our model is timed.
set -uo pipefail
OUT=${OUT:?set OUT to a folder for the results}
PY=${PY:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT"
IMPLS=ours
if ls .whl/g_mlp_pytorch-*.whl >/dev/null 2>&1; then
    $PY -m pip install -q --no-index --no-deps --target "$OUT/.peer" .whl/g_mlp_pytorch-*.whl \
        && export PYTHONPATH="$PYTHONPATH:$OUT/.peer" && IMPLS="ours peer"
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
$PY -c "import sys, torch, matplotlib; print(sys.version.split()[0], torch.__version__, matplotlib.__version__)" | tee -a "$OUT/gpu.txt"

# 1. every figure at the full profile, starting from the committed ones (their manifest is updated)
cp -r assets/img/blog2 "$OUT/figures"
( time timeout 200 $PY -m explainer.figures --device cuda --profile full --force -q --out "$OUT/figures" ) \
    > "$OUT/figures.log" 2>&1
tail -n 15 "$OUT/figures.log"

# 2. our models vs timm's own gmlp_*16_224 (timm imports there)
timeout 90 $PY -m pytest -q -p no:cacheprovider tests/test_timm_parity.py > "$OUT/timm_parity.log" 2>&1
tail -n 3 "$OUT/timm_parity.log"

# 3. bf16 training-step throughput and MFU of gMLP-S/16, ours and the peer eager, ours compiled
timeout 240 $PY benchmarks/bench.py --device cuda --dtype bf16 --compile --impls $IMPLS \
    > "$OUT/bench_gpu.log" 2>&1
tail -n 20 "$OUT/bench_gpu.log"
rm -rf "$OUT/.peer"
