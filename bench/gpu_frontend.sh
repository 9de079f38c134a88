#!/usr/bin/env bash
# The GPU figures of bench/frontend.py as one short script (issue 4), for a machine with a
# CUDA GPU and a Python that has torch and numpy: `bash bench/gpu_frontend.sh OUTDIR`.
# Wheels for anything else it needs (msgspec) may lie in .whl/ (installed to /tmp/site).
set -u
out=${1:-out}
mkdir -p "$out"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader
# 1. the long session: persistent vs re-prefill, flatness, memory (30 simulated minutes)
timeout 200 python3 bench/frontend.py --device cuda --minutes 30 --skip-cadence \
  | tee "$out/frontend_cuda_long.json"
# 2. sessions at cadence: searched with 5 s probes, confirmed over 60 s, batched and serial
timeout 330 python3 bench/frontend.py --device cuda --minutes 5 --cadence-seconds 60 \
  --search-seconds 5 --skip-median --max-sessions 8192 \
  | tee "$out/frontend_cuda_cadence.json"
