#!/usr/bin/env bash
# Chapter 15's ablation (ours, not the paper's model): the paper's CRATE-MAE, the visible-only CRATE-MAE, and ViT-MAE
# with the light 128x2 decoder, each pretrained for the same wall time with the same recipe; then probed (every layer,
# cls and mean features, both protocols), measured for reconstruction and, for the two CRATE forms, Figure 5 layer by
# layer; plus the side-by-side step timing. Every command is the package's own.
# Run from the repository root, on a quiet machine, with the CIFAR-10 array folder under $CRATE_MAE_DATA (or DATA_ROOT).
# Checkpoints go to $RUNS (not committed); results (small JSON files) to $OUT (nbs/visible/), which chapter 15 reads.
# Each step is skipped when its result exists and an interrupted pretraining run resumes, so the script can be stopped
# and started again. To redo a step, delete its result (and, for pretraining, the run folder $RUNS/<run>).
# Usage: [VAR=value ...] bash nbs/visible/run_ablation.sh [perf|pretrain|probe|reconstruct|stats|all]   (default all)
set -euo pipefail
WHAT=${1:-all}
case $WHAT in perf|pretrain|probe|reconstruct|stats|all) ;; *) echo "usage: $0 [perf|pretrain|probe|reconstruct|stats|all]" >&2; exit 2;; esac

# ---- settings: edit here, or set them in the environment (BUDGET=30m bash nbs/visible/run_ablation.sh) ----
: "${BUDGET:=25m}"                       # wall time of each pretraining run, the same for all three
: "${BUDGET_MODE:=images}"               # images: the steps each config trains in BUDGET on this machine, its step measured
                                         #   alone (python -m crate_mae.study steps), so runs may share the machine;
                                         #   wall: --time-budget (then run on a quiet machine, one run at a time)
: "${CACHE:=nbs/study/search/throughput.json}"  # measured throughputs, shared with chapter 12 (one measurement per config)
: "${KINDS:=paper visible mae}"          # which runs (two shells with KINDS=visible and KINDS=mae, THREADS=1, share 2 cores)
: "${REUSE_STUDY:=1}"                    # 1: the paper's form is chapter 12's study run `crate` (the same config, recipe, batch
                                         #   and image budget, the same probe and reconstruction commands): link its run
                                         #   folder and copy its results instead of computing them again
: "${THREADS:=}"                         # CPU threads per run (empty: the physical cores)
: "${RECIPE:=cpu}"                       # named recipe (chapter 9); the tuned CPU recipe's other values go in TRAIN_FLAGS
: "${BATCH:=64}"                         # images per optimizer step (chapter 12's tuned recipe)
: "${TRAIN_FLAGS:=--norm-pix-loss --blr 3e-3}"  # further `crate-mae pretrain` flags (chapter 12's tuned recipe)
: "${LOG_EVERY:=10}"                     # metrics record every N steps
: "${DATASET:=cifar10}"                  # dataset of pretraining, probes, reconstruction and Figure 5
: "${DATA_ROOT:=}"                       # empty: $CRATE_MAE_DATA, then ~/.cache/crate_mae
: "${PAPER:=crate_mae_cifar}"            # the paper's form
: "${VISIBLE:=visible_crate_mae_cifar}"  # our ablation: the same parameters, encoder on the visible tokens only
: "${MAE:=light_vit_mae_cifar}"          # ViT-MAE, the same encoder width and depth, light 128x2 decoder
: "${PROBE_TRAIN:=10000}"                # probe training images (a seeded random subset)
: "${PROBE_TEST:=10000}"                 # probe test images (a seeded random subset; CIFAR-10's whole test split)
: "${PROBE_FLAGS:=--Cs 0.1,1,10 --no-cache}"  # further `crate-mae probe` flags (chapter 12's study uses the same)
: "${RANDOM_INIT:=1}"                    # 1: also probe the CRATE encoder at random init (the same function for both forms)
: "${RECON_LIMIT:=10000}"                # images of each split for the reconstruction loss
: "${STATS_N:=256}"                      # test images for Figure 5's measurements
: "${PERF_FLAGS:=--batch 128 --repeats 5}"  # `python -m crate_mae.perf --variants visible` flags
: "${RUNS:=runs/visible}"                # checkpoints
: "${OUT:=nbs/visible}"                  # results
: "${CLI:=crate-mae}"                    # the console script
: "${PY:=python}"                        # the Python with crate_mae installed
# ---------------------------------------------------------------------------------------------------------------

