#!/usr/bin/env bash
# The ablation of bench/results/ablation.md: students trained for the same steps on the same pair
# caches, differing only in the distillation terms; then `had eval` of every model and baseline on the
# davis346 held-out set. Run after scripts/train_default.sh steps 1-3 (teacher trained).
set -euo pipefail
HAD=${HAD:-.venv/bin/had}
D=config/distill.yaml
OFF_T='--set distill.temporal.weight=0'
OFF_S='--set distill.spatial.weight=0'
$HAD train   --config $D --set out=runs/abl_plain                  # student, tracking losses only
$HAD distill --config $D --set out=runs/abl_hier $OFF_T $OFF_S      # + hierarchical (feature, relation, response)
$HAD distill --config $D --set out=runs/abl_temporal $OFF_S        # + temporal
$HAD distill --config $D --set out=runs/abl_spatial $OFF_T         # + spatial
$HAD distill --config $D --set out=runs/student_had                # full HAD (config/distill.yaml as is)
for m in teacher abl_plain abl_hier abl_temporal abl_spatial student_had; do
  $HAD eval --dataset runs/data9/heldout --model runs/$m/student.safetensors --attributes \
       --threads 1 --no-progress --out runs/eval/$m
done
# frame-only baselines (OpenCV contrib in its own venv, see had_ros/bench/baselines.py)
for t in static csrt kcf mil; do
  PYTHONPATH=. runs/cv-venv/bin/python -m had_ros.bench.baselines --dataset runs/data9/heldout --tracker $t --out runs/eval/$t
  $HAD eval --dataset runs/data9/heldout --predictions runs/eval/$t --attributes --label $t --out runs/eval/$t/eval
done
