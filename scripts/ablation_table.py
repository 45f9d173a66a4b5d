#!/usr/bin/env python3
"""Print the ablation tables (markdown) from `had eval` results: runs/eval/<name>/results.json for
models, runs/eval/<name>/eval/results.json for the frame-only baselines (scripts/train_default.sh,
scripts/ablation.sh). Rows with several seeds show the mean and, in brackets, min-max."""
import json
import sys
from pathlib import Path

import numpy as np

SINGLE = [("teacher", "teacher (RGB+E, depth 6, width 256)"),
          ("student_plain", "student, no distillation"),
          ("student_had", "student, full HAD")]
SEEDED = [("abl_plain", "student, no distillation"),
          ("abl_hier", "+ hierarchical (feature, relation, response)"),
          ("abl_temporal", "+ hierarchical + temporal"),
          ("abl_spatial", "+ hierarchical + spatial"),
          ("abl_had", "full HAD")]
BASELINES = [("csrt", "OpenCV CSRT (RGB)"), ("kcf", "OpenCV KCF (RGB)"), ("mil", "OpenCV MIL (RGB)"),
             ("static", "static box")]
ATTRS = ["fast_motion", "low_light", "hdr", "motion_blur", "occlusion", "distractors", "camera_motion",
         "scale_variation", "out_of_view"]


def load(root: Path, name: str):
    for p in (root / name / "results.json", root / name / "eval" / "results.json"):
        if p.is_file():
            return json.loads(p.read_text())
    return None


def values(r, speed_file: Path) -> list:
    o = r["overall"]
    lat = ((r.get("speed") or {}).get("latency_ms") or {}).get("p50")
    if lat is None and speed_file.is_file():  # the baselines time themselves (had_ros.bench.baselines)
        lat = json.loads(speed_file.read_text()).get("latency_ms_p50")
    out = [o["success_auc"], o["precision_20"], o["norm_precision_20"], lat]
    for a in ATTRS:
        v = (r.get("attributes") or {}).get(a)
        out.append(None if v is None else v.get("success_auc"))
    return out


def fmt(vals: list, spread: bool) -> list:
    cells = []
    for i, col in enumerate(zip(*vals)):
        col = [v for v in col if v is not None]
        if not col:
            cells.append("-")
            continue
        m = float(np.mean(col))
        cells.append(f"{m:.1f}" + (f" ({min(col):.1f}-{max(col):.1f})" if spread and len(col) > 1 and i < 3 else ""))
    return cells


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/eval")
    head = ["model", "SR (AUC)", "PR@20", "NPR", "p50 ms"] + [a.replace("_", " ") for a in ATTRS]
    sep = "|" + "---|" * len(head)
    for title, rows in (("Main runs (seed 0)", SINGLE), ("Ablation (same short budget, seeds 0, 1, 2)", SEEDED),
                        ("Frame-only baselines (same held-out set, same run)", BASELINES)):
        print(f"\n{title}\n\n| " + " | ".join(head) + " |\n" + sep)
        for name, label in rows:
            names = [name] if rows is not SEEDED else [f"{name}_s{s}" for s in range(10)]
            runs = [(load(root, n), root / n / "speed.json") for n in names]
            runs = [(r, f) for r, f in runs if r is not None]
            if not runs:
                print(f"| {label} | not run |" + " |" * (len(head) - 2))
                continue
            seeds = f", {len(runs)} seeds" if rows is SEEDED else ""
            print("| " + " | ".join([label + seeds] + fmt([values(r, f) for r, f in runs], rows is SEEDED)) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
