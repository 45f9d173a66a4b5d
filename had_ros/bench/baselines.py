"""Frame-only baselines for the ablation: OpenCV's CSRT, KCF and MIL trackers and a "box stays where
it started" tracker, run with the same one-pass protocol as `had eval` (had_ros.eval.runner) and
written as prediction files that `had eval --predictions DIR` scores.

OpenCV's CSRT and KCF live in opencv-contrib, which conflicts with the project's
opencv-python-headless in one environment, so run this module from a separate venv
(see bench/results/ablation.md)::

    python3 -m venv runs/cv-venv
    runs/cv-venv/bin/pip install opencv-contrib-python-headless==5.0.0.93 numpy==2.4.6 tqdm==4.70.1
    PYTHONPATH=. runs/cv-venv/bin/python -m had_ros.bench.baselines --dataset D --tracker csrt --out OUT
    had eval --dataset D --predictions OUT --attributes --out OUT/eval --label CSRT

The static box needs no contrib and runs in the project's venv too.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

TRACKERS = ("csrt", "kcf", "mil", "static")


class StaticBox:
    """Reports the initial box on every frame (the floor any tracker must clear)."""

    lost = False

    def initialize(self, frame, events, box, window=None) -> None:
        self.box = np.asarray(box, np.float64).copy()

    def track(self, frame, events, window=None):
        return self.box.copy(), 1.0


class OpenCVTracker:
    """An OpenCV single-object tracker on the RGB frames; keeps the last box when it reports failure."""

    def __init__(self, kind: str) -> None:
        import cv2

        makers = {"csrt": "TrackerCSRT", "kcf": "TrackerKCF", "mil": "TrackerMIL"}
        name = makers[kind]
        maker = getattr(cv2, f"{name}_create", None) or getattr(getattr(cv2, name, None), "create", None)
        if maker is None:
            raise SystemExit(f"cv2 {cv2.__version__} has no {name}: install opencv-contrib-python-headless "
                             "in a separate venv (see this module's doc)")
        self._make = maker
        self.lost = False

    def initialize(self, frame, events, box, window=None) -> None:
        import cv2

        self.tracker = self._make()
        self.box = np.asarray(box, np.float64).copy()
        x, y, w, h = (int(round(v)) for v in self.box)
        self.tracker.init(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), (x, y, max(1, w), max(1, h)))

    def track(self, frame, events, window=None):
        import cv2

        ok, b = self.tracker.update(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        self.lost = not ok
        if ok:
            self.box = np.asarray(b, np.float64)
        return self.box.copy(), 1.0 if ok else 0.0


def main(argv: list[str] | None = None) -> int:
    from had_ros.data.loaders import open_dataset
    from had_ros.eval import runner

    p = argparse.ArgumentParser(prog="python -m had_ros.bench.baselines", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", required=True, type=Path)
    p.add_argument("--tracker", required=True, choices=TRACKERS)
    p.add_argument("--out", required=True, type=Path, help="folder for <sequence>.txt prediction files")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    tracker = StaticBox() if args.tracker == "static" else OpenCVTracker(args.tracker)
    latencies = []
    for seq in open_dataset(args.dataset):
        run = runner.run_sequence(tracker, seq)
        runner.write_predictions(args.out / f"{seq.name}.txt", run.boxes)
        if run.pred_absent.any():
            runner.write_flags(args.out / f"{seq.name}_pred_absent.txt", run.pred_absent)
        latencies.append(run.latency_s[np.isfinite(run.latency_s)])
        seq.release()
    lat = np.concatenate(latencies) * 1e3 if latencies else np.zeros(0)
    speed = {"tracker": args.tracker, "frames_timed": int(lat.size),
             "latency_ms_p50": float(np.median(lat)) if lat.size else None}
    (args.out / "speed.json").write_text(json.dumps(speed, indent=1) + "\n")
    print(json.dumps(speed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
