#!/usr/bin/env bash
# Second prepared GPU session: (a) CRATE-MAE-B@224 compiled training step at batch 256 (MFU),
# (b) the CPU study's hyperparameter sweep (bench/gpu_sweep.py) at the CPU run's image budget,
# 6 processes sharing the GPU. Expects .whl/ (fastcore) and .carry/data/cifar10 as gpu_session.sh.
set -uo pipefail
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/device.txt"
python3 -c "import torch; print('torch', torch.__version__)" | tee -a "$OUT/device.txt"
timeout 130 python3 bench/gpu_throughput.py --models crate_mae_base --batch 256 --steps 20 --compile \
  --json "$OUT/throughput_b256.json" 2>&1 | grep -v Warning | tee "$OUT/throughput_b256.txt"
IMAGES=${IMAGES:-376000}
for g in 0,6 1,7 2,8 3,9 4,10 5,11; do
  timeout 430 python3 bench/gpu_sweep.py --data-root .carry/data --images $IMAGES --only $g --threads 2 \
    --json "$OUT/sweep.jsonl" > "/tmp/sweep_${g/,/-}.log" 2>&1 &
done
wait
tail -n 5 /tmp/sweep_*.log | grep -v Warning > "$OUT/sweep_logs.txt"
cat "$OUT/sweep.jsonl"
echo done
