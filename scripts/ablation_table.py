#!/usr/bin/env python3
"""Print the ablation table (markdown) from `had eval` results: runs/eval/<name>/results.json for
models, runs/eval/<name>/eval/results.json for the frame-only baselines (scripts/ablation.sh)."""
import json
import sys
from pathlib import Path

ROWS = [("teacher", "teacher (RGB+E, tracking losses, 200 steps)"), ("abl_plain", "student, no distillation"),
        ("abl_plain_s1", "student, no distillation, seed 1"),
        ("abl_hier", "+ hierarchical (feature, relation, response)"), ("abl_temporal", "+ hierarchical + temporal"),
        ("abl_spatial", "+ hierarchical + spatial"), ("student_had", "full HAD"),
        ("student_had_s1", "full HAD, seed 1"), ("student_long", "student, no distillation, 600 steps (shipped)"),
        ("student_900", "student, no distillation, 900 steps"),
        ("csrt", "OpenCV CSRT (RGB)"), ("kcf", "OpenCV KCF (RGB)"), ("mil", "OpenCV MIL (RGB)"),
        ("static", "static box")]
ATTRS = ["fast_motion", "low_light", "hdr", "motion_blur", "occlusion", "distractors", "camera_motion",
         "scale_variation"]


def load(root: Path, name: str):
    for p in (root / name / "results.json", root / name / "eval" / "results.json"):
        if p.is_file():
            return json.loads(p.read_text())
    return None


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/eval")
    head = ["model", "SR (AUC)", "PR@20", "NPR", "p50 ms"] + [a.replace("_", " ") for a in ATTRS]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name, label in ROWS:
        r = load(root, name)
        if r is None:
            print(f"| {label} | not run |" + " |" * (len(head) - 2))
            continue
        o = r["overall"]
        lat = (r.get("speed") or {}).get("latency_ms") or {}
        speed_file = root / name / "speed.json"
        p50 = lat.get("p50")
        if p50 is None and speed_file.is_file():
            p50 = json.loads(speed_file.read_text()).get("latency_ms_p50")
        cells = [label, f"{o['success_auc']:.1f}", f"{o['precision_20']:.1f}", f"{o['norm_precision_20']:.1f}",
                 "-" if p50 is None else f"{p50:.1f}"]
        for a in ATTRS:
            v = (r.get("attributes") or {}).get(a)
            cells.append("-" if v is None or v.get("success_auc") is None else f"{v['success_auc']:.1f}")
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
