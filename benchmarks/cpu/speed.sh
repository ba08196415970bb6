#!/usr/bin/env bash
# CPU training and inference speed (issue 16's protocol): the zoo on every Keras backend, keras.applications and
# PyTorch eager (channels_last) on the same machine, each job in a process of its own, two interleaved rounds,
# 3 untimed warm-up steps, images/s from the median step. Run on a quiet machine from a clean checkout:
#   benchmarks/cpu/speed.sh benchmarks/results/cpu-2core/throughput
# Then the before/after of the TensorFlow kernel choice (Eigen = TensorFlow's own default on AVX2 CPUs):
#   benchmarks/cpu/speed.sh benchmarks/results/cpu-2core/throughput kernels
# On a CPU with bfloat16 instructions (avx512_bf16 or amx_bf16 in /proc/cpuinfo), bfloat16 training beside
# PyTorch's autocast and float32, both precisions in one interleaved run per net:
#   benchmarks/cpu/speed.sh benchmarks/results/cpu-2core-avx512/throughput bf16
set -euo pipefail
out=${1:?"usage: speed.sh OUT [kernels]"}
common=(--precision float32 --steps 6 --warmup 3)
if [[ ${2:-} == kernels ]]; then
  # same processes, same rounds, TF_ENABLE_ONEDNN_OPTS=0 (Eigen, the zoo before d6c35ee) and =1 interleaved
  for round in 1 2; do
    for kernels in 0 1; do
      TF_ENABLE_ONEDNN_OPTS=$kernels python -m zoo throughput resnet18_cifar --input-size 32 --batch-size 64 \
        "${common[@]}" --frameworks zoo --backends tensorflow --out "$out/kernels/onednn$kernels-round$round/resnet18_cifar"
      TF_ENABLE_ONEDNN_OPTS=$kernels python -m zoo throughput resnet50 --input-size 96 --batch-size 32 \
        "${common[@]}" --frameworks zoo --backends tensorflow --out "$out/kernels/onednn$kernels-round$round/resnet50"
    done
  done
  exit 0
fi
if [[ ${2:-} == bf16 ]]; then
  grep -qE 'avx512_bf16|amx_bf16' /proc/cpuinfo || { echo "this CPU has no bfloat16 instructions"; exit 2; }
  bf16=(--steps 6 --warmup 3 --rounds 2 --backends tensorflow --frameworks zoo,pytorch-eager)
  for precision in mixed_bfloat16 float32; do
    python -m zoo throughput resnet18_cifar --input-size 32 --batch-size 64 --precision $precision "${bf16[@]}" \
      --out "$out/resnet18_cifar-32-b64-$precision"
    python -m zoo throughput resnet50 --input-size 96 --batch-size 32 --precision $precision "${bf16[@]}" \
      --out "$out/resnet50-96-b32-$precision"
    # the fast CIFAR net of the time-to-accuracy table, at its recipe's batch
    python -m zoo throughput airbench94 --input-size 32 --batch-size 1024 --precision $precision "${bf16[@]}" \
      --out "$out/airbench94-32-b1024-$precision"
  done
  exit 0
fi
frameworks=zoo,keras-applications,pytorch-eager,pytorch-compile
python -m zoo throughput resnet18_cifar --input-size 32 --batch-size 64 "${common[@]}" --rounds 2 \
  --backends tensorflow,jax,torch --frameworks $frameworks --out "$out/resnet18_cifar-32-b64"
python -m zoo throughput resnet50 --input-size 96 --batch-size 32 "${common[@]}" --rounds 2 \
  --backends tensorflow,jax,torch --frameworks $frameworks --out "$out/resnet50-96-b32"
# keras.applications' own ResNet50 layout in the zoo, like for like (TensorFlow; PyTorch runs the same spec)
python -m zoo throughput resnet50_keras --input-size 96 --batch-size 32 "${common[@]}" --rounds 3 \
  --backends tensorflow --frameworks zoo,keras-applications,pytorch-eager --out "$out/resnet50_keras-96-b32"
