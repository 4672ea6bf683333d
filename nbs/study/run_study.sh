#!/usr/bin/env bash
# Chapter 12's CPU study: every command that produced the numbers in nbs/study/*.json, in order.
# Run from the repository root with the CIFAR-10 array folder under $CRATE_MAE_DATA (or --data-root).
# Checkpoints go to runs/study/ (not committed); results (small JSON files) to nbs/study/.
# Each step is skipped when its result exists, so the script can be stopped and started again.
# Usage: run_study.sh [pretrain|probe|reconstruct|finetune|sweep|all] (default all)
set -euo pipefail
WHAT=${1:-all}
want() { [ "$WHAT" = all ] || [ "$WHAT" = "$1" ]; }
R=runs/study; S=nbs/study; mkdir -p $R $S
COMMON="--dataset cifar10 --recipe cpu --batch-size 256 --amp bf16 --no-progress --log-every 10"
step() { echo "== $(date -u +%H:%M:%S) $*"; }

# 1. pretraining, 25 minutes of wall time each, same recipe (cpu: lr 1.5e-3 at batch 256, AdamW (0.9, 0.95),
#    wd 0.05, 5% warmup then cosine fitted to the budget, clip 1.0), mask 0.75, crop + flip, bf16 autocast
want pretrain && for m in crate vit; do
  step pretrain $m
  [ -f $R/$m/final.safetensors ] || crate-mae pretrain --config ${m}_mae_cifar $COMMON --time-budget 25m --out $R/$m
  cp $R/$m/metrics.jsonl $S/metrics_$m.jsonl
done

# 2. linear probes (10,000 train images, full test set, standardized, both protocols, cls and mean),
#    of the pretrained encoders, of the same encoders at random init (seed 0), and of raw pixels
want probe && for m in crate vit; do
  step probe $m
  [ -f $S/probe_$m.json ] || crate-mae probe --checkpoint $R/$m/final.safetensors --dataset cifar10 --kind cls,mean --train-limit 10000 --no-progress --json $S/probe_$m.json
  [ -f $S/probe_random_$m.json ] || crate-mae probe --model ${m}_mae_cifar --dataset cifar10 --kind cls,mean --train-limit 10000 --no-progress --json $S/probe_random_$m.json
done
want probe && [ ! -f $S/probe_pixels.json ] && crate-mae probe --pixels --dataset cifar10 --train-limit 10000 --no-progress --json $S/probe_pixels.json

# 3. reconstruction loss (Table 4's measure: masked-patch MSE at mask 0.75, fixed per-image masks), 10,000 images per split
want reconstruct && for m in crate vit; do
  step reconstruct $m
  [ -f $S/recon_$m.json ] || crate-mae reconstruct --checkpoint $R/$m/final.safetensors --dataset cifar10 --splits train,test --limit 10000 --no-progress --json $S/recon_$m.json
done

# 4. fine-tuning (all parameters, logits = W LN(z_cls)), 100 steps of 256 images (half an epoch), lr 5e-4,
#    of each pretrained encoder and its random-init twin
want finetune && for m in crate vit; do
  step finetune $m
  [ -f $S/finetune_$m.json ] || crate-mae finetune --checkpoint $R/$m/final.safetensors --dataset cifar10 --steps 100 --lr 5e-4 --bf16 --out $R/ft_$m --no-progress --json $S/finetune_$m.json
  [ -f $S/finetune_random_$m.json ] || crate-mae finetune --model ${m}_mae_cifar --dataset cifar10 --steps 100 --lr 5e-4 --bf16 --out $R/ft_random_$m --no-progress --json $S/finetune_random_$m.json
done

# 5. the sweeps (Tables 5 and 6 at CPU scale): 2-minute runs of CRATE-MAE, probed like step 2 but with
#    C in {0.1, 1, 10, 100} (the best C of every probe in step 2 lies in it; large C only costs time)
want sweep && step sweeps && python - <<'PY'
import json, os
from crate_mae.evaluate import pretrain_and_probe
runs = [("mask0.75_lam0.5", 0.75, 0.5), ("mask0.9_lam0.5", 0.9, 0.5), ("mask0.75_lam0.1", 0.75, 0.1)]
path = "nbs/study/sweep.json"
res = json.load(open(path)) if os.path.exists(path) else []
for name, r, lam in runs:
    if any(d["name"] == name for d in res): continue
    d = pretrain_and_probe("crate_mae_cifar", {"lam": lam}, r, out=f"runs/study/sweep/{name}", kinds=("cls", "mean"),
                           train_limit=10000, progress=False, probe_kw=dict(Cs=(0.1, 1., 10., 100.)), recipe="cpu", batch_size=256, amp="bf16", time_budget=120,
                           log_every=10)
    d.pop("probe"); d["name"] = name; res.append(d); print(json.dumps(d), flush=True)
    json.dump(res, open(path, "w"), indent=1)
PY
step done
