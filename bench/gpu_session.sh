#!/usr/bin/env bash
# One prepared GPU session (device tool): throughput/MFU of the 224 configs, then a short CIFAR-10
# pretraining of crate_mae_cifar and its evaluation. Expects the fastcore wheel in .whl/ and a CIFAR-10
# array folder (test set + a 10,000-image train slice) in .carry/data/cifar10; writes into $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/device.txt"
python3 -c "import torch; print('torch', torch.__version__)" | tee -a "$OUT/device.txt"
D=.carry/data
# (a) training-step throughput and MFU at 224, bf16, batch 128
timeout 150 python3 bench/gpu_throughput.py --models crate_mae_base vit_mae_base --batch 128 --steps 20 \
  --json "$OUT/throughput.json" 2>&1 | grep -v Warning | tee "$OUT/throughput.txt"
timeout 120 python3 bench/gpu_throughput.py --models crate_mae_base --batch 128 --steps 20 --compile \
  --json "$OUT/throughput_compile.json" 2>&1 | grep -v Warning | tail -3 | tee -a "$OUT/throughput.txt"
# (b) pretrain crate_mae_cifar on the 10,000-image CIFAR-10 slice for 150 s, then evaluate
timeout 210 python3 -m crate_mae.cli pretrain --config crate_mae_cifar --dataset cifar10 --data-root $D \
  --recipe cpu --blr 1e-3 --batch-size 256 --amp bf16 --time-budget 150s --out /tmp/run --no-progress --log-every 50 \
  2>&1 | tail -5 | tee "$OUT/pretrain.txt"
cp /tmp/run/metrics.jsonl /tmp/run/curves.png /tmp/run/final.safetensors "$OUT/" 2>/dev/null
for who in "--checkpoint /tmp/run/final.safetensors" "--model crate_mae_cifar"; do
  timeout 100 python3 -m crate_mae.cli probe $who --dataset cifar10 --data-root $D --kind cls,mean \
    --no-progress --no-cache 2>&1 | tail -4 | tee -a "$OUT/eval.txt"
done
timeout 40 python3 -m crate_mae.cli reconstruct --checkpoint /tmp/run/final.safetensors --dataset cifar10 \
  --data-root $D --no-progress 2>&1 | tail -2 | tee -a "$OUT/eval.txt"
echo done
