#!/usr/bin/env bash
# Before/after per change of issue 16, TensorFlow on this CPU, interleaved over two rounds, one process per
# measurement (benchmarks/cpu/step_time.py: 3 warm-up steps, median of 6):
#   before   zoo at BEFORE (TensorFlow picks its kernels: Eigen on an AVX2 CPU; 3x3 maps up to 4x4 as matrix
#            products, every kernel tap)
#   taps     zoo at AFTER with Eigen kept (TF_ENABLE_ONEDNN_OPTS=0): + padding-only taps left out
#   onednn   zoo at AFTER, matrix products still up to 4x4 (ZOO_MATMUL_MAX_POSITIONS=16): + oneDNN kernels
#   after    zoo at AFTER as shipped: + matrix products only up to 2x2
# usage: benchmarks/cpu/changes.sh BEFORE_CHECKOUT AFTER_CHECKOUT OUT.jsonl
set -euo pipefail
before=${1:?usage}; after=${2:?usage}; out=${3:?usage}
script=$(cd "$(dirname "$0")" && pwd)/step_time.py
nets=("resnet18_cifar 32 3 64" "resnet50 96 3 32 --classes 1000" "resnet18_mnist_functional 28 1 64")
: > "$out"
for round in 1 2; do
  for net in "${nets[@]}"; do
    for change in before taps onednn after; do
      case $change in
        before) env=(); tree=$before ;;
        taps) env=(TF_ENABLE_ONEDNN_OPTS=0); tree=$after ;;
        onednn) env=(ZOO_MATMUL_MAX_POSITIONS=16); tree=$after ;;
        after) env=(); tree=$after ;;
      esac
      line=$(cd /tmp && env -u TF_ENABLE_ONEDNN_OPTS -u ZOO_MATMUL_MAX_POSITIONS "${env[@]}" KERAS_BACKEND=tensorflow \
             TF_CPP_MIN_LOG_LEVEL=3 PYTHONPATH="$tree" python "$script" $net 2>/dev/null | tail -1)
      echo "{\"round\": $round, \"change\": \"$change\", \"result\": $line}" | tee -a "$out"
    done
  done
done
