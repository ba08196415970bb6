#!/usr/bin/env bash
# One batch of GPU work on the device machine, from the repository root, with `.device` carried (built here by
# `../shared/tools/device-prep mnist cifar10`). Results come back as one archive per job under $OUT.
#
#   ZOO_GIT_SHA=<commit> benchmarks/gpu/run.sh throughput
#   ZOO_GIT_SHA=<commit> benchmarks/gpu/run.sh bench SWEEP [zoo bench options...]
#
# `bench` stops the sweep before the device tool's 10-minute limit (ZOO_GPU_SECONDS, default 520) and still
# archives the table; a later call resumes it when the archive it brought back is put in .device/resume/.
# Unpack an archive into benchmarks/results/<job>/ and commit it (every row carries its environment).
set -euo pipefail
job=${1:?"usage: run.sh throughput | bench SWEEP [options]"}; shift
out=${OUT:?"run on the device machine: \$OUT is where results go"}
if [ -z "${ZOO_GPU_NO_INSTALL:-}" ]; then   # set it to try the script where keras is installed already
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    .device/wheels/*.whl
fi
export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax PYTHONUNBUFFERED=1
export ZOO_CACHE_DIR=${ZOO_CACHE_DIR:-/tmp/zoo-cache}   # decoded datasets and the JAX compilation cache
name=$job
if [ "$job" = bench ]; then name=$(basename "${1:?bench needs a sweep name or file}" .toml); fi
work=/tmp/zoo-gpu/$name
mkdir -p "$work"
if [ -f ".device/resume/$name.tar.gz" ]; then tar xzf ".device/resume/$name.tar.gz" -C "$work"; fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$work/nvidia-smi.csv" 2>/dev/null || true
status=0
case $job in
  throughput)
    python3 -m zoo throughput resnet18 resnet50 --input-size 224 --batch-size 256 --precision mixed_bfloat16 \
      --out "$work" "$@" 2>&1 | tee "$work/log.txt" || status=$? ;;
  bench)
    timeout --signal=INT "${ZOO_GPU_SECONDS:-520}" python3 -m zoo bench "$@" --data-dir .device/datasets \
      --out "$work" --quiet 2>&1 | tee -a "$work/log.txt" || status=$? ;;
  *) echo "unknown job $job (throughput, bench)" >&2; exit 2 ;;
esac
tar czf "$out/$name.tar.gz" -C "$work" .
echo "run.sh: $name archived ($(du -h "$out/$name.tar.gz" | cut -f1)), exit status $status"
