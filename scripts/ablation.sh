#!/usr/bin/env bash
# The ablation of bench/results/ablation.md: event-only students trained for the same steps on the
# same pair cache, differing only in the distillation terms, 3 seeds each; then `had eval` of every
# model and of the frame-only baselines on the davis346 held-out set. Run after
# scripts/train_default.sh (data, pair cache and teacher). Every run resumes after a kill.
set -euo pipefail
HAD=${HAD:-.venv/bin/had}
STEPS=${ABL_STEPS:-200}        # a short budget per row, so 5 variants x 3 seeds fit on 2 cores
SEEDS=${ABL_SEEDS:-"0 1 2"}
D=config/distill.yaml
COMMON="--set train.steps=$STEPS --set train.warmup_steps=20 --resume --no-progress"
OFF_T='--set distill.temporal.weight=0'
OFF_S='--set distill.spatial.weight=0'
for s in $SEEDS; do
  $HAD train   --config $D --set out=runs/abl_plain_s$s    --set seed=$s $COMMON                # no distillation
  $HAD distill --config $D --set out=runs/abl_hier_s$s     --set seed=$s $COMMON $OFF_T $OFF_S  # + hierarchical
  $HAD distill --config $D --set out=runs/abl_temporal_s$s --set seed=$s $COMMON $OFF_S         # + temporal
  $HAD distill --config $D --set out=runs/abl_spatial_s$s  --set seed=$s $COMMON $OFF_T         # + spatial
  $HAD distill --config $D --set out=runs/abl_had_s$s      --set seed=$s $COMMON                # full HAD
  for v in plain hier temporal spatial had; do
    m=abl_${v}_s$s
    [ -f runs/eval/$m/results.json ] || $HAD eval --dataset runs/data9/heldout \
      --model runs/$m/student.safetensors --attributes --threads 1 --no-progress --out runs/eval/$m
  done
done
# frame-only baselines (OpenCV contrib in its own venv, see had_ros/bench/baselines.py)
for t in static kcf mil csrt; do
  [ -f runs/eval/$t/eval/results.json ] && continue
  PYTHONPATH=. runs/cv-venv/bin/python -m had_ros.bench.baselines --dataset runs/data9/heldout --tracker $t --out runs/eval/$t
  $HAD eval --dataset runs/data9/heldout --predictions runs/eval/$t --attributes --label $t --out runs/eval/$t/eval --no-progress
done