want() { [ "$WHAT" = all ] || [ "$WHAT" = "$1" ]; }
# chapter 12's study run stands in for the paper's form only when it was trained as this script would train it
reuse() {
  [ "$REUSE_STUDY" = 1 ] && [ -f runs/study/crate/final.safetensors ] && [ "$BUDGET_MODE" = images ] && $PY -c "
import json, sys; c = json.load(open('runs/study/crate/config.json'))
same = (c['model'], c['dataset'], c['eff_batch'], c['recipe']) == ('$PAPER', '$DATASET', int('$BATCH'), '$RECIPE')
sys.exit(0 if same and c.get('norm_pix_loss', (c.get('model_kwargs') or {}).get('norm_pix_loss')) else 1)"
}
step() { echo "== $(date -u +%H:%M:%S) $*"; }
DATA=${DATA_ROOT:+--data-root $DATA_ROOT}
declare -A CONFIG=([paper]=$PAPER [visible]=$VISIBLE [mae]=$MAE)
mkdir -p "$RUNS" "$OUT"

# 1. the side-by-side step timing (ms/step at batch 128, float32 and bf16, FLOPs, params) of the paper's form, the
#    ablation, and ViT-MAE with the 192x6 and the light 128x2 decoder, each variant in a fresh process
if want perf; then
  step perf
  [ -f "$OUT/perf.json" ] || $PY -m crate_mae.perf --variants visible $PERF_FLAGS --out "$OUT/perf.json"
fi

# 2. pretraining, the same wall-time budget and recipe for all three (mask 0.75, crop + flip, seed 0)
if want pretrain; then
  for k in $KINDS; do
    step pretrain $k ${CONFIG[$k]}
    if [ "$k" = paper ] && [ ! -e "$RUNS/paper" ] && reuse; then
      ln -s "$(cd runs/study/crate && pwd)" "$RUNS/paper"; echo "paper's form: chapter 12's study run runs/study/crate"
    fi
    if [ ! -f "$RUNS/$k/final.safetensors" ]; then
      resume=; [ -f "$RUNS/$k/checkpoint.pt" ] && resume=--resume
      LEN="--time-budget $BUDGET"
      if [ "$BUDGET_MODE" = images ]; then
        MIN=$($PY -c "from crate_mae.cli import parse_duration as p; print(p('$BUDGET') / 60)")
        LEN="--steps $($PY -m crate_mae.study steps --config ${CONFIG[$k]} --batch $BATCH --minutes $MIN --cache $CACHE)"
      fi
      $CLI pretrain --config ${CONFIG[$k]} --dataset $DATASET $DATA --recipe $RECIPE --batch-size $BATCH \
        $LEN $TRAIN_FLAGS --log-every $LOG_EVERY --no-progress --out "$RUNS/$k" ${THREADS:+--threads $THREADS} $resume
    fi
    cp "$RUNS/$k/metrics.jsonl" "$OUT/metrics_$k.jsonl"; cp "$RUNS/$k/config.json" "$OUT/config_$k.json"
  done
fi

# 3. linear probes of every encoder layer (cls and mean features, the paper's and the honest protocol)
if want probe; then
  if [ -L "$RUNS/paper" ] && reuse; then  # chapter 12's results of the same run (paper) and random-init function
    for f in probe_crate:probe_paper probe_random_crate:probe_random recon_crate:recon_paper; do
      [ -f "$OUT/${f#*:}.json" ] || [ ! -f "nbs/study/${f%:*}.json" ] || cp "nbs/study/${f%:*}.json" "$OUT/${f#*:}.json"
    done
  fi
  for k in $KINDS; do
    step probe $k
    [ -f "$OUT/probe_$k.json" ] || $CLI probe --checkpoint "$RUNS/$k/final.safetensors" --dataset $DATASET $DATA \
      --kind cls,mean --layers all --train-limit $PROBE_TRAIN ${PROBE_TEST:+--test-limit $PROBE_TEST} $PROBE_FLAGS \
      --no-progress --json "$OUT/probe_$k.json"
  done
  if [ "$RANDOM_INIT" = 1 ]; then
    step probe random init $PAPER
    [ -f "$OUT/probe_random.json" ] || $CLI probe --model $PAPER --dataset $DATASET $DATA --kind cls,mean --layers all \
      --train-limit $PROBE_TRAIN ${PROBE_TEST:+--test-limit $PROBE_TEST} $PROBE_FLAGS --no-progress --json "$OUT/probe_random.json"
  fi
fi

# 4. reconstruction loss (Table 4's measure: masked-patch MSE at mask 0.75, fixed per-image masks)
if want reconstruct; then
  for k in $KINDS; do
    step reconstruct $k
    [ -f "$OUT/recon_$k.json" ] || $CLI reconstruct --checkpoint "$RUNS/$k/final.safetensors" --dataset $DATASET $DATA \
      --splits train,test --limit $RECON_LIMIT --no-progress --json "$OUT/recon_$k.json"
  done
fi

# 5. Figure 5 per layer for both CRATE forms and the random init (whole images and mask 0.75), and the paper's
#    form's attention on mask tokens
if want stats; then
  step stats
  [ -f "$OUT/layer_stats.json" ] || $PY -m crate_mae.visible --checkpoint paper="$RUNS/paper/final.safetensors" \
    --checkpoint visible="$RUNS/visible/final.safetensors" --init $PAPER --dataset $DATASET $DATA --n $STATS_N \
    --json "$OUT/layer_stats.json"
fi
step done
