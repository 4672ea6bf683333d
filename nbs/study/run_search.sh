#!/usr/bin/env bash
# Chapter 12's recipe search: every command behind nbs/study/search/*.json, one row at a time.
# Usage: run_search.sh ROW [ROW ...]   (rows are defined below; run from the repository root with
# CIFAR-10 under $CRATE_MAE_DATA). Each row: pretrain for the steps that fit in its budget on this machine
# (throughput measured once, alone, cached in nbs/study/search/throughput.json), then probe every encoder
# layer (10,000 train / 10,000 test images, both protocols) and measure the test reconstruction loss.
# Steps are skipped when their result exists, so rows can be stopped, restarted and run side by side
# (THREADS=1 runs two rows at once on two cores without changing their results).
set -euo pipefail
R=${RUNS:-runs/search}; S=nbs/study/search; mkdir -p "$R" "$S"
THREADS=${THREADS:-}
# name | minutes | config | batch | pretrain flags   (0 minutes: the random-initialized model, seed 0, probed only)
rows() { cat <<'ROWS'
random       |  0 | crate_mae_cifar | 128 |
base15       | 15 | crate_mae_cifar | 128 | --recipe cpu
normpix15    | 15 | crate_mae_cifar | 128 | --recipe cpu --norm-pix-loss
normpix_pad15 | 15 | crate_mae_cifar | 128 | --recipe cpu --norm-pix-loss --crop pad
normpix_b64_15 | 15 | crate_mae_cifar | 64 | --recipe cpu --norm-pix-loss --blr 3e-3
b64_15       | 15 | crate_mae_cifar | 64 | --recipe cpu --blr 3e-3
normpix_lr2x15 | 15 | crate_mae_cifar | 128 | --recipe cpu --norm-pix-loss --blr 3e-3
ROWS
}
row() { rows | awk -F'|' -v n="$1" '{k = $1; gsub(/^ +| +$/, "", k)} k == n'; }
for NAME in "$@"; do
  line=$(row "$NAME"); [ -n "$line" ] || { echo "unknown row $NAME"; exit 2; }
  IFS='|' read -r _ MIN CFG BATCH FLAGS <<<"$line"
  MIN=$(echo $MIN); CFG=$(echo $CFG); BATCH=$(echo $BATCH)
  OUT=$R/$NAME
  if [ "$MIN" = 0 ]; then
    [ -f "$S/${NAME}_probe.json" ] || crate-mae probe --model "$CFG" --dataset cifar10 --layers all --train-limit 10000 \
      --test-limit 10000 --Cs 0.1,1,10 --no-cache --no-progress --json "$S/${NAME}_probe.json"
    continue
  fi
  if [ ! -f "$OUT/final.safetensors" ]; then
    STEPS=$(python -m crate_mae.study steps --config "$CFG" --batch "$BATCH" --minutes "$MIN" --cache $S/throughput.json)
    echo "== $(date -u +%H:%M:%S) $NAME: $STEPS steps of $BATCH ($MIN min on this machine)"
    RESUME=(); [ -f "$OUT/checkpoint.pt" ] && RESUME=(--resume)
    crate-mae pretrain --config "$CFG" --dataset cifar10 --batch-size "$BATCH" --steps "$STEPS" $FLAGS \
      --out "$OUT" --no-progress --log-every 10 --ckpt-every 200 ${THREADS:+--threads $THREADS} "${RESUME[@]}"
  fi
  cp "$OUT/metrics.jsonl" "$S/${NAME}_metrics.jsonl"; cp "$OUT/config.json" "$S/${NAME}_config.json"
  [ -f "$S/${NAME}_probe.json" ] || crate-mae probe --checkpoint "$OUT/final.safetensors" --dataset cifar10 --layers all \
    --train-limit 10000 --test-limit 10000 --Cs 0.1,1,10 --no-cache --no-progress --json "$S/${NAME}_probe.json"
  [ -f "$S/${NAME}_recon.json" ] || crate-mae reconstruct --checkpoint "$OUT/final.safetensors" --dataset cifar10 \
    --splits test --limit 10000 --no-progress --json "$S/${NAME}_recon.json"
done
