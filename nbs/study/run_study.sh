#!/usr/bin/env bash
# Chapter 12's CPU study: every command behind nbs/study/*.json, in order. Run from the repository root with the
# CIFAR-10 array folder under $CRATE_MAE_DATA. Checkpoints go to runs/study/ (not committed); results (small JSON
# files) to nbs/study/. Each step is skipped when its result exists, so the script can be stopped and started again.
# Budgets are in images: the steps each configuration trains in 25 minutes on this machine, its step measured alone
# (chapter 12's `budget_steps`, cached in nbs/study/search/throughput.json), so runs may share the machine (THREADS=1
# runs two at once on two cores). Usage: run_study.sh [pretrain|probe|reconstruct|finetune|all] [RUN ...]
set -euo pipefail
WHAT=${1:-all}; shift || true
want() { [ "$WHAT" = all ] || [ "$WHAT" = "$1" ]; }
R=runs/study; S=nbs/study; mkdir -p $R $S
THREADS=${THREADS:-}
MIN=${MIN:-25}
# the tuned recipe (chapter 12's search) and the anchor's (the authors' code's CIFAR recipe), on our engine
TUNED="--recipe cpu --norm-pix-loss --blr 3e-3"
ANCHOR="--recipe cpu --lr 1e-3 --weight-decay 0.05 --crop pad --clip-grad 0"
# run | config | batch | flags | budget from (the anchor trains exactly as many images as the tuned CRATE run)
runs() { cat <<'RUNS'
crate        | crate_mae_cifar | 64  | TUNED  | crate_mae_cifar/64
vit          | vit_mae_cifar   | 64  | TUNED  | vit_mae_cifar/64
crate_anchor | crate_mae_cifar | 256 | ANCHOR | crate_mae_cifar/64
RUNS
}
RUNLIST=${*:-crate vit crate_anchor}
steps() {  # steps of batch $2 that see the images config $3 trains in $MIN minutes at batch $4
  local n; n=$(python -m crate_mae.study steps --config "$3" --batch "$4" --minutes "$MIN" --cache $S/search/throughput.json)
  echo $(( n * $4 / $2 ))
}
if want pretrain; then
  for k in $RUNLIST; do
    IFS='|' read -r _ CFG B FL FROM <<<"$(runs | awk -F'|' -v n="$k" '{x = $1; gsub(/ /, "", x)} x == n')"
    CFG=$(echo $CFG); B=$(echo $B); FL=$(echo $FL); FROM=$(echo $FROM)
    FLAGS=${!FL}; N=$(steps "$k" "$B" "${FROM%/*}" "${FROM#*/}")
    echo "== $(date -u +%H:%M:%S) pretrain $k: $N steps of $B ($FLAGS)"
    [ -f $R/$k/final.safetensors ] || crate-mae pretrain --config $CFG --dataset cifar10 --batch-size $B --steps $N $FLAGS \
      --log-every 10 --ckpt-every 200 --no-progress --out $R/$k ${THREADS:+--threads $THREADS} $([ -f $R/$k/checkpoint.pt ] && echo --resume)
    cp $R/$k/metrics.jsonl $S/metrics_$k.jsonl; cp $R/$k/config.json $S/config_$k.json
  done
fi
# linear probes of every encoder layer (10,000 train / 10,000 test images, standardized, both protocols), of the
# pretrained encoders, of the same encoders at random init (seed 0), and of raw pixels
PROBE="--dataset cifar10 --layers all --train-limit 10000 --test-limit 10000 --Cs 0.1,1,10 --no-cache --no-progress"
if want probe; then
  for k in $RUNLIST; do
    [ -f $S/probe_$k.json ] || crate-mae probe --checkpoint $R/$k/final.safetensors $PROBE --json $S/probe_$k.json
  done
  for m in crate vit; do
    [ -f $S/probe_random_$m.json ] || crate-mae probe --model ${m}_mae_cifar $PROBE --json $S/probe_random_$m.json
  done
  [ -f $S/probe_pixels.json ] || crate-mae probe --pixels --dataset cifar10 --train-limit 10000 --test-limit 10000 \
    --no-progress --json $S/probe_pixels.json
fi
# reconstruction loss (Table 4's measure: masked-patch MSE at mask 0.75, fixed per-image masks), 10,000 images per split
if want reconstruct; then
  for k in $RUNLIST; do
    [ -f $S/recon_$k.json ] || crate-mae reconstruct --checkpoint $R/$k/final.safetensors --dataset cifar10 \
      --splits train,test --limit 10000 --no-progress --json $S/recon_$k.json
  done
fi
# fine-tuning (all parameters, logits = W LN(z_cls)), 100 steps of 256 images, lr 5e-4, of each pretrained encoder
# and of its random-init twin
if want finetune; then
  for m in crate vit; do
    [ -f $S/finetune_$m.json ] || crate-mae finetune --checkpoint $R/$m/final.safetensors --dataset cifar10 --steps 100 \
      --lr 5e-4 --out $R/ft_$m --no-progress --json $S/finetune_$m.json
    [ -f $S/finetune_random_$m.json ] || crate-mae finetune --model ${m}_mae_cifar --dataset cifar10 --steps 100 \
      --lr 5e-4 --out $R/ft_random_$m --no-progress --json $S/finetune_random_$m.json
  done
fi
echo "== $(date -u +%H:%M:%S) done"
